#include "heap.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* glibc's ceiling for M_MMAP_THRESHOLD on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX). */
#define HEAP_MMAP_THRESHOLD (32u << 20)
#define HUGE_PAGE (2u << 20)
/* Below this, the 4 KiB pages ahead of the first huge one are left to use. */
#define HEAP_HEAD_MIN (64u << 10)
/* What glibc's default trim threshold and top pad may leave resident. */
#define HEAP_TOP_RESIDENT (256u << 10)

/* The block that fills the heap up to its first huge page, kept; volatile,
 * or the compiler may drop the malloc of a block that is only stored. */
static void *volatile heap_head;

void heap__keep_freed(void)
{
	/* Setting either also stops glibc's own adjustment of both. */
	mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, 2 * HEAP_MMAP_THRESHOLD);
}

int heap__reserve_huge(size_t bytes)
{
	uintptr_t start, end;
	void *p;

	if (bytes < 2 * HUGE_PAGE || bytes >= HEAP_MMAP_THRESHOLD)
		return -EINVAL;
	heap__keep_freed();
	/* One block from the heap's top grows the heap by its size; freed,
	 * it joins the top again, which stays (below the trim threshold).
	 * Only the block's header page is touched. */
	p = malloc(bytes);
	if (!p)
		return -ENOMEM;
	/* Pages of the top just past p may be resident from earlier use
	 * (glibc's defaults keep up to 128 KiB of top untrimmed, plus its
	 * 128 KiB pad), and a 2 MiB range with any page in it takes no huge
	 * page: the huge pages begin past them. */
	start = ((uintptr_t)p + HEAP_TOP_RESIDENT + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	free(p);
	end = (uintptr_t)sbrk(0) & ~(uintptr_t)(HUGE_PAGE - 1);
	/* A block of this size came from a mapping of its own when the
	 * heap could not grow (brk refused): nothing to advise then. */
	if ((uintptr_t)p > end || start >= end)
		return -ENOMEM;
	if (madvise((void *)start, end - start, MADV_HUGEPAGE))
		return -errno;
	/* The top now begins where p's chunk did, below the first huge page:
	 * a block that reaches up to it is taken and never used (nor
	 * touched past its header), so what comes next is carved from huge
	 * pages rather than from up to 2 MiB of 4 KiB ones. glibc's chunk
	 * begins two words before the pointer it gives and a request takes
	 * one word more than asked; a chunk of another size (another
	 * allocator) only moves where the huge pages begin. */
	if (start - (uintptr_t)p >= HEAP_HEAD_MIN)
		heap_head = malloc(start - (uintptr_t)p + sizeof(size_t));
	return 0;
}
