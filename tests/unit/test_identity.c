/* Identity of processes from fixture /proc trees (cgroup, environ, comm,
 * exe, stat) and a fake pod cache: the service/env/version precedence one
 * source at a time, pod labels, a pod not known yet, the environment's
 * DD_* and OTEL_* keys, systemd units, and relabel keep on a namespace. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "identity/identity.h"
#include "tests/unit/support.h"

#define CID "4f1e5b0c2d3a697887a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4"
#define CID2 "0badc0ffee15900d1234567890abcdeffedcba098765432100112233445566ff"
#define UID "7d4424e6-bb13-42f4-a47a-45a4828bf54d"
#define POD_CGROUP "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" \
		   "7d4424e6_bb13_42f4_a47a_45a4828bf54d.slice/cri-containerd-" CID ".scope\n"

/* Which sources the fake pod carries. */
enum {
	HAS_ANNOTATION = 1 << 0,
	HAS_DD_CONTAINER = 1 << 1,
	HAS_DD_POD = 1 << 2,
	HAS_K8S_NAME = 1 << 3,
	HAS_OWNER = 1 << 4,
	HAS_ALL = (1 << 5) - 1,
};

struct fake {
	bool known;              /* the pod is in the "cache" */
	bool container_known;    /* its status lists our container id */
	int has;
	const char *ns;
	int lookups;
};

static struct kube_kv kv(const char *k, const char *v)
{
	return (struct kube_kv){ strdup(k), strdup(v) };
}

static int fake_lookup(void *ctx, const char *pod_uid, const char *container_id,
		       struct kube_pod **out)
{
	struct fake *f = ctx;
	struct kube_pod *p;

	f->lookups++;
	*out = NULL;
	if (!f->known)
		return -ENOENT;
	if (!(pod_uid && !strcmp(pod_uid, UID)) && !(container_id && !strcmp(container_id, CID)))
		return -ENOENT;
	p = calloc(1, sizeof(*p));
	p->uid = strdup(UID);
	p->name = strdup("cart-7d9f8b-x2v4q");
	p->namespace = strdup(f->ns ? f->ns : "shop");
	p->node = strdup("node-a");
	if (f->has & HAS_OWNER) {
		p->owner_kind = strdup("Deployment");
		p->owner_name = strdup("cart");
	}
	p->labels = calloc(8, sizeof(*p->labels));
	p->labels[p->nlabels++] = kv("pod-template-hash", "7d9f8b");
	if (f->has & HAS_DD_CONTAINER) {
		p->labels[p->nlabels++] = kv("tags.datadoghq.com/app.service", "dd-container");
		p->labels[p->nlabels++] = kv("tags.datadoghq.com/app.env", "dd-container-env");
		p->labels[p->nlabels++] = kv("tags.datadoghq.com/app.version", "dd-container-v");
	}
	if (f->has & HAS_DD_POD) {
		p->labels[p->nlabels++] = kv("tags.datadoghq.com/service", "dd-pod");
		p->labels[p->nlabels++] = kv("tags.datadoghq.com/env", "dd-pod-env");
	}
	if (f->has & HAS_K8S_NAME) {
		p->labels[p->nlabels++] = kv("app.kubernetes.io/name", "k8s-name");
		p->labels[p->nlabels++] = kv("app.kubernetes.io/version", "k8s-version");
	}
	p->annotations = calloc(4, sizeof(*p->annotations));
	p->annotations[p->nannotations++] = kv("kubectl.kubernetes.io/restartedAt", "2025-01-01");
	if (f->has & HAS_ANNOTATION) {
		p->annotations[p->nannotations++] = kv("ignis.io/service", "annotated");
		p->annotations[p->nannotations++] = kv("ignis.io/env", "annotated-env");
		p->annotations[p->nannotations++] = kv("ignis.io/version", "annotated-v");
	}
	p->containers = calloc(2, sizeof(*p->containers));
	p->containers[p->ncontainers++] = (struct kube_container){ strdup("sidecar"), strdup(CID2) };
	p->containers[p->ncontainers++] =
		(struct kube_container){ strdup("app"), f->container_known ? strdup(CID) : NULL };
	*out = p;
	return 0;
}

static void fake_pod_free(struct kube_pod *p)
{
	if (!p)
		return;
	free(p->uid);
	free(p->name);
	free(p->namespace);
	free(p->node);
	free(p->owner_kind);
	free(p->owner_name);
	for (size_t i = 0; i < p->nlabels; i++) {
		free(p->labels[i].key);
		free(p->labels[i].value);
	}
	free(p->labels);
	for (size_t i = 0; i < p->nannotations; i++) {
		free(p->annotations[i].key);
		free(p->annotations[i].value);
	}
	free(p->annotations);
	for (size_t i = 0; i < p->ncontainers; i++) {
		free(p->containers[i].name);
		free(p->containers[i].id);
	}
	free(p->containers);
	free(p);
}

struct env {
	char *dir, *proc;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	e->dir = support__tmpdir("identity");
	e->proc = support__path(e->dir, "proc");
	if (!e->dir || support__run("mkdir -p %s", e->proc))
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	support__rmtree(e->dir);
	free(e->dir);
	free(e->proc);
	free(e);
	return 0;
}

/* PROC/pid with a cgroup file, an environ of envlen bytes, an exe link. */
static void write_proc(struct env *e, int pid, const char *cgroup, const char *environ_,
		       size_t envlen, const char *exe)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d", e->proc, pid);
	assert_int_equal(support__run("rm -rf %s && mkdir -p %s", path, path), 0);
	if (cgroup) {
		snprintf(path, sizeof(path), "%s/%d/cgroup", e->proc, pid);
		assert_int_equal(support__write_text(path, cgroup), 0);
	}
	if (environ_) {
		snprintf(path, sizeof(path), "%s/%d/environ", e->proc, pid);
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(environ_, 1, envlen, f), envlen);
		fclose(f);
	}
	if (exe) {
		snprintf(path, sizeof(path), "%s/%d/exe", e->proc, pid);
		assert_int_equal(symlink(exe, path), 0);
	}
	snprintf(path, sizeof(path), "%s/%d/comm", e->proc, pid);
	assert_int_equal(support__write_text(path, "from-proc\n"), 0);
}

#define ENV(s) s, sizeof(s) - 1

static const char *label(const struct identity_result *r, const char *key)
{
	for (size_t i = 0; i < r->nlabels; i++)
		if (!strcmp(r->labels[i].key, key))
			return r->labels[i].str;
	return NULL;
}

static void expect(const struct identity_result *r, const char *key, const char *want)
{
	const char *got = label(r, key);

	if (!want && got)
		fail_msg("%s: want absent, got '%s'", key, got);
	if (want && !got)
		fail_msg("%s: want '%s', absent", key, want);
	if (want)
		assert_string_equal(got, want);
}

/* Sorted, strings only, nothing internal. */
static void check_shape(const struct identity_result *r)
{
	for (size_t i = 0; i < r->nlabels; i++) {
		assert_non_null(r->labels[i].str);
		assert_true(r->labels[i].str[0] != '\0');
		assert_true(strncmp(r->labels[i].key, "__", 2) != 0);
		if (i)
			assert_true(strcmp(r->labels[i - 1].key, r->labels[i].key) < 0);
	}
}

static struct identity *make(struct env *e, struct fake *f, const struct relabel *rl)
{
	struct identity_opts o = {
		.proc_root = e->proc,
		.node = "host-node",
		.lookup = f ? fake_lookup : NULL,
		.lookup_ctx = f,
		.pod_free = f ? fake_pod_free : NULL,
		.relabel = rl,
	};
	struct identity *id = identity__new(&o);

	assert_non_null(id);
	return id;
}

static void resolve(struct identity *id, uint32_t pid, const char *comm, struct identity_result *r)
{
	assert_int_equal(identity__resolve(id, pid, comm, r), 0);
	check_shape(r);
}

static void test_bare_metal(void **state)
{
	struct env *e = *state;
	struct identity *id = make(e, NULL, NULL);
	struct identity_result r;
	char path[4096];

	/* A systemd service: its unit, not its executable. */
	write_proc(e, 41, "0::/system.slice/checkout-api.service\n", ENV("PATH=/bin\0"),
		   "/usr/bin/java");
	resolve(id, 41, "java", &r);
	expect(&r, "service_name", "checkout-api");
	expect(&r, "systemd_unit", "checkout-api.service");
	expect(&r, "env", NULL);
	expect(&r, "node", NULL);
	expect(&r, "container_id", NULL);
	assert_false(r.drop);
	assert_false(r.pending);
	identity_result__clear(&r);
	/* A template instance is its template. */
	write_proc(e, 42, "0::/system.slice/system-getty.slice/getty@tty1.service\n", NULL, 0,
		   "/sbin/agetty");
	resolve(id, 42, "agetty", &r);
	expect(&r, "service_name", "getty");
	expect(&r, "systemd_unit", "getty@tty1.service");
	identity_result__clear(&r);
	/* Not in a service: the executable, even once deleted. */
	write_proc(e, 43, "0::/user.slice/user-0.slice/session-1.scope\n", NULL, 0,
		   "/opt/app/bin/worker (deleted)");
	resolve(id, 43, "wrk", &r);
	expect(&r, "service_name", "worker");
	expect(&r, "systemd_unit", NULL);
	identity_result__clear(&r);
	/* A kernel thread. */
	write_proc(e, 44, "0::/\n", NULL, 0, NULL);
	snprintf(path, sizeof(path), "%s/44/stat", e->proc);
	assert_int_equal(support__write_text(path, "44 (kworker/0:1) I 2 0 0 0 -1 69238880 0 0\n"),
			 0);
	resolve(id, 44, "kworker/0:1", &r);
	expect(&r, "service_name", "kernel");
	identity_result__clear(&r);
	/* Gone: what the sample said, else /proc's comm, else unknown. */
	resolve(id, 4545, "short-lived", &r);
	expect(&r, "service_name", "short-lived");
	assert_int_equal(r.nlabels, 1);
	identity_result__clear(&r);
	write_proc(e, 46, NULL, NULL, 0, NULL);
	resolve(id, 46, NULL, &r);
	expect(&r, "service_name", "from-proc");
	identity_result__clear(&r);
	identity__free(id);
}

static void test_environment(void **state)
{
	struct env *e = *state;
	struct identity *id = make(e, NULL, NULL);
	struct identity_result r;

	/* DD_* over the systemd unit. */
	write_proc(e, 51, "0::/system.slice/billing.service\n",
		   ENV("PATH=/bin\0DD_SERVICE=billing-api\0DD_ENV=prod\0DD_VERSION=1.2.3\0HOME=/"),
		   "/usr/bin/python3");
	resolve(id, 51, "python3", &r);
	expect(&r, "service_name", "billing-api");
	expect(&r, "env", "prod");
	expect(&r, "version", "1.2.3");
	identity_result__clear(&r);
	/* OTEL_RESOURCE_ATTRIBUTES, percent-decoded; empty DD_SERVICE is unset. */
	write_proc(e, 52, "0::/user.slice/user-0.slice/session-1.scope\n",
		   ENV("DD_SERVICE=\0OTEL_RESOURCE_ATTRIBUTES= service.name = otel-svc ,"
		       "deployment.environment=old,deployment.environment.name=staging,"
		       "service.version=2.0%2Bbuild%20x,"),
		   "/usr/bin/node");
	resolve(id, 52, "node", &r);
	expect(&r, "service_name", "otel-svc");
	expect(&r, "env", "staging");
	expect(&r, "version", "2.0+build x");
	identity_result__clear(&r);
	/* OTEL_SERVICE_NAME over service.name; DD_* over OTEL; the older
	 * deployment.environment when it is the only one. Last entry has no NUL. */
	write_proc(e, 53, NULL,
		   ENV("OTEL_RESOURCE_ATTRIBUTES=service.name=attr,deployment.environment=qa\0"
		       "DD_VERSION=9\0OTEL_SERVICE_NAME=named"),
		   "/usr/bin/node");
	resolve(id, 53, "node", &r);
	expect(&r, "service_name", "named");
	expect(&r, "env", "qa");
	expect(&r, "version", "9");
	identity_result__clear(&r);
	/* A malformed attribute text is ignored whole. */
	write_proc(e, 54, NULL, ENV("OTEL_RESOURCE_ATTRIBUTES=service.name=x,deployment.environment=%zz\0"),
		   "/usr/bin/node");
	resolve(id, 54, "node", &r);
	expect(&r, "service_name", "node");
	expect(&r, "env", NULL);
	identity_result__clear(&r);
	identity__free(id);
}

static void test_environment_bounds(void **state)
{
	struct env *e = *state;
	struct identity *id = make(e, NULL, NULL);
	struct identity_result r;
	size_t big = 100 * 1024, n = 0;
	char *buf = malloc(2 * 1024 * 1024);

	/* An entry far longer than the read window, then ours. */
	n += (size_t)sprintf(buf + n, "HUGE=");
	memset(buf + n, 'x', big);
	n += big;
	buf[n++] = '\0';
	/* A DD_SERVICE too long to be a name is ignored. */
	n += (size_t)sprintf(buf + n, "DD_ENV=");
	memset(buf + n, 'e', IDENTITY_ENV_VALUE_MAX);
	n += IDENTITY_ENV_VALUE_MAX;
	buf[n++] = '\0';
	n += (size_t)sprintf(buf + n, "DD_SERVICE=after-huge") + 1;
	/* Past the 1 MiB bound nothing is read. */
	memset(buf + n, 'y', IDENTITY_ENV_MAX);
	n += IDENTITY_ENV_MAX;
	buf[n++] = '\0';
	n += (size_t)sprintf(buf + n, "DD_VERSION=too-far") + 1;
	write_proc(e, 61, NULL, buf, n, "/bin/true");
	resolve(id, 61, "true", &r);
	expect(&r, "service_name", "after-huge");
	expect(&r, "env", NULL);
	expect(&r, "version", NULL);
	identity_result__clear(&r);
	free(buf);
	identity__free(id);
}

static void test_pod_precedence(void **state)
{
	struct env *e = *state;
	struct fake f = { .known = true, .container_known = true, .has = HAS_ALL };
	struct identity *id = make(e, &f, NULL);
	struct identity_result r;
	static const char full_env[] = "DD_SERVICE=dd-env\0DD_ENV=dd-env-env\0DD_VERSION=dd-env-v\0"
			       "OTEL_SERVICE_NAME=otel\0"
			       "OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=otel-env,"
			       "service.version=otel-v\0";
	size_t full_len = sizeof(full_env) - 1;
	write_proc(e, 71, POD_CGROUP, full_env, full_len, "/app/server");
	/* 1: annotations */
	resolve(id, 71, "server", &r);
	expect(&r, "service_name", "annotated");
	expect(&r, "env", "annotated-env");
	expect(&r, "version", "annotated-v");
	/* what the pod says about itself */
	expect(&r, "namespace", "shop");
	expect(&r, "pod", "cart-7d9f8b-x2v4q");
	expect(&r, "container", "app");
	expect(&r, "container_id", CID);
	expect(&r, "runtime", "containerd");
	expect(&r, "node", "node-a");
	expect(&r, "workload", "cart");
	expect(&r, "workload_kind", "Deployment");
	expect(&r, "systemd_unit", NULL);
	assert_false(r.pending);
	assert_int_equal(r.nlabels, 11);
	identity_result__clear(&r);
	/* 2: Datadog, this container's labels, then the pod's, then DD_* */
	f.has &= ~HAS_ANNOTATION;
	resolve(id, 71, "server", &r);
	expect(&r, "service_name", "dd-container");
	expect(&r, "env", "dd-container-env");
	expect(&r, "version", "dd-container-v");
	identity_result__clear(&r);
	f.has &= ~HAS_DD_CONTAINER;
	resolve(id, 71, "server", &r);
	expect(&r, "service_name", "dd-pod");
	expect(&r, "env", "dd-pod-env");
	expect(&r, "version", "dd-env-v");   /* the pod has no version label */
	identity_result__clear(&r);
	f.has &= ~HAS_DD_POD;
	resolve(id, 71, "server", &r);
	expect(&r, "service_name", "dd-env");
	expect(&r, "env", "dd-env-env");
	identity_result__clear(&r);
	/* 3: OpenTelemetry */
	write_proc(e, 71, POD_CGROUP, full_env + strlen("DD_SERVICE=dd-env") + 1 +
		   strlen("DD_ENV=dd-env-env") + 1 + strlen("DD_VERSION=dd-env-v") + 1,
		   full_len - (strlen("DD_SERVICE=dd-env") + 1 + strlen("DD_ENV=dd-env-env") + 1 +
			       strlen("DD_VERSION=dd-env-v") + 1), "/app/server");
	resolve(id, 71, "server", &r);
	expect(&r, "service_name", "otel");
	expect(&r, "env", "otel-env");
	expect(&r, "version", "otel-v");
	identity_result__clear(&r);
	/* 4: app.kubernetes.io labels */
	write_proc(e, 71, POD_CGROUP, NULL, 0, "/app/server");
	resolve(id, 71, "server", &r);
	expect(&r, "service_name", "k8s-name");
	expect(&r, "env", NULL);
	expect(&r, "version", "k8s-version");
	identity_result__clear(&r);
	/* 5: the owner workload */
	f.has &= ~HAS_K8S_NAME;
	resolve(id, 71, "server", &r);
	expect(&r, "service_name", "cart");
	expect(&r, "version", NULL);
	identity_result__clear(&r);
	/* 6: namespace/container */
	f.has &= ~HAS_OWNER;
	resolve(id, 71, "server", &r);
	expect(&r, "service_name", "shop/app");
	expect(&r, "workload", NULL);
	identity_result__clear(&r);
	identity__free(id);
}

static void test_pending(void **state)
{
	struct env *e = *state;
	struct fake f = { .known = false, .container_known = false, .has = HAS_OWNER };
	struct identity *id = make(e, &f, NULL);
	struct identity_result r;

	write_proc(e, 81, POD_CGROUP, ENV("DD_ENV=prod\0"), "/app/server");
	/* Not known yet: cgroup-level identity now, ask again later. */
	resolve(id, 81, "server", &r);
	assert_true(r.pending);
	expect(&r, "container_id", CID);
	expect(&r, "runtime", "containerd");
	expect(&r, "service_name", "server");
	expect(&r, "env", "prod");
	expect(&r, "namespace", NULL);
	identity_result__clear(&r);
	/* The pod is known, its status not yet naming our container. */
	f.known = true;
	resolve(id, 81, "server", &r);
	assert_true(r.pending);
	expect(&r, "namespace", "shop");
	expect(&r, "container", NULL);
	identity_result__clear(&r);
	/* Now all of it. */
	f.container_known = true;
	resolve(id, 81, "server", &r);
	assert_false(r.pending);
	expect(&r, "container", "app");
	expect(&r, "service_name", "cart");
	identity_result__clear(&r);
	/* A container outside any pod (plain Docker on the node) is not pending. */
	write_proc(e, 82, "0::/system.slice/docker-" CID2 ".scope\n", NULL, 0, "/usr/sbin/nginx");
	resolve(id, 82, "nginx", &r);
	assert_false(r.pending);
	expect(&r, "runtime", "docker");
	expect(&r, "container_id", CID2);
	expect(&r, "service_name", "nginx");
	identity_result__clear(&r);
	identity__free(id);
	/* Without a kube client nothing is ever pending. */
	id = make(e, NULL, NULL);
	resolve(id, 81, "server", &r);
	assert_false(r.pending);
	expect(&r, "container_id", CID);
	identity_result__clear(&r);
	identity__free(id);
}

#define SRC(...) (const char *[]){ __VA_ARGS__ }, sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *)

static void test_relabel(void **state)
{
	struct env *e = *state;
	struct fake f = { .known = true, .container_known = true, .has = HAS_ALL };
	const struct relabel_rule rules[] = {
		{ .source_labels = SRC("__meta_kubernetes_namespace"), .regex = "shop",
		  .action = RELABEL_KEEP },
		{ .regex = "__meta_kubernetes_pod_label_(pod_template_hash)",
		  .action = RELABEL_LABELMAP },
		{ .source_labels = SRC("__meta_process_comm"), .target_label = "comm" },
	};
	char err[256];
	struct relabel *rl = relabel__new(rules, 3, err, sizeof(err));
	struct identity *id;
	struct identity_result r;

	assert_non_null(rl);
	id = make(e, &f, rl);
	write_proc(e, 91, POD_CGROUP, NULL, 0, "/app/server");
	resolve(id, 91, "server", &r);
	assert_false(r.drop);
	expect(&r, "pod_template_hash", "7d9f8b");
	expect(&r, "comm", "server");
	identity_result__clear(&r);
	/* Another namespace: not profiled. */
	f.ns = "kube-system";
	resolve(id, 91, "server", &r);
	assert_true(r.drop);
	identity_result__clear(&r);
	/* Not in Kubernetes at all: no namespace, not profiled. */
	write_proc(e, 92, "0::/system.slice/sshd.service\n", NULL, 0, "/usr/sbin/sshd");
	resolve(id, 92, "sshd", &r);
	assert_true(r.drop);
	identity_result__clear(&r);
	identity__free(id);
	relabel__free(rl);
}

static void test_otel_attr_and_opts(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(identity__otel_attr("a=1,b=2", "b", out, sizeof(out)), 1);
	assert_string_equal(out, "2");
	assert_int_equal(identity__otel_attr("a=1,b=2", "c", out, sizeof(out)), 0);
	assert_int_equal(identity__otel_attr("a=1,,b=2 ,", "a", out, sizeof(out)), 1);
	assert_int_equal(identity__otel_attr("a=%4", "a", out, sizeof(out)), -EINVAL);
	assert_int_equal(identity__otel_attr("a=%", "a", out, sizeof(out)), -EINVAL);
	assert_int_equal(identity__otel_attr("novalue", "a", out, sizeof(out)), -EINVAL);
	assert_int_equal(identity__otel_attr("=x", "a", out, sizeof(out)), -EINVAL);
	assert_int_equal(identity__otel_attr("a=x%2C%3dy", "a", out, sizeof(out)), 1);
	assert_string_equal(out, "x,=y");
	assert_int_equal(identity__otel_attr("a=1,a=2", "a", out, sizeof(out)), 1);
	assert_string_equal(out, "2");
	assert_int_equal(identity__otel_attr("", "a", out, sizeof(out)), 0);
	errno = 0;
	assert_null(identity__new(&(struct identity_opts){ .proc_root = NULL }));
	assert_int_equal(errno, EINVAL);
	assert_null(identity__new(&(struct identity_opts){ .proc_root = "/proc",
							   .lookup = fake_lookup }));
	identity__free(NULL);
	identity_result__clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bare_metal),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_environment_bounds),
		cmocka_unit_test(test_pod_precedence),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_relabel),
		cmocka_unit_test(test_otel_attr_and_opts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
