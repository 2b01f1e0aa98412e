/* The /proc/PID/maps parser against a fixture tree (tests/fixtures/proc-maps)
 * holding the maps of a realistic process with some broken lines mixed in,
 * and against in-memory files for the cases a fixture cannot show. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sys/procmaps.h"

#define PROC_ROOT "tests/fixtures/proc-maps"
#define PID 4242

struct want {
	uint64_t start, end, offset;
	uint32_t major, minor;
	uint64_t inode;
	const char *path;
};

/* The executable mappings of tests/fixtures/proc-maps/4242/maps, in order. */
static const struct want fixture_exec[] = {
	{ 0x5603a1e04000, 0x5603a1ee6000, 0x4000, 0xfe, 0x01, 1835123, "/usr/sbin/nginx" },
	{ 0x7f0d61200000, 0x7f0d61210000, 0, 0, 0, 0, "" },
	{ 0x7f0d61a28000, 0x7f0d61bbd000, 0x28000, 0xfe, 0x01, 1311781,
	  "/usr/lib/x86_64-linux-gnu/libc.so.6" },
	{ 0x7f0d61d01000, 0x7f0d61d03000, 0x1000, 0xfe, 0x01, 1312004,
	  "/opt/my app/lib/libplug in.so" },
	{ 0x7f0d61e00000, 0x7f0d61e02000, 0x2000, 0x00, 0x1b, 77,
	  "/tmp/perf-jit-4242.so (deleted)" },
	{ 0x7f0d61ebd000, 0x7f0d61ee7000, 0x2000, 0xfe, 0x01, 1311770,
	  "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" },
	{ 0x7ffc8e9fa000, 0x7ffc8e9fc000, 0, 0, 0, 0, "[vdso]" },
	{ 0xffffffffff600000, 0xffffffffff601000, 0, 0, 0, 0, "[vsyscall]" },
};
#define NR_FIXTURE_EXEC (sizeof(fixture_exec) / sizeof(fixture_exec[0]))
/* bad hex in start, bad hex in offset, end < start, end == start, a line
 * cut after the device, and a line of prose. */
#define NR_FIXTURE_BAD 6

static void expect_entry(const struct procmaps_entry *e, const struct want *w)
{
	assert_int_equal(e->start, w->start);
	assert_int_equal(e->end, w->end);
	assert_int_equal(e->offset, w->offset);
	assert_int_equal(e->dev_major, w->major);
	assert_int_equal(e->dev_minor, w->minor);
	assert_int_equal(e->inode, w->inode);
	assert_non_null(e->path);
	assert_string_equal(e->path, w->path);
}

static void expect_sorted(const struct procmaps *m)
{
	for (size_t i = 1; i < m->n; i++)
		assert_true(m->v[i - 1].start < m->v[i].start);
}

/* procmaps__parse over a string, through a FILE as the agent would see it. */
static int parse_string(const char *text, struct procmaps *m, size_t *bad)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int err;

	assert_non_null(f);
	err = procmaps__parse(f, m, bad);
	fclose(f);
	return err;
}

/* parse_string succeeds on text with want_n executable mappings in m and
 * want_bad lines it could not read. */
static void expect_parse(const char *text, struct procmaps *m, size_t want_bad, size_t want_n)
{
	size_t bad = 12345;

	assert_int_equal(parse_string(text, m, &bad), 0);
	assert_int_equal(bad, want_bad);
	assert_int_equal(m->n, want_n);
}

static void test_procmaps_fixture_parse(void **state)
{
	char path[256];
	struct procmaps m = { 0 };
	size_t bad = 12345;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/%d/maps", PROC_ROOT, PID);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(procmaps__parse(f, &m, &bad), 0);
	fclose(f);

	assert_int_equal(bad, NR_FIXTURE_BAD);
	assert_int_equal(m.n, NR_FIXTURE_EXEC);
	expect_sorted(&m);
	for (size_t i = 0; i < m.n; i++)
		expect_entry(&m.v[i], &fixture_exec[i]);
	procmaps__clear(&m);
	assert_null(m.v);
	assert_int_equal(m.n, 0);
}

static void test_procmaps_read_fixture_root(void **state)
{
	struct procmaps m = { 0 };

	(void)state;
	assert_int_equal(procmaps__read(PROC_ROOT, PID, &m), 0);
	assert_int_equal(m.n, NR_FIXTURE_EXEC);
	for (size_t i = 0; i < m.n; i++)
		expect_entry(&m.v[i], &fixture_exec[i]);
	procmaps__clear(&m);
}

static void test_procmaps_read_missing_pid(void **state)
{
	struct procmaps m = { (void *)0x1, 7 };

	(void)state;
	assert_int_equal(procmaps__read(PROC_ROOT, 4243, &m), -ENOENT);
	assert_int_equal(procmaps__read("tests/fixtures/no-such-root", PID, &m), -ENOENT);
}

static void test_procmaps_only_exec_kept(void **state)
{
	struct procmaps m = { 0 };

	(void)state;
	expect_parse(
		"00400000-00401000 r--p 00000000 08:01 10 /bin/a\n"
		"00401000-00402000 rw-p 00001000 08:01 10 /bin/a\n"
		"00402000-00403000 ---p 00000000 00:00 0 \n"
		"00403000-00404000 rwxs 00000000 00:05 99 /dev/zero (deleted)\n"
		"00404000-00405000 r-xp 00002000 08:01 10 /bin/a\n"
		"00405000-00406000 --xp 00000000 00:00 0 \n"
		"00406000-00407000 rw-s 00000000 00:05 98 /SYSV00000000 (deleted)\n",
		&m, 0, 3);
	assert_int_equal(m.v[0].start, 0x403000);
	assert_string_equal(m.v[0].path, "/dev/zero (deleted)");
	assert_int_equal(m.v[1].start, 0x404000);
	assert_int_equal(m.v[1].offset, 0x2000);
	assert_string_equal(m.v[1].path, "/bin/a");
	assert_int_equal(m.v[2].start, 0x405000);
	assert_string_equal(m.v[2].path, "");
	procmaps__clear(&m);
}

static void test_procmaps_sorts_by_start(void **state)
{
	struct procmaps m = { 0 };

	(void)state;
	/* The kernel writes them in order; the module must not rely on it. */
	expect_parse(
		"7f0000003000-7f0000004000 r-xp 00003000 08:01 3 /lib/c\n"
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n"
		"00001000-00002000 r-xp 00000000 08:01 1 /bin/a\n"
		"7f0000001000-7f0000002000 r-xp 00001000 08:01 2 /lib/b\n",
		&m, 0, 4);
	expect_sorted(&m);
	assert_string_equal(m.v[0].path, "/bin/a");
	assert_string_equal(m.v[1].path, "/lib/b");
	assert_string_equal(m.v[2].path, "/lib/c");
	assert_string_equal(m.v[3].path, "[vsyscall]");
	procmaps__clear(&m);
}

static void test_procmaps_bad_lines_counted(void **state)
{
	struct procmaps m = { 0 };

	(void)state;
	expect_parse(
		"00001000-00002000 r-xp 00000000 08:01 1 /bin/good\n"
		"0000100\n"                                               /* truncated */
		"00003000-00004000 r-xp 00000000 08:01\n"                 /* no inode */
		"0000x000-00004000 r-xp 00000000 08:01 1 /bin/x\n"        /* bad hex */
		"00005000-00006000 r-xp 0000q000 08:01 1 /bin/x\n"        /* bad hex */
		"00005000-00006000 r-xp 00000000 zz:01 1 /bin/x\n"        /* bad dev */
		"00007000-00006000 r-xp 00000000 08:01 1 /bin/x\n"        /* end < start */
		"00008000-00008000 r-xp 00000000 08:01 1 /bin/x\n"        /* empty */
		"00009000-0000a000 r-x 00000000 08:01 1 /bin/x\n"         /* 3 perms */
		"garbage garbage garbage\n"
		"\n"
		"0000b000-0000c000 r-xp 00000000 08:01 2 /bin/last",      /* no newline */
		&m, 10, 2);
	assert_string_equal(m.v[0].path, "/bin/good");
	assert_int_equal(m.v[1].start, 0xb000);
	assert_int_equal(m.v[1].end, 0xc000);
	assert_int_equal(m.v[1].inode, 2);
	assert_string_equal(m.v[1].path, "/bin/last");
	procmaps__clear(&m);
}

static void test_procmaps_null_bad(void **state)
{
	struct procmaps m = { 0 };

	(void)state;
	assert_int_equal(parse_string("garbage\n00001000-00002000 r-xp 00000000 08:01 1 /a\n",
				      &m, NULL), 0);
	assert_int_equal(m.n, 1);
	procmaps__clear(&m);
}

/* A kernel thread's or a zombie's maps file has no executable mapping: an
 * empty result, without qsort(NULL, ...) (caught under SANITIZE=1). */
static void test_procmaps_no_exec_mappings(void **state)
{
	struct procmaps m = { (void *)0x1, 3 };

	(void)state;
	/* An empty file (a kernel thread, pid 2 in the fixture) has no
	 * mappings and is no error. */
	assert_int_equal(procmaps__read(PROC_ROOT, 2, &m), 0);
	assert_int_equal(m.n, 0);
	assert_null(procmaps__find(&m, 0x1000));
	procmaps__clear(&m);

	expect_parse("", &m, 0, 0);
	procmaps__clear(&m);

	/* Only data mappings. */
	expect_parse("00001000-00002000 rw-p 00000000 00:00 0 \n"
		     "00003000-00004000 r--p 00000000 08:01 5 /etc/ld.so.cache\n",
		     &m, 0, 0);
	assert_null(procmaps__find(&m, 0x1000));
	procmaps__clear(&m);
}

static void test_procmaps_find(void **state)
{
	struct procmaps m = { 0 };

	(void)state;
	assert_int_equal(procmaps__read(PROC_ROOT, PID, &m), 0);
	assert_int_equal(m.n, NR_FIXTURE_EXEC);

	for (size_t i = 0; i < m.n; i++) {
		const struct want *w = &fixture_exec[i];
		const struct procmaps_entry *next = i + 1 < m.n ? &m.v[i + 1] : NULL;

		/* [start, end): start and end - 1 are in, end is not. */
		assert_ptr_equal(procmaps__find(&m, w->start), &m.v[i]);
		assert_ptr_equal(procmaps__find(&m, w->start + (w->end - w->start) / 2), &m.v[i]);
		assert_ptr_equal(procmaps__find(&m, w->end - 1), &m.v[i]);
		if (next && next->start == w->end)
			assert_ptr_equal(procmaps__find(&m, w->end), next);
		else
			assert_null(procmaps__find(&m, w->end));
		/* The byte before the mapping, unless it ends the previous one. */
		if (i == 0 || m.v[i - 1].end < w->start)
			assert_null(procmaps__find(&m, w->start - 1));
	}
	/* Gaps: before everything, non-exec mappings, between libraries. */
	assert_null(procmaps__find(&m, 0));
	assert_null(procmaps__find(&m, 0x5603a1e00000));        /* nginx r--p */
	assert_null(procmaps__find(&m, 0x5603a3a11000));        /* [heap] */
	assert_null(procmaps__find(&m, 0x7f0d61a00000));        /* libc r--p */
	assert_null(procmaps__find(&m, 0x7ffc8e9d1000));        /* [stack] */
	assert_null(procmaps__find(&m, 0x7ffc8e9f6000));        /* [vvar] */
	assert_null(procmaps__find(&m, 0x7f0d61e5f000));        /* bad-hex line */
	assert_null(procmaps__find(&m, 0xffffffffff601000));
	assert_null(procmaps__find(&m, UINT64_MAX));
	procmaps__clear(&m);
}

static void test_procmaps_find_adjacent(void **state)
{
	struct procmaps m = { 0 };

	(void)state;
	assert_int_equal(parse_string(
		"00001000-00002000 r-xp 00000000 08:01 1 /a\n"
		"00002000-00003000 r-xp 00001000 08:01 1 /b\n"
		"00003000-00004000 r-xp 00002000 08:01 1 /c\n"
		"00005000-00006000 r-xp 00000000 08:01 1 /d\n",
		&m, NULL), 0);
	assert_null(procmaps__find(&m, 0xfff));
	assert_string_equal(procmaps__find(&m, 0x1fff)->path, "/a");
	assert_string_equal(procmaps__find(&m, 0x2000)->path, "/b");
	assert_string_equal(procmaps__find(&m, 0x2fff)->path, "/b");
	assert_string_equal(procmaps__find(&m, 0x3000)->path, "/c");
	assert_null(procmaps__find(&m, 0x4000));
	assert_null(procmaps__find(&m, 0x4fff));
	assert_string_equal(procmaps__find(&m, 0x5000)->path, "/d");
	assert_null(procmaps__find(&m, 0x6000));
	procmaps__clear(&m);
}

static void test_procmaps_many(void **state)
{
	enum { N = 5000 };
	struct procmaps m = { 0 };
	size_t len = 0;
	char *text = NULL;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	/* Interleaved exec and non-exec, written backwards. */
	for (long i = N - 1; i >= 0; i--)
		fprintf(f, "%012lx-%012lx %s %08lx 08:01 %ld /lib/lib%ld.so\n",
			0x7f0000000000L + i * 0x2000, 0x7f0000000000L + i * 0x2000 + 0x1000,
			i % 2 ? "r-xp" : "r--p", (unsigned long)i * 0x1000, 1000 + i, i);
	fclose(f);
	expect_parse(text, &m, 0, N / 2);
	free(text);
	expect_sorted(&m);
	for (long i = 1; i < N; i += 2) {
		const struct procmaps_entry *e =
			procmaps__find(&m, 0x7f0000000000L + i * 0x2000 + 0x800);

		assert_non_null(e);
		assert_int_equal(e->inode, 1000 + i);
		assert_null(procmaps__find(&m, 0x7f0000000000L + (i - 1) * 0x2000 + 0x800));
		assert_null(procmaps__find(&m, 0x7f0000000000L + i * 0x2000 + 0x1000));
	}
	procmaps__clear(&m);
}

static void test_procmaps_clear_empty(void **state)
{
	struct procmaps m = { 0 };

	(void)state;
	procmaps__clear(&m);
	procmaps__clear(&m);
	assert_null(procmaps__find(&m, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_procmaps_fixture_parse),
		cmocka_unit_test(test_procmaps_read_fixture_root),
		cmocka_unit_test(test_procmaps_read_missing_pid),
		cmocka_unit_test(test_procmaps_only_exec_kept),
		cmocka_unit_test(test_procmaps_sorts_by_start),
		cmocka_unit_test(test_procmaps_bad_lines_counted),
		cmocka_unit_test(test_procmaps_null_bad),
		cmocka_unit_test(test_procmaps_find),
		cmocka_unit_test(test_procmaps_find_adjacent),
		cmocka_unit_test(test_procmaps_many),
		cmocka_unit_test(test_procmaps_clear_empty),
		cmocka_unit_test(test_procmaps_no_exec_mappings),
	};

	return cmocka_run_group_tests_name("procmaps", tests, NULL, NULL) ? 1 : 0;
}
