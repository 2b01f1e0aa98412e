#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "base/clock.h"
#include "base/hashmap.h"
#include "identity/identity.h"
#include "base/log.h"
#include "agent/metrics.h"
#include "identity/workload.h"
#include "exporters/tagmap.h"
#include "sys/sdnotify.h"

#define SERVICE_MAX 256
#define DEFAULT_MAX_SERIES 10000
#define OVERFLOW_SERVICE "ignis-series-overflow"
/* How long a reload waits for the old destinations before they spool. */
#define RELOAD_DRAIN_MS 2000

static volatile sig_atomic_t stop_requested, reload_requested;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

/* A series: the label set of one workload, sorted by key (as struct
 * series wants), "host" among them. The key is the labels serialized as
 * "k\0v\0k\0v\0", which is also where the label strings live. */
struct series_entry {
	struct hashmap_node node;
	uint32_t id;
	size_t nlabels;
	struct profile_label *labels;
	size_t keylen;
	char key[];
};

struct series_key {
	const char *buf;
	size_t len;
};

/* A destination and what it has gathered towards its next upload. */
struct dest_state {
	struct agent_dest d;
	uint64_t period_ticks;     /* agent intervals per upload */
	uint64_t ticks;            /* gathered so far */
	int64_t start_ns;          /* wall clock start of what is gathered */
	struct profile **acc;      /* by series id; NULL: nothing yet */
	struct profile **acc_off;  /* their off-CPU time, the same way */
	size_t nacc;
	uint64_t rng;
	uint64_t samples_in, samples_kept;   /* for the downsampling log */
};

struct agent {
	struct agent_opts *o;
	struct collector *c;
	struct hashmap series_by_key;
	struct series_entry **series;    /* by id */
	size_t nseries, series_cap;
	uint32_t overflow_id;            /* UINT32_MAX until needed */
	uint64_t overflowed;             /* processes folded into it */
	uint32_t *pending;               /* processes to resolve again */
	size_t npending, pending_cap;
	struct dest_state *dests;
	size_t ndests;
	struct agent_setup setup;
	int64_t interval_start_ns;       /* wall clock */
	uint64_t intervals;
	uint64_t resolved, refused;      /* processes */

	/* What the metrics thread reads: refreshed by the sampling loop
	 * under lock, and the destinations, replaced under lock. */
	pthread_mutex_t lock;
	struct collector_stats snap;
	size_t snap_processes, snap_series;
	int64_t last_loop_ns;            /* CLOCK_MONOTONIC */
	int64_t snap_ns;                 /* when snap was taken */
	struct metrics *metrics;
};

/* ---- series -------------------------------------------------------------- */

static int series_eq(const struct hashmap_node *n, const void *key)
{
	const struct series_entry *e = (const struct series_entry *)n;
	const struct series_key *k = key;

	return e->keylen == k->len && !memcmp(e->key, k->buf, k->len);
}

static int serialize(const struct profile_label *l, size_t n, char **buf, size_t *len)
{
	size_t total = 0, off = 0;

	for (size_t i = 0; i < n; i++)
		total += strlen(l[i].key) + strlen(l[i].str) + 2;
	*buf = malloc(total ? total : 1);
	if (!*buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(l[i].key) + 1, vl = strlen(l[i].str) + 1;

		memcpy(*buf + off, l[i].key, kl);
		memcpy(*buf + off + kl, l[i].str, vl);
		off += kl + vl;
	}
	*len = total;
	return 0;
}

static int cmp_label(const void *x, const void *y)
{
	return strcmp(((const struct profile_label *)x)->key, ((const struct profile_label *)y)->key);
}

/* The id of the series with these labels (sorted, strings), created when
 * new; past max_series, the overflow series. */
static int64_t series_id(struct agent *a, const struct profile_label *l, size_t n)
{
	size_t max = a->o->max_series ? a->o->max_series : DEFAULT_MAX_SERIES;
	struct series_key k;
	struct series_entry *e;
	char *buf;
	uint64_t h;
	size_t off = 0;
	int err;

	err = serialize(l, n, &buf, &k.len);
	if (err)
		return err;
	k.buf = buf;
	h = hash_bytes(HASH_SEED, k.buf, k.len);
	e = (void *)hashmap__find(&a->series_by_key, h, &k, series_eq);
	if (e) {
		free(buf);
		return e->id;
	}
	if (a->nseries >= max && a->overflow_id != UINT32_MAX) {
		free(buf);
		if (a->overflowed++ == 0 || log__level() >= LOG_DEBUG)
			pr_warn("agent: more than %zu series: new workloads are counted under "
				"service_name=" OVERFLOW_SERVICE " (raise max_series, or relabel "
				"to fewer label values)\n", max);
		return a->overflow_id;
	}
	if (a->nseries == a->series_cap) {
		size_t cap = a->series_cap ? 2 * a->series_cap : 64;
		struct series_entry **v = realloc(a->series, cap * sizeof(*v));

		if (!v) {
			free(buf);
			return -ENOMEM;
		}
		a->series = v;
		a->series_cap = cap;
	}
	e = calloc(1, sizeof(*e) + k.len);
	if (e)
		e->labels = calloc(n ? n : 1, sizeof(*e->labels));
	if (!e || !e->labels) {
		if (e)
			free(e->labels);
		free(e);
		free(buf);
		return -ENOMEM;
	}
	memcpy(e->key, k.buf, k.len);
	e->keylen = k.len;
	free(buf);
	for (size_t i = 0; i < n; i++) {
		e->labels[i].key = e->key + off;
		off += strlen(e->key + off) + 1;
		e->labels[i].str = e->key + off;
		off += strlen(e->key + off) + 1;
	}
	e->nlabels = n;
	e->id = a->nseries;
	if (hashmap__insert(&a->series_by_key, &e->node, h)) {
		free(e->labels);
		free(e);
		return -ENOMEM;
	}
	a->series[a->nseries++] = e;
	return e->id;
}

/* The series of a process with only a service name (no identity module). */
static int64_t service_series(struct agent *a, const char *service)
{
	struct profile_label l[2] = {
		{ .key = "host", .str = a->o->host },
		{ .key = "service_name", .str = service },
	};

	return series_id(a, l, 2);
}

static int add_pending(struct agent *a, uint32_t tgid)
{
	if (a->npending == a->pending_cap) {
		size_t cap = a->pending_cap ? 2 * a->pending_cap : 64;
		uint32_t *v = realloc(a->pending, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->pending = v;
		a->pending_cap = cap;
	}
	a->pending[a->npending++] = tgid;
	return 0;
}

/* The labels of a process from the identity module, "host" added. */
static int64_t identity_series(struct agent *a, uint32_t tgid, const char *comm)
{
	struct identity_result r = { 0 };
	struct profile_label *l = NULL;
	int64_t id;
	int err;

	err = identity__resolve(a->setup.identity, tgid, comm, &r);
	if (err)
		return err;
	if (r.pending && add_pending(a, tgid)) {
		identity_result__clear(&r);
		return -ENOMEM;
	}
	if (r.drop) {
		/* A pending refusal is asked again next interval, when the
		 * pod may be known. */
		a->refused++;
		pr_debug("agent: pid %u (%s): not profiled (relabel rules)%s\n", tgid, comm,
			 r.pending ? ", for now" : "");
		identity_result__clear(&r);
		return -ECANCELED;
	}
	l = calloc(r.nlabels + 1, sizeof(*l));
	if (!l) {
		identity_result__clear(&r);
		return -ENOMEM;
	}
	memcpy(l, r.labels, r.nlabels * sizeof(*l));
	l[r.nlabels] = (struct profile_label){ .key = "host", .str = a->o->host };
	qsort(l, r.nlabels + 1, sizeof(*l), cmp_label);
	id = series_id(a, l, r.nlabels + 1);
	free(l);
	identity_result__clear(&r);
	return id;
}

/* collector_series_fn: once per process (and again when its identity was
 * not complete yet). */
static int series_of(void *ctx, uint32_t tgid, const char *comm)
{
	struct agent *a = ctx;
	int64_t id;

	if (a->setup.identity) {
		id = identity_series(a, tgid, comm);
	} else {
		char service[SERVICE_MAX];

		workload__service_name(a->o->collector.proc_root, tgid, comm, service,
				       sizeof(service));
		id = service_series(a, service);
	}
	if (id >= 0) {
		a->resolved++;
		pr_debug("agent: pid %u (%s): series %" PRId64 "\n", tgid, comm, id);
	}
	return (int)id;
}

static void free_series(struct agent *a)
{
	for (size_t i = 0; i < a->nseries; i++) {
		free(a->series[i]->labels);
		free(a->series[i]);
	}
	free(a->series);
	hashmap__clear(&a->series_by_key);
	free(a->pending);
}

/* ---- destinations -------------------------------------------------------- */

static void describe_delivery(const struct delivery_stats *s, char *buf, size_t len)
{
	int n = s->partially_rejected ? snprintf(buf, len, "%" PRIu64 " rejected in partial "
						 "successes, ", s->partially_rejected) : 0;

	if (n < 0 || (size_t)n >= len)
		n = 0;
	buf += n;
	len -= (size_t)n;
	snprintf(buf, len,
		 "%" PRIu64 " sent (%" PRIu64 " bytes), %" PRIu64 " retried, %" PRIu64
		 " spooled, %" PRIu64 " replayed, dropped %" PRIu64 " rejected/%" PRIu64
		 " after retries/%" PRIu64 " refused/%" PRIu64 " too old/%" PRIu64 " queue full/%" PRIu64
		 " spool full/%" PRIu64 " unreadable, queue %" PRIu64 " bytes, %" PRIu64
		 " waiting to be spooled (%" PRIu64 " bytes), spool %" PRIu64 " bytes in %" PRIu64
		 " files%s%s",
		 s->sent, s->bytes_sent, s->retried, s->spooled, s->replayed,
		 s->dropped_client_error, s->dropped_retries_exhausted, s->dropped_refused,
		 s->dropped_too_old,
		 s->dropped_queue_full, s->dropped_spool_full, s->dropped_spool_bad, s->queue_bytes,
		 s->spool_pending_len, s->spool_pending_bytes, s->spool_bytes,
		 s->spool_files, s->last_error[0] ? ", last error: " : "", s->last_error);
}

static void describe_dest(struct dest_state *ds, char *buf, size_t len)
{
	struct delivery_stats s;

	buf[0] = '\0';
	if (ds->d.ops->stats) {
		ds->d.ops->stats(ds->d.impl, &s);
		describe_delivery(&s, buf, len);
	} else if (ds->d.ops->describe) {
		ds->d.ops->describe(ds->d.impl, buf, len);
	}
}

static void free_acc(struct dest_state *ds)
{
	for (size_t i = 0; i < ds->nacc; i++) {
		profile__free(ds->acc[i]);
		profile__free(ds->acc_off[i]);
	}
	free(ds->acc);
	free(ds->acc_off);
	ds->acc = NULL;
	ds->acc_off = NULL;
	ds->nacc = 0;
	ds->ticks = 0;
}

static void dests_free(struct agent *a)
{
	for (size_t i = 0; i < a->ndests; i++) {
		struct dest_state *ds = &a->dests[i];

		free_acc(ds);
		tagmap__free(ds->d.tags);
		ds->d.ops->free(ds->d.impl);
	}
	free(a->dests);
	a->dests = NULL;
	a->ndests = 0;
}

static int dests_init(struct agent *a, const struct agent_setup *s)
{
	uint64_t tick = a->o->upload_interval_ms;

	a->dests = calloc(s->ndests ? s->ndests : 1, sizeof(*a->dests));
	if (!a->dests)
		return -ENOMEM;
	a->ndests = s->ndests;
	for (size_t i = 0; i < s->ndests; i++) {
		struct dest_state *ds = &a->dests[i];

		ds->d = s->dests[i];
		ds->period_ticks = ds->d.period_ms > tick ? (ds->d.period_ms + tick / 2) / tick : 1;
		if (ds->d.sample_fraction <= 0 || ds->d.sample_fraction > 1)
			ds->d.sample_fraction = 1;
		ds->rng = (uint64_t)clock__realtime_ns() ^ (0x9e3779b97f4a7c15ULL * (i + 1));
		if (!ds->rng)
			ds->rng = 1;
	}
	free(s->dests);
	return 0;
}

/* Adds src into *acc, made with period at first. */
static int gather_one(struct dest_state *ds, struct profile **acc, const struct profile *src,
		      uint64_t period)
{
	if (!src || !profile__sample_count(src))
		return 0;
	if (!*acc) {
		*acc = profile__new(period, profile__time_nanos(src), profile__duration_nanos(src));
		if (!*acc)
			return -ENOMEM;
	}
	return profile__merge(*acc, src, ds->d.sample_fraction, &ds->rng);
}

/* Adds the interval's profiles (and off-CPU ones, offs may be NULL) into
 * what the destination gathers. */
static int gather(struct dest_state *ds, struct profile **profiles, struct profile **offs,
		  size_t n, int64_t start_ns, uint64_t period)
{
	if (ds->nacc < n) {
		struct profile **v = realloc(ds->acc, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + ds->nacc, 0, (n - ds->nacc) * sizeof(*v));
		ds->acc = v;
		v = realloc(ds->acc_off, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + ds->nacc, 0, (n - ds->nacc) * sizeof(*v));
		ds->acc_off = v;
		ds->nacc = n;
	}
	if (!ds->ticks)
		ds->start_ns = start_ns;
	for (size_t i = 0; i < n; i++) {
		int err = gather_one(ds, &ds->acc[i], profiles[i], period);

		/* Off-CPU values are nanoseconds each: period 1. */
		if (!err && offs)
			err = gather_one(ds, &ds->acc_off[i], offs[i], 1);
		if (err)
			return err;
	}
	ds->ticks++;
	return 0;
}

static uint64_t profile_samples(const struct profile *p)
{
	uint64_t n = 0;

	for (size_t i = 0; p && i < profile__sample_count(p); i++)
		n += profile__sample(p, i)->count;
	return n;
}

static bool has_samples(struct profile *const *v, size_t i)
{
	return v && v[i] && profile__sample_count(v[i]);
}

/* Hands the destination the profiles of [start_ns, end_ns), one per series
 * (and its off-CPU one, offs may be NULL), with its own label names. */
static void submit(struct agent *a, struct dest_state *ds, struct profile **profiles,
		   struct profile **offs, size_t n, int64_t start_ns, int64_t end_ns)
{
	struct series *series = calloc(n ? n : 1, sizeof(*series));
	struct tagmap_result *mapped = calloc(n ? n : 1, sizeof(*mapped));
	size_t used = 0;
	struct interval iv;
	int err = 0;

	if (!series || !mapped) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		const struct series_entry *e = a->series[i];

		if (!has_samples(profiles, i) && !has_samples(offs, i))
			continue;
		if (!profiles[i]) {
			/* Only off-CPU time: an empty CPU profile beside it. */
			profiles[i] = profile__new(1, profile__time_nanos(offs[i]),
						   profile__duration_nanos(offs[i]));
			if (!profiles[i]) {
				err = -ENOMEM;
				goto cleanup;
			}
		}
		series[used] = (struct series){ .labels = e->labels, .nlabels = e->nlabels,
						.profile = profiles[i],
						.offcpu = offs ? offs[i] : NULL };
		if (ds->d.tags) {
			err = tagmap__apply(ds->d.tags, e->labels, e->nlabels, &mapped[used]);
			if (err)
				goto cleanup;
			series[used].labels = mapped[used].labels;
			series[used].nlabels = mapped[used].nlabels;
		}
		used++;
	}
	iv = (struct interval){ start_ns, end_ns, series, used, .host = a->o->host };
	err = ds->d.ops->submit(ds->d.impl, &iv);
cleanup:
	if (err)
		pr_warn("agent: %s: cannot queue the interval: %s\n", ds->d.name, strerror(-err));
	for (size_t i = 0; mapped && i < n; i++)
		tagmap__result_free(&mapped[i]);
	free(mapped);
	free(series);
}

/* The interval's profiles to one destination: at once when it uploads
 * every interval and keeps every sample, else gathered until its period is
 * full (or the agent stops: final). */
static void feed(struct agent *a, struct dest_state *ds, struct profile **profiles,
		 struct profile **offs, size_t n, int64_t start_ns, int64_t end_ns, uint64_t period,
		 bool final)
{
	int err;

	for (size_t i = 0; i < n; i++)
		ds->samples_in += profile_samples(profiles[i]);
	if (ds->period_ticks == 1 && ds->d.sample_fraction >= 1 && !ds->ticks) {
		for (size_t i = 0; i < n; i++)
			ds->samples_kept += profile_samples(profiles[i]);
		submit(a, ds, profiles, offs, n, start_ns, end_ns);
		return;
	}
	err = gather(ds, profiles, offs, n, start_ns, period);
	if (err) {
		/* What was gathered is still sent; this interval may be in
		 * part. */
		pr_warn("agent: %s: cannot gather the interval: %s\n", ds->d.name, strerror(-err));
	}
	if (ds->ticks < ds->period_ticks && !final)
		return;
	for (size_t i = 0; i < ds->nacc; i++)
		ds->samples_kept += profile_samples(ds->acc[i]);
	submit(a, ds, ds->acc, ds->acc_off, ds->nacc < a->nseries ? ds->nacc : a->nseries,
	       ds->start_ns, end_ns);
	free_acc(ds);
}

/* ---- self-metrics ---------------------------------------------------------- */

#define MAX_METRIC_CPUS 1024
/* The sampling loop runs every 100 ms at most; a loop this late means
 * collection stopped (a stuck flush, a wedged poll). */
#define STALL_NS (60 * 1000000000LL)

static void gauge(struct metrics_writer *w, const char *name, const char *help, double v)
{
	metrics__family(w, name, "gauge", help);
	metrics__sample(w, name, v, NULL);
}

static void counter(struct metrics_writer *w, const char *name, const char *help, double v)
{
	metrics__family(w, name, "counter", help);
	metrics__sample(w, name, v, NULL);
}

static void collect_cpus(struct agent *a, struct metrics_writer *w)
{
	static const struct {
		unsigned int stat;
		const char *name, *help;
	} per_cpu[] = {
		{ IGNIS_STAT_SAMPLES, "ignis_samples_total", "Samples taken, per CPU." },
		{ IGNIS_STAT_LOST, "ignis_samples_lost_total",
		  "Samples lost because the ring buffer was full, per CPU." },
	};
	uint64_t *v = calloc(MAX_METRIC_CPUS, sizeof(*v));

	if (!v)
		return;
	for (size_t k = 0; k < sizeof(per_cpu) / sizeof(per_cpu[0]); k++) {
		int n = sampler__stats_cpu(collector__sampler(a->c), per_cpu[k].stat, v,
					   MAX_METRIC_CPUS);

		metrics__family(w, per_cpu[k].name, "counter", per_cpu[k].help);
		for (int cpu = 0; cpu < n; cpu++) {
			char id[16];
			const char *labels[] = { "cpu", id, NULL };

			snprintf(id, sizeof(id), "%d", cpu);
			metrics__sample(w, per_cpu[k].name, (double)v[cpu], labels);
		}
	}
	free(v);
}

struct outcome {
	const char *name;
	uint64_t v;
};

/* A family of one sample and no labels: type "counter" or "gauge". */
struct metric {
	const char *name, *type;
	double v;
	const char *help;
};

/* One sample of family per outcome, under lb with "outcome" and its name
 * at lb[k] and lb[k + 1]. */
static void by_outcome(struct metrics_writer *w, const char *family, const char **lb, size_t k,
		       const struct outcome *o, size_t n)
{
	lb[k] = "outcome";
	for (size_t i = 0; i < n; i++) {
		lb[k + 1] = o[i].name;
		metrics__sample(w, family, (double)o[i].v, lb);
	}
}

static void collect_dests(struct agent *a, struct metrics_writer *w)
{
#define DS(field) offsetof(struct delivery_stats, field)
	/* The first family is by outcome; the others read one field. */
	static const struct {
		const char *name, *type, *help;
		size_t field;
	} families[] = {
		{ "ignis_destination_profiles_total", "counter",
		  "Profiles by outcome: sent, retried, spooled, replayed, dropped_*, "
		  "partially_rejected (OTLP partial success).", 0 },
		{ "ignis_destination_bytes_sent_total", "counter",
		  "Request bodies answered 2xx.", DS(bytes_sent) },
		{ "ignis_destination_queue_bytes", "gauge", "Bytes waiting in memory.",
		  DS(queue_bytes) },
		{ "ignis_destination_spool_bytes", "gauge", "Bytes waiting on disk.",
		  DS(spool_bytes) },
		{ "ignis_destination_spool_files", "gauge", "Profiles waiting on disk.",
		  DS(spool_files) },
		{ "ignis_destination_spool_pending_bytes", "gauge",
		  "Bytes handed to the spool writer, not on disk yet.", DS(spool_pending_bytes) },
	};
#undef DS

	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		metrics__family(w, families[f].name, families[f].type, families[f].help);
		for (size_t d = 0; d < a->ndests; d++) {
			struct dest_state *ds = &a->dests[d];
			const char *lb[] = { "destination", ds->d.name, "type", ds->d.ops->type, NULL,
					     NULL, NULL };
			struct delivery_stats st;

			if (!ds->d.ops->stats)
				continue;
			ds->d.ops->stats(ds->d.impl, &st);
			if (f) {
				metrics__sample(w, families[f].name,
						(double)*(const uint64_t *)((const char *)&st +
									    families[f].field), lb);
				continue;
			}
			const struct outcome o[] = {
				{ "sent", st.sent }, { "retried", st.retried },
				{ "spooled", st.spooled }, { "replayed", st.replayed },
				{ "dropped_rejected", st.dropped_client_error },
				{ "dropped_retries_exhausted", st.dropped_retries_exhausted },
				{ "dropped_too_old", st.dropped_too_old },
				{ "dropped_queue_full", st.dropped_queue_full },
				{ "dropped_spool_full", st.dropped_spool_full },
				{ "dropped_spool_bad", st.dropped_spool_bad },
				{ "dropped_refused", st.dropped_refused },
				{ "partially_rejected", st.partially_rejected },
			};

			by_outcome(w, families[f].name, lb, 4, o, sizeof(o) / sizeof(o[0]));
		}
	}
}

/* The off-CPU programs' counters (enum ignis_offcpu_stat) by outcome. */
static void collect_offcpu(const struct collector_stats *cs, struct metrics_writer *w)
{
	static const char *const outcome[IGNIS_OFFCPU_NSTATS] = {
		[IGNIS_OFFCPU_BLOCKED] = "blocked", [IGNIS_OFFCPU_UNSAMPLED] = "unsampled",
		[IGNIS_OFFCPU_FULL] = "no_room", [IGNIS_OFFCPU_WOKEN] = "woken",
		[IGNIS_OFFCPU_SHORT] = "short", [IGNIS_OFFCPU_SENT] = "sent",
		[IGNIS_OFFCPU_LOST] = "lost", [IGNIS_OFFCPU_MISSED] = "missed",
		[IGNIS_OFFCPU_SELF] = "self", [IGNIS_OFFCPU_KTHREAD] = "kernel_thread",
		[IGNIS_OFFCPU_FILTERED] = "filtered",
	};

	metrics__family(w, "ignis_offcpu_total", "counter",
			"Threads leaving a CPU blocked (sampling.off_cpu), by what became of it.");
	for (size_t k = 0; k < IGNIS_OFFCPU_NSTATS; k++) {
		const char *labels[] = { "outcome", outcome[k], NULL };

		metrics__sample(w, "ignis_offcpu_total", (double)cs->offcpu[k], labels);
	}
}

/* metrics_collect_fn, on the metrics thread. */
static void collect(void *ctx, struct metrics_writer *w)
{
	struct agent *a = ctx;
	struct collector_stats cs;
	struct bincache_stats bs;
	uint64_t run_ns = 0, run_cnt = 0;
	const char *labels[5] = { 0 };

	metrics__write_process(w, a->o->collector.proc_root);
	pthread_mutex_lock(&a->lock);
	cs = a->snap;
	const struct metric plain[] = {
		{ "ignis_samples_taken_total", "counter", cs.sampler.v[IGNIS_STAT_SAMPLES],
		  "Samples taken on all CPUs." },
		{ "ignis_samples_lost_all_total", "counter", cs.sampler.v[IGNIS_STAT_LOST],
		  "Samples lost on all CPUs because the ring buffer was full." },
		{ "ignis_samples_aggregated_total", "counter", cs.samples,
		  "Samples counted into profiles." },
		{ "ignis_samples_refused_total", "counter", cs.dropped,
		  "Samples of processes that relabel rules keep out." },
		{ "ignis_user_stacks_foreign_address_total", "counter", cs.foreign_pcs,
		  "User stacks ended where a return address was outside user space (a corrupt "
		  "stack or unwind)." },
		{ "ignis_unwind_table_missing_total", "counter", cs.walk_fp_pending,
		  "User stacks walked partly by frame pointers because a binary's unwind table "
		  "was not loaded yet (or was evicted)." },
		{ "ignis_unwind_unmapped_total", "counter", cs.walk_fp_unmapped,
		  "User stacks walked partly by frame pointers because the walker did not know "
		  "the code's mapping yet (a process or library seen for the first time)." },
		{ "ignis_unwind_table_budget_full_total", "counter", cs.tables.budget_full,
		  "Unwind tables not loaded because the budget held only tables in use." },
		{ "ignis_unwind_table_memory_bytes", "gauge", cs.tables.table_bytes,
		  "Unwind table rows and rules held in BPF maps." },
		{ "ignis_unwind_table_memory_budget_bytes", "gauge", cs.tables.budget_bytes,
		  "Budget of unwind table memory (sampling.unwind_table_memory)." },
		{ "ignis_unwind_tables_loaded", "gauge", cs.tables.tables_loaded,
		  "Binaries whose unwind table is in the BPF maps." },
		{ "ignis_unwind_table_evictions_total", "counter", cs.tables.evictions,
		  "Unwind tables evicted (least recently used) to stay within the budget." },
		{ "ignis_unwind_table_compiles_total", "counter", cs.tables.compiles,
		  "Unwind table compiles finished." },
		{ "ignis_unwind_table_queue", "gauge", cs.tables.queued,
		  "Binaries waiting for their unwind table to be compiled (most missed first)." },
		{ "ignis_unwind_table_queue_dropped_total", "counter", cs.tables.queue_dropped,
		  "Binaries put off because the compile queue was full (asked again on a miss)." },
		{ "ignis_unwind_tables_impossible_total", "counter",
		  cs.tables.no_table + cs.tables.too_big,
		  "Binaries with no unwind table possible (no CFI, not ELF, larger than the budget)." },
		{ "ignis_unwind_mapping_entries", "gauge", cs.tables.mapping_entries,
		  "Per-process address prefixes in the walker's LPM map." },
		{ "ignis_unwind_map_errors_total", "counter", cs.tables.map_errors,
		  "Unwind map updates that failed." },
		{ "ignis_python_processes", "gauge", cs.python.processes,
		  "CPython processes whose frames the walker names." },
		{ "ignis_python_frames_total", "counter", cs.python.frames,
		  "Python frames named." },
		{ "ignis_python_code_reads_total", "counter", cs.python.code_reads,
		  "Code objects read from a process (once each, again after reuse)." },
		{ "ignis_python_code_unreadable_total", "counter", cs.python.code_failed,
		  "Code objects that could not be read." },
		{ "ignis_python_markers_total", "counter", cs.python.markers,
		  "Walks whose Python part ended early (thread state not found, unreadable frame)." },
		{ "ignis_python_name_bytes", "gauge", cs.python.bytes,
		  "Python names, files and line tables kept." },
		{ "ignis_python_map_full_total", "counter", cs.python.map_full,
		  "Python processes left with native stacks: the walker's map was full." },
		{ "ignis_sample_bytes_total", "counter", cs.record_bytes,
		  "Ring buffer bytes of samples received." },
		{ "ignis_sample_stack_bytes_total", "counter", cs.stack_bytes,
		  "Of them, bytes of user stack copies (--unwind copy only)." },
		{ "ignis_go_label_processes_total", "counter", cs.go.processes,
		  "Go processes whose pprof labels are read (labels.trace_labels, go_labels)." },
		{ "ignis_go_label_unreadable_processes_total", "counter",
		  cs.go.unsupported + cs.go.procs_full,
		  "Go processes of a version or layout whose labels are not read, or past the "
		  "go_procs map's bound." },
		{ "ignis_go_labeled_samples_total", "counter", cs.go.attached,
		  "Samples given their goroutine's labels." },
		{ "ignis_go_label_records_lost_total", "counter", cs.go.lost + cs.go.unmatched,
		  "Label records lost (ring buffer full) or left unmatched by their sample." },
		{ "ignis_go_label_cut_total", "counter", cs.go.cut,
		  "Samples whose goroutine had more kept labels than were read, or labels past "
		  "the scan bound." },
		{ "ignis_go_label_bytes_total", "counter", cs.go.record_bytes,
		  "Ring buffer bytes of label records received." },
		{ "ignis_processes", "gauge", a->snap_processes,
		  "Processes tracked." },
		{ "ignis_series", "gauge", a->snap_series,
		  "Distinct series (workloads) known." },
		{ "ignis_series_overflow_total", "counter", a->overflowed,
		  "Processes counted under the overflow series past max_series." },
		{ "ignis_cpus_sampled", "gauge", cs.sampler.cpus,
		  "CPUs with a perf event." },
		{ "ignis_intervals_total", "counter", a->intervals,
		  "Intervals flushed." },
	};

	metrics__family(w, "ignis_unwind_total", "counter", "User stacks by unwinding outcome.");
	const struct outcome unwind[] = {
		{ "dwarf", cs.dwarf_used }, { "frame_pointers", cs.fp_used },
		{ "truncated", cs.unwind_truncated }, { "failed", cs.unwind_failed },
		{ "go_stack_switch", cs.unwind_go_switch }, { "go_stack_cut", cs.go_stack_cut },
		{ "stack_copy_failed", cs.sampler.v[IGNIS_STAT_STACK_FAIL] },
		/* --unwind kernel: the BPF walk's outcome per user stack. */
		{ "tables_complete", cs.walk_complete }, { "partly_frame_pointers", cs.walk_fp },
		{ "walk_truncated", cs.walk_truncated },
		{ "unexpressible_rule", cs.walk_unexpressible },
		{ "read_failed", cs.walk_read_failed }, { "ended_otherwise", cs.walk_other },
	};
	by_outcome(w, "ignis_unwind_total", labels, 0, unwind, sizeof(unwind) / sizeof(unwind[0]));
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		metrics__family(w, plain[i].name, plain[i].type, plain[i].help);
		metrics__sample(w, plain[i].name, plain[i].v, NULL);
	}
	if (a->o->collector.off_cpu)
		collect_offcpu(&cs, w);
	if (a->c) {
		collector__symbol_stats(a->c, &bs);
		counter(w, "ignis_symbol_cache_hits_total",
			"Addresses named from symbols already loaded.", (double)bs.hits);
		counter(w, "ignis_symbol_cache_misses_total",
			"Addresses whose binary's symbols had to be loaded.", (double)bs.misses);
		counter(w, "ignis_symbol_cache_evictions_total",
			"Binaries whose symbols were given back to stay in budget.",
			(double)bs.evictions);
		gauge(w, "ignis_symbol_cache_bytes", "Symbol data held.", (double)bs.bytes);
		counter(w, "ignis_inflated_debug_files_failed_total",
			"Debug files whose uncompressed copy could not be written or did not match "
			"(their DWARF was inflated in memory).",
			(double)(bs.inflated.failed + bs.inflated.invalid));
		gauge(w, "ignis_binaries", "Binaries known.", (double)bs.binaries);
		collect_cpus(a, w);
		if (!metrics__bpf_prog_stats(sampler__prog_fd(collector__sampler(a->c)), &run_ns,
					     &run_cnt)) {
			counter(w, "ignis_bpf_run_time_seconds_total",
				"Time the sampling program ran (kernel.bpf_stats_enabled=1).",
				run_ns / 1e9);
			counter(w, "ignis_bpf_runs_total",
				"Runs of the sampling program (kernel.bpf_stats_enabled=1).",
				(double)run_cnt);
		}
	}
	collect_dests(a, w);
	pthread_mutex_unlock(&a->lock);
}

static bool healthy(void *ctx, char *why, size_t len)
{
	struct agent *a = ctx;
	int64_t last = __atomic_load_n(&a->last_loop_ns, __ATOMIC_RELAXED);
	int64_t late = clock__monotonic_ns() - last;

	if (!last) {
		snprintf(why, len, "sampling has not started");
		return false;
	}
	if (late > STALL_NS) {
		snprintf(why, len, "the sampling loop has not run for %.0f s", late / 1e9);
		return false;
	}
	return true;
}

/* The sampling loop's figures for the metrics thread, at most once a second
 * (each read is a BPF map lookup per counter), and only when served. */
static void snapshot(struct agent *a, bool force)
{
	int64_t now = clock__monotonic_ns();
	struct collector_stats cs;

	__atomic_store_n(&a->last_loop_ns, now, __ATOMIC_RELAXED);
	if (!force && (!a->metrics || now - a->snap_ns < 1000000000LL))
		return;
	a->snap_ns = now;
	collector__stats(a->c, &cs);
	pthread_mutex_lock(&a->lock);
	a->snap = cs;
	a->snap_processes = collector__processes(a->c);
	a->snap_series = a->nseries;
	pthread_mutex_unlock(&a->lock);
}

/* ---- intervals ----------------------------------------------------------- */

/* Swaps the aggregation out, names it, and hands the interval to every
 * destination. Sampling goes on in BPF meanwhile; the ring buffer holds
 * what arrives until the next poll. final: the last one (stop or reload):
 * destinations with a longer period send what they gathered. */
/* The interval's off-CPU profiles, one per series (values in nanoseconds,
 * scaled by 1/probability); named before the CPU ones, whose
 * symbolization gives memory back. */
static int offcpu_profiles(struct agent *a, int64_t end_ns, struct aggregate **agg,
			   struct profile ***out)
{
	size_t n = a->nseries;
	struct profile **v;

	*agg = collector__swap_offcpu(a->c);
	if (!*agg)
		return -errno;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*out = v;
	for (size_t i = 0; i < n; i++) {
		v[i] = profile__new(1, a->interval_start_ns, end_ns - a->interval_start_ns);
		if (!v[i])
			return -ENOMEM;
	}
	return collector__symbolize_offcpu(a->c, *agg, v, n);
}

static int flush(struct agent *a, bool final)
{
	int64_t end_ns = clock__realtime_ns();
	uint64_t period = 1000000000ULL / a->o->collector.frequency_hz;
	struct aggregate *agg = collector__swap(a->c), *offagg = NULL;
	struct profile **profiles = NULL, **offs = NULL;
	uint64_t *counts = NULL;
	size_t n = a->nseries, used = 0;
	int err = 0;

	if (!agg)
		return -ENOMEM;
	if (n) {
		profiles = calloc(n, sizeof(*profiles));
		counts = calloc(n, sizeof(*counts));
		if (!profiles || !counts) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (size_t i = 0; i < n; i++) {
		profiles[i] = profile__new(period, a->interval_start_ns,
					   end_ns - a->interval_start_ns);
		if (!profiles[i]) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	if (a->o->collector.off_cpu) {
		err = offcpu_profiles(a, end_ns, &offagg, &offs);
		if (err) {
			pr_warn("agent: cannot build the interval's off-CPU profiles: %s\n",
				strerror(-err));
			goto cleanup;
		}
	}
	err = collector__symbolize(a->c, agg, profiles, n);
	if (err) {
		pr_warn("agent: cannot build the interval's profiles: %s\n", strerror(-err));
		goto cleanup;
	}
	aggregate__series_counts(agg, counts, n);
	for (size_t i = 0; i < n; i++) {
		if (!counts[i])
			continue;
		used++;
		if (log__level() >= LOG_DEBUG) {
			char desc[512];
			size_t off = 0;

			desc[0] = '\0';
			for (size_t l = 0; l < a->series[i]->nlabels && off < sizeof(desc); l++)
				off += snprintf(desc + off, sizeof(desc) - off, "%s%s=%s",
						l ? "," : "", a->series[i]->labels[l].key,
						a->series[i]->labels[l].str);
			pr_debug("agent: interval %" PRIu64 ": %s: %" PRIu64 " samples\n",
				 a->intervals + 1, desc, counts[i]);
		}
	}
	for (size_t d = 0; d < a->ndests; d++)
		feed(a, &a->dests[d], profiles, offs, n, a->interval_start_ns, end_ns, period,
		     final);
	a->intervals++;
	{
		struct collector_stats st;
		char line[4096];
		size_t off;

		collector__stats(a->c, &st);
		off = snprintf(line, sizeof(line), "agent: interval %" PRIu64 ": %.1f s, %" PRIu64
			       " samples in %zu series, %" PRIu64 " lost in total",
			       a->intervals, (end_ns - a->interval_start_ns) / 1e9,
			       aggregate__samples(agg), used, st.sampler.v[IGNIS_STAT_LOST]);
		if (offagg)
			off += snprintf(line + off, sizeof(line) - off,
					", %" PRIu64 " off-CPU blockings (%.3f s, %" PRIu64 " lost)",
					aggregate__samples(offagg), aggregate__value(offagg) / 1e9,
					st.offcpu[IGNIS_OFFCPU_LOST]);
		if (a->overflowed)
			off += snprintf(line + off, sizeof(line) - off,
					", %" PRIu64 " processes in the overflow series",
					a->overflowed);
		for (size_t d = 0; d < a->ndests && off < sizeof(line) - 4; d++) {
			struct dest_state *ds = &a->dests[d];
			char desc[1024];

			describe_dest(ds, desc, sizeof(desc));
			off += snprintf(line + off, sizeof(line) - off, "; %s: %s", ds->d.name, desc);
			if (ds->d.sample_fraction < 1 && off < sizeof(line))
				off += snprintf(line + off, sizeof(line) - off,
						", %" PRIu64 " of %" PRIu64 " samples kept",
						ds->samples_kept, ds->samples_in);
		}
		pr_info("%s\n", line);
	}
	a->interval_start_ns = end_ns;
	/* Processes whose workload was not known yet are asked again. */
	if (a->npending) {
		collector__forget_series(a->c, a->pending, a->npending);
		a->npending = 0;
	}
cleanup:
	for (size_t i = 0; profiles && i < n; i++)
		profile__free(profiles[i]);
	for (size_t i = 0; offs && i < n; i++)
		profile__free(offs[i]);
	free(profiles);
	free(offs);
	free(counts);
	aggregate__free(agg);
	aggregate__free(offagg);
	return err;
}

/* Delivers what is queued until the deadline; what is left spools (or is
 * counted as lost) when the destinations are freed. */
static void drain(struct agent *a, int64_t deadline, const char *why)
{
	for (size_t d = 0; d < a->ndests; d++) {
		struct dest_state *ds = &a->dests[d];

		if (ds->d.ops->drain && ds->d.ops->drain(ds->d.impl, deadline))
			pr_warn("agent: %s: not everything was delivered %s\n", ds->d.name, why);
	}
}

static void setup_release(struct agent *a)
{
	dests_free(a);
	identity__free(a->setup.identity);
	if (a->setup.release)
		a->setup.release(a->setup.release_ctx);
	memset(&a->setup, 0, sizeof(a->setup));
}

static int setup_take(struct agent *a, struct agent_setup *s)
{
	int err = dests_init(a, s);

	if (err) {
		for (size_t i = 0; i < s->ndests; i++) {
			tagmap__free(s->dests[i].tags);
			s->dests[i].ops->free(s->dests[i].impl);
		}
		free(s->dests);
		identity__free(s->identity);
		if (s->release)
			s->release(s->release_ctx);
		return err;
	}
	a->setup = *s;
	a->setup.dests = NULL;
	a->setup.ndests = 0;
	return 0;
}

/* SIGHUP: the configuration file again. Sampling never stops; the old
 * destinations get what was sampled so far and what they gathered, then
 * the new ones take over from the next interval. */
static void reload(struct agent *a)
{
	struct agent_opts *o = a->o;
	struct agent_setup s = { 0 };
	int err;

	if (!o->prepare) {
		pr_info("agent: SIGHUP: no configuration file to reload\n");
		return;
	}
	sdnotify__send("RELOADING=1");
	err = o->prepare(o->reload_ctx);
	if (err) {
		pr_warn("agent: reload: the new configuration is not valid; keeping the "
			"current one\n");
		sdnotify__send("READY=1\nSTATUS=reload rejected: invalid configuration");
		return;
	}
	flush(a, true);
	drain(a, clock__monotonic_ns() + RELOAD_DRAIN_MS * 1000000LL, "before the reload");
	pthread_mutex_lock(&a->lock);
	setup_release(a);
	err = o->build(o->reload_ctx, &s);
	if (err) {
		pr_warn("agent: reload: cannot start the new destinations (%s); going back to "
			"the previous configuration\n", strerror(-err));
		memset(&s, 0, sizeof(s));
		err = o->build_current(o->reload_ctx, &s);
	}
	if (!err)
		err = setup_take(a, &s);
	pthread_mutex_unlock(&a->lock);
	if (err)
		pr_warn("agent: reload: no destinations are running: %s\n", strerror(-err));
	/* Relabel rules may have changed: every process is asked again. */
	collector__forget_series(a->c, NULL, 0);
	pr_info("agent: configuration reloaded: %zu destination%s\n", a->ndests,
		a->ndests == 1 ? "" : "s");
	sdnotify__send("READY=1\nSTATUS=configuration reloaded");
}

int agent__run(struct agent_opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct agent a = { .o = o, .overflow_id = UINT32_MAX,
			   .lock = PTHREAD_MUTEX_INITIALIZER };
	int64_t next_flush, deadline;
	int64_t tick_ns = (int64_t)o->upload_interval_ms * 1000000;
	int err = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	err = setup_take(&a, &o->setup);
	memset(&o->setup, 0, sizeof(o->setup));
	if (err)
		return err;
	/* The overflow series exists from the start, so it never counts
	 * against the bound itself. */
	{
		int64_t id = service_series(&a, OVERFLOW_SERVICE);

		if (id < 0) {
			err = (int)id;
			goto cleanup;
		}
		a.overflow_id = (uint32_t)id;
	}
	o->collector.series = series_of;
	o->collector.series_ctx = &a;
	a.interval_start_ns = clock__realtime_ns();
	a.c = collector__new(&o->collector);
	if (!a.c) {
		err = -errno;
		fprintf(stderr, "ignis: cannot start sampling: %s\n", strerror(-err));
		goto cleanup;
	}
	{
		struct collector_stats st;

		collector__stats(a.c, &st);
		pr_info("agent: sampling %u CPU%s at %u Hz, an interval every %.1f s, to %zu "
			"destination%s\n", st.sampler.cpus, st.sampler.cpus == 1 ? "" : "s",
			o->collector.frequency_hz, o->upload_interval_ms / 1e3, a.ndests,
			a.ndests == 1 ? "" : "s");
	}
	snapshot(&a, true);
	if (o->metrics_listen && *o->metrics_listen) {
		struct metrics_opts mo = { .listen = o->metrics_listen, .collect = collect,
					   .healthy = healthy, .ctx = &a };

		a.metrics = metrics__new(&mo);
		if (!a.metrics) {
			err = -errno;
			fprintf(stderr, "ignis: cannot serve metrics on %s: %s\n", o->metrics_listen,
				strerror(-err));
			goto cleanup;
		}
		pr_info("agent: metrics on http://%s/metrics\n", o->metrics_listen);
	}
	sdnotify__send("READY=1");
	next_flush = clock__monotonic_ns() + tick_ns;
	while (!stop_requested) {
		int64_t now = clock__monotonic_ns();
		int64_t wait_ms = (next_flush - now) / 1000000;

		err = collector__poll(a.c, wait_ms < 0 ? 0 : wait_ms > 100 ? 100 : (int)wait_ms);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "ignis: sampling failed: %s\n", strerror(-err));
			goto cleanup;
		}
		err = 0;
		snapshot(&a, false);
		if (reload_requested) {
			reload_requested = 0;
			reload(&a);
			next_flush = clock__monotonic_ns() + tick_ns;
			continue;
		}
		if (clock__monotonic_ns() >= next_flush) {
			flush(&a, false);
			next_flush += tick_ns;
			/* Late (a long flush): the next interval starts now. */
			if (next_flush < clock__monotonic_ns())
				next_flush = clock__monotonic_ns() + tick_ns;
		}
	}
	sdnotify__send("STOPPING=1");
	/* Shutting down: what was sampled since the last flush goes out too. */
	pr_info("agent: stopping: flushing the last %.1f s\n",
		(clock__realtime_ns() - a.interval_start_ns) / 1e9);
	collector__poll(a.c, 0);
	flush(&a, true);
	deadline = clock__monotonic_ns() + (int64_t)o->shutdown_timeout_ms * 1000000;
	drain(&a, deadline, "within the shutdown timeout; the rest is spooled where a spool "
	      "is set");
cleanup:
	/* The metrics thread reads the collector and the destinations. */
	metrics__free(a.metrics);
	for (size_t d = 0; d < a.ndests; d++) {
		char desc[1024];

		describe_dest(&a.dests[d], desc, sizeof(desc));
		pr_info("agent: %s: %s\n", a.dests[d].d.name, desc);
	}
	setup_release(&a);
	collector__free(a.c);
	free_series(&a);
	pthread_mutex_destroy(&a.lock);
	return err;
}
