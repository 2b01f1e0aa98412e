/* Unwind-table compiler: call frame information → sorted rows of a few
 * rules the BPF walker can apply (bpf/unwind.h).
 *
 * Sources, first wins where they overlap:
 *   1. .eh_frame: FDEs split with dwarf_next_cfi (each one's range decoded
 *      here from its CIE's pointer encoding), their instructions run here
 *      once each (run_insns), a row at every advance.
 *   2. .gopclntab (Go binaries): the pcsp table of every function. Before
 *      .debug_frame because the Go linker's .debug_frame is made from the
 *      same pcsp tables and says nothing of where BP is saved.
 *   3. .debug_frame of the binary, then of its separate debug file.
 *
 * Nothing read from the file is trusted. An FDE is kept only when its range
 * lies in an executable segment and meets no FDE kept before, its
 * instructions are all known with small register numbers and its rows stay
 * inside it; .debug_frame is read from an image of that section alone
 * (which libdw inflates when compressed, without the rest of the DWARF).
 * Everything refused is counted. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/log.h"
#include "symbolizer/gopclntab.h"
#include "unwinder/unwtable.h"

/* ---- the target: x86-64 register numbers and frame layouts ---------------
 * Everything architecture-specific is here, so arm64 can follow. */
#define ARCH_MACHINE EM_X86_64
/* The psABI's type for .eh_frame, which lld uses (GNU ld says PROGBITS). */
#define ARCH_SHT_UNWIND SHT_X86_64_UNWIND
#define REG_FP 6   /* DWARF number of RBP */
#define REG_SP 7   /* RSP */
#define REG_RA 16  /* the return address column (RIP) */
#define ARCH_RA_OFF (-8)  /* a call pushes the return address just below the CFA */
/* Go amd64: the prologue saves the caller's BP right below the return
 * address (cmd/internal/obj/x86/obj6.go). */
#define GO_FP_OFF (-16)

/* An FDE with more rows than this is cut there, counted: real functions
 * have far fewer, and a table's rows have a budget. */
#define MAX_ROWS_PER_FDE 4096
#define MAX_EXEC_SEGS 16

struct raw_row {
	uint64_t pc, end;
	uint32_t rule;
};

struct range {
	uint64_t lo, hi;
};

/* Sorted, disjoint ranges. */
struct rangeset {
	struct range *r;
	size_t n, cap;
};



struct exec_seg {
	uint64_t lo, hi;
};

struct code_scn {
	uint64_t lo, hi;
	Elf_Scn *scn;
	const uint8_t *data;
	bool tried;
};

struct builder {
	Elf *elf;
	struct ignis_unw_rule *rules;
	size_t nrules, rules_cap;
	uint32_t *slots;  /* open addressing: rule index + 1, 0 empty */
	size_t nslots;
	struct raw_row *rows;
	size_t nrows, rows_cap;
	struct rangeset kept;  /* what the sources read so far describe */
	struct exec_seg segs[MAX_EXEC_SEGS];
	size_t nsegs;
	struct code_scn code[MAX_EXEC_SEGS];
	size_t ncode;
	struct unw_table_stats st;
};

struct unw_table {
	struct ignis_unw_row *rows;
	size_t nrows;
	struct ignis_unw_rule *rules;
	size_t nrules;
	struct unw_table_stats st;
};

/* ---- growing arrays ------------------------------------------------------ */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		n *= 2;
	}
	q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* ---- rules: deduplicated through a hash of their bytes ------------------- */

/* A rule is 16 bytes: two multiplications mix them (one hash per row,
 * where FNV would take sixteen steps). */
static uint64_t rule_hash(const struct ignis_unw_rule *r)
{
	uint64_t w[2], h;

	_Static_assert(sizeof(*r) == sizeof(w), "a rule is two words");
	memcpy(w, r, sizeof(w));
	h = w[0] * 0x9e3779b97f4a7c15ULL ^ w[1] * 0xc2b2ae3d27d4eb4fULL;
	return h ^ h >> 29;
}

static int rehash(struct builder *b, size_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	size_t i, j;

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < b->nrules; i++) {
		j = rule_hash(&b->rules[i]) & (nslots - 1);
		while (slots[j])
			j = (j + 1) & (nslots - 1);
		slots[j] = i + 1;
	}
	free(b->slots);
	b->slots = slots;
	b->nslots = nslots;
	return 0;
}

/* The index of rule r in the table's list, added if new; -ENOMEM. */
static int64_t intern_rule(struct builder *b, const struct ignis_unw_rule *r)
{
	size_t j;
	int err;

	if (b->nrules * 2 >= b->nslots) {
		err = rehash(b, b->nslots ? b->nslots * 2 : 64);
		if (err)
			return err;
	}
	j = rule_hash(r) & (b->nslots - 1);
	for (; b->slots[j]; j = (j + 1) & (b->nslots - 1))
		if (!memcmp(&b->rules[b->slots[j] - 1], r, sizeof(*r)))
			return b->slots[j] - 1;
	err = grow((void **)&b->rules, &b->rules_cap, b->nrules + 1, sizeof(*r));
	if (err)
		return err;
	b->rules[b->nrules] = *r;
	b->slots[j] = ++b->nrules;
	return b->nrules - 1;
}

static int add_row(struct builder *b, uint64_t pc, uint64_t end, const struct ignis_unw_rule *r)
{
	int64_t idx = intern_rule(b, r);
	int err;

	if (idx < 0)
		return idx;
	err = grow((void **)&b->rows, &b->rows_cap, b->nrows + 1, sizeof(*b->rows));
	if (err)
		return err;
	b->rows[b->nrows++] = (struct raw_row){ .pc = pc, .end = end, .rule = idx };
	return 0;
}

/* ---- where code is: ranges outside executable segments are garbage ------- */

static int read_segments(struct builder *b)
{
	size_t phnum, i;
	GElf_Phdr ph;

	if (elf_getphdrnum(b->elf, &phnum))
		return -ENOEXEC;
	for (i = 0; i < phnum; i++) {
		if (!gelf_getphdr(b->elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) ||
		    !ph.p_memsz)
			continue;
		if (ph.p_vaddr > UINT32_MAX || ph.p_memsz > UINT32_MAX - ph.p_vaddr)
			return -E2BIG;
		if (b->nsegs == MAX_EXEC_SEGS)
			continue;
		b->segs[b->nsegs++] = (struct exec_seg){ ph.p_vaddr, ph.p_vaddr + ph.p_memsz };
	}
	return b->nsegs ? 0 : -ENOENT;
}

static bool in_exec(const struct builder *b, uint64_t lo, uint64_t hi)
{
	size_t i;

	for (i = 0; i < b->nsegs; i++)
		if (lo >= b->segs[i].lo && hi <= b->segs[i].hi)
			return true;
	return false;
}

/* Whether [lo, hi) meets a range of the set. */
static bool covered(const struct rangeset *rs, uint64_t lo, uint64_t hi)
{
	size_t l = 0, u = rs->n, m;

	/* The first range that ends after lo. */
	while (l < u) {
		m = l + (u - l) / 2;
		if (rs->r[m].hi <= lo)
			l = m + 1;
		else
			u = m;
	}
	return l < rs->n && rs->r[l].lo < hi;
}

/* Adds [lo, hi), which meets none of the set. */
static int add_range(struct rangeset *rs, uint64_t lo, uint64_t hi)
{
	size_t l = 0, u = rs->n, m;
	int err;

	while (l < u) {
		m = l + (u - l) / 2;
		if (rs->r[m].lo < lo)
			l = m + 1;
		else
			u = m;
	}
	err = grow((void **)&rs->r, &rs->cap, rs->n + 1, sizeof(*rs->r));
	if (err)
		return err;
	/* Sections list functions in address order: mostly an append. */
	memmove(&rs->r[l + 1], &rs->r[l], (rs->n - l) * sizeof(*rs->r));
	rs->r[l] = (struct range){ lo, hi };
	rs->n++;
	return 0;
}

/* ---- DWARF CFI: FDE ranges ---------------------------------------------- */

/* A value of the given DW_EH_PE format at *p (not past end), moved past. */
static bool read_encoded(const uint8_t **p, const uint8_t *end, uint8_t enc, bool big,
			 uint64_t *v)
{
	const uint8_t *q = *p;
	unsigned size, i, shift = 0;
	uint64_t x = 0;
	bool sign = false;

	switch (enc & 0x0f) {
	case DW_EH_PE_absptr:
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		size = 8;
		break;
	case DW_EH_PE_udata4:
		size = 4;
		break;
	case DW_EH_PE_sdata4:
		size = 4;
		sign = true;
		break;
	case DW_EH_PE_udata2:
		size = 2;
		break;
	case DW_EH_PE_sdata2:
		size = 2;
		sign = true;
		break;
	case DW_EH_PE_uleb128:
	case DW_EH_PE_sleb128:
		for (;;) {
			uint8_t c;

			if (q >= end || shift >= 64)
				return false;
			c = *q++;
			x |= (uint64_t)(c & 0x7f) << shift;
			shift += 7;
			if (!(c & 0x80))
				break;
		}
		if ((enc & 0x0f) == DW_EH_PE_sleb128 && shift < 64 && (x >> (shift - 1)) & 1)
			x |= ~0ULL << shift;
		*p = q;
		*v = x;
		return true;
	default:
		return false;
	}
	if ((size_t)(end - q) < size)
		return false;
	for (i = 0; i < size; i++)
		x |= (uint64_t)q[big ? i : size - 1 - i] << (8 * (size - 1 - i));
	if (sign && size < 8 && (x >> (8 * size - 1)) & 1)
		x |= ~0ULL << (8 * size);
	*p = q + size;
	*v = x;
	return true;
}

/* Register numbers above this make an FDE bad: libdw grows each frame it
 * returns to hold the highest register an FDE names (up to 2 GiB for a
 * number a corrupt file makes up); x86-64's DWARF numbers end at 130. */
#define MAX_CFI_REG 255

static bool uleb(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	return read_encoded(p, end, DW_EH_PE_uleb128, false, v);
}

static bool reg_ok(const uint8_t **p, const uint8_t *end)
{
	uint64_t r;

	return uleb(p, end, &r) && r <= MAX_CFI_REG;
}

/* Walks a CFA instruction stream (DWARF 5 6.4.2): every opcode known,
 * every operand inside [p, end), every register small. enc: how
 * DW_CFA_set_loc's address is encoded. */
static bool cfi_insns_ok(const uint8_t *p, const uint8_t *end, uint8_t enc, bool big)
{
	uint64_t v;

	while (p < end) {
		uint8_t op = *p++;

		switch (op & 0xc0) {
		case DW_CFA_advance_loc:
			continue;
		case DW_CFA_offset:
			if (!uleb(&p, end, &v))
				return false;
			continue;
		case DW_CFA_restore:
			continue;
		}
		switch (op) {
		case DW_CFA_nop:
		case DW_CFA_remember_state:
		case DW_CFA_restore_state:
		case DW_CFA_GNU_window_save:
			break;
		case DW_CFA_set_loc:
			if (!read_encoded(&p, end, enc & 0x0f, big, &v))
				return false;
			break;
		case DW_CFA_advance_loc1:
		case DW_CFA_advance_loc2:
		case DW_CFA_advance_loc4:
		case DW_CFA_MIPS_advance_loc8: {
			size_t n = op == DW_CFA_advance_loc1 ? 1 : op == DW_CFA_advance_loc2 ? 2 :
				   op == DW_CFA_advance_loc4 ? 4 : 8;

			if ((size_t)(end - p) < n)
				return false;
			p += n;
			break;
		}
		case DW_CFA_def_cfa_offset:
		case DW_CFA_def_cfa_offset_sf:
		case DW_CFA_GNU_args_size:
			if (!uleb(&p, end, &v))  /* an sleb has an uleb's length */
				return false;
			break;
		case DW_CFA_restore_extended:
		case DW_CFA_undefined:
		case DW_CFA_same_value:
		case DW_CFA_def_cfa_register:
			if (!reg_ok(&p, end))
				return false;
			break;
		case DW_CFA_offset_extended:
		case DW_CFA_register:
		case DW_CFA_def_cfa:
		case DW_CFA_offset_extended_sf:
		case DW_CFA_def_cfa_sf:
		case DW_CFA_val_offset:
		case DW_CFA_val_offset_sf:
		case DW_CFA_GNU_negative_offset_extended:
			if (!reg_ok(&p, end) || !uleb(&p, end, &v))
				return false;
			break;
		case DW_CFA_expression:
		case DW_CFA_val_expression:
			if (!reg_ok(&p, end))
				return false;
			/* then a block, as def_cfa_expression has */
			__attribute__((fallthrough));
		case DW_CFA_def_cfa_expression:
			if (!uleb(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			p += v;
			break;
		default:
			return false;
		}
	}
	return true;
}

/* The pointer encoding a CIE gives its FDEs' ranges; false when it is one
 * we do not read (or the augmentation is malformed). */
static bool cie_fde_encoding(const Dwarf_CIE *cie, bool eh, bool big, uint8_t *enc)
{
	const char *a = cie->augmentation;
	const uint8_t *p = cie->augmentation_data;
	const uint8_t *end = p + cie->augmentation_data_size;
	uint64_t skip;
	uint8_t penc;

	(void)eh;
	*enc = DW_EH_PE_absptr;
	if (!a || !*a)
		return true;
	if (*a != 'z')
		return false;
	for (a++; *a; a++) {
		switch (*a) {
		case 'R':
			if (p >= end)
				return false;
			*enc = *p++;
			break;
		case 'L':
			if (p >= end)
				return false;
			p++;
			break;
		case 'P':
			if (p >= end)
				return false;
			penc = *p++;
			if (penc == DW_EH_PE_omit || (penc & 0x70) == DW_EH_PE_aligned ||
			    !read_encoded(&p, end, penc, big, &skip))
				return false;
			break;
		case 'S':
		case 'B':
			break;
		default:
			/* The sized data says where instructions start, not
			 * where an 'R' after this one would be. */
			return true;
		}
	}
	return true;
}

/* The range [lo, hi) of an FDE whose CIE gives enc, when its
 * instructions (and its CIE's) are ones libdw can run safely. */
static bool fde_range(const Dwarf_FDE *fde, const Dwarf_CIE *cie, uint8_t enc, bool big,
		      uint64_t field_vaddr, uint64_t *lo, uint64_t *hi, const uint8_t **insns)
{
	const uint8_t *p = fde->start, *end = fde->end;
	uint64_t loc, len, aug;

	if (enc == DW_EH_PE_omit || (enc & DW_EH_PE_indirect))
		return false;
	if (!read_encoded(&p, end, enc, big, &loc) || !read_encoded(&p, end, enc & 0x0f, big, &len))
		return false;
	if (cie->augmentation && cie->augmentation[0] == 'z') {
		if (!uleb(&p, end, &aug) || aug > (uint64_t)(end - p))
			return false;
		p += aug;
	}
	if (!cfi_insns_ok(cie->initial_instructions, cie->initial_instructions_end, enc, big) ||
	    !cfi_insns_ok(p, end, enc, big))
		return false;
	switch (enc & 0x70) {
	case DW_EH_PE_absptr:
		break;
	case DW_EH_PE_pcrel:
		loc += field_vaddr;
		break;
	default:
		return false;
	}
	if (!len || loc + len < loc)
		return false;
	*lo = loc;
	*hi = loc + len;
	*insns = p;
	return true;
}

/* ---- DWARF CFI: the rows of one FDE -------------------------------------
 * The FDE's instructions are run here, once, from its start to its end (the
 * CIE's first), and a row is made at every advance: one pass where libdw
 * would run them again from the start for every row it is asked about. Of
 * the registers only the CFA, the return address and FP matter to the
 * walker; a rule it cannot apply makes an INVALID row, counted. */

/* How a register is recovered, as far as the walker cares. */
enum cfi_how {
	HOW_SAME,	/* unchanged: the x86-64 ABI's start for RA and FP */
	HOW_UNDEF,	/* undefined (RA: the outermost frame) */
	HOW_AT_CFA,	/* saved at CFA + off */
	HOW_AT_SP,	/* saved at SP + off (DW_CFA_expression "breg7 off") */
	HOW_OTHER,	/* in another register, a value, an expression */
};

struct cfi_reg {
	uint8_t how;
	int64_t off;
};

struct cfi_state {
	bool cfa_set;
	uint64_t cfa_reg;		/* when cfa_expr is NULL */
	int64_t cfa_off;
	const uint8_t *cfa_expr;	/* DW_CFA_def_cfa_expression's block */
	uint64_t cfa_len;
	struct cfi_reg ra, fp;
};

/* What an FDE's rows are made from: its CIE's parameters and both
 * instruction streams, in the (private copy of the) section's bytes. */
struct cfi_prog {
	const uint8_t *init, *init_end;	/* the CIE's */
	const uint8_t *insns, *insns_end;
	uint64_t code_align;
	int64_t data_align;
	bool big, signal;
};

/* One FDE of a CFI section as the first pass read it. */
struct fde {
	uint64_t lo, hi;
	struct cfi_prog prog;
};

#define MAX_REMEMBERED 32

static bool fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

static bool sleb(const uint8_t **p, const uint8_t *end, int64_t *v)
{
	uint64_t u;

	if (!read_encoded(p, end, DW_EH_PE_sleb128, false, &u))
		return false;
	*v = (int64_t)u;
	return true;
}

/* "DW_OP_breg7 N" (x86-64 SP), all of [p, end) when whole. */
static bool breg_sp(const uint8_t **p, const uint8_t *end, int64_t *n, bool whole)
{
	const uint8_t *q = *p;

	if (q >= end || *q++ != DW_OP_breg0 + REG_SP || !sleb(&q, end, n) || (whole && q != end))
		return false;
	*p = q;
	return true;
}

/* CFA = SP + N + ((pc & 15) >= M ? 8 : 0): binutils' expression for lazy
 * PLTs (M 11; 10 for the IBT and MPX ones). */
static bool is_plt_expr(const uint8_t *p, const uint8_t *end, int64_t *off, uint8_t *plt_min)
{
	int64_t zero;

	if (!breg_sp(&p, end, off, false) || p >= end || *p++ != DW_OP_breg0 + REG_RA ||
	    !sleb(&p, end, &zero) || zero != 0 || end - p != 7 || p[0] != DW_OP_lit15 ||
	    p[1] != DW_OP_and || p[2] < DW_OP_lit0 || p[2] > DW_OP_lit15 || p[3] != DW_OP_ge ||
	    p[4] != DW_OP_lit3 || p[5] != DW_OP_shl || p[6] != DW_OP_plus)
		return false;
	*plt_min = p[2] - DW_OP_lit0;
	return true;
}

/* A register's DW_CFA_expression block: CFA + N, or SP + N (signal
 * frames, whose ucontext is on the stack), or anything else. */
static struct cfi_reg expr_reg(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p;
	struct cfi_reg r = { .how = HOW_OTHER };
	uint64_t u;

	/* The CFA is pushed first, and is the value when nothing follows. */
	if (p == end)
		return (struct cfi_reg){ HOW_AT_CFA, 0 };
	if (*q == DW_OP_plus_uconst) {
		q++;
		if (uleb(&q, end, &u) && q == end)
			return (struct cfi_reg){ HOW_AT_CFA, (int64_t)u };
		return r;
	}
	if (breg_sp(&q, end, &r.off, true))
		r.how = HOW_AT_SP;
	return r;
}

/* The rule of a row in state s; INVALID (all zero) when the walker cannot
 * apply it, the reason counted and returned (NULL for a rule it can). */
static const char *row_rule(struct builder *b, const struct cfi_state *s, bool signal,
			    struct ignis_unw_rule *r)
{
	int64_t off, uc;
	uint8_t plt_min;
	const uint8_t *q;

	memset(r, 0, sizeof(*r));
	if (!s->cfa_set) {
		b->st.unexp_cfa++;
		return "no CFA";
	}
	if (s->ra.how == HOW_UNDEF) {
		/* The outermost frame: nothing called it. */
		r->cfa_base = IGNIS_CFA_END;
		return NULL;
	}
	if (s->ra.how == HOW_SAME) {
		b->st.unexp_ra++;
		return "return address not saved in memory";
	}
	q = s->cfa_expr;
	if (signal && q && breg_sp(&q, q + s->cfa_len, &off, false) && q < s->cfa_expr + s->cfa_len &&
	    *q == DW_OP_deref && q + 1 == s->cfa_expr + s->cfa_len) {
		/* glibc's __restore_rt (and the like): CFA = *(SP + off of the
		 * saved RSP); offsets count from the ucontext at SP + uc. */
		uc = off - IGNIS_UC_SP;
		if (s->ra.how != HOW_AT_SP || !fits32(uc) || !fits32(s->ra.off - uc)) {
			memset(r, 0, sizeof(*r));
			b->st.unexp_ra++;
			return "signal frame without the interrupted pc in the ucontext";
		}
		r->cfa_base = IGNIS_CFA_SIGNAL;
		r->cfa_off = uc;
		r->ra_off = s->ra.off - uc;
		if (s->fp.how == HOW_AT_SP && fits32(s->fp.off - uc)) {
			r->fp_rule = IGNIS_FP_AT_CFA;
			r->fp_off = s->fp.off - uc;
		} else {
			r->fp_rule = s->fp.how == HOW_SAME ? IGNIS_FP_SAME : IGNIS_FP_UNKNOWN;
		}
		return NULL;
	}
	if (!s->cfa_expr && (s->cfa_reg == REG_SP || s->cfa_reg == REG_FP)) {
		r->cfa_base = s->cfa_reg == REG_SP ? IGNIS_CFA_SP : IGNIS_CFA_FP;
		off = s->cfa_off;
	} else if (!s->cfa_expr) {
		b->st.unexp_cfa++;
		return "CFA on a register other than SP and FP";
	} else if (is_plt_expr(s->cfa_expr, s->cfa_expr + s->cfa_len, &off, &plt_min)) {
		r->cfa_base = IGNIS_CFA_PLT;
		r->plt_min = plt_min;
	} else {
		b->st.unexp_cfa++;
		return "CFA expression";
	}
	if (s->ra.how != HOW_AT_CFA || !fits32(s->ra.off) || !fits32(off)) {
		memset(r, 0, sizeof(*r));
		b->st.unexp_ra++;
		return "return address not at CFA + offset";
	}
	r->cfa_off = off;
	r->ra_off = s->ra.off;
	if (s->fp.how == HOW_SAME) {
		r->fp_rule = IGNIS_FP_SAME;
	} else if (s->fp.how == HOW_AT_CFA && fits32(s->fp.off)) {
		r->fp_rule = IGNIS_FP_AT_CFA;
		r->fp_off = s->fp.off;
	} else {
		/* Undefined (clobbered), in another register, or an
		 * expression: the walker must not trust FP any more. */
		r->fp_rule = IGNIS_FP_UNKNOWN;
	}
	return NULL;
}

static struct cfi_reg *tracked(struct cfi_state *s, uint64_t reg)
{
	return reg == REG_RA ? &s->ra : reg == REG_FP ? &s->fp : NULL;
}

static void set_reg(struct cfi_state *s, uint64_t reg, uint8_t how, int64_t off)
{
	struct cfi_reg *r = tracked(s, reg);

	if (r)
		*r = (struct cfi_reg){ how, off };
}

/* One pass over the FDE: the state machine of DWARF 5 6.4.2, with a row
 * added at every advance inside [f->lo, f->hi). */
struct cfi_run {
	struct builder *b;
	const struct cfi_prog *prog;
	struct cfi_state s, initial;	/* initial: after the CIE's instructions */
	struct cfi_state saved[MAX_REMEMBERED];
	unsigned nsaved;
	uint64_t hi, loc;		/* the row under way starts at loc */
	size_t rows;
	bool cut;
};

/* Ends the row under way at new_loc; 1 when the FDE's end is reached. */
static int advance(struct cfi_run *x, uint64_t delta)
{
	struct ignis_unw_rule r;
	uint64_t to;
	const char *why;
	int err;

	if (x->prog->code_align && delta > (UINT64_MAX - x->loc) / x->prog->code_align)
		return -EINVAL;
	to = x->loc + delta * x->prog->code_align;
	if (to == x->loc)
		return 0;
	/* A row that runs past the FDE's end: the FDE is not what it says. */
	if (to > x->hi)
		return -EINVAL;
	if (x->rows++ == MAX_ROWS_PER_FDE) {
		x->cut = true;
		return 1;
	}
	why = row_rule(x->b, &x->s, x->prog->signal, &r);
	if (why)
		pr_debug("unwtable: %#lx-%#lx not expressible: %s\n", (unsigned long)x->loc,
			 (unsigned long)to, why);
	err = add_row(x->b, x->loc, to, &r);
	if (err)
		return err;
	x->loc = to;
	return to == x->hi;
}

static uint64_t fixed(const uint8_t *p, unsigned n, bool big)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * (big ? n - 1 - i : i));
	return v;
}

/* n times the CIE's data alignment; false when it overflows (a corrupt
 * file: real offsets are a few kilobytes). */
static bool scaled(const struct cfi_prog *g, int64_t n, int64_t *out)
{
	return !__builtin_mul_overflow(n, g->data_align, out);
}

/* As scaled(), for an unsigned operand. */
static bool scaled_u(const struct cfi_prog *g, uint64_t u, int64_t *out)
{
	return u <= INT64_MAX && scaled(g, (int64_t)u, out);
}

/* Runs [p, end) on x->s (in_cie: the CIE's instructions, which may not
 * advance). 0 at the end of the stream, 1 when the FDE's end is reached,
 * -EINVAL for what the walker's tables cannot follow, -ENOMEM. The
 * stream was checked by cfi_insns_ok: operands are inside it. */
static int run_insns(struct cfi_run *x, const uint8_t *p, const uint8_t *end, bool in_cie)
{
	const struct cfi_prog *g = x->prog;
	struct cfi_state *s = &x->s;
	uint64_t reg, u;
	int64_t n;
	int rc;

	while (p < end) {
		uint8_t op = *p++;

		switch (op & 0xc0) {
		case DW_CFA_advance_loc:
			if (in_cie)
				return -EINVAL;
			rc = advance(x, op & 0x3f);
			if (rc)
				return rc;
			continue;
		case DW_CFA_offset:
			if (!uleb(&p, end, &u) || !scaled_u(g, u, &n))
				return -EINVAL;
			set_reg(s, op & 0x3f, HOW_AT_CFA, n);
			continue;
		case DW_CFA_restore:
			if (in_cie)
				return -EINVAL;
			if (tracked(s, op & 0x3f))
				*tracked(s, op & 0x3f) = *tracked(&x->initial, op & 0x3f);
			continue;
		}
		switch (op) {
		case DW_CFA_nop:
		case DW_CFA_GNU_args_size:
			if (op == DW_CFA_GNU_args_size && !uleb(&p, end, &u))
				return -EINVAL;
			break;
		case DW_CFA_advance_loc1:
		case DW_CFA_advance_loc2:
		case DW_CFA_advance_loc4:
		case DW_CFA_MIPS_advance_loc8: {
			unsigned w = op == DW_CFA_advance_loc1 ? 1 : op == DW_CFA_advance_loc2 ? 2 :
				     op == DW_CFA_advance_loc4 ? 4 : 8;

			if (in_cie || (size_t)(end - p) < w)
				return -EINVAL;
			rc = advance(x, fixed(p, w, g->big));
			p += w;
			if (rc)
				return rc;
			break;
		}
		case DW_CFA_remember_state:
			if (x->nsaved == MAX_REMEMBERED)
				return -EINVAL;
			x->saved[x->nsaved++] = *s;
			break;
		case DW_CFA_restore_state:
			if (!x->nsaved)
				return -EINVAL;
			*s = x->saved[--x->nsaved];
			break;
		case DW_CFA_def_cfa:
		case DW_CFA_def_cfa_sf:
			if (!uleb(&p, end, &reg))
				return -EINVAL;
			if (op == DW_CFA_def_cfa ? !uleb(&p, end, &u) || u > INT64_MAX :
						   !sleb(&p, end, &n) || !scaled(g, n, &n))
				return -EINVAL;
			s->cfa_set = true;
			s->cfa_expr = NULL;
			s->cfa_reg = reg;
			s->cfa_off = op == DW_CFA_def_cfa ? (int64_t)u : n;
			break;
		case DW_CFA_def_cfa_register:
			if (!uleb(&p, end, &reg) || !s->cfa_set || s->cfa_expr)
				return -EINVAL;
			s->cfa_reg = reg;
			break;
		case DW_CFA_def_cfa_offset:
		case DW_CFA_def_cfa_offset_sf:
			if (op == DW_CFA_def_cfa_offset ? !uleb(&p, end, &u) || u > INT64_MAX :
							  !sleb(&p, end, &n) || !scaled(g, n, &n))
				return -EINVAL;
			if (!s->cfa_set || s->cfa_expr)
				return -EINVAL;
			s->cfa_off = op == DW_CFA_def_cfa_offset ? (int64_t)u : n;
			break;
		case DW_CFA_def_cfa_expression:
			if (!uleb(&p, end, &u) || u > (uint64_t)(end - p))
				return -EINVAL;
			s->cfa_set = true;
			s->cfa_expr = p;
			s->cfa_len = u;
			p += u;
			break;
		case DW_CFA_undefined:
		case DW_CFA_same_value:
		case DW_CFA_restore_extended:
			if (!uleb(&p, end, &reg))
				return -EINVAL;
			if (op == DW_CFA_restore_extended) {
				if (in_cie)
					return -EINVAL;
				if (tracked(s, reg))
					*tracked(s, reg) = *tracked(&x->initial, reg);
			} else {
				set_reg(s, reg, op == DW_CFA_undefined ? HOW_UNDEF : HOW_SAME, 0);
			}
			break;
		case DW_CFA_offset_extended:
		case DW_CFA_GNU_negative_offset_extended:
		case DW_CFA_val_offset:
			if (!uleb(&p, end, &reg) || !uleb(&p, end, &u) || !scaled_u(g, u, &n) ||
			    n == INT64_MIN)
				return -EINVAL;
			if (op == DW_CFA_val_offset)
				set_reg(s, reg, HOW_OTHER, 0);
			else
				set_reg(s, reg, HOW_AT_CFA, op == DW_CFA_offset_extended ? n : -n);
			break;
		case DW_CFA_offset_extended_sf:
		case DW_CFA_val_offset_sf:
			if (!uleb(&p, end, &reg) || !sleb(&p, end, &n) || !scaled(g, n, &n))
				return -EINVAL;
			set_reg(s, reg, op == DW_CFA_val_offset_sf ? HOW_OTHER : HOW_AT_CFA, n);
			break;
		case DW_CFA_register:
			if (!uleb(&p, end, &reg) || !uleb(&p, end, &u))
				return -EINVAL;
			set_reg(s, reg, HOW_OTHER, 0);
			break;
		case DW_CFA_expression:
		case DW_CFA_val_expression:
			if (!uleb(&p, end, &reg) || !uleb(&p, end, &u) || u > (uint64_t)(end - p))
				return -EINVAL;
			if (tracked(s, reg))
				*tracked(s, reg) = op == DW_CFA_expression ? expr_reg(p, p + u) :
					(struct cfi_reg){ HOW_OTHER, 0 };
			p += u;
			break;
		default:
			/* DW_CFA_set_loc (which no x86-64 toolchain emits in
			 * .eh_frame), GNU_window_save (SPARC), unknown. */
			return -EINVAL;
		}
	}
	return 0;
}

/* The rows of one FDE. A stream that cannot be followed drops the FDE,
 * counted; one with too many rows is cut there (its rest gets no rows: the
 * run ends with INVALID at the cut). */
static int fde_rows(struct builder *b, const struct fde *f, uint64_t next_lo)
{
	struct cfi_run x = { .b = b, .prog = &f->prog, .hi = f->hi, .loc = f->lo };
	size_t mark = b->nrows;
	int rc;

	/* The x86-64 ABI's start: RA and the callee-saved FP unchanged. */
	x.s.ra.how = HOW_SAME;
	x.s.fp.how = HOW_SAME;
	rc = run_insns(&x, f->prog.init, f->prog.init_end, true);
	if (rc == 0) {
		x.initial = x.s;
		x.nsaved = 0;
		rc = run_insns(&x, f->prog.insns, f->prog.insns_end, false);
	}
	if (rc == 0 && x.loc < x.hi) {
		/* The last row runs to the FDE's end. */
		struct ignis_unw_rule r;
		const char *why;

		if (x.rows++ == MAX_ROWS_PER_FDE) {
			x.cut = true;
		} else {
			/* A signal frame's FDE ends with rt_sigreturn's syscall
			 * (glibc's __restore_rt: mov $15, %eax; syscall), which
			 * does not return. A sample taken in that syscall has
			 * the user pc after it, one past the FDE: the row runs
			 * to there too (the syscall moves neither sp nor fp),
			 * unless another FDE starts there. */
			uint64_t end = x.hi;

			if (f->prog.signal && next_lo > x.hi && x.hi < UINT32_MAX)
				end = x.hi + 1;
			why = row_rule(b, &x.s, f->prog.signal, &r);
			if (why)
				pr_debug("unwtable: %#lx-%#lx not expressible: %s\n",
					 (unsigned long)x.loc, (unsigned long)x.hi, why);
			rc = add_row(b, x.loc, end, &r);
			if (rc == 0)
				x.loc = x.hi;
		}
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		b->nrows = mark;
		b->st.bad_fdes++;
		return 0;
	}
	if (x.cut)
		b->st.cut++;
	return add_range(&b->kept, f->lo, x.loc);
}

struct fdelist {
	struct fde *v;
	size_t n, cap;
};

/* The FDEs of one CFI section (its raw bytes, at link-time address vaddr)
 * to make rows of: every other FDE (bad, overlapping one before it in
 * section order, or described by a preferred source) is counted and left
 * out. */
static int collect_fdes(struct builder *b, Elf_Data *data, uint64_t vaddr, bool eh,
			const unsigned char *ident, struct fdelist *out)
{
	bool big = ident[EI_DATA] == ELFDATA2MSB;
	Dwarf_Off off = 0, next, cie_next;
	Dwarf_CFI_Entry e, cie;
	struct rangeset mine = { 0 };
	const uint8_t *insns = NULL;
	const char *aug;
	uint64_t lo, hi;
	uint8_t enc;
	int err = 0, rc;

	while (off < data->d_size) {
		next = (Dwarf_Off)-1;
		rc = dwarf_next_cfi(ident, data, eh, off, &next, &e);
		if (rc > 0)
			break;
		if (rc < 0) {
			/* libdw's own scan skips it the same way. */
			b->st.bad_fdes++;
			if (next == (Dwarf_Off)-1 || next <= off)
				break;
			off = next;
			continue;
		}
		if (next <= off)
			break;
		off = next;
		if (dwarf_cfi_cie_p(&e))
			continue;
		b->st.fdes++;
		if (dwarf_next_cfi(ident, data, eh, e.fde.CIE_pointer, &cie_next, &cie) ||
		    !dwarf_cfi_cie_p(&cie) || !cie_fde_encoding(&cie.cie, eh, big, &enc) ||
		    !fde_range(&e.fde, &cie.cie, enc, big,
			       vaddr + (e.fde.start - (const uint8_t *)data->d_buf), &lo, &hi,
			       &insns) ||
		    !in_exec(b, lo, hi)) {
			b->st.bad_fdes++;
			continue;
		}
		if (covered(&b->kept, lo, hi)) {
			b->st.shadowed++;
			continue;
		}
		if (covered(&mine, lo, hi)) {
			/* First wins. */
			b->st.overlaps++;
			continue;
		}
		err = grow((void **)&out->v, &out->cap, out->n + 1, sizeof(*out->v));
		if (!err)
			err = add_range(&mine, lo, hi);
		if (err)
			break;
		aug = cie.cie.augmentation;
		out->v[out->n++] = (struct fde){
			.lo = lo, .hi = hi,
			.prog = {
				.init = cie.cie.initial_instructions,
				.init_end = cie.cie.initial_instructions_end,
				.insns = insns, .insns_end = e.fde.end,
				.code_align = cie.cie.code_alignment_factor,
				.data_align = cie.cie.data_alignment_factor,
				.big = big,
				.signal = aug && aug[0] == 'z' && strchr(aug, 'S'),
			},
		};
	}
	free(mine.r);
	return err;
}

static int cmp_fde(const void *a, const void *b)
{
	const struct fde *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* In address order (the FDEs are disjoint by now): the rows come out
 * sorted, and what the section covers is added at the end of the set. */
static int fdes_rows(struct builder *b, struct fdelist *l)
{
	size_t i;
	int err;

	qsort(l->v, l->n, sizeof(*l->v), cmp_fde);

	for (i = 0; i < l->n; i++) {
		err = fde_rows(b, &l->v[i], i + 1 < l->n ? l->v[i + 1].lo : UINT64_MAX);
		if (err)
			return err;
	}
	return 0;
}

static Elf_Scn *find_section(Elf *elf, const char *want, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	const char *name;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, sh) && (name = elf_strptr(elf, shstrndx, sh->sh_name)) &&
		    !strcmp(name, want) && (sh->sh_type == SHT_PROGBITS || sh->sh_type == ARCH_SHT_UNWIND))
			return scn;
	return NULL;
}

/* A libelf handle over a copy of one section alone (name: ".debug_frame";
 * its raw bytes, link-time address and flags), so that dwarf_begin_elf
 * inflates that section when compressed, not the rest of the DWARF with it.
 * The image is in *image, to free after elf_end. */
static Elf *section_only(Elf *src, const char *name, const void *bytes, size_t size,
			 uint64_t addr, uint64_t flags, char **image)
{
	char names[32] = "";
	size_t data_off = sizeof(Elf64_Ehdr), str_off, sh_off, total, nlen = strlen(name);
	const unsigned char *ident = (const unsigned char *)elf_getident(src, NULL);
	Elf64_Shdr sh[3];
	Elf64_Ehdr eh;
	Elf *e;

	*image = NULL;
	/* Headers are written in the host's order. */
	if (!ident || ident[EI_DATA] != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB) ||
	    size > SIZE_MAX / 2 || nlen + sizeof(".shstrtab") + 2 > sizeof(names))
		return NULL;
	memcpy(names + 1, name, nlen + 1);
	memcpy(names + nlen + 2, ".shstrtab", sizeof(".shstrtab"));
	str_off = (data_off + size + 7) & ~(size_t)7;
	sh_off = (str_off + sizeof(names) + 7) & ~(size_t)7;
	total = sh_off + sizeof(sh);
	*image = calloc(1, total);
	if (!*image)
		return NULL;
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ident, EI_NIDENT);
	eh.e_type = ET_DYN;
	eh.e_machine = ARCH_MACHINE;
	eh.e_version = EV_CURRENT;
	eh.e_ehsize = sizeof(eh);
	eh.e_shoff = sh_off;
	eh.e_shentsize = sizeof(sh[0]);
	eh.e_shnum = 3;
	eh.e_shstrndx = 2;
	memset(sh, 0, sizeof(sh));
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_PROGBITS, .sh_flags = flags,
			      .sh_addr = addr, .sh_offset = data_off, .sh_size = size, .sh_addralign = 8 };
	sh[2] = (Elf64_Shdr){ .sh_name = nlen + 2, .sh_type = SHT_STRTAB, .sh_offset = str_off,
			      .sh_size = sizeof(names), .sh_addralign = 1 };
	memcpy(*image, &eh, sizeof(eh));
	memcpy(*image + data_off, bytes, size);
	memcpy(*image + str_off, names, sizeof(names));
	memcpy(*image + sh_off, sh, sizeof(sh));
	e = elf_memory(*image, total);
	if (!e) {
		free(*image);
		*image = NULL;
	}
	return e;
}

/* .eh_frame; *found when there is one. */
static int add_eh_frame(struct builder *b, bool *found)
{
	const unsigned char *ident = (const unsigned char *)elf_getident(b->elf, NULL);
	struct fdelist fdes = { 0 };
	Elf_Data *data;
	Elf_Scn *scn;
	GElf_Shdr sh;
	int err = 0;

	scn = find_section(b->elf, ".eh_frame", &sh);
	if (!scn || !sh.sh_size)
		return 0;
	*found = true;
	/* Read in place: entries are parsed and checked here, libdw only
	 * splits them (dwarf_next_cfi) and never looks anything up. */
	data = elf_rawdata(scn, NULL);
	if (!data || !data->d_buf || !ident) {
		pr_debug("unwtable: .eh_frame unusable\n");
		b->st.bad_sections++;
		return 0;
	}
	err = collect_fdes(b, data, sh.sh_addr, true, ident, &fdes);
	if (!err && fdes.n)
		err = fdes_rows(b, &fdes);
	free(fdes.v);
	return err;
}

/* A compressed section may claim any inflated size; zlib cannot inflate
 * more than about 1032 times, and CFI compresses far less than that. */
#define MAX_INFLATE_RATIO 64

/* libdw over an image of elf's .debug_frame (scn, sh) alone, inflated
 * when compressed; the section's bytes in *own, the image in *alone and
 * *image for the caller to release. NULL when unusable. */
static Dwarf *debug_frame_only(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, Elf **alone,
			       char **image, Elf_Data **own)
{
	Elf_Data *data = elf_rawdata(scn, NULL);
	GElf_Shdr now;
	Elf64_Chdr ch;
	Dwarf *dw;

	if (!data || !data->d_buf)
		return NULL;
	if (sh->sh_flags & SHF_COMPRESSED) {
		/* Go compresses its DWARF. */
		if (gelf_getclass(elf) != ELFCLASS64 || data->d_size < sizeof(ch))
			return NULL;
		memcpy(&ch, data->d_buf, sizeof(ch));
		if (ch.ch_size / MAX_INFLATE_RATIO > data->d_size)
			return NULL;
	}
	*alone = section_only(elf, ".debug_frame", data->d_buf, data->d_size, 0,
			      sh->sh_flags & SHF_COMPRESSED, image);
	dw = *alone ? dwarf_begin_elf(*alone, DWARF_C_READ, NULL) : NULL;
	/* libdw has inflated it in place by now. */
	scn = dw ? elf_nextscn(*alone, NULL) : NULL;
	*own = scn ? elf_getdata(scn, NULL) : NULL;
	if (!*own || !(*own)->d_buf || !gelf_getshdr(scn, &now) || (now.sh_flags & SHF_COMPRESSED)) {
		if (dw)
			dwarf_end(dw);
		return NULL;
	}
	return dw;
}

/* .debug_frame of elf (the binary or its debug file); *found when there is
 * one. */
static int add_debug_frame(struct builder *b, Elf *elf, bool *found)
{
	struct fdelist fdes = { 0 };
	Elf_Data *own = NULL;
	char *image = NULL;
	Elf *alone = NULL;
	Dwarf *dw;
	Elf_Scn *scn;
	GElf_Shdr sh;
	int err = 0;

	scn = find_section(elf, ".debug_frame", &sh);
	if (!scn || !sh.sh_size)
		return 0;
	*found = true;
	dw = debug_frame_only(elf, scn, &sh, &alone, &image, &own);
	if (dw)
		err = collect_fdes(b, own, 0, false, (const unsigned char *)elf_getident(alone, NULL),
				   &fdes);
	if (err || (dw && !fdes.n))
		goto cleanup;
	if (!dw) {
		pr_debug("unwtable: .debug_frame unusable\n");
		b->st.bad_sections++;
		goto cleanup;
	}
	err = fdes_rows(b, &fdes);
cleanup:
	free(fdes.v);
	if (dw)
		dwarf_end(dw);
	if (alone)
		elf_end(alone);
	free(image);
	return err;
}

/* ---- Go: pcsp tables ------------------------------------------------------ */

static int load_code_sections(struct builder *b)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(b->elf, scn)) && b->ncode < MAX_EXEC_SEGS)
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_PROGBITS &&
		    (sh.sh_flags & SHF_EXECINSTR) && sh.sh_size && sh.sh_addr + sh.sh_size > sh.sh_addr)
			b->code[b->ncode++] = (struct code_scn){ sh.sh_addr, sh.sh_addr + sh.sh_size, scn };
	return 0;
}

/* len bytes of code at vaddr, NULL when not in the file. */
static const uint8_t *code_at(struct builder *b, uint64_t vaddr, size_t len)
{
	struct code_scn *c;
	Elf_Data *d;
	size_t i;

	for (i = 0; i < b->ncode; i++) {
		c = &b->code[i];
		if (vaddr < c->lo || vaddr >= c->hi || len > c->hi - vaddr)
			continue;
		if (!c->tried) {
			c->tried = true;
			d = elf_getdata(c->scn, NULL);
			if (d && d->d_buf && d->d_size == c->hi - c->lo)
				c->data = d->d_buf;
		}
		return c->data ? c->data + (vaddr - c->lo) : NULL;
	}
	return NULL;
}

/* Where the caller's BP is saved at CFA-16 from, given the first pc whose
 * SP delta is positive (sp): Go ≤1.20 does SUBQ $n, SP then MOVQ BP,
 * n-8(SP); Go 1.21+ does PUSHQ BP first. 0 when neither is there (assembly
 * without a frame, which may use BP freely). */
static uint64_t go_bp_saved_at(struct builder *b, uint64_t entry, uint64_t pc, int32_t sp)
{
	const uint8_t *p;

	if (sp == 8 && pc > entry && (p = code_at(b, pc - 1, 1)) && p[0] == 0x55)
		return pc;
	/* REX.W 89 /r with ModRM 00 101 100 (no displacement), 01 101 100
	 * (disp8) or 10 101 100 (disp32), SIB 0x24: MOVQ %rbp, disp(%rsp). */
	if (sp == 8 && (p = code_at(b, pc, 4)) && p[0] == 0x48 && p[1] == 0x89 && p[2] == 0x2c &&
	    p[3] == 0x24)
		return pc + 4;
	if ((p = code_at(b, pc, 5)) && p[0] == 0x48 && p[1] == 0x89 && p[2] == 0x6c && p[3] == 0x24 &&
	    (int8_t)p[4] == sp - 8)
		return pc + 5;
	if ((p = code_at(b, pc, 8)) && p[0] == 0x48 && p[1] == 0x89 && p[2] == 0xac && p[3] == 0x24 &&
	    (int32_t)((uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24) ==
		    sp - 8)
		return pc + 8;
	return 0;
}

struct go_walk {
	struct builder *b;
	uint64_t entry;
	uint64_t saved;   /* BP saved from this pc on; 0 not (yet) */
	bool looked;      /* the prologue was looked at */
	int err;
};

static int go_row(struct go_walk *w, uint64_t pc, uint64_t end, int32_t sp)
{
	struct ignis_unw_rule r = { 0 };

	if (sp < 0 || sp > INT32_MAX - 8) {
		w->b->st.unexp_cfa++;
		return add_row(w->b, pc, end, &r);
	}
	r.cfa_base = IGNIS_CFA_SP;
	r.cfa_off = sp + 8;
	r.ra_off = ARCH_RA_OFF;
	if (sp == 0) {
		/* Before the prologue, or after the epilogue restored BP. */
		r.fp_rule = IGNIS_FP_SAME;
	} else if (w->saved && pc >= w->saved) {
		r.fp_rule = IGNIS_FP_AT_CFA;
		r.fp_off = GO_FP_OFF;
	} else {
		r.fp_rule = w->saved ? IGNIS_FP_SAME : IGNIS_FP_UNKNOWN;
	}
	return add_row(w->b, pc, end, &r);
}

static int go_run(void *arg, uint64_t pc, uint64_t end, int32_t sp)
{
	struct go_walk *w = arg;
	int err;

	if (sp > 0 && !w->looked) {
		w->looked = true;
		w->saved = go_bp_saved_at(w->b, w->entry, pc, sp);
		if (w->saved > pc && w->saved < end) {
			/* The run holds the store: BP is the caller's until it
			 * is done, in the slot after. */
			err = go_row(w, pc, w->saved, sp);
			if (err)
				return err;
			pc = w->saved;
		}
	}
	return go_row(w, pc, end, sp);
}

static int add_go(struct builder *b, bool *found)
{
	struct gopclntab_func f;
	struct ignis_unw_rule r;
	struct gopclntab *g;
	struct go_walk w;
	size_t i, n, mark;
	int err = 0, rc;

	g = gopclntab__open(b->elf);
	if (!g) {
		if (errno != ENOENT) {
			*found = true;
			b->st.bad_sections++;
		}
		return 0;
	}
	*found = true;
	load_code_sections(b);
	n = gopclntab__nfunc(g);
	for (i = 0; i < n; i++) {
		if (gopclntab__func(g, i, &f) || f.end <= f.entry || !in_exec(b, f.entry, f.end)) {
			b->st.bad_fdes++;
			continue;
		}
		if (covered(&b->kept, f.entry, f.end)) {
			b->st.shadowed++;
			continue;
		}
		b->st.go_funcs++;
		mark = b->nrows;
		if (f.flag & GOPCLNTAB_FLAG_TOPFRAME) {
			/* goexit, mstart, rt0_go: Go's traceback ends here. */
			r = (struct ignis_unw_rule){ .cfa_base = IGNIS_CFA_END };
			err = add_row(b, f.entry, f.end, &r);
		} else if (f.flag & GOPCLNTAB_FLAG_SPWRITE) {
			/* It moves SP by hand (systemstack, gogo, morestack):
			 * its SP delta does not say where the caller is. */
			b->st.go_spwrite++;
			r = (struct ignis_unw_rule){ 0 };
			err = add_row(b, f.entry, f.end, &r);
		} else {
			w = (struct go_walk){ .b = b, .entry = f.entry };
			rc = gopclntab__pcsp(g, i, go_run, &w);
			if (rc == -ENOEXEC || rc == -ENOENT) {
				/* No table (cgo's C code) is no fault of the
				 * file; both leave the function uncovered. */
				b->nrows = mark;
				b->st.bad_fdes += rc == -ENOEXEC;
				b->st.go_funcs--;
				continue;
			}
			err = rc;
		}
		if (err)
			break;
		if (b->nrows > mark) {
			err = add_range(&b->kept, f.entry, b->rows[b->nrows - 1].end);
			if (err)
				break;
		}
	}
	gopclntab__free(g);
	return err;
}

/* ---- the table ------------------------------------------------------------ */

static int cmp_raw(const void *a, const void *b)
{
	const struct raw_row *x = a, *y = b;

	return x->pc < y->pc ? -1 : x->pc > y->pc;
}

static int push_row(struct unw_table *t, size_t *cap, uint64_t pc, uint32_t rule)
{
	int err;

	/* Same rule as the row before: that row covers this one too. */
	if (t->nrows && t->rows[t->nrows - 1].rule == rule)
		return 0;
	if (t->nrows && t->rows[t->nrows - 1].pc == pc) {
		t->rows[t->nrows - 1].rule = rule;
		return 0;
	}
	err = grow((void **)&t->rows, cap, t->nrows + 1, sizeof(*t->rows));
	if (err)
		return err;
	t->rows[t->nrows++] = (struct ignis_unw_row){ .pc = pc, .rule = rule };
	return 0;
}

/* Sorted, merged rows; every run of coverage ends with an INVALID row. */
static int finish(struct builder *b, struct unw_table *t, size_t max_rows)
{
	uint32_t *remap = NULL;
	size_t cap = 0, i, n;
	uint64_t end = 0;
	int err;

	/* One source's rows come sorted; several need merging. */
	for (i = 1; i < b->nrows && b->rows[i - 1].pc <= b->rows[i].pc; i++)
		;
	if (i < b->nrows)
		qsort(b->rows, b->nrows, sizeof(*b->rows), cmp_raw);
	for (i = 0; i < b->nrows; i++) {
		const struct raw_row *r = &b->rows[i];

		if (r->pc > UINT32_MAX || r->end > UINT32_MAX)
			return -E2BIG;  /* in_exec() let no such row through */
		if (!r->rule)
			t->st.unexpressible++;
		/* A gap ends the run before it; a row that starts inside the
		 * one before it (another source's) cuts it short. */
		if (t->nrows && end < r->pc) {
			err = push_row(t, &cap, end, 0);
			if (err)
				return err;
		}
		err = push_row(t, &cap, r->pc, r->rule);
		if (err)
			return err;
		end = r->end;
	}
	if (t->nrows) {
		err = push_row(t, &cap, end, 0);
		if (err)
			return err;
	}
	if (t->nrows > max_rows) {
		/* Cut: the last row kept ends the coverage. */
		n = max_rows - 1;
		if (n && t->rows[n - 1].rule == 0)
			n--;
		t->st.cut += t->nrows - n - 1;
		t->rows[n].rule = 0;
		t->nrows = n + 1;
	}

	/* Only the rules rows name, rule 0 (INVALID) first. */
	remap = calloc(b->nrules ? b->nrules : 1, sizeof(*remap));
	t->rules = calloc(b->nrules ? b->nrules : 1, sizeof(*t->rules));
	if (!remap || !t->rules) {
		free(remap);
		return -ENOMEM;
	}
	t->nrules = 1;
	for (i = 0; i < t->nrows; i++) {
		uint32_t old = t->rows[i].rule;

		if (old && !remap[old]) {
			remap[old] = t->nrules;
			t->rules[t->nrules++] = b->rules[old];
		}
		t->rows[i].rule = remap[old];
	}
	free(remap);
	return 0;
}

static void builder_free(struct builder *b)
{
	free(b->rules);
	free(b->slots);
	free(b->rows);
	free(b->kept.r);
}

struct unw_table *unw_table__compile(Elf *elf, Elf *debug, size_t max_rows)
{
	struct ignis_unw_rule invalid = { 0 };
	struct builder b = { .elf = elf };
	struct unw_table *t = NULL;
	bool found = false;
	GElf_Ehdr eh;
	int err;

	if (!max_rows || max_rows > IGNIS_UNW_MAX_ROWS)
		max_rows = IGNIS_UNW_MAX_ROWS;
	if (max_rows < 2)
		max_rows = 2;
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	if (eh.e_machine != ARCH_MACHINE || gelf_getclass(elf) != ELFCLASS64) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = read_segments(&b);
	if (err)
		goto cleanup;
	/* Rule 0 is INVALID, as in the walker's map. */
	if (intern_rule(&b, &invalid) < 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = add_eh_frame(&b, &found);
	if (!err)
		err = add_go(&b, &found);
	if (!err)
		err = add_debug_frame(&b, elf, &found);
	if (!err && debug && debug != elf && elf_kind(debug) == ELF_K_ELF)
		err = add_debug_frame(&b, debug, &found);
	if (err)
		goto cleanup;
	if (!found) {
		err = -ENOENT;
		goto cleanup;
	}
	if (!b.nrows) {
		err = -ENOEXEC;
		goto cleanup;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		err = -ENOMEM;
		goto cleanup;
	}
	t->st = b.st;
	err = finish(&b, t, max_rows);
	if (err)
		goto cleanup;
	t->st.rows = t->nrows;
	t->st.rules = t->nrules;
	builder_free(&b);
	return t;
cleanup:
	if (err != -ENOENT)
		pr_debug("unwtable: no table: %s\n", strerror(-err));
	unw_table__free(t);
	builder_free(&b);
	errno = -err;
	return NULL;
}

void unw_table__free(struct unw_table *t)
{
	if (!t)
		return;
	free(t->rows);
	free(t->rules);
	free(t);
}

size_t unw_table__nrows(const struct unw_table *t)
{
	return t->nrows;
}

const struct ignis_unw_row *unw_table__rows(const struct unw_table *t)
{
	return t->rows;
}

size_t unw_table__nrules(const struct unw_table *t)
{
	return t->nrules;
}

const struct ignis_unw_rule *unw_table__rules(const struct unw_table *t)
{
	return t->rules;
}

void unw_table__stats(const struct unw_table *t, struct unw_table_stats *s)
{
	*s = t->st;
}

size_t unw_table__bytes(const struct unw_table *t)
{
	return t ? sizeof(*t) + t->nrows * sizeof(*t->rows) + t->nrules * sizeof(*t->rules) : 0;
}

const struct ignis_unw_row *unw_table__find(const struct unw_table *t, uint64_t pc)
{
	size_t l = 0, u, m;

	if (!t || !t->nrows || pc < t->rows[0].pc)
		return NULL;
	/* The last row at or below pc, as the walker's search finds it. */
	u = t->nrows;
	while (u - l > 1) {
		m = l + (u - l) / 2;
		if (t->rows[m].pc <= pc)
			l = m;
		else
			u = m;
	}
	return &t->rows[l];
}
