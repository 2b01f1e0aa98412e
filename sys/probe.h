/* What this machine offers a profiler, read rather than guessed: the
 * kernel's version, BTF, capabilities, lockdown, perf_event_paranoid,
 * the cgroup hierarchy, whether /proc is the host's, and whether the
 * sampler's BPF programs load and attach. Shared by `ignis check` (which
 * says what to fix) and the preflight before a run (sys/preflight.h).
 * Every reader takes its root (/proc, /sys) so tests use fixture trees. */
#ifndef IGNIS_PROBE_H
#define IGNIS_PROBE_H

#include <linux/capability.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Capabilities newer than the oldest headers we build with (Linux 5.8 split
 * CAP_BPF and CAP_PERFMON out of CAP_SYS_ADMIN; 5.9 added
 * CAP_CHECKPOINT_RESTORE); the preflight and `ignis check` test them. */
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

/* A small file root/rel, trailing newlines and spaces removed, into buf.
 * Its length, or -errno. */
int probe__read_line(const char *root, const char *rel, char *buf, size_t len);

/* <proc_root>/sys/kernel/osrelease, else uname's release, into buf. */
void probe__kernel_release(const char *proc_root, char *buf, size_t len);
/* "6.1.0-18-amd64" -> 6, 1. 0, or -EINVAL. */
int probe__parse_kernel(const char *release, unsigned *major, unsigned *minor);

/* The effective capabilities of this thread, bit n for capability n. 0 or
 * -errno (then *caps is 0). */
int probe__caps(uint64_t *caps);
static inline bool probe__has_cap(uint64_t caps, int cap)
{
	return cap >= 0 && cap < 64 && (caps >> cap) & 1;
}

/* <sys_root>/kernel/btf/vmlinux into path (PATH_MAX); 0 with its size, or
 * -errno. */
int probe__btf(const char *sys_root, char *path, size_t len, long long *size);

/* The lockdown LSM's mode ("none", "integrity", "confidentiality") into
 * mode. 0; -ENOENT without the LSM; -EINVAL when the file does not say
 * (then mode holds what it does say). */
int probe__lockdown(const char *sys_root, char *mode, size_t len);

/* kernel.perf_event_paranoid. 0 or -errno. */
int probe__perf_paranoid(const char *proc_root, long *value);

enum probe_cgroup { PROBE_CGROUP_V1, PROBE_CGROUP_HYBRID, PROBE_CGROUP_V2 };
/* The hierarchy mounted at <sys_root>/fs/cgroup (path gets it). 0 or
 * -errno when it cannot be read. */
int probe__cgroup(const char *sys_root, enum probe_cgroup *out, char *path, size_t len);

/* The initial pid namespace's link (PROC_PID_INIT_INO, fixed since Linux
 * 3.8): tgids from BPF are in that namespace. */
#define PROBE_PID_NS_INIT "pid:[4026531836]"
/* The pid namespace that <proc_root> shows ("pid:[N]") into ns: init's,
 * or, when init is shielded from us and this /proc is our own namespace's,
 * ours. 0 or -errno of reading init's (path gets init's link). */
int probe__pid_ns(const char *proc_root, char *ns, size_t len, char *path, size_t plen);

/* Whether files can be created in dir, or dir created (its nearest
 * existing ancestor writable), by trying: access(2) answers for the real
 * uid and knows nothing of read-only mounts. 0, or -errno; where gets the
 * directory tried. */
int probe__dir_writable(const char *dir, char *where, size_t len);

/* How off-CPU time is taken on this kernel (bpf/offcpu.bpf.h): with
 * sched_exit_tp (Linux 6.16) alone, one program a switch; or with
 * sched_switch and sched_exit_tp, two (IGNIS_OFFCPU_PATH=switch in the
 * environment: tests compare both); or not at all (no sched_exit_tp). */
enum probe_offcpu_path { PROBE_OFFCPU_NONE, PROBE_OFFCPU_SWITCH, PROBE_OFFCPU_EXIT };

/* The real test: the sampler's BPF programs opened, loaded (first with the
 * unwind-table walker, its maps sized as asked, and off-CPU's programs, then
 * without off-CPU's, then without the walker, as the kernel refuses them),
 * attached to their tracepoints and to a
 * cpu-clock event on this CPU, run on 100 ms of this process's CPU time,
 * then torn down. */
enum probe_bpf_stage { PROBE_BPF_OK, PROBE_BPF_LOAD, PROBE_BPF_ATTACH,
		       PROBE_BPF_PERF_EVENT, PROBE_BPF_ATTACH_PERF };
struct probe_bpf_sizes {
	uint32_t rows, rules, tables, mappings;  /* the walker's maps (unwinder/unwstore.h) */
};
struct probe_bpf {
	enum probe_bpf_stage failed;   /* PROBE_BPF_OK: everything worked */
	int err;                       /* -errno of the stage that failed */
	int cpu;
	char libbpf[256];              /* libbpf's first warning: what failed */
	bool walker;                   /* loaded with the walker */
	char walker_err[300];          /* why the walker was refused */
	uint64_t samples, sent, user_frames;  /* what the run produced */
	bool offcpu;                   /* off-CPU's programs loaded and attached too */
	enum probe_offcpu_path offcpu_path;  /* ... those of this path */
	char offcpu_err[300];          /* else why not */
};
void probe__bpf(struct probe_bpf *out, const struct probe_bpf_sizes *walker);

enum probe_offcpu_path probe__offcpu_path(void);
/* "sched_exit_tp" / "sched_switch+sched_exit_tp" / "none". */
const char *probe__offcpu_path_name(enum probe_offcpu_path p);
/* Which of the sampler object's off-CPU programs load (none with NONE). */
struct sampler_bpf;
void probe__offcpu_autoload(struct sampler_bpf *skel, enum probe_offcpu_path p);
/* The sampler object's hash maps that the agent fills (tables, processes:
 * a few entries of their bound) allocate entries as they are added
 * (BPF_F_NO_PREALLOC) where the kernel lets a perf_event program use such
 * maps (Linux 6.1), rather than writing every entry when they are created.
 * Before loading; 0 or -errno. */
int probe__unallocated_hashes(struct sampler_bpf *skel);

/* The sampler's object opened for a load, its CO-RE relocations to be made
 * against the kernel's BTF cut for it (sys/kbtf.h) when one can be made:
 * *cut says so (a load that fails with it: kbtf__disable, and again).
 * NULL and errno. */
struct sampler_bpf *probe__open_sampler(bool *cut);
/* After a failed load (err): whether to load again without the cut, which
 * it then turns off (kbtf__disable). Not for a missing permission. */
bool probe__retry_without_cut(bool cut, int err);

#endif
