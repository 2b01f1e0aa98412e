/* `ignis record`: profile the machine (or some processes) for a while and
 * write the profile to local files, with no server. */
#ifndef IGNIS_RECORD_H
#define IGNIS_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sampling/collector.h"

struct record_opts {
	double duration_s;        /* 0: until the command exits (with a command only) */
	unsigned int frequency_hz;
	const pid_t *pids;
	size_t npids;
	const char *output_dir;
	size_t top;              /* functions printed at the end */
	int include_idle;
	enum unwind_mode unwind;
	unsigned int stack_size;  /* bytes of user stack copied per sample (copy modes) */
	uint64_t unwind_table_bytes;  /* unwind table memory (kernel mode); 0: the default */
	const char *const *debug_dirs;  /* extra separate-debug-file directories */
	size_t ndebug_dirs;
	const char *debuginfod_cache;   /* NULL: the default */
	double debuginfod_wait_s;       /* at the end, for files still downloading */
	uint64_t symbol_cache_bytes;    /* 0: the default */
	const char *proc_root;
	const char *sys_root;
	/* `ignis record -- COMMAND [ARGS]`: argv of the command (NULL
	 * terminated) to start and profile with all its descendants; NULL:
	 * the pids, or the whole machine. */
	char *const *command;
	const char *user;        /* run the command as this user (name or uid); NULL: as ignis */
	/* Off-CPU time too: offcpu.pb.gz, offcpu.folded (collector_opts). */
	int off_cpu;
	uint64_t offcpu_min_ns;
	double offcpu_probability;
};

/* Exit statuses of `ignis record -- COMMAND` besides the command's own. */
#define RECORD_EXIT_FAILED     125  /* ignis could not profile, or write the files */
#define RECORD_EXIT_CANNOT_RUN 126  /* the command was found but could not be run */
#define RECORD_EXIT_NOT_FOUND  127  /* no such command */

/* Returns 0 or -errno; errors have been reported to the user. */
int record__run(const struct record_opts *opts);

/* Starts opts->command stopped, attaches the sampler to it, lets it run and
 * records it and its descendants until it exits (or until duration_s, and
 * then waits for it with the sampler detached), then writes the files.
 * Returns the exit status for ignis: the command's (128 + N when signal N
 * killed it), or one of RECORD_EXIT_*. */
int record__run_command(const struct record_opts *opts);

#endif
