/* golabels: label records from BPF into per-sample label sets: matched to
 * their sample by cpu, tid and time; trace-context keys and go_labels kept
 * (with their origin), the rest dropped and counted; text made safe; equal
 * sets equal blobs whatever the order the map walk met them in. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sampling/golabels.h"

static struct golabels *make(void)
{
	static const char *const keep[] = { "custom" };
	struct golabels_opts o = {
		.proc_root = "/nonexistent", .procs_fd = -1, .stats_fd = -1, .max_procs = 16,
		.go_labels = keep, .ngo_labels = 1,
	};
	struct golabels *g = golabels__new(&o);

	assert_non_null(g);
	return g;
}

static void put(struct ignis_go_labels *r, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct ignis_go_label *l = &r->labels[r->nlabels++];

	memset(l, 0, sizeof(*l));
	l->key_len = (uint16_t)klen;
	l->val_len = (uint16_t)vlen;
	memcpy(l->key, k, klen < IGNIS_GO_KEY_LEN ? klen : IGNIS_GO_KEY_LEN);
	memcpy(l->val, v, vlen < IGNIS_GO_VAL_LEN ? vlen : IGNIS_GO_VAL_LEN);
}

static void header(struct ignis_go_labels *r, uint32_t cpu, uint32_t tid, uint64_t t)
{
	memset(r, 0, sizeof(*r));
	r->type = IGNIS_EV_GO_LABELS;
	r->cpu = cpu;
	r->tid = tid;
	r->time_ns = t;
}

static void test_golabels_kept_and_dropped(void **state)
{
	struct golabels *g = make();
	struct ignis_go_labels r;
	struct profile_label out[IGNIS_GO_MAX_LABELS];
	struct golabels_stats st;
	char longval[300];
	const void *blob;
	size_t len, n;

	(void)state;
	memset(longval, 'v', sizeof(longval));
	header(&r, 0, 77, 1000);
	put(&r, "trace endpoint", 14, longval, sizeof(longval));
	put(&r, "span_id", 7, "00000000000186a9", 16);
	put(&r, "pid", 3, "1", 1);               /* would pass for the agent's */
	put(&r, "other", 5, "x", 1);             /* not asked for */
	put(&r, "custom", 6, "c\0\xff", 3);      /* NUL and a bad byte */
	golabels__record(g, &r, IGNIS_GO_LABELS_LEN(r.nlabels));
	blob = golabels__take(g, 0, 77, 1000, &len);
	assert_non_null(blob);
	n = golabels__decode(blob, len, out, IGNIS_GO_MAX_LABELS);
	assert_int_equal(n, 3);
	assert_string_equal(out[0].key, "custom");
	assert_string_equal(out[0].str, "c??");
	assert_int_equal(out[0].origin, PROFILE_LABEL_PROGRAM);
	assert_string_equal(out[1].key, "span_id");
	assert_string_equal(out[1].str, "00000000000186a9");
	assert_int_equal(out[1].origin, PROFILE_LABEL_TRACE);
	assert_string_equal(out[2].key, "trace endpoint");
	assert_int_equal(strlen(out[2].str), IGNIS_GO_VAL_LEN);
	assert_int_equal(out[2].origin, PROFILE_LABEL_TRACE);
	/* Taken once. */
	assert_null(golabels__take(g, 0, 77, 1000, &len));
	assert_int_equal(len, 0);
	golabels__stats(g, &st);
	assert_int_equal(st.attached, 1);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.truncated, 1);
	assert_int_equal(st.records, 1);
	golabels__free(g);
}

static void test_golabels_matching(void **state)
{
	struct golabels *g = make();
	struct ignis_go_labels r;
	struct golabels_stats st;
	size_t len;

	(void)state;
	header(&r, 1, 5, 2000);
	put(&r, "span id", 7, "42", 2);
	golabels__record(g, &r, IGNIS_GO_LABELS_LEN(1));
	/* Another sample on that CPU: its record was lost, this one is stale. */
	assert_null(golabels__take(g, 1, 5, 2001, &len));
	/* A record nobody took, then the next one on the same CPU. */
	golabels__record(g, &r, IGNIS_GO_LABELS_LEN(1));
	r.time_ns = 3000;
	golabels__record(g, &r, IGNIS_GO_LABELS_LEN(1));
	assert_non_null(golabels__take(g, 1, 5, 3000, &len));
	/* No labels on CPU 0, nor on a CPU that does not exist. */
	assert_null(golabels__take(g, 0, 5, 3000, &len));
	assert_null(golabels__take(g, 1u << 30, 5, 3000, &len));
	/* Records that do not hold together are ignored. */
	golabels__record(g, &r, IGNIS_GO_LABELS_LEN(1) - 1);
	golabels__record(g, &r, 8);
	r.nlabels = IGNIS_GO_MAX_LABELS + 1;
	golabels__record(g, &r, sizeof(r));
	r.nlabels = 1;
	r.cpu = 1u << 30;
	golabels__record(g, &r, IGNIS_GO_LABELS_LEN(1));
	assert_null(golabels__take(g, 1, 5, 3000, &len));
	golabels__stats(g, &st);
	assert_int_equal(st.unmatched, 2);
	assert_int_equal(st.attached, 1);
	golabels__free(g);
}

/* A map walk meets labels in any order: the set is one blob. */
static void test_golabels_order(void **state)
{
	struct golabels *g = make();
	struct ignis_go_labels a, b;
	uint8_t first[1024];
	const void *blob;
	size_t la, lb;

	(void)state;
	header(&a, 0, 1, 1);
	put(&a, "span id", 7, "1", 1);
	put(&a, "local root span id", 18, "2", 1);
	put(&a, "trace_id", 8, "3", 1);
	header(&b, 0, 1, 2);
	put(&b, "trace_id", 8, "3", 1);
	put(&b, "span id", 7, "1", 1);
	put(&b, "local root span id", 18, "2", 1);
	golabels__record(g, &a, IGNIS_GO_LABELS_LEN(3));
	blob = golabels__take(g, 0, 1, 1, &la);
	assert_non_null(blob);
	assert_true(la <= sizeof(first));
	memcpy(first, blob, la);
	golabels__record(g, &b, IGNIS_GO_LABELS_LEN(3));
	blob = golabels__take(g, 0, 1, 2, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(first, blob, la);
	/* Nothing kept: no blob. */
	header(&a, 0, 1, 3);
	put(&a, "unrelated", 9, "1", 1);
	golabels__record(g, &a, IGNIS_GO_LABELS_LEN(1));
	assert_null(golabels__take(g, 0, 1, 3, &la));
	golabels__free(g);
}

/* A blob cut short decodes to the labels that are whole. */
static void test_golabels_decode_bounds(void **state)
{
	static const char blob[] = "\x01k1\0v1\0\x02k2\0v";
	struct profile_label out[4];

	(void)state;
	assert_int_equal(golabels__decode(blob, sizeof(blob) - 1, out, 4), 1);
	assert_string_equal(out[0].key, "k1");
	assert_string_equal(out[0].str, "v1");
	assert_int_equal(golabels__decode(blob, 7, out, 0), 0);
	assert_int_equal(golabels__decode(blob, 0, out, 4), 0);
}

static void test_golabels_config_equal(void **state)
{
	const char *a[] = { "x", "y" }, *b[] = { "x", "y" }, *c[] = { "y", "x" };
	struct golabels_config one = { .go_labels = a, .ngo_labels = 2 };
	struct golabels_config two = { .go_labels = b, .ngo_labels = 2 };
	struct golabels_config other = { .go_labels = c, .ngo_labels = 2 };
	struct golabels_config fewer = { .go_labels = a, .ngo_labels = 1 };
	struct golabels_config traced = { .go_labels = a, .ngo_labels = 2, .trace_labels = b,
					  .ntrace_labels = 1 };

	(void)state;
	assert_true(golabels__config_equal(&one, &two));
	assert_false(golabels__config_equal(&one, &other));
	assert_false(golabels__config_equal(&one, &fewer));
	assert_false(golabels__config_equal(&one, &traced));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golabels_kept_and_dropped),
		cmocka_unit_test(test_golabels_matching),
		cmocka_unit_test(test_golabels_order),
		cmocka_unit_test(test_golabels_decode_bounds),
		cmocka_unit_test(test_golabels_config_equal),
	};

	return cmocka_run_group_tests_name("golabels", tests, NULL, NULL) ? 1 : 0;
}
