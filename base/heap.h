/* The process heap, kept rather than given back between bursts.
 *
 * A page the process touches for the first time costs a page fault. In a
 * guest whose faults go through the hypervisor (a PVM guest, like the
 * machine the benchmarks run on) that is about 13 µs a 4 KiB page, against
 * about 1 µs a page when the kernel fills a whole range in one call
 * (MADV_POPULATE_WRITE). glibc's defaults give every block past 128 KiB its
 * own mapping, unmapped at free, and give the heap's top back to the kernel
 * past 128 KiB, so every burst of allocation (the kernel's BTF read while
 * the programs load, then a flush's symbols, profile and encoders) faults its
 * pages in again.
 *
 * heap__keep_freed: blocks up to 32 MiB come from the heap, and freed
 * memory stays in it for the next burst. Memory goes back to the kernel
 * when the caller says so (malloc_trim, as the agent does after each
 * flush), never on its own. Call it before the first large allocation.
 *
 * heap__prefault: grows the heap by bytes of resident memory in one call
 * and frees it for the allocations to come (with heap__keep_freed, it stays
 * in the heap). Returns 0, or -errno when the kernel cannot fill a range at
 * once (before Linux 5.14): the memory then faults in as it is used, as
 * without this call. */
#ifndef IGNIS_HEAP_H
#define IGNIS_HEAP_H

#include <stddef.h>

void heap__keep_freed(void);
int heap__prefault(size_t bytes);

#endif
