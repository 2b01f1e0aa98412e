/* OpenTelemetry profiles destination (OTLP/HTTP, binary protobuf): every
 * interval becomes one ExportProfilesServiceRequest POSTed to
 * {endpoint}{path} (path default /v1development/profiles, the OTLP
 * specification's and the Collector's otlp receiver's), through a delivery
 * (exporters/delivery.h) so the caller never waits on the network.
 *
 * The messages are generated from the official .proto files of
 * opentelemetry-proto v1.11.0 (proto/otlp/, README "OTLP profiles"); the
 * profiles signal is still in development, so the version is pinned there.
 *
 * What a request carries (see otlp.c for the reasons):
 *  - one shared ProfilesDictionary (string, function, mapping, location,
 *    stack, attribute and link tables, each with its zero value at 0;
 *    mappings with their process.executable.build_id.gnu, kernel frames'
 *    locations with profile.frame.type "kernel");
 *  - one ResourceProfiles per series, its Resource attributes the series
 *    labels after the destination's tag rules (the built-in ones give the
 *    semantic-convention names service.name, deployment.environment.name,
 *    service.version, host.name, k8s.*, container.id; workload and
 *    workload_kind become k8s.<kind>.name here); service.name is
 *    "unknown_service" when the series has none;
 *  - one ScopeProfiles (scope "ignis", the agent's version) holding its
 *    CPU Profile: sample type samples/count, period type cpu/nanoseconds
 *    with the sampling period, the interval's time and duration, a random
 *    16-byte profile_id; and with sampling.off_cpu its off-CPU Profile
 *    beside it: sample type off_cpu/nanoseconds, no period;
 *  - a Sample per distinct (stack, attributes, link) with its count (off-CPU:
 *    the nanoseconds blocked);
 *    per-sample labels become attributes: the agent's own (pid as
 *    process.pid, tid as thread.id, comm and thread_name as thread.name,
 *    container_id as container.id) when sample_labels names them, any
 *    other label (Go pprof labels, trace context) always, under its key;
 *    a span id (span_id or "span id") with a trace id (trace_id or
 *    "trace id"), each hex (16/32 digits) or decimal, become the sample's
 *    Link (trace_id 16 bytes, span_id 8) instead of attributes;
 *  - strings valid UTF-8 (protobuf requires it; receivers refuse the
 *    whole request otherwise): an invalid byte is sent as U+FFFD;
 *  - at most max_request_bytes (uncompressed; the specification's 64 MiB
 *    by default): a bigger interval is split by series into several
 *    requests; a single series over it is dropped and counted.
 *
 * Answers (OTLP/HTTP): 2xx is success, its body read for partial_success
 * (rejected profiles counted and logged, never retried); 429, 502, 503 and
 * 504 are retried (Retry-After honoured); any other status is final. */
#ifndef IGNIS_OTLP_H
#define IGNIS_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exporters/delivery.h"
#include "exporters/destination.h"

#define OTLP_PROFILES_PATH "/v1development/profiles"
#define OTLP_MAX_REQUEST_BYTES (64u << 20)

struct otlp_opts {
	const char *name;                 /* destination name; NULL: "otlp" */
	const char *url;                  /* the full URL, path included */
	bool gzip;                        /* Content-Encoding: gzip */
	/* Extra headers (often credentials): added to every attempt by the
	 * delivery, never queued or written to the spool. */
	const struct http_header *headers;
	size_t nheaders;
	/* The agent's per-sample labels kept ("pid", "comm", "thread_name",
	 * "container_id", "tid"); labels of other names are always kept. */
	const char *const *sample_labels;
	size_t nsample_labels;
	uint64_t max_request_bytes;       /* 0: OTLP_MAX_REQUEST_BYTES */
	struct delivery_opts delivery;    /* delivery.name NULL: name */
};

struct otlp_stats {
	uint64_t requests;          /* rendered */
	uint64_t profiles;          /* Profile messages rendered (per series: CPU, off-CPU) */
	uint64_t samples;           /* CPU samples rendered */
	uint64_t linked_samples;    /* samples carrying a Link (span and trace id) */
	uint64_t dropped_too_big;   /* series alone over max_request_bytes */
	uint64_t fixed_strings;     /* not valid UTF-8: sent with U+FFFD for each bad byte */
	/* From the answers: partial_success.rejected_profiles summed, and
	 * answers with a partial_success (rejections or warnings). */
	uint64_t rejected_profiles, partial_answers;
	struct delivery_stats delivery;
};

struct otlp;

/* Copies what it needs and starts the delivery. NULL+errno (EINVAL for a
 * URL that is not http(s):// or has a query, a header that cannot be sent). */
struct otlp *otlp__new(const struct otlp_opts *o);
/* Renders and queues; never waits on the network. 0 or the first error. */
int otlp__submit(struct otlp *p, const struct interval *iv);
void otlp__stats(struct otlp *p, struct otlp_stats *s);
void otlp__free(struct otlp *p);   /* accepts NULL */

/* Pure, for tests: the uncompressed ExportProfilesServiceRequest bodies of
 * an interval (malloc'd array of malloc'd buffers; free each, then the
 * arrays). Counters are added to *st when st is not NULL. 0 or -errno. */
int otlp__encode(const struct otlp_opts *o, const struct interval *iv, uint8_t ***bodies,
		 size_t **lens, size_t *nbodies, struct otlp_stats *st);

/* Pure: what an answer means (the OTLP/HTTP rules above). *rejected gets
 * partial_success.rejected_profiles, *partial whether the answer had a
 * partial_success worth reporting; reason the message to log (a 2xx's
 * partial_success.error_message, an error's google.rpc.Status message). */
enum delivery_verdict otlp__read_answer(long status, const char *body, size_t len,
					int64_t *rejected, bool *partial, char *reason,
					size_t rlen);

/* Parses a trace (n = 16) or span (n = 8) id: 2n hex digits, or a decimal
 * number up to 2^64-1 (Datadog's ids) in the low 8 bytes. False for
 * anything else and for all zeros (an invalid id). */
bool otlp__parse_id(const char *s, uint8_t *out, size_t n);

/* The "otlp" destination type (exporters/destination.h). */
extern const struct destination_ops otlp__destination;

#endif
