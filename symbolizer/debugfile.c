#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <linux/openat2.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include "base/log.h"
#include "symbolizer/debugfile.h"
#include "symbolizer/elf.h"

#define DEFAULT_DEBUG_DIR "/usr/lib/debug"
/* GNU build ids are 20 bytes (sha1) or 16 (md5/uuid); 64 leaves room for
 * anything a linker may choose, and bounds what goes into a path. */
#define CRC_CHUNK (256 * 1024)
/* xz -9 needs 65 MiB to decode; anything asking for more is not a
 * distribution's MiniDebugInfo. */
#define XZ_MEMLIMIT (128u << 20)

/* Where lookups start: the host, or a process's root opened once. */
struct lookup_root {
	int dfd;	/* -1 for the host */
	bool have_self;	/* the binary's identity, to never return it */
	dev_t self_dev;
	ino_t self_ino;
};

/* path (absolute, as the process sees it) opened inside the root: with
 * RESOLVE_IN_ROOT an absolute symlink in a container lands in the container,
 * not on the host. */
static int open_at_root(const struct lookup_root *r, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	if (r->dfd < 0)
		return open(path, flags);
	fd = (int)syscall(SYS_openat2, r->dfd, path, &how, sizeof(how));
	/* openat2 is Linux 5.6; older seccomp profiles answer EPERM for it.
	 * Then the kernel's own resolution, as before openat2 existed. */
	if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
		while (*path == '/')
			path++;
		fd = openat(r->dfd, *path ? path : ".", flags);
	}
	return fd;
}

/* Sections first: a debug file keeps .note.gnu.build-id, while its program
 * headers still describe the stripped binary's layout. */
static bool elf_build_id(Elf *elf, char *out)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;
	GElf_Phdr phdr;
	size_t i, phnum;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE)
			continue;
		if (elf__notes_build_id(elf_getdata(scn, NULL), out))
			return true;
	}
	if (elf_getphdrnum(elf, &phnum))
		return false;
	for (i = 0; i < phnum; i++) {
		if (!gelf_getphdr(elf, i, &phdr) || phdr.p_type != PT_NOTE)
			continue;
		if (elf__notes_build_id(elf_getdata_rawchunk(elf, phdr.p_offset, phdr.p_filesz,
							phdr.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR),
				   out))
			return true;
	}
	return false;
}

static bool fd_has_build_id(int fd, const char *build_id)
{
	char got[2 * ELF_BUILD_ID_MAX + 1];
	bool ok = false;
	Elf *elf;

	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF && elf_build_id(elf, got))
		ok = strcasecmp(got, build_id) == 0;
	elf_end(elf);
	return ok;
}

static int fd_crc32(int fd, uint32_t *out)
{
	unsigned char *buf = malloc(CRC_CHUNK);
	uLong crc = crc32(0L, Z_NULL, 0);
	off_t off = 0;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = pread(fd, buf, CRC_CHUNK, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		crc = crc32(crc, buf, (uInt)n);
		off += n;
	}
	free(buf);
	*out = (uint32_t)crc;
	return err;
}

enum check { CHECK_BUILD_ID, CHECK_CRC };

/* A candidate: open, a regular file, not the binary, and the right one. */
static int try_candidate(const struct lookup_root *r, const char *path, enum check how,
			 const char *build_id, uint32_t crc)
{
	struct stat st;
	uint32_t got;
	int fd;

	/* O_NONBLOCK: a FIFO planted in a container must not hang us. */
	fd = open_at_root(r, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		goto reject;
	if (r->have_self && st.st_dev == r->self_dev && st.st_ino == r->self_ino)
		goto reject;
	if (how == CHECK_BUILD_ID && !fd_has_build_id(fd, build_id)) {
		pr_debug("debugfile: %s: build id is not %s\n", path, build_id);
		goto reject;
	}
	if (how == CHECK_CRC && (fd_crc32(fd, &got) || got != crc)) {
		pr_debug("debugfile: %s: CRC does not match .gnu_debuglink\n", path);
		goto reject;
	}
	if (fcntl(fd, F_SETFL, 0))
		goto reject;
	pr_debug("debugfile: using %s\n", path);
	return fd;
reject:
	close(fd);
	return -ENOENT;
}

static bool valid_build_id(const char *id)
{
	size_t i, len = strlen(id);

	if (len < 4 || len > 2 * ELF_BUILD_ID_MAX || len % 2)
		return false;
	for (i = 0; i < len; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f') ||
		      (id[i] >= 'A' && id[i] <= 'F')))
			return false;
	return true;
}

static Elf_Scn *section_by_name(Elf *elf, const char *name, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		const char *n;

		if (!gelf_getshdr(scn, shdr))
			continue;
		n = elf_strptr(elf, shstrndx, shdr->sh_name);
		if (n && strcmp(n, name) == 0)
			return scn;
	}
	return NULL;
}

/* .gnu_debuglink: a file name, NUL, padding to 4 bytes, the CRC32 of the
 * debug file in the binary's byte order. The name must be a plain file
 * name: it is joined to directories. */
static bool read_debuglink(Elf *elf, char *name, size_t name_size, uint32_t *crc)
{
	const unsigned char *p;
	const char *ident;
	size_t len, crc_off;
	Elf_Data *data;
	GElf_Shdr shdr;
	Elf_Scn *scn;

	scn = section_by_name(elf, ".gnu_debuglink", &shdr);
	if (!scn || shdr.sh_type == SHT_NOBITS)
		return false;
	data = elf_getdata(scn, NULL);
	if (!data || !data->d_buf || data->d_size < 1)
		return false;
	p = data->d_buf;
	len = strnlen((const char *)p, data->d_size);
	if (len == 0 || len >= data->d_size || len >= name_size)
		return false;
	crc_off = (len + 1 + 3) & ~(size_t)3;
	if (crc_off > data->d_size || data->d_size - crc_off < 4)
		return false;
	memcpy(name, p, len + 1);
	if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	ident = elf_getident(elf, NULL);
	p += crc_off;
	if (ident && ident[EI_DATA] == ELFDATA2MSB)
		*crc = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	else
		*crc = (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
	return true;
}

/* Fills candidate with the joined parts; false when it does not fit. */
static bool join(char *out, size_t size, const char *a, const char *b, const char *c,
		 const char *d)
{
	int n = snprintf(out, size, "%s%s%s%s", a, b, c, d);

	return n >= 0 && (size_t)n < size;
}

int debugfile__find(const struct debugfile_dirs *d, const char *root, Elf *elf,
		    const char *build_id, const char *path)
{
	struct lookup_root r = { .dfd = -1 };
	char cand[PATH_MAX], link[NAME_MAX + 1], dir[PATH_MAX];
	size_t ndirs = (d ? d->ndirs : 0) + 1, i;
	uint32_t crc = 0;
	struct stat st;
	int fd = -ENOENT, self;

	if (!elf || (d && d->ndirs && !d->dirs))
		return -EINVAL;
	if (root && *root) {
		r.dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (r.dfd < 0)
			return -ENOENT;
	}
	if (path && *path == '/') {
		self = open_at_root(&r, path, O_PATH | O_CLOEXEC);
		if (self >= 0 && !fstat(self, &st)) {
			r.have_self = true;
			r.self_dev = st.st_dev;
			r.self_ino = st.st_ino;
		}
		if (self >= 0)
			close(self);
	}

	if (build_id && valid_build_id(build_id)) {
		char id[2 * ELF_BUILD_ID_MAX + 1];

		/* The .build-id tree is lower-case hex. */
		for (i = 0; build_id[i]; i++)
			id[i] = (char)tolower((unsigned char)build_id[i]);
		id[i] = '\0';
		for (i = 0; i < ndirs && fd < 0; i++) {
			const char *base = i < ndirs - 1 ? d->dirs[i] : DEFAULT_DEBUG_DIR;
			int n;

			if (!base || !*base)
				continue;
			n = snprintf(cand, sizeof(cand), "%s/.build-id/%.2s/%s.debug", base, id, id + 2);
			if (n > 0 && (size_t)n < sizeof(cand))
				fd = try_candidate(&r, cand, CHECK_BUILD_ID, id, 0);
		}
	}

	/* The debuglink is relative to where the binary lives. */
	if (fd < 0 && path && *path == '/' && read_debuglink(elf, link, sizeof(link), &crc)) {
		size_t dlen = (size_t)(strrchr(path, '/') - path);

		if (dlen < sizeof(dir)) {
			memcpy(dir, path, dlen);
			dir[dlen] = '\0';
			if (join(cand, sizeof(cand), dir, "/", link, ""))
				fd = try_candidate(&r, cand, CHECK_CRC, NULL, crc);
			if (fd < 0 && join(cand, sizeof(cand), dir, "/.debug/", link, ""))
				fd = try_candidate(&r, cand, CHECK_CRC, NULL, crc);
			for (i = 0; i < ndirs && fd < 0; i++) {
				const char *base = i < ndirs - 1 ? d->dirs[i] : DEFAULT_DEBUG_DIR;

				if (!base || !*base)
					continue;
				if (join(cand, sizeof(cand), base, dir, "/", link))
					fd = try_candidate(&r, cand, CHECK_CRC, NULL, crc);
			}
		}
	}

	if (r.dfd >= 0)
		close(r.dfd);
	return fd < 0 ? -ENOENT : fd;
}

int debugfile__xz_decode(const void *in, size_t len, void **out, size_t *outlen)
{
	lzma_stream strm = LZMA_STREAM_INIT;
	size_t cap;
	uint8_t *buf = NULL, *nbuf;
	lzma_ret ret;
	int err;

	*out = NULL;
	*outlen = 0;
	if (!in || len == 0)
		return -EINVAL;
	/* Streams with stream padding or several streams are still one xz
	 * file; LZMA_CONCATENATED reads them as xz(1) does. */
	ret = lzma_stream_decoder(&strm, XZ_MEMLIMIT, LZMA_CONCATENATED);
	if (ret != LZMA_OK)
		return ret == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
	cap = len < DEBUGFILE_XZ_MAX_OUT / 8 ? len * 8 : DEBUGFILE_XZ_MAX_OUT;
	if (cap < 64 * 1024)
		cap = 64 * 1024;
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	strm.next_in = in;
	strm.avail_in = len;
	strm.next_out = buf;
	strm.avail_out = cap;
	for (;;) {
		ret = lzma_code(&strm, LZMA_FINISH);
		if (ret == LZMA_STREAM_END)
			break;
		if (ret != LZMA_OK) {
			err = ret == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
			goto cleanup;
		}
		if (strm.avail_out)
			continue;	/* with nothing left in, lzma answers BUF_ERROR */
		if (cap >= DEBUGFILE_XZ_MAX_OUT) {
			err = -EFBIG;
			goto cleanup;
		}
		cap = cap > DEBUGFILE_XZ_MAX_OUT / 2 ? DEBUGFILE_XZ_MAX_OUT : cap * 2;
		nbuf = realloc(buf, cap);
		if (!nbuf) {
			err = -ENOMEM;
			goto cleanup;
		}
		buf = nbuf;
		strm.next_out = buf + strm.total_out;
		strm.avail_out = cap - strm.total_out;
	}
	/* Give back what the doubling overshot. */
	nbuf = realloc(buf, strm.total_out ? strm.total_out : 1);
	if (nbuf)
		buf = nbuf;
	*out = buf;
	*outlen = strm.total_out;
	buf = NULL;
	err = 0;
cleanup:
	free(buf);
	lzma_end(&strm);
	return err;
}

int debugfile__minidebuginfo(Elf *elf, void **image, size_t *size)
{
	Elf_Data *data;
	GElf_Shdr shdr;
	Elf_Scn *scn;
	void *out;
	size_t len;
	int err;

	*image = NULL;
	*size = 0;
	if (!elf)
		return -EINVAL;
	scn = section_by_name(elf, ".gnu_debugdata", &shdr);
	if (!scn || shdr.sh_type == SHT_NOBITS)
		return -ENOENT;
	/* rawdata: the bytes as stored, no translation; libelf refuses a
	 * section that claims to run past the end of the file. */
	data = elf_rawdata(scn, NULL);
	if (!data || !data->d_buf || !data->d_size)
		return -EINVAL;
	err = debugfile__xz_decode(data->d_buf, data->d_size, &out, &len);
	if (err)
		return err;
	if (len < EI_NIDENT || memcmp(out, ELFMAG, SELFMAG) != 0) {
		free(out);
		return -EINVAL;
	}
	*image = out;
	*size = len;
	return 0;
}
