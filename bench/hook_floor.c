/* What a BPF program costs before it does anything: loads a program of two
 * instructions (return 0) and holds it attached until SIGINT or SIGTERM.
 *
 *   hook_floor TRACEPOINT        as a raw tracepoint program on it
 *                                (sched_exit_tp, sched_switch, ...)
 *   hook_floor --cpu-clock HZ    as a perf_event program on a cpu-clock
 *                                event at HZ on every CPU, as ignis samples
 *
 * bench/offcpu runs the pinned ping-pong under the first next to ignis's
 * off-CPU programs on the same hook: the difference is what their bodies
 * cost, the rest is the kernel's dispatch. bench/machine --lost-work runs
 * the second as the floor every sampling profiler pays at that rate (the
 * timer interrupt, the event's overflow handling, a program run). Needs
 * root. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The empty program on a cpu-clock event at hz on every online CPU;
 * returns 0 or 1 with a message. The event fds stay open until exit. */
static int attach_cpu_clock(int prog, long hz)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF), attached = 0;

	for (long cpu = 0; cpu < ncpu; cpu++) {
		struct perf_event_attr attr = {
			.size = sizeof(attr),
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.freq = 1,
			.sample_freq = (unsigned long long)hz,
		};
		int fd = syscall(__NR_perf_event_open, &attr, -1, (int)cpu, -1,
				 PERF_FLAG_FD_CLOEXEC);

		if (fd < 0) {
			if (errno == ENODEV)
				continue;  /* offline */
			fprintf(stderr, "hook_floor: perf_event_open on CPU %ld: %s\n", cpu,
				strerror(errno));
			return 1;
		}
		if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog) || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
			fprintf(stderr, "hook_floor: attach on CPU %ld: %s\n", cpu, strerror(errno));
			return 1;
		}
		attached++;
	}
	if (!attached) {
		fprintf(stderr, "hook_floor: no CPU to attach to\n");
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct bpf_insn ret0[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int prog, link = -1;
	long hz = 0;
	char *end;

	if (argc == 3 && strcmp(argv[1], "--cpu-clock") == 0) {
		errno = 0;
		hz = strtol(argv[2], &end, 10);
		if (errno || *end || hz <= 0 || hz > 100000) {
			fprintf(stderr, "hook_floor: --cpu-clock wants a rate in Hz (1-100000), "
				"not '%s'\n", argv[2]);
			return 2;
		}
	} else if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s TRACEPOINT   (e.g. sched_exit_tp)\n"
			"       %s --cpu-clock HZ\n", argv[0], argv[0]);
		return 2;
	}
	prog = bpf_prog_load(hz ? BPF_PROG_TYPE_PERF_EVENT : BPF_PROG_TYPE_RAW_TRACEPOINT,
			     "hook_floor", "GPL", ret0, 2, NULL);
	if (prog < 0) {
		fprintf(stderr, "hook_floor: load: %s\n", strerror(errno));
		return 1;
	}
	if (hz) {
		if (attach_cpu_clock(prog, hz))
			return 1;
	} else {
		link = bpf_raw_tracepoint_open(argv[1], prog);
		if (link < 0) {
			fprintf(stderr, "hook_floor: attach to %s: %s\n", argv[1],
				strerror(errno));
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("attached\n");
	fflush(stdout);
	while (!stop)
		pause();
	if (link >= 0)
		close(link);
	close(prog);
	return 0;
}
