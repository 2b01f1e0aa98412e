/* Delivery against a real HTTP server on 127.0.0.1 run by the test: a
 * scripted intake that records every request it receives (head, body,
 * arrival time) and answers from a list of actions (status, headers, body,
 * hang, close mid-answer), then 200 once the list is used up. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "exporters/delivery.h"

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

/* ---- the scripted intake ---------------------------------------------- */

enum act { ACT_RESPOND, ACT_HANG, ACT_CLOSE_MID };

struct action {
	enum act kind;
	int status;
	const char *headers;  /* extra header lines, each ending "\r\n" */
	const char *body;
};

struct rec {
	char *head;      /* request line and headers up to the blank line */
	char *body;
	size_t len;
	int64_t t_ns;    /* CLOCK_MONOTONIC when the whole request was in */
};

#define SRV_MAX_REQS 64
#define SRV_MAX_CONNS 16

struct conn {
	int fd;
	bool hanging;
	char *buf;
	size_t len, cap;
};

struct srv {
	int lfd, stopfd[2];
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const struct action *script;
	size_t nscript, next;
	struct rec reqs[SRV_MAX_REQS];
	size_t nreqs;
	struct conn conns[SRV_MAX_CONNS];
	size_t nconns;
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

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Whatever";
	}
}

/* Answers the complete requests at the start of c->buf; false when the
 * connection is to be closed. */
static bool srv_serve(struct srv *s, struct conn *c)
{
	for (;;) {
		char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		size_t hlen, blen = 0;
		struct action a = { ACT_RESPOND, 200, "", "" };
		char *head, *cl;
		struct rec *r;

		if (!end)
			return true;
		hlen = (size_t)(end - c->buf) + 4;
		head = strndup(c->buf, hlen - 2);
		cl = strcasestr(head, "\r\ncontent-length:");
		if (cl)
			blen = strtoul(cl + 17, NULL, 10);
		if (c->len < hlen + blen) {
			free(head);
			return true;
		}
		pthread_mutex_lock(&s->mu);
		if (s->nreqs < SRV_MAX_REQS) {
			r = &s->reqs[s->nreqs++];
			r->head = head;
			r->body = malloc(blen + 1);
			memcpy(r->body, c->buf + hlen, blen);
			r->body[blen] = '\0';
			r->len = blen;
			r->t_ns = mono_ns();
		} else {
			free(head);
		}
		if (s->next < s->nscript)
			a = s->script[s->next++];
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
		c->len -= hlen + blen;

		if (a.kind == ACT_HANG) {
			c->hanging = true;
			return true;
		}
		if (a.kind == ACT_CLOSE_MID) {
			const char *part = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";

			write_all(c->fd, part, strlen(part));
			return false;
		}
		{
			char *resp;
			int n = asprintf(&resp, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n%s",
					 a.status, reason_phrase(a.status),
					 strlen(a.body ? a.body : ""), a.headers ? a.headers : "",
					 a.body ? a.body : "");

			if (n > 0)
				write_all(c->fd, resp, (size_t)n);
			free(resp);
		}
	}
}

static void srv_close_conn(struct srv *s, size_t i)
{
	close(s->conns[i].fd);
	free(s->conns[i].buf);
	s->conns[i] = s->conns[--s->nconns];
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p[2 + SRV_MAX_CONNS];
		size_t n = 0;

		p[n++] = (struct pollfd){ .fd = s->stopfd[0], .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		for (size_t i = 0; i < s->nconns; i++)
			p[n++] = (struct pollfd){ .fd = s->conns[i].fd, .events = POLLIN };
		if (poll(p, n, -1) < 0)
			continue;
		if (p[0].revents)
			break;
		/* connections first, backwards: closing one moves the last */
		for (size_t i = s->nconns; i-- > 0;) {
			struct conn *c = &s->conns[i];
			ssize_t r;

			if (!p[2 + i].revents)
				continue;
			if (c->cap - c->len < 65536) {
				c->cap = c->cap * 2 + 65536;
				c->buf = realloc(c->buf, c->cap);
			}
			r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
			if (r <= 0) {
				srv_close_conn(s, i);
				continue;
			}
			if (c->hanging)
				continue;  /* read and ignored until the client gives up */
			c->len += (size_t)r;
			if (!srv_serve(s, c))
				srv_close_conn(s, i);
		}
		if (p[1].revents & POLLIN) {
			int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0 && s->nconns < SRV_MAX_CONNS)
				s->conns[s->nconns++] = (struct conn){ .fd = fd };
			else if (fd >= 0)
				close(fd);
		}
	}
	while (s->nconns)
		srv_close_conn(s, s->nconns - 1);
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

/* A port nobody listens on (bound once to get it, then closed). */
static uint16_t free_port(void)
{
	uint16_t port = 0;
	int fd = listen_on(0, &port);

	assert_true(fd >= 0);
	close(fd);
	return port;
}

/* The intake on port (0: any), answering from script. */
static struct srv *srv_start(uint16_t port, const struct action *script, size_t nscript)
{
	struct srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->script = script;
	s->nscript = nscript;
	s->lfd = listen_on(port, &s->port);
	assert_true(s->lfd >= 0);
	assert_int_equal(pipe2(s->stopfd, O_CLOEXEC), 0);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
	return s;
}

static void srv_stop(struct srv *s)
{
	if (!s)
		return;
	assert_int_equal(write(s->stopfd[1], "x", 1), 1);
	pthread_join(s->thread, NULL);
	close(s->stopfd[0]);
	close(s->stopfd[1]);
	close(s->lfd);
	for (size_t i = 0; i < s->nreqs; i++) {
		free(s->reqs[i].head);
		free(s->reqs[i].body);
	}
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Requests received so far, after waiting up to timeout_ms for n of them. */
static size_t srv_wait(struct srv *s, size_t n, int timeout_ms)
{
	int64_t deadline = real_ns() + timeout_ms * NS_PER_MS;
	struct timespec ts = { deadline / NS_PER_S, deadline % NS_PER_S };
	size_t got;

	pthread_mutex_lock(&s->mu);
	while (s->nreqs < n)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts))
			break;
	got = s->nreqs;
	pthread_mutex_unlock(&s->mu);
	return got;
}

static size_t srv_count(struct srv *s)
{
	return srv_wait(s, 0, 0);
}

/* ---- helpers ----------------------------------------------------------- */

static char *url_of(uint16_t port, const char *path)
{
	char *u;

	assert_true(asprintf(&u, "http://127.0.0.1:%u%s", port, path) > 0);
	return u;
}

static struct http_request *req(uint16_t port, const char *body, int64_t created_ns)
{
	char *u = url_of(port, "/push.v1.PusherService/Push");
	/* bodies name themselves in logs, but for the big ones */
	struct http_request *r = http_request__new(u, strdup(body), strlen(body), created_ns,
						   strlen(body) < 16 ? body : "big");

	free(u);
	assert_non_null(r);
	assert_int_equal(http_request__add_header(r, "Content-Type", "application/proto"), 0);
	return r;
}

static struct delivery *fast_delivery(unsigned timeout_ms)
{
	struct delivery_opts o = {
		.name = "test",
		.timeout_ms = timeout_ms,
		.backoff_min_ms = 20,
		.backoff_max_ms = 100,
	};
	struct delivery *d = delivery__new(&o);

	assert_non_null(d);
	return d;
}

static int drain_ms(struct delivery *d, int ms)
{
	return delivery__drain(d, mono_ns() + ms * NS_PER_MS);
}

static void assert_bodies(struct srv *s, const char *const *want, size_t n)
{
	assert_int_equal(srv_count(s), n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s->reqs[i].len, strlen(want[i]));
		assert_string_equal(s->reqs[i].body, want[i]);
	}
}

/* ---- tests ------------------------------------------------------------- */

/* What goes on the wire for one request: method, target, our headers (an
 * empty one too), exact length and bytes of a binary body, no Expect. */
static void test_exact_request(void **state)
{
	struct srv *s = srv_start(0, NULL, 0);
	struct delivery *d = fast_delivery(2000);
	struct delivery_stats st;
	unsigned char *body = malloc(300);
	char *u = url_of(s->port, "/push.v1.PusherService/Push?x=1"), host[64];
	struct http_request *r;
	const char *head;

	(void)state;
	for (int i = 0; i < 300; i++)
		body[i] = (unsigned char)(i * 7);  /* NULs, CR, LF and high bytes */
	r = http_request__new(u, body, 300, real_ns(), "series=a");
	assert_non_null(r);
	assert_int_equal(http_request__add_header(r, "Content-Type", "application/proto"), 0);
	assert_int_equal(http_request__add_header(r, "X-Scope-OrgID", "tenant-1"), 0);
	assert_int_equal(http_request__add_header(r, "X-Empty", ""), 0);
	assert_int_equal(http_request__add_header(r, "Bad Name", "v"), -EINVAL);
	assert_int_equal(http_request__add_header(r, "X-Evil", "a\r\nInjected: yes"), -EINVAL);
	assert_int_equal(http_request__add_header(r, "", "v"), -EINVAL);

	assert_int_equal(delivery__enqueue(d, r), 0);
	assert_int_equal(drain_ms(d, 3000), 0);
	assert_int_equal(srv_count(s), 1);
	head = s->reqs[0].head;
	assert_true(!strncmp(head, "POST /push.v1.PusherService/Push?x=1 HTTP/1.1\r\n", 47));
	snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%u\r\n", s->port);
	assert_non_null(strstr(head, host));
	assert_non_null(strstr(head, "\r\nContent-Type: application/proto\r\n"));
	assert_non_null(strstr(head, "\r\nX-Scope-OrgID: tenant-1\r\n"));
	assert_non_null(strstr(head, "\r\nX-Empty:\r\n"));
	assert_non_null(strstr(head, "\r\nContent-Length: 300\r\n"));
	assert_null(strcasestr(head, "\r\nExpect:"));
	assert_null(strcasestr(head, "Injected"));
	assert_null(strcasestr(head, "Bad Name"));
	assert_int_equal(s->reqs[0].len, 300);
	for (int i = 0; i < 300; i++)
		assert_int_equal((unsigned char)s->reqs[0].body[i], (unsigned char)(i * 7));

	delivery__stats(d, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.attempts, 1);
	assert_int_equal(st.retried, 0);
	assert_int_equal(st.bytes_sent, 300);
	assert_int_equal(st.queue_len, 0);
	assert_int_equal(st.queue_bytes, 0);
	assert_string_equal(st.last_error, "");
	delivery__free(d);
	srv_stop(s);
	free(u);
}

/* 503 three times then 200: each request arrives once as accepted, in
 * order, the failing head holding back those behind it. */
static void test_503_then_200(void **state)
{
	static const struct action script[] = {
		{ ACT_RESPOND, 503, "", "unavailable" },
		{ ACT_RESPOND, 503, "", "unavailable" },
		{ ACT_RESPOND, 503, "", "unavailable" },
	};
	static const char *const want[] = { "A", "A", "A", "A", "B", "C" };
	struct srv *s = srv_start(0, script, 3);
	struct delivery *d = fast_delivery(2000);
	struct delivery_stats st;

	(void)state;
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "B", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "C", real_ns())), 0);
	assert_int_equal(drain_ms(d, 5000), 0);
	assert_bodies(s, want, 6);
	/* the backoff floor is kept between tries */
	for (int i = 1; i < 4; i++)
		assert_true(s->reqs[i].t_ns - s->reqs[i - 1].t_ns >= 20 * NS_PER_MS);

	delivery__stats(d, &st);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.attempts, 6);
	assert_int_equal(st.retried, 3);
	assert_int_equal(st.dropped_client_error + st.dropped_retries_exhausted +
				 st.dropped_too_old + st.dropped_queue_full, 0);
	assert_int_equal(st.bytes_sent, 3);
	assert_string_equal(st.last_error, "A: HTTP 503: unavailable");
	delivery__free(d);
	srv_stop(s);
}

/* 429 with Retry-After: 2 (delta-seconds): the next try waits 2 s though
 * our own backoff is 20 ms. */
static void test_429_retry_after(void **state)
{
	static const struct action script[] = {
		{ ACT_RESPOND, 429, "Retry-After: 2\r\n",
		  "{\"code\":\"resource_exhausted\",\"message\":\"rate limited\"}" },
	};
	struct srv *s = srv_start(0, script, 1);
	struct delivery *d = fast_delivery(2000);
	struct delivery_stats st;

	(void)state;
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(drain_ms(d, 6000), 0);
	assert_int_equal(srv_count(s), 2);
	assert_true(s->reqs[1].t_ns - s->reqs[0].t_ns >= 2 * NS_PER_S);
	assert_true(s->reqs[1].t_ns - s->reqs[0].t_ns < 3 * NS_PER_S);
	delivery__stats(d, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 1);
	assert_string_equal(st.last_error, "A: HTTP 429: rate limited");
	delivery__free(d);
	srv_stop(s);
}

/* 429 whose message says retrying cannot help (Pyroscope's active-series
 * limit): dropped at once, counted as refused, the requests behind it go
 * on; a plain 429 is still retried. */
static void test_429_final_message(void **state)
{
	static const struct action script[] = {
		{ ACT_RESPOND, 429, "Content-Type: application/json\r\n",
		  "{\"code\":\"resource_exhausted\",\"message\":\"push series with index 0 and id "
		  "x failed: Maximum active series limit exceeded (5000/5000), reduce the number "
		  "of active streams\"}" },
		{ ACT_RESPOND, 429, "Content-Type: application/json\r\n",
		  "{\"code\":\"resource_exhausted\",\"message\":\"Maximum active series limit "
		  "exceeded (5000/5000)\"}" },
		{ ACT_RESPOND, 429, "", "{\"code\":\"resource_exhausted\",\"message\":\"rate\"}" },
	};
	static const char *const want[] = { "A", "B", "C", "C" };
	struct delivery_opts o = {
		.name = "test", .timeout_ms = 2000, .backoff_min_ms = 20, .backoff_max_ms = 100,
		.final_message = "Maximum active series limit exceeded",
		.final_hint = "raise the limit",
	};
	struct srv *s = srv_start(0, script, 3);
	struct delivery *d = delivery__new(&o);
	struct delivery_stats st;

	(void)state;
	assert_non_null(d);
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "B", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "C", real_ns())), 0);
	assert_int_equal(drain_ms(d, 3000), 0);
	assert_bodies(s, want, 4);
	delivery__stats(d, &st);
	assert_int_equal(st.dropped_refused, 2);
	assert_int_equal(st.retried, 1);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.dropped_client_error + st.dropped_retries_exhausted, 0);
	delivery__free(d);
	srv_stop(s);
}

/* Retry-After as an HTTP-date 3 s ahead (whole seconds): ≥ 2 s of wait. */
static void test_retry_after_date(void **state)
{
	struct action script[1] = { { ACT_RESPOND, 503, NULL, "" } };
	char hdr[80];
	time_t t = time(NULL) + 3;
	struct tm tm;
	struct srv *s;
	struct delivery *d = fast_delivery(2000);

	(void)state;
	gmtime_r(&t, &tm);
	strftime(hdr, sizeof(hdr), "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	script[0].headers = hdr;
	s = srv_start(0, script, 1);
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(drain_ms(d, 6000), 0);
	assert_int_equal(srv_count(s), 2);
	assert_true(s->reqs[1].t_ns - s->reqs[0].t_ns >= 2 * NS_PER_S - 50 * NS_PER_MS);
	delivery__free(d);
	srv_stop(s);
}

/* 400 with Pyroscope's JSON error: dropped at once, counted, the message
 * quoted; the request behind it goes on. */
static void test_400_dropped(void **state)
{
	static const struct action script[] = {
		{ ACT_RESPOND, 400, "Content-Type: application/json\r\n",
		  "{\"code\":\"invalid_argument\",\"message\":\"invalid metric name\"}" },
	};
	static const char *const want[] = { "A", "B" };
	struct srv *s = srv_start(0, script, 1);
	struct delivery *d = fast_delivery(2000);
	struct delivery_stats st;

	(void)state;
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "B", real_ns())), 0);
	assert_int_equal(drain_ms(d, 3000), 0);
	assert_bodies(s, want, 2);
	delivery__stats(d, &st);
	assert_int_equal(st.dropped_client_error, 1);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 0);
	assert_int_equal(st.attempts, 2);
	assert_string_equal(st.last_error, "A: HTTP 400: invalid metric name");
	delivery__free(d);
	srv_stop(s);
}

/* A server that never answers: the attempt times out after timeout_ms and
 * is retried. */
static void test_hang_timeout(void **state)
{
	static const struct action script[] = { { ACT_HANG, 0, NULL, NULL } };
	static const char *const want[] = { "A", "A" };
	struct srv *s = srv_start(0, script, 1);
	struct delivery *d = fast_delivery(500);
	struct delivery_stats st;

	(void)state;
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(drain_ms(d, 5000), 0);
	assert_bodies(s, want, 2);
	assert_true(s->reqs[1].t_ns - s->reqs[0].t_ns >= 450 * NS_PER_MS);
	delivery__stats(d, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 1);
	assert_int_equal(st.attempts, 2);
	assert_non_null(strstr(st.last_error, "timed out"));
	delivery__free(d);
	srv_stop(s);
}

/* The connection closes halfway through the answer: retried. */
static void test_close_mid_response(void **state)
{
	static const struct action script[] = { { ACT_CLOSE_MID, 0, NULL, NULL } };
	static const char *const want[] = { "A", "A" };
	struct srv *s = srv_start(0, script, 1);
	struct delivery *d = fast_delivery(2000);
	struct delivery_stats st;

	(void)state;
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(drain_ms(d, 3000), 0);
	assert_bodies(s, want, 2);
	delivery__stats(d, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 1);
	assert_true(st.last_error[0]);
	delivery__free(d);
	srv_stop(s);
}

/* Nothing listening: retried up to max_attempts, then dropped, counted. */
static void test_nothing_listening(void **state)
{
	struct delivery_opts o = {
		.name = "test", .backoff_min_ms = 20, .backoff_max_ms = 40, .max_attempts = 3,
	};
	struct delivery *d = delivery__new(&o);
	struct delivery_stats st;

	(void)state;
	assert_non_null(d);
	assert_int_equal(delivery__enqueue(d, req(free_port(), "A", real_ns())), 0);
	assert_int_equal(drain_ms(d, 3000), 0);
	delivery__stats(d, &st);
	assert_int_equal(st.attempts, 3);
	assert_int_equal(st.retried, 2);
	assert_int_equal(st.dropped_retries_exhausted, 1);
	assert_int_equal(st.sent, 0);
	assert_non_null(strstr(st.last_error, "onnect"));
	delivery__free(d);
}

/* The memory bound: past queue_bytes, enqueue fails -ENOBUFS and counts. */
static void test_queue_bound(void **state)
{
	struct delivery_opts o = {
		.name = "test", .backoff_min_ms = 10000, .queue_bytes = 2600,
	};
	struct delivery *d = delivery__new(&o);
	struct delivery_stats st;
	uint16_t port = free_port();
	char body[1001];
	uint64_t one;

	(void)state;
	assert_non_null(d);
	memset(body, 'x', 1000);
	body[1000] = '\0';
	assert_int_equal(delivery__enqueue(d, req(port, body, real_ns())), 0);
	delivery__stats(d, &st);
	one = st.queue_bytes;
	assert_true(one > 1000 && one < 1300);
	assert_int_equal(delivery__enqueue(d, req(port, body, real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(port, body, real_ns())), -ENOBUFS);
	assert_int_equal(delivery__enqueue(d, req(port, body, real_ns())), -ENOBUFS);
	delivery__stats(d, &st);
	assert_int_equal(st.dropped_queue_full, 2);
	assert_int_equal(st.queue_len, 2);
	assert_int_equal(st.queue_bytes, 2 * one);
	assert_non_null(strstr(st.last_error, "queue full"));
	/* still queued at free: freed with the delivery (ASan checks) */
	delivery__free(d);
}

/* Older than max_age: dropped unsent; a request waiting for a long
 * Retry-After is dropped when it gets too old, not after the wait. */
static void test_max_age(void **state)
{
	static const struct action script[] = {
		{ ACT_RESPOND, 200, "", "" },
		{ ACT_RESPOND, 503, "Retry-After: 30\r\n", "" },
	};
	struct srv *s = srv_start(0, script, 2);
	struct delivery_opts o = {
		.name = "test", .backoff_min_ms = 20, .backoff_max_ms = 40, .max_age_ms = 1000,
	};
	struct delivery *d = delivery__new(&o), *dflt = fast_delivery(2000);
	struct delivery_stats st;
	int64_t t0;

	(void)state;
	assert_non_null(d);
	/* default max_age is 1 h */
	assert_int_equal(delivery__enqueue(dflt, req(s->port, "stale", real_ns() - 2 * 3600 * NS_PER_S)), 0);
	assert_int_equal(drain_ms(dflt, 2000), 0);
	delivery__stats(dflt, &st);
	assert_int_equal(st.dropped_too_old, 1);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.queue_len, 0);
	assert_int_equal(srv_count(s), 0);
	delivery__free(dflt);

	assert_int_equal(delivery__enqueue(d, req(s->port, "old", real_ns() - 1500 * NS_PER_MS)), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "fresh", real_ns())), 0);
	assert_int_equal(drain_ms(d, 2000), 0);
	assert_int_equal(srv_count(s), 1);
	assert_string_equal(s->reqs[0].body, "fresh");

	t0 = mono_ns();
	assert_int_equal(delivery__enqueue(d, req(s->port, "waits", real_ns())), 0);
	assert_int_equal(drain_ms(d, 5000), 0);
	assert_true(mono_ns() - t0 < 2500 * NS_PER_MS);
	assert_int_equal(srv_count(s), 2);
	delivery__stats(d, &st);
	assert_int_equal(st.dropped_too_old, 2);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 1);
	assert_non_null(strstr(st.last_error, "waits: older than max_age"));
	delivery__free(d);
	srv_stop(s);
}

/* drain: -ETIMEDOUT at the deadline while the intake is down, 0 once it
 * is up and everything went. */
static void test_drain(void **state)
{
	uint16_t port = free_port();
	struct delivery_opts o = {
		.name = "test", .backoff_min_ms = 20, .backoff_max_ms = 50, .max_attempts = 1000,
	};
	struct delivery *d = delivery__new(&o);
	struct delivery_stats st;
	struct srv *s;
	int64_t t0;

	(void)state;
	assert_non_null(d);
	assert_int_equal(delivery__enqueue(d, req(port, "A", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(port, "B", real_ns())), 0);
	t0 = mono_ns();
	assert_int_equal(drain_ms(d, 300), -ETIMEDOUT);
	assert_true(mono_ns() - t0 >= 290 * NS_PER_MS);
	assert_true(mono_ns() - t0 < 1000 * NS_PER_MS);
	/* a deadline already past */
	assert_int_equal(delivery__drain(d, mono_ns() - NS_PER_S), -ETIMEDOUT);
	delivery__stats(d, &st);
	assert_int_equal(st.queue_len, 2);
	assert_true(st.retried >= 2);

	s = srv_start(port, NULL, 0);
	assert_int_equal(drain_ms(d, 5000), 0);
	{
		static const char *const want[] = { "A", "B" };

		assert_bodies(s, want, 2);
	}
	delivery__stats(d, &st);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.queue_len, 0);
	delivery__free(d);
	srv_stop(s);
}

/* While someone drains, our own backoff is cut to its floor: eight 503s
 * with a doubling backoff from 100 ms would take ~13 s, not 1. */
static void test_drain_cuts_backoff(void **state)
{
	static const struct action script[] = {
		{ ACT_RESPOND, 503, "", "" }, { ACT_RESPOND, 503, "", "" },
		{ ACT_RESPOND, 503, "", "" }, { ACT_RESPOND, 503, "", "" },
		{ ACT_RESPOND, 503, "", "" }, { ACT_RESPOND, 503, "", "" },
		{ ACT_RESPOND, 503, "", "" }, { ACT_RESPOND, 503, "", "" },
	};
	struct srv *s = srv_start(0, script, 8);
	struct delivery_opts o = {
		.name = "test", .backoff_min_ms = 100, .backoff_max_ms = 100000,
	};
	struct delivery *d = delivery__new(&o);
	struct delivery_stats st;

	(void)state;
	assert_non_null(d);
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(drain_ms(d, 3000), 0);
	assert_int_equal(srv_count(s), 9);
	delivery__stats(d, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 8);
	delivery__free(d);
	srv_stop(s);
}

/* free() while a transfer hangs (10 s timeout) returns at once. */
static void test_free_prompt(void **state)
{
	static const struct action script[] = { { ACT_HANG, 0, NULL, NULL } };
	struct srv *s = srv_start(0, script, 1);
	struct delivery *d = fast_delivery(10000);
	int64_t t0;

	(void)state;
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "B", real_ns())), 0);
	assert_int_equal(srv_wait(s, 1, 3000), 1);
	sleep_ms(100);
	t0 = mono_ns();
	delivery__free(d);
	assert_true(mono_ns() - t0 < NS_PER_S);
	assert_int_equal(srv_count(s), 1);
	srv_stop(s);
}

/* A redirect to the same host is followed with the same POST; one to
 * another host is not (the request is dropped). */
static void test_redirects(void **state)
{
	static const struct action script[] = {
		{ ACT_RESPOND, 307, "Location: /elsewhere?y=2\r\n", "" },
		{ ACT_RESPOND, 200, "", "" },
		{ ACT_RESPOND, 308, "Location: http://intake.invalid/push\r\n", "" },
	};
	static const char *const want[] = { "A", "A", "B" };
	struct srv *s = srv_start(0, script, 3);
	struct delivery *d = fast_delivery(2000);
	struct delivery_stats st;

	(void)state;
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "B", real_ns())), 0);
	assert_int_equal(drain_ms(d, 3000), 0);
	assert_bodies(s, want, 3);
	assert_true(!strncmp(s->reqs[1].head, "POST /elsewhere?y=2 HTTP/1.1\r\n", 30));
	assert_non_null(strstr(s->reqs[1].head, "\r\nContent-Type: application/proto\r\n"));
	delivery__stats(d, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.dropped_client_error, 1);
	assert_non_null(strstr(st.last_error, "B: HTTP 308: redirect not followed"));
	delivery__free(d);
	srv_stop(s);
}

/* Secret headers go out with every attempt, a same-host redirect's too,
 * and are neither part of the queued request nor of the stats. */
static void test_secret_headers(void **state)
{
	static const struct action script[] = {
		{ ACT_RESPOND, 307, "Location: /elsewhere\r\n", "" },
		{ ACT_RESPOND, 400, "", "{\"message\":\"bad\"}" },
	};
	const struct http_header secret[] = {
		{ .name = "Authorization", .value = "Bearer t0ps3cret" },
		{ .name = "X-Empty-Secret", .value = "" },
	};
	struct srv *s = srv_start(0, script, 2);
	struct delivery_opts o = {
		.name = "test", .backoff_min_ms = 20, .backoff_max_ms = 40,
		.secret_headers = secret, .nsecret_headers = 2,
	};
	struct delivery *d = delivery__new(&o), *plain = fast_delivery(2000);
	struct delivery_stats st, st_plain;
	uint16_t dead = free_port();

	(void)state;
	assert_non_null(d);
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "B", real_ns())), 0);
	assert_int_equal(drain_ms(d, 3000), 0);
	assert_int_equal(srv_count(s), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_non_null(strstr(s->reqs[i].head, "\r\nAuthorization: Bearer t0ps3cret\r\n"));
		assert_non_null(strstr(s->reqs[i].head, "\r\nX-Empty-Secret:\r\n"));
		assert_non_null(strstr(s->reqs[i].head, "\r\nContent-Type: application/proto\r\n"));
	}
	delivery__stats(d, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.dropped_client_error, 1);
	assert_null(strstr(st.last_error, "t0ps3cret"));

	/* not part of what is queued: the same request costs the same */
	assert_int_equal(delivery__enqueue(d, req(dead, "C", real_ns())), 0);
	assert_int_equal(delivery__enqueue(plain, req(dead, "C", real_ns())), 0);
	delivery__stats(d, &st);
	delivery__stats(plain, &st_plain);
	assert_int_equal(st.queue_bytes, st_plain.queue_bytes);
	delivery__free(d);
	delivery__free(plain);
	srv_stop(s);
}

/* Only http and https; a bad URL is dropped, not retried. */
static void test_bad_scheme(void **state)
{
	struct delivery *d = fast_delivery(2000);
	struct delivery_stats st;
	struct http_request *r = http_request__new("file:///etc/passwd", strdup("x"), 1, real_ns(), "f");

	(void)state;
	assert_non_null(r);
	assert_int_equal(delivery__enqueue(d, r), 0);
	assert_int_equal(drain_ms(d, 2000), 0);
	delivery__stats(d, &st);
	assert_int_equal(st.attempts, 1);
	assert_int_equal(st.dropped_client_error, 1);
	delivery__free(d);
}

/* A protocol's judge: it sees every answer but redirects (status and body,
 * the 2xx ones too) and its verdict is final: a 500 it drops is not
 * retried, a 418 it retries is, a 200 it calls a drop is dropped. */
struct judged {
	long status[8];
	char body[8][32];
	size_t n;
};

static enum delivery_verdict judge_fn(void *arg, const struct http_request *r, long status,
				      const char *body, size_t len, char *reason, size_t rlen)
{
	struct judged *j = arg;

	(void)r;
	if (j->n < 8) {
		j->status[j->n] = status;
		snprintf(j->body[j->n], sizeof(j->body[0]), "%.*s", (int)len, body);
		j->n++;
	}
	snprintf(reason, rlen, "judged %ld", status);
	if (status == 418)
		return DELIVERY_RETRY;
	if (status == 200 && len && !strcmp(body, "refuse"))
		return DELIVERY_DROP;
	return status == 200 ? DELIVERY_SENT : DELIVERY_DROP;
}

static void test_judge(void **state)
{
	static const struct action script[] = {
		{ ACT_RESPOND, 500, "", "boom" },
		{ ACT_RESPOND, 418, "", "teapot" },
		{ ACT_RESPOND, 200, "", "ok-body" },
		{ ACT_RESPOND, 200, "", "refuse" },
	};
	static const char *const want[] = { "A", "B", "B", "C" };
	struct srv *s = srv_start(0, script, 4);
	struct judged j = { 0 };
	struct delivery_opts o = {
		.name = "test", .timeout_ms = 2000, .backoff_min_ms = 20, .backoff_max_ms = 100,
		.judge = judge_fn, .judge_arg = &j,
	};
	struct delivery *d = delivery__new(&o);
	struct delivery_stats st;

	(void)state;
	assert_non_null(d);
	assert_int_equal(delivery__enqueue(d, req(s->port, "A", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "B", real_ns())), 0);
	assert_int_equal(delivery__enqueue(d, req(s->port, "C", real_ns())), 0);
	assert_int_equal(drain_ms(d, 5000), 0);
	assert_bodies(s, want, 4);
	delivery__stats(d, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 1);
	assert_int_equal(st.dropped_client_error, 2);
	assert_string_equal(st.last_error, "C: judged 200");
	assert_int_equal(j.n, 4);
	assert_int_equal(j.status[0], 500);
	assert_string_equal(j.body[0], "boom");
	assert_int_equal(j.status[2], 200);
	assert_string_equal(j.body[2], "ok-body");
	delivery__free(d);
	srv_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_request),
		cmocka_unit_test(test_503_then_200),
		cmocka_unit_test(test_429_retry_after),
		cmocka_unit_test(test_429_final_message),
		cmocka_unit_test(test_retry_after_date),
		cmocka_unit_test(test_400_dropped),
		cmocka_unit_test(test_hang_timeout),
		cmocka_unit_test(test_close_mid_response),
		cmocka_unit_test(test_nothing_listening),
		cmocka_unit_test(test_queue_bound),
		cmocka_unit_test(test_max_age),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_drain_cuts_backoff),
		cmocka_unit_test(test_free_prompt),
		cmocka_unit_test(test_redirects),
		cmocka_unit_test(test_bad_scheme),
		cmocka_unit_test(test_secret_headers),
		cmocka_unit_test(test_judge),
	};

	/* only ever 127.0.0.1, never through a proxy from the environment */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	return cmocka_run_group_tests_name("delivery", tests, NULL, NULL) ? 1 : 0;
}
