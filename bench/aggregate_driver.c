/* What the agent's intake costs per sample in the aggregate
 * (sampling/aggregate.c's aggregate__add_labeled), the way the running
 * agent meets it: samples arrive in batches (the ring buffer wakes the
 * agent every half second of samples), and between batches the workloads
 * run on the same CPUs and evict the aggregate's index and stacks from the
 * caches. So each round writes over a buffer larger than the last-level
 * cache, then adds one batch of samples drawn from a fixed set of distinct
 * stacks. Prints ns a sample, the fastest of the rounds' medians.
 *
 * usage: aggregate_driver [STACKS [FRAMES [BATCH]]]
 *   STACKS distinct stacks (2000: libs_nofp's per 15 s interval),
 *   FRAMES user frames a stack (12), BATCH samples between evictions (1000). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "sampling/aggregate.h"

#define ROUNDS 200
#define REPEATS 5
#define EVICT_BYTES (64u << 20)

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	size_t nstacks = argc > 1 ? strtoul(argv[1], NULL, 0) : 2000;
	size_t frames = argc > 2 ? strtoul(argv[2], NULL, 0) : 12;
	size_t batch = argc > 3 ? strtoul(argv[3], NULL, 0) : 1000;
	/* Stand-ins for the bincache's binaries: only their addresses are
	 * compared and hashed. */
	static char bins[4];
	struct agg_frame *stacks;
	unsigned char *evict;
	int64_t t[ROUNDS], best = INT64_MAX;
	volatile unsigned char sink = 0;

	if (!nstacks || !frames || frames > 256 || !batch) {
		fprintf(stderr, "usage: aggregate_driver [STACKS [FRAMES [BATCH]]]\n");
		return 2;
	}
	srandom(1);  /* the same stacks and order every run */
	stacks = calloc(nstacks * frames, sizeof(*stacks));
	evict = malloc(EVICT_BYTES);
	if (!stacks || !evict)
		return 1;
	/* Stacks share their root frames, as a program's do. */
	for (size_t s = 0; s < nstacks; s++)
		for (size_t f = 0; f < frames; f++)
			stacks[s * frames + f] = (struct agg_frame){
				(struct binary *)&bins[f % 4],
				f + 1 >= frames ? 0x1000 : ((uint64_t)random() & 0xfffff),
			};
	for (int rep = 0; rep < REPEATS; rep++) {
		struct aggregate *a = aggregate__new();

		if (!a)
			return 1;
		for (int r = 0; r < ROUNDS; r++) {
			int64_t t0;

			memset(evict, r + rep, EVICT_BYTES);
			sink ^= evict[(r * 4099) % EVICT_BYTES];
			t0 = clock__monotonic_ns();
			for (size_t i = 0; i < batch; i++) {
				size_t s = (size_t)random() % nstacks;

				if (aggregate__add_labeled(a, 0, 4242, 0, "libs_nofp", NULL, 0,
							   &stacks[s * frames], frames, NULL, 0, 1))
					return 1;
			}
			t[r] = clock__monotonic_ns() - t0;
		}
		qsort(t, ROUNDS, sizeof(t[0]), cmp_i64);
		if (t[ROUNDS / 2] < best)
			best = t[ROUNDS / 2];
		printf("repeat %d: %zu stacks held, median %.1f ns a sample\n", rep,
		       aggregate__stacks(a), (double)t[ROUNDS / 2] / batch);
		aggregate__free(a);
	}
	printf("| stacks | frames | batch | ns a sample (fastest median of %d) |\n|---|---|---|---|\n"
	       "| %zu | %zu | %zu | %.1f |\n",
	       REPEATS, nstacks, frames, batch, (double)best / batch);
	free(stacks);
	free(evict);
	(void)sink;
	return 0;
}
