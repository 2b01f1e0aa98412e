#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sampling/collector.h"
#include "base/log.h"
#include "sampling/proctab.h"
#include "symbolizer/bincache.h"
#include "symbolizer/debuginfod.h"
#include "symbolizer/kallsyms.h"
#include "symbolizer/unwind.h"

/* Processes whose unwind state (a Dwfl with its modules) is kept. */
#define MAX_UNWIND_PROCS 512

struct collector {
	struct collector_opts opts;
	struct kallsyms *ksyms;
	struct debuginfod *dbgd;
	struct bincache *bins;
	struct proctab *procs;
	struct unwinder *unwinder;
	struct sampler *sampler;
	struct aggregate *agg;
	uint64_t samples, dwarf_used, fp_used, dropped;
	int err;                   /* first fatal error seen in a callback */
};

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
static size_t user_stack(struct collector *c, const struct ignis_sample *s, size_t copied,
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
	if (c->unwinder && copied && (s->flags & IGNIS_SAMPLE_USER_REGS))
		n = unwinder__unwind(c->unwinder, &us, pcs, UNWIND_MAX_FRAMES, truncated);
	if (n > 0 && (c->opts.unwind == UNWIND_DWARF || (size_t)n >= nfp)) {
		c->dwarf_used++;
		return n;
	}
	*truncated = 0;
	if (c->opts.unwind == UNWIND_DWARF)
		return n > 0 ? n : 0;
	c->fp_used += nfp > 0;
	memcpy(pcs, s->ustack, nfp * sizeof(*pcs));
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

static int on_sample(struct collector *c, const struct ignis_sample *s, size_t len)
{
	static uint64_t pcs[UNWIND_MAX_FRAMES];
	static struct agg_frame ustack[UNWIND_MAX_FRAMES + 1];
	size_t nk = s->kstack_len > 0 ? (size_t)s->kstack_len : 0;
	size_t copied = s->stack_len, nu;
	char comm[IGNIS_COMM_LEN] = { 0 };
	struct proc *p;
	int truncated, series;

	/* A record we do not understand is dropped, never trusted. */
	if (nk > IGNIS_MAX_FRAMES || s->ustack_len > IGNIS_MAX_FRAMES ||
	    copied > s->stack_size || len < sizeof(*s) + copied)
		return 0;
	memcpy(comm, s->comm, sizeof(comm) - 1);
	p = proctab__get(c->procs, s->tgid, s->time_ns);
	if (!p)
		return -ENOMEM;
	series = series_of(c, p, comm);
	if (series < 0) {
		c->dropped++;
		return 0;
	}
	nu = user_stack(c, s, copied, pcs, &truncated);
	for (size_t i = 0; i < nu; i++) {
		if (proc__resolve(p, pcs[i], s->time_ns, &ustack[i].bin, &ustack[i].addr)) {
			ustack[i].bin = NULL;
			ustack[i].addr = pcs[i];
		}
	}
	if (truncated)
		ustack[nu++] = (struct agg_frame){ NULL, AGG_TRUNCATED };
	c->samples++;
	return aggregate__add_series(c->agg, series, s->tgid, comm, (const uint64_t *)s->kstack,
				     nk, ustack, nu, 1);
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
		if (len >= sizeof(struct ignis_sample))
			err = on_sample(c, data, len);
		break;
	case IGNIS_EV_EXEC:
		if (len >= sizeof(*e)) {
			proctab__exec(c->procs, e->tgid);
			if (c->unwinder)
				unwinder__forget(c->unwinder, e->tgid);
		}
		break;
	case IGNIS_EV_EXIT:
		if (len >= sizeof(*e)) {
			proctab__exit(c->procs, e->tgid);
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

struct collector *collector__new(const struct collector_opts *o)
{
	struct sampler_opts sopts = {
		.frequency_hz = o->frequency_hz,
		.pids = o->pids,
		.npids = o->npids,
		.follow_children = o->follow_children,
		.send_idle = o->include_idle,
		.sys_root = o->sys_root,
		.stack_size = o->unwind == UNWIND_FP ? 0 : o->stack_size,
		.cpus = o->cpus,
	};
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
	int err;

	if (!c)
		return NULL;
	c->opts = *o;
	c->ksyms = kallsyms__load(o->proc_root);
	if (!c->ksyms)
		pr_warn("collector: kernel symbols unavailable (%s/kallsyms: %s); kernel frames "
			"will show as addresses\n", o->proc_root, strerror(errno));
	c->dbgd = debuginfod__new(&dopts);
	if (!c->dbgd && errno != ENOENT)
		pr_warn("collector: debuginfod unavailable: %s\n", strerror(errno));
	bopts.debuginfod = c->dbgd;
	c->bins = bincache__new(o->proc_root);
	if (!c->bins || bincache__configure(c->bins, &bopts)) {
		err = -ENOMEM;
		goto cleanup;
	}
	c->procs = proctab__new(o->proc_root, c->bins);
	c->agg = aggregate__new();
	if (o->unwind != UNWIND_FP)
		c->unwinder = unwinder__new(o->proc_root, MAX_UNWIND_PROCS);
	if (!c->procs || !c->agg || (o->unwind != UNWIND_FP && !c->unwinder)) {
		err = -ENOMEM;
		goto cleanup;
	}
	c->sampler = sampler__new(&sopts, on_event, c);
	if (!c->sampler) {
		err = -errno;
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
	sampler__free(c->sampler);
	aggregate__free(c->agg);
	unwinder__free(c->unwinder);
	proctab__free(c->procs);
	bincache__free(c->bins);
	debuginfod__free(c->dbgd);
	kallsyms__free(c->ksyms);
	free(c);
}

int collector__poll(struct collector *c, int timeout_ms)
{
	int ret = sampler__poll(c->sampler, timeout_ms);

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

int collector__symbolize(struct collector *c, const struct aggregate *agg,
			 struct profile **profiles, size_t nseries)
{
	int err = aggregate__to_profiles(agg, c->ksyms, profiles, nseries);

	/* Profiles copy every string they keep: symbol memory over budget
	 * can go now, and so can the processes that exited. */
	bincache__trim(c->bins);
	proctab__sweep(c->procs);
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
	sampler__stats(c->sampler, &s->sampler);
	if (c->unwinder)
		unwinder__stats(c->unwinder, &us);
	s->samples = c->samples;
	s->dwarf_used = c->dwarf_used;
	s->fp_used = c->fp_used;
	s->unwinds = us.unwinds;
	s->unwind_truncated = us.truncated;
	s->unwind_failed = us.failed;
	s->dropped = c->dropped;
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
