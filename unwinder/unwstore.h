/* The contents of the BPF walker's four maps (bpf/unwind.h): unwind tables
 * per binary identity, shared by every process that maps the binary, and
 * per process an LPM lookup from an address to (table, load bias).
 *
 *  - Rules are deduplicated across all tables (refcounted slots of
 *    unw_rules; slot 0 is CFA_INVALID).
 *  - Each table is one contiguous run of unw_rows, allocated first fit from
 *    a free-range list; unw_rows is sized by the byte budget, and when a
 *    table does not fit, the least recently used tables are evicted
 *    (counted) until it does. Rows and rule slots given back are reused
 *    only from the next unwstore__poll on, so a walk in flight never reads
 *    another table's rows.
 *  - Tables are compiled off the sampling path: worker threads take
 *    binaries from a bounded queue (rate-limited), unwstore__poll installs
 *    what it finished and turns the mappings of the processes that map the
 *    binary from PENDING into TABLE.
 *
 * Binaries are opaque keys (the bincache's struct binary, one per
 * identity); the compile callback knows how to read them. */
#ifndef IGNIS_UNWSTORE_H
#define IGNIS_UNWSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/unwind.h"

#define UNWSTORE_DEFAULT_BUDGET (32ULL << 20)
#define UNWSTORE_MIN_BUDGET     (1ULL << 20)
#define UNWSTORE_MAX_BUDGET     (4ULL << 30)

struct unwstore;

/* A compiled table as the store takes it: rows sorted by pc, rule indexes
 * local to rules[]. owner is the compile callback's. */
struct unwstore_table {
	const struct ignis_unw_row *rows;
	size_t nrows;
	const struct ignis_unw_rule *rules;
	size_t nrules;
	void *owner;
};

/* Runs on a worker thread (two may run at once, on different binaries):
 * compiles the table of bin into *out, at most
 * max_rows rows. 0, or -errno: -ENOENT/-ENOEXEC/-E2BIG mean no table is
 * possible for this binary (its mappings become IGNIS_MAP_NONE). */
typedef int (*unwstore_compile_fn)(void *ctx, const void *bin, size_t max_rows,
				   struct unwstore_table *out);
typedef void (*unwstore_release_fn)(void *ctx, struct unwstore_table *t);

/* Writes to the maps; 0 or -errno. The default writes the BPF maps of
 * unwstore_opts.fds; tests record them. */
struct unwstore_ops {
	int (*write_rule)(void *ctx, uint32_t idx, const struct ignis_unw_rule *r);
	int (*write_rows)(void *ctx, uint32_t first, const struct ignis_unw_row *rows, uint32_t n);
	int (*set_table)(void *ctx, uint32_t id, const struct ignis_unw_table *t);
	int (*del_table)(void *ctx, uint32_t id);
	int (*set_mapping)(void *ctx, const struct ignis_unw_map_key *k,
			   const struct ignis_unw_mapping *v);
	int (*del_mapping)(void *ctx, const struct ignis_unw_map_key *k);
};

struct unwstore_fds {
	int rules, rows, tables, mappings;
};

/* Entries of each map for a byte budget (what the BPF side is loaded with). */
struct unwstore_sizes {
	uint32_t rows;       /* budget / sizeof(struct ignis_unw_row) */
	uint32_t rules;
	uint32_t tables;
	uint32_t mappings;   /* LPM prefixes */
};

struct unwstore_opts {
	uint64_t budget_bytes;          /* unw_rows memory; 0: UNWSTORE_DEFAULT_BUDGET */
	struct unwstore_sizes sizes;    /* 0 fields: unwstore__sizes(budget_bytes) */
	unwstore_compile_fn compile;
	unwstore_release_fn release;
	void *compile_ctx;
	const struct unwstore_ops *ops; /* NULL: the BPF maps in fds */
	void *ops_ctx;
	struct unwstore_fds fds;
	/* The walker's cache generation (bpf/unwind.bpf.h unw_generation),
	 * bumped after every change to the mapping and table maps; NULL: none. */
	volatile uint64_t *generation;
	unsigned int compiles_per_sec;  /* worker rate limit; 0: unlimited */
	size_t queue_len;               /* binaries waiting for the worker; 0: 64 */
	bool sync;                      /* no thread: unwstore__poll compiles (tests) */
	/* A table used within this long is not evicted for a newcomer: when
	 * only such tables could make room, the newcomer waits (counted as
	 * budget_full) and is asked again no sooner than retry_ns later, so a
	 * working set larger than the budget does not thrash. 0: LRU only. */
	uint64_t hot_ns;
	uint64_t retry_ns;
	/* Binaries waiting for the rate limit or the queue, compiled most
	 * missed first; past this many the one that would be compiled last
	 * is put off (queue_dropped) until a sample misses it. 0: 4096. */
	size_t wanted_len;
	/* The walker's per-process generations (bpf/unwind.bpf.h unw_pid_gen,
	 * IGNIS_UNW_PID_GENS of them): a change to a process's mappings bumps
	 * the one of its pid rather than generation. NULL: generation. */
	volatile uint64_t *pid_generation;
};

struct unwstore_stats {
	uint64_t budget_bytes;      /* unw_rows capacity in bytes */
	uint64_t table_bytes;       /* rows and rules in use, in bytes */
	uint64_t rows_used, rules_used;
	uint64_t tables_loaded;     /* now */
	uint64_t tables_installed;  /* over the store's life */
	uint64_t evictions;         /* tables evicted to make room */
	uint64_t compiles;          /* compiles finished */
	uint64_t no_table;          /* binaries with no table possible */
	uint64_t too_big;           /* tables larger than the whole budget */
	uint64_t compile_errors;    /* other compile failures */
	uint64_t requests;          /* binaries asked for */
	uint64_t queue_full;        /* asks put off: the queue was full or rate-limited */
	uint64_t budget_full;       /* tables not installed: only recently used ones to evict */
	uint64_t processes;         /* processes with mappings */
	uint64_t mapping_entries;   /* LPM prefixes now */
	uint64_t map_errors;        /* map writes that failed */
	uint64_t queued;            /* binaries waiting for a compile (at the last poll) */
	uint64_t queue_dropped;     /* binaries put off: the wanted list was full */
};

void unwstore__sizes(uint64_t budget_bytes, struct unwstore_sizes *out);

/* NULL and errno set. */
struct unwstore *unwstore__new(const struct unwstore_opts *o);
void unwstore__free(struct unwstore *s);

struct unwstore_mapping {
	uint64_t start, end;   /* [start, end) of executable memory */
	uint64_t bias;         /* address - bias = link-time address */
	const void *bin;       /* NULL: no table possible (JIT, anonymous) */
};

/* The executable mappings of process pid as now known; replaces what the
 * store had for it (unchanged mappings are left alone). Binaries seen for
 * the first time are queued for compilation. 0 or -errno. */
int unwstore__set_process(struct unwstore *s, uint32_t pid, const struct unwstore_mapping *m,
			  size_t n);
/* The process exited or exec'd: its map entries go. */
void unwstore__forget_process(struct unwstore *s, uint32_t pid);
/* A walk lacked bin's table (not compiled yet, evicted): queue it unless
 * it is queued, being compiled, loaded, or known to have none. Each call
 * while it waits counts as demand: the worker compiles the binary whose
 * absence cost the most samples first. */
void unwstore__request(struct unwstore *s, const void *bin);
/* A sample went through bin: recently used (at the last poll's now_ns). */
void unwstore__touch(struct unwstore *s, const void *bin);
/* From the sampling loop, never blocking on a compile: installs the tables
 * the worker finished, gives back rows freed by the previous poll, queues
 * binaries the rate limit held back. now_ns: CLOCK_MONOTONIC (the rate
 * limit's clock). Returns the number of tables installed. */
int unwstore__poll(struct unwstore *s, uint64_t now_ns);
/* Are compiles waiting, running, or finished and not installed? The
 * sampling loop then polls sooner: a table is installed within a few
 * milliseconds of its compile, not at the next ring buffer wakeup. */
bool unwstore__busy(struct unwstore *s);
/* Waits up to timeout_ms for the queue to drain and installs the results
 * (a one-shot recording's start; tests). */
int unwstore__settle(struct unwstore *s, int timeout_ms);
void unwstore__stats(const struct unwstore *s, struct unwstore_stats *st);
/* Is bin's table in the maps? */
bool unwstore__loaded(const struct unwstore *s, const void *bin);

/* [start, end) as LPM prefixes of (pid, address): calls fn for each key.
 * Returns the number of prefixes. */
size_t unwstore__prefixes(uint32_t pid, uint64_t start, uint64_t end,
			  void (*fn)(void *ctx, const struct ignis_unw_map_key *k), void *ctx);

#endif
