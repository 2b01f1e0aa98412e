/* The pods of this node as the Kubernetes client last heard of them,
 * indexed by pod uid (either spelling: dashes from the API, underscores
 * from systemd cgroup names) and by container id. Deleted pods keep
 * answering for a grace period: their processes may still be in the
 * interval being aggregated. Its own lock: lookups from any thread take
 * the read side and get copies. Internal to identity/kube*.c. */
#ifndef IGNIS_KUBE_STORE_H
#define IGNIS_KUBE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "identity/kube.h"

struct kube_store;

/* At most max_pods pods, live and deleted; deleted ones are forgotten
 * grace_ms after their deletion. NULL+errno (ENOMEM). */
struct kube_store *kube_store__new(uint64_t max_pods, uint64_t grace_ms);
void kube_store__free(struct kube_store *s);   /* accepts NULL */

/* Adds or replaces the pod with p's uid; takes p in all cases. When full,
 * the oldest deleted pod makes room. 0, -ENOSPC (full of live pods: p is
 * not kept), -ENOMEM. */
int kube_store__upsert(struct kube_store *s, struct kube_pod *p);
/* Marks the pod with that uid deleted at now_ms (CLOCK_MONOTONIC). */
void kube_store__delete(struct kube_store *s, const char *uid, uint64_t now_ms);
/* A full list: its pods (taken; the array's entries set to NULL) replace
 * the set, and pods it no longer has are deleted at now_ms. The number of
 * pods not kept; *full those of them refused for want of room. */
size_t kube_store__replace(struct kube_store *s, struct kube_pod **pods, size_t n,
			   uint64_t now_ms, size_t *full);
/* Forgets deleted pods past their grace period. */
void kube_store__purge(struct kube_store *s, uint64_t now_ms);

/* As kube__lookup. */
int kube_store__lookup(struct kube_store *s, const char *pod_uid, const char *container_id,
		       struct kube_pod **out);
/* Changes whenever the pod set changes (not on status-only updates). */
uint64_t kube_store__generation(struct kube_store *s);
/* Pods not deleted. */
uint64_t kube_store__live(struct kube_store *s);

#endif
