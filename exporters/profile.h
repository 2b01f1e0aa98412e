/* The neutral profile of one interval: symbolized samples, mappings and
 * labels, independent of any destination. Each exporter renders it its own
 * way (sample type names, label names, compression). Strings passed in are
 * copied and interned (made valid UTF-8 on the way, PROFILE_STRING_MAX);
 * the profile owns everything it holds. Each distinct frame is stored
 * once and has an id; a sample's stack is an array of frame ids. */
#ifndef IGNIS_PROFILE_H
#define IGNIS_PROFILE_H

#include <stddef.h>
#include <stdint.h>

struct profile;

/* Strings are stored as valid UTF-8 of at most this many bytes: bytes that
 * are not UTF-8 become U+FFFD, a longer string is cut on a character
 * boundary (keeping its head). Pyroscope cuts longer strings byte-wise and
 * then refuses the profile if a character was split. */
#define PROFILE_STRING_MAX 65535

struct profile_mapping {
	uint64_t start;        /* address range the frames of this mapping use */
	uint64_t limit;
	uint64_t offset;       /* file offset that 'start' corresponds to */
	const char *file;      /* path or name, e.g. "/usr/lib/libc.so.6", "[kernel.kallsyms]" */
	const char *build_id;  /* hex GNU build id, or NULL */
};

/* One frame of a stack. Frames that share (mapping, address) are one pprof
 * Location; consecutive frames with 'inlined' set belong to the location of
 * the first frame after them that has it clear (innermost first). */
struct profile_frame {
	uint32_t mapping;         /* id from profile__add_mapping, 0 for none */
	uint64_t address;         /* in the mapping's address space */
	const char *function;     /* display name, never NULL */
	const char *system_name;  /* mangled name, or NULL */
	const char *file;         /* source file, or NULL */
	int64_t line;             /* source line, 0 if unknown */
	int64_t start_line;       /* where the function starts, 0 if unknown */
	int inlined;
};

/* Where a per-sample label comes from, so each destination can choose:
 * the agent's own (pid, comm, ...) or the profiled program's (Go pprof
 * labels), split into trace context and the rest. */
enum profile_label_origin {
	PROFILE_LABEL_AGENT = 0,  /* "pid", "comm", "thread_name", ... */
	/* A program label whose key is a trace-context key (labels.trace_labels:
	 * "span_id", "span id", "local root span id", "trace_id",
	 * "trace endpoint", ...), under the program's own key, value as read. */
	PROFILE_LABEL_TRACE = 1,
	/* Another program label the configuration keeps (labels.go_labels). */
	PROFILE_LABEL_PROGRAM = 2,
};

/* A label is a string when 'str' is set, else a number. */
struct profile_label {
	const char *key;
	const char *str;
	int64_t num;
	int origin;  /* enum profile_label_origin; 0 for the agent's */
};

struct profile_sample {
	/* Leaf first; profile__frame(p, frame_ids[i]) is frame i. Equal
	 * frames have equal ids, equal stacks the same pointer. */
	const uint32_t *frame_ids;
	uint32_t nframes;
	const struct profile_label *labels;
	uint32_t nlabels;
	uint64_t count;                      /* samples; CPU time is count * period */
	/* What the samples weigh in nanoseconds: count * period, or the
	 * sum given to profile__add_sample_value (off-CPU time). */
	uint64_t value;
};

struct profile *profile__new(uint64_t period_ns, int64_t time_nanos, int64_t duration_nanos);
void profile__free(struct profile *p);

/* Returns the mapping id (>= 1) or -errno. */
int profile__add_mapping(struct profile *p, const struct profile_mapping *m);
/* Copies frames and labels; a sample with the same frames and labels as
 * one already added only adds its count to it. Returns 0 or -errno. */
int profile__add_sample(struct profile *p, const struct profile_frame *frames, size_t nframes,
			const struct profile_label *labels, size_t nlabels, uint64_t count);

/* The same with the samples' weight in nanoseconds given (off-CPU: the
 * time blocked) rather than count * period. */
int profile__add_sample_value(struct profile *p, const struct profile_frame *frames,
			      size_t nframes, const struct profile_label *labels, size_t nlabels,
			      uint64_t count, uint64_t value);

/* Adds src's mappings and samples to dst (same period assumed) and widens
 * dst's time range to cover src's: how an upload period longer than the
 * agent's interval gathers several intervals. With fraction < 1 each
 * sample is kept with that probability (*rng: non-zero state, advanced),
 * so the result is a uniform sample. 0 or -errno (dst may then hold part
 * of src). */
int profile__merge(struct profile *dst, const struct profile *src, double fraction,
		   uint64_t *rng);

uint64_t profile__period_ns(const struct profile *p);
int64_t profile__time_nanos(const struct profile *p);
int64_t profile__duration_nanos(const struct profile *p);
size_t profile__mapping_count(const struct profile *p);
/* id is 1-based, as returned by profile__add_mapping. */
const struct profile_mapping *profile__mapping(const struct profile *p, uint32_t id);
/* Distinct frames, ids 0 .. count - 1 (their strings interned):
 * profile__frames(p)[id], or profile__frame(p, id), NULL for an unknown
 * id. Pointers are valid until the profile next grows. */
size_t profile__frame_count(const struct profile *p);
const struct profile_frame *profile__frames(const struct profile *p);
const struct profile_frame *profile__frame(const struct profile *p, uint32_t id);
size_t profile__sample_count(const struct profile *p);
const struct profile_sample *profile__sample(const struct profile *p, size_t i);

#endif
