/* libFuzzer target: what the Kubernetes client reads from the network. The
 * first byte picks the document (a Pod, a watch event line, a PodList),
 * the rest is the document. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "identity/kube.h"

/* Touches every string, so a dangling or unterminated one shows. */
static size_t walk(const struct kube_pod *p)
{
	size_t n = strlen(p->uid) + strlen(p->name);

	n += p->namespace ? strlen(p->namespace) : 0;
	n += p->node ? strlen(p->node) : 0;
	n += p->owner_kind ? strlen(p->owner_kind) + strlen(p->owner_name) : 0;
	for (size_t i = 0; i < p->nlabels; i++)
		n += strlen(p->labels[i].key) + strlen(p->labels[i].value);
	for (size_t i = 0; i < p->nannotations; i++)
		n += strlen(p->annotations[i].key) + strlen(p->annotations[i].value);
	for (size_t i = 0; i < p->ncontainers; i++)
		n += strlen(p->containers[i].name) + (p->containers[i].id ? strlen(p->containers[i].id) : 0);
	return n;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *json = (const char *)data + 1;
	volatile size_t sink = 0;
	struct kube_event ev;
	struct kube_list l;
	struct kube_pod *p;

	if (!size)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (!kube__parse_pod(json, size - 1, &p)) {
			sink += walk(p);
			kube_pod__free(p);
		}
		break;
	case 1:
		if (!kube__parse_event(json, size - 1, &ev)) {
			if (ev.pod)
				sink += walk(ev.pod);
			sink += ev.resource_version ? strlen(ev.resource_version) : 0;
			sink += ev.message ? strlen(ev.message) : 0;
			kube_event__clear(&ev);
		}
		break;
	default:
		if (!kube__parse_list(json, size - 1, 64, &l)) {
			for (size_t i = 0; i < l.npods; i++)
				sink += walk(l.pods[i]);
			sink += l.cont ? strlen(l.cont) : 0;
			kube_list__clear(&l);
		}
		break;
	}
	(void)sink;
	return 0;
}
