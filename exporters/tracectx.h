/* Trace context among a sample's per-sample labels (PROFILE_LABEL_TRACE,
 * from the program's pprof labels), as ids each destination can render its
 * own way: OpenTelemetry and Pyroscope spell a span id as 16 hex digits
 * ("span_id"), Datadog as a decimal number ("span id"). */
#ifndef IGNIS_TRACECTX_H
#define IGNIS_TRACECTX_H

#include <stddef.h>
#include <stdint.h>

#include "exporters/profile.h"

/* The keys as tracers set them. */
#define TRACECTX_SPAN_ID        "span_id"             /* 16 hex digits */
#define TRACECTX_SPAN_NAME      "span_name"
#define TRACECTX_TRACE_ID       "trace_id"            /* 32 hex digits */
#define TRACECTX_DD_SPAN_ID     "span id"             /* decimal */
#define TRACECTX_DD_ROOT_SPAN   "local root span id"  /* decimal */
#define TRACECTX_DD_ENDPOINT    "trace endpoint"
#define TRACECTX_ENDPOINT       "trace_endpoint"

/* The value of the trace-context label key, or NULL. */
const char *tracectx__get(const struct profile_label *l, size_t n, const char *key);

/* The sample's span id: "span_id" as 16 hex digits, else "span id" as a
 * decimal number; never 0 (no span). 0, or -ENOENT. */
int tracectx__span_id(const struct profile_label *l, size_t n, uint64_t *id);
/* "trace_id" as 32 hex digits into id[16] (big-endian, as OTLP and W3C
 * trace context carry it); never all zero. 0, or -ENOENT. */
int tracectx__trace_id(const struct profile_label *l, size_t n, uint8_t id[16]);
/* A decimal label ("local root span id"), not 0. 0, or -ENOENT. */
int tracectx__decimal(const struct profile_label *l, size_t n, const char *key, uint64_t *v);

#endif
