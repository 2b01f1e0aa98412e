/* The spool behind a delivery, against a real HTTP intake on 127.0.0.1 run
 * by the test (each request answered with the status of the moment, then
 * the connection closed) and a real directory: order across memory and
 * disk, restarts, damaged files, the byte bound, max_age, secret headers,
 * and the file format itself. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "base/log.h"
#include "exporters/delivery.h"
#include "exporters/spool.h"
#include "tests/unit/support.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * NS_PER_MS };

	nanosleep(&ts, NULL);
}

/* ---- a gate on fsync ---------------------------------------------------- */

/* This program's fsync, which the spool's calls bind to: it counts file
 * and directory syncs, notes a call on the test's own thread (the
 * caller's, for delivery__enqueue), and while the gate is closed holds
 * every other thread in it, as a disk that does not answer would. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static atomic_int fsync_files, fsync_dirs, fsync_held;
static atomic_bool fsync_on_caller;
static pthread_t test_thread;

int fsync(int fd)
{
	struct stat st;

	if (!fstat(fd, &st) && S_ISDIR(st.st_mode))
		atomic_fetch_add(&fsync_dirs, 1);
	else
		atomic_fetch_add(&fsync_files, 1);
	if (pthread_equal(pthread_self(), test_thread)) {
		atomic_store(&fsync_on_caller, true);
	} else {
		pthread_mutex_lock(&gate_mu);
		if (gate_closed)
			atomic_fetch_add(&fsync_held, 1);
		while (gate_closed)
			pthread_cond_wait(&gate_cv, &gate_mu);
		pthread_mutex_unlock(&gate_mu);
	}
	return (int)syscall(SYS_fsync, fd);
}

static void gate_set(bool closed)
{
	pthread_mutex_lock(&gate_mu);
	gate_closed = closed;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* ---- the intake -------------------------------------------------------- */

#define SRV_MAX 256

struct srv {
	int lfd, stopfd[2];
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t mu;
	atomic_int status;       /* the answer to give now */
	atomic_int delay_ms;     /* before answering */
	char *heads[SRV_MAX], *bodies[SRV_MAX];
	int statuses[SRV_MAX];
	size_t n;
};

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Reads one request from c, records it, answers, closes. */
static void srv_conn(struct srv *s, int c)
{
	size_t len = 0, cap = 1 << 16, hlen = 0, blen = 0;
	char *buf = malloc(cap), *end, *cl, resp[128];
	int status;

	for (;;) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) <= 0)
			goto out;
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		r = recv(c, buf + len, cap - len - 1, 0);
		if (r <= 0)
			goto out;
		len += (size_t)r;
		buf[len] = '\0';
		end = memmem(buf, len, "\r\n\r\n", 4);
		if (!end)
			continue;
		hlen = (size_t)(end - buf) + 4;
		cl = strcasestr(buf, "\r\ncontent-length:");
		blen = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
		if (len >= hlen + blen)
			break;
	}
	status = atomic_load(&s->status);
	pthread_mutex_lock(&s->mu);
	/* recorded before the answer: a client killed meanwhile never
	 * learns it was taken */
	if (s->n < SRV_MAX) {
		s->heads[s->n] = strndup(buf, hlen);
		s->bodies[s->n] = strndup(buf + hlen, blen);
		s->statuses[s->n] = status;
		s->n++;
	}
	pthread_mutex_unlock(&s->mu);
	sleep_ms(atomic_load(&s->delay_ms));
	snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		 status);
	write_all(c, resp, strlen(resp));
out:
	free(buf);
	close(c);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = s->stopfd[0], .events = POLLIN },
			{ .fd = s->lfd, .events = POLLIN },
		};
		int c;

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents)
			break;
		c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			srv_conn(s, c);
	}
	return NULL;
}

static int listen_on(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t alen = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &alen)) {
		close(fd);
		return -1;
	}
	*bound = ntohs(a.sin_port);
	return fd;
}

static uint16_t free_port(void)
{
	uint16_t port = 0;
	int fd = listen_on(0, &port);

	assert_true(fd >= 0);
	close(fd);
	return port;
}

static struct srv *srv_start(uint16_t port, int status)
{
	struct srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	atomic_store(&s->status, status);
	s->lfd = listen_on(port, &s->port);
	assert_true(s->lfd >= 0);
	assert_int_equal(pipe2(s->stopfd, O_CLOEXEC), 0);
	pthread_mutex_init(&s->mu, NULL);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
	return s;
}

static void srv_stop(struct srv *s)
{
	assert_int_equal(write(s->stopfd[1], "x", 1), 1);
	pthread_join(s->thread, NULL);
	close(s->stopfd[0]);
	close(s->stopfd[1]);
	close(s->lfd);
	for (size_t i = 0; i < s->n; i++) {
		free(s->heads[i]);
		free(s->bodies[i]);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* The bodies answered 2xx, in arrival order, as one "a,b,c" string. */
static char *srv_accepted(struct srv *s)
{
	size_t cap = 16;
	char *out = calloc(1, cap);

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n; i++) {
		size_t need = strlen(out) + strlen(s->bodies[i]) + 2;

		if (s->statuses[i] / 100 != 2)
			continue;
		if (need > cap) {
			cap = need * 2;
			out = realloc(out, cap);
		}
		if (*out)
			strcat(out, ",");
		strcat(out, s->bodies[i]);
	}
	pthread_mutex_unlock(&s->mu);
	return out;
}

static size_t srv_count(struct srv *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---- helpers ----------------------------------------------------------- */

/* A request whose body starts with its name (so the intake's record says
 * which it is) and is padded to pad bytes with bytes that do not compress. */
static struct http_request *req_at(uint16_t port, const char *name, size_t pad, int64_t created)
{
	char *u, *body;
	size_t len = strlen(name) + pad;
	struct http_request *r;
	uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t)name[0] ^ (uint64_t)strlen(name) << 8;

	assert_true(asprintf(&u, "http://127.0.0.1:%u/push", port) > 0);
	body = malloc(len + 1);
	memcpy(body, name, strlen(name));
	for (size_t i = strlen(name); i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* printable, no ',' (the accepted list's separator) */
		body[i] = (char)('a' + x % 26);
	}
	if (pad)
		body[strlen(name)] = '.';  /* name.padding */
	body[len] = '\0';
	r = http_request__new(u, body, len, created, name);
	free(u);
	assert_non_null(r);
	assert_int_equal(http_request__add_header(r, "Content-Type", "application/proto"), 0);
	return r;
}

static struct http_request *req(uint16_t port, const char *name, size_t pad)
{
	return req_at(port, name, pad, real_ns());
}

/* The accepted bodies with their padding cut: "r0,r1,...". */
static char *names_of(char *accepted)
{
	char *o = accepted, *w = accepted;
	bool skip = false;

	for (; *o; o++) {
		if (*o == '.')
			skip = true;
		else if (*o == ',')
			skip = false;
		if (!skip)
			*w++ = *o;
	}
	*w = '\0';
	return accepted;
}

static void assert_accepted(struct srv *s, const char *want)
{
	char *got = names_of(srv_accepted(s));

	assert_string_equal(got, want);
	free(got);
}

static int drain_ms(struct delivery *d, int ms)
{
	return delivery__drain(d, mono_ns() + ms * NS_PER_MS);
}

/* Waits (10 s at most) until the spool's writer has written everything
 * handed to it: enqueue returns before the file is there. */
static void wait_written(struct delivery *d)
{
	int64_t deadline = mono_ns() + 10 * NS_PER_S;
	struct delivery_stats st;

	for (;;) {
		delivery__stats(d, &st);
		if (!st.spool_pending_len)
			break;
		assert_true(mono_ns() < deadline);
		sleep_ms(1);
	}
	assert_int_equal(st.spool_pending_bytes, 0);
}

static struct delivery_opts opts(const char *dir, uint64_t queue_bytes, uint64_t spool_bytes)
{
	return (struct delivery_opts){
		.name = "test",
		.timeout_ms = 2000,
		.backoff_min_ms = 20,
		.backoff_max_ms = 50,
		.max_attempts = 100000,
		.queue_bytes = queue_bytes,
		.spool_dir = dir,
		.spool_bytes = spool_bytes,
	};
}

/* Our spool files in dir, in name order (a NULL-terminated array to free). */
static char **spool_files(const char *dir, size_t *n)
{
	struct dirent **list;
	char **out;
	int k = scandir(dir, &list, NULL, alphasort);
	size_t m = 0;

	assert_true(k >= 0);
	out = calloc((size_t)k + 1, sizeof(*out));
	for (int i = 0; i < k; i++) {
		size_t l = strlen(list[i]->d_name);

		if (l == 24 && !strcmp(list[i]->d_name + 20, ".req"))
			out[m++] = support__path(dir, list[i]->d_name);
		free(list[i]);
	}
	free(list);
	*n = m;
	return out;
}

static void free_list(char **l)
{
	for (size_t i = 0; l[i]; i++)
		free(l[i]);
	free(l);
}

static uint64_t dir_bytes(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	uint64_t total = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		struct stat st;

		if (!fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

static size_t count_files(const char *dir)
{
	size_t n;
	char **l = spool_files(dir, &n);

	free_list(l);
	return n;
}

/* Log records go to a file for the test to read (secrets, warnings). */
static int log_capture(const char *dir)
{
	char *p = support__path(dir, "log-capture");
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	unlink(p);
	free(p);
	assert_true(fd >= 0);
	log__set_fd(fd);
	return fd;
}

static char *log_release(int fd)
{
	struct stat st;
	char *s;

	log__set_fd(2);
	assert_int_equal(fstat(fd, &st), 0);
	s = calloc(1, (size_t)st.st_size + 1);
	assert_int_equal(pread(fd, s, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	/* shown, for whoever reads the test's output */
	fputs(s, stderr);
	return s;
}

static char *tmp_spool(char **root)
{
	*root = support__tmpdir("spool");
	assert_non_null(*root);
	/* parents created too */
	return support__path(*root, "a/b/spool");
}

/* ---- tests ------------------------------------------------------------- */

/* The intake fails (503): memory fills to queue_bytes, the rest goes to
 * files in a 0700 directory, zstd after our header; when the intake
 * answers again every request arrives once, in the order enqueued. */
static void test_memory_then_spool(void **state)
{
	struct srv *s = srv_start(0, 503);
	char *root, *dir = tmp_spool(&root), **files;
	/* room for two requests of ~1 KiB in memory */
	struct delivery_opts o = opts(dir, 2600, 0);
	struct delivery *d = delivery__new(&o);
	struct delivery_stats st;
	struct stat sb;
	char name[32];
	size_t n;

	(void)state;
	assert_non_null(d);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(delivery__enqueue(d, req(s->port, name, 1000)), 0);
	}
	wait_written(d);
	delivery__stats(d, &st);
	assert_int_equal(st.queue_len, 2);
	assert_true(st.queue_bytes <= 2600);
	assert_int_equal(st.spooled, 8);
	assert_int_equal(st.spool_files, 8);
	files = spool_files(dir, &n);
	assert_int_equal(n, 8);
	assert_int_equal(st.spool_bytes, dir_bytes(dir));
	for (size_t i = 0; i < n; i++) {
		size_t len;
		unsigned char *b = support__read_file(files[i], &len);
		static const unsigned char zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
		struct http_request *r;

		assert_non_null(b);
		assert_true(len > SPOOL_HEADER_SIZE + 4);
		assert_memory_equal(b, "IGSP", 4);
		assert_memory_equal(b + SPOOL_HEADER_SIZE, zstd_magic, 4);
		assert_int_equal(stat(files[i], &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		/* name order is queue order: r2 first */
		assert_int_equal(spool__decode(b, len, &r), 0);
		snprintf(name, sizeof(name), "r%zu", i + 2);
		assert_string_equal(r->what, name);
		http_request__free(r);
		free(b);
	}
	free_list(files);
	/* the head is retried meanwhile */
	while (srv_count(s) < 3)
		sleep_ms(10);

	atomic_store(&s->status, 200);
	assert_int_equal(drain_ms(d, 10000), 0);
	assert_accepted(s, "r0,r1,r2,r3,r4,r5,r6,r7,r8,r9");
	delivery__stats(d, &st);
	assert_int_equal(st.sent, 10);
	assert_int_equal(st.replayed, 8);
	assert_int_equal(st.spool_files, 0);
	assert_int_equal(st.spool_bytes, 0);
	assert_int_equal(st.queue_len, 0);
	assert_int_equal(count_files(dir), 0);

	/* the spool empty again: the next request goes to memory */
	assert_int_equal(delivery__enqueue(d, req(s->port, "m", 10)), 0);
	assert_int_equal(drain_ms(d, 5000), 0);
	delivery__stats(d, &st);
	assert_int_equal(st.spooled, 8);
	assert_int_equal(st.sent, 11);
	delivery__free(d);
	srv_stop(s);
	free(dir);
	support__rmtree(root);
	free(root);
}

/* Nothing listening; requests in memory and on disk. free() writes memory
 * ahead of the files; a new delivery on the directory sends all of it
 * exactly once, in order, before what is enqueued after it. */
static void test_restart(void **state)
{
	uint16_t port = free_port();
	char *root, *dir = tmp_spool(&root);
	struct delivery_opts o = opts(dir, 2600, 0);
	struct delivery *d = delivery__new(&o);
	struct delivery_stats st;
	struct srv *s;
	char name[32];

	(void)state;
	assert_non_null(d);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(delivery__enqueue(d, req(port, name, 1000)), 0);
	}
	wait_written(d);
	delivery__stats(d, &st);
	assert_int_equal(st.queue_len, 2);
	assert_int_equal(st.spool_files, 4);
	delivery__free(d);
	assert_int_equal(count_files(dir), 6);

	/* a second run, still down: it finds six, adds one behind them */
	d = delivery__new(&o);
	assert_non_null(d);
	delivery__stats(d, &st);
	assert_int_equal(st.spool_files, 6);
	assert_int_equal(delivery__enqueue(d, req(port, "r6", 1000)), 0);
	wait_written(d);
	delivery__stats(d, &st);
	assert_int_equal(st.spool_files, 7);
	assert_int_equal(st.queue_len, 0);
	delivery__free(d);

	s = srv_start(port, 200);
	d = delivery__new(&o);
	assert_non_null(d);
	assert_int_equal(delivery__enqueue(d, req(port, "r7", 10)), 0);
	assert_int_equal(drain_ms(d, 10000), 0);
	assert_accepted(s, "r0,r1,r2,r3,r4,r5,r6,r7");
	delivery__stats(d, &st);
	assert_int_equal(st.replayed, 8);
	assert_int_equal(st.sent, 8);
	delivery__free(d);
	assert_int_equal(count_files(dir), 0);

	/* and a run after that has nothing left to send */
	d = delivery__new(&o);
	assert_non_null(d);
	assert_int_equal(drain_ms(d, 2000), 0);
	delivery__free(d);
	assert_int_equal(srv_count(s), 8);
	srv_stop(s);
	free(dir);
	support__rmtree(root);
	free(root);
}

/* Damaged spools: a file with a bad header goes at start, a truncated one
 * and one deleted behind our back when their turn comes, each counted;
 * leftovers of a crash (.tmp) are removed, other files left alone; the
 * rest arrives in order. */
static void test_damaged_files(void **state)
{
	uint16_t port = free_port();
	char *root, *dir = tmp_spool(&root), **files, *foreign, *tmp;
	struct delivery_opts o = opts(dir, 1, 0);  /* every request to disk */
	struct delivery *d = delivery__new(&o);
	struct delivery_stats st;
	struct srv *s;
	char name[32];
	size_t n;

	(void)state;
	assert_non_null(d);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(delivery__enqueue(d, req(port, name, 500)), 0);
	}
	wait_written(d);
	delivery__stats(d, &st);
	assert_int_equal(st.spooled, 6);
	delivery__free(d);

	files = spool_files(dir, &n);
	assert_int_equal(n, 6);
	assert_int_equal(truncate(files[1], 40), 0);           /* header whole, frame cut */
	assert_int_equal(support__write_text(files[3], "garbage, not a spool file"), 0);
	tmp = support__path(dir, "00000000000000000007.req.tmp");
	foreign = support__path(dir, "README");
	assert_int_equal(support__write_text(tmp, "half written"), 0);
	assert_int_equal(support__write_text(foreign, "not ours"), 0);

	d = delivery__new(&o);
	assert_non_null(d);
	delivery__stats(d, &st);
	assert_int_equal(st.spool_files, 5);
	assert_int_equal(st.dropped_spool_bad, 1);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(access(files[3], F_OK), -1);
	assert_int_equal(access(foreign, F_OK), 0);
	assert_int_equal(unlink(files[4]), 0);

	s = srv_start(port, 200);
	assert_int_equal(drain_ms(d, 10000), 0);
	assert_accepted(s, "r0,r2,r5");
	delivery__stats(d, &st);
	assert_int_equal(st.dropped_spool_bad, 3);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.spool_files, 0);
	delivery__free(d);
	assert_int_equal(access(foreign, F_OK), 0);
	assert_int_equal(count_files(dir), 0);
	srv_stop(s);
	free_list(files);
	free(tmp);
	free(foreign);
	free(dir);
	support__rmtree(root);
	free(root);
}

/* The byte bound: the directory never holds more than spool_bytes; the
 * oldest go first (but the head, which is being sent), counted and
 * logged; a request bigger than the bound is dropped itself. */
static void test_byte_bound(void **state)
{
	uint16_t port = free_port();
	char *root, *dir = tmp_spool(&root), *log, want[64], name[32], *got, *last;
	const uint64_t bound = 5000;  /* a few files of ~0.7 KiB */
	struct delivery_opts o = opts(dir, 1, bound);
	struct delivery *d;
	struct delivery_stats st;
	struct srv *s;
	int lfd = log_capture(root);
	size_t n;

	(void)state;
	d = delivery__new(&o);
	assert_non_null(d);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(delivery__enqueue(d, req(port, name, 1000)), 0);
		wait_written(d);
		assert_true(dir_bytes(dir) <= bound);
		delivery__stats(d, &st);
		assert_int_equal(st.spool_bytes, dir_bytes(dir));
	}
	delivery__stats(d, &st);
	n = st.spool_files;
	assert_true(n >= 2 && n < 12);
	/* full: one more file would not fit */
	assert_true(dir_bytes(dir) + dir_bytes(dir) / n > bound);
	assert_int_equal(st.dropped_spool_full, 12 - n);
	assert_int_equal(st.spooled, 12);

	/* too big for the spool on its own: taken, then dropped by the writer */
	assert_int_equal(delivery__enqueue(d, req(port, "huge", 30000)), 0);
	wait_written(d);
	delivery__stats(d, &st);
	assert_int_equal(st.dropped_spool_full, 12 - n + 1);
	assert_int_equal(st.spooled, 12);
	assert_int_equal(st.spool_files, n);
	assert_true(dir_bytes(dir) <= bound);

	s = srv_start(port, 200);
	assert_int_equal(drain_ms(d, 10000), 0);
	delivery__free(d);
	log = log_release(lfd);
	assert_non_null(strstr(log, "oldest request(s)"));
	assert_non_null(strstr(log, "huge: not written to the spool (bigger than the spool's bound)"));
	free(log);

	/* the newest n-1 arrive last, in order; the one before them is r0
	 * (pinned while being sent) or the newest n-th */
	got = names_of(srv_accepted(s));
	assert_int_equal(srv_count(s), n);
	want[0] = '\0';
	for (int i = 12 - (int)n + 1; i < 12; i++) {
		snprintf(name, sizeof(name), ",r%d", i);
		strcat(want, name);
	}
	last = strchr(got, ',');
	assert_non_null(last);
	assert_string_equal(last, want);
	snprintf(name, sizeof(name), "r%d", 12 - (int)n);
	assert_true(!strncmp(got, "r0,", 3) || !strncmp(got, name, strlen(name)));
	free(got);
	srv_stop(s);
	free(dir);
	support__rmtree(root);
	free(root);
}

/* max_age holds for spooled requests as for those in memory, also for
 * files found at start. */
static void test_too_old(void **state)
{
	uint16_t port = free_port();
	char *root, *dir = tmp_spool(&root);
	struct delivery_opts o = opts(dir, 1, 0);
	struct delivery *d;
	struct delivery_stats st;
	struct srv *s;

	(void)state;
	o.max_age_ms = 2000;
	d = delivery__new(&o);
	assert_non_null(d);
	assert_int_equal(delivery__enqueue(d, req_at(port, "old", 10, real_ns() - 3 * NS_PER_S)), 0);
	assert_int_equal(delivery__enqueue(d, req(port, "fresh", 10)), 0);
	assert_int_equal(delivery__enqueue(d, req_at(port, "aging", 10, real_ns() - 1500 * NS_PER_MS)), 0);
	wait_written(d);
	/* "old" is dropped at once; "fresh" waits for the intake */
	assert_int_equal(drain_ms(d, 300), -ETIMEDOUT);
	delivery__stats(d, &st);
	assert_int_equal(st.dropped_too_old, 1);
	assert_int_equal(st.spool_files, 2);
	delivery__free(d);

	/* "aging" passes max_age while waiting on disk */
	sleep_ms(700);
	s = srv_start(port, 200);
	d = delivery__new(&o);
	assert_non_null(d);
	assert_int_equal(drain_ms(d, 5000), 0);
	assert_accepted(s, "fresh");
	delivery__stats(d, &st);
	assert_int_equal(st.dropped_too_old, 1);
	assert_int_equal(st.sent, 1);
	assert_non_null(strstr(st.last_error, "older than max_age"));
	delivery__free(d);
	assert_int_equal(count_files(dir), 0);
	srv_stop(s);
	free(dir);
	support__rmtree(root);
	free(root);
}

/* enqueue does not touch the disk: with the spool writer held in its
 * first fsync (a disk that does not answer), every enqueue still returns
 * at once, never having called fsync itself, and no file is there yet;
 * once the disk answers, the files appear, in order, the requests that
 * piled up meanwhile written as one batch (one fsync of the directory
 * for all of them), and are sent in order. */
static void test_enqueue_leaves_disk_to_writer(void **state)
{
	uint16_t port = free_port();
	char *root, *dir = tmp_spool(&root), name[32], **files;
	struct delivery_opts o = opts(dir, 1, 0);  /* every request to disk */
	struct delivery *d;
	struct delivery_stats st;
	struct srv *s;
	size_t n;

	(void)state;
	d = delivery__new(&o);
	assert_non_null(d);
	atomic_store(&fsync_files, 0);
	atomic_store(&fsync_dirs, 0);
	atomic_store(&fsync_held, 0);
	atomic_store(&fsync_on_caller, false);
	gate_set(true);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(delivery__enqueue(d, req(port, name, 1000)), 0);
	}
	assert_false(atomic_load(&fsync_on_caller));
	/* the writer is in (or on its way to) the first file's fsync */
	while (!atomic_load(&fsync_held))
		sleep_ms(1);
	delivery__stats(d, &st);
	assert_int_equal(st.spool_pending_len, 8);
	assert_true(st.spool_pending_bytes > 8 * 1000);
	assert_int_equal(st.spool_files, 0);
	assert_int_equal(st.spooled, 0);
	assert_int_equal(st.queue_len, 0);
	assert_int_equal(count_files(dir), 0);
	/* drain counts the hand-off as queued */
	assert_int_equal(drain_ms(d, 50), -ETIMEDOUT);

	gate_set(false);
	wait_written(d);
	delivery__stats(d, &st);
	assert_int_equal(st.spooled, 8);
	assert_int_equal(st.spool_files, 8);
	assert_int_equal(st.spool_bytes, dir_bytes(dir));
	files = spool_files(dir, &n);
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		unsigned char *b = support__read_file(files[i], &len);
		struct http_request *r;

		assert_non_null(b);
		assert_int_equal(spool__decode(b, len, &r), 0);
		snprintf(name, sizeof(name), "r%zu", i);
		assert_string_equal(r->what, name);
		http_request__free(r);
		free(b);
	}
	free_list(files);
	assert_int_equal(atomic_load(&fsync_files), 8);
	/* the first batch (held at the gate), then the seven behind it */
	printf("8 files written with %d fsync(s) of the directory\n", atomic_load(&fsync_dirs));
	assert_true(atomic_load(&fsync_dirs) >= 1 && atomic_load(&fsync_dirs) <= 2);

	s = srv_start(port, 200);
	assert_int_equal(drain_ms(d, 10000), 0);
	assert_accepted(s, "r0,r1,r2,r3,r4,r5,r6,r7");
	delivery__free(d);
	assert_int_equal(count_files(dir), 0);
	srv_stop(s);
	free(dir);
	support__rmtree(root);
	free(root);
}

static void *free_delivery(void *d)
{
	delivery__free(d);
	return NULL;
}

/* The hand-off to the writer is bounded: with the disk not answering,
 * requests bound for the spool are held up to max(queue_bytes,
 * DELIVERY_HANDOFF_MIN_BYTES) (one always), then dropped, counted and
 * logged; the ones taken are written once the disk answers, and free
 * writes what was handed over though the worker is gone. */
static void test_handoff_bound(void **state)
{
	const size_t big = 1 << 20;
	char *root, *dir = tmp_spool(&root), name[32], *log;
	struct delivery_opts o = opts(dir, 1, 0);
	struct delivery *d;
	struct delivery_stats st;
	uint16_t port = free_port();
	int lfd = log_capture(root), taken = 0, dropped = 0;

	(void)state;
	d = delivery__new(&o);
	assert_non_null(d);
	atomic_store(&fsync_held, 0);
	gate_set(true);
	for (int i = 0; i < 12; i++) {
		int err;

		snprintf(name, sizeof(name), "b%d", i);
		err = delivery__enqueue(d, req(port, name, big));
		if (!err) {
			/* in order: nothing is taken after the first drop */
			assert_int_equal(dropped, 0);
			taken++;
		} else {
			assert_int_equal(err, -ENOBUFS);
			dropped++;
		}
	}
	delivery__stats(d, &st);
	/* 8 MiB of 1 MiB requests (and a few bytes each) */
	assert_int_equal(taken, DELIVERY_HANDOFF_MIN_BYTES / big - 1);
	assert_int_equal(st.dropped_queue_full, (uint64_t)dropped);
	assert_int_equal(st.spool_pending_len, (uint64_t)taken);
	assert_true(st.spool_pending_bytes <= DELIVERY_HANDOFF_MIN_BYTES);
	assert_non_null(strstr(st.last_error, "spool writer behind, dropped"));

	/* the disk answers again only once free has begun: free waits for
	 * the writer to write what it holds */
	while (!atomic_load(&fsync_held))
		sleep_ms(1);
	{
		pthread_t t;

		assert_int_equal(pthread_create(&t, NULL, free_delivery, d), 0);
		sleep_ms(50);
		gate_set(false);
		pthread_join(t, NULL);
	}
	assert_int_equal(count_files(dir), (size_t)taken);
	log = log_release(lfd);
	assert_non_null(strstr(log, "the spool's writer is behind"));
	free(log);

	/* and the next run finds them, in order */
	d = delivery__new(&o);
	assert_non_null(d);
	delivery__stats(d, &st);
	assert_int_equal(st.spool_files, (uint64_t)taken);
	delivery__free(d);
	free(dir);
	support__rmtree(root);
	free(root);
}

/* Secret headers: on the wire for requests from memory and from disk,
 * in no spool file (not even decompressed) and in no log line. */
static void test_secret_headers(void **state)
{
	static const char key[] = "sekrit-0123456789abcdef";
	const struct http_header secret[] = { { .name = "DD-API-KEY", .value = key } };
	const struct http_header bad[] = { { .name = "X-Key", .value = "a\r\nInjected: 1" } };
	uint16_t port = free_port();
	char *root, *dir = tmp_spool(&root), **files, *log;
	struct delivery_opts o = opts(dir, 2600, 0);
	struct delivery *d;
	struct srv *s;
	int lfd = log_capture(root);
	size_t n;

	(void)state;
	o.secret_headers = secret;
	o.nsecret_headers = 1;
	d = delivery__new(&o);
	assert_non_null(d);
	for (int i = 0; i < 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(delivery__enqueue(d, req(port, name, 1000)), 0);
	}
	delivery__free(d);  /* the two in memory go to disk too */
	files = spool_files(dir, &n);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		unsigned char *b = support__read_file(files[i], &len);
		unsigned long long raw_len = ZSTD_getFrameContentSize(b + SPOOL_HEADER_SIZE,
								       len - SPOOL_HEADER_SIZE);
		char *raw = malloc(raw_len);

		assert_true(raw_len > 1000 && raw_len < 2000);
		assert_int_equal(ZSTD_decompress(raw, raw_len, b + SPOOL_HEADER_SIZE,
						 len - SPOOL_HEADER_SIZE), raw_len);
		assert_null(memmem(raw, raw_len, "sekrit", 6));
		assert_null(memmem(raw, raw_len, "DD-API-KEY", 10));
		assert_non_null(memmem(raw, raw_len, "Content-Type: application/proto", 31));
		assert_null(memmem(b, len, "sekrit", 6));
		free(raw);
		free(b);
	}
	free_list(files);

	s = srv_start(port, 200);
	d = delivery__new(&o);
	assert_non_null(d);
	assert_int_equal(drain_ms(d, 10000), 0);
	/* and one from memory */
	assert_int_equal(delivery__enqueue(d, req(port, "m", 10)), 0);
	assert_int_equal(drain_ms(d, 5000), 0);
	assert_accepted(s, "r0,r1,r2,r3,m");
	for (size_t i = 0; i < srv_count(s); i++) {
		assert_non_null(strstr(s->heads[i], "\r\nDD-API-KEY: sekrit-0123456789abcdef\r\n"));
		assert_non_null(strstr(s->heads[i], "\r\nContent-Type: application/proto\r\n"));
	}
	delivery__free(d);
	srv_stop(s);

	/* a secret that would inject a header is refused, by name only */
	o.secret_headers = bad;
	errno = 0;
	assert_null(delivery__new(&o));
	assert_int_equal(errno, EINVAL);
	log = log_release(lfd);
	assert_non_null(strstr(log, "X-Key"));
	assert_null(strstr(log, "sekrit"));
	assert_null(strstr(log, "Injected"));
	free(log);
	free(dir);
	support__rmtree(root);
	free(root);
}

/* The directory: 0700 made of a wider existing one, a symbolic link
 * refused, one owned by someone else refused (as root only). */
static void test_directory(void **state)
{
	char *root = support__tmpdir("spool"), *real, *link, *other;
	struct delivery_opts o;
	struct delivery *d;
	struct stat sb;

	(void)state;
	assert_non_null(root);
	real = support__path(root, "real");
	link = support__path(root, "link");
	other = support__path(root, "other");
	assert_int_equal(mkdir(real, 0755), 0);
	o = opts(real, 0, 0);
	d = delivery__new(&o);
	assert_non_null(d);
	delivery__free(d);
	assert_int_equal(stat(real, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);

	assert_int_equal(symlink(real, link), 0);
	o = opts(link, 0, 0);
	errno = 0;
	assert_null(delivery__new(&o));
	assert_int_equal(errno, ELOOP);

	if (geteuid() == 0) {
		assert_int_equal(mkdir(other, 0700), 0);
		assert_int_equal(chown(other, 65534, 65534), 0);
		o = opts(other, 0, 0);
		errno = 0;
		assert_null(delivery__new(&o));
		assert_int_equal(errno, EPERM);
	}
	free(real);
	free(link);
	free(other);
	support__rmtree(root);
	free(root);
}

/* A process spooling and sending is killed with SIGKILL; the next run on
 * its directory delivers the rest in order, none twice but possibly the
 * one in flight at the kill. written: killed once everything it enqueued
 * is on disk and a few were sent, so every request arrives. Else killed
 * right after enqueue returned, the writer still at work: what had not
 * reached the disk is lost, but what arrives is r0, r1, ... with no gap,
 * since files are written in order. */
static void sigkill_run(bool written)
{
	struct srv *s = srv_start(0, 200);
	char *root, *dir = tmp_spool(&root), name[32], *got, *p;
	struct delivery_opts o = opts(dir, 1, 0);  /* every request to disk */
	struct delivery *d;
	int ready[2], status, dups = 0, next = 0;
	pid_t pid;

	atomic_store(&s->delay_ms, 50);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct delivery_stats st;
		int64_t deadline = mono_ns() + 10 * NS_PER_S;

		d = delivery__new(&o);
		if (!d)
			_exit(2);
		for (int i = 0; i < 20; i++) {
			snprintf(name, sizeof(name), "r%d", i);
			if (delivery__enqueue(d, req(s->port, name, 200)))
				_exit(3);
		}
		for (delivery__stats(d, &st); written && st.spool_pending_len; delivery__stats(d, &st)) {
			if (mono_ns() > deadline)
				_exit(6);
			sleep_ms(1);
		}
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		delivery__drain(d, mono_ns() + 30 * NS_PER_S);
		_exit(5);  /* not reached: killed first */
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], name, 1), 1);
	close(ready[0]);
	while (written && srv_count(s) < 5)
		sleep_ms(5);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(srv_count(s) < 20);

	atomic_store(&s->delay_ms, 0);
	d = delivery__new(&o);
	assert_non_null(d);
	assert_int_equal(drain_ms(d, 20000), 0);
	delivery__free(d);
	assert_int_equal(count_files(dir), 0);

	/* r0..rk in order, one of them at most twice in a row */
	got = names_of(srv_accepted(s));
	p = got;
	for (char *tok = strsep(&p, ","); tok && *tok; tok = strsep(&p, ",")) {
		int k = atoi(tok + 1);

		if (k == next - 1) {
			dups++;
			continue;
		}
		assert_int_equal(k, next);
		next++;
	}
	if (written)
		assert_int_equal(next, 20);
	assert_true(next <= 20);
	assert_true(dups <= 1);
	free(got);
	srv_stop(s);
	free(dir);
	support__rmtree(root);
	free(root);
}

static void test_sigkill(void **state)
{
	(void)state;
	sigkill_run(true);
}

static void test_sigkill_while_writing(void **state)
{
	(void)state;
	sigkill_run(false);
}

/* ---- the file format --------------------------------------------------- */

static unsigned char *file_of(const void *raw, size_t raw_len, size_t *len)
{
	size_t cap = SPOOL_HEADER_SIZE + ZSTD_compressBound(raw_len), n;
	unsigned char *b = malloc(cap);

	memcpy(b, "IGSP\1\0\0\0", 8);
	memset(b + 8, 0, 8);
	for (int i = 0; i < 8; i++)
		b[16 + i] = (unsigned char)((uint64_t)raw_len >> (8 * i));
	n = ZSTD_compress(b + SPOOL_HEADER_SIZE, cap - SPOOL_HEADER_SIZE, raw, raw_len, 1);
	assert_false(ZSTD_isError(n));
	*len = SPOOL_HEADER_SIZE + n;
	return b;
}

static int decode_raw(const void *raw, size_t raw_len)
{
	struct http_request *r = NULL;
	size_t len;
	unsigned char *b = file_of(raw, raw_len, &len);
	int err = spool__decode(b, len, &r);

	http_request__free(r);
	free(b);
	return err;
}

static void test_codec(void **state)
{
	struct http_request *r = http_request__new("http://h/p", NULL, 0, 1234567890123, "w"), *back;
	void *buf;
	size_t len;
	unsigned char *b;

	(void)state;
	assert_non_null(r);
	assert_int_equal(http_request__add_header(r, "A", "1"), 0);
	assert_int_equal(http_request__add_header(r, "X-Empty", ""), 0);
	assert_int_equal(spool__encode(r, &buf, &len), 0);
	assert_int_equal(spool__decode(buf, len, &back), 0);
	assert_string_equal(back->url, "http://h/p");
	assert_string_equal(back->what, "w");
	assert_int_equal(back->created_ns, 1234567890123);
	assert_int_equal(back->len, 0);
	assert_string_equal(back->headers->data, "A: 1");
	assert_string_equal(back->headers->next->data, "X-Empty;");
	assert_null(back->headers->next->next);
	http_request__free(back);

	/* every cut of a valid file is refused, and so is a trailing byte */
	for (size_t i = 0; i < len; i++) {
		back = (void *)1;
		assert_int_equal(spool__decode(buf, i, &back), -EINVAL);
		assert_null(back);
	}
	b = malloc(len + 1);
	memcpy(b, buf, len);
	b[len] = 0;
	assert_int_equal(spool__decode(b, len + 1, &back), -EINVAL);
	b[0] = 'X';
	assert_int_equal(spool__decode(b, len, &back), -EINVAL);
	b[0] = 'I';
	b[4] = 2;  /* a version we do not know */
	assert_int_equal(spool__decode(b, len, &back), -EINVAL);
	b[4] = 1;
	b[16]++;   /* raw_len that disagrees with the frame */
	assert_int_equal(spool__decode(b, len, &back), -EINVAL);
	b[16]--;
	b[len - 1] ^= 0xff;  /* the frame's checksum or last block */
	back = NULL;
	spool__decode(b, len, &back);  /* no crash; refused or harmless */
	http_request__free(back);
	free(b);
	free(buf);
	http_request__free(r);

	/* payloads whose lengths and counts lie */
	{
		static const unsigned char ok[] = "\4\0\0\0http" "\1\0\0\0w" "\0\0\0\0"
						  "\2\0\0\0\0\0\0\0" "hi";
		static const unsigned char url_long[] = "\xff\0\0\0http" "\1\0\0\0w" "\0\0\0\0"
							"\0\0\0\0\0\0\0\0";
		static const unsigned char count_lies[] = "\4\0\0\0http" "\1\0\0\0w"
							  "\xff\xff\xff\xff" "\0\0\0\0\0\0\0\0";
		static const unsigned char body_lies[] = "\4\0\0\0http" "\1\0\0\0w" "\0\0\0\0"
							 "\3\0\0\0\0\0\0\0" "hi";
		static const unsigned char crlf[] = "\4\0\0\0http" "\1\0\0\0w" "\1\0\0\0"
						    "\6\0\0\0A: 1\r\n" "\0\0\0\0\0\0\0\0";
		static const unsigned char nul[] = "\4\0\0\0ht\0p" "\1\0\0\0w" "\0\0\0\0"
						   "\0\0\0\0\0\0\0\0";
		static const unsigned char empty_url[] = "\0\0\0\0" "\1\0\0\0w" "\0\0\0\0"
							 "\0\0\0\0\0\0\0\0";

		assert_int_equal(decode_raw(ok, sizeof(ok) - 1), 0);
		assert_int_equal(decode_raw(url_long, sizeof(url_long) - 1), -EINVAL);
		assert_int_equal(decode_raw(count_lies, sizeof(count_lies) - 1), -EINVAL);
		assert_int_equal(decode_raw(body_lies, sizeof(body_lies) - 1), -EINVAL);
		assert_int_equal(decode_raw(crlf, sizeof(crlf) - 1), -EINVAL);
		assert_int_equal(decode_raw(nul, sizeof(nul) - 1), -EINVAL);
		assert_int_equal(decode_raw(empty_url, sizeof(empty_url) - 1), -EINVAL);
		assert_int_equal(decode_raw("", 0), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_memory_then_spool),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_damaged_files),
		cmocka_unit_test(test_byte_bound),
		cmocka_unit_test(test_too_old),
		cmocka_unit_test(test_secret_headers),
		cmocka_unit_test(test_sigkill),
		cmocka_unit_test(test_sigkill_while_writing),
		cmocka_unit_test(test_enqueue_leaves_disk_to_writer),
		cmocka_unit_test(test_handoff_bound),
	};

	test_thread = pthread_self();

	/* only ever 127.0.0.1, never through a proxy from the environment */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	return cmocka_run_group_tests_name("spool", tests, NULL, NULL) ? 1 : 0;
}
