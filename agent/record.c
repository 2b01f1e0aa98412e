#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/aggregate.h"
#include "agent/log.h"
#include "agent/proctab.h"
#include "agent/record.h"
#include "agent/report.h"
#include "agent/sampler.h"
#include "exporters/folded.h"
#include "exporters/pprof.h"
#include "symbolizer/bincache.h"
#include "symbolizer/debuginfod.h"
#include "symbolizer/kallsyms.h"
#include "symbolizer/unwind.h"

/* Processes whose unwind state (a Dwfl with its modules) is kept. */
#define MAX_UNWIND_PROCS 512

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct recorder {
	const struct record_opts *opts;
	struct proctab *procs;
	struct aggregate *agg;
	struct unwinder *unwinder;
	uint64_t samples;
	uint64_t dwarf_used, fp_used;
	int err;                   /* first fatal error seen in a callback */
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
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
static size_t user_stack(struct recorder *r, const struct ignis_sample *s, size_t copied,
			 uint64_t *pcs, int *truncated)
{
	size_t nfp = plausible_user_frames(s->ustack, s->ustack_len > 0 ? s->ustack_len : 0);
	struct unwind_sample us = {
		.tgid = s->tgid, .tid = s->tid, .regs = (const uint64_t *)s->regs,
		.stack = (const uint8_t *)(s + 1), .stack_len = copied,
		.stack_cut = !!(s->flags & IGNIS_SAMPLE_STACK_CUT),
	};
	int n = -1;

	*truncated = 0;
	if (r->unwinder && copied && (s->flags & IGNIS_SAMPLE_USER_REGS))
		n = unwinder__unwind(r->unwinder, &us, pcs, UNWIND_MAX_FRAMES, truncated);
	if (n > 0 && (r->opts->unwind == UNWIND_DWARF || (size_t)n >= nfp)) {
		r->dwarf_used++;
		return n;
	}
	*truncated = 0;
	if (r->opts->unwind == UNWIND_DWARF)
		return n > 0 ? n : 0;
	r->fp_used += nfp > 0;
	memcpy(pcs, s->ustack, nfp * sizeof(*pcs));
	return nfp;
}

static int on_sample(struct recorder *r, const struct ignis_sample *s, size_t len)
{
	static uint64_t pcs[UNWIND_MAX_FRAMES];
	static struct agg_frame ustack[UNWIND_MAX_FRAMES + 1];
	size_t nk = s->kstack_len > 0 ? (size_t)s->kstack_len : 0;
	size_t copied = s->stack_len, nu;
	struct proc *p = NULL;
	int truncated;

	/* A record we do not understand is dropped, never trusted. */
	if (nk > IGNIS_MAX_FRAMES || s->ustack_len > IGNIS_MAX_FRAMES ||
	    copied > s->stack_size || len < sizeof(*s) + copied)
		return 0;
	nu = user_stack(r, s, copied, pcs, &truncated);
	if (nu) {
		p = proctab__get(r->procs, s->tgid, s->time_ns);
		if (!p)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nu; i++) {
		if (proc__resolve(p, pcs[i], s->time_ns, &ustack[i].bin, &ustack[i].addr)) {
			ustack[i].bin = NULL;
			ustack[i].addr = pcs[i];
		}
	}
	if (truncated)
		ustack[nu++] = (struct agg_frame){ NULL, AGG_TRUNCATED };
	r->samples++;
	return aggregate__add(r->agg, s->tgid, s->comm, (const uint64_t *)s->kstack, nk, ustack,
			      nu, 1);
}

static int on_event(void *ctx, const void *data, size_t len)
{
	struct recorder *r = ctx;
	const struct ignis_proc_event *e = data;
	__u32 type;
	int err = 0;

	if (len < sizeof(type))
		return 0;
	memcpy(&type, data, sizeof(type));
	switch (type) {
	case IGNIS_EV_SAMPLE:
		if (len >= sizeof(struct ignis_sample))
			err = on_sample(r, data, len);
		break;
	case IGNIS_EV_EXEC:
		if (len >= sizeof(*e)) {
			proctab__exec(r->procs, e->tgid);
			if (r->unwinder)
				unwinder__forget(r->unwinder, e->tgid);
		}
		break;
	case IGNIS_EV_EXIT:
		if (len >= sizeof(*e)) {
			proctab__exit(r->procs, e->tgid);
			if (r->unwinder)
				unwinder__forget(r->unwinder, e->tgid);
		}
		break;
	}
	if (err) {
		r->err = err;
		return err;
	}
	return 0;
}

/* Fails early, before anything is loaded, when the output cannot be written. */
static int prepare_output(const char *dir)
{
	char path[PATH_MAX];
	int fd, err;

	if (mkdir(dir, 0755) && errno != EEXIST) {
		err = -errno;
		fprintf(stderr, "ignis: cannot create output directory %s: %s\n", dir, strerror(-err));
		return err;
	}
	snprintf(path, sizeof(path), "%s/.ignis-write-test-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "ignis: cannot write to output directory %s: %s\n", dir, strerror(-err));
		return err;
	}
	close(fd);
	unlink(path);
	return 0;
}

/* Writes to a temporary name, then renames, so a reader never sees half a file. */
static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	if (fwrite(data, 1, len, f) != len)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int write_outputs(const struct record_opts *opts, const struct profile *p)
{
	uint8_t *raw = NULL, *gz = NULL;
	size_t raw_len, gz_len, folded_len = 0;
	char *folded = NULL;
	FILE *f;
	int err;

	err = pprof__encode(p, &pprof_style_default, &raw, &raw_len);
	if (!err)
		err = pprof__gzip(raw, raw_len, &gz, &gz_len);
	if (!err)
		err = write_file(opts->output_dir, "profile.pb.gz", gz, gz_len);
	if (err) {
		fprintf(stderr, "ignis: cannot write %s/profile.pb.gz: %s\n", opts->output_dir,
			strerror(-err));
		goto cleanup;
	}
	f = open_memstream(&folded, &folded_len);
	if (!f) {
		err = -errno;
		goto cleanup;
	}
	err = folded__write(p, "comm", f);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (!err)
		err = write_file(opts->output_dir, "profile.folded", folded, folded_len);
	if (err)
		fprintf(stderr, "ignis: cannot write %s/profile.folded: %s\n", opts->output_dir,
			strerror(-err));
cleanup:
	free(folded);
	free(gz);
	free(raw);
	return err;
}

static void progress(const struct recorder *r, double elapsed, int final)
{
	int tty = isatty(STDERR_FILENO);

	if (!tty && !final)
		return;
	fprintf(stderr, "%signis: recording %.0f/%.0f s, %llu samples, %zu processes%s",
		tty ? "\r" : "", elapsed, r->opts->duration_s, (unsigned long long)r->samples,
		proctab__count(r->procs), tty && !final ? "" : "\n");
}

static void log_symbol_stats(const struct bincache *bins, struct debuginfod *dbgd)
{
	struct bincache_stats bs;
	struct debuginfod_stats ds;

	bincache__stats(bins, &bs);
	pr_info("record: symbols: %" PRIu64 " addresses named in %" PRIu64 " binaries "
		"(%" PRIu64 " cache hits, %" PRIu64 " loads, %" PRIu64 " evictions), %" PRIu64
		" bytes kept\n", bs.lookups, bs.binaries, bs.hits, bs.misses, bs.evictions,
		bs.bytes);
	if (!dbgd)
		return;
	debuginfod__stats(dbgd, &ds);
	pr_info("record: debuginfod: %" PRIu64 " requested, %" PRIu64 " fetched, %" PRIu64
		" failed, %" PRIu64 " cache bytes\n", ds.requested, ds.fetched, ds.failed,
		ds.cache_bytes);
}

int record__run(const struct record_opts *opts)
{
	struct sampler_opts sopts = {
		.frequency_hz = opts->frequency_hz,
		.pids = opts->pids,
		.npids = opts->npids,
		.send_idle = opts->include_idle,
		.sys_root = opts->sys_root,
		.stack_size = opts->unwind == UNWIND_FP ? 0 : opts->stack_size,
	};
	struct recorder r = { .opts = opts };
	struct sigaction sa = { .sa_handler = on_signal };
	struct kallsyms *ksyms = NULL;
	struct debuginfod_opts dopts = { .cache_dir = opts->debuginfod_cache };
	struct debuginfod *dbgd = NULL;
	struct bincache *bins = NULL;
	struct sampler *sampler = NULL;
	struct profile *prof = NULL;
	struct sampler_stats st;
	struct timespec wall;
	uint64_t start_ns, last_progress = 0;
	double elapsed = 0;
	int err;

	err = prepare_output(opts->output_dir);
	if (err)
		return err;

	ksyms = kallsyms__load(opts->proc_root);
	if (!ksyms)
		pr_warn("record: kernel symbols unavailable (%s/kallsyms: %s); kernel frames "
			"will show as addresses\n", opts->proc_root, strerror(errno));
	dbgd = debuginfod__new(&dopts);
	if (!dbgd && errno != ENOENT)
		pr_warn("record: debuginfod unavailable: %s\n", strerror(errno));
	bins = bincache__new(opts->proc_root);
	if (bins) {
		struct bincache_opts bopts = {
			.debug_dirs = opts->debug_dirs,
			.ndebug_dirs = opts->ndebug_dirs,
			.debuginfod = dbgd,
			.budget_bytes = opts->symbol_cache_bytes,
		};

		if (bincache__configure(bins, &bopts)) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	r.procs = bins ? proctab__new(opts->proc_root, bins) : NULL;
	r.agg = aggregate__new();
	if (opts->unwind != UNWIND_FP)
		r.unwinder = unwinder__new(opts->proc_root, MAX_UNWIND_PROCS);
	if (!bins || !r.procs || !r.agg || (opts->unwind != UNWIND_FP && !r.unwinder)) {
		err = -ENOMEM;
		goto cleanup;
	}

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	clock_gettime(CLOCK_REALTIME, &wall);
	sampler = sampler__new(&sopts, on_event, &r);
	if (!sampler) {
		err = -errno;
		fprintf(stderr, "ignis: cannot start sampling: %s\n", strerror(-err));
		goto cleanup;
	}
	start_ns = monotonic_ns();
	while (!stop_requested && elapsed < opts->duration_s) {
		err = sampler__poll(sampler, 100);
		if (err < 0 && err != -EINTR) {
			if (r.err)
				err = r.err;
			fprintf(stderr, "ignis: sampling failed: %s\n", strerror(-err));
			goto cleanup;
		}
		elapsed = (monotonic_ns() - start_ns) / 1e9;
		if (elapsed - last_progress >= 1.0) {
			last_progress = (uint64_t)elapsed;
			progress(&r, elapsed, 0);
		}
	}
	/* Whatever is still in the ring buffer belongs to this recording. */
	err = sampler__poll(sampler, 0);
	if (err < 0 && err != -EINTR) {
		fprintf(stderr, "ignis: sampling failed: %s\n", strerror(-err));
		goto cleanup;
	}
	elapsed = (monotonic_ns() - start_ns) / 1e9;
	progress(&r, elapsed, 1);

	err = sampler__stats(sampler, &st);
	if (!err) {
		fprintf(stderr, "ignis: %u CPUs at %u Hz: %llu samples taken, %llu lost "
			"(ring buffer full), %llu idle, %llu of other processes\n",
			st.cpus, opts->frequency_hz, (unsigned long long)st.v[IGNIS_STAT_SAMPLES],
			(unsigned long long)st.v[IGNIS_STAT_LOST],
			(unsigned long long)st.v[IGNIS_STAT_IDLE],
			(unsigned long long)st.v[IGNIS_STAT_FILTERED]);
		if (st.v[IGNIS_STAT_STACK_FAIL])
			pr_info("record: %llu user stacks could not be copied\n",
				(unsigned long long)st.v[IGNIS_STAT_STACK_FAIL]);
		if (st.v[IGNIS_STAT_LOST] || st.v[IGNIS_STAT_EVENTS_LOST])
			pr_warn("record: %llu samples and %llu process events were lost; "
				"a larger ring buffer would keep them\n",
				(unsigned long long)st.v[IGNIS_STAT_LOST],
				(unsigned long long)st.v[IGNIS_STAT_EVENTS_LOST]);
	}
	sampler__free(sampler);
	sampler = NULL;
	if (r.unwinder) {
		struct unwind_stats us;

		unwinder__stats(r.unwinder, &us);
		fprintf(stderr, "ignis: user stacks: %llu by DWARF CFI, %llu by frame pointers; "
			"%llu DWARF unwinds, %llu ran off a short stack copy, %llu failed\n",
			(unsigned long long)r.dwarf_used, (unsigned long long)r.fp_used,
			(unsigned long long)us.unwinds, (unsigned long long)us.truncated,
			(unsigned long long)us.failed);
	}

	prof = profile__new(1000000000ULL / opts->frequency_hz,
			    wall.tv_sec * 1000000000LL + wall.tv_nsec, (int64_t)(elapsed * 1e9));
	if (!prof) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Downloads started at first sight of each binary; a recording has
	 * one flush, so give the slow ones a bounded chance. */
	if (dbgd && debuginfod__wait(dbgd, (uint64_t)(opts->debuginfod_wait_s * 1000)))
		pr_warn("record: debug files still downloading after %g s; their frames "
			"keep library+offset names\n", opts->debuginfod_wait_s);
	err = aggregate__to_profile(r.agg, ksyms, prof);
	if (err) {
		fprintf(stderr, "ignis: cannot build the profile: %s\n", strerror(-err));
		goto cleanup;
	}
	bincache__trim(bins);
	log_symbol_stats(bins, dbgd);
	err = write_outputs(opts, prof);
	if (err)
		goto cleanup;
	printf("wrote %s/profile.pb.gz and %s/profile.folded (%llu samples, %zu stacks, "
	       "%zu binaries)\n\n", opts->output_dir, opts->output_dir,
	       (unsigned long long)aggregate__samples(r.agg), aggregate__stacks(r.agg),
	       bincache__count(bins));
	if (opts->top)
		err = report__top(prof, opts->top, stdout);

cleanup:
	profile__free(prof);
	sampler__free(sampler);
	aggregate__free(r.agg);
	unwinder__free(r.unwinder);
	proctab__free(r.procs);
	bincache__free(bins);
	debuginfod__free(dbgd);
	kallsyms__free(ksyms);
	return err;
}
