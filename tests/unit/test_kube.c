/* The Kubernetes parsers against pods, lists and watch events in the API
 * server's JSON shape (tests/fixtures/kube, made by tests/fakes/kubeapi.py
 * after real objects), and against hand-made documents for what a fixture
 * cannot show: wrong types, missing fields, hostile sizes and nesting. The
 * client's network behaviour is tested against the fake server in
 * tests/integration/test_fake_kubeapi.py. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "identity/kube.h"
#include "tests/unit/support.h"

#define FIX "tests/fixtures/kube/"

static struct kube_pod *parse_fixture(const char *name)
{
	char path[256];
	struct kube_pod *p = NULL;
	size_t len;
	char *json;

	snprintf(path, sizeof(path), FIX "%s", name);
	json = support__read_file(path, &len);
	assert_non_null(json);
	assert_int_equal(kube__parse_pod(json, len, &p), 0);
	assert_non_null(p);
	free(json);
	return p;
}

static struct kube_pod *parse_str(const char *json, int want)
{
	struct kube_pod *p = (struct kube_pod *)0x1;

	assert_int_equal(kube__parse_pod(json, strlen(json), &p), want);
	if (want)
		assert_null(p);
	return p;
}

static const char *label(const struct kube_pod *p, const char *key)
{
	for (size_t i = 0; i < p->nlabels; i++)
		if (!strcmp(p->labels[i].key, key))
			return p->labels[i].value;
	return NULL;
}

static const char *annotation(const struct kube_pod *p, const char *key)
{
	for (size_t i = 0; i < p->nannotations; i++)
		if (!strcmp(p->annotations[i].key, key))
			return p->annotations[i].value;
	return NULL;
}

static const struct kube_container *container(const struct kube_pod *p, const char *name)
{
	for (size_t i = 0; i < p->ncontainers; i++)
		if (!strcmp(p->containers[i].name, name))
			return &p->containers[i];
	return NULL;
}

static void test_deployment_pod(void **state)
{
	struct kube_pod *p = parse_fixture("pod-deployment.json");

	(void)state;
	assert_string_equal(p->uid, "86baef02-6e35-5b97-851b-d86a65231823");
	assert_string_equal(p->name, "checkout-7d4b9c8f6d-j7rzt");
	assert_string_equal(p->namespace, "shop");
	assert_string_equal(p->node, "node-a");
	/* ReplicaSet checkout-7d4b9c8f6d + pod-template-hash 7d4b9c8f6d */
	assert_string_equal(p->owner_kind, "Deployment");
	assert_string_equal(p->owner_name, "checkout");
	assert_string_equal(label(p, "app.kubernetes.io/name"), "checkout");
	assert_string_equal(label(p, "tags.datadoghq.com/env"), "prod");
	assert_string_equal(label(p, "pod-template-hash"), "7d4b9c8f6d");
	assert_string_equal(annotation(p, "ignis.io/service"), "checkout-api");
	/* a 6 KB blob is no label anyone wants */
	assert_null(annotation(p, "kubectl.kubernetes.io/last-applied-configuration"));
	assert_int_equal(p->ncontainers, 3);
	/* spec containers first, then init */
	assert_string_equal(p->containers[0].name, "checkout");
	assert_string_equal(p->containers[0].id,
			    "2396ae493b95b02dedd5ebd3b26e38d954fbc3f09624eb73f5f4b8db1be16201");
	assert_string_equal(p->containers[1].name, "envoy");
	assert_string_equal(p->containers[1].id,
			    "213f9edbcf8e9639f248d839ac5777cbeba7ef3686503fd741b06f9ec01d6408");
	assert_string_equal(p->containers[2].name, "migrate");
	assert_string_equal(p->containers[2].id,
			    "941180a059ba473397de00fcb96d8b7415c49d2468323665e438e2766f32038f");
	kube_pod__free(p);
}

static void test_owner_kinds(void **state)
{
	static const struct { const char *file, *kind, *name, *cname, *id; } cases[] = {
		{ "pod-statefulset.json", "StatefulSet", "postgres", "app",
		  "665ac35619cfc3b8f8b485b0d37148a1b7e86d3befb157641d59461da4a88828" },   /* cri-o:// */
		{ "pod-daemonset.json", "DaemonSet", "fluent-bit", "app",
		  "b7664f28405a63eb46d0f2f25ed3675da20adad0d315ce9c7f07b248db78d65f" },   /* docker:// */
		{ "pod-cronjob.json", "CronJob", "nightly-report", "app",
		  "f86d25b3031a91f30618f05a966b8193d0b8fef4efc959d35dfd1a73084d9bfe" },
		/* "-2" is a name, not a CronJob's schedule stamp */
		{ "pod-job.json", "Job", "db-migrate-2", "app",
		  "ed72838dccfdfb9fe1c4d6ebce3178e41f9d2263849f642a902ed523ee76d8a6" },
		{ "pod-ephemeral.json", NULL, NULL, "debugger-x7k2p",
		  "cd6fc1b8ae49fec407288ac54a16af85a09fdd6f2d09abe436280a167308d907" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_pod *p = parse_fixture(cases[i].file);
		const struct kube_container *c = container(p, cases[i].cname);

		if (cases[i].kind) {
			assert_string_equal(p->owner_kind, cases[i].kind);
			assert_string_equal(p->owner_name, cases[i].name);
		} else {
			assert_null(p->owner_kind);
			assert_null(p->owner_name);
		}
		assert_non_null(c);
		assert_string_equal(c->id, cases[i].id);
		kube_pod__free(p);
	}
}

static void test_pending_pod_has_no_ids(void **state)
{
	struct kube_pod *p = parse_fixture("pod-bare.json");

	(void)state;
	assert_string_equal(p->name, "debug-shell");
	assert_null(p->owner_kind);
	assert_int_equal(p->ncontainers, 1);
	assert_string_equal(p->containers[0].name, "app");
	assert_null(p->containers[0].id);
	kube_pod__free(p);
}

#define POD(meta, rest) \
	"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"uid\":\"u1\",\"name\":\"p\"" meta "}" rest "}"

static void test_owner_edge_cases(void **state)
{
	struct kube_pod *p;

	(void)state;
	/* a ReplicaSet without the hash label stays a ReplicaSet */
	p = parse_str(POD(",\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web-5d9f\","
			  "\"controller\":true}]", ""), 0);
	assert_string_equal(p->owner_kind, "ReplicaSet");
	assert_string_equal(p->owner_name, "web-5d9f");
	kube_pod__free(p);
	/* a hash label that is not the name's suffix neither */
	p = parse_str(POD(",\"labels\":{\"pod-template-hash\":\"abc\"},\"ownerReferences\":"
			  "[{\"kind\":\"ReplicaSet\",\"name\":\"web-5d9f\",\"controller\":true}]", ""), 0);
	assert_string_equal(p->owner_kind, "ReplicaSet");
	kube_pod__free(p);
	/* nor a name that is only the hash */
	p = parse_str(POD(",\"labels\":{\"pod-template-hash\":\"abc\"},\"ownerReferences\":"
			  "[{\"kind\":\"ReplicaSet\",\"name\":\"-abc\",\"controller\":true}]", ""), 0);
	assert_string_equal(p->owner_kind, "ReplicaSet");
	assert_string_equal(p->owner_name, "-abc");
	kube_pod__free(p);
	/* the controller wins over an earlier plain owner */
	p = parse_str(POD(",\"ownerReferences\":[{\"kind\":\"ConfigMap\",\"name\":\"cm\"},"
			  "{\"kind\":\"StatefulSet\",\"name\":\"db\",\"controller\":true}]", ""), 0);
	assert_string_equal(p->owner_kind, "StatefulSet");
	assert_string_equal(p->owner_name, "db");
	kube_pod__free(p);
	/* no controller: the direct owner */
	p = parse_str(POD(",\"ownerReferences\":[{\"kind\":\"Node\",\"name\":\"node-a\"}]", ""), 0);
	assert_string_equal(p->owner_kind, "Node");
	assert_string_equal(p->owner_name, "node-a");
	kube_pod__free(p);
	/* a Job named like a CronJob's but all digits, or with 7 digits */
	p = parse_str(POD(",\"ownerReferences\":[{\"kind\":\"Job\",\"name\":\"12345678\","
			  "\"controller\":true}]", ""), 0);
	assert_string_equal(p->owner_kind, "Job");
	kube_pod__free(p);
	p = parse_str(POD(",\"ownerReferences\":[{\"kind\":\"Job\",\"name\":\"x-1234567\","
			  "\"controller\":true}]", ""), 0);
	assert_string_equal(p->owner_kind, "Job");
	kube_pod__free(p);
	/* the old controller's 10-digit stamp */
	p = parse_str(POD(",\"ownerReferences\":[{\"kind\":\"Job\",\"name\":\"hello-1589403600\","
			  "\"controller\":true}]", ""), 0);
	assert_string_equal(p->owner_kind, "CronJob");
	assert_string_equal(p->owner_name, "hello");
	kube_pod__free(p);
	/* references of the wrong shape are no owner */
	p = parse_str(POD(",\"ownerReferences\":{\"kind\":\"Job\",\"name\":\"x\"}", ""), 0);
	assert_null(p->owner_kind);
	kube_pod__free(p);
	p = parse_str(POD(",\"ownerReferences\":[{\"kind\":7,\"name\":\"x\"},null,3]", ""), 0);
	assert_null(p->owner_kind);
	kube_pod__free(p);
}

static void test_container_ids(void **state)
{
	struct kube_pod *p;

	(void)state;
	p = parse_str(POD("", ",\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"},"
			  "{\"name\":\"c\"},{\"name\":\"d\"},{\"nope\":1},7]},"
			  "\"status\":{\"containerStatuses\":["
			  "{\"name\":\"b\",\"containerID\":\"cri-o://bbb\"},"
			  "{\"name\":\"a\",\"containerID\":\"docker://aaa\"},"
			  "{\"name\":\"c\",\"containerID\":\"\"},"
			  "{\"name\":\"d\",\"containerID\":\"containerd://\"},"
			  "{\"name\":\"zz\",\"containerID\":\"containerd://zzz\"}]}"), 0);
	assert_int_equal(p->ncontainers, 4);
	assert_string_equal(container(p, "a")->id, "aaa");
	assert_string_equal(container(p, "b")->id, "bbb");
	assert_null(container(p, "c")->id);
	assert_null(container(p, "d")->id);
	assert_null(container(p, "zz"));
	kube_pod__free(p);
}

static void test_missing_and_wrong_types(void **state)
{
	struct kube_pod *p;

	(void)state;
	/* uid and name are required, as strings, without NULs */
	parse_str("{\"metadata\":{\"name\":\"p\"}}", -EINVAL);
	parse_str("{\"metadata\":{\"uid\":\"u\"}}", -EINVAL);
	parse_str("{\"metadata\":{\"uid\":7,\"name\":\"p\"}}", -EINVAL);
	parse_str("{\"metadata\":{\"uid\":\"\",\"name\":\"p\"}}", -EINVAL);
	parse_str("{\"metadata\":{\"uid\":\"u\\u0000x\",\"name\":\"p\"}}", -EINVAL);
	parse_str("{\"metadata\":[]}", -EINVAL);
	parse_str("{}", -EINVAL);
	parse_str("[]", -EINVAL);
	parse_str("\"pod\"", -EINVAL);
	/* something else than a Pod */
	parse_str("{\"kind\":\"Service\",\"metadata\":{\"uid\":\"u\",\"name\":\"p\"}}", -EINVAL);
	parse_str("{\"kind\":1,\"metadata\":{\"uid\":\"u\",\"name\":\"p\"}}", -EINVAL);
	/* a list item carries no kind */
	p = parse_str("{\"metadata\":{\"uid\":\"u\",\"name\":\"p\"}}", 0);
	assert_null(p->namespace);
	assert_null(p->node);
	assert_null(p->owner_kind);
	assert_int_equal(p->nlabels, 0);
	assert_int_equal(p->ncontainers, 0);
	kube_pod__free(p);
	/* optional fields of the wrong type are left out, not the pod */
	p = parse_str(POD(",\"namespace\":5,\"labels\":[\"a\"],\"annotations\":\"x\"",
			  ",\"spec\":{\"nodeName\":{},\"containers\":{\"name\":\"a\"}},\"status\":[]"), 0);
	assert_null(p->namespace);
	assert_null(p->node);
	assert_int_equal(p->nlabels, 0);
	assert_int_equal(p->nannotations, 0);
	assert_int_equal(p->ncontainers, 0);
	kube_pod__free(p);
	/* label values that are not strings, or hide a NUL, are skipped */
	p = parse_str(POD(",\"labels\":{\"a\":\"1\",\"b\":2,\"c\":null,\"d\":\"x\\u0000y\",\"e\":\"\"}", ""), 0);
	assert_int_equal(p->nlabels, 2);
	assert_string_equal(label(p, "a"), "1");
	assert_string_equal(label(p, "e"), "");
	kube_pod__free(p);
}

static void test_bad_json(void **state)
{
	struct kube_pod *p = (struct kube_pod *)0x1;
	char *deep, *big;
	size_t n = 0;

	(void)state;
	parse_str("{\"metadata\":{\"uid\":\"u\",\"name\":\"p\"}", -EINVAL);    /* cut */
	parse_str("{\"metadata\":{\"uid\":\"u\",\"name\":\"p\"}} x", -EINVAL);  /* trailing */
	parse_str("{\"metadata\":{\"uid\":\"u\",\"name\":\"p\",}}", -EINVAL);   /* trailing comma */
	parse_str("{\"metadata\":{\"uid\":\"u\",\"name\":\"p\xff\"}}", -EINVAL); /* not UTF-8 */
	parse_str("", -EINVAL);
	assert_int_equal(kube__parse_pod(NULL, 10, &p), -EINVAL);
	assert_int_equal(kube__parse_pod("{}", 2, NULL), -EINVAL);
	/* trailing whitespace (a watch line's newline) is fine */
	p = parse_str("{\"metadata\":{\"uid\":\"u\",\"name\":\"p\"}}\r\n ", 0);
	kube_pod__free(p);

	/* nesting past the bound, even in a field we never read */
	deep = malloc(20000);
	assert_non_null(deep);
	n = (size_t)sprintf(deep, "{\"metadata\":{\"uid\":\"u\",\"name\":\"p\"},\"x\":");
	for (int i = 0; i < 5000; i++)
		deep[n++] = '[';
	for (int i = 0; i < 5000; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	parse_str(deep, -EINVAL);
	free(deep);

	/* more than 16 MiB: refused before parsing */
	n = (16u << 20) + 64;
	big = malloc(n + 1);
	assert_non_null(big);
	memset(big, ' ', n);
	{
		static const char doc[] = "{\"metadata\":{\"uid\":\"u\",\"name\":\"p\"}}";

		memcpy(big, doc, sizeof(doc) - 1);
	}
	big[n] = '\0';
	assert_int_equal(kube__parse_pod(big, n, &p), -EINVAL);
	/* the same document inside the bound parses */
	assert_int_equal(kube__parse_pod(big, 1u << 20, &p), 0);
	kube_pod__free(p);
	free(big);
}

static void test_many_labels_bounded(void **state)
{
	size_t cap = 2000 * 32 + 256, n;
	char *json = malloc(cap);
	struct kube_pod *p;

	(void)state;
	assert_non_null(json);
	n = (size_t)sprintf(json, "{\"metadata\":{\"uid\":\"u\",\"name\":\"p\",\"labels\":{");
	for (int i = 0; i < 2000; i++)
		n += (size_t)sprintf(json + n, "%s\"k%d\":\"v\"", i ? "," : "", i);
	sprintf(json + n, "}}}");
	p = parse_str(json, 0);
	assert_true(p->nlabels > 0 && p->nlabels <= 512);
	assert_string_equal(p->labels[0].key, "k0");
	kube_pod__free(p);
	free(json);
}

/* Labels and annotations share a byte budget per pod, labels first, so a
 * pod full of 4 KiB annotations costs the store 32 KiB at most. */
static void test_kv_byte_budget(void **state)
{
	size_t cap = 64 * 4200 + 1024, n;
	char *json = malloc(cap), val[4001];
	struct kube_pod *p;
	size_t bytes = 0;

	(void)state;
	assert_non_null(json);
	memset(val, 'v', 4000);
	val[4000] = '\0';
	n = (size_t)sprintf(json, "{\"metadata\":{\"uid\":\"u\",\"name\":\"p\","
			    "\"labels\":{\"app\":\"web\"},\"annotations\":{");
	for (int i = 0; i < 64; i++)
		n += (size_t)sprintf(json + n, "%s\"a%02d\":\"%s\"", i ? "," : "", i, val);
	sprintf(json + n, "}}}");
	p = parse_str(json, 0);
	assert_int_equal(p->nlabels, 1);
	assert_true(p->nannotations >= 7 && p->nannotations < 64);
	for (size_t i = 0; i < p->nannotations; i++)
		bytes += strlen(p->annotations[i].key) + strlen(p->annotations[i].value);
	assert_true(bytes <= 32 * 1024);
	kube_pod__free(p);
	free(json);
}

static void test_watch_events(void **state)
{
	static const enum kube_event_type want[] = {
		KUBE_EV_ADDED, KUBE_EV_MODIFIED, KUBE_EV_DELETED, KUBE_EV_BOOKMARK, KUBE_EV_ERROR,
	};
	size_t len, i = 0;
	char *raw = support__read_file(FIX "watch-events.jsonl", &len), *text, *line, *save = NULL;

	(void)state;
	assert_non_null(raw);
	/* the file's bytes, not a string */
	text = strndup(raw, len);
	assert_non_null(text);
	free(raw);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		struct kube_event ev;

		assert_true(i < 5);
		assert_int_equal(kube__parse_event(line, strlen(line), &ev), 0);
		assert_int_equal(ev.type, want[i]);
		switch (ev.type) {
		case KUBE_EV_ADDED:
			assert_string_equal(ev.pod->name, "late");
			assert_string_equal(ev.resource_version, "108");
			assert_null(label(ev.pod, "tier"));
			break;
		case KUBE_EV_MODIFIED:
			assert_string_equal(label(ev.pod, "tier"), "web");
			assert_string_equal(ev.resource_version, "109");
			break;
		case KUBE_EV_DELETED:
			assert_string_equal(ev.pod->name, "late");
			break;
		case KUBE_EV_BOOKMARK:
			assert_null(ev.pod);
			assert_string_equal(ev.resource_version, "110");
			break;
		case KUBE_EV_ERROR:
			assert_int_equal(ev.code, 410);
			assert_non_null(strstr(ev.message, "too old resource version"));
			break;
		}
		kube_event__clear(&ev);
	}
	assert_int_equal(i, 5);
	free(text);
}

static void test_bad_events(void **state)
{
	static const char *const bad[] = {
		"{\"type\":\"ADDED\"}",
		"{\"type\":\"SYNC\",\"object\":{\"metadata\":{\"uid\":\"u\",\"name\":\"p\"}}}",
		"{\"type\":7,\"object\":{}}",
		"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{}}}",
		"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}",
		"{\"type\":\"ERROR\",\"object\":[]}",
		"[]",
		"",
	};
	struct kube_event ev;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kube__parse_event(bad[i], strlen(bad[i]), &ev), -EINVAL);
		assert_null(ev.pod);
		assert_null(ev.resource_version);
	}
	/* an ERROR without code or message is still an ERROR */
	{
		static const char err[] = "{\"type\":\"ERROR\",\"object\":{}}";

		assert_int_equal(kube__parse_event(err, sizeof(err) - 1, &ev), 0);
	}
	assert_int_equal(ev.type, KUBE_EV_ERROR);
	assert_int_equal(ev.code, 0);
	kube_event__clear(&ev);
}

static void test_pod_list(void **state)
{
	struct kube_list l;
	size_t len;
	char *json = support__read_file(FIX "podlist-page1.json", &len);
	static const char *const not_lists[] = {
		"{}",
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"code\":403}",
		"{\"kind\":\"PodList\",\"items\":{}}",
		"{\"kind\":\"PodList\"}",
		"{\"kind\":7,\"items\":[]}",
		"[]",
	};

	(void)state;
	assert_non_null(json);
	assert_int_equal(kube__parse_list(json, len, 1000, &l), 0);
	assert_int_equal(l.npods, 3);
	assert_int_equal(l.dropped, 0);
	assert_int_equal(l.invalid, 0);
	assert_string_equal(l.resource_version, "107");
	assert_non_null(l.cont);
	/* items are sorted by namespace/name, as etcd keys are */
	assert_string_equal(l.pods[0]->namespace, "batch");
	kube_list__clear(&l);
	assert_null(l.pods);

	assert_int_equal(kube__parse_list(json, len, 2, &l), 0);
	assert_int_equal(l.npods, 2);
	assert_int_equal(l.dropped, 1);
	kube_list__clear(&l);
	free(json);

	json = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"9\"},"
	       "\"items\":[{\"metadata\":{\"uid\":\"a\",\"name\":\"a\"}},{\"metadata\":{}},5,"
	       "{\"metadata\":{\"uid\":\"b\",\"name\":\"b\"}}]}";
	assert_int_equal(kube__parse_list(json, strlen(json), 1000, &l), 0);
	assert_int_equal(l.npods, 2);
	assert_int_equal(l.invalid, 2);
	assert_string_equal(l.pods[1]->uid, "b");
	assert_null(l.cont);
	kube_list__clear(&l);

	json = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":null}";
	assert_int_equal(kube__parse_list(json, strlen(json), 1000, &l), 0);
	assert_int_equal(l.npods, 0);
	assert_null(l.resource_version);
	kube_list__clear(&l);

	for (size_t i = 0; i < sizeof(not_lists) / sizeof(not_lists[0]); i++)
		assert_int_equal(kube__parse_list(not_lists[i], strlen(not_lists[i]), 10, &l), -EINVAL);
}

static void test_new_rejects_bad_opts(void **state)
{
	struct kube_opts o = { 0 };

	(void)state;
	errno = 0;
	assert_null(kube__new(NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(kube__new(&o));
	assert_int_equal(errno, EINVAL);
	o.node_name = "";
	assert_null(kube__new(&o));
	o.node_name = "node-a";
	o.api_url = "ftp://127.0.0.1";
	errno = 0;
	assert_null(kube__new(&o));
	assert_int_equal(errno, EINVAL);
	o.api_url = NULL;
	o.kubelet_url = "127.0.0.1:10250";
	assert_null(kube__new(&o));
	kube__free(NULL);
}

static void test_unreachable_answers_enoent(void **state)
{
	struct kube_opts o = { .node_name = "node-a", .api_url = "http://127.0.0.1:1",
			       .token_file = "/nonexistent/token" };
	struct kube_stats st;
	struct kube_pod *p = (struct kube_pod *)0x1;
	struct kube *k = kube__new(&o);

	(void)state;
	assert_non_null(k);
	assert_int_equal(kube__lookup(k, "u1", NULL, &p), -ENOENT);
	assert_null(p);
	assert_int_equal(kube__lookup(k, NULL, "abc", &p), -ENOENT);
	assert_int_equal(kube__lookup(k, NULL, NULL, &p), -EINVAL);
	kube__stats(k, &st);
	assert_false(st.synced);
	assert_int_equal(st.pods, 0);
	assert_int_equal(kube__generation(k), 0);
	/* free interrupts the retry loop */
	kube__free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deployment_pod),
		cmocka_unit_test(test_owner_kinds),
		cmocka_unit_test(test_pending_pod_has_no_ids),
		cmocka_unit_test(test_owner_edge_cases),
		cmocka_unit_test(test_container_ids),
		cmocka_unit_test(test_missing_and_wrong_types),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_many_labels_bounded),
		cmocka_unit_test(test_kv_byte_budget),
		cmocka_unit_test(test_watch_events),
		cmocka_unit_test(test_bad_events),
		cmocka_unit_test(test_pod_list),
		cmocka_unit_test(test_new_rejects_bad_opts),
		cmocka_unit_test(test_unreachable_answers_enoent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
