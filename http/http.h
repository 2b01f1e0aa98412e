/* The one HTTP client of the project, over libcurl: the only code that
 * creates curl handles. Callers describe a request (URL, headers, body,
 * TLS, timeouts, how much of the answer to keep) and get the status, the
 * body up to a bound, Retry-After and a redirect's target back; libcurl's
 * set-up (global init, protocols, TLS floor, no signals, no automatic
 * redirects) is done here once.
 *
 * A client is one connection cache for one thread at a time. Its transfer
 * runs on a curl multi handle so that another thread can cancel it at once
 * (http_client__cancel), which long watches and uploads need at shutdown.
 *
 * Header lists are libcurl's (struct curl_slist) but built and freed only
 * through the functions below, which refuse header injection and wipe the
 * lines (they may carry credentials) before freeing them. */
#ifndef IGNIS_HTTP_H
#define IGNIS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct curl_slist;

/* libcurl's global set-up, once per process and thread-safe. 0 or -ENOMEM
 * (logged). */
int http__init(void);

/* ---- header lists ------------------------------------------------------ */

/* Appends "name: value" to *list. -EINVAL for an empty or non-token name or
 * a CR/LF in the value (header injection), -ENOMEM. An empty value is sent
 * as an empty header ("Name;", libcurl's spelling), not left out. */
int http_headers__add(struct curl_slist **list, const char *name, const char *value);
/* Appends a complete line as it is ("Expect:" removes a header). -ENOMEM. */
int http_headers__add_line(struct curl_slist **list, const char *line);
/* The line "name: value" (as http_headers__add spells it) in *line, to
 * free with secret__free. 0, -EINVAL, -ENOMEM. */
int http_headers__line(const char *name, const char *value, char **line);
/* Appends a copy of every line of src. -ENOMEM. */
int http_headers__copy(struct curl_slist **list, const struct curl_slist *src);
/* What the list takes in memory (nodes and lines), for queue bounds. */
size_t http_headers__bytes(const struct curl_slist *list);
/* Wipes every line, then frees the list. Accepts NULL. */
void http_headers__free(struct curl_slist *list);

/* ---- requests ---------------------------------------------------------- */

/* Bodies of non-2xx answers kept (error messages to quote); the rest is
 * read and thrown away so the connection stays usable. */
#define HTTP_ERROR_BODY_MAX (64u << 10)

struct http_call {
	const char *url;                 /* http:// or https:// only */
	const struct curl_slist *headers;
	bool post;                       /* POST body/len, else GET */
	const void *body;
	size_t len;
	const char *user, *password;     /* HTTP basic auth when both are set */
	const char *ca_file;             /* NULL: the system's CA bundle */
	bool insecure;                   /* no certificate or host name check */
	long timeout_ms;                 /* the whole exchange; 0: none */
	long connect_timeout_ms;         /* 0: libcurl's (300 s) */
	const char *user_agent;          /* NULL: no User-Agent header */
	bool compressed;                 /* Accept-Encoding: what libcurl decodes */
	/* What is kept of the answer's body: with truncate, the first max_body
	 * bytes of any answer; without, a 2xx body longer than max_body fails
	 * the call (HTTP_TOO_BIG) and other answers keep HTTP_ERROR_BODY_MAX. */
	size_t max_body;
	bool truncate;
	/* Streaming: a 2xx body goes to on_data as it comes instead of being
	 * kept (max_body unused); false ends the transfer (HTTP_STOPPED). */
	bool (*on_data)(void *arg, const char *p, size_t n);
	/* Called about once a second while the transfer waits. */
	void (*on_tick)(void *arg);
	void *arg;
};

enum http_result {
	HTTP_DONE,       /* an answer came: see status */
	HTTP_NET,        /* no answer: DNS, connection, timeout, broken stream */
	HTTP_TLS,        /* the TLS handshake or the certificate failed */
	HTTP_PERMANENT,  /* a URL, protocol or option no retry can fix */
	HTTP_TOO_BIG,    /* a 2xx body past max_body */
	HTTP_STOPPED,    /* on_data ended it */
	HTTP_CANCELLED,  /* http_client__cancel */
	HTTP_NOMEM,
};

struct http_answer {
	enum http_result result;
	long status;                     /* 0 when no status line came */
	const char *body;                /* NUL-terminated; valid until the next call */
	size_t len;
	bool has_retry_after;            /* a Retry-After header that parses */
	uint64_t retry_after_ms;
	/* A 3xx's Location, resolved against the URL; NULL if none. Valid
	 * until the next call. */
	const char *redirect_url;
	char error[256];                 /* what failed, when result is not HTTP_DONE */
};

struct http_client;

/* NULL+errno (ENOMEM). libcurl is opened and the client's handles made
 * on its first call; a call that cannot (no libcurl) fails as a network
 * error, to be retried. */
struct http_client *http_client__new(void);
void http_client__free(struct http_client *c);   /* accepts NULL */
/* From any thread: ends the transfer under way at once and refuses every
 * later one (HTTP_CANCELLED). For shutdown. */
void http_client__cancel(struct http_client *c);
/* One exchange; a's pointers stay valid until the next call or free. */
void http_client__call(struct http_client *c, const struct http_call *call,
		       struct http_answer *a);
/* Gives back a big answer's buffer now rather than at the next call
 * (minutes later, for a poll). */
void http_client__release(struct http_client *c);

/* ---- pieces of answers and URLs, pure ---------------------------------- */

/* A Retry-After value, delta-seconds or HTTP-date (now_s: CLOCK_REALTIME
 * seconds), as a delay in ms; a date in the past gives 0. -EINVAL when it
 * is neither. */
int http__parse_retry_after(const char *value, int64_t now_s, uint64_t *delay_ms);

/* What is quoted of a server's message at most. */
#define HTTP_MESSAGE_MAX 200

/* The top-level "message" string of a JSON object (Kubernetes' Status,
 * Pyroscope's {"code":..,"message":..}), printable: at most 200 bytes
 * to out (size > 0), NUL-terminated; anything but printable ASCII becomes
 * '?' (one per UTF-8 character), line breaks and tabs ' '. Its length, 0
 * when the body is no such object. */
size_t http__json_message(const char *body, size_t len, char *out, size_t size);
/* The message to quote from an error body: http__json_message, else the
 * first 200 bytes of the body, printable the same way. */
size_t http__server_message(const char *body, size_t len, char *out, size_t size);

/* s escaped for a URL's query or path (malloc'd), NULL on no memory. */
char *http__escape(const char *s);
/* Whether to follow a redirect: same host, no step down from https. */
bool http__same_origin_redirect(const char *from, const char *to);

#endif
