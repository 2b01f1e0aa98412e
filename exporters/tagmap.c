/* Tag mapping: the rules run over a small flat array (a series has a dozen
 * labels, so a linear search beats any index), with one allocation for the
 * result and one for split parts, sized up front from the rules. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/schema.h"
#include "exporters/tagmap.h"

#define MAX_TAG_NAME 200u

struct tagmap {
	struct tag_rule *rules;
	size_t nrules;
	size_t max_added;   /* labels the rules can add beyond the input */
	size_t nsplit;
	size_t max_set;     /* longest value a set rule writes */
};

/* ---- built-in rules ------------------------------------------------------ */

/* Pyroscope: the neutral names are already Pyroscope's (Grafana Alloy's
 * pyroscope.ebpf examples relabel Kubernetes discovery to service_name,
 * namespace, pod, container and node). Every distinct label set is its own
 * series there (WIRE.md), so the per-container id and the container
 * runtime, which add series without adding a way to look at them, go. */
static const struct tag_rule pyroscope_rules[] = {
	{ .kind = TAG_DROP, .key = "container_id" },
	{ .kind = TAG_DROP, .key = "runtime" },
};

/* Datadog: unified service tagging (service, env, version) and the names
 * the Datadog Agent's tagger gives Kubernetes metadata (docs "Kubernetes
 * Tag Extraction"; datadog-agent comp/core/tagger/tags/tags.go): pod_name,
 * kube_namespace, kube_container_name, and the owner as kube_deployment,
 * kube_stateful_set, ... container_id is kept (a Datadog tag too). The
 * tagger has no node tag for a pod's data: the host tag carries the node
 * (ignis's host is the node name in Kubernetes), so node goes. runtime
 * goes because the Datadog exporter sets runtime:ebpf itself (WIRE.md:
 * what the vendor's eBPF profiler sends); the container runtime there
 * would clash with it. */
static const struct tag_rule datadog_rules[] = {
	{ .kind = TAG_RENAME, .from = "service_name", .to = "service" },
	{ .kind = TAG_RENAME, .from = "namespace", .to = "kube_namespace" },
	{ .kind = TAG_RENAME, .from = "pod", .to = "pod_name" },
	{ .kind = TAG_RENAME, .from = "container", .to = "kube_container_name" },
	{ .kind = TAG_DATADOG_WORKLOAD, .from = "workload", .key = "workload_kind" },
	{ .kind = TAG_DROP, .key = "node" },
	{ .kind = TAG_DROP, .key = "runtime" },
};

/* OTLP: the OpenTelemetry semantic conventions' resource attributes
 * (service.*, deployment.environment.name, host.name, k8s.*, container.*).
 * workload and workload_kind stay: the exporter makes k8s.<kind>.name of
 * them (exporters/otlp.c), which a rename cannot. */
static const struct tag_rule otlp_rules[] = {
	{ .kind = TAG_RENAME, .from = "service_name", .to = "service.name" },
	{ .kind = TAG_RENAME, .from = "env", .to = "deployment.environment.name" },
	{ .kind = TAG_RENAME, .from = "version", .to = "service.version" },
	{ .kind = TAG_RENAME, .from = "host", .to = "host.name" },
	{ .kind = TAG_RENAME, .from = "namespace", .to = "k8s.namespace.name" },
	{ .kind = TAG_RENAME, .from = "pod", .to = "k8s.pod.name" },
	{ .kind = TAG_RENAME, .from = "container", .to = "k8s.container.name" },
	{ .kind = TAG_RENAME, .from = "node", .to = "k8s.node.name" },
	{ .kind = TAG_RENAME, .from = "container_id", .to = "container.id" },
	{ .kind = TAG_RENAME, .from = "runtime", .to = "container.runtime.name" },
};

const struct tag_rule *tagmap__defaults(const char *dest_type, size_t *n)
{
	static const struct tag_rule none[1];

	if (dest_type && !strcmp(dest_type, "pyroscope")) {
		*n = ARRAY_SIZE(pyroscope_rules);
		return pyroscope_rules;
	}
	if (dest_type && !strcmp(dest_type, "datadog")) {
		*n = ARRAY_SIZE(datadog_rules);
		return datadog_rules;
	}
	if (dest_type && !strcmp(dest_type, "otlp")) {
		*n = ARRAY_SIZE(otlp_rules);
		return otlp_rules;
	}
	*n = 0;   /* file: the neutral labels as they are */
	return none;
}

/* The Datadog tag for an owner workload of a given kind (tags.go above).
 * Kinds compare ignoring case, '_' and '-', so "StatefulSet" and
 * "stateful_set" agree. Another kind: the tagger's generic owner tag. */
static const char *datadog_workload_tag(const char *kind)
{
	static const struct { const char *kind, *tag; } kinds[] = {
		{ "deployment", "kube_deployment" },
		{ "statefulset", "kube_stateful_set" },
		{ "daemonset", "kube_daemon_set" },
		{ "cronjob", "kube_cronjob" },
		{ "job", "kube_job" },
		{ "replicaset", "kube_replica_set" },
		{ "replicationcontroller", "kube_replication_controller" },
		{ "rollout", "kube_argo_rollout" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (tagmap__kind_is(kind, kinds[i].kind))
			return kinds[i].tag;
	return "kube_ownerref_name";
}

bool tagmap__kind_is(const char *kind, const char *want)
{
	for (;; kind++) {
		if (*kind == '_' || *kind == '-')
			continue;
		if (!*kind || !*want)
			return !*kind && !*want;
		if (tolower((unsigned char)*kind) != *want++)
			return false;
	}
}

/* ---- construction -------------------------------------------------------- */

void tag_rule__free_fields(struct tag_rule *r)
{
	free((char *)r->from);
	free((char *)r->to);
	free((char *)r->key);
	free((char *)r->value);
	free((char *)r->source);
	free((char *)r->separator);
	for (size_t i = 0; r->targets && i < r->ntargets; i++)
		free((char *)r->targets[i]);
	free(r->targets);
}

void tagmap__free(struct tagmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nrules; i++)
		tag_rule__free_fields(&m->rules[i]);
	free(m->rules);
	free(m);
}

static bool copy_str(const char *s, const char **out)
{
	if (!s)
		return true;
	*out = strdup(s);
	return *out != NULL;
}

/* 0, -EINVAL (a field of its kind missing or empty) or -ENOMEM. */
static int rule_copy(const struct tag_rule *r, struct tag_rule *out)
{
	bool ok = true;

	memset(out, 0, sizeof(*out));
	out->kind = r->kind;
	switch (r->kind) {
	case TAG_RENAME:
		if (!r->from || !*r->from || !r->to || !*r->to)
			return -EINVAL;
		ok = copy_str(r->from, &out->from) && copy_str(r->to, &out->to);
		break;
	case TAG_DROP:
		if (!r->key || !*r->key)
			return -EINVAL;
		ok = copy_str(r->key, &out->key);
		break;
	case TAG_SET:
		if (!r->key || !*r->key || !r->value)
			return -EINVAL;
		ok = copy_str(r->key, &out->key) && copy_str(r->value, &out->value);
		break;
	case TAG_SPLIT:
		if (!r->source || !*r->source || !r->separator || !*r->separator ||
		    r->ntargets < 2 || r->ntargets > TAGMAP_MAX_TARGETS || !r->targets)
			return -EINVAL;
		for (size_t i = 0; i < r->ntargets; i++)
			if (!r->targets[i] || !*r->targets[i])
				return -EINVAL;
		ok = copy_str(r->source, &out->source) && copy_str(r->separator, &out->separator);
		out->targets = calloc(r->ntargets, sizeof(*out->targets));
		if (!ok || !out->targets)
			return -ENOMEM;
		for (size_t i = 0; i < r->ntargets; i++, out->ntargets++)
			if (!copy_str(r->targets[i], &out->targets[i]))
				return -ENOMEM;
		break;
	case TAG_DATADOG_WORKLOAD:
		if (!r->from || !*r->from || !r->key || !*r->key)
			return -EINVAL;
		ok = copy_str(r->from, &out->from) && copy_str(r->key, &out->key);
		break;
	default:
		return -EINVAL;
	}
	return ok ? 0 : -ENOMEM;
}

struct tagmap *tagmap__new(const struct tag_rule *defaults, size_t ndefaults,
			   const struct tag_rule *rules, size_t nrules)
{
	struct tagmap *m = calloc(1, sizeof(*m));
	size_t total = ndefaults + nrules;
	int err = 0;

	if (!m)
		return NULL;
	m->rules = calloc(total ? total : 1, sizeof(*m->rules));
	if (!m->rules) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < total; i++) {
		const struct tag_rule *r = i < ndefaults ? &defaults[i] : &rules[i - ndefaults];

		err = rule_copy(r, &m->rules[i]);
		m->nrules++;   /* a half-copied rule is freed too */
		if (err)
			goto cleanup;
		if (r->kind == TAG_SET) {
			size_t len = strlen(r->value);

			m->max_added++;
			if (len > m->max_set)
				m->max_set = len;
		} else if (r->kind == TAG_SPLIT) {
			m->max_added += r->ntargets;
			m->nsplit++;
		}
	}
	return m;
cleanup:
	tagmap__free(m);
	errno = -err;
	return NULL;
}

/* ---- applying ------------------------------------------------------------ */

struct work {
	struct profile_label *l;
	size_t n, cap;
	char *arena;
	size_t arena_used, arena_cap;
};

static long find(const struct work *w, const char *key)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->l[i].key, key))
			return (long)i;
	return -1;
}

static void remove_at(struct work *w, long i)
{
	if (i < 0)
		return;
	memmove(&w->l[i], &w->l[i + 1], (w->n - (size_t)i - 1) * sizeof(*w->l));
	w->n--;
}

/* Sets key to a string value, replacing what is there. The capacity was
 * sized from the rules, so there is always room. */
static void put(struct work *w, const char *key, const char *value)
{
	long i = find(w, key);

	if (i < 0) {
		if (w->n == w->cap)   /* cannot happen: max_added counts every add */
			return;
		i = (long)w->n++;
		w->l[i].key = key;
	}
	w->l[i].str = value;
	w->l[i].num = 0;
}

static void rename_label(struct work *w, const char *from, const char *to)
{
	long i = find(w, from), j;

	if (i < 0 || !strcmp(from, to))
		return;
	j = find(w, to);
	w->l[i].key = to;
	remove_at(w, j);
}

static int split(struct work *w, const struct tag_rule *r, size_t maxlen, size_t nsplit)
{
	long i = find(w, r->source);
	size_t seplen = strlen(r->separator), len;
	const char *v;
	char *copy, *p;

	if (i < 0 || !w->l[i].str || !strstr(w->l[i].str, r->separator))
		return 0;
	v = w->l[i].str;
	len = strlen(v);
	if (!w->arena) {
		/* Each split copies one value no longer than the longest input or
		 * set value (parts of earlier splits are shorter still). */
		w->arena_cap = nsplit * (maxlen + 1);
		w->arena = malloc(w->arena_cap);
		if (!w->arena)
			return -ENOMEM;
	}
	if (w->arena_used + len + 1 > w->arena_cap)   /* cannot happen (see above) */
		return -EINVAL;
	copy = w->arena + w->arena_used;
	memcpy(copy, v, len + 1);
	w->arena_used += len + 1;
	p = copy;
	for (size_t t = 0; t < r->ntargets && p; t++) {
		char *sep = t + 1 < r->ntargets ? strstr(p, r->separator) : NULL;

		if (sep)
			*sep = '\0';
		put(w, r->targets[t], p);
		p = sep ? sep + seplen : NULL;
	}
	return 0;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct profile_label *)a)->key, ((const struct profile_label *)b)->key);
}

int tagmap__apply(const struct tagmap *m, const struct profile_label *in, size_t nin,
		  struct tagmap_result *out)
{
	struct work w = { 0 };
	size_t maxlen = m->max_set;
	int err = 0;

	memset(out, 0, sizeof(*out));
	w.cap = nin + m->max_added;
	w.l = malloc((w.cap ? w.cap : 1) * sizeof(*w.l));
	if (!w.l)
		return -ENOMEM;
	for (size_t i = 0; i < nin; i++) {
		long j;

		if (!in[i].key)
			continue;
		if (in[i].str && strlen(in[i].str) > maxlen)
			maxlen = strlen(in[i].str);
		/* A duplicate key in the input: the later one wins. */
		j = find(&w, in[i].key);
		if (j >= 0)
			w.l[j] = in[i];
		else
			w.l[w.n++] = in[i];
	}
	for (size_t k = 0; k < m->nrules && !err; k++) {
		const struct tag_rule *r = &m->rules[k];
		long i;

		switch (r->kind) {
		case TAG_RENAME:
			rename_label(&w, r->from, r->to);
			break;
		case TAG_DROP:
			remove_at(&w, find(&w, r->key));
			break;
		case TAG_SET:
			put(&w, r->key, r->value);
			break;
		case TAG_SPLIT:
			err = split(&w, r, maxlen, m->nsplit);
			break;
		case TAG_DATADOG_WORKLOAD:
			i = find(&w, r->key);
			/* Without a kind the name could be anything (a systemd
			 * unit, a compose project): left to the user's rules. */
			if (i >= 0 && w.l[i].str && *w.l[i].str) {
				const char *tag = datadog_workload_tag(w.l[i].str);

				remove_at(&w, i);
				rename_label(&w, r->from, tag);
			}
			break;
		}
	}
	if (err) {
		free(w.l);
		free(w.arena);
		return err;
	}
	for (size_t i = 0; i < w.n;) {
		if (w.l[i].str && !*w.l[i].str)
			remove_at(&w, (long)i);
		else
			i++;
	}
	qsort(w.l, w.n, sizeof(*w.l), by_key);
	out->labels = w.l;
	out->nlabels = w.n;
	out->arena = w.arena;
	return 0;
}

void tagmap__result_free(struct tagmap_result *r)
{
	if (!r)
		return;
	free(r->labels);
	free(r->arena);
	memset(r, 0, sizeof(*r));
}

/* ---- tag_rules in the config file ----------------------------------------- */

/* A label name in tag_rules: it must survive both schemas (Pyroscope's
 * [A-Za-z0-9_.] and Datadog's tag keys, where ':' would split key from
 * value), so the common ground plus '-' and '/'. "__" names are the
 * agent's discovery labels, which never leave it. */
static int tag_label(struct schema_ctx *x, const char *s)
{
	size_t n = strlen(s);

	if (n && n <= MAX_TAG_NAME && !(*s >= '0' && *s <= '9') && !strchr(".-/", *s) &&
	    strncmp(s, "__", 2) &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/") == n)
		return 0;
	return schema__fail(x, "'%s': expected a label name (a letter or _, then letters, digits, "
			       "_ . - /; at most %u bytes; not starting with __)", SCHEMA_Q(s), MAX_TAG_NAME);
}

static int tag_value(struct schema_ctx *x, const char *s)
{
	return schema__check_text(x, s, 2048);   /* Pyroscope's label value limit (WIRE.md) */
}

static int tag_separator(struct schema_ctx *x, const char *s)
{
	if (strlen(s) <= 16 && !schema__has_control(s, false))
		return 0;
	return schema__fail(x, "'%s': expected 1 to %u printable characters", SCHEMA_Q(s), 16);
}

#define T struct tag_rule
#define LABEL(f) \
	{ #f, SCHEMA_STRING, SCHEMA_AT(T, f), .flags = SCHEMA_REQUIRED, .check = tag_label }
static const struct schema_row rename_rows[] = { LABEL(from), LABEL(to), { 0 } };
static const struct schema_row set_rows[] = {
	LABEL(key),
	{ "value", SCHEMA_STRING, SCHEMA_AT(T, value), .flags = SCHEMA_REQUIRED, .check = tag_value },
	{ 0 },
};
static const struct schema_row split_rows[] = {
	LABEL(source),
	{ "separator", SCHEMA_STRING, SCHEMA_AT(T, separator), .flags = SCHEMA_REQUIRED,
	  .check = tag_separator },
	{ "targets", SCHEMA_LIST, SCHEMA_AT(T, targets), 2, TAGMAP_MAX_TARGETS,
	  .count_offset = offsetof(T, ntargets), .item = "label names", .items = "labels",
	  .what = "a label name", .flags = SCHEMA_REQUIRED | SCHEMA_UNIQUE, .check = tag_label },
	{ 0 },
};
#define VARIANT .flags = SCHEMA_ONE_KEY, .variant_offset = offsetof(T, kind), .variant
const struct schema_row tagmap__rule_rows[] = {
	{ "rename", SCHEMA_MAP, .rows = rename_rows, VARIANT = TAG_RENAME },
	{ "drop", SCHEMA_STRING, SCHEMA_AT(T, key), .check = tag_label, .what = "a label name",
	  .hint = "expected a label name", .flags = SCHEMA_ONE_KEY | SCHEMA_EMPTY,
	  .variant_offset = offsetof(T, kind), .variant = TAG_DROP },
	{ "set", SCHEMA_MAP, .rows = set_rows, VARIANT = TAG_SET },
	{ "split", SCHEMA_MAP, .rows = split_rows, VARIANT = TAG_SPLIT },
	{ 0 },
};

void tagmap__dump_rules(FILE *f, const struct schema_row *row, const void *obj, int indent)
{
	const T *rules = *(T *const *)((const char *)obj + row->offset);
	size_t n = *(const size_t *)((const char *)obj + row->count_offset);

	fprintf(f, "%*s%s:%s\n", indent, "", row->name, n ? "" : " []");
	for (size_t i = 0; i < n; i++) {
		const T *r = &rules[i];
		const struct schema_row *v = &tagmap__rule_rows[r->kind];

		fprintf(f, "%*s- %s: ", indent + 2, "", v->name);
		if (v->kind != SCHEMA_MAP) {
			schema__put_str(f, r->key);
			fputc('\n', f);
			continue;
		}
		fputc('{', f);
		for (const struct schema_row *k = v->rows; k->name; k++) {
			const void *p = (const char *)r + k->offset;

			fprintf(f, "%s%s: ", k == v->rows ? "" : ", ", k->name);
			if (k->kind == SCHEMA_LIST)
				schema__put_qlist(f, r->targets, r->ntargets);
			else
				schema__put_str(f, *(const char *const *)p);
		}
		fputs("}\n", f);
	}
}
