/* CPython code objects: line tables against what CPython 3.8 to 3.13 say
 * about their own code (tests/fixtures/pycode/3.X.txt, written by gen.py
 * with each interpreter), and code objects and strings read from a made-up
 * process memory in each version's layout, including the ones a reader
 * must refuse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "symbolizer/pycode.h"

#define FIXTURES "tests/fixtures/pycode"

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned int b;

	while (n < max && sscanf(s + 2 * n, "%2x", &b) == 1)
		out[n++] = (uint8_t)b;
	return n;
}

static void check_fixture(int minor)
{
	static char line[1 << 16];
	static uint8_t table[1 << 15];
	const struct pycode_layout *l = pycode__layout(minor);
	struct pycode c = { 0 };
	char path[64];
	unsigned int codes = 0, rows = 0;
	FILE *f;

	assert_non_null(l);
	snprintf(path, sizeof(path), FIXTURES "/3.%d.txt", minor);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		int m, first, off, want;
		char hex[sizeof(line)];

		if (sscanf(line, "code %d %d %s", &m, &first, hex) == 3) {
			assert_int_equal(m, minor);
			c.firstlineno = first;
			c.linetable = table;
			c.linetable_len = unhex(hex, table, sizeof(table));
			codes++;
		} else if (sscanf(line, "code %d %d", &m, &first) == 2) {
			c.firstlineno = first;
			c.linetable = table;
			c.linetable_len = 0;
			codes++;
		} else if (sscanf(line, "at %d %d", &off, &want) == 2) {
			if ((int)pycode__line(l, &c, (uint32_t)off) != want)
				fail_msg("3.%d: code at line %d, offset %d: line %u, CPython says %d",
					 minor, c.firstlineno, off, pycode__line(l, &c, off), want);
			rows++;
		}
	}
	fclose(f);
	assert_true(codes >= 5);
	assert_true(rows >= 100);
}

static void test_lines_38(void **state) { (void)state; check_fixture(8); }
static void test_lines_39(void **state) { (void)state; check_fixture(9); }
static void test_lines_310(void **state) { (void)state; check_fixture(10); }
static void test_lines_311(void **state) { (void)state; check_fixture(11); }
static void test_lines_312(void **state) { (void)state; check_fixture(12); }
static void test_lines_313(void **state) { (void)state; check_fixture(13); }

static void test_layouts(void **state)
{
	(void)state;
	assert_null(pycode__layout(6));
	assert_null(pycode__layout(7));
	assert_null(pycode__layout(14));
	for (int m = 8; m <= 13; m++) {
		const struct pycode_layout *l = pycode__layout(m);

		assert_non_null(l);
		assert_int_equal(l->minor, m);
		assert_int_equal(l->bpf.code_firstlineno, l->code_firstlineno);
		/* The walker reads one IGNIS_PY_FRAME_READ chunk per frame. */
		assert_true(l->bpf.frame_code + 8 <= IGNIS_PY_FRAME_READ);
		assert_true(l->bpf.frame_previous + 8 <= IGNIS_PY_FRAME_READ);
		assert_true(l->bpf.frame_instr + 8 <= IGNIS_PY_FRAME_READ);
		assert_true((l->bpf.frame_owner == IGNIS_PY_NONE) == (m <= 10));
		assert_true((l->bpf.frame_entry != IGNIS_PY_NONE) == (m == 11));
		assert_true((l->code_qualname != IGNIS_PY_NONE) == (m >= 11));
	}
}

/* A made-up process: memory at BASE. */
#define BASE 0x10000ULL
#define CODE (BASE + 0x100)
#define TYPE 0xabcdef00ULL

static uint8_t mem[0x4000];
static size_t mem_len = sizeof(mem);

static int rd(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	if (addr < BASE || addr - BASE > mem_len || len > mem_len - (addr - BASE))
		return -EFAULT;
	memcpy(buf, mem + (addr - BASE), len);
	return 0;
}

static void put64(uint64_t addr, uint64_t v) { memcpy(mem + (addr - BASE), &v, 8); }
static void put32(uint64_t addr, uint32_t v) { memcpy(mem + (addr - BASE), &v, 4); }

/* A compact str at addr: kind 1, 2 or 4 code units, ascii or not. */
static void put_str(const struct pycode_layout *l, uint64_t addr, const uint32_t *cps, size_t n,
		    int kind, int ascii)
{
	uint64_t data = addr + (ascii ? l->ascii_data : l->compact_data);

	put64(addr + l->unicode_length, n);
	put32(addr + l->unicode_state, (uint32_t)(kind << 2 | 1 << 5 | ascii << 6));
	for (size_t i = 0; i < n; i++) {
		if (kind == 1)
			mem[data - BASE + i] = (uint8_t)cps[i];
		else if (kind == 2)
			memcpy(mem + (data - BASE) + 2 * i, &(uint16_t){ (uint16_t)cps[i] }, 2);
		else
			put32(data + 4 * i, cps[i]);
	}
}

static void make_code(const struct pycode_layout *l)
{
	static const uint32_t name[] = { 'K', '.', 'c', 'a', 'f', 0xe9 };      /* latin-1 */
	static const uint32_t file[] = { '/', 0x4e2d, '.', 'p', 'y' };          /* UCS-2 */
	static const uint32_t qual[] = { 'f', 0x1f600 };                        /* UCS-4 */
	const uint8_t table[] = { 0x80 | 13 << 3, 4 };  /* 3.11+: one unit, line +2 */

	memset(mem, 0, sizeof(mem));
	mem_len = sizeof(mem);
	put64(CODE + 8, TYPE);
	put64(CODE + l->code_name, BASE + 0x1000);
	if (l->code_qualname != IGNIS_PY_NONE)
		put64(CODE + l->code_qualname, BASE + 0x2000);
	put64(CODE + l->code_filename, BASE + 0x1800);
	put64(CODE + l->code_linetable, BASE + 0x3000);
	put32(CODE + l->code_firstlineno, 40);
	put_str(l, BASE + 0x1000, name, 6, 1, 0);
	put_str(l, BASE + 0x1800, file, 5, 2, 0);
	put_str(l, BASE + 0x2000, qual, 2, 4, 0);
	put64(BASE + 0x3000 + 16, sizeof(table));
	memcpy(mem + 0x3000 + 32, table, sizeof(table));
}

static void test_read_code(void **state)
{
	struct pycode c;

	(void)state;
	for (int m = 8; m <= 13; m++) {
		const struct pycode_layout *l = pycode__layout(m);

		make_code(l);
		assert_int_equal(pycode__read(l, rd, NULL, CODE, TYPE, &c), 0);
		assert_string_equal(c.name, m >= 11 ? "f\xf0\x9f\x98\x80" : "K.caf\xc3\xa9");
		assert_string_equal(c.file, "/\xe4\xb8\xad.py");
		assert_int_equal(c.firstlineno, 40);
		assert_int_equal(c.linetable_len, 2);
		if (m >= 11)
			assert_int_equal(pycode__line(l, &c, 0), 42);
		pycode__clear(&c);
		/* Not a code object. */
		assert_int_equal(pycode__read(l, rd, NULL, CODE, TYPE + 8, &c), -EINVAL);
		assert_null(c.name);
	}
}

static void test_read_refuses(void **state)
{
	const struct pycode_layout *l = pycode__layout(12);
	struct pycode c;

	(void)state;
	/* An "ascii" string holding a byte above 0x7f. */
	make_code(l);
	put32(BASE + 0x2000 + l->unicode_state, 1 << 2 | 1 << 5 | 1 << 6);
	mem[0x2000 + l->ascii_data] = 0xff;
	assert_int_equal(pycode__read(l, rd, NULL, CODE, 0, &c), -EINVAL);
	/* A legacy (not compact) string, and a bad kind. */
	make_code(l);
	put32(BASE + 0x2000 + l->unicode_state, 1 << 2);
	assert_int_equal(pycode__read(l, rd, NULL, CODE, 0, &c), -EINVAL);
	put32(BASE + 0x2000 + l->unicode_state, 3 << 2 | 1 << 5);
	assert_int_equal(pycode__read(l, rd, NULL, CODE, 0, &c), -EINVAL);
	/* A negative length. */
	make_code(l);
	put64(BASE + 0x2000 + l->unicode_length, (uint64_t)-5);
	assert_int_equal(pycode__read(l, rd, NULL, CODE, 0, &c), -EINVAL);
	/* A string whose characters run off the readable memory. */
	make_code(l);
	put64(BASE + 0x2000 + l->unicode_length, 500);
	mem_len = 0x2000 + 0x100;
	assert_int_equal(pycode__read(l, rd, NULL, CODE, 0, &c), -EFAULT);
	/* A very long name is cut; a line table too large is no lines. */
	make_code(l);
	put64(BASE + 0x2000 + l->unicode_length, 100000);
	put64(BASE + 0x3000 + 16, PYCODE_MAX_LINETABLE + 1);
	assert_int_equal(pycode__read(l, rd, NULL, CODE, 0, &c), 0);
	assert_true(strlen(c.name) <= PYCODE_MAX_STR * 4);
	assert_int_equal(c.linetable_len, 0);
	assert_int_equal(pycode__line(l, &c, 0), 0);
	assert_int_equal(pycode__line(pycode__layout(9), &c, 0), 40);  /* an empty lnotab */
	pycode__clear(&c);
	/* The code object itself unreadable. */
	assert_int_equal(pycode__read(l, rd, NULL, 0x10, 0, &c), -EFAULT);
}

static void test_corrupt_tables(void **state)
{
	/* A location table not at an entry start, varints that never end,
	 * a 3.10 table of one byte: no line, no overrun. */
	static uint8_t bad1[] = { 0x05, 0x80 };
	static uint8_t bad2[] = { 0x80 | 14 << 3, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41 };
	static uint8_t bad3[] = { 0x10 };
	struct pycode c = { .firstlineno = 7 };

	(void)state;
	c.linetable = bad1;
	c.linetable_len = sizeof(bad1);
	assert_int_equal(pycode__line(pycode__layout(12), &c, 0), 0);
	c.linetable = bad2;
	c.linetable_len = sizeof(bad2);
	assert_int_equal(pycode__line(pycode__layout(13), &c, 0), 0);
	c.linetable = bad3;
	c.linetable_len = sizeof(bad3);
	assert_int_equal(pycode__line(pycode__layout(10), &c, 0), 0);
	assert_int_equal(pycode__line(pycode__layout(8), &c, 0), 7);
	assert_int_equal(pycode__line(pycode__layout(10), &c, UINT32_MAX), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_38),
		cmocka_unit_test(test_lines_39),
		cmocka_unit_test(test_lines_310),
		cmocka_unit_test(test_lines_311),
		cmocka_unit_test(test_lines_312),
		cmocka_unit_test(test_lines_313),
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_read_code),
		cmocka_unit_test(test_read_refuses),
		cmocka_unit_test(test_corrupt_tables),
	};

	return cmocka_run_group_tests_name("pycode", tests, NULL, NULL);
}
