/* The heap kept between bursts: what it spares is page faults, counted by
 * the kernel (getrusage's minor faults), next to glibc's defaults in a
 * child that never tuned them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/heap.h"

#define BURST (8u << 20)
#define PAGES (BURST / 4096)

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Faults taken by a burst: BURST bytes allocated and written, then freed. */
static long burst(void)
{
	long before = minor_faults();
	volatile char *p = malloc(BURST);

	assert_non_null((void *)p);
	/* volatile: the compiler may not drop writes to memory freed unread */
	for (size_t i = 0; i < BURST; i += 4096)
		p[i] = 1;
	free((void *)p);
	return minor_faults() - before;
}

/* Runs fn(out) in a child, whose heap is a copy of this process's, and
 * brings back its len bytes of out. */
static void in_child(void (*fn)(void *out), void *out, size_t len)
{
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn(out);
		_exit(write(fds[1], out, len) == (ssize_t)len ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], out, len), (ssize_t)len);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Two bursts with glibc's defaults: the faults of the second. */
static void second_burst(void *out)
{
	burst();
	*(long *)out = burst();
}

static long default_second_burst(void)
{
	long faults = -1;

	in_child(second_burst, &faults, sizeof(faults));
	return faults;
}

static void test_kept_bursts_do_not_fault(void **state)
{
	long dflt, second;

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	/* The sanitizer's allocator takes no mallopt and keeps its own pages. */
	skip();
#endif
	/* glibc's defaults: the block gets a mapping of its own, unmapped at
	 * free, and every burst faults its pages in again. */
	dflt = default_second_burst();
	assert_true(dflt >= PAGES * 9 / 10);

	heap__keep_freed();
	burst();
	/* Kept: the second burst takes the pages the first freed. */
	second = burst();
	print_message("faults of the second %u MiB burst: glibc's defaults %ld, kept %ld\n",
		      BURST >> 20, dflt, second);
	assert_true(second < PAGES / 16);
}

/* The kernel's count of huge-page faults that fell back to 4 KiB pages. */
static long thp_fallbacks(void)
{
	char line[128];
	long n = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "thp_fault_fallback %ld", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

static bool thp_off(void)
{
	char line[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		fclose(f);
	}
	return !f || strstr(line, "[never]");
}

/* In a child: heap__reserve_huge (or, huge false, heap__keep_freed alone),
 * then an 8 MiB burst: the burst's faults, and whether the kernel fell
 * back to small pages meanwhile. */
struct huge_result {
	int err;
	int fell_back;
	long faults;
};

static void reserved_burst_in(struct huge_result *r, bool huge)
{
	long fb = thp_fallbacks();

	if (huge)
		r->err = heap__reserve_huge(30u << 20);
	else
		heap__keep_freed();
	r->faults = burst();
	r->fell_back = thp_fallbacks() != fb;
}

static void huge_burst(void *out)
{
	reserved_burst_in(out, true);
}

static void small_burst(void *out)
{
	reserved_burst_in(out, false);
}

static void reserved_burst(bool huge, struct huge_result *r)
{
	memset(r, 0, sizeof(*r));
	in_child(huge ? huge_burst : small_burst, r, sizeof(*r));
}

/* Runs first, while this process's heap is still fresh (the children
 * inherit it). */
static void test_reserved_heap_faults_per_huge_page(void **state)
{
	struct huge_result small, r;

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();
#endif
	/* The same burst on 4 KiB pages: a fault a page, so the burst
	 * touches memory nothing touched before. */
	reserved_burst(false, &small);
	assert_true(small.faults >= PAGES * 9 / 10);
	reserved_burst(true, &r);
	if (r.err == -EINVAL && thp_off()) {
		print_message("transparent huge pages are off on this kernel: not checked\n");
		skip();
	}
	assert_int_equal(r.err, 0);
	if (r.fell_back) {
		print_message("the kernel had no free huge page for the burst: faults not checked\n");
		skip();
	}
	print_message("faults of an %u MiB burst: 4 KiB pages %ld, reserved heap %ld\n",
		      BURST >> 20, small.faults, r.faults);
	assert_true(r.faults <= 16);
}

static void test_reserve_refuses_bad_sizes(void **state)
{
	(void)state;
	assert_int_equal(heap__reserve_huge(0), -EINVAL);
	assert_int_equal(heap__reserve_huge(1u << 20), -EINVAL);
	assert_int_equal(heap__reserve_huge(32u << 20), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reserved_heap_faults_per_huge_page),
		cmocka_unit_test(test_kept_bursts_do_not_fault),
		cmocka_unit_test(test_reserve_refuses_bad_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
