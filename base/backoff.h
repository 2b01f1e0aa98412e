/* Retry timing: one random generator and one backoff formula for every
 * client that retries (the Kubernetes watcher, the delivery workers).
 *
 * The generator is splitmix64 seeded from getrandom(2): jitter only needs
 * to decorrelate the agents of a node pool, not to be unpredictable. */
#ifndef IGNIS_BACKOFF_H
#define IGNIS_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

struct rng {
	uint64_t state;
};

/* Seeds from the kernel, or (no entropy yet) from the clock and the pid. */
void rng__seed(struct rng *r);
uint64_t rng__next(struct rng *r);
/* n bytes from the kernel, or (no entropy yet) from a seeded rng: for
 * identifiers that need only be unlikely to repeat (multipart boundaries,
 * UUIDs), never for secrets. */
void rng__bytes(void *buf, size_t n);

/* The wait before the next try after `failures` failures in a row (1 for
 * the first): exponential with full jitter, uniform between min_ms and
 * min_ms * 2^(failures-1) capped at max_ms. The floor keeps a dead server
 * from being hammered, the jitter spreads agents that failed together
 * (an API server or an intake restarting). max_ms below min_ms counts as
 * min_ms. */
uint64_t backoff__delay_ms(uint64_t min_ms, uint64_t max_ms, unsigned failures, struct rng *r);

#endif
