/* systemd notifications: the exact state text reaches the socket systemd
 * names, by path or in the abstract namespace; without one nothing is sent;
 * an unreachable socket is an error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "sys/sdnotify.h"

/* A datagram socket bound at name ("@..." abstract), as systemd's. */
static int listen_at(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	assert_int_equal(bind(fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), 0);
	return fd;
}

static void expect_received(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
}

static void test_sdnotify_path(void **state)
{
	/* support.h's helpers need the layers above this one. */
	char dir[] = "/tmp/ignis-sdnotify-XXXXXX", path[256];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listen_at(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(sdnotify__send("READY=1\nSTATUS=configuration reloaded"), 1);
	expect_received(fd, "READY=1\nSTATUS=configuration reloaded");
	close(fd);
	/* The listener is gone: an error, not a crash or a silent success. */
	assert_true(sdnotify__send("READY=1") < 0);
	unsetenv("NOTIFY_SOCKET");
	unlink(path);
	rmdir(dir);
}

static void test_sdnotify_abstract(void **state)
{
	char name[64];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@ignis-test-notify-%d", (int)getpid());
	fd = listen_at(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(sdnotify__send("RELOADING=1"), 1);
	expect_received(fd, "RELOADING=1");
	unsetenv("NOTIFY_SOCKET");
	close(fd);
}

static void test_sdnotify_not_under_systemd(void **state)
{
	char longname[200];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sdnotify__send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(sdnotify__send("READY=1"), 0);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);
	assert_int_equal(sdnotify__send("READY=1"), -ENAMETOOLONG);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdnotify_path),
		cmocka_unit_test(test_sdnotify_abstract),
		cmocka_unit_test(test_sdnotify_not_under_systemd),
	};

	return cmocka_run_group_tests_name("sdnotify", tests, NULL, NULL);
}
