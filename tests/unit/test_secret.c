/* Secret buffers are zeroed before they are freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/secret.h"

static void test_wipe(void **state)
{
	char buf[] = "api-key-123";
	char *s = strdup("token");

	(void)state;
	secret__wipe(buf);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	secret__wipe(NULL);
	secret__clear(&s);
	assert_null(s);
	secret__clear(&s);
	secret__free(NULL);
	secret__free(strdup("x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wipe),
	};

	return cmocka_run_group_tests_name("secret", tests, NULL, NULL) ? 1 : 0;
}
