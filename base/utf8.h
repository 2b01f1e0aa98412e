/* UTF-8 validation for text that comes from outside (paths, server answers,
 * configuration) before it goes where UTF-8 is required: JSON log lines,
 * the Prometheus exposition format, Pyroscope label values. The rules are
 * RFC 3629's (and Go's, which the Pyroscope server checks with): no
 * overlong forms, no surrogates, nothing past U+10FFFF. */
#ifndef IGNIS_UTF8_H
#define IGNIS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1 to 4) of the valid UTF-8 sequence that starts at s, reading at
 * most n bytes; 0 when there is none (a bad lead or continuation byte, an
 * overlong form, a surrogate, past U+10FFFF, or cut short by n). n > 0. */
size_t utf8__seq_len(const unsigned char *s, size_t n);

/* True when the n bytes at s are all valid UTF-8 sequences. */
bool utf8__valid(const char *s, size_t n);

/* A malloc'd, NUL-terminated copy of the n bytes at s that is valid UTF-8:
 * each byte that starts no valid sequence becomes U+FFFD (the replacement
 * character), and the result is cut to at most max bytes (max >= 3) on a
 * character boundary. *out_len gets its length when out_len is set. NULL
 * with errno set when out of memory. */
char *utf8__valid_copy(const char *s, size_t n, size_t max, size_t *out_len);

#endif
