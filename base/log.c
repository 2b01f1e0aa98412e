#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "base/utf8.h"

/* A record longer than this is cut: a runaway message (a verifier log of
 * a huge program) must not cost unbounded memory on the logging path. */
#define LOG_MAX_RECORD (1 << 20)
#define LOG_MODULE_MAX 32

static int current_level = LOG_INFO;
static int current_format = LOG_FORMAT_PLAIN;
static int out_fd = 2;
static int64_t (*clock_ms)(void);
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	[LOG_ERROR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log__set_level(enum log_level level)
{
	__atomic_store_n(&current_level, (int)level, __ATOMIC_RELAXED);
}

enum log_level log__level(void)
{
	return __atomic_load_n(&current_level, __ATOMIC_RELAXED);
}

void log__set_format(enum log_format format)
{
	__atomic_store_n(&current_format, (int)format, __ATOMIC_RELAXED);
}

enum log_format log__format(void)
{
	return __atomic_load_n(&current_format, __ATOMIC_RELAXED);
}

int log__parse_format(const char *s, enum log_format *out)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "plain")) {
		*out = LOG_FORMAT_PLAIN;
		return 0;
	}
	if (!strcmp(s, "json")) {
		*out = LOG_FORMAT_JSON;
		return 0;
	}
	return -EINVAL;
}

const char *log__level_name(enum log_level level)
{
	if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "info";
	return level_names[level];
}

void log__set_fd(int fd)
{
	__atomic_store_n(&out_fd, fd, __ATOMIC_RELAXED);
}

void log__set_clock(int64_t (*now_ms)(void))
{
	pthread_mutex_lock(&rl_lock);
	clock_ms = now_ms;
	pthread_mutex_unlock(&rl_lock);
}

static void write_all(const char *buf, size_t len)
{
	/* A failure is dropped: nowhere left to complain to. */
	(void)file__write_fd(__atomic_load_n(&out_fd, __ATOMIC_RELAXED), buf, len);
}

/* The "module: " prefix: a short word of [A-Za-z0-9_.-] then ": ". Its
 * length (without ": "), or 0 when the message has none. */
static size_t module_len(const char *msg)
{
	size_t i = 0;

	while (i < LOG_MODULE_MAX && msg[i] &&
	       ((msg[i] >= 'a' && msg[i] <= 'z') || (msg[i] >= 'A' && msg[i] <= 'Z') ||
		(msg[i] >= '0' && msg[i] <= '9') || msg[i] == '_' || msg[i] == '-' ||
		msg[i] == '.'))
		i++;
	if (i == 0 || msg[i] != ':' || msg[i + 1] != ' ')
		return 0;
	return i;
}

/* Appends s[0..n) to out as the inside of a JSON string; out has room for
 * 6 bytes per input byte. Returns the new end. JSON must be UTF-8, and
 * messages quote paths and server answers that may be anything. */
static char *json_escape(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t k;

		if (c == '"' || c == '\\') {
			*out++ = '\\';
			*out++ = c;
			i++;
		} else if (c == '\n') {
			*out++ = '\\';
			*out++ = 'n';
			i++;
		} else if (c == '\t') {
			*out++ = '\\';
			*out++ = 't';
			i++;
		} else if (c == '\r') {
			*out++ = '\\';
			*out++ = 'r';
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(out, "\\u00", 4);
			out[4] = hex[c >> 4];
			out[5] = hex[c & 15];
			out += 6;
			i++;
		} else if ((k = utf8__seq_len(p + i, n - i)) > 0) {
			memcpy(out, p + i, k);
			out += k;
			i += k;
		} else {
			memcpy(out, "\\ufffd", 6);
			out += 6;
			i++;
		}
	}
	return out;
}

static void emit(enum log_level level, const char *msg, size_t len)
{
	size_t mlen, cap;
	struct timespec ts;
	struct tm tm;
	char *buf, *p;
	const char *body;

	if (log__format() == LOG_FORMAT_PLAIN) {
		write_all(msg, len);
		return;
	}
	while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		len--;
	mlen = module_len(msg);
	body = mlen ? msg + mlen + 2 : msg;
	len -= body - msg;
	cap = 128 + LOG_MODULE_MAX + 6 * len;
	buf = malloc(cap);
	if (!buf)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	p = buf + strftime(buf, 64, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
	p += sprintf(p, ".%03ldZ\",\"level\":\"%s\",\"module\":\"", ts.tv_nsec / 1000000,
		     log__level_name(level));
	if (mlen) {
		memcpy(p, msg, mlen);
		p += mlen;
	} else {
		p = stpcpy(p, "ignis");
	}
	p = stpcpy(p, "\",\"msg\":\"");
	p = json_escape(p, body, len);
	p = stpcpy(p, "\"}\n");
	write_all(buf, p - buf);
	free(buf);
}

/* The message formatted: in stack (when it fits) or a malloc'd buffer set
 * in *heap; its length in *len. NULL when it cannot be formatted. */
static char *format(char *stack, size_t size, char **heap, size_t *len, const char *fmt,
		    va_list ap)
{
	va_list aq;
	int n;

	*heap = NULL;
	va_copy(aq, ap);
	n = vsnprintf(stack, size, fmt, aq);
	va_end(aq);
	if (n < 0)
		return NULL;
	if ((size_t)n < size) {
		*len = n;
		return stack;
	}
	if (n >= LOG_MAX_RECORD)
		n = LOG_MAX_RECORD - 1;
	*heap = malloc(n + 1);
	if (!*heap) {
		*len = size - 1;
		return stack;
	}
	vsnprintf(*heap, n + 1, fmt, ap);
	*len = n;
	return *heap;
}

void log__vprintf(enum log_level level, const char *fmt, va_list ap)
{
	char stack[2048], *heap, *msg;
	size_t len;

	if ((int)level > (int)log__level())
		return;
	msg = format(stack, sizeof(stack), &heap, &len, fmt, ap);
	if (msg)
		emit(level, msg, len);
	free(heap);
}

void log__printf(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log__vprintf(level, fmt, ap);
	va_end(ap);
}

void log__vprintf_ratelimited(struct log_ratelimit *rl, enum log_level level,
			      const char *fmt, va_list ap)
{
	char stack[2048], *heap, *msg, note[128];
	uint64_t suppressed = 0;
	int64_t now, interval = rl->interval_ms ? rl->interval_ms : LOG_RATELIMIT_INTERVAL_MS;
	unsigned burst = rl->burst ? rl->burst : LOG_RATELIMIT_BURST;
	size_t len, mlen;
	bool pass;

	if ((int)level > (int)log__level())
		return;
	pthread_mutex_lock(&rl_lock);
	now = clock_ms ? clock_ms() : clock__monotonic_ms();
	if (!rl->window_start_ms || now - rl->window_start_ms >= interval ||
	    now < rl->window_start_ms) {
		rl->window_start_ms = now ? now : 1;
		rl->printed = 0;
	}
	pass = rl->printed < burst;
	if (pass) {
		rl->printed++;
		suppressed = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&rl_lock);
	if (!pass)
		return;

	msg = format(stack, sizeof(stack), &heap, &len, fmt, ap);
	if (!msg)
		return;
	if (suppressed) {
		mlen = module_len(msg);
		int n = snprintf(note, sizeof(note), "%.*s%s%llu similar messages suppressed\n",
				 (int)mlen, msg, mlen ? ": " : "", (unsigned long long)suppressed);

		emit(level, note, (size_t)n < sizeof(note) ? (size_t)n : sizeof(note) - 1);
	}
	emit(level, msg, len);
	free(heap);
}

void log__printf_ratelimited(struct log_ratelimit *rl, enum log_level level,
			     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log__vprintf_ratelimited(rl, level, fmt, ap);
	va_end(ap);
}
