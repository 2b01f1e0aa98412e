/* The pure parts of the HTTP layer: what it reads from answers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "http/http.h"
#include "http/json.h"

static void test_parse_retry_after(void **state)
{
	const int64_t date = 784111777;  /* Sun, 06 Nov 1994 08:49:37 GMT */
	uint64_t ms = 12345;

	(void)state;
	assert_int_equal(http__parse_retry_after("2", 0, &ms), 0);
	assert_int_equal(ms, 2000);
	assert_int_equal(http__parse_retry_after(" 120\t", 0, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(http__parse_retry_after("0", 0, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(http__parse_retry_after("99999999999999999999999", 0, &ms), 0);
	assert_int_equal(ms, (uint64_t)UINT32_MAX * 1000);
	assert_int_equal(http__parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - 5, &ms), 0);
	assert_int_equal(ms, 5000);
	assert_int_equal(http__parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", date - 7, &ms), 0);
	assert_int_equal(ms, 7000);
	assert_int_equal(http__parse_retry_after("Sun Nov  6 08:49:37 1994", date - 1, &ms), 0);
	assert_int_equal(ms, 1000);
	assert_int_equal(http__parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date + 60, &ms), 0);
	assert_int_equal(ms, 0);
	ms = 1;
	assert_int_equal(http__parse_retry_after("", 0, &ms), -EINVAL);
	assert_int_equal(http__parse_retry_after("  ", 0, &ms), -EINVAL);
	assert_int_equal(http__parse_retry_after("soon", 0, &ms), -EINVAL);
	assert_int_equal(http__parse_retry_after("-1", 0, &ms), -EINVAL);
	assert_int_equal(http__parse_retry_after("1.5", 0, &ms), -EINVAL);
	assert_int_equal(ms, 1);
}

static void check_message(const char *body, const char *want)
{
	char out[256];
	size_t n = http__server_message(body, strlen(body), out, sizeof(out));

	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_server_message(void **state)
{
	char big[600], small[8];

	(void)state;
	check_message("{\"code\":\"invalid_argument\",\"message\":\"invalid metric name\"}",
		      "invalid metric name");
	/* message after nested values holding quotes and brackets, escapes */
	check_message(" {\"code\": 3, \"details\": [{\"a\": \"}\\\"]\"}, null, true],"
		      " \"messages\": \"no\", \"message\" : \"m\\\"q\\u0041\\u00e9\\n\"}",
		      "m\"qA?");
	/* not JSON, or JSON without a message: the text, printable */
	check_message("bad\x01 input \xc3\xa9t\xc3\xa9\n", "bad? input ?t?");
	check_message("{\"code\":\"x\"}", "{\"code\":\"x\"}");
	check_message("{\"message\":\"cut", "{\"message\":\"cut");
	check_message("{\"message\":42}", "{\"message\":42}");
	check_message("", "");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char out[1024];

		assert_int_equal(http__server_message(big, strlen(big), out, sizeof(out)), 200);
	}
	assert_int_equal(http__server_message("{\"message\":\"abcdefghijk\"}", 25, small,
						  sizeof(small)), 7);
	assert_string_equal(small, "abcdefg");
	/* the length is honoured: no reading past it */
	assert_int_equal(http__server_message("{\"message\":\"abc\"}", 14, small, sizeof(small)), 7);
	assert_string_equal(small, "{\"messa");
}

/* Header lists refuse injection and spell an empty value libcurl's way. */
static void test_headers(void **state)
{
	struct curl_slist *l = NULL, *copy = NULL;
	char *line;

	(void)state;
	assert_int_equal(http_headers__add(&l, "X-Scope-OrgID", "tenant"), 0);
	assert_int_equal(http_headers__add(&l, "X-Empty", ""), 0);
	assert_int_equal(http_headers__add(&l, "Bad Name", "v"), -EINVAL);
	assert_int_equal(http_headers__add(&l, "", "v"), -EINVAL);
	assert_int_equal(http_headers__add(&l, "X-A", "v\r\nX-Injected: 1"), -EINVAL);
	assert_int_equal(http_headers__add(&l, "X-A", NULL), -EINVAL);
	assert_int_equal(http_headers__add_line(&l, "Expect:"), 0);
	assert_string_equal(l->data, "X-Scope-OrgID: tenant");
	assert_string_equal(l->next->data, "X-Empty;");
	assert_string_equal(l->next->next->data, "Expect:");
	assert_null(l->next->next->next);
	assert_int_equal(http_headers__copy(&copy, l), 0);
	assert_string_equal(copy->next->data, "X-Empty;");
	assert_int_equal(http_headers__bytes(copy), http_headers__bytes(l));
	assert_true(http_headers__bytes(l) > strlen("X-Scope-OrgID: tenantX-Empty;Expect:"));
	assert_int_equal(http_headers__line("A", "b", &line), 0);
	assert_string_equal(line, "A: b");
	free(line);
	http_headers__free(l);
	http_headers__free(copy);
	http_headers__free(NULL);
}

/* Documents from the network: one strict document, bounded in size and
 * depth; error bodies: whatever JSON value comes first. */
static void test_json(void **state)
{
	struct json_object *o;

	(void)state;
	o = json__parse("{\"a\": \"x\"} \n", 12, 100, 8);
	assert_non_null(o);
	assert_string_equal(json__str(o, "a", 10), "x");
	assert_null(json__str(o, "a", 0));
	assert_null(json__str(o, "b", 10));
	assert_null(json__get(o, "a", json_type_int));
	json_object_put(o);
	assert_null(json__parse("{\"a\": 1} x", 11, 100, 8));
	assert_null(json__parse("{\"a\": 1}", 9, 8, 8));
	assert_null(json__parse("[[[[1]]]]", 9, 100, 3));
	assert_null(json__parse("{\"a\": \"\xff\"}", 10, 100, 8));
	o = json__parse_prefix("{\"a\": 1} x", 11, 100, 8);
	assert_non_null(o);
	json_object_put(o);
	assert_null(json__get(NULL, "a", json_type_int));
	assert_null(json__parse(NULL, 0, 100, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_retry_after),
		cmocka_unit_test(test_server_message),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests_name("http", tests, NULL, NULL) ? 1 : 0;
}
