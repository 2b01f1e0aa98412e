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

#endif
