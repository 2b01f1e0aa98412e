/* Builds C and C++ programs with the system compilers at test time and
 * checks names, inline chains and file:line against what the source says
 * (marker comments) and what binutils read from the same files (nm for
 * symbols, readelf's decoded line table for addresses). */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/dwarf.h"
#include "symbolizer/inflate.h"
#include "tests/unit/support.h"

static const char helper_h[] =
	"extern volatile int sink;\n"
	"\n"
	"static inline __attribute__((always_inline)) int mix(int s) /* MIX_DECL */\n"
	"{\n"
	"	return (s << 5) ^ (s >> 3) ^ sink; /* MIX_BODY */\n"
	"}\n"
	"\n"
	"static inline __attribute__((always_inline)) int hot_helper(int x) /* HELPER_DECL */\n"
	"{\n"
	"	int s = x;\n"
	"	for (int i = 0; i < x; i++) {\n"
	"		s = s * 31 + sink; /* HELPER_BODY */\n"
	"		s = mix(s); /* MIX_CALL */\n"
	"	}\n"
	"	return s;\n"
	"}\n";

static const char prog_cpp[] =
	"#include \"helper.h\"\n"
	"\n"
	"volatile int sink;\n"
	"\n"
	"namespace ns {\n"
	"template <typename T> struct Widget {\n"
	"	T v;\n"
	"	T run();\n"
	"};\n"
	"\n"
	"template <typename T> __attribute__((noinline)) T Widget<T>::run() /* RUN_DECL */\n"
	"{\n"
	"	return v * 3 + sink; /* RUN_BODY */\n"
	"}\n"
	"}\n"
	"\n"
	"__attribute__((noinline)) int named_caller(int n) /* CALLER_DECL */\n"
	"{\n"
	"	int r = hot_helper(n); /* HELPER_CALL */\n"
	"	return r + 1;\n"
	"}\n"
	"\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	(void)argv;\n"
	"	auto lam = [argc](int k) __attribute__((noinline)) {\n"
	"		return k * argc + sink; /* LAMBDA_BODY */\n"
	"	};\n"
	"	ns::Widget<int> w{argc};\n"
	"	return named_caller(argc * 1000) + w.run() + lam(argc);\n"
	"}\n";

static const char prog_c[] =
	"volatile int sink;\n"
	"\n"
	"__attribute__((noinline)) int compute(int n) /* COMPUTE_DECL */\n"
	"{\n"
	"	int s = 0;\n"
	"	for (int i = 0; i < n; i++)\n"
	"		s += i * sink; /* COMPUTE_BODY */\n"
	"	return s;\n"
	"}\n"
	"\n"
	"int main(int argc, char **argv) /* MAIN_DECL */\n"
	"{\n"
	"	(void)argv;\n"
	"	return compute(argc); /* MAIN_CALL */\n"
	"}\n";

/* The C program in every flavour a DWARF reader meets. */
enum c_flavour { C_PLAIN, C_GZ, C_DWARF4, C_DWARF5, C_NR };

static const char *const c_flags[C_NR] = {
	[C_PLAIN] = "-O0 -g",
	[C_GZ] = "-O0 -g -gz",
	[C_DWARF4] = "-O0 -gdwarf-4",
	[C_DWARF5] = "-O0 -gdwarf-5",
};

struct world {
	char *dir;
	char *cpp;		/* g++ -O2 -g */
	char *cpp_debug;	/* its --only-keep-debug file */
	char *c[C_NR];
	char *c_nodebug;	/* cc -O2, no -g */
	char *c_stripped;	/* C_PLAIN after strip --strip-debug */
};

static int setup(void **state)
{
	static const char *const names[C_NR] = { "c-plain", "c-gz", "c-dwarf4", "c-dwarf5" };
	struct world *w = calloc(1, sizeof(*w));
	char *h = NULL, *src = NULL;
	int i, err = -1;

	*state = w;
	if (!w || !(w->dir = support__tmpdir("dwarf")))
		return -1;
	h = support__path(w->dir, "helper.h");
	src = support__path(w->dir, "prog.cpp");
	w->cpp = support__path(w->dir, "prog");
	w->cpp_debug = support__path(w->dir, "prog.debug");
	if (!h || !src || !w->cpp || !w->cpp_debug || support__write_text(h, helper_h) ||
	    support__write_text(src, prog_cpp) ||
	    support__run("g++ -O2 -g -o '%s' '%s'", w->cpp, src) ||
	    support__run("objcopy --only-keep-debug '%s' '%s'", w->cpp, w->cpp_debug))
		goto out;
	for (i = 0; i < C_NR; i++)
		if (!(w->c[i] = support__build_program(w->dir, names[i], prog_c, c_flags[i])))
			goto out;
	w->c_nodebug = support__build_program(w->dir, "c-nodebug", prog_c, "-O2");
	w->c_stripped = support__path(w->dir, "c-stripped");
	if (!w->c_nodebug || !w->c_stripped ||
	    support__run("strip --strip-debug -o '%s' '%s'", w->c_stripped, w->c[C_PLAIN]))
		goto out;
	err = 0;
out:
	free(h);
	free(src);
	return err;
}

static int teardown(void **state)
{
	struct world *w = *state;
	int i;

	if (w) {
		support__rmtree(w->dir);
		free(w->dir);
		free(w->cpp);
		free(w->cpp_debug);
		for (i = 0; i < C_NR; i++)
			free(w->c[i]);
		free(w->c_nodebug);
		free(w->c_stripped);
		free(w);
	}
	return 0;
}

/* ---- what the source and binutils say ---------------------------------- */

/* The line of src holding marker. */
static uint32_t marker_line(const char *src, const char *marker)
{
	const char *at = strstr(src, marker), *p;
	uint32_t line = 1;

	assert_non_null(at);
	for (p = src; p < at; p++)
		line += *p == '\n';
	return line;
}

/* Start and size of the first symbol whose name starts with prefix, from
 * nm (GCC may have renamed a function to a clone, "run.isra.0"). */
static uint64_t nm_prefix(const char *path, const char *prefix, uint64_t *size)
{
	char *out = support__read_cmd("nm -S --defined-only '%s' | awk 'index($4, \"%s\") == 1 "
				      "{print $1, $2; exit}'",
				      path, prefix);
	unsigned long long a = 0, s = 0;

	assert_non_null(out);
	if (sscanf(out, "%llx %llx", &a, &s) != 2)
		fail_msg("no symbol %s in %s", prefix, path);
	free(out);
	*size = s;
	return a;
}

/* The first address in [lo, lo + size) that readelf's decoded line table
 * puts on line of a file named file. */
static uint64_t line_addr(const char *path, const char *file, uint32_t line, uint64_t lo,
			  uint64_t size)
{
	char *out = support__read_cmd("readelf --debug-dump=decodedline '%s'", path), *l, *save;
	uint64_t found = 0;

	assert_non_null(out);
	for (l = strtok_r(out, "\n", &save); l && !found; l = strtok_r(NULL, "\n", &save)) {
		char name[256];
		unsigned int ln;
		unsigned long long a;

		const char *base;

		if (sscanf(l, "%255s %u 0x%llx", name, &ln, &a) != 3)
			continue;
		base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
		if (strcmp(base, file) == 0 && ln == line && a >= lo && a < lo + size)
			found = a;
	}
	free(out);
	if (!found)
		fail_msg("no %s:%u in [%#llx, +%#llx) of %s", file, line, (unsigned long long)lo,
			 (unsigned long long)size, path);
	return found;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);

	return s && a >= b && strcmp(s + a - b, suffix) == 0;
}

static struct dwarf_debug *open_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	return dwarf_debug__open_fd(fd);
}

static void expect_frame(const struct sym_frame *f, const char *name, const char *system_name,
			 const char *file_suffix, uint32_t line, uint32_t start_line)
{
	assert_non_null(f->name);
	assert_string_equal(f->name, name);
	if (system_name) {
		assert_non_null(f->system_name);
		assert_string_equal(f->system_name, system_name);
	} else if (f->system_name) {
		fail_msg("%s: unexpected system_name %s", name, f->system_name);
	}
	if (!ends_with(f->file, file_suffix))
		fail_msg("%s: file %s, wanted .../%s", name, f->file ? f->file : "(null)",
			 file_suffix);
	assert_int_equal(f->line, line);
	assert_int_equal(f->start_line, start_line);
}

/* ---- C++: inline chains, templates, lambdas ---------------------------- */

struct cpp_addrs {
	uint64_t helper, mix, run, lambda;
};

static void cpp_addrs(const char *path, struct cpp_addrs *a)
{
	uint64_t lo, size;

	lo = nm_prefix(path, "_Z12named_calleri", &size);
	a->helper = line_addr(path, "helper.h", marker_line(helper_h, "HELPER_BODY"), lo, size);
	a->mix = line_addr(path, "helper.h", marker_line(helper_h, "MIX_BODY"), lo, size);
	lo = nm_prefix(path, "_ZN2ns6WidgetIiE3runEv", &size);
	a->run = line_addr(path, "prog.cpp", marker_line(prog_cpp, "RUN_BODY"), lo, size);
	lo = nm_prefix(path, "_ZZ4mainENKUliE_clEi", &size);
	a->lambda = line_addr(path, "prog.cpp", marker_line(prog_cpp, "LAMBDA_BODY"), lo, size);
}

/* Checks lookups of the C++ program's DWARF, from the program itself or
 * from its separate debug file (same link-time addresses). */
static void check_cpp(struct dwarf_debug *d, const struct cpp_addrs *a)
{
	const uint32_t helper_decl = marker_line(helper_h, "HELPER_DECL"),
		       helper_body = marker_line(helper_h, "HELPER_BODY"),
		       helper_call = marker_line(prog_cpp, "HELPER_CALL"),
		       caller_decl = marker_line(prog_cpp, "CALLER_DECL"),
		       mix_decl = marker_line(helper_h, "MIX_DECL"),
		       mix_body = marker_line(helper_h, "MIX_BODY"),
		       mix_call = marker_line(helper_h, "MIX_CALL");
	struct sym_frame f[SYM_MAX_FRAMES];

	/* The helper inlined into named_caller: the helper at its own line
	 * in its header, then the caller at the call. */
	assert_int_equal(dwarf_debug__lookup(d, a->helper, f, SYM_MAX_FRAMES), 2);
	expect_frame(&f[0], "hot_helper", NULL, "/helper.h", helper_body, helper_decl);
	expect_frame(&f[1], "named_caller(int)", "_Z12named_calleri", "/prog.cpp", helper_call,
		     caller_decl);

	/* Two levels deep. */
	assert_int_equal(dwarf_debug__lookup(d, a->mix, f, SYM_MAX_FRAMES), 3);
	expect_frame(&f[0], "mix", NULL, "/helper.h", mix_body, mix_decl);
	expect_frame(&f[1], "hot_helper", NULL, "/helper.h", mix_call, helper_decl);
	expect_frame(&f[2], "named_caller(int)", "_Z12named_calleri", "/prog.cpp", helper_call,
		     caller_decl);

	/* Capped: the innermost max-1 and the outermost, which keeps the
	 * line of the call it made. */
	assert_int_equal(dwarf_debug__lookup(d, a->mix, f, 2), 2);
	expect_frame(&f[0], "mix", NULL, "/helper.h", mix_body, mix_decl);
	expect_frame(&f[1], "named_caller(int)", "_Z12named_calleri", "/prog.cpp", helper_call,
		     caller_decl);
	assert_int_equal(dwarf_debug__lookup(d, a->mix, f, 1), 1);
	expect_frame(&f[0], "named_caller(int)", "_Z12named_calleri", "/prog.cpp", helper_call,
		     caller_decl);
	assert_int_equal(dwarf_debug__lookup(d, a->mix, f, 0), -EINVAL);

	/* A template member, demangled with its parameter list. */
	assert_int_equal(dwarf_debug__lookup(d, a->run, f, SYM_MAX_FRAMES), 1);
	expect_frame(&f[0], "ns::Widget<int>::run()", "_ZN2ns6WidgetIiE3runEv", "/prog.cpp",
		     marker_line(prog_cpp, "RUN_BODY"), marker_line(prog_cpp, "RUN_DECL"));

	/* GCC gives a lambda no linkage name; its scopes stand in. */
	assert_int_equal(dwarf_debug__lookup(d, a->lambda, f, SYM_MAX_FRAMES), 1);
	expect_frame(&f[0], "main::{lambda}::operator()", NULL, "/prog.cpp",
		     marker_line(prog_cpp, "LAMBDA_BODY"), 0);

	/* Nothing there. */
	assert_int_equal(dwarf_debug__lookup(d, 1, f, SYM_MAX_FRAMES), -ENOENT);
	assert_int_equal(dwarf_debug__lookup(d, UINT64_MAX - 1, f, SYM_MAX_FRAMES), -ENOENT);
}

static void test_dwarf_cpp_inline(void **state)
{
	struct world *w = *state;
	struct dwarf_debug *d;
	struct cpp_addrs a;
	size_t before;

	cpp_addrs(w->cpp, &a);
	d = open_path(w->cpp);
	assert_non_null(d);
	before = dwarf_debug__bytes(d);
	assert_true(before > 0);
	check_cpp(d, &a);
	/* Indexing the unit and keeping names costs something. */
	assert_true(dwarf_debug__bytes(d) > before);
	/* Warm: the same answers again. */
	check_cpp(d, &a);
	dwarf_debug__free(d);
}

static void test_dwarf_separate_debug_file(void **state)
{
	struct world *w = *state;
	struct dwarf_debug *d;
	struct cpp_addrs a;

	cpp_addrs(w->cpp, &a);
	d = open_path(w->cpp_debug);
	assert_non_null(d);
	check_cpp(d, &a);
	dwarf_debug__free(d);
}

/* ---- C: plain names, compressed sections, DWARF 4 and 5 ----------------- */

static bool debug_info_compressed(const char *path)
{
	bool compressed = false;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr shdr;
	int fd;
	Elf *e = support__elf_open(path, &fd);

	assert_non_null(e);
	assert_int_equal(elf_getshdrstrndx(e, &shstrndx), 0);
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		const char *name;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		name = elf_strptr(e, shstrndx, shdr.sh_name);
		if (name && strcmp(name, ".debug_info") == 0)
			compressed = shdr.sh_flags & SHF_COMPRESSED;
	}
	support__elf_close(e, fd);
	return compressed;
}

/* The version readelf reports for the first unit. */
static int dwarf_version(const char *path)
{
	char *out = support__read_cmd("readelf --debug-dump=info '%s' | "
				      "awk '/Version:/ {print $2; exit}'",
				      path);
	int v;

	assert_non_null(out);
	v = atoi(out);
	free(out);
	return v;
}

static void check_c(const char *path)
{
	const uint32_t body = marker_line(prog_c, "COMPUTE_BODY"),
		       decl = marker_line(prog_c, "COMPUTE_DECL"),
		       main_decl = marker_line(prog_c, "MAIN_DECL"),
		       main_call = marker_line(prog_c, "MAIN_CALL");
	struct sym_frame f[SYM_MAX_FRAMES];
	uint64_t lo, size, main_lo, main_size, at;
	struct dwarf_debug *d;
	char src[256];

	/* support__build_program compiled <path>.c */
	snprintf(src, sizeof(src), "%s.c", strrchr(path, '/') + 1);
	lo = nm_prefix(path, "compute", &size);
	main_lo = nm_prefix(path, "main", &main_size);
	d = open_path(path);
	assert_non_null(d);

	assert_int_equal(dwarf_debug__lookup(d, line_addr(path, src, body, lo, size), f,
					     SYM_MAX_FRAMES),
			 1);
	expect_frame(&f[0], "compute", NULL, src, body, decl);
	assert_true(f[0].file[0] == '/');
	assert_int_equal(dwarf_debug__lookup(d, line_addr(path, src, main_call, main_lo, main_size),
					     f, SYM_MAX_FRAMES),
			 1);
	expect_frame(&f[0], "main", NULL, src, main_call, main_decl);

	/* Every byte of compute is compute, at a line of its own. */
	for (at = lo; at < lo + size; at++) {
		assert_int_equal(dwarf_debug__lookup(d, at, f, SYM_MAX_FRAMES), 1);
		assert_string_equal(f[0].name, "compute");
		assert_null(f[0].system_name);
		assert_int_equal(f[0].start_line, decl);
		assert_true(f[0].line >= decl && f[0].line < main_decl);
		assert_true(ends_with(f[0].file, src));
	}
	/* Past the end of the code. */
	assert_int_equal(dwarf_debug__lookup(d, main_lo + main_size + 0x100000, f, SYM_MAX_FRAMES),
			 -ENOENT);
	dwarf_debug__free(d);
}

static void test_dwarf_c_flavours(void **state)
{
	struct world *w = *state;
	int i;

	assert_false(debug_info_compressed(w->c[C_PLAIN]));
	assert_true(debug_info_compressed(w->c[C_GZ]));
	assert_int_equal(dwarf_version(w->c[C_DWARF4]), 4);
	assert_int_equal(dwarf_version(w->c[C_DWARF5]), 5);
	for (i = 0; i < C_NR; i++)
		check_c(w->c[i]);
}

/* ---- files without usable DWARF ----------------------------------------- */

static void test_dwarf_no_dwarf(void **state)
{
	static const char text[] = "#!/bin/sh\necho not an ELF file at all\n";
	struct world *w = *state;
	char *path = support__path(w->dir, "not-elf");
	int fd;

	errno = 0;
	assert_null(open_path(w->c_nodebug));
	assert_int_equal(errno, ENODATA);
	errno = 0;
	assert_null(open_path(w->c_stripped));
	assert_int_equal(errno, ENODATA);

	assert_non_null(path);
	assert_int_equal(support__write_text(path, text), 0);
	errno = 0;
	assert_null(open_path(path));
	assert_int_equal(errno, ENOEXEC);
	free(path);

	errno = 0;
	assert_null(open_path("/dev/null"));
	assert_int_equal(errno, ENOEXEC);
	fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_null(dwarf_debug__open_fd(fd));
	errno = 0;
	assert_null(dwarf_debug__open_fd(-1));
	assert_int_equal(errno, EBADF);
	dwarf_debug__free(NULL);
	assert_int_equal(dwarf_debug__bytes(NULL), 0);
}

/* ---- damaged files ------------------------------------------------------ */

/* Opens buf as a file and looks up a spread of addresses around the
 * program's code; every answer must be an error or frames whose strings
 * can be read. Returns the number of lookups that gave frames, -errno
 * when it did not open. */
static int poke(const void *buf, size_t len, const struct cpp_addrs *a)
{
	const uint64_t base[] = { a->helper, a->mix, a->run, a->lambda };
	struct sym_frame f[SYM_MAX_FRAMES];
	struct dwarf_debug *d;
	int fd = memfd_create("dwarf-test", MFD_CLOEXEC), hits = 0, n, k;
	size_t i;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	d = dwarf_debug__open_fd(fd);
	if (!d) {
		assert_true(errno == ENOEXEC || errno == ENODATA);
		return -errno;
	}
	for (i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		for (int64_t delta = -0x80; delta < 0x80; delta += 5) {
			n = dwarf_debug__lookup(d, base[i] + delta, f, SYM_MAX_FRAMES);
			if (n < 0)
				continue;
			assert_true(n >= 1 && n <= SYM_MAX_FRAMES);
			for (k = 0; k < n; k++) {
				assert_non_null(f[k].name);
				assert_true(strlen(f[k].name) < 1 << 20);
				if (f[k].system_name)
					assert_true(strlen(f[k].system_name) < 1 << 20);
				if (f[k].file)
					assert_true(strlen(f[k].file) < 1 << 20);
			}
			hits++;
		}
	}
	dwarf_debug__free(d);
	return hits;
}

static void test_dwarf_truncated(void **state)
{
	struct world *w = *state;
	size_t len, cut;
	void *buf = support__read_file(w->cpp, &len);
	struct cpp_addrs a;

	assert_non_null(buf);
	cpp_addrs(w->cpp, &a);
	assert_int_equal(poke(buf, 0, &a), -ENOEXEC);
	assert_int_equal(poke(buf, 16, &a), -ENOEXEC);
	/* Section headers are at the end: without them there is no DWARF
	 * to find, or what is left of it must not crash anything. */
	for (cut = 64; cut < len; cut += len / 61 + 1)
		poke(buf, cut, &a);
	assert_true(poke(buf, len - 1, &a) < 0);
	/* The whole file through the same path works. */
	assert_true(poke(buf, len, &a) > 0);
	free(buf);
}

/* Where the debug sections sit in the file. */
static void debug_extent(const char *path, size_t *lo, size_t *hi)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr shdr;
	int fd;
	Elf *e = support__elf_open(path, &fd);

	assert_non_null(e);
	assert_int_equal(elf_getshdrstrndx(e, &shstrndx), 0);
	*lo = SIZE_MAX;
	*hi = 0;
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		const char *name;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		name = elf_strptr(e, shstrndx, shdr.sh_name);
		if (!name || strncmp(name, ".debug_", 7) != 0)
			continue;
		if (shdr.sh_offset < *lo)
			*lo = shdr.sh_offset;
		if (shdr.sh_offset + shdr.sh_size > *hi)
			*hi = shdr.sh_offset + shdr.sh_size;
	}
	support__elf_close(e, fd);
	assert_true(*lo < *hi);
}

/* Deterministic byte flips in the debug sections (and now and then in the
 * headers): the sanitizer build turns any bad read into a failure, and
 * every lookup must end. */
static void test_dwarf_corrupt(void **state)
{
	struct world *w = *state;
	size_t len, lo, hi, iter;
	unsigned char *orig = support__read_file(w->cpp, &len), *buf = malloc(len);
	uint32_t seed = 2024;
	struct cpp_addrs a;
	int opened = 0;

	assert_non_null(orig);
	assert_non_null(buf);
	cpp_addrs(w->cpp, &a);
	debug_extent(w->cpp, &lo, &hi);
	for (iter = 0; iter < 600; iter++) {
		int flips = 1 + iter % 6, i;

		memcpy(buf, orig, len);
		for (i = 0; i < flips; i++) {
			size_t at;

			seed = seed * 1103515245u + 12345u;
			at = iter % 10 == 9 ? (seed >> 8) % len : lo + (seed >> 8) % (hi - lo);
			seed = seed * 1103515245u + 12345u;
			buf[at] = (unsigned char)(seed >> 16);
		}
		opened += poke(buf, len, &a) >= 0;
	}
	/* Most damage leaves the file readable: the lookups did run. */
	assert_true(opened > 100);
	free(buf);
	free(orig);
}

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Every function of the debug file at path (its .symtab), at its start and
 * its middle, reads the same from a and b: frames, names, file:line. The
 * number of addresses compared. */
static size_t compare_lookups(const char *path, struct dwarf_debug *a, struct dwarf_debug *b)
{
	struct sym_frame fa[SYM_MAX_FRAMES], fb[SYM_MAX_FRAMES];
	size_t i, n = 0, named = 0;
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;
	int fd;
	Elf *e = support__elf_open(path, &fd);

	assert_non_null(e);
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		Elf_Data *data;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_SYMTAB)
			continue;
		data = elf_getdata(scn, NULL);
		assert_non_null(data);
		for (i = 0; i < shdr.sh_size / shdr.sh_entsize; i++) {
			GElf_Sym sym;
			uint64_t at[2];
			int k;

			if (!gelf_getsym(data, i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    sym.st_value == 0 || sym.st_size == 0)
				continue;
			at[0] = sym.st_value;
			at[1] = sym.st_value + sym.st_size / 2;
			for (k = 0; k < 2; k++) {
				int ra = dwarf_debug__lookup(a, at[k], fa, SYM_MAX_FRAMES);
				int rb = dwarf_debug__lookup(b, at[k], fb, SYM_MAX_FRAMES);
				int j;

				if (ra != rb)
					fail_msg("%#llx: %d frames against %d",
						 (unsigned long long)at[k], ra, rb);
				for (j = 0; j < ra; j++) {
					if (!str_same(fa[j].name, fb[j].name) ||
					    !str_same(fa[j].system_name, fb[j].system_name) ||
					    !str_same(fa[j].file, fb[j].file) ||
					    fa[j].line != fb[j].line ||
					    fa[j].start_line != fb[j].start_line)
						fail_msg("%#llx frame %d: %s %s:%u against %s %s:%u",
							 (unsigned long long)at[k], j, fa[j].name,
							 fa[j].file, fa[j].line, fb[j].name, fb[j].file,
							 fb[j].line);
				}
				n++;
				named += ra > 0;
			}
		}
	}
	support__elf_close(e, fd);
	/* The DWARF did answer: most functions are named by it. */
	assert_true(named > n / 2);
	return n;
}

/* Resident kB of this process's mappings of the file at path. */
static long mapped_rss_kb(const char *path)
{
	char *out = support__read_cmd("awk -v p='%s' '/^[0-9a-f]+-[0-9a-f]+ / {m = ($6 == p)} "
				      "m && /^Rss:/ {s += $2} END {print s + 0}' /proc/%d/smaps",
				      path, (int)getpid());
	long kb;

	assert_non_null(out);
	kb = atol(out);
	free(out);
	return kb;
}

/* The address of a function of the debug file at path. */
static uint64_t sym_addr(const char *path, const char *name)
{
	uint64_t a, size;

	assert_int_equal(support__symbol(path, name, &a, &size), 0);
	return a;
}

/* Heap bytes in use (what libdw and the index allocate). */
static size_t heap_in_use(void)
{
	return mallinfo2().uordblks;
}

/* libc's debug file from libc6-dbg (GCC, DWARF 5, zlib-compressed, with
 * .debug_aranges): units found through .debug_aranges and read lazily,
 * every unit's DIE read up front, and the uncompressed copy the inflate
 * cache writes all name every function alike, inline chains and file:line
 * included; and the aranges path spares the up-front parse of every unit. */
static void test_dwarf_libc_aranges_and_copy(void **state)
{
	struct world *w = *state;
	char id[130], *dbg = support__system_debug_file("libc.so.6", id, sizeof(id)), *key = NULL;
	char *dir = support__path(w->dir, "inflated");
	struct inflate_cache *c = inflate_cache__new(dir, 0);
	struct dwarf_debug *full, *lazy, *copy;
	struct sym_frame f[SYM_MAX_FRAMES];
	size_t before, full_heap, lazy_heap;
	char link[64], copy_path[4096];
	ssize_t n;
	int fd, cfd;

	if (!dbg)
		fail_msg("no debug file for libc.so.6 (scripts/deps.sh installs libc6-dbg)");
	fd = open(dbg, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);

	before = heap_in_use();
	full = dwarf_debug__open_fd_flags(dup(fd), DWARF_DEBUG_NO_ARANGES);
	full_heap = heap_in_use() - before;
	before = heap_in_use();
	lazy = dwarf_debug__open_fd(dup(fd));
	lazy_heap = heap_in_use() - before;
	assert_non_null(full);
	assert_non_null(lazy);
	/* Both hold the inflated sections and libdw's record of every unit
	 * (dwarf_getaranges makes one too, about 1 KiB a unit); only the
	 * full walk parses every unit's abbreviations, over 1 MiB more. */
	if (lazy_heap * 5 > full_heap * 4)
		fail_msg("opening through aranges took %zu heap bytes, the full walk %zu",
			 lazy_heap, full_heap);
	assert_true(compare_lookups(dbg, full, lazy) > 5000);

	assert_true(asprintf(&key, "buildid:%s", id) > 0);
	cfd = inflate_cache__open(c, fd, key);
	assert_true(cfd >= 0);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", cfd);
	n = readlink(link, copy_path, sizeof(copy_path) - 1);
	assert_true(n > 0);
	copy_path[n] = '\0';
	copy = dwarf_debug__open_fd(cfd);
	assert_non_null(copy);
	/* Opening leaves little of the copy resident; every function's
	 * lookup reads most of it; dropping the pages gives them back, and
	 * names read before stay readable, lookups answer alike after. */
	if (mapped_rss_kb(copy_path) > 1024)
		fail_msg("%ld kB of %s resident after open", mapped_rss_kb(copy_path), copy_path);
	assert_true(compare_lookups(dbg, full, copy) > 5000);
	assert_true(mapped_rss_kb(copy_path) > 2048);
	assert_int_equal(dwarf_debug__lookup(copy, sym_addr(dbg, "msort_with_tmp.part.0"), f,
					     SYM_MAX_FRAMES) > 0, 1);
	dwarf_debug__drop_pages(copy);
	if (mapped_rss_kb(copy_path) > 256)
		fail_msg("%ld kB of %s resident after dropping", mapped_rss_kb(copy_path),
			 copy_path);
	assert_true(ends_with(f[0].file, "msort.c"));
	assert_true(strlen(f[0].name) > 0);
	assert_true(compare_lookups(dbg, full, copy) > 5000);

	dwarf_debug__free(copy);
	dwarf_debug__free(lazy);
	dwarf_debug__free(full);
	inflate_cache__free(c);
	close(fd);
	free(key);
	free(dir);
	free(dbg);
}

/* Heap bytes in use, large blocks malloc maps (inflated sections) too.
 * Under AddressSanitizer malloc is its allocator, which mallinfo2 does not
 * see: ask that allocator instead. */
#if defined(__SANITIZE_ADDRESS__)
#define HEAP_FROM_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_FROM_SANITIZER 1
#endif
#endif
#ifdef HEAP_FROM_SANITIZER
/* The sanitizer runtime's (sanitizer/allocator_interface.h, which gcc's
 * packages do not install). */
size_t __sanitizer_get_current_allocated_bytes(void);

static size_t heap_and_maps_in_use(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
static size_t heap_and_maps_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}
#endif

/* What opening d and naming every function of path grew the heap by,
 * against what dwarf_debug__bytes says d holds: within a quarter. */
static void expect_bytes_follow_heap(const char *what, const char *path, int fd, unsigned flags)
{
	size_t before = heap_and_maps_in_use(), heap, counted;
	struct dwarf_debug *d = dwarf_debug__open_fd_flags(fd, flags);

	assert_non_null(d);
	assert_true(compare_lookups(path, d, d) > 5000);
	heap = heap_and_maps_in_use() - before;
	counted = dwarf_debug__bytes(d);
	print_message("%s: heap grew %zu bytes, counted %zu\n", what, heap, counted);
	if (counted * 5 < heap * 4 || counted * 4 > heap * 5)
		fail_msg("%s: counted %zu bytes, the heap grew %zu", what, counted, heap);
	dwarf_debug__free(d);
}

/* The symbol cache's budget is resident memory: dwarf_debug__bytes counts
 * what opening and looking up put on the heap (sections libdw inflated,
 * our indexes, libdw's own records of the units), and not the mapped
 * sections, which are page cache dropped after each flush: libc's debug
 * file with its sections inflated by libdw, with aranges and without, and
 * the uncompressed copy the inflate cache writes, whose sections (8 MiB
 * read) are mapped. */
static void test_dwarf_bytes_follow_the_heap(void **state)
{
	struct world *w = *state;
	char id[130], *dbg = support__system_debug_file("libc.so.6", id, sizeof(id)), *key = NULL;
	char *dir = support__path(w->dir, "inflated-bytes");
	struct inflate_cache *c = inflate_cache__new(dir, 0);
	int fd, cfd;

	if (!dbg)
		fail_msg("no debug file for libc.so.6 (scripts/deps.sh installs libc6-dbg)");
	fd = open(dbg, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	expect_bytes_follow_heap("inflated by libdw, aranges", dbg, dup(fd), 0);
	expect_bytes_follow_heap("inflated by libdw, every unit read at open", dbg, dup(fd),
				 DWARF_DEBUG_NO_ARANGES);
	assert_true(asprintf(&key, "buildid:%s", id) > 0);
	cfd = inflate_cache__open(c, fd, key);
	assert_true(cfd >= 0);
	expect_bytes_follow_heap("mapped copy, aranges", dbg, dup(cfd), 0);
	expect_bytes_follow_heap("mapped copy, every unit read at open", dbg, cfd,
				 DWARF_DEBUG_NO_ARANGES);
	inflate_cache__free(c);
	close(fd);
	free(key);
	free(dir);
	free(dbg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dwarf_cpp_inline),
		cmocka_unit_test(test_dwarf_separate_debug_file),
		cmocka_unit_test(test_dwarf_c_flavours),
		cmocka_unit_test(test_dwarf_no_dwarf),
		cmocka_unit_test(test_dwarf_truncated),
		cmocka_unit_test(test_dwarf_corrupt),
		cmocka_unit_test(test_dwarf_libc_aranges_and_copy),
		cmocka_unit_test(test_dwarf_bytes_follow_the_heap),
	};

	return cmocka_run_group_tests_name("dwarf", tests, setup, teardown);
}
