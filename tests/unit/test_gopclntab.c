/* Builds a small Go program at test time (plain, stripped, PIE, externally
 * linked PIE) and checks what the stripped builds' function tables say
 * against the unstripped builds: names at the addresses nm gives, and
 * names, files, lines and inline chains at every address of a few
 * functions against llvm-symbolizer reading the DWARF. Then truncated and
 * corrupted tables, and hand-made tables in the layouts of Go versions we
 * cannot build here (1.2, 1.16, 1.20+). The Go 1.21 and 1.23 toolchains
 * (bookworm-backports, scripts/deps.sh) build the program too: their 1.20+
 * tables are checked the same way (skipped, saying so, when missing). */
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
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/gopclntab.h"
#include "tests/unit/support.h"

static const char go_src[] =
	"package main\n"
	"\n"
	"import \"os\"\n"
	"\n"
	"var sink int\n"
	"\n"
	"type counter struct{ v int }\n"
	"\n"
	"//go:noinline\n"
	"func hotLoop(n int) int {\n"
	"	s := 0\n"
	"	for i := 0; i < n; i++ {\n"
	"		s += i * i\n"
	"	}\n"
	"	return s\n"
	"}\n"
	"\n"
	"func add3(x int) int {\n"
	"	sink++\n"
	"	return x + 3\n"
	"}\n"
	"\n"
	"func twice(x int) int {\n"
	"	return add3(x) * 2\n"
	"}\n"
	"\n"
	"//go:noinline\n"
	"func inlineHost(n int) int {\n"
	"	s := 0\n"
	"	for i := 0; i < n; i++ {\n"
	"		s += twice(i)\n"
	"	}\n"
	"	return s\n"
	"}\n"
	"\n"
	"//go:noinline\n"
	"func (c *counter) bump(n int) int {\n"
	"	c.v += n\n"
	"	return c.v\n"
	"}\n"
	"\n"
	"func main() {\n"
	"	c := &counter{}\n"
	"	n := len(os.Args) * 1000\n"
	"	sink += hotLoop(n) + inlineHost(n) + c.bump(n)\n"
	"	if sink == 42 {\n"
	"		os.Exit(3)\n"
	"	}\n"
	"}\n";

static const char c_src[] = "int main(void) { return 0; }\n";

/* Functions every build is checked on; runtime.mallocgc brings deep
 * inlining of the runtime's own code. */
static const char *const funcs[] = {
	"main.hotLoop", "main.inlineHost", "main.(*counter).bump", "main.main", "runtime.mallocgc",
};
#define NR_FUNCS (sizeof(funcs) / sizeof(funcs[0]))

struct world {
	char *dir;
	char *prog, *prog_s;   /* internal linking, not PIE */
	char *pie, *pie_s;     /* -buildmode=pie */
	char *epie, *epie_s;   /* PIE linked by gcc: no .gopclntab section */
	char *cprog;           /* not Go */
};

static struct world w;

/* ---- setup -------------------------------------------------------------- */

static char *go_build_with(const char *go, const char *name, const char *flags)
{
	char *out = support__path(w.dir, name);

	if (!out)
		return NULL;
	/* Offline and out of the user's caches; GOTOOLCHAIN=local keeps a
	 * newer go from fetching a toolchain. */
	if (support__run("cd '%s' && GO111MODULE=off GOFLAGS= GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1 "
			 "GOCACHE=\"${IGNIS_TEST_GOCACHE:-%s/cache}\" GOPATH='%s/gopath' %s build %s -o '%s' main.go",
			 w.dir, w.dir, w.dir, go, flags, out)) {
		free(out);
		return NULL;
	}
	return out;
}

static char *go_build(const char *name, const char *flags)
{
	return go_build_with("go", name, flags);
}

static int setup(void **state)
{
	char *src;

	(void)state;
	elf_version(EV_CURRENT);
	if (support__run("command -v go >/dev/null")) {
		fprintf(stderr, "test_gopclntab: no go compiler: install golang-go (scripts/deps.sh)\n");
		return -1;
	}
	if (support__run("command -v llvm-symbolizer >/dev/null")) {
		fprintf(stderr, "test_gopclntab: no llvm-symbolizer: install llvm (scripts/deps.sh)\n");
		return -1;
	}
	w.dir = support__tmpdir("gopclntab");
	if (!w.dir)
		return -1;
	src = support__path(w.dir, "main.go");
	if (!src || support__write_text(src, go_src)) {
		free(src);
		return -1;
	}
	free(src);
	w.prog = go_build("prog", "");
	w.prog_s = go_build("prog-s", "-ldflags='-s -w'");
	w.pie = go_build("pie", "-buildmode=pie");
	w.pie_s = go_build("pie-s", "-buildmode=pie -ldflags='-s -w'");
	w.epie = go_build("epie", "-buildmode=pie -ldflags='-linkmode=external'");
	w.epie_s = go_build("epie-s", "-buildmode=pie -ldflags='-s -w -linkmode=external'");
	w.cprog = support__build_program(w.dir, "cprog", c_src, "-O1 -s");
	if (!w.prog || !w.prog_s || !w.pie || !w.pie_s || !w.epie || !w.epie_s || !w.cprog) {
		fprintf(stderr, "test_gopclntab: building the test programs failed\n");
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(w.prog);
	free(w.prog_s);
	free(w.pie);
	free(w.pie_s);
	free(w.epie);
	free(w.epie_s);
	free(w.cprog);
	support__rmtree(w.dir);
	free(w.dir);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

struct opened {
	Elf *elf;
	int fd;
	struct gopclntab *g;
};

static void open_go(const char *path, struct opened *o)
{
	o->elf = support__elf_open(path, &o->fd);
	assert_non_null(o->elf);
	o->g = gopclntab__open(o->elf);
	if (!o->g)
		fprintf(stderr, "gopclntab__open(%s): %s\n", path, strerror(errno));
	assert_non_null(o->g);
}

static void close_go(struct opened *o)
{
	gopclntab__free(o->g);
	support__elf_close(o->elf, o->fd);
}

/* A symbol's address as nm prints it, for those without a size (which
 * support__symbol wants); 0 when absent. */
static uint64_t nm_addr(const char *path, const char *name)
{
	char *out = support__read_cmd("nm '%s'", path), *line, *save = NULL, sym[256], type;
	unsigned long long a, found = 0;

	if (!out)
		return 0;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "%llx %c %255s", &a, &type, sym) == 3 && !strcmp(sym, name))
			found = a;
	free(out);
	return found;
}

/* The function that holds vaddr: the outermost frame. */
static void expect_func(struct gopclntab *g, uint64_t vaddr, const char *name)
{
	struct sym_frame out[SYM_MAX_FRAMES];
	int n = gopclntab__lookup(g, vaddr, out, SYM_MAX_FRAMES);

	if (n <= 0)
		fprintf(stderr, "lookup %#llx (%s): %d\n", (unsigned long long)vaddr, name, n);
	assert_true(n > 0);
	assert_string_equal(out[n - 1].name, name);
	assert_null(out[n - 1].system_name);
}

/* Each function of funcs, at its first, a middle and its last byte, as nm
 * of the unstripped build places it. */
static void check_names(const char *unstripped, struct gopclntab *g)
{
	uint64_t addr, size;
	size_t i;

	for (i = 0; i < NR_FUNCS; i++) {
		assert_int_equal(support__symbol(unstripped, funcs[i], &addr, &size), 0);
		assert_true(size > 0);
		expect_func(g, addr, funcs[i]);
		expect_func(g, addr + size / 2, funcs[i]);
		expect_func(g, addr + size - 1, funcs[i]);
	}
}

/* One frame as llvm-symbolizer prints it: the name, then file:line:col. */
struct want_frame {
	char name[256], file[512];
	unsigned line;
};

static int parse_location(const char *s, struct want_frame *f)
{
	const char *col = strrchr(s, ':'), *line;

	if (!col || col == s)
		return -1;
	for (line = col - 1; line > s && *line != ':'; line--)
		;
	if (*line != ':' || (size_t)(line - s) >= sizeof(f->file))
		return -1;
	memcpy(f->file, s, line - s);
	f->file[line - s] = '\0';
	f->line = strtoul(line + 1, NULL, 10);
	return 0;
}

/* Every address of each function of funcs, through the stripped build's
 * table and through llvm-symbolizer over the unstripped build's DWARF:
 * the same frames, innermost first. Returns the deepest chain seen. */
static int check_against_dwarf(const char *unstripped, struct gopclntab *g)
{
	char *addrs = support__path(w.dir, "addrs"), *out, *line, *save = NULL;
	struct want_frame want[SYM_MAX_FRAMES];
	struct sym_frame got[SYM_MAX_FRAMES];
	uint64_t start[NR_FUNCS], size[NR_FUNCS], a;
	size_t i, nwant = 0, naddr = 0, checked = 0;
	int n, deepest = 0;
	FILE *f;

	assert_non_null(addrs);
	f = fopen(addrs, "w");
	assert_non_null(f);
	for (i = 0; i < NR_FUNCS; i++) {
		assert_int_equal(support__symbol(unstripped, funcs[i], &start[i], &size[i]), 0);
		for (a = start[i]; a < start[i] + size[i]; a++, naddr++)
			fprintf(f, "%#llx\n", (unsigned long long)a);
	}
	fclose(f);
	out = support__read_cmd("llvm-symbolizer --obj='%s' < '%s'", unstripped, addrs);
	assert_non_null(out);

	/* Blocks of name/location line pairs, one block per address, in the
	 * order written; a blank line ends a block. */
	i = 0;
	a = start[0];
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *loc = strtok_r(NULL, "\n", &save);

		assert_non_null(loc);
		assert_true(nwant < SYM_MAX_FRAMES);
		snprintf(want[nwant].name, sizeof(want[nwant].name), "%s", line);
		assert_int_equal(parse_location(loc, &want[nwant]), 0);
		nwant++;
		/* strtok_r folds the blank line away: a block ends where the
		 * outermost frame names the function we are in. */
		if (strcmp(want[nwant - 1].name, funcs[i]))
			continue;
		n = gopclntab__lookup(g, a, got, SYM_MAX_FRAMES);
		if (n != (int)nwant)
			fprintf(stderr, "%s+%#llx: %d frames, DWARF has %zu (innermost %s)\n", funcs[i],
				(unsigned long long)(a - start[i]), n, nwant, want[0].name);
		assert_int_equal(n, nwant);
		for (size_t k = 0; k < nwant; k++) {
			if (strcmp(got[k].name, want[k].name) || !got[k].file ||
			    strcmp(got[k].file, want[k].file) || got[k].line != want[k].line)
				fprintf(stderr, "%s+%#llx frame %zu: %s %s:%u, DWARF %s %s:%u\n",
					funcs[i], (unsigned long long)(a - start[i]), k, got[k].name,
					got[k].file ? got[k].file : "?", got[k].line, want[k].name,
					want[k].file, want[k].line);
			assert_string_equal(got[k].name, want[k].name);
			assert_non_null(got[k].file);
			assert_string_equal(got[k].file, want[k].file);
			assert_int_equal(got[k].line, want[k].line);
		}
		if (n > deepest)
			deepest = n;
		nwant = 0;
		checked++;
		if (++a == start[i] + size[i] && ++i < NR_FUNCS)
			a = start[i];
	}
	assert_int_equal(checked, naddr);
	free(out);
	free(addrs);
	return deepest;
}

/* ---- real binaries ------------------------------------------------------ */

static void test_gopclntab_stripped_names(void **state)
{
	struct opened o;

	(void)state;
	open_go(w.prog_s, &o);
	assert_string_equal(gopclntab__format(o.g), "go1.18"); /* Go 1.18 and 1.19 */
	check_names(w.prog, o.g);
	assert_true(gopclntab__bytes(o.g) > 0);
	close_go(&o);
}

static void test_gopclntab_lines_and_inlines(void **state)
{
	struct opened o;

	(void)state;
	open_go(w.prog_s, &o);
	/* add3 inlined into twice inlined into inlineHost. */
	assert_true(check_against_dwarf(w.prog, o.g) >= 3);
	close_go(&o);
}

/* A newer Go's build of the program, plain and stripped: the stripped
 * one's 1.20+ table names every byte of each function as nm places it and
 * gives DWARF's frames, inlined ones included. */
static void newer_go(const char *version)
{
	char go[64], name[32], name_s[32], *prog, *prog_s;
	struct opened o;

	snprintf(go, sizeof(go), "/usr/lib/go-%s/bin/go", version);
	if (access(go, X_OK)) {
		print_message("skipped: %s missing (scripts/deps.sh installs golang-%s-go)\n", go,
			      version);
		skip();
	}
	snprintf(name, sizeof(name), "prog-%s", version);
	snprintf(name_s, sizeof(name_s), "prog-%s-s", version);
	prog = go_build_with(go, name, "");
	prog_s = go_build_with(go, name_s, "-ldflags='-s -w'");
	assert_non_null(prog);
	assert_non_null(prog_s);
	open_go(prog_s, &o);
	assert_string_equal(gopclntab__format(o.g), "go1.20");
	check_names(prog, o.g);
	assert_true(check_against_dwarf(prog, o.g) >= 3);
	close_go(&o);
	free(prog);
	free(prog_s);
}

static void test_gopclntab_go121(void **state)
{
	(void)state;
	newer_go("1.21");
}

static void test_gopclntab_go123(void **state)
{
	(void)state;
	newer_go("1.23");
}

static void test_gopclntab_outside_functions(void **state)
{
	struct sym_frame out[SYM_MAX_FRAMES];
	uint64_t text, etext;
	struct opened o;

	(void)state;
	open_go(w.prog_s, &o);
	text = nm_addr(w.prog, "runtime.text");
	etext = nm_addr(w.prog, "runtime.etext");
	assert_true(text && etext > text);
	assert_int_equal(gopclntab__lookup(o.g, text - 1, out, SYM_MAX_FRAMES), -ENOENT);
	assert_int_equal(gopclntab__lookup(o.g, etext, out, SYM_MAX_FRAMES), -ENOENT);
	assert_int_equal(gopclntab__lookup(o.g, etext + 0x1000, out, SYM_MAX_FRAMES), -ENOENT);
	assert_int_equal(gopclntab__lookup(o.g, 0, out, SYM_MAX_FRAMES), -ENOENT);
	assert_int_equal(gopclntab__lookup(o.g, UINT64_MAX, out, SYM_MAX_FRAMES), -ENOENT);
	assert_int_equal(gopclntab__lookup(o.g, text, out, 0), -EINVAL);
	assert_true(gopclntab__lookup(o.g, text, out, 1) == 1);
	close_go(&o);
}

/* max smaller than the chain: innermost frames and the function itself. */
static void test_gopclntab_short_output(void **state)
{
	struct sym_frame all[SYM_MAX_FRAMES], two[2], one[1];
	uint64_t start, size, a;
	struct opened o;
	int n = 0;

	(void)state;
	open_go(w.prog_s, &o);
	assert_int_equal(support__symbol(w.prog, "main.inlineHost", &start, &size), 0);
	for (a = start; a < start + size; a++)
		if ((n = gopclntab__lookup(o.g, a, all, SYM_MAX_FRAMES)) >= 3)
			break;
	assert_true(n >= 3);
	assert_int_equal(gopclntab__lookup(o.g, a, two, 2), 2);
	assert_string_equal(two[0].name, all[0].name);
	assert_string_equal(two[1].name, "main.inlineHost");
	assert_int_equal(two[1].line, all[n - 1].line);
	assert_int_equal(gopclntab__lookup(o.g, a, one, 1), 1);
	assert_string_equal(one[0].name, "main.inlineHost");
	close_go(&o);
}

static void test_gopclntab_pie(void **state)
{
	struct opened o;

	(void)state;
	open_go(w.pie_s, &o);
	check_names(w.pie, o.g);
	assert_true(check_against_dwarf(w.pie, o.g) >= 3);
	close_go(&o);
}

/* gcc links the PIE: .gopclntab is merged into .data.rel.ro, no section
 * names it, and runtime.text is not where .text starts. */
static void test_gopclntab_external_link(void **state)
{
	struct opened o;
	char *sections = support__read_cmd("readelf -SW '%s'", w.epie_s);

	(void)state;
	assert_non_null(sections);
	assert_null(strstr(sections, "gopclntab"));
	free(sections);
	open_go(w.epie_s, &o);
	check_names(w.epie, o.g);
	assert_true(check_against_dwarf(w.epie, o.g) >= 3);
	close_go(&o);
}

static void test_gopclntab_not_go(void **state)
{
	struct opened o;

	(void)state;
	o.elf = support__elf_open(w.cprog, &o.fd);
	assert_non_null(o.elf);
	errno = 0;
	assert_null(gopclntab__open(o.elf));
	assert_int_equal(errno, ENOENT);
	support__elf_close(o.elf, o.fd);
	errno = 0;
	assert_null(gopclntab__open(NULL));
	assert_int_equal(errno, ENOENT);
}

/* Where Go's traceback ends a stack, in a stripped build: the stops are the
 * functions flagged so, at the addresses nm gives the unstripped build;
 * ordinary code, and a C program, have none. */
static void test_gopclntab_stops(void **state)
{
	static const struct {
		const char *name;
		uint8_t flag;
	} want[] = {
		{ "runtime.mcall", GOPCLNTAB_FLAG_SPWRITE },
		{ "runtime.systemstack.abi0", GOPCLNTAB_FLAG_SPWRITE },
		{ "runtime.morestack.abi0", GOPCLNTAB_FLAG_SPWRITE },
		{ "runtime.goexit.abi0", GOPCLNTAB_FLAG_TOPFRAME },
		{ "runtime.mstart.abi0", GOPCLNTAB_FLAG_TOPFRAME },
	};
	struct gopclntab_stops *st;
	struct opened o;
	uint64_t a;
	int fd;
	Elf *elf;

	(void)state;
	open_go(w.prog_s, &o);
	st = gopclntab__stops(o.elf);
	assert_non_null(st);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		a = nm_addr(w.prog, want[i].name);
		assert_true(a != 0);
		/* first and a later instruction of the function */
		assert_true(gopclntab_stops__at(st, a) & want[i].flag);
		assert_true(gopclntab_stops__at(st, a + 4) & want[i].flag);
	}
	a = nm_addr(w.prog, "main.hotLoop");
	assert_true(a != 0);
	assert_int_equal(gopclntab_stops__at(st, a), 0);
	assert_int_equal(gopclntab_stops__at(st, a + 8), 0);
	assert_int_equal(gopclntab_stops__at(st, 0), 0);
	assert_int_equal(gopclntab_stops__at(st, UINT64_MAX), 0);
	assert_int_equal(gopclntab_stops__at(NULL, a), 0);
	gopclntab_stops__free(st);
	close_go(&o);

	elf = support__elf_open(w.cprog, &fd);
	assert_non_null(elf);
	assert_null(gopclntab__stops(elf));
	support__elf_close(elf, fd);
	assert_null(gopclntab__stops(NULL));
	gopclntab_stops__free(NULL);
}

/* ---- the section's bytes, and copies with them changed ------------------ */

struct section {
	uint8_t *data;
	size_t size;
	uint64_t vaddr, offset, text;
};

static void read_section(const char *path, const char *want, struct section *s)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf_Data *d;
	size_t shstrndx;
	struct opened o;
	const char *name;

	memset(s, 0, sizeof(*s));
	o.elf = support__elf_open(path, &o.fd);
	assert_non_null(o.elf);
	assert_int_equal(elf_getshdrstrndx(o.elf, &shstrndx), 0);
	while ((scn = elf_nextscn(o.elf, scn))) {
		assert_non_null(gelf_getshdr(scn, &sh));
		name = elf_strptr(o.elf, shstrndx, sh.sh_name);
		if (name && !strcmp(name, ".text"))
			s->text = sh.sh_addr;
		if (!name || strcmp(name, want))
			continue;
		d = elf_getdata(scn, NULL);
		assert_non_null(d);
		s->data = malloc(d->d_size);
		assert_non_null(s->data);
		memcpy(s->data, d->d_buf, d->d_size);
		s->size = d->d_size;
		s->vaddr = sh.sh_addr;
		s->offset = sh.sh_offset;
	}
	support__elf_close(o.elf, o.fd);
	assert_non_null(s->data);
}

/* A copy of path with len bytes at off replaced. */
static char *patched_copy(const char *path, const char *name, uint64_t off, const void *bytes,
			  size_t len)
{
	char *out = support__path(w.dir, name);
	size_t size;
	uint8_t *data = support__read_file(path, &size);
	FILE *f;

	assert_non_null(out);
	assert_non_null(data);
	assert_true(off + len <= size);
	memcpy(data + off, bytes, len);
	f = fopen(out, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, size, f), size);
	assert_int_equal(fclose(f), 0);
	free(data);
	return out;
}

/* Go 1.26 leaves textStart zero: runtime.text then comes from moduledata. */
static void test_gopclntab_text_start_from_moduledata(void **state)
{
	static const uint8_t zero[8];
	struct section s;
	struct opened o;
	char *copy;

	(void)state;
	read_section(w.prog_s, ".gopclntab", &s);
	copy = patched_copy(w.prog_s, "textstart0", s.offset + 8 + 2 * 8, zero, sizeof(zero));
	open_go(copy, &o);
	check_names(w.prog, o.g);
	assert_true(check_against_dwarf(w.prog, o.g) >= 3);
	close_go(&o);
	free(copy);
	free(s.data);
}

static void test_gopclntab_bad_header_in_file(void **state)
{
	static const uint8_t unknown_magic[4] = { 0xf5, 0xff, 0xff, 0xff };
	static const uint8_t huge_nfunc[8] = { 0, 0, 0, 0, 0, 0, 0, 0x10 };
	struct section s;
	struct opened o;
	char *copy;

	(void)state;
	read_section(w.prog_s, ".gopclntab", &s);
	copy = patched_copy(w.prog_s, "badmagic", s.offset, unknown_magic, 4);
	o.elf = support__elf_open(copy, &o.fd);
	assert_non_null(o.elf);
	errno = 0;
	assert_null(gopclntab__open(o.elf));
	assert_int_equal(errno, ENOEXEC);
	support__elf_close(o.elf, o.fd);
	free(copy);

	copy = patched_copy(w.prog_s, "hugenfunc", s.offset + 8, huge_nfunc, 8);
	o.elf = support__elf_open(copy, &o.fd);
	assert_non_null(o.elf);
	errno = 0;
	assert_null(gopclntab__open(o.elf));
	assert_int_equal(errno, ENOEXEC);
	support__elf_close(o.elf, o.fd);
	free(copy);
	free(s.data);
}

/* Lookups at the functions' addresses and around them: whatever the table
 * says, an answer or an error, never a crash or a read out of bounds
 * (which the sanitized build would catch). */
static void poke(struct gopclntab *g, const uint64_t *addrs, size_t n)
{
	struct sym_frame out[SYM_MAX_FRAMES];
	size_t i;
	int r, k;

	for (i = 0; i < n; i++) {
		r = gopclntab__lookup(g, addrs[i], out, SYM_MAX_FRAMES);
		assert_true(r <= SYM_MAX_FRAMES);
		for (k = 0; k < r; k++) {
			assert_non_null(out[k].name);
			assert_true(strlen(out[k].name) < (1u << 30));
			if (out[k].file)
				assert_true(strlen(out[k].file) < (1u << 30));
		}
	}
}

static size_t probe_addresses(uint64_t *addrs, size_t max)
{
	uint64_t start, size;
	size_t i, n = 0;

	for (i = 0; i < NR_FUNCS && n + 4 <= max; i++) {
		assert_int_equal(support__symbol(w.prog, funcs[i], &start, &size), 0);
		addrs[n++] = start;
		addrs[n++] = start + size / 3;
		addrs[n++] = start + size / 2 + 1;
		addrs[n++] = start + size - 1;
	}
	return n;
}

static void test_gopclntab_truncated(void **state)
{
	uint64_t addrs[32];
	size_t naddr = probe_addresses(addrs, 32), len, step;
	struct gopclntab *g;
	struct section s;
	uint8_t *copy;

	(void)state;
	read_section(w.prog_s, ".gopclntab", &s);
	/* The whole table opens and answers as the ELF route does. */
	g = gopclntab__open_mem(s.data, s.size, s.vaddr, s.text);
	assert_non_null(g);
	expect_func(g, addrs[0], funcs[0]);
	gopclntab__free(g);

	step = s.size / 211;
	for (len = 0; len <= s.size; len += len < 128 ? 1 : step) {
		/* An exact-size copy, so that a read past its end is caught. */
		copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, s.data, len);
		errno = 0;
		g = gopclntab__open_mem(copy, len, s.vaddr, s.text);
		if (len < 8 + 8 * 8) {
			assert_null(g);
			assert_int_equal(errno, ENOEXEC);
		}
		if (g) {
			gopclntab__set_gofunc(g, s.vaddr);
			poke(g, addrs, naddr);
		}
		gopclntab__free(g);
		free(copy);
	}
	/* The last bytes only: the last function's data is cut. */
	for (len = s.size - 64; len < s.size; len++) {
		copy = malloc(len);
		assert_non_null(copy);
		memcpy(copy, s.data, len);
		g = gopclntab__open_mem(copy, len, s.vaddr, s.text);
		if (g)
			poke(g, addrs, naddr);
		gopclntab__free(g);
		free(copy);
	}
	free(s.data);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_gopclntab_corrupted(void **state)
{
	uint64_t addrs[32];
	size_t naddr = probe_addresses(addrs, 32), i, k, nflip, pos;
	struct gopclntab *g;
	struct section s;
	uint8_t *copy;
	size_t opened = 0;

	(void)state;
	read_section(w.prog_s, ".gopclntab", &s);
	copy = malloc(s.size);
	assert_non_null(copy);
	for (i = 0; i < 3000; i++) {
		memcpy(copy, s.data, s.size);
		nflip = 1 + rng() % 8;
		for (k = 0; k < nflip; k++) {
			/* Mostly the header and functab, where one byte changes
			 * the most; the rest anywhere. */
			pos = rng() % (k % 2 ? s.size : 4096);
			copy[pos] = rng() % 4 ? (uint8_t)rng() : 0xff;
		}
		g = gopclntab__open_mem(copy, s.size, s.vaddr, s.text);
		if (!g) {
			assert_true(errno == ENOEXEC || errno == ENOENT);
			continue;
		}
		opened++;
		gopclntab__set_gofunc(g, s.vaddr + rng() % s.size);
		poke(g, addrs, naddr);
		gopclntab__free(g);
	}
	/* Most copies still open: the lookups above ran over broken data. */
	assert_true(opened > 1000);
	free(copy);
	free(s.data);
}

/* ---- hand-made tables of other Go versions ------------------------------ */

/* Where the fuzz target puts its input, so these tables double as seeds. */
#define SYN_TEXT 0x401000ull
#define SYN_SECTION 0x4b0000ull

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static size_t put(struct buf *b, const void *d, size_t n)
{
	size_t off = b->len;

	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (d)
		memcpy(b->p + b->len, d, n);
	else
		memset(b->p + b->len, 0, n);
	b->len += n;
	return off;
}

/* Byte order of the table being built. */
static bool syn_big;

static void set_n(struct buf *b, size_t off, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		b->p[off + (syn_big ? size - 1 - i : i)] = v >> (8 * i);
}

static size_t put_n(struct buf *b, uint64_t v, unsigned size)
{
	size_t off = put(b, NULL, size);

	set_n(b, off, v, size);
	return off;
}

static void align(struct buf *b, size_t a)
{
	while (b->len % a)
		put(b, NULL, 1);
}

static void put_varint(struct buf *b, uint32_t v)
{
	uint8_t c;

	do {
		c = v & 0x7f;
		v >>= 7;
		put(b, &c, 1);
		b->p[b->len - 1] |= v ? 0x80 : 0;
	} while (v);
}

/* A pc-value table: vals[i] holds up to pc offset ends[i]. Adjacent
 * values differ (a zero delta would end the table), as Go writes them. */
static uint32_t put_pcvalue(struct buf *b, size_t base, size_t n, const int32_t *vals,
			    const uint32_t *ends)
{
	size_t off = b->len - base;
	int32_t prev = -1;
	uint32_t pc = 0;
	uint8_t end = 0;

	for (size_t i = 0; i < n; i++) {
		int32_t d = vals[i] - prev;

		put_varint(b, d < 0 ? ((uint32_t)(-d - 1) << 1) | 1 : (uint32_t)d << 1);
		put_varint(b, ends[i] - pc);
		prev = vals[i];
		pc = ends[i];
	}
	put(b, &end, 1);
	return off;
}

/* Two functions: main.a at SYN_TEXT (0x20 bytes, line 5) and main.b right
 * after (0x40 bytes), whose lines are 10 up to 0x10, 12 up to 0x18, 40
 * (the body of the inlined main.inl, called from b's line 12, declared at
 * line 39) up to 0x20 and 13 to the end. */
static const uint32_t syn_len[2] = { 0x20, 0x40 };

enum syn_fmt { SYN_12, SYN_116, SYN_118, SYN_120 };

static struct buf syn_table(enum syn_fmt fmt, unsigned ptr)
{
	static const uint32_t b_ends[] = { 0x10, 0x18, 0x20, 0x40 };
	static const int32_t b_lines[] = { 10, 12, 40, 13 };
	static const uint32_t inl_ends[] = { 0x18, 0x20, 0x40 };
	static const int32_t inl_ix[] = { -1, 0, -1 };
	static const int32_t a_lines[] = { 5 };
	static const uint32_t a_ends[] = { 0x20 };
	static const uint32_t file_ends[2][1] = { { 0x20 }, { 0x40 } };
	const int32_t file_val[] = { fmt == SYN_12 ? 1 : 0 }; /* 1.2 counts files from 1 */
	const unsigned fsz = fmt <= SYN_116 ? ptr : 4;
	const size_t words = fmt == SYN_12 ? 1 : fmt == SYN_116 ? 7 : 8;
	const size_t func_hdr = fmt == SYN_12 ? ptr + 28 : fmt == SYN_116 ? ptr + 36 :
				fmt == SYN_118 ? 40 : 44;
	struct buf b = { 0 };
	size_t hdr, names, cutab = 0, files, pctab, pcln, ftab = 0, fn, filetab12 = 0, fd, tree, wd;
	uint32_t name[3], pcfile[2], pcln_off[2], pcinl = 0;

	put_n(&b, fmt == SYN_12 ? 0xfffffffb : fmt == SYN_116 ? 0xfffffffa :
		   fmt == SYN_118 ? 0xfffffff0 : 0xfffffff1, 4);
	put_n(&b, 0, 2);
	put_n(&b, 1, 1); /* pc quantum */
	put_n(&b, ptr, 1);
	hdr = put(&b, NULL, words * ptr);
	set_n(&b, hdr, 2, ptr); /* nfunc */
	/* 1.2: the functab and the file table's offset follow the header,
	 * and every offset counts from the table's start. */
	if (fmt == SYN_12) {
		ftab = put(&b, NULL, 5 * fsz);
		filetab12 = put_n(&b, 0, 4);
	}

	names = fmt == SYN_12 ? 0 : b.len;
	put(&b, NULL, 1);
	name[0] = put(&b, "main.a", 7) - names;
	name[1] = put(&b, "main.b", 7) - names;
	name[2] = put(&b, "main.inl", 9) - names;
	if (fmt != SYN_12) {
		align(&b, 4);
		cutab = put_n(&b, 0, 4); /* CU 0, file 0: offset 0 of filetab */
	}
	files = put(&b, "/src/x.go", 10);
	pctab = fmt == SYN_12 ? 0 : b.len;
	put(&b, NULL, 1); /* offset 0 means no table */
	for (int f = 0; f < 2; f++)
		pcfile[f] = put_pcvalue(&b, pctab, 1, file_val, file_ends[f]);
	pcln_off[0] = put_pcvalue(&b, pctab, 1, a_lines, a_ends);
	pcln_off[1] = put_pcvalue(&b, pctab, 4, b_lines, b_ends);
	if (fmt != SYN_12)
		pcinl = put_pcvalue(&b, pctab, 3, inl_ix, inl_ends);

	align(&b, ptr);
	pcln = fmt == SYN_12 ? 0 : b.len;
	if (fmt != SYN_12)
		ftab = put(&b, NULL, 5 * fsz);
	{
		uint64_t base = fmt <= SYN_116 ? SYN_TEXT : 0;

		set_n(&b, ftab, base, fsz);
		set_n(&b, ftab + 2 * fsz, base + syn_len[0], fsz);
		set_n(&b, ftab + 4 * fsz, base + syn_len[0] + syn_len[1], fsz);
	}
	for (int f = 0; f < 2; f++) {
		uint64_t entry = f ? syn_len[0] : 0;
		bool inl = f == 1 && fmt != SYN_12;
		size_t p;

		align(&b, ptr);
		fn = put(&b, NULL, func_hdr);
		set_n(&b, ftab + (2 * f + 1) * fsz, fn - pcln, fsz);
		p = fn;
		if (fmt <= SYN_116) {
			set_n(&b, p, SYN_TEXT + entry, ptr);
			p += ptr;
		} else {
			set_n(&b, p, entry, 4);
			p += 4;
		}
		set_n(&b, p, name[f], 4);
		set_n(&b, p + 16, pcfile[f], 4);
		set_n(&b, p + 20, pcln_off[f], 4);
		set_n(&b, p + 24, inl ? 3 : 0, 4); /* npcdata */
		if (fmt == SYN_120)
			set_n(&b, p + 32, f ? 9 : 4, 4); /* startLine */
		if (!inl)
			continue;
		b.p[fn + func_hdr - 1] = 4; /* nfuncdata: up to FUNCDATA_InlTree */
		put_n(&b, 0, 4);
		put_n(&b, 0, 4);
		put_n(&b, pcinl, 4); /* PCDATA_InlTreeIndex */
		if (fmt == SYN_116) {
			/* Pointers, aligned in memory; the tree right after. */
			if (ptr == 8 && (SYN_SECTION + b.len) % 8)
				put(&b, NULL, 4);
			fd = put(&b, NULL, 4 * ptr);
			set_n(&b, fd + 3 * ptr, SYN_SECTION + b.len, ptr);
		} else {
			/* Offsets from gofunc, the section's start in these tests. */
			fd = put(&b, NULL, 4 * 4);
			for (int k = 0; k < 3; k++)
				set_n(&b, fd + 4 * k, 0xffffffff, 4);
			set_n(&b, fd + 12, b.len, 4);
		}
		if (fmt == SYN_120) {
			tree = put(&b, NULL, 16);
			set_n(&b, tree + 4, name[2], 4);
			set_n(&b, tree + 8, 0x10, 4);  /* parentPc */
			set_n(&b, tree + 12, 39, 4);   /* startLine */
		} else {
			tree = put(&b, NULL, 20);
			set_n(&b, tree, 0xffff, 2);    /* parent: none */
			set_n(&b, tree + 8, 12, 4);    /* line of the call */
			set_n(&b, tree + 12, name[2], 4);
			set_n(&b, tree + 16, 0x10, 4); /* parentPc */
		}
	}
	if (fmt == SYN_12) {
		/* Entry 0 is the count; file n's offset is entry n. */
		align(&b, 4);
		set_n(&b, filetab12, b.len, 4);
		put_n(&b, 2, 4);
		put_n(&b, files, 4);
		return b;
	}
	/* After nfunc: nfiles, textStart (1.18+), the regions' offsets. */
	wd = hdr + ptr;
	set_n(&b, wd, 1, ptr);
	wd += ptr;
	if (fmt != SYN_116) {
		/* 1.18 records runtime.text; the 1.20+ table leaves it 0, as
		 * Go 1.26 does, for the reader's fallback. */
		set_n(&b, wd, fmt == SYN_118 ? SYN_TEXT : 0, ptr);
		wd += ptr;
	}
	set_n(&b, wd, names, ptr);
	set_n(&b, wd + ptr, cutab, ptr);
	set_n(&b, wd + 2 * ptr, files, ptr);
	set_n(&b, wd + 3 * ptr, pctab, ptr);
	set_n(&b, wd + 4 * ptr, pcln, ptr);
	return b;
}

static void expect_frame(const struct sym_frame *f, const char *name, uint32_t line,
			 uint32_t start_line)
{
	assert_string_equal(f->name, name);
	assert_non_null(f->file);
	assert_string_equal(f->file, "/src/x.go");
	assert_int_equal(f->line, line);
	assert_int_equal(f->start_line, start_line);
}

static void check_synthetic(enum syn_fmt fmt, const char *format, unsigned ptr, bool big)
{
	struct buf b;
	struct sym_frame out[SYM_MAX_FRAMES];
	const char *seeds = getenv("GOPCLNTAB_SEED_DIR");
	bool inl = fmt != SYN_12, start = fmt == SYN_120;
	struct gopclntab *g;
	uint8_t *exact;

	syn_big = big;
	b = syn_table(fmt, ptr);
	syn_big = false;
	/* GOPCLNTAB_SEED_DIR=dir writes the tables out as fuzz seeds. */
	if (seeds && ptr == 8 && !big) {
		char *path = NULL;
		FILE *f;

		assert_true(asprintf(&path, "%s/synthetic-%s", seeds, format) > 0);
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(b.p, 1, b.len, f), b.len);
		fclose(f);
		free(path);
	}
	exact = malloc(b.len);
	assert_non_null(exact);
	memcpy(exact, b.p, b.len);
	g = gopclntab__open_mem(exact, b.len, SYN_SECTION, SYN_TEXT);
	if (!g)
		fprintf(stderr, "%s: %s\n", format, strerror(errno));
	assert_non_null(g);
	gopclntab__set_gofunc(g, SYN_SECTION);
	assert_string_equal(gopclntab__format(g), format);

	assert_int_equal(gopclntab__lookup(g, SYN_TEXT - 1, out, SYM_MAX_FRAMES), -ENOENT);
	assert_int_equal(gopclntab__lookup(g, SYN_TEXT, out, SYM_MAX_FRAMES), 1);
	expect_frame(&out[0], "main.a", 5, start ? 4 : 0);
	assert_int_equal(gopclntab__lookup(g, SYN_TEXT + 0x1f, out, SYM_MAX_FRAMES), 1);
	expect_frame(&out[0], "main.a", 5, start ? 4 : 0);
	assert_int_equal(gopclntab__lookup(g, SYN_TEXT + 0x20, out, SYM_MAX_FRAMES), 1);
	expect_frame(&out[0], "main.b", 10, start ? 9 : 0);
	assert_int_equal(gopclntab__lookup(g, SYN_TEXT + 0x34, out, SYM_MAX_FRAMES), 1);
	expect_frame(&out[0], "main.b", 12, start ? 9 : 0);
	if (inl) {
		assert_int_equal(gopclntab__lookup(g, SYN_TEXT + 0x3a, out, SYM_MAX_FRAMES), 2);
		expect_frame(&out[0], "main.inl", 40, start ? 39 : 0);
		expect_frame(&out[1], "main.b", 12, start ? 9 : 0);
	} else {
		assert_int_equal(gopclntab__lookup(g, SYN_TEXT + 0x3a, out, SYM_MAX_FRAMES), 1);
		expect_frame(&out[0], "main.b", 40, 0);
	}
	assert_int_equal(gopclntab__lookup(g, SYN_TEXT + 0x5f, out, SYM_MAX_FRAMES), 1);
	expect_frame(&out[0], "main.b", 13, start ? 9 : 0);
	assert_int_equal(gopclntab__lookup(g, SYN_TEXT + 0x60, out, SYM_MAX_FRAMES), -ENOENT);
	gopclntab__free(g);

	/* Without gofunc the 1.18+ inline trees are out of reach: the
	 * function alone, at the inlined body's line. */
	if (fmt >= SYN_118) {
		g = gopclntab__open_mem(exact, b.len, SYN_SECTION, SYN_TEXT);
		assert_non_null(g);
		assert_int_equal(gopclntab__lookup(g, SYN_TEXT + 0x3a, out, SYM_MAX_FRAMES), 1);
		expect_frame(&out[0], "main.b", 40, start ? 9 : 0);
		gopclntab__free(g);
	}
	free(exact);
	free(b.p);
}

static void test_gopclntab_format_12(void **state)
{
	(void)state;
	check_synthetic(SYN_12, "go1.2", 8, false);
	check_synthetic(SYN_12, "go1.2", 4, true);
}

static void test_gopclntab_format_116(void **state)
{
	(void)state;
	check_synthetic(SYN_116, "go1.16", 8, false);
	check_synthetic(SYN_116, "go1.16", 4, false); /* 386, arm */
}

static void test_gopclntab_format_118(void **state)
{
	(void)state;
	check_synthetic(SYN_118, "go1.18", 8, false);
	check_synthetic(SYN_118, "go1.18", 8, true); /* s390x, ppc64 */
}

static void test_gopclntab_format_120(void **state)
{
	(void)state;
	check_synthetic(SYN_120, "go1.20", 8, false);
	check_synthetic(SYN_120, "go1.20", 4, true);
}

/* An unsorted functab is refused before any search runs over it. */
static void test_gopclntab_unsorted(void **state)
{
	struct buf b = syn_table(SYN_118, 8);
	struct gopclntab *g;
	uint64_t ftab;

	(void)state;
	/* pclnOffset: the last header word; the second entry before the first. */
	ftab = b.p[8 + 7 * 8] | (uint64_t)b.p[8 + 7 * 8 + 1] << 8;
	set_n(&b, ftab + 8, 0x1000, 4);
	errno = 0;
	g = gopclntab__open_mem(b.p, b.len, SYN_SECTION, SYN_TEXT);
	assert_null(g);
	assert_int_equal(errno, ENOEXEC);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gopclntab_stripped_names),
		cmocka_unit_test(test_gopclntab_lines_and_inlines),
		cmocka_unit_test(test_gopclntab_go121),
		cmocka_unit_test(test_gopclntab_go123),
		cmocka_unit_test(test_gopclntab_outside_functions),
		cmocka_unit_test(test_gopclntab_short_output),
		cmocka_unit_test(test_gopclntab_pie),
		cmocka_unit_test(test_gopclntab_external_link),
		cmocka_unit_test(test_gopclntab_not_go),
		cmocka_unit_test(test_gopclntab_stops),
		cmocka_unit_test(test_gopclntab_text_start_from_moduledata),
		cmocka_unit_test(test_gopclntab_bad_header_in_file),
		cmocka_unit_test(test_gopclntab_truncated),
		cmocka_unit_test(test_gopclntab_corrupted),
		cmocka_unit_test(test_gopclntab_format_12),
		cmocka_unit_test(test_gopclntab_format_116),
		cmocka_unit_test(test_gopclntab_format_118),
		cmocka_unit_test(test_gopclntab_format_120),
		cmocka_unit_test(test_gopclntab_unsorted),
	};

	return cmocka_run_group_tests_name("gopclntab", tests, setup, teardown);
}
