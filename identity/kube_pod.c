/* Kubernetes documents decoded into pods: one Pod, a watch event line, a
 * PodList (identity/kube.h says what is kept and what is bounded), and
 * copies and comparisons of decoded pods for the store. Pure. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/str.h"
#include "http/json.h"
#include "identity/kube.h"
#include "identity/kube_pod.h"

/* Bounds on what the network can make us hold. */
#define MAX_OBJECT KUBE_MAX_OBJECT
#define MAX_LIST KUBE_MAX_LIST
#define JSON_DEPTH 64               /* pods nest ~15 deep, managedFields included */
#define MAX_KV 512                  /* labels or annotations per pod */
#define MAX_KEY_LEN 1024
/* Larger annotation values are blobs (last-applied-configuration) no label
 * wants; they are skipped, not the pod. */
#define MAX_VALUE_LEN 4096
/* Labels and annotations of one pod together: what the store may hold is
 * max_pods times this, whatever the cluster puts in its pods. */
#define MAX_KV_BYTES (32u << 10)
#define MAX_NAME_LEN KUBE_MAX_NAME_LEN
#define MAX_CONTAINERS 256
#define MAX_ID_LEN 256
#define MAX_RV_LEN 1024
#define MAX_CONTINUE_LEN (64u << 10)

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

static int dup_kvs(const struct kube_kv *src, size_t n, struct kube_kv **dst)
{
	*dst = NULL;
	if (!n)
		return 0;
	*dst = calloc(n, sizeof(**dst));
	if (!*dst)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (str__dup(src[i].key, &(*dst)[i].key) || str__dup(src[i].value, &(*dst)[i].value))
			return -ENOMEM;
	return 0;
}

struct kube_pod *kube_pod__dup(const struct kube_pod *p)
{
	struct kube_pod *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (str__dup(p->uid, &c->uid) || str__dup(p->name, &c->name) ||
	    str__dup(p->namespace, &c->namespace) || str__dup(p->node, &c->node) ||
	    str__dup(p->owner_kind, &c->owner_kind) || str__dup(p->owner_name, &c->owner_name))
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
			if (str__dup(p->containers[i].name, &c->containers[i].name) ||
			    str__dup(p->containers[i].id, &c->containers[i].id))
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

bool kube_pod__equal(const struct kube_pod *a, const struct kube_pod *b)
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
	struct json_object *refs = json__get(meta, "ownerReferences", json_type_array);
	struct json_object *pick = NULL;
	const char *kind, *name, *hash;
	size_t n = refs ? json_object_array_length(refs) : 0, nlen;

	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(refs, i);
		struct json_object *c = json__get(r, "controller", json_type_boolean);

		if (!json__str(r, "kind", MAX_NAME_LEN) || !json__str(r, "name", MAX_NAME_LEN))
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
	kind = json__str(pick, "kind", MAX_NAME_LEN);
	name = json__str(pick, "name", MAX_NAME_LEN);
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
		const char *sn = json__str(st, "name", MAX_NAME_LEN);

		if (sn && !strcmp(sn, name))
			return bare_id(json__str(st, "containerID", MAX_ID_LEN));
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
		struct json_object *a = json__get(spec, kinds[k][0], json_type_array);

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
		struct json_object *a = json__get(spec, kinds[k][0], json_type_array);
		struct json_object *sts = json__get(status, kinds[k][1], json_type_array);
		size_t n = a ? json_object_array_length(a) : 0;

		for (size_t i = 0; i < n && p->ncontainers < total; i++) {
			struct kube_container *c = &p->containers[p->ncontainers];
			const char *name = json__str(json_object_array_get_idx(a, i), "name", MAX_NAME_LEN);
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
	kind = json__str(o, "kind", MAX_NAME_LEN);
	/* list items carry no kind; anything that says it is not a Pod is not */
	if (json_object_object_get_ex(o, "kind", NULL) && (!kind || strcmp(kind, "Pod")))
		return -EINVAL;
	meta = json__get(o, "metadata", json_type_object);
	uid = json__str(meta, "uid", MAX_NAME_LEN);
	name = json__str(meta, "name", MAX_NAME_LEN);
	if (!uid || !name)
		return -EINVAL;
	spec = json__get(o, "spec", json_type_object);
	status = json__get(o, "status", json_type_object);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	err = -ENOMEM;
	p->uid = strdup(uid);
	p->name = strdup(name);
	if (!p->uid || !p->name)
		goto cleanup;
	if ((s = json__str(meta, "namespace", MAX_NAME_LEN)) && !(p->namespace = strdup(s)))
		goto cleanup;
	if ((s = json__str(spec, "nodeName", MAX_NAME_LEN)) && !(p->node = strdup(s)))
		goto cleanup;
	/* labels first: selectors and relabel rules live on them */
	err = kvs_from_json(json__get(meta, "labels", json_type_object), &p->labels, &p->nlabels,
			    &budget);
	if (err)
		goto cleanup;
	err = kvs_from_json(json__get(meta, "annotations", json_type_object), &p->annotations,
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
	o = json__parse(json, len, MAX_OBJECT, JSON_DEPTH);
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
	o = json__parse(json, len, MAX_OBJECT, JSON_DEPTH);
	if (!o)
		return -EINVAL;
	type = json__str(o, "type", 32);
	obj = json__get(o, "object", json_type_object);
	if (!type || !obj)
		goto cleanup;
	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		if (!strcmp(type, types[t]))
			break;
	if (t == sizeof(types) / sizeof(types[0]))
		goto cleanup;
	ev->type = (enum kube_event_type)t;
	if (ev->type == KUBE_EV_ERROR) {
		code = json__get(obj, "code", json_type_int);
		ev->code = code ? (int)json_object_get_int(code) : 0;
		msg = json__str(obj, "message", MAX_VALUE_LEN);
		if (msg && !(ev->message = strdup(msg))) {
			err = -ENOMEM;
			goto cleanup;
		}
		err = 0;
		goto cleanup;
	}
	rv = json__str(json__get(obj, "metadata", json_type_object), "resourceVersion", MAX_RV_LEN);
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
	o = json__parse(json, len, MAX_LIST, JSON_DEPTH);
	if (!o)
		return -EINVAL;
	kind = json__str(o, "kind", MAX_NAME_LEN);
	items = json__get(o, "items", json_type_array);
	if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "items", &v))
		null_items = v == NULL;
	/* an empty list may say "items": null; anything else is not a list,
	 * and taking it for an empty one would forget every pod */
	if (!json_object_is_type(o, json_type_object) ||
	    (json_object_object_get_ex(o, "kind", NULL) && (!kind || strcmp(kind, "PodList"))) ||
	    (!items && !null_items))
		goto cleanup;
	meta = json__get(o, "metadata", json_type_object);
	err = -ENOMEM;
	if ((s = json__str(meta, "resourceVersion", MAX_RV_LEN)) && !(l->resource_version = strdup(s)))
		goto cleanup;
	if ((s = json__str(meta, "continue", MAX_CONTINUE_LEN)) && !(l->cont = strdup(s)))
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

