/* What a BPF program on a scheduler tracepoint costs before it does
 * anything: loads a program of two instructions (return 0) as a raw
 * tracepoint program, attaches it to the tracepoint named on the command
 * line (sched_exit_tp, sched_switch, ...) and holds it until SIGINT or
 * SIGTERM. bench/offcpu runs the pinned ping-pong under it next to ignis's
 * off-CPU programs on the same hook: the difference is what their bodies
 * cost, the rest is the kernel's dispatch. Needs root. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const struct bpf_insn ret0[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int prog, link;

	if (argc != 2) {
		fprintf(stderr, "usage: %s TRACEPOINT   (e.g. sched_exit_tp)\n", argv[0]);
		return 2;
	}
	prog = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "hook_floor", "GPL", ret0, 2, NULL);
	if (prog < 0) {
		fprintf(stderr, "hook_floor: load: %s\n", strerror(errno));
		return 1;
	}
	link = bpf_raw_tracepoint_open(argv[1], prog);
	if (link < 0) {
		fprintf(stderr, "hook_floor: attach to %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("attached\n");
	fflush(stdout);
	while (!stop)
		pause();
	close(link);
	close(prog);
	return 0;
}
