#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "base/schema.h"
#include "sampling/offcpu.h"
#include "sampling/sampler.h"
#include "sys/probe.h"
#include "sampler.skel.h"

#define MAX_CPUS SAMPLER_MAX_CPUS

struct sampler {
	struct sampler_bpf *skel;
	struct ring_buffer *rb;
	int *perf_fds;
	struct bpf_link **links;
	unsigned int nevents;
	int ncpus_possible;
	sampler_event_fn fn;
	void *ctx;
	struct sampler_opts opts;
	int deferred;            /* opts.cpus and opts.sys_root are our copies */
	struct bpf_link *offcpu_finish;
	enum probe_offcpu_path offcpu_path;
	bool offcpu_on;          /* its programs attached */
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level l = level == LIBBPF_WARN ? LOG_WARN :
			   level == LIBBPF_INFO ? LOG_INFO : LOG_DEBUG;

	/* libbpf's info lines are chatty; keep them for --verbose. */
	if (l == LOG_INFO)
		l = LOG_DEBUG;
	if (l > log__level())
		return 0;
	log__vprintf(l, fmt, ap);
	return 0;
}

int sampler__parse_cpu_list(const char *s, uint8_t *bitmap, size_t nbits)
{
	int count = 0;

	memset(bitmap, 0, (nbits + 7) / 8);
	while (*s && *s != '\n') {
		unsigned long lo, hi;
		char *end;

		errno = 0;
		lo = strtoul(s, &end, 10);
		if (end == s || errno)
			return -EINVAL;
		hi = lo;
		s = end;
		if (*s == '-') {
			s++;
			hi = strtoul(s, &end, 10);
			if (end == s || errno || hi < lo)
				return -EINVAL;
			s = end;
		}
		if (hi >= nbits)
			return -EINVAL;
		for (unsigned long c = lo; c <= hi; c++) {
			if (!(bitmap[c / 8] & (1u << (c % 8))))
				count++;
			bitmap[c / 8] |= 1u << (c % 8);
		}
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -EINVAL;
	}
	return count;
}

int sampler__check_cpus(struct schema_ctx *x, const char *s)
{
	uint8_t *bits = malloc(MAX_CPUS / 8);
	int n;

	if (!bits)
		return schema__oom(x);
	n = s[0] >= '0' && s[0] <= '9' && !schema__has_control(s, false) ?
		    sampler__parse_cpu_list(s, bits, MAX_CPUS) : -EINVAL;
	free(bits);
	if (n <= 0)
		return schema__fail(x, "'%s': expected a CPU list like 0-3,8 (CPUs below %u)",
				    SCHEMA_Q(s), MAX_CPUS);
	return 0;
}

static int read_online_cpus(const char *sys_root, uint8_t *bitmap, size_t nbits)
{
	char path[PATH_MAX], buf[4096];
	ssize_t n;
	int fd, err;

	snprintf(path, sizeof(path), "%s/devices/system/cpu/online", sys_root);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_warn("sampler: cannot read %s: %s\n", path, strerror(-err));
		return err;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	err = sampler__parse_cpu_list(buf, bitmap, nbits);
	if (err < 0)
		pr_warn("sampler: cannot parse %s: '%s'\n", path, buf);
	return err;
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct sampler *s = ctx;

	return s->fn(s->ctx, data, len);
}

static int open_cpu_clock(unsigned int cpu, unsigned int hz)
{
	struct perf_event_attr attr = {
		.size = sizeof(attr),
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.freq = 1,
		.sample_freq = hz,
	};

	return syscall(__NR_perf_event_open, &attr, -1, (int)cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static int attach_cpus(struct sampler *s, const struct sampler_opts *opts)
{
	static uint8_t online[MAX_CPUS / 8];
	int n, err;

	n = read_online_cpus(opts->sys_root ? opts->sys_root : "/sys", online, MAX_CPUS);
	if (n < 0)
		return n;
	if (opts->cpus && *opts->cpus) {
		static uint8_t wanted[MAX_CPUS / 8];

		if (sampler__parse_cpu_list(opts->cpus, wanted, MAX_CPUS) < 0) {
			pr_warn("sampler: bad CPU list '%s'\n", opts->cpus);
			return -EINVAL;
		}
		n = 0;
		for (size_t i = 0; i < sizeof(online); i++) {
			online[i] &= wanted[i];
			n += __builtin_popcount(online[i]);
		}
		if (!n) {
			pr_warn("sampler: none of the CPUs %s is online\n", opts->cpus);
			return -ENODEV;
		}
	}
	s->perf_fds = calloc(MAX_CPUS, sizeof(*s->perf_fds));
	s->links = calloc(MAX_CPUS, sizeof(*s->links));
	if (!s->perf_fds || !s->links)
		return -ENOMEM;
	for (unsigned int cpu = 0; cpu < MAX_CPUS; cpu++) {
		int fd;

		if (!(online[cpu / 8] & (1u << (cpu % 8))))
			continue;
		fd = open_cpu_clock(cpu, opts->frequency_hz);
		if (fd < 0) {
			err = -errno;
			/* A CPU that went offline since we read the list. */
			if (err == -ENODEV)
				continue;
			pr_warn("sampler: perf_event_open(cpu-clock, cpu %u, %u Hz): %s\n",
				cpu, opts->frequency_hz, strerror(-err));
			if (err == -EACCES || err == -EPERM)
				pr_warn("sampler: needs CAP_PERFMON (or root) and "
					"kernel.perf_event_paranoid <= 2\n");
			if (err == -EINVAL)
				pr_warn("sampler: is %u Hz above kernel.perf_event_max_sample_rate?\n",
					opts->frequency_hz);
			return err;
		}
		s->links[s->nevents] = bpf_program__attach_perf_event(s->skel->progs.sample, fd);
		if (!s->links[s->nevents]) {
			err = -errno;
			close(fd);
			pr_warn("sampler: attach to cpu %u: %s\n", cpu, strerror(-err));
			return err;
		}
		s->perf_fds[s->nevents++] = fd;
	}
	if (!s->nevents) {
		pr_warn("sampler: no online CPU could be sampled\n");
		return -ENODEV;
	}
	return 0;
}

/* Half a second of samples from every CPU, so a busy agent loop that polls
 * every 100 ms never fills it: between 8 (512 KiB for walked records) and
 * 256 MiB. The kernel maps a ring buffer's pages twice into the reader
 * (records that wrap read on), all of them when it is mapped: its size
 * counts twice in the agent's resident memory from the start. */
static size_t ringbuf_size(const struct sampler_opts *opts)
{
	int cpus = libbpf_num_possible_cpus();
	/* A walked record is the header and its frames (30 on average is
	 * generous); a copy record is the whole array and the copy. */
	uint64_t rec = opts->walk_tables ? IGNIS_SAMPLE_LEN(30) :
		       sizeof(struct ignis_sample) + opts->stack_size;
	uint64_t want = (uint64_t)(cpus > 0 ? cpus : 1) * opts->frequency_hz * rec / 2;
	/* Walked records are a few hundred bytes: a smaller floor. */
	size_t size = opts->walk_tables ? 512 << 10 : 8 << 20;

	while (size < want && size < (256u << 20))
		size <<= 1;
	return size;
}

/* Off-CPU's programs load only when it is on, those of the path this
 * kernel has (sys/probe.h); its map is sized then. */
static int setup_offcpu(struct sampler *s, const struct sampler_opts *opts)
{
	uint32_t slots = opts->off_cpu ? offcpu__tid_slots("/proc/sys/kernel/pid_max") : 0;
	int err;

	s->offcpu_path = opts->off_cpu ? probe__offcpu_path() : PROBE_OFFCPU_NONE;
	probe__offcpu_autoload(s->skel, s->offcpu_path);
	/* attach_offcpu attaches it, first: the skeleton's attach must not
	 * attach it a second time (it ran twice at every __schedule). */
	bpf_program__set_autoattach(s->skel->progs.offcpu_finish, false);
	err = bpf_map__set_max_entries(s->skel->maps.offcpu_by_tid, slots ? slots : 1);
	if (err)
		return err;
	s->skel->rodata->offcpu_tid_slots = slots;
	if (opts->off_cpu && s->offcpu_path == PROBE_OFFCPU_NONE) {
		pr_warn("sampler: off-CPU needs the sched_exit_tp tracepoint (Linux 6.16 and "
			"later); this kernel has none\n");
		return -EOPNOTSUPP;
	}
	s->skel->rodata->offcpu_min_ns = opts->offcpu_min_ns;
	s->skel->rodata->offcpu_threshold = offcpu__threshold(opts->offcpu_probability);
	return 0;
}

/* Before sched_switch, so that no pending blocking waits for a hook that
 * is not there yet. The one-program path's (offcpu_back) the skeleton
 * attaches. */
static int attach_offcpu(struct sampler *s)
{
	int err;

	if (s->offcpu_path == PROBE_OFFCPU_EXIT) {
		s->offcpu_on = true;
		return 0;
	}
	s->offcpu_finish = bpf_program__attach(s->skel->progs.offcpu_finish);
	if (!s->offcpu_finish) {
		err = -errno;
		pr_warn("sampler: off-CPU: cannot attach to sched_exit_tp: %s\n", strerror(-err));
		return err;
	}
	s->offcpu_on = true;
	return 0;
}

struct sampler *sampler__new(const struct sampler_opts *opts, sampler_event_fn fn, void *ctx)
{
	struct sampler *s;
	size_t npids_max, ring;
	bool cut;
	int err;

	libbpf_set_print(libbpf_print);
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fn = fn;
	s->ctx = ctx;

	s->skel = probe__open_sampler(&cut);
	if (!s->skel) {
		err = -errno;
		pr_warn("sampler: cannot open the BPF object: %s\n", strerror(-err));
		goto cleanup;
	}
	s->skel->rodata->self_tgid = getpid();
	s->skel->rodata->filter_pids = opts->npids > 0;
	s->skel->rodata->follow_children = opts->npids > 0 && opts->follow_children;
	s->skel->rodata->send_idle = !!opts->send_idle;
	s->skel->rodata->stack_size = opts->walk_tables ? 0 : opts->stack_size;
	s->skel->rodata->walk_tables = !!opts->walk_tables;
	s->opts = *opts;
	s->opts.pids = NULL;
	s->opts.npids = 0;
	s->opts.cpus = NULL;  /* used by attach only, during sampler__new */
	s->opts.sys_root = NULL;
	{
		/* The copy and fp modes leave the unwind maps empty: keep them
		 * tiny. */
		struct unwstore_sizes z = { 1, 1, 1, 1 };
		const struct unwstore_sizes *u = opts->walk_tables ? &opts->unw : &z;

		if ((err = bpf_map__set_max_entries(s->skel->maps.unw_rows, u->rows)) ||
		    (err = bpf_map__set_max_entries(s->skel->maps.unw_rules, u->rules)) ||
		    (err = bpf_map__set_max_entries(s->skel->maps.unw_tables, u->tables)) ||
		    (err = bpf_map__set_max_entries(s->skel->maps.unw_mappings, u->mappings)))
			goto cleanup;
	}
	ring = opts->ringbuf_bytes ? opts->ringbuf_bytes : ringbuf_size(opts);
	err = bpf_map__set_max_entries(s->skel->maps.events, ring);
	if (err)
		goto cleanup;
	/* A forced wake-up well before a small ring fills. */
	if (s->skel->rodata->wakeup_bytes > ring / 4)
		s->skel->rodata->wakeup_bytes = ring / 4;
	npids_max = opts->npids > 0 ? opts->npids : 1;
	if (opts->npids > 0 && opts->follow_children) {
		size_t want = opts->max_pids ? opts->max_pids : SAMPLER_FOLLOW_MAX_PIDS;

		if (npids_max < want)
			npids_max = want;
	}
	err = bpf_map__set_max_entries(s->skel->maps.target_pids, npids_max);
	if (err)
		goto cleanup;
	err = setup_offcpu(s, opts);
	if (err)
		goto cleanup;

	err = probe__unallocated_hashes(s->skel);
	if (err)
		goto cleanup;
	err = sampler_bpf__load(s->skel);
	if (err && probe__retry_without_cut(cut, err)) {
		/* a bug of the cut, not of the machine: the whole BTF */
		pr_warn("sampler: the programs do not load against the kernel's BTF cut for "
			"them (%s); loading against the whole of it\n", strerror(-err));
		sampler__free(s);
		return sampler__new(opts, fn, ctx);
	}
	if (err) {
		pr_warn("sampler: cannot load the BPF programs: %s\n", strerror(-err));
		if (err == -EPERM)
			pr_warn("sampler: needs CAP_BPF and CAP_PERFMON (or root); "
				"check the memlock limit on kernels before 5.11\n");
		goto cleanup;
	}
	for (size_t i = 0; i < opts->npids; i++) {
		__u32 key = opts->pids[i];
		__u8 one = 1;

		if (bpf_map__update_elem(s->skel->maps.target_pids, &key, sizeof(key),
					 &one, sizeof(one), BPF_ANY)) {
			err = -errno;
			pr_warn("sampler: cannot add pid %u to the filter: %s\n", key, strerror(-err));
			goto cleanup;
		}
	}
	if (opts->off_cpu) {
		err = attach_offcpu(s);
		if (err)
			goto cleanup;
	}
	err = sampler_bpf__attach(s->skel);  /* the exec/exit (and sched_switch) tracepoints */
	if (err) {
		pr_warn("sampler: cannot attach the exec/exit tracepoints: %s\n", strerror(-err));
		goto cleanup;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), on_record, s, NULL);
	if (!s->rb) {
		err = -errno;
		pr_warn("sampler: cannot set up the ring buffer: %s\n", strerror(-err));
		goto cleanup;
	}
	s->ncpus_possible = libbpf_num_possible_cpus();
	if (s->ncpus_possible <= 0) {
		err = s->ncpus_possible ? s->ncpus_possible : -EINVAL;
		goto cleanup;
	}
	if (!opts->defer_start) {
		err = attach_cpus(s, opts);
		if (err)
			goto cleanup;
	} else {
		s->opts.cpus = opts->cpus ? strdup(opts->cpus) : NULL;
		s->opts.sys_root = opts->sys_root ? strdup(opts->sys_root) : NULL;
		if ((opts->cpus && !s->opts.cpus) || (opts->sys_root && !s->opts.sys_root)) {
			err = -ENOMEM;
			goto cleanup;
		}
		s->deferred = 1;
	}
	return s;

cleanup:
	sampler__free(s);
	errno = -err;
	return NULL;
}

void sampler__free(struct sampler *s)
{
	if (!s)
		return;
	for (unsigned int i = 0; i < s->nevents; i++) {
		bpf_link__destroy(s->links[i]);
		close(s->perf_fds[i]);
	}
	free(s->links);
	free(s->perf_fds);
	if (s->deferred) {
		free((char *)s->opts.cpus);
		free((char *)s->opts.sys_root);
	}
	ring_buffer__free(s->rb);
	bpf_link__destroy(s->offcpu_finish);
	sampler_bpf__destroy(s->skel);
	free(s);
}

int sampler__start(struct sampler *s)
{
	if (s->nevents)
		return 0;
	return attach_cpus(s, &s->opts);
}

void sampler__unw_fds(const struct sampler *s, struct unwstore_fds *fds)
{
	fds->rules = bpf_map__fd(s->skel->maps.unw_rules);
	fds->rows = bpf_map__fd(s->skel->maps.unw_rows);
	fds->tables = bpf_map__fd(s->skel->maps.unw_tables);
	fds->mappings = bpf_map__fd(s->skel->maps.unw_mappings);
}

int sampler__interp_fd(const struct sampler *s)
{
	return bpf_map__fd(s->skel->maps.interp_procs);
}

void sampler__go_fds(const struct sampler *s, int *procs, int *stats)
{
	*procs = bpf_map__fd(s->skel->maps.go_procs);
	*stats = bpf_map__fd(s->skel->maps.go_stats);
}

volatile uint64_t *sampler__unw_generation(const struct sampler *s)
{
	return (volatile uint64_t *)&s->skel->bss->unw_generation;
}

volatile uint64_t *sampler__unw_pid_generation(const struct sampler *s)
{
	return (volatile uint64_t *)s->skel->bss->unw_pid_gen;
}

volatile uint32_t *sampler__interp_nprocs(const struct sampler *s)
{
	return (volatile uint32_t *)&s->skel->bss->interp_nprocs;
}

volatile uint32_t *sampler__go_nprocs(const struct sampler *s)
{
	return (volatile uint32_t *)&s->skel->bss->go_nprocs;
}

int sampler__poll(struct sampler *s, int timeout_ms)
{
	int n, m;

	n = ring_buffer__poll(s->rb, timeout_ms);
	if (n < 0)
		return n;
	/* The BPF side skips most wake-ups, so after a timed-out wait the
	 * data is there without an epoll event: consume it explicitly. */
	m = ring_buffer__consume(s->rb);
	if (m < 0)
		return m;
	return n + m;
}

int sampler__stats(const struct sampler *s, struct sampler_stats *out)
{
	__u64 *vals;
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->cpus = s->nevents;
	vals = calloc(s->ncpus_possible, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 k = 0; k < IGNIS_NSTATS; k++) {
		if (bpf_map__lookup_elem(s->skel->maps.stats, &k, sizeof(k), vals,
					 sizeof(*vals) * s->ncpus_possible, 0)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < s->ncpus_possible; c++)
			out->v[k] += vals[c];
	}
	free(vals);
	return err;
}

int sampler__stats_cpu(const struct sampler *s, unsigned int stat, uint64_t *per_cpu, size_t n)
{
	__u64 *vals;
	__u32 k = stat;
	size_t i;

	if (stat >= IGNIS_NSTATS)
		return -EINVAL;
	vals = calloc(s->ncpus_possible, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map__lookup_elem(s->skel->maps.stats, &k, sizeof(k), vals,
				 sizeof(*vals) * s->ncpus_possible, 0)) {
		int err = -errno;

		free(vals);
		return err;
	}
	for (i = 0; i < n && i < (size_t)s->ncpus_possible; i++)
		per_cpu[i] = vals[i];
	free(vals);
	return (int)i;
}

int sampler__prog_fd(const struct sampler *s)
{
	return bpf_program__fd(s->skel->progs.sample);
}

int sampler__offcpu_stats(const struct sampler *s, uint64_t out[IGNIS_OFFCPU_NSTATS])
{
	__u64 *vals;
	int err = 0;

	memset(out, 0, IGNIS_OFFCPU_NSTATS * sizeof(*out));
	if (!s->offcpu_on)
		return 0;
	vals = calloc(s->ncpus_possible, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 k = 0; k < IGNIS_OFFCPU_NSTATS; k++) {
		if (bpf_map__lookup_elem(s->skel->maps.offcpu_stats, &k, sizeof(k), vals,
					 sizeof(*vals) * s->ncpus_possible, 0)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < s->ncpus_possible; c++)
			out[k] += vals[c];
	}
	free(vals);
	return err;
}

int sampler__offcpu_prog_fds(const struct sampler *s, int *switch_fd, int *finish_fd)
{
	bool one = s->offcpu_path == PROBE_OFFCPU_EXIT;

	*switch_fd = s->offcpu_on && !one ? bpf_program__fd(s->skel->progs.offcpu_switch) : -1;
	*finish_fd = !s->offcpu_on ? -1 :
		     bpf_program__fd(one ? s->skel->progs.offcpu_back : s->skel->progs.offcpu_finish);
	return s->offcpu_on ? 0 : -ENOENT;
}

const char *sampler__offcpu_path(const struct sampler *s)
{
	return s->offcpu_on ? probe__offcpu_path_name(s->offcpu_path) : NULL;
}
