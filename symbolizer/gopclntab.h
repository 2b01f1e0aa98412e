/* Names, file:line and inlined frames for Go code from the runtime's own
 * function table (.gopclntab), which stripped Go binaries (-ldflags=-s -w)
 * keep: they have no .symtab and no DWARF. Formats of Go 1.2-1.15
 * (names and lines), 1.16/1.17, 1.18/1.19 and 1.20+ (inlining too). */
#ifndef IGNIS_SYM_GOPCLNTAB_H
#define IGNIS_SYM_GOPCLNTAB_H

#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolizer/symbol.h"

struct gopclntab;

/* elf: borrowed libelf handle of the binary, kept open by the caller for
 * the reader's lifetime (frames point into its section data). NULL and
 * errno: ENOENT when the binary has no Go function table, ENOEXEC when it
 * is malformed or of a format we do not know. */
struct gopclntab *gopclntab__open(Elf *elf);

/* The same over the bytes of a function table alone (borrowed, kept by the
 * caller): section_vaddr is its link-time address, text_vaddr stands in
 * for runtime.text when the table does not record it (Go 1.26+). Inline
 * trees are out of reach until gopclntab__set_gofunc says where they are. */
struct gopclntab *gopclntab__open_mem(const void *data, size_t size, uint64_t section_vaddr,
				      uint64_t text_vaddr);

/* Where Go 1.18+ FUNCDATA offsets count from (moduledata.gofunc); for a
 * table from gopclntab__open_mem, whose inline trees can then only be read
 * from the table itself (as Go 1.26 lays them out). For tests and fuzzing. */
void gopclntab__set_gofunc(struct gopclntab *g, uint64_t gofunc);

void gopclntab__free(struct gopclntab *g);

/* vaddr: link-time address. Fills out[0..n) innermost first: inlined calls,
 * then the function itself (names as Go prints them, system_name NULL,
 * file and line when the table has them); when max is short, the innermost
 * frames and the function. n, or -ENOENT when no function covers vaddr,
 * -ENOEXEC when its entry is corrupt, -EINVAL for max 0. The first lookups
 * that meet inline trees make libelf load the section holding them: not
 * safe to call on one reader from two threads at once. */
int gopclntab__lookup(struct gopclntab *g, uint64_t vaddr, struct sym_frame *out, size_t max);

/* ---- the function table itself, for the unwind-table compiler ---------- */

/* _func.flag (Go 1.18+; 0 in older layouts, where 1.16 and 1.17 share a
 * magic but not the field): the runtime's own traceback stops at TOPFRAME
 * functions (goexit, mstart, rt0_go) and cannot trust the SP delta of an
 * SPWRITE one past its innermost frame. */
#define GOPCLNTAB_FLAG_TOPFRAME 0x1
#define GOPCLNTAB_FLAG_SPWRITE 0x2
#define GOPCLNTAB_FLAG_ASM 0x4

struct gopclntab_func {
	uint64_t entry, end;  /* link-time [entry, end): up to the next entry */
	const char *name;     /* NULL when the table's name is unreadable */
	uint8_t flag;         /* GOPCLNTAB_FLAG_* */
};

/* Functions in the table, sorted by entry (checked at open). */
size_t gopclntab__nfunc(const struct gopclntab *g);

/* Function i: 0, -ERANGE past the last, -ENOEXEC when its header is
 * unreadable. */
int gopclntab__func(const struct gopclntab *g, size_t i, struct gopclntab_func *f);

/* Called for each run of the function's pcsp table in pc order: the SP
 * delta (bytes below the SP at entry, not counting the return address) is
 * spdelta over [start, end). A nonzero return stops the walk and is
 * returned. */
typedef int (*gopclntab_pcsp_fn)(void *arg, uint64_t start, uint64_t end, int32_t spdelta);

/* The pcsp runs of function i, clipped to [entry, end): the table may stop
 * before end (padding after the code has none). 0, fn's nonzero return,
 * -ERANGE for a bad i, -ENOENT when the function has no table (C code of
 * a cgo binary linked by Go's own linker), -ENOEXEC when the table is
 * corrupt (the runs given before stand, as far as they go). */
int gopclntab__pcsp(const struct gopclntab *g, size_t i, gopclntab_pcsp_fn fn, void *arg);

/* ---- where Go's traceback ends a stack ----------------------------------- */

/* The functions of elf's table where Go's own traceback ends a stack: the
 * TOPFRAME ones (goexit, mstart, rt0_go) and, past their own frame, the
 * SPWRITE ones, which move SP by hand (mcall, systemstack, morestack, gogo,
 * time.now). Their CFI and frame pointers do not know the switch: what a
 * walk finds past them is another stack (past mcall on g0, the goroutine
 * just stopped) or stale words. NULL when elf has no Go function table (or
 * an unreadable one) or on allocation failure: no stops. */
struct gopclntab_stops;
struct gopclntab_stops *gopclntab__stops(Elf *elf);
void gopclntab_stops__free(struct gopclntab_stops *s);
/* GOPCLNTAB_FLAG_TOPFRAME or GOPCLNTAB_FLAG_SPWRITE (with the function's
 * other flags) for the function holding link-time address vaddr, 0 when it
 * is none of them. s may be NULL. */
uint8_t gopclntab_stops__at(const struct gopclntab_stops *s, uint64_t vaddr);

/* Memory held: the reader and the section data it made libelf load. */
size_t gopclntab__bytes(const struct gopclntab *g);

/* "go1.2", "go1.16", "go1.18" or "go1.20": the table's layout, for logs. */
const char *gopclntab__format(const struct gopclntab *g);

#endif
