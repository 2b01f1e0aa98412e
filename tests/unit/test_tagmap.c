/* Tag mapping: each rule kind, rule order, the built-in schema of each
 * destination type, the issue's examples in both directions, and empty and
 * duplicate labels. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/tagmap.h"

#define L(k, v) { .key = (k), .str = (v) }
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The result as "k=v,k=v" (sorted, as tagmap__apply returns it). */
static char *render(const struct tagmap_result *r)
{
	static char buf[1024];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->nlabels; i++) {
		const struct profile_label *l = &r->labels[i];

		if (l->str)
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s=%s", i ? "," : "", l->key, l->str);
		else
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s=#%lld", i ? "," : "", l->key,
				      (long long)l->num);
	}
	return buf;
}

/* Applies defaults of dest_type (NULL: none) then rules to in; compares. */
static void check(const char *dest_type, const struct tag_rule *rules, size_t nrules,
		  const struct profile_label *in, size_t nin, const char *want)
{
	const struct tag_rule *defs = NULL;
	size_t ndefs = 0;
	struct tagmap_result r;
	struct tagmap *m;

	if (dest_type)
		defs = tagmap__defaults(dest_type, &ndefs);
	m = tagmap__new(defs, ndefs, rules, nrules);
	assert_non_null(m);
	assert_int_equal(tagmap__apply(m, in, nin, &r), 0);
	for (size_t i = 1; i < r.nlabels; i++)
		assert_true(strcmp(r.labels[i - 1].key, r.labels[i].key) < 0);
	assert_string_equal(render(&r), want);
	tagmap__result_free(&r);
	tagmap__free(m);
}

/* What the agent's neutral labels look like for one Kubernetes workload. */
static const struct profile_label neutral[] = {
	L("container", "api"),
	L("container_id", "3f2a9c"),
	L("env", "prod"),
	L("host", "node-1"),
	L("namespace", "shop"),
	L("node", "node-1"),
	L("pod", "checkout-api-7d9f-x2x"),
	L("runtime", "containerd"),
	L("service_name", "checkout-api"),
	L("version", "1.4.2"),
	L("workload", "checkout-api"),
	L("workload_kind", "Deployment"),
};

static void test_tagmap_rule_kinds(void **state)
{
	static const struct profile_label in[] = { L("a", "1"), L("b", "2"), L("git_sha", "abc123") };
	const char *targets[] = { "env", "region" };
	struct tag_rule rename = { .kind = TAG_RENAME, .from = "git_sha", .to = "version" };
	struct tag_rule rename_over = { .kind = TAG_RENAME, .from = "a", .to = "b" };
	struct tag_rule rename_missing = { .kind = TAG_RENAME, .from = "nope", .to = "x" };
	struct tag_rule drop = { .kind = TAG_DROP, .key = "b" };
	struct tag_rule set = { .kind = TAG_SET, .key = "team", .value = "payments" };
	struct tag_rule set_over = { .kind = TAG_SET, .key = "a", .value = "9" };
	struct tag_rule sp = { .kind = TAG_SPLIT, .source = "env", .separator = "-",
			       .targets = targets, .ntargets = 2 };
	struct profile_label e1[] = { L("env", "prod-us") };
	struct profile_label e2[] = { L("env", "prod-us-east") };
	struct profile_label e3[] = { L("env", "prod") };
	struct profile_label e4[] = { L("env", "prod-us"), L("region", "old") };

	(void)state;
	check(NULL, &rename, 1, in, N(in), "a=1,b=2,version=abc123");
	check(NULL, &rename_over, 1, in, N(in), "b=1,git_sha=abc123");
	check(NULL, &rename_missing, 1, in, N(in), "a=1,b=2,git_sha=abc123");
	check(NULL, &drop, 1, in, N(in), "a=1,git_sha=abc123");
	check(NULL, &set, 1, in, N(in), "a=1,b=2,git_sha=abc123,team=payments");
	check(NULL, &set_over, 1, in, N(in), "a=9,b=2,git_sha=abc123");
	/* The issue's split: env=prod-us -> env=prod, region=us; the last
	 * target takes the rest; no separator: unchanged; a later rule wins
	 * over an existing label. */
	check(NULL, &sp, 1, e1, 1, "env=prod,region=us");
	check(NULL, &sp, 1, e2, 1, "env=prod,region=us-east");
	check(NULL, &sp, 1, e3, 1, "env=prod");
	check(NULL, &sp, 1, e4, 2, "env=prod,region=us");
	check(NULL, &sp, 1, in, N(in), "a=1,b=2,git_sha=abc123");
}

static void test_tagmap_split_more(void **state)
{
	const char *three[] = { "cluster", "region", "zone" };
	const char *other[] = { "region", "zone" };
	struct tag_rule sp3 = { .kind = TAG_SPLIT, .source = "loc", .separator = "::",
				.targets = three, .ntargets = 3 };
	struct tag_rule sp_keep = { .kind = TAG_SPLIT, .source = "loc", .separator = "/",
				    .targets = other, .ntargets = 2 };
	struct profile_label a[] = { L("loc", "c1::eu::a::b") };
	struct profile_label b[] = { L("loc", "c1::eu") };
	struct profile_label c[] = { L("loc", "eu/b") };
	struct profile_label d[] = { L("loc", "eu/") };
	struct tag_rule two[] = { sp_keep, sp3 };

	(void)state;
	check(NULL, &sp3, 1, a, 1, "cluster=c1,loc=c1::eu::a::b,region=eu,zone=a::b");
	/* Fewer parts than targets: only the first targets are set. */
	check(NULL, &sp3, 1, b, 1, "cluster=c1,loc=c1::eu,region=eu");
	/* The source stays when it is not a target. */
	check(NULL, &sp_keep, 1, c, 1, "loc=eu/b,region=eu,zone=b");
	/* An empty part is an empty value: dropped. */
	check(NULL, &sp_keep, 1, d, 1, "loc=eu/,region=eu");
	/* Two splits in one pass (the arena holds both); the later one wins region. */
	{
		struct profile_label e[] = { L("loc", "x/y::z") };

		check(NULL, two, 2, e, 1, "cluster=x/y,loc=x/y::z,region=z,zone=y::z");
	}
}

static void test_tagmap_order(void **state)
{
	static const struct profile_label in[] = { L("app", "checkout-api"), L("env", "prod") };
	/* Rules see what earlier rules made. */
	struct tag_rule chain[] = {
		{ .kind = TAG_RENAME, .from = "app", .to = "service" },
		{ .kind = TAG_RENAME, .from = "service", .to = "svc" },
	};
	struct tag_rule set_then_drop[] = {
		{ .kind = TAG_SET, .key = "team", .value = "payments" },
		{ .kind = TAG_DROP, .key = "team" },
	};
	struct tag_rule drop_then_set[] = {
		{ .kind = TAG_DROP, .key = "team" },
		{ .kind = TAG_SET, .key = "team", .value = "payments" },
	};
	struct tag_rule set_twice[] = {
		{ .kind = TAG_SET, .key = "team", .value = "a" },
		{ .kind = TAG_SET, .key = "team", .value = "b" },
	};

	(void)state;
	check(NULL, chain, 2, in, N(in), "env=prod,svc=checkout-api");
	check(NULL, set_then_drop, 2, in, N(in), "app=checkout-api,env=prod");
	check(NULL, drop_then_set, 2, in, N(in), "app=checkout-api,env=prod,team=payments");
	check(NULL, set_twice, 2, in, N(in), "app=checkout-api,env=prod,team=b");
}

static void test_tagmap_defaults(void **state)
{
	size_t n = 99;

	(void)state;
	check("pyroscope", NULL, 0, neutral, N(neutral),
	      "container=api,env=prod,host=node-1,namespace=shop,node=node-1,"
	      "pod=checkout-api-7d9f-x2x,service_name=checkout-api,version=1.4.2,"
	      "workload=checkout-api,workload_kind=Deployment");
	check("datadog", NULL, 0, neutral, N(neutral),
	      "container_id=3f2a9c,env=prod,host=node-1,kube_container_name=api,"
	      "kube_deployment=checkout-api,kube_namespace=shop,pod_name=checkout-api-7d9f-x2x,"
	      "service=checkout-api,version=1.4.2");
	check("file", NULL, 0, neutral, N(neutral),
	      "container=api,container_id=3f2a9c,env=prod,host=node-1,namespace=shop,node=node-1,"
	      "pod=checkout-api-7d9f-x2x,runtime=containerd,service_name=checkout-api,"
	      "version=1.4.2,workload=checkout-api,workload_kind=Deployment");
	/* OTLP: semantic-convention names; workload stays for the exporter */
	check("otlp", NULL, 0, neutral, N(neutral),
	      "container.id=3f2a9c,container.runtime.name=containerd,"
	      "deployment.environment.name=prod,host.name=node-1,k8s.container.name=api,"
	      "k8s.namespace.name=shop,k8s.node.name=node-1,k8s.pod.name=checkout-api-7d9f-x2x,"
	      "service.name=checkout-api,service.version=1.4.2,workload=checkout-api,"
	      "workload_kind=Deployment");
	assert_non_null(tagmap__defaults("kafka", &n));
	assert_int_equal(n, 0);

	/* Each owner kind gets the Datadog Agent's tag for it. */
	{
		static const struct { const char *kind, *want; } kinds[] = {
			{ "Deployment", "kube_deployment=w" },
			{ "StatefulSet", "kube_stateful_set=w" },
			{ "stateful_set", "kube_stateful_set=w" },
			{ "DaemonSet", "kube_daemon_set=w" },
			{ "CronJob", "kube_cronjob=w" },
			{ "Job", "kube_job=w" },
			{ "ReplicaSet", "kube_replica_set=w" },
			{ "Rollout", "kube_argo_rollout=w" },
			{ "SomeOperatorKind", "kube_ownerref_name=w" },
			{ "", "workload=w" },   /* empty kind: dropped, workload left */
		};

		for (size_t i = 0; i < N(kinds); i++) {
			struct profile_label in[] = { L("workload", "w"), L("workload_kind", kinds[i].kind) };

			check("datadog", NULL, 0, in, 2, kinds[i].want);
		}
	}
	/* No kind (bare metal): the name is left alone for the user's rules. */
	{
		struct profile_label in[] = { L("systemd_unit", "nginx.service"), L("workload", "nginx") };

		check("datadog", NULL, 0, in, 2, "systemd_unit=nginx.service,workload=nginx");
	}
}

/* The issue's examples: Pyroscope app=checkout-api <-> Datadog
 * service:checkout-api, git_sha -> version, env=prod-us -> env:prod +
 * region:us. */
static void test_tagmap_issue_examples(void **state)
{
	static const struct profile_label sdk[] = {
		L("app", "checkout-api"), L("env", "prod-us"), L("git_sha", "abc123"),
	};
	const char *targets[] = { "env", "region" };
	/* Labels as a Pyroscope SDK names them, to the neutral names: then the
	 * destination's defaults do the rest... but user rules run after the
	 * defaults, so they name the destination's own tags. */
	struct tag_rule to_datadog[] = {
		{ .kind = TAG_RENAME, .from = "app", .to = "service" },
		{ .kind = TAG_RENAME, .from = "git_sha", .to = "version" },
		{ .kind = TAG_SPLIT, .source = "env", .separator = "-", .targets = targets, .ntargets = 2 },
	};
	struct tag_rule to_pyroscope[] = {
		{ .kind = TAG_RENAME, .from = "app", .to = "service_name" },
	};
	/* And back: Datadog-style names to Pyroscope's. */
	static const struct profile_label dd[] = {
		L("env", "prod"), L("service", "checkout-api"), L("version", "abc123"),
	};
	struct tag_rule dd_to_pyroscope[] = {
		{ .kind = TAG_RENAME, .from = "service", .to = "service_name" },
	};

	(void)state;
	check("datadog", to_datadog, N(to_datadog), sdk, N(sdk),
	      "env=prod,region=us,service=checkout-api,version=abc123");
	check("pyroscope", to_pyroscope, N(to_pyroscope), sdk, N(sdk),
	      "env=prod-us,git_sha=abc123,service_name=checkout-api");
	check("pyroscope", dd_to_pyroscope, N(dd_to_pyroscope), dd, N(dd),
	      "env=prod,service_name=checkout-api,version=abc123");
	/* User rules see what the defaults left: container_id is gone on
	 * Pyroscope before a user rule could rename it (default_tag_rules:
	 * false keeps it). */
	{
		struct profile_label in[] = { L("container_id", "c1"), L("service_name", "s") };
		struct tag_rule ren[] = { { .kind = TAG_RENAME, .from = "container_id", .to = "cid" } };

		check("pyroscope", ren, 1, in, 2, "service_name=s");
		check(NULL, ren, 1, in, 2, "cid=c1,service_name=s");
	}
}

static void test_tagmap_empty_duplicates(void **state)
{
	static const struct profile_label in[] = {
		L("a", ""), L("b", "1"), L("b", "2"), L("c", "3"),
		{ .key = "n", .str = NULL, .num = 42 },
	};
	struct tag_rule set_empty = { .kind = TAG_SET, .key = "c", .value = "" };
	struct tag_rule ren = { .kind = TAG_RENAME, .from = "n", .to = "pid" };
	struct tagmap_result r;
	struct tagmap *m;

	(void)state;
	/* Empty values go; of duplicate keys the later one wins; numbers pass. */
	check(NULL, NULL, 0, in, N(in), "b=2,c=3,n=#42");
	/* Setting "" removes a label. */
	check(NULL, &set_empty, 1, in, N(in), "b=2,n=#42");
	check(NULL, &ren, 1, in, N(in), "b=2,c=3,pid=#42");
	/* No labels, no rules. */
	check(NULL, NULL, 0, NULL, 0, "");
	check("datadog", NULL, 0, NULL, 0, "");

	m = tagmap__new(NULL, 0, NULL, 0);
	assert_non_null(m);
	assert_int_equal(tagmap__apply(m, in, N(in), &r), 0);
	assert_int_equal(r.nlabels, 3);
	/* Strings point into the input: no copies. */
	assert_ptr_equal(r.labels[0].str, in[2].str);
	tagmap__result_free(&r);
	tagmap__result_free(&r);   /* twice is harmless */
	tagmap__free(m);
	tagmap__free(NULL);
}

static void test_tagmap_bad_rules(void **state)
{
	const char *one[] = { "a" };
	const char *nine[] = { "a", "b", "c", "d", "e", "f", "g", "h", "i" };
	const char *with_null[] = { "a", NULL };
	struct tag_rule bad[] = {
		{ .kind = TAG_RENAME, .from = "a" },
		{ .kind = TAG_RENAME, .from = "", .to = "b" },
		{ .kind = TAG_DROP },
		{ .kind = TAG_SET, .key = "k" },
		{ .kind = TAG_SPLIT, .source = "s", .separator = "-", .targets = one, .ntargets = 1 },
		{ .kind = TAG_SPLIT, .source = "s", .separator = "-", .targets = nine, .ntargets = 9 },
		{ .kind = TAG_SPLIT, .source = "s", .separator = "", .targets = nine, .ntargets = 2 },
		{ .kind = TAG_SPLIT, .source = "s", .separator = "-", .targets = with_null, .ntargets = 2 },
		{ .kind = (enum tag_rule_kind)99 },
	};

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		errno = 0;
		if (tagmap__new(NULL, 0, &bad[i], 1))
			fail_msg("rule %zu accepted", i);
		assert_int_equal(errno, EINVAL);
	}
	/* The copy is deep: the caller's rule may go away. */
	{
		char from[] = "a", to[] = "b";
		struct tag_rule r = { .kind = TAG_RENAME, .from = from, .to = to };
		struct profile_label in[] = { L("a", "1") };
		struct tagmap *m = tagmap__new(NULL, 0, &r, 1);
		struct tagmap_result res;

		assert_non_null(m);
		from[0] = 'x';
		to[0] = 'y';
		assert_int_equal(tagmap__apply(m, in, 1, &res), 0);
		assert_string_equal(render(&res), "b=1");
		tagmap__result_free(&res);
		tagmap__free(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tagmap_rule_kinds),
		cmocka_unit_test(test_tagmap_split_more),
		cmocka_unit_test(test_tagmap_order),
		cmocka_unit_test(test_tagmap_defaults),
		cmocka_unit_test(test_tagmap_issue_examples),
		cmocka_unit_test(test_tagmap_empty_duplicates),
		cmocka_unit_test(test_tagmap_bad_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
