#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/backoff.h"

void rng__seed(struct rng *r)
{
	struct timespec ts;

	if (getrandom(&r->state, sizeof(r->state), GRND_NONBLOCK) == sizeof(r->state))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->state = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
		   (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)r;
}

uint64_t rng__next(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rng__bytes(void *buf, size_t n)
{
	unsigned char *b = buf;
	size_t got = 0;
	struct rng r;

	while (got < n) {
		ssize_t k = getrandom(b + got, n - got, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	if (got < n)
		rng__seed(&r);
	for (; got < n; got++)
		b[got] = (unsigned char)(rng__next(&r) >> 56);
}

uint64_t backoff__delay_ms(uint64_t min_ms, uint64_t max_ms, unsigned failures, struct rng *r)
{
	uint64_t cap = min_ms;

	if (max_ms < min_ms)
		max_ms = min_ms;
	for (unsigned i = 1; i < failures && cap < max_ms; i++)
		cap *= 2;
	if (cap > max_ms)
		cap = max_ms;
	return min_ms + rng__next(r) % (cap - min_ms + 1);
}
