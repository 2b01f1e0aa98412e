/* Kernel symbols asked of the running kernel one address at a time
 * (bpf/ksym.bpf.c), for kallsyms.c; see kallsyms__open_live(). */
#ifndef IGNIS_SYM_KALLSYMS_LIVE_H
#define IGNIS_SYM_KALLSYMS_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ksym_live;

/* Loads the programs. NULL and errno set (the kernel lacks the helpers, or
 * the caller may not load BPF). */
struct ksym_live *ksym_live__open(void);
void ksym_live__free(struct ksym_live *l);

/* As kallsyms__lookup; answers are cached, and names stay valid until
 * ksym_live__free. */
const char *ksym_live__lookup(struct ksym_live *l, uint64_t addr, uint64_t *off,
			      const char **module);
/* As kallsyms__range: [*start, *end) of the symbol called name. */
int ksym_live__range(struct ksym_live *l, const char *name, uint64_t *start, uint64_t *end);
/* Where the kernel's text starts (_stext). */
uint64_t ksym_live__min_addr(const struct ksym_live *l);

/* One answer of the %pB conversion, "name+0xoff/0xsize [module]" (the
 * module part only for a module), parsed into its parts: name and module
 * are spans of text (module_len 0 for the core kernel). False for
 * anything else, such as the bare address printed when no symbol holds it.
 * Exposed for its unit test. */
struct ksym_text {
	const char *name, *module;
	size_t name_len, module_len;
	uint64_t off, size;
};
bool ksym_live__parse(const char *text, struct ksym_text *out);

#endif
