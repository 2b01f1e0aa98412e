/* Recurses 1000 frames deep and spins at the bottom: deeper than any stack
 * copy, so a profiler must cut the stack cleanly (a [truncated] frame), not
 * crash or loop. usage: recurse_nofp SECONDS */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) static void bottom(time_t end)
{
	while (time(NULL) < end)
		for (unsigned long i = 0; i < 1000000; i++)
			sink = sink * 31 + i;
}

__attribute__((noinline)) static unsigned long recurse(int depth, time_t end)
{
	volatile char pad[16] = { 0 };

	if (depth == 0)
		bottom(end);
	else
		sink += recurse(depth - 1, end);
	return pad[depth % 16] + 1;  /* keeps it from becoming a loop */
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;

	if (seconds <= 0) {
		fprintf(stderr, "usage: recurse_nofp SECONDS\n");
		return 2;
	}
	return (int)recurse(1000, time(NULL) + (time_t)seconds + 1) == 0;
}
