#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/heap.h"
#include "sampling/collector.h"
#include "base/log.h"
#include "sampling/proctab.h"
#include "sampling/python.h"
#include "sys/probe.h"
#include "symbolizer/bincache.h"
#include "symbolizer/debuginfod.h"
#include "symbolizer/kallsyms.h"
#include "symbolizer/unwind.h"
#include "unwinder/unwsource.h"
#include "unwinder/unwstore.h"

/* User space ends below the top half of the address space on every 64-bit
 * Linux (x86-64: 2^47, or 2^56 with 5-level paging; arm64: 2^52). */
#define USER_PC_LIMIT (1ULL << 63)

/* Tables compiled per second at most, after the start (the first ones are
 * compiled as fast as the worker goes, bounded by its queue). */
#define UNW_COMPILES_PER_SEC 20

/* Processes whose unwind state (a Dwfl with its modules) is kept. */
#define MAX_UNWIND_PROCS 512
/* The address space a recording's heap takes at once, backed by huge
 * pages (base/heap.h); a larger heap grows past it in 4 KiB pages. */
#define RECORD_HEAP_RESERVE (30u << 20)

struct collector {
	struct collector_opts opts;
	struct kallsyms *ksyms;
	struct debuginfod *dbgd;
	struct bincache *bins;
	struct proctab *procs;
	struct unwinder *unwinder;
	struct unwstore *unw;      /* kernel mode */
	struct unwsource unw_src;  /* where its tables come from */
	struct python *py;         /* kernel mode: CPython frames */
	/* After collector__end_sampling: the last figures of what it freed. */
	struct sampler_stats end_sampler;
	struct unwstore_stats end_tables;
	struct golabels_stats end_go;
	uint64_t end_offcpu[IGNIS_OFFCPU_NSTATS];
	uint64_t schedule_lo, schedule_hi;  /* __schedule (offcpu_kernel_start) */
	struct sampler *sampler;
	struct aggregate *agg;
	struct golabels *go;       /* Go pprof labels */
	struct aggregate *offagg;  /* off-CPU blockings, with opts.off_cpu */
	uint64_t offcpu_records, offcpu_bytes;
	const char *offcpu_path;   /* sampler__offcpu_path, kept past the sampler */
	enum unwind_mode mode;     /* in use: KERNEL, COPY, DWARF or FP */
	uint64_t samples, dwarf_used, fp_used, dropped, foreign_pcs;
	uint64_t walk_complete, walk_fp, walk_fp_pending, walk_fp_unmapped, walk_truncated, walk_unexpressible;
	uint64_t go_cut;  /* stacks cut at a Go stack switch */
	bool exec_pid_execd;       /* opts.exec_pid has exec'd (its exec event came) */
	uint64_t exec_pid_by_ns;   /* it had exec'd by then (collector__exec_done) */
	uint64_t walk_read_failed, walk_other, records, record_frames, record_bytes, stack_bytes;
	int err;                   /* first fatal error seen in a callback */
};

const char *unwind_mode_name(enum unwind_mode m)
{
	switch (m) {
	case UNWIND_AUTO:
		return "auto";
	case UNWIND_FP:
		return "fp";
	case UNWIND_DWARF:
		return "dwarf";
	case UNWIND_KERNEL:
		return "kernel";
	case UNWIND_COPY:
		return "copy";
	}
	return "?";
}

/* A frame-pointer walk through code built without frame pointers reads
 * stack data as return addresses; the first value that cannot be a user
 * address (0, or above the user address space) ends the stack there. */
static size_t plausible_user_frames(const __u64 *stack, size_t n)
{
	const uint64_t user_limit = 1ULL << 47;  /* x86-64 with 4-level paging */

	for (size_t i = 0; i < n; i++)
		if (stack[i] == 0 || stack[i] >= user_limit)
			return i;
	return n;
}

/* The user stack as return addresses, leaf first: DWARF CFI over the copied
 * stack, or the kernel's frame-pointer walk, whichever the mode and the
 * result say. Returns the count; *truncated when the copy was too short. */
static size_t user_stack(struct collector *c, const struct ignis_sample *s, const __u64 *ustack,
			 size_t nu, size_t copied, uint64_t *pcs, int *truncated)
{
	size_t nfp = plausible_user_frames(ustack, nu);
	struct unwind_sample us = {
		.tgid = s->tgid, .tid = s->tid, .regs = (const uint64_t *)s->regs,
		.stack = (const uint8_t *)(s + 1), .stack_len = copied,
		.stack_cut = !!(s->flags & IGNIS_SAMPLE_STACK_CUT),
	};
	enum unwind_end end = UNWIND_END_OTHER;
	int n = -1;

	*truncated = 0;
	if (c->unwinder && copied && (s->flags & IGNIS_SAMPLE_USER_REGS))
		n = unwinder__unwind(c->unwinder, &us, pcs, UNWIND_MAX_FRAMES, &end);
	/* A stack that ends where Go's traceback ends ends there: the frame
	 * pointers would lead on past a stack switch, into another
	 * goroutine's frames. */
	if (n > 0 && (c->mode == UNWIND_DWARF || end == UNWIND_END_SWITCH ||
		      end == UNWIND_END_GO_TOP || (size_t)n >= nfp)) {
		*truncated = end == UNWIND_END_TRUNCATED;
		c->dwarf_used++;
		return n;
	}
	*truncated = 0;
	if (c->mode == UNWIND_DWARF)
		return n > 0 ? n : 0;
	c->fp_used += nfp > 0;
	memcpy(pcs, ustack, nfp * sizeof(*pcs));
	return nfp;
}

/* The process's series, asked of the caller once per process; a refusal
 * (-ECANCELED) is kept too, so a process not profiled costs one lookup. */
#define SERIES_REFUSED (-2)

static int series_of(struct collector *c, struct proc *p, const char *comm)
{
	int64_t series = proc__series(p);
	int ret;

	if (series == SERIES_REFUSED)
		return -ECANCELED;
	if (series >= 0 || !c->opts.series)
		return series >= 0 ? (int)series : 0;
	ret = c->opts.series(c->opts.series_ctx, proc__tgid(p), comm);
	if (ret >= 0)
		proc__set_series(p, ret);
	else if (ret == -ECANCELED)
		proc__set_series(p, SERIES_REFUSED);
	return ret;
}

/* Counts the walk's outcome, and asks for the table a frame-pointer step
 * stood in for (the mapping's binary, not loaded yet or evicted). */
static void walk_outcome(struct collector *c, struct proc *p, const struct ignis_sample *s)
{
	struct binary *bin;
	uint64_t off, start;

	if (s->flags & IGNIS_SAMPLE_UNW_TRUNCATED)
		c->walk_truncated++;
	else if (s->flags & IGNIS_SAMPLE_UNW_FP)
		c->walk_fp++;
	else if (s->flags & IGNIS_SAMPLE_UNW_UNEXPRESSIBLE)
		c->walk_unexpressible++;
	else if (s->flags & IGNIS_SAMPLE_UNW_READ_FAIL)
		c->walk_read_failed++;
	else if (s->flags & IGNIS_SAMPLE_UNW_END)
		c->walk_complete++;
	else
		c->walk_other++;
	if (!(s->flags & IGNIS_SAMPLE_UNW_END) && log__level() >= LOG_DEBUG) {
		const __u64 *f = s->frames + (s->kstack_len > 0 ? s->kstack_len : 0);

		pr_debug("collector: walk of %u ended early: flags %#x miss %u at %#llx, %d frames "
			 "(leaf %#llx, last %#llx) sp %#llx bp %#llx\n", s->tgid, s->flags, s->unw_miss,
			 (unsigned long long)s->unw_miss_pc, s->ustack_len,
			 s->ustack_len > 0 ? (unsigned long long)f[0] : 0ULL,
			 s->ustack_len > 0 ? (unsigned long long)f[s->ustack_len - 1] : 0ULL,
			 (unsigned long long)s->regs[IGNIS_REG_SP], (unsigned long long)s->regs[IGNIS_REG_BP]);
	}
	if (!(s->flags & IGNIS_SAMPLE_UNW_FP))
		return;
	switch (s->unw_miss) {
	case IGNIS_UNW_MISS_NO_MAPPING:
		/* Resolving the frames reads the maps again (at most once a
		 * second), which publishes the new mappings. */
		c->walk_fp_unmapped++;
		break;
	case IGNIS_UNW_MISS_PENDING:
	case IGNIS_UNW_MISS_EVICTED:
		c->walk_fp_pending++;
		if (proc__resolve_mapping(p, s->unw_miss_pc, s->time_ns, &bin, &off, &start) == 0 &&
		    !binary__is_jit(bin))
			unwstore__request(c->unw, bin);
		break;
	}
}

/* Where a blocking's kernel stack starts: at __schedule. The BPF program
 * takes the whole stack, whose first frames are its own and the
 * tracepoint's dispatch (how many depends on how many programs are
 * attached to that tracepoint, by ignis or anything else); without kernel
 * symbols, or with __schedule not among the first frames, all are kept. */
#define OFFCPU_DISPATCH_FRAMES 8

static size_t offcpu_kernel_start(const struct collector *c, const __u64 *frames, size_t nk)
{
	for (size_t i = 0; i < nk && i < OFFCPU_DISPATCH_FRAMES; i++)
		if (frames[i] >= c->schedule_lo && frames[i] < c->schedule_hi)
			return i;
	return 0;
}

/* A CPU sample, or with offcpu a blocking (struct ignis_offcpu: its
 * frames are a walked sample's, its time blocked where a sample's stack
 * sizes are). */
static int on_sample(struct collector *c, const struct ignis_sample *s, size_t len, int offcpu)
{
	static uint64_t pcs[UNWIND_MAX_FRAMES];
	static struct agg_frame ustack[UNWIND_MAX_FRAMES + 1];
	size_t nk = s->kstack_len > 0 ? (size_t)s->kstack_len : 0;
	size_t nu = s->ustack_len > 0 ? (size_t)s->ustack_len : 0;
	size_t copied = offcpu ? 0 : s->stack_len;
	const __u64 *user = s->frames + nk;
	char comm[IGNIS_COMM_LEN] = { 0 };
	/* Recency for the table store's LRU: every 8th sample is enough to
	 * tell the tables in use from the others, at an eighth of the lookups. */
	bool touch = c->unw && !(c->records & 7);
	const struct binary *last = NULL;
	struct proc *p;
	int truncated = 0, series, walked = !!(s->flags & IGNIS_SAMPLE_UNW_KERNEL);
	size_t o = 0;  /* user frames named: interpreted ones take two words */
	const void *labels;
	size_t labels_len;

	/* A record we do not understand is dropped, never trusted. A walked
	 * one is its frames and nothing else. */
	if (nk > IGNIS_MAX_FRAMES)
		return 0;
	/* The ring buffer keeps the order records were made in: one made
	 * before the exec event is of ignis's fork, not of the command. */
	if (c->opts.exec_pid && s->tgid == c->opts.exec_pid && !c->exec_pid_execd &&
	    s->time_ns < c->exec_pid_by_ns)
		return 0;
	if (offcpu) {
		if (!walked || nu > IGNIS_UNW_MAX_FRAMES || len < IGNIS_SAMPLE_LEN(nk + nu) ||
		    !c->offagg)
			return 0;
	} else if (walked) {
		if (nu > IGNIS_UNW_MAX_FRAMES || len < IGNIS_SAMPLE_LEN(nk + nu) || s->stack_size ||
		    copied)
			return 0;
	} else if (nu > IGNIS_MAX_FRAMES || copied > s->stack_size ||
		   len < sizeof(*s) + copied) {
		return 0;
	}
	if (offcpu) {
		c->offcpu_records++;
		c->offcpu_bytes += len;
	} else {
		c->records++;
		c->record_frames += nk + nu;
		c->record_bytes += len;
		c->stack_bytes += copied;
	}
	memcpy(comm, s->comm, sizeof(comm) - 1);
	p = proctab__get(c->procs, s->tgid, s->time_ns);
	if (!p)
		return -ENOMEM;
	golabels__see(c->go, s->tgid);
	/* Go labels come right before a CPU sample of theirs; off-CPU records
	 * carry none. */
	labels_len = 0;
	labels = offcpu ? NULL : golabels__take(c->go, s->cpu, s->tid, s->time_ns, &labels_len);
	series = series_of(c, p, comm);
	if (series < 0) {
		c->dropped++;
		return 0;
	}
	if (walked) {
		if (!offcpu || c->unw)
			walk_outcome(c, p, s);
		memcpy(pcs, user, nu * sizeof(*pcs));
		truncated = !!(s->flags & IGNIS_SAMPLE_UNW_TRUNCATED);
	} else {
		nu = user_stack(c, s, user, nu, copied, pcs, &truncated);
	}
	for (size_t i = 0; i < nu; i++) {
		if (walked && IGNIS_IFRAME_IS(pcs[i])) {
			/* two words (bpf/interp.h); a cut pair is dropped */
			if (i + 1 < nu && c->py &&
			    python__frame(c->py, s->tgid, pcs[i], pcs[i + 1], &ustack[o]) == 0)
				o++;
			i++;
		} else if (pcs[i] >= USER_PC_LIMIT) {
			/* Not a user-space address: a corrupt stack or a garbage
			 * unwind, and nothing past it can be trusted. (Kept, its
			 * top bit would read as an interpreted frame's.) */
			c->foreign_pcs++;
			break;
		} else if (proc__resolve(p, pcs[i], s->time_ns, &ustack[o].bin, &ustack[o].addr)) {
			ustack[o].bin = NULL;
			ustack[o++].addr = pcs[i];
		} else {
			if (touch && ustack[o].bin != last) {
				last = ustack[o].bin;
				unwstore__touch(c->unw, last);
			}
			/* Go's traceback ends a stack at a stack switch: frame
			 * pointers walked past it (a process's first samples,
			 * before its tables) reach another stack's frames. A
			 * caller's address is the one after its call. */
			if (binary__ends_go_stack(ustack[o].bin, ustack[o].addr - (i > 0))) {
				o++;
				if (i + 1 < nu) {
					c->go_cut++;
					truncated = 0;
				}
				break;
			}
			o++;
		}
	}
	nu = o;
	if (truncated)
		ustack[nu++] = (struct agg_frame){ NULL, AGG_TRUNCATED };
	if (offcpu) {
		size_t k0 = offcpu_kernel_start(c, s->frames, nk);

		return aggregate__add_value(c->offagg, series, s->tgid, comm,
					    (const uint64_t *)s->frames + k0, nk - k0, ustack, nu, 1,
					    ((const struct ignis_offcpu *)s)->blocked_ns);
	}
	c->samples++;
	return aggregate__add_labeled(c->agg, series, s->tgid, c->opts.key_by_tid ? s->tid : 0, comm,
				      (const uint64_t *)s->frames, nk, ustack, nu, labels, labels_len,
				      1);
}

static int on_event(void *ctx, const void *data, size_t len)
{
	struct collector *c = ctx;
	const struct ignis_proc_event *e = data;
	__u32 type;
	int err = 0;

	if (len < sizeof(type))
		return 0;
	memcpy(&type, data, sizeof(type));
	switch (type) {
	case IGNIS_EV_SAMPLE:
		if (len >= IGNIS_SAMPLE_HDR_LEN)
			err = on_sample(c, data, len, 0);
		break;
	case IGNIS_EV_OFFCPU:
		if (len >= IGNIS_SAMPLE_HDR_LEN)
			err = on_sample(c, data, len, 1);
		break;
	case IGNIS_EV_GO_LABELS:
		golabels__record(c->go, data, len);
		break;
	case IGNIS_EV_EXEC:
		if (len >= sizeof(*e)) {
			c->exec_pid_execd |= c->opts.exec_pid && e->tgid == c->opts.exec_pid;
			golabels__forget(c->go, e->tgid);
			proctab__exec(c->procs, e->tgid);
			python__forget(c->py, e->tgid);
			if (c->unwinder)
				unwinder__forget(c->unwinder, e->tgid);
		}
		break;
	case IGNIS_EV_EXIT:
		if (len >= sizeof(*e)) {
			golabels__forget(c->go, e->tgid);
			proctab__exit(c->procs, e->tgid);
			python__forget(c->py, e->tgid);
			if (c->unwinder)
				unwinder__forget(c->unwinder, e->tgid);
		}
		break;
	}
	if (err) {
		c->err = err;
		return err;
	}
	return 0;
}

/* True when /proc/PID/stat says the process is running (R) now. */
static bool running(const char *proc_root, unsigned long pid)
{
	char path[64 + 4096], buf[512], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%lu/stat", proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	/* "pid (comm) S ...": comm may hold spaces and parentheses. */
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] == 'R';
}

/* The processes asked for, or those running now: their mappings go to the
 * walker's maps and their binaries to the compile queue before the first
 * sample, so the first interval is walked from tables too. Idle processes
 * wait for their first sample (tables are compiled for what runs, not for
 * everything installed). */
static void preload(struct collector *c)
{
	uint64_t now = (uint64_t)clock__monotonic_ns();
	struct dirent *d;
	DIR *dir;

	if (c->opts.npids) {
		for (size_t i = 0; i < c->opts.npids; i++)
			proctab__get(c->procs, c->opts.pids[i], now);
		return;
	}
	dir = opendir(c->opts.proc_root);
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		char *end;
		unsigned long pid = strtoul(d->d_name, &end, 10);

		if (*end || !pid || pid > UINT32_MAX || pid == (unsigned long)getpid() ||
		    !running(c->opts.proc_root, pid))
			continue;
		proctab__get(c->procs, pid, now);
	}
	closedir(dir);
}

static struct sampler *start_sampler(struct collector *c, enum unwind_mode mode)
{
	const struct collector_opts *o = &c->opts;
	struct sampler_opts sopts = {
		.frequency_hz = o->frequency_hz,
		.pids = o->pids,
		.npids = o->npids,
		.follow_children = o->follow_children,
		.send_idle = o->include_idle,
		.sys_root = o->sys_root,
		.stack_size = mode == UNWIND_COPY || mode == UNWIND_DWARF ? o->stack_size : 0,
		.cpus = o->cpus,
		.walk_tables = mode == UNWIND_KERNEL,
		.defer_start = mode == UNWIND_KERNEL,
		.off_cpu = o->off_cpu,
		.offcpu_min_ns = o->offcpu_min_ns,
		.offcpu_probability = o->offcpu_probability,
	};

	struct sampler *s;

	unwstore__sizes(o->unwind_table_bytes, &sopts.unw);
	s = sampler__new(&sopts, on_event, c);
	if (s)
		c->offcpu_path = sampler__offcpu_path(s);
	return s;
}

static void python_maps(void *ctx, uint32_t tgid, const struct procmaps *maps,
			struct binary *const *bins)
{
	python__process(((struct collector *)ctx)->py, tgid, maps, bins);
}

static int start_tables(struct collector *c)
{
	struct unwstore_opts uo = {
		.budget_bytes = c->opts.unwind_table_bytes,
		.compile = unwsource__compile,
		.release = unwsource__release,
		.compile_ctx = &c->unw_src,
		.compiles_per_sec = UNW_COMPILES_PER_SEC,
		.hot_ns = 5000000000ULL,
		.retry_ns = 10000000000ULL,
	};
	struct unwstore_stats st;
	uint64_t t0;
	int err;

	/* The worker outlives the caller's strings (a reload frees them). */
	if (c->opts.ndebug_dirs) {
		char **dirs = calloc(c->opts.ndebug_dirs, sizeof(*dirs));

		if (!dirs)
			return -ENOMEM;
		c->unw_src.debug_dirs = (const char *const *)dirs;
		for (size_t i = 0; i < c->opts.ndebug_dirs; i++) {
			dirs[i] = strdup(c->opts.debug_dirs[i]);
			if (!dirs[i])
				return -ENOMEM;
			c->unw_src.ndebug_dirs = i + 1;
		}
	}
	sampler__unw_fds(c->sampler, &uo.fds);
	uo.generation = sampler__unw_generation(c->sampler);
	uo.pid_generation = sampler__unw_pid_generation(c->sampler);
	c->unw = unwstore__new(&uo);
	if (!c->unw) {
		err = -errno;
		pr_warn("collector: cannot start the unwind table store: %s\n", strerror(-err));
		return err;
	}
	proctab__set_unwstore(c->procs, c->unw);
	c->py = python__new(c->opts.proc_root, sampler__interp_fd(c->sampler));
	if (!c->py)
		return -ENOMEM;
	python__set_count(c->py, sampler__interp_nprocs(c->sampler));
	proctab__set_maps_hook(c->procs, python_maps, c);
	t0 = (uint64_t)clock__monotonic_ns();
	preload(c);
	if (c->opts.unwind_settle_s > 0)
		unwstore__settle(c->unw, (int)(c->opts.unwind_settle_s * 1000));
	else
		unwstore__poll(c->unw, (uint64_t)clock__monotonic_ns());
	unwstore__stats(c->unw, &st);
	pr_info("collector: unwind tables: %" PRIu64 " loaded (%" PRIu64 " KiB of %" PRIu64
		" KiB) for %" PRIu64 " processes in %.2f s\n", st.tables_loaded,
		st.table_bytes >> 10, st.budget_bytes >> 10, st.processes,
		((uint64_t)clock__monotonic_ns() - t0) / 1e9);
	err = sampler__start(c->sampler);
	return err;
}

static int start_golabels(struct collector *c)
{
	struct golabels_opts go = {
		.proc_root = c->opts.proc_root,
		.max_procs = IGNIS_GO_MAX_PROCS,
		.go_labels = c->opts.go_labels,
		.ngo_labels = c->opts.ngo_labels,
		.trace_labels = c->opts.trace_labels,
		.ntrace_labels = c->opts.ntrace_labels,
	};

	sampler__go_fds(c->sampler, &go.procs_fd, &go.stats_fd);
	go.count = sampler__go_nprocs(c->sampler);
	c->go = golabels__new(&go);
	return c->go ? 0 : -errno;
}

struct collector *collector__new(const struct collector_opts *o)
{
	struct debuginfod_opts dopts = {
		.urls = o->debuginfod_urls,
		.cache_dir = o->debuginfod_cache,
		.cache_bytes = o->debuginfod_cache_bytes,
	};
	struct bincache_opts bopts = {
		.debug_dirs = o->debug_dirs,
		.ndebug_dirs = o->ndebug_dirs,
		.budget_bytes = o->symbol_cache_bytes,
	};
	struct collector *c = calloc(1, sizeof(*c));
	char *inflate_dir = NULL;
	int err;

	if (!c)
		return NULL;
	/* glibc gives each thread that allocates an arena of its own (the
	 * table compilers, debuginfod's worker): their pages stay resident
	 * between uses, 2 MiB of a 40 MiB recording. The threads allocate
	 * rarely next to the sampling loop, so they share the main arena;
	 * MALLOC_ARENA_MAX in the environment still decides. */
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, 1);
	/* A recording's CPU is mostly its start and its one flush: memory
	 * freed in between is kept in the heap for the next use (base/heap.h
	 * says what a page fault costs). The agent keeps glibc's ways: it
	 * gives the heap back after each flush, and its RSS between flushes
	 * is what a node pays. Loading the programs no longer reads the
	 * kernel's whole BTF (sys/kbtf.h), which this once filled the heap
	 * ahead for: without it, filling ahead gained nothing measurable
	 * (10 s recordings, three alternated pairs) and cost 7 MiB of RSS.
	 * The heap is also backed by huge pages where the kernel has them:
	 * a fault per 2 MiB, not per 4 KiB page. */
	if (o->one_flush) {
		int herr = heap__reserve_huge(RECORD_HEAP_RESERVE);

		if (herr)
			pr_debug("collector: heap without huge pages (%s)\n", strerror(-herr));
	}
	c->opts = *o;
	c->exec_pid_by_ns = UINT64_MAX;
	/* The samples come from the running kernel, whatever proc_root is:
	 * its names are asked of it as they are needed, and <proc_root>/kallsyms
	 * is read whole only where that cannot be done. */
	c->ksyms = kallsyms__open_live();
	if (!c->ksyms) {
		pr_debug("collector: kernel symbols cannot be asked of the kernel (%s); reading "
			 "%s/kallsyms\n", strerror(errno), o->proc_root);
		c->ksyms = kallsyms__load(o->proc_root);
	}
	if (!c->ksyms)
		pr_warn("collector: kernel symbols unavailable (%s/kallsyms: %s); kernel frames "
			"will show as addresses\n", o->proc_root, strerror(errno));
	if (o->off_cpu && c->ksyms &&
	    kallsyms__range(c->ksyms, "__schedule", &c->schedule_lo, &c->schedule_hi))
		pr_info("collector: no __schedule in the kernel symbols: off-CPU stacks keep the "
			"frames of the program that took them\n");
	c->dbgd = debuginfod__new(&dopts);
	if (!c->dbgd && errno != ENOENT)
		pr_warn("collector: debuginfod unavailable: %s\n", strerror(errno));
	bopts.debuginfod = c->dbgd;
	c->bins = bincache__new(o->proc_root);
	/* Uncompressed copies of debug files sit next to the downloads and
	 * are bounded like them (symbolizer/inflate.h). */
	if (asprintf(&inflate_dir, "%s/inflated",
		     o->debuginfod_cache && *o->debuginfod_cache ? o->debuginfod_cache
							       : DEBUGINFOD_DEFAULT_CACHE) < 0)
		inflate_dir = NULL;
	bopts.inflate_dir = inflate_dir;
	bopts.inflate_bytes = o->debuginfod_cache_bytes;
	err = !c->bins || !inflate_dir ? -ENOMEM : bincache__configure(c->bins, &bopts);
	free(inflate_dir);
	if (err) {
		err = -ENOMEM;
		goto cleanup;
	}
	c->procs = proctab__new(o->proc_root, c->bins);
	c->agg = aggregate__new();
	c->offagg = o->off_cpu ? aggregate__new() : NULL;
	if (!c->procs || !c->agg || (o->off_cpu && !c->offagg)) {
		err = -ENOMEM;
		goto cleanup;
	}
	c->mode = o->unwind;
	if (c->mode == UNWIND_AUTO || c->mode == UNWIND_KERNEL) {
		c->sampler = start_sampler(c, UNWIND_KERNEL);
		if (c->sampler) {
			c->mode = UNWIND_KERNEL;
		} else if (c->mode == UNWIND_AUTO) {
			pr_warn("collector: this kernel does not load the unwinding walker (%s); "
				"unwinding copies of the user stack instead (--unwind copy)\n",
				strerror(errno));
			c->mode = UNWIND_COPY;
		} else {
			err = -errno;
			goto cleanup;
		}
	}
	if (c->mode != UNWIND_FP && c->mode != UNWIND_KERNEL) {
		c->unwinder = unwinder__new(o->proc_root, MAX_UNWIND_PROCS);
		if (!c->unwinder) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	if (!c->sampler)
		c->sampler = start_sampler(c, c->mode);
	if (!c->sampler) {
		err = -errno;
		goto cleanup;
	}
	err = start_golabels(c);
	if (err)
		goto cleanup;
	if (c->mode == UNWIND_KERNEL) {
		err = start_tables(c);
		if (err)
			goto cleanup;
	}
	return c;

cleanup:
	collector__free(c);
	errno = -err;
	return NULL;
}

void collector__free(struct collector *c)
{
	if (!c)
		return;
	/* The store's worker reads binaries and writes the sampler's maps. */
	if (c->procs) {
		proctab__set_unwstore(c->procs, NULL);
		proctab__set_maps_hook(c->procs, NULL, NULL);
	}
	python__free(c->py);
	unwstore__free(c->unw);
	for (size_t i = 0; i < c->unw_src.ndebug_dirs; i++)
		free((char *)c->unw_src.debug_dirs[i]);
	free((void *)c->unw_src.debug_dirs);
	sampler__free(c->sampler);
	golabels__free(c->go);
	aggregate__free(c->agg);
	aggregate__free(c->offagg);
	unwinder__free(c->unwinder);
	proctab__free(c->procs);
	bincache__free(c->bins);
	debuginfod__free(c->dbgd);
	kallsyms__free(c->ksyms);
	free(c);
}

/* While tables are being compiled the loop turns every few milliseconds,
 * so a finished table goes in at once (samples wake it only by the
 * ring buffer's fill level). */
#define UNW_BUSY_POLL_MS 5

void collector__exec_done(struct collector *c, uint64_t mono_ns)
{
	c->exec_pid_by_ns = mono_ns;
}

int collector__poll(struct collector *c, int timeout_ms)
{
	int ret;

	if (c->unw && timeout_ms > UNW_BUSY_POLL_MS && unwstore__busy(c->unw))
		timeout_ms = UNW_BUSY_POLL_MS;
	ret = sampler__poll(c->sampler, timeout_ms);

	if (c->unw)
		unwstore__poll(c->unw, (uint64_t)clock__monotonic_ns());

	if (ret < 0 && ret != -EINTR && c->err)
		return c->err;
	return ret < 0 ? ret : 0;
}

struct aggregate *collector__swap(struct collector *c)
{
	struct aggregate *fresh = aggregate__new(), *old = c->agg;

	if (!fresh)
		return NULL;
	c->agg = fresh;
	return old;
}

struct aggregate *collector__swap_offcpu(struct collector *c)
{
	struct aggregate *fresh, *old = c->offagg;
	double p = c->opts.offcpu_probability;

	if (!old) {
		errno = ENOENT;
		return NULL;
	}
	fresh = aggregate__new();
	if (!fresh)
		return NULL;
	c->offagg = fresh;
	aggregate__set_scale(old, p > 0 && p < 1 ? 1 / p : 1);
	return old;
}

int collector__symbolize_offcpu(struct collector *c, const struct aggregate *agg,
				struct profile **profiles, size_t nseries)
{
	return aggregate__to_profiles(agg, c->ksyms, profiles, nseries);
}

int collector__symbolize(struct collector *c, const struct aggregate *agg,
			 struct profile **profiles, size_t nseries)
{
	int err = aggregate__to_profiles(agg, c->ksyms, profiles, nseries);

	/* Profiles copy every string they keep: symbol memory over budget
	 * can go now, and so can the processes that exited. */
	bincache__trim(c->bins);
	proctab__sweep(c->procs);
	python__trim(c->py, aggregate__samples(c->agg));
	/* What the flush freed (a debug file's inflated sections, names)
	 * goes back to the system rather than staying in the heap until the
	 * next flush; a recording exits instead. */
	if (!c->opts.one_flush)
		malloc_trim(0);
	return err;
}

void collector__wait_debuginfo(struct collector *c, double seconds)
{
	if (c->dbgd && debuginfod__wait(c->dbgd, (uint64_t)(seconds * 1000)))
		pr_warn("collector: debug files still downloading after %g s; their frames "
			"keep library+offset names\n", seconds);
}

void collector__forget_series(struct collector *c, const uint32_t *tgids, size_t n)
{
	proctab__forget_series(c->procs, tgids, n);
}

void collector__stats(struct collector *c, struct collector_stats *s)
{
	struct unwind_stats us = { 0 };

	memset(s, 0, sizeof(*s));
	if (c->sampler)
		sampler__stats(c->sampler, &s->sampler);
	else
		s->sampler = c->end_sampler;
	if (c->unwinder)
		unwinder__stats(c->unwinder, &us);
	s->samples = c->samples;
	s->dwarf_used = c->dwarf_used;
	s->fp_used = c->fp_used;
	s->unwinds = us.unwinds;
	s->unwind_truncated = us.truncated;
	s->unwind_go_switch = us.go_switch;
	s->go_stack_cut = c->go_cut;
	s->unwind_failed = us.failed;
	s->dropped = c->dropped;
	s->foreign_pcs = c->foreign_pcs;
	s->unwind = c->mode;
	s->walk_complete = c->walk_complete;
	s->walk_fp = c->walk_fp;
	s->walk_fp_pending = c->walk_fp_pending;
	s->walk_fp_unmapped = c->walk_fp_unmapped;
	s->walk_truncated = c->walk_truncated;
	s->walk_unexpressible = c->walk_unexpressible;
	s->walk_read_failed = c->walk_read_failed;
	s->walk_other = c->walk_other;
	s->records = c->records;
	s->record_frames = c->record_frames;
	s->record_bytes = c->record_bytes;
	s->stack_bytes = c->stack_bytes;
	s->offcpu_records = c->offcpu_records;
	s->offcpu_bytes = c->offcpu_bytes;
	s->offcpu_path = c->offcpu_path;
	if (c->sampler)
		sampler__offcpu_stats(c->sampler, s->offcpu);
	else
		memcpy(s->offcpu, c->end_offcpu, sizeof(s->offcpu));
	if (c->unw)
		unwstore__stats(c->unw, &s->tables);
	else
		s->tables = c->end_tables;
	if (c->py)
		python__stats(c->py, &s->python);
	if (c->sampler)
		golabels__stats(c->go, &s->go);
	else
		s->go = c->end_go;
}

void collector__end_sampling(struct collector *c)
{
	/* Python and Go label records go into the sampler's maps: no more. */
	if (c->procs) {
		proctab__set_unwstore(c->procs, NULL);
		proctab__set_maps_hook(c->procs, NULL, NULL);
	}
	if (c->sampler) {
		golabels__stats(c->go, &c->end_go);
		sampler__offcpu_stats(c->sampler, c->end_offcpu);
	}
	if (c->unw) {
		unwstore__stats(c->unw, &c->end_tables);
		unwstore__free(c->unw);
		c->unw = NULL;
	}
	if (c->sampler) {
		sampler__stats(c->sampler, &c->end_sampler);
		sampler__free(c->sampler);
		c->sampler = NULL;
	}
}

void collector__log_symbol_stats(struct collector *c, const char *who)
{
	struct bincache_stats bs;
	struct debuginfod_stats ds;

	bincache__stats(c->bins, &bs);
	pr_info("%s: symbols: %" PRIu64 " addresses named in %" PRIu64 " binaries "
		"(%" PRIu64 " cache hits, %" PRIu64 " loads, %" PRIu64 " evictions), %" PRIu64
		" bytes kept\n", who, bs.lookups, bs.binaries, bs.hits, bs.misses, bs.evictions,
		bs.bytes);
	if (bs.inflated.used || bs.inflated.failed || bs.inflated.invalid)
		pr_info("%s: inflated debug files: %" PRIu64 " used (%" PRIu64 " written), %" PRIu64
			" failed, %" PRIu64 " did not match their source, %" PRIu64 " evicted\n",
			who, bs.inflated.used, bs.inflated.written, bs.inflated.failed,
			bs.inflated.invalid, bs.inflated.evicted);
	if (!c->dbgd)
		return;
	debuginfod__stats(c->dbgd, &ds);
	pr_info("%s: debuginfod: %" PRIu64 " requested, %" PRIu64 " fetched, %" PRIu64
		" failed, %" PRIu64 " cache bytes\n", who, ds.requested, ds.fetched, ds.failed,
		ds.cache_bytes);
}

size_t collector__binaries(const struct collector *c)
{
	return bincache__count(c->bins);
}

size_t collector__processes(const struct collector *c)
{
	return proctab__count(c->procs);
}

const struct sampler *collector__sampler(const struct collector *c)
{
	return c->sampler;
}

void collector__symbol_stats(const struct collector *c, struct bincache_stats *s)
{
	bincache__stats(c->bins, s);
}
