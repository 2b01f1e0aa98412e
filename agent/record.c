#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "sampling/collector.h"
#include "base/log.h"
#include "agent/record.h"
#include "agent/report.h"
#include "exporters/folded.h"
#include "exporters/pprof.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
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

static int write_outputs(const struct record_opts *opts, const struct profile *p)
{
	uint8_t *raw = NULL, *gz = NULL;
	size_t raw_len, gz_len, folded_len = 0;
	char *folded = NULL;
	FILE *f;
	int err;

	err = pprof__encode(p, &pprof_style_default, &raw, &raw_len);
	if (!err)
		err = pprof__gzip(raw, raw_len, &gz, &gz_len);
	if (!err)
		err = write_file(opts->output_dir, "profile.pb.gz", gz, gz_len);
	if (err) {
		fprintf(stderr, "ignis: cannot write %s/profile.pb.gz: %s\n", opts->output_dir,
			strerror(-err));
		goto cleanup;
	}
	f = open_memstream(&folded, &folded_len);
	if (!f) {
		err = -errno;
		goto cleanup;
	}
	err = folded__write(p, "comm", f);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (!err)
		err = write_file(opts->output_dir, "profile.folded", folded, folded_len);
	if (err)
		fprintf(stderr, "ignis: cannot write %s/profile.folded: %s\n", opts->output_dir,
			strerror(-err));
cleanup:
	free(folded);
	free(gz);
	free(raw);
	return err;
}

static void progress(struct collector *c, double elapsed, double duration, int final)
{
	struct collector_stats st;
	int tty = isatty(STDERR_FILENO);

	if (!tty && !final)
		return;
	collector__stats(c, &st);
	fprintf(stderr, "%signis: recording %.0f/%.0f s, %llu samples%s", tty ? "\r" : "", elapsed,
		duration, (unsigned long long)st.samples, final || !tty ? "\n" : "");
}

int record__run(const struct record_opts *opts)
{
	struct collector_opts copts = {
		.frequency_hz = opts->frequency_hz,
		.pids = opts->pids,
		.npids = opts->npids,
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
		.symbol_cache_bytes = opts->symbol_cache_bytes,
	};
	struct sigaction sa = { .sa_handler = on_signal };
	struct collector *c = NULL;
	struct aggregate *agg = NULL;
	struct profile *prof = NULL;
	struct collector_stats st;
	int64_t wall_ns;
	uint64_t start_ns, last_progress = 0;
	double elapsed = 0;
	int err;

	err = prepare_output(opts->output_dir);
	if (err)
		return err;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	wall_ns = clock__realtime_ns();
	c = collector__new(&copts);
	if (!c) {
		err = -errno;
		fprintf(stderr, "ignis: cannot start sampling: %s\n", strerror(-err));
		goto cleanup;
	}
	start_ns = clock__monotonic_ns();
	while (!stop_requested && elapsed < opts->duration_s) {
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
	} else if (st.unwind != UNWIND_FP) {
		fprintf(stderr, "ignis: user stacks: %llu by DWARF CFI, %llu by frame pointers; "
			"%llu DWARF unwinds, %llu ran off a short stack copy, %llu failed; %llu "
			"samples received with %llu frames in %llu bytes, %llu of them user stack\n",
			(unsigned long long)st.dwarf_used, (unsigned long long)st.fp_used,
			(unsigned long long)st.unwinds, (unsigned long long)st.unwind_truncated,
			(unsigned long long)st.unwind_failed, (unsigned long long)st.records,
			(unsigned long long)st.record_frames, (unsigned long long)st.record_bytes,
			(unsigned long long)st.stack_bytes);
	}

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
	err = collector__symbolize(c, agg, &prof, 1);
	if (err) {
		fprintf(stderr, "ignis: cannot build the profile: %s\n", strerror(-err));
		goto cleanup;
	}
	collector__log_symbol_stats(c, "record");
	err = write_outputs(opts, prof);
	if (err)
		goto cleanup;
	printf("wrote %s/profile.pb.gz and %s/profile.folded (%llu samples, %zu stacks, "
	       "%zu binaries)\n\n", opts->output_dir, opts->output_dir,
	       (unsigned long long)aggregate__samples(agg), aggregate__stacks(agg),
	       collector__binaries(c));
	if (opts->top)
		err = report__top(prof, opts->top, stdout);

cleanup:
	profile__free(prof);
	aggregate__free(agg);
	collector__free(c);
	return err;
}
