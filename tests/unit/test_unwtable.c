/* The unwind-table compiler against libdw's own reading of the same CFI, at
 * every instruction of the system's libc; against a Go binary's pcsp tables
 * and the Go linker's .debug_frame; and on broken copies of a small real
 * binary (truncated, corrupt lengths, overlapping FDEs, a lying
 * .eh_frame_hdr), where it must refuse or cut, count why, and never give a
 * row the intact binary does not have. Prints compile time and sizes. */
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/gopclntab.h"
#include "tests/unit/support.h"
#include "unwinder/unwtable.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

static const char go_src[] =
	"package main\n"
	"\n"
	"import \"os\"\n"
	"\n"
	"var sink int\n"
	"\n"
	"//go:noinline\n"
	"func hot(n int) int {\n"
	"	s := 0\n"
	"	for i := 0; i < n; i++ {\n"
	"		s += i * i\n"
	"	}\n"
	"	return s\n"
	"}\n"
	"\n"
	"//go:noinline\n"
	"func mid(n int) int {\n"
	"	b := make([]int, n)\n"
	"	return hot(n) + len(b) + len(os.Args)\n"
	"}\n"
	"\n"
	"func main() {\n"
	"	sink = mid(len(os.Args) * 100)\n"
	"}\n";

/* A few functions with frames of their own, for the broken copies. */
static const char small_src[] =
	"#include <stdlib.h>\n"
	"volatile int sink;\n"
	"__attribute__((noinline)) int leaf(int x) { return x * 3 + sink; }\n"
	"__attribute__((noinline)) int big(int n) {\n"
	"	int *v = alloca(n * sizeof(int) + 16);\n"
	"	for (int i = 0; i < n; i++) v[i] = leaf(i);\n"
	"	return v[n / 2];\n"
	"}\n"
	"__attribute__((noinline)) int mid(int n) { return big(n) + leaf(n) + 1; }\n"
	"__attribute__((noinline)) int top(int n) { return mid(n) * mid(n + 1); }\n"
	"int main(int argc, char **argv) { (void)argv; return top(argc + 3) & 1; }\n";

static struct {
	char *dir;
	char *go, *go_s;
	char *small, *small_df;
	const char *self;  /* this test program, or the ignis binary next to it */
} w;

static char *self_ignis;

/* ---- tables and their invariants ---------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct unw_table *compile_path(const char *path, size_t max_rows, double *secs)
{
	struct unw_table *t;
	double t0;
	Elf *e;
	int fd;

	e = support__elf_open(path, &fd);
	if (!e)
		return NULL;
	t0 = now_s();
	t = unw_table__compile(e, NULL, max_rows);
	if (secs)
		*secs = now_s() - t0;
	support__elf_close(e, fd);
	return t;
}

/* What every table must be: sorted rows, merged, ending INVALID, with
 * deduplicated rules, rule 0 INVALID. */
static void check_shape(const struct unw_table *t)
{
	const struct ignis_unw_row *rows = unw_table__rows(t);
	const struct ignis_unw_rule *rules = unw_table__rules(t);
	size_t n = unw_table__nrows(t), nr = unw_table__nrules(t), i, j;
	struct unw_table_stats st;

	assert_true(n >= 2);
	assert_true(nr >= 1);
	assert_int_equal(rules[0].cfa_base, IGNIS_CFA_INVALID);
	assert_int_equal(rows[n - 1].rule, 0);
	for (i = 0; i < n; i++) {
		assert_true(rows[i].rule < nr);
		if (i) {
			assert_true(rows[i - 1].pc < rows[i].pc);
			assert_true(rows[i - 1].rule != rows[i].rule);
		}
	}
	for (i = 0; i < nr; i++)
		for (j = i + 1; j < nr; j++)
			assert_true(memcmp(&rules[i], &rules[j], sizeof(rules[i])));
	unw_table__stats(t, &st);
	assert_int_equal(st.rows, n);
	assert_int_equal(st.rules, nr);
}

static void check_same(const struct unw_table *a, const struct unw_table *b);

static const struct ignis_unw_rule *rule_at(const struct unw_table *t, uint64_t pc)
{
	const struct ignis_unw_row *r = unw_table__find(t, pc);

	return r ? &unw_table__rules(t)[r->rule] : NULL;
}

static bool rule_valid(const struct ignis_unw_rule *r)
{
	return r && r->cfa_base != IGNIS_CFA_INVALID;
}

/* Every pc a damaged copy's table covers with a rule has the same rule in
 * the intact binary's table: a cut or refused table, never a wrong row. */
static void check_subset(const struct unw_table *bad, const struct unw_table *good)
{
	const struct ignis_unw_row *rows = unw_table__rows(bad);
	size_t n = unw_table__nrows(bad), i;
	uint64_t pc;

	for (i = 0; i + 1 < n; i++) {
		const struct ignis_unw_rule *r = &unw_table__rules(bad)[rows[i].rule];

		if (!rule_valid(r))
			continue;
		for (pc = rows[i].pc; pc < rows[i + 1].pc; pc++) {
			const struct ignis_unw_rule *g = rule_at(good, pc);

			assert_non_null(g);
			assert_memory_equal(r, g, sizeof(*r));
		}
	}
}

/* ---- a DWARF expression evaluator (the reference side) ------------------ */

struct regs {
	uint64_t sp, fp, pc;
};

/* Memory of the synthetic stack: a value no offset arithmetic can hit by
 * chance. */
static uint64_t mem(uint64_t addr)
{
	return (addr * 0x9e3779b97f4a7c15ULL) ^ 0x5bd1e995;
}

static bool reg_val(const struct regs *r, uint64_t reg, uint64_t *v)
{
	switch (reg) {
	case 6:
		*v = r->fp;
		return true;
	case 7:
		*v = r->sp;
		return true;
	case 16:
		*v = r->pc;
		return true;
	}
	return false;
}

/* Evaluates ops; false for what the reference does not model. *value says
 * whether the result is a value (DW_OP_stack_value) or a location. */
static bool eval(const Dwarf_Op *ops, size_t n, const struct regs *r, uint64_t cfa, uint64_t *out,
		 bool *value)
{
	uint64_t st[16], v;
	size_t sp = 0, i;

	*value = false;
	for (i = 0; i < n; i++) {
		uint8_t a = ops[i].atom;

		if (sp >= 15)
			return false;
		if (a >= DW_OP_lit0 && a <= DW_OP_lit31) {
			st[sp++] = a - DW_OP_lit0;
		} else if (a >= DW_OP_breg0 && a <= DW_OP_breg31) {
			if (!reg_val(r, a - DW_OP_breg0, &v))
				return false;
			st[sp++] = v + ops[i].number;
		} else if (a == DW_OP_bregx) {
			if (!reg_val(r, ops[i].number, &v))
				return false;
			st[sp++] = v + ops[i].number2;
		} else if (a == DW_OP_call_frame_cfa) {
			st[sp++] = cfa;
		} else if (a == DW_OP_stack_value) {
			*value = true;
		} else {
			if (sp < 1)
				return false;
			switch (a) {
			case DW_OP_plus_uconst:
				st[sp - 1] += ops[i].number;
				continue;
			case DW_OP_deref:
				st[sp - 1] = mem(st[sp - 1]);
				continue;
			}
			if (sp < 2)
				return false;
			sp--;
			switch (a) {
			case DW_OP_plus:
				st[sp - 1] += st[sp];
				break;
			case DW_OP_minus:
				st[sp - 1] -= st[sp];
				break;
			case DW_OP_and:
				st[sp - 1] &= st[sp];
				break;
			case DW_OP_shl:
				st[sp - 1] <<= st[sp];
				break;
			case DW_OP_ge:
				st[sp - 1] = (int64_t)st[sp - 1] >= (int64_t)st[sp];
				break;
			default:
				return false;
			}
		}
	}
	if (!sp)
		return false;
	*out = st[sp - 1];
	return true;
}

/* What the walker computes from a rule. */
struct applied {
	uint64_t cfa, ra_at;
	bool fp_known, fp_same;
	uint64_t fp_at;
};

static bool apply(const struct ignis_unw_rule *r, const struct regs *g, struct applied *a)
{
	uint64_t u = 0;

	memset(a, 0, sizeof(*a));
	switch (r->cfa_base) {
	case IGNIS_CFA_SP:
		a->cfa = g->sp + r->cfa_off;
		break;
	case IGNIS_CFA_FP:
		a->cfa = g->fp + r->cfa_off;
		break;
	case IGNIS_CFA_PLT:
		a->cfa = g->sp + r->cfa_off + ((g->pc & 15) >= r->plt_min ? 8 : 0);
		break;
	case IGNIS_CFA_SIGNAL:
		u = g->sp + r->cfa_off;
		a->cfa = mem(u + IGNIS_UC_SP);
		a->ra_at = u + r->ra_off;
		a->fp_known = r->fp_rule != IGNIS_FP_UNKNOWN;
		a->fp_same = r->fp_rule == IGNIS_FP_SAME;
		a->fp_at = u + r->fp_off;
		return true;
	default:
		return false;
	}
	a->ra_at = a->cfa + r->ra_off;
	a->fp_known = r->fp_rule != IGNIS_FP_UNKNOWN;
	a->fp_same = r->fp_rule == IGNIS_FP_SAME;
	a->fp_at = a->cfa + r->fp_off;
	return true;
}

struct diff_counts {
	size_t agree, disagree, unexpressible, uncovered, fp_unknown, end, after_sigreturn;
};

/* One pc: the table against libdw's CFI for it. */
/* go: BP is not compared (Go's .debug_frame does not say where it is), and
 * END is what the table gives the runtime's top frames (goexit, mstart)
 * whatever the CFI says: test_go_pcsp checks it is only there. */
static void diff_pc(Dwarf_CFI *cfi, const struct unw_table *t, uint64_t pc, bool go,
		    struct diff_counts *c)
{
	const struct ignis_unw_rule *r = rule_at(t, pc);
	struct regs g = { .sp = 0x7ffd00001000ULL, .fp = 0x7ffd00005550ULL, .pc = pc };
	Dwarf_Op mem_ra[3], mem_fp[3], *cfa_ops, *ra_ops, *fp_ops;
	size_t ncfa, nra, nfp;
	uint64_t cfa, ra_at, fp_at;
	bool value, ok = true;
	Dwarf_Frame *f;
	struct applied a;

	if (dwarf_cfi_addrframe(cfi, pc, &f)) {
		/* No CFI: the table must not claim a rule there, but for the
		 * byte after a signal frame's FDE (where a sample in its
		 * rt_sigreturn syscall has its pc), which has the FDE's last
		 * rule. */
		Dwarf_Frame *before;
		Dwarf_Addr lo, hi;
		bool signal = false;

		if (rule_valid(r) && r->cfa_base == IGNIS_CFA_SIGNAL && pc &&
		    !dwarf_cfi_addrframe(cfi, pc - 1, &before)) {
			signal = dwarf_frame_info(before, &lo, &hi, &signal) >= 0 && signal &&
				 hi == pc && !memcmp(r, rule_at(t, pc - 1), sizeof(*r));
			free(before);
		}
		if (signal) {
			c->after_sigreturn++;
		} else if (rule_valid(r)) {
			if (c->disagree++ < 10)
				print_message("unwtable: %#lx has a rule, libdw has no CFI\n",
					      (unsigned long)pc);
		} else {
			c->uncovered++;
		}
		return;
	}
	if (!rule_valid(r)) {
		c->unexpressible++;
		free(f);
		return;
	}
	if (dwarf_frame_register(f, 16, mem_ra, &ra_ops, &nra) == 0 && nra == 0 && ra_ops) {
		/* Return address undefined: the outermost frame. */
		ok = r->cfa_base == IGNIS_CFA_END;
		c->end += ok;
		goto out;
	}
	if (go && r->cfa_base == IGNIS_CFA_END) {
		c->end++;
		goto out;
	}
	if (r->cfa_base == IGNIS_CFA_END || dwarf_frame_cfa(f, &cfa_ops, &ncfa) || !ncfa ||
	    !eval(cfa_ops, ncfa, &g, 0, &cfa, &value) ||
	    dwarf_frame_register(f, 16, mem_ra, &ra_ops, &nra) || !nra ||
	    !eval(ra_ops, nra, &g, cfa, &ra_at, &value) || value || !apply(r, &g, &a) ||
	    a.cfa != cfa || a.ra_at != ra_at) {
		ok = false;
		goto out;
	}
	if (go)
		goto out;
	if (dwarf_frame_register(f, 6, mem_fp, &fp_ops, &nfp)) {
		ok = false;
		goto out;
	}
	if (!a.fp_known) {
		c->fp_unknown++;
	} else if (a.fp_same) {
		ok = nfp == 0 && !fp_ops;
	} else {
		ok = nfp && eval(fp_ops, nfp, &g, cfa, &fp_at, &value) && !value && fp_at == a.fp_at;
	}
out:
	if (ok) {
		c->agree++;
	} else if (c->disagree++ < 10) {
		print_message("unwtable: %#lx disagrees: rule base %u cfa_off %d ra_off %d fp %u/%d\n",
			      (unsigned long)pc, r->cfa_base, r->cfa_off, r->ra_off, r->fp_rule,
			      r->fp_off);
	}
	free(f);
}

/* Instruction addresses objdump finds in path; the count in *n. With
 * pad, whether each is an int3 (padding between functions) in *pad. */
static uint64_t *insn_addrs(const char *path, size_t *n, bool **pad)
{
	char *out = support__read_cmd("objdump -d --no-show-raw-insn '%s'", path), *line, *save = NULL;
	uint64_t *v = NULL, a;
	size_t cap = 0;
	char *end;

	*n = 0;
	if (pad)
		*pad = NULL;
	if (!out)
		return NULL;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] != ' ')
			continue;
		a = strtoull(line, &end, 16);
		if (end == line || *end != ':' || end[1] != '\t')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 4096;
			v = realloc(v, cap * sizeof(*v));
			assert_non_null(v);
			if (pad) {
				*pad = realloc(*pad, cap * sizeof(**pad));
				assert_non_null(*pad);
			}
		}
		if (pad)
			(*pad)[*n] = !strcmp(end + 2, "int3");
		v[(*n)++] = a;
	}
	free(out);
	return v;
}

static void print_stats(const char *what, const struct unw_table *t, double secs)
{
	struct unw_table_stats st;

	unw_table__stats(t, &st);
	print_message("unwtable: %s: %.1f ms, %zu rows, %zu rules, %zu bytes; fdes %lu, bad %lu, "
		      "bad sections %lu, overlaps %lu, shadowed %lu, cut %lu, unexpressible %lu "
		      "(cfa %lu, ra %lu), go funcs %lu (spwrite %lu)\n",
		      what, secs * 1e3, unw_table__nrows(t), unw_table__nrules(t),
		      unw_table__bytes(t), (unsigned long)st.fdes, (unsigned long)st.bad_fdes,
		      (unsigned long)st.bad_sections, (unsigned long)st.overlaps,
		      (unsigned long)st.shadowed, (unsigned long)st.cut,
		      (unsigned long)st.unexpressible, (unsigned long)st.unexp_cfa,
		      (unsigned long)st.unexp_ra, (unsigned long)st.go_funcs,
		      (unsigned long)st.go_spwrite);
}

/* ---- libc: every instruction against libdw ------------------------------- */

static void test_libc_differential(void **state)
{
	struct diff_counts c = { 0 };
	struct unw_table *t;
	uint64_t *pcs;
	size_t n, i, plt = 0, sig = 0, fpb = 0;
	double secs;
	Dwarf_CFI *cfi;
	Elf *e;
	int fd;

	(void)state;
	t = compile_path(LIBC, 0, &secs);
	assert_non_null(t);
	check_shape(t);
	print_stats("libc", t, secs);
	for (i = 0; i < unw_table__nrules(t); i++) {
		plt += unw_table__rules(t)[i].cfa_base == IGNIS_CFA_PLT;
		sig += unw_table__rules(t)[i].cfa_base == IGNIS_CFA_SIGNAL;
		fpb += unw_table__rules(t)[i].cfa_base == IGNIS_CFA_FP;
	}
	/* libc has a lazy .plt, __restore_rt and functions that set up BP. */
	assert_true(plt >= 1);
	assert_true(sig >= 1);
	assert_true(fpb >= 1);

	pcs = insn_addrs(LIBC, &n, NULL);
	assert_non_null(pcs);
	assert_true(n > 100000);
	e = support__elf_open(LIBC, &fd);
	assert_non_null(e);
	cfi = dwarf_getcfi_elf(e);
	assert_non_null(cfi);
	for (i = 0; i < n; i++)
		diff_pc(cfi, t, pcs[i], false, &c);
	print_message("unwtable: libc: %zu instructions: %zu agree, %zu disagree, %zu unexpressible, "
		      "%zu without CFI, %zu outermost, %zu with FP unknown, %zu after rt_sigreturn\n",
		      n, c.agree, c.disagree, c.unexpressible, c.uncovered, c.end, c.fp_unknown,
		      c.after_sigreturn);
	assert_int_equal(c.disagree, 0);
	/* __restore_rt's syscall: the pc after it has the signal rule. */
	assert_int_equal(c.after_sigreturn, 1);
	/* A handful of hand-written functions only. */
	assert_true(c.unexpressible * 1000 < n);
	assert_true(c.agree > n * 9 / 10);
	assert_true(c.end >= 1);
	dwarf_cfi_end(cfi);
	support__elf_close(e, fd);
	free(pcs);
	unw_table__free(t);
}

/* A row limit cuts the table and the cut table ends with INVALID. */
static void test_max_rows(void **state)
{
	struct unw_table *full, *cut;
	struct unw_table_stats st;

	(void)state;
	full = compile_path(LIBC, 0, NULL);
	cut = compile_path(LIBC, 1000, NULL);
	assert_non_null(full);
	assert_non_null(cut);
	check_shape(cut);
	assert_true(unw_table__nrows(cut) <= 1000);
	unw_table__stats(cut, &st);
	assert_true(st.cut >= unw_table__nrows(full) - 1000);
	check_subset(cut, full);
	unw_table__free(cut);
	unw_table__free(full);
}

/* ---- Go ------------------------------------------------------------------ */

struct pcsp_check {
	const struct unw_table *t;
	size_t agree, disagree;
	bool framed, saved;  /* of the function at hand */
};

static int pcsp_check_run(void *arg, uint64_t start, uint64_t end, int32_t sp)
{
	struct pcsp_check *c = arg;
	uint64_t pc;

	for (pc = start; pc < end; pc++) {
		const struct ignis_unw_rule *r = rule_at(c->t, pc);

		if (r && r->cfa_base == IGNIS_CFA_SP && r->cfa_off == sp + 8 && r->ra_off == -8) {
			c->agree++;
			c->framed |= sp > 0;
			c->saved |= r->fp_rule == IGNIS_FP_AT_CFA && r->fp_off == -16;
		} else if (c->disagree++ < 10) {
			print_message("unwtable: go %#lx: pcsp %d, rule %u/%d/%d\n", (unsigned long)pc,
				      sp, r ? r->cfa_base : 99, r ? r->cfa_off : 0, r ? r->ra_off : 0);
		}
	}
	return 0;
}

/* The stripped build's table: the SP delta of every pc of every function
 * is what its pcsp table says, and a function starts with CFA = SP + 8,
 * RA at CFA - 8, FP untouched. */
static void test_go_pcsp(void **state)
{
	struct pcsp_check c = { 0 };
	struct gopclntab_func f;
	struct unw_table_stats st;
	struct gopclntab *g;
	struct unw_table *t;
	size_t i, n, top = 0, plain = 0, fp_saved = 0, fp_unknown = 0, framed = 0, framed_unsaved = 0;
	double secs;
	Elf *e;
	int fd;

	(void)state;
	e = support__elf_open(w.go_s, &fd);
	assert_non_null(e);
	secs = now_s();
	t = unw_table__compile(e, NULL, 0);
	secs = now_s() - secs;
	assert_non_null(t);
	check_shape(t);
	print_stats("go (stripped)", t, secs);
	unw_table__stats(t, &st);
	assert_int_equal(st.fdes, 0);  /* no .eh_frame: all from .gopclntab */
	g = gopclntab__open(e);
	assert_non_null(g);
	c.t = t;
	n = gopclntab__nfunc(g);
	assert_int_equal(st.go_funcs, n);
	for (i = 0; i < n; i++) {
		const struct ignis_unw_rule *r;

		assert_int_equal(gopclntab__func(g, i, &f), 0);
		r = rule_at(t, f.entry);
		assert_non_null(r);
		if (f.flag & GOPCLNTAB_FLAG_TOPFRAME) {
			assert_int_equal(r->cfa_base, IGNIS_CFA_END);
			top++;
			continue;
		}
		if (f.flag & GOPCLNTAB_FLAG_SPWRITE) {
			assert_int_equal(r->cfa_base, IGNIS_CFA_INVALID);
			continue;
		}
		assert_int_equal(r->cfa_base, IGNIS_CFA_SP);
		assert_int_equal(r->cfa_off, 8);
		assert_int_equal(r->ra_off, -8);
		assert_int_equal(r->fp_rule, IGNIS_FP_SAME);
		c.framed = c.saved = false;
		assert_int_equal(gopclntab__pcsp(g, i, pcsp_check_run, &c), 0);
		plain++;
		framed += c.framed;
		framed_unsaved += c.framed && !c.saved;
	}
	for (i = 0; i < unw_table__nrows(t); i++) {
		const struct ignis_unw_rule *r = &unw_table__rules(t)[unw_table__rows(t)[i].rule];

		fp_saved += r->fp_rule == IGNIS_FP_AT_CFA;
		fp_unknown += r->fp_rule == IGNIS_FP_UNKNOWN;
	}
	print_message("unwtable: go: %zu functions (%zu top frames), %zu pcs agree with pcsp, "
		      "%zu disagree; %zu functions with a frame, %zu of them without BP saved; "
		      "rows with BP saved %zu, unknown %zu\n", n, top, c.agree,
		      c.disagree, framed, framed_unsaved, fp_saved, fp_unknown);
	/* Go functions with a frame save BP in the prologue shapes the
	 * compiler makes (assembly without one may not). */
	assert_true(framed > n / 2);
	assert_true(framed_unsaved * 200 < framed);
	assert_true(fp_unknown * 100 < unw_table__nrows(t));
	assert_true(top >= 1);  /* runtime.goexit */
	assert_true(plain > n / 2);
	assert_int_equal(c.disagree, 0);
	assert_true(c.agree > 10000);
	gopclntab__free(g);
	unw_table__free(t);
	support__elf_close(e, fd);
}

/* The same build unstripped has the Go linker's .debug_frame: at every
 * instruction, its CFA and RA location are the stripped build's table's. */
static void test_go_debug_frame(void **state)
{
	struct diff_counts c = { 0 };
	struct unw_table *t;
	size_t n, i, npad = 0;
	uint64_t *pcs;
	bool *pad;
	Dwarf_CFI *cfi;
	Dwarf *dw;
	Elf *e;
	int fd;

	(void)state;
	/* -s -w drops symbols and DWARF, not code. */
	assert_int_equal(support__run("cd '%s' && objdump -d --no-show-raw-insn '%s' | grep -oE '^ +[0-9a-f]+:' >a.txt && "
				      "objdump -d --no-show-raw-insn '%s' | grep -oE '^ +[0-9a-f]+:' >b.txt && "
				      "cmp -s a.txt b.txt", w.dir, w.go, w.go_s), 0);
	t = compile_path(w.go_s, 0, NULL);
	assert_non_null(t);
	e = support__elf_open(w.go, &fd);
	assert_non_null(e);
	dw = dwarf_begin_elf(e, DWARF_C_READ, NULL);
	assert_non_null(dw);
	cfi = dwarf_getcfi(dw);
	assert_non_null(cfi);
	pcs = insn_addrs(w.go_s, &n, &pad);
	assert_true(n > 10000);
	/* Go's .debug_frame says nothing of BP (FP "same" all along) where
	 * the table knows the prologue saved it: CFA and RA only here,
	 * test_go_frame_pointer checks BP. */
	for (i = 0; i < n; i++) {
		/* The pcsp tables run on over the int3 padding after a
		 * function, the Go linker's FDEs stop before it: a rule for
		 * code that never runs either way. */
		if (pad[i]) {
			npad++;
			continue;
		}
		diff_pc(cfi, t, pcs[i], true, &c);
	}
	print_message("unwtable: go vs .debug_frame: %zu instructions: %zu agree, %zu disagree, "
		      "%zu unexpressible, %zu without CFI, %zu outermost, %zu int3 padding\n",
		      n, c.agree, c.disagree, c.unexpressible, c.uncovered, c.end, npad);
	assert_int_equal(c.disagree, 0);
	assert_true(c.agree > (n - npad) * 9 / 10);
	free(pcs);
	free(pad);
	dwarf_end(dw);
	support__elf_close(e, fd);
	unw_table__free(t);
}

/* In main.mid (Go 1.19: SUBQ $n, SP; MOVQ BP, n-8(SP)), BP is the
 * caller's until the store is done, then at CFA - 16. */
static void test_go_frame_pointer(void **state)
{
	char *out, *p;
	uint64_t store = 0, entry, size;
	const struct ignis_unw_rule *r;
	struct unw_table *t;

	(void)state;
	assert_int_equal(support__symbol(w.go, "main.mid", &entry, &size), 0);
	out = support__read_cmd("objdump -d --no-show-raw-insn --start-address=%#lx --stop-address=%#lx '%s'",
				(unsigned long)entry, (unsigned long)(entry + size), w.go);
	assert_non_null(out);
	p = strstr(out, "mov    %rbp,0x");
	if (!p)
		p = strstr(out, "push   %rbp");
	assert_non_null(p);
	while (p > out && p[-1] != '\n')
		p--;
	store = strtoull(p, NULL, 16);
	free(out);
	assert_true(store > entry);

	t = compile_path(w.go_s, 0, NULL);
	assert_non_null(t);
	r = rule_at(t, store);
	assert_non_null(r);
	assert_int_equal(r->cfa_base, IGNIS_CFA_SP);
	assert_int_equal(r->fp_rule, IGNIS_FP_SAME);
	r = rule_at(t, store + 5);
	assert_non_null(r);
	assert_int_equal(r->fp_rule, IGNIS_FP_AT_CFA);
	assert_int_equal(r->fp_off, -16);
	unw_table__free(t);
}

/* ---- .debug_frame, the binary's and a separate debug file's ------------- */

/* Built without unwind tables, the program's own functions are described
 * in .debug_frame only (crt's in .eh_frame): at every instruction the
 * table agrees with libdw reading whichever section has the pc. */
static void test_debug_frame(void **state)
{
	struct diff_counts c = { 0 };
	struct unw_table_stats st;
	struct unw_table *t;
	Dwarf_CFI *eh, *df, *cfi;
	Dwarf_Frame *f;
	uint64_t *pcs, mid;
	size_t n, i, from_df = 0;
	Dwarf *dw;
	Elf *e;
	int fd;

	(void)state;
	assert_int_equal(support__symbol(w.small_df, "mid", &mid, NULL), 0);
	t = compile_path(w.small_df, 0, NULL);
	assert_non_null(t);
	check_shape(t);
	unw_table__stats(t, &st);
	assert_true(rule_valid(rule_at(t, mid)));
	e = support__elf_open(w.small_df, &fd);
	assert_non_null(e);
	eh = dwarf_getcfi_elf(e);
	dw = dwarf_begin_elf(e, DWARF_C_READ, NULL);
	assert_non_null(eh);
	assert_non_null(dw);
	df = dwarf_getcfi(dw);
	assert_non_null(df);
	/* mid is not in .eh_frame. */
	assert_int_not_equal(dwarf_cfi_addrframe(eh, mid, &f), 0);
	pcs = insn_addrs(w.small_df, &n, NULL);
	assert_true(n > 20);
	for (i = 0; i < n; i++) {
		cfi = eh;
		if (!dwarf_cfi_addrframe(df, pcs[i], &f)) {
			free(f);
			cfi = df;
			from_df++;
		}
		diff_pc(cfi, t, pcs[i], false, &c);
	}
	print_message("unwtable: .debug_frame: %zu instructions (%zu in .debug_frame): %zu agree, "
		      "%zu disagree, %zu without CFI\n", n, from_df, c.agree, c.disagree, c.uncovered);
	assert_int_equal(c.disagree, 0);
	assert_true(from_df > 10);
	assert_true(c.agree > from_df);
	free(pcs);
	dwarf_end(dw);
	dwarf_cfi_end(eh);
	support__elf_close(e, fd);
	unw_table__free(t);
}

/* Stripped of its .debug_frame, the program's functions are found in the
 * separate debug file given, and only there. */
static void test_debug_file(void **state)
{
	struct unw_table *with, *without, *full;
	char *stripped, *debug;
	Elf *e, *d;
	int fd, dfd;
	uint64_t mid;

	(void)state;
	stripped = support__path(w.dir, "small-df-stripped");
	debug = support__path(w.dir, "small-df.debug");
	assert_non_null(stripped);
	assert_non_null(debug);
	assert_int_equal(support__run("objcopy --only-keep-debug '%s' '%s' && objcopy --strip-debug '%s' '%s'",
				      w.small_df, debug, w.small_df, stripped), 0);
	assert_int_equal(support__symbol(w.small_df, "mid", &mid, NULL), 0);
	e = support__elf_open(stripped, &fd);
	d = support__elf_open(debug, &dfd);
	assert_non_null(e);
	assert_non_null(d);
	without = unw_table__compile(e, NULL, 0);
	with = unw_table__compile(e, d, 0);
	full = compile_path(w.small_df, 0, NULL);
	assert_non_null(without);
	assert_non_null(with);
	assert_non_null(full);
	assert_false(rule_valid(rule_at(without, mid)));
	assert_true(rule_valid(rule_at(with, mid)));
	check_same(with, full);
	unw_table__free(without);
	unw_table__free(with);
	unw_table__free(full);
	support__elf_close(d, dfd);
	support__elf_close(e, fd);
	free(stripped);
	free(debug);
}

/* ---- broken copies of a small binary ------------------------------------- */

struct image {
	uint8_t *buf;
	size_t len;
	uint64_t eh_off, eh_size, eh_addr, eh_shdr;  /* .eh_frame; eh_shdr: its header's offset */
	uint64_t hdr_off, hdr_size;
};

static void image_load(struct image *im, const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh, shstr;
	size_t i;

	memset(im, 0, sizeof(*im));
	im->buf = support__read_file(path, &im->len);
	assert_non_null(im->buf);
	memcpy(&eh, im->buf, sizeof(eh));
	memcpy(&shstr, im->buf + eh.e_shoff + (uint64_t)eh.e_shstrndx * sizeof(sh), sizeof(sh));
	for (i = 0; i < eh.e_shnum; i++) {
		const char *name;

		memcpy(&sh, im->buf + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		name = (const char *)im->buf + shstr.sh_offset + sh.sh_name;
		if (!strcmp(name, ".eh_frame")) {
			im->eh_off = sh.sh_offset;
			im->eh_size = sh.sh_size;
			im->eh_addr = sh.sh_addr;
			im->eh_shdr = eh.e_shoff + i * sizeof(sh);
		} else if (!strcmp(name, ".eh_frame_hdr")) {
			im->hdr_off = sh.sh_offset;
			im->hdr_size = sh.sh_size;
		}
	}
	assert_true(im->eh_size > 0);
	assert_true(im->hdr_size > 0);
}

static struct unw_table *compile_image(const struct image *im, struct unw_table_stats *st,
				       int *err)
{
	struct unw_table *t;
	Elf *e;

	e = elf_memory((char *)im->buf, im->len);
	if (!e) {
		*err = -ENOEXEC;
		return NULL;
	}
	t = unw_table__compile(e, NULL, 0);
	*err = t ? 0 : -errno;
	if (t) {
		check_shape(t);
		unw_table__stats(t, st);
	}
	elf_end(e);
	return t;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* Offsets in .eh_frame of its entries; the FDEs' in fde[], CIEs skipped. */
static size_t fde_offsets(const struct image *im, uint64_t *fde, size_t max)
{
	uint64_t off = 0, len;
	size_t n = 0;

	while (off + 8 <= im->eh_size && n < max) {
		len = get32(im->buf + im->eh_off + off);
		if (!len)
			break;
		if (get32(im->buf + im->eh_off + off + 4))
			fde[n++] = off;
		off += 4 + len;
	}
	return n;
}

static void test_bad_truncated(void **state)
{
	struct unw_table *good, *t;
	struct unw_table_stats st;
	struct image im;
	Elf64_Shdr sh;
	uint64_t fde[64];
	size_t n;
	int err;

	(void)state;
	image_load(&im, w.small);
	good = compile_image(&im, &st, &err);
	assert_non_null(good);
	n = fde_offsets(&im, fde, 64);
	assert_true(n >= 5);

	/* The section ends in the middle of the third FDE. */
	memcpy(&sh, im.buf + im.eh_shdr, sizeof(sh));
	sh.sh_size = fde[2] + 10;
	memcpy(im.buf + im.eh_shdr, &sh, sizeof(sh));
	t = compile_image(&im, &st, &err);
	if (t) {
		assert_true(st.bad_fdes >= 1);
		check_subset(t, good);
		unw_table__free(t);
	} else {
		assert_int_equal(err, -ENOEXEC);
	}

	/* The file ends in the middle of .eh_frame. */
	free(im.buf);
	image_load(&im, w.small);
	im.len = im.eh_off + fde[2] + 10;
	t = compile_image(&im, &st, &err);
	assert_null(t);
	free(im.buf);
	unw_table__free(good);
}

static void test_bad_lengths(void **state)
{
	struct unw_table *good, *t;
	struct unw_table_stats st, good_st;
	struct image im;
	uint64_t fde[64], lo;
	size_t n, i, big;
	int err;

	(void)state;
	image_load(&im, w.small);
	good = compile_image(&im, &good_st, &err);
	assert_non_null(good);
	n = fde_offsets(&im, fde, 64);

	/* An FDE's length runs past the section: the FDEs before it stand. */
	put32(im.buf + im.eh_off + fde[n / 2], 0x7ffffff0);
	t = compile_image(&im, &st, &err);
	assert_non_null(t);
	assert_true(st.bad_fdes >= 1);
	assert_true(st.fdes < good_st.fdes);
	check_subset(t, good);
	unw_table__free(t);
	free(im.buf);

	/* The CIE's length: nothing is readable. */
	image_load(&im, w.small);
	put32(im.buf + im.eh_off, 0xfffffff0);
	t = compile_image(&im, &st, &err);
	assert_null(t);
	assert_int_equal(err, -ENOEXEC);
	free(im.buf);

	/* An FDE's length too short to hold its range. */
	image_load(&im, w.small);
	put32(im.buf + im.eh_off + fde[1], 6);
	t = compile_image(&im, &st, &err);
	if (t) {
		assert_true(st.bad_fdes >= 1);
		check_subset(t, good);
		unw_table__free(t);
	}
	free(im.buf);

	/* An FDE naming register 2^27, for which libdw would grow every
	 * frame it makes to 2 GiB: refused before libdw runs it. */
	image_load(&im, w.small);
	for (i = 1, big = 0; i < n; i++)
		if (get32(im.buf + im.eh_off + fde[i]) > get32(im.buf + im.eh_off + fde[big]))
			big = i;
	assert_true(get32(im.buf + im.eh_off + fde[big]) >= 20);
	lo = im.eh_addr + fde[big] + 8 + (int32_t)get32(im.buf + im.eh_off + fde[big] + 8);
	assert_true(rule_valid(rule_at(good, lo)));
	/* After length, CIE pointer, pc_begin, pc_range and an empty
	 * augmentation: DW_CFA_offset_extended r2^27, 1. */
	memcpy(im.buf + im.eh_off + fde[big] + 17, "\x05\x80\x80\x80\x40\x01", 6);
	t = compile_image(&im, &st, &err);
	assert_non_null(t);
	assert_int_equal(st.bad_fdes, 1);
	assert_false(rule_valid(rule_at(t, lo)));
	check_subset(t, good);
	unw_table__free(t);
	free(im.buf);

	/* An FDE pointing at no CIE. */
	image_load(&im, w.small);
	put32(im.buf + im.eh_off + fde[n - 1] + 4, 3);
	t = compile_image(&im, &st, &err);
	assert_non_null(t);
	assert_true(st.bad_fdes >= 1);
	check_subset(t, good);
	unw_table__free(t);
	free(im.buf);
	unw_table__free(good);
}

/* FDE k moved to start where FDE k-1 does: the first wins. */
static void test_bad_overlap(void **state)
{
	struct unw_table *good, *t;
	struct unw_table_stats st;
	struct image im;
	uint64_t fde[64], prev_lo, lo, field;
	int32_t rel;
	size_t n, k;
	int err;

	(void)state;
	image_load(&im, w.small);
	good = compile_image(&im, &st, &err);
	assert_non_null(good);
	n = fde_offsets(&im, fde, 64);
	k = n / 2;
	/* gcc's FDEs: pc_begin pcrel sdata4 right after the CIE pointer. */
	field = im.eh_addr + fde[k - 1] + 8;
	prev_lo = field + (int32_t)get32(im.buf + im.eh_off + fde[k - 1] + 8);
	field = im.eh_addr + fde[k] + 8;
	lo = field + (int32_t)get32(im.buf + im.eh_off + fde[k] + 8);
	rel = (int32_t)(prev_lo - field);
	put32(im.buf + im.eh_off + fde[k] + 8, (uint32_t)rel);
	t = compile_image(&im, &st, &err);
	assert_non_null(t);
	assert_int_equal(st.overlaps, 1);
	assert_int_equal(st.bad_fdes, 0);
	/* FDE k-1 stands, FDE k is gone from where it was. */
	assert_true(rule_valid(rule_at(t, prev_lo)));
	assert_true(rule_valid(rule_at(good, lo)));
	assert_false(rule_valid(rule_at(t, lo)));
	check_subset(t, good);
	unw_table__free(t);
	free(im.buf);
	unw_table__free(good);
}

static void check_same(const struct unw_table *a, const struct unw_table *b)
{
	assert_int_equal(unw_table__nrows(a), unw_table__nrows(b));
	assert_int_equal(unw_table__nrules(a), unw_table__nrules(b));
	assert_memory_equal(unw_table__rows(a), unw_table__rows(b),
			    unw_table__nrows(a) * sizeof(struct ignis_unw_row));
	assert_memory_equal(unw_table__rules(a), unw_table__rules(b),
			    unw_table__nrules(a) * sizeof(struct ignis_unw_rule));
}

/* .eh_frame_hdr is not read at all: an FDE count larger than its table
 * (which makes libdw refuse the section when it reads the header), one
 * smaller than the FDEs there are, and a scrambled search table give the
 * intact binary's table. */
static void test_bad_hdr(void **state)
{
	struct unw_table *good, *t;
	struct unw_table_stats st, good_st;
	struct image im;
	uint32_t count, i;
	int err;

	(void)state;
	image_load(&im, w.small);
	good = compile_image(&im, &good_st, &err);
	assert_non_null(good);
	/* version, eh_frame_ptr_enc, fde_count_enc, table_enc, then
	 * eh_frame_ptr and fde_count as 4-byte values (gcc's encodings),
	 * then (initial location, FDE address) pairs. */
	assert_int_equal(im.buf[im.hdr_off], 1);
	assert_int_equal(im.buf[im.hdr_off + 2], DW_EH_PE_udata4);
	count = get32(im.buf + im.hdr_off + 8);
	assert_true(count >= 5);

	put32(im.buf + im.hdr_off + 8, 0x10000000);
	t = compile_image(&im, &st, &err);
	assert_non_null(t);
	check_same(t, good);
	unw_table__free(t);

	put32(im.buf + im.hdr_off + 8, 1);
	t = compile_image(&im, &st, &err);
	assert_non_null(t);
	check_same(t, good);
	unw_table__free(t);

	put32(im.buf + im.hdr_off + 8, count);
	for (i = 0; i < count; i++)
		put32(im.buf + im.hdr_off + 12 + 8 * i, 0x1000 * (count - i));
	t = compile_image(&im, &st, &err);
	assert_non_null(t);
	check_same(t, good);
	unw_table__free(t);
	free(im.buf);
	unw_table__free(good);
}

/* A compressed .debug_frame claiming to inflate to 128 TiB is refused (and
 * counted) before libelf allocates anything for it. */
static void test_bad_compressed(void **state)
{
	struct unw_table *t, *good;
	struct unw_table_stats st;
	struct image im;
	Elf64_Chdr ch;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t shstrndx;
	uint64_t off = 0;
	Elf *e;
	int fd, err;

	(void)state;
	e = support__elf_open(w.go, &fd);
	assert_non_null(e);
	assert_int_equal(elf_getshdrstrndx(e, &shstrndx), 0);
	while ((scn = elf_nextscn(e, scn)))
		if (gelf_getshdr(scn, &sh) && !strcmp(elf_strptr(e, shstrndx, sh.sh_name), ".debug_frame"))
			break;
	assert_non_null(scn);
	assert_true(sh.sh_flags & SHF_COMPRESSED);
	off = sh.sh_offset;
	support__elf_close(e, fd);

	memset(&im, 0, sizeof(im));
	im.buf = support__read_file(w.go, &im.len);
	assert_non_null(im.buf);
	good = compile_image(&im, &st, &err);
	assert_non_null(good);
	assert_int_equal(st.bad_sections, 0);
	assert_true(st.shadowed > 0);  /* .debug_frame read, then left to .gopclntab */
	memcpy(&ch, im.buf + off, sizeof(ch));
	ch.ch_size = 1ULL << 47;
	memcpy(im.buf + off, &ch, sizeof(ch));
	t = compile_image(&im, &st, &err);
	assert_non_null(t);
	assert_int_equal(st.bad_sections, 1);
	assert_int_equal(st.shadowed, 0);
	check_same(t, good);
	unw_table__free(t);
	unw_table__free(good);
	free(im.buf);
}

/* Code above 4 GiB does not fit the rows' 32-bit pcs. */
static void test_e2big(void **state)
{
	struct unw_table_stats st;
	struct image im;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	size_t i;
	int err;

	(void)state;
	image_load(&im, w.small);
	memcpy(&eh, im.buf, sizeof(eh));
	for (i = 0; i < eh.e_phnum; i++) {
		uint64_t at = eh.e_phoff + i * sizeof(ph);

		memcpy(&ph, im.buf + at, sizeof(ph));
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
			ph.p_vaddr += 0x100000000ULL;
			memcpy(im.buf + at, &ph, sizeof(ph));
		}
	}
	assert_null(compile_image(&im, &st, &err));
	assert_int_equal(err, -E2BIG);
	free(im.buf);
}

/* No call frame information at all. */
static void test_enoent(void **state)
{
	struct unw_table_stats st;
	struct image im;
	char *path;
	int err;

	(void)state;
	path = support__path(w.dir, "small-noeh");
	assert_non_null(path);
	assert_int_equal(support__run("objcopy -R .eh_frame -R .eh_frame_hdr -R .debug_frame '%s' '%s'",
				      w.small, path), 0);
	memset(&im, 0, sizeof(im));
	im.buf = support__read_file(path, &im.len);
	assert_non_null(im.buf);
	assert_null(compile_image(&im, &st, &err));
	assert_int_equal(err, -ENOENT);
	free(im.buf);
	free(path);
}

/* ---- figures ------------------------------------------------------------- */

static void test_figures(void **state)
{
	const char *paths[] = { LIBC, w.self, w.go, w.go_s };
	const char *names[] = { "libc.so.6", self_ignis ? "ignis" : "test_unwtable", "go (unstripped)",
				"go (stripped)" };
	struct unw_table *t;
	double secs;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		t = compile_path(paths[i], 0, &secs);
		assert_non_null(t);
		check_shape(t);
		print_stats(names[i], t, secs);
		unw_table__free(t);
	}
}

/* ---- setup ---------------------------------------------------------------- */

static char *go_build(const char *name, const char *flags)
{
	char *out = support__path(w.dir, name);

	if (!out)
		return NULL;
	if (support__run("cd '%s' && GO111MODULE=off GOFLAGS= GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 "
			 "GOCACHE=\"${IGNIS_TEST_GOCACHE:-%s/cache}\" GOPATH='%s/gopath' go build %s -o '%s' main.go",
			 w.dir, w.dir, w.dir, flags, out)) {
		free(out);
		return NULL;
	}
	return out;
}

static int setup(void **state)
{
	char *src, exe[4096], *slash;
	ssize_t n;

	(void)state;
	elf_version(EV_CURRENT);
	if (support__run("command -v go >/dev/null && command -v objdump >/dev/null")) {
		fprintf(stderr, "test_unwtable: needs go and objdump (scripts/deps.sh)\n");
		return -1;
	}
	w.dir = support__tmpdir("unwtable");
	if (!w.dir)
		return -1;
	src = support__path(w.dir, "main.go");
	if (!src || support__write_text(src, go_src)) {
		free(src);
		return -1;
	}
	free(src);
	w.go = go_build("prog", "");
	w.go_s = go_build("prog-s", "-ldflags='-s -w'");
	w.small = support__build_program(w.dir, "small", small_src, "-O2 -fasynchronous-unwind-tables");
	w.small_df = support__build_program(w.dir, "small-df", small_src,
					    "-O2 -g -fno-asynchronous-unwind-tables -fno-exceptions");
	if (!w.go || !w.go_s || !w.small || !w.small_df) {
		fprintf(stderr, "test_unwtable: building the test programs failed\n");
		return -1;
	}
	/* The ignis binary the build put next to the tests, else this one. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (slash && slash > exe) {
		*slash = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			strcpy(slash + 1, "ignis");
			if (!access(exe, R_OK))
				self_ignis = strdup(exe);
		}
	}
	w.self = self_ignis ? self_ignis : "/proc/self/exe";
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(w.go);
	free(w.go_s);
	free(w.small);
	free(w.small_df);
	free(self_ignis);
	support__rmtree(w.dir);
	free(w.dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libc_differential),
		cmocka_unit_test(test_max_rows),
		cmocka_unit_test(test_go_pcsp),
		cmocka_unit_test(test_go_debug_frame),
		cmocka_unit_test(test_go_frame_pointer),
		cmocka_unit_test(test_debug_frame),
		cmocka_unit_test(test_debug_file),
		cmocka_unit_test(test_bad_truncated),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_bad_overlap),
		cmocka_unit_test(test_bad_hdr),
		cmocka_unit_test(test_bad_compressed),
		cmocka_unit_test(test_e2big),
		cmocka_unit_test(test_enoent),
		cmocka_unit_test(test_figures),
	};

	return cmocka_run_group_tests_name("unwtable", tests, setup, teardown);
}
