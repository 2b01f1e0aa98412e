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
#include "identity/relabel.h"  /* struct relabel_rule */
#include "exporters/destination.h"   /* struct config_destination */

/* Bounds on lists in the file; past them the file is rejected. */
#define CONFIG_MAX_DESTINATIONS 16
#define CONFIG_MAX_DEBUG_DIRS   64
#define CONFIG_MAX_CPUS         8192   /* highest CPU number + 1 in sampling.cpus */
#define CONFIG_MAX_RELABEL      256

/* log.level. log.h has no error level yet: the agent maps
 * CONFIG_LOG_ERROR to the quietest one it has. */
enum config_log_level { CONFIG_LOG_DEBUG, CONFIG_LOG_INFO, CONFIG_LOG_WARN, CONFIG_LOG_ERROR };

enum config_log_format { CONFIG_LOG_PLAIN, CONFIG_LOG_JSON };

/* kubernetes.enabled as written; config.kubernetes.enabled is the outcome. */
enum config_k8s_mode { CONFIG_K8S_AUTO, CONFIG_K8S_ON, CONFIG_K8S_OFF };

struct config {
	char *path;                   /* the file loaded; NULL when none */

	/* sampling */
	unsigned frequency_hz;        /* 1..10000; default 100 */
	enum unwind_mode unwind;      /* default UNWIND_KERNEL */
	uint64_t unwind_table_bytes;  /* unwind_table_memory, 1 MiB..4 GiB; default 32 MiB */
	unsigned stack_size;          /* 512..65536, multiple of 8; default 16384 */
	bool include_idle;            /* default false */
	char *cpus;                   /* a checked CPU list "0-3,8"; NULL: all online */

	uint64_t upload_interval_ms;  /* 1 s..1 h; default 15 s */
	uint64_t shutdown_timeout_ms; /* 0..10 min; default 10 s */
	/* Never empty: host, else IGNIS_HOST / --host, else NODE_NAME, else the
	 * hostname. */
	char *host;
	char *proc_root;              /* default "/proc" */
	char *sys_root;               /* default "/sys" */

	enum config_log_level log_level;   /* default CONFIG_LOG_INFO */
	enum config_log_format log_format; /* log.format; default CONFIG_LOG_PLAIN */

	char *spool_dir;              /* default "/var/lib/ignis/spool" */
	uint32_t max_series;          /* 1..1000000; default 10000 */

	/* metrics.listen "HOST:PORT" (default "127.0.0.1:9464"); NULL when
	 * "" or "off". metrics_host is the host without brackets ("::1"). */
	char *metrics_listen;
	char *metrics_host;
	unsigned metrics_port;

	struct config_kubernetes {
		enum config_k8s_mode mode;    /* default CONFIG_K8S_AUTO */
		/* The outcome: mode on, or auto with KUBERNETES_SERVICE_HOST set. */
		bool enabled;
		/* Default: NODE_NAME, else config.host. */
		char *node_name;
		/* Default: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
		 * (port default 443) when that is set, else NULL (no API server). */
		char *api_url;
		/* Defaults: the in-cluster service account's files. */
		char *token_file;
		char *ca_file;
		char *kubelet_url;            /* NULL: the kubelet is not asked */
		bool insecure_skip_verify;    /* default false */
		uint64_t resync_ms;           /* 10 s..24 h; default 5 min */
		uint32_t max_pods;            /* 1..100000; default 1000 */
	} kubernetes;

	/* relabel_configs, in order; owned by the config. Regexes compiled
	 * (and so valid) at load. */
	struct relabel_rule *relabel;
	size_t nrelabel;

	/* labels.sample_labels: static strings among "pid", "comm",
	 * "thread_name", no duplicates; default none. */
	const char **sample_labels;
	size_t nsample_labels;

	/* symbols */
	const char **debug_dirs;      /* owned strings; default none */
	size_t ndebug_dirs;
	/* Space-separated http(s) URLs; NULL: the DEBUGINFOD_URLS environment
	 * variable (debuginfod_opts.urls has the same meaning); "": off. */
	char *debuginfod_urls;
	char *debuginfod_cache;       /* default "/var/cache/ignis/debuginfod" */
	uint64_t debuginfod_cache_bytes;   /* default 2 GiB */
	uint64_t symbol_cache_bytes;  /* symbols.cache_size; default 256 MiB */

	struct config_destination *destinations;   /* at least one */
	size_t ndestinations;

	/* The agent's tick: the greatest common divisor of the destinations'
	 * upload intervals, at least 1 s. */
	uint64_t tick_ms;

	/* sampling.off_cpu*: off-CPU time (bpf/offcpu.bpf.h) */
	bool off_cpu;                 /* default false */
	unsigned off_cpu_min_block_us;   /* 0..10 s; default CONFIG_OFFCPU_MIN_BLOCK_US */
	uint32_t off_cpu_probability_ppm;  /* (0, 1]; default 1 */
};

#define CONFIG_OFFCPU_MIN_BLOCK_US 1000

/* Command-line flags, as typed; NULL: not given. They win over the file
 * and the environment. */
struct config_overrides {
	const char *frequency;        /* --frequency */
	const char *upload_interval;  /* --upload-interval */
	const char *log_level;        /* --log-level */
	const char *pyroscope_url;    /* --pyroscope-url: sets the URL of the pyroscope
				       * destination named "pyroscope", adding it if needed */
	const char *output_dir;       /* --output-dir: sets the directory of the file
				       * destination named "files", adding it if needed */
	const char *host;             /* --host */
	const char *log_format;       /* --log-format */
};

/* Defaults, then path (NULL: no file), then IGNIS_FREQUENCY,
 * IGNIS_UPLOAD_INTERVAL, IGNIS_LOG_LEVEL, IGNIS_PYROSCOPE_URL,
 * IGNIS_OUTPUT_DIR, IGNIS_HOST and IGNIS_LOG_FORMAT (empty: not set), then
 * ov (may be NULL). Defaults also read NODE_NAME, KUBERNETES_SERVICE_HOST/
 * PORT, DD_TRACE_AGENT_URL, DD_AGENT_HOST, DD_TRACE_AGENT_PORT, DD_SITE and
 * DD_API_KEY.
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

/* "debug", "info", "warn" or "error". */
const char *config__log_level_name(enum config_log_level l);
/* "pyroscope", "file" or "datadog": also the dest_type of tagmap__defaults. */
const char *config__dest_type_name(enum config_dest_type t);

#endif
