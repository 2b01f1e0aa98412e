#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "identity/kube.h"
#include "identity/kube_pod.h"
#include "identity/kube_store.h"

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

struct kube_store {
	pthread_rwlock_t lock;
	struct hashmap by_uid, by_cid;
	size_t nentries, nlive;
	uint64_t gen, epoch;
	uint64_t max_pods, grace_ms;
};

static void entry_unlink_cids(struct kube_store *k, struct entry *e)
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
static void entry_link_cids(struct kube_store *k, struct entry *e)
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

static void entry_free(struct kube_store *k, struct entry *e)
{
	entry_unlink_cids(k, e);
	hashmap__remove(&k->by_uid, &e->node);
	if (!e->deleted_ms)
		k->nlive--;
	k->nentries--;
	kube_pod__free(e->pod);
	free(e);
}

static struct entry *find_uid(struct kube_store *k, const char *uid)
{
	return (struct entry *)hashmap__find(&k->by_uid, uid_hash(uid), uid, uid_eq);
}

static struct entry *oldest_deleted(struct kube_store *k)
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

/* Takes p. Called with the write lock held. */
static int upsert(struct kube_store *k, struct kube_pod *p)
{
	struct entry *e = find_uid(k, p->uid);

	if (e) {
		e->epoch = k->epoch;
		if (!e->deleted_ms && kube_pod__equal(e->pod, p)) {
			kube_pod__free(p);
			return 0;
		}
		entry_unlink_cids(k, e);
		kube_pod__free(e->pod);
		e->pod = p;
		if (e->deleted_ms)
			k->nlive++;
		e->deleted_ms = 0;
		entry_link_cids(k, e);
		k->gen++;
		return 0;
	}
	if (k->nentries >= k->max_pods) {
		struct entry *old = oldest_deleted(k);

		if (!old) {
			kube_pod__free(p);
			return -ENOSPC;
		}
		entry_free(k, old);
	}
	e = calloc(1, sizeof(*e));
	if (!e || hashmap__insert(&k->by_uid, &e->node, uid_hash(p->uid))) {
		free(e);
		kube_pod__free(p);
		return -ENOMEM;
	}
	e->pod = p;
	e->epoch = k->epoch;
	k->nentries++;
	k->nlive++;
	entry_link_cids(k, e);
	k->gen++;
	return 0;
}

static void mark_deleted(struct kube_store *k, struct entry *e, uint64_t now)
{
	if (e->deleted_ms)
		return;
	e->deleted_ms = now ? now : 1;
	k->nlive--;
	k->gen++;
}

static void purge(struct kube_store *k, uint64_t now)
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
}

struct kube_store *kube_store__new(uint64_t max_pods, uint64_t grace_ms)
{
	struct kube_store *k = calloc(1, sizeof(*k));

	if (!k) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_rwlock_init(&k->lock, NULL);
	k->max_pods = max_pods;
	k->grace_ms = grace_ms;
	return k;
}

void kube_store__free(struct kube_store *k)
{
	struct hashmap_node *n, *tmp;
	size_t b;

	if (!k)
		return;
	hashmap__for_each(&k->by_uid, n, tmp, b)
		entry_free(k, (struct entry *)n);
	hashmap__clear(&k->by_uid);
	hashmap__clear(&k->by_cid);
	pthread_rwlock_destroy(&k->lock);
	free(k);
}

int kube_store__upsert(struct kube_store *k, struct kube_pod *p)
{
	int err;

	pthread_rwlock_wrlock(&k->lock);
	err = upsert(k, p);
	pthread_rwlock_unlock(&k->lock);
	return err;
}

void kube_store__delete(struct kube_store *k, const char *uid, uint64_t now_ms)
{
	struct entry *e;

	pthread_rwlock_wrlock(&k->lock);
	e = find_uid(k, uid);
	if (e)
		mark_deleted(k, e, now_ms);
	pthread_rwlock_unlock(&k->lock);
}

size_t kube_store__replace(struct kube_store *k, struct kube_pod **pods, size_t n,
			   uint64_t now_ms, size_t *full)
{
	struct hashmap_node *node, *tmp;
	size_t b, failed = 0;

	*full = 0;
	pthread_rwlock_wrlock(&k->lock);
	k->epoch++;
	for (size_t i = 0; i < n; i++) {
		int err = upsert(k, pods[i]);

		pods[i] = NULL;
		failed += err != 0;
		*full += err == -ENOSPC;
	}
	hashmap__for_each(&k->by_uid, node, tmp, b) {
		struct entry *e = (struct entry *)node;

		if (e->epoch != k->epoch)
			mark_deleted(k, e, now_ms);
	}
	purge(k, now_ms);
	pthread_rwlock_unlock(&k->lock);
	return failed;
}

void kube_store__purge(struct kube_store *k, uint64_t now_ms)
{
	pthread_rwlock_wrlock(&k->lock);
	purge(k, now_ms);
	pthread_rwlock_unlock(&k->lock);
}

int kube_store__lookup(struct kube_store *k, const char *pod_uid, const char *container_id,
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
		*out = kube_pod__dup(e->pod);
		err = *out ? 0 : -ENOMEM;
	}
	pthread_rwlock_unlock(&k->lock);
	return err;
}

uint64_t kube_store__generation(struct kube_store *k)
{
	uint64_t g;

	if (!k)
		return 0;
	pthread_rwlock_rdlock(&k->lock);
	g = k->gen;
	pthread_rwlock_unlock(&k->lock);
	return g;
}

uint64_t kube_store__live(struct kube_store *k)
{
	uint64_t n;

	pthread_rwlock_rdlock(&k->lock);
	n = k->nlive;
	pthread_rwlock_unlock(&k->lock);
	return n;
}
