/* JIT perf maps: the /tmp/perf-PID.map text files that JITs (Node.js
 * --perf-basic-prof, Python 3.12 -X perf, Java perf-map-agent) append
 * "START SIZE NAME" lines to while they run. The map keeps the file open,
 * so it can still be read after the process has exited. */
#ifndef IGNIS_SYM_PERFMAP_H
#define IGNIS_SYM_PERFMAP_H

#include <stddef.h>
#include <stdint.h>

#define PERFMAP_DEFAULT_MAX_ENTRIES (1u << 20)
#define PERFMAP_DEFAULT_MAX_NAME_BYTES (64u << 20)

struct perfmap;

struct perfmap_stats {
	uint64_t lines;		/* complete lines read */
	uint64_t bad;		/* lines that did not parse (and over-long lines) */
	uint64_t dropped;	/* good lines left out because the map was full */
	uint64_t resets;	/* times the file shrank and was read again from 0 */
};

/* fd: the perf map opened by the caller (see perfmap__open_for); ownership
 * taken, also on failure. Empty until the first perfmap__refresh. NULL and
 * errno set. */
struct perfmap *perfmap__new(int fd);
void perfmap__free(struct perfmap *m);

/* Bounds (defaults PERFMAP_DEFAULT_*): the number of address ranges kept,
 * and the bytes of names. Lines that would go past either are dropped and
 * counted; what is already held stays. -EINVAL for a zero bound. */
int perfmap__set_limits(struct perfmap *m, size_t max_entries, size_t max_name_bytes);

/* Reads what was appended since the last refresh (only an fstat when the
 * size did not change); a partial last line waits for the next refresh. A
 * file that shrank is read again from the start. Where ranges overlap, the
 * later line wins. 0 or -errno (the map is unchanged on error). */
int perfmap__refresh(struct perfmap *m);

/* The name of the JIT function holding addr (an absolute virtual address),
 * or NULL. The string stays valid until the next refresh or free. */
const char *perfmap__lookup(const struct perfmap *m, uint64_t addr);

/* Address ranges held (after overlaps are resolved) and memory used. */
size_t perfmap__count(const struct perfmap *m);
size_t perfmap__bytes(const struct perfmap *m);
void perfmap__stats(const struct perfmap *m, struct perfmap_stats *st);

/* Opens "<proc_root>/<pid>/root/tmp/perf-<nspid>.map", where nspid is the
 * pid as the process sees itself (last field of NSpid: in
 * <proc_root>/<pid>/status; pid itself when absent). Symlinks resolve inside
 * the process's root. Refuses (-EPERM) a map owned by someone other than
 * root or one of the process's uids, and (-EINVAL) anything but a regular
 * file. fd or -errno (-ENOENT when the process has no map). */
int perfmap__open_for(const char *proc_root, int pid);

#endif
