/* demangle(): fixed names from each scheme, names real compilers emit
 * (g++ checked against c++filt; rustc's legacy and v0 manglings), names
 * that are not mangled, and hostile input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/demangle.h"
#include "tests/unit/support.h"

static void expect(const char *mangled, const char *want)
{
	char *got = demangle(mangled);

	if (!want) {
		if (got)
			fail_msg("'%s' demangled to '%s', wanted NULL",
				 mangled ? mangled : "(null)", got);
		return;
	}
	if (!got)
		fail_msg("'%s' did not demangle, wanted '%s'", mangled, want);
	assert_string_equal(got, want);
	free(got);
}

static void test_demangle_cplusplus(void **state)
{
	(void)state;
	expect("_ZN2ns6WidgetIiE3runEv", "ns::Widget<int>::run()");
	expect("_Z3fooic", "foo(int, char)");
	expect("_ZNK3Foo3barERKSt6vectorIiSaIiEE",
	       "Foo::bar(std::vector<int, std::allocator<int> > const&) const");
	expect("_ZZ4mainENKUlvE_clEv", "main::{lambda()#1}::operator()() const");
	/* GCC's clones keep their suffix, spelled out. */
	expect("_Z3foov.cold", "foo() [clone .cold]");
	expect("_ZN3foo3barE", "foo::bar");
}

static void test_demangle_rust(void **state)
{
	(void)state;
	/* Legacy: the trailing hash goes. */
	expect("_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write");
	expect("_ZN5alloc7raw_vec19RawVec$LT$T$C$A$GT$7reserve17h0123456789abcdefE",
	       "alloc::raw_vec::RawVec<T,A>::reserve");
	/* v0. */
	expect("_RNvNtCs1234_7mycrate3foo3bar", "mycrate::foo::bar");
	expect("_RNvCs15kBYyAo9fc_7mycrate4main", "mycrate::main");
	expect("_RINvCs1234_7mycrate3fooNtB2_3BarEB2_", "mycrate::foo::<mycrate::Bar>");
}

static void test_demangle_not_mangled(void **state)
{
	(void)state;
	expect(NULL, NULL);
	expect("", NULL);
	expect("main", NULL);
	expect("main.hot", NULL);		/* Go */
	expect("runtime.mallocgc", NULL);
	expect("__libc_start_main", NULL);
	expect("_start", NULL);
	expect("_GLOBAL__sub_I_main", NULL);	/* not one of our prefixes */
	expect("_D3foo3barFZv", NULL);		/* D is not shown demangled */
	expect("_Z", NULL);
	expect("_R", NULL);
	expect("_ZN", NULL);
	expect("_Zxyz", NULL);
	expect("_Rgarbage", NULL);
	/* Not a Rust hash (too short): an ordinary C++ name. */
	expect("_ZN4core3fmt5write5h0123E", "core::fmt::write::h0123");
}

/* Long and deeply nested names hit libiberty's limits and come back NULL
 * instead of exhausting the stack (ASan would see an overflow). */
static void test_demangle_hostile(void **state)
{
	const size_t sizes[] = { 100, 1000, 5000, 100000, 1000000 };
	const char fills[] = { 'P', 'N', 'I', '1', 'S' };
	size_t s, f;

	(void)state;
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (f = 0; f < sizeof(fills); f++) {
			char *name = malloc(sizes[s] + 8), *got;

			assert_non_null(name);
			memcpy(name, "_Z1f", 4);
			memset(name + 4, fills[f], sizes[s]);
			strcpy(name + 4 + sizes[s], "i");
			got = demangle(name);
			/* Only a short pointer chain is a valid name. */
			if (got && !(fills[f] == 'P' && sizes[s] <= 1000))
				fail_msg("%zu x '%c' demangled", sizes[s], fills[f]);
			free(got);
			name[1] = 'R';
			free(demangle(name));
			free(name);
		}
	}
	/* A valid name a little over the recursion limit's reach: NULL, so
	 * callers show it raw. */
	{
		char name[4000] = "_Z1f";

		memset(name + 4, 'P', 3000);
		strcpy(name + 3004, "i");
		expect(name, NULL);
	}
}

/* What g++ emits for templates, lambdas and operators, against c++filt
 * (the same libiberty, so this checks the flags we pass). */
static void test_demangle_gxx_symbols(void **state)
{
	static const char src[] =
		"#include <vector>\n"
		"#include <string>\n"
		"namespace ns { template <typename T> struct W {\n"
		"	T v; __attribute__((noinline)) T run(const std::vector<T> &x);\n"
		"	bool operator<(const W &o) const { return v < o.v; } }; }\n"
		"template <typename T> T ns::W<T>::run(const std::vector<T> &x)\n"
		"{ T s{}; for (auto &e : x) s += e; return s + v; }\n"
		"template struct ns::W<int>;\n"
		"template struct ns::W<std::string>;\n"
		"int main(int argc, char **) {\n"
		"	auto f = [argc](int k) __attribute__((noinline)) { return k * argc; };\n"
		"	ns::W<int> w{argc}; std::vector<int> v(3, argc);\n"
		"	return w.run(v) + f(argc);\n"
		"}\n";
	char *dir = support__tmpdir("demangle"), *cpp, *prog, *syms, *line, *save;
	int checked = 0;

	(void)state;
	assert_non_null(dir);
	cpp = support__path(dir, "p.cpp");
	prog = support__path(dir, "p");
	assert_int_equal(support__write_text(cpp, src), 0);
	assert_int_equal(support__run("g++ -O2 -o '%s' '%s'", prog, cpp), 0);
	/* "mangled<TAB>demangled" for every _Z symbol the program defines. */
	syms = support__read_cmd("nm --defined-only '%s' | awk '$3 ~ /^_Z/ {print $3}' | "
				 "while read s; do printf '%%s\\t%%s\\n' \"$s\" "
				 "\"$(c++filt \"$s\")\"; done",
				 prog);
	assert_non_null(syms);
	for (line = strtok_r(syms, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');

		assert_non_null(tab);
		*tab = '\0';
		expect(line, tab + 1);
		checked++;
	}
	/* The template members, std::string's and the lambda at least. */
	assert_true(checked >= 4);
	free(syms);
	support__rmtree(dir);
	free(dir);
	free(cpp);
	free(prog);
}

/* rustc's own output, both schemes, when a Rust compiler is around. */
static void test_demangle_rustc_symbols(void **state)
{
	static const char src[] =
		"mod inner { #[inline(never)] pub fn hot_path(x: u64) -> u64 {\n"
		"	(0..x).fold(1, |a, b| a.wrapping_mul(31).wrapping_add(b)) } }\n"
		"fn main() { println!(\"{}\", inner::hot_path(std::env::args().count() as u64)); }\n";
	static const char cargo_rustc[] = "/root/.cargo/bin/rustc";
	const char *rustc = access(cargo_rustc, X_OK) == 0 ? cargo_rustc : "rustc";
	char *dir, *rs, *sym;
	int v;

	(void)state;
	if (support__run("%s --version >/dev/null 2>&1", rustc) != 0)
		skip();
	dir = support__tmpdir("demangle-rs");
	assert_non_null(dir);
	rs = support__path(dir, "r.rs");
	assert_int_equal(support__write_text(rs, src), 0);
	for (v = 0; v < 2; v++) {
		/* The default is legacy on stable; v0 is asked for. Not make's
		 * jobserver: its descriptors are not ours to pass on (rustc
		 * warns about every one it cannot open). */
		assert_int_equal(support__run("cd '%s' && env -u MAKEFLAGS -u MFLAGS -u CARGO_MAKEFLAGS "
					      "%s -O -o r%d %s r.rs", dir, rustc, v,
					      v ? "-C symbol-mangling-version=v0" : ""),
				 0);
		sym = support__read_cmd("nm '%s/r%d' | awk '/hot_path/ {print $3; exit}'", dir, v);
		assert_non_null(sym);
		sym[strcspn(sym, "\n")] = '\0';
		assert_true(strncmp(sym, v ? "_R" : "_ZN", v ? 2 : 3) == 0);
		expect(sym, "r::inner::hot_path");
		free(sym);
	}
	support__rmtree(dir);
	free(dir);
	free(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demangle_cplusplus),
		cmocka_unit_test(test_demangle_rust),
		cmocka_unit_test(test_demangle_not_mangled),
		cmocka_unit_test(test_demangle_hostile),
		cmocka_unit_test(test_demangle_gxx_symbols),
		cmocka_unit_test(test_demangle_rustc_symbols),
	};

	return cmocka_run_group_tests_name("demangle", tests, NULL, NULL);
}
