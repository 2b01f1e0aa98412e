/* Function names, inline chains and file:line for code addresses, from the
 * DWARF of one ELF file (the binary itself or its separate debug file),
 * read with libdw. Each compilation unit is indexed on the first lookup
 * that lands in it, so a lookup costs a few binary searches once warm.
 *
 * Not thread-safe: lookups fill the lazy indexes. */
#ifndef IGNIS_SYM_DWARF_H
#define IGNIS_SYM_DWARF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolizer/symbol.h"

struct dwarf_debug;

/* Takes ownership of fd (closed by dwarf_debug__free, and on failure).
 * NULL with errno ENODATA when the file has no DWARF describing code,
 * ENOEXEC when it is not ELF or its DWARF cannot be read, ENOMEM. */
struct dwarf_debug *dwarf_debug__open_fd(int fd);
/* Units are found through .debug_aranges when the file has one (their DIE
 * read on the first lookup in them), else by reading every unit's DIE;
 * this flag always reads every DIE (the two must answer alike). */
#define DWARF_DEBUG_NO_ARANGES 1u
struct dwarf_debug *dwarf_debug__open_fd_flags(int fd, unsigned int flags);
void dwarf_debug__free(struct dwarf_debug *d);

/* Describes the code at link-time address vaddr (callers turn file offsets
 * into addresses through the binary's PT_LOADs; a separate debug file has
 * the same link-time addresses) in out[0..n), innermost first: out[0] is
 * the innermost, possibly inlined, function with the file:line of vaddr
 * from the line table; each next frame is the function the previous one
 * was inlined into, at the call's file and line; the last is the
 * out-of-line function. A chain deeper than max keeps its innermost max-1
 * frames and the outermost. Strings live as long as d.
 * Returns n >= 1; -ENOENT when no function in the DWARF covers vaddr (the
 * caller falls back to ELF symbols); -EINVAL for max 0; other -errno when
 * the DWARF cannot be read. */
int dwarf_debug__lookup(struct dwarf_debug *d, uint64_t vaddr, struct sym_frame *out,
			size_t max);

/* Gives back the pages of the mapped debug sections that opening and
 * lookups have read (they count in the process's RSS until then); later
 * lookups read again what they need, from the page cache. Names and files
 * returned before stay valid. */
void dwarf_debug__drop_pages(struct dwarf_debug *d);

/* Approximate heap bytes d holds, for a cache's byte budget: its indexes
 * and names, the debug sections libdw inflated (compressed ones), and
 * libdw's own records of the units (estimated: libdw does not tell).
 * Mapped sections are page cache, dropped after each use
 * (dwarf_debug__drop_pages), and not counted. Grows as lookups index more
 * units. */
size_t dwarf_debug__bytes(const struct dwarf_debug *d);

/* Whether the reader asks libdw for the ELF section name (".debug_info",
 * ".zdebug_line", ...): the others are never read, even when compressed. */
bool dwarf_debug__reads_section(const char *name);

#endif
