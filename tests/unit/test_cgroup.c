/* Container, pod and unit from cgroup paths as runtimes and kubelets write
 * them: a table of real-world layouts (kubelet systemd and cgroupfs
 * drivers, containerd, CRI-O, Docker, Podman, kind, minikube, ECS, systemd
 * units), and garbage that must say "nothing" without crashing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "identity/cgroup.h"

/* Ids made up in the runtimes' shape: 64 lowercase hex. */
#define ID_A "4f1e5b0c2d3a6978" "87a6b5c4d3e2f1a0" "b9c8d7e6f5a4b3c2" "d1e0f9a8b7c6d5e4"
#define ID_B "0badc0ffee15900d" "1234567890abcdef" "fedcba0987654321" "00112233445566ff"
#define UID_D "7d4424e6-bb13-42f4-a47a-45a4828bf54d"
#define UID_U "7d4424e6_bb13_42f4_a47a_45a4828bf54d"
#define STATIC_UID "8daa50c3a64c9ff60bb9eab7b44b56fd"

struct row {
	const char *path;
	enum cgroup_runtime runtime;
	const char *id;     /* "" for none */
	const char *uid;
	const char *unit;
	bool user;
};

static const struct row rows[] = {
	/* kubelet systemd driver + containerd, cgroup v2 */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_U
	  ".slice/cri-containerd-" ID_A ".scope", CGROUP_RUNTIME_CONTAINERD, ID_A, UID_D, "", false },
	/* Guaranteed QoS has no QoS slice */
	{ "/kubepods.slice/kubepods-pod" UID_U ".slice/cri-containerd-" ID_A ".scope",
	  CGROUP_RUNTIME_CONTAINERD, ID_A, UID_D, "", false },
	/* CRI-O */
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_U
	  ".slice/crio-" ID_A ".scope", CGROUP_RUNTIME_CRIO, ID_A, UID_D, "", false },
	/* CRI-O's conmon in the pod slice: the pod, not a container */
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_U
	  ".slice/crio-conmon-" ID_A ".scope", CGROUP_RUNTIME_NONE, "", UID_D, "", false },
	/* conmon in system.slice (conmon_cgroup = system.slice) */
	{ "/system.slice/crio-conmon-" ID_A ".scope", CGROUP_RUNTIME_NONE, "", "", "", false },
	/* dockershim / cri-dockerd with the systemd driver */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_U
	  ".slice/docker-" ID_A ".scope", CGROUP_RUNTIME_DOCKER, ID_A, UID_D, "", false },
	/* kubelet cgroupfs driver: the runtime is not in the path */
	{ "/kubepods/burstable/pod" UID_D "/" ID_A, CGROUP_RUNTIME_NONE, ID_A, UID_D, "", false },
	{ "/kubepods/pod" UID_D "/" ID_A, CGROUP_RUNTIME_NONE, ID_A, UID_D, "", false },
	{ "/kubepods/besteffort/pod" UID_D "/crio-" ID_A, CGROUP_RUNTIME_CRIO, ID_A, UID_D, "",
	  false },
	/* trailing slash */
	{ "/kubepods/burstable/pod" UID_D "/" ID_A "/", CGROUP_RUNTIME_NONE, ID_A, UID_D, "",
	  false },
	/* Docker, cgroupfs and systemd drivers */
	{ "/docker/" ID_A, CGROUP_RUNTIME_DOCKER, ID_A, "", "", false },
	{ "/system.slice/docker-" ID_A ".scope", CGROUP_RUNTIME_DOCKER, ID_A, "", "", false },
	/* Podman, root and rootless (crun's "container" sub-cgroup) */
	{ "/machine.slice/libpod-" ID_A ".scope", CGROUP_RUNTIME_PODMAN, ID_A, "", "", false },
	{ "/machine.slice/libpod-conmon-" ID_A ".scope", CGROUP_RUNTIME_NONE, "", "", "", false },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_A
	  ".scope/container", CGROUP_RUNTIME_PODMAN, ID_A, "", "", false },
	/* kind: the kubelet's slices are prefixed with kubelet- */
	{ "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	  "kubelet-kubepods-besteffort-pod" UID_U ".slice/cri-containerd-" ID_A ".scope",
	  CGROUP_RUNTIME_CONTAINERD, ID_A, UID_D, "", false },
	/* minikube: CRI-O inside a Docker node container; the innermost wins */
	{ "/docker/" ID_B "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
	  UID_U ".slice/crio-" ID_A ".scope", CGROUP_RUNTIME_CRIO, ID_A, UID_D, "", false },
	/* containerd's systemd cgroupsPath verbatim on cgroup v1 */
	{ "/system.slice/containerd.service/kubepods-besteffort-pod" UID_U
	  ".slice:cri-containerd:" ID_A, CGROUP_RUNTIME_CONTAINERD, ID_A, UID_D, "", false },
	/* pods under the runtime's own service */
	{ "/system.slice/containerd.service/kubepods.slice/kubepods-burstable.slice/"
	  "kubepods-burstable-pod" UID_U ".slice/cri-containerd-" ID_A ".scope",
	  CGROUP_RUNTIME_CONTAINERD, ID_A, UID_D, "", false },
	/* docker-in-docker */
	{ "/docker/" ID_B "/docker/" ID_A, CGROUP_RUNTIME_DOCKER, ID_A, "", "", false },
	/* Amazon ECS on Docker: /ecs/<task id>/<container id> */
	{ "/ecs/5a0d5ab5b5c04c0c9a2f8e0c6a1b2c3d/" ID_A, CGROUP_RUNTIME_DOCKER, ID_A, "", "",
	  false },
	/* static pod: the uid is the manifest hash */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" STATIC_UID
	  ".slice/cri-containerd-" ID_A ".scope", CGROUP_RUNTIME_CONTAINERD, ID_A, STATIC_UID, "",
	  false },
	/* a process in the pod cgroup itself */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_U ".slice",
	  CGROUP_RUNTIME_NONE, "", UID_D, "", false },
	/* bare metal */
	{ "/system.slice/nginx.service", CGROUP_RUNTIME_NONE, "", "", "nginx.service", false },
	{ "/system.slice/system-getty.slice/getty@tty1.service", CGROUP_RUNTIME_NONE, "", "",
	  "getty@tty1.service", false },
	{ "/user.slice/user-1000.slice/user@1000.service/app.slice/bar.service",
	  CGROUP_RUNTIME_NONE, "", "", "bar.service", true },
	{ "/user.slice/user-1000.slice/user@1000.service/init.scope", CGROUP_RUNTIME_NONE, "", "",
	  "", false },
	{ "/user.slice/user-0.slice/session-3.scope", CGROUP_RUNTIME_NONE, "", "", "", false },
	{ "/system.slice/containerd.service", CGROUP_RUNTIME_NONE, "", "", "containerd.service",
	  false },
	/* a unit inside a container (systemd as the container's init) */
	{ "/system.slice/docker-" ID_A ".scope/system.slice/nginx.service",
	  CGROUP_RUNTIME_DOCKER, ID_A, "", "nginx.service", false },
	/* garbage */
	{ "", CGROUP_RUNTIME_NONE, "", "", "", false },
	{ "/", CGROUP_RUNTIME_NONE, "", "", "", false },
	{ "/////", CGROUP_RUNTIME_NONE, "", "", "", false },
	{ "/.service", CGROUP_RUNTIME_NONE, "", "", "", false },
	{ "/system.slice/docker-" "4f1e5b0c2d3a697887a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e"
	  ".scope", CGROUP_RUNTIME_NONE, "", "", "", false },                 /* 63 hex */
	{ "/system.slice/docker-" ID_A "0.scope", CGROUP_RUNTIME_NONE, "", "", "", false },
	{ "/docker/4F1E5B0C2D3A697887A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B7C6D5E4",
	  CGROUP_RUNTIME_NONE, "", "", "", false },                            /* upper case */
	{ "/kubepods/burstable/podnot-a-uid/" ID_A, CGROUP_RUNTIME_NONE, ID_A, "", "", false },
	{ "/foo/pod" UID_D, CGROUP_RUNTIME_NONE, "", "", "", false },        /* not under kubepods */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod.slice",
	  CGROUP_RUNTIME_NONE, "", "", "", false },
	{ "/a:b:c/x:cri-containerd:nothex", CGROUP_RUNTIME_NONE, "", "", "", false },
	{ ":::", CGROUP_RUNTIME_NONE, "", "", "", false },
	{ "/crio-" ID_A ".scope.scope", CGROUP_RUNTIME_NONE, "", "", "", false },
	{ "/kubepods.slice/kubepods-pod" UID_U "X.slice/cri-containerd-" ID_A ".scope",
	  CGROUP_RUNTIME_CONTAINERD, ID_A, "", "", false },
};

static void test_cgroup_table(void **state)
{
	(void)state;
	assert_true(sizeof(rows) / sizeof(rows[0]) >= 25);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cgroup_info ci;

		memset(&ci, 0x5a, sizeof(ci));
		assert_int_equal(cgroup__parse_path(rows[i].path, &ci), 0);
		if (strcmp(ci.container_id, rows[i].id) || strcmp(ci.pod_uid, rows[i].uid) ||
		    strcmp(ci.systemd_unit, rows[i].unit) || ci.runtime != rows[i].runtime ||
		    ci.user_unit != rows[i].user)
			fail_msg("row %zu %s: got id '%s' uid '%s' unit '%s' runtime %d user %d", i,
				 rows[i].path, ci.container_id, ci.pod_uid, ci.systemd_unit,
				 (int)ci.runtime, (int)ci.user_unit);
		assert_string_equal(ci.path, rows[i].path);
	}
}

static void test_cgroup_long_path(void **state)
{
	size_t n = 3 * CGROUP_PATH_MAX;
	char *p = malloc(n + 200);
	struct cgroup_info ci;

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < n; i += 2)
		memcpy(p + i, "/a", 2);
	/* The container is past what is kept of the path, and still found. */
	snprintf(p + n, 200, "/docker-%s.scope", ID_A);
	assert_int_equal(cgroup__parse_path(p, &ci), 0);
	assert_string_equal(ci.container_id, ID_A);
	assert_int_equal(strlen(ci.path), CGROUP_PATH_MAX - 1);
	assert_int_equal(cgroup__parse_path(NULL, &ci), 0);
	assert_string_equal(ci.container_id, "");
	free(p);
}

static void test_cgroup_file(void **state)
{
	struct cgroup_info ci;
	const char *v1 = "12:pids:/system.slice/docker-" ID_A ".scope\n"
			 "11:cpu,cpuacct:/system.slice/docker-" ID_A ".scope\n"
			 "1:name=systemd:/system.slice/docker-" ID_A ".scope";   /* no newline */
	const char *hybrid = "1:name=systemd:/system.slice/sshd.service\n"
			     "0::/system.slice/sshd.service\n"
			     "5:cpuset:/docker/" ID_B "\n";
	const char *bad = "garbage\n::\n0::\n1:cpu\n0::relative\n";

	(void)state;
	assert_int_equal(cgroup__parse(v1, strlen(v1), &ci), 0);
	assert_string_equal(ci.container_id, ID_A);
	assert_int_equal(ci.runtime, CGROUP_RUNTIME_DOCKER);
	assert_string_equal(ci.path, "/system.slice/docker-" ID_A ".scope");
	/* cpuset is not a hierarchy we read: the v2 line's unit it is. */
	assert_int_equal(cgroup__parse(hybrid, strlen(hybrid), &ci), 0);
	assert_string_equal(ci.systemd_unit, "sshd.service");
	assert_string_equal(ci.container_id, "");
	assert_int_equal(cgroup__parse(bad, strlen(bad), &ci), -ENOENT);
	assert_int_equal(cgroup__parse("", 0, &ci), -ENOENT);
	/* len is honoured: nothing past it is read. */
	assert_int_equal(cgroup__parse(v1, 5, &ci), -ENOENT);
}

#define FIXTURE "tests/fixtures/cgroup/proc"

static void test_cgroup_read(void **state)
{
	struct cgroup_info ci;

	(void)state;
	/* CRI-O, cgroup v1, systemd driver */
	assert_int_equal(cgroup__read(FIXTURE, 101, &ci), 0);
	assert_int_equal(ci.runtime, CGROUP_RUNTIME_CRIO);
	assert_string_equal(ci.container_id,
			    "5eed9175635839250123456789abcdef0123456789abcdef5eed917563583925");
	assert_string_equal(ci.pod_uid, "a5c1f8d5-1919-434d-add7-4afaafdaef89");
	/* Docker on a hybrid host: the v1 hierarchies name the container,
	 * the unified one only the login session. */
	assert_int_equal(cgroup__read(FIXTURE, 102, &ci), 0);
	assert_int_equal(ci.runtime, CGROUP_RUNTIME_DOCKER);
	assert_string_equal(ci.container_id,
			    "fedcba98765432100123456789abcdef0123456789abcdeffedcba9876543210");
	assert_string_equal(ci.path, "/docker/fedcba98765432100123456789abcdef0123456789abcdef"
			    "fedcba9876543210");
	assert_int_equal(cgroup__read(FIXTURE, 103, &ci), 0);
	assert_string_equal(ci.systemd_unit, "postgresql@15-main.service");
	assert_false(ci.user_unit);
	assert_int_equal(cgroup__read(FIXTURE, 104, &ci), 0);
	assert_int_equal(ci.runtime, CGROUP_RUNTIME_CONTAINERD);
	assert_string_equal(ci.pod_uid, "1e597579-417e-482f-bf65-5fe170c3aebd");
	assert_int_equal(cgroup__read(FIXTURE, 999, &ci), -ENOENT);
	assert_string_equal(cgroup__runtime_name(CGROUP_RUNTIME_CRIO), "cri-o");
	assert_null(cgroup__runtime_name(CGROUP_RUNTIME_NONE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup_table),
		cmocka_unit_test(test_cgroup_long_path),
		cmocka_unit_test(test_cgroup_file),
		cmocka_unit_test(test_cgroup_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
