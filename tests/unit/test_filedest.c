/* Tests for exporters/filedest.c: the files an interval becomes (names,
 * contents decoded back with zlib and the generated pprof unpacker, and read
 * by go tool pprof), the size bound (oldest first, foreign files untouched,
 * an interval over the bound on its own), and errors that must cost only the
 * interval they hit: a directory that became a file, a full disk and a
 * read-only mount (the last two in a private mount namespace, when the test
 * may make one). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "exporters/destination.h"
#include "exporters/filedest.h"
#include "exporters/profile.h"
#include "proto/profile.pb-c.h"
#include "tests/unit/support.h"

#define PERIOD_NS 10000000ULL  /* 100 Hz */
#define INTERVAL_NS 15000000000LL
#define MAX_FILES 64

/* 2026-11-21T12:00:15Z and a bit: names take the second, not the nanoseconds. */
static int64_t end_time(int add_s)
{
	struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 21,
			 .tm_hour = 12, .tm_min = 0, .tm_sec = 15 };

	return ((int64_t)timegm(&tm) + add_s) * 1000000000LL + 999999999LL;
}

/* ---- fixture ----------------------------------------------------------- */

/* Two stacks of one workload, each under its own thread; the hot function
 * is named after the workload so a file shows whose profile it holds. */
static struct profile *workload_profile(const char *hot, int64_t end_ns, uint64_t hot_count)
{
	const struct profile_mapping m = {
		.start = 0x400000, .limit = 0x500000, .offset = 0,
		.file = "/usr/bin/workload", .build_id = "00112233445566778899aabbccddeeff00112233",
	};
	const struct profile_label t1[] = {
		{ .key = "pid", .num = 4242 },
		{ .key = "comm", .str = "workload" },
		{ .key = "thread_name", .str = "worker-1" },
	};
	const struct profile_label t2[] = {
		{ .key = "pid", .num = 4242 },
		{ .key = "comm", .str = "workload" },
		{ .key = "thread_name", .str = "worker-2" },
	};
	const char *hot_stack[] = { "main", "handle_request", hot };
	const char *idle_stack[] = { "main", "idle_wait" };
	struct profile *p;

	p = profile__new(PERIOD_NS, end_ns - INTERVAL_NS, INTERVAL_NS);
	assert_non_null(p);
	assert_int_equal(profile__add_mapping(p, &m), 1);
	assert_int_equal(support__add_named_sample(p, 1, t1, 3, hot_count, true, 3, hot_stack), 0);
	assert_int_equal(support__add_named_sample(p, 1, t2, 3, 3, true, 2, idle_stack), 0);
	return p;
}

static const struct profile_label checkout_labels[] = {
	{ .key = "host", .str = "node-1" },
	{ .key = "service_name", .str = "checkout_api" },
};
static const struct profile_label billing_labels[] = {
	{ .key = "env", .str = "prod/eu" },
	{ .key = "host", .str = "node-1" },
	{ .key = "service_name", .str = "billing" },
};

struct two {
	struct profile *p[2];
	struct series s[2];
	struct interval iv;
};

static void two_series(struct two *t, int add_s)
{
	int64_t end = end_time(add_s);

	t->p[0] = workload_profile("checkout_hot", end, 7);
	t->p[1] = workload_profile("billing_hot", end, 5);
	t->s[0] = (struct series){ .labels = checkout_labels, .nlabels = 2, .profile = t->p[0] };
	t->s[1] = (struct series){ .labels = billing_labels, .nlabels = 3, .profile = t->p[1] };
	t->iv = (struct interval){ .start_ns = end - INTERVAL_NS, .end_ns = end,
				   .series = t->s, .nseries = 2 };
}

static void two_free(struct two *t)
{
	profile__free(t->p[0]);
	profile__free(t->p[1]);
}

/* ---- the directory ------------------------------------------------------ */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry but . and .., sorted; returns how many. */
static size_t list_dir(const char *dir, char **names)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		assert_true(n < MAX_FILES);
		names[n] = strdup(de->d_name);
		assert_non_null(names[n]);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	return n;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

/* The one entry starting with prefix, which must be followed by exactly
 * 8 lowercase hex digits and ".pb.gz"; its name (to free). */
static char *find_file(const char *dir, const char *prefix)
{
	char *names[MAX_FILES], *found = NULL;
	size_t n = list_dir(dir, names), plen = strlen(prefix), i, j;

	for (i = 0; i < n; i++) {
		if (strncmp(names[i], prefix, plen))
			continue;
		if (found)
			fail_msg("two files start with %s: %s, %s", prefix, found, names[i]);
		found = strdup(names[i]);
		assert_non_null(found);
	}
	free_names(names, n);
	if (!found)
		fail_msg("no file %s* in %s", prefix, dir);
	assert_int_equal(strlen(found), plen + 8 + strlen(".pb.gz"));
	for (j = plen; j < plen + 8; j++)
		assert_non_null(strchr("0123456789abcdef", found[j]));
	assert_string_equal(found + plen + 8, ".pb.gz");
	return found;
}

static uint64_t file_size(const char *dir, const char *name)
{
	char *path = support__path(dir, name);
	struct stat st;

	assert_non_null(path);
	assert_int_equal(stat(path, &st), 0);
	free(path);
	return (uint64_t)st.st_size;
}

static bool exists(const char *dir, const char *name)
{
	char *path = support__path(dir, name);
	struct stat st;
	bool ok;

	assert_non_null(path);
	ok = lstat(path, &st) == 0;
	free(path);
	return ok;
}

static void make_file(const char *dir, const char *name, size_t size, time_t mtime)
{
	char *path = support__path(dir, name);
	struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
	char *buf = calloc(1, size + 1);
	FILE *f;

	assert_non_null(path);
	assert_non_null(buf);
	memset(buf, 'x', size);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, size, f), size);
	assert_int_equal(fclose(f), 0);
	if (mtime)
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	free(buf);
	free(path);
}

/* ---- decoding ------------------------------------------------------------ */

static Perftools__Profiles__Profile *decode(const char *dir, const char *name)
{
	Perftools__Profiles__Profile *prof;
	char *path = support__path(dir, name);
	uint8_t *gz, *raw = NULL;
	size_t gz_len = 0, cap = 1 << 16;
	z_stream zs;
	int ret;

	assert_non_null(path);
	gz = support__read_file(path, &gz_len);
	free(path);
	assert_non_null(gz);
	assert_true(gz_len > 2 && gz[0] == 0x1f && gz[1] == 0x8b);  /* gzip, not zlib */

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
	zs.next_in = gz;
	zs.avail_in = (uInt)gz_len;
	do {
		raw = realloc(raw, cap);
		assert_non_null(raw);
		zs.next_out = raw + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		ret = inflate(&zs, Z_NO_FLUSH);
		assert_true(ret == Z_OK || ret == Z_STREAM_END);
		cap *= 2;
	} while (ret != Z_STREAM_END);
	assert_int_equal(zs.avail_in, 0);
	prof = perftools__profiles__profile__unpack(NULL, zs.total_out, raw);
	inflateEnd(&zs);
	free(raw);
	free(gz);
	assert_non_null(prof);
	return prof;
}

static const char *S(const Perftools__Profiles__Profile *prof, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < prof->n_string_table);
	return prof->string_table[i];
}

/* A sample's stack as "root;...;leaf". */
static void stack_of(const Perftools__Profiles__Profile *prof,
		     const Perftools__Profiles__Sample *s, char *out, size_t len)
{
	size_t i, j, k, n = 0;

	out[0] = '\0';
	for (i = s->n_location_id; i-- > 0;) {
		const Perftools__Profiles__Location *loc = NULL;
		const Perftools__Profiles__Function *fn = NULL;

		for (j = 0; j < prof->n_location; j++)
			if (prof->location[j]->id == s->location_id[i])
				loc = prof->location[j];
		assert_non_null(loc);
		assert_int_equal(loc->n_line, 1);
		for (k = 0; k < prof->n_function; k++)
			if (prof->function[k]->id == loc->line[0]->function_id)
				fn = prof->function[k];
		assert_non_null(fn);
		n += snprintf(out + n, len - n, "%s%s", n ? ";" : "", S(prof, fn->name));
		assert_true(n < len);
	}
}

static const Perftools__Profiles__Label *label_of(const Perftools__Profiles__Profile *prof,
						  const Perftools__Profiles__Sample *s,
						  const char *key)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (!strcmp(S(prof, s->label[i]->key), key))
			return s->label[i];
	return NULL;
}

/* What `ignis record` writes: samples/count + cpu/nanoseconds, both stacks
 * with their counts and CPU time, the interval's time. */
static void check_profile(const Perftools__Profiles__Profile *prof, const char *hot,
			  int64_t hot_count, int64_t end_ns)
{
	char stack[256], want_hot[128];
	bool seen_hot = false, seen_idle = false;

	assert_int_equal(prof->n_sample_type, 2);
	assert_string_equal(S(prof, prof->sample_type[0]->type), "samples");
	assert_string_equal(S(prof, prof->sample_type[0]->unit), "count");
	assert_string_equal(S(prof, prof->sample_type[1]->type), "cpu");
	assert_string_equal(S(prof, prof->sample_type[1]->unit), "nanoseconds");
	assert_non_null(prof->period_type);
	assert_string_equal(S(prof, prof->period_type->type), "cpu");
	assert_string_equal(S(prof, prof->period_type->unit), "nanoseconds");
	assert_int_equal(prof->period, PERIOD_NS);
	assert_int_equal(prof->time_nanos, end_ns - INTERVAL_NS);
	assert_int_equal(prof->duration_nanos, INTERVAL_NS);
	assert_int_equal(prof->n_sample, 2);

	snprintf(want_hot, sizeof(want_hot), "main;handle_request;%s", hot);
	for (size_t i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *s = prof->sample[i];

		assert_int_equal(s->n_value, 2);
		stack_of(prof, s, stack, sizeof(stack));
		if (!strcmp(stack, want_hot)) {
			assert_int_equal(s->value[0], hot_count);
			assert_int_equal(s->value[1], hot_count * (int64_t)PERIOD_NS);
			seen_hot = true;
		} else if (!strcmp(stack, "main;idle_wait")) {
			assert_int_equal(s->value[0], 3);
			assert_int_equal(s->value[1], 3 * (int64_t)PERIOD_NS);
			seen_idle = true;
		} else {
			fail_msg("unexpected stack %s", stack);
		}
	}
	assert_true(seen_hot && seen_idle);
}

/* ---- names and contents ------------------------------------------------- */

static void test_files_per_series_per_interval(void **state)
{
	char *dir = support__tmpdir("filedest"), *names[MAX_FILES];
	char *a, *b, *a2, *b2, *sub;
	struct filedest_opts o = { .name = "files" };
	struct filedest_stats st;
	Perftools__Profiles__Profile *prof;
	struct filedest *f;
	struct two t;
	size_t n;

	(void)state;
	assert_non_null(dir);
	/* A directory that does not exist yet, two levels down. */
	assert_int_not_equal(asprintf(&sub, "%s/a/profiles", dir), -1);
	o.dir = sub;
	f = filedest__new(&o);
	assert_non_null(f);
	assert_true(exists(dir, "a/profiles"));

	two_series(&t, 0);
	assert_int_equal(filedest__submit(f, &t.iv), 0);
	n = list_dir(sub, names);
	assert_int_equal(n, 2);  /* nothing else: no .tmp left behind */
	free_names(names, n);
	/* service_name first, then the other values in key order; '_' and '/'
	 * in values become '-'; the UTC end second. */
	a = find_file(sub, "20261121T120015Z_checkout-api_node-1_");
	b = find_file(sub, "20261121T120015Z_billing_prod-eu_node-1_");

	prof = decode(sub, a);
	check_profile(prof, "checkout_hot", 7, end_time(0));
	/* Per-sample labels are dropped by default. */
	for (size_t i = 0; i < prof->n_sample; i++)
		assert_int_equal(prof->sample[i]->n_label, 0);
	perftools__profiles__profile__free_unpacked(prof, NULL);
	prof = decode(sub, b);
	check_profile(prof, "billing_hot", 5, end_time(0));
	perftools__profiles__profile__free_unpacked(prof, NULL);

	filedest__stats(f, &st);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.deleted, 0);
	assert_int_equal(st.bytes_written, file_size(sub, a) + file_size(sub, b));
	assert_int_equal(st.dir_bytes, st.bytes_written);
	two_free(&t);

	/* The next interval: new files, the same hash per series. */
	two_series(&t, 15);
	assert_int_equal(filedest__submit(f, &t.iv), 0);
	a2 = find_file(sub, "20261121T120030Z_checkout-api_node-1_");
	b2 = find_file(sub, "20261121T120030Z_billing_prod-eu_node-1_");
	assert_string_equal(a2 + 17, a + 17);
	assert_string_equal(b2 + 17, b + 17);
	n = list_dir(sub, names);
	assert_int_equal(n, 4);
	free_names(names, n);
	filedest__stats(f, &st);
	assert_int_equal(st.files, 4);
	assert_int_equal(st.dir_bytes, st.bytes_written);

	two_free(&t);
	filedest__free(f);
	free(a);
	free(b);
	free(a2);
	free(b2);
	free(sub);
	support__rmtree(dir);
	free(dir);
}

/* Names that sanitize alike stay apart; the same series twice in one second
 * gets a second name, not an overwrite; long and many values are cut. */
static void test_names_never_collide(void **state)
{
	char *dir = support__tmpdir("filedest"), *names[MAX_FILES], longv[300], *x;
	const char *const vals[] = { "a_b", "a/b", "a-b", "a\xc3\xa9" "b" };
	struct profile_label labels[4][1], many[12];
	struct filedest_opts o = { .name = "files" };
	struct series s[5];
	struct interval iv;
	struct filedest_stats st;
	struct filedest *f;
	struct profile *p;
	size_t n, i;
	char keys[12][8];

	(void)state;
	assert_non_null(dir);
	o.dir = dir;
	f = filedest__new(&o);
	assert_non_null(f);
	p = workload_profile("hot", end_time(0), 1);

	for (i = 0; i < 4; i++) {
		labels[i][0] = (struct profile_label){ .key = "service_name", .str = vals[i] };
		s[i] = (struct series){ .labels = labels[i], .nlabels = 1, .profile = p };
	}
	/* Twelve labels of 100 bytes each: far more than a name can hold. */
	memset(longv, 'v', 100);
	longv[100] = '\0';
	for (i = 0; i < 12; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%02zu", i);
		many[i] = (struct profile_label){ .key = keys[i], .str = longv };
	}
	many[11].key = "service_name";
	s[4] = (struct series){ .labels = many, .nlabels = 12, .profile = p };
	iv = (struct interval){ .start_ns = end_time(0) - INTERVAL_NS, .end_ns = end_time(0),
				.series = s, .nseries = 5 };

	assert_int_equal(filedest__submit(f, &iv), 0);
	n = list_dir(dir, names);
	assert_int_equal(n, 5);
	/* Four names from "a-b" (the two-byte é is one '-'), four hashes. */
	for (i = 0; i < 4; i++)
		assert_int_equal(strncmp(names[i], "20261121T120015Z_a-b_", 21), 0);
	for (i = 0; i + 1 < 4; i++)
		assert_string_not_equal(names[i], names[i + 1]);
	/* Values cut to 64 bytes, the whole within 200 + ".pb.gz". */
	x = names[4];
	assert_true(strlen(x) <= 200 + strlen(".pb.gz"));
	assert_int_equal(strncmp(x + 17, longv, 64), 0);
	assert_int_equal(x[17 + 64], '_');
	free_names(names, n);

	/* The same interval again: same second, same series. */
	assert_int_equal(filedest__submit(f, &iv), 0);
	n = list_dir(dir, names);
	assert_int_equal(n, 10);
	/* Each name right after its "-2" twin ('-' sorts before '.'). */
	for (i = 0; i < n; i += 2) {
		size_t len = strlen(names[i + 1]) - strlen(".pb.gz");

		assert_int_equal(strncmp(names[i], names[i + 1], len), 0);
		assert_string_equal(names[i] + len, "-2.pb.gz");
	}
	free_names(names, n);
	filedest__stats(f, &st);
	assert_int_equal(st.files, 10);
	/* The "-2" files count as ours. */
	assert_int_equal(st.dir_bytes, st.bytes_written);

	profile__free(p);
	filedest__free(f);
	support__rmtree(dir);
	free(dir);
}

static void test_sample_labels_kept_when_asked(void **state)
{
	const char *const keep[] = { "comm", "thread_name" };
	struct filedest_opts o = { .name = "files", .sample_labels = keep, .nsample_labels = 2 };
	char *dir = support__tmpdir("filedest"), *a;
	Perftools__Profiles__Profile *prof;
	const Perftools__Profiles__Label *l;
	struct filedest *f;
	struct two t;
	char stack[256];

	(void)state;
	assert_non_null(dir);
	o.dir = dir;
	f = filedest__new(&o);
	assert_non_null(f);
	two_series(&t, 0);
	assert_int_equal(filedest__submit(f, &t.iv), 0);
	a = find_file(dir, "20261121T120015Z_checkout-api_node-1_");
	prof = decode(dir, a);
	check_profile(prof, "checkout_hot", 7, end_time(0));
	for (size_t i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *s = prof->sample[i];

		stack_of(prof, s, stack, sizeof(stack));
		assert_int_equal(s->n_label, 2);
		assert_null(label_of(prof, s, "pid"));
		l = label_of(prof, s, "comm");
		assert_non_null(l);
		assert_string_equal(S(prof, l->str), "workload");
		l = label_of(prof, s, "thread_name");
		assert_non_null(l);
		assert_string_equal(S(prof, l->str),
				    strstr(stack, "idle_wait") ? "worker-2" : "worker-1");
	}
	perftools__profiles__profile__free_unpacked(prof, NULL);
	two_free(&t);
	filedest__free(f);
	free(a);
	support__rmtree(dir);
	free(dir);
}

/* Runs of spaces as one, to match go tool pprof's columns loosely. */
static char *squeeze(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	assert_non_null(out);
	for (; *s; s++)
		if (*s != ' ' || o == out || o[-1] != ' ')
			*o++ = *s;
	*o = '\0';
	return out;
}

/* An independent reader: go tool pprof, offline, with its own HOME and cache. */
static void test_go_tool_pprof_reads_file(void **state)
{
	const char *go = access("/usr/bin/go", X_OK) == 0 ? "/usr/bin/go" : NULL;
	struct filedest_opts o = { .name = "files" };
	char *dir = support__tmpdir("filedest"), *out, *squeezed, *a, *fdir;
	struct filedest *f;
	struct two t;

	(void)state;
	if (!go) {
		skip();
		return;
	}
	assert_non_null(dir);
	fdir = support__path(dir, "out");
	o.dir = fdir;
	f = filedest__new(&o);
	assert_non_null(f);
	two_series(&t, 0);
	assert_int_equal(filedest__submit(f, &t.iv), 0);
	a = find_file(fdir, "20261121T120015Z_checkout-api_node-1_");
	out = support__read_cmd("cd '%s' && HOME='%s' GOCACHE='%s/gocache' GOFLAGS= "
				"GOTOOLCHAIN=local PPROF_TMPDIR='%s' %s tool pprof -raw '%s/%s' 2>&1;"
				" echo \"exit=$?\"", dir, dir, dir, dir, go, fdir, a);
	assert_non_null(out);
	squeezed = squeeze(out);
	/* The hot stack is locations 1 2 3 (leaf first), 7 samples and 7 x
	 * 10 ms; the idle one shares main. */
	if (!strstr(out, "exit=0") || !strstr(out, "samples/count cpu/nanoseconds") ||
	    !strstr(squeezed, " 7 70000000: 1 2 3 \n") ||
	    !strstr(squeezed, " 3 30000000: 4 3 \n") ||
	    !strstr(squeezed, " 1: 0x1020 M=1 checkout_hot ") ||
	    !strstr(squeezed, " 2: 0x1010 M=1 handle_request ") ||
	    !strstr(squeezed, " 3: 0x1000 M=1 main ") ||
	    !strstr(squeezed, " 4: 0x1010 M=1 idle_wait ") ||
	    !strstr(out, "/usr/bin/workload 00112233445566778899aabbccddeeff00112233"))
		fail_msg("go tool pprof -raw:\n%s", out);
	free(squeezed);
	free(out);
	two_free(&t);
	filedest__free(f);
	free(a);
	free(fdir);
	support__rmtree(dir);
	free(dir);
}

/* ---- the size bound ------------------------------------------------------ */

static const char *const foreign[] = {
	"notes.txt",
	"something.tmp",
	"20200101T000000Z_foo.pb.gz",           /* no hash */
	"20200101T000000Z_foo_DEADBEEF.pb.gz",  /* not our hex */
	"20200101T000000Z_foo_0000000.pb.gz",   /* 7 digits */
	"x20200101T000000Z_foo_00000001.pb.gz",
	"20200101T000000Z_foo_00000001-0.pb.gz",
	"20200101T000000Z_foo_00000001.pb.gz.bak",
};

static void test_size_bound_oldest_first(void **state)
{
	char *dir = support__tmpdir("filedest"), *root = support__tmpdir("filedest-outside");
	char *names[MAX_FILES], *path, *target, *w1, *w2, *w3;
	struct filedest_opts o = { .name = "files" };
	struct filedest_stats st;
	struct profile_label l = { .key = "service_name", .str = "svc" };
	struct series s;
	struct interval iv;
	struct filedest *f;
	struct profile *p;
	uint64_t s0, s1, s2, s3;
	size_t n, i;

	(void)state;
	assert_non_null(dir);
	assert_non_null(root);
	for (i = 0; i < sizeof(foreign) / sizeof(*foreign); i++)
		make_file(dir, foreign[i], 5000, 0);
	/* Shaped like ours but not regular files: someone else's. */
	path = support__path(dir, "20200101T000000Z_dir_00000000.pb.gz");
	assert_int_equal(mkdir(path, 0755), 0);
	free(path);
	make_file(root, "big", 5000, 0);
	path = support__path(dir, "20200101T000000Z_link_00000001.pb.gz");
	target = support__path(root, "big");
	assert_int_equal(symlink(target, path), 0);
	free(path);
	/* Ours from an earlier run, mtimes in the opposite order: the time in
	 * the name decides. And a crash leftover. */
	make_file(dir, "20200101T000000Z_old_0000000a.pb.gz", 3000, 1700000300);
	make_file(dir, "20200101T000001Z_old_0000000b.pb.gz", 3000, 1700000200);
	make_file(dir, "20200101T000002Z_old-x_host_0000000c-2.pb.gz", 3000, 1700000100);
	make_file(dir, "20200101T000003Z_old_0000000d.pb.gz.tmp", 3000, 0);

	p = workload_profile("hot", end_time(0), 1);
	s = (struct series){ .labels = &l, .nlabels = 1, .profile = p };
	iv = (struct interval){ .start_ns = end_time(0) - INTERVAL_NS, .end_ns = end_time(0),
				.series = &s, .nseries = 1 };

	/* The size of the file this interval makes, written elsewhere first,
	 * sets a bound that the first interval passes by one old file and the
	 * second by one more. */
	o.dir = root;
	f = filedest__new(&o);
	assert_non_null(f);
	assert_int_equal(filedest__submit(f, &iv), 0);
	w1 = find_file(root, "20261121T120015Z_svc_");
	s0 = file_size(root, w1);
	assert_true(s0 < 1000);
	filedest__free(f);
	free(w1);
	o.max_bytes = 6000 + s0 + s0 / 2;

	o.dir = dir;
	f = filedest__new(&o);
	assert_non_null(f);
	assert_false(exists(dir, "20200101T000003Z_old_0000000d.pb.gz.tmp"));
	filedest__stats(f, &st);
	assert_int_equal(st.dir_bytes, 9000);

	/* 9000 + s1 is over: the oldest by name goes, that is enough. */
	assert_int_equal(filedest__submit(f, &iv), 0);
	w1 = find_file(dir, "20261121T120015Z_svc_");
	s1 = file_size(dir, w1);
	assert_int_equal(s1, s0);
	assert_false(exists(dir, "20200101T000000Z_old_0000000a.pb.gz"));
	assert_true(exists(dir, "20200101T000001Z_old_0000000b.pb.gz"));
	assert_true(exists(dir, "20200101T000002Z_old-x_host_0000000c-2.pb.gz"));
	filedest__stats(f, &st);
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.dir_bytes, 6000 + s1);

	/* 6000 + s1 + s2 is over: the next oldest. */
	iv.end_ns += INTERVAL_NS;
	assert_int_equal(filedest__submit(f, &iv), 0);
	w2 = find_file(dir, "20261121T120030Z_svc_");
	s2 = file_size(dir, w2);
	assert_false(exists(dir, "20200101T000001Z_old_0000000b.pb.gz"));
	assert_true(exists(dir, "20200101T000002Z_old-x_host_0000000c-2.pb.gz"));
	filedest__stats(f, &st);
	assert_int_equal(st.deleted, 2);
	assert_int_equal(st.dir_bytes, 3000 + s1 + s2);
	filedest__free(f);

	/* A bound below one file: the interval's file is still written, every
	 * older one of ours goes. */
	o.max_bytes = 1;
	f = filedest__new(&o);
	assert_non_null(f);
	iv.end_ns += INTERVAL_NS;
	assert_int_equal(filedest__submit(f, &iv), 0);
	w3 = find_file(dir, "20261121T120045Z_svc_");
	s3 = file_size(dir, w3);
	assert_false(exists(dir, "20200101T000002Z_old-x_host_0000000c-2.pb.gz"));
	assert_false(exists(dir, w1));
	assert_false(exists(dir, w2));
	filedest__stats(f, &st);
	assert_int_equal(st.deleted, 3);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.dir_bytes, s3);

	/* Everything else is as it was. */
	n = list_dir(dir, names);
	assert_int_equal(n, sizeof(foreign) / sizeof(*foreign) + 3);
	free_names(names, n);
	for (i = 0; i < sizeof(foreign) / sizeof(*foreign); i++) {
		assert_true(exists(dir, foreign[i]));
		assert_int_equal(file_size(dir, foreign[i]), 5000);
	}
	assert_true(exists(dir, "20200101T000000Z_dir_00000000.pb.gz"));
	assert_true(exists(dir, "20200101T000000Z_link_00000001.pb.gz"));
	assert_int_equal(file_size(root, "big"), 5000);

	profile__free(p);
	filedest__free(f);
	free(w1);
	free(w2);
	free(w3);
	free(target);
	support__rmtree(root);
	free(root);
	support__rmtree(dir);
	free(dir);
}

/* ---- errors -------------------------------------------------------------- */

static void test_new_fails_with_reason(void **state)
{
	char *dir = support__tmpdir("filedest"), *file, *under;
	struct filedest_opts o = { .name = "files" };

	(void)state;
	assert_non_null(dir);
	file = support__path(dir, "plain");
	make_file(dir, "plain", 10, 0);
	assert_int_not_equal(asprintf(&under, "%s/sub/dir", file), -1);

	o.dir = under;
	errno = 0;
	assert_null(filedest__new(&o));
	assert_int_equal(errno, ENOTDIR);
	o.dir = file;
	errno = 0;
	assert_null(filedest__new(&o));
	assert_int_equal(errno, ENOTDIR);
	o.dir = NULL;
	errno = 0;
	assert_null(filedest__new(&o));
	assert_int_equal(errno, EINVAL);
	/* /proc refuses new files whoever asks, root included. */
	o.dir = "/proc/self";
	errno = 0;
	assert_null(filedest__new(&o));
	assert_int_not_equal(errno, 0);

	free(under);
	free(file);
	support__rmtree(dir);
	free(dir);
}

/* The directory turns into a regular file under the running destination:
 * the interval fails, counted; once it is gone the next one recreates the
 * directory and writes. */
static void test_error_then_recovery(void **state)
{
	char *dir = support__tmpdir("filedest"), *sub, *names[MAX_FILES];
	struct filedest_opts o = { .name = "files" };
	struct filedest_stats st;
	struct filedest *f;
	struct two t;
	size_t n;
	int err;

	(void)state;
	assert_non_null(dir);
	sub = support__path(dir, "out");
	o.dir = sub;
	f = filedest__new(&o);
	assert_non_null(f);
	assert_int_equal(rmdir(sub), 0);
	make_file(dir, "out", 10, 0);

	two_series(&t, 0);
	err = filedest__submit(f, &t.iv);
	assert_int_equal(err, -ENOTDIR);
	filedest__stats(f, &st);
	assert_int_equal(st.files, 0);
	assert_true(st.errors >= 2);  /* both files, and the scan */
	two_free(&t);

	assert_int_equal(unlink(sub), 0);
	two_series(&t, 15);
	assert_int_equal(filedest__submit(f, &t.iv), 0);
	filedest__stats(f, &st);
	assert_int_equal(st.files, 2);
	n = list_dir(sub, names);
	assert_int_equal(n, 2);
	free_names(names, n);
	free(find_file(sub, "20261121T120030Z_checkout-api_node-1_"));
	two_free(&t);

	filedest__free(f);
	free(sub);
	support__rmtree(dir);
	free(dir);
}

/* A full disk and a read-only mount, on a small tmpfs in a mount namespace
 * of this process alone (root only; skipped where namespaces are not
 * allowed). This test changes the namespace of the test process, so it
 * runs last. */
static void test_enospc_and_readonly(void **state)
{
	char *dir = support__tmpdir("filedest"), *names[MAX_FILES], *filler, *buf;
	struct filedest_opts o = { .name = "files" };
	struct filedest_stats st;
	struct filedest *f;
	struct two t;
	ssize_t w;
	size_t n;
	int fd;

	(void)state;
	assert_non_null(dir);
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0755")) {
		support__rmtree(dir);
		free(dir);
		skip();
		return;
	}
	o.dir = dir;
	f = filedest__new(&o);
	assert_non_null(f);

	/* Fill it up with a file that is not ours. */
	filler = support__path(dir, "filler");
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	buf = calloc(1, 4096);
	assert_non_null(buf);
	while ((w = write(fd, buf, 4096)) > 0)
		;
	assert_int_equal(errno, ENOSPC);
	close(fd);
	free(buf);

	two_series(&t, 0);
	assert_int_equal(filedest__submit(f, &t.iv), -ENOSPC);
	filedest__stats(f, &st);
	assert_int_equal(st.files, 0);
	assert_int_equal(st.errors, 2);
	n = list_dir(dir, names);  /* the filler alone: no partial .tmp */
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "filler");
	free_names(names, n);
	two_free(&t);

	/* Room again: the next interval is written. */
	assert_int_equal(unlink(filler), 0);
	two_series(&t, 15);
	assert_int_equal(filedest__submit(f, &t.iv), 0);
	filedest__stats(f, &st);
	assert_int_equal(st.files, 2);
	two_free(&t);

	/* Read-only: refused, counted; read-write again: written. */
	assert_int_equal(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
	two_series(&t, 30);
	assert_int_equal(filedest__submit(f, &t.iv), -EROFS);
	filedest__stats(f, &st);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.errors, 4);
	two_free(&t);
	assert_int_equal(mount(NULL, dir, NULL, MS_REMOUNT, NULL), 0);
	two_series(&t, 45);
	assert_int_equal(filedest__submit(f, &t.iv), 0);
	filedest__stats(f, &st);
	assert_int_equal(st.files, 4);
	assert_int_equal(st.errors, 4);
	two_free(&t);
	free(find_file(dir, "20261121T120100Z_checkout-api_node-1_"));
	assert_int_equal(list_dir(dir, names), 4);
	free_names(names, 4);

	filedest__free(f);
	free(filler);
	assert_int_equal(umount(dir), 0);
	support__rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files_per_series_per_interval),
		cmocka_unit_test(test_names_never_collide),
		cmocka_unit_test(test_sample_labels_kept_when_asked),
		cmocka_unit_test(test_go_tool_pprof_reads_file),
		cmocka_unit_test(test_size_bound_oldest_first),
		cmocka_unit_test(test_new_fails_with_reason),
		cmocka_unit_test(test_error_then_recovery),
		cmocka_unit_test(test_enospc_and_readonly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
