/* A workload with a known profile: main → run → parent → {leaf_a, leaf_b},
 * where leaf_a does twice the work of leaf_b, so with frame pointers a
 * profiler must see leaf_a:leaf_b ≈ 2:1, both under parent.
 * usage: split SECONDS */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;


/* The loops are in the leaves themselves, so samples land in them. */
__attribute__((noinline)) void leaf_a(unsigned long n)
{
	unsigned long x = sink;

	for (unsigned long i = 0; i < 2 * n; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	sink = x;
}

__attribute__((noinline)) void leaf_b(unsigned long n)
{
	unsigned long x = sink;

	for (unsigned long i = 0; i < n; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	sink = x;
}

__attribute__((noinline)) void parent(unsigned long n)
{
	leaf_a(n);
	leaf_b(n);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Each call's length varies (leaf_a still does twice leaf_b's work in
 * it): with a fixed length, the loop's period and the sampling timer's
 * could keep in step for seconds and land samples in one leaf more often
 * than its share (199 Hz, 4 s: leaf_a:leaf_b from 1.83 to 2.60). */
__attribute__((noinline)) void run(double seconds)
{
	double end = now() + seconds;
	unsigned long r = 1;

	while (now() < end) {
		r = r * 6364136223846793005UL + 1442695040888963407UL;
		parent(100000 + (r >> 33) % 200000);
	}
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;

	if (seconds <= 0) {
		fprintf(stderr, "usage: split SECONDS\n");
		return 2;
	}
	run(seconds);
	return 0;
}
