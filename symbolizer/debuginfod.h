/* Debug files from debuginfod servers, fetched in the background.
 *
 * The symbolizer runs at every flush and must never wait on a server: it
 * queues a build id with debuginfod__request() when it first meets a binary
 * without local debug info, and asks debuginfod__result() at each later
 * flush, which answers from memory and one stat() of the cache. One worker
 * thread owns the libdebuginfod client (a client is not safe to share) and
 * fetches one file at a time into the cache directory, which also outlives
 * the process: a restarted agent finds earlier downloads there.
 *
 * Environment: libdebuginfod 0.188 has no API for its server list or its
 * cache directory; it reads DEBUGINFOD_URLS and DEBUGINFOD_CACHE_PATH with
 * getenv() on every query. debuginfod__new() therefore sets them (URLs only
 * when o->urls is not NULL) and the free of the last instance puts back
 * what was there before. Both must run while no other thread reads or
 * writes the environment (call them at startup and shutdown). Instances
 * alive at the same time must share urls and cache_dir (EBUSY otherwise).
 * While DEBUGINFOD_URLS is set, any libdwfl user of
 * dwfl_standard_find_debuginfo or dwfl_build_id_find_elf would download
 * synchronously: symbolizer code must keep its own libdwfl callbacks. */
#ifndef IGNIS_SYM_DEBUGINFOD_H
#define IGNIS_SYM_DEBUGINFOD_H

#include <stdint.h>

#define DEBUGINFOD_DEFAULT_CACHE "/var/cache/ignis/debuginfod"

struct debuginfod_opts {
	/* Space-separated server URLs; NULL: the DEBUGINFOD_URLS environment
	 * variable; empty (or only spaces): feature off. */
	const char *urls;
	/* The libdebuginfod cache (<cache_dir>/<build id>/debuginfo); created
	 * when missing. NULL: "/var/cache/ignis/debuginfod". */
	const char *cache_dir;
	/* Bound on the bytes of the files in the cache; the least recently
	 * used go first, never the one just fetched. 0: 2 GiB. */
	uint64_t cache_bytes;
	/* A request is aborted after this many seconds without a byte of the
	 * file arriving (connecting and the server's answer included). 0: 30. */
	unsigned timeout_s;
	/* Back-off before a failed, timed-out or evicted fetch is tried again
	 * (so a transient outage fills names in later). 0: 300. */
	unsigned retry_s;
	/* Back-off before a build id the servers do not have (404) is asked
	 * for again. 0: 3600. */
	unsigned miss_s;
};

struct debuginfod;

/* Starts the worker thread. NULL with errno ENOENT when no server is
 * configured (callers treat it as "no debuginfod"); EBUSY when another live
 * instance has other urls or cache_dir; another errno on failure (the cache
 * directory cannot be created, ...). */
struct debuginfod *debuginfod__new(const struct debuginfod_opts *o);
/* Stops the worker promptly (an in-flight download is aborted within about a
 * second) and frees. Accepts NULL. */
void debuginfod__free(struct debuginfod *d);

/* Queues a fetch of the debuginfo of build_id (hex, 2 to 128 digits, any
 * case). Never touches the network. 0 when queued, already queued or in
 * flight, already in the cache, or inside a back-off; -EINVAL for a bad
 * build id; -ENOBUFS when the queue (4096) or the table of known build ids
 * is full (counted as dropped). */
int debuginfod__request(struct debuginfod *d, const char *build_id);

/* Non-blocking. 0 and *path (malloc'd, caller frees) when the file is in the
 * cache; -EAGAIN while queued or in flight; -ENOENT when the servers do not
 * have it, the fetch failed or was evicted (and when it was never
 * requested). Past its back-off, a failed entry is queued again by this
 * call, which then answers -EAGAIN. -EINVAL for a bad build id. */
int debuginfod__result(struct debuginfod *d, const char *build_id, char **path);

/* Waits until nothing is queued or in flight, or timeout_ms passes.
 * 0 or -ETIMEDOUT. */
int debuginfod__wait(struct debuginfod *d, uint64_t timeout_ms);

struct debuginfod_stats {
	uint64_t requested;   /* fetches queued, retries included */
	uint64_t fetched;     /* files that arrived */
	uint64_t failed;      /* fetches that ended without a file (404 too) */
	uint64_t dropped;     /* requests refused: queue or table full */
	uint64_t cache_bytes; /* bytes in the cache after the last fetch */
};

void debuginfod__stats(struct debuginfod *d, struct debuginfod_stats *s);

#endif
