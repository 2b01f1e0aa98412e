/* The top-functions summary: self and cumulative counts, recursion, order. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/report.h"
#include "exporters/profile.h"
#include "tests/unit/support.h"

/* A sample whose frames are named leaf first, as the profile holds them. */
#define add(p, count, n, ...)                                                         \
	assert_int_equal(support__add_named_sample(p, 0, NULL, 0, count, false, n,    \
						   (const char *const[]){ __VA_ARGS__ }), \
			 0)

/* What report__top(p, n) writes, to free. */
static char *report(const struct profile *p, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(report__top(p, n, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	return buf;
}

struct row {
	uint64_t self, cum;
	double self_pct, cum_pct;
	char name[128];
};

/* Runs report__top and parses its rows; returns how many. */
static size_t top(const struct profile *p, size_t n, struct row *rows, size_t max)
{
	char *buf = report(p, n), *line, *save = NULL;
	size_t k = 0;

	line = strtok_r(buf, "\n", &save);
	assert_non_null(line);
	/* The header names the columns. */
	assert_non_null(strstr(line, "self"));
	assert_non_null(strstr(line, "cum"));
	assert_non_null(strstr(line, "function"));
	while ((line = strtok_r(NULL, "\n", &save))) {
		struct row *r;
		int at = -1;

		assert_true(k < max);
		r = &rows[k++];
		assert_int_equal(sscanf(line, "%" SCNu64 " %lf%% %" SCNu64 " %lf%%  %n", &r->self,
					&r->self_pct, &r->cum, &r->cum_pct, &at), 4);
		assert_true(at > 0);
		snprintf(r->name, sizeof(r->name), "%s", line + at);
	}
	free(buf);
	return k;
}

static void expect_row(const struct row *r, const char *name, uint64_t self, uint64_t cum,
		       uint64_t total)
{
	assert_string_equal(r->name, name);
	assert_int_equal(r->self, self);
	assert_int_equal(r->cum, cum);
	assert_float_equal(r->self_pct, 100.0 * self / total, 0.051);
	assert_float_equal(r->cum_pct, 100.0 * cum / total, 0.051);
}

static struct profile *sample_profile(void)
{
	struct profile *p = profile__new(10000000, 0, 0);

	assert_non_null(p);
	add(p, 5, 3, "c", "b", "a");
	add(p, 3, 2, "b", "a");
	/* Recursion: rec is on the stack three times, counted once in cum
	 * and once in self. */
	add(p, 2, 4, "rec", "rec", "rec", "a");
	add(p, 1, 3, "c", "rec", "a");
	/* Ties: d and e have the same self and cum as each other; rec has
	 * the same self but more cum. */
	add(p, 2, 2, "e", "a");
	add(p, 2, 2, "d", "a");
	return p;
}

static void test_report_counts_and_order(void **state)
{
	struct profile *p = sample_profile();
	struct row rows[16];
	size_t n;

	(void)state;
	n = top(p, 100, rows, 16);
	assert_int_equal(n, 6);
	expect_row(&rows[0], "c", 6, 6, 15);
	expect_row(&rows[1], "b", 3, 8, 15);
	expect_row(&rows[2], "rec", 2, 3, 15);
	expect_row(&rows[3], "d", 2, 2, 15);
	expect_row(&rows[4], "e", 2, 2, 15);
	expect_row(&rows[5], "a", 0, 15, 15);
	profile__free(p);
}

static void test_report_limit(void **state)
{
	struct profile *p = sample_profile();
	struct row rows[16];

	(void)state;
	assert_int_equal(top(p, 3, rows, 16), 3);
	expect_row(&rows[0], "c", 6, 6, 15);
	expect_row(&rows[2], "rec", 2, 3, 15);
	assert_int_equal(top(p, 0, rows, 16), 0);
	profile__free(p);
}

/* The same name from two samples, or under two mappings, is one function;
 * a function that is the leaf twice in one stack is still counted once. */
static void test_report_merges_by_name(void **state)
{
	struct profile *p = profile__new(1, 0, 0);
	struct profile_mapping m = { .start = 0, .limit = 100, .file = "/lib/x" };
	struct profile_frame f[2] = {
		{ .mapping = 1, .address = 5, .function = "memcpy" },
		{ .mapping = 0, .address = 9, .function = "main" },
	};
	struct row rows[4];

	(void)state;
	assert_non_null(p);
	assert_int_equal(profile__add_mapping(p, &m), 1);
	assert_int_equal(profile__add_sample(p, f, 2, NULL, 0, 7), 0);
	f[0].mapping = 0;
	f[0].address = 77;
	assert_int_equal(profile__add_sample(p, f, 2, NULL, 0, 3), 0);
	add(p, 1, 3, "main", "x", "main");
	assert_int_equal(top(p, 10, rows, 4), 3);
	expect_row(&rows[0], "memcpy", 10, 10, 11);
	expect_row(&rows[1], "main", 1, 11, 11);
	expect_row(&rows[2], "x", 0, 1, 11);
	profile__free(p);
}

static void test_report_exact_format(void **state)
{
	struct profile *p = profile__new(1, 0, 0);
	char *buf;

	(void)state;
	assert_non_null(p);
	add(p, 3, 2, "[unknown] libc.so.6+0x1234", "main");
	add(p, 1, 1, "main");
	buf = report(p, 10);
	assert_string_equal(buf,
			    "      self  self%        cum   cum%  function\n"
			    "         3  75.0%          3  75.0%  [unknown] libc.so.6+0x1234\n"
			    "         1  25.0%          4 100.0%  main\n");
	free(buf);
	profile__free(p);
}

static void test_report_empty(void **state)
{
	struct profile *p = profile__new(1, 0, 0);
	struct row rows[1];

	(void)state;
	assert_non_null(p);
	assert_int_equal(top(p, 10, rows, 1), 0);
	profile__free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_counts_and_order),
		cmocka_unit_test(test_report_limit),
		cmocka_unit_test(test_report_merges_by_name),
		cmocka_unit_test(test_report_exact_format),
		cmocka_unit_test(test_report_empty),
	};

	return cmocka_run_group_tests_name("report", tests, NULL, NULL) ? 1 : 0;
}
