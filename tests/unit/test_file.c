/* File helpers, in a temp dir: mkdir -p, directory fsync, bounded reads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"

static char dir[256];

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/ignis-file-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Writes text as dir/name and reads it back whole; the path in path. */
static void round_trip(char *path, size_t size, const char *name, const char *text)
{
	size_t n = strlen(text), len;
	char *out;

	snprintf(path, size, "%s/%s", dir, name);
	write_text(path, text, n);
	assert_int_equal(file__read_at(AT_FDCWD, path, 100, &out, &len), 0);
	assert_int_equal(len, n);
	assert_string_equal(out, text);
	free(out);
}

static void test_make_dirs(void **state)
{
	char path[512], file[512];
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(file__make_dirs(path, 0700), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(file, sizeof(file), "%s/a/b", dir);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755 & ~umask(022));
	/* Again: all there already, fine. */
	assert_int_equal(file__make_dirs(path, 0700), 0);
	/* A trailing slash is the same directory. */
	snprintf(path, sizeof(path), "%s/a/b/c/", dir);
	assert_int_equal(file__make_dirs(path, 0700), 0);
	/* A file in the way, at the end or in the middle. */
	snprintf(file, sizeof(file), "%s/plain", dir);
	write_text(file, "x", 1);
	assert_int_equal(file__make_dirs(file, 0700), -ENOTDIR);
	snprintf(path, sizeof(path), "%s/plain/sub", dir);
	assert_int_equal(file__make_dirs(path, 0700), -ENOTDIR);
	assert_int_equal(file__make_dirs("", 0700), -ENOENT);
}

static void test_fsync_dir(void **state)
{
	char path[512];
	int fd;

	(void)state;
	assert_int_equal(file__fsync_dir(dir), 0);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(file__fsync_dir_fd(fd), 0);
	close(fd);
	assert_int_equal(file__fsync_dir_fd(-1), -EBADF);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(file__fsync_dir(path), -ENOENT);
}

static void test_read_fd(void **state)
{
	char path[512], buf[16];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/ten", dir);
	write_text(path, "0123456789", 10);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	/* Whole file under the bound. */
	assert_int_equal(file__read_fd(fd, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "0123456789", 10);
	/* Cut at the bound. */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(file__read_fd(fd, buf, 4), 4);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(file__read_fd(fd, buf, 0), 0);
	close(fd);
	assert_int_equal(file__read_fd(-1, buf, sizeof(buf)), -EBADF);
}

static void test_write_fd(void **state)
{
	char path[512], *big, *out;
	size_t len;
	int fd, p[2];

	(void)state;
	big = malloc(300000);
	assert_non_null(big);
	for (size_t i = 0; i < 300000; i++)
		big[i] = (char)i;
	snprintf(path, sizeof(path), "%s/written", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(file__write_fd(fd, big, 300000), 0);
	assert_int_equal(file__write_fd(fd, big, 0), 0);
	close(fd);
	assert_int_equal(file__read_at(AT_FDCWD, path, 1 << 20, &out, &len), 0);
	assert_int_equal(len, 300000);
	assert_memory_equal(out, big, 300000);
	free(out);
	free(big);
	assert_int_equal(file__write_fd(-1, "x", 1), -EBADF);
	/* A pipe with no reader: the error, not a short count. */
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(file__write_fd(p[1], "x", 1), -EPIPE);
	close(p[1]);
}

static void test_read_at(void **state)
{
	char path[512], *big, *out;
	size_t len;
	int dfd;

	(void)state;
	round_trip(path, sizeof(path), "text", "hello\n");
	/* Exactly max is fine; one byte more is not. */
	assert_int_equal(file__read_at(AT_FDCWD, path, 6, &out, &len), 0);
	free(out);
	assert_int_equal(file__read_at(AT_FDCWD, path, 5, &out, &len), -EFBIG);
	assert_null(out);
	/* Relative to a directory fd. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(file__read_at(dfd, "text", 100, &out, &len), 0);
	assert_string_equal(out, "hello\n");
	free(out);
	assert_int_equal(file__read_at(dfd, "missing", 100, &out, &len), -ENOENT);
	assert_int_equal(file__read_at(dfd, ".", 100, &out, &len), -EISDIR);
	close(dfd);
	/* Larger than the first buffer: grows; empty: "". */
	big = malloc(100000);
	assert_non_null(big);
	for (size_t i = 0; i < 100000; i++)
		big[i] = (char)('a' + i % 26);
	snprintf(path, sizeof(path), "%s/big", dir);
	write_text(path, big, 100000);
	assert_int_equal(file__read_at(AT_FDCWD, path, 1 << 20, &out, &len), 0);
	assert_int_equal(len, 100000);
	assert_memory_equal(out, big, 100000);
	assert_int_equal(out[len], '\0');
	free(out);
	assert_int_equal(file__read_at(AT_FDCWD, path, 99999, &out, &len), -EFBIG);
	assert_int_equal(file__read_at(AT_FDCWD, path, SIZE_MAX, &out, &len), 0);
	assert_int_equal(len, 100000);
	free(out);
	free(big);
	round_trip(path, sizeof(path), "empty", "");
	/* procfs says size 0 and still has contents. */
	assert_int_equal(file__read_at(AT_FDCWD, "/proc/self/status", 1 << 20, &out, &len), 0);
	assert_true(len > 0);
	assert_non_null(strstr(out, "Pid:"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_dirs),
		cmocka_unit_test(test_fsync_dir),
		cmocka_unit_test(test_read_fd),
		cmocka_unit_test(test_write_fd),
		cmocka_unit_test(test_read_at),
	};

	return cmocka_run_group_tests_name("file", tests, setup, teardown) ? 1 : 0;
}
