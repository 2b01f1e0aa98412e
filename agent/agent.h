/* `ignis agent`: samples forever and hands every destination one profile
 * per series (workload) each of its upload periods. */
#ifndef IGNIS_AGENT_H
#define IGNIS_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampling/collector.h"
#include "exporters/delivery.h"
#include "exporters/destination.h"

struct identity;
struct tagmap;

/* One destination as the agent drives it: its type's operations on impl. */
struct agent_dest {
	const char *name;
	const struct destination_ops *ops;
	void *impl;
	/* Upload period, a multiple of the agent's interval; 0: the interval. */
	uint64_t period_ms;
	/* Fraction of samples kept, (0, 1]; 0: 1. */
	double sample_fraction;
	/* Series labels renamed for this destination; NULL: as they are.
	 * Owned by the agent from then on. */
	struct tagmap *tags;
};

/* What a configuration turns into, handed to the agent at start and on
 * each reload; the agent owns it from then on. */
struct agent_setup {
	struct agent_dest *dests;
	size_t ndests;
	/* Workload identity; NULL: service_name from workload.c only. */
	struct identity *identity;
	/* Frees what identity needs besides itself (the Kubernetes client,
	 * the relabel rules), after identity__free. */
	void (*release)(void *ctx);
	void *release_ctx;
};

struct agent_opts {
	struct collector_opts collector;  /* series is the agent's own */
	uint64_t upload_interval_ms;      /* the agent's interval */
	uint64_t shutdown_timeout_ms;
	const char *host;                 /* the "host" series label */
	size_t max_series;                /* 0: 10000 */
	const char *metrics_listen;       /* NULL or "": no metrics endpoint */
	struct agent_setup setup;
	/* SIGHUP: a new setup from the configuration file, or -errno with
	 * the current one kept (the reason logged). prepare checks the new
	 * configuration without side effects; build is called after the old
	 * setup has been torn down (its spool directories are free again);
	 * should build fail, build_current rebuilds what ran before. NULL:
	 * SIGHUP is ignored. */
	int (*prepare)(void *ctx);
	int (*build)(void *ctx, struct agent_setup *out);
	int (*build_current)(void *ctx, struct agent_setup *out);
	void *reload_ctx;
};

/* Runs until SIGINT or SIGTERM, then flushes the interval under way to every
 * destination within shutdown_timeout_ms. 0, or -errno when sampling could
 * not start or failed (reported). */
int agent__run(struct agent_opts *o);

#endif
