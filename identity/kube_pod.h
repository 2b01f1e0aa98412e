/* Decoded pods, as the pieces of the Kubernetes client share them (the
 * decoders themselves are public in identity/kube.h). Internal to
 * identity/kube*.c. */
#ifndef IGNIS_KUBE_POD_H
#define IGNIS_KUBE_POD_H

#include <stdbool.h>

#include "identity/kube.h"

/* Bounds on what the network can make us hold. */
#define KUBE_MAX_OBJECT (16u << 20)     /* one Pod, one watch event line */
#define KUBE_MAX_LIST (64u << 20)       /* one list page or kubelet /pods answer */
#define KUBE_MAX_NAME_LEN 1024

/* A deep copy, or NULL (no memory). */
struct kube_pod *kube_pod__dup(const struct kube_pod *p);
/* Everything kept is the same. Status-only updates (most MODIFIED events)
 * leave what we keep unchanged: they must not bump the generation. */
bool kube_pod__equal(const struct kube_pod *a, const struct kube_pod *b);

#endif
