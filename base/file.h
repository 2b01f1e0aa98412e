/* File-system helpers: mkdir -p, durable renames, bounded reads. All return
 * 0 (or a length) or -errno. */
#ifndef IGNIS_FILE_H
#define IGNIS_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: missing parents get 0755, path itself mode (0700 for the
 * directories that hold profiles: they name the node's functions and
 * commands); existing ones keep theirs. -ENOTDIR when path is there but is
 * not a directory. */
int file__make_dirs(const char *path, mode_t mode);

/* fsync of a directory, after a rename or unlink in it. File systems that
 * cannot fsync a directory (EINVAL, EROFS) count as success: the change is
 * then as durable as they make it. */
int file__fsync_dir_fd(int dfd);
int file__fsync_dir(const char *dir);

/* Reads fd until end of file or cap bytes, across short reads and EINTR.
 * Returns the bytes read (cap when the file is longer: reading bounded
 * /proc and /sys files, the rest is dropped) or -errno. */
ssize_t file__read_fd(int fd, void *buf, size_t cap);

/* Writes all of buf to fd, across short writes and EINTR. Returns 0 or
 * -errno (-EIO when a write makes no progress). */
int file__write_fd(int fd, const void *buf, size_t len);

/* The whole of path (relative to dirfd, or AT_FDCWD) into a malloc'd,
 * NUL-terminated *out of *len bytes. -EFBIG when it holds more than max
 * bytes, -EISDIR for a directory. */
int file__read_at(int dirfd, const char *path, size_t max, char **out, size_t *len);

#endif
