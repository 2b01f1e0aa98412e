/* check: the verdicts on fixture /proc and /sys trees (old kernel, no BTF,
 * lockdown, a container's pid namespace), the kernel version parser, and
 * both output formats. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/check.h"
#include "tests/unit/support.h"

static void test_parse_kernel(void **state)
{
	unsigned a = 0, b = 0;

	(void)state;
	assert_int_equal(check__parse_kernel("6.1.0-18-amd64", &a, &b), 0);
	assert_int_equal(a, 6);
	assert_int_equal(b, 1);
	assert_int_equal(check__parse_kernel("5.17", &a, &b), 0);
	assert_int_equal(b, 17);
	assert_int_equal(check__parse_kernel("4.18.0-553.el8_10.x86_64", &a, &b), 0);
	assert_int_equal(a, 4);
	assert_int_equal(check__parse_kernel("", &a, &b), -EINVAL);
	assert_int_equal(check__parse_kernel("6", &a, &b), -EINVAL);
	assert_int_equal(check__parse_kernel("6.", &a, &b), -EINVAL);
	assert_int_equal(check__parse_kernel("v6.1", &a, &b), -EINVAL);
	assert_int_equal(check__parse_kernel("99999999999999999999.1", &a, &b), -EINVAL);
	assert_int_equal(check__parse_kernel(NULL, &a, &b), -EINVAL);
}

struct tree {
	char *dir, proc[4096], sys[4096];
};

static int make_tree(struct tree *t, const char *release, const char *lockdown, bool btf,
		     const char *pidns, const char *paranoid)
{
	char path[8192];

	t->dir = support__tmpdir("check");
	if (!t->dir)
		return -1;
	snprintf(t->proc, sizeof(t->proc), "%s/proc", t->dir);
	snprintf(t->sys, sizeof(t->sys), "%s/sys", t->dir);
	if (support__run("mkdir -p %s/sys/kernel %s/1/ns %s/kernel/btf %s/kernel/security "
			 "%s/fs/cgroup", t->proc, t->proc, t->sys, t->sys, t->sys))
		return -1;
	snprintf(path, sizeof(path), "%s/sys/kernel/osrelease", t->proc);
	if (support__write_text(path, release))
		return -1;
	snprintf(path, sizeof(path), "%s/sys/kernel/perf_event_paranoid", t->proc);
	if (support__write_text(path, paranoid))
		return -1;
	if (lockdown) {
		snprintf(path, sizeof(path), "%s/kernel/security/lockdown", t->sys);
		if (support__write_text(path, lockdown))
			return -1;
	}
	if (btf) {
		snprintf(path, sizeof(path), "%s/kernel/btf/vmlinux", t->sys);
		if (support__write_text(path, "BTF"))
			return -1;
	}
	snprintf(path, sizeof(path), "%s/1/ns/pid", t->proc);
	return symlink(pidns, path);
}

static void free_tree(struct tree *t)
{
	support__rmtree(t->dir);
	free(t->dir);
}

static const struct check_item *must_find(const struct check_report *r, const char *name)
{
	const struct check_item *it = check__find(r, name);

	if (!it)
		fail_msg("no check named %s", name);
	return it;
}

static void test_good_fixture(void **state)
{
	struct check_report *r;
	struct tree t;

	(void)state;
	assert_int_equal(make_tree(&t, "6.1.0-18-amd64\n", "[none] integrity confidentiality\n",
				   true, "pid:[4026531836]", "2\n"), 0);
	r = check__run(&(struct check_opts){ .proc_root = t.proc, .sys_root = t.sys });
	assert_non_null(r);
	assert_int_equal(must_find(r, "kernel")->status, CHECK_OK);
	assert_non_null(strstr(must_find(r, "kernel")->detail, "6.1.0-18-amd64"));
	assert_int_equal(must_find(r, "btf")->status, CHECK_OK);
	assert_int_equal(must_find(r, "lockdown")->status, CHECK_OK);
	assert_string_equal(must_find(r, "lockdown")->detail, "none");
	assert_int_equal(must_find(r, "host-pid")->status, CHECK_OK);
	/* Not asked for: no load test. */
	assert_null(check__find(r, "bpf-load"));
	/* No config: nothing about destinations. */
	for (size_t i = 0; i < check__count(r); i++)
		assert_int_not_equal(strncmp(check__item(r, i)->name, "destination", 11), 0);
	assert_null(check__item(r, check__count(r)));
	check__free(r);
	free_tree(&t);
}

static void test_bad_fixture(void **state)
{
	const struct check_item *it;
	struct check_report *r;
	struct tree t;

	(void)state;
	assert_int_equal(make_tree(&t, "5.10.0-28-amd64\n", "none integrity [confidentiality]\n",
				   false, "pid:[4026532517]", "3\n"), 0);
	r = check__run(&(struct check_opts){ .proc_root = t.proc, .sys_root = t.sys });
	assert_non_null(r);

	/* Older than bpf_find_vma: a warning (backports exist), naming it. */
	it = must_find(r, "kernel");
	assert_int_equal(it->status, CHECK_WARN);
	assert_non_null(strstr(it->detail, "5.17"));
	assert_non_null(strstr(it->detail, "bpf_find_vma"));

	it = must_find(r, "btf");
	assert_int_equal(it->status, CHECK_FAIL);
	assert_non_null(strstr(it->detail, "/kernel/btf/vmlinux"));
	assert_non_null(strstr(it->fix, "CONFIG_DEBUG_INFO_BTF=y"));

	it = must_find(r, "lockdown");
	assert_int_equal(it->status, CHECK_FAIL);
	assert_non_null(strstr(it->detail, "confidentiality"));
	assert_non_null(strstr(it->fix, "lockdown="));

	it = must_find(r, "host-pid");
	assert_int_equal(it->status, CHECK_FAIL);
	assert_non_null(strstr(it->detail, "pid:[4026532517]"));
	assert_non_null(strstr(it->fix, "hostPID: true"));

	assert_false(check__ok(r));
	check__free(r);
	free_tree(&t);
}

static void test_outputs(void **state)
{
	struct json_object *doc, *checks, *ok, *first, *v;
	char *buf = NULL;
	size_t len = 0;
	struct check_report *r;
	struct tree t;
	FILE *f;

	(void)state;
	assert_int_equal(make_tree(&t, "6.1.0\n", NULL, false, "pid:[4026531836]", "2\n"), 0);
	r = check__run(&(struct check_opts){ .proc_root = t.proc, .sys_root = t.sys });
	assert_non_null(r);

	f = open_memstream(&buf, &len);
	check__print_text(r, f);
	fclose(f);
	/* One line per check, status first, then "name: detail: fix". */
	assert_non_null(strstr(buf, "OK   kernel: 6.1.0 ("));
	assert_non_null(strstr(buf, "\nFAIL btf: "));
	assert_non_null(strstr(buf, ": boot a kernel built with CONFIG_DEBUG_INFO_BTF=y"));
	assert_non_null(strstr(buf, "\nOK   lockdown: no lockdown LSM\n"));
	{
		size_t lines = 0;

		for (char *p = buf; *p; p++)
			lines += *p == '\n';
		assert_int_equal(lines, check__count(r));
	}
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(check__print_json(r, f), 0);
	fclose(f);
	doc = json_tokener_parse(buf);
	assert_non_null(doc);
	assert_true(json_object_object_get_ex(doc, "ok", &ok));
	assert_false(json_object_get_boolean(ok));
	assert_true(json_object_object_get_ex(doc, "checks", &checks));
	assert_int_equal(json_object_array_length(checks), check__count(r));
	first = json_object_array_get_idx(checks, 0);
	assert_true(json_object_object_get_ex(first, "name", &v));
	assert_string_equal(json_object_get_string(v), "kernel");
	assert_true(json_object_object_get_ex(first, "status", &v));
	assert_string_equal(json_object_get_string(v), "ok");
	assert_true(json_object_object_get_ex(first, "fix", &v));
	assert_string_equal(json_object_get_string(v), "");
	json_object_put(doc);
	free(buf);
	check__free(r);
	free_tree(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_kernel),
		cmocka_unit_test(test_good_fixture),
		cmocka_unit_test(test_bad_fixture),
		cmocka_unit_test(test_outputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
