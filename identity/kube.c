/* The pods of this node, from the API server (list, then watch from the
 * list's resourceVersion, relist on 410 Gone and every resync) or from the
 * kubelet's /pods (polled). One worker thread does all the network work on
 * its own curl multi handle, so kube__free can interrupt a long watch at
 * once with curl_multi_wakeup; lookups only take the read side of a lock
 * and copy what they return. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "base/hashmap.h"
#include "identity/kube.h"
#include "base/log.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define DEF_TOKEN_FILE SA_DIR "/token"
#define DEF_CA_FILE SA_DIR "/ca.crt"

#define DEF_RESYNC_MS (5 * 60 * 1000ull)
/* The kubelet has no watch: a pod started after a poll stays unknown until
 * the next one, so its default period is shorter. */
#define DEF_KUBELET_RESYNC_MS (30 * 1000ull)
#define DEF_MAX_PODS 1000ull
#define MAX_GRACE_MS (60 * 1000ull)
#define BACKOFF_MIN_MS 1000ull
#define BACKOFF_MAX_MS (60 * 1000ull)
#define CONNECT_TIMEOUT_MS 10000L
#define LIST_TIMEOUT_MS 60000L
/* A watch the server does not end by itself (timeoutSeconds) is cut this
 * long after it should have ended. */
#define WATCH_SLACK_MS 30000ull
#define LIST_LIMIT 500
#define MAX_PAGES 1024

/* Bounds on what the network can make us hold. */
#define MAX_OBJECT (16u << 20)      /* one Pod, one watch event line */
#define MAX_LIST (64u << 20)        /* one list page or kubelet /pods answer */
#define MAX_ERROR_BODY (64u << 10)
#define JSON_DEPTH 64               /* pods nest ~15 deep, managedFields included */
#define MAX_KV 512                  /* labels or annotations per pod */
#define MAX_KEY_LEN 1024
/* Larger annotation values are blobs (last-applied-configuration) no label
 * wants; they are skipped, not the pod. */
#define MAX_VALUE_LEN 4096
/* Labels and annotations of one pod together: what the store may hold is
 * max_pods times this, whatever the cluster puts in its pods. */
#define MAX_KV_BYTES (32u << 10)
#define MAX_NAME_LEN 1024
#define MAX_CONTAINERS 256
#define MAX_ID_LEN 256
#define MAX_TOKEN_LEN (64u << 10)
#define MAX_RV_LEN 1024
#define MAX_CONTINUE_LEN (64u << 10)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- pods ------------------------------------------------------------- */

static void kvs_free(struct kube_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void kube_pod__free(struct kube_pod *p)
{
	if (!p)
		return;
	free(p->uid);
	free(p->name);
	free(p->namespace);
	free(p->node);
	free(p->owner_kind);
	free(p->owner_name);
	kvs_free(p->labels, p->nlabels);
	kvs_free(p->annotations, p->nannotations);
	for (size_t i = 0; i < p->ncontainers; i++) {
		free(p->containers[i].name);
		free(p->containers[i].id);
	}
	free(p->containers);
	free(p);
}

static int dup_str(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int dup_kvs(const struct kube_kv *src, size_t n, struct kube_kv **dst)
{
	*dst = NULL;
	if (!n)
		return 0;
	*dst = calloc(n, sizeof(**dst));
	if (!*dst)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (dup_str(src[i].key, &(*dst)[i].key) || dup_str(src[i].value, &(*dst)[i].value))
			return -ENOMEM;
	return 0;
}

static struct kube_pod *pod_dup(const struct kube_pod *p)
{
	struct kube_pod *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (dup_str(p->uid, &c->uid) || dup_str(p->name, &c->name) ||
	    dup_str(p->namespace, &c->namespace) || dup_str(p->node, &c->node) ||
	    dup_str(p->owner_kind, &c->owner_kind) || dup_str(p->owner_name, &c->owner_name))
		goto fail;
	c->nlabels = p->nlabels;
	if (dup_kvs(p->labels, p->nlabels, &c->labels)) {
		c->nlabels = c->labels ? c->nlabels : 0;
		goto fail;
	}
	c->nannotations = p->nannotations;
	if (dup_kvs(p->annotations, p->nannotations, &c->annotations)) {
		c->nannotations = c->annotations ? c->nannotations : 0;
		goto fail;
	}
	if (p->ncontainers) {
		c->containers = calloc(p->ncontainers, sizeof(*c->containers));
		if (!c->containers)
			goto fail;
		c->ncontainers = p->ncontainers;
		for (size_t i = 0; i < p->ncontainers; i++)
			if (dup_str(p->containers[i].name, &c->containers[i].name) ||
			    dup_str(p->containers[i].id, &c->containers[i].id))
				goto fail;
	}
	return c;
fail:
	kube_pod__free(c);
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool kvs_eq(const struct kube_kv *a, size_t na, const struct kube_kv *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i].key, b[i].key) || !str_eq(a[i].value, b[i].value))
			return false;
	return true;
}

/* Status-only updates (most MODIFIED events) leave what we keep unchanged:
 * they must not bump the generation. */
static bool pod_eq(const struct kube_pod *a, const struct kube_pod *b)
{
	if (!str_eq(a->uid, b->uid) || !str_eq(a->name, b->name) ||
	    !str_eq(a->namespace, b->namespace) || !str_eq(a->node, b->node) ||
	    !str_eq(a->owner_kind, b->owner_kind) || !str_eq(a->owner_name, b->owner_name) ||
	    !kvs_eq(a->labels, a->nlabels, b->labels, b->nlabels) ||
	    !kvs_eq(a->annotations, a->nannotations, b->annotations, b->nannotations) ||
	    a->ncontainers != b->ncontainers)
		return false;
	for (size_t i = 0; i < a->ncontainers; i++)
		if (!str_eq(a->containers[i].name, b->containers[i].name) ||
		    !str_eq(a->containers[i].id, b->containers[i].id))
			return false;
	return true;
}

/* ---- JSON ------------------------------------------------------------- */

/* One JSON document of at most max bytes, nothing but whitespace after it. */
static struct json_object *json_parse(const char *s, size_t len, size_t max)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t end;

	if (!s || !len || len > max || len > (size_t)INT32_MAX)
		return NULL;
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	if (o) {
		for (end = json_tokener_get_parse_end(tok); end < len; end++)
			if (!isspace((unsigned char)s[end]))
				break;
		if (end < len) {
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}

static struct json_object *jget(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

/* The string value, or NULL when absent, not a string, empty, longer than
 * max or holding a NUL (which no C consumer could see past). */
static const char *jstr(struct json_object *o, const char *key, size_t max)
{
	struct json_object *v = jget(o, key, json_type_string);
	const char *s;
	int len;

	if (!v)
		return NULL;
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (!s || len <= 0 || (size_t)len > max || strlen(s) != (size_t)len)
		return NULL;
	return s;
}

static int kvs_from_json(struct json_object *obj, struct kube_kv **out, size_t *n,
			 size_t *budget)
{
	size_t cap, i = 0;

	*out = NULL;
	*n = 0;
	if (!obj)
		return 0;
	cap = (size_t)json_object_object_length(obj);
	if (cap > MAX_KV)
		cap = MAX_KV;
	if (!cap)
		return 0;
	*out = calloc(cap, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	json_object_object_foreach(obj, key, val) {
		const char *s;
		size_t klen = strlen(key);
		int vlen;

		if (i >= cap)
			break;
		if (!klen || klen > MAX_KEY_LEN || !json_object_is_type(val, json_type_string))
			continue;
		s = json_object_get_string(val);
		vlen = json_object_get_string_len(val);
		if (vlen < 0 || (size_t)vlen > MAX_VALUE_LEN || strlen(s) != (size_t)vlen ||
		    klen + (size_t)vlen > *budget)
			continue;
		*budget -= klen + (size_t)vlen;
		(*out)[i].key = strdup(key);
		(*out)[i].value = strdup(s);
		*n = ++i;
		if (!(*out)[i - 1].key || !(*out)[i - 1].value)
			return -ENOMEM;
	}
	return 0;
}

static const char *kv_get(const struct kube_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].key, key))
			return kv[i].value;
	return NULL;
}

/* The workload behind the pod's controller (see kube.h for the rules). */
static int resolve_owner(struct kube_pod *p, struct json_object *meta)
{
	struct json_object *refs = jget(meta, "ownerReferences", json_type_array);
	struct json_object *pick = NULL;
	const char *kind, *name, *hash;
	size_t n = refs ? json_object_array_length(refs) : 0, nlen;

	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(refs, i);
		struct json_object *c = jget(r, "controller", json_type_boolean);

		if (!jstr(r, "kind", MAX_NAME_LEN) || !jstr(r, "name", MAX_NAME_LEN))
			continue;
		if (c && json_object_get_boolean(c)) {
			pick = r;
			break;
		}
		if (!pick)
			pick = r;
	}
	if (!pick)
		return 0;
	kind = jstr(pick, "kind", MAX_NAME_LEN);
	name = jstr(pick, "name", MAX_NAME_LEN);
	nlen = strlen(name);
	if (!strcmp(kind, "ReplicaSet")) {
		hash = kv_get(p->labels, p->nlabels, "pod-template-hash");
		if (hash && *hash) {
			size_t hlen = strlen(hash);

			if (nlen > hlen + 1 && name[nlen - hlen - 1] == '-' &&
			    !strcmp(name + nlen - hlen, hash)) {
				p->owner_kind = strdup("Deployment");
				p->owner_name = strndup(name, nlen - hlen - 1);
				goto out;
			}
		}
	} else if (!strcmp(kind, "Job")) {
		/* The CronJob controller names its Jobs <cronjob>-<scheduled time
		 * in minutes> (8 digits today; 10 in the old controller's hash of
		 * the time): shorter digit runs are Jobs people name by hand. */
		size_t d = 0;

		while (d < nlen && isdigit((unsigned char)name[nlen - 1 - d]))
			d++;
		if (d >= 8 && d < nlen - 1 && name[nlen - 1 - d] == '-') {
			p->owner_kind = strdup("CronJob");
			p->owner_name = strndup(name, nlen - d - 1);
			goto out;
		}
	}
	p->owner_kind = strdup(kind);
	p->owner_name = strdup(name);
out:
	return p->owner_kind && p->owner_name ? 0 : -ENOMEM;
}

/* "containerd://<id>", "cri-o://<id>", "docker://<id>": the bare id. */
static const char *bare_id(const char *s)
{
	const char *sep = s ? strstr(s, "://") : NULL;

	if (sep)
		s = sep + 3;
	return s && *s ? s : NULL;
}

static const char *status_id(struct json_object *statuses, const char *name)
{
	size_t n = statuses ? json_object_array_length(statuses) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *st = json_object_array_get_idx(statuses, i);
		const char *sn = jstr(st, "name", MAX_NAME_LEN);

		if (sn && !strcmp(sn, name))
			return bare_id(jstr(st, "containerID", MAX_ID_LEN));
	}
	return NULL;
}

static int containers_from_json(struct kube_pod *p, struct json_object *spec, struct json_object *status)
{
	static const char *const kinds[][2] = {
		{ "containers", "containerStatuses" },
		{ "initContainers", "initContainerStatuses" },
		{ "ephemeralContainers", "ephemeralContainerStatuses" },
	};
	size_t total = 0;

	for (size_t k = 0; k < 3; k++) {
		struct json_object *a = jget(spec, kinds[k][0], json_type_array);

		total += a ? json_object_array_length(a) : 0;
	}
	if (total > MAX_CONTAINERS)
		total = MAX_CONTAINERS;
	if (!total)
		return 0;
	p->containers = calloc(total, sizeof(*p->containers));
	if (!p->containers)
		return -ENOMEM;
	for (size_t k = 0; k < 3; k++) {
		struct json_object *a = jget(spec, kinds[k][0], json_type_array);
		struct json_object *sts = jget(status, kinds[k][1], json_type_array);
		size_t n = a ? json_object_array_length(a) : 0;

		for (size_t i = 0; i < n && p->ncontainers < total; i++) {
			struct kube_container *c = &p->containers[p->ncontainers];
			const char *name = jstr(json_object_array_get_idx(a, i), "name", MAX_NAME_LEN);
			const char *id;

			if (!name)
				continue;
			id = status_id(sts, name);
			c->name = strdup(name);
			c->id = id ? strdup(id) : NULL;
			p->ncontainers++;
			if (!c->name || (id && !c->id))
				return -ENOMEM;
		}
	}
	return 0;
}

static int pod_from_json(struct json_object *o, struct kube_pod **out)
{
	struct json_object *meta, *spec, *status;
	struct kube_pod *p = NULL;
	const char *kind, *uid, *name, *s;
	size_t budget = MAX_KV_BYTES;
	int err;

	*out = NULL;
	if (!o || !json_object_is_type(o, json_type_object))
		return -EINVAL;
	kind = jstr(o, "kind", MAX_NAME_LEN);
	/* list items carry no kind; anything that says it is not a Pod is not */
	if (json_object_object_get_ex(o, "kind", NULL) && (!kind || strcmp(kind, "Pod")))
		return -EINVAL;
	meta = jget(o, "metadata", json_type_object);
	uid = jstr(meta, "uid", MAX_NAME_LEN);
	name = jstr(meta, "name", MAX_NAME_LEN);
	if (!uid || !name)
		return -EINVAL;
	spec = jget(o, "spec", json_type_object);
	status = jget(o, "status", json_type_object);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	err = -ENOMEM;
	p->uid = strdup(uid);
	p->name = strdup(name);
	if (!p->uid || !p->name)
		goto cleanup;
	if ((s = jstr(meta, "namespace", MAX_NAME_LEN)) && !(p->namespace = strdup(s)))
		goto cleanup;
	if ((s = jstr(spec, "nodeName", MAX_NAME_LEN)) && !(p->node = strdup(s)))
		goto cleanup;
	/* labels first: selectors and relabel rules live on them */
	err = kvs_from_json(jget(meta, "labels", json_type_object), &p->labels, &p->nlabels,
			    &budget);
	if (err)
		goto cleanup;
	err = kvs_from_json(jget(meta, "annotations", json_type_object), &p->annotations,
			    &p->nannotations, &budget);
	if (err)
		goto cleanup;
	err = resolve_owner(p, meta);
	if (err)
		goto cleanup;
	err = containers_from_json(p, spec, status);
	if (err)
		goto cleanup;
	*out = p;
	return 0;
cleanup:
	kube_pod__free(p);
	return err;
}

int kube__parse_pod(const char *json, size_t len, struct kube_pod **out)
{
	struct json_object *o;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	o = json_parse(json, len, MAX_OBJECT);
	if (!o)
		return -EINVAL;
	err = pod_from_json(o, out);
	json_object_put(o);
	return err;
}

void kube_event__clear(struct kube_event *ev)
{
	if (!ev)
		return;
	kube_pod__free(ev->pod);
	free(ev->resource_version);
	free(ev->message);
	memset(ev, 0, sizeof(*ev));
}

int kube__parse_event(const char *json, size_t len, struct kube_event *ev)
{
	static const char *const types[] = {
		[KUBE_EV_ADDED] = "ADDED", [KUBE_EV_MODIFIED] = "MODIFIED",
		[KUBE_EV_DELETED] = "DELETED", [KUBE_EV_BOOKMARK] = "BOOKMARK",
		[KUBE_EV_ERROR] = "ERROR",
	};
	struct json_object *o, *obj, *code;
	const char *type, *rv, *msg;
	int err = -EINVAL;
	size_t t;

	if (!ev)
		return -EINVAL;
	memset(ev, 0, sizeof(*ev));
	o = json_parse(json, len, MAX_OBJECT);
	if (!o)
		return -EINVAL;
	type = jstr(o, "type", 32);
	obj = jget(o, "object", json_type_object);
	if (!type || !obj)
		goto cleanup;
	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		if (!strcmp(type, types[t]))
			break;
	if (t == sizeof(types) / sizeof(types[0]))
		goto cleanup;
	ev->type = (enum kube_event_type)t;
	if (ev->type == KUBE_EV_ERROR) {
		code = jget(obj, "code", json_type_int);
		ev->code = code ? (int)json_object_get_int(code) : 0;
		msg = jstr(obj, "message", MAX_VALUE_LEN);
		if (msg && !(ev->message = strdup(msg))) {
			err = -ENOMEM;
			goto cleanup;
		}
		err = 0;
		goto cleanup;
	}
	rv = jstr(jget(obj, "metadata", json_type_object), "resourceVersion", MAX_RV_LEN);
	if (rv && !(ev->resource_version = strdup(rv))) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (ev->type == KUBE_EV_BOOKMARK) {
		err = rv ? 0 : -EINVAL;
		goto cleanup;
	}
	err = pod_from_json(obj, &ev->pod);
cleanup:
	if (err)
		kube_event__clear(ev);
	json_object_put(o);
	return err;
}

void kube_list__clear(struct kube_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->npods; i++)
		kube_pod__free(l->pods[i]);
	free(l->pods);
	free(l->resource_version);
	free(l->cont);
	memset(l, 0, sizeof(*l));
}

int kube__parse_list(const char *json, size_t len, size_t max_pods, struct kube_list *l)
{
	struct json_object *o, *items, *meta, *v;
	const char *kind, *s;
	bool null_items = false;
	size_t n;
	int err = -EINVAL;

	if (!l)
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	o = json_parse(json, len, MAX_LIST);
	if (!o)
		return -EINVAL;
	kind = jstr(o, "kind", MAX_NAME_LEN);
	items = jget(o, "items", json_type_array);
	if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "items", &v))
		null_items = v == NULL;
	/* an empty list may say "items": null; anything else is not a list,
	 * and taking it for an empty one would forget every pod */
	if (!json_object_is_type(o, json_type_object) ||
	    (json_object_object_get_ex(o, "kind", NULL) && (!kind || strcmp(kind, "PodList"))) ||
	    (!items && !null_items))
		goto cleanup;
	meta = jget(o, "metadata", json_type_object);
	err = -ENOMEM;
	if ((s = jstr(meta, "resourceVersion", MAX_RV_LEN)) && !(l->resource_version = strdup(s)))
		goto cleanup;
	if ((s = jstr(meta, "continue", MAX_CONTINUE_LEN)) && !(l->cont = strdup(s)))
		goto cleanup;
	n = items ? json_object_array_length(items) : 0;
	if (n > max_pods) {
		l->dropped = n - max_pods;
		n = max_pods;
	}
	if (n && !(l->pods = calloc(n, sizeof(*l->pods))))
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		int perr = pod_from_json(json_object_array_get_idx(items, i), &l->pods[l->npods]);

		if (perr == -ENOMEM)
			goto cleanup;
		if (perr)
			l->invalid++;
		else
			l->npods++;
	}
	err = 0;
cleanup:
	if (err)
		kube_list__clear(l);
	json_object_put(o);
	return err;
}

/* ---- the store -------------------------------------------------------- */

struct entry;

struct cnode {
	struct hashmap_node node;
	const char *id;        /* owned by the entry's pod */
	struct entry *e;
	bool linked;
};

struct entry {
	struct hashmap_node node;
	struct kube_pod *pod;
	struct cnode *cids;
	size_t ncids;
	uint64_t deleted_ms;   /* 0: live */
	uint64_t epoch;        /* the last list that saw it */
};

/* Pod uids arrive with dashes from the API and with underscores from
 * systemd cgroup names; either spelling finds the pod. */
static char uid_char(char c)
{
	return c == '_' ? '-' : (char)tolower((unsigned char)c);
}

static uint64_t uid_hash(const char *s)
{
	uint64_t h = HASH_SEED;

	for (; *s; s++) {
		char c = uid_char(*s);

		h = hash_bytes(h, &c, 1);
	}
	return h;
}

static int uid_eq(const struct hashmap_node *n, const void *key)
{
	const char *a = ((const struct entry *)n)->pod->uid, *b = key;

	for (; *a && *b; a++, b++)
		if (uid_char(*a) != uid_char(*b))
			return 0;
	return !*a && !*b;
}

static uint64_t cid_hash(const char *s)
{
	return hash_bytes(HASH_SEED, s, strlen(s));
}

static int cid_eq(const struct hashmap_node *n, const void *key)
{
	return !strcmp(((const struct cnode *)n)->id, key);
}

enum cause {
	CAUSE_NET, CAUSE_TLS, CAUSE_401, CAUSE_403, CAUSE_HTTP, CAUSE_BODY, CAUSE_NOCLUSTER,
	CAUSE_FULL, NCAUSES,
};

enum xfer_mode { X_BODY, X_WATCH };

struct kube {
	char *node, *api_url, *token_file, *ca_file, *kubelet_url;
	bool insecure, ca_explicit;
	uint64_t resync_ms, max_pods, grace_ms;

	pthread_t thread;
	bool started;
	atomic_bool stop;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;

	pthread_rwlock_t lock;           /* guards everything below up to the worker part */
	struct hashmap by_uid, by_cid;
	size_t nentries, nlive;
	uint64_t gen, epoch;
	struct kube_stats st;

	/* worker only */
	CURL *easy;
	CURLM *multi;
	char errbuf[CURL_ERROR_SIZE];
	unsigned warned;                 /* bit per enum cause */
	bool failing;                    /* since the last success */
	uint64_t backoff_ms, next_purge_ms;
	uint64_t rng;
	char *rv;
	bool had_token;
	/* the transfer in flight */
	enum xfer_mode mode;
	long status;
	char *buf;
	size_t len, cap, max;
	bool overflow, gone, watch_error, ok_seen;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void entry_unlink_cids(struct kube *k, struct entry *e)
{
	for (size_t i = 0; i < e->ncids; i++)
		if (e->cids[i].linked)
			hashmap__remove(&k->by_cid, &e->cids[i].node);
	free(e->cids);
	e->cids = NULL;
	e->ncids = 0;
}

/* Indexes the pod's container ids; an id already indexed moves to this pod
 * (the newer word on it). Out of memory leaves the pod findable by uid. */
static void entry_link_cids(struct kube *k, struct entry *e)
{
	struct kube_pod *p = e->pod;
	size_t n = 0;

	for (size_t i = 0; i < p->ncontainers; i++)
		n += p->containers[i].id != NULL;
	if (!n || !(e->cids = calloc(n, sizeof(*e->cids))))
		return;
	for (size_t i = 0; i < p->ncontainers; i++) {
		struct cnode *c, *old;
		uint64_t h;

		if (!p->containers[i].id)
			continue;
		c = &e->cids[e->ncids++];
		c->id = p->containers[i].id;
		c->e = e;
		h = cid_hash(c->id);
		old = (struct cnode *)hashmap__find(&k->by_cid, h, c->id, cid_eq);
		if (old) {
			hashmap__remove(&k->by_cid, &old->node);
			old->linked = false;
		}
		c->linked = !hashmap__insert(&k->by_cid, &c->node, h);
	}
}

static void entry_free(struct kube *k, struct entry *e)
{
	entry_unlink_cids(k, e);
	hashmap__remove(&k->by_uid, &e->node);
	if (!e->deleted_ms)
		k->nlive--;
	k->nentries--;
	kube_pod__free(e->pod);
	free(e);
}

static struct entry *find_uid(struct kube *k, const char *uid)
{
	return (struct entry *)hashmap__find(&k->by_uid, uid_hash(uid), uid, uid_eq);
}

static struct entry *oldest_deleted(struct kube *k)
{
	struct hashmap_node *n, *tmp;
	struct entry *best = NULL;
	size_t b;

	hashmap__for_each(&k->by_uid, n, tmp, b) {
		struct entry *e = (struct entry *)n;

		if (e->deleted_ms && (!best || e->deleted_ms < best->deleted_ms))
			best = e;
	}
	return best;
}

static void note_full(struct kube *k);

/* Takes p. Called with the write lock held. */
static void store_upsert(struct kube *k, struct kube_pod *p)
{
	struct entry *e = find_uid(k, p->uid);

	if (e) {
		e->epoch = k->epoch;
		if (!e->deleted_ms && pod_eq(e->pod, p)) {
			kube_pod__free(p);
			return;
		}
		entry_unlink_cids(k, e);
		kube_pod__free(e->pod);
		e->pod = p;
		if (e->deleted_ms)
			k->nlive++;
		e->deleted_ms = 0;
		entry_link_cids(k, e);
		k->gen++;
		return;
	}
	if (k->nentries >= k->max_pods) {
		struct entry *old = oldest_deleted(k);

		if (!old) {
			k->st.errors++;
			note_full(k);
			kube_pod__free(p);
			return;
		}
		entry_free(k, old);
	}
	e = calloc(1, sizeof(*e));
	if (!e || hashmap__insert(&k->by_uid, &e->node, uid_hash(p->uid))) {
		free(e);
		kube_pod__free(p);
		k->st.errors++;
		return;
	}
	e->pod = p;
	e->epoch = k->epoch;
	k->nentries++;
	k->nlive++;
	entry_link_cids(k, e);
	k->gen++;
}

static void store_mark_deleted(struct kube *k, struct entry *e, uint64_t now)
{
	if (e->deleted_ms)
		return;
	e->deleted_ms = now ? now : 1;
	k->nlive--;
	k->gen++;
}

static void store_purge(struct kube *k, uint64_t now)
{
	struct hashmap_node *n, *tmp;
	size_t b;

	hashmap__for_each(&k->by_uid, n, tmp, b) {
		struct entry *e = (struct entry *)n;

		if (e->deleted_ms && now - e->deleted_ms >= k->grace_ms) {
			entry_free(k, e);
			k->gen++;
		}
	}
	k->st.pods = k->nlive;
}

/* A full list replaces the set: pods it no longer has are deleted (and
 * kept for the grace period like any deleted pod). Takes the pods. */
static void store_replace(struct kube *k, struct kube_pod **pods, size_t n)
{
	struct hashmap_node *node, *tmp;
	uint64_t now = now_ms();
	size_t b;

	pthread_rwlock_wrlock(&k->lock);
	k->epoch++;
	for (size_t i = 0; i < n; i++) {
		store_upsert(k, pods[i]);
		pods[i] = NULL;
	}
	hashmap__for_each(&k->by_uid, node, tmp, b) {
		struct entry *e = (struct entry *)node;

		if (e->epoch != k->epoch)
			store_mark_deleted(k, e, now);
	}
	store_purge(k, now);
	pthread_rwlock_unlock(&k->lock);
}

int kube__lookup(struct kube *k, const char *pod_uid, const char *container_id,
		 struct kube_pod **out)
{
	struct entry *e = NULL;
	struct cnode *c;
	int err = -ENOENT;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!k || (!pod_uid && !container_id))
		return -EINVAL;
	pthread_rwlock_rdlock(&k->lock);
	if (pod_uid && *pod_uid)
		e = find_uid(k, pod_uid);
	if (!e && container_id && *container_id) {
		c = (struct cnode *)hashmap__find(&k->by_cid, cid_hash(container_id),
						 container_id, cid_eq);
		e = c ? c->e : NULL;
	}
	if (e) {
		*out = pod_dup(e->pod);
		err = *out ? 0 : -ENOMEM;
	}
	pthread_rwlock_unlock(&k->lock);
	return err;
}

uint64_t kube__generation(struct kube *k)
{
	uint64_t g;

	if (!k)
		return 0;
	pthread_rwlock_rdlock(&k->lock);
	g = k->gen;
	pthread_rwlock_unlock(&k->lock);
	return g;
}

void kube__stats(struct kube *k, struct kube_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (!k)
		return;
	pthread_rwlock_rdlock(&k->lock);
	*s = k->st;
	s->pods = k->nlive;
	pthread_rwlock_unlock(&k->lock);
}

/* ---- errors ----------------------------------------------------------- */

static void set_error(struct kube *k, const char *msg, bool failed)
{
	pthread_rwlock_wrlock(&k->lock);
	snprintf(k->st.last_error, sizeof(k->st.last_error), "%s", msg);
	if (failed) {
		k->st.errors++;
		k->st.synced = false;
	}
	pthread_rwlock_unlock(&k->lock);
}

/* The first failure of each kind is a warning with its cause and fix;
 * repeats are debug lines, as retries go on in the background. */
static void fail(struct kube *k, enum cause c, const char *short_msg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fail(struct kube *k, enum cause c, const char *short_msg, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	set_error(k, short_msg, true);
	k->failing = true;
	if (!(k->warned & (1u << c))) {
		k->warned |= 1u << c;
		pr_warn("kube: %s\n", line);
	} else {
		pr_debug("kube: %s\n", short_msg);
	}
}

static void note_full(struct kube *k)
{
	/* called with the write lock held: only the worker writes warned */
	if (!(k->warned & (1u << CAUSE_FULL))) {
		k->warned |= 1u << CAUSE_FULL;
		pr_warn("kube: more than %llu pods on this node: the others get no pod metadata "
			"(raise the bound on pods kept)\n", (unsigned long long)k->max_pods);
	}
}

/* After a warning, the user wants to know it is over. */
static void note_success(struct kube *k, const char *url)
{
	if (!k->failing)
		return;
	k->failing = false;
	pr_info("kube: %s answers again: pod metadata of node %s available\n", url, k->node);
}

/* The server's own words from a Status body, printable and short. */
static void status_message(const char *body, size_t len, char *out, size_t outsz)
{
	struct json_object *o = json_parse(body, len, MAX_ERROR_BODY);
	const char *m = o ? jstr(o, "message", MAX_VALUE_LEN) : NULL;
	size_t j = 0;

	out[0] = '\0';
	for (; m && *m && j + 1 < outsz && j < 200; m++)
		out[j++] = isprint((unsigned char)*m) ? *m : '?';
	if (j)
		out[j] = '\0';
	json_object_put(o);
}

/* ---- HTTP ------------------------------------------------------------- */

static uint64_t rnd(struct kube *k)
{
	k->rng ^= k->rng << 13;
	k->rng ^= k->rng >> 7;
	k->rng ^= k->rng << 17;
	return k->rng;
}

static uint64_t next_backoff(struct kube *k)
{
	uint64_t d = k->backoff_ms ? k->backoff_ms * 2 : BACKOFF_MIN_MS;

	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	k->backoff_ms = d;
	/* jitter spreads a node pool's agents after an API server restart */
	return d - rnd(k) % (d / 4 + 1);
}

/* Returns true when asked to stop. */
static bool sleep_ms(struct kube *k, uint64_t ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&k->wait_lock);
	while (!(stop = atomic_load(&k->stop)))
		if (pthread_cond_timedwait(&k->wait_cond, &k->wait_lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&k->wait_lock);
	return stop || atomic_load(&k->stop);
}

static int buf_append(struct kube *k, const char *p, size_t n)
{
	if (n > k->max - k->len) {
		k->overflow = true;
		return -E2BIG;
	}
	if (k->len + n + 1 > k->cap) {
		size_t cap = k->cap ? k->cap : 64 * 1024;
		char *b;

		while (cap < k->len + n + 1)
			cap *= 2;
		b = realloc(k->buf, cap);
		if (!b)
			return -ENOMEM;
		k->buf = b;
		k->cap = cap;
	}
	memcpy(k->buf + k->len, p, n);
	k->len += n;
	k->buf[k->len] = '\0';
	return 0;
}

/* A big answer's buffer is not kept for the next one, minutes later. */
static void buf_release(struct kube *k)
{
	if (k->cap > (1u << 20)) {
		free(k->buf);
		k->buf = NULL;
		k->cap = 0;
	}
	k->len = 0;
}

static void set_rv(struct kube *k, const char *rv)
{
	char *c;

	if (!rv || !(c = strdup(rv)))
		return;
	free(k->rv);
	k->rv = c;
}

/* One watch event line. Returns false to end the watch. */
static bool on_event(struct kube *k, const char *line, size_t len)
{
	struct kube_event ev;
	struct entry *e;
	int err;

	while (len && isspace((unsigned char)line[len - 1]))
		len--;
	if (!len)
		return true;
	err = kube__parse_event(line, len, &ev);
	pthread_rwlock_wrlock(&k->lock);
	if (err) {
		k->st.errors++;
		pthread_rwlock_unlock(&k->lock);
		pr_debug("kube: unreadable watch event (%zu bytes) skipped\n", len);
		return true;
	}
	k->st.watch_events++;
	switch (ev.type) {
	case KUBE_EV_ADDED:
	case KUBE_EV_MODIFIED:
		store_upsert(k, ev.pod);
		ev.pod = NULL;
		break;
	case KUBE_EV_DELETED:
		e = find_uid(k, ev.pod->uid);
		if (e)
			store_mark_deleted(k, e, now_ms());
		break;
	case KUBE_EV_BOOKMARK:
		break;
	case KUBE_EV_ERROR:
		/* 410: our resourceVersion left the server's window; only a
		 * relist gets us back in */
		if (ev.code == 410 || (ev.message && strstr(ev.message, "too old resource version")))
			k->gone = true;
		else
			k->watch_error = true;
		break;
	}
	k->st.pods = k->nlive;
	pthread_rwlock_unlock(&k->lock);
	if (ev.type == KUBE_EV_ERROR)
		pr_debug("kube: watch error event %d: %s\n", ev.code, ev.message ? ev.message : "");
	set_rv(k, ev.resource_version);
	kube_event__clear(&ev);
	return !k->gone && !k->watch_error;
}

static size_t on_data(char *p, size_t sz, size_t nmemb, void *arg)
{
	struct kube *k = arg;
	size_t n = sz * nmemb, done = 0;

	if (!k->status)
		curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &k->status);
	if (k->status != 200) {
		/* an error body: enough to quote, the rest thrown away */
		if (k->len < MAX_ERROR_BODY)
			buf_append(k, p, n < MAX_ERROR_BODY - k->len ? n : MAX_ERROR_BODY - k->len);
		return n;
	}
	if (k->mode == X_BODY)
		return buf_append(k, p, n) ? 0 : n;
	if (!k->ok_seen) {
		k->ok_seen = true;
		note_success(k, k->api_url);
		pthread_rwlock_wrlock(&k->lock);
		k->st.synced = true;
		pthread_rwlock_unlock(&k->lock);
	}
	while (done < n) {
		const char *nl = memchr(p + done, '\n', n - done);
		size_t chunk = nl ? (size_t)(nl - (p + done)) : n - done;

		if (buf_append(k, p + done, chunk))
			return 0;
		done += chunk;
		if (!nl)
			break;
		done++;
		if (!on_event(k, k->buf, k->len))
			return 0;
		k->len = 0;
	}
	return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct kube *k = arg;

	(void)a, (void)b, (void)c, (void)d;
	return atomic_load(&k->stop) ? 1 : 0;
}

/* The bearer token, read at every request: bound tokens rotate (kubelet
 * rewrites the file about hourly) and a stale copy would end in 401s. */
static char *read_token(struct kube *k)
{
	char *t = NULL;
	ssize_t r;
	size_t len = 0;
	int fd = open(k->token_file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	t = malloc(MAX_TOKEN_LEN + 1);
	if (!t)
		goto cleanup;
	while (len < MAX_TOKEN_LEN && (r = read(fd, t + len, MAX_TOKEN_LEN - len)) > 0)
		len += (size_t)r;
	while (len && isspace((unsigned char)t[len - 1]))
		len--;
	t[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		/* a header injection or a binary file: no token at all */
		if (!isgraph((unsigned char)t[i])) {
			len = 0;
			break;
		}
	}
	if (!len) {
		explicit_bzero(t, MAX_TOKEN_LEN + 1);
		free(t);
		t = NULL;
	}
cleanup:
	close(fd);
	return t;
}

static void wipe_headers(struct curl_slist *h)
{
	for (struct curl_slist *s = h; s; s = s->next)
		explicit_bzero(s->data, strlen(s->data));
	curl_slist_free_all(h);
}

/* One GET on the worker's multi handle. Returns the curl result; the body
 * (X_BODY) is in k->buf, the status in k->status. */
static CURLcode perform(struct kube *k, const char *url, enum xfer_mode mode, uint64_t timeout_ms)
{
	struct curl_slist *hdrs = NULL, *h;
	CURL *e = k->easy;
	CURLcode rc = CURLE_OK;
	CURLMsg *m;
	int running = 1, left;
	char *tok = read_token(k), *auth = NULL;

	k->had_token = tok != NULL;
	k->mode = mode;
	k->status = 0;
	k->len = 0;
	k->max = mode == X_BODY ? MAX_LIST : MAX_OBJECT;
	k->overflow = k->gone = k->watch_error = k->ok_seen = false;
	k->errbuf[0] = '\0';
	if (tok) {
		if (asprintf(&auth, "Authorization: Bearer %s", tok) < 0)
			auth = NULL;
		explicit_bzero(tok, strlen(tok));
		free(tok);
		if (!auth)
			return CURLE_OUT_OF_MEMORY;
	}
	h = curl_slist_append(hdrs, "Accept: application/json");
	if (h)
		hdrs = h;
	h = h && auth ? curl_slist_append(hdrs, auth) : h;
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (!h) {
		wipe_headers(hdrs);
		return CURLE_OUT_OF_MEMORY;
	}
	hdrs = h;
	curl_easy_reset(e);
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, k->errbuf);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_USERAGENT, "ignis/" IGNIS_VERSION);
	/* lists of a busy node compress well, and the server gzips big ones */
	SET(CURLOPT_ACCEPT_ENCODING, "");
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, k);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, k);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (k->ca_file)
		SET(CURLOPT_CAINFO, k->ca_file);
	if (k->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
#undef SET
	if (rc != CURLE_OK)
		goto out;
	if (curl_multi_add_handle(k->multi, e) != CURLM_OK) {
		rc = CURLE_OUT_OF_MEMORY;
		goto out;
	}
	while (running) {
		if (curl_multi_perform(k->multi, &running) != CURLM_OK) {
			rc = CURLE_FAILED_INIT;
			goto done;
		}
		if (!running)
			break;
		if (atomic_load(&k->stop)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			goto done;
		}
		if (mode == X_WATCH && now_ms() >= k->next_purge_ms) {
			/* deleted pods age out even while the stream is quiet */
			k->next_purge_ms = now_ms() + 1000;
			pthread_rwlock_wrlock(&k->lock);
			store_purge(k, now_ms());
			pthread_rwlock_unlock(&k->lock);
		}
		if (curl_multi_poll(k->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			rc = CURLE_FAILED_INIT;
			goto done;
		}
	}
	rc = CURLE_FAILED_INIT;
	while ((m = curl_multi_info_read(k->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == e)
			rc = m->data.result;
done:
	curl_multi_remove_handle(k->multi, e);
	if (!k->status)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &k->status);
out:
	/* the easy handle keeps a pointer to the list until reset */
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	wipe_headers(hdrs);
	return rc;
}

static bool tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return true;
	default:
		return false;
	}
}

/* Reports what went wrong with the transfer of what ("list", "watch",
 * "/pods"); 0 when nothing did. */
static int judge(struct kube *k, const char *what, const char *url_base, CURLcode rc)
{
	char msg[256], srv[256];
	const char *detail;

	if (atomic_load(&k->stop))
		return -EINTR;
	if (rc == CURLE_OK && k->status == 200)
		return 0;
	if (k->overflow) {
		snprintf(msg, sizeof(msg), "%s: answer larger than %zu MiB", what, k->max >> 20);
		fail(k, CAUSE_BODY, msg, "%s from %s refused: %s", what, url_base, msg);
		return -E2BIG;
	}
	if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR) {
		detail = k->errbuf[0] ? k->errbuf : curl_easy_strerror(rc);
		snprintf(msg, sizeof(msg), "%s: %.200s", what, detail);
		if (tls_error(rc))
			fail(k, CAUSE_TLS, msg,
			     "TLS with %s failed (%s): pod metadata unavailable; check the CA "
			     "file (%s)%s; retrying in the background",
			     url_base, detail, k->ca_file ? k->ca_file : "the system's",
			     k->kubelet_url ? " or allow the kubelet's self-signed certificate" : "");
		else
			fail(k, CAUSE_NET, msg,
			     "cannot reach %s (%s): pod metadata unavailable until it answers, "
			     "profiles keep cgroup-level identity; retrying in the background",
			     url_base, detail);
		return -EIO;
	}
	if (rc == CURLE_WRITE_ERROR && k->status == 200) {
		if (k->mode == X_WATCH)
			return 0;   /* ended on purpose (410, ERROR event) */
		fail(k, CAUSE_BODY, "out of memory", "%s from %s: out of memory", what, url_base);
		return -ENOMEM;
	}
	status_message(k->buf, k->len, srv, sizeof(srv));
	snprintf(msg, sizeof(msg), "%s: HTTP %ld%s%.200s", what, k->status, srv[0] ? ": " : "", srv);
	if (k->status == 401)
		fail(k, CAUSE_401, msg,
		     "401 Unauthorized from %s: %s: mount the service account token "
		     "(automountServiceAccountToken: true) or set the token file; "
		     "pod metadata unavailable, retrying in the background",
		     url_base, k->had_token ? "the token was not accepted (expired or for another cluster?)"
					    : "no token was sent");
	else if (k->status == 403)
		fail(k, CAUSE_403, msg,
		     "403 Forbidden from %s%s%s: the service account lacks %s: apply the "
		     "ClusterRole in deploy/daemonset.yaml; pod metadata unavailable, retrying "
		     "in the background", url_base, srv[0] ? ": " : "", srv,
		     k->kubelet_url ? "get on nodes/proxy (the kubelet API)" : "list/watch on pods");
	else
		fail(k, CAUSE_HTTP, msg, "%s from %s failed: HTTP %ld%s%s; retrying in the background",
		     what, url_base, k->status, srv[0] ? ": " : "", srv);
	return k->status == 410 ? -ESTALE : -EIO;
}

static char *escape(struct kube *k, const char *s)
{
	return curl_easy_escape(k->easy, s, 0);
}

/* A full list, page by page, into the store. */
static int do_list(struct kube *k)
{
	struct kube_pod **all = NULL;
	size_t nall = 0, dropped = 0, invalid = 0;
	char *node = escape(k, k->node), *cont = NULL, *url = NULL, *rv = NULL;
	int err = -ENOMEM, pages = 0;

	if (!node)
		goto cleanup;
	do {
		struct kube_list l;
		struct kube_pod **grown;
		char *econt = cont ? escape(k, cont) : NULL;
		CURLcode rc;

		free(url);
		url = NULL;
		if (cont && !econt)
			goto cleanup;
		if (asprintf(&url, "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=%d%s%s",
			     k->api_url, node, LIST_LIMIT, econt ? "&continue=" : "",
			     econt ? econt : "") < 0) {
			url = NULL;
			curl_free(econt);
			goto cleanup;
		}
		curl_free(econt);
		rc = perform(k, url, X_BODY, LIST_TIMEOUT_MS);
		err = judge(k, "list", k->api_url, rc);
		if (err)
			goto cleanup;
		err = kube__parse_list(k->buf, k->len, k->max_pods - nall, &l);
		buf_release(k);
		if (err) {
			fail(k, CAUSE_BODY, "list: not a PodList",
			     "the pod list from %s is not a PodList: pod metadata unavailable",
			     k->api_url);
			err = -EBADMSG;
			goto cleanup;
		}
		dropped += l.dropped;
		invalid += l.invalid;
		grown = realloc(all, (nall + l.npods + 1) * sizeof(*all));
		if (!grown) {
			kube_list__clear(&l);
			err = -ENOMEM;
			goto cleanup;
		}
		all = grown;
		if (l.npods)
			memcpy(all + nall, l.pods, l.npods * sizeof(*all));
		nall += l.npods;
		l.npods = 0;
		free(cont);
		cont = l.cont;
		l.cont = NULL;
		if (l.resource_version) {
			free(rv);
			rv = l.resource_version;
			l.resource_version = NULL;
		}
		kube_list__clear(&l);
		/* the rest would be dropped anyway */
		if (nall >= k->max_pods && cont) {
			dropped++;
			break;
		}
	} while (cont && ++pages < MAX_PAGES);
	if (!rv) {
		fail(k, CAUSE_BODY, "list: no resourceVersion",
		     "the pod list from %s has no resourceVersion: cannot watch", k->api_url);
		err = -EBADMSG;
		goto cleanup;
	}
	if (dropped) {
		pthread_rwlock_wrlock(&k->lock);
		note_full(k);
		pthread_rwlock_unlock(&k->lock);
	}
	if (invalid)
		pr_debug("kube: %zu unreadable pods in the list skipped\n", invalid);
	store_replace(k, all, nall);
	/* a list's JSON tree is many times the pods kept: give it back (the
	 * agent's steady RSS is a tested figure) */
	malloc_trim(0);
	free(k->rv);
	k->rv = rv;
	rv = NULL;
	pthread_rwlock_wrlock(&k->lock);
	if (k->st.lists)
		k->st.relists++;
	k->st.lists++;
	k->st.synced = true;
	k->st.last_error[0] = '\0';
	pthread_rwlock_unlock(&k->lock);
	note_success(k, k->api_url);
	pr_debug("kube: listed %zu pods of node %s at resourceVersion %s\n", nall, k->node, k->rv);
	err = 0;
cleanup:
	for (size_t i = 0; i < nall; i++)
		kube_pod__free(all[i]);
	free(all);
	free(rv);
	free(cont);
	free(url);
	curl_free(node);
	return err;
}

/* Watches from k->rv until the stream ends. 0: ended normally (rewatch);
 * -ESTALE: relist now; -EPROTO: relist after a backoff; other: failed. */
static int do_watch(struct kube *k, uint64_t secs)
{
	char *node = escape(k, k->node), *rv = escape(k, k->rv), *url = NULL;
	CURLcode rc;
	int err = -ENOMEM;

	if (!node || !rv)
		goto cleanup;
	if (asprintf(&url, "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&watch=1"
		     "&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%llu",
		     k->api_url, node, rv, (unsigned long long)secs) < 0) {
		url = NULL;
		goto cleanup;
	}
	rc = perform(k, url, X_WATCH, secs * 1000 + WATCH_SLACK_MS);
	if (k->gone) {
		err = -ESTALE;
		goto cleanup;
	}
	if (k->watch_error) {
		fail(k, CAUSE_HTTP, "watch: ERROR event", "the pod watch on %s ended with an error "
		     "event; relisting", k->api_url);
		err = -EPROTO;
		goto cleanup;
	}
	/* The server is meant to end it; our own cut is no failure either,
	 * nor a stream that breaks (an API server restarting): the rewatch
	 * says whether the server is really gone. */
	if (rc != CURLE_OK && k->ok_seen) {
		pr_debug("kube: watch ended: %s\n", k->errbuf[0] ? k->errbuf : curl_easy_strerror(rc));
		err = 0;
		goto cleanup;
	}
	err = judge(k, "watch", k->api_url, rc);
	if (!err && k->len)
		pr_debug("kube: watch ended inside an event (%zu bytes dropped)\n", k->len);
cleanup:
	buf_release(k);
	free(url);
	curl_free(rv);
	curl_free(node);
	return err;
}

static void run_api(struct kube *k)
{
	bool need_list = true;
	uint64_t resync_at = 0;

	while (!atomic_load(&k->stop)) {
		uint64_t now = now_ms();
		int err;

		if (need_list || now >= resync_at) {
			err = do_list(k);
			if (err == -EINTR)
				return;
			if (err) {
				if (sleep_ms(k, next_backoff(k)))
					return;
				continue;
			}
			k->backoff_ms = 0;
			need_list = false;
			resync_at = now_ms() + k->resync_ms;
			continue;
		}
		err = do_watch(k, (resync_at - now + 999) / 1000);
		if (err == -EINTR)
			return;
		if (err == -ESTALE) {
			pr_debug("kube: resourceVersion %s expired: relisting\n", k->rv);
			need_list = true;
			continue;
		}
		if (err) {
			/* a broken connection rewatches from where it was; an
			 * ERROR event says the stream itself is not to be trusted */
			need_list = err == -EPROTO;
			if (sleep_ms(k, next_backoff(k)))
				return;
			continue;
		}
		k->backoff_ms = 0;
	}
}

static void run_kubelet(struct kube *k)
{
	char *url = NULL;

	if (asprintf(&url, "%s/pods", k->kubelet_url) < 0)
		return;
	while (!atomic_load(&k->stop)) {
		struct kube_list l;
		CURLcode rc = perform(k, url, X_BODY, LIST_TIMEOUT_MS);
		int err = judge(k, "/pods", k->kubelet_url, rc);
		uint64_t wait;

		if (err == -EINTR)
			break;
		if (!err && kube__parse_list(k->buf, k->len, k->max_pods, &l))
			err = -EBADMSG;
		buf_release(k);
		if (err == -EBADMSG) {
			fail(k, CAUSE_BODY, "/pods: not a PodList",
			     "the kubelet's /pods at %s is not a PodList: pod metadata unavailable",
			     k->kubelet_url);
			err = -EBADMSG;
		}
		if (err) {
			wait = next_backoff(k);
		} else {
			if (l.dropped) {
				pthread_rwlock_wrlock(&k->lock);
				note_full(k);
				pthread_rwlock_unlock(&k->lock);
			}
			store_replace(k, l.pods, l.npods);
			kube_list__clear(&l);
			malloc_trim(0);
			pthread_rwlock_wrlock(&k->lock);
			if (k->st.lists)
				k->st.relists++;
			k->st.lists++;
			k->st.synced = true;
			k->st.last_error[0] = '\0';
			pthread_rwlock_unlock(&k->lock);
			k->backoff_ms = 0;
			wait = k->resync_ms;
			note_success(k, k->kubelet_url);
		}
		if (sleep_ms(k, wait))
			break;
	}
	free(url);
}

static void *worker(void *arg)
{
	struct kube *k = arg;

	if (!k->api_url && !k->kubelet_url) {
		fail(k, CAUSE_NOCLUSTER, "not in a cluster: KUBERNETES_SERVICE_HOST unset",
		     "KUBERNETES_SERVICE_HOST is not set (not running in a pod?): no pod metadata; "
		     "set the API server URL or the kubelet URL to get it");
		return NULL;
	}
	if (k->kubelet_url)
		run_kubelet(k);
	else
		run_api(k);
	return NULL;
}

/* ---- life ------------------------------------------------------------- */

static bool http_url(const char *u)
{
	return u && (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8)) &&
	       strlen(u) < 4096 && !strpbrk(u, " \t\r\n");
}

static char *dup_url(const char *u)
{
	char *c = strdup(u);
	size_t n;

	if (!c)
		return NULL;
	for (n = strlen(c); n && c[n - 1] == '/'; n--)
		c[n - 1] = '\0';
	return c;
}

static char *in_cluster_url(void)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *u = NULL;

	if (!host || !*host)
		return NULL;
	if (!port || !*port)
		port = "443";
	if (asprintf(&u, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0)
		return NULL;
	return u;
}

struct kube *kube__new(const struct kube_opts *o)
{
	struct kube *k = NULL;
	pthread_condattr_t ca;
	sigset_t all, old;
	struct stat sb;
	int err;

	if (!o || !o->node_name || !*o->node_name || strlen(o->node_name) > MAX_NAME_LEN ||
	    (o->api_url && !http_url(o->api_url)) || (o->kubelet_url && !http_url(o->kubelet_url))) {
		err = -EINVAL;
		goto cleanup;
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		pr_warn("kube: curl_global_init: %s\n", curl_easy_strerror(curl_init_rc));
		err = -ENOMEM;
		goto cleanup;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		err = -ENOMEM;
		goto cleanup;
	}
	pthread_rwlock_init(&k->lock, NULL);
	pthread_mutex_init(&k->wait_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->wait_cond, &ca);
	pthread_condattr_destroy(&ca);
	k->insecure = o->insecure_skip_verify;
	k->max_pods = o->max_pods ? o->max_pods : DEF_MAX_PODS;
	k->resync_ms = o->resync_ms ? o->resync_ms
				    : o->kubelet_url ? DEF_KUBELET_RESYNC_MS : DEF_RESYNC_MS;
	/* long enough for the interval that sampled a pod's last processes */
	k->grace_ms = 2 * k->resync_ms < MAX_GRACE_MS ? 2 * k->resync_ms : MAX_GRACE_MS;
	k->rng = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)k ^ ((uint64_t)getpid() << 32);
	if (!k->rng)
		k->rng = 1;
	err = -ENOMEM;
	k->node = strdup(o->node_name);
	k->token_file = strdup(o->token_file ? o->token_file : DEF_TOKEN_FILE);
	if (!k->node || !k->token_file)
		goto cleanup;
	if (o->kubelet_url) {
		if (!(k->kubelet_url = dup_url(o->kubelet_url)))
			goto cleanup;
	} else if (o->api_url) {
		if (!(k->api_url = dup_url(o->api_url)))
			goto cleanup;
	} else {
		k->api_url = in_cluster_url();   /* NULL: the worker says why */
	}
	/* an explicit CA must be used (and fail loudly if missing); the
	 * in-cluster default only when it is there, else the system's */
	if (o->ca_file ? !(k->ca_file = strdup(o->ca_file))
		       : (!stat(DEF_CA_FILE, &sb) && !(k->ca_file = strdup(DEF_CA_FILE))))
		goto cleanup;
	k->easy = curl_easy_init();
	k->multi = curl_multi_init();
	if (!k->easy || !k->multi)
		goto cleanup;
	/* signals belong to the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&k->thread, NULL, worker, k);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto cleanup;
	k->started = true;
	return k;
cleanup:
	kube__free(k);
	errno = -err;
	return NULL;
}

void kube__free(struct kube *k)
{
	struct hashmap_node *n, *tmp;
	size_t b;

	if (!k)
		return;
	if (k->started) {
		pthread_mutex_lock(&k->wait_lock);
		atomic_store(&k->stop, true);
		pthread_cond_broadcast(&k->wait_cond);
		pthread_mutex_unlock(&k->wait_lock);
		curl_multi_wakeup(k->multi);
		pthread_join(k->thread, NULL);
	}
	hashmap__for_each(&k->by_uid, n, tmp, b)
		entry_free(k, (struct entry *)n);
	hashmap__clear(&k->by_uid);
	hashmap__clear(&k->by_cid);
	if (k->multi)
		curl_multi_cleanup(k->multi);
	if (k->easy)
		curl_easy_cleanup(k->easy);
	pthread_cond_destroy(&k->wait_cond);
	pthread_mutex_destroy(&k->wait_lock);
	pthread_rwlock_destroy(&k->lock);
	free(k->buf);
	free(k->rv);
	free(k->node);
	free(k->api_url);
	free(k->token_file);
	free(k->ca_file);
	free(k->kubelet_url);
	free(k);
}
