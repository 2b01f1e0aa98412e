/* `ignis record`: profile the machine (or some processes) for a while and
 * write the profile to local files, with no server. */
#ifndef IGNIS_RECORD_H
#define IGNIS_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sampling/collector.h"

struct record_opts {
	double duration_s;
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
};

/* Returns 0 or -errno; errors have been reported to the user. */
int record__run(const struct record_opts *opts);

#endif
