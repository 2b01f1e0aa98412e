/* Interval aggregation: identical stacks of the same process and thread
 * name are counted once. User frames are kept as (binary, file offset),
 * resolved at sample time while the process still exists; names are
 * looked up only when the interval is turned into a profile. */
#ifndef IGNIS_AGGREGATE_H
#define IGNIS_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/sampler.h"
#include "exporters/profile.h"
#include "symbolizer/bincache.h"
#include "symbolizer/kallsyms.h"

struct aggregate;

struct agg_frame {
	struct binary *bin;  /* NULL: the address lay in no known mapping */
	uint64_t addr;       /* file offset in bin, else the raw address */
};

/* With bin NULL: the stack went on beyond what was copied and unwound; the
 * root-most frame then shows as "[truncated]". */
#define AGG_TRUNCATED UINT64_MAX

/* A frame an interpreter ran (Python), named when the sample came by its
 * interpreter's namer (sampling/python.c), which keeps it until the flush.
 * As an agg_frame: bin NULL, addr AGG_INTERP | the struct's address. */
struct agg_interp_frame {
	const char *name;
	const char *file;      /* NULL when unknown */
	uint32_t line, start_line;
};
#define AGG_INTERP (1ULL << 63)
#define AGG_IS_INTERP(fr) (!(fr)->bin && ((fr)->addr & AGG_INTERP) && (fr)->addr != AGG_TRUNCATED)

struct aggregate *aggregate__new(void);
void aggregate__free(struct aggregate *a);

/* Stacks are leaf first. Returns 0 or -ENOMEM. */
int aggregate__add(struct aggregate *a, uint32_t tgid, const char *comm,
		   const uint64_t *kstack, size_t nk, const struct agg_frame *ustack, size_t nu,
		   uint64_t count);
/* The same for series 'series' (an index the caller gives meaning to). */
int aggregate__add_series(struct aggregate *a, uint32_t series, uint32_t tgid, const char *comm,
			  const uint64_t *kstack, size_t nk, const struct agg_frame *ustack,
			  size_t nu, uint64_t count);
/* The same keyed by thread too (tid 0: not: each thread's stacks are their
 * own samples, with a "tid" (number) label) and by the program's per-sample
 * labels: a blob from golabels__take (copied; NULL, 0: none). */
int aggregate__add_labeled(struct aggregate *a, uint32_t series, uint32_t tgid, uint32_t tid,
			   const char *comm, const uint64_t *kstack, size_t nk,
			   const struct agg_frame *ustack, size_t nu, const void *labels,
			   size_t labels_len, uint64_t count);
/* With a weight in nanoseconds (off-CPU: the time blocked); an
 * aggregation given weights makes profiles of them (profile_sample.value). */
int aggregate__add_value(struct aggregate *a, uint32_t series, uint32_t tgid, const char *comm,
			 const uint64_t *kstack, size_t nk, const struct agg_frame *ustack,
			 size_t nu, uint64_t count, uint64_t value);
/* Counts and weights are multiplied by scale in the profiles (1/the
 * sampling probability), rounded to the nearest. */
void aggregate__set_scale(struct aggregate *a, double scale);
/* The sum of the weights added. */
uint64_t aggregate__value(const struct aggregate *a);
size_t aggregate__stacks(const struct aggregate *a);
/* Samples per series, counts[0..n), in one pass. */
void aggregate__series_counts(const struct aggregate *a, uint64_t *counts, size_t n);
uint64_t aggregate__samples(const struct aggregate *a);

/* Symbolizes every distinct address once and adds the stacks to p, with the
 * labels "pid" (number), "comm" (thread name) and, keyed by thread, "tid". k may be NULL (kernel
 * frames then show as addresses). Returns 0 or -errno. */
int aggregate__to_profile(const struct aggregate *a, const struct kallsyms *k, struct profile *p);
/* The same per series: the stacks of series i go to profiles[i] (skipped
 * when it is NULL or i >= nseries); each address is still named once. */
int aggregate__to_profiles(const struct aggregate *a, const struct kallsyms *k,
			   struct profile **profiles, size_t nseries);

#endif
