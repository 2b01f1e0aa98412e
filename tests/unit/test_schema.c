/* schema: a table of rows over a struct parses text into its fields with
 * ranges and units, sets defaults, dumps and frees it; secret rows read
 * files and variables and refuse a second source. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/schema.h"
#include "base/secret.h"

enum color { RED, GREEN };
static const char *const colors[] = { [RED] = "red", [GREEN] = "green" };

struct inner {
	unsigned port;
};

struct obj {
	unsigned hz;
	uint64_t interval_ms, bytes;
	enum color color;
	bool on;
	uint32_t ppm;
	char *name, *url, *pw_file, *pw;
	struct inner in;
};

#define O struct obj
static const struct schema_row inner_rows[] = {
	{ "port", SCHEMA_UINT, SCHEMA_AT(struct inner, port), 1, 65535, .def = 80 },
	{ 0 },
};
static const struct schema_row rows[] = {
	{ "hz", SCHEMA_UINT, SCHEMA_AT(O, hz), 1, 10000, .def = 100, .multiple = 2 },
	{ "interval", SCHEMA_DURATION, SCHEMA_AT(O, interval_ms), SCHEMA_SEC, SCHEMA_HOUR,
	  .def = 15 * SCHEMA_SEC },
	{ "size", SCHEMA_SIZE, SCHEMA_AT(O, bytes), SCHEMA_KiB, SCHEMA_GiB, .def = 64 * SCHEMA_MiB },
	{ "color", SCHEMA_ENUM, SCHEMA_AT(O, color), SCHEMA_NAMES(colors), .def = GREEN },
	{ "on", SCHEMA_BOOL, SCHEMA_AT(O, on), .def = true },
	{ "fraction", SCHEMA_FRACTION, SCHEMA_AT(O, ppm), .def = 1000000 },
	{ "name", SCHEMA_STRING, SCHEMA_AT(O, name), .def_str = "x",
	  .check = schema__check_no_control },
	{ "url", SCHEMA_URL, SCHEMA_AT(O, url) },
	{ "password_file", SCHEMA_SECRET, SCHEMA_AT(O, pw_file), .secret_offset = offsetof(O, pw),
	  .other = "password_env", .what = "password" },
	{ "inner", SCHEMA_MAP, SCHEMA_AT(O, in), .rows = inner_rows, .flags = SCHEMA_SUB },
	{ 0 },
};

static char err[512];

static int set(struct obj *o, const char *key, const char *text)
{
	struct schema_ctx x = { .err = err, .errlen = sizeof(err) };
	size_t base;
	const struct schema_row *r = schema__lookup(rows, key, &base);

	assert_non_null(r);
	err[0] = '\0';
	return schema__set(&x, r, (char *)o + base, text);
}

static void test_schema_defaults_and_values(void **state)
{
	struct obj o = { 0 };
	int e = 0;

	(void)state;
	schema__defaults(rows, &o, &e);
	assert_int_equal(e, 0);
	assert_int_equal(o.hz, 100);
	assert_int_equal(o.interval_ms, 15000);
	assert_int_equal(o.bytes, 64 << 20);
	assert_int_equal(o.color, GREEN);
	assert_true(o.on);
	assert_int_equal(o.ppm, 1000000);
	assert_string_equal(o.name, "x");
	assert_int_equal(o.in.port, 80);

	assert_int_equal(set(&o, "hz", "250"), 0);
	assert_int_equal(o.hz, 250);
	assert_int_equal(set(&o, "interval", "1.5m"), 0);
	assert_int_equal(o.interval_ms, 90000);
	assert_int_equal(set(&o, "size", "1.5 MiB"), 0);
	assert_int_equal(o.bytes, 3 << 19);
	assert_int_equal(set(&o, "color", "red"), 0);
	assert_int_equal(o.color, RED);
	assert_int_equal(set(&o, "on", "FALSE"), 0);
	assert_false(o.on);
	assert_int_equal(set(&o, "fraction", "0.25"), 0);
	assert_int_equal(o.ppm, 250000);
	assert_int_equal(set(&o, "url", "https://h:8443/a//"), 0);
	assert_string_equal(o.url, "https://h:8443/a");
	assert_int_equal(set(&o, "inner.port", "8080"), 0);
	assert_int_equal(o.in.port, 8080);
	schema__free(rows, &o);
	assert_null(o.name);
	assert_null(o.url);
}

static void test_schema_messages(void **state)
{
	struct obj o = { 0 };

	(void)state;
	assert_int_equal(set(&o, "hz", "0"), -EINVAL);
	assert_string_equal(err, "'0': expected a whole number from 1 to 10000");
	assert_int_equal(set(&o, "hz", "3"), -EINVAL);
	assert_string_equal(err, "'3': expected a multiple of 2");
	assert_int_equal(set(&o, "interval", "2h"), -EINVAL);
	assert_string_equal(err, "'2h': out of range, from 1s to 1h");
	assert_int_equal(set(&o, "size", "12XB"), -EINVAL);
	assert_string_equal(err, "'12XB': expected a size like 64MiB, 1GiB, 512KiB, 100MB or a "
				 "number of bytes, from 1KiB to 1GiB");
	assert_int_equal(set(&o, "color", "blue"), -EINVAL);
	assert_string_equal(err, "'blue': expected one of red, green");
	assert_int_equal(set(&o, "on", "yes"), -EINVAL);
	assert_string_equal(err, "'yes': expected true or false");
	assert_int_equal(set(&o, "fraction", "0"), -EINVAL);
	assert_int_equal(set(&o, "name", "a\nb"), -EINVAL);
	assert_string_equal(err, "contains control characters");
	assert_int_equal(set(&o, "url", "ftp://x"), -EINVAL);
	assert_string_equal(err, "'ftp://x': expected a URL (http:// or https://)");
	schema__free(rows, &o);
}

static void test_schema_dump(void **state)
{
	struct obj o = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int e = 0;

	(void)state;
	schema__defaults(rows, &o, &e);
	assert_int_equal(set(&o, "size", "1536KiB"), 0);
	assert_int_equal(set(&o, "fraction", "0.5"), 0);
	schema__dump(rows, &o, f, 0);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(buf, "hz: 100\ninterval: 15s\nsize: 1536KiB\ncolor: green\non: true\n"
				 "fraction: 0.5\nname: \"x\"\nurl: \"\"\npassword_file: \"\"\n"
				 "inner:\n  port: 80\n");
	free(buf);
	schema__free(rows, &o);
}

static void test_schema_secrets(void **state)
{
	char path[] = "/tmp/test-schema-XXXXXX", *s = NULL, why[256];
	struct obj o = { 0 };
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hunter2\n", 8), 8);
	close(fd);
	assert_int_equal(set(&o, "password_file", path), 0);
	assert_string_equal(o.pw, "hunter2");
	assert_string_equal(o.pw_file, path);
	assert_int_equal(set(&o, "password_file", path), -EINVAL);
	assert_string_equal(err, "set one of password_file and password_env, not both");
	schema__free(rows, &o);
	assert_null(o.pw);
	unlink(path);

	setenv("TEST_SCHEMA_VAR", "v", 1);
	assert_int_equal(secret__expand("a${TEST_SCHEMA_VAR}$$b", &s, why, sizeof(why)), 0);
	assert_string_equal(s, "av$b");
	secret__free(&s);
	assert_null(s);
	assert_int_equal(secret__expand("${NO_SUCH_VAR_X}", &s, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "environment variable NO_SUCH_VAR_X is not set");
	assert_int_equal(secret__read_env("9bad", &s, why, sizeof(why)), -EINVAL);
	assert_int_equal(secret__read_file("/nonexistent/x", &s, why, sizeof(why)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_defaults_and_values),
		cmocka_unit_test(test_schema_messages),
		cmocka_unit_test(test_schema_dump),
		cmocka_unit_test(test_schema_secrets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
