/* A count the BPF programs read before a per-process map lookup
 * (bpf/python.bpf.h interp_nprocs, bpf/golabels.bpf.h go_nprocs): the
 * agent counts up before it inserts an entry and down after it deletes
 * one, so the count is never 0 while the map has an entry. */
#ifndef IGNIS_SAMPLING_PROGCOUNT_H
#define IGNIS_SAMPLING_PROGCOUNT_H

#include <stdint.h>

/* c may be NULL (no program: unit tests). */
static inline void count_add(volatile uint32_t *c, int d)
{
	if (c)
		__atomic_fetch_add(c, (uint32_t)d, __ATOMIC_SEQ_CST);
}

#endif
