#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "base/clock.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "unwinder/unwstore.h"

#define DEFAULT_QUEUE 64
/* Binaries waiting for the rate limit or for room in the worker's queue. */
#define DEFAULT_WANTED 4096
#define ROW_BATCH 4096
/* Rows a table is installed in at a time: each write maps and unmaps
 * the pages it covers, and an unmap costs a TLB shootdown on every CPU
 * the agent's threads ran on (0.1-0.2 ms on a 2-CPU VM); 32768 rows
 * (256 KiB) take libc's table in one write where 4096 took seven. */
#define INSTALL_BATCH 32768

enum entry_state {
	E_NEW,        /* wanted: waits for the queue or the rate limit */
	E_QUEUED,     /* with the worker */
	E_READY,      /* compiled, waits for room in the maps */
	E_LOADED,     /* in the maps */
	E_EVICTED,    /* was in the maps; asked again on the next miss */
	E_IDLE,       /* compile failed for a passing reason; asked again on a miss */
	E_NONE,       /* no table possible */
};

struct job;

/* Where a binary stands in the compile queue (before()). */
struct order {
	uint64_t demand, seq;
};

struct entry {
	struct hashmap_node node;
	const void *bin;
	uint32_t id;                  /* table id in unw_tables */
	enum entry_state state;
	uint32_t first, nrows;        /* E_LOADED: the run in unw_rows */
	uint32_t *slots;              /* E_LOADED: the global rule slots it holds */
	size_t nslots;
	struct entry *lru_prev, *lru_next;
	struct pmap *pmaps;           /* mappings of this binary, in every process */
	/* E_NEW, E_QUEUED: samples that missed this table since it was
	 * wanted; the worker compiles the most missed first. */
	struct order ord;
	struct job *ready;            /* E_READY */
	uint64_t used_ns;             /* last touch, in poll time */
	uint64_t retry_ns;            /* E_IDLE after budget_full: not asked before */
};

struct pmap {
	struct pmap *next_in_proc;
	struct pmap *prev_in_bin, *next_in_bin;
	struct entry *e;              /* NULL: no table possible */
	uint64_t start, end, bias;
	uint32_t pid;
	uint32_t kind, table;         /* as written to the map */
	bool written;
};

struct proc {
	struct hashmap_node node;
	uint32_t pid;
	struct pmap *maps;
};

struct job {
	struct entry *e;
	const void *bin;
	struct order ord;             /* the entry's, copied under the lock */
	struct unwstore_table t;
	int err;
	struct job *next;
};

struct range {
	uint32_t start, len;
};

struct ranges {
	struct range *v;
	size_t n, cap;
};

struct unwstore;

struct worker_arg {
	struct unwstore *s;
	bool missed_only;
};

struct rslot {
	struct hashmap_node node;
	struct ignis_unw_rule rule;
	uint32_t slot;
	uint32_t refs;
};

struct unwstore {
	struct unwstore_opts o;
	struct unwstore_sizes sizes;
	struct hashmap entries;       /* bin -> entry */
	struct hashmap procs;         /* pid -> proc */
	uint32_t next_id;

	/* rows: free runs, and runs freed since the last poll */
	struct ranges free_rows, quarantine;
	uint64_t free_total, quarantine_total;

	/* rules: by content, and by slot */
	struct hashmap rules;
	struct rslot **slot_of;       /* [sizes.rules] */
	uint32_t *free_slots;
	size_t nfree_slots;
	uint32_t *zero_refs;          /* slots whose last user went, checked at the next poll */
	size_t nzero_refs, zero_cap;

	struct entry *lru_head, *lru_tail;  /* loaded, most recently used first */
	struct entry **wanted;        /* E_NEW, unordered; at most wanted_max */
	size_t nwanted, wanted_max;
	uint64_t next_seq;
	bool demand_changed;          /* since the worker's copy was updated */
	struct job *ready_head;       /* compiled, waiting for room */
	double tokens;
	uint64_t tokens_ns;
	uint64_t now_ns;              /* of the current or last poll */

	/* shared with the workers */
	pthread_mutex_t lock;
	pthread_cond_t cond, idle;
	/* Worker 0 compiles anything, most missed first; worker 1 only what
	 * samples missed, so a busy new process never waits behind a large
	 * compile nobody is waiting for (a browser's or a compiler's). */
	pthread_t worker[2];
	struct worker_arg wargs[2];
	unsigned int nworkers;
	bool have_worker, stop;
	struct job **todo;            /* queue_len jobs, unordered: most demand first */
	size_t todo_n, busy;
	struct job *done_head, *done_tail;

	struct unwstore_stats st;
};

/* ---- the BPF maps --------------------------------------------------------- */

static int bpf_write_rule(void *ctx, uint32_t idx, const struct ignis_unw_rule *r)
{
	const struct unwstore_fds *f = ctx;

	return bpf_map_update_elem(f->rules, &idx, r, BPF_ANY) ? -errno : 0;
}

/* Through a mapping of the pages that hold the run, unmapped right after:
 * the agent's RSS grows by one table at a time, not by the budget. */
static int mmap_write_rows(int fd, uint32_t first, const struct ignis_unw_row *rows, uint32_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t start = (uint64_t)first * sizeof(*rows), end = start + (uint64_t)n * sizeof(*rows);
	uint64_t off = start & ~((uint64_t)page - 1);
	size_t len = (end - off + page - 1) & ~((uint64_t)page - 1);
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);

	if (m == MAP_FAILED)
		return -errno;
	memcpy((char *)m + (start - off), rows, (size_t)n * sizeof(*rows));
	munmap(m, len);
	return 0;
}

static int bpf_write_rows(void *ctx, uint32_t first, const struct ignis_unw_row *rows, uint32_t n)
{
	static uint32_t keys[ROW_BATCH];
	const struct unwstore_fds *f = ctx;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	if (mmap_write_rows(f->rows, first, rows, n) == 0)
		return 0;

	for (uint32_t done = 0; done < n;) {
		__u32 count = n - done < ROW_BATCH ? n - done : ROW_BATCH;

		for (uint32_t i = 0; i < count; i++)
			keys[i] = first + done + i;
		if (bpf_map_update_batch(f->rows, keys, rows + done, &count, &opts))
			return -errno;
		done += count;
	}
	return 0;
}

static int bpf_set_table(void *ctx, uint32_t id, const struct ignis_unw_table *t)
{
	const struct unwstore_fds *f = ctx;

	return bpf_map_update_elem(f->tables, &id, t, BPF_ANY) ? -errno : 0;
}

static int bpf_del_table(void *ctx, uint32_t id)
{
	const struct unwstore_fds *f = ctx;

	return bpf_map_delete_elem(f->tables, &id) && errno != ENOENT ? -errno : 0;
}

static int bpf_set_mapping(void *ctx, const struct ignis_unw_map_key *k,
			   const struct ignis_unw_mapping *v)
{
	const struct unwstore_fds *f = ctx;

	return bpf_map_update_elem(f->mappings, k, v, BPF_ANY) ? -errno : 0;
}

static int bpf_del_mapping(void *ctx, const struct ignis_unw_map_key *k)
{
	const struct unwstore_fds *f = ctx;

	return bpf_map_delete_elem(f->mappings, k) && errno != ENOENT ? -errno : 0;
}

static const struct unwstore_ops bpf_ops = {
	.write_rule = bpf_write_rule,
	.write_rows = bpf_write_rows,
	.set_table = bpf_set_table,
	.del_table = bpf_del_table,
	.set_mapping = bpf_set_mapping,
	.del_mapping = bpf_del_mapping,
};

/* The walker caches mappings and tables per CPU: tell it they changed. */
static void changed(struct unwstore *s)
{
	if (s->o.generation)
		__atomic_fetch_add(s->o.generation, 1, __ATOMIC_RELEASE);
}

/* ---- sizes and prefixes --------------------------------------------------- */

void unwstore__sizes(uint64_t budget, struct unwstore_sizes *out)
{
	uint64_t rows;

	if (!budget)
		budget = UNWSTORE_DEFAULT_BUDGET;
	rows = budget / sizeof(struct ignis_unw_row);
	if (rows > UINT32_MAX)
		rows = UINT32_MAX;
	out->rows = rows ? rows : 1;
	/* Rules repeat across binaries: a few thousand cover a distribution. */
	out->rules = 1u << 16;
	/* A table is rarely below 64 rows. */
	out->tables = rows / 64 < 1024 ? 1024 : rows / 64 > (1u << 20) ? 1u << 20 : rows / 64;
	/* LPM nodes are allocated on use: this is a bound, not a reservation. */
	out->mappings = 1u << 18;
}

size_t unwstore__prefixes(uint32_t pid, uint64_t start, uint64_t end,
			  void (*fn)(void *ctx, const struct ignis_unw_map_key *k), void *ctx)
{
	size_t n = 0;
	uint64_t a = start;

	while (a < end) {
		unsigned int bits = a ? __builtin_ctzll(a) : 64;
		struct ignis_unw_map_key k;

		/* The largest aligned block at a that ends by end. */
		while (bits > 0 && (bits >= 64 || (1ULL << bits) > end - a))
			bits--;
		k.prefixlen = 32 + 64 - bits;
		k.pid_be = __builtin_bswap32(pid);
		k.addr_be = __builtin_bswap64(a);
		if (fn)
			fn(ctx, &k);
		n++;
		if (bits == 64)
			break;
		a += 1ULL << bits;
		if (a == 0)
			break;  /* wrapped */
	}
	return n;
}

/* ---- row ranges ----------------------------------------------------------- */

static int ranges_add(struct ranges *r, uint32_t start, uint32_t len)
{
	size_t i;

	/* Sorted by start; merged with neighbours. */
	for (i = 0; i < r->n && r->v[i].start < start; i++)
		;
	if (i > 0 && r->v[i - 1].start + r->v[i - 1].len == start) {
		r->v[i - 1].len += len;
		if (i < r->n && start + len == r->v[i].start) {
			r->v[i - 1].len += r->v[i].len;
			memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*r->v));
			r->n--;
		}
		return 0;
	}
	if (i < r->n && start + len == r->v[i].start) {
		r->v[i].start = start;
		r->v[i].len += len;
		return 0;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct range *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(*r->v));
	r->v[i] = (struct range){ start, len };
	r->n++;
	return 0;
}

/* First fit. 0 and *start, or -ENOSPC. */
static int ranges_take(struct ranges *r, uint32_t len, uint32_t *start)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].len < len)
			continue;
		*start = r->v[i].start;
		r->v[i].start += len;
		r->v[i].len -= len;
		if (!r->v[i].len) {
			memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*r->v));
			r->n--;
		}
		return 0;
	}
	return -ENOSPC;
}

/* ---- entries and the LRU -------------------------------------------------- */

static uint64_t ptr_hash(const void *p)
{
	return hash_bytes(HASH_SEED, &p, sizeof(p));
}

static int entry_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct entry *)n)->bin == key;
}

static int proc_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct proc *)n)->pid == *(const uint32_t *)key;
}

static int rule_eq(const struct hashmap_node *n, const void *key)
{
	return !memcmp(&((const struct rslot *)n)->rule, key, sizeof(struct ignis_unw_rule));
}

static struct entry *find_entry(const struct unwstore *s, const void *bin)
{
	return (struct entry *)hashmap__find(&s->entries, ptr_hash(bin), bin, entry_eq);
}

static void lru_unlink(struct unwstore *s, struct entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else if (s->lru_head == e)
		s->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else if (s->lru_tail == e)
		s->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct unwstore *s, struct entry *e)
{
	e->lru_next = s->lru_head;
	if (s->lru_head)
		s->lru_head->lru_prev = e;
	s->lru_head = e;
	if (!s->lru_tail)
		s->lru_tail = e;
}

/* Is a compiled before b? The binary whose missing table cost more
 * samples, else the one asked for first: a busy process that starts
 * behind a burst of new binaries does not wait for them all. */
static bool before(const struct order *a, const struct order *b)
{
	return a->demand != b->demand ? a->demand > b->demand : a->seq < b->seq;
}

/* The index of the first (or, last, the last) to compile of n items
 * (entries or jobs) whose struct order is at byte offset off. */
static size_t pick(void *const *v, size_t n, size_t off, bool last)
{
	size_t best = 0;

	for (size_t i = 1; i < n; i++) {
		const struct order *o = (const void *)((const char *)v[i] + off);
		const struct order *b = (const void *)((const char *)v[best] + off);

		if (last ? before(b, o) : before(o, b))
			best = i;
	}
	return best;
}

static void wanted_remove(struct unwstore *s, size_t i)
{
	s->wanted[i] = s->wanted[--s->nwanted];
}

/* Queues e with demand samples that missed its table so far. When the
 * wanted list is full, the one that would be compiled last is put off (a
 * later miss asks for it again), counted. */
static void want(struct unwstore *s, struct entry *e, uint64_t demand)
{
	s->st.requests++;
	e->ord.demand = demand;
	e->ord.seq = ++s->next_seq;
	if (s->nwanted == s->wanted_max) {
		size_t last = pick((void *const *)s->wanted, s->nwanted, offsetof(struct entry, ord),
				   true);

		s->st.queue_dropped++;
		if (!s->nwanted || !before(&e->ord, &s->wanted[last]->ord)) {
			e->state = E_IDLE;
			e->retry_ns = 0;
			return;
		}
		s->wanted[last]->state = E_IDLE;
		s->wanted[last]->retry_ns = 0;
		wanted_remove(s, last);
	}
	e->state = E_NEW;
	s->wanted[s->nwanted++] = e;
}

static struct entry *get_entry(struct unwstore *s, const void *bin)
{
	struct entry *e = find_entry(s, bin);

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->bin = bin;
	e->id = ++s->next_id;
	if (hashmap__insert(&s->entries, &e->node, ptr_hash(bin))) {
		free(e);
		return NULL;
	}
	want(s, e, 0);
	return e;
}

/* ---- process mappings ----------------------------------------------------- */

struct prefix_ctx {
	struct unwstore *s;
	const struct ignis_unw_mapping *v;  /* NULL: delete */
	int err;
};

static void prefix_apply(void *ctx, const struct ignis_unw_map_key *k)
{
	struct prefix_ctx *p = ctx;
	struct unwstore *s = p->s;
	int err;

	if (p->v) {
		err = s->o.ops->set_mapping(s->o.ops_ctx, k, p->v);
	} else {
		err = s->o.ops->del_mapping(s->o.ops_ctx, k);
		if (!err)
			s->st.mapping_entries--;
	}
	if (s->o.pid_generation)
		__atomic_fetch_add(&s->o.pid_generation[__builtin_bswap32(k->pid_be) % IGNIS_UNW_PID_GENS], 1,
				   __ATOMIC_RELEASE);
	else
		changed(s);
	if (err) {
		s->st.map_errors++;
		if (!p->err)
			p->err = err;
	}
}

static void pmap_kind(const struct pmap *m, uint32_t *kind, uint32_t *table)
{
	*table = 0;
	if (!m->e || m->e->state == E_NONE) {
		*kind = IGNIS_MAP_NONE;
	} else if (m->e->state == E_LOADED || m->e->state == E_EVICTED) {
		/* An evicted table's mappings keep its id: the walker finds
		 * no table, says so, and the next miss asks for it again. */
		*kind = IGNIS_MAP_TABLE;
		*table = m->e->id;
	} else {
		*kind = IGNIS_MAP_PENDING;
	}
}

static void pmap_write(struct unwstore *s, struct pmap *m)
{
	struct ignis_unw_mapping v = { .bias = m->bias, .start = m->start, .end = m->end };
	struct prefix_ctx p = { .s = s, .v = &v };
	size_t n;

	pmap_kind(m, &v.kind, &v.table_id);
	if (m->written && v.kind == m->kind && v.table_id == m->table)
		return;
	n = unwstore__prefixes(m->pid, m->start, m->end, prefix_apply, &p);
	if (!m->written)
		s->st.mapping_entries += n;
	m->written = true;
	m->kind = v.kind;
	m->table = v.table_id;
}

static void pmap_erase(struct unwstore *s, struct pmap *m)
{
	struct prefix_ctx p = { .s = s };

	if (m->written)
		unwstore__prefixes(m->pid, m->start, m->end, prefix_apply, &p);
	if (m->e) {
		if (m->prev_in_bin)
			m->prev_in_bin->next_in_bin = m->next_in_bin;
		else
			m->e->pmaps = m->next_in_bin;
		if (m->next_in_bin)
			m->next_in_bin->prev_in_bin = m->prev_in_bin;
	}
	free(m);
}

static struct proc *find_proc(const struct unwstore *s, uint32_t pid)
{
	return (struct proc *)hashmap__find(&s->procs, hash_bytes(HASH_SEED, &pid, sizeof(pid)), &pid,
					    proc_eq);
}

int unwstore__set_process(struct unwstore *s, uint32_t pid, const struct unwstore_mapping *m,
			  size_t n)
{
	struct proc *p = find_proc(s, pid);
	struct pmap *old, *next, *kept = NULL, **tail = &kept;
	int err = 0;

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->pid = pid;
		if (hashmap__insert(&s->procs, &p->node, hash_bytes(HASH_SEED, &pid, sizeof(pid)))) {
			free(p);
			return -ENOMEM;
		}
		s->st.processes++;
	}
	/* Old mappings that are gone lose their prefixes before new ones are
	 * written: a prefix of both would otherwise be deleted last. */
	for (old = p->maps; old; old = next) {
		bool same = false;

		next = old->next_in_proc;
		for (size_t i = 0; i < n && !same; i++)
			same = m[i].start == old->start && m[i].end == old->end &&
			       m[i].bias == old->bias &&
			       (old->e ? old->e->bin == m[i].bin : !m[i].bin);
		if (same) {
			old->next_in_proc = NULL;
			*tail = old;
			tail = &old->next_in_proc;
		} else {
			pmap_erase(s, old);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct pmap *pm;
		bool have = false;

		if (m[i].start >= m[i].end)
			continue;
		for (pm = kept; pm && !have; pm = pm->next_in_proc)
			have = pm->start == m[i].start && pm->end == m[i].end;
		if (have)
			continue;
		pm = calloc(1, sizeof(*pm));
		if (!pm) {
			err = -ENOMEM;
			break;
		}
		pm->pid = pid;
		pm->start = m[i].start;
		pm->end = m[i].end;
		pm->bias = m[i].bias;
		if (m[i].bin) {
			pm->e = get_entry(s, m[i].bin);
			if (!pm->e) {
				free(pm);
				err = -ENOMEM;
				break;
			}
			pm->next_in_bin = pm->e->pmaps;
			if (pm->e->pmaps)
				pm->e->pmaps->prev_in_bin = pm;
			pm->e->pmaps = pm;
		}
		*tail = pm;
		tail = &pm->next_in_proc;
		pmap_write(s, pm);
	}
	p->maps = kept;
	return err;
}

void unwstore__forget_process(struct unwstore *s, uint32_t pid)
{
	struct proc *p = find_proc(s, pid);
	struct pmap *m, *next;

	if (!p)
		return;
	for (m = p->maps; m; m = next) {
		next = m->next_in_proc;
		pmap_erase(s, m);
	}
	hashmap__remove(&s->procs, &p->node);
	free(p);
	s->st.processes--;
}

static void rewrite_pmaps(struct unwstore *s, struct entry *e)
{
	for (struct pmap *m = e->pmaps; m; m = m->next_in_bin)
		pmap_write(s, m);
}

/* ---- rules ---------------------------------------------------------------- */

static void rule_unref(struct unwstore *s, uint32_t slot)
{
	struct rslot *r = slot < s->sizes.rules ? s->slot_of[slot] : NULL;

	if (!r || !r->refs)
		return;
	if (--r->refs)
		return;
	if (s->nzero_refs == s->zero_cap) {
		size_t cap = s->zero_cap ? s->zero_cap * 2 : 64;
		uint32_t *v = realloc(s->zero_refs, cap * sizeof(*v));

		if (!v)
			return;  /* the slot stays cached, unused: only its room is lost */
		s->zero_refs = v;
		s->zero_cap = cap;
	}
	s->zero_refs[s->nzero_refs++] = slot;
}

/* Slots whose last table went at an earlier poll and no table took again. */
static void rules_release(struct unwstore *s)
{
	for (size_t i = 0; i < s->nzero_refs; i++) {
		uint32_t slot = s->zero_refs[i];
		struct rslot *r = s->slot_of[slot];

		if (!r || r->refs)
			continue;
		hashmap__remove(&s->rules, &r->node);
		free(r);
		s->slot_of[slot] = NULL;
		s->free_slots[s->nfree_slots++] = slot;
		s->st.rules_used--;
	}
	s->nzero_refs = 0;
}

/* The global slot of rule, taking a reference; allocates and writes it. */
static int rule_ref(struct unwstore *s, const struct ignis_unw_rule *rule, uint32_t *slot)
{
	struct ignis_unw_rule key = *rule;
	uint64_t h;
	struct rslot *r;
	int err;

	key.reserved = 0;
	if (key.cfa_base == IGNIS_CFA_INVALID) {
		*slot = 0;  /* slot 0, all zeros, is CFA_INVALID */
		return 0;
	}
	h = hash_bytes(HASH_SEED, &key, sizeof(key));
	r = (struct rslot *)hashmap__find(&s->rules, h, &key, rule_eq);
	if (r) {
		r->refs++;
		*slot = r->slot;
		return 0;
	}
	if (!s->nfree_slots)
		return -ENOSPC;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->rule = key;
	r->slot = s->free_slots[s->nfree_slots - 1];
	err = s->o.ops->write_rule(s->o.ops_ctx, r->slot, &key);
	if (err || hashmap__insert(&s->rules, &r->node, h)) {
		s->st.map_errors += !!err;
		free(r);
		return err ? err : -ENOMEM;
	}
	s->nfree_slots--;
	r->refs = 1;
	s->slot_of[r->slot] = r;
	s->st.rules_used++;
	*slot = r->slot;
	return 0;
}

/* ---- tables --------------------------------------------------------------- */

static void evict(struct unwstore *s, struct entry *e)
{
	int err = s->o.ops->del_table(s->o.ops_ctx, e->id);

	changed(s);

	if (err)
		s->st.map_errors++;
	lru_unlink(s, e);
	if (ranges_add(&s->quarantine, e->first, e->nrows) == 0)
		s->quarantine_total += e->nrows;
	/* else: the rows are lost to the allocator, never to a wrong walk */
	s->st.rows_used -= e->nrows;
	for (size_t i = 0; i < e->nslots; i++)
		rule_unref(s, e->slots[i]);
	free(e->slots);
	e->slots = NULL;
	e->nslots = 0;
	e->state = E_EVICTED;
	s->st.tables_loaded--;
	s->st.evictions++;
	pr_debug("unwstore: table %u (%u rows) evicted\n", e->id, e->nrows);
}

static void release_job(struct unwstore *s, struct job *j)
{
	if (!j->err && s->o.release)
		s->o.release(s->o.compile_ctx, &j->t);
	free(j);
}

static bool is_hot(const struct unwstore *s, const struct entry *e)
{
	return s->o.hot_ns && e->used_ns + s->o.hot_ns > s->now_ns;
}

/* Rule slots the table needs that it would have to allocate. */
static size_t new_rules(struct unwstore *s, const struct unwstore_table *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nrules; i++) {
		struct ignis_unw_rule key = t->rules[i];

		key.reserved = 0;
		if (key.cfa_base != IGNIS_CFA_INVALID &&
		    !hashmap__find(&s->rules, hash_bytes(HASH_SEED, &key, sizeof(key)), &key, rule_eq))
			n++;
	}
	return n;
}

/* 0: installed (or refused for good); -EAGAIN: room is being made, try
 * at the next poll. */
static int install(struct unwstore *s, struct job *j)
{
	static struct ignis_unw_row buf[INSTALL_BATCH];
	struct entry *e = j->e;
	const struct unwstore_table *t = &j->t;
	uint32_t first, *slots = NULL;
	struct ignis_unw_table tv;
	size_t nnew;
	int err;

	nnew = new_rules(s, t);
	if (t->nrows > s->sizes.rows || t->nrows > IGNIS_UNW_MAX_ROWS ||
	    t->nrules >= s->sizes.rules) {
		s->st.too_big++;
		e->state = E_NONE;
		pr_debug("unwstore: table %u (%zu rows, %zu rules) exceeds the budget\n", e->id,
			 t->nrows, t->nrules);
		rewrite_pmaps(s, e);
		return 0;
	}
	if (ranges_take(&s->free_rows, t->nrows, &first) || nnew > s->nfree_slots) {
		/* Evict until, once the quarantine is given back, there may
		 * be room; fragmentation may take another round. Tables in
		 * use now are kept: the newcomer waits instead. */
		bool evicted = false;

		while (s->lru_tail && !is_hot(s, s->lru_tail) &&
		       (s->free_total + s->quarantine_total < t->nrows ||
			nnew > s->nfree_slots + s->nzero_refs)) {
			evict(s, s->lru_tail);
			evicted = true;
		}
		if (!evicted && !s->quarantine_total && !s->nzero_refs && s->lru_tail &&
		    !is_hot(s, s->lru_tail)) {
			evict(s, s->lru_tail);  /* fragmented: free one more */
			evicted = true;
		}
		if (!evicted && !s->quarantine_total && !s->nzero_refs) {
			s->st.budget_full++;
			e->state = E_IDLE;
			e->retry_ns = s->now_ns + s->o.retry_ns;
			pr_debug("unwstore: table %u (%zu rows) waits: the budget holds tables in "
				 "use\n", e->id, t->nrows);
			return -ENOSPC;
		}
		return -EAGAIN;
	}
	s->free_total -= t->nrows;
	slots = calloc(t->nrules ? t->nrules : 1, sizeof(*slots));
	if (!slots) {
		err = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < t->nrules; i++) {
		err = rule_ref(s, &t->rules[i], &slots[i]);
		if (err) {
			for (size_t k = 0; k < i; k++)
				rule_unref(s, slots[k]);
			goto fail;
		}
	}
	for (size_t done = 0; done < t->nrows;) {
		size_t n = t->nrows - done < INSTALL_BATCH ? t->nrows - done : INSTALL_BATCH;

		for (size_t i = 0; i < n; i++) {
			uint32_t r = t->rows[done + i].rule;

			buf[i].pc = t->rows[done + i].pc;
			buf[i].rule = r < t->nrules ? slots[r] : 0;
		}
		err = s->o.ops->write_rows(s->o.ops_ctx, first + done, buf, n);
		if (err)
			goto fail_rules;
		done += n;
	}
	tv.first = first;
	tv.nrows = t->nrows;
	err = s->o.ops->set_table(s->o.ops_ctx, e->id, &tv);
	if (err)
		goto fail_rules;
	/* A new table makes no cached rule or mapping wrong but those of the
	 * processes that map it (PENDING, or an earlier copy evicted), and
	 * rewrite_pmaps below bumps their own generations: the global one,
	 * which empties every process's cache entries on every CPU, only
	 * without them. Eviction always bumps it (its rows will be reused). */
	if (!s->o.pid_generation)
		changed(s);
	e->first = first;
	e->nrows = t->nrows;
	e->slots = slots;
	e->nslots = t->nrules;
	e->state = E_LOADED;
	lru_push(s, e);
	s->st.rows_used += t->nrows;
	s->st.tables_loaded++;
	s->st.tables_installed++;
	rewrite_pmaps(s, e);
	pr_debug("unwstore: table %u installed: %zu rows at %u, %zu rules\n", e->id, t->nrows,
		 first, t->nrules);
	return 0;

fail_rules:
	for (size_t k = 0; k < t->nrules; k++)
		rule_unref(s, slots[k]);
fail:
	s->st.map_errors++;
	free(slots);
	if (ranges_add(&s->quarantine, first, t->nrows) == 0)
		s->quarantine_total += t->nrows;
	e->state = E_IDLE;
	pr_warn("unwstore: cannot install table %u: %s\n", e->id, strerror(-err));
	return 0;
}

/* A finished compile: install it, or keep it until there is room. */
static void finish(struct unwstore *s, struct job *j)
{
	struct entry *e = j->e;

	s->st.compiles++;
	if (j->err) {
		if (j->err == -ENOENT || j->err == -ENOEXEC || j->err == -E2BIG) {
			e->state = E_NONE;
			s->st.no_table++;
			rewrite_pmaps(s, e);
		} else {
			e->state = E_IDLE;
			s->st.compile_errors++;
		}
		release_job(s, j);
		return;
	}
	if (!j->t.nrows) {
		e->state = E_NONE;
		s->st.no_table++;
		rewrite_pmaps(s, e);
		release_job(s, j);
		return;
	}
	if (install(s, j) == -EAGAIN) {
		e->state = E_READY;
		e->ready = j;
		j->next = s->ready_head;
		s->ready_head = j;
		return;
	}
	release_job(s, j);
}

/* ---- the worker ----------------------------------------------------------- */

static void compile(struct unwstore *s, struct job *j)
{
	size_t max = s->sizes.rows < IGNIS_UNW_MAX_ROWS ? s->sizes.rows : IGNIS_UNW_MAX_ROWS;

	j->err = s->o.compile(s->o.compile_ctx, j->bin, max, &j->t);
}

/* The job this worker takes next, under the lock; -1: none for it. */
static ssize_t next_job(const struct unwstore *s, bool missed_only)
{
	size_t best;

	if (!s->todo_n)
		return -1;
	best = pick((void *const *)s->todo, s->todo_n, offsetof(struct job, ord), false);
	return missed_only && !s->todo[best]->ord.demand ? -1 : (ssize_t)best;
}

static void *worker_main(void *arg)
{
	const struct worker_arg *a = arg;
	struct unwstore *s = a->s;
	struct job *j;
	ssize_t best = -1;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->stop && (best = next_job(s, a->missed_only)) < 0)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stop)
			break;
		j = s->todo[best];
		s->todo[best] = s->todo[--s->todo_n];
		s->busy++;
		pthread_mutex_unlock(&s->lock);
		compile(s, j);
		pthread_mutex_lock(&s->lock);
		s->busy--;
		j->next = NULL;
		if (s->done_tail)
			s->done_tail->next = j;
		else
			s->done_head = j;
		s->done_tail = j;
		pthread_cond_broadcast(&s->idle);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct unwstore *unwstore__new(const struct unwstore_opts *o)
{
	struct unwstore *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return NULL;
	s->o = *o;
	if (!s->o.budget_bytes)
		s->o.budget_bytes = UNWSTORE_DEFAULT_BUDGET;
	if (!s->o.queue_len)
		s->o.queue_len = DEFAULT_QUEUE;
	if (!s->o.ops) {
		s->o.ops = &bpf_ops;
		s->o.ops_ctx = &s->o.fds;
	}
	unwstore__sizes(s->o.budget_bytes, &s->sizes);
	if (o->sizes.rows)
		s->sizes.rows = o->sizes.rows;
	if (o->sizes.rules)
		s->sizes.rules = o->sizes.rules;
	if (o->sizes.tables)
		s->sizes.tables = o->sizes.tables;
	if (o->sizes.mappings)
		s->sizes.mappings = o->sizes.mappings;
	if (!s->o.compile || s->sizes.rules < 2) {
		free(s);
		errno = EINVAL;
		return NULL;
	}
	s->st.budget_bytes = (uint64_t)s->sizes.rows * sizeof(struct ignis_unw_row);
	s->slot_of = calloc(s->sizes.rules, sizeof(*s->slot_of));
	s->free_slots = calloc(s->sizes.rules, sizeof(*s->free_slots));
	s->todo = calloc(s->o.queue_len, sizeof(*s->todo));
	s->wanted_max = s->o.wanted_len ? s->o.wanted_len : DEFAULT_WANTED;
	s->wanted = calloc(s->wanted_max, sizeof(*s->wanted));
	if (!s->slot_of || !s->free_slots || !s->todo || !s->wanted ||
	    ranges_add(&s->free_rows, 0, s->sizes.rows)) {
		err = -ENOMEM;
		goto cleanup;
	}
	s->free_total = s->sizes.rows;
	/* Highest first, so slots are handed out from 1 up; 0 is CFA_INVALID. */
	for (uint32_t i = s->sizes.rules - 1; i >= 1; i--)
		s->free_slots[s->nfree_slots++] = i;
	s->tokens = s->o.queue_len;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->idle, NULL);
	if (!s->o.sync) {
		for (unsigned int i = 0; i < 2; i++) {
			s->wargs[i] = (struct worker_arg){ .s = s, .missed_only = i == 1 };
			err = -pthread_create(&s->worker[i], NULL, worker_main, &s->wargs[i]);
			if (err)
				goto cleanup;
			s->nworkers++;
			s->have_worker = true;
		}
	}
	return s;

cleanup:
	unwstore__free(s);
	errno = -err;
	return NULL;
}

void unwstore__free(struct unwstore *s)
{
	struct hashmap_node *n, *tmp;
	struct job *j, *next;
	size_t i;

	if (!s)
		return;
	if (s->have_worker) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		for (unsigned int w = 0; w < s->nworkers; w++)
			pthread_join(s->worker[w], NULL);
	}
	for (i = 0; i < s->todo_n; i++)
		free(s->todo[i]);
	for (j = s->done_head; j; j = next) {
		next = j->next;
		release_job(s, j);
	}
	for (j = s->ready_head; j; j = next) {
		next = j->next;
		release_job(s, j);
	}
	hashmap__for_each(&s->procs, n, tmp, i) {
		struct proc *p = (struct proc *)n;
		struct pmap *m, *mn;

		for (m = p->maps; m; m = mn) {
			mn = m->next_in_proc;
			free(m);
		}
		free(p);
	}
	hashmap__clear(&s->procs);
	hashmap__for_each(&s->entries, n, tmp, i) {
		free(((struct entry *)n)->slots);
		free(n);
	}
	hashmap__clear(&s->entries);
	hashmap__for_each(&s->rules, n, tmp, i)
		free(n);
	hashmap__clear(&s->rules);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->idle);
	free(s->zero_refs);
	free(s->slot_of);
	free(s->free_slots);
	free(s->todo);
	free(s->wanted);
	free(s->free_rows.v);
	free(s->quarantine.v);
	free(s);
}

void unwstore__request(struct unwstore *s, const void *bin)
{
	struct entry *e = find_entry(s, bin);

	if (!e)
		return;  /* unknown: its process's mappings bring it */
	if (e->state == E_EVICTED || (e->state == E_IDLE && s->now_ns >= e->retry_ns)) {
		want(s, e, 1);
	} else if (e->state == E_NEW || e->state == E_QUEUED) {
		e->ord.demand++;
		s->demand_changed |= e->state == E_QUEUED;
	}
}

void unwstore__touch(struct unwstore *s, const void *bin)
{
	struct entry *e;

	if (s->lru_head && s->lru_head->bin == bin) {
		s->lru_head->used_ns = s->now_ns;
		return;
	}
	e = find_entry(s, bin);
	if (e && e->state == E_LOADED) {
		e->used_ns = s->now_ns;
		lru_unlink(s, e);
		lru_push(s, e);
	}
}

bool unwstore__loaded(const struct unwstore *s, const void *bin)
{
	struct entry *e = find_entry(s, bin);

	return e && e->state == E_LOADED;
}

/* Hands wanted binaries to the worker (or, sync, compiles them) as the
 * queue and the rate limit allow. */
static void submit(struct unwstore *s, uint64_t now_ns, bool unlimited)
{
	if (s->o.compiles_per_sec && !unlimited) {
		if (s->tokens_ns && now_ns > s->tokens_ns)
			s->tokens += (double)(now_ns - s->tokens_ns) * s->o.compiles_per_sec / 1e9;
		if (s->tokens > s->o.queue_len)
			s->tokens = s->o.queue_len;
		s->tokens_ns = now_ns;
	}
	while (s->nwanted) {
		struct entry *e;
		struct job *j;
		size_t best, queued = 0;

		if (s->o.compiles_per_sec && !unlimited && s->tokens < 1) {
			s->st.queue_full++;
			break;
		}
		if (!s->o.sync) {
			pthread_mutex_lock(&s->lock);
			queued = s->todo_n;
			pthread_mutex_unlock(&s->lock);
		}
		if (queued == s->o.queue_len) {
			s->st.queue_full++;
			break;
		}
		best = pick((void *const *)s->wanted, s->nwanted, offsetof(struct entry, ord), false);
		e = s->wanted[best];
		j = calloc(1, sizeof(*j));
		if (!j)
			break;
		j->e = e;
		j->bin = e->bin;
		j->ord = e->ord;
		s->tokens -= 1;
		e->state = E_QUEUED;
		wanted_remove(s, best);
		if (s->o.sync) {
			compile(s, j);
			j->next = NULL;
			if (s->done_tail)
				s->done_tail->next = j;
			else
				s->done_head = j;
			s->done_tail = j;
			continue;
		}
		/* Only this thread adds jobs: the room seen above is still there. */
		pthread_mutex_lock(&s->lock);
		s->todo[s->todo_n++] = j;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
	}
}

/* Samples kept missing the tables of binaries with the worker: its order
 * follows (the demand it compares is copied under the lock). */
static void update_demand(struct unwstore *s)
{
	if (!s->demand_changed || !s->have_worker)
		return;
	s->demand_changed = false;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->todo_n; i++)
		s->todo[i]->ord.demand = s->todo[i]->e->ord.demand;
	pthread_cond_broadcast(&s->cond);  /* worker 1 may take one now */
	pthread_mutex_unlock(&s->lock);
}

static int poll_(struct unwstore *s, uint64_t now_ns, bool unlimited)
{
	struct job *done, *j, *next, *ready;
	int installed = 0;

	if (now_ns > s->now_ns)
		s->now_ns = now_ns;
	/* What the previous poll freed: no walk that began before it is
	 * still running. */
	for (size_t i = 0; i < s->quarantine.n; i++)
		if (ranges_add(&s->free_rows, s->quarantine.v[i].start, s->quarantine.v[i].len) == 0)
			s->free_total += s->quarantine.v[i].len;
	s->quarantine.n = 0;
	s->quarantine_total = 0;
	rules_release(s);

	/* Tables that waited for room, oldest first. */
	ready = NULL;
	for (j = s->ready_head; j; j = next) {
		next = j->next;
		j->next = ready;
		ready = j;
	}
	s->ready_head = NULL;
	for (j = ready; j; j = next) {
		next = j->next;
		j->e->ready = NULL;
		if (install(s, j) == -EAGAIN) {
			j->e->ready = j;
			j->next = s->ready_head;
			s->ready_head = j;
		} else {
			installed += j->e->state == E_LOADED;
			release_job(s, j);
		}
	}

	update_demand(s);
	submit(s, now_ns, unlimited);
	if (s->have_worker) {
		pthread_mutex_lock(&s->lock);
		done = s->done_head;
		s->done_head = s->done_tail = NULL;
		s->st.queued = s->nwanted + s->todo_n;
		pthread_mutex_unlock(&s->lock);
	} else {
		s->st.queued = s->nwanted;
		done = s->done_head;
		s->done_head = s->done_tail = NULL;
	}
	for (j = done; j; j = next) {
		struct entry *e = j->e;

		next = j->next;
		finish(s, j);  /* frees j unless it waits for room */
		installed += e->state == E_LOADED;
	}
	return installed;
}

int unwstore__poll(struct unwstore *s, uint64_t now_ns)
{
	return poll_(s, now_ns, false);
}

bool unwstore__busy(struct unwstore *s)
{
	bool busy;

	/* Not for tables that wait for room: that takes seconds by design. */
	if (s->nwanted && (!s->o.compiles_per_sec || s->tokens >= 1))
		return true;
	pthread_mutex_lock(&s->lock);
	busy = s->todo_n || s->busy || s->done_head;
	pthread_mutex_unlock(&s->lock);
	return busy;
}

int unwstore__settle(struct unwstore *s, int timeout_ms)
{
	uint64_t end = (uint64_t)clock__monotonic_ns() + (uint64_t)timeout_ms * 1000000;
	int installed = 0;

	for (;;) {
		bool busy;

		installed += poll_(s, (uint64_t)clock__monotonic_ns(), true);
		pthread_mutex_lock(&s->lock);
		busy = s->todo_n || s->busy || s->done_head;
		pthread_mutex_unlock(&s->lock);
		if (!busy && !s->nwanted && !s->ready_head)
			break;
		if ((uint64_t)clock__monotonic_ns() >= end)
			break;
		if (s->have_worker) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 5000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_mutex_lock(&s->lock);
			if (s->todo_n || s->busy)
				pthread_cond_timedwait(&s->idle, &s->lock, &ts);
			pthread_mutex_unlock(&s->lock);
		}
	}
	return installed;
}

void unwstore__stats(const struct unwstore *s, struct unwstore_stats *st)
{
	*st = s->st;
	st->table_bytes = s->st.rows_used * sizeof(struct ignis_unw_row) +
			  s->st.rules_used * sizeof(struct ignis_unw_rule) +
			  s->st.tables_loaded * sizeof(struct ignis_unw_table);
}
