/* Recurses 1000 frames deep and spins at the bottom: deeper than any stack
 * copy, so a profiler must cut the stack cleanly (a [truncated] frame), not
 * crash or loop. usage: recurse_nofp SECONDS [DEPTH] (DEPTH: 1000; bench/machine
 * --depth uses a shallower one to time walks of a given length). With
 * IGNIS_WORK_FILE set it counts its blocks of work there (work_count.h,
 * kind 0), for bench/machine --lost-work. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "work_count.h"

static volatile unsigned long sink;

__attribute__((noinline)) static void bottom(time_t end)
{
	while (time(NULL) < end) {
		for (unsigned long i = 0; i < 1000000; i++)
			sink = sink * 31 + i;
		WORK_DONE(0);
	}
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
	int depth = argc > 2 ? atoi(argv[2]) : 1000;

	if (seconds <= 0 || depth < 0) {
		fprintf(stderr, "usage: recurse_nofp SECONDS [DEPTH]\n");
		return 2;
	}
	work_open();
	return (int)recurse(depth, time(NULL) + (time_t)seconds + 1) == 0;
}
