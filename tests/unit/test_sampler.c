/* The kernel CPU list parser behind the sampler's choice of CPUs
 * (/sys/devices/system/cpu/online). The rest of the sampler needs BPF and
 * perf events and is covered by the integration tests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sampling/sampler.h"

#define NBITS 64

static int is_set(const uint8_t *bm, unsigned int cpu)
{
	return !!(bm[cpu / 8] & (1u << (cpu % 8)));
}

/* Parses s and checks the bitmap holds exactly the CPUs in want[]. */
static void expect_cpus(const char *s, const unsigned int *want, size_t nwant)
{
	uint8_t bm[NBITS / 8];
	int in_want;

	memset(bm, 0xa5, sizeof(bm));	/* stale bits must be cleared */
	assert_int_equal(sampler__parse_cpu_list(s, bm, NBITS), (int)nwant);
	for (unsigned int cpu = 0; cpu < NBITS; cpu++) {
		in_want = 0;
		for (size_t i = 0; i < nwant; i++)
			in_want |= want[i] == cpu;
		if (is_set(bm, cpu) != in_want)
			fail_msg("'%s': cpu %u is %s", s, cpu, in_want ? "missing" : "extra");
	}
}

#define EXPECT(s, ...)                                                                \
	do {                                                                          \
		const unsigned int w_[] = { __VA_ARGS__ };                            \
		expect_cpus(s, w_, sizeof(w_) / sizeof(w_[0]));                       \
	} while (0)

static void expect_invalid(const char *s, size_t nbits)
{
	uint8_t bm[NBITS / 8];

	assert_true(nbits <= NBITS);
	if (sampler__parse_cpu_list(s, bm, nbits) != -EINVAL)
		fail_msg("'%s' (nbits %zu) should be -EINVAL", s, nbits);
}

/* The record layout: a walked sample (--unwind kernel) is its header and
 * its frames, nothing after them; only the copy mode puts stack bytes
 * after the whole frame array. tests/integration/test_walker.py checks the
 * bytes the agent receives against the same header size. */
static void test_record_layout_has_no_stack_in_walked_records(void **state)
{
	(void)state;
	assert_int_equal(IGNIS_SAMPLE_HDR_LEN, 112);
	assert_int_equal(offsetof(struct ignis_sample, frames), IGNIS_SAMPLE_HDR_LEN);
	assert_int_equal(IGNIS_SAMPLE_FRAMES, IGNIS_MAX_FRAMES + IGNIS_UNW_MAX_FRAMES);
	/* The frame array ends the struct: no field holds stack bytes. */
	assert_int_equal(sizeof(struct ignis_sample),
			 IGNIS_SAMPLE_HDR_LEN + IGNIS_SAMPLE_FRAMES * sizeof(__u64));
	assert_int_equal(IGNIS_SAMPLE_LEN(0), IGNIS_SAMPLE_HDR_LEN);
	assert_int_equal(IGNIS_SAMPLE_LEN(30), 112 + 240);
	/* The largest walked record is smaller than the struct, let alone
	 * one with the smallest stack copy. */
	assert_true(IGNIS_SAMPLE_LEN(IGNIS_SAMPLE_FRAMES) <= sizeof(struct ignis_sample));
	assert_true(IGNIS_SAMPLE_LEN(IGNIS_SAMPLE_FRAMES) < sizeof(struct ignis_sample) +
							     IGNIS_STACK_MIN);
}

static void test_cpu_list_single(void **state)
{
	(void)state;
	EXPECT("0", 0);
	EXPECT("0\n", 0);
	EXPECT("7", 7);
	EXPECT("63", 63);
}

static void test_cpu_list_ranges(void **state)
{
	(void)state;
	EXPECT("0-3", 0, 1, 2, 3);
	EXPECT("0-3,8,10-11\n", 0, 1, 2, 3, 8, 10, 11);
	EXPECT("5-5", 5);
	EXPECT("60-63", 60, 61, 62, 63);
	EXPECT("1,3,5,7", 1, 3, 5, 7);
	/* Out of order is still a set. */
	EXPECT("9,2-3,0", 0, 2, 3, 9);
}

static void test_cpu_list_all(void **state)
{
	uint8_t bm[NBITS / 8];

	(void)state;
	assert_int_equal(sampler__parse_cpu_list("0-63\n", bm, NBITS), 64);
	for (size_t i = 0; i < sizeof(bm); i++)
		assert_int_equal(bm[i], 0xff);
}

static void test_cpu_list_duplicates(void **state)
{
	(void)state;
	/* The count is of distinct CPUs. */
	EXPECT("1,1", 1);
	EXPECT("0-3,2-5", 0, 1, 2, 3, 4, 5);
	EXPECT("0-7,0-7,3", 0, 1, 2, 3, 4, 5, 6, 7);
}

static void test_cpu_list_empty(void **state)
{
	uint8_t bm[NBITS / 8];

	(void)state;
	/* An empty list is an empty set, as the kernel writes it (the
	 * "offline" file of a machine with every CPU online is "\n"). The
	 * sampler then finds no CPU and says so. */
	memset(bm, 0xff, sizeof(bm));
	assert_int_equal(sampler__parse_cpu_list("", bm, NBITS), 0);
	for (size_t i = 0; i < sizeof(bm); i++)
		assert_int_equal(bm[i], 0);
	assert_int_equal(sampler__parse_cpu_list("\n", bm, NBITS), 0);
}

static void test_cpu_list_trailing(void **state)
{
	(void)state;
	/* A trailing comma is tolerated (the kernel's own parser skips
	 * commas); text after the newline is not part of the list. */
	EXPECT("0-3,", 0, 1, 2, 3);
	EXPECT("0-1,\n", 0, 1);
	EXPECT("2\n3", 2);
}

static void test_cpu_list_invalid(void **state)
{
	(void)state;
	expect_invalid("a", NBITS);
	expect_invalid("x0", NBITS);
	expect_invalid("0a", NBITS);
	expect_invalid("3-1", NBITS);
	expect_invalid("0-", NBITS);
	expect_invalid("0-\n", NBITS);
	expect_invalid("-1", NBITS);
	expect_invalid("-", NBITS);
	expect_invalid(",", NBITS);
	expect_invalid(",0", NBITS);
	expect_invalid("0,,1", NBITS);
	expect_invalid("0;1", NBITS);
	expect_invalid("0-3-5", NBITS);
	expect_invalid("0 1", NBITS);
	expect_invalid("1-a", NBITS);
	expect_invalid("99999999999999999999999999", NBITS);
	expect_invalid("0-99999999999999999999999999", NBITS);
}

static void test_cpu_list_out_of_range(void **state)
{
	uint8_t bm[NBITS / 8];

	(void)state;
	expect_invalid("64", NBITS);
	expect_invalid("0-64", NBITS);
	expect_invalid("1,4096", NBITS);
	expect_invalid("8", 8);
	expect_invalid("0", 0);
	/* The last bit of a short bitmap, and nothing past it. */
	assert_int_equal(sampler__parse_cpu_list("7", bm, 8), 1);
	assert_int_equal(bm[0], 0x80);
	assert_int_equal(sampler__parse_cpu_list("0-9", bm, 10), 10);
	assert_int_equal(bm[0], 0xff);
	assert_int_equal(bm[1], 0x03);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_layout_has_no_stack_in_walked_records),
		cmocka_unit_test(test_cpu_list_single),
		cmocka_unit_test(test_cpu_list_ranges),
		cmocka_unit_test(test_cpu_list_all),
		cmocka_unit_test(test_cpu_list_duplicates),
		cmocka_unit_test(test_cpu_list_empty),
		cmocka_unit_test(test_cpu_list_trailing),
		cmocka_unit_test(test_cpu_list_invalid),
		cmocka_unit_test(test_cpu_list_out_of_range),
	};

	return cmocka_run_group_tests_name("sampler cpu list", tests, NULL, NULL) ? 1 : 0;
}
