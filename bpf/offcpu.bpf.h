/* Off-CPU time, included by sampler.bpf.c (it shares its ring buffer, its
 * scratch record and the unwind walker).
 *
 * By default one program, offcpu_back (at the end of this file), at the end
 * of __schedule, finds the blockings from the scheduler's own accounting.
 * The two-program path (IGNIS_OFFCPU_PATH=switch; sys/probe.h):
 *
 * sched_switch: a thread that leaves the CPU blocked (not preempted, not
 * runnable) gets its switch-out time in its stamp (offcpu_stamp), with the
 * sampling probability; a thread that comes back takes it out, and when it
 * was off the CPU at least min_ns, leaves (tid, ns) in this CPU's
 * offcpu_pending slot.
 *
 * sched_exit_tp (the end of __schedule, Linux 6.16; current is the thread
 * that was switched in and its address space is the one loaded): the
 * thread's kernel stack is still the one it blocked in (__schedule and its
 * callers), its user registers are those saved at its entry to the kernel;
 * both are walked there, only for blockings that qualify. sched_switch
 * itself runs on the previous thread's address space, where the next
 * thread's user stack cannot be read. (Other profilers hook
 * finish_task_switch with a kprobe; kernels without kprobes, or where it
 * is a .isra clone fentry refuses, have no such hook: here kallsyms has
 * only finish_task_switch.isra.0.) Two programs per switch, then; the
 * common path of each (a switch that starts or ends a wait shorter than
 * the minimum, nothing pending) makes no helper call. */
#ifndef IGNIS_OFFCPU_BPF_H
#define IGNIS_OFFCPU_BPF_H

#include "offcpu.h"

#define TASK_RUNNING 0x0000
#define TASK_DEAD    0x0080

/* Blockings shorter than this are counted, not sent. */
const volatile __u64 offcpu_min_ns = 0;
/* A blocking is tracked when bpf_get_prandom_u32() <= this. */
const volatile __u32 offcpu_threshold = IGNIS_OFFCPU_PROB_ONE;

struct offcpu_start_val {
	__u64 start_ns;   /* 0: not blocked, or not tracked */
};

/* A thread's switch-out time, by its tid: tids below offcpu_tid_slots
 * (pid_max, up to OFFCPU_TID_SLOTS_MAX; set at load time) have a slot in
 * offcpu_by_tid, an array whose lookup the verifier inlines (an index and
 * a bounds check); a tid above (pid_max raised since, or above the cap)
 * keeps it in task-local storage (a helper call, the busy counter and the
 * storage's cache: about 40 ns a switch more; bench/offcpu). Both are exact:
 * one slot per tid, and a thread that blocked always runs again before it
 * exits (its slot is cleared then), so a reused tid finds its slot empty.
 * bench/offcpu measured a hash with an update and a delete per blocking at
 * several times the cost. */
const volatile __u32 offcpu_tid_slots = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);  /* set at load time */
	__type(key, __u32);
	__type(value, struct offcpu_start_val);
} offcpu_by_tid SEC(".maps");

/* Bounded by the threads there are, at 8 bytes and the kernel's per-entry
 * overhead each; an allocation that fails is counted (IGNIS_OFFCPU_FULL). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct offcpu_start_val);
} offcpu_start SEC(".maps");

/* The stamp of thread t (tid), created if create (its switch-out). */
static __always_inline struct offcpu_start_val *offcpu_stamp(struct task_struct *t, __u32 tid,
							     bool create)
{
	if (tid < offcpu_tid_slots)
		return bpf_map_lookup_elem(&offcpu_by_tid, &tid);
	/* A thread with no task-local storage at all has no stamp there. */
	if (!create && bpf_core_field_exists(t->bpf_storage) && !t->bpf_storage)
		return NULL;
	return bpf_task_storage_get(&offcpu_start, t, NULL,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

struct offcpu_pending_val {
	__u32 tid;
	__u32 pad;
	__u64 blocked_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct offcpu_pending_val);
} offcpu_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IGNIS_OFFCPU_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} offcpu_stats SEC(".maps");

static __always_inline void offcpu_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&offcpu_stats, &stat);

	if (v)
		*v += 1;
}

/* task_struct.state became __state in Linux 5.14 (2f064a59a11f). */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __u64 offcpu_task_state(struct task_struct *t)
{
	struct task_struct___pre514 *old = (void *)t;

	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return old->state;
}

/* The clock of this CPU's runqueue, which __schedule has just updated
 * (update_rq_clock, under the runqueue lock, before picking the next
 * thread): two loads from the switching thread (its se.cfs_rq is on this
 * CPU's runqueue for every class: set_task_rq), where bpf_ktime_get_ns is
 * a helper call and a clock-source read, on every switch that starts or
 * ends a blocking: about 55 ns a switch here, a third of the programs'
 * time (bench/offcpu). It counts sched_clock_cpu()'s nanoseconds: the same
 * clock on every CPU where the TSC is stable (within a tick of each other
 * otherwise); only differences are used. After a wake-up that set
 * need_resched, __schedule skips the update and the clock is the
 * wake-up's, a little earlier. Measured against bpf_ktime_get_ns on both
 * ends of 197,384 waits (sleeps, a pipe, the ping-pong, min 0): 16 differed
 * by more than 100 us, none by more than 10 ms. The runqueues per-CPU
 * variable itself is not in kallsyms without CONFIG_KALLSYMS_ALL; kernels
 * without CONFIG_FAIR_GROUP_SCHED (no se.cfs_rq) read bpf_ktime_get_ns. */
static __always_inline __u64 offcpu_now(struct task_struct *t, __u64 *now)
{
	if (!*now) {
		if (bpf_core_field_exists(t->se.cfs_rq))
			*now = t->se.cfs_rq->rq->clock;
		else
			*now = bpf_ktime_get_ns();
	}
	return *now;
}

/* The task pointers of tp_btf are typed: fields are plain loads (CO-RE
 * relocated), not bpf_probe_read_kernel calls, on a path that runs at
 * every context switch. */
static __always_inline void offcpu_switch_out(struct task_struct *prev, __u64 *now)
{
	__u32 tid = prev->pid, tgid;
	struct offcpu_start_val *v;
	__u64 state = offcpu_task_state(prev);

	/* Still runnable, or exiting for good: not waiting for anything. */
	if (state == TASK_RUNNING || (state & TASK_DEAD) || tid == 0)
		return;
	if (prev->flags & PF_KTHREAD) {
		offcpu_count(IGNIS_OFFCPU_KTHREAD);
		return;
	}
	tgid = prev->tgid;
	if (tgid == self_tgid) {
		offcpu_count(IGNIS_OFFCPU_SELF);
		return;
	}
	if (filter_pids && !bpf_map_lookup_elem(&target_pids, &tgid)) {
		offcpu_count(IGNIS_OFFCPU_FILTERED);
		return;
	}
	offcpu_count(IGNIS_OFFCPU_BLOCKED);
	if (offcpu_threshold != IGNIS_OFFCPU_PROB_ONE && bpf_get_prandom_u32() > offcpu_threshold) {
		offcpu_count(IGNIS_OFFCPU_UNSAMPLED);
		return;
	}
	v = offcpu_stamp(prev, tid, true);
	if (!v) {
		offcpu_count(IGNIS_OFFCPU_FULL);
		return;
	}
	/* A clock that cannot be read (0) would leave it untracked unseen. */
	v->start_ns = offcpu_now(prev, now);
	if (!v->start_ns)
		offcpu_count(IGNIS_OFFCPU_FULL);
}

static __always_inline void offcpu_switch_in(struct task_struct *next, __u64 *now)
{
	__u32 tid = next->pid, zero = 0;
	struct offcpu_pending_val *p;
	struct offcpu_start_val *v;
	__u64 ns;

	if (tid == 0)
		return;
	v = offcpu_stamp(next, tid, false);
	if (!v || !v->start_ns)
		return;
	ns = offcpu_now(next, now) > v->start_ns ? *now - v->start_ns : 0;
	v->start_ns = 0;
	offcpu_count(IGNIS_OFFCPU_WOKEN);
	if (ns < offcpu_min_ns) {
		offcpu_count(IGNIS_OFFCPU_SHORT);
		return;
	}
	p = bpf_map_lookup_elem(&offcpu_pending, &zero);
	if (!p)
		return;
	if (p->tid)
		offcpu_count(IGNIS_OFFCPU_MISSED);
	p->tid = tid;
	p->blocked_ns = ns;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(offcpu_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = 0;

	offcpu_switch_in(next, &now);
	if (!preempt)
		offcpu_switch_out(prev, &now);
	return 0;
}

/* Sends, as the thread that was switched in, a blocking of ns with the
 * stacks it blocked in: its kernel stack is still the one it blocked in
 * (__schedule and its callers), its user registers those saved at its
 * entry to the kernel. */
static __always_inline int offcpu_send(void *ctx, __u64 id, __u64 ns)
{
	__u32 slot = UNW_SLOT_OFFCPU, nk = 0, nu = 0;
	struct task_struct *task;
	struct ignis_sample *s;
	struct pt_regs *uregs;
	__u64 len;
	long n;

	s = bpf_map_lookup_elem(&scratch, &slot);
	if (!s)
		return 0;
	fill_header(s, id >> 32, (__u32)id);
	s->flags = IGNIS_SAMPLE_UNW_KERNEL | IGNIS_SAMPLE_IN_KERNEL;
	s->regs[IGNIS_REG_IP] = 0;
	s->regs[IGNIS_REG_SP] = 0;
	s->regs[IGNIS_REG_BP] = 0;
	s->regs[IGNIS_REG_LR] = 0;
	task = bpf_get_current_task_btf();
	uregs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (uregs) {
		s->regs[IGNIS_REG_IP] = BPF_CORE_READ(uregs, ip);
		s->regs[IGNIS_REG_SP] = BPF_CORE_READ(uregs, sp);
		s->regs[IGNIS_REG_BP] = BPF_CORE_READ(uregs, bp);
		s->flags |= IGNIS_SAMPLE_USER_REGS;
	}
	/* The whole kernel stack: the agent starts it at __schedule (the
	 * frames above it, this program's and the tracepoint's dispatch, vary
	 * with what else is attached there). */
	nk = kernel_stack(ctx, s);
	if (nk > IGNIS_MAX_FRAMES)
		nk = IGNIS_MAX_FRAMES;
	s->ustack_len = 0;
	if (s->flags & IGNIS_SAMPLE_USER_REGS) {
		if (walk_tables) {
			nu = unw_walk_user(s, nk, s->regs[IGNIS_REG_IP], s->regs[IGNIS_REG_SP],
					   s->regs[IGNIS_REG_BP], UNW_SLOT_OFFCPU);
		} else {
			n = bpf_get_stack(ctx, &s->frames[nk & IGNIS_MAX_FRAMES],
					  IGNIS_MAX_FRAMES * sizeof(__u64), BPF_F_USER_STACK);
			nu = n > 0 ? (__u32)n / sizeof(__u64) : 0;
		}
		if (nu > IGNIS_UNW_MAX_FRAMES)
			nu = IGNIS_UNW_MAX_FRAMES;
		s->ustack_len = nu;
	}
	s->type = IGNIS_EV_OFFCPU;
	((struct ignis_offcpu *)s)->blocked_ns = ns;
	len = IGNIS_SAMPLE_LEN((__u64)(nk + nu));
	/* The compiler knows the bound and would drop the check the
	 * verifier needs. */
	asm volatile("" : "+r"(len));
	if (len > sizeof(*s))
		return 0;
	if (bpf_ringbuf_output(&events, s, len, wakeup_flags())) {
		offcpu_count(IGNIS_OFFCPU_LOST);
		return 0;
	}
	offcpu_count(IGNIS_OFFCPU_SENT);
	return 0;
}

/* Runs as the thread that was switched in: sends its pending blocking. */
static __always_inline int offcpu_emit(void *ctx)
{
	struct offcpu_pending_val *p;
	__u32 tid, zero = 0;
	__u64 id, ns;

	/* Runs at the end of every __schedule: nothing else on the common
	 * path (nothing pending). */
	p = bpf_map_lookup_elem(&offcpu_pending, &zero);
	if (!p || !p->tid)
		return 0;
	id = bpf_get_current_pid_tgid();
	tid = (__u32)id;
	if (p->tid != tid) {
		/* Should not happen: on this CPU nothing switches between
		 * sched_switch and the end of that __schedule. Counted all the
		 * same. */
		offcpu_count(IGNIS_OFFCPU_MISSED);
		p->tid = 0;
		return 0;
	}
	ns = p->blocked_ns;
	p->tid = 0;
	return offcpu_send(ctx, id, ns);
}

/* The end of __schedule, as the thread that runs now (Linux 6.16, for the
 * runtime verification monitors). */
SEC("tp_btf/sched_exit_tp")
int BPF_PROG(offcpu_finish, bool is_switch)
{
	if (!is_switch)
		return 0;
	return offcpu_emit(ctx);
}

/* The one-program path: sched_exit_tp alone, no sched_switch program (a
 * tracepoint's dispatch and ~55 ns of body less a switch; bench/offcpu).
 * Back from __schedule as thread t, after a switch: since it was last back,
 * it ran (its se.sum_exec_runtime grew by that, the scheduler's own
 * accounting, brought up to date when it left), left once, and came back
 * now (its runqueue's clock, updated at this switch); so the wall time
 * between its two returns less the CPU time it used is how long it was
 * off the CPU. Its stamp keeps the difference clock - sum_exec_runtime
 * from its last return, and in bit 0 the parity of its voluntary switches
 * (nvcsw, counted when it leaves not runnable, as sched_switch's state
 * test does): it changed when the one switch since was a blocking, not a
 * preemption. A thread's first return (nvcsw + nivcsw is 1: a tid reused
 * finds another thread's stamp) is only stamped. The CPU time is
 * rq_clock_task's, which leaves out IRQ (CONFIG_IRQ_TIME_ACCOUNTING) and
 * steal time: those, during the run before a blocking, count as off the
 * CPU here. */
SEC("tp_btf/sched_exit_tp")
int BPF_PROG(offcpu_back, bool is_switch)
{
	struct offcpu_start_val *v;
	struct task_struct *t;
	__u64 now = 0, d, old, vol, ns;
	__u32 tid, tgid;

	if (!is_switch)
		return 0;
	t = bpf_get_current_task_btf();
	tid = t->pid;
	if (tid == 0 || (t->flags & PF_KTHREAD))
		return 0;
	tgid = t->tgid;
	if (tgid == self_tgid)
		return 0;
	if (filter_pids && !bpf_map_lookup_elem(&target_pids, &tgid))
		return 0;
	v = offcpu_stamp(t, tid, true);
	if (!v) {
		/* Whether it blocked is not known without it: counted as a
		 * blocking not tracked. */
		offcpu_count(IGNIS_OFFCPU_BLOCKED);
		offcpu_count(IGNIS_OFFCPU_FULL);
		return 0;
	}
	vol = t->nvcsw;
	d = ((offcpu_now(t, &now) - t->se.sum_exec_runtime) & ~1ull) | (vol & 1);
	old = v->start_ns;
	v->start_ns = d;
	if (!old || ((old ^ vol) & 1) == 0 || vol + t->nivcsw == 1)
		return 0;
	offcpu_count(IGNIS_OFFCPU_BLOCKED);
	if (offcpu_threshold != IGNIS_OFFCPU_PROB_ONE && bpf_get_prandom_u32() > offcpu_threshold) {
		offcpu_count(IGNIS_OFFCPU_UNSAMPLED);
		return 0;
	}
	offcpu_count(IGNIS_OFFCPU_WOKEN);
	ns = (__s64)((d & ~1ull) - (old & ~1ull)) > 0 ? (d & ~1ull) - (old & ~1ull) : 0;
	if (ns < offcpu_min_ns) {
		offcpu_count(IGNIS_OFFCPU_SHORT);
		return 0;
	}
	return offcpu_send(ctx, ((__u64)tgid << 32) | tid, ns);
}

#endif
