/* One ELF file opened with libelf: its GNU build id and its function
 * symbols (.symtab, else .dynsym), loaded on first lookup. Lookups take file
 * offsets, so the same binary mapped at different addresses in different
 * processes is one cache entry. */
#ifndef IGNIS_SYM_ELF_H
#define IGNIS_SYM_ELF_H

#include <libelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_binary;

/* Longest GNU build id taken, in bytes (its hex is twice that, plus NUL). */
#define ELF_BUILD_ID_MAX 64

/* The GNU build id in one block of notes (a SHT_NOTE section's data or a
 * PT_NOTE chunk; NULL has none) as lowercase hex into out, of
 * 2 * ELF_BUILD_ID_MAX + 1 bytes. gelf_getnote checks every name and
 * descriptor against d_size, so a lying n_descsz ends the walk instead of
 * reading past the buffer. */
bool elf__notes_build_id(Elf_Data *data, char *out);

/* Takes ownership of fd (closed by elf_binary__free, also on failure).
 * NULL and errno set (ENOEXEC for a file that is not a usable ELF). */
struct elf_binary *elf_binary__open_fd(int fd);
/* An ELF image in memory (a MiniDebugInfo payload); takes ownership of
 * image (freed by elf_binary__free, also on failure). */
struct elf_binary *elf_binary__open_mem(void *image, size_t size);
void elf_binary__free(struct elf_binary *b);

/* The open file (-1 for an image in memory) and libelf's handle, both owned
 * by b; the handle changes when elf_binary__drop_syms runs. */
int elf_binary__fd(const struct elf_binary *b);
Elf *elf_binary__elf(const struct elf_binary *b);
/* True when a section of that name has contents in the file. */
bool elf_binary__has_section(const struct elf_binary *b, const char *name);

/* Hex GNU build id ("" when the file has none). */
const char *elf_binary__build_id(const struct elf_binary *b);

/* Finds the function whose code holds file offset 'off'. On success returns 0
 * and sets *name (owned by b) and *sym_off (off's distance from the
 * symbol's start); -ENOENT when no symbol covers it; other -errno on
 * failure to read the file. */
int elf_binary__symbolize(struct elf_binary *b, uint64_t off, const char **name,
			  uint64_t *sym_off);

/* The same by link-time address. */
int elf_binary__lookup(struct elf_binary *b, uint64_t addr, const char **name,
		       uint64_t *sym_off);
/* File offset to link-time address through the PT_LOAD that maps it; 0 or
 * -ENOENT when no segment has the offset in the file. */
int elf_binary__vaddr(const struct elf_binary *b, uint64_t off, uint64_t *vaddr);
/* The link-time address at which file offset off is mapped by an
 * executable PT_LOAD, counting the part of its first page before p_offset
 * (where a mapping of the segment starts): 0 or -ENOENT. */
int elf_binary__exec_vaddr(const struct elf_binary *b, uint64_t off, uint64_t *vaddr);
/* Which table the symbols come from (".symtab", ".dynsym"), NULL when the
 * file has no function symbols or cannot be read. Loads them. */
const char *elf_binary__table(struct elf_binary *b);

/* Is file offset off (or the byte after it) in an x86-64 rt_sigreturn
 * call, `mov $15, %rax; syscall`? That is the signal trampoline the kernel
 * returns a handler to (glibc's and musl's __restore_rt), named in .symtab
 * only, which distributions strip. */
bool elf_binary__is_sigreturn(const struct elf_binary *b, uint64_t off);
/* The name of the PLT entry at link-time address vaddr ("puts@plt",
 * "*ABS*+0xa0cb0@plt"), as objdump and perf give it; NULL when vaddr is in
 * no PLT entry this binary names (x86-64 .plt and .plt.sec). */
const char *elf_binary__plt_name(struct elf_binary *b, uint64_t vaddr);

/* Number of function symbols loaded (0 before the first lookup). */
size_t elf_binary__symbol_count(const struct elf_binary *b);
/* Memory the loaded symbols hold, for the cache's byte budget. */
size_t elf_binary__bytes(const struct elf_binary *b);
/* Gives the symbols back; the next lookup loads them again. 0 or -errno. */
int elf_binary__drop_syms(struct elf_binary *b);

#endif
