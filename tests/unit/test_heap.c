/* The heap kept between bursts: what it spares is page faults, counted by
 * the kernel (getrusage's minor faults), next to glibc's defaults in a
 * child that never tuned them. */
#include <setjmp.h>
#include <stdarg.h>
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

/* Two bursts in a child with glibc's defaults: the faults of the second. */
static long default_second_burst(void)
{
	long faults = -1;
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		burst();
		faults = burst();
		_exit(write(fds[1], &faults, sizeof(faults)) == sizeof(faults) ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &faults, sizeof(faults)), sizeof(faults));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kept_bursts_do_not_fault),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
