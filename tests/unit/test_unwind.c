/* The DWARF CFI unwinder on a sample recorded from a real run
 * (tests/fixtures/unwind, made by its make-fixture.sh): a static program
 * built without frame pointers, stopped while spinning in f3 under
 * main -> f1 -> f2 -> f3, with its registers, the stack from sp up to the
 * top of [stack], its maps and its binary. Frames are named from the
 * binary's own symbol table, so a walk that stops at the leaf or strays
 * fails by name. Every copy handed to the unwinder is a heap buffer of
 * exactly stack_len bytes, so a read past the copy is AddressSanitizer's
 * to catch. */
#include <errno.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/unwind.h"
#include "tests/unit/support.h"

#define FIXTURE    "tests/fixtures/unwind"
#define PROC_ROOT  FIXTURE "/proc"
#define PID        4321
#define PID2       4322  /* a symlink to PID: the same process image */
#define NO_MAPS    4320  /* no such directory */
#define BINARY     PROC_ROOT "/4321/root/fixture/deep_static"

/* The whole recorded stack, leaf first. _start's CFI marks its return
 * address undefined, so the walk ends there, cleanly. In glibc 2.34 and
 * later __libc_start_main is an alias of __libc_start_main_impl. */
static const char *const chain[] = {
	"f3", "f2", "f1", "main", "__libc_start_call_main", "__libc_start_main", "_start",
};
#define CHAIN_LEN (sizeof(chain) / sizeof(chain[0]))

struct sym {
	uint64_t lo, hi;
	char *name;
};

static struct {
	uint64_t regs[IGNIS_NREGS];
	uint8_t *stack;
	size_t stack_len;
	struct sym *syms;
	size_t nsyms;
} fx;

/* The function symbols of the fixture binary (.symtab: it is not stripped). */
static int load_syms(const char *path)
{
	Elf_Scn *scn = NULL;
	int fd;
	Elf *e = support__elf_open(path, &fd);

	while (e && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *name;

			if (!gelf_getsym(d, i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
			    !s.st_size || !(name = elf_strptr(e, sh.sh_link, s.st_name)))
				continue;
			fx.syms = realloc(fx.syms, (fx.nsyms + 1) * sizeof(*fx.syms));
			fx.syms[fx.nsyms++] = (struct sym){ s.st_value, s.st_value + s.st_size,
							    strdup(name) };
		}
	}
	support__elf_close(e, fd);
	return fx.nsyms ? 0 : -1;
}

/* Is addr inside a function called name (any of its aliases)? */
static int in_func(uint64_t addr, const char *name)
{
	for (size_t i = 0; i < fx.nsyms; i++)
		if (addr >= fx.syms[i].lo && addr < fx.syms[i].hi &&
		    strcmp(fx.syms[i].name, name) == 0)
			return 1;
	return 0;
}

static const char *func_name(uint64_t addr)
{
	for (size_t i = 0; i < fx.nsyms; i++)
		if (addr >= fx.syms[i].lo && addr < fx.syms[i].hi)
			return fx.syms[i].name;
	return "?";
}

/* Callers' pcs are return addresses: the call is the byte before. */
static uint64_t lookup_pc(const uint64_t *pcs, int i)
{
	return i ? pcs[i] - 1 : pcs[0];
}

static void print_frames(const uint64_t *pcs, int n)
{
	for (int i = 0; i < n; i++)
		print_message("  #%d %#" PRIx64 " %s\n", i, pcs[i], func_name(lookup_pc(pcs, i)));
}

/* pcs[0..n) name chain[0..n), frame by frame. */
static void expect_chain_prefix(const uint64_t *pcs, int n)
{
	assert_true(n >= 1);
	assert_true((size_t)n <= CHAIN_LEN);
	for (int i = 0; i < n; i++) {
		uint64_t pc = lookup_pc(pcs, i);

		if (!in_func(pc, chain[i]))
			fail_msg("frame %d: %#" PRIx64 " is in %s, not %s", i, pcs[i],
				 func_name(pc), chain[i]);
	}
}

static int setup(void **state)
{
	char line[256];
	FILE *f = fopen(FIXTURE "/sample", "r");

	(void)state;
	if (!f) {
		fprintf(stderr, "test_unwind: %s/sample: %s (run from the repo root)\n", FIXTURE,
			strerror(errno));
		return -1;
	}
	if (!fgets(line, sizeof(line), f) ||
	    sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64, &fx.regs[IGNIS_REG_IP],
		   &fx.regs[IGNIS_REG_SP], &fx.regs[IGNIS_REG_BP]) != 3) {
		fclose(f);
		return -1;
	}
	fclose(f);
	fx.stack = support__read_file(FIXTURE "/stack.bin", &fx.stack_len);
	if (!fx.stack || load_syms(BINARY))
		return -1;
	/* The fixture itself: stopped in f3, which has no frame of its own,
	 * so the word at sp is the return address into f2. */
	if (!in_func(fx.regs[IGNIS_REG_IP], "f3") || fx.stack_len < 8) {
		fprintf(stderr, "test_unwind: the fixture is not stopped in f3\n");
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < fx.nsyms; i++)
		free(fx.syms[i].name);
	free(fx.syms);
	free(fx.stack);
	memset(&fx, 0, sizeof(fx));
	return 0;
}

/* Unwinds the recorded sample as process tgid, over an exact-size copy of
 * its first len bytes of stack. */
static int unwind_len(struct unwinder *u, uint32_t tgid, const uint64_t *regs, size_t len,
		      int cut, uint64_t *pcs, size_t max, enum unwind_end *truncated)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct unwind_sample s = {
		.tgid = tgid, .tid = tgid, .regs = regs, .stack = copy,
		.stack_len = len, .stack_cut = cut,
	};
	int n;

	assert_non_null(copy);
	assert_true(len <= fx.stack_len);
	memcpy(copy, fx.stack, len);
	*truncated = (enum unwind_end)-1;
	n = unwinder__unwind(u, &s, pcs, max, truncated);
	free(copy);
	return n;
}

/* The whole recorded stack unwinds to the whole chain, untruncated; the
 * pcs in pcs (room for UNWIND_MAX_FRAMES). */
static void expect_full_chain_pcs(struct unwinder *u, uint32_t tgid, uint64_t *pcs)
{
	enum unwind_end truncated;
	int n = unwind_len(u, tgid, fx.regs, fx.stack_len, 0, pcs, UNWIND_MAX_FRAMES,
			   &truncated);

	if (n != CHAIN_LEN)
		print_frames(pcs, n);
	assert_int_equal(n, CHAIN_LEN);
	expect_chain_prefix(pcs, n);
	assert_int_equal(truncated, UNWIND_END_OTHER);
}

static void expect_full_chain(struct unwinder *u, uint32_t tgid)
{
	uint64_t pcs[UNWIND_MAX_FRAMES];

	expect_full_chain_pcs(u, tgid, pcs);
}

static void test_full_stack(void **state)
{
	struct unwinder *u = unwinder__new(PROC_ROOT, 4);
	uint64_t pcs[UNWIND_MAX_FRAMES], ra;
	struct unwind_stats st;

	(void)state;
	assert_non_null(u);
	expect_full_chain_pcs(u, PID, pcs);
	/* The leaf is the sampled ip; its caller's pc is the word at sp. */
	assert_int_equal(pcs[0], fx.regs[IGNIS_REG_IP]);
	memcpy(&ra, fx.stack, sizeof(ra));
	assert_int_equal(pcs[1], ra);

	unwinder__stats(u, &st);
	assert_int_equal(st.unwinds, 1);
	assert_int_equal(st.frames, CHAIN_LEN);
	assert_int_equal(st.truncated, 0);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.dwfl_created, 1);
	assert_int_equal(st.dwfl_evicted, 0);

	/* The cached Dwfl gives the same answer again. */
	expect_full_chain(u, PID);
	unwinder__stats(u, &st);
	assert_int_equal(st.dwfl_created, 1);
	unwinder__free(u);
}

/* A copy marked cut that nevertheless holds the whole walk (it ends at
 * _start, inside the copy) is not truncated. */
static void test_full_copy_marked_cut(void **state)
{
	struct unwinder *u = unwinder__new(PROC_ROOT, 4);
	uint64_t pcs[UNWIND_MAX_FRAMES];
	enum unwind_end truncated;
	int n;

	(void)state;
	n = unwind_len(u, PID, fx.regs, fx.stack_len, 1, pcs, UNWIND_MAX_FRAMES, &truncated);
	assert_int_equal(n, CHAIN_LEN);
	expect_chain_prefix(pcs, n);
	assert_int_equal(truncated, UNWIND_END_OTHER);
	unwinder__free(u);
}

static void test_short_copy(void **state)
{
	struct unwinder *u = unwinder__new(PROC_ROOT, 4);
	uint64_t pcs[UNWIND_MAX_FRAMES];
	struct unwind_stats st;
	enum unwind_end truncated;
	int n;

	(void)state;
	n = unwind_len(u, PID, fx.regs, 64, 1, pcs, UNWIND_MAX_FRAMES, &truncated);
	assert_true(n >= 1);
	assert_true(n < (int)CHAIN_LEN);
	expect_chain_prefix(pcs, n);
	assert_int_equal(truncated, UNWIND_END_TRUNCATED);
	unwinder__stats(u, &st);
	assert_int_equal(st.truncated, 1);

	/* The same bytes, but the stack really ended there: not truncated. */
	n = unwind_len(u, PID, fx.regs, 64, 0, pcs, UNWIND_MAX_FRAMES, &truncated);
	assert_true(n >= 1 && n < (int)CHAIN_LEN);
	expect_chain_prefix(pcs, n);
	assert_int_equal(truncated, UNWIND_END_OTHER);
	unwinder__free(u);
}

/* Every length of copy, aligned or not: a prefix of the chain that grows
 * with the copy, truncated exactly when it is not the whole chain. */
static void test_every_copy_length(void **state)
{
	struct unwinder *u = unwinder__new(PROC_ROOT, 4);
	uint64_t pcs[UNWIND_MAX_FRAMES];
	enum unwind_end truncated;
	int last = 0;

	(void)state;
	for (size_t len = 0; len <= fx.stack_len; len++) {
		int n = unwind_len(u, PID, fx.regs, len, 1, pcs, UNWIND_MAX_FRAMES, &truncated);

		expect_chain_prefix(pcs, n);
		assert_true(n >= last);
		assert_int_equal(truncated == UNWIND_END_TRUNCATED, n < (int)CHAIN_LEN);
		last = n;
	}
	assert_int_equal(last, CHAIN_LEN);
	unwinder__free(u);
}

static void test_frame_limit(void **state)
{
	struct unwinder *u = unwinder__new(PROC_ROOT, 4);
	uint64_t pcs[UNWIND_MAX_FRAMES];
	enum unwind_end truncated;
	int n;

	(void)state;
	n = unwind_len(u, PID, fx.regs, fx.stack_len, 0, pcs, 2, &truncated);
	assert_int_equal(n, 2);
	expect_chain_prefix(pcs, n);
	assert_int_equal(truncated, UNWIND_END_TRUNCATED);

	n = unwind_len(u, PID, fx.regs, fx.stack_len, 0, pcs, 1, &truncated);
	assert_int_equal(n, 1);
	expect_chain_prefix(pcs, n);
	assert_int_equal(truncated, UNWIND_END_TRUNCATED);

	/* pcs has room for exactly max entries: nothing is written past. */
	{
		uint64_t *three = malloc(3 * sizeof(*three));

		assert_non_null(three);
		n = unwind_len(u, PID, fx.regs, fx.stack_len, 0, three, 3, &truncated);
		assert_int_equal(n, 3);
		expect_chain_prefix(three, n);
		assert_int_equal(truncated, UNWIND_END_TRUNCATED);
		free(three);
	}
	unwinder__free(u);
}

static void expect_at_most_leaf(int n)
{
	assert_true(n <= 1);  /* -errno, nothing, or the bare ip */
}

static void test_garbage_registers(void **state)
{
	struct unwinder *u = unwinder__new(PROC_ROOT, 4);
	uint64_t pcs[UNWIND_MAX_FRAMES], regs[IGNIS_NREGS];
	enum unwind_end truncated;
	int n;

	(void)state;
	/* Before any good sample (not attached yet), then after one. */
	for (int round = 0; round < 2; round++) {
		/* Nowhere, unmapped, the heap, the stack: no module, no CFI.
		 * (Not the vDSO: the unwinder may know it from the host.) */
		static const uint64_t bad_ips[] = { 0, 1, 0xdeadbeef, 0x4ad000, 0x7ffffffff000 - 64,
						    UINT64_MAX };

		for (size_t i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
			memcpy(regs, fx.regs, sizeof(regs));
			regs[IGNIS_REG_IP] = bad_ips[i];
			n = unwind_len(u, PID, regs, fx.stack_len, 1, pcs, UNWIND_MAX_FRAMES,
				       &truncated);
			expect_at_most_leaf(n);
			if (n >= 0)
				assert_true(truncated == UNWIND_END_OTHER ||
					    truncated == UNWIND_END_TRUNCATED);
		}
		/* Nothing copied at all: the leaf at most. */
		n = unwind_len(u, PID, fx.regs, 0, 1, pcs, UNWIND_MAX_FRAMES, &truncated);
		expect_at_most_leaf(n);
		if (round == 0)
			expect_full_chain(u, PID);
	}

	/* sp at the top of the address space: the CFA wraps past zero. The
	 * copy still starts at sp, so no read may fall outside it. */
	memcpy(regs, fx.regs, sizeof(regs));
	regs[IGNIS_REG_SP] = UINT64_MAX - 7;
	n = unwind_len(u, PID, regs, fx.stack_len, 1, pcs, UNWIND_MAX_FRAMES, &truncated);
	assert_true(n >= 1 && n <= UNWIND_MAX_FRAMES);
	expect_chain_prefix(pcs, 1);
	regs[IGNIS_REG_SP] = 0;
	regs[IGNIS_REG_BP] = UINT64_MAX;
	n = unwind_len(u, PID, regs, fx.stack_len, 1, pcs, UNWIND_MAX_FRAMES, &truncated);
	assert_true(n >= 1 && n <= UNWIND_MAX_FRAMES);

	/* And the process still unwinds. */
	expect_full_chain(u, PID);
	unwinder__free(u);
}

/* Stack contents that are not a stack: random words, and a stack whose
 * every word is a return address into f3 (a walk that never ends by
 * itself: the frame limit must end it). */
static void test_garbage_stack(void **state)
{
	struct unwinder *u = unwinder__new(PROC_ROOT, 4);
	uint64_t pcs[UNWIND_MAX_FRAMES];
	size_t len = 8192, words = len / 8;
	uint64_t *stack = malloc(len);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct unwind_sample s = {
		.tgid = PID, .tid = PID, .regs = fx.regs, .stack = (const uint8_t *)stack,
		.stack_len = len, .stack_cut = 1,
	};
	enum unwind_end truncated;
	int n;

	(void)state;
	assert_non_null(stack);
	for (int round = 0; round < 64; round++) {
		for (size_t i = 0; i < words; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* Half of the words near the text, so some walks go on. */
			stack[i] = (x & 1) ? 0x401000 + (x >> 40) % 0x78000 : x;
		}
		n = unwinder__unwind(u, &s, pcs, UNWIND_MAX_FRAMES, &truncated);
		assert_true(n >= 1 && n <= UNWIND_MAX_FRAMES);
		expect_chain_prefix(pcs, 1);
	}

	for (size_t i = 0; i < words; i++)
		stack[i] = fx.regs[IGNIS_REG_IP];
	n = unwinder__unwind(u, &s, pcs, UNWIND_MAX_FRAMES, &truncated);
	assert_int_equal(n, UNWIND_MAX_FRAMES);
	assert_int_equal(truncated, UNWIND_END_TRUNCATED);
	for (int i = 0; i < n; i++)
		assert_true(in_func(lookup_pc(pcs, i), "f3"));
	free(stack);
	unwinder__free(u);
}

static void test_forget(void **state)
{
	struct unwinder *u = unwinder__new(PROC_ROOT, 4);
	struct unwind_stats st;

	(void)state;
	expect_full_chain(u, PID);
	unwinder__forget(u, PID);
	unwinder__forget(u, PID);       /* twice: no longer known */
	unwinder__forget(u, NO_MAPS);   /* never known */
	expect_full_chain(u, PID);
	unwinder__stats(u, &st);
	assert_int_equal(st.dwfl_created, 2);
	assert_int_equal(st.dwfl_evicted, 0);
	unwinder__free(u);
}

static void test_missing_maps(void **state)
{
	struct unwinder *u = unwinder__new(PROC_ROOT, 4);
	uint64_t pcs[UNWIND_MAX_FRAMES];
	enum unwind_end truncated;
	int n;

	(void)state;
	for (int i = 0; i < 3; i++) {
		n = unwind_len(u, NO_MAPS, fx.regs, fx.stack_len, 1, pcs, UNWIND_MAX_FRAMES,
			       &truncated);
		expect_at_most_leaf(n);
	}
	expect_full_chain(u, PID);

	/* A root with nothing under it. */
	unwinder__free(u);
	u = unwinder__new(FIXTURE "/no-such-root", 4);
	assert_non_null(u);
	n = unwind_len(u, PID, fx.regs, fx.stack_len, 1, pcs, UNWIND_MAX_FRAMES, &truncated);
	expect_at_most_leaf(n);
	unwinder__free(u);
}

static void test_lru(void **state)
{
	struct unwinder *u = unwinder__new(PROC_ROOT, 1);
	struct unwind_stats st;

	(void)state;
	expect_full_chain(u, PID);
	expect_full_chain(u, PID2);     /* evicts PID */
	expect_full_chain(u, PID);      /* evicts PID2 */
	expect_full_chain(u, PID);      /* cached */
	expect_full_chain(u, PID2);     /* evicts PID */
	unwinder__stats(u, &st);
	assert_int_equal(st.dwfl_created, 4);
	assert_int_equal(st.dwfl_evicted, 3);
	assert_int_equal(st.unwinds, 5);
	assert_int_equal(st.failed, 0);
	/* Forgetting the only cached process leaves an empty, working cache. */
	unwinder__forget(u, PID2);
	expect_full_chain(u, PID);
	unwinder__free(u);

	/* Room for both: nothing evicted. */
	u = unwinder__new(PROC_ROOT, 2);
	for (int i = 0; i < 3; i++) {
		expect_full_chain(u, PID);
		expect_full_chain(u, PID2);
	}
	unwinder__stats(u, &st);
	assert_int_equal(st.dwfl_created, 2);
	assert_int_equal(st.dwfl_evicted, 0);
	unwinder__free(u);

	/* max_procs 0 means 1, not "no cache at all" nor "unbounded". */
	u = unwinder__new(PROC_ROOT, 0);
	expect_full_chain(u, PID);
	expect_full_chain(u, PID2);
	unwinder__stats(u, &st);
	assert_int_equal(st.dwfl_evicted, 1);
	unwinder__free(u);
}

static void test_free_null(void **state)
{
	(void)state;
	unwinder__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_stack),
		cmocka_unit_test(test_full_copy_marked_cut),
		cmocka_unit_test(test_short_copy),
		cmocka_unit_test(test_every_copy_length),
		cmocka_unit_test(test_frame_limit),
		cmocka_unit_test(test_garbage_registers),
		cmocka_unit_test(test_garbage_stack),
		cmocka_unit_test(test_forget),
		cmocka_unit_test(test_missing_maps),
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests_name("unwind", tests, setup, teardown) ? 1 : 0;
}
