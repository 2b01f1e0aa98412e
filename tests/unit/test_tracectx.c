/* tracectx: span and trace ids among a sample's labels, in the spellings
 * of OpenTelemetry/Pyroscope (hex) and Datadog (decimal); only the
 * program's trace-context labels count. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/tracectx.h"

#define T PROFILE_LABEL_TRACE

static void test_tracectx_span_id(void **state)
{
	struct profile_label hexa[] = {
		{ .key = "pid", .num = 7 },
		{ .key = "span_id", .str = "00000000000186a9", .origin = T },
		{ .key = "span id", .str = "5", .origin = T },
	};
	struct profile_label dec[] = { { .key = "span id", .str = "18446744073709551615", .origin = T } };
	struct profile_label bad[] = {
		{ .key = "span_id", .str = "186a9", .origin = T },          /* not 16 digits */
		{ .key = "span id", .str = "18446744073709551616", .origin = T },  /* overflows */
	};
	struct profile_label zero[] = { { .key = "span_id", .str = "0000000000000000", .origin = T } };
	/* The agent's own label of that name is not trace context. */
	struct profile_label agent[] = { { .key = "span id", .str = "42" } };
	uint64_t id = 0;

	(void)state;
	assert_int_equal(tracectx__span_id(hexa, 3, &id), 0);
	assert_int_equal(id, 100009);
	assert_int_equal(tracectx__span_id(dec, 1, &id), 0);
	assert_true(id == UINT64_MAX);
	assert_int_equal(tracectx__span_id(bad, 2, &id), -ENOENT);
	assert_int_equal(tracectx__span_id(zero, 1, &id), -ENOENT);
	assert_int_equal(tracectx__span_id(agent, 1, &id), -ENOENT);
	assert_int_equal(tracectx__span_id(NULL, 0, &id), -ENOENT);
	assert_int_equal(tracectx__decimal(hexa, 3, "span id", &id), 0);
	assert_int_equal(id, 5);
	assert_string_equal(tracectx__get(hexa, 3, "span_id"), "00000000000186a9");
	assert_null(tracectx__get(hexa, 3, "pid"));
}

static void test_tracectx_trace_id(void **state)
{
	struct profile_label l[] = {
		{ .key = "trace_id", .str = "0af7651916cd43dd8448eb211c80319c", .origin = T },
	};
	struct profile_label upper[] = {
		{ .key = "trace_id", .str = "0AF7651916CD43DD8448EB211C80319C", .origin = T },
	};
	struct profile_label bad[] = {
		{ .key = "trace_id", .str = "0af7651916cd43dd8448eb211c80319", .origin = T },
	};
	struct profile_label zero[] = {
		{ .key = "trace_id", .str = "00000000000000000000000000000000", .origin = T },
	};
	const uint8_t want[16] = { 0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
				   0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c };
	uint8_t id[16];

	(void)state;
	assert_int_equal(tracectx__trace_id(l, 1, id), 0);
	assert_memory_equal(id, want, 16);
	assert_int_equal(tracectx__trace_id(upper, 1, id), 0);
	assert_memory_equal(id, want, 16);
	assert_int_equal(tracectx__trace_id(bad, 1, id), -ENOENT);
	assert_int_equal(tracectx__trace_id(zero, 1, id), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tracectx_span_id),
		cmocka_unit_test(test_tracectx_trace_id),
	};

	return cmocka_run_group_tests_name("tracectx", tests, NULL, NULL) ? 1 : 0;
}
