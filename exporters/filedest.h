/* The file destination: one gzipped pprof per series per interval in a
 * directory, with a bound on the total size of the files it owns.
 *
 * Names sort by time and show the series:
 *   20261121T120015Z_checkout-api_node-1_3f2a9c1d.pb.gz
 * the UTC end of the interval, then service_name and the values of the other
 * series labels in key order (each sanitized to [A-Za-z0-9.-], a run of
 * other bytes becoming one '-', cut to 64 bytes; the labels part is cut
 * short before a name would pass 200 bytes), then 8 hex digits of a hash of
 * the full label set, keys and values unsanitized, so two series whose
 * values sanitize alike still get two names. Should a name be taken anyway
 * (two intervals ending in the same second), "-2", "-3", ... follows the
 * hash. '_' only ever separates fields.
 *
 * Only names of exactly that shape are ours: they count towards max_bytes,
 * and only they are ever deleted. Nothing else in the directory is touched,
 * except our own "<name>.tmp" leftovers of a crash, removed at start.
 *
 * The bound: after each interval the oldest of our files (by the time in the
 * name, then mtime) are deleted until the total is at most max_bytes. The
 * files of the interval just written are never deleted by that step, so the
 * newest profiles always survive: when one interval alone is over
 * max_bytes, all older files go and the directory stays over the bound by
 * that much until the next interval (logged).
 *
 * The pprof is the one `ignis record` writes (pprof_style_default:
 * samples/count and cpu/nanoseconds), with the agent's per-sample labels
 * cut down to sample_labels; the program's labels (PROFILE_LABEL_TRACE and
 * _PROGRAM: span ids, trace ids, labels.go_labels) are all kept. The series labels are in the file name only: the pprof
 * renderer has no Profile.comment support yet. */
#ifndef IGNIS_FILEDEST_H
#define IGNIS_FILEDEST_H

#include <stddef.h>
#include <stdint.h>

#include "exporters/destination.h"

struct filedest;

struct filedest_opts {
	const char *name;   /* destination name for logs; NULL: "file" */
	const char *dir;    /* created when missing: parents 0755, the directory itself 0700 */
	uint64_t max_bytes; /* bound on the total size of our files; 0: 1 GiB */
	/* Per-sample labels kept ("pid", "comm", "thread_name"); default none. */
	const char *const *sample_labels;
	size_t nsample_labels;
};

/* Creates the directory if needed and checks that a file can be created in
 * it. Copies what it needs from o. NULL with errno set (and the reason
 * logged) when the directory cannot be made or written. */
struct filedest *filedest__new(const struct filedest_opts *o);

/* Writes one file per series of the interval (to "<name>.tmp", fsync,
 * rename, then fsync of the directory), then applies the size bound. A
 * failure costs only the files it hit: it is counted and logged (once per
 * interval), and the next call starts afresh (recreating the directory if
 * it went away). Returns 0 when nothing failed, else the first error as
 * -errno. Does disk I/O and fsync: call it off the sampling thread. */
int filedest__submit(struct filedest *f, const struct interval *iv);

void filedest__free(struct filedest *f);

struct filedest_stats {
	uint64_t files;          /* written */
	uint64_t bytes_written;
	uint64_t deleted;        /* by the size bound */
	uint64_t errors;         /* files not written, scans or deletions that failed */
	uint64_t dir_bytes;      /* total size of our files after the last scan */
};

/* Safe to call from another thread than filedest__submit. */
void filedest__stats(struct filedest *f, struct filedest_stats *s);

/* The "file" destination type (exporters/destination.h). */
extern const struct destination_ops filedest__destination;

#endif
