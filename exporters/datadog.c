/* Datadog rendering and submission (see datadog.h for what a request
 * carries).
 *
 * Choices and their reasons:
 *  - One request per series per interval: the intake takes one event (one
 *    set of tags_profiler) per request, and series are what carry distinct
 *    tags. Nothing is split: the backend has no sample-count limit, only a
 *    size past which it skips the profile, and a skipped profile is answered
 *    2xx like a stored one, so one over DATADOG_MAX_PROFILE_BYTES compressed
 *    is dropped here, where it can at least be counted.
 *  - Tags are normalized as Datadog's own normalizer does (datadog-agent's
 *    pkg/trace/traceutil NormalizeTag/NormalizeTagValue: lower case, other
 *    characters to '_', runs of '_' collapsed, leading non-letters of the
 *    key dropped, trailing '_' dropped, 200 characters) but to the
 *    documented ASCII set only: Datadog's normalizer also keeps Unicode
 *    letters, which not every Datadog surface accepts; a '_' is always
 *    accepted. ':' is kept in values (Datadog splits a tag at its first
 *    ':') and replaced in keys, so the key the backend sees is ours; ','
 *    separates tags in tags_profiler and can never survive. A tag with
 *    nothing valid left is dropped rather than sent as something else.
 *  - A series without a usable service gets service:<its service_name>,
 *    else service:unnamed-service: the name Datadog's own normalizer gives
 *    a missing service (traceutil.DefaultServiceName), so our profiles land
 *    where Datadog's tooling looks for unnamed ones; without any service
 *    tag the profile would not show under any service in the UI.
 *  - service, env, version and host carry one value each (Datadog files a
 *    profile under one of each; two would split it between both): the
 *    series' value (the workload's identity) wins, a static tag under the
 *    same key is a default for series without one. Agentless requests
 *    always carry host: (through an Agent, the Agent adds it).
 *  - runtime, profiler_version and profile_seq are ours: a series label or
 *    static tag under those keys is dropped (counted), since two values
 *    would make the profile match filters meant for other profilers.
 *  - comm and thread_name both become "thread name" (the names Datadog's
 *    host profilers use); when both are asked for, thread_name wins, so a
 *    sample never carries the same label key twice.
 *  - The API key never enters a request: it is a secret header of the
 *    delivery, added at each attempt, so it is never queued, spooled or
 *    logged, and a replayed request carries the current key. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <zstd.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/str.h"
#include "exporters/datadog.h"
#include "exporters/pprof.h"
#include "exporters/profile.h"
#include "exporters/tracectx.h"

#define ATTACHMENT "cpu.pprof"
/* Off-CPU time goes as wall time, the type Datadog's profilers send for
 * time on and off the CPU (wall-time/nanoseconds, wall-samples/count: ddprof,
 * dd-trace-py's uploader): the CPU samples at their CPU time plus the
 * blockings at the time blocked. */
#define WALL_ATTACHMENT "wall.pprof"
#define FAMILY "ebpf"
#define EVENT_VERSION "4"
#define ORIGIN "ignis"
#define UNNAMED_SERVICE "unnamed-service"
#define ZSTD_LEVEL 3
/* Loud at most this often per reason; debug level in between. */
#define NOTE_EVERY_NS (60LL * 1000000000LL)

/* Neutral per-sample labels and what Datadog's host profilers call them. */
static const struct pprof_label_rename dd_names[] = {
	{ "pid", "process_id" },
	{ "tid", "thread id" },
	{ "comm", "thread name" },
	{ "thread_name", "thread name" },
	{ "container_id", "container_id" },
};

static const char *const reserved_keys[] = { "runtime", "profiler_version", "profile_seq" };
/* Unified service tagging and the host: one value each. */
static const char *const unified_keys[] = { "service", "env", "version", "host" };

/* ---- rate-limited notes --------------------------------------------------- */

enum note_reason { NOTE_TAG_INVALID, NOTE_TAG_RESERVED, NOTE_TOO_LARGE, NOTE_MAX };

static _Atomic int64_t note_last[NOTE_MAX];

__attribute__((format(printf, 2, 3)))
static void note(enum note_reason r, const char *fmt, ...)
{
	int64_t now = clock__monotonic_ns(), last = atomic_load(&note_last[r]);
	bool loud = (!last || now - last >= NOTE_EVERY_NS) &&
		    atomic_compare_exchange_strong(&note_last[r], &last, now);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (loud)
		pr_warn("datadog: %s (counted; more like it at debug level for a minute)\n", msg);
	else
		pr_debug("datadog: %s\n", msg);
}

/* ---- tag normalization ---------------------------------------------------- */

/* Length of the UTF-8 sequence starting with lead byte c, 1 for a byte
 * that cannot start one (each becomes one '_' either way). */
static size_t utf8_len(unsigned char c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 1;
}

static bool is_lower(unsigned char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_tag_char(unsigned char c, bool in_value)
{
	return is_lower(c) || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '/' ||
	       c == '_' || (in_value && c == ':');
}

/* The normalized key or value of the len bytes at in into out (at most
 * max bytes, no NUL); its length. Reads no further than it needs to fill
 * max. */
static size_t norm_part(const char *in, size_t len, bool in_value, char *out, size_t max)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, i = 0;

	while (i < len && o < max) {
		unsigned char c = s[i];
		size_t n = 1;

		if (c >= 0x80) {
			/* A non-ASCII character (or a stray byte) is one '_'. */
			n = utf8_len(c);
			for (size_t k = 1; k < n; k++)
				if (i + k >= len || (s[i + k] & 0xc0) != 0x80) {
					n = k;
					break;
				}
			c = '_';
		} else if (c >= 'A' && c <= 'Z') {
			c = (unsigned char)(c - 'A' + 'a');
		} else if (!is_tag_char(c, in_value)) {
			c = '_';
		}
		i += n;
		/* A key starts with a letter: drop what comes before one. */
		if (!in_value && o == 0 && !is_lower(c))
			continue;
		if (c == '_' && o > 0 && out[o - 1] == '_')
			continue;
		out[o++] = (char)c;
	}
	while (o > 0 && (out[o - 1] == '_' || out[o - 1] == ':'))
		o--;
	return o;
}

/* datadog__normalize_tag with a key of klen bytes. */
static int normalize_tag_n(const char *key, size_t klen, const char *value, char *out, size_t size)
{
	char k[DATADOG_MAX_TAG_LEN], v[DATADOG_MAX_TAG_LEN];
	size_t kl, vl = 0, total;

	kl = norm_part(key, klen, false, k, sizeof(k));
	if (!kl)
		return -EINVAL;
	total = kl;
	if (value) {
		/* The key must leave room for ':' and one character. */
		if (kl + 2 > DATADOG_MAX_TAG_LEN)
			return -EINVAL;
		vl = norm_part(value, strlen(value), true, v, DATADOG_MAX_TAG_LEN - kl - 1);
		if (!vl)
			return -EINVAL;
		total += 1 + vl;
	}
	if (size < total + 1)
		return -ENOSPC;
	memcpy(out, k, kl);
	if (value) {
		out[kl] = ':';
		memcpy(out + kl + 1, v, vl);
	}
	out[total] = '\0';
	return 0;
}

int datadog__normalize_tag(const char *key, const char *value, char *out, size_t size)
{
	if (!key || !out)
		return -EINVAL;
	return normalize_tag_n(key, strlen(key), value, out, size);
}

/* ---- tags_profiler -------------------------------------------------------- */

struct tags {
	char (*v)[DATADOG_MAX_TAG_LEN + 1];
	size_t n, cap;
	uint64_t trimmed;
};

static bool is_reserved(const char *key)
{
	for (size_t i = 0; i < sizeof(reserved_keys) / sizeof(*reserved_keys); i++)
		if (!strcmp(key, reserved_keys[i]))
			return true;
	return false;
}

/* Appends key:value normalized (the key is klen bytes); an exact
 * duplicate is left out (it says nothing twice), an invalid tag is
 * counted. */
static int tags__add_n(struct tags *t, const char *key, size_t klen, const char *value,
		       const char *from)
{
	char tag[DATADOG_MAX_TAG_LEN + 1], b1[64], b2[64];
	int err = normalize_tag_n(key, klen, value, tag, sizeof(tag));

	if (err) {
		t->trimmed++;
		note(NOTE_TAG_INVALID, "%s tag \"%s\" (value \"%s\") dropped: nothing valid left under Datadog's tag rules",
		     from, str__printable(key, b1), str__printable(value ? value : "", b2));
		return 0;
	}
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i], tag))
			return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		void *v = realloc(t->v, cap * sizeof(*t->v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	memcpy(t->v[t->n++], tag, sizeof(tag));
	return 0;
}

static int tags__add(struct tags *t, const char *key, const char *value, const char *from)
{
	return tags__add_n(t, key, strlen(key), value, from);
}

/* The index of the tag under key (normalized), or -1. */
static ssize_t tags__find(const struct tags *t, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < t->n; i++)
		if (!strncmp(t->v[i], key, kl) && t->v[i][kl] == ':')
			return (ssize_t)i;
	return -1;
}

/* A tag from outside (series label, static tag) under a key that is not
 * one of ours once normalized. A unified tag (service, env, version, host)
 * already there keeps its value: Datadog files a profile under one of
 * each, and the first one added (the workload's) is the one that holds. */
static int tags__add_user(struct tags *t, const char *key, size_t klen, const char *value,
			  const char *from)
{
	char k[DATADOG_MAX_TAG_LEN + 1], b[64];
	size_t kl = norm_part(key, klen, false, k, DATADOG_MAX_TAG_LEN);

	k[kl] = '\0';
	if (is_reserved(k)) {
		t->trimmed++;
		note(NOTE_TAG_RESERVED, "%s tag \"%s\" dropped: ignis sets that tag itself",
		     from, str__printable(k, b));
		return 0;
	}
	for (size_t i = 0; i < sizeof(unified_keys) / sizeof(*unified_keys); i++)
		if (!strcmp(k, unified_keys[i]) && tags__find(t, k) >= 0)
			return 0;
	return tags__add_n(t, key, klen, value, from);
}

/* The value of the static tag under key ("key:value"), or NULL. */
static const char *static_tag(const struct datadog_opts *o, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < o->ntags; i++)
		if (o->tags[i] && !strncmp(o->tags[i], key, kl) && o->tags[i][kl] == ':')
			return o->tags[i] + kl + 1;
	return NULL;
}

/* The service tag value: the series' service, else its service_name, else
 * the static service tag, else Datadog's name for a missing one. Reports
 * whether a given service label had to be passed over. */
static const char *service_of(const struct datadog_opts *o, const struct series *s,
			      bool *bad_service)
{
	const char *cand[] = { series__label(s, "service"), series__label(s, "service_name"),
			       static_tag(o, "service") };
	char tag[DATADOG_MAX_TAG_LEN + 1];

	*bad_service = false;
	for (size_t i = 0; i < 3; i++) {
		if (!cand[i])
			continue;
		if (!datadog__normalize_tag("service", cand[i], tag, sizeof(tag)))
			return cand[i];
		if (i == 0)
			*bad_service = true;
	}
	return UNNAMED_SERVICE;
}

static int build_tags(const struct datadog_opts *o, const struct series *s, const char *host,
		      uint64_t seq, struct tags *t, char *service, size_t service_size)
{
	char num[32];
	bool bad_service;
	const char *svc = service_of(o, s, &bad_service);
	int err;

	if (bad_service) {
		char b[64];

		t->trimmed++;
		note(NOTE_TAG_INVALID, "series tag \"service:%s\" dropped: nothing valid left under Datadog's tag rules",
		     str__printable(series__label(s, "service"), b));
	}
	err = tags__add(t, "service", svc, "series");
	if (err)
		return err;
	/* The normalized value, for logs and the request's description. */
	snprintf(service, service_size, "%s", t->n ? t->v[0] + strlen("service:") : svc);

	for (size_t i = 0; i < s->nlabels; i++) {
		const struct profile_label *l = &s->labels[i];
		const char *v = l->str;

		if (!l->key || !strcmp(l->key, "service"))
			continue;
		if (!v) {
			snprintf(num, sizeof(num), "%" PRId64, l->num);
			v = num;
		}
		err = tags__add_user(t, l->key, strlen(l->key), v, "series");
		if (err)
			return err;
	}
	err = tags__add(t, "runtime", "ebpf", "our");
	if (!err)
		err = tags__add(t, "profiler_version", IGNIS_VERSION, "our");
	snprintf(num, sizeof(num), "%" PRIu64, seq);
	if (!err)
		err = tags__add(t, "profile_seq", num, "our");
	if (err)
		return err;
	for (size_t i = 0; i < o->ntags; i++) {
		const char *tag = o->tags[i], *colon;

		if (!tag)
			continue;
		/* "k:v" is split at its first ':', as Datadog reads it. */
		colon = strchr(tag, ':');
		if (!colon)
			err = tags__add_user(t, tag, strlen(tag), NULL, "static");
		else
			err = tags__add_user(t, tag, (size_t)(colon - tag), colon + 1, "static");
		if (err)
			return err;
	}
	/* Through an Agent, the Agent names the host (X-Datadog-Additional-
	 * Tags); agentless, nobody else does, and Datadog's own agentless
	 * clients always send one. */
	if (o->api_key && host && *host && tags__find(t, "host") < 0)
		return tags__add(t, "host", host, "our");
	return 0;
}

/* ---- strings -------------------------------------------------------------- */

/* s as a JSON string, quotes included. */
static void json_string(struct strbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	strbuf__puts(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };

			strbuf__add(b, esc, 2);
		} else if (c < 0x20) {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			strbuf__add(b, esc, 6);
		} else {
			strbuf__add(b, &c, 1);
		}
	}
	strbuf__puts(b, "\"");
}

/* RFC 3339 UTC with milliseconds, as Datadog's clients send. */
static void rfc3339_ms(int64_t ns, char out[40])
{
	int64_t sec = ns / 1000000000LL, rem = ns % 1000000000LL;
	time_t t;
	struct tm tm;
	size_t n;

	if (rem < 0) {
		rem += 1000000000LL;
		sec--;
	}
	t = (time_t)sec;
	gmtime_r(&t, &tm);
	n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%03dZ", (int)(rem / 1000000));
}

/* 2 * nbytes hex digits (nbytes at most 32) and a NUL. */
static void random_hex(char *out, size_t nbytes)
{
	unsigned char b[32];

	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	rng__bytes(b, nbytes);
	str__hex(out, b, nbytes);
}

/* ---- the profile ---------------------------------------------------------- */

static bool asked(const struct datadog_opts *o, const char *key)
{
	for (size_t i = 0; i < o->nsample_labels; i++)
		if (!strcmp(o->sample_labels[i], key))
			return true;
	return false;
}

/* A label of the program's own (Go pprof labels): the trace context as
 * Datadog's tracers send it ("span id", "local root span id", "trace
 * endpoint"), labels.go_labels under their own keys (Datadog shows pprof
 * labels per sample); the OpenTelemetry spellings of the trace context are
 * not Datadog's and are dropped. */
static const char *program_label(const char *key)
{
	static const char *const kept[] = { TRACECTX_DD_SPAN_ID, TRACECTX_DD_ROOT_SPAN,
					    TRACECTX_DD_ENDPOINT };
	static const char *const dropped[] = { TRACECTX_SPAN_ID, TRACECTX_SPAN_NAME,
					       TRACECTX_TRACE_ID };

	if (!strcmp(key, TRACECTX_ENDPOINT))
		return TRACECTX_DD_ENDPOINT;
	for (size_t i = 0; i < sizeof(kept) / sizeof(*kept); i++)
		if (!strcmp(key, kept[i]))
			return kept[i];
	for (size_t i = 0; i < sizeof(dropped) / sizeof(*dropped); i++)
		if (!strcmp(key, dropped[i]))
			return NULL;
	return key;
}

/* The renames of every label key the profile's samples carry: Datadog's
 * name for those asked for, NULL (dropped) for the others, since the
 * encoder passes unlisted keys through. */
static int sample_renames(const struct datadog_opts *o, const struct profile *p,
			  struct pprof_label_rename **out, size_t *nout)
{
	struct pprof_label_rename *v = NULL;
	size_t n = 0, cap = 0, ns = profile__sample_count(p);
	bool thread_name = asked(o, "thread_name");

	for (size_t i = 0; i < ns; i++) {
		const struct profile_sample *s = profile__sample(p, i);

		for (uint32_t j = 0; j < s->nlabels; j++) {
			const char *key = s->labels[j].key, *to = NULL;
			size_t k;

			if (!key)
				continue;
			for (k = 0; k < n; k++)
				if (v[k].from == key || !strcmp(v[k].from, key))
					break;
			if (k < n)
				continue;
			if (s->labels[j].origin != PROFILE_LABEL_AGENT)
				to = program_label(key);
			else if (asked(o, key) && !(thread_name && !strcmp(key, "comm")))
				for (k = 0; k < sizeof(dd_names) / sizeof(*dd_names); k++)
					if (!strcmp(dd_names[k].from, key))
						to = dd_names[k].to;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				void *nv = realloc(v, ncap * sizeof(*v));

				if (!nv) {
					free(v);
					return -ENOMEM;
				}
				v = nv;
				cap = ncap;
			}
			v[n++] = (struct pprof_label_rename){ .from = key, .to = to };
		}
	}
	*out = v;
	*nout = n;
	return 0;
}

/* process_id and thread id are strings in what Datadog's own profilers
 * send (ddprof, the eBPF host profiler). */
static const struct pprof_style cpu_style = {
	.samples = { .type = "cpu-samples", .unit = "count" },
	.cpu = { .type = "cpu-time", .unit = "nanoseconds" },
	.period = { .type = "cpu-time", .unit = "nanoseconds" },
	.numbers_as_strings = true,
};

static const struct pprof_style wall_style = {
	.samples = { .type = "wall-samples", .unit = "count" },
	.cpu = { .type = "wall-time", .unit = "nanoseconds" },
	.period = { .type = "wall-time", .unit = "nanoseconds" },
	.numbers_as_strings = true,
};

/* The compressed pprof of one series in a style (cpu_style, wall_style). */
static int encode_profile(const struct datadog_opts *o, const struct profile *p,
			  const struct pprof_style *st, uint8_t **out, size_t *out_len)
{
	struct pprof_style style = *st;
	struct pprof_label_rename *renames = NULL;
	uint8_t *raw = NULL, *z = NULL;
	size_t nrenames = 0, len = 0, bound, zlen;
	int err;

	err = sample_renames(o, p, &renames, &nrenames);
	if (err)
		return err;
	style.renames = renames;
	style.nrenames = nrenames;
	err = pprof__encode(p, &style, &raw, &len);
	if (err)
		goto cleanup;
	if (o->compression == DATADOG_GZIP) {
		err = pprof__gzip(raw, len, out, out_len);
		goto cleanup;
	}
	bound = ZSTD_compressBound(len);
	z = malloc(bound ? bound : 1);
	if (!z) {
		err = -ENOMEM;
		goto cleanup;
	}
	zlen = ZSTD_compress(z, bound, raw, len, ZSTD_LEVEL);
	if (ZSTD_isError(zlen)) {
		pr_warn("datadog: zstd: %s\n", ZSTD_getErrorName(zlen));
		err = -EIO;
		goto cleanup;
	}
	*out = z;
	*out_len = zlen;
	z = NULL;
cleanup:
	free(z);
	free(raw);
	free(renames);
	return err;
}

/* ---- requests ------------------------------------------------------------- */

struct attachment {
	const char *name;
	uint8_t *data;
	size_t len;
};

static int event_json(const struct interval *iv, const struct tags *t,
		      const struct attachment *att, size_t natt, struct strbuf *b)
{
	char start[40], end[40];
	struct strbuf tp = { 0 };

	for (size_t i = 0; i < t->n; i++) {
		if (i)
			strbuf__puts(&tp, ",");
		strbuf__puts(&tp, t->v[i]);
	}
	if (tp.err)
		return tp.err;
	rfc3339_ms(iv->start_ns, start);
	rfc3339_ms(iv->end_ns, end);
	strbuf__puts(b, "{\"attachments\":[");
	for (size_t i = 0; i < natt; i++) {
		strbuf__puts(b, i ? ",\"" : "\"");
		strbuf__puts(b, att[i].name);
		strbuf__puts(b, "\"");
	}
	strbuf__puts(b, "],\"start\":");
	json_string(b, start);
	strbuf__puts(b, ",\"end\":");
	json_string(b, end);
	strbuf__puts(b, ",\"family\":\"" FAMILY "\",\"version\":\"" EVENT_VERSION "\",\"tags_profiler\":");
	json_string(b, tp.s ? tp.s : "");
	strbuf__puts(b, "}");
	free(tp.s);
	return b->err;
}

/* The multipart body: the event, then the attachments. */
static int multipart(const struct strbuf *event, const struct attachment *att, size_t natt,
		     char boundary[40], struct strbuf *b)
{
	bool clash;

	/* The boundary must appear in no part; with 128 random bits a
	 * collision is as good as impossible, but checking is cheap. */
	for (int tries = 0;; tries++) {
		if (tries == 8)
			return -EIO;
		random_hex(boundary, 16);
		clash = memmem(event->s, event->len, boundary, 32) != NULL;
		for (size_t i = 0; i < natt && !clash; i++)
			clash = memmem(att[i].data, att[i].len, boundary, 32) != NULL;
		if (!clash)
			break;
	}
	strbuf__puts(b, "--");
	strbuf__puts(b, boundary);
	strbuf__puts(b, "\r\nContent-Disposition: form-data; name=\"event\"; filename=\"event.json\"\r\n"
		  "Content-Type: application/json\r\n\r\n");
	strbuf__add(b, event->s, event->len);
	for (size_t i = 0; i < natt; i++) {
		strbuf__puts(b, "\r\n--");
		strbuf__puts(b, boundary);
		strbuf__puts(b, "\r\nContent-Disposition: form-data; name=\"");
		strbuf__puts(b, att[i].name);
		strbuf__puts(b, "\"; filename=\"");
		strbuf__puts(b, att[i].name);
		strbuf__puts(b, "\"\r\nContent-Type: application/octet-stream\r\n\r\n");
		strbuf__add(b, att[i].data, att[i].len);
	}
	strbuf__puts(b, "\r\n--");
	strbuf__puts(b, boundary);
	strbuf__puts(b, "--\r\n");
	return b->err;
}

static int add_headers(struct http_request *r, const char *boundary)
{
	char ctype[96];
	int err;

	snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", boundary);
	err = http_request__add_header(r, "Content-Type", ctype);
	if (!err)
		err = http_request__add_header(r, "DD-EVP-ORIGIN", ORIGIN);
	if (!err)
		err = http_request__add_header(r, "DD-EVP-ORIGIN-VERSION", IGNIS_VERSION);
	if (!err)
		err = http_request__add_header(r, "User-Agent", "ignis/" IGNIS_VERSION);
	return err;
}

/* The request of one series, or nothing when its profile is too large. */
static int render_series(const struct datadog_opts *o, const struct interval *iv,
			 const struct series *s, uint64_t seq, struct reqs *out,
			 struct datadog_stats *st, bool *made)
{
	struct tags t = { 0 };
	struct strbuf event = { 0 }, body = { 0 };
	struct http_request *r;
	char service[DATADOG_MAX_TAG_LEN + 1], boundary[40], what[160], when[40], b[64];
	struct attachment att[2] = { { 0 } };
	struct profile *wall = NULL;
	size_t natt = 0, total = 0;
	bool has_cpu = s->profile && profile__sample_count(s->profile);
	int err;

	*made = false;
	err = build_tags(o, s, iv->host, seq, &t, service, sizeof(service));
	if (err)
		goto cleanup;
	if (has_cpu) {
		att[natt].name = ATTACHMENT;
		err = encode_profile(o, s->profile, &cpu_style, &att[natt].data, &att[natt].len);
		if (err)
			goto cleanup;
		total += att[natt++].len;
	}
	if (s->offcpu && profile__sample_count(s->offcpu)) {
		/* Values are nanoseconds: the CPU samples keep count x period. */
		wall = profile__new(1, profile__time_nanos(s->offcpu),
				    profile__duration_nanos(s->offcpu));
		if (!wall) {
			err = -ENOMEM;
			goto cleanup;
		}
		err = profile__merge(wall, s->offcpu, 1, NULL);
		if (!err && has_cpu)
			err = profile__merge(wall, s->profile, 1, NULL);
		att[natt].name = WALL_ATTACHMENT;
		if (!err)
			err = encode_profile(o, wall, &wall_style, &att[natt].data, &att[natt].len);
		if (err)
			goto cleanup;
		total += att[natt++].len;
	}
	if (total > DATADOG_MAX_PROFILE_BYTES) {
		if (st)
			st->dropped_too_large++;
		note(NOTE_TOO_LARGE, "%s: the profile of service \"%s\" takes %zu bytes compressed, over the %u the backend keeps: dropped",
		     o->name ? o->name : "", str__printable(service, b), total, DATADOG_MAX_PROFILE_BYTES);
		goto cleanup;
	}
	err = event_json(iv, &t, att, natt, &event);
	if (!err)
		err = multipart(&event, att, natt, boundary, &body);
	if (err)
		goto cleanup;
	rfc3339_ms(iv->start_ns, when);
	snprintf(what, sizeof(what), "service:%s interval %s profile_seq %" PRIu64,
		 str__printable(service, b), when, seq);
	r = http_request__new(o->url, body.s, body.len, iv->start_ns, what);
	body.s = NULL;  /* taken, on failure too */
	if (!r) {
		err = -errno;
		goto cleanup;
	}
	err = add_headers(r, boundary);
	if (err) {
		http_request__free(r);
		goto cleanup;
	}
	err = reqs__push(out, r);
	if (err)
		goto cleanup;
	*made = true;
cleanup:
	if (st)
		st->trimmed_tags += t.trimmed;
	free(t.v);
	free(event.s);
	free(body.s);
	for (size_t i = 0; i < natt; i++)
		free(att[i].data);
	profile__free(wall);
	return err;
}

static bool known_sample_label(const char *key)
{
	for (size_t i = 0; i < sizeof(dd_names) / sizeof(*dd_names); i++)
		if (!strcmp(dd_names[i].from, key))
			return true;
	return false;
}

/* What datadog__new and datadog__render both refuse. */
static int check_opts(const struct datadog_opts *o)
{
	const char *name = o && o->name ? o->name : "";

	if (!o || !o->url)
		return -EINVAL;
	if (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)) {
		pr_warn("datadog: %s: url must start with http:// or https://\n", name);
		return -EINVAL;
	}
	if (o->compression != DATADOG_ZSTD && o->compression != DATADOG_GZIP)
		return -EINVAL;
	if ((o->ntags && !o->tags) || (o->nsample_labels && !o->sample_labels))
		return -EINVAL;
	if (o->api_key && (!*o->api_key || strpbrk(o->api_key, "\r\n"))) {
		pr_warn("datadog: %s: the API key is empty or holds a line break\n", name);
		return -EINVAL;
	}
	for (size_t i = 0; i < o->nsample_labels; i++) {
		if (!o->sample_labels[i] || !known_sample_label(o->sample_labels[i])) {
			pr_warn("datadog: %s: unknown sample label \"%s\" (pid, tid, comm, thread_name, container_id)\n",
				name, o->sample_labels[i] ? o->sample_labels[i] : "");
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(o->sample_labels[i], o->sample_labels[j]))
				return -EINVAL;
	}
	return 0;
}

int datadog__render(const struct datadog_opts *o, const struct interval *iv, uint64_t *seq,
		    struct http_request ***reqs, size_t *nreqs, struct datadog_stats *st)
{
	struct datadog_stats local = { 0 };
	struct reqs out = { 0 };
	uint64_t n = 0;
	int err;

	if (!iv || !seq || !reqs || !nreqs || (iv->nseries && !iv->series))
		return -EINVAL;
	err = check_opts(o);
	if (err)
		return err;
	for (size_t i = 0; i < iv->nseries; i++) {
		const struct series *s = &iv->series[i];
		bool made;

		if ((!s->profile || !profile__sample_count(s->profile)) &&
		    (!s->offcpu || !profile__sample_count(s->offcpu)))
			continue;
		if (s->profile && !profile__period_ns(s->profile)) {
			err = -EINVAL;
			goto fail;
		}
		local.series++;
		err = render_series(o, iv, s, *seq + n, &out, &local, &made);
		if (err)
			goto fail;
		n += made;
	}
	local.profiles = n;
	*seq += n;
	*reqs = out.v;
	*nreqs = out.n;
	if (st) {
		st->profiles += local.profiles;
		st->series += local.series;
		st->trimmed_tags += local.trimmed_tags;
		st->dropped_too_large += local.dropped_too_large;
	}
	return 0;
fail:
	pr_warn("datadog: %s: rendering a series failed: %s\n", o->name ? o->name : "",
		strerror(-err));
	reqs__free(&out);
	return err;
}

/* ---- the destination ------------------------------------------------------ */

struct datadog {
	struct httpdest h;         /* first: httpdest__drain takes the struct as h */
	struct datadog_opts o;     /* every pointer in it is ours */
	char **tags, **sample_labels;
	struct http_header *secret;  /* the caller's secret headers, then DD-API-KEY */
	size_t nsecret;
	uint64_t seq;              /* submit's alone: one caller at a time */
	struct datadog_stats st;   /* under h.lock */
};

static void datadog__free_opts(struct datadog *d)
{
	size_t i;

	free((char *)d->o.name);
	free((char *)d->o.url);
	secret__release(d->o.api_key);
	for (i = 0; d->tags && i < d->o.ntags; i++)
		free(d->tags[i]);
	free(d->tags);
	for (i = 0; d->sample_labels && i < d->o.nsample_labels; i++)
		free(d->sample_labels[i]);
	free(d->sample_labels);
	for (i = 0; d->secret && i < d->nsecret; i++) {
		free((char *)d->secret[i].name);
		secret__release(d->secret[i].value);
	}
	free(d->secret);
	free((char *)d->o.delivery.name);
	free((char *)d->o.delivery.ca_file);
	free((char *)d->o.delivery.spool_dir);
}

static bool dup_strs(char ***dst, const char *const *src, size_t n)
{
	bool ok = true;

	if (!n)
		return true;
	*dst = calloc(n, sizeof(**dst));
	if (!*dst)
		return false;
	for (size_t i = 0; i < n; i++)
		ok &= !str__dup(src[i], &(*dst)[i]);
	return ok;
}

/* The API key would go over the wire unencrypted to anything but loopback. */
static bool cleartext_key(const struct datadog_opts *o)
{
	const char *host;

	if (!o->api_key || strncmp(o->url, "http://", 7))
		return false;
	host = o->url + 7;
	return strncmp(host, "127.", 4) && strncmp(host, "localhost", 9) && strncmp(host, "[::1]", 5);
}

struct datadog *datadog__new(const struct datadog_opts *o)
{
	const struct delivery_opts *dopt;
	struct http_request *probe;
	struct datadog *d;
	bool ok = true;
	size_t i;
	int err;

	err = check_opts(o);
	if (err) {
		errno = -err;
		return NULL;
	}
	dopt = &o->delivery;
	if (dopt->nsecret_headers && !dopt->secret_headers) {
		errno = EINVAL;
		return NULL;
	}
	/* The key must make a header the delivery can send. */
	if (o->api_key) {
		probe = http_request__new(o->url, NULL, 0, 0, NULL);
		if (!probe)
			return NULL;
		err = http_request__add_header(probe, "DD-API-KEY", o->api_key);
		http_request__free(probe);
		if (err) {
			pr_warn("datadog: %s: the API key cannot be sent as a header\n",
				o->name ? o->name : "");
			errno = -err;
			return NULL;
		}
	}

	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->o.compression = o->compression;
	d->o.delivery = *dopt;
	ok &= !str__dup(o->name ? o->name : "datadog", (char **)&d->o.name);
	ok &= !str__dup(o->url, (char **)&d->o.url);
	ok &= !str__dup(o->api_key, (char **)&d->o.api_key);
	ok &= !str__dup(dopt->name ? dopt->name : d->o.name, (char **)&d->o.delivery.name);
	ok &= !str__dup(dopt->ca_file, (char **)&d->o.delivery.ca_file);
	ok &= !str__dup(dopt->spool_dir, (char **)&d->o.delivery.spool_dir);
	ok &= dup_strs(&d->tags, o->tags, o->ntags);
	d->o.tags = (const char *const *)d->tags;
	d->o.ntags = d->tags ? o->ntags : 0;
	ok &= dup_strs(&d->sample_labels, o->sample_labels, o->nsample_labels);
	d->o.sample_labels = (const char *const *)d->sample_labels;
	d->o.nsample_labels = d->sample_labels ? o->nsample_labels : 0;
	d->nsecret = dopt->nsecret_headers + (o->api_key ? 1 : 0);
	if (d->nsecret) {
		d->secret = calloc(d->nsecret, sizeof(*d->secret));
		ok &= d->secret != NULL;
		for (i = 0; d->secret && i < dopt->nsecret_headers; i++) {
			ok &= !str__dup(dopt->secret_headers[i].name, (char **)&d->secret[i].name);
			ok &= !str__dup(dopt->secret_headers[i].value, (char **)&d->secret[i].value);
		}
		if (d->secret && o->api_key) {
			ok &= !str__dup("DD-API-KEY", (char **)&d->secret[i].name);
			ok &= !str__dup(o->api_key, (char **)&d->secret[i].value);
		}
	}
	if (!d->secret)
		d->nsecret = 0;
	d->o.delivery.secret_headers = d->secret;
	d->o.delivery.nsecret_headers = d->nsecret;
	if (!ok) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = httpdest__init(&d->h, &d->o.delivery);
	if (err)
		goto cleanup;
	if (cleartext_key(&d->o))
		pr_warn("datadog: %s: the API key goes to %s over plain http\n", d->o.name, d->o.url);
	pr_info("datadog: %s: %s to %s (%s)%s\n", d->o.name,
		d->o.api_key ? "agentless" : "through an agent", d->o.url,
		d->o.compression == DATADOG_GZIP ? "gzip" : "zstd",
		d->o.nsample_labels ? " with per-sample labels" : "");
	return d;
cleanup:
	datadog__free_opts(d);
	free(d);
	errno = -err;
	return NULL;
}

int datadog__submit(struct datadog *d, const struct interval *iv)
{
	struct datadog_stats st = { 0 };
	struct http_request **reqs = NULL;
	size_t n = 0;
	int err;

	if (!d || !iv)
		return -EINVAL;
	err = datadog__render(&d->o, iv, &d->seq, &reqs, &n, &st);
	pthread_mutex_lock(&d->h.lock);
	d->st.profiles += st.profiles;
	d->st.series += st.series;
	d->st.trimmed_tags += st.trimmed_tags;
	d->st.dropped_too_large += st.dropped_too_large;
	pthread_mutex_unlock(&d->h.lock);
	return err ? err : reqs__enqueue(d->h.d, reqs, n);
}

void datadog__free(struct datadog *d)
{
	if (!d)
		return;
	httpdest__fini(&d->h);
	datadog__free_opts(d);
	free(d);
}

void datadog__stats(struct datadog *d, struct datadog_stats *s)
{
	if (d && s)
		httpdest__stats(&d->h, &d->st, s, sizeof(*s), &s->delivery);
}

/* ---- the destination type ------------------------------------------------- */

#define D struct config_destination
#define Q SCHEMA_Q

/* The Datadog intake paths (WIRE.md), appended to the destination's URL. */
#define AGENT_PATH      "/profiling/v1/input"
#define AGENTLESS_PATH  "/api/v2/profile"
#define MAX_HOST        1024u
#define MAX_TAG         200u

static const char *const compression_names[] = { [DATADOG_ZSTD] = "zstd", [DATADOG_GZIP] = "gzip" };

static int site_name(struct schema_ctx *x, const char *s)
{
	if (schema__dns_name(s))
		return 0;
	return schema__fail(x, "'%s': expected a Datadog site host name like datadoghq.com%s", Q(s),
			    x->source ? "" : " or datadoghq.eu");
}

/* Datadog's tag rules (WIRE.md): a tag starts with a letter, holds
 * [A-Za-z0-9_-:./\], at most 200 characters, and does not end with ':'.
 * The key cannot hold ':' (it separates the value). */
static bool tag_chars(const char *s, bool colon)
{
	size_t n = strlen(s);

	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./\\:") == n &&
	       (colon || !strchr(s, ':'));
}

static int tag_key(struct schema_ctx *x, const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) || !tag_chars(s, false))
		return schema__fail(x, "not a valid Datadog tag name (a letter, then letters, "
				       "digits, _ - . / \\)");
	return 0;
}

static int tag_value(struct schema_ctx *x, const char *key, const char *s)
{
	if (!tag_chars(s, true) || s[strlen(s) - 1] == ':')
		return schema__fail(x, "'%s': not a valid Datadog tag value (letters, digits, "
				       "_ - : . / \\, not ending with :)", Q(s));
	if (strlen(key) + 1 + strlen(s) > MAX_TAG)
		return schema__fail(x, "the tag is longer than %u characters", MAX_TAG);
	return 0;
}

/* The base URL: loading it appends the path again. */
static void dump_url(FILE *f, const struct schema_row *r, const void *obj, int indent)
{
	const D *d = obj;
	const char *path = d->agentless ? AGENTLESS_PATH : AGENT_PATH;
	size_t n = strlen(d->url);

	if (schema__ends_with(d->url, path))
		n -= strlen(path);
	fprintf(f, "%*s%s: \"%.*s\"   # posts to ", indent, "", r->name, (int)n, d->url);
	schema__put_str(f, d->url);
	fputc('\n', f);
}

static const struct schema_row datadog_rows[] = {
	{ "url", SCHEMA_URL, SCHEMA_AT(D, url), .dump = dump_url },
	{ "agentless", SCHEMA_BOOL, SCHEMA_AT(D, agentless) },
	{ "site", SCHEMA_STRING, SCHEMA_AT(D, site), .check = site_name },
	{ "api_key_file", SCHEMA_SECRET, SCHEMA_AT(D, api_key_file),
	  .secret_offset = offsetof(D, api_key), .other = "api_key_env", .what = "api key" },
	{ "api_key_env", SCHEMA_SECRET, SCHEMA_AT(D, api_key_env), .from_env = true,
	  .secret_offset = offsetof(D, api_key), .other = "api_key_file", .what = "api key" },
	{ "compression", SCHEMA_ENUM, SCHEMA_AT(D, compression), SCHEMA_NAMES(compression_names) },
	{ "tags", SCHEMA_PAIRS, SCHEMA_AT(D, tags), .max = CONFIG_MAX_TAGS,
	  .count_offset = offsetof(D, ntags),
	  .item = "tag", .items = "tags", .dup = "duplicate tag (Datadog ignores case)",
	  .check = tag_key, .check_value = tag_value },
	{ 0 },
};

/* The base URL of the local Datadog Agent from the variables its own
 * clients read: DD_TRACE_AGENT_URL, else DD_AGENT_HOST and
 * DD_TRACE_AGENT_PORT (localhost, 8126). */
static int agent_url(struct schema_ctx *x, char **out)
{
	const char *url = getenv("DD_TRACE_AGENT_URL");
	const char *host = getenv("DD_AGENT_HOST"), *port = getenv("DD_TRACE_AGENT_PORT");
	uint64_t p = 8126;
	char buf[MAX_HOST + 32];

	if (url && *url) {
		x->source = "DD_TRACE_AGENT_URL";
		return schema__parse_url(x, url, out);
	}
	x->source = "DD_TRACE_AGENT_PORT";
	if (port && *port && schema__parse_uint(x, port, 1, 65535, &p))
		return -EINVAL;
	if (!host || !*host)
		host = "localhost";
	x->source = "DD_AGENT_HOST";
	if (strlen(host) > MAX_HOST)
		return schema__fail(x, "longer than %u bytes", MAX_HOST);
	/* An IPv6 address needs brackets in a URL. */
	snprintf(buf, sizeof(buf), strchr(host, ':') && *host != '[' ? "http://[%s]:%llu" :
				   "http://%s:%llu", host, (unsigned long long)p);
	return schema__parse_url(x, buf, out);
}

/* Settings that come from the environment or depend on each other: site,
 * the API key, the final intake URL. */
static int finish(struct schema_ctx *x, D *d)
{
	const char *site = getenv("DD_SITE");
	const char *path = d->agentless ? AGENTLESS_PATH : AGENT_PATH;
	char *base = NULL, *url;
	int err;

	if (!d->site) {
		x->source = "DD_SITE";
		if (site && *site && site_name(x, site))
			return -EINVAL;
		x->source = NULL;
		if (schema__replace(x, &d->site, site && *site ? site : "datadoghq.com"))
			return -ENOMEM;
	}
	if (d->api_key && !d->agentless) {
		x->line = schema__seen(x, d->api_key_file ? "api_key_file" : "api_key_env");
		schema__push_key(x, d->api_key_file ? "api_key_file" : "api_key_env");
		return schema__fail(x, "only with agentless: true (a Datadog Agent adds its own key)");
	}
	if (d->agentless && !d->api_key) {
		char why[256];
		size_t old;

		x->line = schema__seen(x, "agentless");
		old = schema__push_key(x, "agentless");
		if (!getenv("DD_API_KEY"))
			return schema__fail(x, "true needs an API key: set api_key_file or api_key_env, "
					       "or the DD_API_KEY environment variable");
		if (schema__secret(x, secret__read_env("DD_API_KEY", &d->api_key, why, sizeof(why)), why) ||
		    schema__replace(x, &d->api_key_env, "DD_API_KEY"))
			return -x->errnum;
		schema__pop_key(x, old);
	}
	if (d->url) {
		base = d->url;
		d->url = NULL;
	} else if (d->agentless) {
		if (asprintf(&base, "https://intake.profile.%s", d->site) < 0)
			return schema__oom(x);
	} else {
		err = agent_url(x, &base);
		x->source = NULL;
		if (err)
			return err;
	}
	/* A URL that already names the intake's path is taken as it is. */
	if (schema__ends_with(base, path)) {
		d->url = base;
		return 0;
	}
	err = asprintf(&url, "%s%s", base, path);
	free(base);
	if (err < 0)
		return schema__oom(x);
	d->url = url;
	return 0;
}

/* Agentless, the default env of a series without one: a static env tag,
 * else DD_ENV of ignis's own environment (what the Agent's default env is
 * through an Agent, and what Datadog's clients read). NULL when there is
 * no need or none. */
static const char *default_env(const D *d)
{
	const char *env = getenv("DD_ENV");

	if (!d->agentless || !env || !*env)
		return NULL;
	for (size_t i = 0; i < d->ntags; i++)
		if (!strcasecmp(d->tags[i].key, "env"))
			return NULL;
	return env;
}

static void *new_datadog(const D *d)
{
	const char *env = default_env(d);
	size_t ntags = d->ntags + (env != NULL);
	const char **tags = calloc(ntags, sizeof(*tags));
	char **owned = calloc(ntags, sizeof(*owned));
	struct datadog_opts o = {
		.name = d->name,
		.url = d->url,
		.api_key = d->agentless ? d->api_key : NULL,
		.compression = (enum datadog_compression)d->compression,
		.tags = tags,
		.ntags = ntags,
		.sample_labels = d->sample_labels,
		.nsample_labels = d->nsample_labels,
	};
	void *impl = NULL;

	if (!tags || !owned)
		goto cleanup;
	for (size_t i = 0; i < d->ntags; i++) {
		if (asprintf(&owned[i], "%s:%s", d->tags[i].key, d->tags[i].value) < 0) {
			owned[i] = NULL;
			errno = ENOMEM;
			goto cleanup;
		}
		tags[i] = owned[i];
	}
	if (env) {
		if (asprintf(&owned[d->ntags], "env:%s", env) < 0) {
			owned[d->ntags] = NULL;
			errno = ENOMEM;
			goto cleanup;
		}
		tags[d->ntags] = owned[d->ntags];
	}
	destination__delivery_opts(d, &o.delivery);
	impl = datadog__new(&o);
cleanup:
	for (size_t i = 0; owned && i < ntags; i++)
		free(owned[i]);
	free(owned);
	free(tags);
	return impl;
}

static int submit(void *impl, const struct interval *iv)
{
	return datadog__submit(impl, iv);
}

static void stats(void *impl, struct delivery_stats *s)
{
	struct datadog_stats ds;

	datadog__stats(impl, &ds);
	*s = ds.delivery;
}

static void free_impl(void *impl)
{
	datadog__free(impl);
}

const struct destination_ops datadog__destination = {
	.type = "datadog",
	.rows = (const struct schema_row *const[]){ datadog_rows, destination__http_rows, NULL },
	.upload_interval_ms = 60 * SCHEMA_SEC,
	.all_sample_labels = true,
	.check = finish,
	.new = new_datadog,
	.submit = submit,
	.drain = httpdest__drain,
	.stats = stats,
	.free = free_impl,
};
