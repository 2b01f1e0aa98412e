#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identity/workload.h"

#define PF_KTHREAD 0x00200000

/* The last path component that is a .service: for a user unit the
 * user@UID.service manager comes before the app's own unit, and the app's
 * is the one wanted. */
static int unit_in_path(const char *path, char *buf, size_t len)
{
	const char *p = path, *best = NULL;
	size_t best_len = 0;

	while (*p) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const size_t suffix = strlen(".service");

		if (n > suffix && !memcmp(p + n - suffix, ".service", suffix)) {
			best = p;
			best_len = n - suffix;
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (!best || best_len == 0 || best_len >= len)
		return 0;
	memcpy(buf, best, best_len);
	buf[best_len] = '\0';
	/* A template instance (getty@tty1) names its template's service. */
	if (strchr(buf, '@') && strchr(buf, '@') != buf && strncmp(buf, "user@", 5))
		*strchr(buf, '@') = '\0';
	return strncmp(buf, "user@", 5) != 0;
}

int workload__unit_from_cgroup(const char *text, char *buf, size_t len)
{
	const char *line = text;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char tmp[PATH_MAX];

		if (n < sizeof(tmp)) {
			memcpy(tmp, line, n);
			tmp[n] = '\0';
			/* cgroup v2, or the v1 hierarchy systemd keeps. */
			if (!strncmp(tmp, "0::", 3) && unit_in_path(tmp + 3, buf, len))
				return 1;
			if (strstr(tmp, ":name=systemd:") &&
			    unit_in_path(strstr(tmp, ":name=systemd:") + 14, buf, len))
				return 1;
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

static int read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (int)n;
}

int workload__is_kernel_thread(const char *proc_root, int pid)
{
	char path[PATH_MAX], stat[1024], *p;
	unsigned long flags;

	snprintf(path, sizeof(path), "%s/%d/stat", proc_root, pid);
	if (read_small(path, stat, sizeof(stat)) <= 0)
		return 0;
	/* comm may hold spaces and parentheses: fields follow the last ')'. */
	p = strrchr(stat, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return 0;
	return !!(flags & PF_KTHREAD);
}

void workload__service_name(const char *proc_root, int pid, const char *comm, char *buf,
			    size_t len)
{
	char path[PATH_MAX], text[4096], exe[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/cgroup", proc_root, pid);
	if (read_small(path, text, sizeof(text)) > 0 &&
	    workload__unit_from_cgroup(text, buf, len))
		return;
	snprintf(path, sizeof(path), "%s/%d/exe", proc_root, pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		const char *base;
		char *deleted;

		exe[n] = '\0';
		deleted = strstr(exe, " (deleted)");
		if (deleted && deleted[strlen(" (deleted)")] == '\0')
			*deleted = '\0';
		base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
		if (*base) {
			snprintf(buf, len, "%s", base);
			return;
		}
	}
	if (workload__is_kernel_thread(proc_root, pid)) {
		snprintf(buf, len, "kernel");
		return;
	}
	snprintf(buf, len, "%s", comm && *comm ? comm : "unknown");
}
