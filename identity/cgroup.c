#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "identity/cgroup.h"

/* A /proc/PID/cgroup file is one line per v1 hierarchy (about a dozen);
 * anything past this is not a cgroup file we understand. */
#define CGROUP_FILE_MAX (64 * 1024)

struct span {
	const char *p;
	size_t n;
};

static bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && !memcmp(s.p, lit, n);
}

static bool span_prefix(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n >= n && !memcmp(s.p, lit, n);
}

static bool span_suffix(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n >= n && !memcmp(s.p + s.n - n, lit, n);
}

static bool span_contains(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	for (size_t i = 0; i + n <= s.n; i++)
		if (!memcmp(s.p + i, lit, n))
			return true;
	return false;
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Runtimes name containers by 64 lowercase hex digits; shorter or longer
 * runs are something else (a pod sandbox name, a task id, garbage). */
static bool is_container_id(struct span s)
{
	if (s.n != CGROUP_ID_LEN)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (!is_lower_hex(s.p[i]))
			return false;
	return true;
}

/* A pod uid as the kubelet writes it into cgroup names: 8-4-4-4-12 hex
 * with dashes (cgroupfs) or underscores (systemd, which reserves '-' for
 * nesting), or 32 plain hex for static pods (the uid is the manifest's
 * hash). Normalized to dashes into out. */
static bool pod_uid(struct span s, char out[CGROUP_UID_MAX + 1])
{
	if (s.n == 32) {
		for (size_t i = 0; i < s.n; i++)
			if (!is_lower_hex(s.p[i]))
				return false;
	} else if (s.n == 36) {
		for (size_t i = 0; i < s.n; i++) {
			bool sep = i == 8 || i == 13 || i == 18 || i == 23;

			if (sep ? s.p[i] != '-' && s.p[i] != '_' : !is_lower_hex(s.p[i]))
				return false;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < s.n; i++)
		out[i] = s.p[i] == '_' ? '-' : s.p[i];
	out[s.n] = '\0';
	return true;
}

static const struct {
	const char *prefix;
	enum cgroup_runtime runtime;
	bool monitor;   /* conmon: the runtime's monitor process, not the container */
} scope_prefixes[] = {
	/* Longer prefixes first: "crio-conmon-" also starts with "crio-". */
	{ "cri-containerd-", CGROUP_RUNTIME_CONTAINERD, false },
	{ "crio-conmon-", CGROUP_RUNTIME_CRIO, true },
	{ "crio-", CGROUP_RUNTIME_CRIO, false },
	{ "docker-", CGROUP_RUNTIME_DOCKER, false },
	{ "libpod-conmon-", CGROUP_RUNTIME_PODMAN, true },
	{ "libpod-", CGROUP_RUNTIME_PODMAN, false },
};

/* The "<slice>:<prefix>:<id>" form is runc's systemd cgroupsPath syntax;
 * it shows up verbatim as a path component when a runtime configured for
 * the systemd driver runs against cgroupfs (seen with containerd on
 * cgroup v1). */
static const struct {
	const char *name;
	enum cgroup_runtime runtime;
} colon_prefixes[] = {
	{ "cri-containerd", CGROUP_RUNTIME_CONTAINERD },
	{ "crio", CGROUP_RUNTIME_CRIO },
	{ "docker", CGROUP_RUNTIME_DOCKER },
	{ "libpod", CGROUP_RUNTIME_PODMAN },
};

struct walk {
	struct cgroup_info *out;
	bool in_kubepods;    /* a kubepods component came before */
	bool in_user_manager;
	struct span prev, prev2;
};

static void set_container(struct walk *w, struct span id, enum cgroup_runtime rt)
{
	memcpy(w->out->container_id, id.p, CGROUP_ID_LEN);
	w->out->container_id[CGROUP_ID_LEN] = '\0';
	w->out->runtime = rt;
	/* A unit above a container is the runtime's (containerd.service),
	 * not the workload's. */
	w->out->systemd_unit[0] = '\0';
	w->out->user_unit = false;
}

static void clear_container(struct walk *w)
{
	w->out->container_id[0] = '\0';
	w->out->runtime = CGROUP_RUNTIME_NONE;
	w->out->systemd_unit[0] = '\0';
	w->out->user_unit = false;
}

/* A systemd pod slice: "kubepods-<qos>-pod<uid>.slice",
 * "kubepods-pod<uid>.slice", kind's "kubelet-kubepods-...-pod<uid>.slice". */
static bool slice_pod(struct span c, char out[CGROUP_UID_MAX + 1])
{
	struct span u;
	size_t i;

	if (!span_suffix(c, ".slice") || !span_contains(c, "kubepods"))
		return false;
	c.n -= strlen(".slice");
	for (i = c.n; i >= 4; i--)
		if (!memcmp(c.p + i - 4, "-pod", 4))
			break;
	if (i < 4)
		return false;
	u = (struct span){ c.p + i, c.n - i };
	return pod_uid(u, out);
}

static void found_pod(struct walk *w, const char *uid)
{
	snprintf(w->out->pod_uid, sizeof(w->out->pod_uid), "%s", uid);
	clear_container(w);
}

static bool colon_form(struct walk *w, struct span c)
{
	const char *c1 = memchr(c.p, ':', c.n), *c2;
	struct span slice, name, id;
	char uid[CGROUP_UID_MAX + 1];

	if (!c1)
		return false;
	c2 = memchr(c1 + 1, ':', c.n - (size_t)(c1 + 1 - c.p));
	if (!c2)
		return false;
	slice = (struct span){ c.p, (size_t)(c1 - c.p) };
	name = (struct span){ c1 + 1, (size_t)(c2 - c1 - 1) };
	id = (struct span){ c2 + 1, c.n - (size_t)(c2 + 1 - c.p) };
	if (!is_container_id(id))
		return false;
	for (size_t i = 0; i < sizeof(colon_prefixes) / sizeof(colon_prefixes[0]); i++) {
		if (!span_eq(name, colon_prefixes[i].name))
			continue;
		if (slice_pod(slice, uid))
			found_pod(w, uid);
		set_container(w, id, colon_prefixes[i].runtime);
		return true;
	}
	return false;
}

static void component(struct walk *w, struct span c)
{
	struct span base = c;
	char uid[CGROUP_UID_MAX + 1];

	if (span_contains(c, "kubepods"))
		w->in_kubepods = true;
	if (colon_form(w, c))
		return;
	if (span_suffix(base, ".scope"))
		base.n -= strlen(".scope");
	for (size_t i = 0; i < sizeof(scope_prefixes) / sizeof(scope_prefixes[0]); i++) {
		struct span id;

		if (!span_prefix(base, scope_prefixes[i].prefix))
			continue;
		id = (struct span){ base.p + strlen(scope_prefixes[i].prefix),
				    base.n - strlen(scope_prefixes[i].prefix) };
		if (!is_container_id(id))
			continue;
		if (scope_prefixes[i].monitor)
			clear_container(w);
		else
			set_container(w, id, scope_prefixes[i].runtime);
		return;
	}
	if (is_container_id(c)) {
		enum cgroup_runtime rt = CGROUP_RUNTIME_NONE;

		/* Docker's cgroupfs driver, and Amazon ECS (/ecs/<task>/<id>),
		 * which runs Docker; under /kubepods the id alone does not say
		 * whether containerd or Docker made it. */
		if (span_eq(w->prev, "docker") || span_eq(w->prev2, "ecs"))
			rt = CGROUP_RUNTIME_DOCKER;
		set_container(w, c, rt);
		return;
	}
	if (slice_pod(c, uid) ||
	    (w->in_kubepods && span_prefix(c, "pod") &&
	     pod_uid((struct span){ c.p + 3, c.n - 3 }, uid))) {
		found_pod(w, uid);
		return;
	}
	if (span_suffix(c, ".service") && c.n > strlen(".service")) {
		if (span_prefix(c, "user@")) {
			/* The user manager itself; the app's unit is below it. */
			w->in_user_manager = true;
			w->out->systemd_unit[0] = '\0';
			w->out->user_unit = false;
			return;
		}
		if (c.n < sizeof(w->out->systemd_unit)) {
			memcpy(w->out->systemd_unit, c.p, c.n);
			w->out->systemd_unit[c.n] = '\0';
			w->out->user_unit = w->in_user_manager;
		}
	}
}

static void parse_path_n(const char *path, size_t len, struct cgroup_info *out)
{
	struct walk w = { .out = out };
	size_t i = 0, kept = len < sizeof(out->path) ? len : sizeof(out->path) - 1;

	memset(out, 0, sizeof(*out));
	memcpy(out->path, path, kept);
	out->path[kept] = '\0';
	while (i < len) {
		size_t j = i;

		while (j < len && path[j] != '/')
			j++;
		if (j > i) {
			struct span c = { path + i, j - i };

			component(&w, c);
			w.prev2 = w.prev;
			w.prev = c;
		}
		i = j + 1;
	}
}

int cgroup__parse_path(const char *path, struct cgroup_info *out)
{
	parse_path_n(path ? path : "", path ? strlen(path) : 0, out);
	return 0;
}

static bool has_controller(struct span list, const char *name)
{
	size_t i = 0;

	while (i <= list.n) {
		size_t j = i;

		while (j < list.n && list.p[j] != ',')
			j++;
		if (span_eq((struct span){ list.p + i, j - i }, name))
			return true;
		i = j + 1;
	}
	return false;
}

static int score(const struct cgroup_info *c)
{
	if (c->container_id[0])
		return 3;
	if (c->pod_uid[0])
		return 2;
	return c->systemd_unit[0] ? 1 : 0;
}

int cgroup__parse(const char *text, size_t len, struct cgroup_info *out)
{
	/* Preference order of the hierarchies: v2, pids, cpu, memory, name=systemd. */
	static const char *const v1[] = { "pids", "cpu", "memory", "name=systemd" };
	struct span cand[5] = { 0 };
	struct cgroup_info tmp;
	int best = -1, best_score = -1;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		size_t j = i;
		const char *c1, *c2;
		struct span ctrl, path;

		while (j < len && text[j] != '\n')
			j++;
		c1 = memchr(text + i, ':', j - i);
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(text + j - c1 - 1)) : NULL;
		if (c2 && c2 + 1 < text + j && c2[1] == '/') {
			ctrl = (struct span){ c1 + 1, (size_t)(c2 - c1 - 1) };
			path = (struct span){ c2 + 1, (size_t)(text + j - c2 - 1) };
			if (ctrl.n == 0 && c1 - (text + i) == 1 && text[i] == '0') {
				if (!cand[0].p)
					cand[0] = path;
			} else {
				for (size_t k = 0; k < 4; k++)
					if (!cand[k + 1].p && has_controller(ctrl, v1[k]))
						cand[k + 1] = path;
			}
		}
		i = j + 1;
	}
	for (int k = 0; k < 5; k++) {
		int s;

		if (!cand[k].p)
			continue;
		parse_path_n(cand[k].p, cand[k].n, &tmp);
		s = score(&tmp);
		if (s > best_score) {
			best = k;
			best_score = s;
			*out = tmp;
		}
	}
	return best < 0 ? -ENOENT : 0;
}

int cgroup__read(const char *proc_root, uint32_t pid, struct cgroup_info *out)
{
	char path[PATH_MAX], *buf = NULL;
	ssize_t len;
	int fd, err;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/%u/cgroup", proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(CGROUP_FILE_MAX);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* procfs hands the file out in pieces: read until EOF or the bound. */
	len = file__read_fd(fd, buf, CGROUP_FILE_MAX);
	if (len < 0) {
		err = (int)len;
		goto cleanup;
	}
	err = cgroup__parse(buf, (size_t)len, out);
cleanup:
	free(buf);
	close(fd);
	return err;
}

const char *cgroup__runtime_name(enum cgroup_runtime r)
{
	switch (r) {
	case CGROUP_RUNTIME_CONTAINERD:
		return "containerd";
	case CGROUP_RUNTIME_CRIO:
		return "cri-o";
	case CGROUP_RUNTIME_DOCKER:
		return "docker";
	case CGROUP_RUNTIME_PODMAN:
		return "podman";
	case CGROUP_RUNTIME_NONE:
		break;
	}
	return NULL;
}
