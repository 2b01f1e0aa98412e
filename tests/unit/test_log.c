/* log: plain output unchanged, JSON lines that parse, levels, the per-call
 * site limiter, and whole lines from many threads at once. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"

static int fd = -1;

static int setup(void **state)
{
	(void)state;
	char path[] = "/tmp/ignis-test-log-XXXXXX";

	/* A real file opened for append: each write(2) lands whole at the end,
	 * which is what a journal or a pipe reader sees of one record. */
	fd = mkostemp(path, O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -1;
	unlink(path);
	log__set_fd(fd);
	log__set_level(LOG_INFO);
	log__set_format(LOG_FORMAT_PLAIN);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log__set_fd(2);
	log__set_format(LOG_FORMAT_PLAIN);
	log__set_level(LOG_INFO);
	log__set_clock(NULL);
	close(fd);
	return 0;
}

/* Everything logged so far, NUL-terminated, to free. */
static char *logged(void)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *buf = calloc(1, end + 1);

	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, end, 0), end);
	return buf;
}

static void test_plain_is_the_message_as_formatted(void **state)
{
	char *out;

	(void)state;
	pr_warn("sampler: %d CPUs, %s\n", 4, "ok");
	pr_info("no prefix and no newline");
	out = logged();
	assert_string_equal(out, "sampler: 4 CPUs, ok\nno prefix and no newline");
	free(out);
}

static void test_levels(void **state)
{
	char *out;

	(void)state;
	log__set_level(LOG_WARN);
	pr_debug("d\n");
	pr_info("i\n");
	pr_warn("w\n");
	pr_error("e\n");
	log__set_level(LOG_ERROR);
	pr_warn("w2\n");
	pr_error("e2\n");
	out = logged();
	assert_string_equal(out, "w\ne\ne2\n");
	free(out);
	assert_string_equal(log__level_name(LOG_ERROR), "error");
	assert_string_equal(log__level_name(LOG_DEBUG), "debug");
}

static void test_parse_format(void **state)
{
	enum log_format f = LOG_FORMAT_PLAIN;

	(void)state;
	assert_int_equal(log__parse_format("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log__parse_format("plain", &f), 0);
	assert_int_equal(f, LOG_FORMAT_PLAIN);
	assert_int_equal(log__parse_format("JSON", &f), -EINVAL);
	assert_int_equal(log__parse_format("", &f), -EINVAL);
	assert_int_equal(log__parse_format(NULL, &f), -EINVAL);
}

/* Splits out into lines; each must be a JSON object. Returns how many. */
static size_t json_lines(char *out, struct json_object **objs, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct json_object *o = json_tokener_parse(line);

		assert_non_null(o);
		assert_true(json_object_is_type(o, json_type_object));
		assert_true(n < max);
		objs[n++] = o;
	}
	return n;
}

static const char *field(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static void test_json_lines(void **state)
{
	struct json_object *o[8];
	const char *ts;
	char *out;
	size_t n;

	(void)state;
	log__set_format(LOG_FORMAT_JSON);
	pr_warn("pyroscope: upload to %s failed: \"%s\"\n", "http://x", "boom");
	pr_info("two\nlines\twith \\ and \x01 and bad utf-8 \xff\xfe and é\n");
	pr_error("ignis: the end");
	out = logged();
	/* One line per record, even with a newline inside the message. */
	n = json_lines(out, o, 8);
	assert_int_equal(n, 3);

	assert_string_equal(field(o[0], "level"), "warn");
	assert_string_equal(field(o[0], "module"), "pyroscope");
	assert_string_equal(field(o[0], "msg"), "upload to http://x failed: \"boom\"");
	ts = field(o[0], "ts");
	assert_non_null(ts);
	/* RFC 3339, UTC, milliseconds: 2025-01-02T03:04:05.678Z */
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');

	/* No prefix: the module is the program. */
	assert_string_equal(field(o[1], "module"), "ignis");
	assert_string_equal(field(o[1], "level"), "info");
	assert_string_equal(field(o[1], "msg"),
			    "two\nlines\twith \\ and \x01 and bad utf-8 \xef\xbf\xbd\xef\xbf\xbd "
			    "and é");
	assert_string_equal(field(o[2], "level"), "error");
	assert_string_equal(field(o[2], "module"), "ignis");
	assert_string_equal(field(o[2], "msg"), "the end");
	for (size_t i = 0; i < n; i++)
		json_object_put(o[i]);
	free(out);
}

static void test_json_long_message(void **state)
{
	struct json_object *o[2];
	size_t big = 100000;
	char *msg = malloc(big + 1), *out;

	(void)state;
	assert_non_null(msg);
	memset(msg, 'x', big);
	msg[big] = 0;
	log__set_format(LOG_FORMAT_JSON);
	pr_info("bpf: %s\n", msg);
	out = logged();
	assert_int_equal(json_lines(out, o, 2), 1);
	assert_int_equal(strlen(field(o[0], "msg")), big);
	json_object_put(o[0]);
	free(out);
	free(msg);
}

static int64_t fake_now;

static int64_t fake_clock(void)
{
	return fake_now;
}

static void noisy(int i)
{
	pr_warn_ratelimited("proctab: cannot read /proc/%d/maps\n", i);
}

static void test_ratelimit(void **state)
{
	char *out, *p;
	int lines = 0;

	(void)state;
	fake_now = 1000;
	log__set_clock(fake_clock);
	for (int i = 0; i < 100; i++)
		noisy(i);
	out = logged();
	for (p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, LOG_RATELIMIT_BURST);
	assert_non_null(strstr(out, "/proc/4/maps"));
	assert_null(strstr(out, "/proc/5/maps"));
	free(out);

	/* Still inside the window: nothing more. */
	fake_now += LOG_RATELIMIT_INTERVAL_MS - 1;
	noisy(100);
	out = logged();
	assert_null(strstr(out, "/proc/100/maps"));
	free(out);

	/* A new window: the count of what was dropped, then the message. */
	fake_now += 1;
	noisy(101);
	out = logged();
	assert_non_null(strstr(out, "/proc/4/maps\n"
				    "proctab: 96 similar messages suppressed\n"
				    "proctab: cannot read /proc/101/maps\n"));
	free(out);

	/* Another call site has its own budget. */
	pr_warn_ratelimited("other: one\n");
	out = logged();
	assert_non_null(strstr(out, "other: one\n"));
	free(out);
}

static void test_ratelimit_respects_level(void **state)
{
	char *out;

	(void)state;
	fake_now = 5000;
	log__set_clock(fake_clock);
	log__set_level(LOG_WARN);
	for (int i = 0; i < 10; i++)
		pr_info_ratelimited("quiet: %d\n", i);
	out = logged();
	assert_string_equal(out, "");
	free(out);
}

#define THREADS 8
#define PER_THREAD 2000

static void *spam(void *arg)
{
	long t = (long)arg;

	for (int i = 0; i < PER_THREAD; i++)
		pr_info("thread%ld: record %d with some padding to make lines longer "
			"than a few bytes: %0200d\n", t, i, i);
	return NULL;
}

static void test_threads_whole_lines(void **state)
{
	pthread_t th[THREADS];
	char *out, *save = NULL;
	int count[THREADS] = { 0 }, total = 0;

	(void)state;
	log__set_format(LOG_FORMAT_JSON);
	for (long i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, spam, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	out = logged();
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct json_object *o = json_tokener_parse(line);
		const char *module;

		assert_non_null(o);
		module = field(o, "module");
		assert_non_null(module);
		assert_int_equal(strncmp(module, "thread", 6), 0);
		count[atoi(module + 6)]++;
		total++;
		json_object_put(o);
	}
	assert_int_equal(total, THREADS * PER_THREAD);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(count[i], PER_THREAD);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_is_the_message_as_formatted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_long_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit_respects_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_whole_lines, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
