/* Unwind tables compiled in userspace from a binary's call frame
 * information: .eh_frame (through .eh_frame_hdr where present),
 * .debug_frame (the binary's or its separate debug file's) and, for Go,
 * .gopclntab's pcsp tables. One table per binary identity; the BPF walker
 * reads it from maps (bpf/unwind.h, unwinder/unwstore.h).
 *
 * Rows are sorted by pc and never overlap; each names a rule from the
 * table's own deduplicated rule list, rule 0 being IGNIS_CFA_INVALID. Every
 * run of covered pcs ends with an INVALID row at its end, so a gap between
 * functions is not covered by the last rule before it; pcs below the first
 * row have no row (the walker then falls back to frame pointers, marked).
 *
 * Sources, the first wins where they overlap: .eh_frame, then .gopclntab
 * (Go's .debug_frame comes from the same pcsp tables but says nothing of
 * the saved BP), then .debug_frame of the binary, then of the debug file. */
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
	uint64_t unexpressible; /* rows the sources gave whose rule the walker cannot
				   apply (CFA_INVALID), before merging; as read: */
	uint64_t unexp_cfa;     /*   CFA on another register or an expression other
				     than the PLT's and a signal frame's */
	uint64_t unexp_ra;      /*   return address (or, in a signal frame, the
				     ucontext) not where the walker looks */
	uint64_t bad_fdes;      /* FDEs (Go: functions) libdw refused, that were
				   malformed, outside executable segments, or whose
				   rows libdw placed outside them */
	uint64_t bad_sections;  /* .eh_frame/.debug_frame/.gopclntab refused whole */
	uint64_t overlaps;      /* FDEs overlapping an earlier one of the same section
				   (the first wins) */
	uint64_t shadowed;      /* FDEs a preferred source covered already */
	uint64_t cut;           /* rows dropped past the row limit, plus FDEs cut
				   at the bound on rows per FDE */
	uint64_t go_funcs;      /* functions described from .gopclntab */
	uint64_t go_spwrite;    /*   of which write SP by hand: INVALID */
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

/* The row the walker's search picks for pc (link-time address): the last
 * row at or below it, an INVALID one past the end of coverage; NULL below
 * the first row. */
const struct ignis_unw_row *unw_table__find(const struct unw_table *t, uint64_t pc);

#endif
