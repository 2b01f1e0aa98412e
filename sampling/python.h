/* CPython processes: found in their mappings, described to the BPF walker
 * (interp_procs, bpf/interp.h) so it puts Python frames in place of the
 * eval loop's, and their frames named from the process's code objects.
 *
 * Names are read once per code object per process (validated against the
 * walker's co_firstlineno, so a freed code object's reused address is read
 * again) and interned: a frame stays valid until python__trim, which the
 * collector calls after a flush. */
#ifndef IGNIS_PYTHON_H
#define IGNIS_PYTHON_H

#include <stdint.h>

#include "bpf/interp.h"
#include "sampling/aggregate.h"
#include "sys/procmaps.h"
#include "symbolizer/bincache.h"

struct python;

struct python_stats {
	uint64_t processes;      /* CPython processes described to the walker now */
	uint64_t frames;         /* interpreted frames named */
	uint64_t code_reads;     /* code objects read from a process */
	uint64_t code_failed;    /* ... that could not be read */
	uint64_t markers;        /* walks whose Python part ended early */
	uint64_t bytes;          /* names, files and line tables kept */
	uint64_t map_full;       /* processes not described: interp_procs was full */
};

/* interp_procs_fd: the walker's per-process map. NULL and errno set. */
struct python *python__new(const char *proc_root, int interp_procs_fd);
/* The walker's count of interp_procs' entries (sampler__interp_nprocs):
 * kept up before an insert and down after a delete. NULL: none. */
void python__set_count(struct python *py, volatile uint32_t *count);
void python__free(struct python *py);

/* After the process's maps were read: finds CPython in them (once per
 * process and image) and describes it to the walker. */
void python__process(struct python *py, uint32_t tgid, const struct procmaps *maps,
		     struct binary *const *bins);
/* The process exited or exec'd: its walker entry and code cache go. */
void python__forget(struct python *py, uint32_t tgid);

/* Names the interpreted frame (w0, w1) (bpf/interp.h) of tgid into out.
 * 0, or -errno (the frame is then dropped). */
int python__frame(struct python *py, uint32_t tgid, uint64_t w0, uint64_t w1,
		  struct agg_frame *out);

/* Frees names and code caches over the budget; only when no aggregation
 * still points at them (pending: frames named since the last flush). */
void python__trim(struct python *py, uint64_t pending);
void python__stats(const struct python *py, struct python_stats *s);

#endif
