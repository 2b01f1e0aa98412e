#include "heap.h"

#include <malloc.h>

/* glibc's ceiling for M_MMAP_THRESHOLD on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX). */
#define HEAP_MMAP_THRESHOLD (32u << 20)

void heap__keep_freed(void)
{
	/* Setting either also stops glibc's own adjustment of both. */
	mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, 2 * HEAP_MMAP_THRESHOLD);
}
