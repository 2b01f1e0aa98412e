/* Unwind tables compiled in userspace from a binary's call frame
 * information: .eh_frame (through .eh_frame_hdr where present),
 * .debug_frame (the binary's or its separate debug file's) and, for Go,
 * .gopclntab's pcsp tables. One table per binary identity; the BPF walker
 * reads it from maps (bpf/unwind.h, unwinder/unwstore.h).
 *
 * Rows are sorted by pc and never overlap; each names a rule from the
 * table's own deduplicated rule list. A pc range the sources do not cover
 * has no row (the walker then falls back to frame pointers, marked). */
#ifndef IGNIS_UNWTABLE_H
#define IGNIS_UNWTABLE_H

#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/unwind.h"

struct unw_table;

/* Why rows were refused or cut; each is counted, none stops the table. */
struct unw_table_stats {
	uint64_t fdes;          /* FDEs read */
	uint64_t rows;          /* rows kept */
	uint64_t rules;         /* distinct rules */
	uint64_t unexpressible; /* rows whose rule the walker cannot apply (CFA_INVALID rows) */
	uint64_t bad_fdes;      /* FDEs libdw refused or that were malformed */
	uint64_t overlaps;      /* FDEs overlapping an earlier one (the first wins) */
	uint64_t cut;           /* rows dropped past the row limit */
	uint64_t go_funcs;      /* functions described from .gopclntab */
};

/* elf: the binary, borrowed; debug: its separate debug file or NULL, for
 * .debug_frame. max_rows bounds the table (0: IGNIS_UNW_MAX_ROWS). NULL and
 * errno: ENOENT when neither has call frame information, ENOEXEC when it
 * is unusable, E2BIG when the binary's addresses do not fit the row format,
 * ENOMEM. */
struct unw_table *unw_table__compile(Elf *elf, Elf *debug, size_t max_rows);
void unw_table__free(struct unw_table *t);

size_t unw_table__nrows(const struct unw_table *t);
const struct ignis_unw_row *unw_table__rows(const struct unw_table *t);
/* Rules indexed by ignis_unw_row.rule (a table-local index). */
size_t unw_table__nrules(const struct unw_table *t);
const struct ignis_unw_rule *unw_table__rules(const struct unw_table *t);
void unw_table__stats(const struct unw_table *t, struct unw_table_stats *s);
/* Bytes held. */
size_t unw_table__bytes(const struct unw_table *t);

/* The row covering pc (link-time address), NULL when none does. */
const struct ignis_unw_row *unw_table__find(const struct unw_table *t, uint64_t pc);

#endif
