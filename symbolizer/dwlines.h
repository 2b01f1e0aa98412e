/* One compilation unit's DWARF line table (.debug_line, versions 2 to 5),
 * read into a compact form: the file names the unit's lines and inlined
 * calls refer to, and an address-sorted list of rows keeping only what a
 * lookup of file:line can return.
 *
 * libdw decodes the same table into about 90 bytes a row (every register
 * of the line state machine, and a malloc per row past the first 2,048)
 * and keeps it until dwarf_end: a debug-built CPython's unicodeobject.c
 * alone holds 71,434 rows, 6.6 MiB. Here a row is 16 bytes, and rows an
 * address lookup can never return (one of several at the same address, or
 * the same file:line as the row before) are not kept.
 *
 * Lookups answer as libdw's dwarf_getsrc_die and dwarf_linesrc do (the
 * rightmost row at or below the address after a stable sort by address,
 * end-of-sequence rows first; none when that row ends a sequence), and file
 * names are built as dwarf_getsrcfiles builds them, so the two readers name
 * every address alike (tests/unit/test_dwlines.c compares them). */
#ifndef IGNIS_SYM_DWLINES_H
#define IGNIS_SYM_DWLINES_H

#include <libelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The sections a line table reads; borrowed, kept by the caller while the
 * table lives (file names may point into line_str and str). A section the
 * file lacks is NULL with size 0. */
struct dwl_sections {
	const uint8_t *line;
	size_t line_size;
	const uint8_t *line_str;
	size_t line_str_size;
	const uint8_t *str;
	size_t str_size;
	bool big_endian;	/* else little-endian */
};

/* The sections of elf that line tables read, found by name. A compressed
 * one is inflated in place, in libelf's copy, which libdw reads too (it
 * inflates what it reads the same way). */
void dwlines__sections(Elf *elf, struct dwl_sections *out);

/* Rows a unit's table may hold before it is refused: 14 times the largest
 * unit of a debug-built CPython (unicodeobject.c, 71,434 rows), so that a
 * hostile table cannot make the reader's sort array (24 bytes a row) grow
 * past 24 MiB. */
#define DWL_MAX_ROWS (1u << 20)

struct dwl_table;

/* The table at offset in s->line (the unit's DW_AT_stmt_list); comp_dir is
 * the unit's DW_AT_comp_dir (NULL when it has none) and addr_size its
 * address size (4 or 8). NULL and errno: EINVAL when the table is
 * malformed, E2BIG past DWL_MAX_ROWS, ENOMEM. */
struct dwl_table *dwlines__read(const struct dwl_sections *s, uint64_t offset,
				const char *comp_dir, unsigned int addr_size);
void dwlines__free(struct dwl_table *t);

/* The file and line of the row that covers addr: 0, or -ENOENT when no row
 * does (before the first row, in a gap between sequences, past the last).
 * *file is NULL when the row's file index is out of range, *line what the
 * table says (0 or less when it has no line). */
int dwlines__lookup(const struct dwl_table *t, uint64_t addr, const char **file, int *line);

/* File idx of the unit (DW_AT_decl_file, DW_AT_call_file), NULL when out of
 * range. Before DWARF 5, file 0 has libdw's placeholder name,
 * DWL_PLACEHOLDER_FILE. */
const char *dwlines__file(const struct dwl_table *t, uint64_t idx);
/* The name libdw gives file 0 before DWARF 5, and file 0 of a DWARF 5 unit
 * that lists no file: three question marks, a name, not a gap. */
#define DWL_PLACEHOLDER_FILE "???"
size_t dwlines__nfiles(const struct dwl_table *t);

/* Rows kept, and rows the program emitted. */
size_t dwlines__nrows(const struct dwl_table *t);
size_t dwlines__program_rows(const struct dwl_table *t);

/* Heap bytes the table holds. */
size_t dwlines__bytes(const struct dwl_table *t);

#endif
