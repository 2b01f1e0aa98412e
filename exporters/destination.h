/* What the agent hands every destination at the end of an interval: one
 * neutral profile per series (the label set of one workload). Each
 * destination renders and queues what it needs during its submit call and
 * keeps no pointer into the interval, which the caller frees afterwards. */
#ifndef IGNIS_DESTINATION_H
#define IGNIS_DESTINATION_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/schema.h"
#include "exporters/profile.h"
#include "exporters/tagmap.h"

struct delivery_stats;
struct delivery_opts;

struct series {
	/* Series labels under neutral names ("service_name", "host", ...):
	 * strings only, sorted by key, no duplicates. */
	const struct profile_label *labels;
	size_t nlabels;
	/* Its samples; per-sample labels may include "pid" (number), "comm"
	 * and "thread_name" (strings): each destination keeps those it wants. */
	const struct profile *profile;
	/* Its off-CPU time (sampling.off_cpu), NULL or empty when none: each
	 * sample's value is the nanoseconds blocked (profile_sample.value),
	 * its count the blockings. Each destination sends it as its own
	 * profile type under the name its backend knows (pyroscope: __name__
	 * off_cpu; datadog: wall time; file: a file of its own). */
	const struct profile *offcpu;
};

struct interval {
	int64_t start_ns, end_ns;  /* wall clock (CLOCK_REALTIME) */
	const struct series *series;
	size_t nseries;
	/* The node's name (the agent's host setting), for a destination that
	 * must name the host even where a series' labels do not; or NULL. */
	const char *host;
};

/* ---- a destination's settings ---------------------------------------------
 * One struct for every type (destinations[] in the agent's configuration);
 * each type reads the fields its rows name and leaves the others zero. */
#define CONFIG_MAX_HEADERS      64
#define CONFIG_MAX_TAGS         64     /* destinations[].tags (datadog) */
/* Order of destination__types, and of the types in messages. */
enum config_dest_type { CONFIG_DEST_PYROSCOPE, CONFIG_DEST_FILE, CONFIG_DEST_DATADOG,
		       CONFIG_DEST_OTLP, CONFIG_DEST_NTYPES };

/* destinations[].compression (datadog): of the pprof attachment. */
enum config_compression { CONFIG_COMPRESS_ZSTD, CONFIG_COMPRESS_GZIP };

/* destinations[].api; same order as enum pyroscope_api
 * (PYROSCOPE_PUSH_V1, PYROSCOPE_INGEST). */
enum config_pyroscope_api { CONFIG_API_PUSH, CONFIG_API_INGEST };

/* destinations[].compression (otlp): of the request body. */
enum config_otlp_compression { CONFIG_OTLP_GZIP, CONFIG_OTLP_NONE };

struct config_destination {
	/* [a-z0-9_-]{1,64}, unique; default: the type's name. */
	char *name;
	enum config_dest_type type;

	/* ---- types pyroscope and datadog (zero/NULL for a file destination) ---- */
	/* http:// or https://host[:port][/path], no credentials, query or
	 * fragment; trailing slashes removed so a path can be appended.
	 * pyroscope: the base URL (the exporter appends the API's path).
	 * datadog: the final intake URL, path included: <agent URL>/profiling/
	 * v1/input, or with agentless <url or https://intake.profile.<site>>
	 * /api/v2/profile. */
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
	struct schema_pair *headers;            /* extra headers (both types): name,
					 * value (${VAR} expanded), raw */
	size_t nheaders;
	char *ca_file;                          /* tls.ca_file; NULL: the system's CAs */
	bool insecure_skip_verify;              /* tls.insecure_skip_verify */
	unsigned timeout_ms;                    /* per request; default 10000 */
	uint64_t queue_bytes;                   /* queue_size; default 64 MiB */

	/* ---- type datadog (zero/NULL otherwise) ---- */
	bool agentless;                         /* default false */
	char *site;                             /* default DD_SITE, else "datadoghq.com" */
	/* agentless only, then required: the DD-API-KEY secret, from
	 * api_key_file or api_key_env (default: api_key_env DD_API_KEY). */
	char *api_key;
	char *api_key_file, *api_key_env;
	enum config_compression compression;    /* default zstd */
	struct schema_pair *tags;               /* static tags key, value; file order */
	size_t ntags;

	/* ---- every type ---- */
	/* A multiple of config.tick_ms. Default: upload_interval for pyroscope
	 * and file, 60 s for datadog. */
	uint64_t upload_interval_ms;
	/* Fraction of samples kept, uniformly: (0, 1], in millionths so it
	 * compares exactly; 1000000 (default): all. */
	uint32_t sample_ppm;
	/* Profiles older than this when they would be sent are dropped and
	 * counted: the intake would refuse them. 0: no limit (file). */
	uint64_t max_age_ms;
	/* spool: profiles past the memory queue go to disk (pyroscope,
	 * datadog; always false for file). */
	bool spool_enabled;                     /* default true */
	char *spool_dir;                        /* default <spool_dir>/<name>; set even when disabled */
	uint64_t spool_max_bytes;               /* default 1 GiB */
	/* Built-in rules for the type (tagmap__defaults) before tag_rules. */
	bool default_tag_rules;                 /* default true */
	/* tag_rules, owned by the config (strings and targets arrays). */
	struct tag_rule *tag_rules;
	size_t ntag_rules;

	/* ---- both types ---- */
	/* Per-sample labels kept ("pid", "comm", "thread_name", and for
	 * datadog also "container_id", "tid"): this destination's own list,
	 * else labels.sample_labels. The strings are static; the array
	 * belongs to the config. */
	const char **sample_labels;
	size_t nsample_labels;

	/* ---- type file (NULL/0 otherwise) ---- */
	char *directory;                        /* required */
	uint64_t max_bytes;                     /* max_size; default 1 GiB */

	/* ---- type otlp (url is its endpoint; zero/NULL otherwise) ---- */
	char *otlp_path;                        /* path; default /v1development/profiles */
	enum config_otlp_compression otlp_compression;  /* default gzip */
	uint64_t otlp_max_request_bytes;        /* max_request_size; default 64 MiB */
};

/* ---- destination types ----------------------------------------------------
 * What the agent knows of a type: its settings (rows after name and type,
 * in the order --print-config shows them) and how to run one. Adding a type:
 * its exporter defines one of these, and destination__types lists it. */
struct destination_ops {
	const char *type;            /* "pyroscope": the type: key, tagmap__defaults' type */
	const struct schema_row *const *rows;   /* NULL-terminated list of tables */
	/* The destination a flag or variable on a row of this type (an env or
	 * flag name on the row) sets, added when the file has none; NULL. */
	const char *flag_dest;
	uint64_t upload_interval_ms; /* default; 0: the agent's upload_interval */
	/* sample_labels may name the high-cardinality ones ("tid",
	 * "container_id"): a backend that is not series-based. */
	bool all_sample_labels;
	/* After the rows' defaults; NULL: none. */
	void (*defaults)(struct config_destination *d);
	/* After the file's keys (x->seen holds their lines): checks across
	 * keys and values from the environment. 0 or a message through x. */
	int (*check)(struct schema_ctx *x, struct config_destination *d);
	/* A running destination from the settings; NULL with errno. */
	void *(*new)(const struct config_destination *d);
	/* Renders and queues; must not wait on the network. 0 or -errno. */
	int (*submit)(void *impl, const struct interval *iv);
	/* Delivers what is queued until deadline_ns (CLOCK_MONOTONIC); NULL
	 * when submit already finished the job (files). */
	int (*drain)(void *impl, int64_t deadline_ns);
	/* One line of what happened so far; NULL: stats say it. */
	void (*describe)(void *impl, char *buf, size_t len);
	/* Delivery counters; NULL for destinations without a delivery. */
	void (*stats)(void *impl, struct delivery_stats *s);
	void (*free)(void *impl);
};

/* The types, indexed by enum config_dest_type. */
extern const struct destination_ops *const destination__types[CONFIG_DEST_NTYPES];

/* Rows of every type that talks HTTP: headers, tls, timeout, queue_size,
 * spool (pyroscope.c and datadog.c list them). */
extern const struct schema_row destination__http_rows[];

/* ---- the settings of every type ------------------------------------------ */

/* The per-sample labels a destination may keep (sample_labels point at
 * these strings): the first DESTINATION_NLABELS_ANY for every type, the
 * high-cardinality ones after them only for a backend that is not
 * series-based (all_sample_labels). */
#define DESTINATION_NLABELS_ANY 3
#define DESTINATION_NLABELS 5
extern const char *const destination__sample_labels[DESTINATION_NLABELS];
/* The sample_labels row of a struct type (the destination's, or the
 * agent's default list under labels:). */
#define DESTINATION_LABELS_ROW(type, all)                                                   \
	{ "sample_labels", SCHEMA_LIST, SCHEMA_AT(type, sample_labels), .max = 64,          \
	  .names = destination__sample_labels,                                              \
	  .nnames = (all) ? DESTINATION_NLABELS : DESTINATION_NLABELS_ANY,                  \
	  .count_offset = offsetof(type, nsample_labels), .item = "label names",           \
	  .items = "labels", .what = "a label name", .flags = SCHEMA_UNIQUE }

/* A destination's rows, NULL-terminated: name and type, its type's, then
 * those of every type (upload_interval ... tag_rules), sample_labels. */
void destination__tables(enum config_dest_type type, const struct schema_row *out[8]);
/* The types with a row named name, as "pyroscope or datadog" in buf; 0:
 * none (how many otherwise). */
size_t destination__types_with(const char *name, char *buf, size_t len);
/* The type: key's value, by destination__types' names. */
int destination__parse_type(struct schema_ctx *x, const char *s, enum config_dest_type *type);
/* d (zeroed) with its type's defaults: 0 or -ENOMEM. */
int destination__init(struct config_destination *d, enum config_dest_type type);
void destination__fini(struct config_destination *d);   /* what the rows own, not d */
/* What a destination takes from the agent's settings when it does not say. */
struct destination_inherit {
	uint64_t upload_interval_ms;    /* when its type has no default */
	const char *spool_dir;          /* the spool in <spool_dir>/<name> */
	bool labels_set;                /* false: sample_labels become these */
	const char *const *sample_labels;
	size_t nsample_labels;
};
/* After the file, variables and flags: the required rows (messages at x's
 * key and line, the destination's) and the defaults from in. 0 or a message. */
int destination__finish(struct schema_ctx *x, struct config_destination *d,
			const struct destination_inherit *in);
/* "  - name: ..." and the rest at indent 4, as --print-config lists it. */
void destination__dump(const struct config_destination *d, FILE *f);
/* The destination named name in the array *v of *n, which must be of type;
 * else one added with its type's defaults (at most max in all). NULL with
 * a message through x. */
struct config_destination *destination__find_or_add(struct schema_ctx *x,
						    struct config_destination **v, size_t *n,
						    size_t max, const char *name,
						    enum config_dest_type type);
/* The free hook of a list row of destinations (array at r->offset, count
 * at r->count_offset in obj). */
void destination__free_list(const struct schema_row *r, void *obj);

/* The delivery options of an HTTP destination. */
void destination__delivery_opts(const struct config_destination *d, struct delivery_opts *o);

/* A growable array of requests (what pyroscope and datadog render). */
struct http_request;
struct reqs {
	struct http_request **v;
	size_t n, cap;
};
/* Appends q; on failure frees it and returns -ENOMEM. */
int reqs__push(struct reqs *r, struct http_request *q);
void reqs__free(struct reqs *r);   /* the requests too; r is empty after */
/* Hands the n requests of v to d (which takes each, queued or dropped),
 * frees v; the first error, else 0. */
struct delivery;
int reqs__enqueue(struct delivery *d, struct http_request **v, size_t n);

/* What each HTTP destination type (pyroscope, datadog, otlp) holds beside
 * its own options and counters: its delivery queue, and the lock of those
 * counters (submit adds to them and stats reads them, on different threads). */
struct delivery_stats;
struct delivery_opts;
struct httpdest {
	struct delivery *d;
	pthread_mutex_t lock;
};
/* Each type's struct begins with its struct httpdest, so that a pointer to
 * it is one to the httpdest too (what httpdest__drain takes). */

/* The lock, then a queue with o; -errno, nothing held, on failure. */
int httpdest__init(struct httpdest *h, const struct delivery_opts *o);
/* destination_ops.drain of the HTTP types: delivery__drain (0 when
 * everything queued was answered, -ETIMEDOUT) of the queue of impl, a
 * struct pyroscope, datadog or otlp; -EINVAL for NULL. */
int httpdest__drain(void *impl, int64_t deadline_ns);
/* The queue first (its worker may still use the type's state), then the lock. */
void httpdest__fini(struct httpdest *h);
/* The type's counters, size bytes at st, copied to out under the lock; the
 * queue's into ds (which may lie inside out). */
void httpdest__stats(struct httpdest *h, const void *st, void *out, size_t size,
		     struct delivery_stats *ds);

/* The value of a series label, NULL when the series has none. */
const char *series__label(const struct series *s, const char *key);

#endif
