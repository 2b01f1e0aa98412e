/* Uncompressed copies of debug files, kept on disk.
 *
 * libdw inflates a SHF_COMPRESSED debug section onto the heap when it opens
 * the file: a distribution's libc debug file costs about 9 MiB of heap
 * before the first lookup. The copy written here has those sections
 * inflated (zlib, streamed through a small buffer into the file), so the
 * symbolizer maps it and only the pages lookups touch become resident, as
 * page cache the kernel can take back.
 *
 * A copy is written once per source file, under a temporary name renamed
 * into place (agents sharing the directory, or a crash, never leave a half
 * file under the real name), and is checked against its source before each
 * use (size, ELF header, program and section headers, notes such as the
 * build id): one that does not match is deleted and the caller reads the
 * source as before. The directory is bounded in bytes; the least recently
 * used copies go first. */
#ifndef IGNIS_SYM_INFLATE_H
#define IGNIS_SYM_INFLATE_H

#include <stdint.h>

struct inflate_cache;

struct inflate_stats {
	uint64_t written;     /* copies written */
	uint64_t used;        /* copies opened (written ones included) */
	uint64_t invalid;     /* copies that did not match their source: deleted */
	uint64_t failed;      /* copies that could not be written (directory
	                       * not writable, disk full, bad compressed data) */
	uint64_t evicted;     /* copies deleted to keep the bound */
};

/* Copies live in dir (created on first write, parents too). bound: bytes
 * the directory may hold (0: 2 GiB); a copy larger than that is not
 * written. NULL and errno set on allocation failure. */
struct inflate_cache *inflate_cache__new(const char *dir, uint64_t bound);
void inflate_cache__free(struct inflate_cache *c);

/* An fd of the uncompressed copy of the ELF file fd (borrowed; read with
 * pread only), to read or map privately (never to write), written now when
 * there is none yet. key names the source: "buildid:<hex>" (copies of one
 * build id's files are shared between agents and containers), or any other
 * identity string (hashed). -ENOENT when fd has no zlib-compressed section
 * the DWARF reader needs (nothing to gain: use fd itself); -EINVAL for a
 * file this cannot copy (not native-endian ELF, odd layout); -EFBIG for a
 * copy over the bound; other -errno when the copy cannot be written or a
 * cached one did not match (counted; the caller reads fd). */
int inflate_cache__open(struct inflate_cache *c, int fd, const char *key);

void inflate_cache__stats(const struct inflate_cache *c, struct inflate_stats *s);

#endif
