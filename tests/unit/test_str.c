/* String helpers: suffixes, NULL-safe copies, log-safe excerpts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/str.h"

static void test_str_ends_with(void **state)
{
	(void)state;
	assert_true(str__ends_with("ignis.service", ".service"));
	assert_true(str__ends_with(".service", ".service"));
	assert_true(str__ends_with("abc", ""));
	assert_true(str__ends_with("", ""));
	assert_false(str__ends_with("service", ".service"));
	assert_false(str__ends_with("ignis.servicex", ".service"));
	assert_false(str__ends_with("", "a"));
}

static void test_str_dup(void **state)
{
	char *out = (char *)1;

	(void)state;
	assert_int_equal(str__dup(NULL, &out), 0);
	assert_null(out);
	assert_int_equal(str__dup("pod", &out), 0);
	assert_string_equal(out, "pod");
	free(out);
	assert_int_equal(str__dup("", &out), 0);
	assert_string_equal(out, "");
	free(out);
}

static void test_str_hex(void **state)
{
	static const unsigned char id[] = { 0x00, 0x0f, 0xa5, 0xff, 0x10 };
	char out[2 * sizeof(id) + 1];

	(void)state;
	assert_ptr_equal(str__hex(out, id, sizeof(id)), out);
	assert_string_equal(out, "000fa5ff10");
	assert_string_equal(str__hex(out, id, 0), "");
}

static void test_str_printable(void **state)
{
	char out[STR_PRINTABLE_SIZE], long_in[100];

	(void)state;
	assert_string_equal(str__printable(NULL, out), "");
	assert_string_equal(str__printable("", out), "");
	assert_string_equal(str__printable("plain text", out), "plain text");
	assert_string_equal(str__printable("a\nb\tc\x7f\xc3\xa9", out), "a?b?c???");
	/* 48 kept, then '~' for the rest. */
	memset(long_in, 'x', sizeof(long_in) - 1);
	long_in[sizeof(long_in) - 1] = '\0';
	assert_ptr_equal(str__printable(long_in, out), out);
	assert_int_equal(strlen(out), 49);
	assert_int_equal(out[48], '~');
	/* Exactly 48: no mark. */
	long_in[48] = '\0';
	assert_int_equal(strlen(str__printable(long_in, out)), 48);
}

static void test_strbuf(void **state)
{
	struct strbuf b = { 0 };
	char big[1000];

	(void)state;
	strbuf__add(&b, "", 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.s, "");
	strbuf__puts(&b, "k=");
	strbuf__add(&b, "value\0ignored", 5);
	assert_int_equal(b.len, 7);
	assert_string_equal(b.s, "k=value");
	/* Past the first capacity: the bytes so far are kept, NUL after. */
	memset(big, 'x', sizeof(big));
	strbuf__add(&b, big, sizeof(big));
	assert_int_equal(b.len, 1007);
	assert_int_equal(strlen(b.s), 1007);
	assert_memory_equal(b.s, "k=valuexxx", 10);
	assert_int_equal(b.err, 0);
	/* After a failure nothing more is appended. */
	b.err = -ENOMEM;
	strbuf__puts(&b, "more");
	assert_int_equal(b.len, 1007);
	free(b.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str_ends_with),
		cmocka_unit_test(test_str_dup),
		cmocka_unit_test(test_str_hex),
		cmocka_unit_test(test_str_printable),
		cmocka_unit_test(test_strbuf),
	};

	return cmocka_run_group_tests_name("str", tests, NULL, NULL) ? 1 : 0;
}
