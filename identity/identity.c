#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/str.h"
#include "identity/cgroup.h"
#include "base/charclass.h"
#include "identity/identity.h"
#include "base/log.h"
#include "identity/workload.h"

/* environ is read through this window: an entry longer than it is not one
 * of ours (ours are bounded far below) and is skipped. */
#define ENV_CHUNK (16 * 1024)

struct identity {
	char *proc_root, *node;
	identity_lookup_fn lookup;
	void *lookup_ctx;
	void (*pod_free)(struct kube_pod *p);
	const struct relabel *relabel;
	char chunk[ENV_CHUNK];
};

struct identity *identity__new(const struct identity_opts *o)
{
	struct identity *id;

	if (!o || !o->proc_root || (o->lookup && !o->pod_free)) {
		errno = EINVAL;
		return NULL;
	}
	id = calloc(1, sizeof(*id));
	if (!id)
		goto nomem;
	id->proc_root = strdup(o->proc_root);
	if (!id->proc_root || str__dup(o->node, &id->node))
		goto nomem;
	id->lookup = o->lookup;
	id->lookup_ctx = o->lookup_ctx;
	id->pod_free = o->pod_free;
	id->relabel = o->relabel;
	return id;
nomem:
	identity__free(id);
	errno = ENOMEM;
	return NULL;
}

void identity__free(struct identity *id)
{
	if (!id)
		return;
	free(id->proc_root);
	free(id->node);
	free(id);
}

void identity_result__clear(struct identity_result *r)
{
	if (!r)
		return;
	free(r->labels);   /* one block: the array and its strings */
	memset(r, 0, sizeof(*r));
}

/* ---- environment -------------------------------------------------------- */

static void keep_value(const char *v, size_t n, char *out, size_t outlen)
{
	/* Longer than we keep: ignored rather than cut into a wrong name. */
	if (n >= outlen)
		return;
	memcpy(out, v, n);
	out[n] = '\0';
}

static void env_entry(const char *p, size_t n, struct identity_env *out)
{
	static const struct {
		const char *key;
		size_t off, size;
	} keys[] = {
		{ "DD_SERVICE=", offsetof(struct identity_env, dd_service), IDENTITY_ENV_VALUE_MAX },
		{ "DD_ENV=", offsetof(struct identity_env, dd_env), IDENTITY_ENV_VALUE_MAX },
		{ "DD_VERSION=", offsetof(struct identity_env, dd_version), IDENTITY_ENV_VALUE_MAX },
		{ "OTEL_SERVICE_NAME=", offsetof(struct identity_env, otel_service_name),
		  IDENTITY_ENV_VALUE_MAX },
		{ "OTEL_RESOURCE_ATTRIBUTES=",
		  offsetof(struct identity_env, otel_resource_attributes), IDENTITY_ENV_ATTRS_MAX },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t k = strlen(keys[i].key);

		if (n >= k && !memcmp(p, keys[i].key, k)) {
			/* A value with a NUL cannot happen in environ; a
			 * value is what is before the entry's end. */
			keep_value(p + k, n - k, (char *)out + keys[i].off, keys[i].size);
			return;
		}
	}
}

void identity__parse_environ(const char *buf, size_t len, struct identity_env *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		const char *nul = memchr(buf + i, '\0', len - i);
		size_t n = nul ? (size_t)(nul - (buf + i)) : len - i;

		env_entry(buf + i, n, out);
		i += n + 1;
	}
}

/* Streams PROC/PID/environ through id->chunk, entry by entry, up to
 * IDENTITY_ENV_MAX bytes; what is not ours never leaves the window. */
static void read_environ(struct identity *id, uint32_t pid, struct identity_env *out)
{
	char path[PATH_MAX];
	size_t have = 0, total = 0;
	bool skipping = false;   /* inside an entry longer than the window */
	int fd;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/%u/environ", id->proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while (total < IDENTITY_ENV_MAX) {
		size_t want = sizeof(id->chunk) - have, start = 0;
		ssize_t n;

		if (want > IDENTITY_ENV_MAX - total)
			want = IDENTITY_ENV_MAX - total;
		n = read(fd, id->chunk + have, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += (size_t)n;
		have += (size_t)n;
		for (;;) {
			char *nul = memchr(id->chunk + start, '\0', have - start);

			if (!nul)
				break;
			if (!skipping)
				env_entry(id->chunk + start, (size_t)(nul - id->chunk) - start, out);
			skipping = false;
			start = (size_t)(nul - id->chunk) + 1;
		}
		memmove(id->chunk, id->chunk + start, have - start);
		have -= start;
		if (have == sizeof(id->chunk)) {
			skipping = true;
			have = 0;
		}
	}
	/* A last entry without its NUL (environ need not end in one), unless
	 * the bound cut it. */
	if (have && !skipping && total < IDENTITY_ENV_MAX)
		env_entry(id->chunk, have, out);
	close(fd);
}

static void trim(const char **p, size_t *n)
{
	while (*n && charclass__is_blank(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && charclass__is_blank((*p)[*n - 1]))
		(*n)--;
}

static int otel_attr(const char *attrs, const char *key, char *out, size_t outlen);

int identity__otel_attr(const char *attrs, const char *key, char *out, size_t outlen)
{
	int ret = otel_attr(attrs, key, out, outlen);

	if (ret < 0 && outlen)
		out[0] = '\0';
	return ret;
}

static int otel_attr(const char *attrs, const char *key, char *out, size_t outlen)
{
	const char *p = attrs;
	int found = 0;

	if (outlen)
		out[0] = '\0';
	while (p && *p) {
		const char *end = strchr(p, ','), *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p), kn, vn, o = 0;
		const char *k = p, *v;
		char tmp[IDENTITY_ENV_ATTRS_MAX];

		eq = memchr(p, '=', n);
		if (!eq) {
			/* An empty member (trailing comma) is tolerated. */
			size_t tn = n;
			const char *tp = p;

			trim(&tp, &tn);
			if (tn)
				return -EINVAL;
			p = end ? end + 1 : NULL;
			continue;
		}
		kn = (size_t)(eq - p);
		v = eq + 1;
		vn = n - kn - 1;
		trim(&k, &kn);
		trim(&v, &vn);
		if (!kn)
			return -EINVAL;
		/* Decode every value: a bad escape anywhere voids the text. */
		for (size_t i = 0; i < vn; i++) {
			char c = v[i];

			if (c == '%') {
				int hi = i + 2 < vn ? charclass__hex_value(v[i + 1]) : -1;
				int lo = hi >= 0 ? charclass__hex_value(v[i + 2]) : -1;

				if (hi < 0 || lo < 0)
					return -EINVAL;
				c = (char)(hi * 16 + lo);
				i += 2;
			}
			if (o + 1 < sizeof(tmp))
				tmp[o++] = c;
		}
		tmp[o] = '\0';
		if (kn == strlen(key) && !memcmp(k, key, kn) && strlen(tmp) == o) {
			/* The last occurrence wins, as when attributes merge. */
			snprintf(out, outlen, "%s", tmp);
			found = o > 0;
		}
		p = end ? end + 1 : NULL;
	}
	return found;
}

/* ---- labels -------------------------------------------------------------- */

static const char *kv_get(const struct kube_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (kv[i].key && kv[i].value && !strcmp(kv[i].key, key))
			return kv[i].value;
	return NULL;
}

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

/* The first non-empty of n candidates. */
static const char *first(const char *const *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (c[i] && *c[i])
			return c[i];
	return NULL;
}

#define FIRST(...) first((const char *const[]){ __VA_ARGS__ }, \
			 sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* Adds key=value; a bound hit on outside data (a huge annotation) costs
 * that label only. */
static int add(struct label_set *s, const char *key, const char *value)
{
	int err = label_set__set(s, key, value);

	if (err == -E2BIG || err == -EINVAL) {
		pr_debug("identity: label %.64s left out (%s)\n", key, strerror(-err));
		return 0;
	}
	return err;
}

static int add_prefixed(struct label_set *s, const char *prefix, const char *name,
			const char *value)
{
	size_t pn = strlen(prefix), nn = strlen(name);
	char *key = malloc(pn + nn + 1);
	int err;

	if (!key)
		return -ENOMEM;
	memcpy(key, prefix, pn);
	/* Prometheus' sanitization of label and annotation names. */
	for (size_t i = 0; i < nn; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_';

		key[pn + i] = ok ? c : '_';
	}
	key[pn + nn] = '\0';
	err = add(s, key, value);
	free(key);
	return err;
}

static void exe_of(struct identity *id, uint32_t pid, char *exe, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	char *deleted;

	exe[0] = '\0';
	snprintf(path, sizeof(path), "%s/%u/exe", id->proc_root, pid);
	n = readlink(path, exe, len - 1);
	if (n <= 0) {
		exe[0] = '\0';
		return;
	}
	exe[n] = '\0';
	deleted = strstr(exe, " (deleted)");
	if (deleted && deleted[strlen(" (deleted)")] == '\0')
		*deleted = '\0';
}

static void comm_of(struct identity *id, uint32_t pid, char *comm, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	comm[0] = '\0';
	snprintf(path, sizeof(path), "%s/%u/comm", id->proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, comm, len - 1);
	close(fd);
	if (n <= 0)
		return;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
}

/* The service a unit stands for: "nginx.service" -> "nginx",
 * "getty@tty1.service" -> "getty". */
static void unit_service(const char *unit, char *out, size_t len)
{
	size_t n = strlen(unit);
	const char *at;

	out[0] = '\0';
	if (n > strlen(".service") && str__ends_with(unit, ".service"))
		n -= strlen(".service");
	at = memchr(unit, '@', n);
	if (at && at != unit)
		n = (size_t)(at - unit);
	if (n && n < len) {
		memcpy(out, unit, n);
		out[n] = '\0';
	}
}

/* The final labels in one block: the array, then the strings. */
static int to_result(const struct label_set *s, struct identity_result *out)
{
	size_t n = label_set__count(s), bytes = n * sizeof(struct profile_label);
	char *block, *p;

	for (size_t i = 0; i < n; i++)
		bytes += strlen(label_set__key(s, i)) + strlen(label_set__value(s, i)) + 2;
	block = malloc(bytes ? bytes : 1);
	if (!block)
		return -ENOMEM;
	out->labels = (struct profile_label *)block;
	out->nlabels = n;
	p = block + n * sizeof(struct profile_label);
	for (size_t i = 0; i < n; i++) {
		size_t kn = strlen(label_set__key(s, i)) + 1, vn = strlen(label_set__value(s, i)) + 1;

		memcpy(p, label_set__key(s, i), kn);
		out->labels[i] = (struct profile_label){ .key = p };
		p += kn;
		memcpy(p, label_set__value(s, i), vn);
		out->labels[i].str = p;
		p += vn;
	}
	return 0;
}

struct sources {
	const struct kube_pod *pod;
	const char *container;          /* the container's name in the pod */
	const struct identity_env *env;
	const struct cgroup_info *cg;
	const char *exe_name;
	bool kernel;
	const char *comm;
};

static const char *pod_label(const struct sources *s, const char *key)
{
	return s->pod ? kv_get(s->pod->labels, s->pod->nlabels, key) : NULL;
}

static const char *pod_annotation(const struct sources *s, const char *key)
{
	return s->pod ? kv_get(s->pod->annotations, s->pod->nannotations, key) : NULL;
}

/* tags.datadoghq.com/<container>.<what>, this container's own tag. */
static const char *dd_container_label(const struct sources *s, const char *what)
{
	char key[512];

	if (!s->container)
		return NULL;
	if ((size_t)snprintf(key, sizeof(key), "tags.datadoghq.com/%s.%s", s->container, what) >=
	    sizeof(key))
		return NULL;
	return pod_label(s, key);
}

/* service_name, env and version in the order identity.h documents. */
static int precedence(const struct sources *s, struct label_set *ls)
{
	char otel_name[IDENTITY_ENV_ATTRS_MAX], otel_env_name[IDENTITY_ENV_ATTRS_MAX],
		otel_env[IDENTITY_ENV_ATTRS_MAX], otel_version[IDENTITY_ENV_ATTRS_MAX];
	char ns_container[512] = "", unit[CGROUP_UNIT_MAX] = "";
	const char *attrs = s->env->otel_resource_attributes;
	const char *service, *env, *version;
	int err;

	otel_name[0] = otel_env_name[0] = otel_env[0] = otel_version[0] = '\0';
	/* A malformed text is ignored whole: nothing is taken from it. */
	if (identity__otel_attr(attrs, "service.name", otel_name, sizeof(otel_name)) >= 0) {
		identity__otel_attr(attrs, "deployment.environment.name", otel_env_name,
				    sizeof(otel_env_name));
		identity__otel_attr(attrs, "deployment.environment", otel_env, sizeof(otel_env));
		identity__otel_attr(attrs, "service.version", otel_version, sizeof(otel_version));
	}
	if (s->pod && nonempty(s->pod->namespace) && s->container)
		snprintf(ns_container, sizeof(ns_container), "%s/%s", s->pod->namespace,
			 s->container);
	if (!s->pod && s->cg->systemd_unit[0])
		unit_service(s->cg->systemd_unit, unit, sizeof(unit));

	service = FIRST(pod_annotation(s, "ignis.io/service"),
			dd_container_label(s, "service"), pod_label(s, "tags.datadoghq.com/service"),
			s->env->dd_service,
			s->env->otel_service_name, otel_name,
			pod_label(s, "app.kubernetes.io/name"),
			s->pod ? s->pod->owner_name : NULL,
			ns_container,
			unit,
			s->exe_name, s->kernel ? "kernel" : NULL, s->comm, "unknown");
	env = FIRST(pod_annotation(s, "ignis.io/env"),
		    dd_container_label(s, "env"), pod_label(s, "tags.datadoghq.com/env"),
		    s->env->dd_env,
		    otel_env_name, otel_env);
	version = FIRST(pod_annotation(s, "ignis.io/version"),
			dd_container_label(s, "version"), pod_label(s, "tags.datadoghq.com/version"),
			s->env->dd_version,
			otel_version,
			pod_label(s, "app.kubernetes.io/version"));
	if ((err = add(ls, "service_name", service)) || (err = add(ls, "env", env)) ||
	    (err = add(ls, "version", version)))
		return err;
	return 0;
}

static int pod_labels(const struct identity *id, const struct kube_pod *pod, const char *container,
		      struct label_set *ls)
{
	const char *node = nonempty(pod->node) ? pod->node : id->node;
	int err;

	if ((err = add(ls, "__meta_kubernetes_namespace", pod->namespace)) ||
	    (err = add(ls, "__meta_kubernetes_pod_name", pod->name)) ||
	    (err = add(ls, "__meta_kubernetes_pod_uid", pod->uid)) ||
	    (err = add(ls, "__meta_kubernetes_pod_container_name", container)) ||
	    (err = add(ls, "__meta_kubernetes_pod_node_name", node)) ||
	    (err = add(ls, "__meta_kubernetes_pod_controller_kind", pod->owner_kind)) ||
	    (err = add(ls, "__meta_kubernetes_pod_controller_name", pod->owner_name)) ||
	    (err = add(ls, "namespace", pod->namespace)) || (err = add(ls, "pod", pod->name)) ||
	    (err = add(ls, "container", container)) || (err = add(ls, "node", node)) ||
	    (err = add(ls, "workload", pod->owner_name)) ||
	    (err = add(ls, "workload_kind", pod->owner_kind)))
		return err;
	for (size_t i = 0; i < pod->nlabels && pod->labels; i++)
		if (pod->labels[i].key &&
		    (err = add_prefixed(ls, "__meta_kubernetes_pod_label_", pod->labels[i].key,
					pod->labels[i].value)))
			return err;
	for (size_t i = 0; i < pod->nannotations && pod->annotations; i++)
		if (pod->annotations[i].key &&
		    (err = add_prefixed(ls, "__meta_kubernetes_pod_annotation_",
					pod->annotations[i].key, pod->annotations[i].value)))
			return err;
	return 0;
}

int identity__resolve(struct identity *id, uint32_t tgid, const char *comm,
		      struct identity_result *out)
{
	struct cgroup_info *cg = malloc(sizeof(*cg));
	struct identity_env *env = malloc(sizeof(*env));
	struct label_set *ls = label_set__new();
	struct kube_pod *pod = NULL;
	const char *container = NULL;
	char exe[PATH_MAX], comm_buf[64], pid[16];
	const char *exe_name;
	struct sources src;
	bool keep = true;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!cg || !env || !ls) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (cgroup__read(id->proc_root, tgid, cg))
		memset(cg, 0, sizeof(*cg));
	read_environ(id, tgid, env);
	exe_of(id, tgid, exe, sizeof(exe));
	if (!comm || !*comm) {
		comm_of(id, tgid, comm_buf, sizeof(comm_buf));
		comm = comm_buf;
	}
	exe_name = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;

	if (id->lookup && (cg->pod_uid[0] || cg->container_id[0])) {
		int r = id->lookup(id->lookup_ctx, cg->pod_uid[0] ? cg->pod_uid : NULL,
				   cg->container_id[0] ? cg->container_id : NULL, &pod);

		if (r) {
			pod = NULL;
			/* In a pod the client has not seen yet (or a transient
			 * failure): cgroup-level labels for now. A container
			 * outside any pod is simply not Kubernetes'. */
			out->pending = cg->pod_uid[0] != '\0';
			if (r != -ENOENT)
				pr_debug("identity: pid %u: pod lookup: %s\n", tgid, strerror(-r));
		} else if (pod) {
			for (size_t i = 0; i < pod->ncontainers && pod->containers; i++)
				if (pod->containers[i].id && cg->container_id[0] &&
				    !strcmp(pod->containers[i].id, cg->container_id))
					container = pod->containers[i].name;
			/* The pod is known but not yet this container (its
			 * status lags the start): ask again later. */
			if (!container && cg->container_id[0])
				out->pending = true;
		}
	}

	snprintf(pid, sizeof(pid), "%u", tgid);
	if ((err = add(ls, "__meta_process_pid", pid)) ||
	    (err = add(ls, "__meta_process_exe", exe)) ||
	    (err = add(ls, "__meta_process_comm", comm)) ||
	    (err = add(ls, "__meta_process_cgroup", cg->path)) ||
	    (err = add(ls, "__meta_process_systemd_unit", cg->systemd_unit)) ||
	    (err = add(ls, "__meta_container_id", cg->container_id)) ||
	    (err = add(ls, "__meta_container_runtime", cgroup__runtime_name(cg->runtime))) ||
	    (err = add(ls, "container_id", cg->container_id)) ||
	    (err = add(ls, "runtime", cgroup__runtime_name(cg->runtime))) ||
	    (err = add(ls, "systemd_unit", cg->systemd_unit)))
		goto cleanup;
	if (pod && (err = pod_labels(id, pod, container, ls)))
		goto cleanup;
	src = (struct sources){
		.pod = pod,
		.container = container,
		.env = env,
		.cg = cg,
		.exe_name = exe_name,
		/* Only a process without an executable can be a kernel thread. */
		.kernel = !*exe_name && workload__is_kernel_thread(id->proc_root, (int)tgid),
		.comm = comm,
	};
	if ((err = precedence(&src, ls)))
		goto cleanup;
	err = relabel__apply(id->relabel, ls, &keep);
	if (err == -E2BIG) {
		/* A rule outgrew the bounds: what it got to is what we have. */
		pr_debug("identity: pid %u: relabeling stopped at a bound\n", tgid);
		err = 0;
	}
	if (err)
		goto cleanup;
	out->drop = !keep;
	/* Discovery labels never leave the agent. */
	label_set__del_prefix(ls, "__");
	err = to_result(ls, out);
cleanup:
	if (err)
		identity_result__clear(out);
	if (pod)
		id->pod_free(pod);
	label_set__free(ls);
	free(env);
	free(cg);
	return err;
}
