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
#include "base/log.h"
#include "sys/preflight.h"
#include "agent/record.h"
#include "bpf/sampler.h"

#define EXIT_USAGE 2
#define MAX_PIDS   4096

#define MAX_DEBUG_DIRS 16

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
		"  -F, --frequency HZ       samples per second per CPU (default 100)\n"
		"  -p, --pid PID            only this process (repeatable; default: all)\n"
		"  -o, --output DIR         where to write profile.pb.gz, profile.folded and\n"
		"                           flamegraph.svg"
		" (default ./ignis-out)\n"
		"      --top N              functions to print at the end (default 20, 0: none)\n"
		"      --include-idle       keep samples of idle CPUs\n"
		"      --unwind MODE        auto (DWARF CFI, or frame pointers where they get\n"
		"                           further), fp, or dwarf (default auto)\n"
		"      --stack-size BYTES   user stack copied per sample for DWARF unwinding\n"
		"                           (default 16384, 512 to 65536)\n"
		"      --debug-dir DIR      also look for separate debug files here, before\n"
		"                           /usr/lib/debug (repeatable)\n"
		"      --debuginfod-cache DIR  where files from the servers in DEBUGINFOD_URLS\n"
		"                           are kept (default /var/cache/ignis/debuginfod)\n"
		"      --debuginfod-wait SECONDS  how long to wait at the end for debug files\n"
		"                           still downloading (default 10)\n"
		"      --symbol-cache-size MIB  symbol data kept in memory (default 256)\n"
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

static int cmd_record(int argc, char **argv)
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
		{ "proc-root", required_argument, NULL, 'P' },
		{ "debug-dir", required_argument, NULL, 'D' },
		{ "debuginfod-cache", required_argument, NULL, 'C' },
		{ "debuginfod-wait", required_argument, NULL, 'W' },
		{ "symbol-cache-size", required_argument, NULL, 'M' },
		{ "sys-root", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "user", required_argument, NULL, 'u' },
		{ 0 },
	};
	static pid_t pids[MAX_PIDS];
	static const char *debug_dirs[MAX_DEBUG_DIRS];
	struct record_opts opts = {
		.debug_dirs = debug_dirs,
		.debuginfod_wait_s = 10,
		.duration_s = 10,
		.frequency_hz = 100,
		.pids = pids,
		.output_dir = "./ignis-out",
		.top = 20,
		.unwind = UNWIND_AUTO,
		.stack_size = IGNIS_STACK_DEFAULT,
		.proc_root = "/proc",
		.sys_root = "/sys",
	};
	unsigned long v;
	char *end;
	int c, err, duration_given = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:F:p:o:vh", longopts, NULL)) != -1) {
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
		case 'F':
			if (parse_ulong(optarg, 100000, &v) || v == 0) {
				fprintf(stderr, "ignis: --frequency '%s': expected a whole number of "
						"Hz from 1 to 100000\n", optarg);
				return EXIT_USAGE;
			}
			opts.frequency_hz = v;
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
		case 'U':
			if (!strcmp(optarg, "auto")) {
				opts.unwind = UNWIND_AUTO;
			} else if (!strcmp(optarg, "fp")) {
				opts.unwind = UNWIND_FP;
			} else if (!strcmp(optarg, "dwarf")) {
				opts.unwind = UNWIND_DWARF;
			} else {
				fprintf(stderr, "ignis: --unwind '%s': expected auto, fp or dwarf\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'Z':
			if (parse_ulong(optarg, IGNIS_STACK_MAX, &v) || v < IGNIS_STACK_MIN ||
			    v % 8) {
				fprintf(stderr, "ignis: --stack-size '%s': expected a multiple of 8 "
						"from %d to %d\n", optarg, IGNIS_STACK_MIN,
					IGNIS_STACK_MAX);
				return EXIT_USAGE;
			}
			opts.stack_size = v;
			break;
		case 'P':
			opts.proc_root = optarg;
			break;
		case 'D':
			if (opts.ndebug_dirs == MAX_DEBUG_DIRS) {
				fprintf(stderr, "ignis: at most %d --debug-dir\n", MAX_DEBUG_DIRS);
				return EXIT_USAGE;
			}
			debug_dirs[opts.ndebug_dirs++] = optarg;
			break;
		case 'C':
			opts.debuginfod_cache = optarg;
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
		case 'M':
			if (parse_ulong(optarg, 1UL << 20, &v) || v == 0) {
				fprintf(stderr, "ignis: --symbol-cache-size '%s': expected MiB "
						"from 1 to 1048576\n", optarg);
				return EXIT_USAGE;
			}
			opts.symbol_cache_bytes = (uint64_t)v << 20;
			break;
		case 'S':
			opts.sys_root = optarg;
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
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
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
