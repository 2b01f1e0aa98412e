/* The off-CPU setup the sampler derives from its options and the machine:
 * the sampling threshold and the tid slots sized from pid_max. The BPF
 * side is covered by tests/integration/test_offcpu.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bpf/offcpu.h"
#include "sampling/offcpu.h"
#include "tests/unit/support.h"

/* offcpu__tid_slots on a file holding text. */
static uint32_t slots_of(const char *text)
{
	char *dir = support__tmpdir("offcpu"), *path;
	uint32_t n;

	assert_non_null(dir);
	path = support__path(dir, "pid_max");
	assert_non_null(path);
	assert_int_equal(support__write_text(path, text), 0);
	n = offcpu__tid_slots(path);
	support__rmtree(dir);
	free(path);
	free(dir);
	return n;
}

static void test_tid_slots_follow_pid_max(void **state)
{
	(void)state;
	assert_int_equal(slots_of("32768\n"), 32768);
	assert_int_equal(slots_of("131072\n"), 131072);
}

/* systemd raises pid_max to 4194304: the array stops at the cap and the
 * tids above go to task-local storage. */
static void test_tid_slots_capped(void **state)
{
	(void)state;
	assert_int_equal(slots_of("4194304\n"), OFFCPU_TID_SLOTS_MAX);
}

static void test_tid_slots_unreadable_take_the_cap(void **state)
{
	(void)state;
	assert_int_equal(slots_of("junk\n"), OFFCPU_TID_SLOTS_MAX);
	assert_int_equal(slots_of("0\n"), OFFCPU_TID_SLOTS_MAX);
	assert_int_equal(offcpu__tid_slots("/nonexistent/pid_max"), OFFCPU_TID_SLOTS_MAX);
}

static void test_threshold(void **state)
{
	(void)state;
	assert_int_equal(offcpu__threshold(1), IGNIS_OFFCPU_PROB_ONE);
	assert_int_equal(offcpu__threshold(0), IGNIS_OFFCPU_PROB_ONE);  /* unset */
	assert_int_equal(offcpu__threshold(0.5), 0x80000000u);
	assert_int_equal(offcpu__threshold(0.1), 429496729u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tid_slots_follow_pid_max),
		cmocka_unit_test(test_tid_slots_capped),
		cmocka_unit_test(test_tid_slots_unreadable_take_the_cap),
		cmocka_unit_test(test_threshold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
