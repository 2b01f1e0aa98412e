/* Brendan Gregg's folded stack format: "comm;root;...;leaf count" per line,
 * identical lines merged, sorted. */
#ifndef IGNIS_FOLDED_H
#define IGNIS_FOLDED_H

#include <stdio.h>

#include "exporters/profile.h"

/* The first element of each line is the sample's label 'root_label' (e.g.
 * "comm"), if it has one. Returns 0 or -errno. */
int folded__write(const struct profile *p, const char *root_label, FILE *out);

/* The same with each line's weight in nanoseconds (profile_sample.value,
 * e.g. off-CPU time) instead of its sample count. */
int folded__write_values(const struct profile *p, const char *root_label, FILE *out);

#endif
