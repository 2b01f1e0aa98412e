/* The user-stack walker of bpf/sampler.bpf.c: unwinds from the unwind
 * tables the agent keeps in four maps (bpf/unwind.h, unwinder/unwstore.c),
 * one frame per bpf_loop iteration, and falls back to frame pointers where
 * a mapping has no table. Only the words it needs are read from the user
 * stack: the return address, and the saved frame pointer when a rule says
 * where it is. x86-64 only (the register set of the rules). */
#ifndef IGNIS_UNWIND_BPF_H
#define IGNIS_UNWIND_BPF_H

#include "unwind.h"
#include "sampler.h"
#include "python.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 16);  /* set at load time */
	__type(key, __u32);
	__type(value, struct ignis_unw_rule);
} unw_rules SEC(".maps");

/* Mmapable: the agent writes a table's run with memcpy through a mapping
 * of just those pages (an update per row costs a copy_from_user each). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);  /* set at load time from the byte budget */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ignis_unw_row);
} unw_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);  /* set at load time */
	__type(key, __u32);
	__type(value, struct ignis_unw_table);
} unw_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);  /* set at load time */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ignis_unw_map_key);
	__type(value, struct ignis_unw_mapping);
} unw_mappings SEC(".maps");

/* The per-CPU state a walk writes (its scratch record, stack window and
 * caches) has one slot per program kind: the perf_event program can
 * interrupt the off-CPU one on its CPU (never itself), and sharing a slot
 * would let it overwrite a record or a cache entry half-way. */
enum { UNW_SLOT_SAMPLE = 0, UNW_SLOT_OFFCPU = 1, UNW_SLOTS };

/* Where the sample is built before it goes to the ring buffer with only
 * the frames it has. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNW_SLOTS);
	__type(key, __u32);
	__type(value, struct ignis_sample);
} scratch SEC(".maps");

/* Bumped by the agent after every change to unw_tables (and to
 * unw_mappings when it keeps no unw_pid_gen): per-CPU cache entries of an
 * older generation are not used. */
volatile __u64 unw_generation = 0;
/* Bumped by the agent after every change to a process's entries in
 * unw_mappings, at pid % IGNIS_UNW_PID_GENS: the cache entries of that
 * process (and of the pids that share the counter) of an older one are not
 * used. A machine that starts processes all the time then does not empty
 * every process's cache entries with each one. */
volatile __u64 unw_pid_gen[IGNIS_UNW_PID_GENS];

static __always_inline __u64 unw_pid_generation(__u32 pid)
{
	return unw_pid_gen[pid & (IGNIS_UNW_PID_GENS - 1)];
}

/* The mappings and tables the last walks on this CPU used: an LPM lookup
 * walks a trie node per prefix bit (1.5-2 µs on a 2-CPU VM, bench/README.md),
 * a cache hit is a few compares, and consecutive samples on a CPU are
 * mostly of the same processes. Set-associative: a (pid, 1 MiB region of
 * the address) picks a set of UNW_CACHE_WAYS slots, so that other
 * processes' samples on this CPU do not push a busy process's mappings
 * out; a mapping may sit in several sets (one per region it was found
 * from). */
#define UNW_CACHE_SETS 16
#define UNW_CACHE_WAYS 4
struct unw_cache_slot {
	__u64 gen;       /* unw_generation when filled */
	__u64 pgen;      /* unw_pid_gen of pid when filled */
	__u64 start, end, bias;
	__u32 pid, kind, first, nrows, has_table, pad;
};

struct unw_cache_set {
	__u32 next;
	__u32 pad;
	struct unw_cache_slot s[UNW_CACHE_WAYS];
};

struct unw_cache {
	struct unw_cache_set set[UNW_CACHE_SETS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNW_SLOTS);
	__type(key, __u32);
	__type(value, struct unw_cache);
} unw_cache SEC(".maps");

/* The rule the last walks on this CPU found for a (process, pc), with the
 * range of addresses its row covers: most return addresses of a busy
 * thread's stack are the same from one sample to the next, and the
 * interrupted pc of a hot loop falls in the same row; a hit spares the
 * binary search and the rule lookup. Two ways per set, the set from
 * (pid, pc / 64); a miss replaces another process's entry before one of
 * the walk's own, so the other processes sampled on this CPU push a busy
 * process's entries out less. Entries of an older generation are not
 * used. One 64-byte slot each. */
#define UNW_PC_CACHE_SETS 128
#define UNW_PC_CACHE_SLOTS (2 * UNW_PC_CACHE_SETS)
struct unw_pc_slot {
	__u64 gen;
	__u64 pgen;
	__u64 start;     /* the row's first address in the process */
	__u32 len;       /* [start, start + len) is the row's (within the mapping) */
	__u32 pid;
	struct ignis_unw_rule rule;
	__u64 pad[2];
};
_Static_assert(sizeof(struct unw_pc_slot) == 64, "a pc cache slot is one cache line");

struct unw_pc_cache {
	struct unw_pc_slot s[UNW_PC_CACHE_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNW_SLOTS);
	__type(key, __u32);
	__type(value, struct unw_pc_cache);
} unw_pc_cache SEC(".maps");

/* The user stack is read in windows: one bpf_probe_read_user of up to
 * UNW_WIN_BYTES from the first word a step needs, and the next steps' reads
 * are served from it while they fall inside. On this 2-CPU VM a read
 * costs about 170 ns plus a fraction of a ns a byte (bench/README.md), so
 * fewer, longer reads win: a window may run into the next page, which a
 * stack's frames above this one have touched, but not past the main thread's initial
 * stack (argc and argv sit just above mm->start_stack; above them exec
 * leaves a gap that may never have been touched). A read that fails all
 * the same (a page above not present) is retried up to the end of its
 * page, which is mapped, and a read the window cannot serve reads the word
 * alone, as before. One window per program kind (UNW_SLOT_*, above). A
 * walk uses its window only after it filled it (w->win_ok). 2 KiB: the
 * 26-frame stacks of bench/machine --depth 22 took 1.6-2 reads of 1 KiB,
 * and their BPF time fell 0.16 µs with one of 2 KiB; 9-frame ones cost no
 * more (bench/README.md, 2026-12-05). */
#define UNW_WIN_BYTES 2048
#define UNW_PAGE 4096
struct unw_win {
	__u64 base;  /* the user address of buf[0] */
	__u64 len;   /* bytes of buf read from there */
	__u8 buf[UNW_WIN_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNW_SLOTS);
	__type(key, __u32);
	__type(value, struct unw_win);
} unw_win SEC(".maps");

/* A frame pointer further than this above the stack pointer is not one. */
#define UNW_MAX_FRAME_BYTES (8u << 20)
/* x86-64 user addresses end below 2^47 (2^56 with 5-level paging). */
#define UNW_USER_LIMIT (1ULL << 56)

/* The signal frame: the kernel's x86-64 struct rt_sigframe holds a
 * ucontext whose uc_mcontext (struct sigcontext_64,
 * arch/x86/include/uapi/asm/sigcontext.h; user ABI, never moves) has the
 * interrupted registers. The table compiler gives the offsets in the rule;
 * this checks that the one it does not (sp) agrees with the kernel's. */
_Static_assert(__builtin_offsetof(struct ucontext, uc_mcontext) +
	       __builtin_offsetof(struct sigcontext_64, sp) == IGNIS_UC_SP, "x86-64 ucontext layout");

/* A mapping [start, end) and its table: t_ok 1 found, 0 not in unw_tables. */
struct unw_map_ref {
	__u64 start, end, bias;
	__u32 kind;
	__u32 t_first, t_nrows, t_ok;
};

struct unw_walk {
	__u64 pc, sp, fp;
	/* the mapping of the last lookup, and the one before it (a stack
	 * goes back and forth between a program and its libraries) */
	struct unw_map_ref m, m_prev;
	__u32 tgid;
	__u32 base;      /* index in frames[] of the first user frame */
	__u32 n;         /* user frames emitted */
	__u32 flags;     /* IGNIS_SAMPLE_UNW_* */
	__u32 miss;      /* enum ignis_unw_miss of the first frame-pointer step */
	__u32 fp_frames;
	__u64 miss_pc;
	__u64 gen;       /* unw_generation at the start of the walk */
	__u64 pgen;      /* unw_pid_gen of tgid then */
	__u8 fp_valid;   /* fp holds the frame's frame pointer */
	__u8 exact;      /* pc is where the thread was, not a return address */
	__u8 done;
	__u8 win_ok;     /* this walk filled its window: win's contents are its */
	__u64 stack_top; /* a window does not run past it when it starts below (0: none) */
	__u32 prog_slot; /* UNW_SLOT_*: the program kind's per-CPU state */
	struct py_walk py;  /* interpreted frames in place of the eval loop's */
};

/* Fills the window from addr (see UNW_WIN_BYTES): 0, or nonzero when not
 * even size bytes could be read there. */
static __always_inline int unw_win_fill(struct unw_walk *w, struct unw_win *win, __u32 size,
					__u64 addr)
{
	__u64 len = UNW_WIN_BYTES, page = UNW_PAGE - (addr & (UNW_PAGE - 1));

	if (w->stack_top && addr < w->stack_top && w->stack_top - addr < len)
		len = w->stack_top - addr;
	if (len < size)
		len = page;
	/* a bound the verifier sees on the register it passes */
	asm volatile("" : "+r"(len));
	if (len > UNW_WIN_BYTES)
		len = UNW_WIN_BYTES;
	if (len >= size && bpf_probe_read_user(win->buf, len, (const void *)addr) == 0)
		goto ok;
	if (page >= len)
		return 1;  /* the read was within the page already */
	len = page;
	asm volatile("" : "+r"(len));
	if (len > UNW_WIN_BYTES)
		len = UNW_WIN_BYTES;
	if (len < size || bpf_probe_read_user(win->buf, len, (const void *)addr))
		return 1;
ok:
	win->base = addr;
	win->len = len;
	w->win_ok = 1;
	return 0;
}

/* size bytes (a constant, at most 16) of user memory at addr into dst,
 * through the walk's window (see UNW_WIN_BYTES): 0, or nonzero when the
 * memory cannot be read. */
static __always_inline int unw_read_inline(struct unw_walk *w, void *dst, __u32 size, __u64 addr)
{
	struct unw_win *win = bpf_map_lookup_elem(&unw_win, &w->prog_slot);
	__u64 off;
	int e;

	if (!win)
		return bpf_probe_read_user(dst, size, (const void *)addr);
	off = addr - win->base;
	if (!w->win_ok || addr < win->base || off + size > win->len) {
		w->win_ok = 0;
		e = unw_win_fill(w, win, size, addr);
		if (e)
			return bpf_probe_read_user(dst, size, (const void *)addr);
		off = 0;
	}
	/* Checked above; again where the verifier sees the bound. */
	asm volatile("" : "+r"(off));
	if (off > UNW_WIN_BYTES - size)
		return bpf_probe_read_user(dst, size, (const void *)addr);
	__builtin_memcpy(dst, win->buf + off, size);
	return 0;
}

/* Two words, or one (v[0]). */
struct unw_pair {
	__u64 v[2];
};

/* A read the walk's window does not hold: fills the window from addr, or
 * reads the words alone (unw_read_inline). A global function, checked
 * once by the verifier rather than once per read in the frame step: the
 * window's branches inlined eight times were two thirds of the sampling
 * program's verification (bench/README.md, 2026-12-05). */
__noinline int unw_read_slow(struct unw_walk *w, struct unw_pair *dst, __u64 addr, __u32 two)
{
	if (!w || !dst)
		return 1;
	if (two)
		return unw_read_inline(w, dst, 16, addr);
	return unw_read_inline(w, dst, 8, addr);
}

/* size bytes (8 or 16) at addr from the walk's window when it holds them:
 * 0, or 1 when it does not. */
static __always_inline int unw_read_win(struct unw_walk *w, void *dst, __u32 size, __u64 addr)
{
	struct unw_win *win;
	__u64 off;

	if (!w->win_ok)
		return 1;
	win = bpf_map_lookup_elem(&unw_win, &w->prog_slot);
	if (!win || addr < win->base)
		return 1;
	off = addr - win->base;
	if (off + size > win->len)
		return 1;
	/* Checked; again where the verifier sees the bound. */
	asm volatile("" : "+r"(off));
	if (off > UNW_WIN_BYTES - size)
		return 1;
	__builtin_memcpy(dst, win->buf + off, size);
	return 0;
}

static __always_inline int unw_read2(struct unw_walk *w, struct unw_pair *dst, __u64 addr)
{
	if (!unw_read_win(w, dst, sizeof(*dst), addr))
		return 0;
	return unw_read_slow(w, dst, addr, 1);
}

static __always_inline int unw_read(struct unw_walk *w, __u64 *dst, __u64 addr)
{
	struct unw_pair p;

	if (!unw_read_win(w, dst, sizeof(*dst), addr))
		return 0;
	if (unw_read_slow(w, &p, addr, 0))
		return 1;
	*dst = p.v[0];
	return 0;
}

/* One frame-pointer step: [fp] is the caller's fp, [fp + 8] the return
 * address, and the caller's sp is fp + 16. Only when fp looks like one:
 * above sp, aligned, within a stack's reach. Returns 0 to go on. */
__noinline int unw_fp_step(struct unw_walk *w, __u32 miss)
{
	struct unw_pair pair;
	__u64 ra, next_fp;

	if (!w)
		return 1;
	if (!(w->flags & IGNIS_SAMPLE_UNW_FP)) {
		w->flags |= IGNIS_SAMPLE_UNW_FP;
		w->miss = miss;
		w->miss_pc = w->pc;
	}
	if (!w->fp_valid || w->fp < w->sp || (w->fp & 7) || w->fp - w->sp > UNW_MAX_FRAME_BYTES)
		return 1;  /* the chain ends (or never began): nothing more to trust */
	if (unw_read2(w, &pair, w->fp)) {
		w->flags |= IGNIS_SAMPLE_UNW_READ_FAIL;
		return 1;
	}
	next_fp = pair.v[0];
	ra = pair.v[1];
	if (ra == 0 || ra >= UNW_USER_LIMIT)
		return 1;
	w->fp_frames++;
	w->sp = w->fp + 16;
	w->fp = next_fp;
	w->pc = ra;
	w->exact = 0;
	/* A chain must climb; one that does not is data, not frames. */
	w->fp_valid = next_fp > w->sp - 16;
	return 0;
}

/* The row covering tpc in the current table: the last one whose pc is not
 * above it. Its rule into *rule, its pc into *start and the first pc past
 * it into *end (the next row's; the table's last row, CFA_INVALID, covers
 * tpc alone). 0, or 1 when no row covers tpc. */
static __always_inline int unw_find_row(struct unw_walk *w, __u32 tpc, __u32 *rule, __u32 *start,
					__u32 *end)
{
	__u32 lo = w->m.t_first, hi = w->m.t_first + w->m.t_nrows, mid, key;
	struct ignis_unw_row *r;

	key = lo;
	r = bpf_map_lookup_elem(&unw_rows, &key);
	if (!r || r->pc > tpc)
		return 1;
	for (int i = 0; i < IGNIS_UNW_SEARCH_STEPS; i++) {
		if (hi - lo <= 1)
			break;
		mid = lo + (hi - lo) / 2;
		r = bpf_map_lookup_elem(&unw_rows, &mid);
		if (!r)
			return 1;
		if (r->pc <= tpc)
			lo = mid;
		else
			hi = mid;
	}
	if (hi - lo > 1)
		return 1;  /* a table longer than the search bound: refused */
	r = bpf_map_lookup_elem(&unw_rows, &lo);
	if (!r)
		return 1;
	*rule = r->rule;
	*start = r->pc;
	*end = tpc + 1;
	key = lo + 1;
	if (key < w->m.t_first + w->m.t_nrows) {
		r = bpf_map_lookup_elem(&unw_rows, &key);
		if (r && r->pc > tpc)
			*end = r->pc;
	}
	return 0;
}

/* The mapping of w->pc and its table, from this CPU's cache or the maps.
 * 0, or 1 when no mapping covers the pc. A global function: the verifier
 * checks it once, not once per path of the frame step that calls it. */
__noinline int unw_find_mapping(struct unw_walk *w)
{
	struct ignis_unw_map_key key;
	struct ignis_unw_mapping *m;
	struct ignis_unw_table *t;
	struct unw_cache_slot *c;
	struct unw_cache_set *cs = NULL;
	struct unw_cache *cache;
	__u32 i, slot;
	__u64 gen, pgen;

	if (!w)
		return 1;
	/* the generations at the start of the walk: a change since then
	 * shows in the next walk */
	gen = w->gen;
	pgen = w->pgen;
	cache = bpf_map_lookup_elem(&unw_cache, &w->prog_slot);
	if (cache) {
		i = (w->tgid ^ (__u32)(w->pc >> 20) ^ (__u32)(w->pc >> 24)) & (UNW_CACHE_SETS - 1);
		cs = &cache->set[i];
		for (i = 0; i < UNW_CACHE_WAYS; i++) {
			slot = i;
			/* keep the mask: clang would drop it, the verifier needs it */
			asm volatile("" : "+r"(slot));
			c = &cs->s[slot & (UNW_CACHE_WAYS - 1)];
			if (c->gen == gen && c->pgen == pgen && c->pid == w->tgid &&
			    w->pc >= c->start && w->pc < c->end) {
				w->m.start = c->start;
				w->m.end = c->end;
				w->m.bias = c->bias;
				w->m.kind = c->kind;
				w->m.t_ok = c->has_table;
				w->m.t_first = c->first;
				w->m.t_nrows = c->nrows;
				return 0;
			}
		}
	}
	key.prefixlen = 32 + 64;
	key.pid_be = __builtin_bswap32(w->tgid);
	key.addr_be = __builtin_bswap64(w->pc);
	m = bpf_map_lookup_elem(&unw_mappings, &key);
	if (!m) {
		w->m.start = w->m.end = 0;
		return 1;
	}
	w->m.start = m->start;
	w->m.end = m->end;
	w->m.bias = m->bias;
	w->m.kind = m->kind;
	w->m.t_ok = 0;
	if (m->kind == IGNIS_MAP_TABLE) {
		i = m->table_id;
		t = bpf_map_lookup_elem(&unw_tables, &i);
		if (t) {
			w->m.t_ok = 1;
			w->m.t_first = t->first;
			w->m.t_nrows = t->nrows;
		}
	}
	if (!cs)
		return 0;
	slot = cs->next & (UNW_CACHE_WAYS - 1);
	cs->next = slot + 1;
	c = &cs->s[slot];
	c->start = w->m.start;
	c->end = w->m.end;
	c->bias = w->m.bias;
	c->kind = w->m.kind;
	c->has_table = w->m.t_ok;
	c->first = w->m.t_first;
	c->nrows = w->m.t_nrows;
	c->pid = w->tgid;
	c->gen = gen;
	c->pgen = pgen;
	return 0;
}

/* A pc cache entry of this walk's process and generations. */
static __always_inline int unw_pc_slot_ours(struct unw_walk *w, struct unw_pc_slot *c)
{
	return c->pid == w->tgid && c->gen == w->gen && c->pgen == w->pgen;
}

static __always_inline int unw_pc_slot_hit(struct unw_walk *w, struct unw_pc_slot *c, __u64 pc)
{
	return pc - c->start < c->len && unw_pc_slot_ours(w, c);
}

#define unw_swap(a, b) do { __typeof__(a) __t = (a); (a) = (b); (b) = __t; } while (0)

/* What unw_rule_of found. */
enum { UNW_RULE_OK = 0, UNW_RULE_NO_ROW = 1, UNW_RULE_LOST = 2 };

/* The rule for w->pc in the walk's current table into *out: from this
 * CPU's pc cache, else by a binary search of the table's rows (and the
 * cache filled). UNW_RULE_NO_ROW when no row covers the pc, UNW_RULE_LOST
 * when the row's rule is not in unw_rules. Inlined: as a global function
 * it took the verifier no less time (bench/README.md, 2026-12-05) and
 * would add a call at every frame. */
static __always_inline int unw_rule_of(struct unw_walk *w, struct ignis_unw_rule *out)
{
	struct ignis_unw_rule *rule;
	struct unw_pc_slot *pc_slot = NULL;
	struct unw_pc_cache *pcc;
	__u64 lookup_pc, tpc, start, end;
	__u32 ri, slot, row_start, row_end;

	/* A return address may be one past its function's last byte (a call
	 * to a noreturn function): look up the call instead. */
	lookup_pc = w->exact ? w->pc : w->pc - 1;
	slot = 2 * ((__u32)((lookup_pc >> 6) ^ (lookup_pc >> 13) ^ w->tgid) & (UNW_PC_CACHE_SETS - 1));
	pcc = bpf_map_lookup_elem(&unw_pc_cache, &w->prog_slot);
	if (pcc) {
		pc_slot = &pcc->s[slot];
		/* The other way when it holds the pc, or when this one holds
		 * another pc of this process: a miss replaces another
		 * process's entry before one of this process. */
		if (!unw_pc_slot_hit(w, pc_slot, lookup_pc) &&
		    (unw_pc_slot_ours(w, pc_slot) || unw_pc_slot_hit(w, &pcc->s[slot + 1], lookup_pc)))
			pc_slot = &pcc->s[slot + 1];
	}
	if (pc_slot && unw_pc_slot_hit(w, pc_slot, lookup_pc)) {
		*out = pc_slot->rule;
		return UNW_RULE_OK;
	}
	tpc = lookup_pc - w->m.bias;
	if (tpc > 0xffffffffULL)
		return UNW_RULE_NO_ROW;
	if (unw_find_row(w, (__u32)tpc, &ri, &row_start, &row_end))
		return UNW_RULE_NO_ROW;
	rule = bpf_map_lookup_elem(&unw_rules, &ri);
	if (!rule)
		return UNW_RULE_LOST;
	*out = *rule;
	if (pc_slot) {
		/* the row's addresses in this process, within the mapping:
		 * another mapping's addresses are another table's */
		start = w->m.bias + row_start;
		end = w->m.bias + row_end;
		if (start < w->m.start)
			start = w->m.start;
		if (end > w->m.end)
			end = w->m.end;
		pc_slot->start = start;
		pc_slot->len = end > start ? (__u32)(end - start) : 0;
		pc_slot->pid = w->tgid;
		pc_slot->rule = *rule;
		pc_slot->gen = w->gen;
		pc_slot->pgen = w->pgen;
	}
	return UNW_RULE_OK;
}

/* Unwinds one frame: 0 to go on, 1 when the walk is over (w->flags say
 * how). A global function, like unw_find_mapping: the verifier checks it
 * once, with every field of *w unknown, rather than once per state of the
 * bpf_loop callback that calls it (that cost ~0.5 s of verifier time per
 * load, bench/verifier_driver). */
__noinline int unw_step(struct unw_walk *w)
{
	struct ignis_unw_rule r, *rule = &r;
	__u64 cfa, ra, fp;
	int e;

	if (!w)
		return 1;
	if (w->pc < w->m.start || w->pc >= w->m.end) {
		if (w->pc >= w->m_prev.start && w->pc < w->m_prev.end) {
			/* field by field: a struct temporary would take stack */
			unw_swap(w->m.start, w->m_prev.start);
			unw_swap(w->m.end, w->m_prev.end);
			unw_swap(w->m.bias, w->m_prev.bias);
			unw_swap(w->m.kind, w->m_prev.kind);
			unw_swap(w->m.t_first, w->m_prev.t_first);
			unw_swap(w->m.t_nrows, w->m_prev.t_nrows);
			unw_swap(w->m.t_ok, w->m_prev.t_ok);
		} else {
			w->m_prev = w->m;
			if (unw_find_mapping(w))
				return unw_fp_step(w, IGNIS_UNW_MISS_NO_MAPPING);
		}
	}
	if (w->m.kind == IGNIS_MAP_PENDING)
		return unw_fp_step(w, IGNIS_UNW_MISS_PENDING);
	if (w->m.kind != IGNIS_MAP_TABLE)
		return unw_fp_step(w, IGNIS_UNW_MISS_NO_TABLE);
	if (!w->m.t_ok)
		return unw_fp_step(w, IGNIS_UNW_MISS_EVICTED);
	e = unw_rule_of(w, &r);
	if (e == UNW_RULE_NO_ROW)
		return unw_fp_step(w, IGNIS_UNW_MISS_NO_ROW);
	if (e) {
		w->flags |= IGNIS_SAMPLE_UNW_UNEXPRESSIBLE;
		return 1;
	}

	switch (rule->cfa_base) {
	case IGNIS_CFA_SP:
		cfa = w->sp + rule->cfa_off;
		break;
	case IGNIS_CFA_FP:
		if (!w->fp_valid) {
			w->flags |= IGNIS_SAMPLE_UNW_UNEXPRESSIBLE;
			return 1;
		}
		cfa = w->fp + rule->cfa_off;
		break;
	case IGNIS_CFA_PLT:
		cfa = w->sp + rule->cfa_off + ((w->pc & 15) >= rule->plt_min ? 8 : 0);
		break;
	case IGNIS_CFA_SIGNAL:
		/* U, the ucontext: the interrupted pc at U + ra_off, sp at
		 * U + IGNIS_UC_SP, fp at U + fp_off (bpf/unwind.h). */
		cfa = w->sp + rule->cfa_off;
		if (unw_read(w, &ra, cfa + rule->ra_off) || unw_read(w, &w->sp, cfa + IGNIS_UC_SP)) {
			w->flags |= IGNIS_SAMPLE_UNW_READ_FAIL;
			return 1;
		}
		if (rule->fp_rule == IGNIS_FP_AT_CFA) {
			if (unw_read(w, &w->fp, cfa + rule->fp_off)) {
				w->flags |= IGNIS_SAMPLE_UNW_READ_FAIL;
				return 1;
			}
			w->fp_valid = 1;
		} else if (rule->fp_rule != IGNIS_FP_SAME) {
			w->fp_valid = 0;
		}
		if (ra == 0 || ra >= UNW_USER_LIMIT)
			return 1;
		w->pc = ra;
		w->exact = 1;  /* the interrupted instruction itself */
		return 0;
	case IGNIS_CFA_END:
		w->flags |= IGNIS_SAMPLE_UNW_END;
		return 1;
	default:
		w->flags |= IGNIS_SAMPLE_UNW_UNEXPRESSIBLE;
		return 1;
	}
	if (rule->fp_rule == IGNIS_FP_AT_CFA && rule->fp_off + 8 == rule->ra_off) {
		/* push %rbp right below the return address: one read. */
		struct unw_pair pair;

		if (unw_read2(w, &pair, cfa + rule->fp_off)) {
			w->flags |= IGNIS_SAMPLE_UNW_READ_FAIL;
			return 1;
		}
		w->fp = pair.v[0];
		w->fp_valid = 1;
		ra = pair.v[1];
	} else {
		/* The saved FP lies below the return address: read it first,
		 * as a window starts at the first word read. */
		if (rule->fp_rule == IGNIS_FP_AT_CFA && unw_read(w, &fp, cfa + rule->fp_off)) {
			w->flags |= IGNIS_SAMPLE_UNW_READ_FAIL;
			return 1;
		}
		if (unw_read(w, &ra, cfa + rule->ra_off)) {
			w->flags |= IGNIS_SAMPLE_UNW_READ_FAIL;
			return 1;
		}
		if (rule->fp_rule == IGNIS_FP_AT_CFA) {
			w->fp = fp;
			w->fp_valid = 1;
		} else if (rule->fp_rule != IGNIS_FP_SAME) {
			w->fp_valid = 0;
		}
	}
	/* The caller's frame lies above this one; anything else is a wrong
	 * table or a corrupt stack, and would loop. */
	if (cfa <= w->sp) {
		w->flags |= IGNIS_SAMPLE_UNW_READ_FAIL;
		return 1;
	}
	if (ra == 0 || ra >= UNW_USER_LIMIT)
		return 1;  /* no caller: a thread's first frame without an END rule */
	w->sp = cfa;
	w->pc = ra;
	w->exact = 0;
	return 0;
}

/* py_step for the frame loop, checked once by the verifier (see unw_step). */
__noinline int unw_py_step(struct unw_walk *w, struct ignis_sample *s)
{
	if (!w || !s)
		return PY_STOP;
	return py_step(&w->py, w->pc, w->sp, s, w->base, &w->n);
}

static long unw_loop(__u32 i, void *ctx)
{
	struct unw_walk *w = ctx;
	struct ignis_sample *s;
	__u32 idx;
	/* Callers are return addresses, which the agent looks up one byte
	 * back (a call may end its function). The frame a signal frame
	 * interrupted is the instruction itself, which may be its function's
	 * first: one byte on, it is looked up where it is. */
	__u64 pc = w->pc + (w->exact && w->n ? 1 : 0);
	int r;

	s = bpf_map_lookup_elem(&scratch, &w->prog_slot);
	if (!s)
		return 1;
	idx = w->base + w->n;
	/* keep the bound on the register that indexes: clang may not */
	asm volatile("" : "+r"(idx));
	if (idx >= IGNIS_SAMPLE_FRAMES)
		return 1;
	/* Not a Python process, or done with its frames: no call. */
	r = w->py.state == PY_OFF ? PY_NATIVE : unw_py_step(w, s);
	if (r == PY_FULL) {
		w->flags |= IGNIS_SAMPLE_UNW_TRUNCATED;
		w->done = 1;
		return 1;
	}
	if (r == PY_CONT)
		return 0;
	if (r == PY_STOP) {
		w->done = 1;
		return 1;
	}
	if (r == PY_NATIVE) {
		/* checked again where the verifier sees it (py_step spilled it) */
		idx = w->base + w->n;
		asm volatile("" : "+r"(idx));
		if (idx >= IGNIS_SAMPLE_FRAMES)
			return 1;
		s->frames[idx] = pc;
		w->n++;
	}
	if (unw_step(w)) {
		/* The eval frame's Python frames are still to come. */
		if (w->py.state == PY_PENDING) {
			w->py.native_done = 1;
			return 0;
		}
		w->done = 1;
		return 1;
	}
	return 0;
}

/* Walks the user stack from (pc, sp, fp) into s->frames[base...]. Returns
 * the number of frames; sets the IGNIS_SAMPLE_UNW_* flags and unw_miss.
 * prog_slot: the calling program's slot of the per-CPU state (UNW_SLOT_*). */
static __always_inline __u32 unw_walk_user(struct ignis_sample *s, __u32 base, __u64 pc,
					   __u64 sp, __u64 fp, __u32 prog_slot)
{
	struct unw_walk w = {
		.pc = pc, .sp = sp, .fp = fp, .fp_valid = 1, .exact = 1,
		.tgid = s->tgid, .base = base, .gen = unw_generation, .prog_slot = prog_slot,
	};
	struct task_struct *task;
	__u32 n;

	if (!pc)
		return 0;
	w.pgen = unw_pid_generation(s->tgid);
	/* The main thread's stack ends in argc, argv, envp (always present)
	 * just above mm->start_stack; a thread's stack ends in its thread
	 * control block, in the same mapping. */
	task = bpf_get_current_task_btf();
	w.stack_top = task->mm ? task->mm->start_stack : 0;
	if (w.stack_top && sp < w.stack_top)
		w.stack_top += 256;
	else
		w.stack_top = 0;
	py_walk_start(&w.py, s->tgid, s->tid);
	bpf_loop(IGNIS_UNW_MAX_FRAMES, unw_loop, &w, 0);
	if (!w.done && w.n >= IGNIS_UNW_MAX_FRAMES)
		w.flags |= IGNIS_SAMPLE_UNW_TRUNCATED;
	s->flags |= w.flags;
	s->unw_miss = w.miss;
	s->unw_miss_pc = w.miss_pc;
	n = w.n;
	if (w.fp_frames) {
		__u32 k = IGNIS_STAT_UNW_FP_FRAMES;
		__u64 *v = bpf_map_lookup_elem(&stats, &k);

		if (v)
			*v += w.fp_frames;
	}
	return n;
}

#endif
