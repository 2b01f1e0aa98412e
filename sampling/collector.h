/* The sampling half shared by `ignis record` and `ignis agent`: BPF
 * sampler, process table, unwinder, symbol caches, and the aggregation the
 * samples land in, which the caller swaps out at each flush. */
#ifndef IGNIS_COLLECTOR_H
#define IGNIS_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sampling/aggregate.h"
#include "sampling/python.h"
#include "sampling/golabels.h"
#include "sampling/sampler.h"
#include "exporters/profile.h"

enum unwind_mode {
	UNWIND_AUTO,   /* UNWIND_KERNEL, or UNWIND_COPY where this kernel refuses the walker */
	UNWIND_FP,     /* the kernel's frame-pointer walk only; no stack copy */
	UNWIND_DWARF,  /* stack copy, DWARF CFI only */
	UNWIND_KERNEL, /* walked in BPF from unwind tables: frames only leave the kernel */
	UNWIND_COPY,   /* stack copy: DWARF CFI, or frame pointers where they get further */
};

/* "kernel", "copy", ...; the mode a name means (aliases included). */
const char *unwind_mode_name(enum unwind_mode m);

/* The series a process belongs to (>= 0), asked once per process (and
 * again after it execs or collector__forget_series); -ECANCELED drops its
 * samples until then without asking again, another -errno drops this
 * sample only. */
typedef int (*collector_series_fn)(void *ctx, uint32_t tgid, const char *comm);

struct collector_opts {
	unsigned int frequency_hz;
	const pid_t *pids;               /* only these processes; npids 0: all */
	size_t npids;
	int follow_children;             /* and their descendants (sampler_opts) */
	const char *cpus;                /* cpu list, NULL: every online CPU */
	int include_idle;
	enum unwind_mode unwind;
	unsigned int stack_size;         /* bytes of user stack copied per sample (copy modes) */
	uint64_t unwind_table_bytes;     /* unwind table memory (kernel mode); 0: the default */
	double unwind_settle_s;          /* kernel mode: wait this long at the start for the
					  * tables of the processes running then */
	const char *proc_root;
	const char *sys_root;
	const char *const *debug_dirs;   /* extra separate-debug-file directories */
	size_t ndebug_dirs;
	const char *debuginfod_urls;     /* NULL: $DEBUGINFOD_URLS; "": none */
	const char *debuginfod_cache;    /* NULL: the default */
	uint64_t debuginfod_cache_bytes; /* 0: the default */
	uint64_t symbol_cache_bytes;     /* 0: the default */
	collector_series_fn series;      /* NULL: everything is series 0 */
	void *series_ctx;
	int key_by_tid;                  /* samples per thread, with a "tid" label */
	/* Go pprof labels kept (sampling/golabels.h); trace keys none: the default. */
	const char *const *go_labels;
	size_t ngo_labels;
	const char *const *trace_labels;
	size_t ntrace_labels;
	/* Off-CPU time (sampler_opts): its own aggregation, collector__swap_offcpu. */
	int off_cpu;
	uint64_t offcpu_min_ns;
	double offcpu_probability;       /* 0: 1 */
	/* A process whose records count only from its first exec on: the
	 * command `record` forked, which runs ignis's own code (and blocks,
	 * waiting for its go) until then. 0: none. */
	uint32_t exec_pid;
	/* A recording: one flush, then the process exits. The heap keeps
	 * what it frees (base/heap.h), and the flush does not give it back
	 * to the kernel (the agent's flushes do). */
	int one_flush;
};

struct collector_stats {
	struct sampler_stats sampler;
	uint64_t samples;                /* aggregated, over the collector's life */
	uint64_t dwarf_used, fp_used;    /* how user stacks were unwound */
	uint64_t unwinds, unwind_truncated, unwind_failed;
	uint64_t unwind_go_switch;  /* DWARF walks ended at a Go stack switch */
	uint64_t go_stack_cut;      /* stacks whose frames past a Go stack switch were dropped */
	uint64_t dropped;                /* samples of processes the series callback refused */
	uint64_t foreign_pcs;            /* user stacks ended at a return address outside
					  * user space (a corrupt stack, a garbage unwind) */
	enum unwind_mode unwind;         /* the mode in use (never AUTO) */
	/* kernel mode: user stacks by outcome of the walk */
	uint64_t walk_complete;          /* from tables to the outermost frame */
	uint64_t walk_fp;                /* partly by frame pointers: a mapping had no table */
	uint64_t walk_fp_pending;        /* ... because its table was not loaded (yet) */
	uint64_t walk_fp_unmapped;       /* ... because the walker did not know the code's
					  * mapping yet (a new process or library) */
	uint64_t walk_truncated;         /* IGNIS_UNW_MAX_FRAMES reached */
	uint64_t walk_unexpressible;     /* stopped at a rule the walker cannot apply */
	uint64_t walk_read_failed;       /* a stack read failed */
	uint64_t walk_other;             /* ended otherwise (no caller, frame-pointer chain end) */
	uint64_t records;                /* samples received */
	uint64_t record_frames;          /* ... their kernel and user frames */
	uint64_t record_bytes;           /* ... their bytes in the ring buffer */
	uint64_t stack_bytes;            /* ... of them user stack copies */
	struct unwstore_stats tables;    /* kernel mode */
	struct python_stats python;      /* kernel mode: CPython frames */
	struct golabels_stats go;        /* Go pprof labels */
	uint64_t offcpu_records;         /* off-CPU records received */
	uint64_t offcpu_bytes;           /* ... their bytes in the ring buffer */
	uint64_t offcpu[IGNIS_OFFCPU_NSTATS];  /* the BPF side's, enum ignis_offcpu_stat */
	const char *offcpu_path;         /* its programs (sampler__offcpu_path), NULL: off */
};

/* Loads and attaches the sampler; samples flow from the next poll on.
 * NULL and errno set; the reason has been logged. */
struct collector *collector__new(const struct collector_opts *o);
void collector__free(struct collector *c);

/* Consumes what the sampler produced, waiting up to timeout_ms. 0 or
 * -errno (-EINTR when a signal came). */
int collector__poll(struct collector *c, int timeout_ms);
/* opts.exec_pid had exec'd by mono_ns (CLOCK_MONOTONIC): its records made
 * from then on count even if its exec event was lost. */
void collector__exec_done(struct collector *c, uint64_t mono_ns);

/* The samples since the last swap; a fresh aggregation takes their place.
 * NULL and errno set on allocation failure (the current one is kept). */
struct aggregate *collector__swap(struct collector *c);

/* With off_cpu: the blockings since the last swap (count 1 and the time
 * blocked each, scaled by 1/offcpu_probability in profiles). NULL and
 * errno set (ENOENT: off-CPU is off). */
struct aggregate *collector__swap_offcpu(struct collector *c);
/* Names the stacks of an off-CPU aggregation; call it before
 * collector__symbolize of the same flush (which gives memory back). */
int collector__symbolize_offcpu(struct collector *c, const struct aggregate *agg,
				struct profile **profiles, size_t nseries);

/* Names the stacks of agg into profiles[series] (see aggregate__to_profiles),
 * then gives back symbol memory over budget and forgets processes that
 * exited. Call once per flush. */
int collector__symbolize(struct collector *c, const struct aggregate *agg,
			 struct profile **profiles, size_t nseries);

/* Sampling is over for good (a recording's end): the table store (its
 * worker, compiles in flight) and the sampler (BPF objects, ring buffer)
 * go before the flush, so the flush does not hold their memory too.
 * Stats keep their last figures; poll must not be called again. */
void collector__end_sampling(struct collector *c);

/* For debuginfod downloads started during a one-shot recording. */
void collector__wait_debuginfo(struct collector *c, double seconds);

void collector__stats(struct collector *c, struct collector_stats *s);
/* Asks the series of these processes again (all when tgids is NULL). */
void collector__forget_series(struct collector *c, const uint32_t *tgids, size_t n);
/* The sampler, for per-CPU counters and program statistics. */
const struct sampler *collector__sampler(const struct collector *c);
/* Symbol cache counters. */
void collector__symbol_stats(const struct collector *c, struct bincache_stats *s);
/* Processes tracked now. */
size_t collector__processes(const struct collector *c);
/* One info line about symbol caches and debuginfod. */
void collector__log_symbol_stats(struct collector *c, const char *who);
size_t collector__binaries(const struct collector *c);

#endif
