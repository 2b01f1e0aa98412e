/* Secret buffers are zeroed before they are freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/secret.h"

static void test_wipe_and_free(void **state)
{
	char *s = strdup("api-key-123"), *none = NULL;

	(void)state;
	assert_non_null(s);
	secret__free(&s);
	assert_null(s);
	secret__free(&s);
	secret__free(&none);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wipe_and_free),
	};

	return cmocka_run_group_tests_name("secret", tests, NULL, NULL) ? 1 : 0;
}
