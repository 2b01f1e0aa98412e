/* Grafana Pyroscope destination: every interval, one CPU profile per series,
 * pushed with the push API v1 (POST {url}/push.v1.PusherService/Push,
 * Connect unary, application/proto) or the legacy POST {url}/ingest, through
 * a delivery (exporters/delivery.h) so the caller never waits on the network.
 *
 * What a request carries (see pyroscope.c for the reasons):
 *  - series labels __name__=process_cpu, service_name (unknown_service when
 *    the series has none), then the series' other labels in their order;
 *    names made of [A-Za-z0-9_] not starting with a digit, values valid
 *    UTF-8 of at most 2048 bytes, no duplicates, at most 30 names counting
 *    those the server adds and the per-sample labels it turns into series
 *    labels; whatever does not fit is dropped or fixed, counted and logged;
 *  - a gzipped pprof with one sample type, cpu/nanoseconds (count x
 *    period), period type cpu/nanoseconds, time_nanos/duration_nanos of the
 *    interval, only the per-sample labels asked for (numbers as decimal
 *    strings: the server ignores numeric labels), and for span profiles
 *    the program's span as "span_id" (16 hex digits; from its span_id or
 *    Datadog's "span id" pprof label) and "span_name" where it set one
 *    (which the server makes a series label: it takes one name's room);
 *  - at most 16,000 samples and, uncompressed, at most 2 MiB (the server's
 *    default ingestion burst: a bigger profile is answered 429 forever; its
 *    hard size limit is 4 MiB) per profile: a bigger series is split into
 *    several profiles, one request each, every sample in exactly one;
 *  - stacks of at most 1,000 locations: deeper ones keep their 999 leaf-side
 *    locations under a "[truncated]" root frame (the server would cut the
 *    leaves instead). */
#ifndef IGNIS_PYROSCOPE_H
#define IGNIS_PYROSCOPE_H

#include <stddef.h>
#include <stdint.h>

#include "exporters/delivery.h"
#include "exporters/destination.h"

/* The server's default limits the rendering keeps to. */
#define PYROSCOPE_MAX_SAMPLES 16000
#define PYROSCOPE_MAX_PROFILE_BYTES (4u << 20)
#define PYROSCOPE_BURST_BYTES (2u << 20)
#define PYROSCOPE_MAX_LOCATIONS 1000
#define PYROSCOPE_MAX_LABELS 30
#define PYROSCOPE_MAX_NAME_LEN 1024
#define PYROSCOPE_MAX_VALUE_LEN 2048

enum pyroscope_api { PYROSCOPE_PUSH_V1, PYROSCOPE_INGEST };

struct pyroscope_opts {
	const char *name;                 /* destination name */
	const char *url;                  /* base URL, e.g. http://127.0.0.1:4040 (a path prefix is kept) */
	enum pyroscope_api api;
	const char *tenant_id;            /* X-Scope-OrgID when set */
	const char *basic_user, *basic_password;  /* secrets already read by the config layer */
	const char *bearer_token;         /* not together with basic_user */
	const struct http_header *headers;  /* extra headers; one named like ours replaces ours */
	size_t nheaders;
	const char *const *sample_labels;  /* per-sample labels kept ("pid", "comm", "thread_name"); default none */
	size_t nsample_labels;
	struct delivery_opts delivery;    /* delivery.name NULL: name */
};

struct pyroscope;

/* Copies what it needs from o and starts its delivery. NULL+errno (EINVAL
 * for a URL that is not http(s):// or has a query, both basic auth and a
 * bearer token, or a header that cannot be sent). */
struct pyroscope *pyroscope__new(const struct pyroscope_opts *o);

/* Renders every series of the interval and queues the requests; never
 * waits on the network. 0, or the first error (a rendering error, or
 * -ENOBUFS when the queue was full: the rest is still queued). */
int pyroscope__submit(struct pyroscope *p, const struct interval *iv);


/* Accepts NULL. */
void pyroscope__free(struct pyroscope *p);

struct pyroscope_stats {
	uint64_t profiles;         /* profiles rendered (one request each) */
	uint64_t series;           /* series with samples rendered */
	uint64_t split;            /* series that took more than one profile */
	uint64_t trimmed_labels;   /* labels dropped or changed to fit the rules */
	uint64_t trimmed_samples;  /* stacks cut at the depth limit, or samples dropped alone over the size limit */
	struct delivery_stats delivery;
};

void pyroscope__stats(struct pyroscope *p, struct pyroscope_stats *s);

/* Pure, for unit tests: the requests one interval becomes, in order (push
 * v1: one PushRequest per profile, holding one series with one RawSample;
 * ingest: one request per profile). *reqs is a malloc'd array of *nreqs
 * requests for the caller to free (http_request__free each, then free()).
 * Counters are added to *st when st is not NULL (its delivery part is left
 * alone). 0 or -errno, with nothing returned on error. */
int pyroscope__render(const struct pyroscope_opts *o, const struct interval *iv,
		      struct http_request ***reqs, size_t *nreqs, struct pyroscope_stats *st);

/* The "pyroscope" destination type (exporters/destination.h). */
extern const struct destination_ops pyroscope__destination;

#endif
