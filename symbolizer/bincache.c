#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/hashmap.h"
#include "agent/log.h"
#include "symbolizer/bincache.h"
#include "symbolizer/elf.h"
#include "symbolizer/vdso.h"

struct binary {
	struct hashmap_node by_id;     /* build id, else file identity, else name */
	char *path;
	const char *name;
	char *id;                      /* the identity key as a string */
	struct elf_binary *elf;        /* NULL when the file could not be used */
	uint64_t size;
};

/* maps-line (device, inode) → binary: the fast path that spares an open()
 * and a build-id read for each process that maps an already known file. */
struct inode_ref {
	struct hashmap_node node;
	uint32_t major, minor;
	uint64_t inode;
	struct binary *bin;
};

struct bincache {
	char *proc_root;
	struct hashmap by_id;
	struct hashmap by_inode;
};

struct inode_key {
	uint32_t major, minor;
	uint64_t inode;
};

static int id_eq(const struct hashmap_node *n, const void *key)
{
	const struct binary *b = (const void *)n;

	return strcmp(b->id, key) == 0;
}

static int inode_eq(const struct hashmap_node *n, const void *key)
{
	const struct inode_ref *r = (const void *)n;
	const struct inode_key *k = key;

	return r->major == k->major && r->minor == k->minor && r->inode == k->inode;
}

struct bincache *bincache__new(const char *proc_root)
{
	struct bincache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->proc_root = strdup(proc_root);
	if (!c->proc_root) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

static void binary_free(struct binary *b)
{
	elf_binary__free(b->elf);
	free(b->path);
	free(b->id);
	free(b);
}

void bincache__free(struct bincache *c)
{
	struct hashmap_node *n, *tmp;
	size_t i;

	if (!c)
		return;
	hashmap__for_each(&c->by_inode, n, tmp, i)
		free(n);
	hashmap__for_each(&c->by_id, n, tmp, i)
		binary_free((struct binary *)n);
	hashmap__clear(&c->by_inode);
	hashmap__clear(&c->by_id);
	free(c->proc_root);
	free(c);
}

size_t bincache__count(const struct bincache *c)
{
	return c->by_id.count;
}

/* Returns the cached binary with this id, or adopts b (taking ownership);
 * on allocation failure frees b and returns NULL. */
static struct binary *intern(struct bincache *c, struct binary *b)
{
	uint64_t h = hash_bytes(HASH_SEED, b->id, strlen(b->id));
	struct hashmap_node *n = hashmap__find(&c->by_id, h, b->id, id_eq);

	if (n) {
		binary_free(b);
		return (struct binary *)n;
	}
	if (hashmap__insert(&c->by_id, &b->by_id, h)) {
		binary_free(b);
		errno = ENOMEM;
		return NULL;
	}
	return b;
}

static struct binary *binary_new(const char *path)
{
	struct binary *b = calloc(1, sizeof(*b));
	const char *slash;

	if (!b)
		return NULL;
	b->path = strdup(path);
	if (!b->path) {
		free(b);
		return NULL;
	}
	slash = strrchr(b->path, '/');
	b->name = slash && slash[1] ? slash + 1 : b->path;
	return b;
}

struct binary *bincache__get_named(struct bincache *c, const char *name)
{
	struct hashmap_node *n;
	struct binary *b;
	char *id;
	int fd;

	if (asprintf(&id, "name:%s", name) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	n = hashmap__find(&c->by_id, hash_bytes(HASH_SEED, id, strlen(id)), id, id_eq);
	if (n) {
		free(id);
		return (struct binary *)n;
	}
	b = binary_new(name);
	if (!b) {
		free(id);
		return NULL;
	}
	b->id = id;
	if (!strcmp(name, "[vdso]") && (fd = vdso__open()) >= 0)
		b->elf = elf_binary__open_fd(fd);  /* names like __vdso_clock_gettime */
	return intern(c, b);
}

static int open_mapped_file(const struct bincache *c, int pid, const struct procmaps_entry *e)
{
	char path[PATH_MAX];
	int fd;

	/* map_files reaches the very file mapped, even if it was replaced or
	 * lives in another mount namespace; it needs CAP_SYS_ADMIN or
	 * CAP_CHECKPOINT_RESTORE, so fall back to the process's root. */
	snprintf(path, sizeof(path), "%s/%d/map_files/%" PRIx64 "-%" PRIx64, c->proc_root, pid,
		 e->start, e->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (e->path[0] != '/')
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/%d/root%s", c->proc_root, pid, e->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

static struct binary *load(struct bincache *c, int pid, const struct procmaps_entry *e)
{
	struct binary *b = binary_new(e->path);
	struct stat st;
	int fd, err;

	if (!b)
		return NULL;
	fd = open_mapped_file(c, pid, e);
	if (fd < 0) {
		pr_debug("bincache: cannot open %s of pid %d: %s\n", e->path, pid, strerror(-fd));
		err = asprintf(&b->id, "unreadable:%u:%u:%" PRIu64 ":%s", e->dev_major,
			       e->dev_minor, e->inode, e->path);
		goto identified;
	}
	if (fstat(fd, &st)) {
		close(fd);
		err = asprintf(&b->id, "unreadable:%u:%u:%" PRIu64 ":%s", e->dev_major,
			       e->dev_minor, e->inode, e->path);
		goto identified;
	}
	b->size = st.st_size;
	b->elf = elf_binary__open_fd(fd);
	if (!b->elf)
		pr_debug("bincache: %s of pid %d is not a usable ELF file: %s\n", e->path, pid,
			 strerror(errno));
	if (b->elf && elf_binary__build_id(b->elf)[0])
		err = asprintf(&b->id, "buildid:%s", elf_binary__build_id(b->elf));
	else
		err = asprintf(&b->id, "file:%u:%u:%" PRIu64 ":%" PRIu64 ":%" PRId64 ".%09ld",
			       major(st.st_dev), minor(st.st_dev), (uint64_t)st.st_ino,
			       (uint64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
			       st.st_mtim.tv_nsec);
identified:
	if (err < 0) {
		b->id = NULL;
		binary_free(b);
		errno = ENOMEM;
		return NULL;
	}
	return intern(c, b);
}

struct binary *bincache__get(struct bincache *c, int pid, const struct procmaps_entry *e)
{
	struct inode_key key = { e->dev_major, e->dev_minor, e->inode };
	uint64_t h = hash_bytes(HASH_SEED, &key, sizeof(key));
	struct hashmap_node *n;
	struct inode_ref *ref;
	struct binary *b;

	if (!e->inode)
		return bincache__get_named(c, e->path[0] ? e->path : "[anon]");
	n = hashmap__find(&c->by_inode, h, &key, inode_eq);
	if (n)
		return ((struct inode_ref *)n)->bin;
	b = load(c, pid, e);
	if (!b)
		return NULL;
	/* A file this process could not show us (it exited, its root is
	 * gone) may open fine through the next one: no fast path to it. */
	if (!strncmp(b->id, "unreadable:", strlen("unreadable:")))
		return b;
	ref = calloc(1, sizeof(*ref));
	if (!ref || hashmap__insert(&c->by_inode, &ref->node, h)) {
		/* Only the fast path is lost: b stays cached by identity. */
		free(ref);
		return b;
	}
	ref->major = key.major;
	ref->minor = key.minor;
	ref->inode = key.inode;
	ref->bin = b;
	return b;
}

const char *binary__path(const struct binary *b)
{
	return b->path;
}

const char *binary__name(const struct binary *b)
{
	return b->name;
}

const char *binary__build_id(const struct binary *b)
{
	return b->elf ? elf_binary__build_id(b->elf) : "";
}

uint64_t binary__size(const struct binary *b)
{
	return b->size;
}

int binary__symbolize(struct binary *b, uint64_t off, const char **name, uint64_t *sym_off)
{
	if (!b->elf)
		return -ENOENT;
	return elf_binary__symbolize(b->elf, off, name, sym_off);
}
