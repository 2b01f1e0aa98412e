/* Grafana Pyroscope rendering and submission (see pyroscope.h for what a
 * request carries).
 *
 * Choices and their reasons:
 *  - One request per profile, never a batch: the server stores the valid
 *    profiles of a batch and still answers an error for it, so retrying a
 *    batch would store some profiles twice.
 *  - Label names are kept to [A-Za-z_][A-Za-z0-9_]*: servers with label
 *    sanitization on (and older ones) reject anything else on push, /ingest
 *    allows no more than [A-Za-z0-9_.], and a dot would be rewritten to '_'
 *    by the server anyway. Other bytes become '_', a leading digit gets a
 *    '_' in front.
 *  - Invalid UTF-8 in values becomes '?', so lengths do not grow; values
 *    are cut at 2048 bytes on a character boundary. An empty value says
 *    nothing (Prometheus reads it as no label) and is dropped.
 *  - The 30-name limit counts, besides our labels, what the server adds
 *    (/ingest: __delta__ and pyroscope_spy) and the per-sample labels, which
 *    it turns into series labels; series labels past it are dropped from
 *    the end (__name__ and service_name always stay).
 *  - Profiles are cut at 2 MiB uncompressed, not at the 4 MiB size limit:
 *    the server's rate limiter takes a profile whole and its default burst
 *    is 2 MiB, so a bigger one would be answered 429 on every retry.
 *  - Only cpu/nanoseconds is sent, not samples/count beside it: each sample
 *    type is a profile type (a series) of its own in Pyroscope, and the
 *    count is value / period.
 *  - Numbers among the per-sample labels are sent as decimal strings: the
 *    server makes series labels of string labels only. */
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

#include "base/backoff.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/str.h"
#include "base/utf8.h"
#include "exporters/pprof.h"
#include "exporters/profile.h"
#include "exporters/pyroscope.h"
#include "exporters/tracectx.h"
#include "proto/push.pb-c.h"

#define PUSH_PATH "/push.v1.PusherService/Push"
#define INGEST_PATH "/ingest"
#define METRIC_NAME "process_cpu"
#define SERVICE_NAME "service_name"
#define UNKNOWN_SERVICE "unknown_service"
#define SPY_NAME "ignis"
/* Room for what the server adds to the series labels before it checks the
 * size of a profile against its burst (__delta__, pyroscope_spy, ...). */
#define LABELS_MARGIN 1024

static const struct pprof_style pyroscope_style = {
	.samples = { .type = NULL, .unit = NULL },
	.cpu = { .type = "cpu", .unit = "nanoseconds" },
	.period = { .type = "cpu", .unit = "nanoseconds" },
};

/* Off-CPU time as Pyroscope names it when it converts the OpenTelemetry
 * eBPF profiler's off-CPU profiles (pkg/ingester/otlp: __name__ "off_cpu",
 * one sample type off_cpu/nanoseconds). */
#define OFFCPU_METRIC_NAME "off_cpu"
static const struct pprof_style pyroscope_offcpu_style = {
	.samples = { .type = NULL, .unit = NULL },
	.cpu = { .type = "off_cpu", .unit = "nanoseconds" },
	.period = { .type = "off_cpu", .unit = "nanoseconds" },
};

/* ---- logging of trimmed data: loud once per reason, then debug -------- */

enum trim_reason {
	TRIM_PRIVATE, TRIM_NAME, TRIM_VALUE, TRIM_EMPTY, TRIM_DUPLICATE, TRIM_TOO_MANY,
	TRIM_DEPTH, TRIM_SAMPLE_SIZE,
};

static atomic_uint trim_warned;

__attribute__((format(printf, 2, 3)))
static void trim_note(enum trim_reason r, const char *fmt, ...)
{
	unsigned bit = 1u << r;
	bool first = !(atomic_fetch_or(&trim_warned, bit) & bit);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (first)
		pr_warn("pyroscope: %s (counted in trimmed_*; further ones at debug level)\n", msg);
	else
		pr_debug("pyroscope: %s\n", msg);
}

/* ---- strings ------------------------------------------------------------ */

static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_app_char(unsigned char c)
{
	return is_name_char(c) || c == '.' || c == '-' || c == '/';
}

static bool is_valid_name(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!is_name_char((unsigned char)*s))
			return false;
	return true;
}

/* A label name made of [A-Za-z0-9_], not starting with a digit; *changed
 * when it differs from in. NULL on allocation failure. */
static char *sanitize_name(const char *in, bool *changed)
{
	size_t len = strlen(in), i, o = 0;
	char *out = malloc(len + 2);

	*changed = false;
	if (!out)
		return NULL;
	if (in[0] >= '0' && in[0] <= '9') {
		out[o++] = '_';
		*changed = true;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (!is_name_char(c)) {
			c = '_';
			*changed = true;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* A label value: valid UTF-8 (invalid bytes become U+FFFD, as in the
 * profile's own strings, PROFILE_STRING_MAX), at most max bytes
 * cut on a character boundary. For /ingest, where the value sits inside
 * name{k=v,...}, ',' and '}' (which would end it) become '_' and the ends
 * are trimmed of blanks as the server would. *changed when it differs. */
static char *sanitize_value(const char *in, size_t max, bool ingest, bool *changed)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t len = strlen(in), i = 0, o = 0, n, start, end;
	char *out = len < SIZE_MAX / 3 ? malloc(3 * len + 1) : NULL;

	*changed = false;
	if (!out)
		return NULL;
	while (i < len) {
		n = utf8__seq_len(&s[i], len - i);
		if (!n) {
			memcpy(&out[o], "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			*changed = true;
			continue;
		}
		if (ingest && n == 1 && (s[i] == ',' || s[i] == '}')) {
			out[o++] = '_';
			i++;
			*changed = true;
			continue;
		}
		memcpy(&out[o], &s[i], n);
		o += n;
		i += n;
	}
	start = 0;
	end = o;
	if (ingest) {
		while (start < end && is_space(out[start]))
			start++;
		while (end > start && is_space(out[end - 1]))
			end--;
	}
	if (end - start > max) {
		end = start + max;
		/* Back off continuation bytes to the start of the cut character. */
		while (end > start && ((unsigned char)out[end] & 0xc0) == 0x80)
			end--;
	}
	if (start != 0 || end != o)
		*changed = true;
	memmove(out, &out[start], end - start);
	out[end - start] = '\0';
	return out;
}

/* ---- series labels ------------------------------------------------------ */

struct lbl {
	char *name, *value;
};

struct lblset {
	struct lbl *v;
	size_t n, cap;
	size_t bytes;  /* sum of name and value lengths, as the server counts */
};

static void lblset__free(struct lblset *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		free(ls->v[i].name);
		free(ls->v[i].value);
	}
	free(ls->v);
	memset(ls, 0, sizeof(*ls));
}

static bool lblset__has(const struct lblset *ls, const char *name)
{
	for (size_t i = 0; i < ls->n; i++)
		if (!strcmp(ls->v[i].name, name))
			return true;
	return false;
}

/* Takes name and value (freed on failure too). */
static int lblset__add(struct lblset *ls, char *name, char *value)
{
	if (!name || !value)
		goto nomem;
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 8;
		struct lbl *v = realloc(ls->v, cap * sizeof(*v));

		if (!v)
			goto nomem;
		ls->v = v;
		ls->cap = cap;
	}
	ls->v[ls->n++] = (struct lbl){ .name = name, .value = value };
	ls->bytes += strlen(name) + strlen(value);
	return 0;
nomem:
	free(name);
	free(value);
	return -ENOMEM;
}

/* Labels the server adds to every /ingest series (__delta__, pyroscope_spy). */
static size_t server_added(enum pyroscope_api api)
{
	return api == PYROSCOPE_INGEST ? 2 : 0;
}

/* Room for span_name beside __name__, service_name and the sample labels
 * asked for (the server makes a series label of it; span_id it keeps out
 * of the series). */
static bool span_name_fits(const struct pyroscope_opts *o)
{
	return 3 + server_added(o->api) + o->nsample_labels <= PYROSCOPE_MAX_LABELS;
}

/* 1 when span_name goes out with some sample: it takes one name's room. */
static size_t has_span_name(const struct pyroscope_opts *o, const struct profile *p)
{
	const struct profile_label *last = NULL;

	for (size_t i = 0; p && span_name_fits(o) && i < profile__sample_count(p); i++) {
		const struct profile_sample *s = profile__sample(p, i);

		if (s->labels != last && tracectx__get(s->labels, s->nlabels, TRACECTX_SPAN_NAME))
			return 1;
		last = s->labels;
	}
	return 0;
}

/* The series labels of s, within the rules; *trimmed counts what was
 * dropped or changed. */
static int series_labels(const struct pyroscope_opts *o, const struct series *s,
			 const char *metric, struct lblset *ls, uint64_t *trimmed)
{
	const bool ingest = o->api == PYROSCOPE_INGEST;
	const char *svc = series__label(s, SERVICE_NAME);
	size_t max = PYROSCOPE_MAX_LABELS - server_added(o->api) - o->nsample_labels -
		     has_span_name(o, s->profile);
	char buf[64], buf2[64], num[32];
	bool changed;
	char *v;
	int err;

	err = lblset__add(ls, strdup("__name__"), strdup(metric));
	if (err)
		return err;

	/* The service name, which /ingest carries as the application name. */
	if (!svc)
		svc = "";
	if (ingest) {
		size_t len = strlen(svc), i;

		v = malloc(len + 1);
		if (!v)
			return -ENOMEM;
		for (i = 0; i < len; i++)
			v[i] = is_app_char((unsigned char)svc[i]) ? svc[i] : '_';
		v[i] = '\0';
		changed = strcmp(v, svc) != 0;
		if (len > PYROSCOPE_MAX_VALUE_LEN) {
			v[PYROSCOPE_MAX_VALUE_LEN] = '\0';
			changed = true;
		}
	} else {
		v = sanitize_value(svc, PYROSCOPE_MAX_VALUE_LEN, false, &changed);
		if (!v)
			return -ENOMEM;
	}
	if (changed) {
		(*trimmed)++;
		trim_note(TRIM_VALUE, "service_name \"%s\" changed to \"%s\" to fit the server's rules",
			  str__printable(svc, buf), str__printable(v, buf2));
	}
	if (!*v) {
		free(v);
		v = strdup(UNKNOWN_SERVICE);
	}
	err = lblset__add(ls, strdup(SERVICE_NAME), v);
	if (err)
		return err;

	for (size_t i = 0; i < s->nlabels; i++) {
		const struct profile_label *l = &s->labels[i];
		const char *raw = l->str;
		char *name, *value;

		if (!l->key || !strcmp(l->key, SERVICE_NAME))
			continue;
		if (!raw) {
			snprintf(num, sizeof(num), "%" PRId64, l->num);
			raw = num;
		}
		name = sanitize_name(l->key, &changed);
		if (!name)
			return -ENOMEM;
		if (!strncmp(name, "__", 2)) {
			(*trimmed)++;
			trim_note(TRIM_PRIVATE, "series label \"%s\" dropped: names starting with __ are the server's",
				  str__printable(l->key, buf));
			free(name);
			continue;
		}
		if (!*name || strlen(name) > PYROSCOPE_MAX_NAME_LEN) {
			(*trimmed)++;
			trim_note(TRIM_NAME, "series label \"%s\" dropped: empty or longer than %d bytes",
				  str__printable(l->key, buf), PYROSCOPE_MAX_NAME_LEN);
			free(name);
			continue;
		}
		if (changed) {
			(*trimmed)++;
			trim_note(TRIM_NAME, "series label name \"%s\" sent as \"%s\"",
				  str__printable(l->key, buf), str__printable(name, buf2));
		}
		if (lblset__has(ls, name)) {
			(*trimmed)++;
			trim_note(TRIM_DUPLICATE, "series label \"%s\" dropped: a label named \"%s\" is there already",
				  str__printable(l->key, buf), str__printable(name, buf2));
			free(name);
			continue;
		}
		value = sanitize_value(raw, PYROSCOPE_MAX_VALUE_LEN, ingest, &changed);
		if (!value) {
			free(name);
			return -ENOMEM;
		}
		if (!*value) {
			(*trimmed)++;
			trim_note(TRIM_EMPTY, "series label \"%s\" dropped: empty value", str__printable(name, buf));
			free(name);
			free(value);
			continue;
		}
		if (changed) {
			(*trimmed)++;
			trim_note(TRIM_VALUE, "series label \"%s\": value changed to fit the server's rules (UTF-8, %d bytes%s)",
				  str__printable(name, buf), PYROSCOPE_MAX_VALUE_LEN, ingest ? ", no ',' or '}'" : "");
		}
		if (ls->n >= max) {
			(*trimmed)++;
			trim_note(TRIM_TOO_MANY, "series label \"%s\" dropped: over %d label names per series",
				  str__printable(name, buf), PYROSCOPE_MAX_LABELS);
			free(name);
			free(value);
			continue;
		}
		err = lblset__add(ls, name, value);
		if (err)
			return err;
	}
	return 0;
}

/* ---- profiles ----------------------------------------------------------- */

/* What one series renders from: its samples and scratch space reused for
 * every part. */
struct series_ctx {
	const struct pyroscope_opts *o;
	const struct interval *iv;
	const struct profile *src;
	const struct pprof_style *style;
	uint64_t period;
	uint32_t *map_ids;   /* source mapping id -> part mapping id, 0: none yet */
	size_t nmaps;
	struct profile_frame *frames;
	size_t frames_cap;
	struct profile_label *labels;
	char (*nums)[32];
	char **vals;         /* sanitized string values, one per sample label */
};

struct part_counts {
	uint64_t trimmed_labels, trimmed_samples;
};

static void series_ctx__free(struct series_ctx *c)
{
	free(c->map_ids);
	free(c->frames);
	free(c->labels);
	free(c->nums);
	free(c->vals);
}

static int series_ctx__init(struct series_ctx *c, const struct pyroscope_opts *o,
			    const struct interval *iv, const struct profile *src)
{
	size_t n = o->nsample_labels + 2;  /* and span_id, span_name */

	memset(c, 0, sizeof(*c));
	c->o = o;
	c->iv = iv;
	c->src = src;
	c->period = profile__period_ns(src);
	c->nmaps = profile__mapping_count(src);
	c->map_ids = calloc(c->nmaps + 1, sizeof(*c->map_ids));
	c->labels = calloc(n, sizeof(*c->labels));
	c->nums = calloc(n, sizeof(*c->nums));
	c->vals = calloc(n, sizeof(*c->vals));
	if (!c->map_ids || !c->labels || !c->nums || !c->vals)
		return -ENOMEM;
	return 0;
}

/* Span profiles: the span the program was in as "span_id", 16 hex digits
 * (from its span_id label, or Datadog's decimal "span id"), and its
 * "span_name" when the program set one. */
static int add_span(struct series_ctx *c, const struct profile_sample *s, size_t *nl,
		    struct part_counts *pc)
{
	const char *name = tracectx__get(s->labels, s->nlabels, TRACECTX_SPAN_NAME);
	uint64_t span;
	bool changed;

	if (tracectx__span_id(s->labels, s->nlabels, &span) == 0) {
		snprintf(c->nums[*nl], sizeof(c->nums[*nl]), "%016" PRIx64, span);
		c->vals[*nl] = NULL;
		c->labels[*nl] = (struct profile_label){ .key = TRACECTX_SPAN_ID, .str = c->nums[*nl] };
		(*nl)++;
	}
	if (name && span_name_fits(c->o)) {
		c->vals[*nl] = sanitize_value(name, PYROSCOPE_MAX_VALUE_LEN, false, &changed);
		if (!c->vals[*nl])
			return -ENOMEM;
		if (changed)
			pc->trimmed_labels++;
		if (!*c->vals[*nl]) {
			free(c->vals[*nl]);  /* empty says nothing */
			c->vals[*nl] = NULL;
			return 0;
		}
		c->labels[*nl] = (struct profile_label){ .key = TRACECTX_SPAN_NAME, .str = c->vals[*nl] };
		(*nl)++;
	}
	return 0;
}

/* Adds source sample i to part: mapping ids renumbered for the part, the
 * stack cut to the depth limit, only the labels asked for and the span. */
static int add_sample(struct series_ctx *c, struct profile *part, size_t i,
		      struct part_counts *pc)
{
	const struct profile_sample *s = profile__sample(c->src, i);
	size_t nf = s->nframes, nl = 0, locs = 0, f, k, j;
	bool changed;
	int err = 0;

	if (nf + 1 > c->frames_cap) {
		size_t cap = nf + 1 > 64 ? nf + 1 : 64;
		struct profile_frame *fr = realloc(c->frames, cap * sizeof(*fr));

		if (!fr)
			return -ENOMEM;
		c->frames = fr;
		c->frames_cap = cap;
	}
	/* Frames are leaf first; a frame closes a location unless it is
	 * inlined into the next one (a trailing inlined frame closes its own,
	 * as the pprof encoder does). */
	for (f = 0; f < nf; f++) {
		c->frames[f] = *profile__frame(c->src, s->frame_ids[f]);
		if (!c->frames[f].inlined || f + 1 == nf)
			locs++;
	}
	if (locs <= PYROSCOPE_MAX_LOCATIONS) {
		f = nf;
	} else {
		size_t kept = 0;

		for (f = 0; f < nf && kept < PYROSCOPE_MAX_LOCATIONS - 1; f++)
			if (!c->frames[f].inlined)
				kept++;
		c->frames[f++] = (struct profile_frame){ .function = "[truncated]" };
		pc->trimmed_samples++;
		trim_note(TRIM_DEPTH, "stack of %zu locations cut to its %d leaf-side ones under [truncated]",
			  locs, PYROSCOPE_MAX_LOCATIONS - 1);
	}
	for (k = 0; k < f; k++) {
		uint32_t m = c->frames[k].mapping;

		if (!m)
			continue;
		if (m > c->nmaps)
			return -EINVAL;
		if (!c->map_ids[m]) {
			int id = profile__add_mapping(part, profile__mapping(c->src, m));

			if (id < 0)
				return id;
			c->map_ids[m] = (uint32_t)id;
		}
		c->frames[k].mapping = c->map_ids[m];
	}

	for (k = 0; k < c->o->nsample_labels; k++) {
		const char *key = c->o->sample_labels[k];

		for (j = 0; j < s->nlabels; j++) {
			const struct profile_label *l = &s->labels[j];

			if (!l->key || strcmp(l->key, key))
				continue;
			if (l->str) {
				c->vals[nl] = sanitize_value(l->str, PYROSCOPE_MAX_VALUE_LEN, false, &changed);
				if (!c->vals[nl]) {
					err = -ENOMEM;
					goto cleanup;
				}
				if (changed)
					pc->trimmed_labels++;
				c->labels[nl] = (struct profile_label){ .key = key, .str = c->vals[nl] };
			} else {
				snprintf(c->nums[nl], sizeof(c->nums[nl]), "%" PRId64, l->num);
				c->vals[nl] = NULL;
				c->labels[nl] = (struct profile_label){ .key = key, .str = c->nums[nl] };
			}
			nl++;
			break;
		}
	}
	err = add_span(c, s, &nl, pc);
	if (!err)
		err = profile__add_sample_value(part, c->frames, f, c->labels, nl, s->count,
						s->value);
cleanup:
	for (j = 0; j < nl; j++)
		free(c->vals[j]);
	return err;
}

/* The uncompressed pprof of source samples [from, from + n). */
static int encode_part(struct series_ctx *c, size_t from, size_t n, uint8_t **raw,
		       size_t *len, struct part_counts *pc)
{
	struct profile *part;
	size_t i;
	int err = 0;

	memset(pc, 0, sizeof(*pc));
	memset(c->map_ids, 0, (c->nmaps + 1) * sizeof(*c->map_ids));
	part = profile__new(c->period, c->iv->start_ns, c->iv->end_ns - c->iv->start_ns);
	if (!part)
		return -errno;
	for (i = from; i < from + n; i++) {
		err = add_sample(c, part, i, pc);
		if (err)
			goto cleanup;
	}
	err = pprof__encode(part, c->style, raw, len);
cleanup:
	profile__free(part);
	return err;
}

/* ---- requests ----------------------------------------------------------- */

struct body {
	uint8_t *gz;
	size_t len;
};

static void uuid_v4(char out[37])
{
	unsigned char b[16];

	rng__bytes(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;  /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;  /* RFC 4122 variant */
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
}

static char *base64(const char *in)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)in;
	size_t len = strlen(in), i, o = 0;
	char *out = malloc((len + 2) / 3 * 4 + 1);

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = tab[s[i] >> 2];
		out[o++] = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		out[o++] = tab[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		out[o++] = tab[s[i + 2] & 63];
	}
	if (i < len) {
		out[o++] = tab[s[i] >> 2];
		if (i + 1 < len) {
			out[o++] = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
			out[o++] = tab[(s[i + 1] & 15) << 2];
		} else {
			out[o++] = tab[(s[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

/* Percent-encodes everything but RFC 3986's unreserved characters: the
 * server decodes '+' as a blank and drops pairs with bad escapes. */
static void query_escape(struct strbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

		if (is_name_char(c) || c == '-' || c == '.' || c == '~')
			strbuf__add(b, (const char *)&c, 1);
		else
			strbuf__add(b, esc, 3);
	}
}

/* The base URL without trailing slashes, then path. */
static void base_url(struct strbuf *b, const char *url, const char *path)
{
	size_t len = strlen(url);

	while (len && url[len - 1] == '/')
		len--;
	strbuf__add(b, url, len);
	strbuf__puts(b, path);
}

static char *ingest_url(const struct pyroscope_opts *o, const struct interval *iv,
			const struct lblset *ls, uint64_t period)
{
	struct strbuf name = { 0 }, url = { 0 };
	int64_t from = iv->start_ns / 1000000000, until = iv->end_ns / 1000000000;
	char num[64];
	size_t i;

	/* until rounds up so [from, until] covers the interval. */
	if (iv->end_ns % 1000000000 > 0)
		until++;
	/* labels[0] is __name__, which /ingest derives from the sample type;
	 * labels[1] is service_name, the application name. */
	strbuf__puts(&name, ls->v[1].value);
	strbuf__puts(&name, "{");
	for (i = 2; i < ls->n; i++) {
		if (i > 2)
			strbuf__puts(&name, ",");
		strbuf__puts(&name, ls->v[i].name);
		strbuf__puts(&name, "=");
		strbuf__puts(&name, ls->v[i].value);
	}
	strbuf__puts(&name, "}");
	if (name.err)
		return NULL;

	base_url(&url, o->url, INGEST_PATH "?name=");
	query_escape(&url, name.s);
	snprintf(num, sizeof(num), "&from=%" PRId64 "&until=%" PRId64, from, until);
	strbuf__puts(&url, num);
	strbuf__puts(&url, "&format=pprof&spyName=" SPY_NAME);
	if (period) {
		snprintf(num, sizeof(num), "&sampleRate=%" PRIu64,
			 (uint64_t)((1000000000ULL + period / 2) / period));
		strbuf__puts(&url, num);
	}
	free(name.s);
	if (url.err) {
		free(url.s);
		return NULL;
	}
	return url.s;
}

static bool extra_has(const struct pyroscope_opts *o, const char *name)
{
	for (size_t i = 0; i < o->nheaders; i++)
		if (o->headers[i].name && !strcasecmp(o->headers[i].name, name))
			return true;
	return false;
}

static int add_our_header(struct http_request *r, const struct pyroscope_opts *o,
			  const char *name, const char *value)
{
	if (extra_has(o, name))
		return 0;
	return http_request__add_header(r, name, value);
}

/* The Authorization value from basic auth or a bearer token, in *auth
 * (NULL for none; to free with free_auth). */
static int auth_value(const struct pyroscope_opts *o, char **auth_out)
{
	char *cred = NULL, *b64 = NULL, *auth = NULL;
	int err = 0;

	if (o->basic_user) {
		if (asprintf(&cred, "%s:%s", o->basic_user,
			     o->basic_password ? o->basic_password : "") < 0) {
			cred = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
		b64 = base64(cred);
		if (!b64 || asprintf(&auth, "Basic %s", b64) < 0) {
			auth = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
	} else if (o->bearer_token) {
		if (asprintf(&auth, "Bearer %s", o->bearer_token) < 0) {
			auth = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
	}
cleanup:
	/* Secrets do not linger in freed memory longer than needed. */
	if (cred)
		explicit_bzero(cred, strlen(cred));
	if (b64)
		explicit_bzero(b64, strlen(b64));
	free(cred);
	free(b64);
	if (err) {
		if (auth)
			explicit_bzero(auth, strlen(auth));
		free(auth);
		auth = NULL;
	}
	*auth_out = auth;
	return err;
}

static void free_auth(char *auth)
{
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
}

/* The headers of every request. Authorization is not among them: it goes
 * to the delivery as a secret header (pyroscope__new), added to each
 * attempt and never queued or written to the spool. with_auth adds it
 * anyway, for the checks that a header can be sent. */
static int add_headers(struct http_request *r, const struct pyroscope_opts *o, bool with_auth)
{
	char *auth = NULL;
	int err;
	size_t i;

	err = add_our_header(r, o, "Content-Type",
			     o->api == PYROSCOPE_INGEST ? "application/octet-stream" : "application/proto");
	if (!err && o->api == PYROSCOPE_PUSH_V1)
		err = add_our_header(r, o, "Connect-Protocol-Version", "1");
	if (!err)
		err = add_our_header(r, o, "User-Agent", "ignis/" IGNIS_VERSION);
	if (!err && o->tenant_id && *o->tenant_id)
		err = add_our_header(r, o, "X-Scope-OrgID", o->tenant_id);
	if (!err && with_auth)
		err = auth_value(o, &auth);
	if (!err && auth)
		err = add_our_header(r, o, "Authorization", auth);
	free_auth(auth);
	if (err)
		return err;
	for (i = 0; i < o->nheaders; i++) {
		err = http_request__add_header(r, o->headers[i].name,
					       o->headers[i].value ? o->headers[i].value : "");
		if (err)
			return err;
	}
	return 0;
}

/* The PushRequest of one profile: one series, one RawSample. */
static int push_body(const struct lblset *ls, const struct body *b, void **out, size_t *out_len)
{
	Push__V1__PushRequest req = PUSH__V1__PUSH_REQUEST__INIT;
	Push__V1__RawProfileSeries series = PUSH__V1__RAW_PROFILE_SERIES__INIT;
	Push__V1__RawProfileSeries *series_ptr = &series;
	Push__V1__RawSample sample = PUSH__V1__RAW_SAMPLE__INIT;
	Push__V1__RawSample *sample_ptr = &sample;
	Types__V1__LabelPair *pairs, **pair_ptrs;
	char id[37];
	uint8_t *buf = NULL;
	size_t i, len;
	int err = 0;

	pairs = calloc(ls->n, sizeof(*pairs));
	pair_ptrs = calloc(ls->n, sizeof(*pair_ptrs));
	if (!pairs || !pair_ptrs) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < ls->n; i++) {
		types__v1__label_pair__init(&pairs[i]);
		pairs[i].name = ls->v[i].name;
		pairs[i].value = ls->v[i].value;
		pair_ptrs[i] = &pairs[i];
	}
	uuid_v4(id);
	sample.raw_profile.data = b->gz;
	sample.raw_profile.len = b->len;
	sample.id = id;
	series.n_labels = ls->n;
	series.labels = pair_ptrs;
	series.n_samples = 1;
	series.samples = &sample_ptr;
	req.n_series = 1;
	req.series = &series_ptr;

	len = push__v1__push_request__get_packed_size(&req);
	buf = malloc(len ? len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (push__v1__push_request__pack(&req, buf) != len) {
		err = -EIO;
		goto cleanup;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
cleanup:
	free(buf);
	free(pair_ptrs);
	free(pairs);
	return err;
}

static int make_request(const struct pyroscope_opts *o, const struct interval *iv,
			const struct lblset *ls, uint64_t period, struct body *b,
			size_t part, size_t nparts, struct reqs *out)
{
	struct http_request *r;
	char what[160], svc[64], when[32];
	const char *kind;
	time_t t = (time_t)(iv->start_ns / 1000000000);
	struct tm tm;
	char *url = NULL;
	void *body = NULL;
	size_t len = 0;
	int err;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* ls->v[0] is __name__: named when it is not the CPU profile. */
	kind = strcmp(ls->v[0].value, METRIC_NAME) ? ls->v[0].value : NULL;
	if (nparts > 1)
		snprintf(what, sizeof(what), "%s%sservice_name=%s interval %s part %zu/%zu",
			 kind ? kind : "", kind ? " " : "", str__printable(ls->v[1].value, svc), when,
			 part + 1, nparts);
	else
		snprintf(what, sizeof(what), "%s%sservice_name=%s interval %s", kind ? kind : "",
			 kind ? " " : "", str__printable(ls->v[1].value, svc), when);

	if (o->api == PYROSCOPE_INGEST) {
		url = ingest_url(o, iv, ls, period);
		if (!url)
			return -ENOMEM;
		body = b->gz;
		len = b->len;
		b->gz = NULL;
	} else {
		struct strbuf u = { 0 };

		base_url(&u, o->url, PUSH_PATH);
		if (u.err)
			return -ENOMEM;
		url = u.s;
		err = push_body(ls, b, &body, &len);
		if (err) {
			free(url);
			return err;
		}
	}
	r = http_request__new(url, body, len, iv->start_ns, what);
	free(url);
	if (!r)
		return -errno;
	err = add_headers(r, o, false);
	if (err) {
		http_request__free(r);
		return err;
	}
	return reqs__push(out, r);
}

static void bodies__free(struct body *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(b[i].gz);
	free(b);
}

/* The profiles of one series (its CPU profile, or with offcpu its off-CPU
 * one), split to the limits, then their requests. */
static int render_series(const struct pyroscope_opts *o, const struct interval *iv,
			 const struct series *s, bool offcpu, struct reqs *out,
			 struct pyroscope_stats *st)
{
	const struct profile *prof = offcpu ? s->offcpu : s->profile;
	const size_t n = profile__sample_count(prof);
	struct lblset ls = { 0 };
	struct series_ctx c;
	struct body *bodies = NULL;
	size_t nbodies = 0, cap = 0, i = 0, want = PYROSCOPE_MAX_SAMPLES, budget;
	uint64_t trimmed_labels = 0, trimmed_samples = 0;
	char buf[64];
	int err;

	err = series_ctx__init(&c, o, iv, prof);
	if (err)
		goto cleanup;
	c.style = offcpu ? &pyroscope_offcpu_style : &pyroscope_style;
	if (!c.period) {
		err = -EINVAL;
		goto cleanup;
	}
	err = series_labels(o, s, offcpu ? OFFCPU_METRIC_NAME : METRIC_NAME, &ls,
			    &trimmed_labels);
	if (err)
		goto cleanup;
	budget = PYROSCOPE_BURST_BYTES - (ls.bytes + LABELS_MARGIN < PYROSCOPE_BURST_BYTES / 2
					  ? ls.bytes + LABELS_MARGIN : PYROSCOPE_BURST_BYTES / 2);

	while (i < n) {
		size_t cnt = n - i < want ? n - i : want;
		struct part_counts pc;
		uint8_t *raw = NULL;
		size_t len = 0;

		for (;;) {
			size_t est;

			err = encode_part(&c, i, cnt, &raw, &len, &pc);
			if (err)
				goto cleanup;
			if (len <= budget || cnt == 1)
				break;
			free(raw);
			raw = NULL;
			/* Aim a tenth under the budget, by the size per sample
			 * seen; always shrink. */
			est = (size_t)((double)cnt * budget / len * 0.9);
			cnt = est < 1 ? 1 : est >= cnt ? cnt - 1 : est;
			want = cnt;
		}
		if (len > PYROSCOPE_MAX_PROFILE_BYTES) {
			free(raw);
			trimmed_samples++;
			trim_note(TRIM_SAMPLE_SIZE, "a sample of service_name \"%s\" alone takes %zu bytes, over the server's %u: dropped",
				  str__printable(ls.v[1].value, buf), len, PYROSCOPE_MAX_PROFILE_BYTES);
			i += cnt;
			continue;
		}
		if (nbodies == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct body *nb = realloc(bodies, ncap * sizeof(*nb));

			if (!nb) {
				free(raw);
				err = -ENOMEM;
				goto cleanup;
			}
			bodies = nb;
			cap = ncap;
		}
		err = pprof__gzip(raw, len, &bodies[nbodies].gz, &bodies[nbodies].len);
		free(raw);
		if (err)
			goto cleanup;
		nbodies++;
		trimmed_labels += pc.trimmed_labels;
		trimmed_samples += pc.trimmed_samples;
		i += cnt;
	}

	for (i = 0; i < nbodies; i++) {
		/* sampleRate is the CPU profiles' (1e9 / period); an off-CPU
		 * profile's values are nanoseconds already. */
		err = make_request(o, iv, &ls, offcpu ? 0 : c.period, &bodies[i], i, nbodies, out);
		if (err)
			goto cleanup;
	}
	if (nbodies > 1)
		pr_debug("pyroscope: split the series of service_name \"%s\" into %zu profiles (%zu samples in all)\n",
			 str__printable(ls.v[1].value, buf), nbodies, n);
	if (st) {
		st->profiles += nbodies;
		st->series += nbodies > 0;
		st->split += nbodies > 1;
	}
cleanup:
	if (st) {
		st->trimmed_labels += trimmed_labels;
		st->trimmed_samples += trimmed_samples;
	}
	bodies__free(bodies, nbodies);
	lblset__free(&ls);
	series_ctx__free(&c);
	return err;
}

/* What pyroscope__new and pyroscope__render both refuse. */
static int check_opts(const struct pyroscope_opts *o)
{
	const char *q;
	size_t i, j;

	if (!o || !o->url)
		return -EINVAL;
	if (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)) {
		pr_warn("pyroscope: %s: url must start with http:// or https://\n",
			o->name ? o->name : "");
		return -EINVAL;
	}
	q = strpbrk(o->url, "?#");
	if (q) {
		pr_warn("pyroscope: %s: url must not have a query or fragment\n", o->name ? o->name : "");
		return -EINVAL;
	}
	if (o->basic_user && o->bearer_token) {
		pr_warn("pyroscope: %s: basic auth and a bearer token are exclusive\n",
			o->name ? o->name : "");
		return -EINVAL;
	}
	if ((o->nheaders && !o->headers) || (o->nsample_labels && !o->sample_labels))
		return -EINVAL;
	/* __name__ and service_name must stay beside the sample labels. */
	if (o->nsample_labels > PYROSCOPE_MAX_LABELS - 2 - server_added(o->api)) {
		pr_warn("pyroscope: %s: at most %zu sample labels\n", o->name ? o->name : "",
			PYROSCOPE_MAX_LABELS - 2 - server_added(o->api));
		return -EINVAL;
	}
	for (i = 0; i < o->nsample_labels; i++) {
		if (!is_valid_name(o->sample_labels[i]) || !strncmp(o->sample_labels[i], "__", 2) ||
		    !strcmp(o->sample_labels[i], SERVICE_NAME)) {
			pr_warn("pyroscope: %s: sample label \"%s\" is not a usable label name\n",
				o->name ? o->name : "", o->sample_labels[i] ? o->sample_labels[i] : "");
			return -EINVAL;
		}
		for (j = 0; j < i; j++)
			if (!strcmp(o->sample_labels[i], o->sample_labels[j]))
				return -EINVAL;
	}
	return 0;
}

int pyroscope__render(const struct pyroscope_opts *o, const struct interval *iv,
		      struct http_request ***reqs, size_t *nreqs, struct pyroscope_stats *st)
{
	struct reqs out = { 0 };
	struct http_request *probe;
	size_t i;
	int err;

	if (!iv || !reqs || !nreqs || (iv->nseries && !iv->series))
		return -EINVAL;
	err = check_opts(o);
	if (err)
		return err;
	/* Headers are checked before any work: a bad one fails every request. */
	probe = http_request__new(o->url, NULL, 0, 0, NULL);
	if (!probe)
		return -errno;
	err = add_headers(probe, o, true);
	http_request__free(probe);
	if (err)
		return err;

	for (i = 0; i < iv->nseries; i++) {
		const struct series *s = &iv->series[i];

		err = 0;
		if (s->profile && profile__sample_count(s->profile))
			err = render_series(o, iv, s, false, &out, st);
		if (!err && s->offcpu && profile__sample_count(s->offcpu))
			err = render_series(o, iv, s, true, &out, st);
		if (err) {
			pr_warn("pyroscope: %s: rendering a series failed: %s\n",
				o->name ? o->name : "", strerror(-err));
			reqs__free(&out);
			return err;
		}
	}
	*reqs = out.v;
	*nreqs = out.n;
	return 0;
}

/* ---- the destination ---------------------------------------------------- */

struct pyroscope {
	struct httpdest h;         /* first: httpdest__drain takes the struct as h */
	struct pyroscope_opts o;  /* every pointer in it is ours */
	struct http_header *headers;
	char **sample_labels;
	struct pyroscope_stats st;  /* under h.lock */
};

static void pyroscope__free_opts(struct pyroscope *p)
{
	size_t i;

	free((char *)p->o.name);
	free((char *)p->o.url);
	free((char *)p->o.tenant_id);
	secret__release(p->o.basic_user);
	secret__release(p->o.basic_password);
	secret__release(p->o.bearer_token);
	for (i = 0; p->headers && i < p->o.nheaders; i++) {
		free((char *)p->headers[i].name);
		/* Extra headers often carry keys. */
		secret__release(p->headers[i].value);
	}
	free(p->headers);
	for (i = 0; p->sample_labels && i < p->o.nsample_labels; i++)
		free(p->sample_labels[i]);
	free(p->sample_labels);
	free((char *)p->o.delivery.name);
	free((char *)p->o.delivery.ca_file);
}

/* Starts the delivery with Authorization among its secret headers (an
 * extra header of that name, sent as given, replaces ours), so a queued or
 * spooled request holds no credentials and is sent with those of now. */
static int start_delivery(struct pyroscope *p)
{
	struct delivery_opts dopts = p->o.delivery;
	struct http_header *sec = NULL;
	size_t n = dopts.nsecret_headers;
	char *auth = NULL;
	int err;

	err = auth_value(&p->o, &auth);
	if (err)
		return err;
	if (auth && !extra_has(&p->o, "Authorization")) {
		sec = calloc(n + 1, sizeof(*sec));
		if (!sec) {
			free_auth(auth);
			return -ENOMEM;
		}
		if (n)
			memcpy(sec, dopts.secret_headers, n * sizeof(*sec));
		sec[n] = (struct http_header){ .name = "Authorization", .value = auth };
		dopts.secret_headers = sec;
		dopts.nsecret_headers = n + 1;
	}
	/* The ingester's active-series limit (pkg/validation/validate.go
	 * SeriesLimitErrorMsg) comes as 429, but a retry only meets it again
	 * while the tenant's other series stay active, and meanwhile holds up
	 * every interval behind it. */
	dopts.final_message = "Maximum active series limit exceeded";
	dopts.final_hint = "the tenant has as many active series as Pyroscope allows "
			   "(max_global_series_per_tenant, 5000 by default; each distinct label "
			   "set is one, per-sample labels included, and stays active 10 min after "
			   "its last profile): raise the tenant's limit, or send fewer label sets "
			   "(tag_rules that drop pod or container, fewer sample_labels)";
	err = httpdest__init(&p->h, &dopts);
	free(sec);
	free_auth(auth);
	return err;
}

struct pyroscope *pyroscope__new(const struct pyroscope_opts *o)
{
	struct pyroscope *p;
	struct http_request *probe;
	bool ok = true;
	size_t i;
	int err;

	err = check_opts(o);
	if (err) {
		errno = -err;
		return NULL;
	}
	probe = http_request__new(o->url, NULL, 0, 0, NULL);
	if (!probe)
		return NULL;
	err = add_headers(probe, o, true);
	http_request__free(probe);
	if (err) {
		pr_warn("pyroscope: %s: a header cannot be sent (bad name, or CR/LF in a value)\n",
			o->name ? o->name : "");
		errno = -err;
		return NULL;
	}

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->o.api = o->api;
	p->o.delivery = o->delivery;
	ok &= !str__dup(o->name ? o->name : "pyroscope", (char **)&p->o.name);
	ok &= !str__dup(o->url, (char **)&p->o.url);
	ok &= !str__dup(o->tenant_id, (char **)&p->o.tenant_id);
	ok &= !str__dup(o->basic_user, (char **)&p->o.basic_user);
	ok &= !str__dup(o->basic_password, (char **)&p->o.basic_password);
	ok &= !str__dup(o->bearer_token, (char **)&p->o.bearer_token);
	ok &= !str__dup(o->delivery.name ? o->delivery.name : p->o.name, (char **)&p->o.delivery.name);
	ok &= !str__dup(o->delivery.ca_file, (char **)&p->o.delivery.ca_file);
	if (o->nheaders) {
		p->headers = calloc(o->nheaders, sizeof(*p->headers));
		ok &= p->headers != NULL;
		for (i = 0; p->headers && i < o->nheaders; i++) {
			ok &= !str__dup(o->headers[i].name, (char **)&p->headers[i].name);
			ok &= !str__dup(o->headers[i].value, (char **)&p->headers[i].value);
		}
	}
	p->o.headers = p->headers;
	p->o.nheaders = o->nheaders;
	if (o->nsample_labels) {
		p->sample_labels = calloc(o->nsample_labels, sizeof(*p->sample_labels));
		ok &= p->sample_labels != NULL;
		for (i = 0; p->sample_labels && i < o->nsample_labels; i++) {
			p->sample_labels[i] = strdup(o->sample_labels[i]);
			ok &= p->sample_labels[i] != NULL;
		}
	}
	p->o.sample_labels = (const char *const *)p->sample_labels;
	p->o.nsample_labels = o->nsample_labels;
	if (!ok) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = start_delivery(p);
	if (err)
		goto cleanup;
	pr_info("pyroscope: %s: %s to %s%s\n", p->o.name,
		p->o.api == PYROSCOPE_INGEST ? "/ingest" : "push v1", p->o.url,
		p->o.nsample_labels ? " with per-sample labels" : "");
	return p;
cleanup:
	pyroscope__free_opts(p);
	free(p);
	errno = -err;
	return NULL;
}

int pyroscope__submit(struct pyroscope *p, const struct interval *iv)
{
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	size_t n = 0;
	int err;

	if (!p || !iv)
		return -EINVAL;
	err = pyroscope__render(&p->o, iv, &reqs, &n, &st);
	pthread_mutex_lock(&p->h.lock);
	p->st.profiles += st.profiles;
	p->st.series += st.series;
	p->st.split += st.split;
	p->st.trimmed_labels += st.trimmed_labels;
	p->st.trimmed_samples += st.trimmed_samples;
	pthread_mutex_unlock(&p->h.lock);
	return err ? err : reqs__enqueue(p->h.d, reqs, n);
}

void pyroscope__free(struct pyroscope *p)
{
	if (!p)
		return;
	httpdest__fini(&p->h);
	pyroscope__free_opts(p);
	free(p);
}

void pyroscope__stats(struct pyroscope *p, struct pyroscope_stats *s)
{
	if (p && s)
		httpdest__stats(&p->h, &p->st, s, sizeof(*s), &s->delivery);
}

/* ---- the destination type ------------------------------------------------- */

#define D struct config_destination

static int user_name(struct schema_ctx *x, const char *s)
{
	if (strchr(s, ':') || schema__has_control(s, false))
		return schema__fail(x, "a user name has no ':' or control characters");
	return 0;
}

static const char *const api_names[] = { [PYROSCOPE_PUSH_V1] = "push",
					 [PYROSCOPE_INGEST] = "ingest" };

static const struct schema_row basic_rows[] = {
	{ "username", SCHEMA_STRING, SCHEMA_AT(D, basic_user), .check = user_name },
	{ "password_file", SCHEMA_SECRET, SCHEMA_AT(D, password_file),
	  .secret_offset = offsetof(D, basic_password), .other = "password_env", .what = "password" },
	{ "password_env", SCHEMA_SECRET, SCHEMA_AT(D, password_env), .from_env = true,
	  .secret_offset = offsetof(D, basic_password), .other = "password_file", .what = "password" },
	{ 0 },
};

static const struct schema_row pyroscope_rows[] = {
	{ "url", SCHEMA_URL, SCHEMA_AT(D, url), .flags = SCHEMA_REQUIRED,
	  .hint = " (http:// or https://)", .env = "IGNIS_PYROSCOPE_URL", .flag = "--pyroscope-url" },
	{ "api", SCHEMA_ENUM, SCHEMA_AT(D, api), SCHEMA_NAMES(api_names) },
	{ "tenant_id", SCHEMA_STRING, SCHEMA_AT(D, tenant_id), .check = schema__check_no_control },
	{ "basic_auth", SCHEMA_MAP, .rows = basic_rows },
	{ "bearer_token_file", SCHEMA_SECRET, SCHEMA_AT(D, bearer_token_file),
	  .secret_offset = offsetof(D, bearer_token), .other = "bearer_token_env", .what = "token" },
	{ "bearer_token_env", SCHEMA_SECRET, SCHEMA_AT(D, bearer_token_env), .from_env = true,
	  .secret_offset = offsetof(D, bearer_token), .other = "bearer_token_file", .what = "token" },
	{ 0 },
};

/* Credentials come from one place, and extra headers do not repeat them. */
static int check_auth(struct schema_ctx *x, D *d)
{
	bool basic = d->basic_user || d->basic_password;
	unsigned long line = x->line;

	x->line = schema__seen(x, "basic_auth");
	if (basic && !d->basic_user) {
		schema__push_key(x, "basic_auth.username");
		return schema__fail(x, "required with password_file or password_env");
	}
	if (basic && !d->basic_password) {
		schema__push_key(x, "basic_auth");
		return schema__fail(x, "set password_file or password_env with the username");
	}
	if (basic && d->bearer_token) {
		x->line = schema__seen(x, d->bearer_token_file ? "bearer_token_file" : "bearer_token_env");
		schema__push_key(x, d->bearer_token_file ? "bearer_token_file" : "bearer_token_env");
		return schema__fail(x, "basic_auth and a bearer token cannot both be set");
	}
	x->line = line;
	for (size_t i = 0; i < d->nheaders; i++) {
		const char *clash = NULL;

		if (!strcasecmp(d->headers[i].name, "Authorization") && (basic || d->bearer_token))
			clash = "basic_auth or the bearer token";
		else if (!strcasecmp(d->headers[i].name, "X-Scope-OrgID") && d->tenant_id)
			clash = "tenant_id";
		if (clash) {
			schema__push_key(x, "headers");
			schema__push_key(x, d->headers[i].name);
			return schema__fail(x, "already set by %s", clash);
		}
	}
	return 0;
}

static void *new_pyroscope(const D *d)
{
	struct http_header *headers = calloc(d->nheaders ? d->nheaders : 1, sizeof(*headers));
	struct pyroscope_opts po = {
		.name = d->name,
		.url = d->url,
		.api = (enum pyroscope_api)d->api,
		.tenant_id = d->tenant_id,
		.basic_user = d->basic_user,
		.basic_password = d->basic_password,
		.bearer_token = d->bearer_token,
		.headers = headers,
		.nheaders = d->nheaders,
		.sample_labels = d->sample_labels,
		.nsample_labels = d->nsample_labels,
	};
	void *impl;

	if (!headers)
		return NULL;
	for (size_t i = 0; i < d->nheaders; i++)
		headers[i] = (struct http_header){ d->headers[i].name, d->headers[i].value };
	destination__delivery_opts(d, &po.delivery);
	impl = pyroscope__new(&po);
	free(headers);
	return impl;
}

static int submit(void *impl, const struct interval *iv)
{
	return pyroscope__submit(impl, iv);
}

static void stats(void *impl, struct delivery_stats *s)
{
	struct pyroscope_stats ps;

	pyroscope__stats(impl, &ps);
	*s = ps.delivery;
}

static void free_impl(void *impl)
{
	pyroscope__free(impl);
}

const struct destination_ops pyroscope__destination = {
	.type = "pyroscope",
	.rows = (const struct schema_row *const[]){ pyroscope_rows, destination__http_rows, NULL },
	.flag_dest = "pyroscope",
	.check = check_auth,
	.new = new_pyroscope,
	.submit = submit,
	.drain = httpdest__drain,
	.stats = stats,
	.free = free_impl,
};
