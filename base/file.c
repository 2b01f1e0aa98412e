#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"

#define READ_START 4096

int file__make_dirs(const char *path, mode_t mode)
{
	struct stat st;
	char *p, *s;
	int err = 0;

	if (!*path)
		return -ENOENT;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST) {
			err = -errno;
			goto cleanup;
		}
		*s = '/';
	}
	if (mkdir(p, mode) && errno != EEXIST) {
		err = -errno;
		goto cleanup;
	}
	if (stat(p, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (!S_ISDIR(st.st_mode))
		err = -ENOTDIR;
cleanup:
	free(p);
	return err;
}

int file__fsync_dir_fd(int dfd)
{
	if (fsync(dfd) && errno != EINVAL && errno != EROFS)
		return -errno;
	return 0;
}

int file__fsync_dir(const char *dir)
{
	int fd, err;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = file__fsync_dir_fd(fd);
	close(fd);
	return err;
}

ssize_t file__read_fd(int fd, void *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap) {
		ssize_t n = read(fd, (char *)buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return (ssize_t)len;
}

int file__write_fd(int fd, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, (const char *)buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;  /* no progress: do not spin */
		off += (size_t)w;
	}
	return 0;
}

int file__read_at(int dirfd, const char *path, size_t max, char **out, size_t *len)
{
	/* One byte past max tells a file of max bytes from a longer one. */
	size_t limit = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
	size_t cap = 0, n = 0;
	char *buf = NULL;
	struct stat st;
	int fd, err = 0;

	*out = NULL;
	*len = 0;
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto cleanup;
	}
	/* Grow as the file turns out to be longer: /proc files say size 0. */
	for (;;) {
		ssize_t got;

		if (n == cap) {
			size_t ncap = cap ? cap * 2 : READ_START;
			char *nb;

			if (ncap > limit || ncap < cap)
				ncap = limit;
			if (ncap <= cap) {
				err = -EFBIG;
				goto cleanup;
			}
			nb = realloc(buf, ncap + 1);
			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
			cap = ncap;
		}
		got = file__read_fd(fd, buf + n, cap - n);
		if (got < 0) {
			err = (int)got;
			goto cleanup;
		}
		n += (size_t)got;
		if (n > max) {
			err = -EFBIG;
			goto cleanup;
		}
		if (n < cap)
			break;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
cleanup:
	free(buf);
	close(fd);
	return err;
}
