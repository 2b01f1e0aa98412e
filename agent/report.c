#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "agent/report.h"

struct func {
	struct hashmap_node node;
	const char *name;
	uint64_t self, cum;
	size_t last_sample;   /* counts a recursive function once per stack */
};

static int name_eq(const struct hashmap_node *n, const void *key)
{
	return strcmp(((const struct func *)n)->name, key) == 0;
}

static int cmp_self(const void *a, const void *b)
{
	const struct func *x = *(const struct func *const *)a, *y = *(const struct func *const *)b;

	if (x->self != y->self)
		return x->self > y->self ? -1 : 1;
	if (x->cum != y->cum)
		return x->cum > y->cum ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int top(const struct profile *p, size_t n, int by_value, FILE *out)
{
	struct hashmap funcs = { 0 };
	struct hashmap_node *node, *tmp;
	struct func **sorted = NULL;
	uint64_t total = 0;
	size_t i, k = 0;
	int err = 0;

	for (size_t si = 0; si < profile__sample_count(p); si++) {
		const struct profile_sample *s = profile__sample(p, si);
		uint64_t w = by_value ? s->value : s->count;

		total += w;
		for (uint32_t j = 0; j < s->nframes; j++) {
			const char *name = profile__frame(p, s->frame_ids[j])->function;
			uint64_t h = hash_bytes(HASH_SEED, name, strlen(name));
			struct func *f = (void *)hashmap__find(&funcs, h, name, name_eq);

			if (!f) {
				f = calloc(1, sizeof(*f));
				if (!f || hashmap__insert(&funcs, &f->node, h)) {
					free(f);
					err = -ENOMEM;
					goto cleanup;
				}
				f->name = name;
				f->last_sample = SIZE_MAX;
			}
			if (j == 0)
				f->self += w;
			if (f->last_sample != si) {
				f->cum += w;
				f->last_sample = si;
			}
		}
	}
	sorted = calloc(funcs.count ? funcs.count : 1, sizeof(*sorted));
	if (!sorted) {
		err = -ENOMEM;
		goto cleanup;
	}
	hashmap__for_each(&funcs, node, tmp, i)
		sorted[k++] = (struct func *)node;
	qsort(sorted, k, sizeof(*sorted), cmp_self);

	if (by_value)
		fprintf(out, "%10s %6s %10s %6s  %s\n", "self ms", "self%", "cum ms", "cum%",
			"function");
	else
		fprintf(out, "%10s %6s %10s %6s  %s\n", "self", "self%", "cum", "cum%", "function");
	for (i = 0; i < k && i < n; i++) {
		const struct func *f = sorted[i];

		if (by_value)
			fprintf(out, "%10.1f %5.1f%% %10.1f %5.1f%%  %s\n", f->self / 1e6,
				total ? 100.0 * f->self / total : 0.0, f->cum / 1e6,
				total ? 100.0 * f->cum / total : 0.0, f->name);
		else
			fprintf(out, "%10" PRIu64 " %5.1f%% %10" PRIu64 " %5.1f%%  %s\n", f->self,
				total ? 100.0 * f->self / total : 0.0, f->cum,
				total ? 100.0 * f->cum / total : 0.0, f->name);
	}
cleanup:
	free(sorted);
	hashmap__for_each(&funcs, node, tmp, i)
		free(node);
	hashmap__clear(&funcs);
	return err;
}

int report__top(const struct profile *p, size_t n, FILE *out)
{
	return top(p, n, 0, out);
}

int report__top_time(const struct profile *p, size_t n, FILE *out)
{
	return top(p, n, 1, out);
}
