/* Unwind-table compiler: call frame information → sorted rows of a few
 * rules the BPF walker can apply (bpf/unwind.h).
 *
 * Sources, first wins where they overlap:
 *   1. .eh_frame: FDEs enumerated with dwarf_next_cfi (each one's range
 *      decoded here from its CIE's pointer encoding), rows read back from
 *      libdw (dwarf_cfi_addrframe, dwarf_frame_*) from start to end.
 *   2. .gopclntab (Go binaries): the pcsp table of every function. Before
 *      .debug_frame because the Go linker's .debug_frame is made from the
 *      same pcsp tables and says nothing of where BP is saved.
 *   3. .debug_frame of the binary, then of its separate debug file.
 *
 * Nothing read from the file is trusted. libdw sees a private copy of the
 * one CFI section it reads (never .eh_frame_hdr, whose count and search
 * table may lie), where every FDE left out is hidden from it. An FDE is
 * kept only when its range lies in an executable segment and meets no FDE
 * kept before, its instructions are all known with small register numbers
 * (libdw sizes frames by them), and the rows libdw gives stay inside it.
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

/* An FDE with more rows than this is cut there: libdw executes an FDE's
 * instructions from its start for every row, so the work is rows × bytes
 * and must stay bounded on hostile input (real functions have far fewer). */
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

/* One FDE of a CFI section as the first pass read it. */
struct fde {
	uint64_t lo, hi;
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

static uint64_t rule_hash(const struct ignis_unw_rule *r)
{
	return hash_bytes(HASH_SEED, r, sizeof(*r));
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
		      uint64_t field_vaddr, uint64_t *lo, uint64_t *hi)
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
	return true;
}

/* ---- DWARF CFI: one row's rule -------------------------------------------- */

/* x86-64 struct ucontext (ucontext_t): uc_flags, uc_link, uc_stack (40
 * bytes), then uc_mcontext.gregs[] with REG_RBP 10, REG_RSP 15, REG_RIP 16. */
#define UC_GREG(n) (40 + 8 * (n))

static bool fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* CFA = SP + 8 + ((pc & 15) >= N ? 8 : 0): binutils' expression for lazy
 * PLTs (N 11; 10 for the IBT and MPX ones). plt_min gets N. */
static bool is_plt_expr(const Dwarf_Op *ops, size_t n, int64_t *off, uint8_t *plt_min)
{
	if (n != 9 || ops[0].atom != DW_OP_breg0 + REG_SP || ops[1].atom != DW_OP_breg0 + REG_RA ||
	    ops[1].number != 0 || ops[2].atom != DW_OP_lit15 || ops[3].atom != DW_OP_and ||
	    ops[4].atom < DW_OP_lit0 || ops[4].atom > DW_OP_lit15 || ops[5].atom != DW_OP_ge ||
	    ops[6].atom != DW_OP_lit3 || ops[7].atom != DW_OP_shl || ops[8].atom != DW_OP_plus)
		return false;
	*off = (int64_t)ops[0].number;
	*plt_min = ops[4].atom - DW_OP_lit0;
	return true;
}

/* glibc's __restore_rt (and the like): CFA = *(SP + off of saved RSP). */
static bool is_signal_cfa(const Dwarf_Op *ops, size_t n, int64_t *uc)
{
	if (n != 2 || ops[0].atom != DW_OP_breg0 + REG_SP || ops[1].atom != DW_OP_deref)
		return false;
	*uc = (int64_t)ops[0].number - IGNIS_UC_SP;
	return true;
}

/* A register saved at CFA + N: [call_frame_cfa] or [call_frame_cfa,
 * plus_uconst N] as dwarf_frame_register gives it. */
static bool at_cfa(const Dwarf_Op *ops, size_t n, int64_t *off)
{
	if (n < 1 || n > 2 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (n == 1) {
		*off = 0;
		return true;
	}
	if (ops[1].atom != DW_OP_plus_uconst)
		return false;
	*off = (int64_t)ops[1].number;
	return true;
}

/* In a signal frame: a register saved in the ucontext, at SP + N (libdw
 * pushes the CFA before the expression, which the location ignores). */
static bool at_sp_expr(const Dwarf_Op *ops, size_t n, int64_t *off)
{
	if (n != 2 || ops[0].atom != DW_OP_call_frame_cfa || ops[1].atom != DW_OP_breg0 + REG_SP)
		return false;
	*off = (int64_t)ops[1].number;
	return true;
}

enum reg_kind { REG_SAME, REG_UNDEF, REG_OPS, REG_ERR };

static enum reg_kind frame_reg(Dwarf_Frame *frame, int reg, Dwarf_Op *mem, Dwarf_Op **ops,
			       size_t *n)
{
	if (dwarf_frame_register(frame, reg, mem, ops, n))
		return REG_ERR;
	if (*n)
		return REG_OPS;
	return *ops ? REG_UNDEF : REG_SAME;
}

/* The rule of one CFI row; INVALID (all zero) when the walker cannot apply
 * it, the reason counted and returned (NULL for a rule it can apply). */
static const char *cfi_rule(struct builder *b, Dwarf_Frame *frame, bool signal,
			    struct ignis_unw_rule *r)
{
	Dwarf_Op mem_ra[3], mem_fp[3], *cfa, *ra, *fp;
	size_t ncfa, nra, nfp;
	enum reg_kind kra, kfp;
	int64_t off, raoff, fpoff;
	uint8_t plt_min;

	memset(r, 0, sizeof(*r));
	if (dwarf_frame_cfa(frame, &cfa, &ncfa) || !ncfa) {
		b->st.unexp_cfa++;
		return "no CFA";
	}
	kra = frame_reg(frame, REG_RA, mem_ra, &ra, &nra);
	if (kra == REG_UNDEF) {
		/* The outermost frame: nothing called it. */
		r->cfa_base = IGNIS_CFA_END;
		return NULL;
	}
	kfp = frame_reg(frame, REG_FP, mem_fp, &fp, &nfp);
	if (kra != REG_OPS || kfp == REG_ERR) {
		b->st.unexp_ra++;
		return "return address not saved in memory";
	}

	if (signal && is_signal_cfa(cfa, ncfa, &off)) {
		/* Offsets count from the ucontext at SP + off. */
		if (!at_sp_expr(ra, nra, &raoff) || !fits32(off) || !fits32(raoff - off)) {
			memset(r, 0, sizeof(*r));
			b->st.unexp_ra++;
			return "signal frame without the interrupted pc in the ucontext";
		}
		r->cfa_base = IGNIS_CFA_SIGNAL;
		r->cfa_off = off;
		r->ra_off = raoff - off;
		if (kfp == REG_OPS && at_sp_expr(fp, nfp, &fpoff) && fits32(fpoff - off)) {
			r->fp_rule = IGNIS_FP_AT_CFA;
			r->fp_off = fpoff - off;
		} else {
			r->fp_rule = kfp == REG_SAME ? IGNIS_FP_SAME : IGNIS_FP_UNKNOWN;
		}
		return NULL;
	}

	if (ncfa == 1 && cfa[0].atom == DW_OP_bregx && (cfa[0].number == REG_SP || cfa[0].number == REG_FP)) {
		r->cfa_base = cfa[0].number == REG_SP ? IGNIS_CFA_SP : IGNIS_CFA_FP;
		off = (int64_t)cfa[0].number2;
	} else if (ncfa == 1 && cfa[0].atom == DW_OP_bregx) {
		b->st.unexp_cfa++;
		return "CFA on a register other than SP and FP";
	} else if (is_plt_expr(cfa, ncfa, &off, &plt_min)) {
		r->cfa_base = IGNIS_CFA_PLT;
		r->plt_min = plt_min;
	} else {
		b->st.unexp_cfa++;
		return "CFA expression";
	}
	if (!at_cfa(ra, nra, &raoff) || !fits32(raoff) || !fits32(off)) {
		memset(r, 0, sizeof(*r));
		b->st.unexp_ra++;
		return "return address not at CFA + offset";
	}
	r->cfa_off = off;
	r->ra_off = raoff;
	if (kfp == REG_SAME) {
		r->fp_rule = IGNIS_FP_SAME;
	} else if (kfp == REG_OPS && at_cfa(fp, nfp, &fpoff) && fits32(fpoff)) {
		r->fp_rule = IGNIS_FP_AT_CFA;
		r->fp_off = fpoff;
	} else {
		/* Undefined (clobbered), in another register, or an
		 * expression: the walker must not trust FP any more. */
		r->fp_rule = IGNIS_FP_UNKNOWN;
	}
	return NULL;
}

/* The rows of one FDE, read back from libdw from lo to hi. A row libdw
 * places outside [lo, hi) would mean it used another FDE (collect_fdes()
 * hides the others from it): the FDE is dropped. */
static int fde_rows(struct builder *b, Dwarf_CFI *cfi, const struct fde *f)
{
	size_t mark = b->nrows, n = 0;
	struct ignis_unw_rule r;
	const char *why;
	Dwarf_Frame *frame;
	Dwarf_Addr start, end;
	bool signal;
	uint64_t pc;
	int err;

	for (pc = f->lo; pc < f->hi; pc = end) {
		if (n++ == MAX_ROWS_PER_FDE) {
			/* The rest of the FDE gets no rows: the run ends
			 * with INVALID at pc. */
			b->st.cut++;
			break;
		}
		if (dwarf_cfi_addrframe(cfi, pc, &frame))
			goto bad;
		if (dwarf_frame_info(frame, &start, &end, &signal) < 0 || start > pc || end <= pc ||
		    start < f->lo || end > f->hi) {
			free(frame);
			goto bad;
		}
		why = cfi_rule(b, frame, signal, &r);
		free(frame);
		if (why)
			pr_debug("unwtable: %#lx-%#lx not expressible: %s\n", (unsigned long)pc,
				 (unsigned long)end, why);
		err = add_row(b, pc, end, &r);
		if (err)
			return err;
	}
	return add_range(&b->kept, f->lo, pc);
bad:
	b->nrows = mark;
	b->st.bad_fdes++;
	return 0;
}

struct fdelist {
	struct fde *v;
	size_t n, cap;
};

/* Makes the entry at off unreadable to libdw: its CIE pointer then points
 * at no CIE (0xff..fe: past the start of .eh_frame, where its pointers
 * count back from; no CIE's offset in .debug_frame, and not the all-ones
 * that would make the entry a CIE). */
static void hide_fde(Elf_Data *data, Dwarf_Off off, bool big)
{
	uint8_t *p = (uint8_t *)data->d_buf + off;
	size_t len, i;

	/* dwarf_next_cfi read the whole entry: its id is there. */
	if (p[0] == 0xff && p[1] == 0xff && p[2] == 0xff && p[3] == 0xff) {
		p += 12;
		len = 8;
	} else {
		p += 4;
		len = 4;
	}
	for (i = 0; i < len; i++)
		p[i] = 0xff;
	p[big ? len - 1 : 0] = 0xfe;
}

/* The FDEs of one CFI section (its raw bytes, a private copy, at link-time
 * address vaddr) to read rows of, in section order. Every other FDE (bad,
 * overlapping one before it, or described by a preferred source) is
 * hidden from libdw, which looks FDEs up by address: it can then only ever
 * answer with an FDE of this list, whichever order it reads them in. */
static int collect_fdes(struct builder *b, Elf_Data *data, uint64_t vaddr, bool eh,
			const unsigned char *ident, struct fdelist *out)
{
	bool big = ident[EI_DATA] == ELFDATA2MSB;
	Dwarf_Off off = 0, next, cie_next, at;
	Dwarf_CFI_Entry e, cie;
	struct rangeset mine = { 0 };
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
		at = off;
		off = next;
		if (dwarf_cfi_cie_p(&e))
			continue;
		b->st.fdes++;
		if (dwarf_next_cfi(ident, data, eh, e.fde.CIE_pointer, &cie_next, &cie) ||
		    !dwarf_cfi_cie_p(&cie) || !cie_fde_encoding(&cie.cie, eh, big, &enc) ||
		    !fde_range(&e.fde, &cie.cie, enc, big,
			       vaddr + (e.fde.start - (const uint8_t *)data->d_buf), &lo, &hi) ||
		    !in_exec(b, lo, hi)) {
			b->st.bad_fdes++;
			hide_fde(data, at, big);
			continue;
		}
		if (covered(&b->kept, lo, hi)) {
			b->st.shadowed++;
			hide_fde(data, at, big);
			continue;
		}
		if (covered(&mine, lo, hi)) {
			/* First wins. */
			b->st.overlaps++;
			hide_fde(data, at, big);
			continue;
		}
		err = grow((void **)&out->v, &out->cap, out->n + 1, sizeof(*out->v));
		if (!err)
			err = add_range(&mine, lo, hi);
		if (err)
			break;
		out->v[out->n++] = (struct fde){ .lo = lo, .hi = hi };
	}
	free(mine.r);
	return err;
}

static int fdes_rows(struct builder *b, Dwarf_CFI *cfi, const struct fdelist *l)
{
	size_t i;
	int err;

	for (i = 0; i < l->n; i++) {
		err = fde_rows(b, cfi, &l->v[i]);
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

/* A libelf handle over a copy of one section alone (name: ".eh_frame" or
 * ".debug_frame"; its raw bytes, link-time address and flags), so that
 * libdw sees nothing else of the file:
 *  - .eh_frame without .eh_frame_hdr: libdw then reads the FDEs in section
 *    order, interning each, where a count in the header that lies makes it
 *    refuse the whole section, an unsorted or stale search table makes it
 *    answer with another FDE than the one asked about, and of two
 *    overlapping FDEs it would keep whichever it met first;
 *  - .debug_frame without the rest of the DWARF, which dwarf_begin_elf
 *    would otherwise inflate whole when compressed.
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
	struct fdelist fdes = { 0 };
	Dwarf_CFI *cfi = NULL;
	Elf_Data *data, *own;
	char *image = NULL;
	Elf *alone = NULL;
	Elf_Scn *scn;
	GElf_Shdr sh;
	int err = 0;

	scn = find_section(b->elf, ".eh_frame", &sh);
	if (!scn || !sh.sh_size)
		return 0;
	*found = true;
	data = elf_rawdata(scn, NULL);
	if (data && data->d_buf)
		alone = section_only(b->elf, ".eh_frame", data->d_buf, data->d_size, sh.sh_addr,
				     SHF_ALLOC, &image);
	scn = alone ? elf_nextscn(alone, NULL) : NULL;
	own = scn ? elf_rawdata(scn, NULL) : NULL;
	if (!own || !own->d_buf) {
		pr_debug("unwtable: .eh_frame unusable\n");
		b->st.bad_sections++;
		goto cleanup;
	}
	err = collect_fdes(b, own, sh.sh_addr, true, (const unsigned char *)elf_getident(alone, NULL),
			   &fdes);
	if (err || !fdes.n)
		goto cleanup;
	cfi = dwarf_getcfi_elf(alone);
	if (!cfi) {
		pr_debug("unwtable: .eh_frame unusable: %s\n", dwarf_errmsg(-1));
		b->st.bad_sections++;
		goto cleanup;
	}
	err = fdes_rows(b, cfi, &fdes);
cleanup:
	free(fdes.v);
	if (cfi)
		dwarf_cfi_end(cfi);
	if (alone)
		elf_end(alone);
	free(image);
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
	Dwarf_CFI *cfi = NULL;
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
	/* libdw reads the section (as hidden by now) on first use. */
	cfi = dw ? dwarf_getcfi(dw) : NULL;
	if (!cfi) {
		pr_debug("unwtable: .debug_frame unusable: %s\n", dwarf_errmsg(-1));
		b->st.bad_sections++;
		goto cleanup;
	}
	err = fdes_rows(b, cfi, &fdes);
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

	qsort(b->rows, b->nrows, sizeof(*b->rows), cmp_raw);
	for (i = 0; i < b->nrows; i++) {
		const struct raw_row *r = &b->rows[i];

		if (r->pc > UINT32_MAX || r->end > UINT32_MAX)
			return -E2BIG;  /* in_exec() let no such row through */
		if (!r->rule)
			t->st.unexpressible++;
		if (t->nrows && end != r->pc) {
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
