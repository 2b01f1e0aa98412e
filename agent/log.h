/* One logging path for every module: pr_warn/pr_info/pr_debug with a
 * "module: " prefix written by the caller. libbpf's printer is routed here. */
#ifndef IGNIS_LOG_H
#define IGNIS_LOG_H

#include <stdarg.h>

enum log_level { LOG_WARN, LOG_INFO, LOG_DEBUG };

void log__set_level(enum log_level level);
enum log_level log__level(void);
void log__vprintf(enum log_level level, const char *fmt, va_list ap);
__attribute__((format(printf, 2, 3)))
void log__printf(enum log_level level, const char *fmt, ...);

#define pr_warn(...)  log__printf(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log__printf(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log__printf(LOG_DEBUG, __VA_ARGS__)

#endif
