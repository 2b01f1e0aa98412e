/* Delivery of HTTP requests to one destination: one FIFO, held in memory up
 * to queue_bytes and past that in a spool directory on disk
 * (exporters/spool.h), and one worker thread that sends it with libcurl,
 * so an upload never blocks on the network. 2xx: sent. 408, 429, 5xx and
 * network errors: retried with exponential backoff and jitter, Retry-After
 * as a lower bound, the request keeping its place (intervals stay in
 * order). Other answers: dropped, counted, the server's message logged.
 * Older than max_age: dropped, counted. Every outcome is counted.
 *
 * Order across memory and disk: a request goes to memory only while the
 * spool is empty (nothing on disk, nothing on its way there) and it fits
 * under queue_bytes, else to the end of the spool: it is handed to the
 * delivery's spool writer thread, which compresses and writes it (and
 * the others handed over meanwhile, with one fsync of the directory for
 * the batch), so the caller never waits on the disk. The worker sends
 * memory first, then the spool's files one by one (read back, counted as
 * replayed), a file deleted only after its final answer. So every request
 * arrives once, in the order enqueued, whether it waited in memory or on
 * disk, across restarts and SIGKILL for what had reached the disk: a new
 * delivery on the same spool_dir sends what it finds there first, and
 * delivery__free writes what was handed to the writer behind the files
 * and what is still in memory ahead of them. What a SIGKILL takes is the
 * requests handed over but not yet written (milliseconds' worth), never
 * one in the middle of the order: files are written in order. The one
 * exception to "once": the request in flight at a crash or at free (kept,
 * since we never saw its answer) is sent again, so the server gets it
 * twice if it had taken it.
 *
 * Memory: queue_bytes bounds the memory queue; with a spool, the requests
 * handed to the writer and not yet written take up to max(queue_bytes,
 * DELIVERY_HANDOFF_MIN_BYTES) more, and at most
 * DELIVERY_HANDOFF_MAX_REQUESTS of them (one is always taken, whatever
 * its size); past that they are dropped, counted as dropped_queue_full
 * (a disk much slower than the requests come).
 *
 * Requests are self-contained (http/request.h) so they can be written to
 * disk and replayed; the HTTP exchange itself is http/http.h's; credentials
 * are not part of them but secret_headers of the delivery, added to each
 * attempt only: never queued, spooled or logged. */
#ifndef IGNIS_DELIVERY_H
#define IGNIS_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/request.h"

/* What an answer means for its request (delivery_opts.judge). */
enum delivery_verdict { DELIVERY_SENT, DELIVERY_RETRY, DELIVERY_DROP };

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
	 * destination's current credentials. Copied; delivery__new fails
	 * with EINVAL for a bad name or CR/LF in a value (naming the header,
	 * never its value). */
	const struct http_header *secret_headers;
	size_t nsecret_headers;
	/* A directory of its own (created 0700) where requests go once the
	 * memory queue is full; NULL: none (past queue_bytes requests are
	 * dropped). Parents are created 0755; a symbolic link
	 * (ELOOP) or a directory owned by another uid (EPERM) is refused.
	 * See exporters/spool.h for the files. */
	const char *spool_dir;
	uint64_t spool_bytes;            /* bound on the spool's files; 0: 1 GiB */
	/* A protocol's own reading of an answer that came (any status but a
	 * redirect, which is followed as above): OTLP retries only 429, 502,
	 * 503 and 504, and reads a 2xx body for partial success. NULL: the
	 * rules above. Called on the worker thread; writes what to log (for
	 * DELIVERY_RETRY and DELIVERY_DROP) to reason. A Retry-After still
	 * bounds a retry. */
	enum delivery_verdict (*judge)(void *arg, const struct http_request *r, long status,
				       const char *body, size_t len, char *reason, size_t rlen);
	void *judge_arg;
	/* An answer that asks for a retry (408, 429, 5xx) but says retrying
	 * cannot help: when the server's message holds final_message, the
	 * request is dropped at once (counted in dropped_refused) rather than
	 * retried for max_age while it holds up the queue, and the first such
	 * answer is logged with final_hint (what to change), later ones at
	 * debug level. Pyroscope's active-series limit is one. Static strings
	 * (not copied); NULL: none. */
	const char *final_message;
	const char *final_hint;
};

/* The bound of the hand-off to the spool writer (see above). */
#define DELIVERY_HANDOFF_MIN_BYTES (8ull << 20)
#define DELIVERY_HANDOFF_MAX_REQUESTS 1024u

struct delivery;

/* Starts the worker thread, and the spool writer with a spool. NULL+errno. */
struct delivery *delivery__new(const struct delivery_opts *o);

/* Queues r behind the others; takes r in all cases. Never waits on the
 * network nor on the disk, only (briefly) on the queue's mutex: a request
 * bound for the spool is handed to the spool writer, and written after
 * this returns. 0 (in memory, or handed to the writer), or -ENOBUFS when
 * memory would pass queue_bytes without a spool, or the hand-off its
 * bound with one (-ENOMEM when out of memory), counted as
 * dropped_queue_full and logged (rate-limited). That the spool cannot
 * take r (bigger than spool_bytes, a failed write) is known only once the
 * writer tried: counted as dropped_spool_full and logged then; making
 * room for r deletes the spool's oldest files (dropped_spool_full too). */
int delivery__enqueue(struct delivery *d, struct http_request *r);

/* Waits until the queue (memory, spool and the hand-off to its writer) is
 * empty or the CLOCK_MONOTONIC deadline passes,
 * the worker sending and retrying meanwhile (while someone drains, our own
 * backoff is cut to backoff_min; a server's Retry-After still holds).
 * 0 when empty, -ETIMEDOUT. */
int delivery__drain(struct delivery *d, int64_t deadline_ns);

/* Stops the worker at once (a transfer under way is aborted) and frees
 * what is still queued; with a spool, the writer first writes what was
 * handed to it (behind the files) and what is in memory is written ahead
 * of the files, for the next run: free waits for those writes. Accepts
 * NULL. */
void delivery__free(struct delivery *d);

struct delivery_stats {
	uint64_t sent, attempts, retried;
	uint64_t dropped_client_error, dropped_retries_exhausted, dropped_too_old,
		dropped_queue_full;
	uint64_t bytes_sent;             /* bodies of requests answered 2xx */
	/* now, in memory, the request in flight included (but one read back
	 * from the spool, which counts in spool_*) */
	uint64_t queue_bytes, queue_len;
	/* spooled: written to the spool by its writer; replayed: read back from
	 * it to be sent; dropped_spool_full: deleted oldest-first for room,
	 * or not written (bigger than the bound, a failed write);
	 * dropped_spool_bad: a spool file gone or not parsing when its turn
	 * came (or at start) */
	uint64_t spooled, replayed, dropped_spool_full;
	uint64_t spool_bytes, spool_files;   /* now */
	uint64_t dropped_spool_bad;
	/* now: handed to the spool writer and not yet written (in neither
	 * queue_* nor spool_*) */
	uint64_t spool_pending_len, spool_pending_bytes;
	char last_error[256];            /* "<what>: <reason>", "" if none yet */
	/* Profiles a receiver said it rejected in answers it counted as
	 * success (OTLP partial_success); the destination fills it in, the
	 * delivery leaves it 0. */
	uint64_t partially_rejected;
	uint64_t dropped_refused;        /* final_message answers (see delivery_opts) */
};

void delivery__stats(struct delivery *d, struct delivery_stats *s);

#endif
