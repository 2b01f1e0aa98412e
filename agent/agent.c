#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/hashmap.h"
#include "agent/log.h"
#include "agent/workload.h"

#define SERVICE_MAX 256

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* A series: the label set of one workload, "host" and "service_name"
 * (sorted by key, as struct series wants). */
struct series_entry {
	struct hashmap_node node;
	uint32_t id;
	struct profile_label labels[2];
	char service[];
};

struct agent {
	struct agent_opts *o;
	struct collector *c;
	struct hashmap series_by_name;
	struct series_entry **series;    /* by id */
	size_t nseries, series_cap;
	int64_t interval_start_ns;       /* wall clock */
	uint64_t intervals;
};

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int service_eq(const struct hashmap_node *n, const void *key)
{
	return strcmp(((const struct series_entry *)n)->service, key) == 0;
}

/* collector_series_fn: once per process. */
static int series_of(void *ctx, uint32_t tgid, const char *comm)
{
	struct agent *a = ctx;
	char service[SERVICE_MAX];
	struct series_entry *e;
	uint64_t h;

	workload__service_name(a->o->collector.proc_root, tgid, comm, service, sizeof(service));
	h = hash_bytes(HASH_SEED, service, strlen(service));
	e = (void *)hashmap__find(&a->series_by_name, h, service, service_eq);
	if (e)
		return e->id;
	if (a->nseries == a->series_cap) {
		size_t cap = a->series_cap ? 2 * a->series_cap : 64;
		struct series_entry **v = realloc(a->series, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->series = v;
		a->series_cap = cap;
	}
	e = calloc(1, sizeof(*e) + strlen(service) + 1);
	if (!e)
		return -ENOMEM;
	strcpy(e->service, service);
	e->id = a->nseries;
	e->labels[0] = (struct profile_label){ .key = "host", .str = a->o->host };
	e->labels[1] = (struct profile_label){ .key = "service_name", .str = e->service };
	if (hashmap__insert(&a->series_by_name, &e->node, h)) {
		free(e);
		return -ENOMEM;
	}
	a->series[a->nseries++] = e;
	pr_debug("agent: series %u: service_name=%s (first seen as pid %u)\n", e->id, service,
		 tgid);
	return e->id;
}

/* Swaps the aggregation out, names it, and hands the interval to every
 * destination. Sampling goes on in BPF meanwhile; the ring buffer holds
 * what arrives until the next poll. */
static int flush(struct agent *a)
{
	int64_t end_ns = clock_ns(CLOCK_REALTIME);
	uint64_t period = 1000000000ULL / a->o->collector.frequency_hz;
	struct aggregate *agg = collector__swap(a->c);
	struct profile **profiles = NULL;
	struct series *series = NULL;
	uint64_t *counts = NULL;
	size_t n = a->nseries, used = 0;
	struct interval iv;
	int err = 0;

	if (!agg)
		return -ENOMEM;
	if (n) {
		profiles = calloc(n, sizeof(*profiles));
		series = calloc(n, sizeof(*series));
		counts = calloc(n, sizeof(*counts));
		if (!profiles || !series || !counts) {
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
	err = collector__symbolize(a->c, agg, profiles, n);
	if (err) {
		pr_warn("agent: cannot build the interval's profiles: %s\n", strerror(-err));
		goto cleanup;
	}
	aggregate__series_counts(agg, counts, n);
	for (size_t i = 0; i < n; i++) {
		if (!profile__sample_count(profiles[i]))
			continue;
		pr_debug("agent: interval %" PRIu64 ": service_name=%s: %" PRIu64 " samples\n",
			 a->intervals + 1, a->series[i]->service, counts[i]);
		series[used++] = (struct series){
			.labels = a->series[i]->labels, .nlabels = 2, .profile = profiles[i] };
	}
	iv = (struct interval){ a->interval_start_ns, end_ns, series, used };
	for (size_t d = 0; d < a->o->ndests; d++) {
		struct agent_dest *dest = &a->o->dests[d];
		int derr = dest->submit(dest->impl, &iv);

		if (derr)
			pr_warn("agent: %s: cannot queue the interval: %s\n", dest->name,
				strerror(-derr));
	}
	a->intervals++;
	{
		struct collector_stats st;
		char line[1024];
		size_t off;

		collector__stats(a->c, &st);
		off = snprintf(line, sizeof(line), "agent: interval %" PRIu64 ": %.1f s, %" PRIu64
			       " samples in %zu series, %" PRIu64 " lost in total",
			       a->intervals, (end_ns - a->interval_start_ns) / 1e9,
			       aggregate__samples(agg), used,
			       st.sampler.v[IGNIS_STAT_LOST]);
		for (size_t d = 0; d < a->o->ndests && off < sizeof(line) - 4; d++) {
			struct agent_dest *dest = &a->o->dests[d];
			char desc[256] = "";

			if (dest->describe)
				dest->describe(dest->impl, desc, sizeof(desc));
			off += snprintf(line + off, sizeof(line) - off, "; %s: %s", dest->name, desc);
		}
		pr_info("%s\n", line);
	}
	a->interval_start_ns = end_ns;
cleanup:
	for (size_t i = 0; profiles && i < n; i++)
		profile__free(profiles[i]);
	free(profiles);
	free(series);
	free(counts);
	aggregate__free(agg);
	return err;
}

static void free_series(struct agent *a)
{
	for (size_t i = 0; i < a->nseries; i++)
		free(a->series[i]);
	free(a->series);
	hashmap__clear(&a->series_by_name);
}

int agent__run(struct agent_opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct agent a = { .o = o };
	int64_t next_flush, deadline;
	int err = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	o->collector.series = series_of;
	o->collector.series_ctx = &a;
	a.interval_start_ns = clock_ns(CLOCK_REALTIME);
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
			o->collector.frequency_hz, o->upload_interval_ms / 1e3, o->ndests,
			o->ndests == 1 ? "" : "s");
	}
	next_flush = clock_ns(CLOCK_MONOTONIC) + (int64_t)o->upload_interval_ms * 1000000;
	while (!stop_requested) {
		int64_t now = clock_ns(CLOCK_MONOTONIC);
		int64_t wait_ms = (next_flush - now) / 1000000;

		err = collector__poll(a.c, wait_ms < 0 ? 0 : wait_ms > 100 ? 100 : (int)wait_ms);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "ignis: sampling failed: %s\n", strerror(-err));
			goto cleanup;
		}
		err = 0;
		if (clock_ns(CLOCK_MONOTONIC) >= next_flush) {
			flush(&a);
			next_flush += (int64_t)o->upload_interval_ms * 1000000;
			/* Late (a long flush): the next interval starts now. */
			if (next_flush < clock_ns(CLOCK_MONOTONIC))
				next_flush = clock_ns(CLOCK_MONOTONIC) +
					     (int64_t)o->upload_interval_ms * 1000000;
		}
	}
	/* Shutting down: what was sampled since the last flush goes out too. */
	pr_info("agent: stopping: flushing the last %.1f s\n",
		(clock_ns(CLOCK_REALTIME) - a.interval_start_ns) / 1e9);
	collector__poll(a.c, 0);
	flush(&a);
	deadline = clock_ns(CLOCK_MONOTONIC) + (int64_t)o->shutdown_timeout_ms * 1000000;
	for (size_t d = 0; d < o->ndests; d++) {
		struct agent_dest *dest = &o->dests[d];

		if (dest->drain && dest->drain(dest->impl, deadline))
			pr_warn("agent: %s: not everything was delivered within the %.1f s "
				"shutdown timeout\n", dest->name, o->shutdown_timeout_ms / 1e3);
	}
cleanup:
	for (size_t d = 0; d < o->ndests; d++) {
		char desc[256] = "";

		if (o->dests[d].describe) {
			o->dests[d].describe(o->dests[d].impl, desc, sizeof(desc));
			pr_info("agent: %s: %s\n", o->dests[d].name, desc);
		}
		o->dests[d].free(o->dests[d].impl);
	}
	collector__free(a.c);
	free_series(&a);
	return err;
}
