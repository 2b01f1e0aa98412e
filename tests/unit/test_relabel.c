/* Relabel rules with Prometheus' semantics, action by action, on the
 * examples its documentation and users' configs use; the label set they
 * work on; config errors with the rule and field named. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "identity/relabel.h"

#define SRC(...) (const char *[]){ __VA_ARGS__ }, sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *)

static struct label_set *pod_labels(void)
{
	struct label_set *s = label_set__new();

	assert_non_null(s);
	assert_int_equal(label_set__set(s, "__meta_kubernetes_namespace", "shop"), 0);
	assert_int_equal(label_set__set(s, "__meta_kubernetes_pod_name", "cart-7d9f-x2"), 0);
	assert_int_equal(label_set__set(s, "__meta_kubernetes_pod_label_app", "cart"), 0);
	assert_int_equal(label_set__set(s, "__meta_kubernetes_pod_label_team", "payments"), 0);
	assert_int_equal(label_set__set(s, "service_name", "shop/cart"), 0);
	return s;
}

/* Applies rules to s; whether the process is kept. */
static bool apply(const struct relabel_rule *rules, size_t n, struct label_set *s)
{
	char err[256];
	struct relabel *r = relabel__new(rules, n, err, sizeof(err));
	bool keep = false;

	if (!r)
		fail_msg("relabel__new: %s", err);
	assert_int_equal(relabel__apply(r, s, &keep), 0);
	relabel__free(r);
	return keep;
}

static void assert_label(const struct label_set *s, const char *key, const char *want)
{
	const char *v = label_set__get(s, key);

	if (!want) {
		if (v)
			fail_msg("%s: want absent, got '%s'", key, v);
		return;
	}
	if (!v)
		fail_msg("%s: want '%s', absent", key, want);
	assert_string_equal(v, want);
}

static void test_label_set(void **state)
{
	struct label_set *s = label_set__new();
	char key[32];

	(void)state;
	assert_int_equal(label_set__set(s, "b", "2"), 0);
	assert_int_equal(label_set__set(s, "a", "1"), 0);
	assert_int_equal(label_set__set(s, "c", "3"), 0);
	assert_int_equal(label_set__set(s, "b", "two"), 0);
	assert_int_equal(label_set__count(s), 3);
	assert_string_equal(label_set__key(s, 0), "a");
	assert_string_equal(label_set__key(s, 1), "b");
	assert_string_equal(label_set__value(s, 1), "two");
	assert_string_equal(label_set__key(s, 2), "c");
	assert_null(label_set__key(s, 3));
	/* Empty is absent. */
	assert_int_equal(label_set__set(s, "c", ""), 0);
	assert_null(label_set__get(s, "c"));
	assert_int_equal(label_set__set(s, "", "x"), -EINVAL);
	assert_int_equal(label_set__del(s, "nope"), -ENOENT);
	assert_int_equal(label_set__set(s, "__meta_x", "1"), 0);
	assert_int_equal(label_set__set(s, "__meta_y", "1"), 0);
	label_set__del_prefix(s, "__");
	assert_int_equal(label_set__count(s), 2);
	assert_int_equal(label_set__del(s, "a"), 0);
	assert_string_equal(label_set__key(s, 0), "b");
	/* Bounded in count. */
	for (int i = 0; i < LABEL_SET_MAX - 1; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		assert_int_equal(label_set__set(s, key, "v"), 0);
	}
	assert_int_equal(label_set__set(s, "one_more", "v"), -E2BIG);
	assert_int_equal(label_set__set(s, "k00000", "replaced"), 0);
	assert_int_equal(label_set__count(s), LABEL_SET_MAX);
	label_set__free(s);
	/* Bounded in bytes. */
	s = label_set__new();
	{
		char *big = malloc(LABEL_SET_MAX_BYTES);

		memset(big, 'x', LABEL_SET_MAX_BYTES - 1);
		big[LABEL_SET_MAX_BYTES - 1] = '\0';
		assert_int_equal(label_set__set(s, "big", big), -E2BIG);
		big[LABEL_SET_MAX_BYTES / 2] = '\0';
		assert_int_equal(label_set__set(s, "big", big), 0);
		assert_int_equal(label_set__set(s, "big2", big), -E2BIG);
		free(big);
	}
	label_set__free(s);
	label_set__free(NULL);
}

static void test_replace(void **state)
{
	struct label_set *s = pod_labels();

	(void)state;
	/* The usual copy of a discovery label (default regex, replacement). */
	assert_true(apply(&(struct relabel_rule){ .source_labels = SRC("__meta_kubernetes_namespace"),
						  .target_label = "namespace" }, 1, s));
	assert_label(s, "namespace", "shop");
	/* Several sources joined by the separator, groups in the replacement. */
	assert_true(apply(&(struct relabel_rule){
				  .source_labels = SRC("__meta_kubernetes_namespace",
						       "__meta_kubernetes_pod_label_app"),
				  .regex = "(.*);(.*)", .replacement = "$1-${2}-v1",
				  .target_label = "job" }, 1, s));
	assert_label(s, "job", "shop-cart-v1");
	assert_true(apply(&(struct relabel_rule){
				  .source_labels = SRC("__meta_kubernetes_namespace",
						       "__meta_kubernetes_pod_label_app"),
				  .separator = "/", .target_label = "sep" }, 1, s));
	assert_label(s, "sep", "shop/cart");
	/* No match: nothing changes. */
	assert_true(apply(&(struct relabel_rule){ .source_labels = SRC("__meta_kubernetes_namespace"),
						  .regex = "kube-.*", .replacement = "system",
						  .target_label = "namespace" }, 1, s));
	assert_label(s, "namespace", "shop");
	/* Anchored: "ho" does not match "shop". */
	assert_true(apply(&(struct relabel_rule){ .source_labels = SRC("__meta_kubernetes_namespace"),
						  .regex = "ho", .replacement = "x",
						  .target_label = "anchored" }, 1, s));
	assert_label(s, "anchored", NULL);
	/* An empty result deletes the target. */
	assert_true(apply(&(struct relabel_rule){ .source_labels = SRC("missing"),
						  .target_label = "namespace" }, 1, s));
	assert_label(s, "namespace", NULL);
	/* $1x is group "1x" (empty), ${1}x is group 1 then x; $$ is $; named groups. */
	assert_true(apply(&(struct relabel_rule){ .source_labels = SRC("__meta_kubernetes_pod_name"),
						  .regex = "(?<base>[a-z]+)-(.*)",
						  .replacement = "$1x|${1}x|$$|$base|${2}|$9|$",
						  .target_label = "exp" }, 1, s));
	assert_label(s, "exp", "|cartx|$|cart|7d9f-x2||$");
	/* The target may use groups too; one that expands to no valid name is skipped. */
	assert_true(apply(&(struct relabel_rule){ .source_labels = SRC("__meta_kubernetes_pod_label_team"),
						  .regex = "(.*)", .replacement = "yes",
						  .target_label = "team_${1}" }, 1, s));
	assert_label(s, "team_payments", "yes");
	assert_true(apply(&(struct relabel_rule){ .source_labels = SRC("__meta_kubernetes_pod_name"),
						  .regex = "(.*)", .replacement = "yes",
						  .target_label = "$1" }, 1, s));
	assert_label(s, "cart-7d9f-x2", NULL);
	/* '.' matches a newline, as in Prometheus' (?s). */
	assert_int_equal(label_set__set(s, "multi", "a\nb"), 0);
	assert_true(apply(&(struct relabel_rule){ .source_labels = SRC("multi"), .regex = "a.b",
						  .replacement = "dotall", .target_label = "nl" }, 1, s));
	assert_label(s, "nl", "dotall");
	label_set__free(s);
}

static void test_keep_drop(void **state)
{
	const struct relabel_rule keep_shop = { .source_labels = SRC("__meta_kubernetes_namespace"),
						.regex = "shop|checkout", .action = RELABEL_KEEP };
	const struct relabel_rule drop_kube = { .source_labels = SRC("__meta_kubernetes_namespace"),
						.regex = "kube-.*", .action = RELABEL_DROP };
	const struct relabel_rule later[] = {
		keep_shop,
		{ .source_labels = SRC("__meta_kubernetes_namespace"), .target_label = "after" },
	};
	struct label_set *s = pod_labels();

	(void)state;
	assert_true(apply(&keep_shop, 1, s));
	assert_true(apply(&drop_kube, 1, s));
	assert_int_equal(label_set__set(s, "__meta_kubernetes_namespace", "kube-system"), 0);
	assert_false(apply(&keep_shop, 1, s));
	assert_false(apply(&drop_kube, 1, s));
	/* Once dropped, later rules do not run. */
	assert_false(apply(later, 2, s));
	assert_label(s, "after", NULL);
	/* A missing label is "": keep on ".+" drops processes without it. */
	assert_int_equal(label_set__del(s, "__meta_kubernetes_namespace"), 0);
	assert_false(apply(&(struct relabel_rule){ .source_labels = SRC("__meta_kubernetes_namespace"),
						   .regex = ".+", .action = RELABEL_KEEP }, 1, s));
	/* No rules at all: kept. */
	{
		bool keep = false;

		assert_int_equal(relabel__apply(NULL, s, &keep), 0);
		assert_true(keep);
	}
	label_set__free(s);
}

static void test_labelmap(void **state)
{
	struct label_set *s = pod_labels();

	(void)state;
	/* Prometheus' own kubernetes example: pod labels become labels. */
	assert_true(apply(&(struct relabel_rule){ .regex = "__meta_kubernetes_pod_label_(.+)",
						  .action = RELABEL_LABELMAP }, 1, s));
	assert_label(s, "app", "cart");
	assert_label(s, "team", "payments");
	assert_label(s, "__meta_kubernetes_pod_label_app", "cart");
	/* A replacement building the new name. */
	assert_true(apply(&(struct relabel_rule){ .regex = "__meta_kubernetes_pod_label_(.+)",
						  .replacement = "k8s_${1}",
						  .action = RELABEL_LABELMAP }, 1, s));
	assert_label(s, "k8s_app", "cart");
	assert_label(s, "k8s_team", "payments");
	label_set__free(s);
}

static void test_labeldrop_labelkeep(void **state)
{
	struct label_set *s = pod_labels();

	(void)state;
	assert_int_equal(label_set__set(s, "pod_hash", "x"), 0);
	assert_true(apply(&(struct relabel_rule){ .regex = "pod_.*", .action = RELABEL_LABELDROP },
			  1, s));
	assert_label(s, "pod_hash", NULL);
	/* Like Prometheus, the name rules see "__" labels too. */
	assert_true(apply(&(struct relabel_rule){ .regex = "__meta_kubernetes_pod_label_team",
						  .action = RELABEL_LABELDROP }, 1, s));
	assert_label(s, "__meta_kubernetes_pod_label_team", NULL);
	assert_label(s, "__meta_kubernetes_pod_label_app", "cart");
	assert_int_equal(label_set__set(s, "env", "prod"), 0);
	assert_true(apply(&(struct relabel_rule){ .regex = "service_name|env",
						  .action = RELABEL_LABELKEEP }, 1, s));
	assert_int_equal(label_set__count(s), 2);
	assert_label(s, "env", "prod");
	assert_label(s, "service_name", "shop/cart");
	label_set__free(s);
}

static void expect_error(const struct relabel_rule *rules, size_t n, const char *want)
{
	char err[256] = "";

	errno = 0;
	assert_null(relabel__new(rules, n, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_string_equal(err, want);
}

static void test_errors(void **state)
{
	const struct relabel_rule ok = { .source_labels = SRC("a"), .target_label = "b" };
	const struct relabel_rule bad_regex[] = {
		ok, ok, { .source_labels = SRC("a"), .regex = "(ab|c", .target_label = "b" },
	};
	char err[128];

	(void)state;
	expect_error(bad_regex, 3,
		     "relabel_configs[2].regex: missing closing parenthesis at offset 5");
	assert_int_equal(relabel__check_regex("(ab|c", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "missing closing parenthesis at offset 5");
	assert_int_equal(relabel__check_regex("shop|kube-.*", err, sizeof(err)), 0);
	assert_int_equal(relabel__check_regex(NULL, err, sizeof(err)), 0);
	expect_error(&(struct relabel_rule){ .source_labels = SRC("a") },
		     1, "relabel_configs[0].target_label: required for action replace");
	expect_error(&(struct relabel_rule){ .source_labels = SRC("a"), .target_label = "a-b" },
		     1, "relabel_configs[0].target_label: \"a-b\" is not a valid label name");
	expect_error(&(struct relabel_rule){ .source_labels = SRC("a.b"), .target_label = "c",
					     .action = RELABEL_REPLACE },
		     1, "relabel_configs[0].source_labels[0]: \"a.b\" is not a valid label name");
	expect_error(&(struct relabel_rule){ .source_labels = SRC("a"), .regex = "x",
					     .action = RELABEL_LABELDROP },
		     1, "relabel_configs[0].action: labeldrop takes only a regex");
	expect_error(&(struct relabel_rule){ .regex = "(.*)", .replacement = "x-$1",
					     .action = RELABEL_LABELMAP },
		     1, "relabel_configs[0].replacement: \"x-$1\" is not a valid label name");
	expect_error(&(struct relabel_rule){ .action = (enum relabel_action)42 },
		     1, "relabel_configs[0].action: unknown action 42");
	/* No rules is fine. */
	relabel__free(relabel__new(NULL, 0, err, sizeof(err)));
}

static void test_hostile_values(void **state)
{
	struct label_set *s = label_set__new();
	char *long_a = malloc(40001);

	(void)state;
	/* Invalid UTF-8 in a value is matched as bytes, not an error. */
	assert_int_equal(label_set__set(s, "v", "caf\xc3(\xff"), 0);
	assert_true(apply(&(struct relabel_rule){ .source_labels = SRC("v"), .regex = "caf.*",
						  .replacement = "m", .target_label = "utf" }, 1, s));
	assert_label(s, "utf", "m");
	/* Catastrophic backtracking gives up as "no match". */
	memset(long_a, 'a', 40000);
	long_a[39999] = 'b';
	long_a[40000] = '\0';
	assert_int_equal(label_set__set(s, "long", long_a), 0);
	assert_false(apply(&(struct relabel_rule){ .source_labels = SRC("long"), .regex = "(a+)+c",
						   .action = RELABEL_KEEP }, 1, s));
	free(long_a);
	label_set__free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_set),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_keep_drop),
		cmocka_unit_test(test_labelmap),
		cmocka_unit_test(test_labeldrop_labelkeep),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_hostile_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
