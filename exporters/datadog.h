/* Datadog destination: every interval, one CPU profile per series, uploaded
 * as event format version 4 (multipart/form-data: an "event" part holding
 * event.json and a "cpu.pprof" part holding the zstd- or gzip-compressed
 * pprof) to a local Datadog Agent (http://HOST:8126/profiling/v1/input) or
 * agentless (https://intake.profile.SITE/api/v2/profile with DD-API-KEY),
 * through a delivery (exporters/delivery.h) so the caller never waits on
 * the network.
 *
 * What a request carries (see datadog.c for the reasons):
 *  - event.json: start/end of the interval (RFC 3339 UTC, milliseconds),
 *    attachments ["cpu.pprof"], family "ebpf", version "4", tags_profiler:
 *    every series label as key:value (service first: the series' service,
 *    else its service_name, else "unnamed-service"), runtime:ebpf,
 *    profiler_version:<IGNIS_VERSION>, profile_seq:<n>, then the static
 *    tags; all normalized to Datadog's tag rules, those left with nothing
 *    valid dropped and counted;
 *  - cpu.pprof: sample types cpu-samples/count and cpu-time/nanoseconds,
 *    period type cpu-time/nanoseconds, only the per-sample labels asked for,
 *    under Datadog's names (process_id, thread name, thread id,
 *    container_id);
 *  - headers DD-EVP-ORIGIN: ignis, DD-EVP-ORIGIN-VERSION; the API key only
 *    as a secret header of the delivery, never in a queued request.
 * A profile whose compressed pprof passes 10 MiB is dropped (counted and
 * logged): the backend would skip it anyway. */
#ifndef IGNIS_DATADOG_H
#define IGNIS_DATADOG_H

#include <stddef.h>
#include <stdint.h>

#include "exporters/delivery.h"
#include "exporters/destination.h"

#define DATADOG_MAX_TAG_LEN 200
/* Past this the backend skips a profile (it answers 2xx all the same). */
#define DATADOG_MAX_PROFILE_BYTES (10u << 20)

enum datadog_compression { DATADOG_ZSTD, DATADOG_GZIP };

struct datadog_opts {
	const char *name;                 /* destination name */
	/* The full intake URL, chosen by the config layer:
	 * http://HOST:8126/profiling/v1/input (local Datadog Agent) or
	 * https://intake.profile.SITE/api/v2/profile (agentless). */
	const char *url;
	/* Agentless only: sent as DD-API-KEY; NULL through an agent. A secret:
	 * never logged, never queued (a delivery secret header). */
	const char *api_key;
	enum datadog_compression compression;   /* default zstd */
	const char *const *tags;          /* extra static "k:v" (or bare "k") tags; may be NULL */
	size_t ntags;
	/* Neutral per-sample labels kept: "pid", "comm", "thread_name", "tid",
	 * "container_id"; default none. */
	const char *const *sample_labels;
	size_t nsample_labels;
	struct delivery_opts delivery;    /* delivery.name NULL: name */
};

struct datadog;

/* Copies what it needs from o and starts its delivery. NULL+errno (EINVAL
 * for a URL that is not http(s)://, an API key that cannot be a header
 * value, or an unknown sample label). */
struct datadog *datadog__new(const struct datadog_opts *o);

/* Renders every series of the interval and queues the requests; never
 * waits on the network. 0, or the first error (a rendering error, or
 * -ENOBUFS when the queue was full: the rest is still queued). */
int datadog__submit(struct datadog *d, const struct interval *iv);


/* Accepts NULL. */
void datadog__free(struct datadog *d);

struct datadog_stats {
	uint64_t profiles;         /* profiles rendered (one request each) */
	uint64_t series;           /* series with samples */
	uint64_t trimmed_tags;     /* tags dropped: nothing valid left after normalization */
	uint64_t dropped_too_large;  /* profiles over DATADOG_MAX_PROFILE_BYTES compressed */
	struct delivery_stats delivery;
};

void datadog__stats(struct datadog *d, struct datadog_stats *s);

/* Pure, for unit tests: the requests one interval becomes, in order, one
 * per series with samples. *seq is the profile_seq of the first request
 * and is advanced by one per request. *reqs is a malloc'd array of *nreqs
 * requests for the caller to free (http_request__free each, then free()).
 * Counters are added to *st when st is not NULL (its delivery part is left
 * alone). 0 or -errno, with nothing returned (and *seq unchanged) on error. */
int datadog__render(const struct datadog_opts *o, const struct interval *iv, uint64_t *seq,
		    struct http_request ***reqs, size_t *nreqs, struct datadog_stats *st);

/* Datadog tag normalization of key:value (value NULL: a bare tag "key"):
 * lower case; characters other than [a-z0-9_./-] (and ':' in a value)
 * become '_', runs of '_' collapse to one; the key starts with a letter
 * (anything before the first letter is dropped); no trailing '_' or ':';
 * at most DATADOG_MAX_TAG_LEN bytes in all, the value cut to fit. Writes
 * the tag to out (NUL-terminated). 0; -EINVAL when the key or the value
 * has nothing valid left (or the key leaves no room for a value);
 * -ENOSPC when out is too small. */
int datadog__normalize_tag(const char *key, const char *value, char *out, size_t size);

/* The "datadog" destination type (exporters/destination.h). */
extern const struct destination_ops datadog__destination;

#endif
