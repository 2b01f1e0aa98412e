#include <stdio.h>

#include "agent/log.h"

static enum log_level current = LOG_INFO;

void log__set_level(enum log_level level)
{
	current = level;
}

enum log_level log__level(void)
{
	return current;
}

void log__vprintf(enum log_level level, const char *fmt, va_list ap)
{
	if (level > current)
		return;
	vfprintf(stderr, fmt, ap);
}

void log__printf(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log__vprintf(level, fmt, ap);
	va_end(ap);
}
