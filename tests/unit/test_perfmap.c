#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/perfmap.h"
#include "tests/unit/support.h"

struct fx {
	char *dir;
	char *path;	/* <dir>/perf-1.map */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->dir = support__tmpdir("perfmap");
	f->path = f->dir ? support__path(f->dir, "perf-1.map") : NULL;
	if (!f->path)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	support__rmtree(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

static void append(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A map over a file holding text, read once. */
static struct perfmap *map_of(const struct fx *f, const char *text)
{
	struct perfmap *m;
	int fd;

	unlink(f->path);
	append(f->path, text);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	m = perfmap__new(fd);
	assert_non_null(m);
	assert_int_equal(perfmap__refresh(m), 0);
	return m;
}

static void expect_name(const struct perfmap *m, uint64_t addr, const char *name)
{
	const char *got = perfmap__lookup(m, addr);

	if (!name) {
		if (got)
			fail_msg("0x%llx: expected nothing, got '%s'", (unsigned long long)addr, got);
		return;
	}
	if (!got)
		fail_msg("0x%llx: expected '%s', got nothing", (unsigned long long)addr, name);
	assert_string_equal(got, name);
}

static void test_perfmap_basic(void **state)
{
	struct perfmap *m = map_of(*state, "7f0000001000 100 foo\n7f0000002000 0x50 bar\n");
	struct perfmap_stats st;

	assert_int_equal(perfmap__count(m), 2);
	expect_name(m, 0x7f0000000fff, NULL);
	expect_name(m, 0x7f0000001000, "foo");
	expect_name(m, 0x7f00000010ff, "foo");
	expect_name(m, 0x7f0000001100, NULL);
	expect_name(m, 0x7f0000002000, "bar");
	expect_name(m, 0x7f000000204f, "bar");
	expect_name(m, 0x7f0000002050, NULL);
	expect_name(m, 0, NULL);
	expect_name(m, UINT64_MAX, NULL);
	perfmap__stats(m, &st);
	assert_int_equal(st.lines, 2);
	assert_int_equal(st.bad, 0);
	assert_true(perfmap__bytes(m) > 0);
	perfmap__free(m);
}

static void test_perfmap_names_and_prefixes(void **state)
{
	/* Node.js, Java (perf-map-agent), Python 3.12, CRLF, tabs, 0X. */
	struct perfmap *m = map_of(*state,
				   "0x3000 0x10 LazyCompile:~handler /srv/app/index.js:12:3\n"
				   "3010 10 Lcom/example/Foo;::bar void java.lang.String.<init>(char[])\n"
				   "0X3020\t0X10\tpy::compute:/app/main.py\r\n"
				   "3030  8   padded name   \n"
				   "ABCDEF0 1 upper\n");

	assert_int_equal(perfmap__count(m), 5);
	expect_name(m, 0x3000, "LazyCompile:~handler /srv/app/index.js:12:3");
	expect_name(m, 0x300f, "LazyCompile:~handler /srv/app/index.js:12:3");
	expect_name(m, 0x3010, "Lcom/example/Foo;::bar void java.lang.String.<init>(char[])");
	expect_name(m, 0x3025, "py::compute:/app/main.py");
	expect_name(m, 0x3037, "padded name");
	expect_name(m, 0x3038, NULL);
	expect_name(m, 0xabcdef0, "upper");
	expect_name(m, 0xabcdef1, NULL);
	perfmap__free(m);
}

static void test_perfmap_overlap_later_wins(void **state)
{
	struct perfmap *m = map_of(*state,
				   "1000 100 old\n"
				   "1080 10 new\n"	/* inside old: splits it */
				   "2050 100 first\n"
				   "2000 100 second\n"	/* covers first's start */
				   "3000 10 same\n"
				   "3000 10 again\n");	/* the same range reused */

	expect_name(m, 0x1000, "old");
	expect_name(m, 0x107f, "old");
	expect_name(m, 0x1080, "new");
	expect_name(m, 0x108f, "new");
	expect_name(m, 0x1090, "old");
	expect_name(m, 0x10ff, "old");
	expect_name(m, 0x1100, NULL);
	expect_name(m, 0x2000, "second");
	expect_name(m, 0x2050, "second");
	expect_name(m, 0x20ff, "second");
	expect_name(m, 0x2100, "first");
	expect_name(m, 0x214f, "first");
	expect_name(m, 0x2150, NULL);
	expect_name(m, 0x3000, "again");
	expect_name(m, 0x3009, "again");
	assert_int_equal(perfmap__count(m), 6);
	perfmap__free(m);
}

static void test_perfmap_overlap_across_refreshes(void **state)
{
	struct fx *f = *state;
	struct perfmap *m = map_of(f, "1000 100 a\n1100 100 b\n1200 100 c\n");

	/* One later line over the end of a, all of b and the start of c. */
	append(f->path, "10f0 120 big\n");
	assert_int_equal(perfmap__refresh(m), 0);
	expect_name(m, 0x10ef, "a");
	expect_name(m, 0x10f0, "big");
	expect_name(m, 0x1150, "big");
	expect_name(m, 0x120f, "big");
	expect_name(m, 0x1210, "c");
	expect_name(m, 0x12ff, "c");
	assert_int_equal(perfmap__count(m), 3);

	/* And again over everything. */
	append(f->path, "0 ffffffff all\n");
	assert_int_equal(perfmap__refresh(m), 0);
	expect_name(m, 0x1000, "all");
	expect_name(m, 0x1210, "all");
	expect_name(m, 0xfffffffe, "all");
	expect_name(m, 0xffffffff, NULL);
	assert_int_equal(perfmap__count(m), 1);
	perfmap__free(m);
}

static void test_perfmap_appended_lines(void **state)
{
	struct fx *f = *state;
	struct perfmap *m = map_of(f, "1000 10 one\n");
	struct perfmap_stats st;

	expect_name(m, 0x2000, NULL);
	/* Nothing new: refresh is a no-op. */
	assert_int_equal(perfmap__refresh(m), 0);
	assert_int_equal(perfmap__count(m), 1);
	append(f->path, "2000 10 two\n500 10 three\n");
	assert_int_equal(perfmap__refresh(m), 0);
	expect_name(m, 0x1000, "one");
	expect_name(m, 0x2000, "two");
	expect_name(m, 0x500, "three");
	assert_int_equal(perfmap__count(m), 3);
	perfmap__stats(m, &st);
	assert_int_equal(st.lines, 3);
	perfmap__free(m);
}

static void test_perfmap_partial_line(void **state)
{
	struct fx *f = *state;
	struct perfmap *m = map_of(f, "1000 10 foo\n2000 10 ba");

	expect_name(m, 0x1000, "foo");
	/* "ba" may still grow: not taken yet. */
	expect_name(m, 0x2000, NULL);
	assert_int_equal(perfmap__count(m), 1);
	append(f->path, "r");
	assert_int_equal(perfmap__refresh(m), 0);
	expect_name(m, 0x2000, NULL);
	append(f->path, "rel\n30");
	assert_int_equal(perfmap__refresh(m), 0);
	expect_name(m, 0x2000, "barrel");
	append(f->path, "00 10 baz\n");
	assert_int_equal(perfmap__refresh(m), 0);
	expect_name(m, 0x3000, "baz");
	assert_int_equal(perfmap__count(m), 3);
	perfmap__free(m);
}

static void test_perfmap_garbage_skipped(void **state)
{
	struct perfmap *m = map_of(*state,
				   "hello world\n"
				   "\n"
				   "1000\n"
				   "1000 10\n"
				   "1000 10 \n"
				   "zz 10 x\n"
				   "1000 zz x\n"
				   "1000 0 empty\n"
				   "0x 10 nodigits\n"
				   "1000-10 dash\n"
				   "10000000000000000 10 seventeen_digits\n"
				   "   \n"
				   "4000 10 ok\n"
				   "\t\n");
	struct perfmap_stats st;

	assert_int_equal(perfmap__count(m), 1);
	expect_name(m, 0x4000, "ok");
	expect_name(m, 0x1000, NULL);
	expect_name(m, 0x0, NULL);
	perfmap__stats(m, &st);
	assert_int_equal(st.lines, 14);
	assert_int_equal(st.bad, 13);
	assert_int_equal(st.dropped, 0);
	perfmap__free(m);
}

static void test_perfmap_long_line(void **state)
{
	struct fx *f = *state;
	size_t n = 100000;
	char *big = malloc(n + 64);
	struct perfmap_stats st;
	struct perfmap *m;

	assert_non_null(big);
	/* A line far past any name, written in two goes, then good lines. */
	memset(big, 'x', n);
	memcpy(big, "1000 10 ", 8);
	big[n] = '\0';
	m = map_of(f, big);
	append(f->path, "xxxx\n2000 10 after\n");
	assert_int_equal(perfmap__refresh(m), 0);
	expect_name(m, 0x1000, NULL);
	expect_name(m, 0x2000, "after");
	perfmap__stats(m, &st);
	assert_int_equal(st.bad, 1);
	perfmap__free(m);
	free(big);
}

static void test_perfmap_empty(void **state)
{
	struct perfmap *m = map_of(*state, "");
	struct perfmap_stats st;

	assert_int_equal(perfmap__count(m), 0);
	expect_name(m, 0, NULL);
	expect_name(m, 0x1000, NULL);
	assert_int_equal(perfmap__refresh(m), 0);
	perfmap__stats(m, &st);
	assert_int_equal(st.lines, 0);
	perfmap__free(m);
}

static void test_perfmap_huge_size(void **state)
{
	struct perfmap *m = map_of(*state,
				   "ffffffffffffff00 200 wraps\n"
				   "ffffffffffffff00 100 to_2_64\n"
				   "1000 ffffffffffffffff huge\n"
				   "10 ffffffffffff0000 fits\n"
				   "fffffffffffffff0 f to_the_top\n");
	struct perfmap_stats st;

	/* A range past 2^64 must not come back around to low addresses. */
	expect_name(m, 0x0, NULL);
	expect_name(m, 0xf, NULL);
	expect_name(m, 0x10, "fits");
	expect_name(m, 0x1000, "fits");
	expect_name(m, 0xffffffffffff000f, "fits");
	expect_name(m, 0xffffffffffff0010, NULL);
	expect_name(m, 0xffffffffffffff00, NULL);
	expect_name(m, 0xfffffffffffffffe, "to_the_top");
	expect_name(m, UINT64_MAX, NULL);
	perfmap__stats(m, &st);
	assert_int_equal(st.bad, 3);
	perfmap__free(m);
}

static void test_perfmap_file_shrank(void **state)
{
	struct fx *f = *state;
	struct perfmap *m = map_of(f, "1000 10 first_run_a\n2000 10 first_run_b\n");
	struct perfmap_stats st;

	/* The JIT restarted under the same pid and wrote a new, shorter map. */
	assert_int_equal(truncate(f->path, 0), 0);
	append(f->path, "3000 10 x\n");
	assert_int_equal(perfmap__refresh(m), 0);
	expect_name(m, 0x1000, NULL);
	expect_name(m, 0x3000, "x");
	assert_int_equal(perfmap__count(m), 1);
	perfmap__stats(m, &st);
	assert_int_equal(st.resets, 1);
	perfmap__free(m);
}

static void test_perfmap_max_entries(void **state)
{
	struct fx *f = *state;
	struct perfmap_stats st;
	struct perfmap *m;
	int fd;

	unlink(f->path);
	append(f->path, "1000 10 a\n2000 10 b\n3000 10 c\n4000 10 d\n5000 10 e\n");
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	m = perfmap__new(fd);
	assert_non_null(m);
	assert_int_equal(perfmap__set_limits(m, 0, 100), -EINVAL);
	assert_int_equal(perfmap__set_limits(m, 3, 1 << 20), 0);
	assert_int_equal(perfmap__refresh(m), 0);
	assert_int_equal(perfmap__count(m), 3);
	expect_name(m, 0x1000, "a");
	expect_name(m, 0x3000, "c");
	expect_name(m, 0x4000, NULL);
	perfmap__stats(m, &st);
	assert_int_equal(st.dropped, 2);
	/* Full: later lines are counted, not kept. */
	append(f->path, "6000 10 f\n");
	assert_int_equal(perfmap__refresh(m), 0);
	assert_int_equal(perfmap__count(m), 3);
	expect_name(m, 0x6000, NULL);
	perfmap__stats(m, &st);
	assert_int_equal(st.dropped, 3);
	perfmap__free(m);
}

static void test_perfmap_max_entries_splits(void **state)
{
	struct fx *f = *state;
	struct perfmap_stats st;
	struct perfmap *m;
	int fd;

	unlink(f->path);
	append(f->path, "1000 100 a\n");
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	m = perfmap__new(fd);
	assert_non_null(m);
	assert_int_equal(perfmap__set_limits(m, 4, 1 << 20), 0);
	assert_int_equal(perfmap__refresh(m), 0);
	/* Two lines, each splitting a range: 1 + 2 + 2 ranges would pass 4,
	 * so only the first is taken. */
	append(f->path, "1010 10 b\n1080 10 c\n");
	assert_int_equal(perfmap__refresh(m), 0);
	assert_true(perfmap__count(m) <= 4);
	expect_name(m, 0x1010, "b");
	expect_name(m, 0x1080, "a");
	expect_name(m, 0x1020, "a");
	perfmap__stats(m, &st);
	assert_int_equal(st.dropped, 1);
	perfmap__free(m);
}

static void test_perfmap_name_budget(void **state)
{
	struct fx *f = *state;
	struct perfmap_stats st;
	struct perfmap *m;
	int fd;

	unlink(f->path);
	append(f->path, "1000 10 aaaaaaaaaa\n2000 10 bbbbbbbbbb\n3000 10 c\n");
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	m = perfmap__new(fd);
	assert_non_null(m);
	assert_int_equal(perfmap__set_limits(m, 100, 15), 0);
	assert_int_equal(perfmap__refresh(m), 0);
	expect_name(m, 0x1000, "aaaaaaaaaa");
	expect_name(m, 0x2000, NULL);
	expect_name(m, 0x3000, "c");
	perfmap__stats(m, &st);
	assert_int_equal(st.dropped, 1);
	perfmap__free(m);
}

/* Many lines reusing a few ranges: the names they replace are given back. */
static void test_perfmap_reuse_compacts(void **state)
{
	struct fx *f = *state;
	struct perfmap *m = map_of(f, "");
	char line[128];
	size_t before = 0, after;
	FILE *out;
	int i, round;

	for (round = 0; round < 3; round++) {
		out = fopen(f->path, "a");
		assert_non_null(out);
		for (i = 0; i < 8000; i++)
			fprintf(out, "%x 40 LazyCompile:~fn_%d_%d /srv/app/some/long/path.js:1:1\n",
				0x10000 + (i % 16) * 0x40, round, i);
		fclose(out);
		assert_int_equal(perfmap__refresh(m), 0);
		if (round == 0)
			before = perfmap__bytes(m);
	}
	after = perfmap__bytes(m);
	assert_int_equal(perfmap__count(m), 16);
	snprintf(line, sizeof(line), "LazyCompile:~fn_2_%d /srv/app/some/long/path.js:1:1", 7999);
	expect_name(m, 0x10000 + 15 * 0x40, line);
	snprintf(line, sizeof(line), "LazyCompile:~fn_2_%d /srv/app/some/long/path.js:1:1", 7984);
	expect_name(m, 0x10000, line);
	/* Three rounds of ~500 KiB of names each, 16 of them live. */
	assert_true(after <= before + (64 << 10));
	perfmap__free(m);
}

/* Random overlapping lines over several refreshes against the rule itself:
 * the last line that covers an address names it. */
struct model_line {
	uint64_t start, end;
	char name[16];
};

static const char *model_lookup(const struct model_line *l, size_t n, uint64_t addr)
{
	while (n--)
		if (addr >= l[n].start && addr < l[n].end)
			return l[n].name;
	return NULL;
}

static void test_perfmap_random_against_model(void **state)
{
	struct fx *f = *state;
	enum { LINES = 3000, SPACE = 0x20000 };
	struct model_line *l = calloc(LINES, sizeof(*l));
	struct perfmap *m = map_of(f, "");
	unsigned int seed = 12345;
	size_t n = 0;

	assert_non_null(l);
	for (int round = 0; round < 6; round++) {
		FILE *out = fopen(f->path, "a");

		assert_non_null(out);
		for (int i = 0; i < LINES / 6; i++, n++) {
			l[n].start = 0x400000 + rand_r(&seed) % SPACE;
			l[n].end = l[n].start + 1 + rand_r(&seed) % (round % 2 ? 0x40 : 0x2000);
			snprintf(l[n].name, sizeof(l[n].name), "f%zu", n);
			fprintf(out, "%s%llx %llx %s\n", n % 3 ? "" : "0x",
				(unsigned long long)l[n].start,
				(unsigned long long)(l[n].end - l[n].start), l[n].name);
		}
		fclose(out);
		assert_int_equal(perfmap__refresh(m), 0);
		for (uint64_t a = 0x400000 - 4; a < 0x400000 + SPACE + 0x2000; a += 7) {
			const char *want = model_lookup(l, n, a), *got = perfmap__lookup(m, a);

			if (!want != !got || (want && strcmp(want, got)))
				fail_msg("round %d 0x%llx: want %s got %s", round,
					 (unsigned long long)a, want ? want : "-", got ? got : "-");
		}
	}
	free(l);
	perfmap__free(m);
}

static void test_perfmap_new_refuses(void **state)
{
	struct fx *f = *state;
	int fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	errno = 0;
	assert_null(perfmap__new(fd));	/* closes fd */
	assert_int_equal(errno, EINVAL);
	assert_null(perfmap__new(-1));
	assert_int_equal(errno, EBADF);
	perfmap__free(NULL);
}

/* ---- perfmap__open_for over a fake /proc ------------------------------- */

struct proc_fx {
	char *proc;	/* fake proc root */
	char *croot;	/* what <proc>/<pid>/root points to */
};

static void make_proc(struct proc_fx *p, int pid, const char *status)
{
	char *dir, *link, *st;

	assert_true(asprintf(&dir, "%s/%d", p->proc, pid) > 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	link = support__path(dir, "root");
	st = support__path(dir, "status");
	assert_int_equal(symlink(p->croot, link), 0);
	assert_int_equal(support__write_text(st, status), 0);
	free(st);
	free(link);
	free(dir);
}

static char *read_fd(int fd)
{
	char *buf = calloc(1, 4096);

	assert_non_null(buf);
	assert_true(read(fd, buf, 4095) >= 0);
	return buf;
}

static void test_perfmap_open_for(void **state)
{
	struct fx *f = *state;
	struct proc_fx p;
	char status[256], *tmpdir, *map, *s, *outside;
	struct perfmap *m;
	int fd;

	p.proc = support__path(f->dir, "proc");
	p.croot = support__path(f->dir, "container");
	tmpdir = support__path(p.croot, "tmp");
	assert_int_equal(mkdir(p.proc, 0755), 0);
	assert_int_equal(mkdir(p.croot, 0755), 0);
	assert_int_equal(mkdir(tmpdir, 0755), 0);

	/* Host pid 4242 is pid 7 in its namespace: perf-7.map. */
	snprintf(status, sizeof(status),
		 "Name:\tnode\nPid:\t4242\nUid:\t%u\t%u\t%u\t%u\nNSpid:\t4242\t100\t7\n", getuid(),
		 getuid(), getuid(), getuid());
	make_proc(&p, 4242, status);
	map = support__path(tmpdir, "perf-7.map");
	assert_int_equal(support__write_text(map, "1000 10 in_container\n"), 0);
	fd = perfmap__open_for(p.proc, 4242);
	assert_true(fd >= 0);
	m = perfmap__new(fd);
	assert_non_null(m);
	assert_int_equal(perfmap__refresh(m), 0);
	expect_name(m, 0x1000, "in_container");
	perfmap__free(m);
	free(map);

	/* No NSpid line (kernels before 4.1): the pid itself. */
	snprintf(status, sizeof(status), "Name:\tjava\nUid:\t0\t0\t0\t0\n");
	make_proc(&p, 555, status);
	assert_int_equal(perfmap__open_for(p.proc, 555), -ENOENT);
	map = support__path(tmpdir, "perf-555.map");
	assert_int_equal(support__write_text(map, "2000 10 host_pid\n"), 0);
	fd = perfmap__open_for(p.proc, 555);
	assert_true(fd >= 0);
	s = read_fd(fd);
	assert_string_equal(s, "2000 10 host_pid\n");
	free(s);
	close(fd);

	/* No such process. */
	assert_int_equal(perfmap__open_for(p.proc, 9999), -ESRCH);
	assert_int_equal(perfmap__open_for(p.proc, 0), -EINVAL);

	/* A malformed NSpid line is not guessed around. */
	make_proc(&p, 600, "NSpid:\tabc\nUid:\t0\t0\t0\t0\n");
	assert_int_equal(perfmap__open_for(p.proc, 600), -EINVAL);

	/* The map is a symlink to a host path: resolved inside the container
	 * root, where that path does not exist. */
	outside = support__path(f->dir, "host-secret");
	assert_int_equal(support__write_text(outside, "3000 10 host_file\n"), 0);
	make_proc(&p, 601, "NSpid:\t601\t8\nUid:\t0\t0\t0\t0\n");
	free(map);
	map = support__path(tmpdir, "perf-8.map");
	assert_int_equal(symlink(outside, map), 0);
	fd = perfmap__open_for(p.proc, 601);
	assert_true(fd < 0);
	if (fd >= 0)
		close(fd);

	/* A FIFO in its place neither hangs nor passes for a map. */
	make_proc(&p, 602, "NSpid:\t602\t9\nUid:\t0\t0\t0\t0\n");
	free(map);
	map = support__path(tmpdir, "perf-9.map");
	assert_int_equal(mkfifo(map, 0644), 0);
	assert_int_equal(perfmap__open_for(p.proc, 602), -EINVAL);

	/* Owned by someone who is not the process (needs root to chown). */
	if (geteuid() == 0) {
		make_proc(&p, 603, "NSpid:\t603\t10\nUid:\t1000\t1000\t1000\t1000\n");
		free(map);
		map = support__path(tmpdir, "perf-10.map");
		assert_int_equal(support__write_text(map, "1000 10 planted\n"), 0);
		assert_int_equal(chown(map, 2000, 2000), 0);
		assert_int_equal(perfmap__open_for(p.proc, 603), -EPERM);
		assert_int_equal(chown(map, 1000, 1000), 0);
		fd = perfmap__open_for(p.proc, 603);
		assert_true(fd >= 0);
		close(fd);
		/* Root's files are trusted. */
		assert_int_equal(chown(map, 0, 0), 0);
		fd = perfmap__open_for(p.proc, 603);
		assert_true(fd >= 0);
		close(fd);
	}

	free(outside);
	free(map);
	free(tmpdir);
	free(p.proc);
	free(p.croot);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_perfmap_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_names_and_prefixes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_overlap_later_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_overlap_across_refreshes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_appended_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_partial_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_garbage_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_huge_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_file_shrank, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_max_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_max_entries_splits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_name_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_reuse_compacts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_random_against_model, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_new_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perfmap_open_for, setup, teardown),
	};

	return cmocka_run_group_tests_name("perfmap", tests, NULL, NULL);
}
