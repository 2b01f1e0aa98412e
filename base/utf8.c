#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

size_t utf8__seq_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;   /* a continuation byte, C0/C1 (always overlong), F5+ */
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

bool utf8__valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		k = utf8__seq_len(p + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

char *utf8__valid_copy(const char *s, size_t n, size_t max, size_t *out_len)
{
	static const char replacement[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, k, cap;
	char *out;

	/* Every input byte makes at most 3 output bytes, and nothing past max
	 * is kept. */
	cap = n < max / 3 ? 3 * n : max;
	out = malloc(cap + 1);
	if (!out) {
		errno = ENOMEM;
		return NULL;
	}
	while (i < n) {
		k = utf8__seq_len(p + i, n - i);
		if (k) {
			if (k > cap - o)
				break;
			memcpy(out + o, s + i, k);
			i += k;
		} else {
			k = sizeof(replacement) - 1;
			if (k > cap - o)
				break;
			memcpy(out + o, replacement, k);
			i++;
		}
		o += k;
	}
	out[o] = '\0';
	if (out_len)
		*out_len = o;
	return out;
}
