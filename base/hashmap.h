/* An intrusive chained hash table: callers embed struct hashmap_node in
 * their records and supply the hash and the equality test, so one table
 * type serves every key shape without copying keys. */
#ifndef IGNIS_HASHMAP_H
#define IGNIS_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct hashmap_node {
	struct hashmap_node *next;
	uint64_t hash;
};

/* True when node's key equals key. */
typedef int (*hashmap_eq_fn)(const struct hashmap_node *node, const void *key);

struct hashmap {
	struct hashmap_node **buckets;
	size_t nbuckets;   /* power of two, or 0 before the first insert */
	size_t count;
};

struct hashmap_node *hashmap__find(const struct hashmap *h, uint64_t hash, const void *key,
				   hashmap_eq_fn eq);
/* Links node (whose key must not be present yet). Returns 0 or -ENOMEM. */
int hashmap__insert(struct hashmap *h, struct hashmap_node *node, uint64_t hash);
void hashmap__remove(struct hashmap *h, struct hashmap_node *node);
/* Frees the bucket array; the nodes belong to the caller. */
void hashmap__clear(struct hashmap *h);

/* Visits every node; safe against removing (and freeing) the current one. */
#define hashmap__for_each(h, node, tmp, b)                                          \
	for ((b) = 0; (b) < (h)->nbuckets; (b)++)                                   \
		for ((node) = (h)->buckets[b], (tmp) = (node) ? (node)->next : NULL; \
		     (node); (node) = (tmp), (tmp) = (node) ? (node)->next : NULL)

/* 64-bit FNV-1a, continued from seed (start with HASH_SEED). */
#define HASH_SEED 0xcbf29ce484222325ULL
uint64_t hash_bytes(uint64_t seed, const void *data, size_t len);

#endif
