/* The intrusive LRU list: order of use, eviction from the tail, and
 * unlinking from anywhere (or from nowhere). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/lru.h"

struct rec {
	int id;
	struct lru_node lru;  /* not first: lru_entry does the offset */
};

static int ids(const struct lru *l, int *out, int max)
{
	struct lru_node *n;
	int k = 0;

	lru__for_each(l, n) {
		if (k < max)
			out[k] = lru_entry(n, struct rec, lru)->id;
		k++;
	}
	return k;
}

static void check_order(const struct lru *l, const int *want, int n)
{
	int got[16], back = 0;
	struct lru_node *p;

	assert_int_equal(ids(l, got, 16), n);
	assert_int_equal(l->count, (size_t)n);
	for (int i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
	/* The back links agree with the forward ones. */
	for (p = l->tail; p; p = p->prev)
		assert_int_equal(lru_entry(p, struct rec, lru)->id, want[n - 1 - back++]);
	assert_int_equal(back, n);
}

static void test_lru_order(void **state)
{
	struct rec r[5];
	struct lru l = { 0 };

	(void)state;
	for (int i = 0; i < 5; i++) {
		r[i] = (struct rec){ .id = i };
		assert_false(lru__linked(&l, &r[i].lru));
		lru__push_front(&l, &r[i].lru);
		assert_true(lru__linked(&l, &r[i].lru));
	}
	check_order(&l, (int[]){ 4, 3, 2, 1, 0 }, 5);
	lru__touch(&l, &r[0].lru);   /* the tail */
	check_order(&l, (int[]){ 0, 4, 3, 2, 1 }, 5);
	lru__touch(&l, &r[3].lru);   /* the middle */
	check_order(&l, (int[]){ 3, 0, 4, 2, 1 }, 5);
	lru__touch(&l, &r[3].lru);   /* the head: nothing moves */
	check_order(&l, (int[]){ 3, 0, 4, 2, 1 }, 5);
	assert_int_equal(lru_entry(l.tail, struct rec, lru)->id, 1);
}

static void test_lru_unlink(void **state)
{
	struct rec r[4], lone = { .id = 9 };
	struct lru l = { 0 };

	(void)state;
	assert_null(lru_entry(l.tail, struct rec, lru));
	for (int i = 0; i < 4; i++) {
		r[i] = (struct rec){ .id = i };
		lru__push_front(&l, &r[i].lru);
	}
	lru__unlink(&l, &r[2].lru);  /* middle */
	check_order(&l, (int[]){ 3, 1, 0 }, 3);
	assert_false(lru__linked(&l, &r[2].lru));
	lru__unlink(&l, &r[2].lru);  /* twice: no change */
	lru__unlink(&l, &lone.lru);  /* never linked */
	check_order(&l, (int[]){ 3, 1, 0 }, 3);
	lru__unlink(&l, &r[3].lru);  /* head */
	lru__unlink(&l, &r[0].lru);  /* tail */
	check_order(&l, (int[]){ 1 }, 1);
	/* A lone node is linked as the head. */
	assert_true(lru__linked(&l, &r[1].lru));
	/* Touching a node not on the list puts it first. */
	lru__touch(&l, &lone.lru);
	check_order(&l, (int[]){ 9, 1 }, 2);
	/* Evicting from the tail empties it. */
	while (l.tail)
		lru__unlink(&l, l.tail);
	assert_null(l.head);
	assert_int_equal(l.count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru_order),
		cmocka_unit_test(test_lru_unlink),
	};

	return cmocka_run_group_tests_name("lru", tests, NULL, NULL) ? 1 : 0;
}
