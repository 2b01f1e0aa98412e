/* Kernel symbols from <proc_root>/kallsyms, modules included. */
#ifndef IGNIS_SYM_KALLSYMS_H
#define IGNIS_SYM_KALLSYMS_H

#include <stdint.h>

struct kallsyms;

/* Reads <proc_root>/kallsyms ("/proc" on a real system). NULL and errno set;
 * EPERM when every address reads as zero (kptr_restrict, not root). */
struct kallsyms *kallsyms__load(const char *proc_root);
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
