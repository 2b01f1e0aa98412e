/* The intrusive hash table: many nodes, growth, removal while iterating,
 * and keys whose hashes collide. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/hashmap.h"

struct item {
	struct hashmap_node node;	/* first: the table hands back this */
	uint64_t key;
	int seen;
};

static int item_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct item *)n)->key == *(const uint64_t *)key;
}

static uint64_t key_hash(uint64_t key)
{
	return hash_bytes(HASH_SEED, &key, sizeof(key));
}

static struct item *find(const struct hashmap *h, uint64_t key)
{
	return (struct item *)hashmap__find(h, key_hash(key), &key, item_eq);
}

static void test_hashmap_empty(void **state)
{
	struct hashmap h = { 0 };
	struct hashmap_node *n, *tmp;
	struct item it = { .key = 1 };
	size_t b, visits = 0;

	(void)state;
	assert_null(find(&h, 1));
	/* Removing from a table that never had a bucket array is harmless. */
	it.node.hash = key_hash(1);
	hashmap__remove(&h, &it.node);
	assert_int_equal(h.count, 0);
	hashmap__for_each(&h, n, tmp, b)
		visits++;
	assert_int_equal(visits, 0);
	hashmap__clear(&h);
	hashmap__clear(&h);
}

static void test_hashmap_many(void **state)
{
	enum { N = 10000 };
	struct hashmap h = { 0 };
	struct item *items = calloc(N, sizeof(*items));
	size_t last_buckets = 0, i;

	(void)state;
	assert_non_null(items);
	for (i = 0; i < N; i++) {
		items[i].key = i * 7919 + 13;
		assert_int_equal(hashmap__insert(&h, &items[i].node, key_hash(items[i].key)), 0);
		assert_int_equal(h.count, i + 1);
		/* Power of two, never shrinking, and load kept at most 1. */
		assert_true(h.nbuckets >= last_buckets);
		assert_int_equal(h.nbuckets & (h.nbuckets - 1), 0);
		assert_true(h.count <= h.nbuckets);
		last_buckets = h.nbuckets;
	}
	assert_true(h.nbuckets >= N);

	/* Every node is still reachable after all the regrowth. */
	for (i = 0; i < N; i++) {
		struct item *it = find(&h, items[i].key);

		assert_ptr_equal(it, &items[i]);
		assert_int_equal(it->node.hash, key_hash(items[i].key));
	}
	assert_null(find(&h, 12));
	assert_null(find(&h, (uint64_t)N * 7919 + 13));

	/* Remove the odd ones; the even ones stay. */
	for (i = 1; i < N; i += 2)
		hashmap__remove(&h, &items[i].node);
	assert_int_equal(h.count, N / 2);
	for (i = 0; i < N; i++) {
		if (i % 2)
			assert_null(find(&h, items[i].key));
		else
			assert_ptr_equal(find(&h, items[i].key), &items[i]);
	}
	/* Removing a node twice does not count twice. */
	hashmap__remove(&h, &items[1].node);
	assert_int_equal(h.count, N / 2);

	/* Re-insert the removed ones. */
	for (i = 1; i < N; i += 2)
		assert_int_equal(hashmap__insert(&h, &items[i].node, key_hash(items[i].key)), 0);
	assert_int_equal(h.count, N);
	for (i = 0; i < N; i++)
		assert_ptr_equal(find(&h, items[i].key), &items[i]);

	for (i = 0; i < N; i++)
		hashmap__remove(&h, &items[i].node);
	assert_int_equal(h.count, 0);
	for (i = 0; i < N; i += 97)
		assert_null(find(&h, items[i].key));
	hashmap__clear(&h);
	assert_null(h.buckets);
	assert_int_equal(h.nbuckets, 0);
	assert_int_equal(h.count, 0);
	free(items);
}

static void test_hashmap_for_each_visits_all(void **state)
{
	enum { N = 3000 };
	struct hashmap h = { 0 };
	struct item *items = calloc(N, sizeof(*items));
	struct hashmap_node *n, *tmp;
	size_t b, visits = 0, i;

	(void)state;
	assert_non_null(items);
	for (i = 0; i < N; i++) {
		items[i].key = i;
		assert_int_equal(hashmap__insert(&h, &items[i].node, key_hash(i)), 0);
	}
	hashmap__for_each(&h, n, tmp, b) {
		((struct item *)n)->seen++;
		visits++;
	}
	assert_int_equal(visits, N);
	for (i = 0; i < N; i++)
		assert_int_equal(items[i].seen, 1);
	hashmap__clear(&h);
	free(items);
}

/* Removing, and freeing, the current node is what the sweeps of the process
 * table and the aggregation do. */
static void test_hashmap_for_each_remove_and_free(void **state)
{
	enum { N = 10000 };
	struct hashmap h = { 0 };
	struct hashmap_node *n, *tmp;
	size_t b, visits = 0, kept = 0;
	uint64_t i;

	(void)state;
	for (i = 0; i < N; i++) {
		struct item *it = calloc(1, sizeof(*it));

		assert_non_null(it);
		it->key = i;
		/* Few distinct hashes: long chains, removal mid-chain. */
		assert_int_equal(hashmap__insert(&h, &it->node, key_hash(i % 1000)), 0);
	}
	hashmap__for_each(&h, n, tmp, b) {
		struct item *it = (struct item *)n;

		visits++;
		if (it->key % 3 == 0) {
			hashmap__remove(&h, n);
			free(it);
		}
	}
	assert_int_equal(visits, N);
	assert_int_equal(h.count, N - (N + 2) / 3);

	hashmap__for_each(&h, n, tmp, b) {
		struct item *it = (struct item *)n;

		assert_true(it->key % 3 != 0);
		kept++;
	}
	assert_int_equal(kept, h.count);

	/* Then everything, as a free function does. */
	hashmap__for_each(&h, n, tmp, b) {
		hashmap__remove(&h, n);
		free(n);
	}
	assert_int_equal(h.count, 0);
	hashmap__clear(&h);
}

/* Keys that share one hash value: eq decides. */
struct str_item {
	struct hashmap_node node;
	const char *key;
};

static int str_eq(const struct hashmap_node *n, const void *key)
{
	return strcmp(((const struct str_item *)n)->key, key) == 0;
}

static void test_hashmap_collisions(void **state)
{
	static const char *keys[] = { "alpha", "beta", "gamma", "delta", "epsilon" };
	enum { K = sizeof(keys) / sizeof(keys[0]) };
	const uint64_t same = 0x1234;
	struct str_item items[K];
	struct hashmap h = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < K; i++) {
		items[i].key = keys[i];
		assert_int_equal(hashmap__insert(&h, &items[i].node, same), 0);
	}
	for (i = 0; i < K; i++)
		assert_ptr_equal(hashmap__find(&h, same, keys[i], str_eq), &items[i].node);
	/* The same hash with a key nobody has, and a known key under the wrong
	 * hash, both miss. */
	assert_null(hashmap__find(&h, same, "zeta", str_eq));
	assert_null(hashmap__find(&h, same + 1, "alpha", str_eq));
	/* A different hash in the same bucket (the low bits agree). */
	assert_null(hashmap__find(&h, same + (1ull << 40), "alpha", str_eq));

	/* Removing from the middle, the head and the tail of the chain. */
	hashmap__remove(&h, &items[2].node);
	assert_null(hashmap__find(&h, same, "gamma", str_eq));
	hashmap__remove(&h, &items[K - 1].node);	/* last inserted: chain head */
	hashmap__remove(&h, &items[0].node);		/* first inserted: tail */
	assert_int_equal(h.count, K - 3);
	assert_ptr_equal(hashmap__find(&h, same, "beta", str_eq), &items[1].node);
	assert_ptr_equal(hashmap__find(&h, same, "delta", str_eq), &items[3].node);
	assert_null(hashmap__find(&h, same, "alpha", str_eq));
	assert_null(hashmap__find(&h, same, "epsilon", str_eq));
	hashmap__clear(&h);
}

/* Many keys in one bucket across growth: hashes that differ only above
 * the bucket bits. */
static void test_hashmap_collisions_grow(void **state)
{
	enum { N = 2000 };
	struct hashmap h = { 0 };
	struct item *items = calloc(N, sizeof(*items));
	size_t i;

	(void)state;
	assert_non_null(items);
	for (i = 0; i < N; i++) {
		items[i].key = i;
		assert_int_equal(hashmap__insert(&h, &items[i].node, (uint64_t)i << 32), 0);
	}
	for (i = 0; i < N; i++) {
		uint64_t key = i;

		assert_ptr_equal(hashmap__find(&h, (uint64_t)i << 32, &key, item_eq),
				 &items[i].node);
	}
	hashmap__clear(&h);
	free(items);
}

static void test_hash_bytes(void **state)
{
	(void)state;
	/* FNV-1a 64 reference values. */
	assert_int_equal(hash_bytes(HASH_SEED, "", 0), 0xcbf29ce484222325ULL);
	assert_int_equal(hash_bytes(HASH_SEED, "a", 1), 0xaf63dc4c8601ec8cULL);
	assert_int_equal(hash_bytes(HASH_SEED, "foobar", 6), 0x85944171f73967e8ULL);
	/* Continuing from a seed is the same as hashing the concatenation. */
	assert_int_equal(hash_bytes(hash_bytes(HASH_SEED, "foo", 3), "bar", 3),
			 hash_bytes(HASH_SEED, "foobar", 6));
}

/* hash_words reads its bytes at any alignment, tells apart every length
 * and every byte (the tail of a length that is not a multiple of 8 too,
 * and every lane of the four it runs from 32 bytes on), and spreads
 * frame-like keys (a pointer and a small offset, 16 bytes; stacks of them
 * that differ in one frame) over the low bits the tables index by. */
static void test_hash_words(void **state)
{
	enum { KEYS = 4096, BUCKETS = 1024, DEPTH = 20 };
	unsigned char buf[136] = { 0 }, moved[144] = { 0 };
	uint64_t stack[DEPTH][2];
	uint64_t h[sizeof(buf) + 1];
	uint32_t *chain = calloc(BUCKETS, sizeof(*chain)), longest = 0;

	(void)state;
	assert_non_null(chain);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 1);
	for (size_t len = 0; len <= sizeof(buf); len++) {
		h[len] = hash_words(HASH_SEED, buf, len);
		memcpy(moved + 3, buf, len);
		assert_int_equal(hash_words(HASH_SEED, moved + 3, len), h[len]);
		for (size_t k = 0; k < len; k++)
			assert_int_not_equal(h[len], h[k]);
		for (size_t b = 0; b < len; b++) {
			buf[b] ^= 0x10;
			assert_int_not_equal(hash_words(HASH_SEED, buf, len), h[len]);
			buf[b] ^= 0x10;
		}
	}
	assert_int_not_equal(hash_words(1, buf, 16), hash_words(2, buf, 16));
	for (uint64_t i = 0; i < KEYS; i++) {
		uint64_t key[2] = { 0x55d0c0de1000ULL + (i / 64) * 0x1000, i % 64 * 4 };
		uint32_t *c = &chain[hash_words(HASH_SEED, key, sizeof(key)) & (BUCKETS - 1)];

		if (++*c > longest)
			longest = *c;
	}
	/* 4 a bucket on average; a poor spread would pile them up. */
	assert_true(longest <= 16);
	/* Stacks of DEPTH frames, each key one frame away from a common one,
	 * in every position (so in every lane). */
	memset(chain, 0, BUCKETS * sizeof(*chain));
	longest = 0;
	for (uint64_t i = 0; i < KEYS; i++) {
		uint32_t *c;

		for (size_t f = 0; f < DEPTH; f++) {
			stack[f][0] = 0x7f3a2c000000ULL + f * 0x2000;
			stack[f][1] = f * 24;
		}
		stack[i % DEPTH][1] += 4 * (i / DEPTH + 1);
		c = &chain[hash_words(HASH_SEED, stack, sizeof(stack)) & (BUCKETS - 1)];
		if (++*c > longest)
			longest = *c;
	}
	assert_true(longest <= 16);
	free(chain);
}

/* The index set over a growable array of keys, as the profile uses it:
 * find, else append and set, across many regrowths. */
static bool idx_eq(const void *ctx, uint32_t idx, const void *key)
{
	return ((const uint64_t *)ctx)[idx] == *(const uint64_t *)key;
}

static void test_hashidx_many(void **state)
{
	enum { N = 20000 };
	struct hashidx t = { 0 };
	uint64_t *keys = calloc(N, sizeof(*keys));
	size_t i, slot;
	uint32_t n = 0;

	(void)state;
	assert_non_null(keys);
	/* Each key twice: the second time finds the first. */
	for (i = 0; i < 2 * N; i++) {
		uint64_t key = (i % N) * 7919 + 13, hash = key_hash(key);
		int64_t idx;

		assert_int_equal(hashidx__reserve(&t, 1), 0);
		assert_true(t.len + 1 <= t.cap / 2);
		idx = hashidx__find(&t, hash, idx_eq, keys, &key, &slot);
		if (i < N) {
			assert_int_equal(idx, -1);
			keys[n] = key;
			hashidx__set(&t, slot, hash, n++);
		} else {
			assert_int_equal(idx, (int64_t)(i % N));
		}
	}
	assert_int_equal(t.len, N);
	assert_int_equal(t.cap & (t.cap - 1), 0);
	/* Reserving room already there allocates nothing. */
	{
		uint64_t *before = t.hashes;

		assert_int_equal(hashidx__reserve(&t, 1), 0);
		assert_ptr_equal(t.hashes, before);
	}
	hashidx__free(&t);
	assert_null(t.hashes);
	assert_int_equal(t.cap, 0);
	assert_int_equal(t.len, 0);
	hashidx__free(&t);
	free(keys);
}

/* Keys under one hash probe past each other; eq decides. */
static void test_hashidx_collisions(void **state)
{
	uint64_t keys[300];
	struct hashidx t = { 0 };
	size_t i, slot;

	(void)state;
	/* Many at once: one reserve, then sets without regrowth. */
	assert_int_equal(hashidx__reserve(&t, 300), 0);
	for (i = 0; i < 300; i++) {
		keys[i] = i;
		assert_int_equal(hashidx__find(&t, 42, idx_eq, keys, &keys[i], &slot), -1);
		hashidx__set(&t, slot, 42, (uint32_t)i);
	}
	for (i = 0; i < 300; i++)
		assert_int_equal(hashidx__find(&t, 42, idx_eq, keys, &keys[i], &slot), (int64_t)i);
	{
		uint64_t missing = 1000;

		assert_int_equal(hashidx__find(&t, 42, idx_eq, keys, &missing, &slot), -1);
		assert_int_equal(hashidx__find(&t, 43, idx_eq, keys, &keys[0], &slot), -1);
	}
	hashidx__free(&t);
}

static void test_hash_mix(void **state)
{
	(void)state;
	/* Deterministic, and order matters. */
	assert_int_equal(hash_mix(hash_mix(0, 1), 2), hash_mix(hash_mix(0, 1), 2));
	assert_true(hash_mix(hash_mix(0, 1), 2) != hash_mix(hash_mix(0, 2), 1));
	assert_true(hash_mix(0, 0) != hash_mix(0, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hashmap_empty),
		cmocka_unit_test(test_hashmap_many),
		cmocka_unit_test(test_hashmap_for_each_visits_all),
		cmocka_unit_test(test_hashmap_for_each_remove_and_free),
		cmocka_unit_test(test_hashmap_collisions),
		cmocka_unit_test(test_hashmap_collisions_grow),
		cmocka_unit_test(test_hash_bytes),
		cmocka_unit_test(test_hash_words),
		cmocka_unit_test(test_hashidx_many),
		cmocka_unit_test(test_hashidx_collisions),
		cmocka_unit_test(test_hash_mix),
	};

	return cmocka_run_group_tests_name("hashmap", tests, NULL, NULL) ? 1 : 0;
}
