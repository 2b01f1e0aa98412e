/* The samples of a profile gathered by what a folded line and a flame
 * graph show of them: the root label's value, then each frame's function
 * name and whether it is the kernel's. A profile holds one sample per
 * distinct (frames, labels), and most of them differ only in addresses,
 * lines or pids, so a 5,000-sample profile makes a few hundred groups:
 * the writers render those, not every sample.
 *
 * Samples are grouped by the profile's interned pointers, so samples in
 * one group always render alike; two groups may still render alike (the
 * folded format writes ';' as ':'), which the folded writer merges by the
 * text it writes. */
#ifndef IGNIS_STACKGROUP_H
#define IGNIS_STACKGROUP_H

#include <stddef.h>
#include <stdint.h>

#include "exporters/profile.h"

struct stack_group {
	const struct profile_sample *sample;  /* the first of the group: its frames */
	const char *root;                     /* the root label's value, or NULL */
	uint64_t count, value;                /* the group's sums (wrapping) */
};

/* The groups of p in the order of their first samples, in a malloc'd
 * array (*out, *n). root_label NULL: no root. Returns 0 or -errno. */
int stack_group__collect(const struct profile *p, const char *root_label,
			 struct stack_group **out, size_t *n);

/* The value of s's string label root_label (the first such), or NULL. */
const char *stack_group__root(const struct profile_sample *s, const char *root_label);

#endif
