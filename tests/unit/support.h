/* What the unit tests share: a temp dir to build small programs in with the
 * system compiler, what binutils (nm, readelf) and the program headers say
 * about them, and fake /proc/<pid> entries for the process table to read.
 *
 * Nothing here asserts: a failure is -1, NULL or UINT64_MAX, so a group
 * setup can use these as well as a test body, which asserts on the result. */
#ifndef IGNIS_TESTS_UNIT_SUPPORT_H
#define IGNIS_TESTS_UNIT_SUPPORT_H

#include <libelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "exporters/profile.h"

#define SUPPORT_PAGE 0x1000ULL

/* ---- files, commands, temp dirs ---------------------------------------- */

/* Runs a shell command built from fmt; its exit status (0: success), and
 * the command on stderr when it fails. */
int support__run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Everything a shell command built from fmt writes to stdout, as a string
 * to free; NULL when it cannot be started. */
char *support__read_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "<dir>/<name>", to free; NULL on allocation failure. */
char *support__path(const char *dir, const char *name);

/* Writes text to path, replacing it. */
int support__write_text(const char *path, const char *text);

/* The whole of a non-empty file in a buffer to free, its size in *len. */
void *support__read_file(const char *path, size_t *len);

/* A fresh directory $TMPDIR/ignis-<tag>-XXXXXX (/tmp without TMPDIR), its
 * path to free; NULL on failure. */
char *support__tmpdir(const char *tag);

/* rm -rf dir (nothing for NULL). */
void support__rmtree(const char *dir);

/* ---- programs built at test time --------------------------------------- */

/* Writes source to <dir>/<name>.c and builds <dir>/<name> from it with
 * "cc <flags>"; the path of the result, to free, or NULL. */
char *support__build_program(const char *dir, const char *name, const char *source,
			     const char *flags);

/* Builds <dir>/prog, a PIE with a build id whose functions are die_slowly,
 * ends_in_call, hot_b and main, in that order. ends_in_call ends with a
 * call to the noreturn die_slowly, and nothing pads or reorders functions,
 * so ends_in_call is right before hot_b: the return address its call pushes
 * is the first byte of hot_b. The path of the program, to free, or NULL. */
char *support__build_prog(const char *dir);

/* ---- ELF files --------------------------------------------------------- */

/* Opens path read-only for libelf; the fd in *fd. Close with
 * support__elf_close. NULL on failure (with nothing left open). */
Elf *support__elf_open(const char *path, int *fd);
void support__elf_close(Elf *e, int fd);

/* The link-time address (and size, where size is not NULL) of a symbol as
 * "nm -S" prints it: from .symtab, or with "nm -S -D" for the dynsym
 * variant. 0 when found; -1 with *vaddr 0 otherwise. */
int support__symbol(const char *path, const char *name, uint64_t *vaddr, uint64_t *size);
int support__dynsym(const char *path, const char *name, uint64_t *vaddr, uint64_t *size);

/* The build id as "readelf -n" prints it. 0 when there is one. */
int support__build_id(const char *path, char *out, size_t len);

/* The separate debug file (libc6-dbg's, under /usr/lib/debug/.build-id)
 * of the system library name ("libc.so.6", "libm.so.6": next to the libc
 * this process maps), to free; its build id in id. NULL when not there. */
char *support__system_debug_file(const char *name, char *id, size_t idlen);

/* The file offset holding a link-time address, from the PT_LOAD headers;
 * UINT64_MAX when no segment has it in the file. */
uint64_t support__vaddr_to_offset(const char *path, uint64_t vaddr);

/* ---- the executable segment as /proc/<pid>/maps shows it -------------- */

/* The first executable PT_LOAD of a file, as the loader maps it. */
struct support_seg {
	uint64_t vaddr, offset, memsz;
};

int support__exec_segment(const char *path, struct support_seg *out);

/* vaddr (from nm) → file offset, for an address inside the segment. */
uint64_t support__seg_file_offset(const struct support_seg *x, uint64_t vaddr);

/* The maps line of the segment of a program loaded at base: page-aligned
 * start, end and offset. */
uint64_t support__seg_start(const struct support_seg *x, uint64_t base);
uint64_t support__seg_end(const struct support_seg *x, uint64_t base);
uint64_t support__seg_map_offset(const struct support_seg *x);

/* Where vaddr lies in a process that loaded the program at base. */
uint64_t support__seg_addr(const struct support_seg *x, uint64_t base, uint64_t vaddr);

/* That maps line (r-xp, st's device and inode, path), to free; NULL on
 * allocation failure. */
char *support__seg_maps_line(const struct support_seg *x, uint64_t base,
			     const struct stat *st, const char *path);

/* ---- fake /proc -------------------------------------------------------- */

/* <proc_root>/<pid>/maps holding maps (replaced atomically when there is
 * one already) and <proc_root>/<pid>/root, a symlink to "/"; the directory
 * and the link may exist already. */
int support__write_proc(const char *proc_root, int pid, const char *maps);

/* ---- profiles built by hand -------------------------------------------- */

#define SUPPORT_MAX_NAMES 16

/* Adds a sample of n frames named names[0..n), given root first (as one
 * reads a folded line) when root_first, else leaf first (as the profile
 * holds them). Every frame is in mapping; the k-th name given is at
 * 0x1000 + 0x10 * k. What profile__add_sample returns; -1 for more than
 * SUPPORT_MAX_NAMES names. */
int support__add_named_sample(struct profile *p, uint32_t mapping,
			      const struct profile_label *labels, size_t nlabels, uint64_t count,
			      bool root_first, size_t n, const char *const *names);

/* Frame i (leaf first) of sample s of p; aborts when there is none. */
const struct profile_frame *support__frame(const struct profile *p,
					   const struct profile_sample *s, uint32_t i);

#endif
