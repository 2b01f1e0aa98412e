/* libFuzzer target: the spool-file parser (what a delivery reads back from
 * its spool directory after a crash, a full disk or someone's editing). A
 * file that parses is encoded again and must parse to the same request. */
#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/spool.h"

static void same(const struct http_request *a, const struct http_request *b)
{
	const struct curl_slist *x = a->headers, *y = b->headers;

	if (strcmp(a->url, b->url) || strcmp(a->what, b->what) || a->len != b->len ||
	    a->created_ns != b->created_ns || (a->len && memcmp(a->body, b->body, a->len)))
		abort();
	for (; x && y; x = x->next, y = y->next)
		if (strcmp(x->data, y->data))
			abort();
	if (x || y)
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct http_request *r = NULL, *again = NULL;
	int64_t created;
	uint64_t raw_len;
	void *buf = NULL;
	size_t len = 0;

	spool__decode_header(data, size, &created, &raw_len);
	if (spool__decode(data, size, &r))
		return 0;
	if (spool__encode(r, &buf, &len) || spool__decode(buf, len, &again))
		abort();
	same(r, again);
	free(buf);
	http_request__free(again);
	http_request__free(r);
	return 0;
}
