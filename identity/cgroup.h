/* Which container, pod and systemd unit a process runs in, from the path
 * of its cgroup: what every container runtime and both kubelet cgroup
 * drivers write there, read without asking any daemon.
 *
 *   systemd driver   .../kubepods-burstable-pod<uid_with_underscores>.slice/
 *                        cri-containerd-<id>.scope | crio-<id>.scope |
 *                        docker-<id>.scope
 *   cgroupfs driver  /kubepods[/<qos>]/pod<uid>/<id> | .../crio-<id>
 *   Docker, Podman   /docker/<id>, /system.slice/docker-<id>.scope,
 *                    /machine.slice/libpod-<id>.scope (rootless: under
 *                    user@UID.service), /ecs/<task>/<id>
 *   bare metal       /system.slice/foo.service, user units under
 *                    user@UID.service, templates (getty@tty1.service)
 *
 * Nesting (kind, docker-in-docker) is read innermost first: the last
 * container component wins. conmon (crio-conmon-, libpod-conmon-) is the
 * runtime's monitor, not the container. */
#ifndef IGNIS_CGROUP_H
#define IGNIS_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest cgroup path kept; a longer one is cut (still parsed up to it). */
#define CGROUP_PATH_MAX 1024
#define CGROUP_ID_LEN 64
#define CGROUP_UID_MAX 36
#define CGROUP_UNIT_MAX 256

enum cgroup_runtime {
	CGROUP_RUNTIME_NONE,      /* no container, or a bare id whose runtime the path does not say */
	CGROUP_RUNTIME_CONTAINERD,
	CGROUP_RUNTIME_CRIO,
	CGROUP_RUNTIME_DOCKER,
	CGROUP_RUNTIME_PODMAN,
};

struct cgroup_info {
	char path[CGROUP_PATH_MAX];              /* the hierarchy's path used, "" when none */
	char container_id[CGROUP_ID_LEN + 1];    /* 64 lowercase hex, "" when none */
	enum cgroup_runtime runtime;
	char pod_uid[CGROUP_UID_MAX + 1];        /* with dashes, "" when none */
	char systemd_unit[CGROUP_UNIT_MAX];      /* "foo.service", "getty@tty1.service", "" */
	bool user_unit;                          /* systemd_unit is run by a user manager */
};

/* Pure: one cgroup path ("/kubepods.slice/..."); fills out (cleared
 * first). Always 0: a path that says nothing leaves every field empty. */
int cgroup__parse_path(const char *path, struct cgroup_info *out);

/* Pure: the text of a /proc/PID/cgroup file (len bytes, need not end in
 * NUL or a newline). The v2 line "0::/path" is preferred, then the v1
 * pids, cpu, memory and name=systemd hierarchies; on hybrid systems the
 * first of those that names a container (else a pod, else a unit) wins.
 * 0, or -ENOENT when no line has a path. */
int cgroup__parse(const char *text, size_t len, struct cgroup_info *out);

/* PROC_ROOT/PID/cgroup through cgroup__parse. 0, -ENOENT (no such
 * process or no path), -errno from reading. */
int cgroup__read(const char *proc_root, uint32_t pid, struct cgroup_info *out);

/* "containerd", "cri-o", "docker", "podman"; NULL for NONE. */
const char *cgroup__runtime_name(enum cgroup_runtime r);

#endif
