/* utf8: the sequences the JSON log, the metrics page and Pyroscope label
 * values let through unchanged, and the ones they replace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/utf8.h"

static size_t seq(const char *s, size_t n)
{
	return utf8__seq_len((const unsigned char *)s, n);
}

static void test_utf8_boundaries(void **state)
{
	(void)state;
	assert_int_equal(seq("a", 1), 1);
	assert_int_equal(seq("\x7f", 1), 1);
	assert_int_equal(seq("\xc2\x80", 2), 2);           /* U+0080 */
	assert_int_equal(seq("\xdf\xbf", 2), 2);           /* U+07FF */
	assert_int_equal(seq("\xe0\xa0\x80", 3), 3);       /* U+0800 */
	assert_int_equal(seq("\xed\x9f\xbf", 3), 3);       /* U+D7FF */
	assert_int_equal(seq("\xee\x80\x80", 3), 3);       /* U+E000 */
	assert_int_equal(seq("\xef\xbf\xbf", 3), 3);       /* U+FFFF */
	assert_int_equal(seq("\xf0\x90\x80\x80", 4), 4);   /* U+10000 */
	assert_int_equal(seq("\xf4\x8f\xbf\xbf", 4), 4);   /* U+10FFFF */
	/* Only the first sequence counts. */
	assert_int_equal(seq("\xc3\xa9xyz", 5), 2);
}

static void test_utf8_rejects(void **state)
{
	(void)state;
	assert_int_equal(seq("\x80", 1), 0);               /* continuation */
	assert_int_equal(seq("\xbf", 1), 0);
	assert_int_equal(seq("\xc0\x80", 2), 0);           /* overlong NUL */
	assert_int_equal(seq("\xc1\xbf", 2), 0);
	assert_int_equal(seq("\xe0\x9f\xbf", 3), 0);       /* overlong U+07FF */
	assert_int_equal(seq("\xed\xa0\x80", 3), 0);       /* U+D800 */
	assert_int_equal(seq("\xed\xbf\xbf", 3), 0);       /* U+DFFF */
	assert_int_equal(seq("\xf0\x8f\xbf\xbf", 4), 0);   /* overlong U+FFFF */
	assert_int_equal(seq("\xf4\x90\x80\x80", 4), 0);   /* U+110000 */
	assert_int_equal(seq("\xf5\x80\x80\x80", 4), 0);
	assert_int_equal(seq("\xff", 1), 0);
	assert_int_equal(seq("\xe2\x28\xa1", 3), 0);       /* ASCII inside */
	/* Cut short by n, even when the bytes past n would complete it. */
	assert_int_equal(seq("\xe2\x82\xac", 2), 0);
	assert_int_equal(seq("\xf0\x9f\x98\x80", 3), 0);
	assert_int_equal(seq("\xc3\xa9", 1), 0);
}

/* Every well-formed sequence of each length is accepted and nothing else
 * is: the counts are those of the code points each length encodes. */
static void test_utf8_counts(void **state)
{
	unsigned char b[4];
	size_t valid2 = 0, valid3 = 0, valid4 = 0;

	(void)state;
	for (unsigned a = 0x80; a <= 0xff; a++)
		for (unsigned c = 0; c <= 0xff; c++) {
			b[0] = a, b[1] = c;
			valid2 += utf8__seq_len(b, 2) == 2;
		}
	for (unsigned a = 0xe0; a <= 0xef; a++)
		for (unsigned c = 0; c <= 0xff; c++)
			for (unsigned d = 0; d <= 0xff; d++) {
				b[0] = a, b[1] = c, b[2] = d;
				valid3 += utf8__seq_len(b, 3) == 3;
			}
	for (unsigned a = 0xf0; a <= 0xf7; a++)
		for (unsigned c = 0x80; c <= 0xbf; c++)
			for (unsigned d = 0x80; d <= 0xbf; d++)
				for (unsigned e = 0x80; e <= 0xbf; e++) {
					b[0] = a, b[1] = c, b[2] = d, b[3] = e;
					valid4 += utf8__seq_len(b, 4) == 4;
				}
	assert_int_equal(valid2, 0x800 - 0x80);
	assert_int_equal(valid3, 0x10000 - 0x800 - 0x800);
	assert_int_equal(valid4, 0x110000 - 0x10000);
}

static void test_utf8_valid(void **state)
{
	(void)state;
	assert_true(utf8__valid("", 0));
	assert_true(utf8__valid("plain", 5));
	assert_true(utf8__valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
	assert_true(utf8__valid("a\0b", 3));      /* NUL is ASCII */
	assert_false(utf8__valid("caf\xc3", 4));   /* cut at the end */
	assert_false(utf8__valid("a\xffz", 3));
	assert_false(utf8__valid("\xed\xa0\x80", 3));
	/* Only n bytes are read: what follows does not matter. */
	assert_true(utf8__valid("ab\xff", 2));
}

static void check_copy(const char *in, size_t n, size_t max, const char *want)
{
	size_t len = 99;
	char *out = utf8__valid_copy(in, n, max, &len);

	assert_non_null(out);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	assert_true(len <= max);
	assert_true(utf8__valid(out, len));
	free(out);
}

/* The name a JIT wrote into its perf map with stray bytes keeps every
 * valid character, and each bad byte becomes one U+FFFD. */
static void test_utf8_valid_copy(void **state)
{
	(void)state;
	check_copy("", 0, 100, "");
	check_copy("plain", 5, 100, "plain");
	check_copy("jit_spin_\xff\xfe_bad\xc3", 16, 100,
		   "jit_spin_\xef\xbf\xbd\xef\xbf\xbd_bad\xef\xbf\xbd");
	check_copy("caf\xc3\xa9", 5, 100, "caf\xc3\xa9");
	/* A surrogate is three bad bytes. */
	check_copy("\xed\xa0\x80", 3, 100, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	/* Cuts fall on character boundaries: a 2-byte character that would
	 * end past max is left out whole, so is a replacement character. */
	check_copy("ab\xc3\xa9", 4, 3, "ab");
	check_copy("ab\xc3\xa9", 4, 4, "ab\xc3\xa9");
	check_copy("a\xff", 2, 3, "a");
	check_copy("a\xff", 2, 4, "a\xef\xbf\xbd");
	check_copy("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8, 7, "\xf0\x9f\x98\x80");
	/* Only n bytes are read. */
	check_copy("abc\xff", 3, 100, "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_boundaries),
		cmocka_unit_test(test_utf8_rejects),
		cmocka_unit_test(test_utf8_counts),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_valid_copy),
	};

	return cmocka_run_group_tests_name("utf8", tests, NULL, NULL) ? 1 : 0;
}
