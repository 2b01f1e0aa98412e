#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/charclass.h"
#include "base/log.h"
#include "symbolizer/kallsyms.h"
#include "symbolizer/kallsyms_live.h"

/* The kernel's KSYM_NAME_LEN is 512 (since 6.1, 128 before); a longer name
 * means the line is not what we think it is. */
#define NAME_MAX_LEN 512
#define MODULE_MAX_LEN 512

/* 24 bytes for ~200k symbols: names live in one pool and modules in an
 * interned table, so neither costs an allocation per line. */
struct ksym {
	uint64_t addr;
	uint32_t name_off;	/* into k->names; only text symbols have one */
	uint32_t size;		/* to the next symbol; see fix_extents() */
	uint32_t module;	/* 0 for the core kernel, else index + 1 */
	uint8_t text;		/* kept for lookups; others only bound extents */
	uint8_t rank;		/* which alias lookups return; see add_line() */
};

struct modules {
	char **names;
	uint32_t nr, cap;
	uint32_t *slots;	/* open addressing; index + 1, 0 is empty */
	uint32_t nr_slots;	/* power of two */
	uint32_t last;		/* id of the previous answer */
};

/* What lookups keep, 8 bytes a symbol instead of the 24 of the sort: the
 * address as an offset from the lowest one (its high half in hi[], only when
 * the symbols span more than 4 GiB), the name; the module in mod[] (only
 * when there are modules); an entry ends where the next one starts. */
#define NO_NAME UINT32_MAX

struct kentry {
	uint32_t lo;
	uint32_t name_off;
};

struct kallsyms {
	struct ksym *syms;	/* while loading */
	size_t nr_syms, cap_syms;
	struct kentry *ents;
	size_t nr_ents;
	uint32_t *hi;
	uint16_t *mod;
	uint64_t base;
	char *names;
	size_t names_len, names_cap;
	size_t last_name, last_len;	/* the name appended last */
	struct modules mods;
	struct ksym_live *live;	/* kallsyms__open_live: no table */
};

static uint32_t str_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static int modules_grow_slots(struct modules *m)
{
	uint32_t n = m->nr_slots ? m->nr_slots * 2 : 64;
	uint32_t *slots, i;

	if (n < m->nr_slots)
		return -EOVERFLOW;
	slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (i = 0; i < m->nr; i++) {
		const char *name = m->names[i];
		uint32_t h = str_hash(name, strlen(name)) & (n - 1);

		while (slots[h])
			h = (h + 1) & (n - 1);
		slots[h] = i + 1;
	}
	free(m->slots);
	m->slots = slots;
	m->nr_slots = n;
	return 0;
}

/* Module ids (index + 1) for a name of len bytes; lines of one module come
 * together, so the last answer is checked first. */
static int modules_intern(struct modules *m, const char *name, size_t len, uint32_t *id)
{
	uint32_t h, last = m->last;
	char *copy;
	int err;

	if (last && last <= m->nr && strncmp(m->names[last - 1], name, len) == 0 &&
	    m->names[last - 1][len] == '\0') {
		*id = last;
		return 0;
	}
	if ((uint64_t)(m->nr + 1) * 2 > m->nr_slots) {
		err = modules_grow_slots(m);
		if (err)
			return err;
	}
	h = str_hash(name, len) & (m->nr_slots - 1);
	while (m->slots[h]) {
		const char *cand = m->names[m->slots[h] - 1];

		if (strncmp(cand, name, len) == 0 && cand[len] == '\0') {
			*id = m->last = m->slots[h];
			return 0;
		}
		h = (h + 1) & (m->nr_slots - 1);
	}
	if (m->nr == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 32;
		char **names;

		if (cap < m->cap)
			return -EOVERFLOW;
		names = reallocarray(m->names, cap, sizeof(*names));
		if (!names)
			return -ENOMEM;
		m->names = names;
		m->cap = cap;
	}
	copy = strndup(name, len);
	if (!copy)
		return -ENOMEM;
	m->names[m->nr++] = copy;
	m->slots[h] = m->nr;
	*id = m->last = m->nr;
	return 0;
}

static void modules_free(struct modules *m)
{
	uint32_t i;

	for (i = 0; i < m->nr; i++)
		free(m->names[i]);
	free(m->names);
	free(m->slots);
}

static bool is_end(char c)
{
	return c == '\0' || c == '\n' || c == '\r';
}

struct kline {
	uint64_t addr;
	char type;
	const char *name;
	size_t name_len;
	const char *module;	/* NULL for the core kernel */
	size_t module_len;
};

/* One "addr type name [module]" line; false for anything else. */
static bool parse_line(const char *p, struct kline *l)
{
	int digits = 0, v;

	memset(l, 0, sizeof(*l));
	while ((v = charclass__hex_value(*p)) >= 0) {
		if (++digits > 16)
			return false;
		l->addr = l->addr << 4 | (uint64_t)v;
		p++;
	}
	if (digits == 0 || !charclass__is_blank(*p))
		return false;
	while (charclass__is_blank(*p))
		p++;
	l->type = *p;
	if (is_end(l->type) || charclass__is_blank(l->type))
		return false;
	p++;
	if (!charclass__is_blank(*p))
		return false;
	while (charclass__is_blank(*p))
		p++;
	l->name = p;
	while (!is_end(*p) && !charclass__is_blank(*p))
		p++;
	l->name_len = p - l->name;
	if (l->name_len == 0 || l->name_len > NAME_MAX_LEN)
		return false;
	while (charclass__is_blank(*p))
		p++;
	if (*p == '[') {
		l->module = ++p;
		while (!is_end(*p) && *p != ']')
			p++;
		if (*p != ']')
			return false;
		l->module_len = p - l->module;
		if (l->module_len == 0 || l->module_len > MODULE_MAX_LEN)
			return false;
		p++;
		while (charclass__is_blank(*p))
			p++;
	}
	return is_end(*p);
}

/* Text symbols (t/T) and weak ones (w/W, which the kernel also emits for
 * weak functions) answer lookups; lowercase is local. */
static bool is_text(char type, uint8_t *rank)
{
	switch (type) {
	case 'T': *rank = 0; return true;
	case 'W': *rank = 1; return true;
	case 't': *rank = 2; return true;
	case 'w': *rank = 3; return true;
	default: return false;
	}
}

static int add_line(struct kallsyms *k, const struct kline *l)
{
	struct ksym *s;
	uint8_t rank = 0;
	bool text = is_text(l->type, &rank);
	uint32_t module = 0;
	size_t under;
	int err;

	/* Absolute and undefined symbols are not in the text; their values
	 * must not cut a function's extent short. */
	if (!text && (l->type == 'a' || l->type == 'A' || l->type == 'U'))
		return 0;
	if (l->module) {
		err = modules_intern(&k->mods, l->module, l->module_len, &module);
		if (err)
			return err;
	}
	if (ARRAY_RESERVE_FROM(k->syms, &k->cap_syms, k->nr_syms + 1, 4096))
		return -ENOMEM;
	s = &k->syms[k->nr_syms];
	memset(s, 0, sizeof(*s));
	s->addr = l->addr;
	s->module = module;
	s->text = text;
	/* Type first, then the alias with fewer leading underscores, as perf
	 * picks them: the name a reader knows over the internal one. */
	under = strspn(l->name, "_");	/* stops at the blank after the name */
	s->rank = (uint8_t)(rank << 4 | (under > 15 ? 15 : under));
	/* A function's padding comes just before it as __pfx_NAME (__cfi_NAME
	 * with CFI): half of a recent kernel's symbols. NAME is then the tail
	 * of the name before it, and shares its bytes. */
	if (text && k->last_len > l->name_len &&
	    memcmp(k->names + k->last_name + k->last_len - l->name_len, l->name,
		   l->name_len) == 0) {
		s->name_off = (uint32_t)(k->last_name + k->last_len - l->name_len);
		k->last_len = 0;
	} else if (text) {
		size_t need = k->names_len + l->name_len + 1;

		if (need > UINT32_MAX)
			return -EOVERFLOW;
		if (ARRAY_RESERVE_FROM(k->names, &k->names_cap, need, 1 << 20))
			return -ENOMEM;
		s->name_off = (uint32_t)k->names_len;
		memcpy(k->names + k->names_len, l->name, l->name_len);
		k->names[k->names_len + l->name_len] = '\0';
		k->last_name = k->names_len;
		k->last_len = l->name_len;
		k->names_len = need;
	}
	k->nr_syms++;
	return 0;
}

/* By address; among aliases text first, then by rank, then file order
 * (names are appended in file order, so name_off is the line order). */
static int ksym_cmp(const void *pa, const void *pb)
{
	const struct ksym *a = pa, *b = pb;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->text != b->text)
		return a->text ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->name_off != b->name_off)
		return a->name_off < b->name_off ? -1 : 1;
	return 0;
}

/* Where a symbol ends when the next one is far or absent. kallsyms has no
 * sizes, and the last function of the core kernel or of a module is
 * followed by whatever the allocator put next; perf's symbols__fixup_end()
 * ends such a symbol at the page after its start, and so do we rather than
 * blame it for every address up to the next module. */
static uint64_t page_cap(uint64_t addr)
{
	if (addr > UINT64_MAX - 8191)
		return UINT64_MAX;
	return (addr + 4096 + 4095) & ~(uint64_t)4095;
}

/* Sorts, sets each text symbol's extent and drops everything lookups must
 * not return: non-text entries and same-address aliases. */
static void fix_extents(struct kallsyms *k)
{
	size_t i, j, out = 0;

	if (k->nr_syms > 1)
		qsort(k->syms, k->nr_syms, sizeof(*k->syms), ksym_cmp);
	for (i = 0; i < k->nr_syms; i = j) {
		struct ksym s = k->syms[i];
		uint64_t end;

		for (j = i + 1; j < k->nr_syms && k->syms[j].addr == s.addr; j++)
			;
		if (!s.text)
			continue;
		if (j < k->nr_syms) {
			end = k->syms[j].addr;
			if (k->syms[j].module != s.module && page_cap(s.addr) < end)
				end = page_cap(s.addr);
		} else {
			end = page_cap(s.addr);
		}
		s.size = end - s.addr > UINT32_MAX ? UINT32_MAX : (uint32_t)(end - s.addr);
		k->syms[out++] = s;
	}
	k->nr_syms = out;
}

/* The end of symbol i of the sorted text symbols, when the next does not
 * start there: lookups in between find no name. */
static bool gap_after(const struct kallsyms *k, size_t i)
{
	const struct ksym *s = &k->syms[i];

	return i + 1 == k->nr_syms || s->addr + s->size != k->syms[i + 1].addr;
}

/* The sorted text symbols into the compact entries, each symbol's extent
 * made the distance to the next entry (an entry without a name ends one
 * that a gap follows); the sort array goes. */
static int compact(struct kallsyms *k)
{
	uint64_t span = k->syms[k->nr_syms - 1].addr + k->syms[k->nr_syms - 1].size -
			k->syms[0].addr;
	size_t i, n = 0, out = 0;
	char *names;

	for (i = 0; i < k->nr_syms; i++)
		n += 1 + gap_after(k, i);
	if (k->mods.nr > UINT16_MAX)
		return -EOVERFLOW;
	k->base = k->syms[0].addr;
	k->ents = malloc(n * sizeof(*k->ents));
	if (!k->ents)
		return -ENOMEM;
	if (span > UINT32_MAX) {
		k->hi = malloc(n * sizeof(*k->hi));
		if (!k->hi)
			return -ENOMEM;
	}
	if (k->mods.nr) {
		k->mod = malloc(n * sizeof(*k->mod));
		if (!k->mod)
			return -ENOMEM;
	}
	for (i = 0; i < k->nr_syms; i++) {
		const struct ksym *s = &k->syms[i];
		uint64_t off[2] = { s->addr - k->base, s->addr + s->size - k->base };
		uint32_t name[2] = { s->name_off, NO_NAME };

		for (int e = 0; e < 1 + gap_after(k, i); e++, out++) {
			k->ents[out] = (struct kentry){ .lo = (uint32_t)off[e], .name_off = name[e] };
			if (k->hi)
				k->hi[out] = (uint32_t)(off[e] >> 32);
			if (k->mod)
				k->mod[out] = (uint16_t)s->module;
		}
	}
	free(k->syms);
	k->syms = NULL;
	k->cap_syms = 0;
	k->nr_ents = n;
	if (k->names_len > 0) {
		names = realloc(k->names, k->names_len);
		if (names) {
			k->names = names;
			k->names_cap = k->names_len;
		}
	}
	return 0;
}

struct kallsyms *kallsyms__load(const char *proc_root)
{
	struct kallsyms *k = NULL;
	char path[PATH_MAX];
	size_t lines = 0, bad = 0, zero = 0, cap = 0;
	char *line = NULL;
	FILE *f = NULL;
	struct kline l;
	int err, n;

	n = snprintf(path, sizeof(path), "%s/kallsyms", proc_root ? proc_root : "/proc");
	if (n < 0 || (size_t)n >= sizeof(path)) {
		err = -ENAMETOOLONG;
		goto cleanup;
	}
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		pr_warn("kallsyms: cannot open %s: %s\n", path, strerror(-err));
		goto cleanup;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		err = -ENOMEM;
		goto cleanup;
	}

	errno = 0;
	while (getline(&line, &cap, f) > 0) {
		lines++;
		if (!parse_line(line, &l)) {
			bad++;
			continue;
		}
		/* kptr_restrict shows every address as 0; a real symbol at 0
		 * (per-cpu offsets are absolute) bounds nothing either. */
		if (l.addr == 0) {
			zero++;
			continue;
		}
		err = add_line(k, &l);
		if (err)
			goto cleanup;
	}
	if (ferror(f)) {
		err = errno ? -errno : -EIO;
		pr_warn("kallsyms: reading %s: %s\n", path, strerror(-err));
		goto cleanup;
	}

	if (zero > 0 && lines - bad == zero) {
		pr_warn("kallsyms: %s shows only zero addresses (kptr_restrict, or not root)\n",
			path);
		err = -EPERM;
		goto cleanup;
	}
	fix_extents(k);
	if (k->nr_syms == 0) {
		pr_warn("kallsyms: no text symbols in %s\n", path);
		err = -ENODATA;
		goto cleanup;
	}
	err = compact(k);
	if (err)
		goto cleanup;
	if (bad)
		pr_debug("kallsyms: skipped %zu malformed of %zu lines\n", bad, lines);
	pr_debug("kallsyms: %zu text symbols, %u modules\n", k->nr_syms, k->mods.nr);
	free(line);
	fclose(f);
	return k;

cleanup:
	kallsyms__free(k);
	free(line);
	if (f)
		fclose(f);
	errno = -err;
	return NULL;
}

struct kallsyms *kallsyms__open_live(void)
{
	struct kallsyms *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->live = ksym_live__open();
	if (!k->live) {
		int err = errno;

		free(k);
		errno = err;
		return NULL;
	}
	return k;
}

void kallsyms__free(struct kallsyms *k)
{
	if (!k)
		return;
	ksym_live__free(k->live);
	modules_free(&k->mods);
	free(k->names);
	free(k->syms);
	free(k->ents);
	free(k->hi);
	free(k->mod);
	free(k);
}

static uint64_t ent_addr(const struct kallsyms *k, size_t i)
{
	return k->base + ((k->hi ? (uint64_t)k->hi[i] << 32 : 0) | k->ents[i].lo);
}

const char *kallsyms__lookup(const struct kallsyms *k, uint64_t addr, uint64_t *off,
			     const char **module)
{
	size_t lo = 0, hi = k->nr_ents, i;
	uint32_t mod;

	if (k->live)
		return ksym_live__lookup(k->live, addr, off, module);

	/* Last entry starting at or before addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ent_addr(k, mid) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || k->ents[lo - 1].name_off == NO_NAME)
		return NULL;
	i = lo - 1;
	if (off)
		*off = addr - ent_addr(k, i);
	mod = k->mod ? k->mod[i] : 0;
	if (module)
		*module = mod ? k->mods.names[mod - 1] : NULL;
	return k->names + k->ents[i].name_off;
}

int kallsyms__range(const struct kallsyms *k, const char *name, uint64_t *start, uint64_t *end)
{
	if (k && k->live)
		return ksym_live__range(k->live, name, start, end);
	for (size_t i = 0; k && i < k->nr_ents; i++) {
		if (k->ents[i].name_off == NO_NAME || strcmp(k->names + k->ents[i].name_off, name))
			continue;
		*start = ent_addr(k, i);
		*end = i + 1 < k->nr_ents ? ent_addr(k, i + 1) : *start + 1;
		return 0;
	}
	return -ENOENT;
}

uint64_t kallsyms__min_addr(const struct kallsyms *k)
{
	if (k->live)
		return ksym_live__min_addr(k->live);
	return k->nr_ents ? k->base : 0;
}
