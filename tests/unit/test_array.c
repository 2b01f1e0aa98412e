/* The growable array: growth from empty, doubling, contents kept across
 * moves, and sizes that would overflow. */
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

#include "base/array.h"

static void test_array_grows(void **state)
{
	uint32_t *a = NULL;
	size_t cap = 0, last = 0;

	(void)state;
	/* Nothing asked, nothing allocated. */
	assert_int_equal(ARRAY_RESERVE(a, &cap, 0), 0);
	assert_null(a);
	assert_int_equal(cap, 0);
	for (uint32_t i = 0; i < 10000; i++) {
		assert_int_equal(ARRAY_RESERVE(a, &cap, i + 1), 0);
		assert_true(cap >= i + 1);
		assert_true(cap >= ARRAY_MIN_CAP);
		/* Powers of two from the minimum, never shrinking. */
		assert_int_equal(cap & (cap - 1), 0);
		assert_true(cap >= last);
		last = cap;
		a[i] = i * 3;
	}
	for (uint32_t i = 0; i < 10000; i++)
		assert_int_equal(a[i], i * 3);
	/* Room already there: the same block. */
	{
		uint32_t *before = a;

		assert_int_equal(ARRAY_RESERVE(a, &cap, cap), 0);
		assert_ptr_equal(a, before);
	}
	/* A jump past several doublings lands on one power of two. */
	assert_int_equal(ARRAY_RESERVE(a, &cap, 100000), 0);
	assert_int_equal(cap, 131072);
	assert_int_equal(a[9999], 9999 * 3);
	free(a);
}

static void test_array_overflow(void **state)
{
	uint64_t *a = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(ARRAY_RESERVE(a, &cap, SIZE_MAX / 4), -ENOMEM);
	assert_null(a);
	assert_int_equal(cap, 0);
	assert_int_equal(ARRAY_RESERVE(a, &cap, 4), 0);
	assert_int_equal(cap, ARRAY_MIN_CAP);
	/* A failure leaves the array as it was. */
	a[3] = 7;
	assert_int_equal(ARRAY_RESERVE(a, &cap, SIZE_MAX), -ENOMEM);
	assert_int_equal(cap, ARRAY_MIN_CAP);
	assert_int_equal(a[3], 7);
	assert_int_equal(array__reserve((void **)&a, &cap, 100, 0), -EINVAL);
	free(a);
}

static void test_array_reserve_from(void **state)
{
	char *buf = NULL;
	size_t cap = 0;

	(void)state;
	/* The first capacity is the one asked for, then doubling. */
	assert_int_equal(ARRAY_RESERVE_FROM(buf, &cap, 1, 4096), 0);
	assert_int_equal(cap, 4096);
	assert_int_equal(ARRAY_RESERVE_FROM(buf, &cap, 4097, 4096), 0);
	assert_int_equal(cap, 8192);
	free(buf);
	buf = NULL;
	cap = 0;
	/* A first capacity below the need doubles up to it. */
	assert_int_equal(ARRAY_RESERVE_FROM(buf, &cap, 100, 3), 0);
	assert_int_equal(cap, 192);
	assert_int_equal(ARRAY_RESERVE_FROM(buf, &cap, 1000, 0), 0); /* cap 192 is kept: */
	assert_int_equal(cap, 1536);                                  /* it doubles from there */
	free(buf);
	buf = NULL;
	cap = 0;
	assert_int_equal(ARRAY_RESERVE_FROM(buf, &cap, 1, 0), -EINVAL);
}

struct span {
	uint32_t pad;
	uint64_t start;  /* the key, not first and not at offset 0 */
};

static void test_array_upper_bound(void **state)
{
	static const struct span v[] = { { 0, 10 }, { 0, 20 }, { 0, 20 }, { 0, 35 } };

	(void)state;
	assert_int_equal(ARRAY_UPPER_BOUND(v, 4, start, 0), 0);
	assert_int_equal(ARRAY_UPPER_BOUND(v, 4, start, 9), 0);
	assert_int_equal(ARRAY_UPPER_BOUND(v, 4, start, 10), 1);
	assert_int_equal(ARRAY_UPPER_BOUND(v, 4, start, 19), 1);
	/* Equal keys: past the last of them. */
	assert_int_equal(ARRAY_UPPER_BOUND(v, 4, start, 20), 3);
	assert_int_equal(ARRAY_UPPER_BOUND(v, 4, start, 34), 3);
	assert_int_equal(ARRAY_UPPER_BOUND(v, 4, start, 35), 4);
	assert_int_equal(ARRAY_UPPER_BOUND(v, 4, start, UINT64_MAX), 4);
	assert_int_equal(ARRAY_UPPER_BOUND(v, 0, start, 100), 0);
	assert_int_equal(ARRAY_UPPER_BOUND(v, 1, start, 100), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_array_grows),
		cmocka_unit_test(test_array_overflow),
		cmocka_unit_test(test_array_reserve_from),
		cmocka_unit_test(test_array_upper_bound),
	};

	return cmocka_run_group_tests_name("array", tests, NULL, NULL) ? 1 : 0;
}
