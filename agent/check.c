#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <sched.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent/check.h"
#include "agent/config.h"
#include "base/log.h"
#include "sampler.skel.h"
#include "unwinder/unwstore.h"

#define EXIT_USAGE 2
#define MAX_ITEMS  64

/* bpf_find_vma (5.17) is the newest helper bpf/sampler.bpf.c calls; the
 * others: bpf_task_pt_regs 5.15, bpf_get_current_task_btf 5.11, ring
 * buffer 5.8, tp_btf 5.5. Distribution kernels backport, so an older
 * version is a WARN and the load test below has the last word. */
#define MIN_MAJOR 5
#define MIN_MINOR 17

/* The initial pid namespace's inode (PROC_PID_INIT_INO, fixed since
 * Linux 3.8): tgids from BPF are in that namespace, so the /proc the agent
 * reads must be that namespace's. */
#define PID_NS_INIT "pid:[4026531836]"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

struct check_report {
	struct check_item items[MAX_ITEMS];
	size_t n;
};

static const char *const status_names[] = { "OK", "WARN", "FAIL" };

__attribute__((format(printf, 4, 5)))
static struct check_item *add(struct check_report *r, const char *name, enum check_status st,
			      const char *fmt, ...)
{
	struct check_item *it;
	va_list ap;

	if (r->n == MAX_ITEMS)
		it = &r->items[MAX_ITEMS - 1];   /* never reached: a fixed number of checks */
	else
		it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->status = st;
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
	return it;
}

__attribute__((format(printf, 2, 3)))
static void set_fix(struct check_item *it, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(it->fix, sizeof(it->fix), fmt, ap);
	va_end(ap);
}

/* A small file of a system tree, trailing whitespace removed. Its length
 * or -errno. */
static int read_line(const char *root, const char *rel, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	err = -errno;
	close(fd);
	if (n < 0)
		return err;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = 0;
	return n;
}

/* ---- kernel, BTF, lockdown, paranoid, cgroup, hostPID ------------------ */

int check__parse_kernel(const char *release, unsigned *major, unsigned *minor)
{
	char *end;
	unsigned long a, b;

	if (!release || release[0] < '0' || release[0] > '9')
		return -EINVAL;
	a = strtoul(release, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	b = strtoul(end + 1, &end, 10);
	if (a > 1000 || b > 1000)
		return -EINVAL;
	*major = a;
	*minor = b;
	return 0;
}

static void check_kernel(struct check_report *r, const char *proc_root)
{
	struct check_item *it;
	char rel[256];
	unsigned maj, min;

	if (read_line(proc_root, "sys/kernel/osrelease", rel, sizeof(rel)) <= 0) {
		struct utsname u;

		uname(&u);
		snprintf(rel, sizeof(rel), "%s", u.release);
	}
	if (check__parse_kernel(rel, &maj, &min)) {
		add(r, "kernel", CHECK_WARN, "cannot tell the version of '%s'", rel);
		return;
	}
	if (maj > MIN_MAJOR || (maj == MIN_MAJOR && min >= MIN_MINOR)) {
		add(r, "kernel", CHECK_OK, "%s (%d.%d or later needed: bpf_find_vma)", rel,
		    MIN_MAJOR, MIN_MINOR);
		return;
	}
	it = add(r, "kernel", CHECK_WARN, "%s is older than %d.%d (bpf_find_vma, used to copy "
		 "user stacks); only a kernel with it backported can work", rel, MIN_MAJOR,
		 MIN_MINOR);
	set_fix(it, "boot Linux %d.%d or later (Debian 12, Ubuntu 22.04 HWE, RHEL 9.2 and "
		"later have it); the bpf-load line below shows whether this one works",
		MIN_MAJOR, MIN_MINOR);
}

static void check_btf(struct check_report *r, const char *sys_root)
{
	char path[PATH_MAX];
	struct check_item *it;
	struct stat st;

	snprintf(path, sizeof(path), "%s/kernel/btf/vmlinux", sys_root);
	if (stat(path, &st) == 0) {
		add(r, "btf", CHECK_OK, "%s (%lld bytes)", path, (long long)st.st_size);
		return;
	}
	it = add(r, "btf", CHECK_FAIL, "%s: %s", path, strerror(errno));
	set_fix(it, "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions "
		"since 2021); in a container, mount the host's /sys (or point sys_root at it)");
}

static void check_lockdown(struct check_report *r, const char *sys_root)
{
	struct check_item *it;
	char buf[256], *open_b, *close_b;

	if (read_line(sys_root, "kernel/security/lockdown", buf, sizeof(buf)) <= 0) {
		add(r, "lockdown", CHECK_OK, "no lockdown LSM");
		return;
	}
	open_b = strchr(buf, '[');
	close_b = open_b ? strchr(open_b, ']') : NULL;
	if (!close_b) {
		add(r, "lockdown", CHECK_WARN, "cannot read the mode from '%s'", buf);
		return;
	}
	*close_b = 0;
	if (!strcmp(open_b + 1, "confidentiality")) {
		it = add(r, "lockdown", CHECK_FAIL, "confidentiality: the kernel refuses BPF reads of "
			 "kernel memory (bpf_probe_read_kernel, which CO-RE field reads use)");
		set_fix(it, "boot with lockdown=integrity or none (kernel command line), or "
			"without Secure Boot enforcing confidentiality");
		return;
	}
	add(r, "lockdown", CHECK_OK, "%s", open_b + 1);
}

static int has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return !!(d[cap / 32].effective & (1u << (cap % 32)));
}

static void check_caps(struct check_report *r, struct __user_cap_data_struct *d, unsigned maj,
		       unsigned min, bool *ok)
{
	static const struct {
		int cap;
		const char *name, *k8s, *use;
		bool required;
	} caps[] = {
		{ CAP_BPF, "CAP_BPF", "BPF", "load the BPF programs and maps", true },
		{ CAP_PERFMON, "CAP_PERFMON", "PERFMON",
		  "open cpu-clock events on every CPU, read kernel memory from BPF", true },
		{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE", "SYS_PTRACE",
		  "read /proc/PID/maps and /proc/PID/root of other users' processes", false },
		{ CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", "DAC_READ_SEARCH",
		  "open binaries and debug files regardless of their permissions", false },
		{ CAP_CHECKPOINT_RESTORE, "CAP_CHECKPOINT_RESTORE", "CHECKPOINT_RESTORE",
		  "open /proc/PID/map_files (binaries deleted or replaced since they started)",
		  false },
		{ CAP_SYSLOG, "CAP_SYSLOG", "SYSLOG",
		  "read kernel symbol addresses in /proc/kallsyms (kernel frame names)", false },
		{ CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE", "SYS_RESOURCE",
		  "raise RLIMIT_MEMLOCK for BPF maps on kernels before 5.11", false },
	};
	/* Since 5.11 BPF memory is charged to the memory cgroup. */
	bool old_memlock = maj < 5 || (maj == 5 && min < 11);
	char missing[512] = "", add_docker[256] = "", add_systemd[256] = "", add_k8s[256] = "";
	bool admin = has_cap(d, CAP_SYS_ADMIN), need_fail = false;
	struct check_item *it;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		bool have = has_cap(d, caps[i].cap);

		/* CAP_SYS_ADMIN stands in for BPF, PERFMON and CHECKPOINT_RESTORE
		 * (and is all there is before 5.8). */
		if (!have && admin && (caps[i].cap == CAP_BPF || caps[i].cap == CAP_PERFMON ||
				       caps[i].cap == CAP_CHECKPOINT_RESTORE))
			have = true;
		if (have || (caps[i].cap == CAP_SYS_RESOURCE && !old_memlock))
			continue;
		if (caps[i].required)
			need_fail = true;
		snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s (%s)",
			 n ? ", " : "", caps[i].name, caps[i].use);
		snprintf(add_docker + strlen(add_docker), sizeof(add_docker) - strlen(add_docker),
			 " --cap-add %s", caps[i].k8s);
		snprintf(add_systemd + strlen(add_systemd), sizeof(add_systemd) -
			 strlen(add_systemd), " %s", caps[i].name);
		snprintf(add_k8s + strlen(add_k8s), sizeof(add_k8s) - strlen(add_k8s), "%s%s",
			 n ? ", " : "", caps[i].k8s);
		n++;
	}
	*ok = !need_fail;
	if (!n) {
		add(r, "capabilities", CHECK_OK, "%s", admin ? "CAP_SYS_ADMIN and the rest" :
		    "CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, "
		    "CAP_CHECKPOINT_RESTORE, CAP_SYSLOG");
		return;
	}
	it = add(r, "capabilities", need_fail ? CHECK_FAIL : CHECK_WARN, "missing %s%s", missing,
		 need_fail ? "" : "; profiling works, with fewer names");
	set_fix(it, "run as root, or grant them: docker run%s; systemd AmbientCapabilities=%s "
		"(and CapabilityBoundingSet=); Kubernetes securityContext.capabilities.add: [%s]",
		add_docker, add_systemd + 1, add_k8s);
}

static void check_paranoid(struct check_report *r, const char *proc_root,
			   const struct __user_cap_data_struct *d)
{
	bool perfmon = has_cap(d, CAP_PERFMON) || has_cap(d, CAP_SYS_ADMIN);
	struct check_item *it;
	char buf[32];
	long v;

	if (read_line(proc_root, "sys/kernel/perf_event_paranoid", buf, sizeof(buf)) <= 0) {
		add(r, "perf_event_paranoid", CHECK_WARN, "%s/sys/kernel/perf_event_paranoid "
		    "unreadable", proc_root);
		return;
	}
	v = strtol(buf, NULL, 10);
	if (perfmon) {
		add(r, "perf_event_paranoid", CHECK_OK, "%ld (CAP_PERFMON overrides it)", v);
		return;
	}
	if (v <= 0) {
		add(r, "perf_event_paranoid", CHECK_OK, "%ld (allows CPU-wide events)", v);
		return;
	}
	it = add(r, "perf_event_paranoid", CHECK_FAIL, "%ld: CPU-wide events need CAP_PERFMON "
		 "or a value of 0 or less", v);
	set_fix(it, "grant CAP_PERFMON (preferred), or sysctl kernel.perf_event_paranoid=0");
}

static void check_memlock(struct check_report *r, unsigned maj, unsigned min,
			  const struct __user_cap_data_struct *d)
{
	struct check_item *it;
	struct rlimit rl;
	char cur[32];

	if (getrlimit(RLIMIT_MEMLOCK, &rl)) {
		add(r, "memlock", CHECK_WARN, "getrlimit: %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		snprintf(cur, sizeof(cur), "unlimited");
	else
		snprintf(cur, sizeof(cur), "%llu KiB", (unsigned long long)rl.rlim_cur >> 10);
	/* Since 5.11 BPF memory is charged to the memory cgroup, not to
	 * RLIMIT_MEMLOCK. */
	if (maj > 5 || (maj == 5 && min >= 11)) {
		add(r, "memlock", CHECK_OK, "%s; not used for BPF since 5.11 (memory cgroup "
		    "accounting)", cur);
		return;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (64ull << 20)) {
		add(r, "memlock", CHECK_OK, "%s", cur);
		return;
	}
	if (has_cap(d, CAP_SYS_RESOURCE) || rl.rlim_max == RLIM_INFINITY) {
		add(r, "memlock", CHECK_OK, "%s, raised at load (CAP_SYS_RESOURCE or a higher hard "
		    "limit)", cur);
		return;
	}
	it = add(r, "memlock", CHECK_FAIL, "%s: too little for the BPF maps on this kernel", cur);
	set_fix(it, "systemd LimitMEMLOCK=infinity, docker run --ulimit memlock=-1, or grant "
		"CAP_SYS_RESOURCE");
}

static void check_cgroup(struct check_report *r, const char *sys_root)
{
	char path[PATH_MAX];
	struct statfs sf;

	snprintf(path, sizeof(path), "%s/fs/cgroup", sys_root);
	if (statfs(path, &sf)) {
		add(r, "cgroup", CHECK_WARN, "%s: %s (workloads are then named from /proc only)",
		    path, strerror(errno));
		return;
	}
	if ((unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC) {
		add(r, "cgroup", CHECK_OK, "v2 (%s)", path);
		return;
	}
	snprintf(path, sizeof(path), "%s/fs/cgroup/unified", sys_root);
	if (statfs(path, &sf) == 0 && (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC) {
		add(r, "cgroup", CHECK_OK, "hybrid v1/v2 (container ids from /proc/PID/cgroup)");
		return;
	}
	add(r, "cgroup", CHECK_OK, "v1 (container ids from /proc/PID/cgroup)");
}

static void check_host_pid(struct check_report *r, const char *proc_root)
{
	char path[PATH_MAX], ns[64];
	struct check_item *it;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/1/ns/pid", proc_root);
	n = readlink(path, ns, sizeof(ns) - 1);
	if (n < 0) {
		char self[PATH_MAX], pid[32];
		int err = errno;
		ssize_t k;

		/* Init may be shielded from us (a sandbox, an LSM). When this
		 * /proc is our own namespace's (its "self" is our pid), our own
		 * namespace link says the same. */
		snprintf(self, sizeof(self), "%s/self", proc_root);
		k = readlink(self, pid, sizeof(pid) - 1);
		if (k > 0)
			pid[k] = 0;
		snprintf(self, sizeof(self), "%s/self/ns/pid", proc_root);
		if (k <= 0 || strtol(pid, NULL, 10) != getpid() ||
		    (n = readlink(self, ns, sizeof(ns) - 1)) < 0) {
			it = add(r, "host-pid", CHECK_WARN, "cannot read %s: %s", path,
				 strerror(err));
			set_fix(it, "grant CAP_SYS_PTRACE so the check can compare namespaces");
			return;
		}
	}
	ns[n] = 0;
	if (!strcmp(ns, PID_NS_INIT)) {
		add(r, "host-pid", CHECK_OK, "%s is the host's (initial pid namespace)", proc_root);
		return;
	}
	/* BPF reports process ids of the initial namespace; in a container's
	 * own pid namespace they name other processes, or none. */
	it = add(r, "host-pid", CHECK_FAIL, "%s shows a pid namespace other than the host's "
		 "(%s): process ids from BPF would not match it", proc_root, ns);
	set_fix(it, "Kubernetes: hostPID: true; docker: --pid=host; or mount the host's /proc "
		"and set proc_root to it");
}

/* ---- the real test: our programs, loaded and attached ------------------ */

static char libbpf_last[256];

static int libbpf_capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	if (level != LIBBPF_WARN)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = 0;
	/* The first line says what failed (the verifier log follows); the
	 * memlock hint libbpf prints on any EPERM is not the cause since 5.11. */
	if (n && (!libbpf_last[0] || strstr(libbpf_last, "RLIMIT_MEMLOCK")))
		snprintf(libbpf_last, sizeof(libbpf_last), "%s", line);
	return 0;
}

/* Opens and loads the sampler; walk: with the unwind-table walker (its
 * maps sized for budget bytes). NULL and *err on failure. */
static struct sampler_bpf *load_sampler(bool walk, uint64_t budget, int *err)
{
	struct unwstore_sizes z;
	struct sampler_bpf *skel;

	libbpf_last[0] = 0;
	skel = sampler_bpf__open();
	if (!skel) {
		*err = -errno;
		return NULL;
	}
	/* A small ring buffer: this is a test, not a run. */
	bpf_map__set_max_entries(skel->maps.events, 64 << 10);
	skel->rodata->walk_tables = walk;
	if (walk) {
		skel->rodata->stack_size = 0;
		unwstore__sizes(budget, &z);
	} else {
		z = (struct unwstore_sizes){ 1, 1, 1, 1 };
	}
	bpf_map__set_max_entries(skel->maps.unw_rows, z.rows);
	bpf_map__set_max_entries(skel->maps.unw_rules, z.rules);
	bpf_map__set_max_entries(skel->maps.unw_tables, z.tables);
	bpf_map__set_max_entries(skel->maps.unw_mappings, z.mappings);
	*err = sampler_bpf__load(skel);
	if (*err) {
		sampler_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

static uint64_t stat_sum(struct sampler_bpf *skel, __u32 k)
{
	int n = libbpf_num_possible_cpus();
	__u64 *v, sum = 0;

	if (n <= 0 || !(v = calloc(n, sizeof(*v))))
		return 0;
	if (!bpf_map__lookup_elem(skel->maps.stats, &k, sizeof(k), v, n * sizeof(*v), 0))
		for (int i = 0; i < n; i++)
			sum += v[i];
	free(v);
	return sum;
}

static volatile uint64_t check_sink;

static void check_bpf(struct check_report *r, const struct config *cfg)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = 997,
		.freq = 1,
	};
	libbpf_print_fn_t old = libbpf_set_print(libbpf_capture);
	enum unwind_mode want = cfg ? cfg->unwind : UNWIND_KERNEL;
	uint64_t budget = cfg ? cfg->unwind_table_bytes : 0;
	struct bpf_link *link = NULL;
	struct sampler_bpf *skel;
	struct check_item *it;
	char walker_err[300] = "";
	struct timespec t0, t1;
	bool walker = true;
	int pfd = -1, err, cpu;

	/* The walker first: its verifier complexity is what differs by kernel. */
	skel = load_sampler(true, budget, &err);
	if (!skel) {
		walker = false;
		snprintf(walker_err, sizeof(walker_err), "%s%s%s", strerror(-err),
			 libbpf_last[0] ? " — " : "", libbpf_last);
		skel = load_sampler(false, 0, &err);
	}
	if (!skel) {
		it = add(r, "bpf-load", CHECK_FAIL, "the kernel refused ignis's BPF programs: %s%s%s",
			 strerror(-err), libbpf_last[0] ? " — " : "", libbpf_last);
		set_fix(it, err == -EPERM ? "grant CAP_BPF and CAP_PERFMON (or run as root); "
			"check lockdown above" : "see the kernel line above: Linux 5.17 or later "
			"with BTF is needed");
		goto cleanup;
	}
	err = sampler_bpf__attach(skel);   /* the exec and exit tracepoints */
	if (err) {
		it = add(r, "bpf-load", CHECK_FAIL, "loaded, but the exec/exit tracepoints do not "
			 "attach: %s%s%s", strerror(-err), libbpf_last[0] ? " — " : "", libbpf_last);
		set_fix(it, "grant CAP_PERFMON (or run as root)");
		goto cleanup;
	}
	cpu = sched_getcpu();
	pfd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0) {
		err = -errno;
		it = add(r, "bpf-load", CHECK_FAIL, "programs load, but a cpu-clock event for "
			 "this process cannot be opened: %s", strerror(-err));
		set_fix(it, "grant CAP_PERFMON, or sysctl kernel.perf_event_paranoid=0; in a "
			"VM, the hypervisor may hide perf events");
		goto cleanup;
	}
	link = bpf_program__attach_perf_event(skel->progs.sample, pfd);
	if (!link) {
		err = -errno;
		it = add(r, "bpf-load", CHECK_FAIL, "cannot attach the sampler to a cpu-clock "
			 "event: %s", strerror(-err));
		set_fix(it, "grant CAP_PERFMON and CAP_BPF (or run as root)");
		goto cleanup;
	}
	add(r, "bpf-load", CHECK_OK, "the sampler's programs load, and attach to cpu-clock and to "
	    "the exec/exit tracepoints");
	/* Run them: 100 ms of our own CPU time, sampled at 997 Hz. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			check_sink = check_sink * 31 + i;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec) < 100000000LL);
	(void)cpu;
	if (!walker) {
		it = add(r, "unwind", want == UNWIND_KERNEL ? CHECK_FAIL : CHECK_WARN,
			 "the unwind-table walker does not load on this kernel (%s): --unwind kernel "
			 "cannot run; auto would use copy (user stacks copied to the agent)",
			 walker_err);
		set_fix(it, "use --unwind copy (or auto, or fp), or a newer kernel");
	} else if (!stat_sum(skel, IGNIS_STAT_SENT)) {
		it = add(r, "unwind", CHECK_WARN, "the walker loads, but did not run in 100 ms of "
			 "sampled CPU time (%" PRIu64 " samples)", stat_sum(skel, IGNIS_STAT_SAMPLES));
		set_fix(it, "is the cpu-clock event delivered on this machine (a VM)?");
	} else {
		add(r, "unwind", CHECK_OK, "mode %s%s: the unwind-table walker loads and ran (%" PRIu64
		    " samples, %" PRIu64 " user frames); table memory %" PRIu64 " MiB",
		    want == UNWIND_AUTO ? "auto → kernel" : unwind_mode_name(want),
		    want == UNWIND_KERNEL || want == UNWIND_AUTO ? "" : " (configured)",
		    stat_sum(skel, IGNIS_STAT_SENT), stat_sum(skel, IGNIS_STAT_UNW_FRAMES),
		    (uint64_t)((budget ? budget : UNWSTORE_DEFAULT_BUDGET) >> 20));
	}
cleanup:
	bpf_link__destroy(link);   /* closes pfd too */
	if (!link && pfd >= 0)
		close(pfd);
	sampler_bpf__destroy(skel);
	libbpf_set_print(old);
}

/* ---- directories ------------------------------------------------------- */

/* Whether we can create files in dir, or create dir (its nearest existing
 * ancestor writable). 0, or -errno with what failed in where. */
static int dir_writable(const char *dir, char *where, size_t len)
{
	char path[PATH_MAX], *slash;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s", dir);
	while (stat(path, &st)) {
		if (errno != ENOENT) {
			snprintf(where, len, "%s", path);
			return -errno;
		}
		slash = strrchr(path, '/');
		if (!slash || slash == path) {
			snprintf(path, sizeof(path), "/");
			break;
		}
		*slash = 0;
	}
	snprintf(where, len, "%s", path);
	if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* A real file, not access(2): that answers for the real uid and knows
	 * nothing of read-only mounts. */
	fd = open(path, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EOPNOTSUPP || errno == EISDIR) {
		char tmp[PATH_MAX + 32];

		snprintf(tmp, sizeof(tmp), "%s/.ignis-check-XXXXXX", path);
		fd = mkstemp(tmp);
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
			return 0;
		}
	}
	return -errno;
}

static void check_dir(struct check_report *r, const char *name, const char *dir,
		      enum check_status bad)
{
	char where[PATH_MAX];
	struct check_item *it;
	int err = dir_writable(dir, where, sizeof(where));

	if (!err) {
		add(r, name, CHECK_OK, strcmp(where, dir) ? "%s can be created (in %s)" :
		    "%s is writable", dir, where);
		return;
	}
	it = add(r, name, bad, "%s: %s is not writable: %s", dir, where, strerror(-err));
	if (err == -EROFS)
		set_fix(it, "mount a writable volume there (Kubernetes: a hostPath or emptyDir "
			"volume; systemd: StateDirectory= or ReadWritePaths=)");
	else
		set_fix(it, "create it writable for the agent, or point the setting elsewhere");
}

/* ---- HTTP probes ------------------------------------------------------- */

struct probe {
	long status;             /* -1: no answer */
	char error[CURL_ERROR_SIZE];
	char body[4096];
	size_t len;
};

static size_t probe_body(char *p, size_t size, size_t n, void *ud)
{
	struct probe *pr = ud;
	size_t k = size * n, room = sizeof(pr->body) - 1 - pr->len;

	memcpy(pr->body + pr->len, p, k < room ? k : room);
	pr->len += k < room ? k : room;
	pr->body[pr->len] = 0;
	return k;
}

/* GET url. Secrets go in headers or the userpwd, never in anything this
 * prints: curl's error text names the host, not the request. */
static void http_get(const char *url, struct curl_slist *headers, const char *user,
		     const char *password, const char *ca_file, bool insecure, long timeout_ms,
		     struct probe *pr)
{
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(pr, 0, sizeof(*pr));
	pr->status = -1;
	if (!c) {
		snprintf(pr->error, sizeof(pr->error), "out of memory");
		return;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, pr->error);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, probe_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, pr);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ignis/" IGNIS_VERSION " (check)");
	if (headers)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	if (user && password) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, password);
	}
	if (ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	if (insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &pr->status);
	else if (!pr->error[0])
		snprintf(pr->error, sizeof(pr->error), "%s", curl_easy_strerror(rc));
	curl_easy_cleanup(c);
}

static long probe_timeout(const struct config_destination *d)
{
	long t = d->timeout_ms ? (long)d->timeout_ms : 10000;

	return t < 5000 ? t : 5000;
}

/* Adds "Name: value" to a header list; the value may be a secret, so
 * the line is wiped before it is freed. */
static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
	struct curl_slist *n;
	size_t len = strlen(name) + strlen(value) + 3;
	char *line = malloc(len);

	if (!line)
		return l;
	snprintf(line, len, "%s: %s", name, value);
	n = curl_slist_append(l, line);
	explicit_bzero(line, len);
	free(line);
	return n ? n : l;
}

static void free_headers(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static void unreachable(struct check_report *r, const char *name, const char *url,
			const struct probe *pr)
{
	struct check_item *it = add(r, name, CHECK_FAIL, "%s unreachable: %s", url, pr->error);

	set_fix(it, "check the URL, DNS and any firewall or NetworkPolicy between this node and "
		"it");
}

static void check_pyroscope(struct check_report *r, const char *name,
			    const struct config_destination *d)
{
	struct curl_slist *h = NULL;
	struct check_item *it;
	char url[4096];
	struct probe pr;

	snprintf(url, sizeof(url), "%s/ready", d->url);
	if (d->tenant_id)
		h = add_header(h, "X-Scope-OrgID", d->tenant_id);
	if (d->bearer_token) {
		char v[8192];

		snprintf(v, sizeof(v), "Bearer %s", d->bearer_token);
		h = add_header(h, "Authorization", v);
		explicit_bzero(v, sizeof(v));
	}
	for (size_t i = 0; i < d->nheaders; i++)
		h = add_header(h, d->headers[i].name, d->headers[i].value);
	http_get(url, h, d->basic_user, d->basic_password, d->ca_file, d->insecure_skip_verify,
		 probe_timeout(d), &pr);
	free_headers(h);
	if (pr.status < 0) {
		unreachable(r, name, url, &pr);
		return;
	}
	if (pr.status >= 200 && pr.status < 300) {
		add(r, name, CHECK_OK, "GET %s: %ld", url, pr.status);
		return;
	}
	if (pr.status == 401 || pr.status == 403) {
		it = add(r, name, CHECK_FAIL, "GET %s: %ld: the credentials were refused", url,
			 pr.status);
		set_fix(it, "check basic_auth / bearer token and tenant_id of this destination");
		return;
	}
	if (pr.status == 404) {
		add(r, name, CHECK_WARN, "GET %s: 404: a server answers, but not Pyroscope's /ready "
		    "(a gateway in front of it?)", url);
		return;
	}
	it = add(r, name, CHECK_WARN, "GET %s: %ld: reachable, not ready", url, pr.status);
	set_fix(it, "profiles queue and are retried until it is ready");
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static void check_datadog(struct check_report *r, const char *name,
			  const struct config_destination *d)
{
	struct curl_slist *h = NULL;
	struct check_item *it;
	char url[4096], expect[512];
	struct probe pr;

	if (!d->url) {
		add(r, name, CHECK_FAIL, "no intake URL configured");
		return;
	}
	if (!d->agentless) {
		/* Through the Datadog Agent: its /info lists the endpoints it serves. */
		size_t n = strlen(d->url);

		if (ends_with(d->url, "/profiling/v1/input"))
			n -= strlen("/profiling/v1/input");
		snprintf(url, sizeof(url), "%.*s/info", (int)n, d->url);
		http_get(url, NULL, NULL, NULL, d->ca_file, d->insecure_skip_verify,
			 probe_timeout(d), &pr);
		if (pr.status < 0) {
			unreachable(r, name, url, &pr);
			set_fix(&r->items[r->n - 1], "run the Datadog Agent on this node with APM "
				"enabled (port 8126), or set DD_AGENT_HOST / DD_TRACE_AGENT_URL");
			return;
		}
		if (pr.status != 200) {
			it = add(r, name, CHECK_FAIL, "GET %s: %ld: not a Datadog Agent answering",
				 url, pr.status);
			set_fix(it, "point the destination at the Datadog Agent's trace port (8126)");
			return;
		}
		if (!strstr(pr.body, "\"/profiling/v1/input\"")) {
			add(r, name, CHECK_WARN, "GET %s: 200, but the Agent does not list "
			    "/profiling/v1/input (an old Agent?)", url);
			return;
		}
		add(r, name, CHECK_OK, "GET %s: the Agent accepts profiles", url);
		return;
	}
	/* Agentless: the key is validated at the site's API, and only when the
	 * intake is the site's own (a proxy in between is all we may talk to). */
	snprintf(expect, sizeof(expect), "https://intake.profile.%s/", d->site ? d->site : "");
	if (d->site && !strncmp(d->url, expect, strlen(expect))) {
		snprintf(url, sizeof(url), "https://api.%s/api/v1/validate", d->site);
		if (d->api_key)
			h = add_header(h, "DD-API-KEY", d->api_key);
		http_get(url, h, NULL, NULL, d->ca_file, d->insecure_skip_verify, probe_timeout(d),
			 &pr);
		free_headers(h);
		if (pr.status < 0) {
			unreachable(r, name, url, &pr);
			return;
		}
		if (pr.status == 200) {
			add(r, name, CHECK_OK, "GET %s: the API key is valid", url);
			return;
		}
		if (pr.status == 401 || pr.status == 403) {
			it = add(r, name, CHECK_FAIL, "GET %s: %ld: the API key is not valid for %s",
				 url, pr.status, d->site);
			set_fix(it, "set the API key of this organization (DD_API_KEY, or "
				"api_key_file) and the site it lives on (site / DD_SITE)");
			return;
		}
		add(r, name, CHECK_WARN, "GET %s: %ld", url, pr.status);
		return;
	}
	http_get(d->url, NULL, NULL, NULL, d->ca_file, d->insecure_skip_verify, probe_timeout(d),
		 &pr);
	if (pr.status < 0) {
		unreachable(r, name, d->url, &pr);
		return;
	}
	add(r, name, CHECK_OK, "GET %s: %ld: reachable (the API key is checked at the first "
	    "upload: a custom intake URL)", d->url, pr.status);
}

static void check_destinations(struct check_report *r, const struct config *cfg)
{
	char name[48];

	for (size_t i = 0; i < cfg->ndestinations; i++) {
		const struct config_destination *d = &cfg->destinations[i];

		snprintf(name, sizeof(name), "destination %s", d->name);
		switch (d->type) {
		case CONFIG_DEST_PYROSCOPE:
			check_pyroscope(r, name, d);
			break;
		case CONFIG_DEST_DATADOG:
			check_datadog(r, name, d);
			break;
		case CONFIG_DEST_FILE:
			check_dir(r, name, d->directory, CHECK_FAIL);
			break;
		}
		if (d->type != CONFIG_DEST_FILE && d->spool_enabled && d->spool_dir) {
			snprintf(name, sizeof(name), "spool %s", d->name);
			check_dir(r, name, d->spool_dir, CHECK_WARN);
		}
	}
}

static void check_kubernetes(struct check_report *r, const struct config *cfg)
{
	const struct config_kubernetes *k = &cfg->kubernetes;
	struct curl_slist *h = NULL;
	char token[16384], url[4096];
	struct check_item *it;
	struct probe pr;
	char *node;
	int n;

	if (!k->enabled)
		return;
	if (!k->api_url) {
		it = add(r, "kubernetes", CHECK_FAIL, "enabled, but no API server: "
			 "KUBERNETES_SERVICE_HOST is not set and kubernetes.api_url is empty");
		set_fix(it, "set kubernetes.api_url, or kubernetes.enabled: false off-cluster");
		return;
	}
	n = k->token_file ? read_line("", k->token_file, token, sizeof(token)) : -ENOENT;
	if (n <= 0) {
		it = add(r, "kubernetes", CHECK_FAIL, "service account token %s: %s",
			 k->token_file ? k->token_file : "(none)", n ? strerror(-n) : "empty");
		set_fix(it, "automountServiceAccountToken must not be false for the DaemonSet's "
			"service account");
		return;
	}
	node = curl_easy_escape(NULL, k->node_name ? k->node_name : "", 0);
	snprintf(url, sizeof(url), "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=1",
		 k->api_url, node ? node : "");
	curl_free(node);
	{
		char v[sizeof(token) + 16];

		snprintf(v, sizeof(v), "Bearer %s", token);
		h = add_header(h, "Authorization", v);
		explicit_bzero(v, sizeof(v));
	}
	explicit_bzero(token, sizeof(token));
	http_get(url, h, NULL, NULL, k->ca_file, k->insecure_skip_verify, 5000, &pr);
	free_headers(h);
	if (pr.status < 0) {
		unreachable(r, "kubernetes", k->api_url, &pr);
		return;
	}
	if (pr.status == 200) {
		add(r, "kubernetes", CHECK_OK, "%s: pods on node %s can be listed", k->api_url,
		    k->node_name ? k->node_name : "?");
		return;
	}
	if (pr.status == 401) {
		it = add(r, "kubernetes", CHECK_FAIL, "%s: 401: the service account token was "
			 "refused", k->api_url);
		set_fix(it, "the token in %s is not valid for this cluster", k->token_file);
		return;
	}
	if (pr.status == 403) {
		it = add(r, "kubernetes", CHECK_FAIL, "%s: 403: the service account may not list "
			 "pods", k->api_url);
		set_fix(it, "apply the ClusterRole and ClusterRoleBinding of deploy/daemonset.yaml "
			"(pods: get, list, watch)");
		return;
	}
	add(r, "kubernetes", CHECK_FAIL, "%s: %ld", url, pr.status);
}

/* ---- the report -------------------------------------------------------- */

struct check_report *check__run(const struct check_opts *o)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[2] = { 0 };
	const struct config *cfg = o->cfg;
	const char *proc_root = o->proc_root ? o->proc_root : cfg ? cfg->proc_root : "/proc";
	const char *sys_root = o->sys_root ? o->sys_root : cfg ? cfg->sys_root : "/sys";
	struct check_report *r = calloc(1, sizeof(*r));
	unsigned maj = 0, min = 0;
	bool caps_ok = false;
	char rel[256];

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	if (syscall(SYS_capget, &hdr, caps))
		memset(caps, 0, sizeof(caps));
	check_kernel(r, proc_root);
	if (read_line(proc_root, "sys/kernel/osrelease", rel, sizeof(rel)) > 0)
		check__parse_kernel(rel, &maj, &min);
	check_btf(r, sys_root);
	check_caps(r, caps, maj, min, &caps_ok);
	check_paranoid(r, proc_root, caps);
	check_lockdown(r, sys_root);
	/* Before the load test: libbpf raises the limit itself on old kernels. */
	check_memlock(r, maj, min, caps);
	if (o->load_bpf)
		check_bpf(r, cfg);
	check_cgroup(r, sys_root);
	check_host_pid(r, proc_root);
	if (cfg) {
		check_kubernetes(r, cfg);
		check_destinations(r, cfg);
		if (cfg->spool_dir)
			check_dir(r, "spool", cfg->spool_dir, CHECK_WARN);
		if (cfg->debuginfod_cache && (!cfg->debuginfod_urls || cfg->debuginfod_urls[0]) &&
		    (cfg->debuginfod_urls || getenv("DEBUGINFOD_URLS")))
			check_dir(r, "debuginfod cache", cfg->debuginfod_cache, CHECK_WARN);
	}
	return r;
}

void check__free(struct check_report *r)
{
	free(r);
}

size_t check__count(const struct check_report *r)
{
	return r->n;
}

const struct check_item *check__item(const struct check_report *r, size_t i)
{
	return i < r->n ? &r->items[i] : NULL;
}

const struct check_item *check__find(const struct check_report *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!strcmp(r->items[i].name, name))
			return &r->items[i];
	}
	return NULL;
}

bool check__ok(const struct check_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->items[i].status == CHECK_FAIL)
			return false;
	}
	return true;
}

void check__print_text(const struct check_report *r, FILE *f)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct check_item *it = &r->items[i];

		fprintf(f, "%-4s %s: %s%s%s\n", status_names[it->status], it->name, it->detail,
			it->fix[0] ? ": " : "", it->fix);
	}
}

int check__print_json(const struct check_report *r, FILE *f)
{
	struct json_object *root = json_object_new_object(), *list = json_object_new_array();
	int err = -ENOMEM;

	if (!root || !list)
		goto cleanup;
	for (size_t i = 0; i < r->n; i++) {
		const struct check_item *it = &r->items[i];
		struct json_object *o = json_object_new_object();
		char status[8];

		if (!o)
			goto cleanup;
		/* Lower case in JSON, like the log levels. */
		snprintf(status, sizeof(status), "%s", status_names[it->status]);
		for (char *p = status; *p; p++)
			*p = *p - 'A' + 'a';
		json_object_object_add(o, "name", json_object_new_string(it->name));
		json_object_object_add(o, "status", json_object_new_string(status));
		json_object_object_add(o, "detail", json_object_new_string(it->detail));
		json_object_object_add(o, "fix", json_object_new_string(it->fix));
		json_object_array_add(list, o);
	}
	json_object_object_add(root, "ok", json_object_new_boolean(check__ok(r)));
	json_object_object_add(root, "checks", list);
	list = NULL;
	fprintf(f, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	err = 0;
cleanup:
	json_object_put(list);
	json_object_put(root);
	return err;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ignis check [options]   can this machine (and this configuration)\n"
		"                               profile? one line per check, with the fix\n"
		"  -c, --config FILE   also check what it configures: each destination gets a\n"
		"                      request that changes nothing, the Kubernetes API a pod\n"
		"                      list, the spool and file directories a test file\n"
		"  -o, --output FMT    text (default) or json\n"
		"exit status: 0 nothing failed (warnings allowed), 1 profiling cannot work as\n"
		"configured, 2 usage or configuration error\n");
}

int check__cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct check_opts co = { .load_bpf = true };
	const char *path = NULL;
	struct config *cfg = NULL;
	struct check_report *r;
	bool json = false;
	char msg[1024];
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			if (!strcmp(optarg, "json")) {
				json = true;
			} else if (!strcmp(optarg, "text")) {
				json = false;
			} else {
				fprintf(stderr, "ignis check: --output '%s': expected text or json\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ignis check: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (path) {
		cfg = config__load(path, NULL, msg, sizeof(msg));
		if (!cfg) {
			fprintf(stderr, "ignis: %s\n", msg);
			return errno == ENOMEM ? EXIT_FAILURE : EXIT_USAGE;
		}
	}
	co.cfg = cfg;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = check__run(&co);
	if (!r) {
		fprintf(stderr, "ignis check: out of memory\n");
		config__free(cfg);
		return EXIT_FAILURE;
	}
	if (json)
		check__print_json(r, stdout);
	else
		check__print_text(r, stdout);
	ret = check__ok(r) ? 0 : 1;
	check__free(r);
	config__free(cfg);
	curl_global_cleanup();
	return ret;
}
