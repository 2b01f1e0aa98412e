#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/kallsyms.h"
#include "symbolizer/kallsyms_live.h"
#include "tests/unit/support.h"

#define FIXTURE "tests/fixtures/proc-kallsyms"
#define FIXTURE_ZERO "tests/fixtures/proc-kallsyms-zero"
#define CORE 0xffffffff81000000ull
#define EXT4 0xffffffffc0a00000ull

static int setup(void **state)
{
	struct kallsyms *k = kallsyms__load(FIXTURE);

	if (!k)
		return -1;
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	kallsyms__free(*state);
	return 0;
}

static void expect_sym(const struct kallsyms *k, uint64_t addr, const char *name,
		       uint64_t off, const char *module)
{
	const char *got, *mod = "unset";
	uint64_t got_off = ~0ull;

	got = kallsyms__lookup(k, addr, &got_off, &mod);
	assert_non_null(got);
	assert_string_equal(got, name);
	assert_int_equal(got_off, off);
	if (module)
		assert_string_equal(mod, module);
	else
		assert_null(mod);
}

static void test_kallsyms_symbol_start(void **state)
{
	const struct kallsyms *k = *state;

	/* _stext and startup_64 share an address: the global one wins. */
	expect_sym(k, CORE, "_stext", 0, NULL);
	expect_sym(k, CORE + 0x100, "do_one_initcall", 0, NULL);
	expect_sym(k, CORE + 0x180, "helper_local", 0, NULL);
	expect_sym(k, CORE + 0x200, "weak_func", 0, NULL);
}

static void test_kallsyms_symbol_middle(void **state)
{
	const struct kallsyms *k = *state;

	expect_sym(k, CORE + 0x42, "_stext", 0x42, NULL);
	expect_sym(k, CORE + 0x17f, "do_one_initcall", 0x7f, NULL);
	/* The absolute symbol at +0x280 must not cut weak_func short. */
	expect_sym(k, CORE + 0x290, "weak_func", 0x90, NULL);
	expect_sym(k, CORE + 0x2ff, "weak_func", 0xff, NULL);
}

static void test_kallsyms_between_symbols(void **state)
{
	const struct kallsyms *k = *state;
	uint64_t off = 0;

	/* Past the data symbol that ends weak_func, before after_data. */
	assert_null(kallsyms__lookup(k, CORE + 0x300, &off, NULL));
	assert_null(kallsyms__lookup(k, CORE + 0x3ff, NULL, NULL));
	expect_sym(k, CORE + 0x400, "after_data", 0, NULL);
	/* The last core symbol ends at the page after it, not at ext4. */
	expect_sym(k, CORE + 0x1fff, "after_data", 0x1bff, NULL);
	assert_null(kallsyms__lookup(k, CORE + 0x2000, NULL, NULL));
	assert_null(kallsyms__lookup(k, EXT4 - 1, NULL, NULL));
}

static void test_kallsyms_before_first(void **state)
{
	const struct kallsyms *k = *state;

	assert_null(kallsyms__lookup(k, CORE - 1, NULL, NULL));
	assert_null(kallsyms__lookup(k, 0, NULL, NULL));
	assert_null(kallsyms__lookup(k, 0x1000, NULL, NULL));
	assert_int_equal(kallsyms__min_addr(k), CORE);
}

static void test_kallsyms_module(void **state)
{
	const struct kallsyms *k = *state;
	const char *m1 = NULL, *m2 = NULL;

	expect_sym(k, EXT4, "ext4_fill_super", 0, "ext4");
	expect_sym(k, EXT4 + 0x1ff, "ext4_fill_super", 0x1ff, "ext4");
	expect_sym(k, EXT4 + 0x210, "ext4_iget", 0x10, "ext4");
	/* ext4_data is a data symbol: it ends ext4_iget and is no answer. */
	assert_null(kallsyms__lookup(k, EXT4 + 0x400, NULL, NULL));
	expect_sym(k, 0xffffffffc0b00010ull, "xfs_foo", 0x10, "xfs");
	assert_null(kallsyms__lookup(k, 0xffffffffc0b02000ull, NULL, NULL));

	/* Interned: one string per module. */
	kallsyms__lookup(k, EXT4, NULL, &m1);
	kallsyms__lookup(k, EXT4 + 0x200, NULL, &m2);
	assert_ptr_equal(m1, m2);
}

static void test_kallsyms_malformed_skipped(void **state)
{
	const struct kallsyms *k = *state;
	const char *mod = NULL;

	/* Malformed lines named symbols at +0x500/+0x600; none may appear. */
	assert_string_equal(kallsyms__lookup(k, CORE + 0x500, NULL, &mod), "after_data");
	assert_string_equal(kallsyms__lookup(k, CORE + 0x600, NULL, &mod), "after_data");
	assert_null(mod);
}

static void test_kallsyms_all_zero_eperm(void **state)
{
	(void)state;
	errno = 0;
	assert_null(kallsyms__load(FIXTURE_ZERO));
	assert_int_equal(errno, EPERM);
}

static void test_kallsyms_missing_file(void **state)
{
	(void)state;
	errno = 0;
	assert_null(kallsyms__load("tests/fixtures/does-not-exist"));
	assert_int_equal(errno, ENOENT);
}

static void test_kallsyms_free_null(void **state)
{
	(void)state;
	kallsyms__free(NULL);
}

/* A fresh directory holding a file kallsyms with text (none: no file), as
 * kallsyms__load reads <proc root>/kallsyms. */
static char *kallsyms_dir(const char *text)
{
	char *dir = support__tmpdir("kallsyms"), *path;

	assert_non_null(dir);
	if (text) {
		path = support__path(dir, "kallsyms");
		assert_non_null(path);
		assert_int_equal(support__write_text(path, text), 0);
		free(path);
	}
	return dir;
}

static void remove_tmpdir(char *dir)
{
	support__rmtree(dir);
	free(dir);
}

static void test_kallsyms_no_text_enodata(void **state)
{
	char *dir = kallsyms_dir("ffffffff82000000 D only_data\nffffffff82000100 b only_bss\n");

	(void)state;
	errno = 0;
	assert_null(kallsyms__load(dir));
	assert_int_equal(errno, ENODATA);
	remove_tmpdir(dir);
}

/* A kallsyms of realistic size, out of order and across many modules:
 * every symbol must be found at its start and just before its end. */
static void test_kallsyms_many(void **state)
{
	enum { N = 200000, STRIDE = 0x40, MODS = 300 };
	char *dir = kallsyms_dir(NULL), *path = support__path(dir, "kallsyms");
	struct kallsyms *k;
	char name[64];
	FILE *f;
	long i;

	(void)state;
	assert_non_null(path);
	f = fopen(path, "w");
	assert_non_null(f);
	/* Written backwards so the loader has to sort. */
	for (i = N - 1; i >= 0; i--) {
		uint64_t addr = CORE + (uint64_t)i * STRIDE;

		if (i >= N / 2)
			fprintf(f, "%016llx t fn_%ld\t[mod%ld]\n", (unsigned long long)addr, i,
				(i / 16) % MODS);
		else
			fprintf(f, "%016llx T fn_%ld\n", (unsigned long long)addr, i);
	}
	fclose(f);
	free(path);

	k = kallsyms__load(dir);
	assert_non_null(k);
	for (i = 0; i < N; i += 7) {
		uint64_t addr = CORE + (uint64_t)i * STRIDE, off = 0;
		const char *mod = NULL, *got;

		snprintf(name, sizeof(name), "fn_%ld", i);
		got = kallsyms__lookup(k, addr + STRIDE - 1, &off, &mod);
		assert_non_null(got);
		assert_string_equal(got, name);
		assert_int_equal(off, STRIDE - 1);
		if (i >= N / 2) {
			char want[32];

			snprintf(want, sizeof(want), "mod%ld", (i / 16) % MODS);
			assert_non_null(mod);
			assert_string_equal(mod, want);
		} else {
			assert_null(mod);
		}
	}
	kallsyms__free(k);
	remove_tmpdir(dir);
}

/* Symbols more than 4 GiB apart (arm64 puts modules and BPF programs far
 * from the kernel text): addresses keep their high half. */
static void test_kallsyms_wide_span(void **state)
{
	const uint64_t lo = 0xffff800080010000ull, far = 0xffffffffc0001000ull;
	const char *mod = NULL;
	struct kallsyms *k;
	uint64_t off = 0;
	char text[256], *dir;

	(void)state;
	snprintf(text, sizeof(text), "%016llx T low_fn\n%016llx T low_next\n"
		 "%016llx t far_fn\t[farmod]\n%016llx t far_next\t[farmod]\n",
		 (unsigned long long)lo, (unsigned long long)(lo + 0x100),
		 (unsigned long long)far, (unsigned long long)(far + 0x80));
	dir = kallsyms_dir(text);

	k = kallsyms__load(dir);
	assert_non_null(k);
	assert_int_equal(kallsyms__min_addr(k), lo);
	assert_string_equal(kallsyms__lookup(k, lo + 0xff, &off, &mod), "low_fn");
	assert_int_equal(off, 0xff);
	assert_null(mod);
	/* low_next is the last of the core kernel: it ends at the page after
	 * its start, not at the far module. */
	assert_string_equal(kallsyms__lookup(k, lo + 0x100, NULL, NULL), "low_next");
	assert_null(kallsyms__lookup(k, lo + 0x2000, NULL, NULL));
	assert_null(kallsyms__lookup(k, far - 1, NULL, NULL));
	assert_string_equal(kallsyms__lookup(k, far + 0x7f, &off, &mod), "far_fn");
	assert_int_equal(off, 0x7f);
	assert_string_equal(mod, "farmod");
	assert_string_equal(kallsyms__lookup(k, far + 0x80, NULL, NULL), "far_next");
	assert_null(kallsyms__lookup(k, far + 0x2080, NULL, NULL));
	kallsyms__free(k);
	remove_tmpdir(dir);
}

/* Padding symbols (__pfx_NAME just before NAME) share NAME's bytes; every
 * name still reads whole. */
static void test_kallsyms_shared_names(void **state)
{
	char *dir = kallsyms_dir("ffffffff81000ff0 t __pfx_do_thing\nffffffff81001000 T do_thing\n"
				 "ffffffff81001100 T thing\nffffffff81001200 T ing\n"
				 "ffffffff81001300 T __pfx_x\nffffffff81001310 T __pfx_x\n");
	struct kallsyms *k;

	(void)state;

	k = kallsyms__load(dir);
	assert_non_null(k);
	assert_string_equal(kallsyms__lookup(k, 0xffffffff81000ff5ull, NULL, NULL),
			    "__pfx_do_thing");
	assert_string_equal(kallsyms__lookup(k, 0xffffffff81001000ull, NULL, NULL), "do_thing");
	assert_string_equal(kallsyms__lookup(k, 0xffffffff81001100ull, NULL, NULL), "thing");
	assert_string_equal(kallsyms__lookup(k, 0xffffffff81001200ull, NULL, NULL), "ing");
	assert_string_equal(kallsyms__lookup(k, 0xffffffff81001300ull, NULL, NULL), "__pfx_x");
	assert_string_equal(kallsyms__lookup(k, 0xffffffff81001310ull, NULL, NULL), "__pfx_x");
	kallsyms__free(k);
	remove_tmpdir(dir);
}

/* A symbol's range by name, shared name bytes or not: from its address to
 * the next symbol's (the same extent lookups give it); a name that is only
 * the tail of another is not it. */
static void test_kallsyms_range(void **state)
{
	char *dir = kallsyms_dir("ffffffff81000ff0 t __pfx___schedule\n"
				 "ffffffff81001000 t __schedule\nffffffff81001400 T schedule\n"
				 "ffffffff81001500 T last\n");
	uint64_t lo = 0, hi = 0;
	struct kallsyms *k;

	(void)state;
	k = kallsyms__load(dir);
	assert_non_null(k);
	assert_int_equal(kallsyms__range(k, "__schedule", &lo, &hi), 0);
	assert_int_equal(lo, 0xffffffff81001000ull);
	assert_int_equal(hi, 0xffffffff81001400ull);
	assert_int_equal(kallsyms__range(k, "schedule", &lo, &hi), 0);
	assert_int_equal(lo, 0xffffffff81001400ull);
	assert_int_equal(hi, 0xffffffff81001500ull);
	/* The last one ends where lookups stop naming it. */
	assert_int_equal(kallsyms__range(k, "last", &lo, &hi), 0);
	assert_int_equal(lo, 0xffffffff81001500ull);
	assert_string_equal(kallsyms__lookup(k, hi - 1, NULL, NULL), "last");
	assert_null(kallsyms__lookup(k, hi, NULL, NULL));
	assert_int_equal(kallsyms__range(k, "edule", &lo, &hi), -ENOENT);
	kallsyms__free(k);
	remove_tmpdir(dir);
}

/* The running kernel's own list: every text symbol is found at its address,
 * by its name or by the name of another text symbol at that address. BPF
 * programs ([bpf]) come and go between the load and the reread: another
 * process's programs are not checked. */
static void check_against_proc(const struct kallsyms *k, bool asked)
{
	struct alias { unsigned long long addr; const char *got; bool seen; } *al = NULL;
	char *line = NULL, type, name[600];
	size_t cap = 0, checked = 0, nal = 0, i;
	unsigned long long addr;
	FILE *f;

	for (int pass = 0; pass < 2; pass++) {
		f = fopen("/proc/kallsyms", "re");
		assert_non_null(f);
		while (getline(&line, &cap, f) > 0) {
			const char *got;
			uint64_t off = ~0ull;

			if (sscanf(line, "%llx %c %599s", &addr, &type, name) != 3 || !addr ||
			    !strchr("tTwW", type) || strstr(line, "\t[bpf]"))
				continue;
			if (pass == 1) {
				for (i = 0; i < nal; i++)
					if (al[i].addr == addr && strcmp(al[i].got, name) == 0)
						al[i].seen = true;
				continue;
			}
			got = kallsyms__lookup(k, addr, &off, NULL);
			/* The kernel does not count the ends of its text
			 * sections (_etext, _einittext) as text, nor name its
			 * ftrace trampolines, in its own backtraces. */
			if (!got && asked &&
			    ((strncmp(name, "_e", 2) == 0 && strstr(name, "text")) ||
			     strstr(line, "[__builtin__ftrace]")))
				continue;
			if (!got)
				fail_msg("%llx %s: no name", addr, name);
			assert_int_equal(off, 0);
			checked++;
			if (strcmp(got, name) == 0)
				continue;
			al = realloc(al, (nal + 1) * sizeof(*al));
			assert_non_null(al);
			al[nal++] = (struct alias){ addr, got, false };
		}
		fclose(f);
	}
	for (i = 0; i < nal; i++)
		if (!al[i].seen)
			fail_msg("%llx: %s is no symbol there", al[i].addr, al[i].got);
	free(al);
	free(line);
	assert_true(checked > 0);
}

static void test_kallsyms_live(void **state)
{
	struct kallsyms *k = kallsyms__load("/proc");

	(void)state;
	if (!k)
		skip();	/* not root, or kptr_restrict */
	check_against_proc(k, false);
	kallsyms__free(k);
}

/* Asked of the kernel, address by address: the same answers as the file,
 * offsets inside a function, ranges and where the text starts included. */
static void test_kallsyms_asked(void **state)
{
	struct kallsyms *file = kallsyms__load("/proc");
	struct kallsyms *k = kallsyms__open_live();
	uint64_t lo, hi, flo, fhi, off = 0;
	const char *mod = "unset";

	(void)state;
	if (!file || !k)
		skip();	/* not root, kptr_restrict, or no BPF */
	check_against_proc(k, true);
	assert_int_equal(kallsyms__range(k, "__schedule", &lo, &hi), 0);
	assert_int_equal(kallsyms__range(file, "__schedule", &flo, &fhi), 0);
	assert_int_equal(lo, flo);
	assert_true(hi > lo && hi <= fhi);
	assert_string_equal(kallsyms__lookup(k, lo + 5, &off, &mod), "__schedule");
	assert_int_equal(off, 5);
	assert_null(mod);
	/* The last byte is still the function; answers are remembered. */
	assert_string_equal(kallsyms__lookup(k, hi - 1, &off, NULL), "__schedule");
	assert_int_equal(off, hi - 1 - lo);
	assert_string_equal(kallsyms__lookup(k, lo + 5, NULL, NULL), "__schedule");
	assert_int_equal(kallsyms__range(k, "no_such_symbol_in_any_kernel", &lo, &hi), -ENOENT);
	assert_null(kallsyms__lookup(k, 0x1000, NULL, NULL));
	assert_int_equal(kallsyms__min_addr(k), kallsyms__min_addr(file));
	kallsyms__free(file);
	kallsyms__free(k);
}

/* The text of a %pB answer: module or not, odd names; anything else is
 * refused, the bare address printed for an address no symbol holds first. */
static void test_kallsyms_answer_text(void **state)
{
	struct ksym_text t;

	(void)state;
	assert_true(ksym_live__parse("__schedule+0x20/0xf60", &t));
	assert_int_equal(t.name_len, strlen("__schedule"));
	assert_memory_equal(t.name, "__schedule", t.name_len);
	assert_int_equal(t.off, 0x20);
	assert_int_equal(t.size, 0xf60);
	assert_int_equal(t.module_len, 0);
	assert_true(ksym_live__parse("ext4_iget.cold+0x1/0x200 [ext4]", &t));
	assert_memory_equal(t.name, "ext4_iget.cold", t.name_len);
	assert_int_equal(t.name_len, strlen("ext4_iget.cold"));
	assert_memory_equal(t.module, "ext4", t.module_len);
	assert_int_equal(t.module_len, 4);
	assert_true(ksym_live__parse("bpf_prog_6deef7357e7b4530_sd_fw+0x0/0xc [bpf]", &t));
	assert_memory_equal(t.module, "bpf", 3);
	static const char *const bad[] = {
		"0xffffffff81000000", "", "+0x1/0x2", "f+0x1", "f+0x/0x2", "f+0x1/0x",
		"f+0x3/0x2", "f+1/0x2", "f+0x1/0x2 [", "f+0x1/0x2 []", "f+0x1/0x2 [ext4",
		"f g+0x1/0x2", "f+0x1/0x2[ext4]", "f+0x1/0x12345678901234567", "f+0xg/0x2",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ksym_live__parse(bad[i], &t))
			fail_msg("accepted \"%s\"", bad[i]);
}

int main(void)
{
	const struct CMUnitTest fixture_tests[] = {
		cmocka_unit_test(test_kallsyms_symbol_start),
		cmocka_unit_test(test_kallsyms_symbol_middle),
		cmocka_unit_test(test_kallsyms_between_symbols),
		cmocka_unit_test(test_kallsyms_before_first),
		cmocka_unit_test(test_kallsyms_module),
		cmocka_unit_test(test_kallsyms_malformed_skipped),
	};
	const struct CMUnitTest other_tests[] = {
		cmocka_unit_test(test_kallsyms_all_zero_eperm),
		cmocka_unit_test(test_kallsyms_missing_file),
		cmocka_unit_test(test_kallsyms_free_null),
		cmocka_unit_test(test_kallsyms_no_text_enodata),
		cmocka_unit_test(test_kallsyms_many),
		cmocka_unit_test(test_kallsyms_wide_span),
		cmocka_unit_test(test_kallsyms_shared_names),
		cmocka_unit_test(test_kallsyms_range),
		cmocka_unit_test(test_kallsyms_live),
		cmocka_unit_test(test_kallsyms_asked),
		cmocka_unit_test(test_kallsyms_answer_text),
	};
	int failed;

	failed = cmocka_run_group_tests_name("kallsyms fixture", fixture_tests, setup, teardown);
	failed += cmocka_run_group_tests_name("kallsyms", other_tests, NULL, NULL);
	return failed ? 1 : 0;
}
