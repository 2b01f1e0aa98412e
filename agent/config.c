/* The agent configuration: YAML through libyaml's document API (every node
 * carries its line for messages), walked against the rows of base/schema.h:
 * the top-level ones here, each destination type's in its exporter. The
 * walk never recurses on the document's own shape (only on the rows',
 * a few levels deep), so aliases, cycles and deep nesting cost nothing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "agent/config.h"
#include "agent/metrics.h"
#include "base/secret.h"
#include "unwinder/unwstore.h"
#include "bpf/sampler.h"
#include "exporters/destination.h"
#include "sampling/sampler.h"

#define MAX_FILE_BYTES (1u << 20)
#define MAX_HOST       1024u
#define MAX_NAME       64u
#define MAX_DESTS      (CONFIG_MAX_DESTINATIONS + 2)   /* + the two from flags */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define Q SCHEMA_Q
#define C struct config
#define D struct config_destination

/* The per-sample labels a destination may keep; config arrays point here.
 * The first NSAMPLE_LABELS_ANY are for every destination; Datadog's
 * backend is not series-based, so it may also take the high-cardinality
 * ones after them. */
static const char *const sample_label_names[] = { "pid", "comm", "thread_name", "container_id",
						  "tid" };
#define NSAMPLE_LABELS_ANY 3

static const char *const unwind_names[] = { [UNWIND_AUTO] = "auto", [UNWIND_FP] = "fp",
					    [UNWIND_DWARF] = "dwarf", [UNWIND_KERNEL] = "kernel",
					    [UNWIND_COPY] = "copy" };
static const char *const level_names[] = { [CONFIG_LOG_DEBUG] = "debug", [CONFIG_LOG_INFO] = "info",
					   [CONFIG_LOG_WARN] = "warn", [CONFIG_LOG_ERROR] = "error" };
static const char *const format_names[] = { [CONFIG_LOG_PLAIN] = "plain", [CONFIG_LOG_JSON] = "json" };
static const char *const k8s_mode_names[] = { [CONFIG_K8S_AUTO] = "auto", [CONFIG_K8S_ON] = "true",
					      [CONFIG_K8S_OFF] = "false" };

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* What the walk of a destination learns that the struct does not keep. */
struct dest_state {
	unsigned long line;      /* 0: added by a flag or variable */
	size_t index;            /* in the file's list */
	bool labels_set;
	unsigned long interval_line;
};

struct loader {
	struct schema_ctx x;     /* messages; first, so hooks' x is the loader */
	struct config *c;
	yaml_document_t *doc;
	struct dest_state dest[MAX_DESTS];
	unsigned long root_line, dests_line;
};

static const struct schema_row dest_head[], dest_tail[];

/* ---- nodes --------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int fail(struct loader *l, const yaml_node_t *at, const char *fmt, ...)
{
	va_list ap;
	int err;

	if (at)
		l->x.line = at->start_mark.line + 1;
	va_start(ap, fmt);
	err = schema__vfail(&l->x, fmt, ap);
	va_end(ap);
	return err;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = (const char *)n->data.scalar.value;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
	if (is_null(n))
		return "null";
	return n->type == YAML_MAPPING_NODE ? "a mapping" :
	       n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

/* The text of a scalar; NULL (with a message) for anything else. */
static const char *scalar(struct loader *l, const yaml_node_t *n, const char *expected)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE) {
		fail(l, n, "expected %s, got %s", expected, kind(n));
		return NULL;
	}
	s = (const char *)n->data.scalar.value;
	if (strlen(s) != n->data.scalar.length) {
		fail(l, n, "contains a NUL character");
		return NULL;
	}
	if (n->data.scalar.length > SCHEMA_MAX_STRING) {
		fail(l, n, "longer than %u bytes", SCHEMA_MAX_STRING);
		return NULL;
	}
	l->x.line = n->start_mark.line + 1;
	return s;
}

static yaml_node_t *node(struct loader *l, int id)
{
	return yaml_document_get_node(l->doc, id);
}

static size_t items(const yaml_node_t *n)
{
	return n->type == YAML_SEQUENCE_NODE ?
		       (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) :
		       (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

/* ---- the walk ------------------------------------------------------------ */

static int read_row(struct loader *l, const struct schema_row *r, yaml_node_t *v, void *obj);

static const struct schema_row *find(const struct schema_row *const *tables, const char *name)
{
	const struct schema_row *r = NULL;

	for (; *tables && !r; tables++)
		r = schema__find(*tables, name);
	return r;
}

/* Which destination types take a key the type at hand does not. */
static int other_types(struct loader *l, const yaml_node_t *at, const char *name)
{
	char types[64] = "";
	size_t n = 0, count = 0;

	for (unsigned t = 0; t < CONFIG_DEST_NTYPES; t++)
		if (find(destination__types[t]->rows, name))
			n += snprintf(types + n, sizeof(types) - n, "%s%s", count++ ? " or " : "",
				      destination__types[t]->type);
	return count ? fail(l, at, "only for destinations of type %s", types) : 1;
}

/* Reads each key of a mapping (null: none) by its row in tables. Keys are
 * strings, known, and unique; the message for an unknown key lists the
 * known ones. dest: a destination's mapping (keys of other types). */
static int walk(struct loader *l, yaml_node_t *map, const struct schema_row *const *tables,
		void *obj, bool dest)
{
	yaml_node_pair_t *p, *q;

	if (is_null(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return fail(l, map, "expected a mapping, got %s", kind(map));
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
		const struct schema_row *r;
		const char *name;
		size_t old;
		int err;

		if (!k || !v)
			return fail(l, map, "malformed mapping");
		if (k->type != YAML_SCALAR_NODE)
			return fail(l, k, "keys must be strings, got %s", kind(k));
		if (!(name = scalar(l, k, "a key")))
			return -EINVAL;
		old = schema__push_key(&l->x, name);
		for (q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *pk = node(l, q->key);

			if (pk && pk->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)pk->data.scalar.value, name))
				return fail(l, k, "duplicate key (first at line %lu)",
					    (unsigned long)pk->start_mark.line + 1);
		}
		r = find(tables, name);
		if (!r && dest && (err = other_types(l, v, name)) <= 0)
			return err;
		if (!r) {
			char list[512];
			size_t n = 0;

			list[0] = '\0';
			for (const struct schema_row *const *t = tables; *t; t++)
				for (const struct schema_row *row = *t; row->name && n < sizeof(list); row++)
					n += snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "",
						      row->name);
			return fail(l, k, "unknown key (expected one of: %s)", list);
		}
		err = read_row(l, r, v, obj);
		if (err)
			return err;
		schema__pop_key(&l->x, old);
	}
	return 0;
}

static int walk_rows(struct loader *l, yaml_node_t *map, const struct schema_row *rows, void *obj)
{
	return walk(l, map, (const struct schema_row *const[]){ rows, NULL }, obj, false);
}

/* Required rows of a mapping, reported at the mapping. */
static int need(struct loader *l, const yaml_node_t *at, const struct schema_row *rows,
		const void *obj)
{
	for (const struct schema_row *r = rows; r->name; r++) {
		if (!(r->flags & SCHEMA_REQUIRED) || *(void *const *)((const char *)obj + r->offset))
			continue;
		schema__push_key(&l->x, r->name);
		return fail(l, at, "required");
	}
	return 0;
}

static int read_list(struct loader *l, const struct schema_row *r, yaml_node_t *n, void *obj)
{
	void **arr = (void **)((char *)obj + r->offset);
	size_t *count = (size_t *)((char *)obj + r->count_offset), i = 0;
	size_t esize = r->rows ? r->elem_size : sizeof(char *), len;
	yaml_node_item_t *it;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, "expected a list of %s, got %s", r->item, kind(n));
	len = items(n);
	if (r->min && (len < r->min || len > r->max))
		return fail(l, n, "must list %llu..%llu %s", (unsigned long long)r->min,
			    (unsigned long long)r->max, r->items);
	if (len > r->max)
		return fail(l, n, "more than %llu %s", (unsigned long long)r->max, r->items);
	*arr = calloc(len ? len : 1, esize);
	if (!*arr)
		return schema__oom(&l->x);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = schema__push_index(&l->x, i);
		char *elem = (char *)*arr + *count * esize;
		const char *s;
		unsigned idx = 0;
		int err;

		if (!v)
			return fail(l, n, "malformed list");
		if (r->rows) {
			struct schema_ctx saved = l->x;

			if (v->type != YAML_MAPPING_NODE || ((r->flags & SCHEMA_ONE_KEY) && items(v) != 1))
				return fail(l, v, r->hint, kind(v));
			(*count)++;
			l->x.nseen = 0;
			err = walk_rows(l, v, r->rows, elem);
			if (!err && r->finish) {
				l->x.line = v->start_mark.line + 1;
				err = r->finish(&l->x, elem);
			}
			if (err)
				return err;
			memcpy(l->x.seen, saved.seen, sizeof(saved.seen));
			l->x.nseen = saved.nseen;
		} else {
			if ((r->flags & SCHEMA_NONEMPTY) && is_null(v))
				return fail(l, v, "%s", r->hint);
			if (!(s = scalar(l, v, r->what ? r->what : "a string")))
				return -EINVAL;
			if (r->names && schema__parse_enum(&l->x, s, r->names, r->nnames, &idx))
				return -EINVAL;
			if ((r->flags & SCHEMA_NONEMPTY) && !*s)
				return fail(l, v, "%s", r->hint);
			if (r->check && r->check(&l->x, s))
				return -EINVAL;
			for (size_t j = 0; (r->flags & SCHEMA_UNIQUE) && j < *count; j++)
				if (!strcmp(((char **)*arr)[j], s))
					return fail(l, v, "'%s' is listed twice", s);
			*(const char **)elem = r->names ? r->names[idx] : strdup(s);
			if (!*(const char **)elem)
				return schema__oom(&l->x);
			(*count)++;
		}
		schema__pop_key(&l->x, old);
	}
	return 0;
}

static int read_pairs(struct loader *l, const struct schema_row *r, yaml_node_t *n, void *obj)
{
	struct schema_pair **arr = (struct schema_pair **)((char *)obj + r->offset);
	size_t *count = (size_t *)((char *)obj + r->count_offset);
	char kname[32], vname[32];
	yaml_node_pair_t *p;

	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, "expected a mapping of %s names to values, got %s", r->item, kind(n));
	if (items(n) > r->max)
		return fail(l, n, "more than %llu %s", (unsigned long long)r->max, r->items);
	*arr = calloc(items(n) ? items(n) : 1, sizeof(**arr));
	if (!*arr)
		return schema__oom(&l->x);
	snprintf(kname, sizeof(kname), "a %s name", r->item);
	snprintf(vname, sizeof(vname), "a %s value", r->item);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
		struct schema_pair *e = &(*arr)[*count];
		const char *name, *val;
		size_t old;

		if (!k || !v)
			return fail(l, n, "malformed mapping");
		if (!(name = scalar(l, k, kname)))
			return -EINVAL;
		old = schema__push_key(&l->x, name);
		if (r->check(&l->x, name))
			return -EINVAL;
		for (size_t i = 0; i < *count; i++)
			if (!strcasecmp((*arr)[i].key, name))
				return fail(l, k, "%s", r->dup);
		if (is_null(v) && !(r->flags & SCHEMA_EXPAND))
			return fail(l, v, "empty value");
		if (is_null(v))
			val = "";
		else if (!(val = scalar(l, v, vname)))
			return -EINVAL;
		if (!(r->flags & SCHEMA_EXPAND) && !*val)
			return fail(l, v, "empty value");
		e->key = strdup(name);
		(*count)++;
		if (!e->key)
			return schema__oom(&l->x);
		l->x.line = v->start_mark.line + 1;
		if (r->flags & SCHEMA_EXPAND) {
			if (!(e->raw = strdup(val)))
				return schema__oom(&l->x);
			char why[256];

			if (schema__secret(&l->x, secret__expand(val, &e->value, why, sizeof(why)), why))
				return -EINVAL;
		} else if (!(e->value = strdup(val))) {
			return schema__oom(&l->x);
		}
		if (r->check_value(&l->x, name, e->value))
			return -EINVAL;
		schema__pop_key(&l->x, old);
	}
	return 0;
}

/* One variant of a list of one-key mappings (tag_rules: rename, drop...). */
static int read_variant(struct loader *l, const struct schema_row *r, yaml_node_t *v, void *obj,
			size_t variant_offset)
{
	struct schema_row one[] = { *r, { 0 } };
	int err;

	one[0].flags &= ~SCHEMA_ONE_KEY;
	*(int *)((char *)obj + variant_offset) = r->variant;
	if (r->kind != SCHEMA_MAP) {
		err = read_row(l, &one[0], v, obj);
		return err ? err : *(char **)((char *)obj + r->offset) ? 0 : fail(l, v, "%s", r->hint);
	}
	err = walk_rows(l, v, r->rows, obj);
	return err ? err : need(l, v, r->rows, obj);
}

static int read_row(struct loader *l, const struct schema_row *r, yaml_node_t *v, void *obj)
{
	static const char *const expected[] = {
		[SCHEMA_UINT] = "a number", [SCHEMA_DURATION] = "a duration",
		[SCHEMA_SIZE] = "a size", [SCHEMA_BOOL] = "true or false",
		[SCHEMA_FRACTION] = "a number",
	};
	const char *s;

	if (!is_null(v))
		schema__saw(&l->x, r, v->start_mark.line + 1);
	if ((r->flags & SCHEMA_ONE_KEY) && r->kind != SCHEMA_LIST)
		return read_variant(l, r, v, obj, r->variant_offset);
	switch (r->kind) {
	case SCHEMA_MAP:
		return walk_rows(l, v, r->rows, r->flags & SCHEMA_SUB ? (char *)obj + r->offset : obj);
	case SCHEMA_LIST:
		return read_list(l, r, v, obj);
	case SCHEMA_PAIRS:
		return read_pairs(l, r, v, obj);
	case SCHEMA_CUSTOM:
		return r->parse(&l->x, r, v, obj);
	default:
		break;
	}
	if (is_null(v))
		return 0;
	if (!(s = scalar(l, v, r->kind < ARRAY_SIZE(expected) && expected[r->kind] ? expected[r->kind] :
			       r->kind == SCHEMA_STRING && r->what ? r->what : "a string")))
		return -EINVAL;
	/* "": the default, except where it means something. */
	if (!*s && !(r->flags & SCHEMA_EMPTY) && r->kind != SCHEMA_ENUM && r->kind != SCHEMA_BOOL &&
	    r->kind != SCHEMA_FRACTION)
		return 0;
	return schema__set(&l->x, r, obj, s);
}

/* ---- settings of their own ----------------------------------------------- */

static int check_cpus(struct schema_ctx *x, const char *s)
{
	uint8_t *bits = malloc(CONFIG_MAX_CPUS / 8);
	int n;

	if (!bits)
		return schema__oom(x);
	n = s[0] >= '0' && s[0] <= '9' && !schema__has_control(s, false) ?
		    sampler__parse_cpu_list(s, bits, CONFIG_MAX_CPUS) : -EINVAL;
	free(bits);
	if (n <= 0)
		return schema__fail(x, "'%s': expected a CPU list like 0-3,8 (CPUs below %u)", Q(s),
				    CONFIG_MAX_CPUS);
	return 0;
}

static int check_host(struct schema_ctx *x, const char *s)
{
	return schema__check_text(x, s, MAX_HOST);
}

/* Appends the URLs of one scalar (space-separated) to out. */
static int add_urls(struct loader *l, yaml_node_t *v, char *out, size_t *len)
{
	char *copy, *tok, *save;
	const char *s;
	int err = 0;

	if (!(s = scalar(l, v, "a URL")))
		return -EINVAL;
	if (!(copy = strdup(s)))
		return schema__oom(&l->x);
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *u;

		if ((err = schema__parse_url(&l->x, tok, &u)))
			break;
		if (*len + strlen(u) + 1 > SCHEMA_MAX_STRING) {
			free(u);
			err = fail(l, v, "longer than %u bytes", SCHEMA_MAX_STRING);
			break;
		}
		*len += sprintf(out + *len, "%s%s", *len ? " " : "", u);
		free(u);
	}
	free(copy);
	return err;
}

/* A space-separated string or a list of http(s) URLs; "" or [] turn
 * debuginfod off, null leaves DEBUGINFOD_URLS in charge. */
static int parse_urls(struct schema_ctx *x, const struct schema_row *r, const void *vn, void *obj)
{
	struct loader *l = (struct loader *)x;
	yaml_node_t *n = (yaml_node_t *)vn;
	char **dst = (char **)((char *)obj + r->offset), *out;
	size_t len = 0, i = 0;
	int err = 0;

	if (is_null(n))
		return 0;
	if (n->type == YAML_MAPPING_NODE)
		return fail(l, n, "expected a string or a list of URLs, got %s", kind(n));
	if (!(out = calloc(1, SCHEMA_MAX_STRING + 1)))
		return schema__oom(x);
	if (n->type == YAML_SCALAR_NODE)
		err = add_urls(l, n, out, &len);
	for (yaml_node_item_t *it = n->type == YAML_SEQUENCE_NODE ? n->data.sequence.items.start : NULL;
	     !err && it && it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = schema__push_index(x, i);

		err = v ? add_urls(l, v, out, &len) : fail(l, n, "malformed list");
		if (!err)
			schema__pop_key(x, old);
	}
	if (err) {
		free(out);
		return err;
	}
	free(*dst);
	*dst = out;
	return 0;
}

static void dump_urls(FILE *f, const struct schema_row *r, const void *obj, int indent)
{
	const char *s = ((const C *)obj)->debuginfod_urls;

	fprintf(f, "%*s%s: ", indent, "", r->name);
	if (s)
		schema__put_str(f, s);
	else
		fputs("null", f);
	fputc('\n', f);
}

static void free_str(const struct schema_row *r, void *obj)
{
	char **s = (char **)((char *)obj + r->offset);

	free(*s);
	*s = NULL;
}

static int parse_listen(struct schema_ctx *x, const struct schema_row *r, const void *vn, void *obj)
{
	const char *s;

	(void)r;
	if (is_null(vn))
		return 0;   /* "" turns it off; null is the default */
	s = scalar((struct loader *)x, vn, "a string");
	return s ? metrics__parse_listen(x, s, &((C *)obj)->metrics_listen, &((C *)obj)->metrics_host,
					 &((C *)obj)->metrics_port) : -EINVAL;
}

static void dump_listen(FILE *f, const struct schema_row *r, const void *obj, int indent)
{
	fprintf(f, "%*s%s: ", indent, "", r->name);
	schema__put_str(f, ((const C *)obj)->metrics_listen ? ((const C *)obj)->metrics_listen : "off");
	fputc('\n', f);
}

static void free_listen(const struct schema_row *r, void *obj)
{
	(void)r;
	free(((C *)obj)->metrics_listen);
	free(((C *)obj)->metrics_host);
}

static void dump_k8s_enabled(FILE *f, const struct schema_row *r, const void *obj, int indent)
{
	const struct config_kubernetes *k = obj;

	fprintf(f, "%*s%s: %s   # %s\n", indent, "", r->name, k8s_mode_names[k->mode],
		k->enabled ? "on" : "off");
}

/* ---- destinations -------------------------------------------------------- */

static int dest_name(struct schema_ctx *x, const char *s)
{
	size_t n = strlen(s);

	if (!n || n > MAX_NAME || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return schema__fail(x, "'%s': expected 1 to %u of a-z, 0-9, _ and -", Q(s), MAX_NAME);
	return 0;
}

static int parse_nothing(struct schema_ctx *x, const struct schema_row *r, const void *n, void *o)
{
	(void)x, (void)r, (void)n, (void)o;
	return 0;   /* read before the walk */
}

static const struct schema_row dest_head[] = {
	{ "name", SCHEMA_STRING, SCHEMA_AT(D, name), .check = dest_name },
	{ "type", SCHEMA_CUSTOM, .parse = parse_nothing },
	{ 0 },
};

static const struct schema_row dest_tail[] = {
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

/* Per-sample labels, last; a backend that is not series-based may also
 * keep the high-cardinality ones. */
#define LABELS(type, n)                                                                    \
	{ "sample_labels", SCHEMA_LIST, SCHEMA_AT(type, sample_labels), .max = 64,         \
	  .names = sample_label_names, .nnames = (n), .count_offset = offsetof(type, nsample_labels), \
	  .item = "label names", .items = "labels", .what = "a label name", .flags = SCHEMA_UNIQUE }
static const struct schema_row dest_labels[] = { LABELS(D, NSAMPLE_LABELS_ANY), { 0 } };
static const struct schema_row dest_labels_all[] = {
	LABELS(D, ARRAY_SIZE(sample_label_names)), { 0 },
};

/* A destination's rows: name and type, its type's, then those of all. */
static void dest_tables(const D *d, const struct schema_row *out[8])
{
	size_t n = 0;

	out[n++] = dest_head;
	for (const struct schema_row *const *t = destination__types[d->type]->rows; *t && n < 6; t++)
		out[n++] = *t;
	out[n++] = dest_tail;
	out[n++] = destination__types[d->type]->all_sample_labels ? dest_labels_all : dest_labels;
	out[n] = NULL;
}

static int dest_defaults(D *d, enum config_dest_type type)
{
	const struct schema_row *tables[8];
	int err = 0;

	d->type = type;
	dest_tables(d, tables);
	for (size_t i = 0; tables[i]; i++)
		schema__defaults(tables[i], d, &err);
	if (destination__types[type]->defaults)
		destination__types[type]->defaults(d);
	return err;
}

static void dest_free(D *d)
{
	const struct schema_row *tables[8];

	dest_tables(d, tables);
	for (size_t i = 0; tables[i]; i++)
		schema__free(tables[i], d);
}

static const char *const *type_names(void)
{
	static const char *names[CONFIG_DEST_NTYPES];

	for (size_t t = 0; t < CONFIG_DEST_NTYPES; t++)
		names[t] = destination__types[t]->type;
	return names;
}

static int read_dest(struct loader *l, yaml_node_t *n, size_t index)
{
	C *c = l->c;
	D *d = &c->destinations[c->ndestinations];
	struct dest_state *st = &l->dest[c->ndestinations];
	const struct destination_ops *ops;
	const struct schema_row *tables[8];
	struct schema_ctx saved;
	yaml_node_t *type = NULL;
	const char *s;
	size_t old;
	unsigned e;
	int err;

	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, "expected a mapping (a destination), got %s", kind(n));
	/* The type decides which keys are allowed: read it first. */
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(l, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "type")) {
			type = node(l, p->value);
			break;
		}
	}
	c->ndestinations++;   /* from here on, config__free frees it */
	st->line = n->start_mark.line + 1;
	st->index = index;
	old = schema__push_key(&l->x, "type");
	if (!type || is_null(type))
		return fail(l, n, "required: pyroscope, file or datadog");
	if (!(s = scalar(l, type, "a string")) ||
	    schema__parse_enum(&l->x, s, type_names(), CONFIG_DEST_NTYPES, &e))
		return -EINVAL;
	schema__pop_key(&l->x, old);
	if (dest_defaults(d, e))
		return schema__oom(&l->x);
	ops = destination__types[e];
	dest_tables(d, tables);
	saved = l->x;
	l->x.nseen = 0;
	if ((err = walk(l, n, tables, d, true)))
		return err;
	if (!d->name && schema__replace(&l->x, &d->name, ops->type))
		return -ENOMEM;
	for (size_t i = 0; i + 1 < c->ndestinations; i++) {
		if (strcmp(c->destinations[i].name, d->name))
			continue;
		l->x.line = st->line;
		schema__push_key(&l->x, "name");
		return schema__fail(&l->x, "duplicate destination name '%s' (also destinations[%zu]%s)",
				    d->name, l->dest[i].index,
				    strcmp(d->name, ops->type) ? "" : "; give each a name");
	}
	st->labels_set = schema__seen(&l->x, "sample_labels");
	st->interval_line = schema__seen(&l->x, "upload_interval");
	l->x.line = st->line;
	if (ops->check && (err = ops->check(&l->x, d)))
		return err;
	memcpy(l->x.seen, saved.seen, sizeof(saved.seen));
	l->x.nseen = saved.nseen;
	return 0;
}

static int parse_dests(struct schema_ctx *x, const struct schema_row *r, const void *vn, void *obj)
{
	struct loader *l = (struct loader *)x;
	yaml_node_t *n = (yaml_node_t *)vn;
	size_t i = 0;

	(void)r, (void)obj;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, "expected a list of destinations, got %s", kind(n));
	l->dests_line = n->start_mark.line + 1;
	if (items(n) > CONFIG_MAX_DESTINATIONS)
		return fail(l, n, "more than %u destinations", CONFIG_MAX_DESTINATIONS);
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = schema__push_index(x, i);
		int err;

		if (!v)
			return fail(l, n, "malformed list");
		if ((err = read_dest(l, v, i)))
			return err;
		schema__pop_key(x, old);
	}
	return 0;
}

static void dump_dests(FILE *f, const struct schema_row *r, const void *obj, int indent)
{
	const C *c = obj;
	char buf[32];

	(void)indent;
	schema__format_duration(c->tick_ms, buf, sizeof(buf));
	fprintf(f, "# the agent ticks every %s\n%s:\n", buf, r->name);
	for (size_t i = 0; i < c->ndestinations; i++) {
		const D *d = &c->destinations[i];
		const struct schema_row *tables[8];

		fputs("  - name: ", f);
		schema__put_str(f, d->name);
		fprintf(f, "\n    type: %s\n", destination__types[d->type]->type);
		dest_tables(d, tables);
		for (size_t t = 1; tables[t]; t++)
			schema__dump(tables[t], d, f, 4);
	}
}

static void free_dests(const struct schema_row *r, void *obj)
{
	C *c = obj;

	(void)r;
	for (size_t i = 0; c->destinations && i < c->ndestinations; i++)
		dest_free(&c->destinations[i]);
	free(c->destinations);
}

/* ---- the top ------------------------------------------------------------- */

static const struct schema_row sampling_rows[] = {
	{ "frequency", SCHEMA_UINT, SCHEMA_AT(C, frequency_hz), 1, 10000, .def = 100,
	  .env = "IGNIS_FREQUENCY", .flag = "--frequency" },
	{ "unwind", SCHEMA_ENUM, SCHEMA_AT(C, unwind), SCHEMA_NAMES(unwind_names), .def = UNWIND_KERNEL },
	{ "stack_size", SCHEMA_UINT, SCHEMA_AT(C, stack_size), IGNIS_STACK_MIN, IGNIS_STACK_MAX,
	  .def = IGNIS_STACK_DEFAULT, .multiple = 8 },
	{ "include_idle", SCHEMA_BOOL, SCHEMA_AT(C, include_idle) },
	{ "cpus", SCHEMA_STRING, SCHEMA_AT(C, cpus), .check = check_cpus },
	{ "unwind_table_memory", SCHEMA_SIZE, SCHEMA_AT(C, unwind_table_bytes), UNWSTORE_MIN_BUDGET,
	  UNWSTORE_MAX_BUDGET, .def = UNWSTORE_DEFAULT_BUDGET, .flag = "--unwind-table-memory" },
	{ "off_cpu", SCHEMA_BOOL, SCHEMA_AT(C, off_cpu), .flag = "--off-cpu" },
	{ "off_cpu_min_block_us", SCHEMA_UINT, SCHEMA_AT(C, off_cpu_min_block_us), 0, 10000000,
	  .def = CONFIG_OFFCPU_MIN_BLOCK_US, .flag = "--off-cpu-min-block-us" },
	{ "off_cpu_probability", SCHEMA_FRACTION, SCHEMA_AT(C, off_cpu_probability_ppm),
	  .def = 1000000, .flag = "--off-cpu-probability" },
	{ 0 },
};

static const struct schema_row log_rows[] = {
	{ "level", SCHEMA_ENUM, SCHEMA_AT(C, log_level), SCHEMA_NAMES(level_names),
	  .def = CONFIG_LOG_INFO, .env = "IGNIS_LOG_LEVEL", .flag = "--log-level" },
	{ "format", SCHEMA_ENUM, SCHEMA_AT(C, log_format), SCHEMA_NAMES(format_names),
	  .env = "IGNIS_LOG_FORMAT", .flag = "--log-format" },
	{ 0 },
};

static const struct schema_row labels_rows[] = {
	LABELS(C, NSAMPLE_LABELS_ANY),
	{ 0 },
};

static const struct schema_row symbols_rows[] = {
	{ "debug_dirs", SCHEMA_LIST, SCHEMA_AT(C, debug_dirs), .max = CONFIG_MAX_DEBUG_DIRS,
	  .count_offset = offsetof(C, ndebug_dirs), .item = "directories", .items = "directories",
	  .flags = SCHEMA_NONEMPTY, .hint = "expected a directory, got an empty string",
	  .check = schema__check_no_control },
	{ "debuginfod_urls", SCHEMA_CUSTOM, SCHEMA_AT(C, debuginfod_urls), .parse = parse_urls,
	  .dump = dump_urls, .free = free_str },
	{ "debuginfod_cache", SCHEMA_PATH, SCHEMA_AT(C, debuginfod_cache),
	  .def_str = "/var/cache/ignis/debuginfod" },
	{ "debuginfod_cache_size", SCHEMA_SIZE, SCHEMA_AT(C, debuginfod_cache_bytes), SCHEMA_MiB,
	  SCHEMA_TiB, .def = 2 * SCHEMA_GiB },
	{ "cache_size", SCHEMA_SIZE, SCHEMA_AT(C, symbol_cache_bytes), SCHEMA_MiB, 64 * SCHEMA_GiB,
	  .def = 256 * SCHEMA_MiB },
	{ 0 },
};

static const struct schema_row metrics_rows[] = {
	{ "listen", SCHEMA_CUSTOM, .parse = parse_listen, .dump = dump_listen, .free = free_listen },
	{ 0 },
};

#define K struct config_kubernetes
static const struct schema_row k8s_rows[] = {
	{ "enabled", SCHEMA_ENUM, SCHEMA_AT(K, mode), SCHEMA_NAMES(k8s_mode_names),
	  .dump = dump_k8s_enabled },
	{ "node_name", SCHEMA_STRING, SCHEMA_AT(K, node_name), .check = check_host },
	{ "api_url", SCHEMA_URL, SCHEMA_AT(K, api_url) },
	{ "token_file", SCHEMA_PATH, SCHEMA_AT(K, token_file), .def_str = K8S_SA_DIR "/token" },
	{ "ca_file", SCHEMA_PATH, SCHEMA_AT(K, ca_file), .def_str = K8S_SA_DIR "/ca.crt" },
	{ "kubelet_url", SCHEMA_URL, SCHEMA_AT(K, kubelet_url) },
	{ "insecure_skip_verify", SCHEMA_BOOL, SCHEMA_AT(K, insecure_skip_verify) },
	{ "resync", SCHEMA_DURATION, SCHEMA_AT(K, resync_ms), 10 * SCHEMA_SEC, 24 * SCHEMA_HOUR,
	  .def = 5 * SCHEMA_MIN },
	{ "max_pods", SCHEMA_UINT, SCHEMA_AT(K, max_pods), 1, 100000, .def = 1000 },
	{ 0 },
};

static const struct schema_row root_rows[] = {
	{ "sampling", SCHEMA_MAP, .rows = sampling_rows },
	{ "upload_interval", SCHEMA_DURATION, SCHEMA_AT(C, upload_interval_ms), SCHEMA_SEC,
	  SCHEMA_HOUR, .def = 15 * SCHEMA_SEC, .env = "IGNIS_UPLOAD_INTERVAL",
	  .flag = "--upload-interval" },
	{ "shutdown_timeout", SCHEMA_DURATION, SCHEMA_AT(C, shutdown_timeout_ms), 0,
	  10 * SCHEMA_MIN, .def = 10 * SCHEMA_SEC },
	{ "host", SCHEMA_STRING, SCHEMA_AT(C, host), .check = check_host, .env = "IGNIS_HOST",
	  .flag = "--host" },
	{ "proc_root", SCHEMA_PATH, SCHEMA_AT(C, proc_root), .def_str = "/proc" },
	{ "sys_root", SCHEMA_PATH, SCHEMA_AT(C, sys_root), .def_str = "/sys" },
	{ "log", SCHEMA_MAP, .rows = log_rows },
	{ "labels", SCHEMA_MAP, .rows = labels_rows },
	{ "symbols", SCHEMA_MAP, .rows = symbols_rows },
	{ "spool_dir", SCHEMA_PATH, SCHEMA_AT(C, spool_dir), .def_str = "/var/lib/ignis/spool" },
	{ "max_series", SCHEMA_UINT, SCHEMA_AT(C, max_series), 1, 1000000, .def = 10000 },
	{ "metrics", SCHEMA_MAP, .rows = metrics_rows },
	{ "kubernetes", SCHEMA_MAP, SCHEMA_AT(C, kubernetes), .rows = k8s_rows, .flags = SCHEMA_SUB },
	{ "relabel_configs", SCHEMA_LIST, SCHEMA_AT(C, relabel), .max = CONFIG_MAX_RELABEL,
	  .rows = relabel__rows, .elem_size = sizeof(struct relabel_rule),
	  .count_offset = offsetof(C, nrelabel), .item = "rules", .items = "rules",
	  .hint = "expected a mapping (a rule), got %s", .finish = relabel__check_rule,
	  .dump = relabel__dump_rules },
	{ "destinations", SCHEMA_CUSTOM, .parse = parse_dests, .dump = dump_dests,
	  .free = free_dests },
	{ 0 },
};

/* ---- the file ------------------------------------------------------------ */

static int read_file(struct loader *l, const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "re");
	const char *why = NULL, *what = "";
	struct stat st;
	int err = EINVAL;

	if (!f) {
		snprintf(l->x.err, l->x.errlen, "%s: cannot open: %s", path, strerror(errno));
		return -(l->x.errnum = EINVAL);
	}
	*buf = NULL;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
		why = "is a directory";
	else if (!(*buf = malloc(MAX_FILE_BYTES + 1)))
		why = "out of memory", err = ENOMEM;
	else if ((*len = fread(*buf, 1, MAX_FILE_BYTES + 1, f)) > MAX_FILE_BYTES)
		why = "larger than 1048576 bytes; not a configuration file?";
	else if (ferror(f))
		what = "cannot read: ", why = strerror(errno);
	fclose(f);
	if (!why)
		return 0;
	free(*buf);
	*buf = NULL;
	snprintf(l->x.err, l->x.errlen, "%s: %s%s", path, what, why);
	return -(l->x.errnum = err);
}

static int yaml_error(struct loader *l, yaml_parser_t *p, const unsigned char *buf, size_t len)
{
	unsigned long line = p->problem_mark.line + 1;

	if (p->error == YAML_MEMORY_ERROR)
		return schema__oom(&l->x);
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors carry a byte offset, not a mark. */
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++)
			line += buf[i] == '\n';
	}
	l->x.line = line;
	schema__pop_key(&l->x, 0);
	return fail(l, NULL, "not valid YAML: %s%s%s", p->context ? p->context : "",
		    p->context ? ": " : "", p->problem ? p->problem : "parse error");
}

static int load_file(struct loader *l, const char *path)
{
	unsigned char *buf = NULL;
	yaml_document_t doc, extra;
	bool have_doc = false;
	yaml_parser_t parser;
	yaml_node_t *root;
	size_t len = 0;
	int err;

	if ((err = read_file(l, path, &buf, &len)))
		return err;
	if (!yaml_parser_initialize(&parser)) {
		free(buf);
		return schema__oom(&l->x);
	}
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		err = yaml_error(l, &parser, buf, len);
		goto cleanup;
	}
	have_doc = true;
	l->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	l->root_line = 1;
	if (root) {
		/* A second document would be ignored without this. */
		if (!yaml_parser_load(&parser, &extra)) {
			err = yaml_error(l, &parser, buf, len);
			goto cleanup;
		}
		if (yaml_document_get_root_node(&extra)) {
			l->x.line = extra.start_mark.line + 1;
			yaml_document_delete(&extra);
			err = fail(l, NULL, "more than one YAML document (---) in the file");
			goto cleanup;
		}
		yaml_document_delete(&extra);
		l->root_line = root->start_mark.line + 1;
		if (root->type != YAML_MAPPING_NODE && !is_null(root)) {
			err = fail(l, root, "expected a mapping of settings at the top, got %s",
				   kind(root));
			goto cleanup;
		}
		err = walk_rows(l, root, root_rows, l->c);
	}
cleanup:
	l->doc = NULL;
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(buf);
	return err;
}

/* ---- environment and flags ----------------------------------------------- */

static D *find_or_add(struct loader *l, const char *name, enum config_dest_type type)
{
	C *c = l->c;
	D *d;

	for (size_t i = 0; i < c->ndestinations; i++) {
		d = &c->destinations[i];
		if (strcmp(d->name, name))
			continue;
		if (d->type == type)
			return d;
		schema__fail(&l->x, "the destination named '%s' is of type %s, not %s", name,
			     destination__types[d->type]->type, destination__types[type]->type);
		return NULL;
	}
	if (c->ndestinations == MAX_DESTS) {   /* cannot happen: the file has at most 16 */
		schema__fail(&l->x, "too many destinations");
		return NULL;
	}
	d = &c->destinations[c->ndestinations++];
	memset(&l->dest[c->ndestinations - 1], 0, sizeof(l->dest[0]));
	if (dest_defaults(d, type) || !(d->name = strdup(name))) {
		schema__oom(&l->x);
		return NULL;
	}
	return d;
}

/* The flags config_overrides carries, by the name rows give them. */
static const struct {
	const char *flag;
	size_t offset;
} ov_fields[] = {
#define OV(f, field) { f, offsetof(struct config_overrides, field) }
	OV("--frequency", frequency), OV("--upload-interval", upload_interval),
	OV("--log-level", log_level), OV("--pyroscope-url", pyroscope_url),
	OV("--output-dir", output_dir), OV("--host", host), OV("--log-format", log_format),
};

static int apply_one(struct loader *l, const struct schema_row *r, void *obj, int type,
		     const struct config_overrides *ov, int pass)
{
	const char *s = NULL;

	if (!pass) {
		s = getenv(r->env);
		if (s && !*s)
			s = NULL;
	}
	for (size_t i = 0; pass && ov && i < ARRAY_SIZE(ov_fields); i++)
		if (!strcmp(ov_fields[i].flag, r->flag))
			s = *(const char *const *)((const char *)ov + ov_fields[i].offset);
	if (!s)
		return 0;
	l->x.source = pass ? r->flag : r->env;
	if (pass && !*s)
		return schema__fail(&l->x, "empty value");
	if (type >= 0 && !(obj = find_or_add(l, destination__types[type]->flag_dest, type)))
		return -l->x.errnum;
	return schema__set(&l->x, r, obj, s);
}

static int apply_rows(struct loader *l, const struct schema_row *rows, void *obj, int type,
		      const struct config_overrides *ov, int pass)
{
	for (const struct schema_row *r = rows; r->name; r++) {
		int err = 0;

		if (r->kind == SCHEMA_MAP)
			err = apply_rows(l, r->rows, r->flags & SCHEMA_SUB ? (char *)obj + r->offset : obj,
					 type, ov, pass);
		else if (r->env)
			err = apply_one(l, r, obj, type, ov, pass);
		if (err)
			return err;
	}
	return 0;
}

/* Variables, then flags: the later one wins. */
static int apply_overrides(struct loader *l, const struct config_overrides *ov)
{
	for (int pass = 0; pass < 2; pass++) {
		if (apply_rows(l, root_rows, l->c, -1, ov, pass))
			return -l->x.errnum;
		for (int t = 0; t < CONFIG_DEST_NTYPES; t++)
			for (const struct schema_row *const *tb = destination__types[t]->rows; *tb; tb++)
				if (apply_rows(l, *tb, NULL, t, ov, pass))
					return -l->x.errnum;
	}
	l->x.source = NULL;
	return 0;
}

/* ---- after everything ---------------------------------------------------- */

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* The agent wakes at the GCD of the upload intervals; under 1 s it would
 * spin on bookkeeping, so such a mix is refused. */
static int finish_tick(struct loader *l)
{
	C *c = l->c;
	uint64_t g = 0;

	for (size_t i = 0; i < c->ndestinations; i++) {
		uint64_t ng = gcd(g, c->destinations[i].upload_interval_ms);
		char a[32], b[32], t[32];

		if (ng >= SCHEMA_SEC) {
			g = ng;
			continue;
		}
		/* i > 0: every interval alone is at least 1 s. */
		schema__format_duration(g, a, sizeof(a));
		schema__format_duration(c->destinations[i].upload_interval_ms, b, sizeof(b));
		schema__format_duration(ng, t, sizeof(t));
		l->x.line = l->dest[i].interval_line ? l->dest[i].interval_line : l->dest[i].line;
		schema__set_key(&l->x, "destinations[%zu].upload_interval", l->dest[i].index);
		return schema__fail(&l->x, "%s here and %s for the destinations before it tick the "
					   "agent every %s (their greatest common divisor); it must "
					   "be at least 1s: pick intervals that are multiples of a "
					   "whole second", b, a, t);
	}
	c->tick_ms = g;
	return 0;
}

static int finish_k8s(struct loader *l)
{
	C *c = l->c;
	struct config_kubernetes *k = &c->kubernetes;
	const char *svc = getenv("KUBERNETES_SERVICE_HOST");
	const char *node = getenv("NODE_NAME");
	bool in_pod = svc && *svc;

	if (!k->node_name && schema__replace(&l->x, &k->node_name, node && *node ? node : c->host))
		return -ENOMEM;
	if (!k->api_url && in_pod) {
		const char *port = getenv("KUBERNETES_SERVICE_PORT");
		char buf[MAX_HOST + 32];
		uint64_t p = 443;

		l->x.source = "KUBERNETES_SERVICE_PORT";
		if (port && *port && schema__parse_uint(&l->x, port, 1, 65535, &p))
			return -EINVAL;
		l->x.source = "KUBERNETES_SERVICE_HOST";
		if (strlen(svc) > MAX_HOST)
			return schema__fail(&l->x, "longer than %u bytes", MAX_HOST);
		snprintf(buf, sizeof(buf), strchr(svc, ':') ? "https://[%s]:%llu" : "https://%s:%llu",
			 svc, (unsigned long long)p);
		if (schema__parse_url(&l->x, buf, &k->api_url))
			return -EINVAL;
		l->x.source = NULL;
	}
	k->enabled = k->mode == CONFIG_K8S_ON || (k->mode == CONFIG_K8S_AUTO && in_pod);
	if (k->mode == CONFIG_K8S_ON && !k->api_url && !k->kubelet_url) {
		l->x.line = schema__seen(&l->x, "enabled");
		schema__set_key(&l->x, "kubernetes.enabled");
		return schema__fail(&l->x, "true, but there is no way to reach Kubernetes: set "
					   "api_url or kubelet_url (KUBERNETES_SERVICE_HOST is not "
					   "set: not in a pod?)");
	}
	return 0;
}

/* Per-destination settings that depend on others, which flags and
 * variables may have changed after the destination was read. */
static int finish_dest(struct loader *l, D *d, struct dest_state *st)
{
	const struct destination_ops *ops = destination__types[d->type];
	const struct schema_row *tables[8];
	C *c = l->c;

	dest_tables(d, tables);
	for (size_t t = 1; tables[t]; t++) {
		for (const struct schema_row *r = tables[t]; r->name; r++) {
			if (!(r->flags & SCHEMA_REQUIRED) || *(char **)((char *)d + r->offset))
				continue;
			/* Only destinations from the file can miss one: flags set what
			 * they add. */
			l->x.line = st->line;
			schema__set_key(&l->x, "destinations[%zu].%s", st->index, r->name);
			return schema__fail(&l->x, "required for a destination of type %s%s", ops->type,
					    r->hint ? r->hint : "");
		}
	}
	if (!d->upload_interval_ms)
		d->upload_interval_ms = ops->upload_interval_ms ? ops->upload_interval_ms :
								   c->upload_interval_ms;
	if (find(tables, "spool") && !d->spool_dir &&
	    asprintf(&d->spool_dir, "%s/%s", c->spool_dir, d->name) < 0) {
		d->spool_dir = NULL;
		return schema__oom(&l->x);
	}
	if (!st->labels_set) {
		free(d->sample_labels);
		d->sample_labels = calloc(c->nsample_labels ? c->nsample_labels : 1,
					  sizeof(*d->sample_labels));
		if (!d->sample_labels)
			return schema__oom(&l->x);
		if (c->nsample_labels)
			memcpy(d->sample_labels, c->sample_labels,
			       c->nsample_labels * sizeof(*d->sample_labels));
		d->nsample_labels = c->nsample_labels;
	}
	return 0;
}

static int finish(struct loader *l)
{
	C *c = l->c;

	schema__pop_key(&l->x, 0);
	if (!c->host) {
		const char *node = getenv("NODE_NAME");
		char name[HOST_NAME_MAX + 1] = { 0 };

		if (node && *node) {
			l->x.source = "NODE_NAME";
			if (check_host(&l->x, node))
				return -EINVAL;
			l->x.source = NULL;
		} else if (gethostname(name, sizeof(name) - 1) || !*name) {
			l->x.source = "host";
			return schema__fail(&l->x, "cannot read this machine's host name (%s); set host "
						   "in the file or IGNIS_HOST",
					    strerror(errno ? errno : ENOENT));
		}
		if (schema__replace(&l->x, &c->host, node && *node ? node : name))
			return -ENOMEM;
	}
	if (!c->ndestinations) {
		if (!l->x.file) {
			snprintf(l->x.err, l->x.errlen, "no destination: give --config FILE, "
				 "--pyroscope-url URL or --output-dir DIR");
			return -(l->x.errnum = EINVAL);
		}
		l->x.line = l->dests_line ? l->dests_line : l->root_line;
		schema__set_key(&l->x, "destinations");
		return schema__fail(&l->x, "at least one destination is required (or give "
					   "--pyroscope-url or --output-dir)");
	}
	for (size_t i = 0; i < c->ndestinations; i++)
		if (finish_dest(l, &c->destinations[i], &l->dest[i]))
			return -l->x.errnum;
	if (finish_tick(l) || finish_k8s(l))
		return -l->x.errnum;
	return 0;
}

int config__init(struct config *c)
{
	int err = 0;

	memset(c, 0, sizeof(*c));
	schema__defaults(root_rows, c, &err);
	c->metrics_listen = strdup("127.0.0.1:9464");
	c->metrics_host = strdup("127.0.0.1");
	c->metrics_port = 9464;
	c->destinations = calloc(MAX_DESTS, sizeof(*c->destinations));
	if (!c->metrics_listen || !c->metrics_host || !c->destinations)
		err = -ENOMEM;
	return err;
}

int config__set(struct config *c, const char *key, const char *text, char *err, size_t errlen)
{
	struct schema_ctx x = { .err = err, .errlen = errlen };
	size_t base;
	const struct schema_row *r = schema__lookup(root_rows, key, &base);

	if (!r)
		return schema__fail(&x, "%s: no such setting", key);
	return schema__set(&x, r, (char *)c + base, text);
}

struct config *config__load(const char *path, const struct config_overrides *ov, char *err,
			    size_t errlen)
{
	struct loader *l = calloc(1, sizeof(*l));
	C *c = calloc(1, sizeof(*c));
	char dummy[1];
	int e;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (!l || !c || config__init(c)) {
		snprintf(err, errlen, "%s: out of memory", path ? path : "ignis");
		e = ENOMEM;
		goto cleanup;
	}
	l->c = c;
	l->x.file = path;
	l->x.err = err;
	l->x.errlen = errlen;
	if (path && !(c->path = strdup(path))) {
		schema__oom(&l->x);
		goto fail;
	}
	if ((path && load_file(l, path)) || apply_overrides(l, ov) || finish(l))
		goto fail;
	free(l);
	return c;
fail:
	e = l->x.errnum ? l->x.errnum : EINVAL;
cleanup:
	free(l);
	config__free(c);
	errno = e;
	return NULL;
}

void config__free(struct config *c)
{
	if (!c)
		return;
	schema__free(root_rows, c);
	free(c->path);
	free(c);
}

const char *config__dest_type_name(enum config_dest_type t)
{
	return (unsigned)t < CONFIG_DEST_NTYPES ? destination__types[t]->type : "unknown";
}

const char *config__log_level_name(enum config_log_level lv)
{
	return (unsigned)lv < ARRAY_SIZE(level_names) ? level_names[lv] : "info";
}

void config__dump(const struct config *c, FILE *f)
{
	fprintf(f, "# ignis agent: effective configuration (defaults, %s, IGNIS_* variables, "
		   "flags)\n", c->path ? c->path : "no file");
	schema__dump(root_rows, c, f, 0);
}
