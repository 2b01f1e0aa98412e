/* An intrusive LRU list: records embed struct lru_node, the list keeps them
 * most recently used first, and eviction takes from the tail. Nothing is
 * allocated; the records belong to the caller. */
#ifndef IGNIS_LRU_H
#define IGNIS_LRU_H

#include <stdbool.h>
#include <stddef.h>

struct lru_node {
	struct lru_node *prev, *next;  /* both NULL while not on a list */
};

/* Zero-initialized is empty. */
struct lru {
	struct lru_node *head, *tail;  /* most recent, least recent */
	size_t count;
};

/* The record that embeds node as member, NULL for a NULL node. */
#define lru_entry(node, type, member) \
	((node) ? (type *)(void *)((char *)(node) - offsetof(type, member)) : (type *)NULL)

/* Whether n is on l (an unlinked node has no neighbours and is not the
 * head of a one-node list). */
static inline bool lru__linked(const struct lru *l, const struct lru_node *n)
{
	return n->prev || n->next || l->head == n;
}

/* Puts n (not on l) first. */
void lru__push_front(struct lru *l, struct lru_node *n);
/* Takes n off l; a node not on l is left alone. */
void lru__unlink(struct lru *l, struct lru_node *n);
/* Marks n used now: moves it first, or puts it there when not on l. */
void lru__touch(struct lru *l, struct lru_node *n);

/* Visits most recent first; n must not be unlinked meanwhile. */
#define lru__for_each(l, n) for ((n) = (l)->head; (n); (n) = (n)->next)

#endif
