/* What the agent hands every destination at the end of an interval: one
 * neutral profile per series (the label set of one workload). Each
 * destination renders and queues what it needs during its submit call and
 * keeps no pointer into the interval, which the caller frees afterwards. */
#ifndef IGNIS_DESTINATION_H
#define IGNIS_DESTINATION_H

#include <stddef.h>
#include <stdint.h>

#include "exporters/profile.h"

struct series {
	/* Series labels under neutral names ("service_name", "host", ...):
	 * strings only, sorted by key, no duplicates. */
	const struct profile_label *labels;
	size_t nlabels;
	/* Its samples; per-sample labels may include "pid" (number), "comm"
	 * and "thread_name" (strings): each destination keeps those it wants. */
	const struct profile *profile;
};

struct interval {
	int64_t start_ns, end_ns;  /* wall clock (CLOCK_REALTIME) */
	const struct series *series;
	size_t nseries;
};

/* The value of a series label, NULL when the series has none. */
const char *series__label(const struct series *s, const char *key);

#endif
