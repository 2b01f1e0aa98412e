/* Who a process is, as the profiles say it: its labels, resolved once per
 * process (and again on exec, or while its pod is not known yet) off the
 * sampling path, from what the node shows -- the cgroup path, the process
 * environment, the executable -- and, in Kubernetes, the pod metadata the
 * kube client caches. Relabel rules then rename, filter and decide
 * whether the process is profiled at all.
 *
 * service_name, env and version: the first source that has a value wins,
 * per key, in this order:
 *
 *   1. pod annotations ignis.io/service, ignis.io/env, ignis.io/version
 *   2. Datadog unified service tagging: the pod labels
 *      tags.datadoghq.com/<container>.service|env|version (this container),
 *      then tags.datadoghq.com/service|env|version (the pod), then
 *      DD_SERVICE, DD_ENV, DD_VERSION in the process environment
 *   3. OpenTelemetry, from the process environment: OTEL_SERVICE_NAME,
 *      then OTEL_RESOURCE_ATTRIBUTES (service.name; env from
 *      deployment.environment.name, then deployment.environment;
 *      service.version)
 *   4. the pod labels app.kubernetes.io/name and app.kubernetes.io/version
 *   5. service only: the name of the workload that owns the pod
 *      (Deployment, StatefulSet, DaemonSet, CronJob, Job, ...)
 *   6. service only: "<namespace>/<container>"
 *   outside Kubernetes (service only):
 *   7. the systemd unit without ".service" (a template instance such as
 *      getty@tty1.service gives its template, "getty")
 *   8. the executable's file name; "kernel" for kernel threads; the
 *      sample's comm when the process is gone
 *
 * The environment is read from /proc/PID/environ (at most 1 MiB) for
 * those five keys only; nothing else from it is kept. Empty values count
 * as unset; OTEL_RESOURCE_ATTRIBUTES is comma-separated key=value pairs
 * with percent-encoded values, and is ignored whole when malformed (as the
 * OpenTelemetry specification says).
 *
 * Labels produced (only those known): service_name, env, version,
 * namespace, pod, container, container_id, node (in pods), workload,
 * workload_kind, systemd_unit, runtime. Relabel rules also see discovery
 * labels, removed afterwards: __meta_kubernetes_namespace, _pod_name,
 * _pod_uid, _pod_container_name, _pod_node_name, _pod_controller_kind,
 * _pod_controller_name, _pod_label_<name>, _pod_annotation_<name> (names
 * with every character outside [a-zA-Z0-9_] made '_'), __meta_process_pid,
 * _exe, _comm, _cgroup, _systemd_unit, __meta_container_id,
 * __meta_container_runtime. */
#ifndef IGNIS_IDENTITY_H
#define IGNIS_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity/kube.h"
#include "identity/relabel.h"
#include "exporters/profile.h"

/* kube__lookup's contract: a copy of the pod with that uid, else of the
 * pod running that container; 0, -ENOENT when not known (yet). */
typedef int (*identity_lookup_fn)(void *ctx, const char *pod_uid, const char *container_id,
				  struct kube_pod **out);

struct identity_opts {
	const char *proc_root;                 /* "/proc" */
	const char *node;                      /* the host label / NODE_NAME; may be NULL */
	identity_lookup_fn lookup;             /* NULL: no Kubernetes metadata */
	void *lookup_ctx;
	void (*pod_free)(struct kube_pod *p);  /* frees what lookup gave (kube_pod__free) */
	const struct relabel *relabel;         /* NULL: no rules */
};

struct identity;

/* opts is copied (its strings too); lookup and pod_free go together.
 * NULL with errno EINVAL (no proc_root, lookup without pod_free), ENOMEM. */
struct identity *identity__new(const struct identity_opts *o);
void identity__free(struct identity *id);

struct identity_result {
	struct profile_label *labels;   /* final labels, sorted by key, strings only, no "__" names; owned */
	size_t nlabels;
	bool drop;                      /* relabel keep/drop: do not profile this process */
	bool pending;                   /* in a pod whose metadata is not known yet: resolve
					 * again later; labels and drop are provisional */
};

/* Resolves process tgid (comm: what the sample said; NULL or "" reads
 * PROC_ROOT/PID/comm). A process that is gone still gets a service_name.
 * 0, -ENOMEM (out cleared). Not thread-safe: one caller at a time. */
int identity__resolve(struct identity *id, uint32_t tgid, const char *comm,
		      struct identity_result *out);
void identity_result__clear(struct identity_result *r);

/* ---- the process environment (pure, for tests and the fuzz target) ---- */

#define IDENTITY_ENV_MAX (1024 * 1024)     /* bytes of /proc/PID/environ read */
#define IDENTITY_ENV_VALUE_MAX 256         /* DD_*, OTEL_SERVICE_NAME; longer: ignored */
#define IDENTITY_ENV_ATTRS_MAX 4096        /* OTEL_RESOURCE_ATTRIBUTES; longer: ignored */

struct identity_env {
	char dd_service[IDENTITY_ENV_VALUE_MAX];
	char dd_env[IDENTITY_ENV_VALUE_MAX];
	char dd_version[IDENTITY_ENV_VALUE_MAX];
	char otel_service_name[IDENTITY_ENV_VALUE_MAX];
	char otel_resource_attributes[IDENTITY_ENV_ATTRS_MAX];
};

/* NUL-separated KEY=VALUE entries (len bytes; a last entry without its
 * NUL counts); out cleared first, then the five keys kept. */
void identity__parse_environ(const char *buf, size_t len, struct identity_env *out);

/* The value of key in an OTEL_RESOURCE_ATTRIBUTES text, percent-decoded,
 * into out: 1, 0 when absent, -EINVAL when the text is malformed (then
 * nothing of it is used). */
int identity__otel_attr(const char *attrs, const char *key, char *out, size_t outlen);

#endif
