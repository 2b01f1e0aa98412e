/* The binaries seen in process mappings, one entry per binary identity
 * (GNU build id, else device+inode+size+mtime), never per path or pid. An
 * entry keeps its file open from first sight, so it can be symbolized after
 * the process that mapped it has exited. */
#ifndef IGNIS_BINCACHE_H
#define IGNIS_BINCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/procmaps.h"

struct bincache;
struct binary;

struct bincache *bincache__new(const char *proc_root);
void bincache__free(struct bincache *c);

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
/* See elf_binary__symbolize; -ENOENT also when the file could not be read. */
int binary__symbolize(struct binary *b, uint64_t off, const char **name, uint64_t *sym_off);

#endif
