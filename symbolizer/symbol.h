/* What a symbolizer says about one code address: the function that holds
 * it and, when debug info knows, the chain of inlined calls at that spot. */
#ifndef IGNIS_SYM_SYMBOL_H
#define IGNIS_SYM_SYMBOL_H

#include <stdint.h>

/* Longest inline chain reported for one address; deeper chains keep their
 * innermost frames and the outermost function. */
#define SYM_MAX_FRAMES 16

/* One frame. Strings are owned by the reader that produced them and stay
 * valid until that reader is freed (for the bincache: until bincache__trim). */
struct sym_frame {
	const char *name;         /* for display: demangled, never NULL */
	const char *system_name;  /* as in the binary when that differs from name, else NULL */
	const char *file;         /* source file, NULL when unknown */
	uint32_t line;            /* source line of the address (for an inlined
	                           * frame's caller: of the call), 0 when unknown */
	uint32_t start_line;      /* line where the function is declared, 0 when unknown */
};

#endif
