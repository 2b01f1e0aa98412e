/* A workload built without frame pointers whose time goes into libm and
 * libc (sin/cos, qsort calling back into us, memcpy), under three levels of
 * its own functions. Wall time is sliced 2:1:1 between the three phases, so
 * a profiler must find phase_trig under about half the samples and
 * phase_sort and phase_copy under a quarter each, all below main.
 * With IGNIS_WORK_FILE set it counts its blocks of work per phase there
 * (work_count.h: 0 trig, 1 sort, 2 copy), for bench/machine --lost-work.
 * usage: libs_nofp SECONDS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "work_count.h"

#define SLICE_MS 10

static volatile double dsink;
static volatile int isink;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) static void phase_trig(double ms)
{
	double end = now_ms() + ms, acc = 0, x = 0.1;

	do {
		for (int i = 0; i < 2000; i++) {
			acc += sin(x) * cos(x);
			x += 0.001;
		}
		WORK_DONE(0);
	} while (now_ms() < end);
	dsink = acc;
}

__attribute__((noinline)) static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

__attribute__((noinline)) static void phase_sort(double ms)
{
	static int v[4096];
	double end = now_ms() + ms;
	unsigned int seed = 1;

	do {
		for (int i = 0; i < 4096; i++)
			v[i] = rand_r(&seed);
		qsort(v, 4096, sizeof(v[0]), cmp_int);
		WORK_DONE(1);
	} while (now_ms() < end);
	isink = v[17];
}

__attribute__((noinline)) static void phase_copy(double ms)
{
	static char a[1 << 20], b[1 << 20];
	double end = now_ms() + ms;

	do {
		for (int i = 0; i < 8; i++) {
			memcpy(b, a, sizeof(a));
			a[i] = b[i + 1];
		}
		WORK_DONE(2);
	} while (now_ms() < end);
	isink = b[3];
}

__attribute__((noinline)) static void level2(void)
{
	phase_trig(2 * SLICE_MS);
	phase_sort(SLICE_MS);
	phase_copy(SLICE_MS);
}

__attribute__((noinline)) static void level1(double seconds)
{
	double end = now_ms() + seconds * 1e3;

	while (now_ms() < end)
		level2();
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;

	if (seconds <= 0) {
		fprintf(stderr, "usage: libs_nofp SECONDS\n");
		return 2;
	}
	work_open();
	level1(seconds);
	return 0;
}
