#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "bpf/sampler.h"
#include "sampler.skel.h"
#include "sys/kbtf.h"
#include "sys/probe.h"

int probe__read_line(const char *root, const char *rel, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = file__read_fd(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return (int)n;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = 0;
	return n;
}

void probe__kernel_release(const char *proc_root, char *buf, size_t len)
{
	struct utsname u;

	if (probe__read_line(proc_root, "sys/kernel/osrelease", buf, len) > 0)
		return;
	uname(&u);
	snprintf(buf, len, "%s", u.release);
}

int probe__parse_kernel(const char *release, unsigned *major, unsigned *minor)
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

int probe__caps(uint64_t *caps)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };

	*caps = 0;
	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	*caps = (uint64_t)data[0].effective | (uint64_t)data[1].effective << 32;
	return 0;
}

int probe__btf(const char *sys_root, char *path, size_t len, long long *size)
{
	struct stat st;

	snprintf(path, len, "%s/kernel/btf/vmlinux", sys_root);
	if (stat(path, &st))
		return -errno;
	*size = st.st_size;
	return 0;
}

int probe__lockdown(const char *sys_root, char *mode, size_t len)
{
	char *open_b, *close_b;

	if (probe__read_line(sys_root, "kernel/security/lockdown", mode, len) <= 0)
		return -ENOENT;
	/* "none integrity [confidentiality]": the mode in force is bracketed */
	open_b = strchr(mode, '[');
	close_b = open_b ? strchr(open_b, ']') : NULL;
	if (!close_b)
		return -EINVAL;
	*close_b = 0;
	memmove(mode, open_b + 1, strlen(open_b + 1) + 1);
	return 0;
}

int probe__perf_paranoid(const char *proc_root, long *value)
{
	char buf[32];
	int n = probe__read_line(proc_root, "sys/kernel/perf_event_paranoid", buf, sizeof(buf));

	if (n <= 0)
		return n ? n : -ENODATA;
	*value = strtol(buf, NULL, 10);
	return 0;
}

int probe__cgroup(const char *sys_root, enum probe_cgroup *out, char *path, size_t len)
{
	char unified[PATH_MAX];
	struct statfs sf;

	snprintf(path, len, "%s/fs/cgroup", sys_root);
	if (statfs(path, &sf))
		return -errno;
	if ((unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC) {
		*out = PROBE_CGROUP_V2;
		return 0;
	}
	snprintf(unified, sizeof(unified), "%s/fs/cgroup/unified", sys_root);
	*out = statfs(unified, &sf) == 0 && (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC ?
	       PROBE_CGROUP_HYBRID : PROBE_CGROUP_V1;
	return 0;
}

int probe__pid_ns(const char *proc_root, char *ns, size_t len, char *path, size_t plen)
{
	char self[PATH_MAX], pid[32];
	ssize_t n, k;
	int err;

	snprintf(path, plen, "%s/1/ns/pid", proc_root);
	n = readlink(path, ns, len - 1);
	if (n < 0) {
		err = -errno;
		/* Init may be shielded from us (a sandbox, an LSM). When this
		 * /proc is our own namespace's (its "self" is our pid), our own
		 * namespace link says the same. */
		snprintf(self, sizeof(self), "%s/self", proc_root);
		k = readlink(self, pid, sizeof(pid) - 1);
		if (k > 0)
			pid[k] = 0;
		snprintf(self, sizeof(self), "%s/self/ns/pid", proc_root);
		if (k <= 0 || strtol(pid, NULL, 10) != getpid() ||
		    (n = readlink(self, ns, len - 1)) < 0)
			return err;
	}
	ns[n] = 0;
	return 0;
}

int probe__dir_writable(const char *dir, char *where, size_t len)
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

/* ---- the sampler's programs, loaded and attached ----------------------- */

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

static void bpf_failed(struct probe_bpf *out, enum probe_bpf_stage stage, int err)
{
	out->failed = stage;
	out->err = err;
}

enum probe_offcpu_path probe__offcpu_path(void)
{
	const char *force = getenv("IGNIS_OFFCPU_PATH");

	if (libbpf_find_vmlinux_btf_id("sched_exit_tp", BPF_TRACE_RAW_TP) < 0)
		return PROBE_OFFCPU_NONE;
	return force && !strcmp(force, "switch") ? PROBE_OFFCPU_SWITCH : PROBE_OFFCPU_EXIT;
}

const char *probe__offcpu_path_name(enum probe_offcpu_path p)
{
	return p == PROBE_OFFCPU_EXIT ? "sched_exit_tp" :
	       p == PROBE_OFFCPU_SWITCH ? "sched_switch+sched_exit_tp" : "none";
}

void probe__offcpu_autoload(struct sampler_bpf *skel, enum probe_offcpu_path p)
{
	bpf_program__set_autoload(skel->progs.offcpu_switch, p == PROBE_OFFCPU_SWITCH);
	bpf_program__set_autoload(skel->progs.offcpu_finish, p == PROBE_OFFCPU_SWITCH);
	bpf_program__set_autoload(skel->progs.offcpu_back, p == PROBE_OFFCPU_EXIT);
}

/* Whether a perf_event program may use a hash map whose entries are
 * allocated as they are added (BPF_F_NO_PREALLOC, which tracing programs
 * take since the BPF memory allocator of Linux 6.1). A preallocated map
 * writes every entry when it is created: unw_tables' 65,536 took a tenth
 * of loading the programs. A program that looks a key up in such a map
 * answers it. */
static bool perf_event_takes_unallocated_hash(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_NO_PREALLOC);
	int mfd = bpf_map_create(BPF_MAP_TYPE_HASH, "ignis_probe", 4, 4, 1, &mo), pfd;
	struct bpf_insn insns[] = {
		/* r1 = map; *(u32 *)(r10 - 4) = 0; r2 = r10 - 4 */
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1,
		  .src_reg = BPF_PSEUDO_MAP_FD, .imm = mfd },
		{ 0 },
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10, .off = -4 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -4 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
		/* return 0 */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	if (mfd < 0)
		return false;
	pfd = bpf_prog_load(BPF_PROG_TYPE_PERF_EVENT, "ignis_probe", "GPL", insns,
			    sizeof(insns) / sizeof(insns[0]), NULL);
	close(mfd);
	if (pfd < 0)
		return false;
	close(pfd);
	return true;
}

int probe__unallocated_hashes(struct sampler_bpf *skel)
{
	struct bpf_map *hashes[] = { skel->maps.unw_tables, skel->maps.target_pids,
				     skel->maps.interp_procs, skel->maps.go_procs };
	int err = 0;

	if (!perf_event_takes_unallocated_hash())
		return 0;
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]) && !err; i++)
		err = bpf_map__set_map_flags(hashes[i],
					     bpf_map__map_flags(hashes[i]) | BPF_F_NO_PREALLOC);
	return err;
}

struct sampler_bpf *probe__open_sampler(bool *cut)
{
	size_t len;
	const void *obj = sampler_bpf__elf_bytes(&len);
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = kbtf__path(obj, len));

	*cut = oo.btf_custom_path != NULL;
	return sampler_bpf__open_opts(&oo);
}

bool probe__retry_without_cut(bool cut, int err)
{
	if (!cut || err == -EPERM)
		return false;
	kbtf__disable();
	return true;
}

/* Opens and loads the sampler; with sizes, with the walker; with offcpu,
 * with off-CPU's programs. NULL and *err. */
static struct sampler_bpf *load_sampler(const struct probe_bpf_sizes *z,
					enum probe_offcpu_path offcpu, int *err)
{
	static const struct probe_bpf_sizes none = { 1, 1, 1, 1 };
	struct sampler_bpf *skel;
	bool cut;

	libbpf_last[0] = 0;
	skel = probe__open_sampler(&cut);
	if (!skel) {
		*err = -errno;
		return NULL;
	}
	/* A small ring buffer: this is a test, not a run. */
	bpf_map__set_max_entries(skel->maps.events, 64 << 10);
	skel->rodata->walk_tables = z != NULL;
	if (z)
		skel->rodata->stack_size = 0;
	else
		z = &none;
	bpf_map__set_max_entries(skel->maps.unw_rows, z->rows);
	bpf_map__set_max_entries(skel->maps.unw_rules, z->rules);
	bpf_map__set_max_entries(skel->maps.unw_tables, z->tables);
	bpf_map__set_max_entries(skel->maps.unw_mappings, z->mappings);
	probe__offcpu_autoload(skel, offcpu);
	*err = probe__unallocated_hashes(skel);
	if (!*err)
		*err = sampler_bpf__load(skel);
	if (*err) {
		sampler_bpf__destroy(skel);
		if (probe__retry_without_cut(cut, *err))
			return load_sampler(z, offcpu, err);
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

static volatile uint64_t probe_sink;

/* 100 ms of this process's CPU time, for the sampler to run on. */
static void spin_100ms(void)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			probe_sink = probe_sink * 31 + i;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec) < 100000000LL);
}

void probe__bpf(struct probe_bpf *out, const struct probe_bpf_sizes *walker)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = 997,
		.freq = 1,
	};
	libbpf_print_fn_t old = libbpf_set_print(libbpf_capture);
	struct bpf_link *link = NULL;
	struct sampler_bpf *skel = NULL;
	int pfd = -1, err = 0;

	memset(out, 0, sizeof(*out));
	/* Off-CPU's hook at the end of __schedule is Linux 6.16's. */
	out->offcpu_path = probe__offcpu_path();
	if (out->offcpu_path == PROBE_OFFCPU_NONE) {
		snprintf(out->offcpu_err, sizeof(out->offcpu_err), "this kernel has no "
			 "sched_exit_tp tracepoint (Linux 6.16 and later have it)");
	} else if ((skel = load_sampler(walker, out->offcpu_path, &err))) {
		out->walker = walker != NULL;
		out->offcpu = true;
	} else {
		snprintf(out->offcpu_err, sizeof(out->offcpu_err), "%s%s%s", strerror(-err),
			 libbpf_last[0] ? " — " : "", libbpf_last);
	}
	/* The walker next: its verifier complexity is what differs by kernel. */
	if (walker && !skel) {
		skel = load_sampler(walker, PROBE_OFFCPU_NONE, &err);
		out->walker = skel != NULL;
		if (!skel && !out->offcpu_err[0])
			snprintf(out->offcpu_err, sizeof(out->offcpu_err), "not known: the walker "
				 "it runs with was refused too");
		if (!skel)
			snprintf(out->walker_err, sizeof(out->walker_err), "%s%s%s", strerror(-err),
				 libbpf_last[0] ? " — " : "", libbpf_last);
	}
	if (!skel && !(skel = load_sampler(NULL, PROBE_OFFCPU_NONE, &err))) {
		bpf_failed(out, PROBE_BPF_LOAD, err);
		goto cleanup;
	}
	err = sampler_bpf__attach(skel);   /* the exec and exit (and sched) tracepoints */
	if (err && out->offcpu) {
		out->offcpu = false;
		snprintf(out->offcpu_err, sizeof(out->offcpu_err), "loaded, but does not attach: %s",
			 strerror(-err));
		sampler_bpf__destroy(skel);
		skel = load_sampler(out->walker ? walker : NULL, PROBE_OFFCPU_NONE, &err);
		if (!skel) {
			bpf_failed(out, PROBE_BPF_LOAD, err);
			goto cleanup;
		}
		err = sampler_bpf__attach(skel);
	}
	if (err) {
		bpf_failed(out, PROBE_BPF_ATTACH, err);
		goto cleanup;
	}
	out->cpu = sched_getcpu();
	pfd = syscall(SYS_perf_event_open, &attr, -1, out->cpu < 0 ? 0 : out->cpu, -1,
		      PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0) {
		bpf_failed(out, PROBE_BPF_PERF_EVENT, -errno);
		goto cleanup;
	}
	link = bpf_program__attach_perf_event(skel->progs.sample, pfd);
	if (!link) {
		bpf_failed(out, PROBE_BPF_ATTACH_PERF, -errno);
		goto cleanup;
	}
	/* Stay on the sampled CPU while spinning (the event counts that CPU). */
	if (out->cpu >= 0) {
		cpu_set_t was, one;

		CPU_ZERO(&one);
		CPU_SET(out->cpu, &one);
		if (!sched_getaffinity(0, sizeof(was), &was) && !sched_setaffinity(0, sizeof(one), &one)) {
			spin_100ms();
			sched_setaffinity(0, sizeof(was), &was);
		} else {
			spin_100ms();
		}
	} else {
		spin_100ms();
	}
	out->samples = stat_sum(skel, IGNIS_STAT_SAMPLES);
	out->sent = stat_sum(skel, IGNIS_STAT_SENT);
	out->user_frames = stat_sum(skel, IGNIS_STAT_UNW_FRAMES);
cleanup:
	snprintf(out->libbpf, sizeof(out->libbpf), "%s", libbpf_last);
	bpf_link__destroy(link);   /* closes pfd too */
	if (!link && pfd >= 0)
		close(pfd);
	sampler_bpf__destroy(skel);
	libbpf_set_print(old);
}
