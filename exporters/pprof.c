/* pprof rendering of the neutral profile with protobuf-c.
 *
 * The encoder first builds everything as indices into growable arrays
 * (strings, functions, lines, locations, location-id and label pools), and
 * only once they have stopped growing lays the protobuf-c messages over them,
 * since a realloc would move anything a message pointed into.
 *
 * Deduplication keys on the profile's pointers where it can: the profile
 * interns strings, stacks and label sets, so equal pointers mean equal
 * contents and samples that share a stack share one location_id array. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/array.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "exporters/pprof.h"
#include "proto/profile.pb-c.h"

const struct pprof_style pprof_style_default = {
	.samples = { .type = "samples", .unit = "count" },
	.cpu = { .type = "cpu", .unit = "nanoseconds" },
	.period = { .type = "cpu", .unit = "nanoseconds" },
	.renames = NULL,
	.nrenames = 0,
};

const struct pprof_style pprof_style_offcpu = {
	.samples = { .type = "blocked", .unit = "count" },
	.cpu = { .type = "off_cpu", .unit = "nanoseconds" },
	.period = { .type = "off_cpu", .unit = "nanoseconds" },
};

static uint64_t hash_str(const char *s)
{
	return hash_words(HASH_SEED, s, strlen(s));
}

/* ---- encoder state ---------------------------------------------------- */

struct fn {
	const char *name, *system_name, *file;  /* the profile's interned pointers */
	int64_t name_i, system_name_i, file_i;
	int64_t start_line;
};

struct ln {
	uint64_t function_id;
	int64_t line;
};

struct loc {
	uint64_t mapping_id;
	uint64_t address;
	size_t line_off;
	uint32_t nline;
};

/* A location sought: its lines are e->lines[line_off ..] (made but not yet
 * kept), the frames that made them ids[0 .. n - 1]. */
struct loc_key {
	const struct profile_frame *last;
	size_t line_off;
	uint32_t n;
};

/* A stack or label set already rendered, found again by its pointer. */
struct arr_ref {
	const void *items;
	uint32_t n;
	size_t off;    /* into the id or label pool */
	uint32_t len;  /* entries there (labels may have been dropped) */
};

struct lab {
	int64_t key, str, num;
};

struct key_map {
	const char *key;  /* the profile's interned pointer */
	int64_t to;       /* string index, -1 to drop */
};

struct map_flags {
	bool filenames, line_numbers, inline_frames;
};

struct enc {
	const struct profile *p;
	const struct pprof_style *style;

	const char **strs;
	size_t nstrs, strs_cap;
	struct hashidx str_tab;

	struct fn *fns;
	size_t nfns, fns_cap;
	struct hashidx fn_tab;

	struct ln *lines;
	size_t nlines, lines_cap;

	struct loc *locs;
	size_t nlocs, locs_cap;
	struct hashidx loc_tab;

	uint64_t *ids;
	size_t nids, ids_cap;
	struct arr_ref *stacks;
	size_t nstacks, stacks_cap;
	struct hashidx stack_tab;

	struct lab *labs;
	size_t nlabs, labs_cap;
	struct arr_ref *labelsets;
	size_t nlabelsets, labelsets_cap;
	struct hashidx labelset_tab;

	struct key_map *keys;
	size_t nkeys, keys_cap;
	struct hashidx key_tab;

	struct map_flags *map_flags;  /* per mapping, index id - 1 */
	/* Per profile frame id: its function id, and the id of the location
	 * it makes alone (not inlined into another); 0 until known. */
	uint32_t *frame_fn, *frame_loc;

	/* Strings the encoder made itself (numbers as strings): the table
	 * points into them. */
	char **owned;
	size_t nowned, owned_cap;

	/* Per sample: where its location ids and labels are in the pools. */
	struct arr_ref *sample_stack;
	struct arr_ref *sample_labels;
};

static void enc__free(struct enc *e)
{
	for (size_t i = 0; i < e->nowned; i++)
		free(e->owned[i]);
	free(e->owned);
	free(e->sample_labels);
	free(e->sample_stack);
	free(e->frame_loc);
	free(e->frame_fn);
	free(e->map_flags);
	hashidx__free(&e->key_tab);
	free(e->keys);
	hashidx__free(&e->labelset_tab);
	free(e->labelsets);
	free(e->labs);
	hashidx__free(&e->stack_tab);
	free(e->stacks);
	free(e->ids);
	hashidx__free(&e->loc_tab);
	free(e->locs);
	free(e->lines);
	hashidx__free(&e->fn_tab);
	free(e->fns);
	hashidx__free(&e->str_tab);
	free(e->strs);
}

static bool str_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct enc *e = ctx;
	return strcmp(e->strs[idx], key) == 0;
}

/* Strings are keyed by content, not pointer: the style's names are not the
 * profile's, and may equal some of them. NULL and "" are index 0. */
static int str_id(struct enc *e, const char *s, int64_t *id)
{
	uint64_t hash;
	size_t slot;
	int64_t idx;
	int err;

	if (!s || !*s) {
		*id = 0;
		return 0;
	}
	hash = hash_str(s);
	err = hashidx__reserve(&e->str_tab, 1);
	if (err)
		return err;
	idx = hashidx__find(&e->str_tab, hash, str_eq, e, s, &slot);
	if (idx >= 0) {
		*id = idx;
		return 0;
	}
	if (e->nstrs >= UINT32_MAX - 1)
		return -E2BIG;
	err = ARRAY_RESERVE(e->strs, &e->strs_cap, e->nstrs + 1);
	if (err)
		return err;
	e->strs[e->nstrs] = s;
	hashidx__set(&e->str_tab, slot, hash, e->nstrs);
	*id = e->nstrs++;
	return 0;
}

/* The string index of a number's decimal text. */
static int num_str_id(struct enc *e, int64_t num, int64_t *id)
{
	char buf[24], *copy;
	uint64_t hash;
	size_t slot;
	int64_t idx;
	int err;

	snprintf(buf, sizeof(buf), "%" PRId64, num);
	hash = hash_str(buf);
	err = hashidx__reserve(&e->str_tab, 1);
	if (err)
		return err;
	idx = hashidx__find(&e->str_tab, hash, str_eq, e, buf, &slot);
	if (idx >= 0) {
		*id = idx;
		return 0;
	}
	err = ARRAY_RESERVE(e->owned, &e->owned_cap, e->nowned + 1);
	if (err)
		return err;
	copy = strdup(buf);
	if (!copy)
		return -ENOMEM;
	e->owned[e->nowned++] = copy;
	return str_id(e, copy, id);
}

static bool fn_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct enc *e = ctx;
	const struct profile_frame *f = key;
	const struct fn *fn = &e->fns[idx];

	return fn->name == f->function && fn->system_name == f->system_name &&
	       fn->file == f->file;
}

/* Function ids are 1-based. */
static int fn_id(struct enc *e, const struct profile_frame *f, uint64_t *id)
{
	struct fn *fn;
	uint64_t hash;
	size_t slot;
	int64_t idx;
	int err;

	hash = hash_mix(hash_mix(hash_mix(0, (uintptr_t)f->function),
				 (uintptr_t)f->system_name), (uintptr_t)f->file);
	err = hashidx__reserve(&e->fn_tab, 1);
	if (err)
		return err;
	idx = hashidx__find(&e->fn_tab, hash, fn_eq, e, f, &slot);
	if (idx >= 0) {
		*id = (uint64_t)idx + 1;
		return 0;
	}
	if (e->nfns >= UINT32_MAX - 1)
		return -E2BIG;
	err = ARRAY_RESERVE(e->fns, &e->fns_cap, e->nfns + 1);
	if (err)
		return err;
	fn = &e->fns[e->nfns];
	fn->name = f->function;
	fn->system_name = f->system_name;
	fn->file = f->file;
	fn->start_line = f->start_line;
	err = str_id(e, f->function, &fn->name_i);
	if (!err)
		err = str_id(e, f->system_name, &fn->system_name_i);
	if (!err)
		err = str_id(e, f->file, &fn->file_i);
	if (err)
		return err;
	hashidx__set(&e->fn_tab, slot, hash, e->nfns);
	*id = ++e->nfns;
	return 0;
}

/* The function id of profile frame id, found once a frame. */
static int frame_fn_id(struct enc *e, uint32_t id, uint64_t *fn)
{
	int err;

	if (!e->frame_fn[id]) {
		err = fn_id(e, profile__frame(e->p, id), fn);
		if (err)
			return err;
		e->frame_fn[id] = (uint32_t)*fn;
	}
	*fn = e->frame_fn[id];
	return 0;
}

/* Locations are keyed by (mapping, address) of the last frame and the
 * chain of (function id, line) of its frames: a symbolizer gives one
 * address one chain, so this is the same as keying by address, but frames
 * without a mapping or address (0, 0) keep their own names instead of
 * taking the first seen. Frames' start lines, and the mappings and
 * addresses of inlined ones, are not part of it. */
static uint64_t loc_hash(const struct enc *e, const struct loc_key *k)
{
	uint64_t h = hash_word(hash_word(k->n, k->last->mapping), k->last->address);

	for (uint32_t i = 0; i < k->n; i++) {
		const struct ln *l = &e->lines[k->line_off + i];

		h = hash_word(h, l->function_id ^ ((uint64_t)l->line << 32));
	}
	return hash_mix(h, 0);
}

static bool loc_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct enc *e = ctx;
	const struct loc_key *k = key;
	const struct loc *l = &e->locs[idx];

	if (l->nline != k->n || l->mapping_id != k->last->mapping ||
	    l->address != k->last->address)
		return false;
	for (uint32_t i = 0; i < k->n; i++) {
		const struct ln *a = &e->lines[l->line_off + i], *b = &e->lines[k->line_off + i];

		if (a->function_id != b->function_id || a->line != b->line)
			return false;
	}
	return true;
}

/* One Location for the profile's frames ids[0..n-1]: inlined frames
 * innermost first, the frame that holds them last. A frame that is a
 * location alone is looked up once. Function ids are taken in the order
 * of the frames of each new location, so a location found again takes
 * none, and ids come out as if functions were looked up only for new
 * locations. */
static int loc_id(struct enc *e, const uint32_t *ids, uint32_t n, uint64_t *id)
{
	struct loc_key key = { profile__frame(e->p, ids[n - 1]), e->nlines, n };
	uint64_t hash;
	size_t slot;
	int64_t idx;
	uint32_t i;
	int err;

	if (n == 1 && e->frame_loc[ids[0]]) {
		*id = e->frame_loc[ids[0]];
		return 0;
	}
	if (e->nlines > SIZE_MAX - n)
		return -ENOMEM;
	err = ARRAY_RESERVE(e->lines, &e->lines_cap, e->nlines + n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		struct ln *l = &e->lines[e->nlines + i];

		err = frame_fn_id(e, ids[i], &l->function_id);
		if (err)
			return err;
		l->line = profile__frame(e->p, ids[i])->line;
	}
	hash = loc_hash(e, &key);
	err = hashidx__reserve(&e->loc_tab, 1);
	if (err)
		return err;
	idx = hashidx__find(&e->loc_tab, hash, loc_eq, e, &key, &slot);
	if (idx < 0) {
		if (e->nlocs >= UINT32_MAX - 1)
			return -E2BIG;
		err = ARRAY_RESERVE(e->locs, &e->locs_cap, e->nlocs + 1);
		if (err)
			return err;
		e->locs[e->nlocs] = (struct loc){
			.mapping_id = key.last->mapping,
			.address = key.last->address,
			.line_off = e->nlines,
			.nline = n,
		};
		e->nlines += n;
		if (key.last->mapping) {
			struct map_flags *mf = &e->map_flags[key.last->mapping - 1];

			for (i = 0; i < n; i++) {
				const struct profile_frame *f = profile__frame(e->p, ids[i]);

				mf->filenames |= f->file != NULL;
				mf->line_numbers |= f->line > 0;
			}
			mf->inline_frames |= n > 1;
		}
		hashidx__set(&e->loc_tab, slot, hash, e->nlocs);
		idx = (int64_t)e->nlocs++;
	}
	*id = (uint64_t)idx + 1;
	if (n == 1)
		e->frame_loc[ids[0]] = (uint32_t)*id;
	return 0;
}

static uint64_t ref_hash(const void *items, uint32_t n)
{
	return hash_mix((uintptr_t)items, n);
}

static bool stack_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct enc *e = ctx;
	const struct arr_ref *k = key;

	return e->stacks[idx].items == k->items && e->stacks[idx].n == k->n;
}

static bool labelset_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct enc *e = ctx;
	const struct arr_ref *k = key;

	return e->labelsets[idx].items == k->items && e->labelsets[idx].n == k->n;
}

static int render_stack(struct enc *e, const struct profile_sample *s, struct arr_ref *out)
{
	struct arr_ref key = { .items = s->frame_ids, .n = s->nframes };
	uint64_t hash = ref_hash(s->frame_ids, s->nframes);
	size_t off, slot;
	uint32_t i, start;
	int64_t idx;
	int err;

	err = hashidx__reserve(&e->stack_tab, 1);
	if (err)
		return err;
	idx = hashidx__find(&e->stack_tab, hash, stack_eq, e, &key, &slot);
	if (idx >= 0) {
		*out = e->stacks[idx];
		return 0;
	}

	off = e->nids;
	if (off > SIZE_MAX - s->nframes)
		return -ENOMEM;
	err = ARRAY_RESERVE(e->ids, &e->ids_cap, off + s->nframes);
	if (err)
		return err;
	for (i = 0, start = 0; i < s->nframes; i++) {
		const struct profile_frame *f = profile__frame(e->p, s->frame_ids[i]);

		if (!f || f->mapping > profile__mapping_count(e->p))
			return -EINVAL;
		/* A trailing inlined frame has nothing to close it: let it
		 * close its own location rather than lose it. */
		if (f->inlined && i + 1 < s->nframes)
			continue;
		err = loc_id(e, &s->frame_ids[start], i - start + 1, &e->ids[e->nids]);
		if (err)
			return err;
		e->nids++;
		start = i + 1;
	}

	if (e->nstacks >= UINT32_MAX - 1)
		return -E2BIG;
	err = ARRAY_RESERVE(e->stacks, &e->stacks_cap, e->nstacks + 1);
	if (err)
		return err;
	key.off = off;
	key.len = (uint32_t)(e->nids - off);
	e->stacks[e->nstacks] = key;
	hashidx__set(&e->stack_tab, slot, hash, e->nstacks);
	e->nstacks++;
	*out = key;
	return 0;
}

static bool key_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct enc *e = ctx;
	return e->keys[idx].key == key;
}

/* The destination's name for a label key, or -1 to drop it. Cached per
 * distinct key so renames are looked up once, not once per label. */
static int key_id(struct enc *e, const char *key, int64_t *to)
{
	const char *name = key;
	uint64_t hash = hash_mix(0, (uintptr_t)key);
	size_t i, slot;
	int64_t idx;
	int err;

	err = hashidx__reserve(&e->key_tab, 1);
	if (err)
		return err;
	idx = hashidx__find(&e->key_tab, hash, key_eq, e, key, &slot);
	if (idx >= 0) {
		*to = e->keys[idx].to;
		return 0;
	}
	for (i = 0; i < e->style->nrenames; i++) {
		const struct pprof_label_rename *r = &e->style->renames[i];

		if (r->from && strcmp(r->from, key) == 0) {
			name = r->to;
			break;
		}
	}
	if (!name) {
		*to = -1;
	} else {
		err = str_id(e, name, to);
		if (err)
			return err;
	}
	if (e->nkeys >= UINT32_MAX - 1)
		return -E2BIG;
	err = ARRAY_RESERVE(e->keys, &e->keys_cap, e->nkeys + 1);
	if (err)
		return err;
	e->keys[e->nkeys] = (struct key_map){ .key = key, .to = *to };
	hashidx__set(&e->key_tab, slot, hash, e->nkeys);
	e->nkeys++;
	return 0;
}

static int render_labels(struct enc *e, const struct profile_sample *s, struct arr_ref *out)
{
	struct arr_ref key = { .items = s->labels, .n = s->nlabels };
	uint64_t hash = ref_hash(s->labels, s->nlabels);
	size_t off, slot;
	int64_t idx, to;
	uint32_t i;
	int err;

	err = hashidx__reserve(&e->labelset_tab, 1);
	if (err)
		return err;
	idx = hashidx__find(&e->labelset_tab, hash, labelset_eq, e, &key, &slot);
	if (idx >= 0) {
		*out = e->labelsets[idx];
		return 0;
	}

	off = e->nlabs;
	if (off > SIZE_MAX - s->nlabels)
		return -ENOMEM;
	err = ARRAY_RESERVE(e->labs, &e->labs_cap, off + s->nlabels);
	if (err)
		return err;
	for (i = 0; i < s->nlabels; i++) {
		const struct profile_label *l = &s->labels[i];
		struct lab *lab = &e->labs[e->nlabs];

		err = key_id(e, l->key, &to);
		if (err)
			return err;
		if (to < 0)
			continue;
		lab->key = to;
		lab->str = 0;
		lab->num = 0;
		if (l->str) {
			err = str_id(e, l->str, &lab->str);
			if (err)
				return err;
		} else if (e->style->numbers_as_strings) {
			err = num_str_id(e, l->num, &lab->str);
			if (err)
				return err;
		} else {
			lab->num = l->num;
		}
		e->nlabs++;
	}

	if (e->nlabelsets >= UINT32_MAX - 1)
		return -E2BIG;
	err = ARRAY_RESERVE(e->labelsets, &e->labelsets_cap, e->nlabelsets + 1);
	if (err)
		return err;
	key.off = off;
	key.len = (uint32_t)(e->nlabs - off);
	e->labelsets[e->nlabelsets] = key;
	hashidx__set(&e->labelset_tab, slot, hash, e->nlabelsets);
	e->nlabelsets++;
	*out = key;
	return 0;
}

/* Lays the protobuf-c messages over the finished pools and packs them. */
static int pack(struct enc *e, uint8_t **out, size_t *out_len)
{
	const struct pprof_style *st = e->style;
	const size_t nsamples = profile__sample_count(e->p);
	const size_t nmappings = profile__mapping_count(e->p);
	const size_t nvalues = st->samples.type ? 2 : 1;
	const uint64_t period = profile__period_ns(e->p);
	Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType vt[3], *vt_ptrs[2];
	Perftools__Profiles__Mapping *maps = NULL, **map_ptrs = NULL;
	Perftools__Profiles__Function *fns = NULL, **fn_ptrs = NULL;
	Perftools__Profiles__Line *lines = NULL, **line_ptrs = NULL;
	Perftools__Profiles__Location *locs = NULL, **loc_ptrs = NULL;
	Perftools__Profiles__Label *labs = NULL, **lab_ptrs = NULL;
	Perftools__Profiles__Sample *samples = NULL, **sample_ptrs = NULL;
	int64_t *values = NULL;
	uint8_t *buf = NULL;
	size_t i, len;
	int err = 0;

	if (period > INT64_MAX) {
		err = -EOVERFLOW;
		goto cleanup;
	}
	/* calloc checks n * size for overflow; a count of 0 still has to give
	 * a non-NULL pointer we can free, which calloc(0) may not, and that
	 * is fine: nothing reads it. */
	maps = calloc(nmappings, sizeof(*maps));
	map_ptrs = calloc(nmappings, sizeof(*map_ptrs));
	fns = calloc(e->nfns, sizeof(*fns));
	fn_ptrs = calloc(e->nfns, sizeof(*fn_ptrs));
	lines = calloc(e->nlines, sizeof(*lines));
	line_ptrs = calloc(e->nlines, sizeof(*line_ptrs));
	locs = calloc(e->nlocs, sizeof(*locs));
	loc_ptrs = calloc(e->nlocs, sizeof(*loc_ptrs));
	labs = calloc(e->nlabs, sizeof(*labs));
	lab_ptrs = calloc(e->nlabs, sizeof(*lab_ptrs));
	samples = calloc(nsamples, sizeof(*samples));
	sample_ptrs = calloc(nsamples, sizeof(*sample_ptrs));
	values = calloc(nsamples, nvalues * sizeof(*values));
	if ((nmappings && (!maps || !map_ptrs)) || (e->nfns && (!fns || !fn_ptrs)) ||
	    (e->nlines && (!lines || !line_ptrs)) || (e->nlocs && (!locs || !loc_ptrs)) ||
	    (e->nlabs && (!labs || !lab_ptrs)) ||
	    (nsamples && (!samples || !sample_ptrs || !values))) {
		err = -ENOMEM;
		goto cleanup;
	}

	for (i = 0; i < 3; i++)
		perftools__profiles__value_type__init(&vt[i]);
	if (st->samples.type) {
		err = str_id(e, st->samples.type, &vt[0].type);
		if (!err)
			err = str_id(e, st->samples.unit, &vt[0].unit);
		if (err)
			goto cleanup;
	}
	err = str_id(e, st->cpu.type, &vt[1].type);
	if (!err)
		err = str_id(e, st->cpu.unit, &vt[1].unit);
	if (!err)
		err = str_id(e, st->period.type, &vt[2].type);
	if (!err)
		err = str_id(e, st->period.unit, &vt[2].unit);
	if (err)
		goto cleanup;
	vt_ptrs[0] = st->samples.type ? &vt[0] : &vt[1];
	vt_ptrs[1] = &vt[1];
	prof.n_sample_type = nvalues;
	prof.sample_type = st->samples.type ? vt_ptrs : &vt_ptrs[1];
	prof.period_type = &vt[2];
	prof.period = (int64_t)period;
	prof.default_sample_type = vt[1].type;
	prof.time_nanos = profile__time_nanos(e->p);
	prof.duration_nanos = profile__duration_nanos(e->p);

	for (i = 0; i < nmappings; i++) {
		const struct profile_mapping *m = profile__mapping(e->p, i + 1);

		perftools__profiles__mapping__init(&maps[i]);
		maps[i].id = i + 1;
		maps[i].memory_start = m->start;
		maps[i].memory_limit = m->limit;
		maps[i].file_offset = m->offset;
		err = str_id(e, m->file, &maps[i].filename);
		if (!err)
			err = str_id(e, m->build_id, &maps[i].build_id);
		if (err)
			goto cleanup;
		/* Frames arrive symbolized; this tells readers not to try. */
		maps[i].has_functions = true;
		maps[i].has_filenames = e->map_flags[i].filenames;
		maps[i].has_line_numbers = e->map_flags[i].line_numbers;
		maps[i].has_inline_frames = e->map_flags[i].inline_frames;
		map_ptrs[i] = &maps[i];
	}
	prof.n_mapping = nmappings;
	prof.mapping = map_ptrs;

	for (i = 0; i < e->nfns; i++) {
		perftools__profiles__function__init(&fns[i]);
		fns[i].id = i + 1;
		fns[i].name = e->fns[i].name_i;
		fns[i].system_name = e->fns[i].system_name_i;
		fns[i].filename = e->fns[i].file_i;
		fns[i].start_line = e->fns[i].start_line;
		fn_ptrs[i] = &fns[i];
	}
	prof.n_function = e->nfns;
	prof.function = fn_ptrs;

	for (i = 0; i < e->nlines; i++) {
		perftools__profiles__line__init(&lines[i]);
		lines[i].function_id = e->lines[i].function_id;
		lines[i].line = e->lines[i].line;
		line_ptrs[i] = &lines[i];
	}
	for (i = 0; i < e->nlocs; i++) {
		perftools__profiles__location__init(&locs[i]);
		locs[i].id = i + 1;
		locs[i].mapping_id = e->locs[i].mapping_id;
		locs[i].address = e->locs[i].address;
		locs[i].n_line = e->locs[i].nline;
		locs[i].line = &line_ptrs[e->locs[i].line_off];
		loc_ptrs[i] = &locs[i];
	}
	prof.n_location = e->nlocs;
	prof.location = loc_ptrs;

	for (i = 0; i < e->nlabs; i++) {
		perftools__profiles__label__init(&labs[i]);
		labs[i].key = e->labs[i].key;
		labs[i].str = e->labs[i].str;
		labs[i].num = e->labs[i].num;
		lab_ptrs[i] = &labs[i];
	}

	for (i = 0; i < nsamples; i++) {
		const struct profile_sample *s = profile__sample(e->p, i);
		int64_t *v = &values[i * nvalues];

		if (s->count > INT64_MAX || s->value > INT64_MAX) {
			pr_warn("pprof: sample %zu: count %llu (%llu ns) overflows\n", i,
				(unsigned long long)s->count, (unsigned long long)s->value);
			err = -EOVERFLOW;
			goto cleanup;
		}
		if (nvalues == 2)
			*v++ = (int64_t)s->count;
		*v = (int64_t)s->value;

		perftools__profiles__sample__init(&samples[i]);
		samples[i].n_location_id = e->sample_stack[i].len;
		samples[i].location_id = e->ids ? &e->ids[e->sample_stack[i].off] : NULL;
		samples[i].n_value = nvalues;
		samples[i].value = &values[i * nvalues];
		samples[i].n_label = e->sample_labels[i].len;
		samples[i].label = lab_ptrs ? &lab_ptrs[e->sample_labels[i].off] : NULL;
		sample_ptrs[i] = &samples[i];
	}
	prof.n_sample = nsamples;
	prof.sample = sample_ptrs;

	/* Last, since the steps above may still add strings. protobuf-c
	 * only reads the table; the cast drops a const it has no way to say. */
	prof.n_string_table = e->nstrs;
	prof.string_table = (char **)e->strs;

	len = perftools__profiles__profile__get_packed_size(&prof);
	buf = malloc(len ? len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (perftools__profiles__profile__pack(&prof, buf) != len) {
		pr_warn("pprof: packed size mismatch\n");
		err = -EIO;
		goto cleanup;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
cleanup:
	free(buf);
	free(values);
	free(sample_ptrs);
	free(samples);
	free(lab_ptrs);
	free(labs);
	free(loc_ptrs);
	free(locs);
	free(line_ptrs);
	free(lines);
	free(fn_ptrs);
	free(fns);
	free(map_ptrs);
	free(maps);
	return err;
}

int pprof__encode(const struct profile *p, const struct pprof_style *style,
		  uint8_t **out, size_t *out_len)
{
	struct enc e = { .p = p, .style = style };
	size_t nsamples, nmappings, i;
	int err;

	if (!p || !style || !style->cpu.type || !out || !out_len ||
	    (style->nrenames && !style->renames))
		return -EINVAL;
	nsamples = profile__sample_count(p);
	nmappings = profile__mapping_count(p);

	err = ARRAY_RESERVE(e.strs, &e.strs_cap, 1);
	if (err)
		goto cleanup;
	e.strs[e.nstrs++] = "";
	e.map_flags = calloc(nmappings ? nmappings : 1, sizeof(*e.map_flags));
	e.sample_stack = calloc(nsamples ? nsamples : 1, sizeof(*e.sample_stack));
	e.sample_labels = calloc(nsamples ? nsamples : 1, sizeof(*e.sample_labels));
	e.frame_fn = calloc(profile__frame_count(p) + 1, sizeof(*e.frame_fn));
	e.frame_loc = calloc(profile__frame_count(p) + 1, sizeof(*e.frame_loc));
	if (!e.map_flags || !e.sample_stack || !e.sample_labels || !e.frame_fn || !e.frame_loc) {
		err = -ENOMEM;
		goto cleanup;
	}

	for (i = 0; i < nsamples; i++) {
		const struct profile_sample *s = profile__sample(p, i);

		err = render_stack(&e, s, &e.sample_stack[i]);
		if (err)
			goto cleanup;
		err = render_labels(&e, s, &e.sample_labels[i]);
		if (err)
			goto cleanup;
	}

	err = pack(&e, out, out_len);
cleanup:
	if (err)
		pr_warn("pprof: encoding failed: %s\n", strerror(-err));
	enc__free(&e);
	return err;
}

int pprof__gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream zs;
	uint8_t *buf = NULL;
	uLong bound;
	int err = 0, ret;

	if ((!in && len) || !out || !out_len)
		return -EINVAL;
	/* One deflate() call with Z_FINISH and a deflateBound() buffer is
	 * enough when both sizes fit zlib's uInt; intakes reject profiles far
	 * smaller than 4 GiB anyway. */
	if (len > UINT_MAX / 2)
		return -E2BIG;

	memset(&zs, 0, sizeof(zs));
	/* 16 + MAX_WBITS: a gzip wrapper, which is what pprof readers and
	 * the intakes detect by its magic bytes, not a zlib one. Level 1, as
	 * Go's runtime/pprof and Grafana's eBPF profiler write theirs: on a
	 * 130 KB profile 0.95 ms where the default level took 4.6 ms, for 30%
	 * more bytes (37 KB against 29 KB; bench/README.md). */
	ret = deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK)
		return ret == Z_MEM_ERROR ? -ENOMEM : -EINVAL;

	bound = deflateBound(&zs, len);
	if (bound > UINT_MAX) {
		err = -E2BIG;
		goto cleanup;
	}
	buf = malloc(bound);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	zs.next_in = (Bytef *)in;  /* zlib does not write through next_in */
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)bound;
	ret = deflate(&zs, Z_FINISH);
	if (ret != Z_STREAM_END) {
		pr_warn("pprof: deflate: %d %s\n", ret, zs.msg ? zs.msg : "");
		err = ret == Z_MEM_ERROR ? -ENOMEM : -EIO;
		goto cleanup;
	}
	*out = buf;
	*out_len = zs.total_out;
	buf = NULL;
cleanup:
	deflateEnd(&zs);
	free(buf);
	return err;
}
