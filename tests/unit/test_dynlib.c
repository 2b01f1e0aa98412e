/* Libraries opened when first used: the functions resolve and work, a
 * missing library or function is an error that says which, once. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "base/dynlib.h"

static void test_dynlib_loads_and_calls(void **state)
{
	static const char *const names[] = { "zlibVersion", "adler32", NULL };
	static void *fns[2];
	static struct dynlib z = DYNLIB_INIT("libz.so.1", names, fns);
	unsigned long (*adler)(unsigned long, const unsigned char *, unsigned);

	(void)state;
	assert_int_equal(dynlib__load(&z), 0);
	assert_int_equal(dynlib__load(&z), 0);
	assert_string_equal(((const char *(*)(void))fns[0])(), ((const char *(*)(void))fns[0])());
	adler = (unsigned long (*)(unsigned long, const unsigned char *, unsigned))fns[1];
	/* Adler-32 of "Wikipedia", the worked example of the checksum. */
	assert_int_equal(adler(1, (const unsigned char *)"Wikipedia", 9), 0x11E60398);
}

static void test_dynlib_missing_library(void **state)
{
	static const char *const names[] = { "f", NULL };
	static void *fns[1];
	static struct dynlib l = DYNLIB_INIT("libignis-no-such-library.so.9", names, fns);

	(void)state;
	assert_int_equal(dynlib__load(&l), -ENOENT);
	assert_non_null(strstr(l.why, "libignis-no-such-library.so.9"));
	assert_null(fns[0]);
	assert_int_equal(dynlib__load(&l), -ENOENT);
}

static void test_dynlib_missing_function(void **state)
{
	static const char *const names[] = { "zlibVersion", "ignis_no_such_function", NULL };
	static void *fns[2];
	static struct dynlib z = DYNLIB_INIT("libz.so.1", names, fns);

	(void)state;
	assert_int_equal(dynlib__load(&z), -ENOENT);
	assert_non_null(strstr(z.why, "ignis_no_such_function"));
	/* All or nothing: no half-filled table to call through. */
	assert_null(fns[0]);
	assert_null(fns[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dynlib_loads_and_calls),
		cmocka_unit_test(test_dynlib_missing_library),
		cmocka_unit_test(test_dynlib_missing_function),
	};

	return cmocka_run_group_tests_name("dynlib", tests, NULL, NULL);
}
