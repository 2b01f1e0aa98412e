#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/str.h"

#define PRINTABLE_MAX 48

bool str__ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !memcmp(s + n - m, suffix, m);
}

int str__dup(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

char *str__hex(char *dst, const void *src, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = src;

	for (size_t i = 0; i < len; i++) {
		dst[2 * i] = digits[p[i] >> 4];
		dst[2 * i + 1] = digits[p[i] & 0xf];
	}
	dst[2 * len] = '\0';
	return dst;
}

const char *str__printable(const char *s, char out[STR_PRINTABLE_SIZE])
{
	size_t i;

	for (i = 0; s && s[i] && i < PRINTABLE_MAX; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (s && s[i])
		out[i++] = '~';
	out[i] = '\0';
	return out;
}

void strbuf__add(struct strbuf *b, const void *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 < n || ARRAY_RESERVE_FROM(b->s, &b->cap, b->len + n + 1, 256)) {
		b->err = -ENOMEM;
		return;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void strbuf__puts(struct strbuf *b, const char *s)
{
	strbuf__add(b, s, strlen(s));
}
