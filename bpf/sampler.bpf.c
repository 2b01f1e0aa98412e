// SPDX-License-Identifier: GPL-2.0
/* Stack sampler: runs on a cpu-clock perf event on every CPU and sends the
 * sampled thread's identity and stacks to userspace. By default the user
 * stack is walked here from unwind tables (bpf/unwind.bpf.h) and only the
 * frames leave the kernel; the copy mode sends the registers and a copy of
 * the user stack for the agent to unwind. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "sampler.h"

#define PF_KTHREAD 0x00200000

const volatile __u32 self_tgid = 0;
const volatile bool filter_pids = false;
/* With filter_pids: a target's new processes become targets at fork, and
 * a target leaves the set when it exits (`ignis record -- CMD`). */
const volatile bool follow_children = false;
const volatile bool send_idle = false;
/* Ring buffer bytes pending before a wake-up is forced; below it the agent
 * finds the data on its periodic poll, which saves a wake-up per sample. */
const volatile __u64 wakeup_bytes = 256 * 1024;
/* Bytes of user stack copied per sample (0: none), a multiple of 8 in
 * [IGNIS_STACK_MIN, IGNIS_STACK_MAX]. */
const volatile __u32 stack_size = IGNIS_STACK_DEFAULT;
/* Walk user stacks from the unwind tables (stack_size is then 0). */
const volatile bool walk_tables = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);  /* set at load time */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IGNIS_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);  /* set at load time */
	__type(key, __u32);
	__type(value, __u8);
} target_pids SEC(".maps");

#include "unwind.bpf.h"
#include "golabels.bpf.h"

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &stat);

	if (v)
		*v += 1;
}

/* The perf_event context only allows 8-byte reads of the registers, and
 * x86-64's pt_regs.cs became part of a union (FRED, Linux 6.9), so read the
 * whole slot rather than the 16-bit field. */
static __always_inline int user_mode(struct bpf_perf_event_data *ctx)
{
	__u64 cs = *(__u64 *)((char *)&ctx->regs + __builtin_offsetof(struct pt_regs, cs));

	return (cs & 3) == 3;
}

struct vma_end_ctx {
	__u64 end;
};

static long vma_end(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	((struct vma_end_ctx *)data)->end = BPF_CORE_READ(vma, vm_end);
	return 0;
}

/* Copies the user stack from sp up to stack_size bytes, but never past the
 * end of the stack's mapping, nor far past the process's initial stack
 * pointer (mm->start_stack, where argc lies): above it, exec leaves a random
 * gap of up to 8 KiB that may never have been touched, and one page that
 * is not present makes the whole read fail (no page faults here). */
static __always_inline void copy_stack(struct ignis_sample *s, struct task_struct *task)
{
	struct vma_end_ctx vc = { 0 };
	__u64 sp = s->regs[IGNIS_REG_SP];
	__u8 *dst = (__u8 *)(s + 1);  /* after the whole frames[] array */
	__u64 len = stack_size, end, start_stack;

	s->stack_len = 0;
	if (!stack_size || !sp)
		return;
	if (bpf_find_vma(task, sp, vma_end, &vc, 0) == 0 && vc.end > sp) {
		end = vc.end;
		start_stack = BPF_CORE_READ(task, mm, start_stack);
		if (sp < start_stack && start_stack + 256 < end)
			end = start_stack + 256;  /* argc, argv[]: always present */
		if (end - sp < len)
			len = end - sp;
		else if (end - sp > len)
			s->flags |= IGNIS_SAMPLE_STACK_CUT;
	} else {
		/* mmap lock busy: the rest of sp's page is always mapped. */
		len = 4096 - (sp & 4095);
		s->flags |= IGNIS_SAMPLE_STACK_CUT;
	}
	/* A page above sp that was never touched (a large frame's unused
	 * part) also fails the read: retry shorter, keeping the leaf end. */
	for (int i = 0; i < 4; i++) {
		if (len > stack_size)
			len = stack_size;
		len &= IGNIS_STACK_MAX * 2 - 1;  /* a bound the verifier can see */
		if (len > IGNIS_STACK_MAX || len == 0)
			return;
		if (bpf_probe_read_user(dst, len, (void *)sp) == 0) {
			s->stack_len = len;
			return;
		}
		s->flags |= IGNIS_SAMPLE_STACK_CUT;
		len /= 4;
	}
	count(IGNIS_STAT_STACK_FAIL);
}

static __always_inline __u64 wakeup_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* A walk that found no mapping for a pc (a process new to the agent, or
 * code it mapped since) wakes the agent at once, at most once every
 * MISS_WAKE_NS on the whole machine: reading that sample, it reads the
 * process's mappings and publishes them, and the samples after walk from
 * tables. Otherwise they waited for the next wake-up (up to the agent's
 * poll, 100 ms), every one of them walked by frame pointers. */
#define MISS_WAKE_NS 5000000ULL
__u64 miss_wake_ns = 0;

static __always_inline __u64 walk_wakeup_flags(const struct ignis_sample *s)
{
	if (s->unw_miss == IGNIS_UNW_MISS_NO_MAPPING && s->time_ns - miss_wake_ns > MISS_WAKE_NS) {
		/* racy across CPUs: at worst one wake-up more */
		miss_wake_ns = s->time_ns;
		return BPF_RB_FORCE_WAKEUP;
	}
	return wakeup_flags();
}

/* The thread's user registers: the interrupted ones, or in a system call
 * (or any kernel code a user thread runs) the ones saved at the top of its
 * kernel stack, where bpf_task_pt_regs finds them. */
static __always_inline void user_regs(struct bpf_perf_event_data *ctx, struct task_struct *task,
				      struct ignis_sample *s)
{
	struct pt_regs *uregs;

	s->regs[IGNIS_REG_IP] = 0;
	s->regs[IGNIS_REG_SP] = 0;
	s->regs[IGNIS_REG_BP] = 0;
	s->regs[IGNIS_REG_LR] = 0;
	if (!user_mode(ctx))
		s->flags |= IGNIS_SAMPLE_IN_KERNEL;
	/* task is bpf_get_current_task_btf()'s: a plain load, no helper call */
	if (task->flags & PF_KTHREAD)
		return;
	if (s->flags & IGNIS_SAMPLE_IN_KERNEL) {
		uregs = (struct pt_regs *)bpf_task_pt_regs(task);
		if (uregs) {
			s->regs[IGNIS_REG_IP] = BPF_CORE_READ(uregs, ip);
			s->regs[IGNIS_REG_SP] = BPF_CORE_READ(uregs, sp);
			s->regs[IGNIS_REG_BP] = BPF_CORE_READ(uregs, bp);
			s->flags |= IGNIS_SAMPLE_USER_REGS;
		}
	} else {
		/* Context reads are rewritten by the verifier, not
		 * relocated: these are the UAPI pt_regs fields. */
		s->regs[IGNIS_REG_IP] = ctx->regs.ip;
		s->regs[IGNIS_REG_SP] = ctx->regs.sp;
		s->regs[IGNIS_REG_BP] = ctx->regs.bp;
		s->flags |= IGNIS_SAMPLE_USER_REGS;
	}
}

static __always_inline void fill_header(struct ignis_sample *s, __u32 tgid, __u32 tid)
{
	s->type = IGNIS_EV_SAMPLE;
	s->tgid = tgid;
	s->tid = tid;
	s->cpu = bpf_get_smp_processor_id();
	s->time_ns = bpf_ktime_get_ns();
	s->cgroup_id = bpf_get_current_cgroup_id();
	s->flags = 0;
	s->unw_miss = 0;
	s->unw_miss_pc = 0;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
}

/* The kernel stack into s->frames, its length or error
 * into s->kstack_len; the frames kept (the caller clamps them to
 * IGNIS_MAX_FRAMES where the verifier needs the bound). */
static __always_inline __u32 kernel_stack(void *ctx, struct ignis_sample *s)
{
	long n = bpf_get_stack(ctx, s->frames, IGNIS_MAX_FRAMES * sizeof(__u64), 0);
	__u32 nk = 0;

	s->kstack_len = n < 0 ? n : n / sizeof(__u64);
	if (n > 0)
		nk = (__u32)n / sizeof(__u64);
	return nk;
}

/* The default: the user stack walked from unwind tables in a per-CPU
 * scratch record, sent with only the frames it has. */
static __always_inline int sample_walk(struct bpf_perf_event_data *ctx, __u32 tgid, __u32 tid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct ignis_sample *s;
	__u32 slot = UNW_SLOT_SAMPLE, nk = 0, nu = 0;
	__u64 len;

	s = bpf_map_lookup_elem(&scratch, &slot);
	if (!s)
		return 0;
	fill_header(s, tgid, tid);
	s->flags = IGNIS_SAMPLE_UNW_KERNEL;
	s->stack_size = 0;
	s->stack_len = 0;
	user_regs(ctx, task, s);
	s->kstack_len = 0;
	if (s->flags & IGNIS_SAMPLE_IN_KERNEL)
		nk = kernel_stack(ctx, s);
	if (nk > IGNIS_MAX_FRAMES)
		nk = IGNIS_MAX_FRAMES;
	s->ustack_len = 0;
	if (s->flags & IGNIS_SAMPLE_USER_REGS) {
		nu = unw_walk_user(s, nk, s->regs[IGNIS_REG_IP], s->regs[IGNIS_REG_SP],
				   s->regs[IGNIS_REG_BP], UNW_SLOT_SAMPLE);
		if (nu > IGNIS_UNW_MAX_FRAMES)
			nu = IGNIS_UNW_MAX_FRAMES;
		s->ustack_len = nu;
		if (nu) {
			__u32 k = IGNIS_STAT_UNW_FRAMES;
			__u64 *v = bpf_map_lookup_elem(&stats, &k);

			if (v)
				*v += nu;
		}
	}
	len = IGNIS_SAMPLE_LEN((__u64)(nk + nu));
	if (len > sizeof(*s))
		return 0;
	go_labels(tgid, tid, s->cpu, s->time_ns);
	if (bpf_ringbuf_output(&events, s, len, walk_wakeup_flags(s))) {
		count(IGNIS_STAT_LOST);
		return 0;
	}
	count(IGNIS_STAT_SENT);
	return 0;
}

SEC("perf_event")
int sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct task_struct *task;
	struct ignis_sample *s;
	long n;
	__u32 nk = 0;
	__u64 now;

	count(IGNIS_STAT_SAMPLES);
	if (tid == 0) {
		count(IGNIS_STAT_IDLE);
		if (!send_idle)
			return 0;
	}
	if (tgid == self_tgid && tid != 0) {
		count(IGNIS_STAT_SELF);
		return 0;
	}
	if (filter_pids && !bpf_map_lookup_elem(&target_pids, &tgid)) {
		count(IGNIS_STAT_FILTERED);
		return 0;
	}
	if (walk_tables)
		return sample_walk(ctx, tgid, tid);

	/* Its labels go first (bpf/golabels.bpf.h), with the sample's time. */
	task = bpf_get_current_task_btf();
	now = bpf_ktime_get_ns();
	go_labels(tgid, tid, bpf_get_smp_processor_id(), now);
	s = bpf_ringbuf_reserve(&events, sizeof(*s) + stack_size, 0);
	if (!s) {
		count(IGNIS_STAT_LOST);
		return 0;
	}
	fill_header(s, tgid, tid);
	s->time_ns = now;
	user_regs(ctx, task, s);

	s->kstack_len = 0;
	if (s->flags & IGNIS_SAMPLE_IN_KERNEL)
		nk = kernel_stack(ctx, s);
	/* the compiler would drop the bound the verifier needs */
	asm volatile("" : "+r"(nk));
	if (nk > IGNIS_MAX_FRAMES)
		nk = IGNIS_MAX_FRAMES;
	s->ustack_len = 0;
	s->stack_size = stack_size;
	s->stack_len = 0;
	if (s->flags & IGNIS_SAMPLE_USER_REGS) {
		n = bpf_get_stack(ctx, &s->frames[nk], IGNIS_MAX_FRAMES * sizeof(__u64),
				  BPF_F_USER_STACK);
		s->ustack_len = n < 0 ? n : n / sizeof(__u64);
		copy_stack(s, task);
	}

	bpf_ringbuf_submit(s, wakeup_flags());
	count(IGNIS_STAT_SENT);
	return 0;
}

static __always_inline void proc_event(__u32 type, __u32 tgid)
{
	struct ignis_proc_event *e;

	if (tgid == self_tgid)
		return;
	if (filter_pids && !bpf_map_lookup_elem(&target_pids, &tgid))
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(IGNIS_STAT_EVENTS_LOST);
		return;
	}
	e->type = type;
	e->tgid = tgid;
	e->time_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, wakeup_flags());
}

/* Raw tracepoints, like BTF ones, need no tracefs mount, which containers
 * often lack; unlike them, libbpf attaches them by name, with no kernel BTF
 * of its own (sys/kbtf.h: the relocations use a cut of it). */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p)
{
	proc_event(IGNIS_EV_EXEC, BPF_CORE_READ(p, tgid));
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	/* The process ends with its last thread, whichever it is: do_exit
	 * drops signal->live before this tracepoint fires. */
	__u32 tgid = BPF_CORE_READ(p, tgid);

	if (BPF_CORE_READ(p, signal, live.counter) == 0) {
		proc_event(IGNIS_EV_EXIT, tgid);
		/* Its pid may be reused by a process that is no descendant. */
		if (follow_children)
			bpf_map_delete_elem(&target_pids, &tgid);
	}
	return 0;
}

/* Fires in the parent before the child first runs, so none of the child's
 * samples are missed. A new thread shares its parent's tgid: nothing to do. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (!follow_children || ptgid == ctgid || !bpf_map_lookup_elem(&target_pids, &ptgid))
		return 0;
	if (bpf_map_update_elem(&target_pids, &ctgid, &one, BPF_ANY))
		count(IGNIS_STAT_FOLLOW_FULL);
	return 0;
}

#include "offcpu.bpf.h"

char LICENSE[] SEC("license") = "GPL";
