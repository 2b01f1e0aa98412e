#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"

struct hashmap_node *hashmap__find(const struct hashmap *h, uint64_t hash, const void *key,
				   hashmap_eq_fn eq)
{
	struct hashmap_node *n;

	if (!h->nbuckets)
		return NULL;
	for (n = h->buckets[hash & (h->nbuckets - 1)]; n; n = n->next)
		if (n->hash == hash && eq(n, key))
			return n;
	return NULL;
}

static int grow(struct hashmap *h)
{
	size_t nb = h->nbuckets ? h->nbuckets * 2 : 64;
	struct hashmap_node **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < h->nbuckets; i++) {
		struct hashmap_node *n = h->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(h->buckets);
	h->buckets = b;
	h->nbuckets = nb;
	return 0;
}

int hashmap__insert(struct hashmap *h, struct hashmap_node *node, uint64_t hash)
{
	struct hashmap_node **slot;

	if (h->count >= h->nbuckets) {
		int err = grow(h);

		if (err)
			return err;
	}
	node->hash = hash;
	slot = &h->buckets[hash & (h->nbuckets - 1)];
	node->next = *slot;
	*slot = node;
	h->count++;
	return 0;
}

void hashmap__remove(struct hashmap *h, struct hashmap_node *node)
{
	struct hashmap_node **p;

	if (!h->nbuckets)
		return;
	for (p = &h->buckets[node->hash & (h->nbuckets - 1)]; *p; p = &(*p)->next) {
		if (*p == node) {
			*p = node->next;
			h->count--;
			return;
		}
	}
}

void hashmap__clear(struct hashmap *h)
{
	free(h->buckets);
	h->buckets = NULL;
	h->nbuckets = 0;
	h->count = 0;
}

int hashidx__grow(struct hashidx *t, size_t more)
{
	uint64_t *hashes;
	uint32_t *vals;
	size_t cap, i, j;

	if (t->len + more <= t->cap / 2)
		return 0;
	cap = t->cap ? t->cap : 64;
	while (t->len + more > cap / 2) {
		if (cap > SIZE_MAX / 2 / sizeof(*hashes))
			return -ENOMEM;
		cap *= 2;
	}
	hashes = malloc(cap * sizeof(*hashes));
	vals = calloc(cap, sizeof(*vals));
	if (!hashes || !vals) {
		free(hashes);
		free(vals);
		return -ENOMEM;
	}
	for (i = 0; i < t->cap; i++) {
		if (!t->vals[i])
			continue;
		for (j = t->hashes[i] & (cap - 1); vals[j]; j = (j + 1) & (cap - 1))
			;
		hashes[j] = t->hashes[i];
		vals[j] = t->vals[i];
	}
	free(t->hashes);
	free(t->vals);
	t->hashes = hashes;
	t->vals = vals;
	t->cap = cap;
	return 0;
}

void hashidx__free(struct hashidx *t)
{
	free(t->hashes);
	free(t->vals);
	memset(t, 0, sizeof(*t));
}
