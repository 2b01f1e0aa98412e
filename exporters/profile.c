/* The neutral profile. Strings, stacks and label sets live in one arena so
 * that freeing a profile of ~100k samples is a handful of free() calls, and
 * so those pointers never move while the profile grows (the mapping, frame
 * and sample tables are arrays that do).
 *
 * Strings are interned: each distinct string is stored once, so equal
 * strings have equal pointers. Exporters rely on that to key their own
 * tables by pointer. Each distinct frame is stored once, in a table, and a
 * stack is an array of indices into it (4 bytes a frame rather than a
 * 56-byte frame): stacks share most of their frames (every stack of a
 * process ends in the same few), and memory touched once costs a page
 * fault a page. Stacks and label arrays are interned too: the aggregation
 * emits the same stack under many label sets (one per pid or thread) and
 * the same label set under many stacks, and storing each once keeps a
 * 100k x 64-frame interval in a few MiB. */
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "base/utf8.h"
#include "exporters/profile.h"

/* ---- arena ------------------------------------------------------------ */

#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t size;
	alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct arena_chunk *head;
};

static void *arena__alloc(struct arena *a, size_t len)
{
	const size_t align = alignof(max_align_t);
	struct arena_chunk *c = a->head;
	size_t off, size;

	if (len == 0)
		len = 1;
	if (c) {
		off = (c->used + align - 1) & ~(align - 1);
		if (off <= c->size && c->size - off >= len) {
			c->used = off + len;
			return c->data + off;
		}
	}
	/* Big requests get a chunk of their own rather than wasting the
	 * rest of a fresh standard one. */
	size = len > ARENA_CHUNK / 4 ? len : ARENA_CHUNK;
	if (size > SIZE_MAX - sizeof(*c))
		return NULL;
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->size = size;
	c->used = len;
	if (size == len && a->head) {
		/* Keep the current chunk at the head: it may still have room. */
		c->next = a->head->next;
		a->head->next = c;
	} else {
		c->next = a->head;
		a->head = c;
	}
	return c->data;
}

static void arena__free(struct arena *a)
{
	struct arena_chunk *c = a->head, *next;

	while (c) {
		next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
}

/* Strings hash by content; the rest by the interned pointers they hold. */
static uint64_t hash_str(const char *s, size_t len)
{
	return hash_words(HASH_SEED, s, len);
}

/* ---- the profile ------------------------------------------------------ */

struct interned_str {
	const char *s;
	size_t len;
};

struct interned_arr {
	const void *items;
	uint32_t n;
};

/* A hint from the caller's frame (its pointers and numbers) to the id of
 * the frame it made last time, 0 for none, else id + 1. Only a hint: the
 * caller may have reused its buffers since, so a hit is checked against
 * the stored frame, strings by content (frame_matches). */
#define HINTS_MIN 256
#define HINTS_MAX (1u << 16)

struct profile {
	uint64_t period_ns;
	int64_t time_nanos;
	int64_t duration_nanos;

	struct arena arena;

	struct interned_str *strs;
	size_t nstrs, strs_cap;
	struct hashidx str_tab;

	/* Distinct frames (of interned strings), by id. */
	struct profile_frame *frames;
	size_t nframes, frames_cap;
	struct hashidx frame_tab;
	uint32_t *hints;
	size_t nhints;  /* a power of two, 0 before the first frame */
	uint32_t *ids;  /* one stack's frame ids while it is being added */
	size_t ids_cap;

	/* Interned stacks (frame id arrays) and label arrays. */
	struct interned_arr *stacks;
	size_t nstacks, stacks_cap;
	struct hashidx stack_tab;
	struct interned_arr *labelsets;
	size_t nlabelsets, labelsets_cap;
	struct hashidx labelset_tab;

	struct profile_mapping *mappings;
	size_t nmappings, mappings_cap;
	struct hashidx mapping_tab;

	struct profile_sample *samples;
	size_t nsamples, samples_cap;
	/* Samples by (interned frames, interned labels): identical ones are
	 * summed, which keeps merged intervals as small as one. */
	struct hashidx sample_tab;
};

struct profile *profile__new(uint64_t period_ns, int64_t time_nanos, int64_t duration_nanos)
{
	struct profile *p;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;  /* calloc set errno */
	p->period_ns = period_ns;
	p->time_nanos = time_nanos;
	p->duration_nanos = duration_nanos;
	return p;
}

void profile__free(struct profile *p)
{
	if (!p)
		return;
	hashidx__free(&p->sample_tab);
	free(p->samples);
	hashidx__free(&p->mapping_tab);
	free(p->mappings);
	hashidx__free(&p->labelset_tab);
	free(p->labelsets);
	hashidx__free(&p->stack_tab);
	free(p->stacks);
	free(p->ids);
	free(p->hints);
	hashidx__free(&p->frame_tab);
	free(p->frames);
	hashidx__free(&p->str_tab);
	free(p->strs);
	arena__free(&p->arena);
	free(p);
}

static bool str_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct profile *p = ctx;
	const struct interned_str *k = key;

	return p->strs[idx].len == k->len && memcmp(p->strs[idx].s, k->s, k->len) == 0;
}

/* Returns the interned copy of s (NULL stays NULL), or NULL with *err set.
 *
 * This is where every string of a profile comes in (function and file
 * names, mapping paths, build ids, label keys and values), so it is where
 * they are made fit for every rendering: valid UTF-8 (a perf map's JIT
 * name or a comm cut by the kernel inside a character may hold anything;
 * strict protobuf decoders and Pyroscope refuse the whole profile, an SVG
 * the whole page) of at most PROFILE_STRING_MAX bytes. A string already
 * interned is valid, so the check costs nothing on the hot path: only a
 * string not seen yet is checked. */
static const char *intern(struct profile *p, const char *s, int *err)
{
	struct interned_str key;
	char *clean = NULL;
	const char *ret_s;
	uint64_t hash;
	size_t slot;
	int64_t idx;
	char *copy;
	int ret;

	if (!s)
		return NULL;
	key.s = s;
	key.len = strlen(s);
	hash = hash_str(s, key.len);
	ret = hashidx__reserve(&p->str_tab, 1);
	if (ret)
		goto fail;
	idx = hashidx__find(&p->str_tab, hash, str_eq, p, &key, &slot);
	if (idx >= 0)
		return p->strs[idx].s;
	if (key.len > PROFILE_STRING_MAX || !utf8__valid(s, key.len)) {
		clean = utf8__valid_copy(s, key.len, PROFILE_STRING_MAX, &key.len);
		if (!clean) {
			ret = -ENOMEM;
			goto fail;
		}
		ret_s = intern(p, clean, err);
		free(clean);
		return ret_s;
	}
	if (p->nstrs >= UINT32_MAX - 1) {
		ret = -E2BIG;
		goto fail;
	}
	ret = ARRAY_RESERVE(p->strs, &p->strs_cap, p->nstrs + 1);
	if (ret)
		goto fail;
	copy = arena__alloc(&p->arena, key.len + 1);
	if (!copy) {
		ret = -ENOMEM;
		goto fail;
	}
	memcpy(copy, s, key.len + 1);
	p->strs[p->nstrs].s = copy;
	p->strs[p->nstrs].len = key.len;
	hashidx__set(&p->str_tab, slot, hash, p->nstrs);
	p->nstrs++;
	return copy;
fail:
	*err = ret;
	return NULL;
}

/* Interned strings compare by pointer, so frames and labels made of them
 * hash and compare by their fields' values. */
static uint64_t frame_hash(const struct profile_frame *f)
{
	uint64_t h = hash_word(f->mapping, f->address);

	/* Once a distinct frame, when it is first added. */
	h = hash_word(h, (uintptr_t)f->function);
	h = hash_word(h, (uintptr_t)f->system_name);
	h = hash_word(h, (uintptr_t)f->file);
	h = hash_word(h, ((uint64_t)f->line << 32) ^ (uint64_t)f->start_line);
	h = hash_word(h, (uint64_t)f->inlined);
	return hash_mix(h, 0);
}

static bool frame_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct profile *p = ctx;
	const struct profile_frame *a = &p->frames[idx], *b = key;

	return a->mapping == b->mapping && a->address == b->address &&
	       a->function == b->function && a->system_name == b->system_name &&
	       a->file == b->file && a->line == b->line && a->start_line == b->start_line &&
	       a->inlined == b->inlined;
}

static bool stack_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct profile *p = ctx;
	const struct interned_arr *k = key;

	return p->stacks[idx].n == k->n &&
	       memcmp(p->stacks[idx].items, k->items, (size_t)k->n * sizeof(uint32_t)) == 0;
}

static uint64_t labels_hash(const struct profile_label *l, size_t n)
{
	uint64_t h = ~(uint64_t)n;
	size_t i;

	for (i = 0; i < n; i++) {
		h = hash_mix(h, (uintptr_t)l[i].key);
		h = hash_mix(h, (uintptr_t)l[i].str);
		h = hash_mix(h, (uint64_t)l[i].num);
		h = hash_mix(h, (uint64_t)l[i].origin);
	}
	return h;
}

static bool labels_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct profile *p = ctx;
	const struct interned_arr *k = key;
	const struct profile_label *a = p->labelsets[idx].items, *b = k->items;
	uint32_t i;

	if (p->labelsets[idx].n != k->n)
		return false;
	for (i = 0; i < k->n; i++) {
		if (a[i].key != b[i].key || a[i].str != b[i].str || a[i].num != b[i].num ||
		    a[i].origin != b[i].origin)
			return false;
	}
	return true;
}

/* Stores 'tmp' (n items of 'elem' bytes, already made of interned strings)
 * once; returns the stored copy, or NULL with *err set. */
static const void *intern_arr(struct profile *p, struct hashidx *t, struct interned_arr **arr,
			      size_t *len, size_t *cap, hashidx_eq_fn eq, uint64_t hash,
			      const void *tmp, uint32_t n, size_t elem, int *err)
{
	struct interned_arr key = { .items = tmp, .n = n };
	size_t slot;
	int64_t idx;
	void *copy;
	int ret;

	ret = hashidx__reserve(t, 1);
	if (ret)
		goto fail;
	idx = hashidx__find(t, hash, eq, p, &key, &slot);
	if (idx >= 0)
		return (*arr)[idx].items;
	if (*len >= UINT32_MAX - 1) {
		ret = -E2BIG;
		goto fail;
	}
	ret = array__reserve((void **)arr, cap, *len + 1, sizeof(**arr));
	if (ret)
		goto fail;
	copy = arena__alloc(&p->arena, (size_t)n * elem);
	if (!copy) {
		ret = -ENOMEM;
		goto fail;
	}
	memcpy(copy, tmp, (size_t)n * elem);
	(*arr)[*len].items = copy;
	(*arr)[*len].n = n;
	hashidx__set(t, slot, hash, *len);
	(*len)++;
	return copy;
fail:
	*err = ret;
	return NULL;
}

/* Whether a caller's string s, interned, would be the interned string
 * 'interned': interned strings are valid and short enough, so one equal
 * to s is what s interns to. */
static bool str_matches(const char *s, const char *interned)
{
	if (!s || !interned)
		return s == interned;
	return s == interned || strcmp(s, interned) == 0;
}

/* Whether the caller's frame f makes the stored frame fr. */
static bool frame_matches(const struct profile_frame *fr, const struct profile_frame *f)
{
	return fr->mapping == f->mapping && fr->address == f->address && fr->line == f->line &&
	       fr->start_line == f->start_line && fr->inlined == !!f->inlined &&
	       str_matches(f->function, fr->function) &&
	       str_matches(f->system_name, fr->system_name) && str_matches(f->file, fr->file);
}

/* The hint slot of a caller's frame: by its pointers, which a caller that
 * keeps its names (a symbolizer's cache) passes again and again. */
static size_t hint_slot(const struct profile *p, const struct profile_frame *f)
{
	uint64_t h = hash_word(f->address, (uintptr_t)f->function);

	h = hash_word(h, ((uint64_t)f->line << 32) ^ f->mapping);
	h = hash_word(h, (uintptr_t)f->file ^ ((uint64_t)(uintptr_t)f->system_name << 1));
	return hash_mix(h, (uint64_t)f->start_line << 1 | !!f->inlined) & (p->nhints - 1);
}

/* Keeps about two slots a frame, up to HINTS_MAX; a grown table starts
 * empty (it only holds hints). */
static int hints_reserve(struct profile *p)
{
	size_t n = p->nhints ? p->nhints : HINTS_MIN;
	uint32_t *h;

	while (n < HINTS_MAX && n < 2 * (p->nframes + 1))
		n *= 2;
	if (n == p->nhints)
		return 0;
	h = calloc(n, sizeof(*h));
	if (!h)
		return -ENOMEM;
	free(p->hints);
	p->hints = h;
	p->nhints = n;
	return 0;
}

/* The id of the caller's frame f (checked), added to the frame table if
 * it is not there: its strings interned, then hashed and compared once. */
static int frame_id(struct profile *p, const struct profile_frame *f, uint32_t *id)
{
	struct profile_frame key = {
		.mapping = f->mapping,
		.address = f->address,
		.line = f->line,
		.start_line = f->start_line,
		.inlined = !!f->inlined,
	};
	uint32_t *hint;
	uint64_t hash;
	size_t slot;
	int64_t idx;
	int err = 0;

	err = hints_reserve(p);
	if (err)
		return err;
	hint = &p->hints[hint_slot(p, f)];
	if (*hint && frame_matches(&p->frames[*hint - 1], f)) {
		*id = *hint - 1;
		return 0;
	}
	key.function = intern(p, f->function, &err);
	if (!err)
		key.system_name = intern(p, f->system_name, &err);
	if (!err)
		key.file = intern(p, f->file, &err);
	if (!err)
		err = hashidx__reserve(&p->frame_tab, 1);
	if (err)
		return err;
	hash = frame_hash(&key);
	idx = hashidx__find(&p->frame_tab, hash, frame_eq, p, &key, &slot);
	if (idx < 0) {
		if (p->nframes >= UINT32_MAX - 1)
			return -E2BIG;
		err = ARRAY_RESERVE(p->frames, &p->frames_cap, p->nframes + 1);
		if (err)
			return err;
		p->frames[p->nframes] = key;
		hashidx__set(&p->frame_tab, slot, hash, (uint32_t)p->nframes);
		idx = (int64_t)p->nframes++;
	}
	*hint = (uint32_t)idx + 1;
	*id = (uint32_t)idx;
	return 0;
}

static uint64_t mapping_hash(const struct profile_mapping *m)
{
	uint64_t h = hash_mix(m->start, m->limit);

	h = hash_mix(h, m->offset);
	h = hash_mix(h, (uintptr_t)m->file);
	return hash_mix(h, (uintptr_t)m->build_id);
}

static bool mapping_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct profile *p = ctx;
	const struct profile_mapping *a = &p->mappings[idx], *b = key;

	return a->start == b->start && a->limit == b->limit && a->offset == b->offset &&
	       a->file == b->file && a->build_id == b->build_id;
}

int profile__add_mapping(struct profile *p, const struct profile_mapping *m)
{
	struct profile_mapping *slot;
	uint64_t hash;
	int64_t idx;
	size_t tslot;
	int err = 0;

	if (!p || !m || m->limit < m->start)
		return -EINVAL;
	/* Ids are returned as int, and 0 means "no mapping". */
	if (p->nmappings >= INT32_MAX - 1)
		return -E2BIG;
	err = ARRAY_RESERVE(p->mappings, &p->mappings_cap, p->nmappings + 1);
	if (err)
		return err;
	slot = &p->mappings[p->nmappings];
	*slot = *m;
	/* A mapping without a name still needs a filename string in pprof. */
	slot->file = intern(p, m->file ? m->file : "", &err);
	if (err)
		return err;
	slot->build_id = intern(p, m->build_id, &err);
	if (err)
		return err;
	/* The same mapping added twice (merged intervals) is one mapping. */
	err = hashidx__reserve(&p->mapping_tab, 1);
	if (err)
		return err;
	hash = mapping_hash(slot);
	idx = hashidx__find(&p->mapping_tab, hash, mapping_eq, p, slot, &tslot);
	if (idx >= 0)
		return (int)idx + 1;
	hashidx__set(&p->mapping_tab, tslot, hash, (uint32_t)p->nmappings);
	p->nmappings++;
	return (int)p->nmappings;
}

/* Frames and labels are interned: equal samples have equal pointers. */
static bool sample_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct profile *p = ctx;
	const struct profile_sample *a = &p->samples[idx], *b = key;

	return a->frame_ids == b->frame_ids && a->nframes == b->nframes && a->labels == b->labels &&
	       a->nlabels == b->nlabels;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int profile__add_sample(struct profile *p, const struct profile_frame *frames, size_t nframes,
			const struct profile_label *labels, size_t nlabels, uint64_t count)
{
	uint64_t value;

	if (!p)
		return -EINVAL;
	/* Saturated: the encoders refuse a weight past INT64_MAX. */
	value = p->period_ns && count > UINT64_MAX / p->period_ns ? UINT64_MAX :
		count * p->period_ns;
	return profile__add_sample_value(p, frames, nframes, labels, nlabels, count, value);
}

/* Adds a sample whose stack is given as frame ids of p (checked). */
static int add_sample_ids(struct profile *p, const uint32_t *ids, size_t nframes,
			  const struct profile_label *labels, size_t nlabels, uint64_t count,
			  uint64_t value)
{
	struct profile_label *tl = NULL;
	struct profile_sample *s;
	size_t i, slot;
	uint64_t hash;
	int64_t idx;
	int err = 0;

	err = ARRAY_RESERVE(p->samples, &p->samples_cap, p->nsamples + 1);
	if (err)
		return err;
	s = &p->samples[p->nsamples];
	memset(s, 0, sizeof(*s));
	s->count = count;
	s->value = value;

	if (nframes) {
		s->frame_ids = intern_arr(p, &p->stack_tab, &p->stacks, &p->nstacks,
					  &p->stacks_cap, stack_eq,
					  hash_words(HASH_SEED, ids, nframes * sizeof(*ids)), ids,
					  (uint32_t)nframes, sizeof(*ids), &err);
		if (err)
			goto cleanup;
		s->nframes = (uint32_t)nframes;
	}

	if (nlabels) {
		tl = calloc(nlabels, sizeof(*tl));
		if (!tl) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (i = 0; i < nlabels; i++) {
			if (!labels[i].key) {
				err = -EINVAL;
				goto cleanup;
			}
			tl[i].key = intern(p, labels[i].key, &err);
			if (!err)
				tl[i].str = intern(p, labels[i].str, &err);
			if (err)
				goto cleanup;
			/* A string label's num is meaningless; zero it so equal
			 * label sets intern to one copy. */
			tl[i].num = labels[i].str ? 0 : labels[i].num;
			tl[i].origin = labels[i].origin;
		}
		s->labels = intern_arr(p, &p->labelset_tab, &p->labelsets, &p->nlabelsets,
				       &p->labelsets_cap, labels_eq, labels_hash(tl, nlabels),
				       tl, (uint32_t)nlabels, sizeof(*tl), &err);
		if (err)
			goto cleanup;
		s->nlabels = (uint32_t)nlabels;
	}

	err = hashidx__reserve(&p->sample_tab, 1);
	if (err)
		goto cleanup;
	hash = hash_mix(hash_mix((uintptr_t)s->frame_ids, s->nframes),
			hash_mix((uintptr_t)s->labels, s->nlabels));
	idx = hashidx__find(&p->sample_tab, hash, sample_eq, p, s, &slot);
	if (idx >= 0) {
		p->samples[idx].count += count;
		p->samples[idx].value = sat_add(p->samples[idx].value, value);
		goto cleanup;
	}
	hashidx__set(&p->sample_tab, slot, hash, (uint32_t)p->nsamples);
	p->nsamples++;
cleanup:
	free(tl);
	return err;
}

int profile__add_sample_value(struct profile *p, const struct profile_frame *frames,
			      size_t nframes, const struct profile_label *labels, size_t nlabels,
			      uint64_t count, uint64_t value)
{
	int err;

	if (!p || (nframes && !frames) || (nlabels && !labels))
		return -EINVAL;
	if (nframes > UINT32_MAX || nlabels > UINT32_MAX)
		return -E2BIG;
	err = ARRAY_RESERVE(p->ids, &p->ids_cap, nframes);
	if (err)
		return err;
	for (size_t i = 0; i < nframes; i++) {
		const struct profile_frame *f = &frames[i];

		if (!f->function || f->mapping > p->nmappings) {
			pr_debug("profile: frame %zu: no function or unknown mapping %u\n", i,
				 f->mapping);
			return -EINVAL;
		}
		err = frame_id(p, f, &p->ids[i]);
		if (err)
			return err;
	}
	return add_sample_ids(p, p->ids, nframes, labels, nlabels, count, value);
}

uint64_t profile__period_ns(const struct profile *p)
{
	return p->period_ns;
}

int64_t profile__time_nanos(const struct profile *p)
{
	return p->time_nanos;
}

int64_t profile__duration_nanos(const struct profile *p)
{
	return p->duration_nanos;
}

size_t profile__mapping_count(const struct profile *p)
{
	return p->nmappings;
}

const struct profile_mapping *profile__mapping(const struct profile *p, uint32_t id)
{
	if (id == 0 || id > p->nmappings)
		return NULL;
	return &p->mappings[id - 1];
}

size_t profile__frame_count(const struct profile *p)
{
	return p->nframes;
}

const struct profile_frame *profile__frames(const struct profile *p)
{
	return p->frames;
}

const struct profile_frame *profile__frame(const struct profile *p, uint32_t id)
{
	if (id >= p->nframes)
		return NULL;
	return &p->frames[id];
}

size_t profile__sample_count(const struct profile *p)
{
	return p->nsamples;
}

const struct profile_sample *profile__sample(const struct profile *p, size_t i)
{
	if (i >= p->nsamples)
		return NULL;
	return &p->samples[i];
}

/* Each of count samples kept with probability fraction: binomial thinning,
 * so a thinned profile is a uniform sample of the samples. xorshift64*
 * is plenty for that and keeps runs reproducible from a seed. */
static uint64_t thin(uint64_t count, double fraction, uint64_t *rng)
{
	uint64_t kept = 0;
	/* 2^53 values of a double's mantissa. */
	uint64_t bound = (uint64_t)(fraction * 9007199254740992.0);

	for (uint64_t i = 0; i < count; i++) {
		uint64_t x = *rng;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		*rng = x;
		if (((x * 0x2545f4914f6cdd1dULL) >> 11) < bound)
			kept++;
	}
	return kept;
}

int profile__merge(struct profile *dst, const struct profile *src, double fraction, uint64_t *rng)
{
	/* src's frame id -> dst's + 1, 0 until a kept sample needs it. */
	uint32_t *ids = NULL, *frame_ids = NULL, *stack = NULL;
	size_t cap = 0;
	int64_t start, end;
	int err = 0;

	if (!dst || !src || fraction <= 0 || fraction > 1 || (fraction < 1 && (!rng || !*rng)))
		return -EINVAL;
	if (src->nmappings) {
		ids = calloc(src->nmappings, sizeof(*ids));
		if (!ids)
			return -ENOMEM;
	}
	if (src->nframes) {
		frame_ids = calloc(src->nframes, sizeof(*frame_ids));
		if (!frame_ids) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (size_t m = 0; m < src->nmappings; m++) {
		int id = profile__add_mapping(dst, &src->mappings[m]);

		if (id < 0) {
			err = id;
			goto cleanup;
		}
		ids[m] = (uint32_t)id;
	}
	for (size_t i = 0; i < src->nsamples; i++) {
		const struct profile_sample *s = &src->samples[i];
		uint64_t count = fraction < 1 ? thin(s->count, fraction, rng) : s->count;
		/* A weighted sample keeps its weight in proportion. */
		uint64_t value = count == s->count ? s->value :
				 (uint64_t)((double)s->value * count / s->count);

		if (!count)
			continue;
		err = ARRAY_RESERVE(stack, &cap, s->nframes);
		if (err)
			goto cleanup;
		for (uint32_t k = 0; k < s->nframes; k++) {
			uint32_t *to = &frame_ids[s->frame_ids[k]];

			if (!*to) {
				struct profile_frame f = src->frames[s->frame_ids[k]];

				f.mapping = f.mapping ? ids[f.mapping - 1] : 0;
				err = frame_id(dst, &f, to);
				if (err)
					goto cleanup;
				(*to)++;
			}
			stack[k] = *to - 1;
		}
		err = add_sample_ids(dst, stack, s->nframes, s->labels, s->nlabels, count, value);
		if (err)
			goto cleanup;
	}
	start = dst->time_nanos < src->time_nanos ? dst->time_nanos : src->time_nanos;
	end = dst->time_nanos + dst->duration_nanos;
	if (src->time_nanos + src->duration_nanos > end)
		end = src->time_nanos + src->duration_nanos;
	dst->time_nanos = start;
	dst->duration_nanos = end - start;
cleanup:
	free(stack);
	free(frame_ids);
	free(ids);
	return err;
}
