/* One logging path for every module: pr_error/pr_warn/pr_info/pr_debug with
 * a "module: " prefix written by the caller. libbpf's printer is routed here.
 *
 * Every record goes out with one write(2), so lines from the sampler, the
 * delivery threads and the Kubernetes watcher never interleave mid-line.
 * Plain format writes the message exactly as formatted (what the agent has
 * always printed); JSON writes one object per record on one line:
 *   {"ts":"2025-01-02T03:04:05.678Z","level":"warn","module":"pyroscope","msg":"..."}
 * where module is the message's "module: " prefix ("ignis" when it has none).
 *
 * Secrets are never passed to these functions: the config keeps them out of
 * its dump, and exporters log where a secret came from, never its value. */
#ifndef IGNIS_LOG_H
#define IGNIS_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_PLAIN, LOG_FORMAT_JSON };

void log__set_level(enum log_level level);
enum log_level log__level(void);
void log__set_format(enum log_format format);
enum log_format log__format(void);
/* "plain" or "json": 0, else -EINVAL. */
int log__parse_format(const char *s, enum log_format *out);
/* "error", "warn", "info" or "debug". */
const char *log__level_name(enum log_level level);

/* Where records go (default 2, stderr); for tests. */
void log__set_fd(int fd);

void log__vprintf(enum log_level level, const char *fmt, va_list ap);
__attribute__((format(printf, 2, 3)))
void log__printf(enum log_level level, const char *fmt, ...);

#define pr_error(...) log__printf(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)  log__printf(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log__printf(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log__printf(LOG_DEBUG, __VA_ARGS__)

/* ---- rate-limited records ----------------------------------------------
 *
 * A message that can repeat per sample, per process or per request (a
 * failing upload, an unreadable /proc file) must not flood the journal:
 * each call site lets LOG_RATELIMIT_BURST records through per
 * LOG_RATELIMIT_INTERVAL_MS, then counts. The first record let through
 * after a quiet spell is preceded by "module: N similar messages
 * suppressed". State is per call site (a static in the macro), guarded by
 * the log lock, so any thread may use it. A module that keeps its own
 * state (per destination, per kind of message) sets interval_ms and burst
 * in it; 0 takes the defaults. This is the project's one rate limiter. */
#define LOG_RATELIMIT_BURST       5
#define LOG_RATELIMIT_INTERVAL_MS 60000

struct log_ratelimit {
	int64_t interval_ms;      /* 0: LOG_RATELIMIT_INTERVAL_MS */
	unsigned burst;           /* 0: LOG_RATELIMIT_BURST */
	int64_t window_start_ms;  /* 0: never used */
	unsigned printed;         /* in this window */
	uint64_t suppressed;      /* since the last record let through */
};

void log__vprintf_ratelimited(struct log_ratelimit *rl, enum log_level level,
			      const char *fmt, va_list ap);
__attribute__((format(printf, 3, 4)))
void log__printf_ratelimited(struct log_ratelimit *rl, enum log_level level,
			     const char *fmt, ...);

#define pr_ratelimited(level, ...)                                            \
	do {                                                                  \
		static struct log_ratelimit log_rl__;                         \
		log__printf_ratelimited(&log_rl__, (level), __VA_ARGS__);     \
	} while (0)
#define pr_error_ratelimited(...) pr_ratelimited(LOG_ERROR, __VA_ARGS__)
#define pr_warn_ratelimited(...)  pr_ratelimited(LOG_WARN, __VA_ARGS__)
#define pr_info_ratelimited(...)  pr_ratelimited(LOG_INFO, __VA_ARGS__)

/* The clock the limiter uses, in milliseconds (default CLOCK_MONOTONIC);
 * NULL restores it. For tests. */
void log__set_clock(int64_t (*now_ms)(void));

#endif
