/* The project's hash tables, in two shapes over one hashing:
 *
 * - struct hashmap, intrusive and chained: callers embed struct
 *   hashmap_node in records that stay where they are (malloc'd one by one)
 *   and supply the hash and the equality test, so one table type serves
 *   every key shape without copying keys.
 * - struct hashidx, an open-addressing set of indices into the caller's own
 *   growable array: for records that move when the array grows (the
 *   profile's and the pprof encoder's interning tables, one lookup per
 *   frame), where a node pointer could not stay valid. */
#ifndef IGNIS_HASHMAP_H
#define IGNIS_HASHMAP_H

#include <stdbool.h>
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

/* An open-addressing (linear probing) set of indices: a slot holds the
 * hash and idx + 1 (0 = empty) of an element that lives in the caller's
 * array, found through the caller's equality test. The load stays under
 * 1/2 so probes stay short. Zero-initialized is empty. */
struct hashidx {
	uint64_t *hashes;
	uint32_t *vals;
	size_t cap;  /* power of two, or 0 */
	size_t len;
};

/* True when element idx of the caller's array (reached through ctx)
 * equals key. */
typedef bool (*hashidx_eq_fn)(const void *ctx, uint32_t idx, const void *key);

/* Regrows t to hold len + more under the load bound; hashidx__reserve
 * calls it when it must. Returns 0 or -ENOMEM. */
int hashidx__grow(struct hashidx *t, size_t more);

/* Makes room for more insertions without regrowth. Returns 0 or -ENOMEM.
 * Inline: called before every lookup, and almost always has room. */
static inline int hashidx__reserve(struct hashidx *t, size_t more)
{
	if (t->len + more <= t->cap / 2)
		return 0;
	return hashidx__grow(t, more);
}
void hashidx__free(struct hashidx *t);

/* Inline: called once per frame while a profile is built, with eq known at
 * the call site. Returns the index found, or -1 with *slot set to where it
 * would go (for hashidx__set); the caller has reserved room first, so the
 * table is never full. */
static inline int64_t hashidx__find(const struct hashidx *t, uint64_t hash, hashidx_eq_fn eq,
				    const void *ctx, const void *key, size_t *slot)
{
	size_t i;

	for (i = hash & (t->cap - 1); t->vals[i]; i = (i + 1) & (t->cap - 1)) {
		if (t->hashes[i] == hash && eq(ctx, t->vals[i] - 1, key))
			break;
	}
	*slot = i;
	return t->vals[i] ? (int64_t)t->vals[i] - 1 : -1;
}

/* Stores idx at a slot hashidx__find returned (no reserve in between). */
static inline void hashidx__set(struct hashidx *t, size_t slot, uint64_t hash, uint32_t idx)
{
	t->hashes[slot] = hash;
	t->vals[slot] = idx + 1;
	t->len++;
}

/* 64-bit FNV-1a, continued from seed (start with HASH_SEED). Inline: the
 * profile hashes every frame's strings with it. */
#define HASH_SEED 0xcbf29ce484222325ULL
static inline uint64_t hash_bytes(uint64_t seed, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		seed ^= p[i];
		seed *= 0x100000001b3ULL;
	}
	return seed;
}

/* Folds one word into a running hash: a multiply and a shift, for keys
 * made of many words (hash_words, frames); finish with hash_mix, whose
 * finalizer spreads every bit into the low ones the tables index by. */
static inline uint64_t hash_word(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 29);
}

/* Folds v into the running hash h (splitmix64's finalizer over the
 * combination): for keys made of several words or pointers. */
static inline uint64_t hash_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

/* A hash of len bytes taken 8 at a time (about one step per word where
 * hash_bytes takes one per byte): for binary keys that are hashed once a
 * sample or a frame. 32 bytes and more go through four lanes, a word
 * each, which the CPU runs side by side (one chain waits on each
 * multiply): a 20-frame stack's 320 bytes in 36 ns where one chain took
 * 77 (bench/hash_driver). Not hash_bytes's values and not continuable:
 * each call is finished; chain calls through seed. */
static inline uint64_t hash_words(uint64_t seed, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = hash_word(seed, len), w;

	if (len >= 32) {
		uint64_t a = h, b = h ^ 0x9e3779b97f4a7c15ULL, c = h ^ 0x94d049bb133111ebULL,
			 d = h ^ 0xd6e8feb86659fd93ULL, w0, w1, w2, w3;

		for (; len >= 32; p += 32, len -= 32) {
			__builtin_memcpy(&w0, p, 8);
			__builtin_memcpy(&w1, p + 8, 8);
			__builtin_memcpy(&w2, p + 16, 8);
			__builtin_memcpy(&w3, p + 24, 8);
			a = hash_word(a, w0);
			b = hash_word(b, w1);
			c = hash_word(c, w2);
			d = hash_word(d, w3);
		}
		h = hash_word(hash_word(hash_word(a, b), c), d);
	}
	for (; len >= 8; p += 8, len -= 8) {
		__builtin_memcpy(&w, p, 8);
		h = hash_word(h, w);
	}
	if (len) {
		w = 0;
		__builtin_memcpy(&w, p, len);
		h = hash_word(h, w);
	}
	return hash_mix(h, 0);
}

#endif
