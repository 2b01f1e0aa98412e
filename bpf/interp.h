/* Interpreted frames in walked stacks, shared by the BPF walker
 * (bpf/python.bpf.h) and the agent (sampling/interp.c, sampling/python.c):
 * fixed-size types only.
 *
 * A process running an interpreter has one struct ignis_interp_proc in the
 * interp_procs map (the agent writes it when it finds the interpreter in
 * the process's mappings). When the native walk reaches the interpreter's
 * eval loop, the walker puts the interpreted frames that loop call runs in
 * place of its native frame. Each interpreted frame takes two words of the
 * user frames:
 *
 *   word 0: IGNIS_IFRAME_TAG | kind << 56 | (aux & 0xffffff) << 32 | offset
 *   word 1: the object the frame runs (a code object), or, for a marker,
 *           enum ignis_iframe_err
 *
 * A user address never has the top nibble set, so word 0 cannot be a pc.
 * For Python, offset is the byte offset of the instruction in the code's
 * bytecode (3.10: its f_lasti, in code units) and aux the code object's
 * co_firstlineno, which the agent checks against its cached copy of the
 * code object: a freed code object's address reused by another function
 * is read again, not named from the cache. */
#ifndef IGNIS_BPF_INTERP_H
#define IGNIS_BPF_INTERP_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define IGNIS_IFRAME_TAG  (0xFULL << 60)
#define IGNIS_IFRAME_IS(w) (((w) >> 60) == 0xF)
#define IGNIS_IFRAME_KIND(w) ((__u32)((w) >> 56) & 0xF)
#define IGNIS_IFRAME_AUX(w) ((__u32)((w) >> 32) & 0xFFFFFF)
#define IGNIS_IFRAME_OFFSET(w) ((__u32)(w))
#define IGNIS_IFRAME_WORD(kind, aux, off) \
	(IGNIS_IFRAME_TAG | ((__u64)(kind) << 56) | ((__u64)((aux) & 0xFFFFFF) << 32) | (__u32)(off))

/* What an interpreted frame holds (word 0's kind). */
enum ignis_iframe_kind {
	IGNIS_IFRAME_PYTHON = 1,   /* word 1: PyCodeObject * */
	IGNIS_IFRAME_MARKER = 15,  /* the interpreted part ends here: word 1 says why */
};

enum ignis_iframe_err {
	IGNIS_IFRAME_ERR_THREAD = 1,  /* the thread's interpreter state was not found */
	IGNIS_IFRAME_ERR_READ = 2,    /* a read of an interpreter frame or code object failed */
};

enum ignis_interp_kind {
	IGNIS_INTERP_PYTHON = 1,
};

/* Python: where the walker finds things, per minor version
 * (sampling/python.c has the table and where each number comes from).
 * IGNIS_PY_NONE for a field the version does not have. */
#define IGNIS_PY_NONE 0xFFFF
/* Bytes of an interpreter frame read at once: every field below lies in it. */
#define IGNIS_PY_FRAME_READ 128

struct ignis_py_offsets {
	__u16 runtime_interpreters_head;  /* _PyRuntimeState.interpreters.head */
	__u16 interp_threads_head;        /* PyInterpreterState.tstate_head / threads.head */
	__u16 tstate_next;                /* PyThreadState.next */
	__u16 tstate_thread_id;           /* PyThreadState.thread_id (pthread_self()) */
	__u16 tstate_frame;               /* .frame (<= 3.10), .cframe (3.11, 3.12),
					   * .current_frame (3.13) */
	__u16 cframe_current_frame;       /* _PyCFrame.current_frame (3.11, 3.12) */
	__u16 frame_code;                 /* f_code / f_executable */
	__u16 frame_previous;             /* f_back / previous */
	__u16 frame_instr;                /* f_lasti (int, <= 3.10) / prev_instr / instr_ptr */
	__u16 frame_entry;                /* is_entry (3.11) */
	__u16 frame_owner;                /* owner (3.12+: FRAME_OWNED_BY_CSTACK ends an eval call) */
	__u16 code_adaptive;              /* co_code_adaptive (3.11+): where instr pointers start */
	__u16 code_firstlineno;
	__u16 cframe_previous;            /* _PyCFrame.previous (3.11) */
};

struct ignis_interp_proc {
	__u32 kind;                 /* enum ignis_interp_kind */
	__u32 version;              /* major << 8 | minor */
	__u64 eval_start, eval_end; /* the eval loop function in the process */
	__u64 runtime;              /* &_PyRuntime in the process */
	struct ignis_py_offsets py;
};

#endif
