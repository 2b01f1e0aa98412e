/* A self-contained HTTP request: URL, "Name: value" header lines, body and
 * creation time, so that it can wait in a queue, be written to disk and be
 * replayed (exporters/delivery.h, exporters/spool.h). Always POSTed. */
#ifndef IGNIS_REQUEST_H
#define IGNIS_REQUEST_H

#include <stddef.h>
#include <stdint.h>

struct curl_slist;

struct http_header {
	const char *name, *value;
};

/* Built by an exporter, owned by the delivery once enqueued. */
struct http_request {
	char *url;
	/* Complete header lines "Name: value" ("Name;" for an empty value,
	 * libcurl's spelling): Content-Type, tenant, extra. Written to the
	 * spool as they are: credentials belong in the delivery's
	 * secret_headers. Values are kept out of logs all the same. */
	struct curl_slist *headers;
	void *body;        /* malloc'd */
	size_t len;
	int64_t created_ns;  /* CLOCK_REALTIME when the data was taken */
	char *what;          /* short description for logs, never secrets */
};

/* A request for url (copied) carrying body (taken: freed with the request,
 * and on failure too); what is copied (NULL: "request"). NULL+errno. */
struct http_request *http_request__new(const char *url, void *body, size_t len,
				       int64_t created_ns, const char *what);

/* Appends "name: value". -EINVAL for an empty or non-token name or a
 * CR/LF/NUL in the value (header injection); -ENOMEM. An empty value is
 * sent as an empty header, not left out. */
int http_request__add_header(struct http_request *r, const char *name, const char *value);

/* Accepts NULL. */
void http_request__free(struct http_request *r);

#endif
