/* Temporary stubs: the client lands in the next commit. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/kube.h"

struct kube *kube__new(const struct kube_opts *o)
{
	(void)o;
	errno = ENOSYS;
	return NULL;
}

void kube__free(struct kube *k)
{
	(void)k;
}

int kube__lookup(struct kube *k, const char *pod_uid, const char *container_id, struct kube_pod **out)
{
	(void)k; (void)pod_uid; (void)container_id;
	*out = NULL;
	return -ENOSYS;
}

void kube_pod__free(struct kube_pod *p)
{
	(void)p;
}

uint64_t kube__generation(struct kube *k)
{
	(void)k;
	return 0;
}

void kube__stats(struct kube *k, struct kube_stats *s)
{
	(void)k;
	memset(s, 0, sizeof(*s));
}

int kube__parse_pod(const char *json, size_t len, struct kube_pod **out)
{
	(void)json; (void)len;
	*out = NULL;
	return -ENOSYS;
}
