/* The BPF sampler: loads bpf/sampler.bpf.c, opens a cpu-clock perf event in
 * frequency mode on every online CPU and delivers its records. */
#ifndef IGNIS_SAMPLER_H
#define IGNIS_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/sampler.h"
#include "bpf/offcpu.h"
#include "unwinder/unwstore.h"

struct sampler;

/* 16384 entries of the BPF hash map cost about 1.5 MiB of kernel memory. */
#define SAMPLER_FOLLOW_MAX_PIDS 16384

struct sampler_opts {
	unsigned int frequency_hz;   /* samples per second per CPU */
	const pid_t *pids;           /* only these processes, when npids > 0 */
	size_t npids;
	/* With pids: their descendants are sampled too, from their fork on,
	 * up to max_pids processes at a time (0: SAMPLER_FOLLOW_MAX_PIDS);
	 * children past it are counted (IGNIS_STAT_FOLLOW_FULL), not sampled. */
	int follow_children;
	size_t max_pids;
	int send_idle;               /* also deliver idle-CPU samples */
	unsigned int stack_size;     /* user stack bytes copied per sample, 0: none */
	size_t ringbuf_bytes;        /* power of two, multiple of the page size;
				      * 0: sized from CPUs, frequency and stack size */
	const char *sys_root;        /* "/sys", for the list of online CPUs */
	const char *cpus;            /* only these CPUs ("0-3,8"), NULL: every online one */
	int walk_tables;             /* walk user stacks from unwind tables in BPF
				      * (stack_size must be 0) */
	struct unwstore_sizes unw;   /* entries of the unwind maps, with walk_tables */
	int defer_start;             /* perf events wait for sampler__start */
	/* Off-CPU time (bpf/offcpu.bpf.h): blockings of at least
	 * offcpu_min_ns, each tracked with offcpu_probability (0: 1). */
	int off_cpu;
	uint64_t offcpu_min_ns;
	double offcpu_probability;
};

/* Called for every record (struct ignis_sample or struct ignis_proc_event,
 * told apart by their first __u32). A negative return stops the poll. */
typedef int (*sampler_event_fn)(void *ctx, const void *data, size_t len);

struct sampler_stats {
	uint64_t v[IGNIS_NSTATS];   /* summed over CPUs, see enum ignis_stat */
	unsigned int cpus;          /* CPUs with a perf event */
};

/* NULL and errno set; the reason has been logged. */
struct sampler *sampler__new(const struct sampler_opts *opts, sampler_event_fn fn, void *ctx);
void sampler__free(struct sampler *s);
/* Waits up to timeout_ms for records and delivers all that are pending.
 * Returns the number delivered or -errno (-EINTR when a signal came). */
int sampler__poll(struct sampler *s, int timeout_ms);
/* With defer_start: opens and attaches the perf events. 0 or -errno. */
int sampler__start(struct sampler *s);
/* The unwind maps' file descriptors, for the store (unwinder/unwstore.h). */
void sampler__unw_fds(const struct sampler *s, struct unwstore_fds *fds);
/* The walker's per-process interpreter map (bpf/interp.h). */
int sampler__interp_fd(const struct sampler *s);
/* The Go labels maps (bpf/golabels.bpf.h): go_procs, go_stats. */
void sampler__go_fds(const struct sampler *s, int *procs, int *stats);
/* The walker's cache generation, in the program's global data. */
volatile uint64_t *sampler__unw_generation(const struct sampler *s);
/* Its per-process generations (IGNIS_UNW_PID_GENS, bpf/unwind.h). */
volatile uint64_t *sampler__unw_pid_generation(const struct sampler *s);
/* The counts of interp_procs' and go_procs' entries the programs check
 * before looking a process up (python__set_count, golabels_opts.count). */
volatile uint32_t *sampler__interp_nprocs(const struct sampler *s);
volatile uint32_t *sampler__go_nprocs(const struct sampler *s);
int sampler__stats(const struct sampler *s, struct sampler_stats *out);

/* One counter (enum ignis_stat) per possible CPU into per_cpu[0..n).
 * Returns how many CPUs were written, or -errno. */
int sampler__stats_cpu(const struct sampler *s, unsigned int stat, uint64_t *per_cpu, size_t n);
/* The sampling program, for its run-time statistics. */
int sampler__prog_fd(const struct sampler *s);

/* Off-CPU counters (enum ignis_offcpu_stat), summed over CPUs; all zero
 * when off-CPU is off. 0 or -errno. */
int sampler__offcpu_stats(const struct sampler *s, uint64_t out[IGNIS_OFFCPU_NSTATS]);
/* The off-CPU programs (sched_switch, sched_exit_tp), -1 when off (and
 * switch_fd on the one-program path, which has none). */
int sampler__offcpu_prog_fds(const struct sampler *s, int *switch_fd, int *finish_fd);
/* The off-CPU path in use (sys/probe.h probe__offcpu_path_name), NULL
 * when off. */
const char *sampler__offcpu_path(const struct sampler *s);

/* Parses a kernel CPU list ("0-3,8,10-11") into a bitmap of nbits.
 * Returns the number of CPUs set or -EINVAL. */
int sampler__parse_cpu_list(const char *s, uint8_t *bitmap, size_t nbits);
/* The kernel's highest NR_CPUS: CPU numbers in lists are below it. */
#define SAMPLER_MAX_CPUS 8192
/* sampling.cpus: 0 or a message through x. */
struct schema_ctx;
int sampler__check_cpus(struct schema_ctx *x, const char *s);

#endif
