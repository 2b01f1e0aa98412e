/* Kubernetes metadata of the pods on this node, kept fresh by one
 * background thread: a list then a watch of the API server (field selector
 * spec.nodeName), or a poll of the kubelet's /pods. Lookups are by pod uid
 * or container id and return copies, so callers never hold our lock.
 *
 * Without access (no API, missing RBAC) one warning names the cause and
 * the fix; lookups answer -ENOENT and the thread keeps retrying quietly. */
#ifndef IGNIS_KUBE_H
#define IGNIS_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/schema.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube;

struct kube_kv { char *key, *value; };
/* id: the bare container id, "containerd://" etc. removed */
struct kube_container { char *name, *id; };

struct kube_pod {
	char *uid, *name, *namespace, *node;
	/* The workload that owns the pod, resolved through its controller:
	 * a ReplicaSet named "<deploy>-<pod-template-hash label>" becomes that
	 * Deployment; a Job named "<cronjob>-<digits>" becomes that CronJob
	 * (the pod only names the Job, and the CronJob controller names its
	 * Jobs so: a hand-made Job with such a name is misread); StatefulSet,
	 * DaemonSet, other Jobs and any other controller stay as they are.
	 * Without a controller reference, the first owner reference as is;
	 * NULL when the pod has none. */
	char *owner_kind, *owner_name;
	struct kube_kv *labels; size_t nlabels;
	struct kube_kv *annotations; size_t nannotations;
	/* spec + init + ephemeral containers; id NULL until the runtime has
	 * started it (ids come from status.*ContainerStatuses) */
	struct kube_container *containers; size_t ncontainers;
};

struct kube_opts {
	const char *node_name;       /* required (NODE_NAME from the downward API) */
	const char *api_url;         /* NULL: in-cluster https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT */
	const char *token_file;      /* NULL: /var/run/secrets/kubernetes.io/serviceaccount/token (re-read when it changes: bound tokens rotate) */
	const char *ca_file;         /* NULL: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt */
	const char *kubelet_url;     /* non-NULL: read KUBELET_URL/pods (e.g. https://127.0.0.1:10250) instead of the API server, polled every resync */
	bool insecure_skip_verify;   /* kubelet serving certs are often self-signed */
	uint64_t resync_ms;          /* full relist period; 0: 5 min (kubelet poll: 30 s) */
	uint64_t max_pods;           /* bound on pods kept; 0: 1000 */
};

/* Pods deleted (or gone from a list) keep answering lookups for
 * min(2 * resync, 60 s): their processes may still be in the interval.
 * Starts its thread; NULL+errno only for bad opts (EINVAL) or no memory. */
struct kube *kube__new(const struct kube_opts *o);
void kube__free(struct kube *k);
/* A copy of the pod with that uid (dashes or the underscores of systemd
 * cgroup names), or (pod_uid NULL or unknown) of the pod running that
 * container (container_id bare, may be NULL). 0, -ENOENT (not known yet),
 * -EINVAL, -ENOMEM. */
int kube__lookup(struct kube *k, const char *pod_uid, const char *container_id, struct kube_pod **out);
void kube_pod__free(struct kube_pod *p);
/* Changes whenever the pod set changes (not on status-only updates). */
uint64_t kube__generation(struct kube *k);

struct kube_stats {
	bool synced;                 /* a list or watch has succeeded since the last failure */
	uint64_t pods, lists, watch_events, errors, relists;
	char last_error[256];
};
void kube__stats(struct kube *k, struct kube_stats *s);

/* Pure: one Pod object (JSON, at most 16 MiB, nesting at most 64, valid
 * UTF-8). uid and name are required; any other field that is missing or of
 * the wrong type is left out (NULL / not counted), and so are labels or
 * annotations whose value is not a string or longer than 4 KiB (blobs such
	 * as kubectl's last-applied-configuration), past 512 of them or past
 * 32 KiB of keys and values per pod (labels first), and containers past
 * 256. 0, -EINVAL (not a pod, bad JSON, too big or too deep), -ENOMEM. */
int kube__parse_pod(const char *json, size_t len, struct kube_pod **out);

/* The other documents the client reads, pure, for tests and the fuzzer. */
enum kube_event_type { KUBE_EV_ADDED, KUBE_EV_MODIFIED, KUBE_EV_DELETED, KUBE_EV_BOOKMARK, KUBE_EV_ERROR };
struct kube_event {
	enum kube_event_type type;
	struct kube_pod *pod;        /* ADDED, MODIFIED, DELETED */
	char *resource_version;      /* of the object; NULL if it had none */
	int code;                    /* ERROR: the Status code (410: resourceVersion too old) */
	char *message;               /* ERROR: the Status message, or NULL */
};
/* One line of a watch stream. 0, -EINVAL, -ENOMEM. */
int kube__parse_event(const char *json, size_t len, struct kube_event *ev);
void kube_event__clear(struct kube_event *ev);

struct kube_list {
	struct kube_pod **pods; size_t npods;
	size_t invalid;              /* items that are not readable pods, skipped */
	size_t dropped;              /* items past max_pods */
	char *resource_version, *cont;   /* metadata.resourceVersion, metadata.continue */
};
/* A PodList (one API page, or the kubelet's /pods; at most 64 MiB). 0,
 * -EINVAL (not a PodList), -ENOMEM. */
int kube__parse_list(const char *json, size_t len, size_t max_pods, struct kube_list *l);
void kube_list__clear(struct kube_list *l);

/* ---- kubernetes: in the agent's configuration ---------------------------- */

/* kubernetes.enabled as written; enabled is the outcome. */
enum config_k8s_mode { CONFIG_K8S_AUTO, CONFIG_K8S_ON, CONFIG_K8S_OFF };

struct config_kubernetes {
	enum config_k8s_mode mode;    /* default CONFIG_K8S_AUTO */
	/* The outcome: mode on, or auto with KUBERNETES_SERVICE_HOST set. */
	bool enabled;
	char *node_name;              /* default: NODE_NAME, else the host setting */
	/* Default: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
	 * (port default 443) when that is set, else NULL (no API server). */
	char *api_url;
	char *token_file, *ca_file;   /* default: the service account's files */
	char *kubelet_url;            /* NULL: the kubelet is not asked */
	bool insecure_skip_verify;
	uint64_t resync_ms;           /* 10 s..24 h; default 5 min */
	uint32_t max_pods;            /* 1..100000; default 1000 */
};

/* The rows of the kubernetes: mapping (offsets in struct config_kubernetes). */
extern const struct schema_row kube__config_rows[];
/* After the file, variables and flags: the defaults from the environment
 * (NODE_NAME, else host; KUBERNETES_SERVICE_HOST/PORT) and enabled. 0 or a
 * message through x (x->seen holds the lines of the mapping's keys). */
int kube__config_finish(struct schema_ctx *x, struct config_kubernetes *k, const char *host);

#endif
