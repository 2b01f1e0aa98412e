/* The one backoff formula: the floor, the doubling cap, the bound, and
 * jitter that actually varies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/backoff.h"

static void test_bounds(void **state)
{
	struct rng r;

	(void)state;
	rng__seed(&r);
	for (int i = 0; i < 1000; i++) {
		/* the first retry waits the floor exactly */
		assert_int_equal(backoff__delay_ms(500, 300000, 1, &r), 500);
		for (unsigned f = 2; f < 40; f++) {
			uint64_t cap = f < 20 ? 500ull << (f - 1) : 300000, d;

			if (cap > 300000)
				cap = 300000;
			d = backoff__delay_ms(500, 300000, f, &r);
			assert_in_range(d, 500, cap);
		}
		/* a bound below the floor is the floor */
		assert_int_equal(backoff__delay_ms(1000, 10, 5, &r), 1000);
		assert_int_equal(backoff__delay_ms(0, 0, 0, &r), 0);
	}
}

static void test_jitter(void **state)
{
	struct rng a, b;
	uint64_t first, seen_other = 0;

	(void)state;
	rng__seed(&a);
	first = backoff__delay_ms(1000, 60000, 10, &a);
	for (int i = 0; i < 100; i++)
		seen_other |= backoff__delay_ms(1000, 60000, 10, &a) != first;
	assert_true(seen_other);
	/* the same seed, the same sequence */
	b = a;
	for (int i = 0; i < 10; i++)
		assert_int_equal(rng__next(&a), rng__next(&b));
}

static void test_rng_bytes(void **state)
{
	unsigned char a[33] = { 0 }, b[33] = { 0 }, zero[33] = { 0 };

	(void)state;
	rng__bytes(a, 32);
	rng__bytes(b, 32);
	/* Every byte written, none past n; two draws differ. */
	assert_memory_not_equal(a, zero, 32);
	assert_int_equal(a[32], 0);
	assert_memory_not_equal(a, b, 32);
	rng__bytes(a, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_rng_bytes),
	};

	return cmocka_run_group_tests_name("backoff", tests, NULL, NULL) ? 1 : 0;
}
