/* What a process is, as a workload: for now its service name, from sources
 * on the node (the systemd unit it runs in, else its executable). */
#ifndef IGNIS_WORKLOAD_H
#define IGNIS_WORKLOAD_H

#include <stddef.h>

/* The service name of process pid under proc_root into buf: the systemd
 * service it runs in without ".service" (system or user unit), else the
 * name of its executable, else comm (the process is gone); "kernel" for
 * kernel threads. Never fails: buf always gets a non-empty name. */
void workload__service_name(const char *proc_root, int pid, const char *comm, char *buf,
			    size_t len);

/* The systemd service in a /proc/PID/cgroup text (v2 "0::/path" or a v1
 * "N:name=systemd:/path" line): 1 and the unit name without ".service" in
 * buf, or 0. */
int workload__unit_from_cgroup(const char *cgroup_text, char *buf, size_t len);

/* 1 when PROC_ROOT/PID/stat says PF_KTHREAD, else 0 (also when gone). */
int workload__is_kernel_thread(const char *proc_root, int pid);

#endif
