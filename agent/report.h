/* The summary `ignis record` prints: the top functions by self and by
 * cumulative samples. */
#ifndef IGNIS_REPORT_H
#define IGNIS_REPORT_H

#include <stdio.h>

#include "exporters/profile.h"

/* Prints the n functions with the most self samples, with their
 * cumulative samples beside them. Returns 0 or -errno. */
int report__top(const struct profile *p, size_t n, FILE *out);

/* The same by the samples' weight (profile_sample.value: off-CPU
 * nanoseconds), printed in milliseconds. */
int report__top_time(const struct profile *p, size_t n, FILE *out);

#endif
