/* CPython code objects read from another process's memory: the struct
 * layouts per minor version (3.8 to 3.13), the names and file of a code
 * object, and its line table (co_lnotab up to 3.9, the 3.10 line table,
 * the 3.11+ location table). Nothing here trusts what it reads: lengths
 * are bounded, strings checked, tables decoded within their bytes. */
#ifndef IGNIS_SYM_PYCODE_H
#define IGNIS_SYM_PYCODE_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/interp.h"

/* Longest name or file name read; longer ones are cut. */
#define PYCODE_MAX_STR 1024
/* Largest line table read; a code object with a larger one gets no lines. */
#define PYCODE_MAX_LINETABLE (256 * 1024)

struct pycode_layout {
	int minor;                    /* 3.minor */
	struct ignis_py_offsets bpf;  /* what the BPF walker reads */
	uint16_t code_name, code_qualname, code_filename, code_linetable, code_firstlineno;
	uint16_t unicode_length, unicode_state, ascii_data, compact_data;
};

/* The layout of CPython 3.minor, NULL when it is not supported. */
const struct pycode_layout *pycode__layout(int minor);

/* Reads len bytes at addr of the process: 0 or -errno. */
typedef int (*pycode_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

struct pycode {
	char *name;        /* co_qualname (3.11+), else co_name */
	char *file;        /* co_filename */
	int32_t firstlineno;
	uint8_t *linetable;
	size_t linetable_len;
};

/* Reads the code object at addr. type_addr, when not 0, is PyCode_Type in
 * the process: an object of another type is refused (-EINVAL). 0 or
 * -errno; out is cleared on failure. */
int pycode__read(const struct pycode_layout *l, pycode_read_fn rd, void *ctx, uint64_t addr,
		 uint64_t type_addr, struct pycode *out);
void pycode__clear(struct pycode *c);

/* The source line of the instruction at off (the walker's offset: bytes
 * into the bytecode, 3.10 code units), 0 when the table does not say. */
uint32_t pycode__line(const struct pycode_layout *l, const struct pycode *c, uint32_t off);

#endif
