/* Service names from what the node shows of a process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "identity/workload.h"
#include "tests/unit/support.h"

static void expect_unit(const char *cgroup, const char *want)
{
	char buf[64] = "untouched";

	if (!want) {
		assert_int_equal(workload__unit_from_cgroup(cgroup, buf, sizeof(buf)), 0);
		return;
	}
	assert_int_equal(workload__unit_from_cgroup(cgroup, buf, sizeof(buf)), 1);
	assert_string_equal(buf, want);
}

static void test_workload_units(void **state)
{
	(void)state;
	expect_unit("0::/system.slice/nginx.service\n", "nginx");
	expect_unit("0::/system.slice/system-getty.slice/getty@tty1.service\n", "getty");
	/* A user unit, under the user manager's own service. */
	expect_unit("0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
		    "syncthing.service\n", "syncthing");
	expect_unit("0::/user.slice/user-1000.slice/user@1000.service/init.scope\n", NULL);
	expect_unit("0::/user.slice/user-0.slice/session-3.scope\n", NULL);
	/* Containers are scopes, not services. */
	expect_unit("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234."
		    "slice/cri-containerd-abcdef.scope\n", NULL);
	/* cgroup v1 with a name=systemd hierarchy. */
	expect_unit("12:memory:/system.slice/cron.service\n"
		    "1:name=systemd:/system.slice/cron.service\n", "cron");
	expect_unit("", NULL);
	expect_unit("0::/\n", NULL);
	expect_unit("0::/system.slice/.service\n", NULL);
	expect_unit("garbage without newline", NULL);
}

static void test_workload_service_name(void **state)
{
	char *dir = support__tmpdir("workload"), *proc = support__path(dir, "proc");
	char *p41 = NULL, *p42 = NULL, *p43 = NULL, *p44 = NULL, *path = NULL, buf[64];

	(void)state;
	assert_non_null(dir);
	assert_int_equal(support__run("mkdir -p %s/41 %s/42 %s/43 %s/44", proc, proc, proc, proc),
			 0);
	p41 = support__path(proc, "41");
	p42 = support__path(proc, "42");
	p43 = support__path(proc, "43");
	p44 = support__path(proc, "44");
	/* In a service: the unit wins over the executable. */
	path = support__path(p41, "cgroup");
	assert_int_equal(support__write_text(path, "0::/system.slice/checkout-api.service\n"), 0);
	free(path);
	path = support__path(p41, "exe");
	assert_int_equal(symlink("/usr/bin/java", path), 0);
	free(path);
	workload__service_name(proc, 41, "java", buf, sizeof(buf));
	assert_string_equal(buf, "checkout-api");
	/* Not in a service: the executable, even once deleted. */
	path = support__path(p42, "cgroup");
	assert_int_equal(support__write_text(path, "0::/user.slice/user-0.slice/session-1.scope\n"),
			 0);
	free(path);
	path = support__path(p42, "exe");
	assert_int_equal(symlink("/opt/app/bin/worker (deleted)", path), 0);
	free(path);
	workload__service_name(proc, 42, "wrk", buf, sizeof(buf));
	assert_string_equal(buf, "worker");
	/* A kernel thread: no executable, PF_KTHREAD in its flags. */
	path = support__path(p43, "stat");
	assert_int_equal(support__write_text(path, "43 (kworker/0:1-events (x)) I 2 0 0 0 -1 "
					     "69238880 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n"), 0);
	free(path);
	workload__service_name(proc, 43, "kworker/0:1", buf, sizeof(buf));
	assert_string_equal(buf, "kernel");
	/* Gone: what the sample said. */
	workload__service_name(proc, 44, "short-lived", buf, sizeof(buf));
	assert_string_equal(buf, "short-lived");
	workload__service_name(proc, 45, "", buf, sizeof(buf));
	assert_string_equal(buf, "unknown");
	free(p41);
	free(p42);
	free(p43);
	free(p44);
	free(proc);
	support__rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workload_units),
		cmocka_unit_test(test_workload_service_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
