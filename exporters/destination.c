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

/* ---- the types ------------------------------------------------------------ */

const struct destination_ops *const destination__types[CONFIG_DEST_NTYPES] = {
	[CONFIG_DEST_PYROSCOPE] = &pyroscope__destination,
	[CONFIG_DEST_FILE] = &filedest__destination,
	[CONFIG_DEST_DATADOG] = &datadog__destination,
	[CONFIG_DEST_OTLP] = &otlp__destination,
};
