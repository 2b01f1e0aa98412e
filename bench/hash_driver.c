/* What hashing a key costs: hash_words (base/hashmap.h) over the lengths
 * ignis hashes once a sample or a frame (a frame's 16 bytes, names, stacks
 * of 10 to 28 frames of 16 bytes), in ns a call, the fastest of 5 rounds of
 * 2,000,000 calls each. bench/README.md has the figures.
 *
 * usage: hash_driver */
#include <stdint.h>
#include <stdio.h>

#include "base/clock.h"
#include "base/hashmap.h"

#define CALLS 2000000
#define ROUNDS 5

int main(void)
{
	static const size_t lens[] = { 16, 40, 100, 160, 320, 448 };
	static unsigned char buf[512];
	volatile uint64_t sink = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	printf("| bytes | ns a call |\n|---|---|\n");
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		int64_t best = INT64_MAX;

		for (int r = 0; r < ROUNDS; r++) {
			int64_t t0 = clock__monotonic_ns();

			/* a byte that changes each call: no call is the last one's */
			for (int i = 0; i < CALLS; i++) {
				buf[i & 15] ^= 1;
				sink += hash_words(HASH_SEED, buf, lens[k]);
			}
			t0 = clock__monotonic_ns() - t0;
			if (t0 < best)
				best = t0;
		}
		printf("| %zu | %.1f |\n", lens[k], (double)best / CALLS);
	}
	return sink == 42;  /* keeps the calls; never 42 in practice */
}
