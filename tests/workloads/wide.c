/* A workload whose samples land on tens of thousands of distinct
 * instructions (a long run of nops in one function), so one interval's
 * profile has more distinct stacks than an intake takes in one profile.
 * usage: wide SECONDS */
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) void sled(void)
{
	__asm__ volatile(".rept 100000\n\tnop\n\t.endr");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 10);

	while (now() < end)
		for (int i = 0; i < 100; i++)
			sled();
	return 0;
}
