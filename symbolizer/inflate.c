#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/array.h"
#include "base/file.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "symbolizer/dwarf.h"
#include "symbolizer/inflate.h"

#define DEFAULT_BOUND (2ULL << 30)
/* Streaming buffers: what the heap holds while a section is inflated. */
#define CHUNK (64 * 1024)
/* Section headers beyond this are not a debug file we copy. */
#define MAX_SECTIONS (1u << 16)
/* Notes (the build id) are compared byte for byte with the source. */
#define MAX_NOTE_CMP 4096
/* A copy's last use is written to its atime at most this often, and a
 * temporary file this old belongs to a writer that died. */
#define TOUCH_S 3600
#define STALE_TMP_S 3600

struct inflate_cache {
	char *dir;
	uint64_t bound;
	bool dir_failed;	/* could not be created: not tried again */
	struct inflate_stats stats;
};

/* One section of the copy. */
struct out_scn {
	GElf_Shdr shdr;		/* as written in the copy */
	uint64_t src_off, src_size;
	bool inflate;		/* src holds a zlib stream after its Chdr */
	bool content;		/* has bytes in the file */
};

/* What a copy of one source file must look like. */
struct layout {
	int cls;		/* ELFCLASS32 or ELFCLASS64 */
	size_t shnum, shentsize, chdr_size;
	struct out_scn *scn;
	uint64_t hdr_end;	/* [0, hdr_end): ELF and program headers */
	unsigned char *hdr;	/* those bytes, e_shoff patched */
	unsigned char *shdrs;	/* the section header table */
	uint64_t shoff, total;
};

static void layout_free(struct layout *l)
{
	free(l->scn);
	free(l->hdr);
	free(l->shdrs);
}

struct inflate_cache *inflate_cache__new(const char *dir, uint64_t bound)
{
	struct inflate_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->dir = strdup(dir);
	if (!c->dir) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->bound = bound ? bound : DEFAULT_BOUND;
	return c;
}

void inflate_cache__free(struct inflate_cache *c)
{
	if (!c)
		return;
	free(c->dir);
	free(c);
}

void inflate_cache__stats(const struct inflate_cache *c, struct inflate_stats *s)
{
	*s = c ? c->stats : (struct inflate_stats){};
}

static bool host_little(void)
{
	const uint16_t one = 1;

	return *(const unsigned char *)&one == 1;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	if (a <= 1 || (a & (a - 1)))
		return v;
	return (v + a - 1) & ~(a - 1);
}

/* All len bytes read (out false) or written at off: 0, or -errno (-EIO
 * when the file ends first). */
static int pio_all(int fd, void *buf, size_t len, uint64_t off, bool out)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = out ? pwrite(fd, (char *)buf + done, len - done, off + done) :
				  pread(fd, (char *)buf + done, len - done, off + done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		done += r;
	}
	return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	return pio_all(fd, buf, len, off, false);
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	return pio_all(fd, (void *)buf, len, off, true);
}

/* The uncompressed size and alignment of a SHF_COMPRESSED section, read
 * from its header in the file; 0 when it is zlib, -ENOTSUP for another
 * algorithm. */
static int read_chdr(int fd, const struct layout *l, uint64_t off, uint64_t *size,
		     uint64_t *align)
{
	union {
		Elf32_Chdr c32;
		Elf64_Chdr c64;
	} ch;
	uint32_t type;
	int err = pread_all(fd, &ch, l->chdr_size, off);

	if (err)
		return err;
	if (l->cls == ELFCLASS64) {
		type = ch.c64.ch_type;
		*size = ch.c64.ch_size;
		*align = ch.c64.ch_addralign;
	} else {
		type = ch.c32.ch_type;
		*size = ch.c32.ch_size;
		*align = ch.c32.ch_addralign;
	}
	return type == ELFCOMPRESS_ZLIB ? 0 : -ENOTSUP;
}

static int by_src_off(const void *a, const void *b)
{
	const struct out_scn *x = *(const struct out_scn *const *)a;
	const struct out_scn *y = *(const struct out_scn *const *)b;

	if (x->src_off != y->src_off)
		return x->src_off < y->src_off ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void put_shdr(const struct layout *l, size_t i)
{
	const GElf_Shdr *s = &l->scn[i].shdr;

	if (l->cls == ELFCLASS64) {
		Elf64_Shdr o = {
			.sh_name = s->sh_name, .sh_type = s->sh_type, .sh_flags = s->sh_flags,
			.sh_addr = s->sh_addr, .sh_offset = s->sh_offset, .sh_size = s->sh_size,
			.sh_link = s->sh_link, .sh_info = s->sh_info,
			.sh_addralign = s->sh_addralign, .sh_entsize = s->sh_entsize,
		};
		memcpy(l->shdrs + i * sizeof(o), &o, sizeof(o));
	} else {
		Elf32_Shdr o = {
			.sh_name = s->sh_name, .sh_type = s->sh_type, .sh_flags = s->sh_flags,
			.sh_addr = s->sh_addr, .sh_offset = s->sh_offset, .sh_size = s->sh_size,
			.sh_link = s->sh_link, .sh_info = s->sh_info,
			.sh_addralign = s->sh_addralign, .sh_entsize = s->sh_entsize,
		};
		memcpy(l->shdrs + i * sizeof(o), &o, sizeof(o));
	}
}

/* Plans the copy of the ELF file fd: which sections get inflated and where
 * every section goes. Sections keep their order in the file and never
 * move to an earlier offset, so those before the first inflated one (the
 * loadable ones of a binary) stay where its program headers say. */
static int plan(int fd, uint64_t bound, struct layout *l)
{
	struct out_scn **order = NULL;
	size_t i, shstrndx, ncontent = 0;
	uint64_t pos, fsize, phend;
	bool any = false;
	GElf_Ehdr ehdr;
	struct stat st;
	Elf *e = NULL;
	int err = 0;

	if (fstat(fd, &st) != 0)
		return -errno;
	fsize = st.st_size;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &ehdr) ||
	    elf_getshdrnum(e, &l->shnum) != 0 || elf_getshdrstrndx(e, &shstrndx) != 0) {
		err = -EINVAL;
		goto cleanup;
	}
	l->cls = gelf_getclass(e);
	l->shentsize = l->cls == ELFCLASS64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	l->chdr_size = l->cls == ELFCLASS64 ? sizeof(Elf64_Chdr) : sizeof(Elf32_Chdr);
	if (ehdr.e_ident[EI_DATA] != (host_little() ? ELFDATA2LSB : ELFDATA2MSB) ||
	    ehdr.e_shentsize != l->shentsize || l->shnum == 0 || l->shnum > MAX_SECTIONS) {
		err = -EINVAL;
		goto cleanup;
	}
	/* The header is rewritten in place (e_shoff): a file whose e_ehsize
	 * says less than its class's header is corrupt. */
	if (ehdr.e_ehsize < (l->cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
		err = -EINVAL;
		goto cleanup;
	}
	l->hdr_end = ehdr.e_ehsize;
	phend = ehdr.e_phnum ? ehdr.e_phoff + (uint64_t)ehdr.e_phnum * ehdr.e_phentsize : 0;
	if (phend > l->hdr_end)
		l->hdr_end = phend;
	if (l->hdr_end > fsize || l->hdr_end > (1u << 20)) {
		err = -EINVAL;
		goto cleanup;
	}
	l->scn = calloc(l->shnum, sizeof(*l->scn));
	order = calloc(l->shnum, sizeof(*order));
	if (!l->scn || !order) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < l->shnum; i++) {
		struct out_scn *o = &l->scn[i];
		Elf_Scn *scn = elf_getscn(e, i);
		const char *name;

		if (!scn || !gelf_getshdr(scn, &o->shdr)) {
			err = -EINVAL;
			goto cleanup;
		}
		o->src_off = o->shdr.sh_offset;
		o->src_size = o->shdr.sh_size;
		if (i == 0 || o->shdr.sh_type == SHT_NOBITS || o->src_size == 0)
			continue;
		if (o->src_off < l->hdr_end || o->src_off > fsize || o->src_size > fsize - o->src_off) {
			err = -EINVAL;
			goto cleanup;
		}
		o->content = true;
		order[ncontent++] = o;
		name = elf_strptr(e, shstrndx, o->shdr.sh_name);
		if ((o->shdr.sh_flags & SHF_COMPRESSED) && name &&
		    dwarf_debug__reads_section(name) && o->src_size > l->chdr_size) {
			uint64_t size, align;

			if (read_chdr(fd, l, o->src_off, &size, &align) != 0)
				continue;
			if (size > bound || (align & (align - 1))) {
				err = size > bound ? -EFBIG : -EINVAL;
				goto cleanup;
			}
			o->inflate = true;
			o->shdr.sh_flags &= ~(uint64_t)SHF_COMPRESSED;
			o->shdr.sh_size = size;
			o->shdr.sh_addralign = align;
			any = true;
		}
	}
	if (!any) {
		err = -ENOENT;
		goto cleanup;
	}
	qsort(order, ncontent, sizeof(*order), by_src_off);
	pos = l->hdr_end;
	for (i = 0; i < ncontent; i++) {
		struct out_scn *o = order[i];

		pos = align_up(pos > o->src_off ? pos : o->src_off, o->shdr.sh_addralign);
		o->shdr.sh_offset = pos;
		pos += o->shdr.sh_size;
		if (pos > bound) {
			err = -EFBIG;
			goto cleanup;
		}
	}
	l->shoff = align_up(pos, 8);
	l->total = l->shoff + l->shnum * l->shentsize;

	l->hdr = malloc(l->hdr_end);
	l->shdrs = malloc(l->shnum * l->shentsize);
	if (!l->hdr || !l->shdrs) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = pread_all(fd, l->hdr, l->hdr_end, 0);
	if (err)
		goto cleanup;
	if (l->cls == ELFCLASS64) {
		Elf64_Off off = l->shoff;

		memcpy(l->hdr + offsetof(Elf64_Ehdr, e_shoff), &off, sizeof(off));
	} else {
		Elf32_Off off = l->shoff;

		if (l->shoff > UINT32_MAX) {
			err = -EFBIG;
			goto cleanup;
		}
		memcpy(l->hdr + offsetof(Elf32_Ehdr, e_shoff), &off, sizeof(off));
	}
	for (i = 0; i < l->shnum; i++)
		put_shdr(l, i);
cleanup:
	free(order);
	if (e)
		elf_end(e);
	return err;
}

/* The copy's file name: build id (or a hash of the key) and a hash of
 * what the copy's headers must be, which tells the binary's own DWARF from
 * its debug file's (same build id) and a rebuilt file from the old. */
static char *copy_path(const struct inflate_cache *c, const char *key, const struct layout *l)
{
	uint64_t h = hash_bytes(HASH_SEED, l->hdr, l->hdr_end);
	const char *id = NULL;
	char *p, idbuf[24];
	size_t n;

	h = hash_bytes(h, l->shdrs, l->shnum * l->shentsize);
	if (!strncmp(key, "buildid:", 8)) {
		id = key + 8;
		n = strlen(id);
		if (n < 2 || n > 128 || strspn(id, "0123456789abcdef") != n)
			id = NULL;
	}
	if (!id) {
		snprintf(idbuf, sizeof(idbuf), "id-%016" PRIx64,
			 hash_bytes(HASH_SEED, key, strlen(key)));
		id = idbuf;
	}
	if (asprintf(&p, "%s/%s-%016" PRIx64 ".elf", c->dir, id, h) < 0)
		return NULL;
	return p;
}

/* 0 when the copy open at cfd is what plan() says it must be. */
static int check_copy(int src, int cfd, const struct layout *l)
{
	unsigned char *buf = NULL;
	size_t i, len = l->hdr_end > l->shnum * l->shentsize ? l->hdr_end : l->shnum * l->shentsize;
	struct stat st;
	int err;

	if (fstat(cfd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != l->total)
		return -EBADMSG;
	if (len < MAX_NOTE_CMP)
		len = MAX_NOTE_CMP;
	buf = malloc(2 * len);
	if (!buf)
		return -ENOMEM;
	err = pread_all(cfd, buf, l->hdr_end, 0);
	if (!err && memcmp(buf, l->hdr, l->hdr_end))
		err = -EBADMSG;
	if (!err)
		err = pread_all(cfd, buf, l->shnum * l->shentsize, l->shoff);
	if (!err && memcmp(buf, l->shdrs, l->shnum * l->shentsize))
		err = -EBADMSG;
	for (i = 1; i < l->shnum && !err; i++) {
		const struct out_scn *o = &l->scn[i];

		if (!o->content || o->inflate || o->shdr.sh_type != SHT_NOTE ||
		    o->src_size > MAX_NOTE_CMP)
			continue;
		err = pread_all(src, buf, o->src_size, o->src_off);
		if (!err)
			err = pread_all(cfd, buf + len, o->src_size, o->shdr.sh_offset);
		if (!err && memcmp(buf, buf + len, o->src_size))
			err = -EBADMSG;
	}
	free(buf);
	return err == -EIO ? -EBADMSG : err;
}

static int copy_bytes(int src, int dst, uint64_t from, uint64_t to, uint64_t len,
		      unsigned char *buf)
{
	while (len > 0) {
		size_t n = len < CHUNK ? len : CHUNK;
		int err = pread_all(src, buf, n, from);

		if (!err)
			err = pwrite_all(dst, buf, n, to);
		if (err)
			return err;
		from += n;
		to += n;
		len -= n;
	}
	return 0;
}

/* Inflates the zlib stream of section o into dst through two CHUNK
 * buffers; it must end exactly at the size its header gives. */
static int inflate_section(int src, int dst, const struct layout *l, const struct out_scn *o,
			   unsigned char *in, unsigned char *out)
{
	uint64_t from = o->src_off + l->chdr_size, left = o->src_size - l->chdr_size;
	uint64_t to = o->shdr.sh_offset, want = o->shdr.sh_size, done = 0;
	z_stream z = {};
	int zr = Z_OK, err = 0;

	if (inflateInit(&z) != Z_OK)
		return -ENOMEM;
	while (zr != Z_STREAM_END) {
		if (z.avail_in == 0) {
			size_t n = left < CHUNK ? left : CHUNK;

			if (n == 0) {
				err = -EBADMSG;
				break;
			}
			err = pread_all(src, in, n, from);
			if (err)
				break;
			from += n;
			left -= n;
			z.next_in = in;
			z.avail_in = n;
		}
		z.next_out = out;
		z.avail_out = CHUNK;
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			err = -EBADMSG;
			break;
		}
		if (CHUNK - z.avail_out > want - done) {
			err = -EBADMSG;
			break;
		}
		err = pwrite_all(dst, out, CHUNK - z.avail_out, to + done);
		if (err)
			break;
		done += CHUNK - z.avail_out;
	}
	inflateEnd(&z);
	if (!err && done != want)
		err = -EBADMSG;
	return err;
}

static int64_t used_s(const struct stat *st)
{
	return st->st_atime > st->st_mtime ? st->st_atime : st->st_mtime;
}

struct cached_file {
	char *name;
	uint64_t size;
	int64_t used;
};

static int by_use(const void *a, const void *b)
{
	const struct cached_file *x = a, *y = b;

	if (x->used != y->used)
		return x->used < y->used ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Deletes the least recently used copies until the directory holds at
 * most the bound, never keep (the copy just written); and temporary files
 * of writers that died. */
static void enforce_bound(struct inflate_cache *c, const char *keep)
{
	struct cached_file *files = NULL;
	size_t n = 0, cap = 0, i;
	uint64_t total = 0;
	time_t now = time(NULL);
	struct dirent *de;
	DIR *dh;

	dh = opendir(c->dir);
	if (!dh)
		return;
	while ((de = readdir(dh))) {
		size_t len = strlen(de->d_name);
		struct stat st;

		if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (de->d_name[0] == '.') {
			if (now - st.st_mtime > STALE_TMP_S)
				(void)unlinkat(dirfd(dh), de->d_name, 0);
			continue;
		}
		if (len < 4 || strcmp(de->d_name + len - 4, ".elf"))
			continue;
		if (ARRAY_RESERVE_FROM(files, &cap, n + 1, 16))
			break;
		files[n].name = strdup(de->d_name);
		if (!files[n].name)
			break;
		files[n].size = st.st_size;
		files[n].used = used_s(&st);
		total += st.st_size;
		n++;
	}
	if (total > c->bound) {
		qsort(files, n, sizeof(*files), by_use);
		for (i = 0; i < n && total > c->bound; i++) {
			if (!strcmp(files[i].name, keep) || unlinkat(dirfd(dh), files[i].name, 0))
				continue;
			total -= files[i].size;
			c->stats.evicted++;
			pr_debug("inflate: evicted %s/%s (%" PRIu64 " bytes) to keep the copies "
				 "under %" PRIu64 " bytes\n", c->dir, files[i].name, files[i].size,
				 c->bound);
		}
	}
	closedir(dh);
	for (i = 0; i < n; i++)
		free(files[i].name);
	free(files);
}

/* Writes the copy of src planned in l to path; an fd of it, or -errno. */
static int write_copy(struct inflate_cache *c, int src, const struct layout *l, const char *path)
{
	unsigned char *in = NULL, *out = NULL;
	char *tmp = NULL;
	int fd = -1, err = 0;
	size_t i;

	if (c->dir_failed)
		return -EROFS;
	/* Copies hold the debug info of every binary profiled, containers'
	 * too: readable by root only, like the binaries behind map_files. */
	err = file__make_dirs(c->dir, 0700);
	if (err) {
		pr_debug("inflate: cannot create %s: %s; debug sections are inflated in "
			 "memory\n", c->dir, strerror(-err));
		c->dir_failed = true;
		return err;
	}
	in = malloc(CHUNK);
	out = malloc(CHUNK);
	if (!in || !out || asprintf(&tmp, "%s/.inflate.XXXXXX", c->dir) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_debug("inflate: cannot write in %s: %s; debug sections are inflated in "
			 "memory\n", c->dir, strerror(-err));
		if (err == -EACCES || err == -EROFS || err == -EPERM)
			c->dir_failed = true;
		goto cleanup;
	}
	err = pwrite_all(fd, l->hdr, l->hdr_end, 0);
	for (i = 1; i < l->shnum && !err; i++) {
		const struct out_scn *o = &l->scn[i];

		if (!o->content)
			continue;
		if (o->inflate)
			err = inflate_section(src, fd, l, o, in, out);
		else
			err = copy_bytes(src, fd, o->src_off, o->shdr.sh_offset, o->src_size, in);
	}
	if (!err)
		err = pwrite_all(fd, l->shdrs, l->shnum * l->shentsize, l->shoff);
	if (!err && ftruncate(fd, l->total) != 0)
		err = -errno;
	/* Data before the name: after a crash the name holds the whole copy
	 * or nothing. (mkostemp made it 0600.) */
	if (!err && fdatasync(fd) != 0)
		err = -errno;
	if (!err && rename(tmp, path) != 0)
		err = -errno;
	if (err) {
		pr_debug("inflate: cannot write %s: %s\n", path, strerror(-err));
		(void)unlink(tmp);
		close(fd);
		fd = -1;
		goto cleanup;
	}
	c->stats.written++;
	enforce_bound(c, strrchr(path, '/') + 1);
cleanup:
	free(tmp);
	free(in);
	free(out);
	return fd >= 0 ? fd : err;
}

int inflate_cache__open(struct inflate_cache *c, int fd, const char *key)
{
	struct layout l = {};
	char *path = NULL;
	struct stat st;
	int cfd = -1, err;

	if (!c || fd < 0 || !key)
		return -EINVAL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	err = plan(fd, c->bound, &l);
	if (err)
		goto cleanup;
	path = copy_path(c, key, &l);
	if (!path) {
		err = -ENOMEM;
		goto cleanup;
	}
	cfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (cfd >= 0) {
		err = check_copy(fd, cfd, &l);
		if (err) {
			pr_debug("inflate: %s does not match its source: deleted\n", path);
			c->stats.invalid++;
			close(cfd);
			cfd = -1;
			(void)unlink(path);
			goto cleanup;
		}
		/* A use, for eviction by last use (relatime would not tell). */
		if (fstat(cfd, &st) == 0 && time(NULL) - used_s(&st) > TOUCH_S)
			(void)futimens(cfd, (const struct timespec[2]){ { .tv_nsec = UTIME_NOW },
									{ .tv_nsec = UTIME_OMIT } });
	} else if (errno == ENOENT) {
		cfd = write_copy(c, fd, &l, path);
		if (cfd < 0) {
			err = cfd;
			c->stats.failed++;
			goto cleanup;
		}
	} else {
		err = -errno;
		c->stats.failed++;
		goto cleanup;
	}
	c->stats.used++;
cleanup:
	if (err == -EFBIG)
		c->stats.failed++;
	layout_free(&l);
	free(path);
	return cfd >= 0 ? cfd : err;
}
