/* Per-destination tag schemas: rules that turn the agent's neutral series
 * labels (service_name, env, version, host, namespace, pod, container,
 * container_id, node, workload, workload_kind, systemd_unit, runtime) into
 * what one destination expects, e.g. Pyroscope's service_name/namespace/pod
 * or Datadog's service/kube_namespace/pod_name.
 *
 * Rules run in order over one series' label set; each sees what the rules
 * before it made. A destination's built-in rules (tagmap__defaults) run
 * before the user's, so a user rule can undo or refine a default. */
#ifndef IGNIS_TAGMAP_H
#define IGNIS_TAGMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/schema.h"
#include "exporters/profile.h"   /* struct profile_label */

#define TAGMAP_MAX_TARGETS 8     /* split: 2..8 targets */
#define TAGMAP_MAX_RULES   64    /* user rules per destination */

enum tag_rule_kind {
	TAG_RENAME,     /* from -> to: the value moves; an existing "to" is replaced */
	TAG_DROP,       /* key */
	TAG_SET,        /* key = value (replaces) */
	TAG_SPLIT,      /* source split at separator into targets (see below) */
	/* Built-in only (the config cannot write it): "from" (the workload
	 * name) becomes the tag that the value of "key" (the workload kind)
	 * names in Datadog's schema (kube_deployment, kube_stateful_set, ...),
	 * and "key" is dropped. A rename cannot pick its target from a value. */
	TAG_DATADOG_WORKLOAD,
};

/* One rule. Only the fields of its kind are read:
 *   TAG_RENAME  from, to          TAG_DROP   key
 *   TAG_SET     key, value        TAG_SPLIT  source, separator, targets
 *   TAG_DATADOG_WORKLOAD  from, key
 * TAG_SPLIT: "prod-us" split at "-" into [env, region] gives env=prod,
 * region=us; the last target takes the rest ("prod-us-east" -> region=
 * us-east); a value with fewer parts sets only the first targets; a value
 * without the separator changes nothing. The source stays unless it is
 * one of the targets. */
struct tag_rule {
	enum tag_rule_kind kind;
	const char *from, *to, *key, *value, *source, *separator;
	const char **targets;
	size_t ntargets;
};

/* Frees the strings and targets of a rule whose fields were all allocated
 * (as tagmap__new's copies and config's parsed rules are), not r itself. */
void tag_rule__free_fields(struct tag_rule *r);

/* Whether a Kubernetes owner kind is want (lower case, no separators),
 * ignoring case, '_' and '-': "StatefulSet" and "stateful_set" are both
 * "statefulset". */
bool tagmap__kind_is(const char *kind, const char *want);

struct tagmap;

/* The built-in rules for a destination type ("pyroscope", "datadog",
 * "file"); *n = 0 and a non-NULL empty list for an unknown type. Static. */
const struct tag_rule *tagmap__defaults(const char *dest_type, size_t *n);

/* defaults first, then rules; both copied (NULL/0 for none). NULL with
 * errno EINVAL for a rule missing a field of its kind or a split with
 * other than 2..TAGMAP_MAX_TARGETS targets, ENOMEM. */
struct tagmap *tagmap__new(const struct tag_rule *defaults, size_t ndefaults,
			   const struct tag_rule *rules, size_t nrules);
void tagmap__free(struct tagmap *m);   /* accepts NULL */

/* One series' labels after the rules. labels is sorted by key without
 * duplicates (a later rule wins) and without empty string values. Keys
 * and values point into the input labels, into the map's rules, or into
 * arena (split parts); keep the input alive while using the result. */
struct tagmap_result {
	struct profile_label *labels;
	size_t nlabels;
	char *arena;
};

/* in: nin labels (string labels; numeric ones pass through the rules
 * untouched except rename/drop/set by key). Returns 0 or -ENOMEM/-EINVAL;
 * on error *out is empty. Free with tagmap__result_free. */
int tagmap__apply(const struct tagmap *m, const struct profile_label *in, size_t nin,
		  struct tagmap_result *out);
void tagmap__result_free(struct tagmap_result *r);

/* tag_rules in the config file: the rows of a rule (one variant each,
 * kind at variant_offset) and the dump of the list at row's offset and
 * count_offset. */
extern const struct schema_row tagmap__rule_rows[];
void tagmap__dump_rules(FILE *f, const struct schema_row *row, const void *obj, int indent);

#endif
