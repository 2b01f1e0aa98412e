/* A destination's spool: requests on disk, one file each, in a directory of
 * its own, for when the memory queue is full and across restarts (SIGKILL
 * included). The spool is a FIFO: files are named by a 64-bit sequence
 * (20 zero-padded digits, ".req"), so their names sort in queue order.
 *
 * A file is written whole or not at all (".tmp" name, write, fsync, rename,
 * fsync of the directory, one for a batch of files written together) and
 * removed only once its request has had its
 * final answer, the removal made durable too, so a crash at any point
 * neither loses a spooled request nor sends one twice (but for the request
 * in flight at the crash, which the server may have taken before we saw
 * its answer: it is sent again).
 *
 * File layout (integers little-endian):
 *   "IGSP"  u16 version (1)  u16 flags (0)  i64 created_ns  u64 raw_len
 *   then one zstd frame of raw_len bytes once decompressed:
 *   u32 len + url, u32 len + what, u32 count, count x (u32 len + header
 *   line), u64 len + body.
 * The created time sits outside the compressed part so a scan at start
 * learns every file's age from 24 bytes.
 *
 * The directory: created with its parents (parents 0755, itself 0700);
 * refused when it is a symbolic link or not a directory, or not owned by
 * our effective uid; a group/other permission bit on it is taken away.
 * Files are opened relative to the directory's descriptor, O_NOFOLLOW.
 * Files whose names are not ours are left alone and not counted.
 *
 * Not thread-safe: the delivery serializes the calls. */
#ifndef IGNIS_SPOOL_H
#define IGNIS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "exporters/delivery.h"

#define SPOOL_DEFAULT_BYTES (1ull << 30)
/* Bigger requests (decompressed) are neither written nor read back. */
#define SPOOL_MAX_REQUEST (256u << 20)
#define SPOOL_HEADER_SIZE 24

struct spool;

/* Opens dir (creating it), removes the ".tmp" files a crash left, indexes
 * the spool files in order (a file whose header does not read is deleted
 * and counted in dropped_bad) and, when they pass max_bytes (0: 1 GiB),
 * drops the oldest. name is for logs. NULL+errno. */
struct spool *spool__open(const char *dir, uint64_t max_bytes, const char *name);

/* Accepts NULL. Files stay. */
void spool__free(struct spool *s);

/* Writes r (not taken) behind the others. Older files but the pinned head
 * are deleted first, oldest first, until it fits under max_bytes (counted
 * in dropped_full, logged rate-limited with how many and how old). 0, or
 * -EFBIG when r alone does not fit, or the write's -errno; either way r
 * is counted in dropped_full and nothing of it stays on disk. A failed
 * fsync of the directory after the rename is logged, and the file kept:
 * it is whole, only a power loss could still take it. */
int spool__append(struct spool *s, const struct http_request *r);

/* Writes r ahead of every file (shutdown: requests still in memory are
 * older than the spool's). It is the oldest, so when it does not fit it
 * is the one dropped (-EFBIG). Same errors as append. */
int spool__prepend(struct spool *s, const struct http_request *r);

/* v[0..n) (not taken) as n appends in that order, or as n prepends that
 * leave v[0] the oldest, but with one fsync of the directory for all of
 * them (renames and evictions) instead of one each. errs (NULL: not
 * wanted) gets each request's result, as append's. How many were written. */
size_t spool__append_batch(struct spool *s, struct http_request *const *v, size_t n, int *errs);
size_t spool__prepend_batch(struct spool *s, struct http_request *const *v, size_t n, int *errs);

/* Files in the spool, the pinned head included. */
size_t spool__count(const struct spool *s);

/* Reads the oldest file into *out (to free) with its sequence in *seq and
 * pins it (append's evictions leave it). A file that is gone or does not
 * parse is deleted (when there), counted in dropped_bad, logged, and the
 * next one read. -ENOENT when the spool is empty; -ENOMEM, -EIO (then the
 * file stays and a later call tries again). */
int spool__peek(struct spool *s, struct http_request **out, uint64_t *seq);

/* Removes the file of seq (the head read by peek, after its final answer)
 * and unpins. 0, -ENOENT when seq is not the head, or the -errno of
 * unlink (the entry is forgotten anyway). */
int spool__pop(struct spool *s, uint64_t seq);

struct spool_stats {
	uint64_t files, bytes;     /* now */
	uint64_t written;          /* files written */
	uint64_t dropped_full;     /* evicted for room, too big, or a failed write */
	uint64_t dropped_bad;      /* gone, or did not parse */
};

void spool__stats(const struct spool *s, struct spool_stats *st);

/* ---- the file format, pure (unit tests, fuzzing) ----------------------- */

/* The bytes of r's spool file (malloc'd, to free). 0, -EINVAL (a header
 * line with CR/LF, or r too big), -ENOMEM. */
int spool__encode(const struct http_request *r, void **out, size_t *len);

/* Parses a spool file; trusts none of its lengths. 0 with *out (to free),
 * or -EINVAL (bad magic/version, lengths that lie, a zstd error, a header
 * line with CR/LF/NUL, trailing bytes), -ENOMEM. */
int spool__decode(const void *buf, size_t len, struct http_request **out);

/* The created time from a file's first SPOOL_HEADER_SIZE bytes; -EINVAL
 * when they are not a spool header. */
int spool__decode_header(const void *buf, size_t len, int64_t *created_ns, uint64_t *raw_len);

#endif
