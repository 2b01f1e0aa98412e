/* The CPython part of the user-stack walker (bpf/unwind.bpf.h): when the
 * native walk reaches _PyEval_EvalFrameDefault, the Python frames that
 * call of the eval loop runs take the place of its native frame, so native
 * frames above (C extensions) and below (main, Py_RunMain) keep their
 * places. bpf/interp.h has the frame format.
 *
 * The thread's PyThreadState is found once per thread by walking the
 * interpreter's thread list for the entry whose thread_id
 * (pthread_self(), the thread's fs base on x86-64) is the sampled thread's,
 * and cached per thread id; a cached entry is checked with one read. This
 * works for every version from 3.8 and for threads that do not hold the
 * GIL, which the runtime's "current thread state" would miss.
 *
 * Which Python frames one eval call runs: up to 3.10 exactly one
 * (PyFrameObject). 3.11 runs several in one C call; the first it entered
 * has is_entry set. 3.12 and 3.13 push a frame owned by the C stack
 * (FRAME_OWNED_BY_CSTACK) below the frames of each call.
 *
 * An eval call that has been entered but has not linked its first frame
 * yet (or has unlinked its last) owns none of the frames the chain starts
 * with: they are its caller's. What tells: the object that marks a call's
 * frames lives in that call's C stack frame, between its stack pointer and
 * its CFA — 3.11's _PyCFrame (tstate->cframe), 3.12+'s entry frame. So the
 * walk first steps past the eval loop's native frame (learning its CFA),
 * then emits the Python frames in its place, and takes them back (leaving
 * the native frame) when the marker lies in another C frame. */
#ifndef IGNIS_PYTHON_BPF_H
#define IGNIS_PYTHON_BPF_H

#include "interp.h"

/* FRAME_OWNED_BY_CSTACK, Include/internal/pycore_frame.h (3.12, 3.13). */
#define PY_OWNED_BY_CSTACK 3
/* Threads of one interpreter looked at when searching for a thread state. */
#define PY_MAX_THREADS 512
/* A thread whose state was not found is searched again later: it may not
 * have made one yet (a process sampled while the interpreter starts, which
 * the agent may describe to the walker within milliseconds of its exec) or
 * may call into Python later. The wait doubles from PY_RETRY_FIRST_NS with
 * every search that finds none, up to PY_RETRY_NS: a thread that never runs
 * Python costs a search a second, and one sampled before its state existed
 * is found a few milliseconds after it does. */
#define PY_RETRY_FIRST_NS 4000000ULL
#define PY_RETRY_NS 1000000000ULL
#define PY_RETRY_DOUBLINGS 8  /* 4 ms << 8 = 1.024 s */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);  /* tgid */
	__type(value, struct ignis_interp_proc);
} interp_procs SEC(".maps");

/* Entries the agent has put in interp_procs (it counts one up before it
 * inserts and down after it deletes): while it is 0 no sample looks the
 * process up. */
volatile __u32 interp_nprocs = 0;

struct py_thread {
	__u64 tstate;   /* 0: not found at searched_ns */
	__u64 searched_ns;
	__u32 misses;   /* searches in a row that found none */
	__u32 pad;
};

/* An LRU map fills its free lists when it is made, at every start (16384
 * entries took 2.4-2.7 ms, 4096 0.5 ms); a thread evicted is searched for
 * again at its next sample. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);  /* tid */
	__type(value, struct py_thread);
} py_threads SEC(".maps");

struct py_buf {
	__u8 frame[IGNIS_PY_FRAME_READ];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct py_buf);
} py_buf SEC(".maps");

enum py_state {
	PY_OFF = 0,     /* not a Python process, or done with its frames */
	PY_READY,       /* frame is the next Python frame to emit */
	PY_PENDING,     /* stepped past an eval frame: its Python frames come next */
	PY_EMIT,        /* in an eval call's frames (3.11+: several per call) */
	PY_NOTHREAD,    /* Python process, thread state not found: one marker */
};

struct py_walk {
	__u64 eval_start, eval_end;
	__u64 frame;
	__u64 cframe;     /* 3.11: the _PyCFrame of the call whose frames come next */
	__u64 eval_pc;    /* the eval frame being replaced: its pc, sp and CFA */
	__u64 eval_sp, eval_cfa;
	__u64 seg_frame;  /* frame when its Python frames began */
	__u32 seg_n;      /* ... and the user words then */
	__u32 state;      /* enum py_state */
	__u32 native_done;  /* the native walk ended at the eval frame's step */
	__u32 pad;
};

/* What the frame step does after py_step. */
enum py_step_result {
	PY_NATIVE = 0,   /* nothing done: the native frame as usual, then a step */
	PY_STEP,         /* a step past the native frame, which is not emitted */
	PY_CONT,         /* done for this iteration: no step */
	PY_STOP,         /* the walk is over */
	PY_FULL,         /* no room for another frame */
};

static __always_inline __u64 py_rd64(const __u8 *buf, __u32 off)
{
	__u64 v = 0;

	off &= IGNIS_PY_FRAME_READ - 1;
	if (off > IGNIS_PY_FRAME_READ - 8)
		return 0;
	__builtin_memcpy(&v, buf + off, 8);
	return v;
}

static __always_inline __u8 py_rd8(const __u8 *buf, __u32 off)
{
	off &= IGNIS_PY_FRAME_READ - 1;
	return buf[off];
}

/* frames[idx], frames[idx + 1] = a, b. The bound is checked here, on a
 * value clang cannot fold into an earlier check (the verifier needs it at
 * the store). */
static __always_inline void py_put(struct ignis_sample *s, __u32 idx, __u64 a, __u64 b)
{
	__u64 *f;

	asm volatile("" : "+r"(idx));
	if (idx >= IGNIS_SAMPLE_FRAMES - 1)
		return;
	f = &s->frames[idx];
	f[0] = a;
	f[1] = b;
}

static __always_inline void py_put1(struct ignis_sample *s, __u32 idx, __u64 a)
{
	asm volatile("" : "+r"(idx));
	if (idx >= IGNIS_SAMPLE_FRAMES)
		return;
	s->frames[idx] = a;
}

struct py_search {
	__u64 ts;
	__u64 want;
	__u64 found;
	__u32 next_off, id_off;
};

static long py_search_step(__u32 i, void *ctx)
{
	struct py_search *ps = ctx;
	__u64 id;

	if (!ps->ts || bpf_probe_read_user(&id, sizeof(id), (void *)(ps->ts + ps->id_off)))
		return 1;
	if (id == ps->want) {
		ps->found = ps->ts;
		return 1;
	}
	if (bpf_probe_read_user(&ps->ts, sizeof(ps->ts), (void *)(ps->ts + ps->next_off)))
		return 1;
	return 0;
}

/* The thread's current Python frame into pw (state PY_READY), or
 * PY_NOTHREAD. */
static __always_inline void py_walk_start(struct py_walk *pw, __u32 tgid, __u32 tid)
{
	struct task_struct *task;
	struct ignis_interp_proc *ip;
	struct py_search ps = { 0 };
	struct py_thread *pt, npt = { 0 };
	__u64 id, interp, ts = 0, frame, now, wait;
	const struct ignis_py_offsets *o;

	pw->state = PY_OFF;
	if (!interp_nprocs)
		return;
	ip = bpf_map_lookup_elem(&interp_procs, &tgid);
	if (!ip || ip->kind != IGNIS_INTERP_PYTHON)
		return;
	task = bpf_get_current_task_btf();
	o = &ip->py;
	pw->eval_start = ip->eval_start;
	pw->eval_end = ip->eval_end;
	pw->state = PY_NOTHREAD;
	ps.want = BPF_CORE_READ(task, thread.fsbase);
	pt = bpf_map_lookup_elem(&py_threads, &tid);
	if (pt && pt->tstate &&
	    bpf_probe_read_user(&id, sizeof(id), (void *)(pt->tstate + o->tstate_thread_id)) == 0 &&
	    id == ps.want) {
		ts = pt->tstate;
	} else {
		now = bpf_ktime_get_ns();
		if (pt && !pt->tstate) {
			wait = pt->misses >= PY_RETRY_DOUBLINGS ? PY_RETRY_NS :
				PY_RETRY_FIRST_NS << pt->misses;
			if (now - pt->searched_ns < wait)
				return;
			npt.misses = pt->misses + 1;
		}
		if (bpf_probe_read_user(&interp, sizeof(interp),
					(void *)(ip->runtime + o->runtime_interpreters_head)) ||
		    !interp ||
		    bpf_probe_read_user(&ps.ts, sizeof(ps.ts), (void *)(interp + o->interp_threads_head)))
			return;
		ps.next_off = o->tstate_next;
		ps.id_off = o->tstate_thread_id;
		bpf_loop(PY_MAX_THREADS, py_search_step, &ps, 0);
		ts = ps.found;
		npt.tstate = ts;
		npt.searched_ns = now;
		bpf_map_update_elem(&py_threads, &tid, &npt, BPF_ANY);
		if (!ts)
			return;
	}
	if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(ts + o->tstate_frame)))
		return;
	if (o->cframe_current_frame != IGNIS_PY_NONE) {
		if (o->frame_entry != IGNIS_PY_NONE)
			pw->cframe = frame;  /* 3.11 */
		if (!frame || bpf_probe_read_user(&frame, sizeof(frame),
						  (void *)(frame + o->cframe_current_frame)))
			return;
	}
	pw->frame = frame;
	pw->state = PY_READY;
}

/* The end of an eval call's Python frames: the walk goes on natively
 * (the step past the eval frame is done), or ends if that step ended it. */
static __always_inline int py_seg_end(struct py_walk *pw)
{
	pw->state = PY_READY;
	return pw->native_done ? PY_STOP : PY_CONT;
}

/* No Python frame of this eval call after all: its native frame stays. */
static __always_inline int py_keep_native(struct py_walk *pw, struct ignis_sample *s, __u32 base,
					  __u32 *n)
{
	*n = pw->seg_n;
	pw->frame = pw->seg_frame;
	if (pw->seg_n >= IGNIS_UNW_MAX_FRAMES)
		return PY_FULL;
	py_put1(s, base + pw->seg_n, pw->eval_pc);
	*n += 1;
	return py_seg_end(pw);
}

/* One iteration of the walk of a Python process, at native pc and sp with
 * *n user words so far, frames[idx] the next free one. */
static __always_inline int py_step(struct py_walk *pw, __u64 pc, __u64 sp,
				   struct ignis_sample *s, __u32 base, __u32 *n)
{
	struct ignis_interp_proc *ip;
	const struct ignis_py_offsets *o;
	struct py_buf *b;
	__u32 zero = 0, tgid = s->tgid, off, firstline = 0, err = 0, idx = base + *n;
	__u64 code, instr, prev, at;

	switch (pw->state) {
	case PY_READY:
		if (pc < pw->eval_start || pc >= pw->eval_end)
			return PY_NATIVE;
		pw->eval_pc = pc;
		pw->eval_sp = sp;
		pw->seg_frame = pw->frame;
		pw->seg_n = *n;
		pw->state = PY_PENDING;
		return PY_STEP;
	case PY_NOTHREAD:
		if (pc < pw->eval_start || pc >= pw->eval_end)
			return PY_NATIVE;
		if (idx + 1 >= IGNIS_SAMPLE_FRAMES || *n + 2 > IGNIS_UNW_MAX_FRAMES)
			return PY_FULL;
		py_put(s, idx, IGNIS_IFRAME_WORD(IGNIS_IFRAME_MARKER, 0, 0), IGNIS_IFRAME_ERR_THREAD);
		*n += 2;
		pw->state = PY_OFF;
		return PY_STEP;
	case PY_PENDING:
		pw->eval_cfa = sp;
		pw->state = PY_EMIT;
		break;
	case PY_EMIT:
		break;
	default:
		return PY_NATIVE;
	}
	if (idx + 1 >= IGNIS_SAMPLE_FRAMES || *n + 2 > IGNIS_UNW_MAX_FRAMES)
		return PY_FULL;
	ip = bpf_map_lookup_elem(&interp_procs, &tgid);
	b = bpf_map_lookup_elem(&py_buf, &zero);
	if (!ip || !b)
		return py_keep_native(pw, s, base, n);
	o = &ip->py;
	/* 3.11: this call's _PyCFrame is not in its C frame: not linked yet. */
	if (*n == pw->seg_n && o->frame_entry != IGNIS_PY_NONE &&
	    (pw->cframe < pw->eval_sp || pw->cframe >= pw->eval_cfa))
		return py_keep_native(pw, s, base, n);
	if (!pw->frame)
		return py_keep_native(pw, s, base, n);  /* more eval calls than frames */
	err = IGNIS_IFRAME_ERR_READ;
	if (bpf_probe_read_user(b->frame, sizeof(b->frame), (void *)pw->frame))
		goto marker;
	code = py_rd64(b->frame, o->frame_code);
	prev = py_rd64(b->frame, o->frame_previous);
	if (o->frame_owner != IGNIS_PY_NONE && o->frame_entry == IGNIS_PY_NONE &&
	    py_rd8(b->frame, o->frame_owner) == PY_OWNED_BY_CSTACK) {
		/* 3.12+: the entry frame below this eval call's frames, on
		 * its C stack; elsewhere, the frames were its caller's. */
		at = pw->frame;
		if (at < pw->eval_sp || at >= pw->eval_cfa || *n == pw->seg_n)
			return py_keep_native(pw, s, base, n);
		pw->frame = prev;
		return py_seg_end(pw);
	}
	if (!code || bpf_probe_read_user(&firstline, sizeof(firstline),
					 (void *)(code + o->code_firstlineno)))
		goto marker;
	instr = py_rd64(b->frame, o->frame_instr);
	if (o->code_adaptive != IGNIS_PY_NONE)
		off = instr > code + o->code_adaptive ? (__u32)(instr - code - o->code_adaptive) : 0;
	else
		off = (__s32)instr < 0 ? 0 : (__u32)instr;  /* f_lasti, an int */
	py_put(s, idx, IGNIS_IFRAME_WORD(IGNIS_IFRAME_PYTHON, firstline, off), code);
	*n += 2;
	pw->frame = prev;
	if (o->frame_owner == IGNIS_PY_NONE)
		return py_seg_end(pw);  /* <= 3.10: one frame per call */
	if (o->frame_entry != IGNIS_PY_NONE && py_rd8(b->frame, o->frame_entry)) {
		/* 3.11: the call's first frame; the next call's _PyCFrame */
		if (bpf_probe_read_user(&pw->cframe, sizeof(pw->cframe),
					(void *)(pw->cframe + o->cframe_previous)))
			pw->cframe = 0;
		return py_seg_end(pw);
	}
	if (!prev)
		return py_seg_end(pw);
	return PY_CONT;

marker:
	py_put(s, idx, IGNIS_IFRAME_WORD(IGNIS_IFRAME_MARKER, 0, 0), err);
	*n += 2;
	pw->state = PY_OFF;
	return pw->native_done ? PY_STOP : PY_CONT;
}

#endif
