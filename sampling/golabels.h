/* Go pprof labels on samples: finds the Go processes among those sampled,
 * tells the BPF program where their goroutines' labels are (go_procs, from
 * symbolizer/goruntime.h), and turns the label records it sends into a
 * per-sample label set for the aggregation: trace-context keys kept as
 * PROFILE_LABEL_TRACE, keys of labels.go_labels as PROFILE_LABEL_PROGRAM,
 * the rest dropped and counted. Never a series label. */
#ifndef IGNIS_GOLABELS_H
#define IGNIS_GOLABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/schema.h"
#include "bpf/golabels.h"
#include "exporters/profile.h"

/* labels.go_labels and labels.trace_labels (agent configuration). */
struct golabels_config {
	const char **go_labels;      /* owned strings: other program labels kept */
	size_t ngo_labels;
	const char **trace_labels;   /* owned strings; none: GOLABELS_TRACE_DEFAULT */
	size_t ntrace_labels;
};

#define GOLABELS_MAX_KEYS 64

/* The keys tracers put trace context under: OpenTelemetry/Pyroscope
 * (span_id, span_name, trace_id) and Datadog ("span id", "local root span
 * id", "trace endpoint"), and trace_endpoint. */
#define GOLABELS_TRACE_DEFAULT \
	"span_id", "span_name", "span id", "local root span id", "trace_id", \
	"trace endpoint", "trace_endpoint"

/* Rows of labels: for a struct golabels_config field of type. */
#define GOLABELS_ROWS(type, field)                                                            \
	{ "go_labels", SCHEMA_LIST, SCHEMA_AT(type, field.go_labels), .max = GOLABELS_MAX_KEYS, \
	  .count_offset = offsetof(type, field.ngo_labels), .item = "label keys",               \
	  .items = "keys", .what = "a Go pprof label key", .flags = SCHEMA_UNIQUE | SCHEMA_NONEMPTY, \
	  .hint = "expected a label key, got an empty string", .check = golabels__check_key }, \
	{ "trace_labels", SCHEMA_LIST, SCHEMA_AT(type, field.trace_labels),                      \
	  .max = GOLABELS_MAX_KEYS, .count_offset = offsetof(type, field.ntrace_labels),         \
	  .item = "label keys", .items = "keys", .what = "a Go pprof label key",                 \
	  .flags = SCHEMA_UNIQUE | SCHEMA_NONEMPTY, .check = golabels__check_key,           \
	  .hint = "expected a label key, got an empty string",                                   \
	  .note = "none: span_id, span_name, span id, local root span id, trace_id, "             \
		  "trace endpoint, trace_endpoint" }

/* Same lists, in the same order. */
bool golabels__config_equal(const struct golabels_config *a, const struct golabels_config *b);

/* A key of go_labels or trace_labels: text of at most IGNIS_GO_KEY_LEN bytes. */
int golabels__check_key(struct schema_ctx *x, const char *s);

struct golabels;

struct golabels_opts {
	const char *proc_root;
	int procs_fd, stats_fd;      /* go_procs, go_stats (sampler__go_fds) */
	unsigned int max_procs;      /* go_procs' entries */
	const char *const *go_labels;   /* borrowed for the call; copied */
	size_t ngo_labels;
	const char *const *trace_labels;  /* none: GOLABELS_TRACE_DEFAULT */
	size_t ntrace_labels;
	/* The program's count of go_procs' entries (sampler__go_nprocs): kept
	 * up before an insert and down after a delete. NULL: none. */
	volatile uint32_t *count;
};

struct golabels_stats {
	uint64_t processes;     /* Go processes whose labels are read */
	uint64_t unsupported;   /* Go processes of a version or layout not read */
	uint64_t procs_full;    /* Go processes left out: go_procs full */
	uint64_t samples;       /* BPF: samples of those processes */
	uint64_t labeled;       /* BPF: ... whose goroutine had labels */
	uint64_t lost;          /* BPF: label records dropped (ring buffer full) */
	uint64_t read_failed;   /* BPF: a user read failed */
	uint64_t cut;           /* BPF: samples with labels past IGNIS_GO_MAX_LABELS */
	uint64_t attached;      /* samples given their label set */
	uint64_t unmatched;     /* label records no sample took */
	uint64_t dropped;       /* labels neither trace context nor in go_labels */
	uint64_t truncated;     /* keys or values cut to the record's room */
	uint64_t records;       /* label records received */
	uint64_t record_bytes;  /* ... their bytes in the ring buffer */
};

/* NULL and errno. */
struct golabels *golabels__new(const struct golabels_opts *o);
void golabels__free(struct golabels *g);

/* A sample of tgid arrived: the first one of a process decides whether it
 * is a Go program whose labels can be read (its executable is parsed once
 * per binary) and describes it to the BPF program. */
void golabels__see(struct golabels *g, uint32_t tgid);
/* Exit or exec: its description goes. */
void golabels__forget(struct golabels *g, uint32_t tgid);

/* An IGNIS_EV_GO_LABELS record; kept until its sample comes. */
void golabels__record(struct golabels *g, const void *data, size_t len);

/* The label set of the sample (cpu, tid, time_ns) as an aggregation key
 * (a packed blob, sorted by key; NULL, 0 when it has none). Valid until
 * the next call. */
const void *golabels__take(struct golabels *g, uint32_t cpu, uint32_t tid, uint64_t time_ns,
			   size_t *len);

/* The labels of a blob into out[0..max) (strings point into the blob).
 * Returns how many. */
size_t golabels__decode(const void *blob, size_t len, struct profile_label *out, size_t max);

void golabels__stats(const struct golabels *g, struct golabels_stats *s);
/* One line of them, for `ignis record`. */
void golabels__print(const struct golabels_stats *s, FILE *f);

#endif
