/* The background fetcher against a real debuginfod server (elfutils'
 * /usr/bin/debuginfod) on 127.0.0.1, serving debug files split with
 * objcopy --only-keep-debug from programs built here; plus a port nobody
 * listens on, and a socket that takes connections but never answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/debuginfod.h"
#include "tests/unit/support.h"

#define NPROGS 3 /* 0: fetch and reuse; 1, 2: the cache bound; all: LRU order */

struct prog {
	char id[129];
	char *debug; /* the served file */
	off_t size;
};

static struct world {
	char *tmp;
	pid_t server;
	int port;
	char url[64];
	struct prog p[NPROGS];
	struct debuginfod *live[4]; /* freed by a failed test's teardown */
} w;

static struct debuginfod *open_d(const struct debuginfod_opts *o)
{
	struct debuginfod *d = debuginfod__new(o);

	for (size_t i = 0; d && i < sizeof(w.live) / sizeof(w.live[0]); i++) {
		if (!w.live[i]) {
			w.live[i] = d;
			break;
		}
	}
	return d;
}

static void close_d(struct debuginfod *d)
{
	for (size_t i = 0; i < sizeof(w.live) / sizeof(w.live[0]); i++)
		if (w.live[i] == d)
			w.live[i] = NULL;
	debuginfod__free(d);
}

/* After each test, also one that failed half-way. */
static int teardown_test(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(w.live) / sizeof(w.live[0]); i++)
		close_d(w.live[i]);
	if (w.server > 0)
		kill(w.server, SIGCONT);
	unsetenv("DEBUGINFOD_URLS");
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A socket bound to a free port on 127.0.0.1, listening when listening;
 * the port in *port. */
static int local_socket(bool listening, int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
	    (listening && listen(fd, 8) != 0)) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A port nobody listens on (it was free a moment ago). */
static int dead_port(void)
{
	int port = 0, fd = local_socket(false, &port);

	if (fd >= 0)
		close(fd);
	return port;
}

/* The HTTP status of GET path on 127.0.0.1:port; -1 when there is none. */
static int http_status(int port, const char *path)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 2 };
	char req[512], resp[64] = "";
	int fd, status = -1, n, got = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (write(fd, req, n) != n)
		goto out;
	while (got < (int)sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += n;
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/%*s %d", &status) != 1)
		status = -1;
out:
	close(fd);
	return status;
}

static void stop_server(void)
{
	if (w.server > 0) {
		kill(w.server, SIGKILL);
		waitpid(w.server, NULL, 0);
		w.server = 0;
	}
}

static int start_server(void)
{
	char *db = support__path(w.tmp, "db.sqlite"), *srv = support__path(w.tmp, "srv");
	char *log = support__path(w.tmp, "server.log"), port[16], home[600], tmpdir[600];
	int err = -1;

	if (!db || !srv || !log)
		goto out;
	w.port = dead_port();
	if (w.port <= 0)
		goto out;
	snprintf(port, sizeof(port), "%d", w.port);
	snprintf(w.url, sizeof(w.url), "http://127.0.0.1:%d", w.port);
	/* A clean environment: no DEBUGINFOD_URLS, so it never federates. */
	snprintf(home, sizeof(home), "HOME=%s", w.tmp);
	snprintf(tmpdir, sizeof(tmpdir), "TMPDIR=%s", w.tmp);
	w.server = fork();
	if (w.server < 0)
		goto out;
	if (w.server == 0) {
		char *const envp[] = { "PATH=/usr/bin:/bin", home, tmpdir, NULL };
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execle("/usr/bin/debuginfod", "debuginfod", "-d", db, "-p", port, "-F", srv,
		       (char *)NULL, envp);
		_exit(127);
	}
	/* Up and done indexing when every file is served. */
	for (int i = 0; i < NPROGS; i++) {
		char path[256];
		uint64_t deadline = now_ms() + 15000;

		snprintf(path, sizeof(path), "/buildid/%s/debuginfo", w.p[i].id);
		while (http_status(w.port, path) != 200) {
			if (now_ms() > deadline || waitpid(w.server, NULL, WNOHANG) != 0) {
				fprintf(stderr, "debuginfod server did not serve %s; see %s\n", path, log);
				goto out;
			}
			sleep_ms(50);
		}
	}
	err = 0;
out:
	free(db);
	free(srv);
	free(log);
	return err;
}

static int setup(void **state)
{
	char *srv = NULL, *src = NULL, name[16];
	int err = -1;

	(void)state;
	w.tmp = support__tmpdir("debuginfod");
	srv = w.tmp ? support__path(w.tmp, "srv") : NULL;
	if (!srv || mkdir(srv, 0755) != 0)
		goto out;
	for (int i = 0; i < NPROGS; i++) {
		char *exe;

		free(src);
		/* Different code, hence different build ids and sizes. */
		if (asprintf(&src,
			     "volatile int sink;\n"
			     "__attribute__((noinline)) int work_%d(int x)\n"
			     "{\n"
			     "	int s = %d;\n"
			     "	for (int i = 0; i < x * %d; i++)\n"
			     "		s ^= s * 31 + sink + i;\n"
			     "	return s;\n"
			     "}\n"
			     "int main(int argc, char **argv)\n"
			     "{\n"
			     "	(void)argv;\n"
			     "	return work_%d(argc);\n"
			     "}\n",
			     i, i + 1, i + 2, i) < 0) {
			src = NULL;
			goto out;
		}
		snprintf(name, sizeof(name), "prog%d", i);
		exe = support__build_program(w.tmp, name, src, "-g -O1 -Wl,--build-id");
		if (!exe)
			goto out;
		w.p[i].debug = NULL;
		if (support__build_id(exe, w.p[i].id, sizeof(w.p[i].id)) == 0 &&
		    asprintf(&w.p[i].debug, "%s/%s.debug", srv, name) >= 0 &&
		    support__run("objcopy --only-keep-debug '%s' '%s'", exe, w.p[i].debug) == 0) {
			struct stat st;

			w.p[i].size = stat(w.p[i].debug, &st) == 0 ? st.st_size : 0;
		}
		free(exe);
		if (!w.p[i].debug || !w.p[i].size)
			goto out;
		/* The server passes its file's mtime on, and libdebuginfod gives
		 * it to the cached copy: the first program gets the newest, so
		 * the age of a download cannot be read from it. */
		struct timespec ts[2];

		clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[0].tv_sec -= 1000 * (i + 1);
		ts[1] = ts[0];
		if (utimensat(AT_FDCWD, w.p[i].debug, ts, 0) != 0)
			goto out;
	}
	err = start_server();
out:
	free(src);
	free(srv);
	return err;
}

static int teardown(void **state)
{
	(void)state;
	stop_server();
	for (int i = 0; i < NPROGS; i++)
		free(w.p[i].debug);
	support__rmtree(w.tmp);
	free(w.tmp);
	return 0;
}

static char *cache_dir(const char *name)
{
	char *p = support__path(w.tmp, name);

	assert_non_null(p);
	return p;
}

static char *cached_path(const char *cache, const char *id)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s/debuginfo", cache, id) > 0);
	return p;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* The size of the non-empty PROGBITS .debug_info in path; 0 without. */
static uint64_t debug_info_size(const char *path)
{
	uint64_t size = 0;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;
	int fd;
	Elf *e = support__elf_open(path, &fd);

	if (!e)
		return 0;
	if (elf_getshdrstrndx(e, &shstrndx) == 0) {
		while ((scn = elf_nextscn(e, scn))) {
			const char *name;

			if (!gelf_getshdr(scn, &sh))
				break;
			name = elf_strptr(e, shstrndx, sh.sh_name);
			if (name && strcmp(name, ".debug_info") == 0 && sh.sh_type == SHT_PROGBITS)
				size = sh.sh_size;
		}
	}
	support__elf_close(e, fd);
	return size;
}

/* The GNU build id note of path, in hex, read with libelf (readelf -n
 * complains about a debug file's missing interpreter). */
static int note_build_id(const char *path, char *out, size_t len)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int fd, found = -1;
	Elf *e = support__elf_open(path, &fd);

	if (!e)
		return -1;
	while (found && (scn = elf_nextscn(e, scn))) {
		size_t off = 0, name_off, desc_off;
		Elf_Data *data;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE || !(data = elf_getdata(scn, NULL)))
			continue;
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((char *)data->d_buf + name_off, "GNU", 4) != 0 ||
			    nh.n_descsz * 2 + 1 > len)
				continue;
			for (size_t i = 0; i < nh.n_descsz; i++)
				sprintf(out + 2 * i, "%02x",
					((unsigned char *)data->d_buf)[desc_off + i]);
			found = 0;
			break;
		}
	}
	support__elf_close(e, fd);
	return found;
}

static void expect_debug_file(const char *path, const struct prog *p)
{
	char id[129];
	struct stat st;

	assert_int_equal(note_build_id(path, id, sizeof(id)), 0);
	assert_string_equal(id, p->id);
	assert_true(debug_info_size(path) > 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, p->size);
}

/* ---- tests ------------------------------------------------------------- */

static void test_debuginfod_disabled(void **state)
{
	struct debuginfod_opts o = { .urls = "" };
	char *cache = cache_dir("cache-disabled"), url[64];
	struct debuginfod *d, *d2;

	(void)state;
	errno = 0;
	assert_null(debuginfod__new(&o));
	assert_int_equal(errno, ENOENT);
	o.urls = "   ";
	errno = 0;
	assert_null(debuginfod__new(&o));
	assert_int_equal(errno, ENOENT);
	/* main() unset DEBUGINFOD_URLS. */
	o.urls = NULL;
	o.cache_dir = cache;
	errno = 0;
	assert_null(debuginfod__new(&o));
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_null(debuginfod__new(NULL));
	assert_int_equal(errno, ENOENT);
	assert_false(exists(cache));

	/* NULL urls takes the environment's; the cache path is set while an
	 * instance lives and put back after. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", dead_port());
	setenv("DEBUGINFOD_URLS", url, 1);
	d = open_d(&o);
	assert_non_null(d);
	assert_true(exists(cache));
	assert_string_equal(getenv("DEBUGINFOD_CACHE_PATH"), cache);
	/* Alive at the same time: same servers and cache, or EBUSY. */
	o.urls = "http://127.0.0.1:1";
	errno = 0;
	assert_null(debuginfod__new(&o));
	assert_int_equal(errno, EBUSY);
	o.urls = url;
	d2 = open_d(&o);
	assert_non_null(d2);
	close_d(d2);
	assert_string_equal(getenv("DEBUGINFOD_CACHE_PATH"), cache);
	assert_int_equal(debuginfod__request(d, "xyz0"), -EINVAL);
	assert_int_equal(debuginfod__request(d, "abc"), -EINVAL);
	assert_int_equal(debuginfod__request(d, ""), -EINVAL);
	close_d(d);
	assert_null(getenv("DEBUGINFOD_CACHE_PATH"));
	assert_string_equal(getenv("DEBUGINFOD_URLS"), url);
	unsetenv("DEBUGINFOD_URLS");

	/* Explicit urls are put in the environment and taken out again. */
	o.urls = w.url;
	d = open_d(&o);
	assert_non_null(d);
	assert_string_equal(getenv("DEBUGINFOD_URLS"), w.url);
	close_d(d);
	assert_null(getenv("DEBUGINFOD_URLS"));
	debuginfod__free(NULL);
	free(cache);
}

static void test_debuginfod_fetch(void **state)
{
	char *cache = cache_dir("cache-fetch"), *path = NULL, *want, upper[129];
	struct debuginfod_opts o = { .urls = w.url, .cache_dir = cache, .timeout_s = 10 };
	const struct prog *a = &w.p[0];
	const char *unknown = "0123456789abcdef0123456789abcdef01234567";
	struct debuginfod_stats s;
	struct debuginfod *d;

	(void)state;
	d = open_d(&o);
	assert_non_null(d);
	want = cached_path(cache, a->id);

	assert_int_equal(debuginfod__result(d, a->id, &path), -ENOENT); /* never asked */
	assert_null(path);
	assert_int_equal(debuginfod__request(d, a->id), 0);
	assert_int_equal(debuginfod__request(d, a->id), 0); /* duplicate: ignored */
	assert_int_equal(debuginfod__wait(d, 10000), 0);
	assert_int_equal(debuginfod__result(d, a->id, &path), 0);
	assert_non_null(path);
	assert_string_equal(path, want);
	expect_debug_file(path, a);
	free(path);
	/* Any case. */
	for (size_t i = 0; i <= strlen(a->id); i++)
		upper[i] = a->id[i] >= 'a' && a->id[i] <= 'f' ? a->id[i] - 32 : a->id[i];
	assert_int_equal(debuginfod__result(d, upper, &path), 0);
	assert_string_equal(path, want);
	free(path);

	/* What the servers do not have. */
	assert_int_equal(debuginfod__request(d, unknown), 0);
	assert_int_equal(debuginfod__wait(d, 10000), 0);
	assert_int_equal(debuginfod__result(d, unknown, &path), -ENOENT);
	assert_null(path);
	/* Negative-cached: asking again queues nothing. */
	assert_int_equal(debuginfod__request(d, unknown), 0);
	assert_int_equal(debuginfod__result(d, unknown, &path), -ENOENT);

	debuginfod__stats(d, &s);
	assert_int_equal(s.requested, 2);
	assert_int_equal(s.fetched, 1);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.dropped, 0);
	assert_int_equal(s.cache_bytes, a->size);
	close_d(d);
	free(want);
	free(cache);
}

static void test_debuginfod_cache_bound(void **state)
{
	const struct prog *b = &w.p[1], *c = &w.p[2];
	char *cache = cache_dir("cache-bound"), *pb, *pc, *path = NULL;
	struct debuginfod_opts o = { .urls = w.url, .cache_dir = cache, .timeout_s = 10,
				     .cache_bytes = b->size + c->size - 1 };
	struct debuginfod_stats s;
	struct debuginfod *d;

	(void)state;
	d = open_d(&o);
	assert_non_null(d);
	pb = cached_path(cache, b->id);
	pc = cached_path(cache, c->id);

	assert_int_equal(debuginfod__request(d, b->id), 0);
	assert_int_equal(debuginfod__wait(d, 10000), 0);
	assert_true(exists(pb));
	assert_int_equal(debuginfod__request(d, c->id), 0);
	assert_int_equal(debuginfod__wait(d, 10000), 0);

	/* Both do not fit: the one used longest ago went. */
	assert_false(exists(pb));
	assert_true(exists(pc));
	expect_debug_file(pc, c);
	assert_int_equal(debuginfod__result(d, c->id, &path), 0);
	free(path);
	path = NULL;
	assert_int_equal(debuginfod__result(d, b->id, &path), -ENOENT);
	assert_null(path);
	debuginfod__stats(d, &s);
	assert_int_equal(s.fetched, 2);
	assert_int_equal(s.cache_bytes, c->size);
	close_d(d);

	/* A new instance with a smaller bound trims what an earlier run left
	 * (on its worker, as it starts). */
	o.cache_bytes = 1;
	d = open_d(&o);
	assert_non_null(d);
	for (uint64_t t0 = now_ms(); exists(pc) && now_ms() - t0 < 2000;)
		sleep_ms(10);
	assert_false(exists(pc));
	debuginfod__stats(d, &s);
	assert_int_equal(s.cache_bytes, 0);
	close_d(d);
	free(pb);
	free(pc);
	free(cache);
}

static void test_debuginfod_cache_lru(void **state)
{
	char *cache = cache_dir("cache-lru"), *paths[NPROGS];
	struct debuginfod_opts o = { .urls = w.url, .cache_dir = cache, .timeout_s = 10,
				     .cache_bytes = w.p[0].size + w.p[1].size + w.p[2].size - 1 };
	struct debuginfod_stats s;
	struct debuginfod *d;

	(void)state;
	d = open_d(&o);
	assert_non_null(d);
	/* Fetched 0, 1, 2 (served mtimes newest first): the one that goes
	 * is the one fetched first, not the one with the oldest mtime. */
	for (int i = 0; i < NPROGS; i++) {
		paths[i] = cached_path(cache, w.p[i].id);
		assert_int_equal(debuginfod__request(d, w.p[i].id), 0);
		assert_int_equal(debuginfod__wait(d, 10000), 0);
		assert_true(exists(paths[i]));
	}
	assert_false(exists(paths[0]));
	assert_true(exists(paths[1]));
	assert_true(exists(paths[2]));
	debuginfod__stats(d, &s);
	assert_int_equal(s.cache_bytes, w.p[1].size + w.p[2].size);
	close_d(d);
	for (int i = 0; i < NPROGS; i++)
		free(paths[i]);
	free(cache);
}

static void test_debuginfod_retry_after_outage(void **state)
{
	char *cache = cache_dir("cache-outage"), *want, *path = NULL;
	struct debuginfod_opts o = { .urls = w.url, .cache_dir = cache, .timeout_s = 1,
				     .retry_s = 1 };
	const struct prog *a = &w.p[0];
	struct debuginfod_stats s;
	struct debuginfod *d;

	(void)state;
	/* A stopped server: connections are taken by the kernel, never
	 * answered. */
	assert_int_equal(kill(w.server, SIGSTOP), 0);
	d = open_d(&o);
	assert_non_null(d);
	want = cached_path(cache, a->id);
	assert_int_equal(debuginfod__request(d, a->id), 0);
	assert_int_equal(debuginfod__wait(d, 8000), 0);
	assert_int_equal(debuginfod__result(d, a->id, &path), -ENOENT);
	/* No "server has no such file" marker left behind for libdebuginfod. */
	assert_false(exists(want));
	debuginfod__stats(d, &s);
	assert_int_equal(s.failed, 1);
	assert_int_equal(kill(w.server, SIGCONT), 0);

	/* Inside the back-off, nothing is asked; past it, result asks again. */
	assert_int_equal(debuginfod__request(d, a->id), 0);
	debuginfod__stats(d, &s);
	assert_int_equal(s.requested, 1);
	sleep_ms(1100);
	assert_int_equal(debuginfod__result(d, a->id, &path), -EAGAIN);
	assert_int_equal(debuginfod__wait(d, 10000), 0);
	assert_int_equal(debuginfod__result(d, a->id, &path), 0);
	assert_string_equal(path, want);
	free(path);
	debuginfod__stats(d, &s);
	assert_int_equal(s.requested, 2);
	assert_int_equal(s.fetched, 1);
	close_d(d);
	free(want);
	free(cache);
}

static void test_debuginfod_slow_server(void **state)
{
	char *cache = cache_dir("cache-slow"), *path = NULL, url[64];
	/* Long enough that only stopping can end the first request. */
	struct debuginfod_opts o = { .cache_dir = cache, .timeout_s = 30 };
	const struct prog *a = &w.p[0];
	struct pollfd pfd;
	struct debuginfod *d;
	uint64_t t0, t, worst = 0;
	int port, lfd, cfd;

	(void)state;
	lfd = local_socket(true, &port);
	assert_true(lfd >= 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	o.urls = url;
	d = open_d(&o);
	assert_non_null(d);
	assert_int_equal(debuginfod__request(d, a->id), 0);
	/* The request arrives and is never answered. */
	pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 3000), 1);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	t0 = now_ms();
	while (now_ms() - t0 < 500) {
		t = now_ms();
		assert_int_equal(debuginfod__result(d, a->id, &path), -EAGAIN);
		t = now_ms() - t;
		worst = t > worst ? t : worst;
		sleep_ms(10);
	}
	assert_true(worst < 100);
	assert_int_equal(debuginfod__wait(d, 100), -ETIMEDOUT);
	/* Stopping aborts the download in flight. */
	t0 = now_ms();
	close_d(d);
	assert_true(now_ms() - t0 < 3000);
	close(cfd);

	/* Left alone, the request gives up after timeout_s. */
	o.timeout_s = 2;
	d = open_d(&o);
	assert_non_null(d);
	t0 = now_ms();
	assert_int_equal(debuginfod__request(d, a->id), 0);
	assert_int_equal(debuginfod__wait(d, 8000), 0);
	t = now_ms() - t0;
	assert_true(t >= 1900 && t < 5000);
	assert_int_equal(debuginfod__result(d, a->id, &path), -ENOENT);
	close_d(d);
	close(lfd);
	free(cache);
}

static void test_debuginfod_server_down(void **state)
{
	char *cache = cache_dir("cache-down"), *path = NULL, url[64], hostport[64], *logname, *log;
	struct debuginfod_opts o = { .cache_dir = cache, .timeout_s = 10 };
	int port, logfd, saved, rc, rc2;
	struct debuginfod_stats s;
	struct debuginfod *d;
	size_t loglen = 0;
	uint64_t t0;

	(void)state;
	port = dead_port();
	snprintf(url, sizeof(url), "http://user:secret@127.0.0.1:%d/", port);
	o.urls = url;
	/* What it logs, from stderr. */
	logname = support__path(w.tmp, "down.log");
	assert_non_null(logname);
	logfd = open(logname, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(logfd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(logfd, 2);
	d = open_d(&o);
	t0 = now_ms();
	rc = d ? debuginfod__request(d, w.p[0].id) : -1;
	rc2 = d ? debuginfod__wait(d, 5000) : -1;
	t0 = now_ms() - t0;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(logfd);
	assert_non_null(d);
	assert_int_equal(rc, 0);
	assert_int_equal(rc2, 0);
	assert_true(t0 < 3000);
	log = support__read_file(logname, &loglen);
	assert_non_null(log);
	log = realloc(log, loglen + 1);
	log[loglen] = '\0';
	/* Says which server, once, without its credentials. */
	snprintf(hostport, sizeof(hostport), "http://127.0.0.1:%d/: ", port);
	assert_non_null(strstr(log, hostport));
	assert_null(strstr(log, "secret"));
	assert_null(strstr(log, "user"));
	free(log);
	free(logname);
	assert_int_equal(debuginfod__result(d, w.p[0].id, &path), -ENOENT);
	assert_null(path);
	debuginfod__stats(d, &s);
	assert_int_equal(s.requested, 1);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.fetched, 0);
	close_d(d);
	free(cache);
}

/* Last: stops the server. */
static void test_debuginfod_cache_outlives_server(void **state)
{
	char *cache = cache_dir("cache-fetch"), *path = NULL, *want;
	struct debuginfod_opts o = { .urls = w.url, .cache_dir = cache, .timeout_s = 10 };
	const struct prog *a = &w.p[0];
	struct debuginfod_stats s;
	struct debuginfod *d;

	(void)state;
	stop_server();
	assert_int_not_equal(http_status(w.port, "/"), 200);
	d = open_d(&o);
	assert_non_null(d);
	want = cached_path(cache, a->id);
	/* Found without a request, and a request queues nothing. */
	assert_int_equal(debuginfod__result(d, a->id, &path), 0);
	assert_string_equal(path, want);
	expect_debug_file(path, a);
	free(path);
	assert_int_equal(debuginfod__request(d, a->id), 0);
	assert_int_equal(debuginfod__wait(d, 1000), 0);
	debuginfod__stats(d, &s);
	assert_int_equal(s.requested, 0);
	assert_int_equal(s.failed, 0);
	close_d(d);
	free(want);
	free(cache);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_debuginfod_disabled, teardown_test),
		cmocka_unit_test_teardown(test_debuginfod_fetch, teardown_test),
		cmocka_unit_test_teardown(test_debuginfod_cache_bound, teardown_test),
		cmocka_unit_test_teardown(test_debuginfod_cache_lru, teardown_test),
		cmocka_unit_test_teardown(test_debuginfod_retry_after_outage, teardown_test),
		cmocka_unit_test_teardown(test_debuginfod_slow_server, teardown_test),
		cmocka_unit_test_teardown(test_debuginfod_server_down, teardown_test),
		cmocka_unit_test_teardown(test_debuginfod_cache_outlives_server, teardown_test),
	};

	/* Nothing may leave the machine: no server but the ones made here. */
	unsetenv("DEBUGINFOD_URLS");
	unsetenv("DEBUGINFOD_CACHE_PATH");
	unsetenv("DEBUGINFOD_PROGRESS");
	elf_version(EV_CURRENT);
	return cmocka_run_group_tests_name("debuginfod", tests, setup, teardown);
}
