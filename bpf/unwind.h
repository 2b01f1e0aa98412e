/* Unwind tables as the BPF walker reads them (bpf/sampler.bpf.c) and the
 * agent writes them (unwinder/): fixed-size types only.
 *
 * Three maps hold them:
 *  - unw_rules (ARRAY of struct ignis_unw_rule): every distinct rule of every
 *    loaded table, deduplicated across binaries (most rows of most binaries
 *    repeat a handful of rules). Rule 0 is IGNIS_CFA_INVALID.
 *  - unw_rows (ARRAY of struct ignis_unw_row): the rows of all loaded tables,
 *    each table one contiguous, pc-sorted run; its size is the byte budget.
 *  - unw_tables (HASH table id -> struct ignis_unw_table): where a table's run
 *    starts and how long it is.
 *  - unw_mappings (LPM_TRIE struct ignis_unw_map_key -> struct
 *    ignis_unw_mapping): per process, which table covers an address and the
 *    load bias that turns the address into the table's pc.
 *
 * A row covers [row.pc, next row.pc) of its table; the last row of a table
 * is an IGNIS_CFA_INVALID row that ends the previous one. Table pcs are
 * link-time virtual addresses (ELF vaddr) minus nothing: an address a in the
 * process is looked up as (a - bias); tables of binaries whose vaddrs do not
 * fit 32 bits are refused. */
#ifndef IGNIS_BPF_UNWIND_H
#define IGNIS_BPF_UNWIND_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Per-process cache generations (bpf/unwind.bpf.h unw_pid_gen), indexed
 * by pid % IGNIS_UNW_PID_GENS. */
#define IGNIS_UNW_PID_GENS 4096

/* Frames the walker produces at most. */
#define IGNIS_UNW_MAX_FRAMES 256
/* Bound of the binary search over one table's rows: 2^24 rows. */
#define IGNIS_UNW_SEARCH_STEPS 24
#define IGNIS_UNW_MAX_ROWS (1u << IGNIS_UNW_SEARCH_STEPS)

/* How the canonical frame address (the caller's SP) is found. */
enum ignis_cfa_base {
	IGNIS_CFA_INVALID = 0,  /* not expressible: the walk ends here (marked) */
	IGNIS_CFA_SP      = 1,  /* CFA = SP + cfa_off */
	IGNIS_CFA_FP      = 2,  /* CFA = FP + cfa_off */
	/* x86-64 lazy-binding PLT entries (16 bytes each):
	 * CFA = SP + cfa_off + ((pc & 15) >= plt_min ? 8 : 0), binutils'
	 * one DWARF expression for the whole .plt (plt_min 11; 10 in the
	 * IBT and MPX variants, whose push comes later in the entry). */
	IGNIS_CFA_PLT     = 3,
	/* A signal frame (__restore_rt, the vDSO's sigreturn): the
	 * interrupted registers are in the ucontext at U = SP + cfa_off.
	 * The caller's SP is at U + IGNIS_UC_SP, its pc (exact: not a return
	 * address, no -1 when symbolizing) at U + ra_off, its FP at
	 * U + fp_off when fp_rule is IGNIS_FP_AT_CFA. */
	IGNIS_CFA_SIGNAL  = 4,
	/* The outermost frame (return address undefined, e.g. _start,
	 * clone's child, Go's goexit): the stack ends here, complete. */
	IGNIS_CFA_END     = 5,
};

/* x86-64 ucontext_t: where uc_mcontext.gregs[REG_RSP] is. */
#define IGNIS_UC_SP 160

/* Where the caller's frame pointer is. */
enum ignis_fp_rule {
	IGNIS_FP_SAME    = 0,  /* unchanged (callee-saved, not yet saved) */
	IGNIS_FP_AT_CFA  = 1,  /* saved at CFA + fp_off */
	IGNIS_FP_UNKNOWN = 2,  /* clobbered or not expressible: walk must not
				  use FP again until a rule restores it */
};

struct ignis_unw_rule {
	__u8 cfa_base;   /* enum ignis_cfa_base */
	__u8 fp_rule;    /* enum ignis_fp_rule */
	__u8 plt_min;    /* with IGNIS_CFA_PLT; 0 otherwise */
	__u8 reserved;
	__s32 cfa_off;
	__s32 fp_off;    /* with IGNIS_FP_AT_CFA */
	__s32 ra_off;    /* return address at CFA + ra_off (x86-64: -8) */
};

struct ignis_unw_row {
	__u32 pc;        /* first link-time address the rule covers */
	__u32 rule;      /* index into unw_rules */
};

struct ignis_unw_table {
	__u32 first;     /* index of the first row in unw_rows */
	__u32 nrows;
};

/* LPM key: prefixlen counts the bits after itself (32 for the pid, then
 * address bits, most significant first). pid and addr are big-endian so
 * that a mapping splits into few prefixes. */
struct ignis_unw_map_key {
	__u32 prefixlen;
	__u32 pid_be;
	__u64 addr_be;
};

enum ignis_unw_map_kind {
	IGNIS_MAP_TABLE   = 0,  /* table_id names a loaded table */
	IGNIS_MAP_PENDING = 1,  /* a file whose table is not loaded (yet): frame pointers */
	IGNIS_MAP_NONE    = 2,  /* no table possible (JIT, anonymous code): frame pointers */
};

struct ignis_unw_mapping {
	__u32 table_id;
	__u32 kind;      /* enum ignis_unw_map_kind */
	__u64 bias;      /* address - bias = table pc */
	__u64 start, end;  /* the mapping, so one lookup serves the frames in it */
};

#endif
