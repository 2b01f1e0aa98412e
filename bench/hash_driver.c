/* What hashing a key costs: hash_words (base/hashmap.h) over the lengths
 * ignis hashes once a sample or a frame (a frame's 16 bytes, names, stacks
 * of 10 to 28 frames of 16 bytes), in ns a call, median of 5 rounds of
 * 2,000,000 calls each. bench/README.md has the figures.
 *
 * usage: hash_driver */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/hashmap.h"

#define CALLS 2000000
#define ROUNDS 5

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	static const size_t lens[] = { 16, 40, 100, 160, 320, 448 };
	static unsigned char buf[512];
	volatile uint64_t sink = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	printf("| bytes | ns a call |\n|---|---|\n");
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		double ns[ROUNDS];

		for (int r = 0; r < ROUNDS; r++) {
			double t0 = now_s();

			/* a byte that changes each call: no call is the last one's */
			for (int i = 0; i < CALLS; i++) {
				buf[i & 15] ^= 1;
				sink += hash_words(HASH_SEED, buf, lens[k]);
			}
			ns[r] = (now_s() - t0) / CALLS * 1e9;
		}
		qsort(ns, ROUNDS, sizeof(ns[0]), cmp_double);
		printf("| %zu | %.1f |\n", lens[k], ns[ROUNDS / 2]);
	}
	return sink == 42;  /* keeps the calls; never 42 in practice */
}
