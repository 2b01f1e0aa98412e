#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/check.h"
#include "agent/cli.h"
#include "agent/config.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/str.h"
#include "http/http.h"
#include "sys/probe.h"
#include "unwinder/unwstore.h"

#define MAX_ITEMS  64

/* bpf_find_vma (5.17) is the newest helper bpf/sampler.bpf.c calls; the
 * others: bpf_task_pt_regs 5.15, bpf_get_current_task_btf 5.11, ring
 * buffer 5.8, raw_tp 4.17 (off-CPU's tp_btf 5.5). Distribution kernels
 * backport, so an older version is a WARN and the load test below has the
 * last word. */
#define MIN_MAJOR 5
#define MIN_MINOR 17


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

/* ---- kernel, BTF, lockdown, paranoid, cgroup, hostPID ------------------ */

int check__parse_kernel(const char *release, unsigned *major, unsigned *minor)
{
	return probe__parse_kernel(release, major, minor);
}

static void check_kernel(struct check_report *r, const char *proc_root)
{
	struct check_item *it;
	char rel[256];
	unsigned maj, min;

	probe__kernel_release(proc_root, rel, sizeof(rel));
	if (probe__parse_kernel(rel, &maj, &min)) {
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
	long long size;
	int err = probe__btf(sys_root, path, sizeof(path), &size);

	if (!err) {
		add(r, "btf", CHECK_OK, "%s (%lld bytes)", path, size);
		return;
	}
	it = add(r, "btf", CHECK_FAIL, "%s: %s", path, strerror(-err));
	set_fix(it, "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions "
		"since 2021); in a container, mount the host's /sys (or point sys_root at it)");
}

static void check_lockdown(struct check_report *r, const char *sys_root)
{
	struct check_item *it;
	char mode[256];
	int err = probe__lockdown(sys_root, mode, sizeof(mode));

	if (err == -ENOENT) {
		add(r, "lockdown", CHECK_OK, "no lockdown LSM");
		return;
	}
	if (err) {
		add(r, "lockdown", CHECK_WARN, "cannot read the mode from '%s'", mode);
		return;
	}
	if (!strcmp(mode, "confidentiality")) {
		it = add(r, "lockdown", CHECK_FAIL, "confidentiality: the kernel refuses BPF reads of "
			 "kernel memory (bpf_probe_read_kernel, which CO-RE field reads use)");
		set_fix(it, "boot with lockdown=integrity or none (kernel command line), or "
			"without Secure Boot enforcing confidentiality");
		return;
	}
	add(r, "lockdown", CHECK_OK, "%s", mode);
}

static void check_caps(struct check_report *r, uint64_t d, unsigned maj, unsigned min, bool *ok)
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
	bool admin = probe__has_cap(d, CAP_SYS_ADMIN), need_fail = false;
	struct check_item *it;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		bool have = probe__has_cap(d, caps[i].cap);

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

static void check_paranoid(struct check_report *r, const char *proc_root, uint64_t d)
{
	bool perfmon = probe__has_cap(d, CAP_PERFMON) || probe__has_cap(d, CAP_SYS_ADMIN);
	struct check_item *it;
	long v;

	if (probe__perf_paranoid(proc_root, &v)) {
		add(r, "perf_event_paranoid", CHECK_WARN, "%s/sys/kernel/perf_event_paranoid "
		    "unreadable", proc_root);
		return;
	}
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

static void check_memlock(struct check_report *r, unsigned maj, unsigned min, uint64_t d)
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
	if (probe__has_cap(d, CAP_SYS_RESOURCE) || rl.rlim_max == RLIM_INFINITY) {
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
	enum probe_cgroup cg;
	int err = probe__cgroup(sys_root, &cg, path, sizeof(path));

	if (err)
		add(r, "cgroup", CHECK_WARN, "%s: %s (workloads are then named from /proc only)",
		    path, strerror(-err));
	else if (cg == PROBE_CGROUP_V2)
		add(r, "cgroup", CHECK_OK, "v2 (%s)", path);
	else if (cg == PROBE_CGROUP_HYBRID)
		add(r, "cgroup", CHECK_OK, "hybrid v1/v2 (container ids from /proc/PID/cgroup)");
	else
		add(r, "cgroup", CHECK_OK, "v1 (container ids from /proc/PID/cgroup)");
}

static void check_host_pid(struct check_report *r, const char *proc_root)
{
	char path[PATH_MAX], ns[64];
	struct check_item *it;
	int err = probe__pid_ns(proc_root, ns, sizeof(ns), path, sizeof(path));

	if (err) {
		it = add(r, "host-pid", CHECK_WARN, "cannot read %s: %s", path, strerror(-err));
		set_fix(it, "grant CAP_SYS_PTRACE so the check can compare namespaces");
		return;
	}
	if (!strcmp(ns, PROBE_PID_NS_INIT)) {
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

static void check_bpf(struct check_report *r, const struct config *cfg)
{
	enum unwind_mode want = cfg ? cfg->unwind : UNWIND_KERNEL;
	uint64_t budget = cfg ? cfg->unwind_table_bytes : 0;
	struct unwstore_sizes z;
	const char *dash;
	struct check_item *it;
	struct probe_bpf pb;

	unwstore__sizes(budget, &z);
	probe__bpf(&pb, &(struct probe_bpf_sizes){ z.rows, z.rules, z.tables, z.mappings });
	dash = pb.libbpf[0] ? " — " : "";
	switch (pb.failed) {
	case PROBE_BPF_OK:
		add(r, "bpf-load", CHECK_OK, "the sampler's programs load, and attach to cpu-clock "
		    "on CPU %d and to the exec/exit tracepoints", pb.cpu < 0 ? 0 : pb.cpu);
		break;
	case PROBE_BPF_LOAD:
		it = add(r, "bpf-load", CHECK_FAIL, "the kernel refused ignis's BPF programs: %s%s%s",
			 strerror(-pb.err), dash, pb.libbpf);
		set_fix(it, pb.err == -EPERM ? "grant CAP_BPF and CAP_PERFMON (or run as root); "
			"check lockdown above" : "see the kernel line above: Linux 5.17 or later "
			"with BTF is needed");
		return;
	case PROBE_BPF_ATTACH:
		it = add(r, "bpf-load", CHECK_FAIL, "loaded, but the exec/exit tracepoints do not "
			 "attach: %s%s%s", strerror(-pb.err), dash, pb.libbpf);
		set_fix(it, "grant CAP_PERFMON (or run as root)");
		return;
	case PROBE_BPF_PERF_EVENT:
		it = add(r, "bpf-load", CHECK_FAIL, "programs load, but a cpu-clock event for "
			 "every process on CPU %d cannot be opened: %s", pb.cpu, strerror(-pb.err));
		set_fix(it, "grant CAP_PERFMON, or sysctl kernel.perf_event_paranoid=0; in a "
			"VM, the hypervisor may hide perf events");
		return;
	case PROBE_BPF_ATTACH_PERF:
		it = add(r, "bpf-load", CHECK_FAIL, "cannot attach the sampler to a cpu-clock "
			 "event: %s", strerror(-pb.err));
		set_fix(it, "grant CAP_PERFMON and CAP_BPF (or run as root)");
		return;
	}
	/* Which unwind mode a run will use: the walker's verifier complexity
	 * is what differs by kernel. */
	if (!pb.walker) {
		it = add(r, "unwind", want == UNWIND_KERNEL ? CHECK_FAIL : CHECK_WARN,
			 "the unwind-table walker does not load on this kernel (%s): --unwind kernel "
			 "cannot run; auto would use copy (user stacks copied to the agent)",
			 pb.walker_err);
		set_fix(it, "use --unwind copy (or auto, or fp), or a newer kernel");
	} else if (!pb.sent) {
		it = add(r, "unwind", CHECK_WARN, "the walker loads, but did not run in 100 ms of "
			 "sampled CPU time (%" PRIu64 " samples)", pb.samples);
		set_fix(it, "is the cpu-clock event delivered on this machine (a VM)?");
	} else {
		add(r, "unwind", CHECK_OK, "mode %s%s: the unwind-table walker loads and ran (%" PRIu64
		    " samples, %" PRIu64 " user frames); table memory %" PRIu64 " MiB",
		    want == UNWIND_AUTO ? "auto → kernel" : unwind_mode_name(want),
		    want == UNWIND_KERNEL || want == UNWIND_AUTO ? "" : " (configured)",
		    pb.sent, pb.user_frames,
		    (uint64_t)((budget ? budget : UNWSTORE_DEFAULT_BUDGET) >> 20));
	}
	if (pb.offcpu) {
		add(r, "off-cpu", CHECK_OK, "off-CPU's programs load and attach (%s)%s",
		    pb.offcpu_path == PROBE_OFFCPU_EXIT ? "sched_exit_tp alone, one a switch" :
		    "sched_switch, sched_exit_tp",
		    cfg && cfg->off_cpu.on ? "" : "; sampling.off_cpu is off");
	} else {
		it = add(r, "off-cpu", cfg && cfg->off_cpu.on ? CHECK_FAIL : CHECK_WARN,
			 "off-CPU time cannot be recorded here: %s", pb.offcpu_err);
		set_fix(it, "Linux 6.16 or later; or leave sampling.off_cpu (record --off-cpu) off");
	}
}

/* ---- directories ------------------------------------------------------- */

static void check_dir(struct check_report *r, const char *name, const char *dir,
		      enum check_status bad)
{
	char where[PATH_MAX];
	struct check_item *it;
	int err = probe__dir_writable(dir, where, sizeof(where));

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
	char error[256];
	char body[4096];
	size_t len;
};

/* GET url. Secrets go in headers or the userpwd, never in anything this
 * prints: the HTTP layer's error text names the host, not the request. */
static void http_get(const char *url, struct curl_slist *headers, const char *user,
		     const char *password, const char *ca_file, bool insecure, long timeout_ms,
		     struct probe *pr)
{
	struct http_call call = {
		.url = url, .headers = headers, .user = user, .password = password,
		.ca_file = ca_file, .insecure = insecure, .timeout_ms = timeout_ms,
		.connect_timeout_ms = timeout_ms, .user_agent = "ignis/" IGNIS_VERSION " (check)",
		.max_body = sizeof(pr->body) - 1, .truncate = true,
	};
	struct http_client *c = http_client__new();
	struct http_answer a;

	memset(pr, 0, sizeof(*pr));
	pr->status = -1;
	if (!c) {
		snprintf(pr->error, sizeof(pr->error), "out of memory");
		return;
	}
	http_client__call(c, &call, &a);
	if (a.result == HTTP_DONE) {
		pr->status = a.status;
		pr->len = a.len;
		memcpy(pr->body, a.body, a.len);
		pr->body[a.len] = 0;
	} else {
		snprintf(pr->error, sizeof(pr->error), "%s", a.error);
	}
	http_client__free(c);
}

static long probe_timeout(const struct config_destination *d)
{
	long t = d->timeout_ms ? (long)d->timeout_ms : 10000;

	return t < 5000 ? t : 5000;
}

static void unreachable(struct check_report *r, const char *name, const char *url,
			const struct probe *pr)
{
	struct check_item *it = add(r, name, CHECK_FAIL, "%s unreachable: %s", url, pr->error);

	set_fix(it, "check the URL, DNS and any firewall or NetworkPolicy between this node and "
		"it");
}

/* GET url with h, then the destination's headers, its basic auth, TLS and
 * timeout (h is freed); false, reported, when no answer came. */
static bool get_dest(struct check_report *r, const char *name,
		     const struct config_destination *d, const char *url, struct curl_slist *h,
		     struct probe *pr)
{
	for (size_t i = 0; i < d->nheaders; i++)
		http_headers__add(&h, d->headers[i].name, d->headers[i].value);
	http_get(url, h, d->basic_user, d->basic_password, d->ca_file, d->insecure_skip_verify,
		 probe_timeout(d), pr);
	http_headers__free(h);
	if (pr->status < 0) {
		unreachable(r, name, url, pr);
		return false;
	}
	return true;
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
		http_headers__add(&h, "X-Scope-OrgID", d->tenant_id);
	if (d->bearer_token) {
		char v[8192];

		snprintf(v, sizeof(v), "Bearer %s", d->bearer_token);
		http_headers__add(&h, "Authorization", v);
		explicit_bzero(v, sizeof(v));
	}
	if (!get_dest(r, name, d, url, h, &pr))
		return;
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

		if (str__ends_with(d->url, "/profiling/v1/input"))
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
			http_headers__add(&h, "DD-API-KEY", d->api_key);
		http_get(url, h, NULL, NULL, d->ca_file, d->insecure_skip_verify, probe_timeout(d),
			 &pr);
		http_headers__free(h);
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

/* A GET on the profiles path: a receiver answers 405 (POST only); 404
 * says there is no profiles receiver there. */
static void check_otlp(struct check_report *r, const char *name,
		       const struct config_destination *d)
{
	struct check_item *it;
	char url[4096];
	struct probe pr;

	snprintf(url, sizeof(url), "%s%s", d->url, d->otlp_path ? d->otlp_path : "");
	if (!get_dest(r, name, d, url, NULL, &pr))
		return;
	if (pr.status == 404) {
		it = add(r, name, CHECK_WARN, "GET %s: 404: a server answers, but no OTLP profiles "
			 "receiver at that path", url);
		set_fix(it, "enable profiles in the receiver (the Collector's otlp receiver needs its "
			"profiles support on) or set path");
		return;
	}
	add(r, name, CHECK_OK, "GET %s: %ld: reachable", url, pr.status);
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
		case CONFIG_DEST_OTLP:
			check_otlp(r, name, d);
			break;
		default:
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
	n = k->token_file ? probe__read_line("", k->token_file, token, sizeof(token)) : -ENOENT;
	if (n <= 0) {
		it = add(r, "kubernetes", CHECK_FAIL, "service account token %s: %s",
			 k->token_file ? k->token_file : "(none)", n ? strerror(-n) : "empty");
		set_fix(it, "automountServiceAccountToken must not be false for the DaemonSet's "
			"service account");
		return;
	}
	node = http__escape(k->node_name ? k->node_name : "");
	snprintf(url, sizeof(url), "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=1",
		 k->api_url, node ? node : "");
	free(node);
	{
		char v[sizeof(token) + 16];

		snprintf(v, sizeof(v), "Bearer %s", token);
		http_headers__add(&h, "Authorization", v);
		explicit_bzero(v, sizeof(v));
	}
	explicit_bzero(token, sizeof(token));
	http_get(url, h, NULL, NULL, k->ca_file, k->insecure_skip_verify, 5000, &pr);
	http_headers__free(h);
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
	const struct config *cfg = o->cfg;
	const char *proc_root = o->proc_root ? o->proc_root : cfg ? cfg->proc_root : "/proc";
	const char *sys_root = o->sys_root ? o->sys_root : cfg ? cfg->sys_root : "/sys";
	struct check_report *r = calloc(1, sizeof(*r));
	unsigned maj = 0, min = 0;
	bool caps_ok = false;
	uint64_t caps;
	char rel[256];

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	probe__caps(&caps);
	check_kernel(r, proc_root);
	if (probe__read_line(proc_root, "sys/kernel/osrelease", rel, sizeof(rel)) > 0)
		probe__parse_kernel(rel, &maj, &min);
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
		default:
			return cli__help_or_usage(c, usage);
		}
	}
	ret = cli__no_operands("ignis check", argc, argv, usage);
	if (ret)
		return ret;
	if (path) {
		cfg = config__load(path, NULL, msg, sizeof(msg));
		if (!cfg) {
			fprintf(stderr, "ignis: %s\n", msg);
			return errno == ENOMEM ? EXIT_FAILURE : EXIT_USAGE;
		}
	}
	co.cfg = cfg;
	http__init();
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
	return ret;
}
