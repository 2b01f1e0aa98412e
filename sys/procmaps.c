#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "sys/procmaps.h"

/* "start-end perms offset major:minor inode   path" */
static int parse_line(char *line, struct procmaps_entry *e, int *exec)
{
	char perms[5];
	int path_at = -1;
	char *path, *nl;

	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n",
		   &e->start, &e->end, perms, &e->offset, &e->dev_major, &e->dev_minor,
		   &e->inode, &path_at) < 7 || path_at < 0)
		return -EINVAL;
	if (e->end <= e->start || strlen(perms) != 4)
		return -EINVAL;
	*exec = perms[2] == 'x';
	path = line + path_at;
	nl = strchr(path, '\n');
	if (nl)
		*nl = '\0';
	e->path = path;
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const struct procmaps_entry *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int procmaps__parse(FILE *f, struct procmaps *out, size_t *bad)
{
	char *line = NULL;
	size_t cap = 0, alloc = 0, nbad = 0;
	int err = 0;

	out->v = NULL;
	out->n = 0;
	while (getline(&line, &cap, f) >= 0) {
		struct procmaps_entry e;
		int exec;

		if (parse_line(line, &e, &exec)) {
			nbad++;
			continue;
		}
		if (!exec)
			continue;
		if (ARRAY_RESERVE_FROM(out->v, &alloc, out->n + 1, 32)) {
			err = -ENOMEM;
			goto cleanup;
		}
		e.path = strdup(e.path);
		if (!e.path) {
			err = -ENOMEM;
			goto cleanup;
		}
		out->v[out->n++] = e;
	}
	if (ferror(f)) {
		err = -EIO;
		goto cleanup;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_start);
	if (bad)
		*bad = nbad;
	free(line);
	return 0;

cleanup:
	free(line);
	procmaps__clear(out);
	return err;
}

int procmaps__read(const char *proc_root, int pid, struct procmaps *out)
{
	char path[PATH_MAX];
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s/%d/maps", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	err = procmaps__parse(f, out, NULL);
	fclose(f);
	return err;
}

void procmaps__clear(struct procmaps *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

const struct procmaps_entry *procmaps__find(const struct procmaps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->v[mid].start)
			hi = mid;
		else if (addr >= m->v[mid].end)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}
