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
#include <unistd.h>
#include <yaml.h>

#include "agent/config.h"
#include "agent/metrics.h"
#include "base/array.h"
#include "base/file.h"
#include "base/secret.h"
#include "unwinder/unwstore.h"
#include "bpf/sampler.h"
#include "sampling/sampler.h"

#define MAX_FILE_BYTES (1u << 20)
#define MAX_HOST       1024u
#define MAX_DESTS      (CONFIG_MAX_DESTINATIONS + 2)   /* + the two from flags */
#define C struct config
#define D struct config_destination

static const char *const unwind_names[] = { [UNWIND_AUTO] = "auto", [UNWIND_FP] = "fp",
					    [UNWIND_DWARF] = "dwarf", [UNWIND_KERNEL] = "kernel",
					    [UNWIND_COPY] = "copy" };
static const char *const level_names[] = { [CONFIG_LOG_DEBUG] = "debug", [CONFIG_LOG_INFO] = "info",
					   [CONFIG_LOG_WARN] = "warn", [CONFIG_LOG_ERROR] = "error" };
static const char *const format_names[] = { [CONFIG_LOG_PLAIN] = "plain", [CONFIG_LOG_JSON] = "json" };

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
	unsigned long root_line;
};

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
		char types[64];
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
		if (!r && dest && destination__types_with(name, types, sizeof(types)))
			return fail(l, v, "only for destinations of type %s", types);
		if (!r) {
			char list[512] = "";
			size_t n = 0;

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

static int read_list(struct loader *l, const struct schema_row *r, yaml_node_t *n, void *obj)
{
	void **arr = (void **)((char *)obj + r->offset);
	size_t *count = (size_t *)((char *)obj + r->count_offset), i = 0;
	size_t esize = r->rows || r->parse ? r->elem_size : sizeof(char *), len;
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
		if (r->rows || r->parse) {
			struct schema_ctx saved = l->x;

			if (v->type != YAML_MAPPING_NODE || ((r->flags & SCHEMA_ONE_KEY) && items(v) != 1))
				return fail(l, v, r->hint, kind(v));
			(*count)++;
			l->x.nseen = 0;
			err = r->parse ? r->parse(&l->x, r, v, elem) : walk_rows(l, v, r->rows, elem);
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
		if (!(val = is_null(v) ? "" : scalar(l, v, vname)))
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
static int read_variant(struct loader *l, const struct schema_row *r, yaml_node_t *v, void *obj)
{
	struct schema_row one[] = { *r, { 0 } };
	int err;

	one[0].flags &= ~SCHEMA_ONE_KEY;
	*(int *)((char *)obj + r->variant_offset) = r->variant;
	if (r->kind != SCHEMA_MAP) {
		err = read_row(l, &one[0], v, obj);
		return err ? err : *(char **)((char *)obj + r->offset) ? 0 : fail(l, v, "%s", r->hint);
	}
	err = walk_rows(l, v, r->rows, obj);
	for (const struct schema_row *q = r->rows; !err && q->name; q++) {
		if ((q->flags & SCHEMA_REQUIRED) && !*(void *const *)((const char *)obj + q->offset)) {
			schema__push_key(&l->x, q->name);   /* reported at the mapping */
			return fail(l, v, "required");
		}
	}
	return err;
}

/* WORDS: each item of a list read as the row's text (item: what one is),
 * the values joined by spaces; [] is "". */
static int read_words(struct loader *l, const struct schema_row *r, yaml_node_t *n, void *obj)
{
	char out[SCHEMA_MAX_STRING + 1] = "", *one = NULL;
	struct schema_row row = *r;
	size_t len = 0, i = 0;
	int err = 0;

	row.offset = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     !err && it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = schema__push_index(&l->x, i);
		const char *s = v ? scalar(l, v, r->item) : NULL;

		if (!v || !s)
			err = v ? -EINVAL : fail(l, n, "malformed list");
		else if (!(err = schema__set(&l->x, &row, &one, s)) &&
			 len + strlen(one) + 1 > SCHEMA_MAX_STRING)
			err = fail(l, v, "longer than %u bytes", SCHEMA_MAX_STRING);
		else if (!err)
			len += sprintf(out + len, "%s%s", len && *one ? " " : "", one);
		if (!err)
			schema__pop_key(&l->x, old);
	}
	free(one);
	return err ? err : schema__replace(&l->x, (char **)((char *)obj + r->offset), out);
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
		return read_variant(l, r, v, obj);
	if ((r->flags & SCHEMA_WORDS) && v->type == YAML_SEQUENCE_NODE)
		return read_words(l, r, v, obj);
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
			       r->kind != SCHEMA_SECRET && r->what ? r->what : "a string")))
		return -EINVAL;
	/* "": the default, except where it means something. */
	if (!*s && !(r->flags & SCHEMA_EMPTY) && r->kind != SCHEMA_ENUM && r->kind != SCHEMA_BOOL &&
	    r->kind != SCHEMA_FRACTION)
		return 0;
	return schema__set(&l->x, r, obj, s);
}

/* ---- settings of their own ----------------------------------------------- */

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

/* ---- destinations -------------------------------------------------------- */

/* One element of destinations (a mapping): its type decides which keys
 * it may have, so it is read first. */
static int read_dest(struct schema_ctx *x, const struct schema_row *r, const void *vn, void *obj)
{
	struct loader *l = (struct loader *)x;
	const yaml_node_t *n = vn;
	C *c = l->c;
	D *d = obj;
	size_t index = c->ndestinations - 1;
	struct dest_state *st = &l->dest[index];
	const struct destination_ops *ops;
	const struct schema_row *tables[8];
	yaml_node_t *type = NULL;
	const char *s;
	size_t old;
	enum config_dest_type e;
	int err;

	(void)r;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(l, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "type")) {
			type = node(l, p->value);
			break;
		}
	}
	st->line = n->start_mark.line + 1;
	st->index = index;
	old = schema__push_key(x, "type");
	if (!type || is_null(type))
		return fail(l, n, "required: pyroscope, file, datadog or otlp");
	if (!(s = scalar(l, type, "a string")) || destination__parse_type(x, s, &e))
		return -EINVAL;
	schema__pop_key(x, old);
	if (destination__init(d, e))
		return schema__oom(x);
	ops = destination__types[e];
	destination__tables(e, tables);
	if ((err = walk(l, (yaml_node_t *)n, tables, d, true)))
		return err;
	if (!d->name && schema__replace(x, &d->name, ops->type))
		return -ENOMEM;
	for (size_t i = 0; i < index; i++) {
		if (strcmp(c->destinations[i].name, d->name))
			continue;
		x->line = st->line;
		schema__push_key(x, "name");
		return schema__fail(x, "duplicate destination name '%s' (also destinations[%zu]%s)",
				    d->name, l->dest[i].index,
				    strcmp(d->name, ops->type) ? "" : "; give each a name");
	}
	st->labels_set = schema__seen(x, "sample_labels");
	st->interval_line = schema__seen(x, "upload_interval");
	x->line = st->line;
	return ops->check ? ops->check(x, d) : 0;
}

static void dump_dests(FILE *f, const struct schema_row *r, const void *obj, int indent)
{
	const C *c = obj;
	char buf[32];

	(void)indent;
	schema__format_duration(c->tick_ms, buf, sizeof(buf));
	fprintf(f, "# the agent ticks every %s\n%s:\n", buf, r->name);
	for (size_t i = 0; i < c->ndestinations; i++)
		destination__dump(&c->destinations[i], f);
}

/* ---- the top ------------------------------------------------------------- */

static const struct schema_row sampling_rows[] = {
	{ "frequency", SCHEMA_UINT, SCHEMA_AT(C, frequency_hz), 1, 10000, .def = 100,
	  .env = "IGNIS_FREQUENCY", .flag = "--frequency" },
	{ "unwind", SCHEMA_ENUM, SCHEMA_AT(C, unwind), SCHEMA_NAMES(unwind_names), .def = UNWIND_KERNEL },
	{ "stack_size", SCHEMA_UINT, SCHEMA_AT(C, stack_size), IGNIS_STACK_MIN, IGNIS_STACK_MAX,
	  .def = IGNIS_STACK_DEFAULT, .multiple = 8 },
	{ "include_idle", SCHEMA_BOOL, SCHEMA_AT(C, include_idle) },
	{ "cpus", SCHEMA_STRING, SCHEMA_AT(C, cpus), .check = sampler__check_cpus },
	{ "unwind_table_memory", SCHEMA_SIZE, SCHEMA_AT(C, unwind_table_bytes), UNWSTORE_MIN_BUDGET,
	  UNWSTORE_MAX_BUDGET, .def = UNWSTORE_DEFAULT_BUDGET, .flag = "--unwind-table-memory" },
	OFFCPU_ROWS(C, off_cpu),
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
	DESTINATION_LABELS_ROW(C, false),
	GOLABELS_ROWS(C, go),
	{ 0 },
};

static const struct schema_row symbols_rows[] = {
	{ "debug_dirs", SCHEMA_LIST, SCHEMA_AT(C, debug_dirs), .max = CONFIG_MAX_DEBUG_DIRS,
	  .count_offset = offsetof(C, ndebug_dirs), .item = "directories", .items = "directories",
	  .flags = SCHEMA_NONEMPTY, .hint = "expected a directory, got an empty string",
	  .check = schema__check_no_control },
	{ "debuginfod_urls", SCHEMA_URL, SCHEMA_AT(C, debuginfod_urls), .what = "a string or a "
	  "list of URLs", .item = "a URL", .flags = SCHEMA_WORDS | SCHEMA_EMPTY },
	{ "debuginfod_cache", SCHEMA_PATH, SCHEMA_AT(C, debuginfod_cache),
	  .def_str = "/var/cache/ignis/debuginfod" },
	{ "debuginfod_cache_size", SCHEMA_SIZE, SCHEMA_AT(C, debuginfod_cache_bytes), SCHEMA_MiB,
	  SCHEMA_TiB, .def = 2 * SCHEMA_GiB },
	{ "cache_size", SCHEMA_SIZE, SCHEMA_AT(C, symbol_cache_bytes), SCHEMA_MiB, 64 * SCHEMA_GiB,
	  .def = 32 * SCHEMA_MiB },
	{ 0 },
};

static const struct schema_row metrics_rows[] = {
	{ "listen", SCHEMA_CUSTOM, .parse = parse_listen, .dump = dump_listen, .free = free_listen },
	{ 0 },
};

static const struct schema_row root_rows[] = {
	{ "sampling", SCHEMA_MAP, .rows = sampling_rows },
	{ "upload_interval", SCHEMA_DURATION, SCHEMA_AT(C, upload_interval_ms), SCHEMA_SEC,
	  SCHEMA_HOUR, .def = 15 * SCHEMA_SEC, .env = "IGNIS_UPLOAD_INTERVAL",
	  .flag = "--upload-interval" },
	{ "shutdown_timeout", SCHEMA_DURATION, SCHEMA_AT(C, shutdown_timeout_ms), 0,
	  10 * SCHEMA_MIN, .def = 10 * SCHEMA_SEC },
	{ "host", SCHEMA_STRING, SCHEMA_AT(C, host), .max = MAX_HOST, .env = "IGNIS_HOST",
	  .flag = "--host" },
	{ "proc_root", SCHEMA_PATH, SCHEMA_AT(C, proc_root), .def_str = "/proc" },
	{ "sys_root", SCHEMA_PATH, SCHEMA_AT(C, sys_root), .def_str = "/sys" },
	{ "log", SCHEMA_MAP, .rows = log_rows },
	{ "labels", SCHEMA_MAP, .rows = labels_rows },
	{ "symbols", SCHEMA_MAP, .rows = symbols_rows },
	{ "spool_dir", SCHEMA_PATH, SCHEMA_AT(C, spool_dir), .def_str = "/var/lib/ignis/spool" },
	{ "max_series", SCHEMA_UINT, SCHEMA_AT(C, max_series), 1, 1000000, .def = 10000 },
	{ "metrics", SCHEMA_MAP, .rows = metrics_rows },
	{ "kubernetes", SCHEMA_MAP, SCHEMA_AT(C, kubernetes), .rows = kube__config_rows, .flags = SCHEMA_SUB },
	{ "relabel_configs", SCHEMA_LIST, SCHEMA_AT(C, relabel), .max = CONFIG_MAX_RELABEL,
	  .rows = relabel__rows, .elem_size = sizeof(struct relabel_rule),
	  .count_offset = offsetof(C, nrelabel), .item = "rules", .items = "rules",
	  .hint = "expected a mapping (a rule), got %s", .finish = relabel__check_rule,
	  .dump = relabel__dump_rules },
	{ "destinations", SCHEMA_LIST, SCHEMA_AT(C, destinations), .max = CONFIG_MAX_DESTINATIONS,
	  .elem_size = sizeof(D), .count_offset = offsetof(C, ndestinations),
	  .item = "destinations", .items = "destinations",
	  .hint = "expected a mapping (a destination), got %s", .parse = read_dest,
	  .dump = dump_dests, .free = destination__free_list },
	{ 0 },
};

/* ---- the file ------------------------------------------------------------ */

static int read_file(struct loader *l, const char *path, char **buf, size_t *len)
{
	int err = file__read_at(AT_FDCWD, path, MAX_FILE_BYTES, buf, len);

	if (err == -ENOMEM)
		return schema__oom(&l->x);
	if (err)
		snprintf(l->x.err, l->x.errlen, "%s: %s%s", path, err == -EISDIR || err == -EFBIG ?
			 "" : "cannot open: ", err == -EISDIR ? "is a directory" : err == -EFBIG ?
			 "larger than 1048576 bytes; not a configuration file?" : strerror(-err));
	return err ? -(l->x.errnum = EINVAL) : 0;
}

static int yaml_error(struct loader *l, yaml_parser_t *p, const char *buf, size_t len)
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
	yaml_document_t doc, extra;
	yaml_parser_t parser;
	yaml_node_t *root = NULL;
	bool have_doc = false, have_extra = false;
	char *buf = NULL;
	size_t len = 0;
	int err;

	if ((err = read_file(l, path, &buf, &len)))
		return err;
	if (!yaml_parser_initialize(&parser)) {
		free(buf);
		return schema__oom(&l->x);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	/* A second document would be ignored without the second load. */
	if (!(have_doc = yaml_parser_load(&parser, &doc)) ||
	    ((root = yaml_document_get_root_node(&doc)) &&
	     !(have_extra = yaml_parser_load(&parser, &extra)))) {
		err = yaml_error(l, &parser, buf, len);
	} else if (have_extra && yaml_document_get_root_node(&extra)) {
		l->x.line = extra.start_mark.line + 1;
		err = fail(l, NULL, "more than one YAML document (---) in the file");
	} else if (root && root->type != YAML_MAPPING_NODE && !is_null(root)) {
		err = fail(l, root, "expected a mapping of settings at the top, got %s", kind(root));
	} else {
		l->doc = &doc;
		l->root_line = root ? root->start_mark.line + 1 : 1;
		err = root ? walk_rows(l, root, root_rows, l->c) : 0;
		l->doc = NULL;
	}
	if (have_extra)
		yaml_document_delete(&extra);
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(buf);
	return err;
}

/* ---- environment and flags ----------------------------------------------- */

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
	const char *s = pass ? NULL : getenv(r->env);

	for (size_t i = 0; pass && ov && i < ARRAY_SIZE(ov_fields); i++)
		if (!strcmp(ov_fields[i].flag, r->flag))
			s = *(const char *const *)((const char *)ov + ov_fields[i].offset);
	if (!s || (!pass && !*s))   /* an empty variable is not set */
		return 0;
	l->x.source = pass ? r->flag : r->env;
	if (pass && !*s)
		return schema__fail(&l->x, "empty value");
	if (type >= 0 && !(obj = destination__find_or_add(&l->x, &l->c->destinations,
							 &l->c->ndestinations, MAX_DESTS,
							 destination__types[type]->flag_dest, type)))
		return -l->x.errnum;
	return schema__set(&l->x, r, obj, s);
}

static int apply_rows(struct loader *l, const struct schema_row *rows, void *obj, int type,
		      const struct config_overrides *ov, int pass)
{
	int err = 0;

	for (const struct schema_row *r = rows; !err && r->name; r++) {
		if (r->kind == SCHEMA_MAP)
			err = apply_rows(l, r->rows, r->flags & SCHEMA_SUB ? (char *)obj + r->offset : obj,
					 type, ov, pass);
		else if (r->env)
			err = apply_one(l, r, obj, type, ov, pass);
	}
	return err;
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
	return b ? gcd(b, a % b) : a;
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

static int finish(struct loader *l)
{
	C *c = l->c;
	struct destination_inherit in = {
		.upload_interval_ms = c->upload_interval_ms, .spool_dir = c->spool_dir,
		.sample_labels = c->sample_labels, .nsample_labels = c->nsample_labels,
	};

	schema__pop_key(&l->x, 0);
	if (!c->host) {
		const char *node = getenv("NODE_NAME");
		char name[HOST_NAME_MAX + 1] = { 0 };

		if (node && *node) {
			l->x.source = "NODE_NAME";
			if (schema__check_text(&l->x, node, MAX_HOST))
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
		l->x.line = schema__seen(&l->x, "destinations") ?: l->root_line;
		schema__set_key(&l->x, "destinations");
		return schema__fail(&l->x, "at least one destination is required (or give "
					   "--pyroscope-url or --output-dir)");
	}
	/* Settings that depend on others, which flags and variables may have
	 * changed after the destination was read. */
	for (size_t i = 0; i < c->ndestinations; i++) {
		in.labels_set = l->dest[i].labels_set;
		l->x.line = l->dest[i].line;
		schema__set_key(&l->x, "destinations[%zu]", l->dest[i].index);
		if (destination__finish(&l->x, &c->destinations[i], &in))
			return -l->x.errnum;
	}
	if (finish_tick(l) || kube__config_finish(&l->x, &c->kubernetes, c->host))
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
	if (!c->metrics_listen || !c->metrics_host)
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
	if ((path && (!(c->path = strdup(path)) ? schema__oom(&l->x) : load_file(l, path))) ||
	    apply_overrides(l, ov) || finish(l))
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

void config__dump(const struct config *c, FILE *f)
{
	fprintf(f, "# ignis agent: effective configuration (defaults, %s, IGNIS_* variables, "
		   "flags)\n", c->path ? c->path : "no file");
	schema__dump(root_rows, c, f, 0);
}
