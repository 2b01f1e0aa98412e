/* Clock readings as plain integers: CLOCK_MONOTONIC for intervals,
 * deadlines and rate limits; CLOCK_REALTIME for what is shown or sent
 * (profile start times, file names). */
#ifndef IGNIS_CLOCK_H
#define IGNIS_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NSEC_PER_SEC 1000000000LL
#define NSEC_PER_MSEC 1000000LL

/* Nanoseconds on clock id (CLOCK_MONOTONIC, CLOCK_REALTIME, ...). */
int64_t clock__ns(clockid_t id);
static inline int64_t clock__monotonic_ns(void)
{
	return clock__ns(CLOCK_MONOTONIC);
}
static inline int64_t clock__realtime_ns(void)
{
	return clock__ns(CLOCK_REALTIME);
}
/* Milliseconds on CLOCK_MONOTONIC. */
static inline int64_t clock__monotonic_ms(void)
{
	return clock__ns(CLOCK_MONOTONIC) / NSEC_PER_MSEC;
}

/* The timespec ms milliseconds after now on clock id: an absolute
 * deadline for pthread_cond_timedwait and the like. */
struct timespec clock__deadline(clockid_t id, int64_t ms);

#endif
