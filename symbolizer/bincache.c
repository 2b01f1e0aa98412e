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

#include "base/hashmap.h"
#include "base/log.h"
#include "base/lru.h"
#include "symbolizer/bincache.h"
#include "symbolizer/debugfile.h"
#include "symbolizer/debuginfod.h"
#include "symbolizer/demangle.h"
#include "symbolizer/dwarf.h"
#include "symbolizer/elf.h"
#include "symbolizer/gopclntab.h"
#include "symbolizer/inflate.h"
#include "symbolizer/perfmap.h"
#include "symbolizer/vdso.h"

#define DEFAULT_BUDGET (32ULL << 20)

/* What a flush needs to name a binary's addresses, loaded on first use and
 * given back, least recently used first, when the cache is over budget. */
struct symbols {
	bool loaded;
	bool debuginfod_pending;       /* asked a server; look again next flush */
	uint64_t checked_gen;
	struct dwarf_debug *dwarf;     /* from the file or its separate debug file */
	struct elf_binary *debug_elf;  /* the separate debug file's .symtab */
	struct elf_binary *mini;       /* MiniDebugInfo's .symtab */
	struct gopclntab *go;          /* stripped Go binaries */
	struct hashmap demangled;      /* raw name pointer → display name */
	size_t bytes;
};

struct demangled {
	struct hashmap_node node;
	const char *raw;
	char *name;
};

struct binary {
	struct hashmap_node by_id;     /* build id, else file identity, else name */
	struct bincache *cache;
	char *path;
	const char *name;
	char *id;                      /* the identity key as a string */
	struct elf_binary *elf;        /* NULL when the file could not be used */
	uint64_t size;
	int root_fd;                   /* the process's root when not ours, else -1:
	                                * its debug files are looked for in there */
	struct symbols sym;
	struct lru_node lru;           /* on the cache's list while symbols are loaded */

	/* Where Go's traceback ends a stack in it (NULL: nowhere), once
	 * go_checked. */
	struct gopclntab_stops *go_stops;
	bool go_checked;

	/* JIT code of one process, named from its perf map. */
	bool jit;
	bool exited;
	int pid;
	struct perfmap *perfmap;
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
	char **debug_dirs;
	size_t ndebug_dirs;
	struct debuginfod *debuginfod;
	struct inflate_cache *inflated; /* NULL: compressed DWARF inflates on the heap */
	uint64_t budget;
	uint64_t generation;           /* flushes seen, for once-per-flush checks */
	struct lru lru;                /* loaded binaries, most recent first */
	struct bincache_stats stats;
	struct stat self_root;
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
	c->budget = DEFAULT_BUDGET;
	if (stat("/", &c->self_root))
		memset(&c->self_root, 0, sizeof(c->self_root));
	return c;
}

static void free_dirs(struct bincache *c)
{
	for (size_t i = 0; i < c->ndebug_dirs; i++)
		free(c->debug_dirs[i]);
	free(c->debug_dirs);
	c->debug_dirs = NULL;
	c->ndebug_dirs = 0;
}

int bincache__configure(struct bincache *c, const struct bincache_opts *o)
{
	char **dirs = NULL;

	if (o->ndebug_dirs) {
		dirs = calloc(o->ndebug_dirs, sizeof(*dirs));
		if (!dirs)
			return -ENOMEM;
		for (size_t i = 0; i < o->ndebug_dirs; i++) {
			dirs[i] = strdup(o->debug_dirs[i]);
			if (!dirs[i]) {
				while (i-- > 0)
					free(dirs[i]);
				free(dirs);
				return -ENOMEM;
			}
		}
	}
	free_dirs(c);
	c->debug_dirs = dirs;
	c->ndebug_dirs = o->ndebug_dirs;
	c->debuginfod = o->debuginfod;
	inflate_cache__free(c->inflated);
	c->inflated = NULL;
	if (o->inflate_dir && *o->inflate_dir) {
		c->inflated = inflate_cache__new(o->inflate_dir, o->inflate_bytes);
		if (!c->inflated)
			return -ENOMEM;
	}
	c->budget = o->budget_bytes ? o->budget_bytes : DEFAULT_BUDGET;
	return 0;
}

static void symbols_unload(struct binary *b)
{
	struct symbols *s = &b->sym;
	struct hashmap_node *n, *tmp;
	size_t i;

	hashmap__for_each(&s->demangled, n, tmp, i) {
		free(((struct demangled *)n)->name);
		free(n);
	}
	hashmap__clear(&s->demangled);
	gopclntab__free(s->go);
	elf_binary__free(s->mini);
	elf_binary__free(s->debug_elf);
	dwarf_debug__free(s->dwarf);
	*s = (struct symbols){ 0 };
	if (b->elf)
		elf_binary__drop_syms(b->elf);
}

static void binary_free(struct binary *b)
{
	symbols_unload(b);
	perfmap__free(b->perfmap);
	gopclntab_stops__free(b->go_stops);
	elf_binary__free(b->elf);
	if (b->root_fd >= 0)
		close(b->root_fd);
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
	free_dirs(c);
	inflate_cache__free(c->inflated);
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

static struct binary *binary_new(struct bincache *c, const char *path)
{
	struct binary *b = calloc(1, sizeof(*b));
	const char *slash;

	if (!b)
		return NULL;
	b->cache = c;
	b->root_fd = -1;
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
	b = binary_new(c, name);
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

/* A separate debug file on this machine (or in the process's root) for b,
 * as an fd, or -ENOENT. */
static int local_debug_file(struct bincache *c, struct binary *b)
{
	struct debugfile_dirs dirs = { (const char *const *)c->debug_dirs, c->ndebug_dirs };
	char root[64] = "";

	if (b->root_fd >= 0)
		snprintf(root, sizeof(root), "/proc/self/fd/%d", b->root_fd);
	return debugfile__find(&dirs, root, elf_binary__elf(b->elf), elf_binary__build_id(b->elf),
			       b->path);
}

/* Servers are asked at first sight, not at the flush, so the file has the
 * interval to arrive. */
static void prefetch_debuginfo(struct bincache *c, struct binary *b)
{
	int fd;

	if (!c->debuginfod || !b->elf || !elf_binary__build_id(b->elf)[0] ||
	    elf_binary__has_section(b->elf, ".debug_info"))
		return;
	fd = local_debug_file(c, b);
	if (fd >= 0) {
		close(fd);
		return;
	}
	debuginfod__request(c->debuginfod, elf_binary__build_id(b->elf));
}

/* An O_PATH handle on the process's root when it is not ours (a
 * container), so its own debug files can be found there even after it has
 * exited; -1 for processes that share the agent's root. */
static int foreign_root(const struct bincache *c, int pid)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%d/root", c->proc_root, pid);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || (st.st_dev == c->self_root.st_dev && st.st_ino == c->self_root.st_ino)) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct binary *load(struct bincache *c, int pid, const struct procmaps_entry *e)
{
	struct binary *b = binary_new(c, e->path);
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
	b->root_fd = foreign_root(c, pid);
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
	b = intern(c, b);
	if (b)
		prefetch_debuginfo(c, b);
	return b;
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

/* The DWARF of the ELF file fd (taken), read from its uncompressed copy on
 * disk when it has compressed debug sections and the copy can be had, so
 * they are mapped rather than inflated onto the heap. */
static struct dwarf_debug *open_dwarf(struct bincache *c, struct binary *b, int fd)
{
	struct dwarf_debug *d;
	int cfd;

	if (fd < 0)
		return NULL;
	cfd = inflate_cache__open(c->inflated, fd, b->id);
	if (cfd >= 0) {
		d = dwarf_debug__open_fd(cfd);
		if (d) {
			close(fd);
			return d;
		}
	}
	return dwarf_debug__open_fd(fd);
}

/* Takes the fd of a debug file: its DWARF, and its .symtab for addresses
 * DWARF does not cover. */
static void use_debug_file(struct bincache *c, struct binary *b, int fd, const char *from)
{
	b->sym.dwarf = open_dwarf(c, b, dup(fd));
	b->sym.debug_elf = elf_binary__open_fd(fd);
	pr_debug("bincache: %s: debug info from %s%s\n", b->path, from,
		 b->sym.dwarf ? "" : " (no DWARF in it)");
}

static void find_debug_file(struct bincache *c, struct binary *b)
{
	char *path = NULL;
	int fd, err;

	b->sym.debuginfod_pending = false;
	fd = local_debug_file(c, b);
	if (fd >= 0) {
		use_debug_file(c, b, fd, "a separate debug file");
		return;
	}
	if (!c->debuginfod || !elf_binary__build_id(b->elf)[0])
		return;
	err = debuginfod__result(c->debuginfod, elf_binary__build_id(b->elf), &path);
	if (err == -EAGAIN) {
		b->sym.debuginfod_pending = true;
		debuginfod__request(c->debuginfod, elf_binary__build_id(b->elf));
		return;
	}
	if (err)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		use_debug_file(c, b, fd, "debuginfod");
	else
		pr_debug("bincache: %s: %s\n", path, strerror(errno));
	free(path);
}

static void symbols_load(struct bincache *c, struct binary *b)
{
	struct symbols *s = &b->sym;
	const char *table;
	void *image;
	size_t size;

	s->loaded = true;
	s->checked_gen = c->generation;
	if (elf_binary__has_section(b->elf, ".debug_info")) {
		s->dwarf = open_dwarf(c, b, dup(elf_binary__fd(b->elf)));
	}
	if (!s->dwarf)
		find_debug_file(c, b);
	table = elf_binary__table(b->elf);
	if ((!table || strcmp(table, ".symtab")) &&
	    debugfile__minidebuginfo(elf_binary__elf(b->elf), &image, &size) == 0)
		s->mini = elf_binary__open_mem(image, size);
	if (!table && !s->debug_elf && !s->mini)
		s->go = gopclntab__open(elf_binary__elf(b->elf));
}

static int raw_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct demangled *)n)->raw == key;
}

/* The display name of a symbol-table name: demangled once per binary. */
static const char *display_name(struct binary *b, const char *raw)
{
	uint64_t h = hash_bytes(HASH_SEED, &raw, sizeof(raw));
	struct demangled *d = (void *)hashmap__find(&b->sym.demangled, h, raw, raw_eq);
	char *name;

	if (d)
		return d->name ? d->name : d->raw;
	name = demangle(raw);
	/* Symbol versions (memcpy@@GLIBC_2.14) are not part of the name. */
	if (!name && strchr(raw, '@') && strchr(raw, '@') != raw)
		name = strndup(raw, strchr(raw, '@') - raw);
	d = calloc(1, sizeof(*d));
	if (!d || hashmap__insert(&b->sym.demangled, &d->node, h)) {
		free(d);
		free(name);
		return raw;
	}
	d->raw = raw;
	d->name = name;
	b->sym.bytes += sizeof(*d) + (name ? strlen(name) + 1 : 0);
	return name ? name : raw;
}

static int from_table(struct binary *b, struct elf_binary *e, uint64_t vaddr, struct sym_frame *out)
{
	const char *raw;
	uint64_t sym_off;

	if (!e || elf_binary__lookup(e, vaddr, &raw, &sym_off))
		return -ENOENT;
	*out = (struct sym_frame){ .name = display_name(b, raw) };
	out->system_name = out->name != raw ? raw : NULL;
	return 1;
}

/* Some compilers (gcc 8) leave inlined calls without the function they
 * inline: such a frame says nothing, and its caller keeps the call's line. */
static int drop_nameless_inlined(struct sym_frame *f, int n)
{
	int out = 0;

	for (int i = 0; i < n; i++)
		if (i == n - 1 || strcmp(f[i].name, "??"))
			f[out++] = f[i];
	return out;
}

static void better_outer_name(struct binary *b, uint64_t vaddr, struct sym_frame *f)
{
	struct sym_frame t;
	const char *table = elf_binary__table(b->elf);
	struct elf_binary *e = b->sym.debug_elf ? b->sym.debug_elf :
			       table && !strcmp(table, ".symtab") ? b->elf : NULL;

	if (from_table(b, e, vaddr, &t) > 0) {
		f->name = t.name;
		f->system_name = t.system_name;
	}
}

static int symbolize_jit(struct binary *b, uint64_t addr, struct sym_frame *out)
{
	struct bincache *c = b->cache;
	const char *name;
	int fd;

	if (!b->perfmap && !b->exited) {
		/* The JIT may write its map after we first saw it. */
		fd = perfmap__open_for(c->proc_root, b->pid);
		if (fd >= 0)
			b->perfmap = perfmap__new(fd);
	}
	if (!b->perfmap)
		return -ENOENT;
	if (b->sym.checked_gen != c->generation) {
		b->sym.checked_gen = c->generation;
		perfmap__refresh(b->perfmap);
	}
	name = perfmap__lookup(b->perfmap, addr);
	if (!name)
		return -ENOENT;
	*out = (struct sym_frame){ .name = name };
	return 1;
}

int binary__symbolize(struct binary *b, uint64_t off, struct sym_frame *out, size_t max)
{
	struct bincache *c = b->cache;
	struct symbols *s = &b->sym;
	const char *table, *plt;
	uint64_t vaddr;
	int n;

	if (max == 0)
		return -EINVAL;
	c->stats.lookups++;
	if (b->jit)
		return symbolize_jit(b, off, out);
	if (!b->elf)
		return -ENOENT;
	if (!s->loaded) {
		c->stats.misses++;
		symbols_load(c, b);
	} else {
		c->stats.hits++;
		if (s->debuginfod_pending && s->checked_gen != c->generation) {
			s->checked_gen = c->generation;
			find_debug_file(c, b);
		}
	}
	lru__touch(&c->lru, &b->lru);
	if (elf_binary__vaddr(b->elf, off, &vaddr))
		return -ENOENT;
	/* Richest first: DWARF (inlined frames, lines), then the fullest
	 * symbol table there is, then the ones that are partial by design. */
	if (s->dwarf && (n = dwarf_debug__lookup(s->dwarf, vaddr, out, max)) > 0) {
		n = drop_nameless_inlined(out, n);
		/* Without a linkage name DWARF has only a short name (a
		 * lambda's "operator()") or one of several aliases (glibc's
		 * __GI___libc_write for write): the symbol table's pick
		 * (global, then weak, then the least underscored) is the one
		 * users know, and the one perf shows. */
		if (!out[n - 1].system_name)
			better_outer_name(b, vaddr, &out[n - 1]);
		return n;
	}
	if ((n = from_table(b, s->debug_elf, vaddr, out)) > 0)
		return n;
	table = elf_binary__table(b->elf);
	if (table && !strcmp(table, ".symtab") && (n = from_table(b, b->elf, vaddr, out)) > 0)
		return n;
	if ((n = from_table(b, s->mini, vaddr, out)) > 0)
		return n;
	if (s->go && (n = gopclntab__lookup(s->go, vaddr, out, max)) > 0)
		return n;
	if (table && strcmp(table, ".symtab") && (n = from_table(b, b->elf, vaddr, out)) > 0)
		return n;
	if ((plt = elf_binary__plt_name(b->elf, vaddr))) {
		*out = (struct sym_frame){ .name = plt };
		return 1;
	}
	/* The signal frame between a handler and the code it interrupted. */
	if (elf_binary__is_sigreturn(b->elf, off)) {
		*out = (struct sym_frame){ .name = "__restore_rt" };
		return 1;
	}
	return -ENOENT;
}

static size_t symbols_bytes(const struct binary *b)
{
	const struct symbols *s = &b->sym;

	return s->bytes + (b->elf ? elf_binary__bytes(b->elf) : 0) +
	       (s->dwarf ? dwarf_debug__bytes(s->dwarf) : 0) +
	       (s->debug_elf ? elf_binary__bytes(s->debug_elf) : 0) +
	       (s->mini ? elf_binary__bytes(s->mini) : 0) + (s->go ? gopclntab__bytes(s->go) : 0);
}

static void shrink(struct bincache *c)
{
	uint64_t total = 0;
	struct lru_node *n;
	struct binary *b;

	lru__for_each(&c->lru, n)
		total += symbols_bytes(lru_entry(n, struct binary, lru));
	while (total > c->budget && c->lru.tail) {
		b = lru_entry(c->lru.tail, struct binary, lru);
		total -= symbols_bytes(b);
		lru__unlink(&c->lru, &b->lru);
		symbols_unload(b);
		c->stats.evictions++;
		pr_debug("bincache: %s evicted, %" PRIu64 " bytes of symbols left\n", b->path, total);
	}
	c->stats.bytes = total;
}

void bincache__trim(struct bincache *c)
{
	c->generation++;
	shrink(c);
}

void binary__named(struct binary *b)
{
	if (!b || !b->cache || !b->sym.loaded)
		return;
	/* Over budget, its symbols go now (with them the mapping, which
	 * needs no pages dropped first: that costs every CPU that runs the
	 * process a TLB flush). */
	shrink(b->cache);
	/* Kept, the debug pages its lookups read are not needed until the
	 * next flush: a flush keeps one binary's resident, not every one's. */
	if (b->sym.loaded)
		dwarf_debug__drop_pages(b->sym.dwarf);
}

void bincache__stats(const struct bincache *c, struct bincache_stats *s)
{
	*s = c->stats;
	s->binaries = c->by_id.count;
	inflate_cache__stats(c->inflated, &s->inflated);
}

struct binary *bincache__new_jit(struct bincache *c, int pid)
{
	char path[64];
	struct binary *b;
	int fd;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", pid);
	b = binary_new(c, path);
	if (!b)
		return NULL;
	b->jit = true;
	b->pid = pid;
	b->sym.checked_gen = UINT64_MAX;  /* read the map at the first lookup */
	fd = perfmap__open_for(c->proc_root, pid);
	if (fd >= 0)
		b->perfmap = perfmap__new(fd);
	return b;
}

void binary__free_jit(struct binary *b)
{
	if (b && b->jit)
		binary_free(b);
}

void binary__exited(struct binary *b)
{
	b->exited = true;
}

bool binary__is_jit(const struct binary *b)
{
	return b->jit;
}

int binary__fd(const struct binary *b)
{
	return b->elf && !b->jit ? elf_binary__fd(b->elf) : -1;
}

int binary__exec_vaddr(const struct binary *b, uint64_t off, uint64_t *vaddr)
{
	return b->elf ? elf_binary__exec_vaddr(b->elf, off, vaddr) : -ENOENT;
}

bool binary__ends_go_stack(struct binary *b, uint64_t off)
{
	uint64_t vaddr;

	if (!b->go_checked) {
		b->go_checked = true;
		if (b->elf && !b->jit)
			b->go_stops = gopclntab__stops(elf_binary__elf(b->elf));
	}
	return b->go_stops && elf_binary__exec_vaddr(b->elf, off, &vaddr) == 0 &&
	       gopclntab_stops__at(b->go_stops, vaddr);
}
