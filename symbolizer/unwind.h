/* DWARF CFI unwinding of copied user stacks with libdwfl: one cached Dwfl
 * per process (modules from <proc_root>/PID/maps, files reached through
 * <proc_root>/PID/root so container binaries are found), whose memory
 * reads are served from the stack bytes copied with the sample. */
#ifndef IGNIS_UNWIND_H
#define IGNIS_UNWIND_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/sampler.h"

#define UNWIND_MAX_FRAMES 512

struct unwinder;

struct unwind_sample {
	uint32_t tgid, tid;
	const uint64_t *regs;       /* IGNIS_NREGS user registers */
	const uint8_t *stack;       /* copy of the stack from regs[IGNIS_REG_SP] up */
	size_t stack_len;
	int stack_cut;              /* the stack went on past the copy */
};

struct unwind_stats {
	uint64_t unwinds;
	uint64_t frames;
	uint64_t truncated;         /* ran off a cut copy, or hit the frame limit */
	uint64_t go_switch;         /* ended at a Go function that switches stacks */
	uint64_t failed;            /* no usable module or CFI for the first frame */
	uint64_t dwfl_created;
	uint64_t dwfl_evicted;
};

/* max_procs bounds the cached Dwfl handles (least recently used go first). */
struct unwinder *unwinder__new(const char *proc_root, size_t max_procs);
void unwinder__free(struct unwinder *u);

/* How a walk ended, besides where the frames ran out. */
enum unwind_end {
	UNWIND_END_OTHER,      /* no caller found, or an unreadable one */
	UNWIND_END_TRUNCATED,  /* off the end of a copy cut short, or at max frames */
	UNWIND_END_SWITCH,     /* at a Go function that switches stacks (mcall,
				* systemstack, time.now): the stack ends there by
				* the runtime's own rule */
	UNWIND_END_GO_TOP,     /* at Go's outermost frame (goexit, mstart) */
};

/* Unwinds one sample into pcs (leaf first; callers' entries are return
 * addresses). Returns the number of frames, or -errno; *end says how the
 * walk ended. */
int unwinder__unwind(struct unwinder *u, const struct unwind_sample *s, uint64_t *pcs,
		     size_t max, enum unwind_end *end);
/* The process's image changed (exec) or it is gone (exit): forget it. */
void unwinder__forget(struct unwinder *u, uint32_t tgid);
void unwinder__stats(const struct unwinder *u, struct unwind_stats *out);

#endif
