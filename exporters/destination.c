#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exporters/datadog.h"
#include "exporters/delivery.h"
#include "exporters/destination.h"
#include "exporters/filedest.h"
#include "exporters/otlp.h"
#include "exporters/pyroscope.h"

const char *series__label(const struct series *s, const char *key)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (s->labels[i].key && !strcmp(s->labels[i].key, key))
			return s->labels[i].str;
	return NULL;
}

/* ---- HTTP destinations ---------------------------------------------------- */

#define D struct config_destination

static int header_name(struct schema_ctx *x, const char *s)
{
	/* Headers the exporters set themselves; a second copy would corrupt
	 * the request rather than customize it. */
	static const char *const reserved[] = {
		"Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding",
		"Host", "Connection", "Connect-Protocol-Version",
		"DD-API-KEY", "DD-EVP-ORIGIN", "DD-EVP-ORIGIN-VERSION",
	};
	size_t n = strlen(s);

	if (!n || n > 256 ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		      "!#$%&'*+-.^_`|~") != n)
		return schema__fail(x, "not a valid header name");
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcasecmp(s, reserved[i]))
			return schema__fail(x, "set by ignis itself");
	return 0;
}

static int header_value(struct schema_ctx *x, const char *name, const char *value)
{
	(void)name;
	/* libcurl reads "Name:" as "remove this header", not as empty. */
	return *value ? 0 : schema__fail(x, "empty value");
}

/* Header values are often credentials: shown only when they came from
 * ${VAR} references (then the reference is shown) or the name is harmless. */
static void dump_headers(FILE *f, const struct schema_row *r, const void *obj, int indent)
{
	static const char *const words[] = { "auth", "token", "key", "secret", "pass", "cookie",
					     "session", "signature", "credential" };
	const D *d = obj;

	fprintf(f, "%*s%s:%s\n", indent, "", r->name, d->nheaders ? "" : " {}");
	for (size_t i = 0; i < d->nheaders; i++) {
		const struct schema_pair *h = &d->headers[i];
		bool hide = false;

		for (size_t j = 0; !strstr(h->raw, "${") && j < sizeof(words) / sizeof(words[0]); j++)
			hide = hide || strcasestr(h->name, words[j]);
		fprintf(f, "%*s", indent + 2, "");
		schema__put_str(f, h->name);
		fputs(": ", f);
		schema__put_str(f, hide ? "<redacted>" : h->raw);
		fputc('\n', f);
	}
}

static const struct schema_row tls_rows[] = {
	{ "ca_file", SCHEMA_PATH, SCHEMA_AT(D, ca_file) },
	{ "insecure_skip_verify", SCHEMA_BOOL, SCHEMA_AT(D, insecure_skip_verify) },
	{ 0 },
};

static const struct schema_row spool_rows[] = {
	{ "enabled", SCHEMA_BOOL, SCHEMA_AT(D, spool_enabled), .def = true },
	{ "directory", SCHEMA_PATH, SCHEMA_AT(D, spool_dir) },
	{ "max_size", SCHEMA_SIZE, SCHEMA_AT(D, spool_max_bytes), 16 * SCHEMA_KiB,
	  16 * SCHEMA_TiB, .def = SCHEMA_GiB },
	{ 0 },
};

const struct schema_row destination__http_rows[] = {
	{ "headers", SCHEMA_PAIRS, SCHEMA_AT(D, headers), .max = CONFIG_MAX_HEADERS,
	  .count_offset = offsetof(D, nheaders), .item = "header", .items = "headers",
	  .dup = "duplicate header (headers ignore case)", .flags = SCHEMA_EXPAND,
	  .check = header_name, .check_value = header_value, .dump = dump_headers },
	{ "tls", SCHEMA_MAP, .rows = tls_rows },
	/* 10 s is also what Datadog's clients use (WIRE.md). */
	{ "timeout", SCHEMA_DURATION, SCHEMA_AT(D, timeout_ms), 100, 10 * SCHEMA_MIN,
	  .def = 10 * SCHEMA_SEC },
	{ "queue_size", SCHEMA_SIZE, SCHEMA_AT(D, queue_bytes), SCHEMA_KiB, 64 * SCHEMA_GiB,
	  .def = 64 * SCHEMA_MiB },
	{ "spool", SCHEMA_MAP, .rows = spool_rows },
	{ 0 },
};

void destination__delivery_opts(const struct config_destination *d, struct delivery_opts *o)
{
	*o = (struct delivery_opts){
		.name = d->name,
		.timeout_ms = d->timeout_ms,
		.queue_bytes = d->queue_bytes,
		.max_age_ms = d->max_age_ms,
		.ca_file = d->ca_file,
		.insecure_skip_verify = d->insecure_skip_verify,
		.spool_dir = d->spool_enabled ? d->spool_dir : NULL,
		.spool_bytes = d->spool_max_bytes,
	};
}

/* ---- requests ------------------------------------------------------------- */

void reqs__free(struct reqs *r)
{
	for (size_t i = 0; i < r->n; i++)
		http_request__free(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

int reqs__push(struct reqs *r, struct http_request *q)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct http_request **v = realloc(r->v, cap * sizeof(*v));

		if (!v) {
			http_request__free(q);
			return -ENOMEM;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = q;
	return 0;
}

int reqs__enqueue(struct delivery *d, struct http_request **v, size_t n)
{
	int err, first = 0;

	for (size_t i = 0; i < n; i++) {
		/* Takes the request in all cases; a full queue drops this one
		 * but a smaller one behind it may still fit. */
		err = delivery__enqueue(d, v[i]);
		if (err && !first)
			first = err;
	}
	free(v);
	return first;
}

int httpdest__init(struct httpdest *h, const struct delivery_opts *o)
{
	int err = -pthread_mutex_init(&h->lock, NULL);

	if (err)
		return err;
	h->d = delivery__new(o);
	if (!h->d) {
		err = -errno;
		pthread_mutex_destroy(&h->lock);
		return err;
	}
	return 0;
}

int httpdest__drain(void *impl, int64_t deadline_ns)
{
	struct httpdest *h = impl;

	return h ? delivery__drain(h->d, deadline_ns) : -EINVAL;
}

void httpdest__fini(struct httpdest *h)
{
	delivery__free(h->d);
	pthread_mutex_destroy(&h->lock);
}

void httpdest__stats(struct httpdest *h, const void *st, void *out, size_t size,
		     struct delivery_stats *ds)
{
	pthread_mutex_lock(&h->lock);
	memcpy(out, st, size);
	pthread_mutex_unlock(&h->lock);
	delivery__stats(h->d, ds);
}

/* ---- the types ------------------------------------------------------------ */

const struct destination_ops *const destination__types[CONFIG_DEST_NTYPES] = {
	[CONFIG_DEST_PYROSCOPE] = &pyroscope__destination,
	[CONFIG_DEST_FILE] = &filedest__destination,
	[CONFIG_DEST_DATADOG] = &datadog__destination,
	[CONFIG_DEST_OTLP] = &otlp__destination,
};

/* ---- the settings of every type ------------------------------------------- */

#define MAX_NAME 64u

const char *const destination__sample_labels[DESTINATION_NLABELS] = {
	"pid", "comm", "thread_name", "container_id", "tid",
};

static int check_name(struct schema_ctx *x, const char *s)
{
	size_t n = strlen(s);

	if (!n || n > MAX_NAME || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return schema__fail(x, "'%s': expected 1 to %u of a-z, 0-9, _ and -", SCHEMA_Q(s),
				    MAX_NAME);
	return 0;
}

static int parse_nothing(struct schema_ctx *x, const struct schema_row *r, const void *n, void *o)
{
	(void)x, (void)r, (void)n, (void)o;
	return 0;   /* the reader takes type first: it decides the other rows */
}

static const struct schema_row head_rows[] = {
	{ "name", SCHEMA_STRING, SCHEMA_AT(D, name), .check = check_name },
	{ "type", SCHEMA_CUSTOM, .parse = parse_nothing },
	{ 0 },
};

static const struct schema_row tail_rows[] = {
	/* A multiple of the agent's tick; default: the type's, else upload_interval. */
	{ "upload_interval", SCHEMA_DURATION, SCHEMA_AT(D, upload_interval_ms), SCHEMA_SEC,
	  SCHEMA_HOUR },
	{ "sample_fraction", SCHEMA_FRACTION, SCHEMA_AT(D, sample_ppm), .def = 1000000 },
	/* Pyroscope refuses profiles over 1 h old (WIRE.md, server limits).
	 * Datadog documents no bound for profiles; the one its intakes do
	 * document is for metrics: points over 1 h old are not ingested
	 * (docs.datadoghq.com "Historical Metrics Ingestion", "Submit metric":
	 * "not ... more than 1 hour in the past"). 1 h for both. */
	{ "max_age", SCHEMA_DURATION, SCHEMA_AT(D, max_age_ms), 0, 168 * SCHEMA_HOUR,
	  .def = SCHEMA_HOUR, .note = "no limit" },
	{ "default_tag_rules", SCHEMA_BOOL, SCHEMA_AT(D, default_tag_rules), .def = true },
	{ "tag_rules", SCHEMA_LIST, SCHEMA_AT(D, tag_rules), .max = TAGMAP_MAX_RULES,
	  .rows = tagmap__rule_rows, .elem_size = sizeof(struct tag_rule),
	  .count_offset = offsetof(D, ntag_rules),
	  .item = "rules", .items = "rules", .flags = SCHEMA_ONE_KEY,
	  .hint = "expected a mapping with one key: rename, drop, set or split",
	  .dump = tagmap__dump_rules },
	{ 0 },
};

static const struct schema_row label_rows[] = { DESTINATION_LABELS_ROW(D, false), { 0 } };
static const struct schema_row all_label_rows[] = { DESTINATION_LABELS_ROW(D, true), { 0 } };

void destination__tables(enum config_dest_type type, const struct schema_row *out[8])
{
	size_t n = 0;

	out[n++] = head_rows;
	for (const struct schema_row *const *t = destination__types[type]->rows; *t && n < 5; t++)
		out[n++] = *t;
	out[n++] = tail_rows;
	out[n++] = destination__types[type]->all_sample_labels ? all_label_rows : label_rows;
	out[n] = NULL;
}

size_t destination__types_with(const char *name, char *buf, size_t len)
{
	size_t n = 0, count = 0;

	buf[0] = '\0';
	for (unsigned t = 0; t < CONFIG_DEST_NTYPES; t++) {
		const struct schema_row *const *tb = destination__types[t]->rows;

		while (*tb && !schema__find(*tb, name))
			tb++;
		if (*tb)
			n += snprintf(buf + n, len - n, "%s%s", count++ ? " or " : "",
				      destination__types[t]->type);
	}
	return count;
}

int destination__parse_type(struct schema_ctx *x, const char *s, enum config_dest_type *type)
{
	const char *names[CONFIG_DEST_NTYPES];
	unsigned t;

	for (size_t i = 0; i < CONFIG_DEST_NTYPES; i++)
		names[i] = destination__types[i]->type;
	if (schema__parse_enum(x, s, names, CONFIG_DEST_NTYPES, &t))
		return -EINVAL;
	*type = t;
	return 0;
}

int destination__init(struct config_destination *d, enum config_dest_type type)
{
	const struct schema_row *tables[8];
	int err = 0;

	d->type = type;
	destination__tables(type, tables);
	for (size_t i = 0; tables[i]; i++)
		schema__defaults(tables[i], d, &err);
	if (destination__types[type]->defaults)
		destination__types[type]->defaults(d);
	return err;
}

void destination__fini(struct config_destination *d)
{
	const struct schema_row *tables[8];

	destination__tables(d->type, tables);
	for (size_t i = 0; tables[i]; i++)
		schema__free(tables[i], d);
}

struct config_destination *destination__find_or_add(struct schema_ctx *x,
						    struct config_destination **v, size_t *n,
						    size_t max, const char *name,
						    enum config_dest_type type)
{
	struct config_destination *d;

	for (size_t i = 0; i < *n; i++) {
		d = &(*v)[i];
		if (strcmp(d->name, name))
			continue;
		if (d->type == type)
			return d;
		schema__fail(x, "the destination named '%s' is of type %s, not %s", name,
			     destination__types[d->type]->type, destination__types[type]->type);
		return NULL;
	}
	if (*n >= max) {   /* cannot happen: the file has at most 16 */
		schema__fail(x, "too many destinations");
		return NULL;
	}
	if (!(d = realloc(*v, (*n + 1) * sizeof(*d)))) {
		schema__oom(x);
		return NULL;
	}
	*v = d;
	d = &d[(*n)++];
	memset(d, 0, sizeof(*d));
	if (destination__init(d, type) || !(d->name = strdup(name))) {
		schema__oom(x);
		return NULL;
	}
	return d;
}

void destination__free_list(const struct schema_row *r, void *obj)
{
	struct config_destination **v = (struct config_destination **)((char *)obj + r->offset);
	size_t n = *(size_t *)((char *)obj + r->count_offset);

	for (size_t i = 0; *v && i < n; i++)
		destination__fini(&(*v)[i]);
	free(*v);
}

void destination__dump(const struct config_destination *d, FILE *f)
{
	const struct schema_row *tables[8];

	fputs("  - name: ", f);
	schema__put_str(f, d->name);
	fprintf(f, "\n    type: %s\n", destination__types[d->type]->type);
	destination__tables(d->type, tables);
	for (size_t t = 1; tables[t]; t++)
		schema__dump(tables[t], d, f, 4);
}

int destination__finish(struct schema_ctx *x, struct config_destination *d,
			const struct destination_inherit *in)
{
	const struct destination_ops *ops = destination__types[d->type];
	const struct schema_row *tables[8];
	bool spool = false;

	destination__tables(d->type, tables);
	for (size_t t = 1; tables[t]; t++) {
		spool |= schema__find(tables[t], "spool") != NULL;
		for (const struct schema_row *r = tables[t]; r->name; r++) {
			if (!(r->flags & SCHEMA_REQUIRED) || *(char **)((char *)d + r->offset))
				continue;
			schema__push_key(x, r->name);
			return schema__fail(x, "required for a destination of type %s%s", ops->type,
					    r->hint ? r->hint : "");
		}
	}
	if (!d->upload_interval_ms)
		d->upload_interval_ms = ops->upload_interval_ms ? ops->upload_interval_ms :
								   in->upload_interval_ms;
	if (spool && !d->spool_dir && asprintf(&d->spool_dir, "%s/%s", in->spool_dir, d->name) < 0) {
		d->spool_dir = NULL;
		return schema__oom(x);
	}
	if (in->labels_set)
		return 0;
	free(d->sample_labels);
	d->nsample_labels = 0;
	d->sample_labels = calloc(in->nsample_labels ? in->nsample_labels : 1, sizeof(char *));
	if (!d->sample_labels)
		return schema__oom(x);
	if (in->nsample_labels)
		memcpy(d->sample_labels, in->sample_labels, in->nsample_labels * sizeof(char *));
	d->nsample_labels = in->nsample_labels;
	return 0;
}
