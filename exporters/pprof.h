/* pprof (perftools.profiles.Profile) rendering of a neutral profile. */
#ifndef IGNIS_PPROF_H
#define IGNIS_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exporters/profile.h"

struct pprof_value_type {
	const char *type;
	const char *unit;
};

struct pprof_label_rename {
	const char *from;  /* neutral label key */
	const char *to;    /* destination key, or NULL to drop the label */
};

/* What differs between destinations. */
struct pprof_style {
	struct pprof_value_type samples;  /* count of samples, e.g. samples/count; type NULL omits it */
	struct pprof_value_type cpu;      /* CPU time, e.g. cpu/nanoseconds */
	struct pprof_value_type period;   /* period type, e.g. cpu/nanoseconds */
	const struct pprof_label_rename *renames;  /* labels not listed pass through */
	size_t nrenames;
	/* Numeric labels rendered as string labels of their decimal value
	 * (Datadog's profilers send process_id and thread id that way). */
	bool numbers_as_strings;
};

/* samples/count + cpu/nanoseconds, period cpu/nanoseconds, labels as they are. */
extern const struct pprof_style pprof_style_default;
/* Off-CPU time: blocked/count + off_cpu/nanoseconds (profile_sample.value),
 * period off_cpu/nanoseconds. */
extern const struct pprof_style pprof_style_offcpu;

/* Encodes the profile as an uncompressed pprof protobuf into a malloc'd
 * buffer. Returns 0 or -errno. */
int pprof__encode(const struct profile *p, const struct pprof_style *style,
		  uint8_t **out, size_t *out_len);
/* gzip-compresses a buffer into a malloc'd one. Returns 0 or -errno. */
int pprof__gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

#endif
