/* `ignis agent`: samples forever and hands every destination one profile
 * per series (workload) each upload interval. */
#ifndef IGNIS_AGENT_H
#define IGNIS_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "agent/collector.h"
#include "exporters/destination.h"

/* One destination as the agent drives it. */
struct agent_dest {
	const char *name;
	void *impl;
	/* Renders and queues; must not wait on the network. 0 or -errno. */
	int (*submit)(void *impl, const struct interval *iv);
	/* Delivers what is queued until deadline_ns (CLOCK_MONOTONIC); NULL
	 * when submit already finished the job (files). */
	int (*drain)(void *impl, int64_t deadline_ns);
	/* One line of what happened so far, into buf. */
	void (*describe)(void *impl, char *buf, size_t len);
	void (*free)(void *impl);
};

struct agent_opts {
	struct collector_opts collector;  /* series is the agent's own */
	uint64_t upload_interval_ms;
	uint64_t shutdown_timeout_ms;
	const char *host;                 /* the "host" series label */
	struct agent_dest *dests;         /* the agent frees them */
	size_t ndests;
};

/* Runs until SIGINT or SIGTERM, then flushes the interval under way to every
 * destination within shutdown_timeout_ms. 0, or -errno when sampling could
 * not start or failed (reported). */
int agent__run(struct agent_opts *o);

#endif
