/* The pod store of the Kubernetes client: upserts, deletes with their grace
 * period, full relists, the bound on pods, both uid spellings, container
 * ids, and the generation that moves only when what is kept changes. */
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
#include "identity/kube_store.h"

static struct kube_pod *pod(const char *uid, const char *name, const char *cid)
{
	char json[512];
	struct kube_pod *p;

	snprintf(json, sizeof(json),
		 "{\"metadata\":{\"uid\":\"%s\",\"name\":\"%s\",\"namespace\":\"ns\"},"
		 "\"spec\":{\"containers\":[{\"name\":\"c\"}]},"
		 "\"status\":{\"containerStatuses\":[{\"name\":\"c\",\"containerID\":\"containerd://%s\"}]}}",
		 uid, name, cid);
	assert_int_equal(kube__parse_pod(json, strlen(json), &p), 0);
	return p;
}

static const char *name_of(struct kube_store *s, const char *uid, const char *cid)
{
	static char name[64];
	struct kube_pod *p;

	if (kube_store__lookup(s, uid, cid, &p))
		return NULL;
	snprintf(name, sizeof(name), "%s", p->name);
	kube_pod__free(p);
	return name;
}

static void test_upsert_lookup(void **state)
{
	struct kube_store *s = kube_store__new(10, 1000);
	uint64_t g;

	(void)state;
	assert_non_null(s);
	assert_int_equal(kube_store__upsert(s, pod("aa-bb", "a", "c1")), 0);
	assert_string_equal(name_of(s, "aa-bb", NULL), "a");
	assert_string_equal(name_of(s, "AA_BB", NULL), "a");   /* systemd's spelling */
	assert_string_equal(name_of(s, NULL, "c1"), "a");
	assert_string_equal(name_of(s, "unknown", "c1"), "a");
	assert_null(name_of(s, "unknown", NULL));
	assert_int_equal(kube_store__lookup(s, NULL, NULL, &(struct kube_pod *){ NULL }), -EINVAL);
	assert_int_equal(kube_store__live(s), 1);
	g = kube_store__generation(s);
	/* the same pod again (a status-only update): no change */
	assert_int_equal(kube_store__upsert(s, pod("aa-bb", "a", "c1")), 0);
	assert_int_equal(kube_store__generation(s), g);
	/* a container restarted: its new id moves the generation and the index */
	assert_int_equal(kube_store__upsert(s, pod("aa-bb", "a", "c2")), 0);
	assert_true(kube_store__generation(s) > g);
	assert_null(name_of(s, NULL, "c1"));
	assert_string_equal(name_of(s, NULL, "c2"), "a");
	kube_store__free(s);
}

static void test_delete_grace(void **state)
{
	struct kube_store *s = kube_store__new(10, 1000);

	(void)state;
	assert_int_equal(kube_store__upsert(s, pod("u1", "a", "c1")), 0);
	kube_store__delete(s, "u1", 5000);
	assert_int_equal(kube_store__live(s), 0);
	/* still answered within the grace period */
	kube_store__purge(s, 5999);
	assert_string_equal(name_of(s, "u1", NULL), "a");
	kube_store__purge(s, 6000);
	assert_null(name_of(s, "u1", NULL));
	assert_null(name_of(s, NULL, "c1"));
	kube_store__free(s);
}

static void test_replace(void **state)
{
	struct kube_store *s = kube_store__new(10, 1000);
	struct kube_pod *list[2];
	size_t full;

	(void)state;
	assert_int_equal(kube_store__upsert(s, pod("u1", "a", "c1")), 0);
	assert_int_equal(kube_store__upsert(s, pod("u2", "b", "c2")), 0);
	list[0] = pod("u2", "b", "c2");
	list[1] = pod("u3", "c", "c3");
	assert_int_equal(kube_store__replace(s, list, 2, 100, &full), 0);
	assert_null(list[0]);
	assert_null(list[1]);
	assert_int_equal(full, 0);
	/* u1 is gone from the list: deleted, kept for the grace period */
	assert_int_equal(kube_store__live(s), 2);
	assert_string_equal(name_of(s, "u1", NULL), "a");
	kube_store__purge(s, 1100);
	assert_null(name_of(s, "u1", NULL));
	assert_string_equal(name_of(s, "u3", NULL), "c");
	kube_store__free(s);
}

static void test_bound(void **state)
{
	struct kube_store *s = kube_store__new(2, 1000);
	struct kube_pod *list[3];
	size_t full;

	(void)state;
	assert_int_equal(kube_store__upsert(s, pod("u1", "a", "c1")), 0);
	assert_int_equal(kube_store__upsert(s, pod("u2", "b", "c2")), 0);
	assert_int_equal(kube_store__upsert(s, pod("u3", "c", "c3")), -ENOSPC);
	/* a deleted pod makes room for a new one */
	kube_store__delete(s, "u1", 10);
	assert_int_equal(kube_store__upsert(s, pod("u3", "c", "c3")), 0);
	assert_null(name_of(s, "u1", NULL));
	list[0] = pod("u2", "b", "c2");
	list[1] = pod("u3", "c", "c3");
	list[2] = pod("u4", "d", "c4");
	assert_int_equal(kube_store__replace(s, list, 3, 20, &full), 1);
	assert_int_equal(full, 1);
	assert_int_equal(kube_store__live(s), 2);
	kube_store__free(s);
	kube_store__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upsert_lookup),
		cmocka_unit_test(test_delete_grace),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_bound),
	};

	return cmocka_run_group_tests_name("kube_store", tests, NULL, NULL) ? 1 : 0;
}
