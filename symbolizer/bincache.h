/* The binaries seen in process mappings, one entry per binary identity
 * (GNU build id, else device+inode+size+mtime), never per path or pid. An
 * entry keeps its file open from first sight, so it can be symbolized after
 * the process that mapped it has exited. */
#ifndef IGNIS_BINCACHE_H
#define IGNIS_BINCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sys/procmaps.h"
#include "symbolizer/inflate.h"
#include "symbolizer/symbol.h"

struct bincache;
struct binary;
struct debuginfod;

struct bincache_opts {
	const char *const *debug_dirs;  /* searched before /usr/lib/debug */
	size_t ndebug_dirs;
	struct debuginfod *debuginfod;  /* borrowed; NULL: no servers */
	uint64_t budget_bytes;          /* symbol data kept between flushes and within one; 0: 32 MiB */
	/* Uncompressed copies of debug files with compressed sections
	 * (symbolizer/inflate.h); NULL: inflated on the heap at each load. */
	const char *inflate_dir;
	uint64_t inflate_bytes;         /* bound on that directory; 0: 2 GiB */
};

struct bincache_stats {
	uint64_t lookups;    /* addresses named */
	uint64_t hits;       /* ... in a binary whose symbols were loaded */
	uint64_t misses;     /* ... that had to load them first */
	uint64_t evictions;  /* binaries whose symbols were given back */
	uint64_t bytes;      /* symbol data held after the last trim */
	uint64_t binaries;   /* binaries known */
	struct inflate_stats inflated; /* uncompressed copies of debug files */
};

struct bincache *bincache__new(const char *proc_root);
void bincache__free(struct bincache *c);
/* Where debug info comes from, and the byte budget. 0 or -ENOMEM. */
int bincache__configure(struct bincache *c, const struct bincache_opts *o);
/* After a flush: gives back the symbols of the least recently used
 * binaries until the rest fit the budget. Strings from binary__symbolize
 * are valid until then. */
void bincache__trim(struct bincache *c);
/* During a flush, once every address of b is named (and the names copied):
 * symbols over the budget go now, least recently used first (b last), so a
 * flush holds the budget plus one binary's symbols, not every binary's.
 * Strings from binary__symbolize of the binaries given back become
 * invalid. */
void binary__named(struct binary *b);
void bincache__stats(const struct bincache *c, struct bincache_stats *s);

/* The binary behind file-backed mapping e of process pid, opened through
 * <proc_root>/PID/map_files (else <proc_root>/PID/root/PATH, so files in
 * containers are found). A file that cannot be opened or is not ELF still
 * gets an entry, named by its path, so its frames show as path+offset.
 * NULL and errno set only on allocation failure. */
struct binary *bincache__get(struct bincache *c, int pid, const struct procmaps_entry *e);
/* A pseudo binary for mappings without a file ("[vdso]", "[anon]"). */
struct binary *bincache__get_named(struct bincache *c, const char *name);

size_t bincache__count(const struct bincache *c);

const char *binary__path(const struct binary *b);
/* Last path component, for "[unknown] name+0x..." frames. */
const char *binary__name(const struct binary *b);
/* Hex build id, "" when none is known. */
const char *binary__build_id(const struct binary *b);
/* Size of the file, 0 when unknown. */
uint64_t binary__size(const struct binary *b);
/* Names file offset off (for a JIT binary: the address): up to max frames,
 * innermost inlined function first, the function that holds the code last.
 * From DWARF (the file's own or a separate debug file, found under the
 * debug directories, through .gnu_debuglink, or from debuginfod), else
 * .symtab, MiniDebugInfo, .gopclntab, .dynsym. Returns the number of frames,
 * or -ENOENT when nothing names the address. */
int binary__symbolize(struct binary *b, uint64_t off, struct sym_frame *out, size_t max);

/* The JIT code of process pid, named from its /tmp/perf-PID.map (read in the
 * process's mount namespace, kept open past its exit). Not cached: the
 * process table owns it and frees it with binary__free_jit. */
struct binary *bincache__new_jit(struct bincache *c, int pid);
void binary__free_jit(struct binary *b);
/* The process is gone: its pid may name another process now. */
void binary__exited(struct binary *b);
bool binary__is_jit(const struct binary *b);
/* The open ELF file (owned by b; read it with pread or a libelf handle of
 * one's own, never seek it), -1 when there is none. */
int binary__fd(const struct binary *b);
/* The link-time address where an executable mapping that starts at file
 * offset off begins (elf_binary__exec_vaddr): 0 or -ENOENT. */
int binary__exec_vaddr(const struct binary *b, uint64_t off, uint64_t *vaddr);
/* Whether the code at file offset off is a Go function where Go's own
 * traceback ends a stack (gopclntab__stops): a frame there is the last one
 * to trust. The binary's function table is read at the first call. */
bool binary__ends_go_stack(struct binary *b, uint64_t off);

#endif
