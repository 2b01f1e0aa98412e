/* Prometheus-style relabeling of a workload's labels, decided once per
 * process: the rules see discovery labels ("__meta_kubernetes_namespace",
 * "__meta_kubernetes_pod_label_<name>", "__meta_process_<name>", ...) next
 * to the neutral ones ("service_name", "namespace", ...), may rename, copy,
 * drop and filter them, and "keep"/"drop" decide whether the process is
 * profiled at all. Labels starting with "__" never leave the agent.
 *
 * Regexes are PCRE2 (close to Prometheus' RE2 for the usual patterns),
 * anchored at both ends like Prometheus'. */
#ifndef IGNIS_RELABEL_H
#define IGNIS_RELABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/schema.h"

enum relabel_action {
	RELABEL_REPLACE,    /* default */
	RELABEL_KEEP,
	RELABEL_DROP,
	RELABEL_LABELMAP,
	RELABEL_LABELDROP,
	RELABEL_LABELKEEP,
};

/* One rule as the config file writes it (strings owned by the config). */
struct relabel_rule {
	const char **source_labels;   /* may be empty */
	size_t nsource_labels;
	const char *separator;        /* NULL: ";" */
	const char *regex;            /* NULL: "(.*)" */
	const char *target_label;     /* required for replace */
	const char *replacement;      /* NULL: "$1" */
	enum relabel_action action;
};

/* ---- label sets ----------------------------------------------------------
 * What the rules work on: keys unique, kept sorted by key (byte order), an
 * empty value is no label (as in Prometheus). Bounded, since pod labels
 * and annotations come from outside: LABEL_SET_MAX labels and
 * LABEL_SET_MAX_BYTES of keys and values. */
#define LABEL_SET_MAX 4096
#define LABEL_SET_MAX_BYTES (1024 * 1024)

struct label_set;

struct label_set *label_set__new(void);
void label_set__free(struct label_set *s);
/* Sets key to a copy of value; NULL or "" deletes key. 0, -EINVAL (key
 * NULL or empty), -E2BIG (past a bound; the set is unchanged), -ENOMEM. */
int label_set__set(struct label_set *s, const char *key, const char *value);
/* The value of key, NULL when absent (valid until the key changes). */
const char *label_set__get(const struct label_set *s, const char *key);
/* 0, or -ENOENT when absent. */
int label_set__del(struct label_set *s, const char *key);
/* Deletes every label whose key starts with prefix ("__"). */
void label_set__del_prefix(struct label_set *s, const char *prefix);
size_t label_set__count(const struct label_set *s);
/* The i-th label in key order (i < count). */
const char *label_set__key(const struct label_set *s, size_t i);
const char *label_set__value(const struct label_set *s, size_t i);

/* ---- rules ---------------------------------------------------------------
 * Prometheus semantics, action by action:
 *   replace    source values joined by separator; when regex matches, the
 *              target_label (which may use $1, ${1}, $name) is set to the
 *              expanded replacement, or deleted when that is empty; an
 *              expanded target that is not a label name is skipped.
 *   keep/drop  the process is (not) profiled when the joined value (does
 *              not) match; later rules do not run once it is dropped.
 *   labelmap   every label whose name matches gets a copy named by the
 *              expanded replacement (invalid names skipped).
 *   labeldrop/labelkeep  delete labels whose name does (not) match; like
 *              Prometheus these see every name, "__" ones included.
 * Expansion follows Go's Regexp.Expand: "$$" is "$", a name is the
 * longest run of [A-Za-z0-9_] ("$1x" is group "1x", which is empty; write
 * "${1}x"), unknown or unset groups expand to "", a malformed "$" is
 * kept as is. */
struct relabel;

/* Compiles the rules (copied: the caller's may go). NULL with errno
 * EINVAL and err set to "relabel_configs[I].FIELD: reason" for a bad
 * rule, ENOMEM. */
struct relabel *relabel__new(const struct relabel_rule *rules, size_t n, char *err,
			     size_t errlen);
void relabel__free(struct relabel *r);
/* Whether re compiles as the rules compile it: 0, or -EINVAL with err
 * set to e.g. "missing closing parenthesis at offset 5". */
int relabel__check_regex(const char *re, char *err, size_t errlen);
/* Runs the rules over labels in order. 0 with *keep false when a keep or
 * drop rule excluded the process (labels then as they were at that rule);
 * -E2BIG/-ENOMEM when the set could not grow (*keep true, labels
 * partly relabeled). r NULL: no rules, *keep true. */
int relabel__apply(const struct relabel *r, struct label_set *labels, bool *keep);

/* relabel_configs in the config file: the rows of one rule, the check
 * across its keys (what each action reads) and the dump of the list at
 * row's offset and count_offset. */
extern const struct schema_row relabel__rows[];
int relabel__check_rule(struct schema_ctx *x, void *elem);
void relabel__dump_rules(FILE *f, const struct schema_row *row, const void *obj, int indent);

#endif
