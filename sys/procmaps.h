/* Parser of /proc/PID/maps: the executable mappings of one process. */
#ifndef IGNIS_PROCMAPS_H
#define IGNIS_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct procmaps_entry {
	uint64_t start, end;   /* [start, end) */
	uint64_t offset;       /* file offset of start */
	uint32_t dev_major, dev_minor;
	uint64_t inode;
	char *path;            /* "" for anonymous; "[vdso]" and the like kept */
};

struct procmaps {
	struct procmaps_entry *v;
	size_t n;
};

/* Reads the executable mappings from an open maps file. Lines that do not
 * parse are skipped and counted in *bad (may be NULL). Returns 0 or -errno. */
int procmaps__parse(FILE *f, struct procmaps *out, size_t *bad);
/* Reads <proc_root>/<pid>/maps. -ENOENT/-ESRCH when the process is gone. */
int procmaps__read(const char *proc_root, int pid, struct procmaps *out);
void procmaps__clear(struct procmaps *m);
/* The mapping that holds addr, or NULL. The entries are sorted. */
const struct procmaps_entry *procmaps__find(const struct procmaps *m, uint64_t addr);

#endif
