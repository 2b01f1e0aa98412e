/* Growable arrays: the caller keeps a typed pointer, a length and a
 * capacity (three fields, no wrapper struct, so elements are plain
 * T[] to index and to hand out), and asks for room before appending. */
#ifndef IGNIS_ARRAY_H
#define IGNIS_ARRAY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Elements of a true array (not a pointer). */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Starting capacity of an empty array. */
#define ARRAY_MIN_CAP 16

/* Makes *items (of *cap elements of elem bytes) hold at least need
 * elements: the capacity doubles from ARRAY_MIN_CAP until it does, so
 * appending one at a time is amortized O(1). Existing elements are kept
 * (they may move); on failure nothing changes. Returns 0, or -ENOMEM
 * (also when the size would overflow). */
int array__reserve(void **items, size_t *cap, size_t need, size_t elem);
/* The same with the capacity of an empty array chosen: for arrays that
 * start large (a symbol table) or small. */
int array__reserve_from(void **items, size_t *cap, size_t need, size_t elem, size_t first);

/* The same for a typed pointer: ARRAY_RESERVE(p->strs, &p->strs_cap, n + 1). */
#define ARRAY_RESERVE(arr, capp, need) \
	array__reserve((void **)&(arr), (capp), (need), sizeof(*(arr)))
#define ARRAY_RESERVE_FROM(arr, capp, need, first) \
	array__reserve_from((void **)&(arr), (capp), (need), sizeof(*(arr)), (first))

/* In n elements of elem bytes sorted by the uint64_t at key_off, the
 * index just past the last one whose key is at most key (0 when none is):
 * element [result - 1] is the one "starting at or before" an address.
 * Inline: the symbolizers look up every distinct address this way. */
static inline size_t array__upper_bound_u64(const void *items, size_t n, size_t elem,
					    size_t key_off, uint64_t key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t k;

		memcpy(&k, (const char *)items + mid * elem + key_off, sizeof(k));
		if (k <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The same over a typed array and the name of its key field. */
#define ARRAY_UPPER_BOUND(arr, n, field, key)                                      \
	array__upper_bound_u64((arr), (n), sizeof(*(arr)), offsetof(__typeof__(*(arr)), field), \
			       (key))

#endif
