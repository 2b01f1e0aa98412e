/* Off-CPU records shared by bpf/offcpu.bpf.h and the agent: fixed-size
 * types only. */
#ifndef IGNIS_BPF_OFFCPU_H
#define IGNIS_BPF_OFFCPU_H

#include "sampler.h"

/* A record type after enum ignis_event_type's. */
#define IGNIS_EV_OFFCPU 16

/* One blocking of a thread that ended: struct ignis_sample's layout, with
 * the 8 bytes of stack_size/stack_len holding how long it was off the CPU.
 * Sent like a walked sample: IGNIS_SAMPLE_LEN(kstack_len + ustack_len)
 * bytes. time_ns is when it ran again; the frames are where it blocked. */
struct ignis_offcpu {
	__u32 type;          /* IGNIS_EV_OFFCPU */
	__u32 tgid;
	__u32 tid;
	__u32 cpu;
	__u64 time_ns;
	__u64 cgroup_id;
	__u32 flags;         /* IGNIS_SAMPLE_*, IGNIS_SAMPLE_UNW_KERNEL always */
	__s32 kstack_len;
	__s32 ustack_len;
	__u32 unw_miss;
	__u64 unw_miss_pc;
	__u64 regs[IGNIS_NREGS];
	char comm[IGNIS_COMM_LEN];
	__u64 blocked_ns;
	__u64 frames[IGNIS_SAMPLE_FRAMES];
};

_Static_assert(__builtin_offsetof(struct ignis_offcpu, blocked_ns) ==
	       __builtin_offsetof(struct ignis_sample, stack_size), "blocked_ns replaces the stack copy's sizes");
_Static_assert(__builtin_offsetof(struct ignis_offcpu, frames) ==
	       __builtin_offsetof(struct ignis_sample, frames), "the frames are where a sample's are");
_Static_assert(sizeof(struct ignis_offcpu) == sizeof(struct ignis_sample), "one scratch record serves both");

/* The sampling probability is a 32-bit threshold on bpf_get_prandom_u32. */
#define IGNIS_OFFCPU_PROB_ONE 0xffffffffu

/* Indexes of the per-CPU counters in the 'offcpu_stats' map. */
enum ignis_offcpu_stat {
	IGNIS_OFFCPU_BLOCKED = 0,  /* threads of targets that left a CPU blocked */
	IGNIS_OFFCPU_UNSAMPLED,    /* ... not picked by the sampling probability */
	IGNIS_OFFCPU_FULL,         /* ... not tracked: no room for its stamp (or no clock) */
	IGNIS_OFFCPU_WOKEN,        /* tracked threads that ran again */
	IGNIS_OFFCPU_SHORT,        /* ... blocked less than the minimum */
	IGNIS_OFFCPU_SENT,         /* records put on the ring buffer */
	IGNIS_OFFCPU_LOST,         /* records dropped: ring buffer full */
	IGNIS_OFFCPU_MISSED,       /* a wake-up whose switch-in hook saw another thread */
	/* The two-program path only (offcpu_back checks these before it
	 * knows a switch was a blocking, and does not count them): */
	IGNIS_OFFCPU_SELF,         /* the agent's own threads, never tracked */
	IGNIS_OFFCPU_KTHREAD,      /* kernel threads, never tracked */
	IGNIS_OFFCPU_FILTERED,     /* not a target process */
	IGNIS_OFFCPU_NSTATS,
};

#endif
