/* Records shared by bpf/sampler.bpf.c and the agent: fixed-size types only. */
#ifndef IGNIS_BPF_SAMPLER_H
#define IGNIS_BPF_SAMPLER_H

#ifndef __bpf__
#include <linux/types.h>  /* BPF code gets these from vmlinux.h */
#endif

#define IGNIS_COMM_LEN   16
/* The kernel's own default for kernel.perf_event_max_stack. */
#define IGNIS_MAX_FRAMES 127
/* Bounds of the user stack copy (load-time knob stack_size). */
#define IGNIS_STACK_MIN       512
#define IGNIS_STACK_DEFAULT   (16 * 1024)
#define IGNIS_STACK_MAX       (64 * 1024)

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
};

struct ignis_sample {
	__u32 type;          /* IGNIS_EV_SAMPLE */
	__u32 tgid;
	__u32 tid;
	__u32 cpu;
	__u64 time_ns;       /* CLOCK_MONOTONIC */
	__u64 cgroup_id;
	__u32 flags;
	__s32 kstack_len;    /* frames in kstack, or -errno from bpf_get_stack */
	__s32 ustack_len;    /* frames in ustack, or -errno */
	__u32 reserved;
	__u64 regs[IGNIS_NREGS];
	char comm[IGNIS_COMM_LEN];
	__u64 kstack[IGNIS_MAX_FRAMES];  /* leaf first */
	__u64 ustack[IGNIS_MAX_FRAMES];  /* leaf first, frame-pointer walk */
	__u32 stack_size;    /* bytes reserved for the copy after this header */
	__u32 stack_len;     /* bytes copied, from regs[IGNIS_REG_SP] upward */
	/* __u8 stack[stack_size] follows */
};

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
	IGNIS_STAT_FOLLOW_FULL,   /* new child of a target not followed: pid set full */
	IGNIS_NSTATS,
};

#endif
