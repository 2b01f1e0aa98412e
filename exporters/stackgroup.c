#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "exporters/stackgroup.h"

#define KERNEL_FILE "[kernel.kallsyms]"

struct grouper {
	/* Per frame id: its function pointer doubled, plus 1 for the
	 * kernel's; what a group's frames share. */
	uint64_t *frame_key;
	struct stack_group *groups;
	size_t ngroups;
	struct hashidx tab;
	bool *kernel;  /* per mapping id (0: none) */
	size_t nkernel;
};

const char *stack_group__root(const struct profile_sample *s, const char *root_label)
{
	for (uint32_t i = 0; root_label && i < s->nlabels; i++)
		if (s->labels[i].str && strcmp(s->labels[i].key, root_label) == 0)
			return s->labels[i].str;
	return NULL;
}

static bool is_kernel(const struct grouper *g, uint32_t mapping)
{
	return mapping < g->nkernel && g->kernel[mapping];
}

/* Frames of one group share function pointers and kernel-ness; addresses,
 * lines and files do not matter. */
static bool frames_eq(const struct grouper *g, const uint32_t *a, const uint32_t *b, uint32_t n)
{
	if (a == b)
		return true;
	for (uint32_t i = 0; i < n; i++)
		if (g->frame_key[a[i]] != g->frame_key[b[i]])
			return false;
	return true;
}

struct group_key {
	const struct profile_sample *s;
	const char *root;
};

static bool group_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct grouper *g = ctx;
	const struct group_key *k = key;
	const struct stack_group *x = &g->groups[idx];

	return x->root == k->root && x->sample->nframes == k->s->nframes &&
	       frames_eq(g, x->sample->frame_ids, k->s->frame_ids, k->s->nframes);
}

static uint64_t group_hash(const struct grouper *g, const struct group_key *k)
{
	uint64_t h = hash_word(k->s->nframes, (uintptr_t)k->root);

	for (uint32_t i = 0; i < k->s->nframes; i++)
		h = hash_word(h, g->frame_key[k->s->frame_ids[i]]);
	return hash_mix(h, 0);
}

int stack_group__collect(const struct profile *p, const char *root_label,
			 struct stack_group **out, size_t *n)
{
	size_t nsamples = profile__sample_count(p), slot;
	size_t nframes = profile__frame_count(p);
	struct grouper g = { 0 };
	int err = 0;

	g.nkernel = profile__mapping_count(p) + 1;
	g.kernel = calloc(g.nkernel, sizeof(*g.kernel));
	/* At most one group a sample; only the groups made are touched. */
	g.groups = malloc((nsamples ? nsamples : 1) * sizeof(*g.groups));
	g.frame_key = malloc((nframes ? nframes : 1) * sizeof(*g.frame_key));
	if (!g.kernel || !g.groups || !g.frame_key) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 1; i < g.nkernel; i++) {
		const struct profile_mapping *m = profile__mapping(p, (uint32_t)i);

		g.kernel[i] = m && m->file && strcmp(m->file, KERNEL_FILE) == 0;
	}
	/* The pointer doubled leaves the low bit to the kernel flag. */
	for (uint32_t i = 0; i < nframes; i++) {
		const struct profile_frame *f = profile__frame(p, i);

		g.frame_key[i] = (uint64_t)(uintptr_t)f->function * 2 + is_kernel(&g, f->mapping);
	}
	for (size_t i = 0; i < nsamples; i++) {
		const struct profile_sample *s = profile__sample(p, i);
		struct group_key k = { s, stack_group__root(s, root_label) };
		uint64_t h = group_hash(&g, &k);
		int64_t idx;

		err = hashidx__reserve(&g.tab, 1);
		if (err)
			goto cleanup;
		idx = hashidx__find(&g.tab, h, group_eq, &g, &k, &slot);
		if (idx >= 0) {
			g.groups[idx].count += s->count;
			g.groups[idx].value += s->value;
			continue;
		}
		g.groups[g.ngroups] = (struct stack_group){
			.sample = s, .root = k.root, .count = s->count, .value = s->value,
		};
		hashidx__set(&g.tab, slot, h, (uint32_t)g.ngroups);
		g.ngroups++;
	}
	*out = g.groups;
	*n = g.ngroups;
	g.groups = NULL;
cleanup:
	free(g.groups);
	free(g.frame_key);
	hashidx__free(&g.tab);
	free(g.kernel);
	return err;
}
