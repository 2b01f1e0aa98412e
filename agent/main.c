/* ignis command line. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_cmd.h"
#include "agent/check.h"
#include "agent/cli.h"
#include "agent/config.h"
#include "base/log.h"
#include "sys/preflight.h"
#include "agent/record.h"
#include "bpf/sampler.h"

#define MAX_PIDS   4096

#define MAX_DEBUG_DIRS CONFIG_MAX_DEBUG_DIRS

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ignis record [options]   profile this machine to local files\n"
		"       ignis record [options] -- COMMAND [ARGS]\n"
		"                                run COMMAND, profile it and its children\n"
		"                                until it exits; exit with its status\n"
		"       ignis agent [options]    profile it forever, delivering every interval\n"
		"                                (ignis agent --help)\n"
		"       ignis check [options]    can this machine profile? what to fix if not\n"
		"                                (ignis check --help)\n"
		"       ignis version\n"
		"\n"
		"record options:\n"
		"  -d, --duration SECONDS   how long to record (default 10; with a COMMAND,\n"
		"                           until it exits: at the end of the duration the\n"
		"                           files are written and COMMAND goes on)\n"
		"      --user NAME          run COMMAND as this user (default: as ignis)\n"
		"  -F, --frequency HZ       samples per second per CPU (default 100, 1 to 10000)\n"
		"  -p, --pid PID            only this process (repeatable; default: all)\n"
		"  -o, --output DIR         where to write profile.pb.gz, profile.folded and\n"
		"                           flamegraph.svg"
		" (default ./ignis-out)\n"
		"      --top N              functions to print at the end (default 20, 0: none)\n"
		"      --include-idle       keep samples of idle CPUs\n"
		"      --off-cpu            also record where threads wait off the CPU:\n"
		"                           offcpu.pb.gz and offcpu.folded (nanoseconds)\n"
		"      --off-cpu-min-block-us US  shorter waits are counted, not recorded\n"
		"                           (default 1000, 0 to 10000000)\n"
		"      --off-cpu-probability P  track each wait with this probability; the\n"
		"                           profile is scaled back up by 1/P (default 1)\n"
		"      --unwind MODE        kernel (walk user stacks in BPF from unwind tables;\n"
		"                           no stack memory leaves the kernel), copy (copy the\n"
		"                           user stack with each sample and unwind it here with\n"
		"                           DWARF CFI or frame pointers), fp (frame pointers\n"
		"                           only), dwarf (copy, DWARF CFI only), auto (kernel,\n"
		"                           else copy) (default kernel)\n"
		"      --unwind-table-memory SIZE  unwind tables kept in BPF maps (kernel mode;\n"
		"                           default 32MiB, 1MiB to 4GiB)\n"
		"      --stack-size BYTES   user stack copied per sample in the copy modes\n"
		"                           (default 16384, 512 to 65536)\n"
		"      --debug-dir DIR      also look for separate debug files here, before\n"
		"                           /usr/lib/debug (repeatable)\n"
		"      --debuginfod-cache DIR  where files from the servers in DEBUGINFOD_URLS\n"
		"                           are kept (default /var/cache/ignis/debuginfod)\n"
		"      --debuginfod-wait SECONDS  how long to wait at the end for debug files\n"
		"                           still downloading (default 10)\n"
		"      --symbol-cache-size SIZE  symbol data kept in memory, e.g. 512MiB\n"
		"                           (default 32MiB; without --off-cpu a recording\n"
		"                           keeps none: its one flush names each binary once)\n"
		"      --proc-root DIR      where /proc is (default /proc)\n"
		"      --sys-root DIR       where /sys is (default /sys)\n"
		"  -v, --verbose            debug logging\n");
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || *out > max)
		return -EINVAL;
	return 0;
}

/* The record flags that are agent settings too: the same rows parse them,
 * so each has the file's range and units (agent/config.c). */
static const struct {
	int opt;
	const char *flag, *key;
} settings[] = {
	{ 'F', "--frequency", "sampling.frequency" },
	{ 'U', "--unwind", "sampling.unwind" },
	{ 'Z', "--stack-size", "sampling.stack_size" },
	{ 'T', "--unwind-table-memory", "sampling.unwind_table_memory" },
	{ 'B', "--off-cpu-min-block-us", "sampling.off_cpu_min_block_us" },
	{ 'Q', "--off-cpu-probability", "sampling.off_cpu_probability" },
	{ 'C', "--debuginfod-cache", "symbols.debuginfod_cache" },
	{ 'M', "--symbol-cache-size", "symbols.cache_size" },
	{ 'P', "--proc-root", "proc_root" },
	{ 'S', "--sys-root", "sys_root" },
};

/* 1: c is one of settings (then set in cfg, or -EINVAL reported); 0: not. */
static int set_setting(struct config *cfg, int c, const char *text)
{
	char why[256];

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (settings[i].opt != c)
			continue;
		if (!config__set(cfg, settings[i].key, text, why, sizeof(why)))
			return 1;
		fprintf(stderr, "ignis: %s %s\n", settings[i].flag, why);
		return -EINVAL;
	}
	return 0;
}

static int record(int argc, char **argv, struct config *cfg)
{
	static const struct option longopts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "frequency", required_argument, NULL, 'F' },
		{ "pid", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "top", required_argument, NULL, 't' },
		{ "include-idle", no_argument, NULL, 'I' },
		{ "unwind", required_argument, NULL, 'U' },
		{ "stack-size", required_argument, NULL, 'Z' },
		{ "unwind-table-memory", required_argument, NULL, 'T' },
		{ "proc-root", required_argument, NULL, 'P' },
		{ "debug-dir", required_argument, NULL, 'D' },
		{ "debuginfod-cache", required_argument, NULL, 'C' },
		{ "debuginfod-wait", required_argument, NULL, 'W' },
		{ "symbol-cache-size", required_argument, NULL, 'M' },
		{ "sys-root", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "user", required_argument, NULL, 'u' },
		{ "off-cpu", no_argument, NULL, 'O' },
		{ "off-cpu-min-block-us", required_argument, NULL, 'B' },
		{ "off-cpu-probability", required_argument, NULL, 'Q' },
		{ 0 },
	};
	static pid_t pids[MAX_PIDS];
	static const char *debug_dirs[MAX_DEBUG_DIRS];
	struct record_opts opts = {
		.debug_dirs = debug_dirs,
		.debuginfod_wait_s = 10,
		.duration_s = 10,
		.pids = pids,
		.output_dir = "./ignis-out",
		.top = 20,
	};
	unsigned long v;
	char *end;
	int c, err, duration_given = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:F:p:o:vh", longopts, NULL)) != -1) {
		err = set_setting(cfg, c, optarg);
		if (err < 0)
			return EXIT_USAGE;
		if (err)
			continue;
		switch (c) {
		case 'd':
			errno = 0;
			opts.duration_s = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(opts.duration_s) ||
			    opts.duration_s <= 0 || opts.duration_s > 7 * 24 * 3600) {
				fprintf(stderr, "ignis: --duration '%s': expected seconds, more "
						"than 0 and at most a week\n", optarg);
				return EXIT_USAGE;
			}
			duration_given = 1;
			break;
		case 'p':
			if (parse_ulong(optarg, INT_MAX, &v) || v == 0) {
				fprintf(stderr, "ignis: --pid '%s': expected a process id\n", optarg);
				return EXIT_USAGE;
			}
			if (opts.npids == MAX_PIDS) {
				fprintf(stderr, "ignis: at most %d --pid options\n", MAX_PIDS);
				return EXIT_USAGE;
			}
			pids[opts.npids++] = v;
			break;
		case 'o':
			if (!*optarg) {
				fprintf(stderr, "ignis: --output: empty directory name\n");
				return EXIT_USAGE;
			}
			opts.output_dir = optarg;
			break;
		case 't':
			if (parse_ulong(optarg, 100000, &v)) {
				fprintf(stderr, "ignis: --top '%s': expected a count\n", optarg);
				return EXIT_USAGE;
			}
			opts.top = v;
			break;
		case 'I':
			opts.include_idle = 1;
			break;
		case 'O':
			cfg->off_cpu.on = true;
			break;
		case 'D':
			if (opts.ndebug_dirs == MAX_DEBUG_DIRS) {
				fprintf(stderr, "ignis: at most %d --debug-dir\n", MAX_DEBUG_DIRS);
				return EXIT_USAGE;
			}
			debug_dirs[opts.ndebug_dirs++] = optarg;
			break;
		case 'W':
			opts.debuginfod_wait_s = strtod(optarg, &end);
			if (end == optarg || *end || !(opts.debuginfod_wait_s >= 0) ||
			    opts.debuginfod_wait_s > 3600) {
				fprintf(stderr, "ignis: --debuginfod-wait '%s': expected seconds "
						"from 0 to 3600\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'v':
			log__set_level(LOG_DEBUG);
			break;
		case 'u':
			if (!*optarg) {
				fprintf(stderr, "ignis: --user: empty user name\n");
				return EXIT_USAGE;
			}
			opts.user = optarg;
			break;
		case 'h':
		default:
			return cli__help_or_usage(c, usage);
		}
	}
	/* `record [options] -- COMMAND [ARGS]`: what follows "--" is the command's. */
	if (optind > 1 && !strcmp(argv[optind - 1], "--")) {
		if (optind == argc) {
			fprintf(stderr, "ignis record: expected a command after --\n");
			return EXIT_USAGE;
		}
		if (opts.npids) {
			fprintf(stderr, "ignis record: --pid and a command cannot go together\n");
			return EXIT_USAGE;
		}
		opts.command = argv + optind;
		if (!duration_given)
			opts.duration_s = 0;  /* until it exits */
	} else if (optind < argc) {
		fprintf(stderr, "ignis record: unexpected argument '%s' (a command to profile goes "
				"after --)\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (opts.user && !opts.command) {
		fprintf(stderr, "ignis record: --user is for a command given after --\n");
		return EXIT_USAGE;
	}
	opts.frequency_hz = cfg->frequency_hz;
	opts.unwind = cfg->unwind;
	opts.stack_size = cfg->stack_size;
	opts.unwind_table_bytes = cfg->unwind_table_bytes;
	opts.proc_root = cfg->proc_root;
	opts.sys_root = cfg->sys_root;
	opts.debuginfod_cache = cfg->debuginfod_cache;
	opts.symbol_cache_bytes = cfg->symbol_cache_bytes;
	opts.off_cpu = cfg->off_cpu.on;
	opts.offcpu_min_ns = (uint64_t)cfg->off_cpu.min_block_us * 1000;
	opts.offcpu_probability = cfg->off_cpu.probability_ppm / 1e6;
	for (size_t i = 0; i < opts.npids; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%d", opts.proc_root, pids[i]);
		if (access(path, F_OK)) {
			fprintf(stderr, "ignis: --pid %d: no such process\n", pids[i]);
			return EXIT_USAGE;
		}
	}
	if (preflight__privileges() || preflight__btf(opts.sys_root))
		return opts.command ? RECORD_EXIT_FAILED : EXIT_FAILURE;
	if (opts.command)
		return record__run_command(&opts);
	err = record__run(&opts);
	return err ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int cmd_record(int argc, char **argv)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	int rc = EXIT_FAILURE;

	if (cfg && !config__init(cfg))
		rc = record(argc, argv, cfg);
	else
		fprintf(stderr, "ignis: out of memory\n");
	config__free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(argv[1], "agent"))
		return agent_cmd__run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return check__cmd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("ignis %s\n", IGNIS_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "ignis: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
