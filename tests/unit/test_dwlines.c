/* The line-table reader against libdw, over real files (programs built
 * here in every DWARF version GCC writes, compressed or not, libc's debug
 * file, and CPython's library when pyenv has one): every unit's file list,
 * and the file:line of every row's address and its neighbours, must be
 * what libdw says. Then hand-made tables for the rules a lookup depends on
 * (ties between sequences, rows at one address, the last row, define_file,
 * byte order), and bad input: truncated, corrupt, or lying counts. */
#include <dwarf.h>
#include <elfutils/libdw.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/dwlines.h"
#include "tests/unit/support.h"

/* ---- against libdw ------------------------------------------------------ */

static const char prog_h[] =
	"extern volatile int sink;\n"
	"static inline __attribute__((always_inline)) int step(int s)\n"
	"{\n"
	"	return (s << 3) ^ sink;\n"
	"}\n";

static const char prog_c[] =
	"#include \"prog.h\"\n"
	"volatile int sink;\n"
	"__attribute__((noinline, cold)) int rare(int x)\n"
	"{\n"
	"	return x * sink;\n"
	"}\n"
	"__attribute__((noinline)) int work(int n)\n"
	"{\n"
	"	int s = 0;\n"
	"	for (int i = 0; i < n; i++) {\n"
	"		s = step(s + i);\n"
	"		if (__builtin_expect(s == 12345, 0))\n"
	"			s += rare(s);\n"
	"	}\n"
	"	return s;\n"
	"}\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	(void)argv;\n"
	"	return work(argc * 100);\n"
	"}\n";

struct counts {
	size_t units, files, addrs, rows, kept;
};

static void same_answer(Dwarf_Die *cudie, const struct dwl_table *t, Dwarf_Addr a,
			struct counts *n)
{
	Dwarf_Line *line = dwarf_getsrc_die(cudie, a);
	const char *file = NULL, *want;
	int lineno = 0, want_line = 0;
	int r = dwlines__lookup(t, a, &file, &lineno);

	n->addrs++;
	if (!line) {
		if (r != -ENOENT)
			fail_msg("%s at %#llx: libdw has no row, ours says %s:%d",
				 dwarf_diename(cudie), (unsigned long long)a, file, lineno);
		return;
	}
	want = dwarf_linesrc(line, NULL, NULL);
	dwarf_lineno(line, &want_line);
	if (r != 0 || lineno != want_line || (!want) != (!file) || (want && strcmp(want, file)))
		fail_msg("%s at %#llx: libdw says %s:%d, ours %d %s:%d", dwarf_diename(cudie),
			 (unsigned long long)a, want, want_line, r, file, lineno);
}

/* Compares every unit of the ELF file at path; the counts compared. */
static struct counts compare_file(const char *path)
{
	struct dwl_sections secs;
	struct counts n = {};
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Half version;
	uint8_t unit_type;
	Dwarf_Die cudie;
	Dwarf *dw;
	int fd;
	Elf *e = support__elf_open(path, &fd);

	assert_non_null(e);
	dw = dwarf_begin_elf(e, DWARF_C_READ, NULL);
	assert_non_null(dw);
	dwlines__sections(e, &secs);
	while (dwarf_get_units(dw, cu, &next, &version, &unit_type, &cudie, NULL) == 0) {
		Dwarf_Attribute attr;
		Dwarf_Word offset;
		Dwarf_Lines *lines;
		Dwarf_Files *files;
		size_t nlines, nfiles, i;
		uint8_t asize, osize;
		struct dwl_table *t;

		cu = next;
		if (!dwarf_attr(&cudie, DW_AT_stmt_list, &attr) ||
		    dwarf_formudata(&attr, &offset) != 0)
			continue;
		assert_non_null(dwarf_diecu(&cudie, &(Dwarf_Die){}, &asize, &osize));
		t = dwlines__read(&secs, offset,
				  dwarf_formstring(dwarf_attr(&cudie, DW_AT_comp_dir, &attr)), asize);
		if (dwarf_getsrclines(&cudie, &lines, &nlines) != 0) {
			assert_null(t);
			continue;
		}
		if (!t)
			fail_msg("%s: %s: libdw reads the line table, ours fails: %s", path,
				 dwarf_diename(&cudie), strerror(errno));
		assert_int_equal(dwarf_getsrcfiles(&cudie, &files, &nfiles), 0);
		assert_int_equal(dwlines__nfiles(t), nfiles);
		for (i = 0; i < nfiles; i++)
			assert_string_equal(dwlines__file(t, i), dwarf_filesrc(files, i, NULL, NULL));
		assert_null(dwlines__file(t, nfiles));
		for (i = 0; i < nlines; i++) {
			Dwarf_Addr a;

			assert_int_equal(dwarf_lineaddr(dwarf_onesrcline(lines, i), &a), 0);
			same_answer(&cudie, t, a, &n);
			same_answer(&cudie, t, a - 1, &n);
			same_answer(&cudie, t, a + 1, &n);
		}
		same_answer(&cudie, t, 0, &n);
		same_answer(&cudie, t, UINT64_MAX, &n);
		assert_int_equal(dwlines__program_rows(t), nlines);
		assert_true(dwlines__nrows(t) <= nlines);
		n.units++;
		n.files += nfiles;
		n.rows += nlines;
		n.kept += dwlines__nrows(t);
		dwlines__free(t);
	}
	dwarf_end(dw);
	support__elf_close(e, fd);
	return n;
}

static void report(const char *what, struct counts n)
{
	print_message("  %s: %zu units, %zu files, %zu rows (%zu kept), %zu addresses alike\n",
		      what, n.units, n.files, n.rows, n.kept, n.addrs);
}

static void test_dwlines_agrees_with_libdw_built(void **state)
{
	static const char *const flags[] = {
		"-O2 -gdwarf-2", "-O2 -gdwarf-3", "-O2 -gdwarf-4", "-O2 -gdwarf-5",
		"-O2 -g -gz=zlib", "-O2 -g -gz=zlib-gnu", "-O0 -g",
		"-O2 -g -ffunction-sections -freorder-blocks-and-partition",
	};
	char *dir = support__tmpdir("dwlines"), *h = support__path(dir, "prog.h");
	size_t i;

	(void)state;
	assert_non_null(h);
	assert_int_equal(support__write_text(h, prog_h), 0);
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		char name[16], *bin;
		struct counts n;

		snprintf(name, sizeof(name), "prog%zu", i);
		bin = support__build_program(dir, name, prog_c, flags[i]);
		assert_non_null(bin);
		n = compare_file(bin);
		report(flags[i], n);
		/* The program's unit and crt's (some have line tables). */
		assert_true(n.units >= 1 && n.rows >= 10 && n.files >= 2);
		free(bin);
	}
	support__rmtree(dir);
	free(dir);
	free(h);
}

/* libc's debug file (libc6-dbg: DWARF 5, compressed sections, a thousand
 * units), and a debug-built CPython library when pyenv has one (DWARF 5,
 * uncompressed, units of tens of thousands of rows). */
static void test_dwlines_agrees_with_libdw_system(void **state)
{
	char id[130], *dbg = support__system_debug_file("libc.so.6", id, sizeof(id));
	char *py = support__read_cmd("ls -d $HOME/.pyenv/versions/3.1*/lib/libpython3.*.so.1.0 "
				     "2>/dev/null | tail -1");
	struct counts n;

	(void)state;
	if (!dbg)
		fail_msg("no debug file for libc.so.6 (scripts/deps.sh installs libc6-dbg)");
	n = compare_file(dbg);
	report(dbg, n);
	assert_true(n.units > 500 && n.rows > 100000);
	/* Most rows add nothing a lookup can return. */
	assert_true(n.kept * 10 < n.rows * 8);
	if (py && py[0]) {
		py[strcspn(py, "\n")] = '\0';
		n = compare_file(py);
		report(py, n);
		assert_true(n.rows > 100000);
	} else {
		print_message("  no pyenv CPython library here: libc only\n");
	}
	free(py);
	free(dbg);
}

/* ---- hand-made tables --------------------------------------------------- */

struct buf {
	uint8_t b[1 << 12];
	size_t n;
	bool big;
};

static void put(struct buf *b, uint64_t v, unsigned int size)
{
	unsigned int i;

	assert_true(b->n + size <= sizeof(b->b));
	for (i = 0; i < size; i++)
		b->b[b->n + i] = v >> (8 * (b->big ? size - 1 - i : i));
	b->n += size;
}

static void uleb(struct buf *b, uint64_t v)
{
	do {
		uint8_t byte = v & 0x7f;

		v >>= 7;
		put(b, byte | (v ? 0x80 : 0), 1);
	} while (v);
}

static void sleb(struct buf *b, int64_t v)
{
	bool more;

	do {
		uint8_t byte = v & 0x7f;

		v >>= 7;
		more = !((v == 0 && !(byte & 0x40)) || (v == -1 && (byte & 0x40)));
		put(b, byte | (more ? 0x80 : 0), 1);
	} while (more);
}

static void str(struct buf *b, const char *s)
{
	size_t n = strlen(s) + 1;

	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, s, n);
	b->n += n;
}

static void set_address(struct buf *b, uint64_t a)
{
	put(b, 0, 1);
	put(b, 9, 1);
	put(b, DW_LNE_set_address, 1);
	put(b, a, 8);
}

static void end_sequence(struct buf *b)
{
	put(b, 0, 1);
	put(b, 1, 1);
	put(b, DW_LNE_end_sequence, 1);
}

#define LINE_BASE -5
#define LINE_RANGE 14
#define OPCODE_BASE 13

/* The special opcode that adds line_inc and addr_inc, then a row. */
static uint8_t special(int line_inc, unsigned int addr_inc)
{
	return (line_inc - LINE_BASE) + LINE_RANGE * addr_inc + OPCODE_BASE;
}

static void common_header(struct buf *b)
{
	static const uint8_t lengths[] = { 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1 };
	size_t i;

	put(b, 1, 1);			/* minimum_instruction_length */
	put(b, 1, 1);			/* maximum_operations_per_instruction */
	put(b, 1, 1);			/* default_is_stmt */
	put(b, (uint8_t)LINE_BASE, 1);
	put(b, LINE_RANGE, 1);
	put(b, OPCODE_BASE, 1);
	for (i = 0; i < sizeof(lengths); i++)
		put(b, lengths[i], 1);
}

/* Patches the 32-bit length at off to cover from off + 4 to the end. */
static void patch_len(struct buf *b, size_t off, size_t end)
{
	size_t n = b->n;

	b->n = off;
	put(b, end - off - 4, 4);
	b->n = n;
}

/* A version 4 table of four sequences, one out of address order, with
 * file changes, a file defined in the program, rows at one address, a
 * negative line, and one sequence starting where another ends. */
static void v4_table(struct buf *b)
{
	size_t hl;

	put(b, 0, 4);		/* unit_length, patched */
	put(b, 4, 2);
	hl = b->n;
	put(b, 0, 4);		/* header_length, patched */
	common_header(b);
	str(b, "inc");
	str(b, "/abs");
	put(b, 0, 1);
	str(b, "a.c"), uleb(b, 0), uleb(b, 0), uleb(b, 0);
	str(b, "b.h"), uleb(b, 1), uleb(b, 0), uleb(b, 0);
	str(b, "/x/c.c"), uleb(b, 2), uleb(b, 7), uleb(b, 9);
	put(b, 0, 1);
	patch_len(b, hl, b->n);

	set_address(b, 0x1000);
	put(b, DW_LNS_advance_line, 1), sleb(b, 9);
	put(b, DW_LNS_copy, 1);				/* 0x1000 a.c:10 */
	put(b, special(1, 4), 1);			/* 0x1004 a.c:11 */
	put(b, DW_LNS_set_file, 1), uleb(b, 2);
	put(b, special(0, 2), 1);			/* 0x1006 b.h:11 */
	put(b, DW_LNS_set_file, 1), uleb(b, 1);
	put(b, DW_LNS_copy, 1);				/* 0x1006 a.c:11 */
	put(b, DW_LNS_const_add_pc, 1);			/* +17 */
	put(b, DW_LNS_advance_line, 1), sleb(b, -20);
	put(b, DW_LNS_copy, 1);				/* 0x1017 a.c:-9 */
	put(b, DW_LNS_fixed_advance_pc, 1), put(b, 0x10, 2);
	put(b, DW_LNS_advance_line, 1), sleb(b, 29);
	put(b, DW_LNS_copy, 1);				/* 0x1027 a.c:20 */
	put(b, special(0, 1), 1);			/* 0x1028 a.c:20 */
	put(b, DW_LNS_advance_pc, 1), uleb(b, 8);
	end_sequence(b);				/* 0x1030 end */

	set_address(b, 0x1030);
	put(b, 0, 1), put(b, 7, 1), put(b, DW_LNE_define_file, 1);
	str(b, "d.c"), uleb(b, 1), uleb(b, 0), uleb(b, 0);
	put(b, DW_LNS_set_file, 1), uleb(b, 4);
	put(b, DW_LNS_advance_line, 1), sleb(b, 99);
	put(b, DW_LNS_copy, 1);				/* 0x1030 inc/d.c:100 */
	put(b, DW_LNS_advance_pc, 1), uleb(b, 0x10);
	end_sequence(b);				/* 0x1040 end */

	set_address(b, 0x2000);
	put(b, DW_LNS_copy, 1);				/* 0x2000 a.c:1 */
	put(b, DW_LNS_advance_pc, 1), uleb(b, 4);
	end_sequence(b);				/* 0x2004 end */

	set_address(b, 0x800);
	put(b, DW_LNS_set_file, 1), uleb(b, 3);
	put(b, 0, 1), put(b, 3, 1), put(b, 0x80, 1), put(b, 0xaa, 2);	/* unknown, skipped */
	put(b, DW_LNS_copy, 1);				/* 0x800 /x/c.c:1 */
	put(b, DW_LNS_advance_pc, 1), uleb(b, 0x10);
	end_sequence(b);				/* 0x810 end */
	patch_len(b, 0, b->n);
}

struct want {
	uint64_t addr;
	const char *file;	/* NULL: no row */
	int line;
};

static void check_lookups(const struct dwl_table *t, const struct want *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *file = NULL;
		int line = 0, r = dwlines__lookup(t, w[i].addr, &file, &line);

		if (!w[i].file) {
			if (r != -ENOENT)
				fail_msg("%#llx: want no row, got %s:%d",
					 (unsigned long long)w[i].addr, file, line);
			continue;
		}
		if (r != 0 || !file || strcmp(file, w[i].file) || line != w[i].line)
			fail_msg("%#llx: want %s:%d, got %d %s:%d", (unsigned long long)w[i].addr,
				 w[i].file, w[i].line, r, file, line);
	}
}

static const struct want v4_want[] = {
	{ 0x7ff, NULL, 0 },
	{ 0x800, "/x/c.c", 1 },
	{ 0x80f, "/x/c.c", 1 },
	{ 0x810, NULL, 0 },
	{ 0xfff, NULL, 0 },
	{ 0x1000, "/src/a.c", 10 },
	{ 0x1003, "/src/a.c", 10 },
	{ 0x1004, "/src/a.c", 11 },
	/* Of two rows at one address, the later one. */
	{ 0x1006, "/src/a.c", 11 },
	{ 0x1016, "/src/a.c", 11 },
	{ 0x1017, "/src/a.c", -9 },
	{ 0x1027, "/src/a.c", 20 },
	{ 0x102f, "/src/a.c", 20 },
	/* A sequence starting where another ends. */
	{ 0x1030, "inc/d.c", 100 },
	{ 0x103f, "inc/d.c", 100 },
	{ 0x1040, NULL, 0 },
	{ 0x1fff, NULL, 0 },
	{ 0x2000, "/src/a.c", 1 },
	{ 0x2003, "/src/a.c", 1 },
	{ 0x2004, NULL, 0 },
	{ UINT64_MAX, NULL, 0 },
};

static void check_v4(const struct dwl_table *t)
{
	assert_non_null(t);
	assert_int_equal(dwlines__nfiles(t), 5);
	assert_string_equal(dwlines__file(t, 0), DWL_PLACEHOLDER_FILE);
	assert_string_equal(dwlines__file(t, 1), "/src/a.c");
	assert_string_equal(dwlines__file(t, 2), "inc/b.h");
	assert_string_equal(dwlines__file(t, 3), "/x/c.c");
	assert_string_equal(dwlines__file(t, 4), "inc/d.c");
	assert_null(dwlines__file(t, 5));
	check_lookups(t, v4_want, sizeof(v4_want) / sizeof(v4_want[0]));
	/* 14 rows emitted; kept: 0x800, 0x810, 0x1000, 0x1004, 0x1017,
	 * 0x1027, 0x1030, 0x1040, 0x2000, 0x2004. */
	assert_int_equal(dwlines__program_rows(t), 14);
	assert_int_equal(dwlines__nrows(t), 10);
	assert_true(dwlines__bytes(t) > 10 * 16);
}

static void test_dwlines_v4(void **state)
{
	struct buf *b = calloc(2, sizeof(*b));
	struct dwl_sections s = {};
	struct dwl_table *t;

	(void)state;
	v4_table(&b[0]);
	s.line = b[0].b;
	s.line_size = b[0].n;
	t = dwlines__read(&s, 0, "/src", 8);
	check_v4(t);
	dwlines__free(t);

	/* The same table in big-endian byte order reads alike. */
	b[1].big = true;
	v4_table(&b[1]);
	assert_int_equal(b[1].n, b[0].n);
	s = (struct dwl_sections){ .line = b[1].b, .line_size = b[1].n, .big_endian = true };
	t = dwlines__read(&s, 0, "/src", 8);
	check_v4(t);
	dwlines__free(t);

	/* Without a compilation directory, directory 0 adds nothing. */
	s = (struct dwl_sections){ .line = b[0].b, .line_size = b[0].n };
	t = dwlines__read(&s, 0, NULL, 8);
	assert_non_null(t);
	assert_string_equal(dwlines__file(t, 1), "a.c");
	dwlines__free(t);
	free(b);
}

/* Sequences that overlap (the sort of rows, not of sequences), and one
 * whose last row shares its end's address. What libdw answers: the
 * rightmost row at or below the address after the sort, none when that
 * one ends a sequence, and the last row of all made an end. */
static void test_dwlines_overlapping_sequences(void **state)
{
	struct buf *b = calloc(1, sizeof(*b));
	struct dwl_sections s = {};
	static const struct want want[] = {
		{ 0x0ff, NULL, 0 },
		{ 0x100, "/src/a.c", 1 },
		{ 0x10f, "/src/a.c", 1 },
		{ 0x110, "/src/a.c", 10 },
		{ 0x117, "/src/a.c", 10 },
		/* B's end hides A's row at 0x100 until A's next row. */
		{ 0x118, NULL, 0 },
		{ 0x11f, NULL, 0 },
		{ 0x120, "/src/a.c", 2 },
		{ 0x13f, "/src/a.c", 2 },
		{ 0x140, NULL, 0 },
		{ 0x200, "/src/a.c", 5 },
		{ 0x20f, "/src/a.c", 5 },
		/* The row after C's end, at its address, is the last of all. */
		{ 0x210, NULL, 0 },
		{ 0x300, NULL, 0 },
	};
	struct dwl_table *t;
	size_t hl;

	(void)state;
	put(b, 0, 4);
	put(b, 4, 2);
	hl = b->n;
	put(b, 0, 4);
	common_header(b);
	put(b, 0, 1);
	str(b, "a.c"), uleb(b, 0), uleb(b, 0), uleb(b, 0);
	put(b, 0, 1);
	patch_len(b, hl, b->n);
	/* C, listed first: 0x200 :5, 0x210 :6, its end at 0x210. */
	set_address(b, 0x200);
	put(b, DW_LNS_advance_line, 1), sleb(b, 4);
	put(b, DW_LNS_copy, 1);
	put(b, special(1, 0x10), 1);
	end_sequence(b);
	/* A: 0x100 :1, 0x120 :2, its end at 0x140. */
	set_address(b, 0x100);
	put(b, DW_LNS_copy, 1);
	put(b, DW_LNS_advance_pc, 1), uleb(b, 0x20);
	put(b, special(1, 0), 1);
	put(b, DW_LNS_advance_pc, 1), uleb(b, 0x20);
	end_sequence(b);
	/* B, inside A: 0x110 :10, its end at 0x118. */
	set_address(b, 0x110);
	put(b, DW_LNS_advance_line, 1), sleb(b, 9);
	put(b, DW_LNS_copy, 1);
	put(b, DW_LNS_advance_pc, 1), uleb(b, 8);
	end_sequence(b);
	patch_len(b, 0, b->n);

	s.line = b->b;
	s.line_size = b->n;
	t = dwlines__read(&s, 0, "/src", 8);
	assert_non_null(t);
	assert_int_equal(dwlines__program_rows(t), 8);
	check_lookups(t, want, sizeof(want) / sizeof(want[0]));
	dwlines__free(t);
	free(b);
}

/* DWARF 5: directory 0 and file 0 are listed, names come from
 * .debug_line_str and .debug_str or inline, MD5s are skipped. */
static void test_dwlines_v5(void **state)
{
	static const char line_str[] = "\0/src\0inc\0";
	static const char strs[] = "xx\0a.c\0b.h\0";
	struct buf *b = calloc(1, sizeof(*b));
	struct dwl_sections s = {
		.line_str = (const uint8_t *)line_str, .line_str_size = sizeof(line_str),
		.str = (const uint8_t *)strs, .str_size = sizeof(strs),
	};
	static const struct want want[] = {
		{ 0x4000, "inc/b.h", 1 },
		{ 0x4001, "/src/a.c", 3 },
		{ 0x4002, NULL, 0 },
	};
	struct dwl_table *t;
	size_t hl, dir0;

	(void)state;
	put(b, 0, 4);
	put(b, 5, 2);
	put(b, 8, 1);		/* address_size */
	put(b, 0, 1);		/* segment_selector_size */
	hl = b->n;
	put(b, 0, 4);
	common_header(b);
	put(b, 1, 1);
	uleb(b, DW_LNCT_path), uleb(b, DW_FORM_line_strp);
	uleb(b, 2);
	dir0 = b->n;
	put(b, 1, 4);		/* "/src" */
	put(b, 6, 4);		/* "inc" */
	put(b, 3, 1);
	uleb(b, DW_LNCT_path), uleb(b, DW_FORM_strp);
	uleb(b, DW_LNCT_directory_index), uleb(b, DW_FORM_udata);
	uleb(b, DW_LNCT_MD5), uleb(b, DW_FORM_data16);
	uleb(b, 2);
	put(b, 3, 4), uleb(b, 0), put(b, 0, 8), put(b, 0, 8);	/* a.c */
	put(b, 7, 4), uleb(b, 1), put(b, 0, 8), put(b, 0, 8);	/* b.h */
	patch_len(b, hl, b->n);
	set_address(b, 0x4000);
	put(b, DW_LNS_copy, 1);				/* file 1: inc/b.h */
	put(b, DW_LNS_set_file, 1), uleb(b, 0);
	put(b, special(2, 1), 1);			/* 0x4001 /src/a.c:3 */
	put(b, DW_LNS_advance_pc, 1), uleb(b, 1);
	end_sequence(b);
	patch_len(b, 0, b->n);

	s.line = b->b;
	s.line_size = b->n;
	t = dwlines__read(&s, 0, "/ignored", 8);
	assert_non_null(t);
	assert_int_equal(dwlines__nfiles(t), 2);
	assert_string_equal(dwlines__file(t, 0), "/src/a.c");
	assert_string_equal(dwlines__file(t, 1), "inc/b.h");
	check_lookups(t, want, sizeof(want) / sizeof(want[0]));
	dwlines__free(t);

	/* A unit address size the header contradicts. */
	assert_null(dwlines__read(&s, 0, NULL, 4));
	assert_int_equal(errno, EINVAL);
	/* A string offset past its section, or a string that runs off it. */
	b->b[dir0] = sizeof(line_str);
	assert_null(dwlines__read(&s, 0, NULL, 8));
	assert_int_equal(errno, EINVAL);
	s.line_str_size = 4;
	b->b[dir0] = 1;
	assert_null(dwlines__read(&s, 0, NULL, 8));
	s.line_str_size = sizeof(line_str);
	assert_non_null(t = dwlines__read(&s, 0, NULL, 8));
	dwlines__free(t);
	free(b);
}

/* ---- bad input ---------------------------------------------------------- */

static void test_dwlines_bad_input(void **state)
{
	struct buf *b = calloc(1, sizeof(*b));
	struct dwl_sections s = {};
	struct dwl_table *t;
	uint8_t *copy, *big;
	size_t n, i, nbig = DWL_MAX_ROWS + 100;

	(void)state;
	v4_table(b);
	copy = malloc(b->n);
	assert_non_null(copy);

	/* Cut short anywhere, the length in front says more than is there. */
	for (n = 0; n < b->n; n++) {
		memcpy(copy, b->b, n);
		s = (struct dwl_sections){ .line = copy, .line_size = n };
		t = dwlines__read(&s, 0, "/src", 8);
		assert_null(t);
		assert_int_equal(errno, EINVAL);
	}
	/* Cut short with the length made to fit: refused, or a table of what
	 * was read up to the cut; never a read past it (ASan watches). */
	for (n = 4; n < b->n; n++) {
		memcpy(copy, b->b, n);
		copy[0] = n - 4, copy[1] = (n - 4) >> 8, copy[2] = copy[3] = 0;
		s = (struct dwl_sections){ .line = copy, .line_size = n };
		t = dwlines__read(&s, 0, "/src", 8);
		if (t)
			assert_true(dwlines__nrows(t) <= 10);
		dwlines__free(t);
	}
	/* Every byte replaced by each of three values. */
	for (i = 0; i < b->n; i++) {
		static const uint8_t vals[] = { 0x00, 0x7f, 0xff };

		for (n = 0; n < 3; n++) {
			memcpy(copy, b->b, b->n);
			copy[i] = vals[n];
			s = (struct dwl_sections){ .line = copy, .line_size = b->n };
			t = dwlines__read(&s, 0, "/src", 8);
			if (t)
				dwlines__lookup(t, 0x1000, &(const char *){ NULL }, &(int){ 0 });
			dwlines__free(t);
		}
	}
	/* Header fields that make no table (a version 4 header: the fields
	 * after the lengths and version start at 10). */
	memcpy(copy, b->b, b->n);
	s = (struct dwl_sections){ .line = copy, .line_size = b->n };
	copy[4] = 6;					/* version 6 */
	assert_null(dwlines__read(&s, 0, "/src", 8));
	copy[4] = 4;
	copy[11] = 0;					/* max_ops 0 */
	assert_null(dwlines__read(&s, 0, "/src", 8));
	copy[11] = 1;
	copy[14] = 0;					/* line_range 0 */
	assert_null(dwlines__read(&s, 0, "/src", 8));
	copy[14] = LINE_RANGE;
	copy[15] = 0;					/* opcode_base 0 */
	assert_null(dwlines__read(&s, 0, "/src", 8));
	copy[15] = OPCODE_BASE;
	copy[16 + DW_LNS_advance_pc - 1] = 2;		/* advance_pc with two operands */
	assert_null(dwlines__read(&s, 0, "/src", 8));
	assert_int_equal(errno, EINVAL);
	copy[16 + DW_LNS_advance_pc - 1] = 1;
	t = dwlines__read(&s, 0, "/src", 8);
	check_v4(t);
	dwlines__free(t);
	/* An offset past the section, an address size of 2. */
	assert_null(dwlines__read(&s, b->n, "/src", 8));
	assert_null(dwlines__read(&s, 0, "/src", 2));
	assert_null(dwlines__read(NULL, 0, "/src", 8));

	/* More rows than a unit may have: a program of one-byte rows. */
	big = malloc(b->n + nbig);
	assert_non_null(big);
	{
		size_t hdr = 4 + 2 + 4 + 6 + 11 + 1 + 1;	/* no dirs, no files */
		struct buf *h = calloc(1, sizeof(*h));

		put(h, 0, 4);
		put(h, 4, 2);
		put(h, 0, 4);
		common_header(h);
		put(h, 0, 1);
		put(h, 0, 1);
		assert_int_equal(h->n, hdr + 1);
		patch_len(h, 6, h->n);
		memcpy(big, h->b, h->n);
		memset(big + h->n, special(0, 1), nbig);
		n = h->n + nbig;
		big[0] = (n - 4), big[1] = (n - 4) >> 8, big[2] = (n - 4) >> 16,
		big[3] = (n - 4) >> 24;
		free(h);
	}
	s = (struct dwl_sections){ .line = big, .line_size = n };
	assert_null(dwlines__read(&s, 0, "/src", 8));
	assert_int_equal(errno, E2BIG);
	free(big);
	free(copy);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dwlines_agrees_with_libdw_built),
		cmocka_unit_test(test_dwlines_agrees_with_libdw_system),
		cmocka_unit_test(test_dwlines_v4),
		cmocka_unit_test(test_dwlines_overlapping_sequences),
		cmocka_unit_test(test_dwlines_v5),
		cmocka_unit_test(test_dwlines_bad_input),
	};

	elf_version(EV_CURRENT);
	return cmocka_run_group_tests_name("dwlines", tests, NULL, NULL);
}
