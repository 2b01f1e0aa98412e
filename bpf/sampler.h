/* Records shared by bpf/sampler.bpf.c and the agent: fixed-size types only. */
#ifndef IGNIS_BPF_SAMPLER_H
#define IGNIS_BPF_SAMPLER_H

#ifndef __bpf__
#include <linux/types.h>  /* BPF code gets these from vmlinux.h */
#endif

#include "unwind.h"

#define IGNIS_COMM_LEN   16
/* The kernel's own default for kernel.perf_event_max_stack. */
#define IGNIS_MAX_FRAMES 127
/* Bounds of the user stack copy (load-time knob stack_size). */
#define IGNIS_STACK_MIN       512
#define IGNIS_STACK_DEFAULT   (16 * 1024)
#define IGNIS_STACK_MAX       (64 * 1024)
/* Kernel frames then user frames: user stacks walked from unwind tables
 * reach IGNIS_UNW_MAX_FRAMES. */
#define IGNIS_SAMPLE_FRAMES   (IGNIS_MAX_FRAMES + IGNIS_UNW_MAX_FRAMES)

enum ignis_event_type {
	IGNIS_EV_SAMPLE = 1,
	IGNIS_EV_EXEC   = 2,
	IGNIS_EV_EXIT   = 3,
};

/* User registers the unwinder starts from. x86-64 uses ip, sp, bp; arm64
 * uses pc, sp, fp, lr, so the array has room for four. */
enum ignis_reg {
	IGNIS_REG_IP = 0,
	IGNIS_REG_SP = 1,
	IGNIS_REG_BP = 2,
	IGNIS_REG_LR = 3,
	IGNIS_NREGS  = 4,
};

enum ignis_sample_flags {
	IGNIS_SAMPLE_USER_REGS = 1 << 0,  /* regs[] hold the thread's user registers */
	IGNIS_SAMPLE_IN_KERNEL = 1 << 1,  /* the sample interrupted kernel code */
	/* The stack went on past what was copied: an unwind that runs off
	 * the copy is truncated, not complete. */
	IGNIS_SAMPLE_STACK_CUT = 1 << 2,
	/* The user frames were walked in BPF from unwind tables (--unwind
	 * kernel): the record ends with its frames, no stack bytes follow. */
	IGNIS_SAMPLE_UNW_KERNEL = 1 << 3,
	/* ... some of them by frame pointers: the mapping of unw_miss_pc had
	 * no table (unw_miss says why). */
	IGNIS_SAMPLE_UNW_FP = 1 << 4,
	/* ... IGNIS_UNW_MAX_FRAMES frames and the stack went on. */
	IGNIS_SAMPLE_UNW_TRUNCATED = 1 << 5,
	/* ... the walk stopped at a rule it cannot apply (CFA_INVALID, or
	 * CFA from a frame pointer that is not known). */
	IGNIS_SAMPLE_UNW_UNEXPRESSIBLE = 1 << 6,
	/* ... a read of the user stack failed (not present, bad address), or
	 * the next frame would not be above this one. */
	IGNIS_SAMPLE_UNW_READ_FAIL = 1 << 7,
	/* ... the walk reached the outermost frame (an END rule). */
	IGNIS_SAMPLE_UNW_END = 1 << 8,
};

/* Why the walker went on by frame pointers (ignis_sample.unw_miss). */
enum ignis_unw_miss {
	IGNIS_UNW_MISS_NONE = 0,
	IGNIS_UNW_MISS_NO_MAPPING = 1,  /* no unw_mappings entry for the pc */
	IGNIS_UNW_MISS_PENDING = 2,     /* IGNIS_MAP_PENDING: table not loaded yet */
	IGNIS_UNW_MISS_NO_TABLE = 3,    /* IGNIS_MAP_NONE: JIT, anonymous, no CFI */
	IGNIS_UNW_MISS_EVICTED = 4,     /* table_id not in unw_tables (evicted) */
	IGNIS_UNW_MISS_NO_ROW = 5,      /* the table has no row for the pc */
};

struct ignis_sample {
	__u32 type;          /* IGNIS_EV_SAMPLE */
	__u32 tgid;
	__u32 tid;
	__u32 cpu;
	__u64 time_ns;       /* CLOCK_MONOTONIC */
	__u64 cgroup_id;
	__u32 flags;
	__s32 kstack_len;    /* kernel frames, frames[0..kstack_len), or -errno */
	__s32 ustack_len;    /* user frames, after the kernel ones, or -errno */
	__u32 unw_miss;      /* enum ignis_unw_miss, with IGNIS_SAMPLE_UNW_FP */
	__u64 unw_miss_pc;   /* the first pc walked by frame pointers */
	__u64 regs[IGNIS_NREGS];
	char comm[IGNIS_COMM_LEN];
	__u32 stack_size;    /* bytes of stack copy after frames[] (copy mode), else 0 */
	__u32 stack_len;     /* bytes copied, from regs[IGNIS_REG_SP] upward */
	/* Leaf first: the kernel frames (bpf_get_stack), then the user frames
	 * (the frame-pointer walk of bpf_get_stack, or the table walk). With
	 * IGNIS_SAMPLE_UNW_KERNEL the record ends after the last user frame:
	 * its length is IGNIS_SAMPLE_LEN(kstack_len + ustack_len). Otherwise
	 * the whole array is sent and __u8 stack[stack_size] follows it. */
	__u64 frames[IGNIS_SAMPLE_FRAMES];
};

#define IGNIS_SAMPLE_HDR_LEN __builtin_offsetof(struct ignis_sample, frames)
#define IGNIS_SAMPLE_LEN(nframes) (IGNIS_SAMPLE_HDR_LEN + (nframes) * sizeof(__u64))

/* exec of a new image, or exit of a whole process (its main thread). */
struct ignis_proc_event {
	__u32 type;          /* IGNIS_EV_EXEC or IGNIS_EV_EXIT */
	__u32 tgid;
	__u64 time_ns;
	char comm[IGNIS_COMM_LEN];
};

/* Indexes of the per-CPU counters in the 'stats' map. */
enum ignis_stat {
	IGNIS_STAT_SAMPLES = 0,   /* perf events that ran the program */
	IGNIS_STAT_SENT,          /* samples put on the ring buffer */
	IGNIS_STAT_LOST,          /* samples dropped: ring buffer full */
	IGNIS_STAT_IDLE,          /* idle CPU (pid 0), not sent by default */
	IGNIS_STAT_SELF,          /* the agent's own threads */
	IGNIS_STAT_FILTERED,      /* not a target process */
	IGNIS_STAT_EVENTS_LOST,   /* exec/exit events dropped: ring buffer full */
	IGNIS_STAT_STACK_FAIL,    /* user stack could not be copied */
	IGNIS_STAT_UNW_FRAMES,    /* user frames walked from unwind tables */
	IGNIS_STAT_UNW_FP_FRAMES, /* user frames walked by frame pointers there */
	IGNIS_STAT_FOLLOW_FULL,   /* new child of a target not followed: pid set full */
	IGNIS_NSTATS,
};

#endif
