/* The `ignis agent` configuration: a YAML file (deploy/ignis.yaml shows
 * every setting with its default), then IGNIS_* environment variables, then
 * command-line flags, in rising order of precedence.
 *
 * The loader is strict because a typo must not silently fall back to a
 * default on a thousand nodes: unknown keys, duplicate keys, wrong types,
 * values out of range and missing required keys are all errors, reported
 * as one line "FILE:LINE: KEY: reason" (KEY like destinations[0].url). The
 * caller prints it and exits 2 before loading anything.
 *
 * Secrets (passwords, bearer tokens) are read from files or environment
 * variables at load, so a missing secret fails at startup rather than at
 * the first upload; they live in the struct for the exporters and are never
 * printed: config__dump() shows where they came from, not what they are. */
#ifndef IGNIS_CONFIG_H
#define IGNIS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/record.h"   /* enum unwind_mode */
#include "identity/kube.h"     /* struct config_kubernetes */
#include "identity/relabel.h"  /* struct relabel_rule */
#include "exporters/destination.h"   /* struct config_destination */
#include "sampling/golabels.h"   /* struct golabels_config */
#include "sampling/offcpu.h"     /* struct offcpu_config */

/* Bounds on lists in the file; past them the file is rejected. */
#define CONFIG_MAX_DESTINATIONS 16
#define CONFIG_MAX_DEBUG_DIRS   64
#define CONFIG_MAX_RELABEL      256

/* Ranges, defaults and units of every field: the rows in config.c. */
enum config_log_level { CONFIG_LOG_DEBUG, CONFIG_LOG_INFO, CONFIG_LOG_WARN, CONFIG_LOG_ERROR };
enum config_log_format { CONFIG_LOG_PLAIN, CONFIG_LOG_JSON };

struct config {
	char *path;                   /* the file loaded; NULL when none */

	unsigned frequency_hz;        /* sampling.* */
	enum unwind_mode unwind;
	uint64_t unwind_table_bytes;
	unsigned stack_size;
	bool include_idle;
	char *cpus;                   /* a checked CPU list "0-3,8"; NULL: all online */

	uint64_t upload_interval_ms;
	uint64_t shutdown_timeout_ms;
	/* Never empty: host, else IGNIS_HOST / --host, else NODE_NAME, else the
	 * hostname. */
	char *host;
	char *proc_root, *sys_root;
	enum config_log_level log_level;
	enum config_log_format log_format;
	char *spool_dir;
	uint32_t max_series;

	/* metrics.listen "HOST:PORT"; NULL when "" or "off". metrics_host is
	 * the host without brackets ("::1"). */
	char *metrics_listen;
	char *metrics_host;
	unsigned metrics_port;

	struct config_kubernetes kubernetes;

	/* relabel_configs, in order; regexes compiled (so valid) at load. */
	struct relabel_rule *relabel;
	size_t nrelabel;

	/* labels.sample_labels: static strings (destination__sample_labels). */
	const char **sample_labels;
	size_t nsample_labels;
	/* labels.go_labels, labels.trace_labels: Go pprof labels kept. */
	struct golabels_config go;

	const char **debug_dirs;      /* symbols.*; owned strings */
	size_t ndebug_dirs;
	/* Space-separated http(s) URLs; NULL: the DEBUGINFOD_URLS environment
	 * variable (as debuginfod_opts.urls); "": off. */
	char *debuginfod_urls;
	char *debuginfod_cache;
	uint64_t debuginfod_cache_bytes;
	uint64_t symbol_cache_bytes;  /* symbols.cache_size */

	struct config_destination *destinations;   /* at least one */
	size_t ndestinations;

	/* The agent's tick: the greatest common divisor of the destinations'
	 * upload intervals, at least 1 s. */
	uint64_t tick_ms;
	struct offcpu_config off_cpu;  /* sampling.off_cpu* */
};

/* Command-line flags, as typed; NULL: not given. They win over the file
 * and the environment. */
struct config_overrides {
	const char *frequency;        /* --frequency */
	const char *upload_interval;  /* --upload-interval */
	const char *log_level;        /* --log-level */
	const char *pyroscope_url;    /* --pyroscope-url: destination "pyroscope"'s (added if needed) */
	const char *output_dir;       /* --output-dir: file destination "files"' (added if needed) */
	const char *host;             /* --host */
	const char *log_format;       /* --log-format */
};

/* Defaults (some from the environment: NODE_NAME, KUBERNETES_SERVICE_*,
 * DD_*), then path (NULL: no file), then the rows' IGNIS_* variables
 * (empty: not set), then ov (may be NULL).
 * On error returns NULL with errno EINVAL (ENOMEM when out of memory) and
 * one line in err: "FILE:LINE: KEY: reason", "IGNIS_X: reason" or
 * "--flag: reason". */
struct config *config__load(const char *path, const struct config_overrides *ov,
			    char *err, size_t errlen);
void config__free(struct config *c);   /* accepts NULL */

/* c (from calloc) with every setting at its default and no destination
 * yet: 0 or -ENOMEM. Free it with config__free. */
int config__init(struct config *c);
/* Sets one scalar setting by its key ("sampling.frequency") from text, with
 * the file's range and units: 0, or -EINVAL with the reason in err (no
 * file or key in it: "'0': expected a whole number from 1 to 10000"). */
int config__set(struct config *c, const char *key, const char *text, char *err, size_t errlen);

/* The effective configuration as YAML that config__load accepts, secrets
 * shown as <redacted> (for `ignis agent --print-config`). */
void config__dump(const struct config *c, FILE *f);

#endif
