#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/aggregate.h"
#include "sampling/golabels.h"
#include "base/array.h"
#include "base/hashmap.h"

struct agg_stack {
	uint64_t count;
	uint64_t value;      /* nanoseconds, in a weighted aggregation */
	uint32_t series;
	uint32_t tgid;
	uint16_t nk, nu;
	char comm[IGNIS_COMM_LEN];
	uint32_t tid;                  /* 0: not keyed by thread */
	uint64_t *kstack;
	struct agg_frame *ustack;
	const uint8_t *labels;  /* golabels__take's blob, nlabels_len bytes */
	uint16_t nlabels_len;
	/* kstack, ustack and labels follow */
};

struct aggregate {
	/* Every distinct stack, in the order first seen, found through an
	 * open-addressing index that holds the hashes: a sample's lookup
	 * reads one compact array and touches a stack only when its hash
	 * matches, where a chained table walked cold nodes (a quarter of
	 * the running agent's CPU went to that walk). */
	struct agg_stack **stacks;
	size_t nstacks, stacks_cap;
	struct hashidx index;
	uint64_t samples;
	uint64_t value;
	int weighted;        /* values were given (aggregate__add_value) */
	double scale;        /* applied to counts and values in profiles; 0: 1 */
};

struct stack_key {
	uint32_t series;
	uint32_t tgid;
	const char *comm;
	const uint64_t *kstack;
	size_t nk;
	const struct agg_frame *ustack;
	size_t nu;
	uint32_t tid;
	const void *labels;
	size_t labels_len;
};

static bool stack_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct agg_stack *s = ((const struct aggregate *)ctx)->stacks[idx];
	const struct stack_key *k = key;

	return s->series == k->series && s->tgid == k->tgid && s->tid == k->tid &&
	       s->nk == k->nk && s->nu == k->nu &&
	       strncmp(s->comm, k->comm, IGNIS_COMM_LEN) == 0 &&
	       (!k->nk || memcmp(s->kstack, k->kstack, k->nk * sizeof(*k->kstack)) == 0) &&
	       (!k->nu || memcmp(s->ustack, k->ustack, k->nu * sizeof(*k->ustack)) == 0) &&
	       s->nlabels_len == k->labels_len &&
	       (!k->labels_len || memcmp(s->labels, k->labels, k->labels_len) == 0);
}

struct aggregate *aggregate__new(void)
{
	return calloc(1, sizeof(struct aggregate));
}

void aggregate__free(struct aggregate *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nstacks; i++)
		free(a->stacks[i]);
	free(a->stacks);
	hashidx__free(&a->index);
	free(a);
}

int aggregate__add(struct aggregate *a, uint32_t tgid, const char *comm,
		   const uint64_t *kstack, size_t nk, const struct agg_frame *ustack, size_t nu,
		   uint64_t count)
{
	return aggregate__add_series(a, 0, tgid, comm, kstack, nk, ustack, nu, count);
}

int aggregate__add_series(struct aggregate *a, uint32_t series, uint32_t tgid, const char *comm,
			  const uint64_t *kstack, size_t nk, const struct agg_frame *ustack,
			  size_t nu, uint64_t count)
{
	return aggregate__add_labeled(a, series, tgid, 0, comm, kstack, nk, ustack, nu, NULL, 0,
				      count);
}

static int add(struct aggregate *a, uint32_t series, uint32_t tgid, uint32_t tid,
	       const char *comm, const uint64_t *kstack, size_t nk, const struct agg_frame *ustack,
	       size_t nu, const void *labels, size_t labels_len, uint64_t count, uint64_t value,
	       int weighted);

int aggregate__add_labeled(struct aggregate *a, uint32_t series, uint32_t tgid, uint32_t tid,
			   const char *comm, const uint64_t *kstack, size_t nk,
			   const struct agg_frame *ustack, size_t nu, const void *labels,
			   size_t labels_len, uint64_t count)
{
	return add(a, series, tgid, tid, comm, kstack, nk, ustack, nu, labels, labels_len, count,
		   0, 0);
}

int aggregate__add_value(struct aggregate *a, uint32_t series, uint32_t tgid, const char *comm,
			 const uint64_t *kstack, size_t nk, const struct agg_frame *ustack,
			 size_t nu, uint64_t count, uint64_t value)
{
	return add(a, series, tgid, 0, comm, kstack, nk, ustack, nu, NULL, 0, count, value, 1);
}

static int add(struct aggregate *a, uint32_t series, uint32_t tgid, uint32_t tid,
	       const char *comm, const uint64_t *kstack, size_t nk, const struct agg_frame *ustack,
	       size_t nu, const void *labels, size_t labels_len, uint64_t count, uint64_t value,
	       int weighted)
{
	char name[IGNIS_COMM_LEN] = { 0 };
	struct stack_key key;
	struct agg_stack *s;
	int64_t idx;
	size_t slot;
	uint64_t h;

	if (nk > UINT16_MAX || nu > UINT16_MAX || labels_len > UINT16_MAX)
		return -EINVAL;
	/* The comm from BPF may carry bytes after its NUL: hash the name only. */
	strncpy(name, comm, sizeof(name) - 1);
	key = (struct stack_key){ series, tgid, name, kstack, nk, ustack, nu, tid, labels,
				   labels_len };
	/* Once a sample: a word at a time. */
	h = hash_word(hash_word(HASH_SEED, ((uint64_t)tgid << 32) | tid), series);
	h = hash_words(h, name, sizeof(name));
	if (nk)
		h = hash_words(h, kstack, nk * sizeof(*kstack));
	if (nu)
		h = hash_words(h, ustack, nu * sizeof(*ustack));
	if (labels_len)
		h = hash_words(h, labels, labels_len);

	if (hashidx__reserve(&a->index, 1) ||
	    ARRAY_RESERVE(a->stacks, &a->stacks_cap, a->nstacks + 1))
		return -ENOMEM;
	idx = hashidx__find(&a->index, h, stack_eq, a, &key, &slot);
	if (idx >= 0) {
		s = a->stacks[idx];
	} else {
		s = malloc(sizeof(*s) + nk * sizeof(*kstack) + nu * sizeof(*ustack) + labels_len);
		if (!s)
			return -ENOMEM;
		s->count = 0;
		s->value = 0;
		s->series = series;
		s->tgid = tgid;
		s->tid = tid;
		s->nk = nk;
		s->nu = nu;
		memcpy(s->comm, name, sizeof(name));
		s->kstack = (uint64_t *)(s + 1);
		s->ustack = (struct agg_frame *)(s->kstack + nk);
		if (nk)
			memcpy(s->kstack, kstack, nk * sizeof(*kstack));
		if (nu)
			memcpy(s->ustack, ustack, nu * sizeof(*ustack));
		s->nlabels_len = (uint16_t)labels_len;
		s->labels = (const uint8_t *)(s->ustack + nu);
		if (labels_len)
			memcpy((uint8_t *)s->labels, labels, labels_len);
		a->stacks[a->nstacks] = s;
		hashidx__set(&a->index, slot, h, (uint32_t)a->nstacks);
		a->nstacks++;
	}
	s->count += count;
	s->value += value;
	a->samples += count;
	a->value += value;
	a->weighted |= weighted;
	return 0;
}

void aggregate__set_scale(struct aggregate *a, double scale)
{
	a->scale = scale;
}

uint64_t aggregate__value(const struct aggregate *a)
{
	return a->value;
}

/* Rounded to the nearest: a count scaled by 1/probability. */
static uint64_t scaled(const struct aggregate *a, uint64_t v)
{
	double x;

	if (a->scale <= 0 || a->scale == 1)
		return v;
	x = (double)v * a->scale + 0.5;
	return x >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)x;
}

size_t aggregate__stacks(const struct aggregate *a)
{
	return a->nstacks;
}

uint64_t aggregate__samples(const struct aggregate *a)
{
	return a->samples;
}

/* Per flush: each distinct address is named once, each binary gets one
 * mapping. */
enum frame_kind { FRAME_CALLER, FRAME_LEAF, FRAME_KERNEL_CALLER, FRAME_KERNEL_LEAF };

struct name_key {
	const struct binary *bin;
	uint64_t addr;
	uint64_t kind;  /* enum frame_kind; 64 bits so the key has no padding */
};

struct name_entry {
	struct hashmap_node node;
	struct name_key key;
	char *owned;          /* formatted names are ours to free */
	uint32_t n;           /* frames: inlined functions innermost first, then
	                       * the one that holds the code */
	struct sym_frame f[];
};

struct mapping_key {
	const struct binary *bin;
	uint64_t series;   /* 64 bits so the key has no padding */
};

struct mapping_entry {
	struct hashmap_node node;
	struct mapping_key key;
	uint32_t id;
};

/* Names are shared by every series of the flush; mappings belong to the
 * profile of one series. */
struct flush {
	const struct kallsyms *k;
	struct profile **profiles;
	uint32_t *kernel_mappings;
	struct hashmap names;
	struct hashmap mappings;
};

static int name_eq(const struct hashmap_node *n, const void *key)
{
	return memcmp(&((const struct name_entry *)n)->key, key, sizeof(struct name_key)) == 0;
}

static int mapping_eq(const struct hashmap_node *n, const void *key)
{
	return memcmp(&((const struct mapping_entry *)n)->key, key, sizeof(struct mapping_key)) == 0;
}

static int mapping_for(struct flush *f, uint32_t series, const struct binary *bin, uint32_t *id)
{
	struct mapping_key key = { bin, series };
	uint64_t h = hash_words(HASH_SEED, &key, sizeof(key));
	struct mapping_entry *m = (void *)hashmap__find(&f->mappings, h, &key, mapping_eq);
	struct profile_mapping pm;
	int ret;

	if (m) {
		*id = m->id;
		return 0;
	}
	/* Frames carry file offsets, so a binary's mapping starts at 0 and
	 * one mapping serves every process that maps it, wherever it lies. */
	pm = (struct profile_mapping){
		.start = 0,
		.limit = binary__size(bin) ? binary__size(bin) : UINT64_MAX >> 1,
		.offset = 0,
		.file = binary__path(bin),
		.build_id = binary__build_id(bin)[0] ? binary__build_id(bin) : NULL,
	};
	ret = profile__add_mapping(f->profiles[series], &pm);
	if (ret < 0)
		return ret;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->key = key;
	m->id = ret;
	if (hashmap__insert(&f->mappings, &m->node, h)) {
		free(m);
		return -ENOMEM;
	}
	*id = ret;
	return 0;
}

/* Fills out[0..n) and returns n, or -errno; a name made here is put in
 * *owned. */
static int name_user(const struct agg_frame *fr, int leaf, char **owned, struct sym_frame *out)
{
	int n;

	if (!fr->bin && fr->addr == AGG_TRUNCATED) {
		out->name = "[truncated]";
		return 1;
	}
	if (AGG_IS_INTERP(fr)) {
		const struct agg_interp_frame *f = (const void *)(uintptr_t)(fr->addr & ~AGG_INTERP);

		out->name = f->name;
		out->file = f->file;
		out->line = f->line;
		out->start_line = f->start_line;
		return 1;
	}
	if (!fr->bin) {
		if (asprintf(owned, "[unknown] 0x%" PRIx64, fr->addr) < 0)
			return -ENOMEM;
		out->name = *owned;
		return 1;
	}
	/* A caller's address is the return address, which may already be
	 * past the end of the calling function: look up the call itself. */
	n = binary__symbolize(fr->bin, fr->addr - (!leaf && fr->addr), out, SYM_MAX_FRAMES);
	if (n > 0)
		return n;
	if (asprintf(owned, "[unknown] %s+0x%" PRIx64, binary__name(fr->bin), fr->addr) < 0)
		return -ENOMEM;
	out->name = *owned;
	return 1;
}

/* Added on first use, after the binaries, because pprof readers take the
 * first mapping for the main program. */
static int kernel_mapping(struct flush *f, uint32_t series, uint32_t *id)
{
	struct profile_mapping km = {
		.start = f->k ? kallsyms__min_addr(f->k) : 0xffff800000000000ULL,
		.limit = UINT64_MAX,
		.file = "[kernel.kallsyms]",
	};
	int ret;

	if (!f->kernel_mappings[series]) {
		ret = profile__add_mapping(f->profiles[series], &km);
		if (ret < 0)
			return ret;
		f->kernel_mappings[series] = ret;
	}
	*id = f->kernel_mappings[series];
	return 0;
}

static int name_kernel(struct flush *f, uint64_t addr, int leaf, char **owned,
		       struct sym_frame *out)
{
	/* As for user frames, callers are return addresses. */
	const char *name = f->k ? kallsyms__lookup(f->k, addr - !leaf, NULL, NULL) : NULL;

	if (name) {
		out->name = name;
		return 1;
	}
	if (asprintf(owned, "[unknown] [kernel.kallsyms]+0x%" PRIx64, addr) < 0)
		return -ENOMEM;
	out->name = *owned;
	return 1;
}

/* Copies the strings of a binary's names into one block, *owned: the
 * binary's symbols may be given back before the flush is over. */
static int own_strings(struct sym_frame *sf, int n, char **owned)
{
	const char **fields[3];
	size_t len = 0;
	char *p;

	for (int i = 0; i < n; i++) {
		fields[0] = &sf[i].name, fields[1] = &sf[i].system_name, fields[2] = &sf[i].file;
		for (int k = 0; k < 3; k++)
			len += *fields[k] ? strlen(*fields[k]) + 1 : 0;
	}
	p = *owned = malloc(len ? len : 1);
	if (!p)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		fields[0] = &sf[i].name, fields[1] = &sf[i].system_name, fields[2] = &sf[i].file;
		for (int k = 0; k < 3; k++) {
			if (!*fields[k])
				continue;
			len = strlen(*fields[k]) + 1;
			memcpy(p, *fields[k], len);
			*fields[k] = p;
			p += len;
		}
	}
	return 0;
}

static int lookup(struct flush *f, const struct agg_frame *fr, enum frame_kind kind,
		  const struct name_entry **out)
{
	struct name_key key = { fr->bin, fr->addr, kind };
	struct sym_frame sf[SYM_MAX_FRAMES] = { 0 };
	struct name_entry *e;
	char *owned = NULL;
	uint64_t h;
	int n, err;

	h = hash_words(HASH_SEED, &key, sizeof(key));
	e = (void *)hashmap__find(&f->names, h, &key, name_eq);
	if (e) {
		*out = e;
		return 0;
	}
	if (kind == FRAME_KERNEL_CALLER || kind == FRAME_KERNEL_LEAF)
		n = name_kernel(f, fr->addr, kind == FRAME_KERNEL_LEAF, &owned, sf);
	else
		n = name_user(fr, kind == FRAME_LEAF, &owned, sf);
	if (n > 0 && fr->bin && !owned && own_strings(sf, n, &owned))
		n = -ENOMEM;
	if (n < 0) {
		free(owned);
		return n;
	}
	e = calloc(1, sizeof(*e) + n * sizeof(e->f[0]));
	if (!e) {
		free(owned);
		return -ENOMEM;
	}
	e->key = key;
	e->owned = owned;
	e->n = n;
	memcpy(e->f, sf, n * sizeof(e->f[0]));
	err = hashmap__insert(&f->names, &e->node, h);
	if (err) {
		free(e->owned);
		free(e);
		return err;
	}
	*out = e;
	return 0;
}

/* Appends e's frames at address addr to frames[*nf...], growing it. */
static int append_frames(struct profile_frame **frames, size_t *cap, size_t *nf,
			 const struct name_entry *e, uint32_t mapping, uint64_t addr)
{
	if (*nf + e->n > *cap) {
		size_t ncap = (*nf + e->n) * 2;
		struct profile_frame *nfr = realloc(*frames, ncap * sizeof(*nfr));

		if (!nfr)
			return -ENOMEM;
		*frames = nfr;
		*cap = ncap;
	}
	for (uint32_t i = 0; i < e->n; i++)
		(*frames)[(*nf)++] = (struct profile_frame){
			.mapping = mapping,
			.address = addr,
			.function = e->f[i].name,
			.system_name = e->f[i].system_name,
			.file = e->f[i].file,
			.line = e->f[i].line,
			.start_line = e->f[i].start_line,
			.inlined = i + 1 < e->n,
		};
	return 0;
}

static void flush_free(struct flush *f)
{
	struct hashmap_node *n, *tmp;
	size_t i;

	hashmap__for_each(&f->names, n, tmp, i) {
		free(((struct name_entry *)n)->owned);
		free(n);
	}
	hashmap__for_each(&f->mappings, n, tmp, i)
		free(n);
	hashmap__clear(&f->names);
	hashmap__clear(&f->mappings);
}

struct pending {
	struct hashmap_node node;
	struct name_key key;
};

static int pending_cmp(const void *pa, const void *pb)
{
	const struct name_key *a = &(*(struct pending *const *)pa)->key;
	const struct name_key *b = &(*(struct pending *const *)pb)->key;

	if (a->bin != b->bin)
		return (uintptr_t)a->bin < (uintptr_t)b->bin ? -1 : 1;
	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static int pending_eq(const struct hashmap_node *n, const void *key)
{
	return memcmp(&((const struct pending *)n)->key, key, sizeof(struct name_key)) == 0;
}

/* Names every distinct user frame of a binary together, binary by binary,
 * before the stacks are built from the names: each binary's symbols are
 * loaded once and may be given back as soon as its addresses are named
 * (binary__named), so a flush holds the symbol cache's budget plus one
 * binary's symbols, not every binary's at once. */
static int name_by_binary(struct flush *f, const struct aggregate *a, struct profile **profiles,
			  size_t nseries)
{
	struct hashmap set = { 0 };
	struct pending **v = NULL, *p;
	struct hashmap_node *n, *tmp;
	size_t i, nv = 0;
	int err = 0;

	for (i = 0; i < a->nstacks; i++) {
		const struct agg_stack *s = a->stacks[i];

		if (s->series >= nseries || !profiles[s->series])
			continue;
		for (size_t j = 0; j < s->nu; j++) {
			struct name_key key = { s->ustack[j].bin, s->ustack[j].addr,
						j == 0 && s->nk == 0 ? FRAME_LEAF : FRAME_CALLER };
			uint64_t h = hash_words(HASH_SEED, &key, sizeof(key));

			if (!key.bin || hashmap__find(&set, h, &key, pending_eq))
				continue;
			p = calloc(1, sizeof(*p));
			if (!p || hashmap__insert(&set, &p->node, h)) {
				free(p);
				err = -ENOMEM;
				goto cleanup;
			}
			p->key = key;
		}
	}
	v = malloc((set.count ? set.count : 1) * sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto cleanup;
	}
	hashmap__for_each(&set, n, tmp, i)
		v[nv++] = (struct pending *)n;
	qsort(v, nv, sizeof(*v), pending_cmp);
	for (i = 0; i < nv && !err; i++) {
		struct agg_frame fr = { (struct binary *)v[i]->key.bin, v[i]->key.addr };
		const struct name_entry *e;

		err = lookup(f, &fr, (enum frame_kind)v[i]->key.kind, &e);
		if (i + 1 == nv || v[i + 1]->key.bin != fr.bin)
			binary__named(fr.bin);
	}
cleanup:
	free(v);
	hashmap__for_each(&set, n, tmp, i)
		free(n);
	hashmap__clear(&set);
	return err;
}

int aggregate__to_profiles(const struct aggregate *a, const struct kallsyms *k,
			   struct profile **profiles, size_t nseries)
{
	struct profile_frame *frames = NULL;
	struct flush f = { .k = k, .profiles = profiles };
	size_t cap = 0;
	size_t i;
	int err = 0;

	f.kernel_mappings = calloc(nseries ? nseries : 1, sizeof(*f.kernel_mappings));
	if (!f.kernel_mappings)
		return -ENOMEM;
	/* Binaries first, roots first: the program's own file tends to come
	 * before its libraries and the kernel, and readers show mapping 1. */
	for (i = 0; i < a->nstacks; i++) {
		const struct agg_stack *s = a->stacks[i];
		uint32_t id;

		if (s->series >= nseries || !profiles[s->series])
			continue;
		for (size_t j = s->nu; j-- > 0;) {
			if (!s->ustack[j].bin)
				continue;
			err = mapping_for(&f, s->series, s->ustack[j].bin, &id);
			if (err)
				goto cleanup;
		}
	}
	err = name_by_binary(&f, a, profiles, nseries);
	if (err)
		goto cleanup;
	for (i = 0; i < a->nstacks; i++) {
		const struct agg_stack *s = a->stacks[i];
		struct profile_label labels[3 + IGNIS_GO_MAX_LABELS] = {
			{ .key = "pid", .num = s->tgid },
			{ .key = "comm", .str = s->comm },
			{ .key = "tid", .num = s->tid },
		};
		size_t nf = 0, nl = 2;

		if (s->series >= nseries || !profiles[s->series])
			continue;
		for (size_t j = 0; j < s->nk; j++) {
			struct agg_frame fr = { NULL, s->kstack[j] };
			const struct name_entry *e;
			uint32_t id = 0;

			err = lookup(&f, &fr, j == 0 ? FRAME_KERNEL_LEAF : FRAME_KERNEL_CALLER, &e);
			if (!err)
				err = kernel_mapping(&f, s->series, &id);
			if (!err)
				err = append_frames(&frames, &cap, &nf, e, id, fr.addr);
			if (err)
				goto cleanup;
		}
		for (size_t j = 0; j < s->nu; j++) {
			const struct agg_frame *fr = &s->ustack[j];
			const struct name_entry *e;
			uint32_t id = 0;

			/* The user leaf is the interrupted instruction only
			 * when no kernel frame sits on top of it. */
			err = lookup(&f, fr, j == 0 && s->nk == 0 ? FRAME_LEAF : FRAME_CALLER, &e);
			if (!err && fr->bin)
				err = mapping_for(&f, s->series, fr->bin, &id);
			/* An interpreted frame has no address: its location
			 * is its function and line. */
			if (!err)
				err = append_frames(&frames, &cap, &nf, e, id,
						    AGG_IS_INTERP(fr) ? 0 : fr->addr);
			if (err)
				goto cleanup;
		}
		if (s->tid)
			nl++;
		if (s->nlabels_len)
			nl += golabels__decode(s->labels, s->nlabels_len, labels + nl,
					       IGNIS_GO_MAX_LABELS);
		if (a->weighted)
			err = profile__add_sample_value(profiles[s->series], frames, nf, labels, nl,
							scaled(a, s->count), scaled(a, s->value));
		else
			err = profile__add_sample(profiles[s->series], frames, nf, labels, nl,
						  s->count);
		if (err)
			goto cleanup;
	}
cleanup:
	free(frames);
	free(f.kernel_mappings);
	flush_free(&f);
	return err;
}

int aggregate__to_profile(const struct aggregate *a, const struct kallsyms *k, struct profile *p)
{
	return aggregate__to_profiles(a, k, &p, 1);
}

void aggregate__series_counts(const struct aggregate *a, uint64_t *counts, size_t n)
{
	memset(counts, 0, n * sizeof(*counts));
	for (size_t i = 0; i < a->nstacks; i++) {
		const struct agg_stack *s = a->stacks[i];

		if (s->series < n)
			counts[s->series] += s->count;
	}
}
