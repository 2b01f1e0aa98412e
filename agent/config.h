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

/* Bounds on lists in the file; past them the file is rejected. */
#define CONFIG_MAX_DESTINATIONS 16
#define CONFIG_MAX_HEADERS      64
#define CONFIG_MAX_DEBUG_DIRS   64
#define CONFIG_MAX_CPUS         8192   /* highest CPU number + 1 in sampling.cpus */

/* log.level. log.h has no error level yet: the agent maps
 * CONFIG_LOG_ERROR to the quietest one it has. */
enum config_log_level { CONFIG_LOG_DEBUG, CONFIG_LOG_INFO, CONFIG_LOG_WARN, CONFIG_LOG_ERROR };

enum config_dest_type { CONFIG_DEST_PYROSCOPE, CONFIG_DEST_FILE };

/* destinations[].api; same order as enum pyroscope_api
 * (PYROSCOPE_PUSH_V1, PYROSCOPE_INGEST). */
enum config_pyroscope_api { CONFIG_API_PUSH, CONFIG_API_INGEST };

/* One destinations[].headers entry; same shape as struct http_header. */
struct config_header {
	char *name;    /* an HTTP token; unique (case-insensitive) per destination */
	char *value;   /* ${VAR} references expanded; no CR, LF or NUL */
	/* As written in the file; what config__dump shows when it had ${VAR}
	 * references (the expansion may be a secret). */
	char *raw;
};

struct config_destination {
	/* [a-z0-9_-]{1,64}, unique; default: the type's name. */
	char *name;
	enum config_dest_type type;

	/* ---- type pyroscope (left zero/NULL for a file destination) ---- */
	/* http:// or https://host[:port][/path], no credentials, query or
	 * fragment; trailing slashes removed so a path can be appended. */
	char *url;
	enum config_pyroscope_api api;          /* default CONFIG_API_PUSH */
	char *tenant_id;                        /* X-Scope-OrgID; NULL: none */
	/* Basic auth: both set or both NULL. The password is a secret. */
	char *basic_user;
	char *basic_password;
	char *bearer_token;                     /* secret; NULL: none */
	/* Where the secrets came from (one of each pair, or NULL): shown by
	 * config__dump instead of the secrets. */
	char *password_file, *password_env;
	char *bearer_token_file, *bearer_token_env;
	struct config_header *headers;          /* extra headers */
	size_t nheaders;
	char *ca_file;                          /* tls.ca_file; NULL: the system's CAs */
	bool insecure_skip_verify;              /* tls.insecure_skip_verify */
	unsigned timeout_ms;                    /* per request; default 10000 */
	uint64_t queue_bytes;                   /* queue_size; default 64 MiB */

	/* ---- both types ---- */
	/* Per-sample labels kept ("pid", "comm", "thread_name"): this
	 * destination's own list, else labels.sample_labels. The strings are
	 * static; the array belongs to the config. */
	const char **sample_labels;
	size_t nsample_labels;

	/* ---- type file (NULL/0 for a pyroscope destination) ---- */
	char *directory;                        /* required */
	uint64_t max_bytes;                     /* max_size; default 1 GiB */
};

struct config {
	char *path;                   /* the file loaded; NULL when none */

	/* sampling */
	unsigned frequency_hz;        /* 1..10000; default 100 */
	enum unwind_mode unwind;      /* default UNWIND_AUTO */
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
};

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
};

/* Defaults, then path (NULL: no file), then IGNIS_FREQUENCY,
 * IGNIS_UPLOAD_INTERVAL, IGNIS_LOG_LEVEL, IGNIS_PYROSCOPE_URL,
 * IGNIS_OUTPUT_DIR and IGNIS_HOST (empty: not set), then ov (may be NULL).
 * On error returns NULL with errno EINVAL (ENOMEM when out of memory) and
 * one line in err: "FILE:LINE: KEY: reason", "IGNIS_X: reason" or
 * "--flag: reason". */
struct config *config__load(const char *path, const struct config_overrides *ov,
			    char *err, size_t errlen);
void config__free(struct config *c);   /* accepts NULL */

/* The effective configuration as YAML that config__load accepts, secrets
 * shown as <redacted> (for `ignis agent --print-config`). */
void config__dump(const struct config *c, FILE *f);

/* "debug", "info", "warn" or "error". */
const char *config__log_level_name(enum config_log_level l);

#endif
