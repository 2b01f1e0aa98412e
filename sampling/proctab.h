/* The process table: per tgid, the executable mappings read from
 * /proc/PID/maps on first sight, with the binary behind each. An exec makes
 * the maps be read again; an exited process is kept until the interval that
 * saw it has been flushed (proctab__sweep), and a pid that comes back after
 * its exit is a new process. */
#ifndef IGNIS_PROCTAB_H
#define IGNIS_PROCTAB_H

#include <stddef.h>
#include <stdint.h>

#include "symbolizer/bincache.h"
#include "unwinder/unwstore.h"

struct proctab;
struct proc;

struct proctab *proctab__new(const char *proc_root, struct bincache *bins);
void proctab__free(struct proctab *t);
/* From now on the executable mappings of every process read (and their
 * removal at exit or exec) go to store too: the BPF walker's per-process
 * lookup. store is borrowed and must outlive t's use. */
void proctab__set_unwstore(struct proctab *t, struct unwstore *store);
/* Called after every read of a process's maps, with the binary behind
 * each mapping (NULL where none): how interpreters are found. */
typedef void (*proctab_maps_fn)(void *ctx, uint32_t tgid, const struct procmaps *maps,
				struct binary *const *bins);
void proctab__set_maps_hook(struct proctab *t, proctab_maps_fn fn, void *ctx);

/* The entry of tgid, created (and its maps read) when first seen. NULL and
 * errno set only on allocation failure; a process whose maps cannot be read
 * (it is already gone) still gets an entry, with no mappings. */
struct proc *proctab__get(struct proctab *t, uint32_t tgid, uint64_t now_ns);
void proctab__exec(struct proctab *t, uint32_t tgid);
void proctab__exit(struct proctab *t, uint32_t tgid);
/* The series of these processes (all of them when tgids is NULL) is asked
 * again at their next sample: their identity may have become known. */
void proctab__forget_series(struct proctab *t, const uint32_t *tgids, size_t n);
/* Frees the processes that exited; call after a flush. */
void proctab__sweep(struct proctab *t);
size_t proctab__count(const struct proctab *t);

/* Where a user address lies: the binary and the file offset. An address
 * outside every known mapping (a library loaded since) makes the maps be
 * read again, at most once a second. -ENOENT when nothing maps it. */
int proc__resolve(struct proc *p, uint64_t addr, uint64_t now_ns, struct binary **bin,
		  uint64_t *off);
/* The same, and the mapping's start address: 0 or -ENOENT. */
int proc__resolve_mapping(struct proc *p, uint64_t addr, uint64_t now_ns, struct binary **bin,
			  uint64_t *off, uint64_t *start);
uint32_t proc__tgid(const struct proc *p);
/* A number the caller keeps per process (its series), -1 until set and
 * again after the process execs. */
int64_t proc__series(const struct proc *p);
void proc__set_series(struct proc *p, int64_t series);

#endif
