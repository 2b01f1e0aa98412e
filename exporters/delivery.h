/* Delivery of HTTP requests to one destination: a bounded in-memory FIFO and
 * one worker thread that sends it with libcurl, so an upload never blocks
 * the sampler loop. 2xx: sent. 408, 429, 5xx and network errors: retried
 * with exponential backoff and jitter, Retry-After as a lower bound, the
 * request keeping its place (intervals stay in order). Other answers:
 * dropped, counted, the server's message logged. Every outcome is counted.
 *
 * Requests are self-contained (URL, "Name: value" header lines, body,
 * creation time) so a later spool can write them to disk and replay them. */
#ifndef IGNIS_DELIVERY_H
#define IGNIS_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct curl_slist;

struct http_header {
	const char *name, *value;
};

/* Built by an exporter, owned by the delivery once enqueued. Always POSTed. */
struct http_request {
	char *url;
	/* Complete header lines "Name: value" ("Name;" for an empty value,
	 * libcurl's spelling): Content-Type, auth, tenant, extra. Values are
	 * secrets as far as logs are concerned. */
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

struct delivery_opts {
	const char *name;                /* destination name for logs/stats */
	unsigned timeout_ms;             /* per attempt; 0: 10000 */
	unsigned backoff_min_ms, backoff_max_ms;  /* 0: 500, 300000 */
	unsigned max_attempts;           /* 0: 10 */
	uint64_t queue_bytes;            /* memory bound; 0: 64 MiB */
	uint64_t max_age_ms;             /* 0: 3600000 */
	const char *ca_file;             /* TLS CA bundle, NULL: system */
	bool insecure_skip_verify;
	/* Headers added to every attempt and never queued, spooled or logged
	 * (API keys, Authorization): a spooled request replays with the
	 * destination's current credentials. */
	const struct http_header *secret_headers;
	size_t nsecret_headers;
	/* A directory of its own (created 0700) where requests go once the
	 * memory queue is full; NULL: none (past queue_bytes requests are
	 * dropped as today). */
	const char *spool_dir;
	uint64_t spool_bytes;            /* bound on the spool's files; 0: 1 GiB */
};

struct delivery;

/* Starts the worker thread. NULL+errno. */
struct delivery *delivery__new(const struct delivery_opts *o);

/* Queues r behind the others; takes r in all cases. 0, or -ENOBUFS when
 * the queue would pass queue_bytes and -ENOMEM, both counted as
 * dropped_queue_full and logged (rate-limited). */
int delivery__enqueue(struct delivery *d, struct http_request *r);

/* Waits until the queue is empty or the CLOCK_MONOTONIC deadline passes,
 * the worker sending and retrying meanwhile (while someone drains, our own
 * backoff is cut to backoff_min; a server's Retry-After still holds).
 * 0 when empty, -ETIMEDOUT. */
int delivery__drain(struct delivery *d, int64_t deadline_ns);

/* Stops the worker at once (a transfer under way is aborted) and frees
 * what is still queued. Accepts NULL. */
void delivery__free(struct delivery *d);

struct delivery_stats {
	uint64_t sent, attempts, retried;
	uint64_t dropped_client_error, dropped_retries_exhausted, dropped_too_old,
		dropped_queue_full;
	uint64_t bytes_sent;             /* bodies of requests answered 2xx */
	uint64_t queue_bytes, queue_len; /* now, the request in flight included */
	/* spooled: written to the spool by enqueue; replayed: read back from
	 * it to be sent; dropped_spool_full: deleted oldest-first for room,
	 * or not written (bigger than the bound, a failed write);
	 * dropped_spool_bad: a spool file gone or not parsing when its turn
	 * came (or at start) */
	uint64_t spooled, replayed, dropped_spool_full;
	uint64_t spool_bytes, spool_files;   /* now */
	uint64_t dropped_spool_bad;
	char last_error[256];            /* "<what>: <reason>", "" if none yet */
};

void delivery__stats(struct delivery *d, struct delivery_stats *s);

/* ---- parsers of server answers, pure (unit tests, fuzzing) ------------- */

/* A Retry-After value, delta-seconds or HTTP-date (now_s: CLOCK_REALTIME
 * seconds), as a delay in ms; a date in the past gives 0. -EINVAL when it
 * is neither. */
int delivery__parse_retry_after(const char *value, int64_t now_s, uint64_t *delay_ms);

/* The message to quote from an error body: the top-level "message" string
 * of a JSON object (Pyroscope's {"code":..,"message":..}), else the first
 * 200 bytes of the body; anything but printable ASCII becomes '?'. Writes
 * a NUL-terminated string to out (size > 0) and returns its length. */
size_t delivery__server_message(const char *body, size_t len, char *out, size_t size);

#endif
