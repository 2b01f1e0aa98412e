/* libFuzzer target: Datadog tag normalization (datadog__normalize_tag), fed
 * with series labels and configured tags it has never seen. The first byte
 * picks a bare tag or key:value; a NUL splits key from value. Every result
 * must follow Datadog's rules, say -ENOSPC rather than cut when the buffer
 * is short, and normalize to itself. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/datadog.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

/* The rules a tag the exporter sends must follow. */
static void check_tag(const char *t, int bare)
{
	size_t len = strlen(t), i;
	const char *colon = strchr(t, ':');

	check(len > 0 && len <= DATADOG_MAX_TAG_LEN);
	check(t[0] >= 'a' && t[0] <= 'z');
	check(t[len - 1] != ':' && t[len - 1] != '_');
	check(strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789_-:./") == len);
	check(!strstr(t, "__"));
	if (bare)
		check(!colon);
	else
		check(colon && colon[1]);
	for (i = 0; colon && t + i < colon; i++)
		check(t[i] != ':');
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char out[DATADOG_MAX_TAG_LEN + 1], again[DATADOG_MAX_TAG_LEN + 1], small[DATADOG_MAX_TAG_LEN];
	char *buf, *key, *value = NULL, *sep;
	int bare, err;

	if (!size)
		return 0;
	bare = data[0] & 1;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	key = buf;
	sep = memchr(buf, '\0', size - 1);
	if (!bare)
		value = sep && sep < buf + size - 1 ? sep + 1 : "";

	err = datadog__normalize_tag(key, value, out, sizeof(out));
	check(err == 0 || err == -EINVAL);
	if (!err) {
		check_tag(out, bare);
		/* A buffer one byte short is refused, not written past. */
		check(datadog__normalize_tag(key, value, small, strlen(out)) == -ENOSPC);
		/* Normalizing a normalized tag changes nothing. */
		if (bare) {
			check(datadog__normalize_tag(out, NULL, again, sizeof(again)) == 0);
		} else {
			char *c = strchr(out, ':');

			*c = '\0';
			check(datadog__normalize_tag(out, c + 1, again, sizeof(again)) == 0);
			*c = ':';
		}
		check(!strcmp(out, again));
	}
	free(buf);
	return 0;
}
