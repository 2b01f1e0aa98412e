/* The agent's own metrics in the Prometheus text exposition format
 * (version 0.0.4), and its health, over HTTP (libmicrohttpd, one thread):
 *
 *   GET /metrics   200 text/plain; version=0.0.4
 *   GET /healthz   200 "ok", or 503 with the reason the health callback gave
 *   elsewhere      404; methods other than GET and HEAD: 405
 *
 * It listens on 127.0.0.1:9464 unless configured otherwise: the numbers
 * are harmless but nobody outside the node needs to reach them unless a
 * Prometheus does, and then the operator says so.
 *
 * Each scrape calls the collect callback on the HTTP thread, which writes
 * families and samples through the writer; the callback reads the agent's
 * counters, so it must be safe against the threads that update them. */
#ifndef IGNIS_METRICS_H
#define IGNIS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A rendering is cut (and the scrape fails with 500) past this: a runaway
 * label set must not turn into unbounded memory. */
#define METRICS_MAX_BYTES (16u << 20)

struct metrics;
struct metrics_writer;

/* Called on the HTTP thread for each scrape; must be thread-safe on the
 * caller's side. */
typedef void (*metrics_collect_fn)(void *ctx, struct metrics_writer *w);
/* true: healthy. Otherwise false, with a reason written into why (one
 * line, no secrets: it is served to whoever can reach the port). */
typedef bool (*metrics_health_fn)(void *ctx, char *why, size_t len);

struct metrics_opts {
	/* "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464", ":9464" (every
	 * address); port 0 picks a free one (see metrics__port). NULL:
	 * "127.0.0.1:9464". */
	const char *listen;
	/* Writes every family, the process ones too (metrics__write_process);
	 * NULL: an empty page. */
	metrics_collect_fn collect;
	metrics_health_fn healthy;     /* may be NULL: always healthy */
	void *ctx;
	/* Unused: the collect callback passes its own root to
	 * metrics__write_process. Kept until the agent's initializer drops it. */
	const char *proc_root;
};

/* Binds at once, so a port in use fails here: NULL with errno
 * (EADDRINUSE, EACCES, EINVAL for a malformed address, ...) and one log
 * line saying which address and why. */
struct metrics *metrics__new(const struct metrics_opts *o);
void metrics__free(struct metrics *m);   /* accepts NULL; stops the thread */
/* The port bound (useful after port 0). */
int metrics__port(const struct metrics *m);

/* Writer: a family header (# HELP, # TYPE counter|gauge|untyped) once per
 * family, then its samples. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*,
 * label names [a-zA-Z_][a-zA-Z0-9_]* (not starting "__"); a sample must
 * belong to the family written last. Label values are escaped (\\, \",
 * \n) and made valid UTF-8. Anything invalid is dropped and fails the
 * rendering with -EINVAL, so a bad name is found by the unit tests rather
 * than by a Prometheus that rejects the whole scrape. */
void metrics__family(struct metrics_writer *w, const char *name, const char *type,
		     const char *help);
void metrics__sample(struct metrics_writer *w, const char *name, double value,
		     const char *const *labels /* k,v,k,v,...,NULL; may be NULL */);

/* process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds and
 * process_open_fds from <proc_root>/self, the standard names every
 * Prometheus client exports; and ignis_build_info{version="..."} 1. A
 * file that cannot be read or parsed leaves its metric out. */
void metrics__write_process(struct metrics_writer *w, const char *proc_root);

/* Renders what fn (may be NULL) writes into a malloc'd, NUL-terminated
 * buffer: 0, or -EINVAL (something invalid written), -E2BIG (past
 * METRICS_MAX_BYTES), -ENOMEM; *out is NULL on error. Pure: for tests,
 * fuzzing, and the HTTP handler. */
int metrics__render(metrics_collect_fn fn, void *ctx, char **out, size_t *len);

/* Run time and run count of a loaded BPF program (bpf_prog_info). The
 * kernel only counts while BPF statistics are on: the sysctl
 * kernel.bpf_stats_enabled=1, or while an fd from metrics__bpf_enable_stats
 * is open. 0 or -errno. */
int metrics__bpf_prog_stats(int prog_fd, uint64_t *run_ns, uint64_t *run_cnt);
/* Whether <proc_root>/sys/kernel/bpf_stats_enabled says 1. */
bool metrics__bpf_stats_enabled(const char *proc_root);
/* Turns BPF run-time statistics on for as long as the returned fd stays
 * open (BPF_ENABLE_STATS, Linux 5.8; needs CAP_SYS_ADMIN). It costs two
 * clock reads per program run, so it is the operator's choice. fd or
 * -errno. */
int metrics__bpf_enable_stats(void);

struct schema_ctx;
/* metrics.listen: "HOST:PORT" or "[::1]:PORT" into *listen, *host (without
 * brackets) and *port; "" or "off" leave them NULL and 0. 0 or a message
 * through x. */
int metrics__parse_listen(struct schema_ctx *x, const char *s, char **listen, char **host,
			  unsigned *port);

#endif
