/* python: the walker's marker frames (an interpreted part that ended early)
 * become visible, named frames in pprof and in the folded file, and are
 * counted; a Python frame of a process the agent does not describe is a
 * marker too, never a wrong name. A full interp_procs map (a real BPF map
 * of one entry, two real python3 processes) refuses the second process:
 * counted, and described once the first one is gone. */
#include <bpf/bpf.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bpf/interp.h"
#include "exporters/folded.h"
#include "exporters/profile.h"
#include "sampling/aggregate.h"
#include "sampling/python.h"
#include "symbolizer/bincache.h"
#include "sys/procmaps.h"
#include "tests/unit/support.h"

extern char **environ;

static const struct profile_sample *sample_of(const struct profile *p, uint32_t pid)
{
	for (size_t i = 0; i < profile__sample_count(p); i++) {
		const struct profile_sample *s = profile__sample(p, i);

		for (size_t j = 0; j < s->nlabels; j++)
			if (!strcmp(s->labels[j].key, "pid") && s->labels[j].num == pid)
				return s;
	}
	fail_msg("no sample of pid %u", pid);
	return NULL;
}

static void test_python_markers_named(void **state)
{
	static const struct {
		uint32_t tgid;
		uint64_t w0, w1;
		const char *name;
	} cases[] = {
		{ 101, IGNIS_IFRAME_WORD(IGNIS_IFRAME_MARKER, 0, 0), IGNIS_IFRAME_ERR_READ,
		  "[python: frame unreadable]" },
		{ 102, IGNIS_IFRAME_WORD(IGNIS_IFRAME_MARKER, 0, 0), IGNIS_IFRAME_ERR_THREAD,
		  "[python: thread state not found]" },
		/* A reason this agent does not know (a newer walker). */
		{ 103, IGNIS_IFRAME_WORD(IGNIS_IFRAME_MARKER, 0, 0), 77, "[python: frames unknown]" },
		/* A Python frame of a process never described (it exec'd). */
		{ 104, IGNIS_IFRAME_WORD(IGNIS_IFRAME_PYTHON, 12, 40), 0x7f0000001000ULL,
		  "[python: frames unknown]" },
	};
	struct python *py = python__new("/nonexistent", -1);
	struct aggregate *a = aggregate__new();
	struct profile *p = profile__new(10000000, 1, 2);
	struct python_stats st;
	char *folded = NULL, want[128];
	size_t folded_len = 0;
	FILE *f;

	(void)state;
	assert_non_null(py);
	assert_non_null(a);
	assert_non_null(p);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Leaf first: the marker, then the native frame under it. */
		struct agg_frame u[2] = { { 0 }, { NULL, 0x401000 } };

		assert_int_equal(python__frame(py, cases[i].tgid, cases[i].w0, cases[i].w1, &u[0]), 0);
		assert_true(AGG_IS_INTERP(&u[0]));
		assert_int_equal(aggregate__add(a, cases[i].tgid, "python3", NULL, 0, u, 2, 3), 0);
	}
	/* Not an interpreted frame the namer knows: refused, not misnamed. */
	{
		struct agg_frame u;

		assert_int_equal(python__frame(py, 101, IGNIS_IFRAME_WORD(7, 0, 0), 0, &u), -EINVAL);
	}
	python__stats(py, &st);
	assert_int_equal(st.markers, 3);
	assert_int_equal(st.frames, 0);

	assert_int_equal(aggregate__to_profile(a, NULL, p), 0);
	assert_int_equal(profile__sample_count(p), 4);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct profile_sample *s = sample_of(p, cases[i].tgid);

		assert_int_equal(s->nframes, 2);
		assert_string_equal(support__frame(p, s, 0)->function, cases[i].name);
		assert_non_null(strstr(support__frame(p, s, 1)->function, "[unknown]"));
		assert_int_equal(s->count, 3);
	}

	f = open_memstream(&folded, &folded_len);
	assert_non_null(f);
	assert_int_equal(folded__write(p, "comm", f), 0);
	fclose(f);
	snprintf(want, sizeof(want), ";[python: frame unreadable] 3\n");
	assert_non_null(strstr(folded, want));
	snprintf(want, sizeof(want), ";[python: thread state not found] 3\n");
	assert_non_null(strstr(folded, want));
	free(folded);

	profile__free(p);
	aggregate__free(a);
	python__forget(py, 104);
	python__free(py);
}

static pid_t start_python(void)
{
	char *argv[] = { "/usr/bin/python3", "-c", "import time; time.sleep(30)", NULL };
	pid_t pid;

	assert_int_equal(posix_spawn(&pid, argv[0], NULL, NULL, argv, environ), 0);
	return pid;
}

/* Hands pid's maps to python__process as the process table does. */
static void look_at(struct python *py, struct bincache *c, pid_t pid)
{
	struct procmaps m = { 0 };
	struct binary **bins;

	/* Past the interpreter's start-up: libpython and the like mapped. */
	for (int tries = 0; tries < 100; tries++) {
		procmaps__clear(&m);
		assert_int_equal(procmaps__read("/proc", pid, &m), 0);
		if (m.n >= 3)
			break;
		usleep(20000);
	}
	usleep(200000);
	procmaps__clear(&m);
	assert_int_equal(procmaps__read("/proc", pid, &m), 0);
	bins = calloc(m.n, sizeof(*bins));
	assert_non_null(bins);
	for (size_t i = 0; i < m.n; i++)
		bins[i] = m.v[i].path[0] == '/' ? bincache__get(c, pid, &m.v[i])
						: bincache__get_named(c, m.v[i].path);
	python__process(py, (uint32_t)pid, &m, bins);
	free(bins);
	procmaps__clear(&m);
}

static void test_python_map_full(void **state)
{
	struct python_stats st;
	struct bincache *c;
	struct python *py;
	pid_t a, b;
	int fd;

	(void)state;
	if (access("/usr/bin/python3", X_OK))
		skip();
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "interp_procs", sizeof(uint32_t),
			    sizeof(struct ignis_interp_proc), 1, NULL);
	if (fd < 0)
		skip();  /* needs CAP_BPF */
	c = bincache__new("/proc");
	py = python__new("/proc", fd);
	assert_non_null(c);
	assert_non_null(py);
	a = start_python();
	b = start_python();
	look_at(py, c, a);
	look_at(py, c, b);
	python__stats(py, &st);
	assert_int_equal(st.processes, 1);
	assert_int_equal(st.map_full, 1);
	/* Again while still full: counted again, not described. */
	look_at(py, c, b);
	python__stats(py, &st);
	assert_int_equal(st.processes, 1);
	assert_int_equal(st.map_full, 2);
	/* a exits: b's next look finds room. */
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
	python__forget(py, (uint32_t)a);
	look_at(py, c, b);
	python__stats(py, &st);
	assert_int_equal(st.processes, 1);
	assert_int_equal(st.map_full, 2);
	{
		struct ignis_interp_proc rec;
		uint32_t key = (uint32_t)b;

		assert_int_equal(bpf_map_lookup_elem(fd, &key, &rec), 0);
		assert_int_equal(rec.kind, IGNIS_INTERP_PYTHON);
		assert_int_equal(rec.version >> 8, 3);
		assert_true(rec.eval_start < rec.eval_end && rec.runtime);
	}
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
	python__free(py);
	bincache__free(c);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_python_markers_named),
		cmocka_unit_test(test_python_map_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
