#include <errno.h>
#include <string.h>

#include "base/charclass.h"
#include "exporters/tracectx.h"

const char *tracectx__get(const struct profile_label *l, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].origin == PROFILE_LABEL_TRACE && l[i].key && l[i].str &&
		    !strcmp(l[i].key, key))
			return l[i].str;
	return NULL;
}

/* Exactly 2 * n hex digits into out[0..n). */
static int parse_hex(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = charclass__hex_value(s[2 * i]), lo = charclass__hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* A decimal uint64 of 1 to 20 digits, no sign, no overflow. */
static int parse_decimal(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (!s || !*s)
		return -EINVAL;
	for (i = 0; s[i]; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int tracectx__decimal(const struct profile_label *l, size_t n, const char *key, uint64_t *v)
{
	return parse_decimal(tracectx__get(l, n, key), v) == 0 && *v ? 0 : -ENOENT;
}

int tracectx__span_id(const struct profile_label *l, size_t n, uint64_t *id)
{
	uint8_t b[8];

	if (parse_hex(tracectx__get(l, n, TRACECTX_SPAN_ID), b, sizeof(b)) == 0) {
		*id = 0;
		for (size_t i = 0; i < sizeof(b); i++)
			*id = *id << 8 | b[i];
		if (*id)
			return 0;
	}
	return tracectx__decimal(l, n, TRACECTX_DD_SPAN_ID, id);
}

int tracectx__trace_id(const struct profile_label *l, size_t n, uint8_t id[16])
{
	uint8_t any = 0;

	if (parse_hex(tracectx__get(l, n, TRACECTX_TRACE_ID), id, 16))
		return -ENOENT;
	for (size_t i = 0; i < 16; i++)
		any |= id[i];
	return any ? 0 : -ENOENT;
}
