/* The unwind-table store against fake maps that behave like the BPF ones
 * (an array of rules, an array of rows, a table hash, an LPM trie resolved
 * by longest prefix here): tables shared across processes, rules
 * deduplicated across tables, the row allocator, least-recently-used
 * eviction under a byte budget, the rows of an evicted table kept from
 * reuse until the next poll, and per-process mappings that go from PENDING
 * to TABLE and away at exit. Compiles run synchronously (no timing). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "unwinder/unwstore.h"

#define NROWS   256
#define NRULES  32
#define NTABLES 64
#define NMAPS   4096

struct fake {
	struct ignis_unw_rule rules[NRULES];
	struct ignis_unw_row rows[NROWS];
	bool row_written[NROWS];
	struct ignis_unw_table tables[NTABLES];
	bool have_table[NTABLES];
	struct {
		struct ignis_unw_map_key k;
		struct ignis_unw_mapping v;
	} maps[NMAPS];
	size_t nmaps;
	unsigned int table_writes, row_writes;
};

static int f_write_rule(void *ctx, uint32_t idx, const struct ignis_unw_rule *r)
{
	struct fake *f = ctx;

	assert_true(idx > 0 && idx < NRULES);  /* slot 0 stays CFA_INVALID */
	f->rules[idx] = *r;
	return 0;
}

static int f_write_rows(void *ctx, uint32_t first, const struct ignis_unw_row *rows, uint32_t n)
{
	struct fake *f = ctx;

	assert_true(first + n <= NROWS);
	memcpy(&f->rows[first], rows, n * sizeof(*rows));
	for (uint32_t i = 0; i < n; i++)
		f->row_written[first + i] = true;
	f->row_writes += n;
	return 0;
}

static int f_set_table(void *ctx, uint32_t id, const struct ignis_unw_table *t)
{
	struct fake *f = ctx;

	assert_true(id < NTABLES);
	f->tables[id] = *t;
	f->have_table[id] = true;
	f->table_writes++;
	return 0;
}

static int f_del_table(void *ctx, uint32_t id)
{
	struct fake *f = ctx;

	assert_true(id < NTABLES);
	f->have_table[id] = false;
	return 0;
}

static int key_eq(const struct ignis_unw_map_key *a, const struct ignis_unw_map_key *b)
{
	return a->prefixlen == b->prefixlen && a->pid_be == b->pid_be && a->addr_be == b->addr_be;
}

static int f_set_mapping(void *ctx, const struct ignis_unw_map_key *k,
			 const struct ignis_unw_mapping *v)
{
	struct fake *f = ctx;

	for (size_t i = 0; i < f->nmaps; i++) {
		if (key_eq(&f->maps[i].k, k)) {
			f->maps[i].v = *v;
			return 0;
		}
	}
	if (f->nmaps == NMAPS)
		return -E2BIG;
	f->maps[f->nmaps].k = *k;
	f->maps[f->nmaps].v = *v;
	f->nmaps++;
	return 0;
}

static int f_del_mapping(void *ctx, const struct ignis_unw_map_key *k)
{
	struct fake *f = ctx;

	for (size_t i = 0; i < f->nmaps; i++) {
		if (key_eq(&f->maps[i].k, k)) {
			f->maps[i] = f->maps[--f->nmaps];
			return 0;
		}
	}
	return -ENOENT;
}

static const struct unwstore_ops fake_ops = {
	f_write_rule, f_write_rows, f_set_table, f_del_table, f_set_mapping, f_del_mapping,
};

/* The LPM trie's answer for (pid, addr): the longest prefix that matches. */
static const struct ignis_unw_mapping *lpm(const struct fake *f, uint32_t pid, uint64_t addr)
{
	const struct ignis_unw_mapping *best = NULL;
	uint32_t best_len = 0;

	for (size_t i = 0; i < f->nmaps; i++) {
		const struct ignis_unw_map_key *k = &f->maps[i].k;
		uint32_t bits = k->prefixlen - 32;
		uint64_t a = __builtin_bswap64(k->addr_be);
		uint64_t mask = bits ? ~0ULL << (64 - bits) : 0;

		if (k->prefixlen < 32 || __builtin_bswap32(k->pid_be) != pid)
			continue;
		if ((addr & mask) == a && k->prefixlen > best_len) {
			best = &f->maps[i].v;
			best_len = k->prefixlen;
		}
	}
	return best;
}

/* What the walker does with a table: the rule of the row covering tpc. */
static const struct ignis_unw_rule *walk_rule(const struct fake *f, uint32_t table, uint32_t tpc)
{
	const struct ignis_unw_table *t;
	const struct ignis_unw_row *row = NULL;

	if (table >= NTABLES || !f->have_table[table])
		return NULL;
	t = &f->tables[table];
	for (uint32_t i = t->first; i < t->first + t->nrows; i++)
		if (f->rows[i].pc <= tpc)
			row = &f->rows[i];
	return row ? &f->rules[row->rule] : NULL;
}

/* ---- tables the fake compiler hands out --------------------------------- */

struct fake_bin {
	const char *name;
	int err;                       /* what compile returns */
	struct ignis_unw_row rows[128];
	size_t nrows;
	struct ignis_unw_rule rules[8];
	size_t nrules;
	int compiles, releases;
};

/* The order compiles ran in; the compile of gate waits until open. */
struct order {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const struct fake_bin *gate;
	bool open, gate_started;
	const struct fake_bin *log[16];
	int n;
};

static int fake_compile(void *ctx, const void *bin, size_t max_rows, struct unwstore_table *out)
{
	struct fake_bin *b = (struct fake_bin *)bin;
	struct order *o = ctx;

	assert_true(max_rows > 0);
	if (o) {
		pthread_mutex_lock(&o->lock);
		if (o->n < 16)
			o->log[o->n++] = b;
		pthread_cond_broadcast(&o->cond);
		if (b == o->gate) {
			o->gate_started = true;
			pthread_cond_broadcast(&o->cond);
			while (!o->open)
				pthread_cond_wait(&o->cond, &o->lock);
		}
		pthread_mutex_unlock(&o->lock);
	}
	b->compiles++;
	if (b->err)
		return b->err;
	*out = (struct unwstore_table){ b->rows, b->nrows, b->rules, b->nrules, b };
	return 0;
}

static void fake_release(void *ctx, struct unwstore_table *t)
{
	(void)ctx;
	((struct fake_bin *)t->owner)->releases++;
}

#define RULE(base, off) ((struct ignis_unw_rule){ .cfa_base = (base), .cfa_off = (off), .ra_off = -8 })

/* nrows rows 16 bytes apart from 0x1000, alternating rules[0] and
 * rules[1], and the closing CFA_INVALID row. */
static void make_bin(struct fake_bin *b, const char *name, size_t nrows, int off)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	b->rules[0] = RULE(IGNIS_CFA_SP, 8);
	b->rules[1] = RULE(IGNIS_CFA_SP, off);
	b->rules[2] = (struct ignis_unw_rule){ 0 };
	b->nrules = 3;
	for (size_t i = 0; i < nrows - 1; i++)
		b->rows[i] = (struct ignis_unw_row){ 0x1000 + 16 * i, i % 2 };
	b->rows[nrows - 1] = (struct ignis_unw_row){ 0x1000 + 16 * (nrows - 1), 2 };
	b->nrows = nrows;
}

/* Binaries a, b and c of 40 rows each (a 100-row budget holds two, not
 * three), a mapped by process 1 (ma) and b by process 2 (mb). */
static void two_of_three(struct unwstore *s, struct fake_bin *a, struct fake_bin *b,
			 struct fake_bin *c, const struct unwstore_mapping *ma,
			 const struct unwstore_mapping *mb)
{
	make_bin(a, "a", 40, 16);
	make_bin(b, "b", 40, 24);
	make_bin(c, "c", 40, 32);
	unwstore__set_process(s, 1, ma, 1);
	unwstore__set_process(s, 2, mb, 1);
}

static struct unwstore *new_store(struct fake *f, uint32_t rows)
{
	struct unwstore_opts o = {
		.sizes = { .rows = rows, .rules = NRULES, .tables = NTABLES, .mappings = NMAPS },
		.compile = fake_compile, .release = fake_release,
		.ops = &fake_ops, .ops_ctx = f, .sync = true,
	};
	struct unwstore *s;

	memset(f, 0, sizeof(*f));
	s = unwstore__new(&o);
	assert_non_null(s);
	return s;
}

static struct unwstore_mapping map(uint64_t start, uint64_t end, uint64_t bias, const void *bin)
{
	return (struct unwstore_mapping){ start, end, bias, bin };
}

/* ---- prefixes ------------------------------------------------------------ */

struct cover {
	struct ignis_unw_map_key keys[256];
	size_t n;
};

static void collect(void *ctx, const struct ignis_unw_map_key *k)
{
	struct cover *c = ctx;

	assert_true(c->n < 256);
	c->keys[c->n++] = *k;
}

static bool covered(const struct cover *c, uint32_t pid, uint64_t addr)
{
	int hits = 0;

	for (size_t i = 0; i < c->n; i++) {
		uint32_t bits = c->keys[i].prefixlen - 32;
		uint64_t a = __builtin_bswap64(c->keys[i].addr_be);
		uint64_t mask = bits ? ~0ULL << (64 - bits) : 0;

		if (__builtin_bswap32(c->keys[i].pid_be) == pid && (addr & mask) == a)
			hits++;
	}
	assert_true(hits <= 1);  /* prefixes of one range never overlap */
	return hits == 1;
}

static void test_prefixes_cover_the_range_exactly(void **state)
{
	static const uint64_t ranges[][2] = {
		{ 0x400000, 0x401000 },                 /* one page: one prefix */
		{ 0x7f1234567000, 0x7f12346f2000 },     /* an odd-sized library text */
		{ 0x1000, 0x7ffffffff000 },             /* almost everything */
		{ 0x555555554000, 0x555555556000 },
	};
	(void)state;
	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		uint64_t lo = ranges[r][0], hi = ranges[r][1];
		struct cover c = { .n = 0 };
		size_t n = unwstore__prefixes(4242, lo, hi, collect, &c);

		assert_int_equal(n, c.n);
		assert_true(n <= 2 * 64);
		for (size_t i = 0; i < c.n; i++)
			assert_int_equal(__builtin_bswap32(c.keys[i].pid_be), 4242);
		assert_true(covered(&c, 4242, lo));
		assert_true(covered(&c, 4242, hi - 1));
		assert_true(covered(&c, 4242, lo + (hi - lo) / 3));
		assert_false(covered(&c, 4242, lo - 1));
		assert_false(covered(&c, 4242, hi));
		assert_false(covered(&c, 4243, lo));
		for (uint64_t a = lo; a < hi; a += (hi - lo) / 97 + 1)
			assert_true(covered(&c, 4242, a));
	}
	assert_int_equal(unwstore__prefixes(1, 0x400000, 0x401000, NULL, NULL), 1);
	assert_int_equal(unwstore__prefixes(1, 0x400000, 0x400000, NULL, NULL), 0);
}

/* ---- mappings and tables ------------------------------------------------- */

static void test_pending_then_table_shared_by_processes(void **state)
{
	struct fake f;
	struct fake_bin libc;
	struct unwstore *s = new_store(&f, NROWS);
	struct unwstore_mapping m1 = map(0x7f0000001000, 0x7f0000005000, 0x7f0000000000, &libc);
	struct unwstore_mapping m2 = map(0x7e0000001000, 0x7e0000005000, 0x7e0000000000, &libc);
	const struct ignis_unw_mapping *v;
	const struct ignis_unw_rule *r;
	struct unwstore_stats st;

	(void)state;
	make_bin(&libc, "libc", 10, 24);
	assert_int_equal(unwstore__set_process(s, 100, &m1, 1), 0);
	v = lpm(&f, 100, 0x7f0000002345);
	assert_non_null(v);
	assert_int_equal(v->kind, IGNIS_MAP_PENDING);
	assert_int_equal(v->start, m1.start);
	assert_int_equal(v->end, m1.end);
	assert_null(lpm(&f, 100, 0x7f0000005000));
	assert_null(lpm(&f, 101, 0x7f0000002345));

	/* The compile is only asked for; poll compiles (sync) and installs. */
	assert_int_equal(libc.compiles, 0);
	assert_int_equal(unwstore__poll(s, 0), 1);
	assert_int_equal(libc.compiles, 1);
	assert_int_equal(libc.releases, 1);  /* userspace keeps no copy */
	assert_true(unwstore__loaded(s, &libc));
	v = lpm(&f, 100, 0x7f0000002345);
	assert_int_equal(v->kind, IGNIS_MAP_TABLE);
	assert_int_equal(v->bias, 0x7f0000000000);
	/* pc 0x1000 + 16 * 3 is row 3: rules[1] (cfa_off 24). */
	r = walk_rule(&f, v->table_id, 0x1000 + 16 * 3 + 4);
	assert_non_null(r);
	assert_int_equal(r->cfa_base, IGNIS_CFA_SP);
	assert_int_equal(r->cfa_off, 24);
	/* The closing row ends the table: CFA_INVALID, slot 0. */
	r = walk_rule(&f, v->table_id, 0x1000 + 16 * 9 + 100);
	assert_int_equal(r->cfa_base, IGNIS_CFA_INVALID);

	/* A second process mapping the same binary: no new compile, the
	 * same table, written at once as TABLE with its own bias. */
	assert_int_equal(unwstore__set_process(s, 200, &m2, 1), 0);
	unwstore__poll(s, 0);
	assert_int_equal(libc.compiles, 1);
	v = lpm(&f, 200, 0x7e0000001000);
	assert_non_null(v);
	assert_int_equal(v->kind, IGNIS_MAP_TABLE);
	assert_int_equal(v->table_id, lpm(&f, 100, 0x7f0000001000)->table_id);
	assert_int_equal(v->bias, 0x7e0000000000);

	unwstore__stats(s, &st);
	assert_int_equal(st.tables_loaded, 1);
	assert_int_equal(st.rows_used, 10);
	assert_int_equal(st.rules_used, 2);  /* CFA_INVALID needs no slot */
	assert_int_equal(st.processes, 2);
	assert_int_equal(st.table_bytes, 10 * 8 + 2 * 16 + 8);

	/* Exit: only that process's entries go. */
	unwstore__forget_process(s, 100);
	assert_null(lpm(&f, 100, 0x7f0000002345));
	assert_non_null(lpm(&f, 200, 0x7e0000001000));
	unwstore__forget_process(s, 200);
	assert_int_equal(f.nmaps, 0);
	unwstore__stats(s, &st);
	assert_int_equal(st.mapping_entries, 0);
	assert_int_equal(st.processes, 0);
	unwstore__free(s);
}

/* The walker's caches: a process's mapping change bumps its own generation
 * (pid % IGNIS_UNW_PID_GENS) and no other; loading a table bumps those of
 * the processes that map it and not the global one, which every cache
 * entry checks (evicting one bumps it: test_eviction_bumps_generation). */
static void test_generations_per_process_and_global(void **state)
{
	static volatile uint64_t pid_gen[IGNIS_UNW_PID_GENS];
	volatile uint64_t gen = 0;
	struct fake f;
	struct fake_bin libc;
	struct unwstore_opts o = {
		.sizes = { .rows = NROWS, .rules = NRULES, .tables = NTABLES, .mappings = NMAPS },
		.compile = fake_compile, .release = fake_release,
		.ops = &fake_ops, .ops_ctx = &f, .sync = true,
		.generation = &gen, .pid_generation = pid_gen,
	};
	struct unwstore_mapping m1 = map(0x7f0000001000, 0x7f0000005000, 0x7f0000000000, &libc);
	struct unwstore *s;
	uint64_t g100;

	(void)state;
	memset(&f, 0, sizeof(f));
	s = unwstore__new(&o);
	assert_non_null(s);
	make_bin(&libc, "libc", 10, 24);
	assert_int_equal(unwstore__set_process(s, 100, &m1, 1), 0);
	g100 = pid_gen[100];
	assert_true(g100 > 0);
	assert_int_equal(gen, 0);
	for (size_t i = 0; i < IGNIS_UNW_PID_GENS; i++)
		if (i != 100)
			assert_int_equal(pid_gen[i], 0);
	/* The table loads: the mapping is rewritten as TABLE (pid 100's
	 * generation); other processes' cache entries stay good (the global
	 * one is unchanged). */
	assert_int_equal(unwstore__poll(s, 0), 1);
	assert_int_equal(gen, 0);
	assert_true(pid_gen[100] > g100);
	/* Another process, whose pid shares no counter with 100. */
	g100 = pid_gen[100];
	assert_int_equal(unwstore__set_process(s, 100 + 1, &m1, 1), 0);
	assert_int_equal(pid_gen[100], g100);
	assert_true(pid_gen[101] > 0);
	/* A pid that shares pid 100's counter bumps it: safe, only more misses. */
	assert_int_equal(unwstore__set_process(s, 100 + IGNIS_UNW_PID_GENS, &m1, 1), 0);
	assert_true(pid_gen[100] > g100);
	g100 = pid_gen[100];
	unwstore__forget_process(s, 100);
	assert_true(pid_gen[100] > g100);
	unwstore__free(s);
}

/* Evicting a table bumps the global generation: its rows will be reused,
 * and a walker's cached rule or mapping from them would be wrong for every
 * process that maps it, whichever pid's counter it has. */
static void test_eviction_bumps_generation(void **state)
{
	static volatile uint64_t pid_gen[IGNIS_UNW_PID_GENS];
	volatile uint64_t gen = 0;
	struct fake f;
	struct fake_bin a, b, c;
	/* Room for two 40-row tables, not three. */
	struct unwstore_opts o = {
		.sizes = { .rows = 100, .rules = NRULES, .tables = NTABLES, .mappings = NMAPS },
		.compile = fake_compile, .release = fake_release,
		.ops = &fake_ops, .ops_ctx = &f, .sync = true,
		.generation = &gen, .pid_generation = pid_gen,
	};
	struct unwstore_mapping ma = map(0x10000, 0x20000, 0, &a);
	struct unwstore_mapping mb = map(0x30000, 0x40000, 0, &b);
	struct unwstore_mapping mc = map(0x50000, 0x60000, 0, &c);
	struct unwstore *s;
	struct unwstore_stats st;

	(void)state;
	memset(&f, 0, sizeof(f));
	s = unwstore__new(&o);
	assert_non_null(s);
	two_of_three(s, &a, &b, &c, &ma, &mb);
	assert_int_equal(unwstore__poll(s, 0), 2);
	assert_int_equal(gen, 0);
	unwstore__touch(s, &a);
	unwstore__set_process(s, 3, &mc, 1);
	assert_int_equal(unwstore__poll(s, 0), 0);  /* b evicted for c */
	unwstore__stats(s, &st);
	assert_int_equal(st.evictions, 1);
	assert_true(gen > 0);
	unwstore__free(s);
}

static void test_rules_deduplicated_across_tables(void **state)
{
	struct fake f;
	struct fake_bin a, b;
	struct unwstore *s = new_store(&f, NROWS);
	struct unwstore_mapping m[2] = {
		map(0x400000, 0x402000, 0, &a), map(0x7f0000000000, 0x7f0000004000, 0x7f0000000000, &b),
	};
	const struct ignis_unw_mapping *va, *vb;
	struct unwstore_stats st;

	(void)state;
	make_bin(&a, "a", 20, 24);   /* rules: SP+8, SP+24 */
	make_bin(&b, "b", 30, 40);   /* rules: SP+8 (shared), SP+40 */
	assert_int_equal(unwstore__set_process(s, 7, m, 2), 0);
	assert_int_equal(unwstore__poll(s, 0), 2);
	unwstore__stats(s, &st);
	assert_int_equal(st.rules_used, 3);
	assert_int_equal(st.rows_used, 50);
	va = lpm(&f, 7, 0x401000);
	vb = lpm(&f, 7, 0x7f0000001000);
	assert_int_not_equal(va->table_id, vb->table_id);
	/* Both tables' row 0 point at the one SP+8 slot. */
	assert_int_equal(f.rows[f.tables[va->table_id].first].rule,
			 f.rows[f.tables[vb->table_id].first].rule);
	assert_int_equal(walk_rule(&f, va->table_id, 0x1010)->cfa_off, 24);
	assert_int_equal(walk_rule(&f, vb->table_id, 0x1010)->cfa_off, 40);
	/* Runs do not overlap. */
	assert_true(f.tables[va->table_id].first + 20 <= f.tables[vb->table_id].first ||
		    f.tables[vb->table_id].first + 30 <= f.tables[va->table_id].first);
	unwstore__free(s);
}

static void test_lru_eviction_under_budget(void **state)
{
	struct fake f;
	struct fake_bin a, b, c;
	/* Room for two 40-row tables, not three. */
	struct unwstore *s = new_store(&f, 100);
	struct unwstore_mapping ma = map(0x10000, 0x20000, 0, &a);
	struct unwstore_mapping mb = map(0x30000, 0x40000, 0, &b);
	struct unwstore_mapping mc = map(0x50000, 0x60000, 0, &c);
	struct unwstore_stats st;
	uint32_t a_first;

	(void)state;
	two_of_three(s, &a, &b, &c, &ma, &mb);
	assert_int_equal(unwstore__poll(s, 0), 2);
	a_first = f.tables[lpm(&f, 1, 0x10000)->table_id].first;
	/* a was used since b was loaded: b is the least recently used. */
	unwstore__touch(s, &a);

	unwstore__set_process(s, 3, &mc, 1);
	/* c does not fit: b is evicted, but its rows stay unused until the
	 * next poll (a walk may be reading them). */
	assert_int_equal(unwstore__poll(s, 0), 0);
	unwstore__stats(s, &st);
	assert_int_equal(st.evictions, 1);
	assert_false(unwstore__loaded(s, &b));
	assert_true(unwstore__loaded(s, &a));
	assert_false(unwstore__loaded(s, &c));
	assert_false(f.have_table[lpm(&f, 2, 0x30000)->table_id]);
	/* b's mappings still name its table: the walker finds it missing. */
	assert_int_equal(lpm(&f, 2, 0x30000)->kind, IGNIS_MAP_TABLE);
	assert_int_equal(lpm(&f, 3, 0x50000)->kind, IGNIS_MAP_PENDING);

	assert_int_equal(unwstore__poll(s, 0), 1);
	assert_true(unwstore__loaded(s, &c));
	assert_int_equal(c.compiles, 1);  /* not compiled again while it waited */
	assert_int_equal(lpm(&f, 3, 0x50000)->kind, IGNIS_MAP_TABLE);
	assert_int_equal(walk_rule(&f, lpm(&f, 3, 0x50000)->table_id, 0x1010)->cfa_off, 32);
	assert_int_equal(f.tables[lpm(&f, 1, 0x10000)->table_id].first, a_first);
	unwstore__stats(s, &st);
	assert_true(st.rows_used <= 100);
	assert_int_equal(st.tables_loaded, 2);

	/* A miss on b asks for it again: recompiled, and a (LRU now) goes. */
	unwstore__request(s, &b);
	unwstore__poll(s, 0);
	unwstore__poll(s, 0);
	assert_true(unwstore__loaded(s, &b));
	assert_int_equal(b.compiles, 2);
	assert_false(unwstore__loaded(s, &a));
	unwstore__stats(s, &st);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(st.requests, 4);
	unwstore__free(s);
}

static void test_tables_in_use_are_not_evicted(void **state)
{
	struct fake f;
	struct fake_bin a, b, c;
	struct unwstore_opts o = {
		.sizes = { .rows = 100, .rules = NRULES, .tables = NTABLES, .mappings = NMAPS },
		.compile = fake_compile, .release = fake_release,
		.ops = &fake_ops, .ops_ctx = &f, .sync = true,
		.hot_ns = 10, .retry_ns = 100,
	};
	struct unwstore_mapping ma = map(0x10000, 0x20000, 0, &a);
	struct unwstore_mapping mb = map(0x30000, 0x40000, 0, &b);
	struct unwstore_mapping mc = map(0x50000, 0x60000, 0, &c);
	struct unwstore_stats st;
	struct unwstore *s;

	(void)state;
	memset(&f, 0, sizeof(f));
	s = unwstore__new(&o);
	assert_non_null(s);
	two_of_three(s, &a, &b, &c, &ma, &mb);
	assert_int_equal(unwstore__poll(s, 1000), 2);
	unwstore__touch(s, &a);
	unwstore__touch(s, &b);
	/* Both are in use: c waits rather than thrash them, and is not
	 * compiled again before retry_ns. */
	unwstore__set_process(s, 3, &mc, 1);
	assert_int_equal(unwstore__poll(s, 1005), 0);
	unwstore__stats(s, &st);
	assert_int_equal(st.budget_full, 1);
	assert_int_equal(st.evictions, 0);
	assert_true(unwstore__loaded(s, &a) && unwstore__loaded(s, &b));
	assert_int_equal(lpm(&f, 3, 0x50000)->kind, IGNIS_MAP_PENDING);
	unwstore__request(s, &c);
	unwstore__poll(s, 1050);
	assert_int_equal(c.compiles, 1);
	/* Later, b is no longer used; a is: c takes b's room. */
	unwstore__poll(s, 1200);
	unwstore__touch(s, &a);
	unwstore__request(s, &c);
	unwstore__poll(s, 1201);
	unwstore__poll(s, 1202);
	assert_int_equal(c.compiles, 2);
	assert_true(unwstore__loaded(s, &c));
	assert_true(unwstore__loaded(s, &a));
	assert_false(unwstore__loaded(s, &b));
	unwstore__free(s);
}

static void test_fragmented_rows_are_reused(void **state)
{
	struct fake f;
	struct fake_bin bins[6];
	struct unwstore *s = new_store(&f, 120);
	struct unwstore_stats st;
	char name[8];

	(void)state;
	/* Tables of 40 rows come and go under a 3-table budget: every row
	 * freed is reused, and the run of a loaded table is never written. */
	for (int round = 0; round < 6; round++) {
		struct unwstore_mapping m = map(0x100000 * (round + 1), 0x100000 * (round + 1) + 0x1000,
						0, &bins[round]);

		snprintf(name, sizeof(name), "b%d", round);
		make_bin(&bins[round], name, 40, 8 * (round + 2));
		unwstore__set_process(s, 10 + round, &m, 1);
		unwstore__poll(s, 0);
		unwstore__poll(s, 0);
		assert_true(unwstore__loaded(s, &bins[round]));
		for (int k = 0; k <= round; k++) {
			const struct ignis_unw_mapping *v = lpm(&f, 10 + k, 0x100000 * (k + 1));

			if (!unwstore__loaded(s, &bins[k]))
				continue;
			assert_int_equal(walk_rule(&f, v->table_id, 0x1010)->cfa_off, 8 * (k + 2));
		}
	}
	unwstore__stats(s, &st);
	assert_int_equal(st.tables_loaded, 3);
	assert_int_equal(st.evictions, 3);
	assert_int_equal(st.rows_used, 120);
	unwstore__free(s);
}

static void test_binaries_without_tables(void **state)
{
	struct fake f;
	struct fake_bin nocfi, big;
	struct unwstore *s = new_store(&f, 64);
	struct unwstore_mapping m[3] = {
		map(0x10000, 0x20000, 0, &nocfi),
		map(0x30000, 0x40000, 0, &big),
		map(0x50000, 0x60000, 0, NULL),  /* JIT code */
	};
	struct unwstore_stats st;

	(void)state;
	make_bin(&nocfi, "nocfi", 4, 8);
	nocfi.err = -ENOENT;
	make_bin(&big, "big", 100, 8);  /* more rows than the whole budget */
	unwstore__set_process(s, 5, m, 3);
	assert_int_equal(lpm(&f, 5, 0x50000)->kind, IGNIS_MAP_NONE);
	unwstore__poll(s, 0);
	assert_int_equal(lpm(&f, 5, 0x10000)->kind, IGNIS_MAP_NONE);
	assert_int_equal(lpm(&f, 5, 0x30000)->kind, IGNIS_MAP_NONE);
	unwstore__stats(s, &st);
	assert_int_equal(st.no_table, 1);
	assert_int_equal(st.too_big, 1);
	assert_int_equal(st.tables_loaded, 0);
	assert_int_equal(big.releases, 1);
	/* Asking again changes nothing: no table is possible. */
	unwstore__request(s, &nocfi);
	unwstore__poll(s, 0);
	assert_int_equal(nocfi.compiles, 1);
	unwstore__free(s);
}

static void test_process_mappings_follow_its_maps(void **state)
{
	struct fake f;
	struct fake_bin exe, lib, lib2;
	struct unwstore *s = new_store(&f, NROWS);
	struct unwstore_mapping before[2] = {
		map(0x400000, 0x401000, 0, &exe), map(0x7f0000000000, 0x7f0000003000, 0x7f0000000000, &lib),
	};
	/* dlclose(lib), dlopen(lib2) at the same address, exe unchanged. */
	struct unwstore_mapping after[2] = {
		map(0x400000, 0x401000, 0, &exe), map(0x7f0000000000, 0x7f0000002000, 0x7f0000000000, &lib2),
	};
	unsigned int writes;

	(void)state;
	make_bin(&exe, "exe", 8, 8);
	make_bin(&lib, "lib", 8, 16);
	make_bin(&lib2, "lib2", 8, 24);
	unwstore__set_process(s, 9, before, 2);
	unwstore__poll(s, 0);
	writes = f.nmaps;
	assert_int_equal(unwstore__set_process(s, 9, after, 2), 0);
	unwstore__poll(s, 0);
	assert_int_equal(walk_rule(&f, lpm(&f, 9, 0x7f0000001000)->table_id, 0x1010)->cfa_off, 24);
	assert_int_equal(walk_rule(&f, lpm(&f, 9, 0x400000)->table_id, 0x1010)->cfa_off, 8);
	/* The old library's tail is gone from the map. */
	assert_null(lpm(&f, 9, 0x7f0000002000));
	assert_true(f.nmaps <= writes);
	unwstore__free(s);
}

/* A store of NROWS rows whose fake compiler logs into o; opts adds the rest. */
static struct unwstore *store_with(struct fake *f, struct order *o, struct unwstore_opts opts)
{
	struct unwstore *s;

	opts.sizes = (struct unwstore_sizes){ NROWS, NRULES, NTABLES, NMAPS };
	opts.compile = fake_compile;
	opts.release = fake_release;
	opts.compile_ctx = o;
	opts.ops = &fake_ops;
	opts.ops_ctx = f;
	memset(f, 0, sizeof(*f));
	s = unwstore__new(&opts);
	assert_non_null(s);
	return s;
}

/* Binaries queued behind others: the one whose missing table cost samples
 * is compiled first, then the rest in the order they were asked for. */
static void test_missed_binary_compiled_first(void **state)
{
	struct fake f;
	struct fake_bin cold[5], hot;
	struct order o = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
			   .open = true };
	/* One compile a second, a bucket of one. */
	struct unwstore *s = store_with(&f, &o, (struct unwstore_opts){
		.sync = true, .compiles_per_sec = 1, .queue_len = 1 });
	struct unwstore_mapping m[6];
	struct unwstore_stats st;

	(void)state;
	for (int i = 0; i < 5; i++) {
		make_bin(&cold[i], "cold", 8, 16);
		m[i] = map(0x100000 * (i + 1), 0x100000 * (i + 1) + 0x1000, 0, &cold[i]);
	}
	make_bin(&hot, "hot", 8, 24);
	m[5] = map(0x900000, 0x901000, 0, &hot);
	/* Five binaries of a build's short-lived processes, then a busy one. */
	assert_int_equal(unwstore__set_process(s, 1, m, 5), 0);
	assert_int_equal(unwstore__set_process(s, 2, &m[5], 1), 0);
	for (int i = 0; i < 3; i++)
		unwstore__request(s, &hot);
	assert_int_equal(unwstore__poll(s, 1), 1);
	assert_int_equal(o.n, 1);
	assert_ptr_equal(o.log[0], &hot);
	assert_true(unwstore__loaded(s, &hot));
	unwstore__stats(s, &st);
	assert_int_equal(st.queued, 5);
	/* The others follow one a second, first asked first. */
	for (int i = 0; i < 5; i++)
		unwstore__poll(s, 1 + (uint64_t)(i + 1) * 1000000000);
	assert_int_equal(o.n, 6);
	for (int i = 0; i < 5; i++)
		assert_ptr_equal(o.log[1 + i], &cold[i]);
	unwstore__stats(s, &st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.tables_loaded, 6);
	assert_int_equal(st.queue_dropped, 0);
	unwstore__free(s);
}

/* With the workers: jobs already handed to them are reordered too, and a
 * binary samples missed does not wait behind a compile nobody waits for. */
static void test_worker_takes_the_most_missed_first(void **state)
{
	struct fake f;
	struct fake_bin gate, cold[4], hot;
	struct order o = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
			   .gate = &gate };
	struct unwstore *s = store_with(&f, &o, (struct unwstore_opts){ .sync = false });
	struct unwstore_mapping g = map(0x10000, 0x11000, 0, &gate), m[5];
	struct timespec deadline;
	int n;
	struct unwstore_stats st;

	(void)state;
	make_bin(&gate, "gate", 8, 8);
	for (int i = 0; i < 4; i++) {
		make_bin(&cold[i], "cold", 8, 16);
		m[i] = map(0x100000 * (i + 1), 0x100000 * (i + 1) + 0x1000, 0, &cold[i]);
	}
	make_bin(&hot, "hot", 8, 24);
	m[4] = map(0x900000, 0x901000, 0, &hot);
	/* The worker is busy (gate) while the others queue up behind it. */
	unwstore__set_process(s, 1, &g, 1);
	unwstore__poll(s, 1);
	pthread_mutex_lock(&o.lock);
	while (!o.gate_started)
		pthread_cond_wait(&o.cond, &o.lock);
	pthread_mutex_unlock(&o.lock);
	unwstore__set_process(s, 2, m, 5);
	unwstore__poll(s, 2);
	unwstore__stats(s, &st);
	assert_int_equal(st.queued, 5);
	/* Samples miss hot's table: the worker's copy of its demand follows. */
	unwstore__request(s, &hot);
	unwstore__request(s, &cold[2]);
	unwstore__request(s, &hot);
	unwstore__poll(s, 3);
	/* The second worker takes what samples missed, most missed first,
	 * while the first is still busy; it leaves the others alone. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&o.lock);
	while (o.n < 3 && pthread_cond_timedwait(&o.cond, &o.lock, &deadline) == 0)
		;
	n = o.n;
	o.open = true;
	pthread_cond_broadcast(&o.cond);
	pthread_mutex_unlock(&o.lock);
	assert_int_equal(n, 3);
	unwstore__settle(s, 5000);
	assert_int_equal(o.n, 6);
	assert_ptr_equal(o.log[0], &gate);
	assert_ptr_equal(o.log[1], &hot);
	assert_ptr_equal(o.log[2], &cold[2]);
	assert_ptr_equal(o.log[3], &cold[0]);
	assert_ptr_equal(o.log[4], &cold[1]);
	assert_ptr_equal(o.log[5], &cold[3]);
	unwstore__stats(s, &st);
	assert_int_equal(st.tables_loaded, 6);
	unwstore__free(s);
}

/* The wanted list is bounded: past it, the binary that would be compiled
 * last waits for a miss, counted; a miss beats a binary nothing missed. */
static void test_wanted_list_is_bounded(void **state)
{
	struct fake f;
	struct fake_bin b[3];
	struct order o = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
			   .open = true };
	struct unwstore *s = store_with(&f, &o, (struct unwstore_opts){
		.sync = true, .wanted_len = 2 });
	struct unwstore_mapping m[3];
	struct unwstore_stats st;

	(void)state;
	for (int i = 0; i < 3; i++) {
		make_bin(&b[i], "b", 8, 8 * (i + 2));
		m[i] = map(0x100000 * (i + 1), 0x100000 * (i + 1) + 0x1000, 0, &b[i]);
	}
	unwstore__set_process(s, 1, m, 3);
	unwstore__stats(s, &st);
	assert_int_equal(st.queue_dropped, 1);      /* b[2] put off */
	unwstore__request(s, &b[2]);                /* missed: takes b[1]'s place */
	unwstore__stats(s, &st);
	assert_int_equal(st.queue_dropped, 2);
	unwstore__poll(s, 1);
	assert_int_equal(o.n, 2);
	assert_ptr_equal(o.log[0], &b[2]);
	assert_ptr_equal(o.log[1], &b[0]);
	assert_false(unwstore__loaded(s, &b[1]));
	assert_int_equal(lpm(&f, 1, 0x200000)->kind, IGNIS_MAP_PENDING);
	unwstore__request(s, &b[1]);                /* a miss asks again */
	unwstore__poll(s, 2);
	assert_true(unwstore__loaded(s, &b[1]));
	unwstore__free(s);
}

static void test_sizes_follow_the_budget(void **state)
{
	struct unwstore_sizes z;

	(void)state;
	unwstore__sizes(0, &z);
	assert_int_equal((uint64_t)z.rows * 8, UNWSTORE_DEFAULT_BUDGET);
	unwstore__sizes(1 << 20, &z);
	assert_int_equal(z.rows, (1 << 20) / 8);
	assert_true(z.tables >= 1024);
	assert_true(z.rules >= 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefixes_cover_the_range_exactly),
		cmocka_unit_test(test_pending_then_table_shared_by_processes),
		cmocka_unit_test(test_rules_deduplicated_across_tables),
		cmocka_unit_test(test_lru_eviction_under_budget),
		cmocka_unit_test(test_tables_in_use_are_not_evicted),
		cmocka_unit_test(test_fragmented_rows_are_reused),
		cmocka_unit_test(test_binaries_without_tables),
		cmocka_unit_test(test_process_mappings_follow_its_maps),
		cmocka_unit_test(test_missed_binary_compiled_first),
		cmocka_unit_test(test_worker_takes_the_most_missed_first),
		cmocka_unit_test(test_wanted_list_is_bounded),
		cmocka_unit_test(test_sizes_follow_the_budget),
		cmocka_unit_test(test_generations_per_process_and_global),
		cmocka_unit_test(test_eviction_bumps_generation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
