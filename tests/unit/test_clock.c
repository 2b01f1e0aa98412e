/* Clock readings: units, the clocks they read, and deadlines. */
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

#include <time.h>

#include "base/clock.h"

static void test_clock_units(void **state)
{
	struct timespec a, b;
	int64_t mono, real, ms;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &a);
	mono = clock__monotonic_ns();
	ms = clock__monotonic_ms();
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true(mono >= (int64_t)a.tv_sec * NSEC_PER_SEC + a.tv_nsec);
	assert_true(mono <= (int64_t)b.tv_sec * NSEC_PER_SEC + b.tv_nsec);
	assert_true(ms >= mono / NSEC_PER_MSEC);
	assert_true(ms <= ((int64_t)b.tv_sec * NSEC_PER_SEC + b.tv_nsec) / NSEC_PER_MSEC);

	clock_gettime(CLOCK_REALTIME, &a);
	real = clock__realtime_ns();
	clock_gettime(CLOCK_REALTIME, &b);
	assert_true(real >= (int64_t)a.tv_sec * NSEC_PER_SEC + a.tv_nsec);
	assert_true(real <= (int64_t)b.tv_sec * NSEC_PER_SEC + b.tv_nsec);
	/* After 2020: a wall clock, not an uptime. */
	assert_true(real > 1577836800LL * NSEC_PER_SEC);
	assert_int_equal(clock__ns(CLOCK_REALTIME) / NSEC_PER_SEC / 100,
			 real / NSEC_PER_SEC / 100);
}

static void test_clock_monotonic_advances(void **state)
{
	int64_t a, b;
	struct timespec nap = { 0, 2 * NSEC_PER_MSEC };

	(void)state;
	a = clock__monotonic_ns();
	nanosleep(&nap, NULL);
	b = clock__monotonic_ns();
	assert_true(b - a >= 2 * NSEC_PER_MSEC);
}

static void test_clock_deadline(void **state)
{
	int64_t before, after, at;
	struct timespec d;

	(void)state;
	for (int64_t ms = 0; ms < 3000; ms += 333) {
		before = clock__monotonic_ns();
		d = clock__deadline(CLOCK_MONOTONIC, ms);
		after = clock__monotonic_ns();
		at = (int64_t)d.tv_sec * NSEC_PER_SEC + d.tv_nsec;
		assert_true(d.tv_nsec >= 0 && d.tv_nsec < NSEC_PER_SEC);
		assert_true(at >= before + ms * NSEC_PER_MSEC);
		assert_true(at <= after + ms * NSEC_PER_MSEC);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock_units),
		cmocka_unit_test(test_clock_monotonic_advances),
		cmocka_unit_test(test_clock_deadline),
	};

	return cmocka_run_group_tests_name("clock", tests, NULL, NULL) ? 1 : 0;
}
