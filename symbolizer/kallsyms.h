/* Kernel symbols, modules included: from <proc_root>/kallsyms, or asked of
 * the running kernel address by address (kallsyms__open_live). */
#ifndef IGNIS_SYM_KALLSYMS_H
#define IGNIS_SYM_KALLSYMS_H

#include <stdint.h>

struct kallsyms;

/* Reads <proc_root>/kallsyms ("/proc" on a real system). NULL and errno set;
 * EPERM when every address reads as zero (kptr_restrict, not root). */
struct kallsyms *kallsyms__load(const char *proc_root);
/* The running kernel's symbols without reading /proc/kallsyms: each
 * distinct address is asked of the kernel once (a BPF program's %pB,
 * about 2 us) and remembered. 50 ms of system time less at start-up than
 * kallsyms__load, and no table of every symbol in memory. NULL and errno
 * set where the kernel or the caller's privileges do not allow it. */
struct kallsyms *kallsyms__open_live(void);
void kallsyms__free(struct kallsyms *k);

/* Name of the symbol that holds addr, or NULL. *off is addr's distance from
 * the symbol; *module the module name (NULL for the core kernel). Either
 * out pointer may be NULL. */
const char *kallsyms__lookup(const struct kallsyms *k, uint64_t addr, uint64_t *off,
			     const char **module);
/* [*start, *end) of the first symbol called name: from its address to
 * where the next one starts (or where lookups stop naming it). 0, or
 * -ENOENT. Scans every symbol: for start-up, not per sample. */
int kallsyms__range(const struct kallsyms *k, const char *name, uint64_t *start, uint64_t *end);
/* Lowest symbol address: where the [kernel.kallsyms] mapping starts. */
uint64_t kallsyms__min_addr(const struct kallsyms *k);

#endif
