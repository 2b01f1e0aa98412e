#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "sampling/collector.h"
#include "base/log.h"
#include "agent/metrics.h"
#include "agent/record.h"
#include "agent/report.h"
#include "exporters/flamegraph.h"
#include "exporters/folded.h"
#include "exporters/pprof.h"

static volatile sig_atomic_t stop_requested;
/* With a command: its pid, for the signal handler to forward to. */
static volatile sig_atomic_t command_pid;

/* A signal the terminal sent went to the whole foreground process group,
 * the command included; one sent to ignis alone (kill, timeout(1),
 * systemd) is passed on, so the command sees what it would see without
 * ignis in between. */
static void on_signal(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	if (command_pid > 0 && si && si->si_code != SI_KERNEL)
		kill(command_pid, sig);
	stop_requested++;
}

/* Only there so that a blocking poll returns (EINTR) when the command exits. */
static void on_child(int sig)
{
	(void)sig;
}

/* Fails early, before anything is loaded, when the output cannot be written. */
static int prepare_output(const char *dir)
{
	char path[PATH_MAX];
	int fd, err;

	if (mkdir(dir, 0755) && errno != EEXIST) {
		err = -errno;
		fprintf(stderr, "ignis: cannot create output directory %s: %s\n", dir, strerror(-err));
		return err;
	}
	snprintf(path, sizeof(path), "%s/.ignis-write-test-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "ignis: cannot write to output directory %s: %s\n", dir, strerror(-err));
		return err;
	}
	close(fd);
	unlink(path);
	return 0;
}

/* Writes to a temporary name, then renames, so a reader never sees half a file. */
static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	if (fwrite(data, 1, len, f) != len)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int write_flamegraph(const struct record_opts *opts, const struct profile *p,
			   const char *subtitle)
{
	struct flamegraph_opts fo = {
		.title = "Flame Graph",
		.subtitle = subtitle,
		.root_label = "comm",
	};
	struct flamegraph_stats fst;
	size_t len = 0;
	char *svg = NULL;
	FILE *f;
	int err;

	f = open_memstream(&svg, &len);
	if (!f)
		return -errno;
	err = flamegraph__write(p, &fo, f, &fst);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (!err)
		err = write_file(opts->output_dir, "flamegraph.svg", svg, len);
	if (!err && fst.omitted)
		pr_info("record: flamegraph.svg: %zu frames drawn, %zu too narrow to draw left out\n",
			fst.frames, fst.omitted);
	free(svg);
	return err;
}

/* NAME.pb.gz and NAME.folded: CPU samples, or (offcpu) off-CPU blockings
 * with their nanoseconds. */
static int write_profile(const struct record_opts *opts, const struct profile *p,
			 const char *name, int offcpu)
{
	uint8_t *raw = NULL, *gz = NULL;
	size_t raw_len, gz_len, folded_len = 0;
	char *folded = NULL, file[64];
	FILE *f;
	int err;

	snprintf(file, sizeof(file), "%s.pb.gz", name);
	err = pprof__encode(p, offcpu ? &pprof_style_offcpu : &pprof_style_default, &raw, &raw_len);
	if (!err)
		err = pprof__gzip(raw, raw_len, &gz, &gz_len);
	if (!err)
		err = write_file(opts->output_dir, file, gz, gz_len);
	if (err) {
		fprintf(stderr, "ignis: cannot write %s/%s: %s\n", opts->output_dir, file,
			strerror(-err));
		goto cleanup;
	}
	snprintf(file, sizeof(file), "%s.folded", name);
	f = open_memstream(&folded, &folded_len);
	if (!f) {
		err = -errno;
		goto cleanup;
	}
	err = offcpu ? folded__write_values(p, "comm", f) : folded__write(p, "comm", f);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (!err)
		err = write_file(opts->output_dir, file, folded, folded_len);
	if (err)
		fprintf(stderr, "ignis: cannot write %s/%s: %s\n", opts->output_dir, file,
			strerror(-err));
cleanup:
	free(folded);
	free(gz);
	free(raw);
	return err;
}

static int write_outputs(const struct record_opts *opts, const struct profile *p,
			 const char *subtitle)
{
	int err;

	err = write_profile(opts, p, "profile", 0);
	if (err)
		return err;
	err = write_flamegraph(opts, p, subtitle);
	if (err)
		fprintf(stderr, "ignis: cannot write %s/flamegraph.svg: %s\n", opts->output_dir,
			strerror(-err));
	return err;
}

/* The off-CPU half: its counters, offcpu.pb.gz and offcpu.folded, its top. */
static int write_offcpu(const struct record_opts *opts, struct collector *c, int64_t wall_ns,
			double elapsed)
{
	const uint64_t *o;
	struct collector_stats st;
	struct aggregate *agg = NULL;
	struct profile *prof = NULL;
	int err;

	collector__stats(c, &st);
	o = st.offcpu;
	fprintf(stderr, "ignis: off-CPU: %llu blockings of targets, %llu tracked (%llu not "
		"picked at probability %g, %llu with no room to track them), %llu ran again: %llu shorter "
		"than %llu us, %llu sent, %llu lost (ring buffer full), %llu missed; hooks: %s\n",
		(unsigned long long)o[IGNIS_OFFCPU_BLOCKED],
		(unsigned long long)(o[IGNIS_OFFCPU_BLOCKED] - o[IGNIS_OFFCPU_UNSAMPLED] -
				     o[IGNIS_OFFCPU_FULL]),
		(unsigned long long)o[IGNIS_OFFCPU_UNSAMPLED],
		opts->offcpu_probability > 0 ? opts->offcpu_probability : 1.0,
		(unsigned long long)o[IGNIS_OFFCPU_FULL], (unsigned long long)o[IGNIS_OFFCPU_WOKEN],
		(unsigned long long)o[IGNIS_OFFCPU_SHORT],
		(unsigned long long)(opts->offcpu_min_ns / 1000),
		(unsigned long long)o[IGNIS_OFFCPU_SENT], (unsigned long long)o[IGNIS_OFFCPU_LOST],
		(unsigned long long)o[IGNIS_OFFCPU_MISSED], st.offcpu_path ? st.offcpu_path : "none");
	/* Off-CPU values are nanoseconds each: the period is 1 ns. */
	prof = profile__new(1, wall_ns, (int64_t)(elapsed * 1e9));
	agg = collector__swap_offcpu(c);
	if (!prof || !agg) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = collector__symbolize_offcpu(c, agg, &prof, 1);
	if (err) {
		fprintf(stderr, "ignis: cannot build the off-CPU profile: %s\n", strerror(-err));
		goto cleanup;
	}
	err = write_profile(opts, prof, "offcpu", 1);
	if (err)
		goto cleanup;
	printf("wrote %s/offcpu.pb.gz and %s/offcpu.folded (%llu blockings, %.3f s off the CPU, "
	       "%zu stacks)\n\n", opts->output_dir, opts->output_dir,
	       (unsigned long long)aggregate__samples(agg), aggregate__value(agg) / 1e9,
	       aggregate__stacks(agg));
	if (opts->top)
		err = report__top_time(prof, opts->top, stdout);
cleanup:
	profile__free(prof);
	aggregate__free(agg);
	return err;
}

static void progress(struct collector *c, double elapsed, double duration, int final)
{
	struct collector_stats st;
	int tty = isatty(STDERR_FILENO);

	if (!tty && !final)
		return;
	collector__stats(c, &st);
	if (duration > 0)
		fprintf(stderr, "%signis: recording %.0f/%.0f s, %llu samples%s", tty ? "\r" : "",
			elapsed, duration, (unsigned long long)st.samples,
			final || !tty ? "\n" : "");
	else
		fprintf(stderr, "%signis: recording %.0f s, %llu samples%s", tty ? "\r" : "",
			elapsed, (unsigned long long)st.samples, final || !tty ? "\n" : "");
}

/* ---- the command of `ignis record -- COMMAND` ---------------------------- */

struct command {
	pid_t pid;
	int go_fd;        /* a byte written here lets the child exec; closed: it exits */
	int err_fd;       /* the child's exec failure, or EOF once it has exec'd */
	int status;       /* from waitpid, once reaped */
	int exited;
	int started;      /* it has exec'd the command */
};

/* What the child reports when it cannot become the command. */
struct exec_failure {
	int stage;        /* 0: exec, 1: switching user */
	int err;          /* errno */
};

struct run_as {
	uid_t uid;
	gid_t gid;
	gid_t groups[256];
	int ngroups;
	char name[256];
	char home[PATH_MAX];
};

/* The user --user names (a name, or a uid that has a passwd entry), with
 * the groups it belongs to; resolved before the fork, so the child only
 * makes system calls. */
static int resolve_user(const char *spec, struct run_as *ru)
{
	struct passwd *pw;
	char *end;
	unsigned long v;

	errno = 0;
	pw = getpwnam(spec);
	if (!pw && *spec >= '0' && *spec <= '9') {
		v = strtoul(spec, &end, 10);
		if (!*end && v <= UINT32_MAX - 1)
			pw = getpwuid(v);
	}
	if (!pw) {
		fprintf(stderr, "ignis: --user %s: no such user\n", spec);
		return -ENOENT;
	}
	if (strlen(pw->pw_name) >= sizeof(ru->name) || strlen(pw->pw_dir) >= sizeof(ru->home)) {
		fprintf(stderr, "ignis: --user %s: name or home directory too long\n", spec);
		return -ENAMETOOLONG;
	}
	ru->uid = pw->pw_uid;
	ru->gid = pw->pw_gid;
	strcpy(ru->name, pw->pw_name);
	strcpy(ru->home, pw->pw_dir);
	ru->ngroups = sizeof(ru->groups) / sizeof(ru->groups[0]);
	if (getgrouplist(ru->name, ru->gid, ru->groups, &ru->ngroups) < 0) {
		fprintf(stderr, "ignis: --user %s: in more than %zu groups\n", spec,
			sizeof(ru->groups) / sizeof(ru->groups[0]));
		return -E2BIG;
	}
	if (geteuid() != 0 && ru->uid != geteuid()) {
		fprintf(stderr, "ignis: --user %s: switching users needs root\n", spec);
		return -EPERM;
	}
	return 0;
}

static void child_fail(int fd, int stage, int err)
{
	struct exec_failure f = { stage, err };

	if (write(fd, &f, sizeof(f)) < 0) {
		/* The parent learns of it from the exit status alone. */
	}
	_exit(stage ? RECORD_EXIT_FAILED : err == ENOENT ? RECORD_EXIT_NOT_FOUND :
	      RECORD_EXIT_CANNOT_RUN);
}

/* In the child: waits for the parent's go, becomes the user, execs. */
static void __attribute__((noreturn)) child_main(char *const *argv, const struct run_as *ru,
						 int go_fd, int err_fd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	char go;
	ssize_t n;

	sigemptyset(&dfl.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);  /* fails harmlessly for SIGKILL, SIGSTOP */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	do
		n = read(go_fd, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(RECORD_EXIT_FAILED);  /* ignis could not start sampling */
	if (ru) {
		if (setgroups(ru->ngroups, ru->groups) || setgid(ru->gid) || setuid(ru->uid))
			child_fail(err_fd, 1, errno);
		/* As su and sudo -u do: the rest of the environment is the caller's. */
		setenv("HOME", ru->home, 1);
		setenv("USER", ru->name, 1);
		setenv("LOGNAME", ru->name, 1);
	}
	execvp(argv[0], argv);
	child_fail(err_fd, 0, errno);
	_exit(RECORD_EXIT_FAILED);
}

static int command_start(const struct record_opts *opts, struct command *cmd)
{
	struct run_as ru;
	int go[2], ep[2], err;

	cmd->pid = -1;
	cmd->go_fd = cmd->err_fd = -1;
	if (opts->user) {
		err = resolve_user(opts->user, &ru);
		if (err)
			return err;
	}
	if (pipe2(go, O_CLOEXEC))
		return -errno;
	if (pipe2(ep, O_CLOEXEC)) {
		err = -errno;
		close(go[0]);
		close(go[1]);
		return err;
	}
	fflush(NULL);
	cmd->pid = fork();
	if (cmd->pid < 0) {
		err = -errno;
		close(go[0]);
		close(go[1]);
		close(ep[0]);
		close(ep[1]);
		fprintf(stderr, "ignis: cannot start %s: %s\n", opts->command[0], strerror(-err));
		return err;
	}
	if (cmd->pid == 0) {
		close(go[1]);
		close(ep[0]);
		child_main(opts->command, opts->user ? &ru : NULL, go[0], ep[1]);
	}
	close(go[0]);
	close(ep[1]);
	cmd->go_fd = go[1];
	cmd->err_fd = ep[0];
	command_pid = cmd->pid;
	return 0;
}

/* Lets the child exec. 0 once it has, or -errno (reported) when it could
 * not; its exit status is then known. */
static int command_go(const struct record_opts *opts, struct command *cmd)
{
	struct exec_failure f;
	ssize_t n;

	if (write(cmd->go_fd, "g", 1) != 1)
		return -errno;
	close(cmd->go_fd);
	cmd->go_fd = -1;
	do
		n = read(cmd->err_fd, &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	close(cmd->err_fd);
	cmd->err_fd = -1;
	if (n != sizeof(f)) {
		cmd->started = 1;
		return 0;  /* EOF: the exec closed it */
	}
	if (f.stage)
		fprintf(stderr, "ignis: cannot run %s as %s: %s\n", opts->command[0], opts->user,
			strerror(f.err));
	else
		fprintf(stderr, "ignis: cannot run %s: %s\n", opts->command[0], strerror(f.err));
	return -f.err ? -f.err : -EIO;
}

/* Reaps the command if it has exited (blocking when wait is set). */
static int command_reap(struct command *cmd, int wait)
{
	pid_t r;

	if (cmd->exited || cmd->pid <= 0)
		return cmd->exited;
	do
		r = waitpid(cmd->pid, &cmd->status, wait ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == cmd->pid) {
		cmd->exited = 1;
		command_pid = 0;
	} else if (r < 0) {
		/* Not our child any more (cannot happen): treat it as gone. */
		cmd->exited = 1;
		cmd->status = RECORD_EXIT_FAILED << 8;
		command_pid = 0;
	}
	return cmd->exited;
}

/* The shell's convention: the exit code, or 128 + the signal's number. */
static int command_exit_status(const struct command *cmd)
{
	if (WIFEXITED(cmd->status))
		return WEXITSTATUS(cmd->status);
	if (WIFSIGNALED(cmd->status))
		return 128 + WTERMSIG(cmd->status);
	return RECORD_EXIT_FAILED;
}

static void command_report(const struct record_opts *opts, const struct command *cmd)
{
	if (WIFEXITED(cmd->status))
		fprintf(stderr, "ignis: %s exited with status %d\n", opts->command[0],
			WEXITSTATUS(cmd->status));
	else if (WIFSIGNALED(cmd->status))
		fprintf(stderr, "ignis: %s was killed by signal %d (%s)\n", opts->command[0],
			WTERMSIG(cmd->status), strsignal(WTERMSIG(cmd->status)));
}

/* ---- the recording ------------------------------------------------------- */

/* "ls -l /tmp", cut to fit out; for the flame graph's subtitle. */
static void describe(const struct record_opts *opts, double elapsed, char *out, size_t len)
{
	size_t n = 0;
	int w;

	if (opts->command) {
		for (char *const *a = opts->command; *a && n + 1 < len; a++) {
			w = snprintf(out + n, len - n, "%s%s", a == opts->command ? "" : " ", *a);
			if (w < 0)
				break;
			n += (size_t)w < len - n ? (size_t)w : len - n - 1;
		}
	} else if (opts->npids) {
		w = snprintf(out, len, "%zu process%s", opts->npids, opts->npids > 1 ? "es" : "");
		n = w > 0 && (size_t)w < len ? (size_t)w : len - 1;
	} else {
		w = snprintf(out, len, "all processes");
		n = w > 0 && (size_t)w < len ? (size_t)w : len - 1;
	}
	if (n + 1 < len)
		snprintf(out + n, len - n, ", %.1f s at %u Hz", elapsed, opts->frequency_hz);
}

static int record(const struct record_opts *opts, struct command *cmd)
{
	pid_t child_pid = cmd ? cmd->pid : 0;
	struct collector_opts copts = {
		.frequency_hz = opts->frequency_hz,
		.pids = cmd ? &child_pid : opts->pids,
		.npids = cmd ? 1 : opts->npids,
		.follow_children = !!cmd,
		.exec_pid = cmd ? (uint32_t)cmd->pid : 0,
		.include_idle = opts->include_idle,
		.unwind = opts->unwind,
		.stack_size = opts->stack_size,
		.unwind_table_bytes = opts->unwind_table_bytes,
		/* A recording is short: the tables of what runs now are worth
		 * waiting for before the first sample (it stops as soon as
		 * they are in). */
		.unwind_settle_s = 5,
		.proc_root = opts->proc_root,
		.sys_root = opts->sys_root,
		.debug_dirs = opts->debug_dirs,
		.ndebug_dirs = opts->ndebug_dirs,
		.debuginfod_cache = opts->debuginfod_cache,
		/* One flush names each binary once: its symbols can go as
		 * soon as its addresses are named (a cache of one byte keeps
		 * none; the names are copied). With --off-cpu the CPU flush
		 * follows the off-CPU one, and the cache serves it. */
		.symbol_cache_bytes = opts->off_cpu ? opts->symbol_cache_bytes : 1,
		.one_flush = 1,
		.off_cpu = opts->off_cpu,
		.offcpu_min_ns = opts->offcpu_min_ns,
		.offcpu_probability = opts->offcpu_probability,
	};
	struct collector *c = NULL;
	struct aggregate *agg = NULL;
	struct profile *prof = NULL;
	struct collector_stats st;
	int64_t wall_ns;
	uint64_t start_ns, last_progress = 0;
	/* The process's CPU (every thread) at the end of each phase. */
	int64_t cpu_ns[5] = { clock__ns(CLOCK_PROCESS_CPUTIME_ID) };
	uint64_t bpf_ns = 0, bpf_runs = 0;
	double elapsed = 0;
	char subtitle[512];
	int err;

	wall_ns = clock__realtime_ns();
	c = collector__new(&copts);
	if (!c) {
		err = -errno;
		fprintf(stderr, "ignis: cannot start sampling: %s\n", strerror(-err));
		goto cleanup;
	}
	if (cmd) {
		err = command_go(opts, cmd);
		if (err)
			goto cleanup;
		collector__exec_done(c, (uint64_t)clock__monotonic_ns());
	}
	cpu_ns[1] = clock__ns(CLOCK_PROCESS_CPUTIME_ID);
	start_ns = clock__monotonic_ns();
	for (;;) {
		if (cmd) {
			/* The command's own signal ends its recording when it
			 * exits; a second one ends it now. */
			if (command_reap(cmd, 0) || stop_requested > 1)
				break;
		} else if (stop_requested) {
			break;
		}
		if (opts->duration_s > 0 && elapsed >= opts->duration_s)
			break;
		err = collector__poll(c, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "ignis: sampling failed: %s\n", strerror(-err));
			goto cleanup;
		}
		elapsed = (clock__monotonic_ns() - start_ns) / 1e9;
		if (elapsed - last_progress >= 1.0) {
			last_progress = (uint64_t)elapsed;
			progress(c, elapsed, opts->duration_s, 0);
		}
	}
	/* Whatever is still in the ring buffer belongs to this recording. */
	err = collector__poll(c, 0);
	if (err < 0 && err != -EINTR) {
		fprintf(stderr, "ignis: sampling failed: %s\n", strerror(-err));
		goto cleanup;
	}
	elapsed = (clock__monotonic_ns() - start_ns) / 1e9;
	progress(c, elapsed, opts->duration_s, 1);

	collector__stats(c, &st);
	fprintf(stderr, "ignis: %u CPUs at %u Hz: %llu samples taken, %llu lost "
		"(ring buffer full), %llu idle, %llu of other processes\n",
		st.sampler.cpus, opts->frequency_hz,
		(unsigned long long)st.sampler.v[IGNIS_STAT_SAMPLES],
		(unsigned long long)st.sampler.v[IGNIS_STAT_LOST],
		(unsigned long long)st.sampler.v[IGNIS_STAT_IDLE],
		(unsigned long long)st.sampler.v[IGNIS_STAT_FILTERED]);
	if (st.sampler.v[IGNIS_STAT_STACK_FAIL])
		pr_info("record: %llu user stacks could not be copied\n",
			(unsigned long long)st.sampler.v[IGNIS_STAT_STACK_FAIL]);
	if (st.foreign_pcs)
		pr_info("record: %llu user stacks end where a return address was outside user "
			"space (a corrupt stack or unwind)\n", (unsigned long long)st.foreign_pcs);
	if (st.sampler.v[IGNIS_STAT_FOLLOW_FULL])
		pr_warn("record: %llu new processes of the command were not profiled: more than "
			"%d of them ran at once\n",
			(unsigned long long)st.sampler.v[IGNIS_STAT_FOLLOW_FULL],
			SAMPLER_FOLLOW_MAX_PIDS);
	if (st.sampler.v[IGNIS_STAT_LOST] || st.sampler.v[IGNIS_STAT_EVENTS_LOST])
		pr_warn("record: %llu samples and %llu process events were lost; "
			"a larger ring buffer would keep them\n",
			(unsigned long long)st.sampler.v[IGNIS_STAT_LOST],
			(unsigned long long)st.sampler.v[IGNIS_STAT_EVENTS_LOST]);
	if (st.unwind == UNWIND_KERNEL) {
		fprintf(stderr, "ignis: user stacks walked in the kernel: %llu complete from unwind "
			"tables, %llu partly by frame pointers (%llu where a table was not loaded "
			"yet, %llu in code not known to the walker yet), %llu truncated at %d frames, %llu at a rule the walker cannot "
			"apply, %llu at an unreadable stack, %llu ended otherwise\n",
			(unsigned long long)st.walk_complete, (unsigned long long)st.walk_fp,
			(unsigned long long)st.walk_fp_pending, (unsigned long long)st.walk_fp_unmapped,
			(unsigned long long)st.walk_truncated,
			IGNIS_UNW_MAX_FRAMES, (unsigned long long)st.walk_unexpressible,
			(unsigned long long)st.walk_read_failed, (unsigned long long)st.walk_other);
		fprintf(stderr, "ignis: unwind tables: %llu loaded, %llu KiB of %llu KiB, %llu "
			"evicted, %llu waiting for room, %llu binaries without a table, %llu mapping "
			"prefixes; %llu samples "
			"received with %llu frames in %llu bytes, %llu of them user stack\n",
			(unsigned long long)st.tables.tables_loaded,
			(unsigned long long)st.tables.table_bytes >> 10,
			(unsigned long long)st.tables.budget_bytes >> 10,
			(unsigned long long)st.tables.evictions,
			(unsigned long long)st.tables.budget_full,
			(unsigned long long)(st.tables.no_table + st.tables.too_big),
			(unsigned long long)st.tables.mapping_entries,
			(unsigned long long)st.records, (unsigned long long)st.record_frames,
			(unsigned long long)st.record_bytes, (unsigned long long)st.stack_bytes);
		if (st.python.frames || st.python.processes || st.python.markers)
			fprintf(stderr, "ignis: python: %llu processes, %llu frames named, %llu code "
				"objects read (%llu unreadable), %llu walks ended early (marker)\n",
				(unsigned long long)st.python.processes,
				(unsigned long long)st.python.frames,
				(unsigned long long)st.python.code_reads,
				(unsigned long long)st.python.code_failed,
				(unsigned long long)st.python.markers);
	} else if (st.unwind != UNWIND_FP) {
		fprintf(stderr, "ignis: user stacks: %llu by DWARF CFI, %llu by frame pointers; "
			"%llu DWARF unwinds, %llu ran off a short stack copy, %llu ended at a Go stack "
			"switch, %llu failed; %llu "
			"samples received with %llu frames in %llu bytes, %llu of them user stack\n",
			(unsigned long long)st.dwarf_used, (unsigned long long)st.fp_used,
			(unsigned long long)st.unwinds, (unsigned long long)st.unwind_truncated,
			(unsigned long long)st.unwind_go_switch, (unsigned long long)st.unwind_failed, (unsigned long long)st.records,
			(unsigned long long)st.record_frames, (unsigned long long)st.record_bytes,
			(unsigned long long)st.stack_bytes);
	}
	if (st.go_stack_cut)
		fprintf(stderr, "ignis: %llu Go stacks cut at a stack switch (the frames past it, "
			"walked by frame pointers, were another stack's)\n",
			(unsigned long long)st.go_stack_cut);
	if (st.go.processes || st.go.unsupported)
		golabels__print(&st.go, stderr);

	/* Counted only while kernel.bpf_stats_enabled is on: read here, a
	 * benchmark needs no poller of its own (which would be sampled). */
	if (metrics__bpf_prog_stats(sampler__prog_fd(collector__sampler(c)), &bpf_ns, &bpf_runs))
		bpf_runs = 0;
	collector__end_sampling(c);
	cpu_ns[2] = clock__ns(CLOCK_PROCESS_CPUTIME_ID);
	prof = profile__new(1000000000ULL / opts->frequency_hz,
			    wall_ns, (int64_t)(elapsed * 1e9));
	agg = collector__swap(c);
	if (!prof || !agg) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Downloads started at first sight of each binary; a recording has
	 * one flush, so give the slow ones a bounded chance. */
	collector__wait_debuginfo(c, opts->debuginfod_wait_s);
	if (opts->off_cpu) {
		/* Before the CPU profile's symbolization, which gives memory back. */
		err = write_offcpu(opts, c, wall_ns, elapsed);
		if (err)
			goto cleanup;
	}
	err = collector__symbolize(c, agg, &prof, 1);
	if (err) {
		fprintf(stderr, "ignis: cannot build the profile: %s\n", strerror(-err));
		goto cleanup;
	}
	collector__log_symbol_stats(c, "record");
	cpu_ns[3] = clock__ns(CLOCK_PROCESS_CPUTIME_ID);
	describe(opts, elapsed, subtitle, sizeof(subtitle));
	err = write_outputs(opts, prof, subtitle);
	if (err)
		goto cleanup;
	cpu_ns[4] = clock__ns(CLOCK_PROCESS_CPUTIME_ID);
	fprintf(stderr, "ignis: CPU used: %.1f ms starting (programs, maps, first tables), %.1f ms "
		"sampling, %.1f ms naming%s, %.1f ms writing files\n",
		(cpu_ns[1] - cpu_ns[0]) / 1e6, (cpu_ns[2] - cpu_ns[1]) / 1e6,
		(cpu_ns[3] - cpu_ns[2]) / 1e6, opts->off_cpu ? " (off-CPU files included)" : "",
		(cpu_ns[4] - cpu_ns[3]) / 1e6);
	if (bpf_runs)
		fprintf(stderr, "ignis: BPF run time (kernel.bpf_stats_enabled): sample %.1f ms in "
			"%llu runs, %.2f µs a run\n", bpf_ns / 1e6, (unsigned long long)bpf_runs,
			bpf_ns / 1e3 / bpf_runs);
	printf("wrote %s/profile.pb.gz, %s/profile.folded and %s/flamegraph.svg (%llu samples, "
	       "%zu stacks, %zu binaries)\n\n", opts->output_dir, opts->output_dir,
	       opts->output_dir, (unsigned long long)aggregate__samples(agg),
	       aggregate__stacks(agg), collector__binaries(c));
	if (opts->top)
		err = report__top(prof, opts->top, stdout);
	fflush(stdout);

cleanup:
	profile__free(prof);
	aggregate__free(agg);
	collector__free(c);
	return err;
}

static void set_signals(int with_command)
{
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO };
	struct sigaction sc = { .sa_handler = on_child, .sa_flags = SA_NOCLDSTOP };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (with_command) {
		sigaction(SIGHUP, &sa, NULL);
		sigemptyset(&sc.sa_mask);
		sigaction(SIGCHLD, &sc, NULL);
	}
}

int record__run(const struct record_opts *opts)
{
	int err;

	err = prepare_output(opts->output_dir);
	if (err)
		return err;
	set_signals(0);
	return record(opts, NULL);
}

int record__run_command(const struct record_opts *opts)
{
	struct command cmd = { 0 };
	int err;

	if (!opts->command || !opts->command[0]) {
		fprintf(stderr, "ignis: no command to run\n");
		return RECORD_EXIT_FAILED;
	}
	err = prepare_output(opts->output_dir);
	if (err)
		return RECORD_EXIT_FAILED;
	/* Before the fork, so that a signal that comes between is passed on. */
	set_signals(1);
	/* A command killed while it waited for its go makes that write fail
	 * (EPIPE) rather than kill ignis. The child resets it. */
	signal(SIGPIPE, SIG_IGN);
	err = command_start(opts, &cmd);
	if (err)
		return RECORD_EXIT_FAILED;
	err = record(opts, &cmd);
	if (cmd.go_fd >= 0)
		close(cmd.go_fd);  /* never let go: the child exits without running */
	if (cmd.err_fd >= 0)
		close(cmd.err_fd);
	if (!cmd.started) {  /* why has been said; the child's status says which case */
		command_reap(&cmd, 1);
		if (WIFSIGNALED(cmd.status)) {
			fprintf(stderr, "ignis: %s was killed by signal %d (%s) before it started\n",
				opts->command[0], WTERMSIG(cmd.status),
				strsignal(WTERMSIG(cmd.status)));
			return 128 + WTERMSIG(cmd.status);
		}
		return WIFEXITED(cmd.status) ? WEXITSTATUS(cmd.status) : RECORD_EXIT_FAILED;
	}
	if (!command_reap(&cmd, 0)) {
		if (stop_requested > 1)
			fprintf(stderr, "ignis: recording stopped; %s (pid %d) is still running, "
				"waiting for it to exit\n", opts->command[0], (int)cmd.pid);
		else if (!err)
			fprintf(stderr, "ignis: recording stopped after %.0f s; %s (pid %d) goes "
				"on, waiting for it to exit\n", opts->duration_s, opts->command[0],
				(int)cmd.pid);
		command_reap(&cmd, 1);
	}
	command_report(opts, &cmd);
	if (err)
		return RECORD_EXIT_FAILED;
	return command_exit_status(&cmd);
}
