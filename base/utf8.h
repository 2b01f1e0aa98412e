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

#endif
