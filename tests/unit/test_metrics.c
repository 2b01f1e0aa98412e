/* metrics: the exposition text (names, labels, escaping, values), process
 * metrics from a fixture /proc, and the HTTP endpoint on 127.0.0.1. */
#include <bpf/bpf.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"
#include "agent/metrics.h"
#include "tests/unit/support.h"

/* ---- rendering --------------------------------------------------------- */

static void write_some(void *ctx, struct metrics_writer *w)
{
	const char *cpu0[] = { "cpu", "0", NULL };
	const char *cpu1[] = { "cpu", "1", NULL };
	const char *dest[] = { "destination", "py\"ro\\sco\npe", "outcome", "sent", NULL };

	(void)ctx;
	metrics__family(w, "ignis_samples_total", "counter",
			"Samples taken, per CPU.\nSecond line with a \\ backslash.");
	metrics__sample(w, "ignis_samples_total", 12345, cpu0);
	metrics__sample(w, "ignis_samples_total", 0, cpu1);
	metrics__family(w, "ignis_destination_profiles_total", "counter", "Profiles.");
	metrics__sample(w, "ignis_destination_profiles_total", 3, dest);
	metrics__family(w, "ignis_symbol_cache_bytes", "gauge", "Bytes.");
	metrics__sample(w, "ignis_symbol_cache_bytes", 0.1, NULL);
	metrics__family(w, "ignis_weird_values", "gauge", "");
	metrics__sample(w, "ignis_weird_values", NAN, (const char *[]){ "k", "nan", NULL });
	metrics__sample(w, "ignis_weird_values", INFINITY, (const char *[]){ "k", "inf", NULL });
	metrics__sample(w, "ignis_weird_values", -INFINITY, (const char *[]){ "k", "-inf", NULL });
	metrics__sample(w, "ignis_weird_values", 1e300, (const char *[]){ "k", "big", NULL });
	metrics__sample(w, "ignis_weird_values", -2.5, (const char *[]){ "k", "neg", NULL });
	metrics__sample(w, "ignis_weird_values", 18446744073709551615.0,
			(const char *[]){ "k", "u64max", NULL });
}

static void test_render(void **state)
{
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(metrics__render(write_some, NULL, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	assert_string_equal(out,
		"# HELP ignis_samples_total Samples taken, per CPU.\\nSecond line with a \\\\ "
		"backslash.\n"
		"# TYPE ignis_samples_total counter\n"
		"ignis_samples_total{cpu=\"0\"} 12345\n"
		"ignis_samples_total{cpu=\"1\"} 0\n"
		"# HELP ignis_destination_profiles_total Profiles.\n"
		"# TYPE ignis_destination_profiles_total counter\n"
		"ignis_destination_profiles_total{destination=\"py\\\"ro\\\\sco\\npe\","
		"outcome=\"sent\"} 3\n"
		"# HELP ignis_symbol_cache_bytes Bytes.\n"
		"# TYPE ignis_symbol_cache_bytes gauge\n"
		"ignis_symbol_cache_bytes 0.1\n"
		"# HELP ignis_weird_values \n"
		"# TYPE ignis_weird_values gauge\n"
		"ignis_weird_values{k=\"nan\"} NaN\n"
		"ignis_weird_values{k=\"inf\"} +Inf\n"
		"ignis_weird_values{k=\"-inf\"} -Inf\n"
		"ignis_weird_values{k=\"big\"} 1e+300\n"
		"ignis_weird_values{k=\"neg\"} -2.5\n"
		"ignis_weird_values{k=\"u64max\"} 1.8446744073709552e+19\n");
	free(out);
}

static void render_empty(void *ctx, struct metrics_writer *w)
{
	(void)ctx;
	(void)w;
}

static void test_render_empty(void **state)
{
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(metrics__render(render_empty, NULL, &out, &len), 0);
	assert_string_equal(out, "");
	assert_int_equal(len, 0);
	free(out);
	assert_int_equal(metrics__render(NULL, NULL, &out, &len), 0);
	free(out);
}

static void write_utf8(void *ctx, struct metrics_writer *w)
{
	(void)ctx;
	metrics__family(w, "ignis_pods", "gauge", "");
	/* Pod names are ASCII, but a process name can be any bytes. */
	metrics__sample(w, "ignis_pods", 1,
			(const char *[]){ "comm", "caf\xc3\xa9 \xff\xfe end", NULL });
}

static void test_label_value_utf8(void **state)
{
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(metrics__render(write_utf8, NULL, &out, &len), 0);
	assert_non_null(strstr(out, "ignis_pods{comm=\"caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd end\"} 1\n"));
	free(out);
}

enum bad { BAD_NAME, BAD_NAME_DIGIT, BAD_TYPE, BAD_LABEL, BAD_RESERVED_LABEL, BAD_NO_VALUE,
	   BAD_OUTSIDE_FAMILY, BAD_NO_FAMILY, BAD_REPEATED_FAMILY, BAD_AFTER_BAD_FAMILY,
	   BAD_COUNT };

static void write_bad(void *ctx, struct metrics_writer *w)
{
	enum bad which = *(enum bad *)ctx;

	metrics__family(w, "ignis_ok", "counter", "fine");
	metrics__sample(w, "ignis_ok", 1, NULL);
	switch (which) {
	case BAD_NAME:
		metrics__family(w, "ignis-dash", "counter", "");
		break;
	case BAD_NAME_DIGIT:
		metrics__family(w, "9lives", "gauge", "");
		break;
	case BAD_TYPE:
		metrics__family(w, "ignis_hist", "histogram", "");
		break;
	case BAD_LABEL:
		metrics__sample(w, "ignis_ok", 1, (const char *[]){ "a:b", "v", NULL });
		break;
	case BAD_RESERVED_LABEL:
		metrics__sample(w, "ignis_ok", 1, (const char *[]){ "__name__", "v", NULL });
		break;
	case BAD_NO_VALUE:
		metrics__sample(w, "ignis_ok", 1, (const char *[]){ "k", NULL });
		break;
	case BAD_OUTSIDE_FAMILY:
		metrics__sample(w, "ignis_other", 1, NULL);
		break;
	case BAD_NO_FAMILY:
		break;
	case BAD_REPEATED_FAMILY:
		metrics__family(w, "ignis_ok", "counter", "again");
		break;
	case BAD_AFTER_BAD_FAMILY:
		metrics__family(w, "bad name", "counter", "");
		metrics__sample(w, "ignis_ok", 1, NULL);
		break;
	case BAD_COUNT:
		break;
	}
}

static void test_render_rejects_invalid(void **state)
{
	char *out;
	size_t len;

	(void)state;
	log__set_level(LOG_ERROR);   /* the warnings are expected */
	for (enum bad b = 0; b < BAD_COUNT; b++) {
		int err = metrics__render(write_bad, &b, &out, &len);

		if (b == BAD_NO_FAMILY) {
			assert_int_equal(err, 0);
			free(out);
			continue;
		}
		if (err != -EINVAL)
			fail_msg("case %d: %d", b, err);
		assert_null(out);
	}
	log__set_level(LOG_INFO);
}

static void write_huge(void *ctx, struct metrics_writer *w)
{
	char value[1024];
	char num[16];

	(void)ctx;
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = 0;
	metrics__family(w, "ignis_series", "gauge", "");
	for (int i = 0; i < 20000; i++) {
		snprintf(num, sizeof(num), "%d", i);
		metrics__sample(w, "ignis_series", i,
				(const char *[]){ "id", num, "pad", value, NULL });
	}
}

static void test_render_bounded(void **state)
{
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(metrics__render(write_huge, NULL, &out, &len), -E2BIG);
	assert_null(out);
}

/* ---- process metrics --------------------------------------------------- */

static void write_proc(void *ctx, struct metrics_writer *w)
{
	metrics__write_process(w, ctx);
}

static double value_of(const char *text, const char *name)
{
	const char *p = text;
	size_t n = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == text || p[-1] == '\n') && (p[n] == ' ' || p[n] == '{')) {
			p = strchr(p, ' ');
			return strtod(p + 1, NULL);
		}
		p += n;
	}
	return -1;
}

static void test_process_fixture(void **state)
{
	char *root = support__tmpdir("metrics-proc"), *out, *p, path[4096];
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	size_t len;

	(void)state;
	assert_non_null(root);
	snprintf(path, sizeof(path), "%s/self/fd", root);
	assert_int_equal(support__run("mkdir -p %s && touch %s/0 %s/1 %s/7", path, path, path,
				      path), 0);
	snprintf(path, sizeof(path), "%s/self/stat", root);
	/* A command name with spaces and parentheses: fields count from the
	 * last ')'. utime 250, stime 50 ticks; starttime 1000 ticks; vsize
	 * 123456789; rss 300 pages. */
	assert_int_equal(support__write_text(path,
		"4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 "
		"1000 123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 2 0 0 0 0 0\n"),
		0);
	snprintf(path, sizeof(path), "%s/stat", root);
	assert_int_equal(support__write_text(path,
		"cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1700000000\nprocesses 7\n"), 0);

	assert_int_equal(metrics__render(write_proc, root, &out, &len), 0);
	assert_true(fabs(value_of(out, "process_cpu_seconds_total") - 300.0 / hz) < 1e-9);
	assert_true(value_of(out, "process_resident_memory_bytes") == 300.0 * page);
	assert_true(value_of(out, "process_virtual_memory_bytes") == 123456789.0);
	assert_true(fabs(value_of(out, "process_start_time_seconds") -
			 (1700000000.0 + 1000.0 / hz)) < 1e-6);
	assert_true(value_of(out, "process_open_fds") == 3);
	assert_non_null(strstr(out, "# TYPE process_cpu_seconds_total counter\n"));
	/* The version is the library object's, which may be older than this
	 * file's: only its shape is checked. */
	p = strstr(out, "\nignis_build_info{version=\"");
	assert_non_null(p);
	p = strchr(p + 1, '\n');
	assert_non_null(p);
	assert_memory_equal(p - 4, "\"} 1\n", 5);
	free(out);

	/* Truncated and garbage files leave their metrics out, nothing else. */
	snprintf(path, sizeof(path), "%s/self/stat", root);
	assert_int_equal(support__write_text(path, "4242 (a) S 1 2 3\n"), 0);
	snprintf(path, sizeof(path), "%s/stat", root);
	assert_int_equal(support__write_text(path, "nobtime 5\n"), 0);
	assert_int_equal(metrics__render(write_proc, root, &out, &len), 0);
	assert_null(strstr(out, "process_cpu_seconds_total"));
	assert_null(strstr(out, "process_start_time_seconds"));
	assert_true(value_of(out, "process_open_fds") == 3);
	assert_non_null(strstr(out, "ignis_build_info"));
	free(out);
	support__rmtree(root);
	free(root);
}

static void test_process_real(void **state)
{
	char *out;
	size_t len;
	double rss, start;

	(void)state;
	assert_int_equal(metrics__render(write_proc, "/proc", &out, &len), 0);
	rss = value_of(out, "process_resident_memory_bytes");
	start = value_of(out, "process_start_time_seconds");
	assert_true(rss > 1 << 20);
	assert_true(start > 1.6e9 && start <= (double)time(NULL) + 1);
	assert_true(value_of(out, "process_open_fds") >= 3);
	free(out);
}

/* ---- HTTP -------------------------------------------------------------- */

struct health {
	bool ok;
	const char *why;
};

static bool health_cb(void *ctx, char *why, size_t len)
{
	struct health *h = ctx;

	if (!h->ok)
		snprintf(why, len, "%s", h->why);
	return h->ok;
}

static struct health health = { .ok = true };
static int scrapes;

static void collect_cb(void *ctx, struct metrics_writer *w)
{
	(void)ctx;
	metrics__write_process(w, "/proc");
	scrapes++;
	metrics__family(w, "ignis_scrapes_total", "counter", "Scrapes so far.");
	metrics__sample(w, "ignis_scrapes_total", scrapes, NULL);
}

struct buf {
	char data[1 << 16];
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t k = size * n;

	if (b->len + k >= sizeof(b->data))
		return 0;
	memcpy(b->data + b->len, p, k);
	b->len += k;
	b->data[b->len] = 0;
	return k;
}

static long request(int port, const char *method, const char *path, struct buf *b,
		    char *ctype, size_t clen)
{
	char url[256];
	long status = -1;
	char *ct = NULL;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	b->len = 0;
	b->data[0] = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (!strcmp(method, "POST"))
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
	else if (strcmp(method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (ctype && curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			snprintf(ctype, clen, "%s", ct);
	}
	curl_easy_cleanup(c);
	return status;
}

static void test_http(void **state)
{
	struct metrics_opts o = { .listen = "127.0.0.1:0", .collect = collect_cb,
				  .healthy = health_cb, .ctx = &health };
	static struct buf b;
	char ctype[128] = "";
	struct metrics *m;
	int port;

	(void)state;
	scrapes = 0;
	m = metrics__new(&o);
	assert_non_null(m);
	port = metrics__port(m);
	assert_true(port > 0);

	assert_int_equal(request(port, "GET", "/metrics", &b, ctype, sizeof(ctype)), 200);
	assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(b.data, "ignis_scrapes_total 1\n"));
	assert_non_null(strstr(b.data, "process_resident_memory_bytes "));
	assert_non_null(strstr(b.data, "ignis_build_info{"));
	assert_int_equal(request(port, "GET", "/metrics", &b, NULL, 0), 200);
	assert_non_null(strstr(b.data, "ignis_scrapes_total 2\n"));

	assert_int_equal(request(port, "HEAD", "/metrics", &b, NULL, 0), 200);
	assert_int_equal(b.len, 0);

	assert_int_equal(request(port, "GET", "/healthz", &b, NULL, 0), 200);
	assert_string_equal(b.data, "ok\n");
	health = (struct health){ .ok = false, .why = "destination pyroscope: no delivery "
						       "for 5m (last error: 503)" };
	assert_int_equal(request(port, "GET", "/healthz", &b, NULL, 0), 503);
	assert_string_equal(b.data, "destination pyroscope: no delivery for 5m (last error: "
				    "503)\n");
	health.ok = true;

	assert_int_equal(request(port, "GET", "/", &b, NULL, 0), 404);
	assert_int_equal(request(port, "GET", "/metrics/x", &b, NULL, 0), 404);
	assert_int_equal(request(port, "POST", "/metrics", &b, NULL, 0), 405);
	assert_int_equal(request(port, "DELETE", "/healthz", &b, NULL, 0), 405);
	metrics__free(m);

	/* Stopped: nothing answers on that port any more. */
	assert_int_equal(request(port, "GET", "/metrics", &b, NULL, 0), -1);
}

static void test_listen_errors(void **state)
{
	struct metrics_opts o = { .listen = "127.0.0.1:0" };
	struct metrics *m, *m2;
	char addr[64];

	(void)state;
	m = metrics__new(&o);
	assert_non_null(m);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", metrics__port(m));
	o.listen = addr;
	/* The errors below are expected; keep them out of the test output. */
	log__set_level(LOG_WARN);
	log__set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	errno = 0;
	m2 = metrics__new(&o);
	assert_null(m2);
	assert_int_equal(errno, EADDRINUSE);
	metrics__free(m);

	static const char *const bad[] = { "9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x",
					   "127.0.0.1:70000", "[::1:9464", "::1:9464",
					   "[]:9464", "no.such.host.invalid:9464" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.listen = bad[i];
		errno = 0;
		assert_null(metrics__new(&o));
		if (errno != EINVAL)
			fail_msg("%s: errno %d", bad[i], errno);
	}
	log__set_fd(2);
	log__set_level(LOG_INFO);
}

static void test_listen_ipv6(void **state)
{
	struct metrics_opts o = { .listen = "[::1]:0" };
	struct metrics *m;

	(void)state;
	m = metrics__new(&o);
	if (!m && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT))
		skip();
	assert_non_null(m);
	assert_true(metrics__port(m) > 0);
	metrics__free(m);
}

/* ---- BPF statistics ---------------------------------------------------- */

static void test_bpf_prog_stats(void **state)
{
	struct bpf_insn insns[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = 0 },   /* r0 = 0 */
		{ .code = 0x95 },                           /* exit */
	};
	uint64_t ns = 1, cnt = 1;
	int fd;

	(void)state;
	assert_true(metrics__bpf_prog_stats(-1, &ns, &cnt) < 0);
	fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "t", "GPL", insns, 2, NULL);
	if (fd < 0)
		skip();
	assert_int_equal(metrics__bpf_prog_stats(fd, &ns, &cnt), 0);
	/* Never run: both zero whether or not statistics are on. */
	assert_int_equal(ns, 0);
	assert_int_equal(cnt, 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_empty),
		cmocka_unit_test(test_label_value_utf8),
		cmocka_unit_test(test_render_rejects_invalid),
		cmocka_unit_test(test_render_bounded),
		cmocka_unit_test(test_process_fixture),
		cmocka_unit_test(test_process_real),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_listen_ipv6),
		cmocka_unit_test(test_bpf_prog_stats),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
