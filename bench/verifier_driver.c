/* What loading the sampler's BPF programs costs the kernel verifier: loads
 * bpf/sampler.bpf.c the way `ignis record` does (walk_tables on, or off
 * with --copy; off-CPU programs with --off-cpu) with the verifier's
 * statistics (log level 4) for every program, and prints per program the
 * verification time, the instructions processed and the states kept, and
 * the wall time of the whole load. Needs root (CAP_BPF, CAP_PERFMON).
 *
 *   verifier_driver [--copy] [--off-cpu] [--runs N]
 *
 * With --runs N the object is loaded N times and every figure is the
 * median. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "sampler.skel.h"

#define MAX_PROGS 16
#define LOG_SIZE (64 * 1024)
#define MAX_RUNS 32

struct figure {
	const char *name;
	double time_us[MAX_RUNS], insns[MAX_RUNS], states[MAX_RUNS], peak[MAX_RUNS];
};

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* "verification time 123 usec", "processed 456 insns (limit ...)
 * max_states_per_insn 7 total_states 89 peak_states 89 mark_read 1". */
static void parse(const char *log, double *t, double *insns, double *states, double *peak)
{
	const char *p;

	*t = *insns = *states = *peak = -1;
	if ((p = strstr(log, "verification time ")))
		*t = strtod(p + 18, NULL);
	if ((p = strstr(log, "processed ")))
		*insns = strtod(p + 10, NULL);
	if ((p = strstr(log, "total_states ")))
		*states = strtod(p + 13, NULL);
	if ((p = strstr(log, "peak_states ")))
		*peak = strtod(p + 12, NULL);
}

int main(int argc, char **argv)
{
	static char logs[MAX_PROGS][LOG_SIZE];
	static struct figure fig[MAX_PROGS];
	double wall[MAX_RUNS];
	int copy = 0, offcpu = 0, runs = 1, nprogs = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--copy"))
			copy = 1;
		else if (!strcmp(argv[i], "--off-cpu"))
			offcpu = 1;
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--copy] [--off-cpu] [--runs N]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "--runs: 1 to %d\n", MAX_RUNS);
		return 2;
	}
	libbpf_set_print(quiet);
	for (int r = 0; r < runs; r++) {
		struct sampler_bpf *skel = sampler_bpf__open();
		struct bpf_program *prog;
		double t0;
		int i = 0;

		if (!skel) {
			perror("open");
			return 1;
		}
		skel->rodata->walk_tables = !copy;
		skel->rodata->stack_size = copy ? skel->rodata->stack_size : 0;
		bpf_object__for_each_program(prog, skel->obj) {
			const char *name = bpf_program__name(prog);

			if (i >= MAX_PROGS)
				break;
			if (!offcpu && !strncmp(name, "offcpu_", 7))
				bpf_program__set_autoload(prog, false);
			logs[i][0] = 0;
			bpf_program__set_log_buf(prog, logs[i], LOG_SIZE);
			bpf_program__set_log_level(prog, 4);
			if (!fig[i].name)
				fig[i].name = strdup(name);
			i++;
		}
		nprogs = i;
		t0 = now_s();
		if (sampler_bpf__load(skel)) {
			fprintf(stderr, "load failed\n");
			return 1;
		}
		wall[r] = now_s() - t0;
		for (i = 0; i < nprogs; i++)
			parse(logs[i], &fig[i].time_us[r], &fig[i].insns[r], &fig[i].states[r],
			      &fig[i].peak[r]);
		sampler_bpf__destroy(skel);
	}
	printf("%-16s %12s %12s %12s %12s\n", "program", "verify ms", "insns", "states",
	       "peak states");
	for (int i = 0; i < nprogs; i++) {
		if (fig[i].time_us[0] < 0)
			continue;  /* not loaded */
		printf("%-16s %12.1f %12.0f %12.0f %12.0f\n", fig[i].name,
		       median(fig[i].time_us, runs) / 1000, median(fig[i].insns, runs),
		       median(fig[i].states, runs), median(fig[i].peak, runs));
	}
	printf("load (wall)      %12.1f ms, median of %d\n", median(wall, runs) * 1000, runs);
	return 0;
}
