/* The process heap, kept rather than given back between bursts.
 *
 * A page the process touches for the first time costs a page fault. In a
 * guest whose faults go through the hypervisor (a PVM guest, like the
 * machine the benchmarks run on) that is about 13 µs a 4 KiB page, and
 * filling a range ahead in one call (MADV_POPULATE_WRITE, 1 µs a page)
 * still leaves about 7 µs for the first read of each page. glibc's defaults
 * give every block past 128 KiB its own mapping, unmapped at free, and give
 * the heap's top back to the kernel past 128 KiB, so every burst of
 * allocation (the tables compiled at the start, then a flush's symbols,
 * profile and encoders) faults its pages in again.
 *
 * heap__keep_freed: blocks up to 32 MiB come from the heap, and freed
 * memory stays in it for the next burst. Memory goes back to the kernel
 * when the caller says so (malloc_trim, as the agent does after each
 * flush), never on its own. Call it before the first large allocation.
 *
 * heap__reserve_huge: keeps freed memory as heap__keep_freed does, grows
 * the heap's address space by 'bytes' at once (nothing is touched) and
 * asks the kernel for transparent huge pages there (MADV_HUGEPAGE, which
 * the kernel's default "madvise" mode honours): a burst that touches N MiB
 * of it faults N/2 times rather than 256 N. What the process touches is
 * then resident in 2 MiB steps, so it is for a process whose heap is
 * touched densely and lives briefly (a recording), not for the agent.
 * bytes: at least 4 MiB, below 32 MiB. Returns 0, -EINVAL, -ENOMEM (the
 * heap could not grow in place) or madvise's -errno (-EINVAL: the kernel
 * has no transparent huge pages); the heap works as before in every case. */
#ifndef IGNIS_HEAP_H
#define IGNIS_HEAP_H

#include <stddef.h>

void heap__keep_freed(void);
int heap__reserve_huge(size_t bytes);

#endif
