/* One ELF file opened with libelf: its GNU build id and its function
 * symbols (.symtab, else .dynsym), loaded on first lookup. Lookups take file
 * offsets, so the same binary mapped at different addresses in different
 * processes is one cache entry. */
#ifndef IGNIS_SYM_ELF_H
#define IGNIS_SYM_ELF_H

#include <stddef.h>
#include <stdint.h>

struct elf_binary;

/* Takes ownership of fd (closed by elf_binary__free, also on failure).
 * NULL and errno set (ENOEXEC for a file that is not a usable ELF). */
struct elf_binary *elf_binary__open_fd(int fd);
void elf_binary__free(struct elf_binary *b);

/* Hex GNU build id ("" when the file has none). */
const char *elf_binary__build_id(const struct elf_binary *b);

/* Finds the function whose code holds file offset 'off'. On success returns 0
 * and sets *name (owned by b) and *sym_off (off's distance from the
 * symbol's start); -ENOENT when no symbol covers it; other -errno on
 * failure to read the file. */
int elf_binary__symbolize(struct elf_binary *b, uint64_t off, const char **name,
			  uint64_t *sym_off);

/* Number of function symbols loaded (0 before the first lookup). */
size_t elf_binary__symbol_count(const struct elf_binary *b);

#endif
