#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/request.h"

struct http_request *http_request__new(const char *url, void *body, size_t len,
				       int64_t created_ns, const char *what)
{
	struct http_request *r;

	if (!url) {
		free(body);
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		free(body);
		errno = ENOMEM;
		return NULL;
	}
	r->body = body;
	r->len = len;
	r->created_ns = created_ns;
	r->url = strdup(url);
	r->what = strdup(what ? what : "request");
	if (!r->url || !r->what) {
		http_request__free(r);
		errno = ENOMEM;
		return NULL;
	}
	return r;
}

int http_request__add_header(struct http_request *r, const char *name, const char *value)
{
	if (!r)
		return -EINVAL;
	return http_headers__add(&r->headers, name, value);
}

void http_request__free(struct http_request *r)
{
	if (!r)
		return;
	http_headers__free(r->headers);
	free(r->url);
	free(r->what);
	free(r->body);
	free(r);
}
