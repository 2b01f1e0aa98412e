/* Folded stacks: exact lines for small profiles built by hand. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/folded.h"
#include "exporters/profile.h"
#include "tests/unit/support.h"

/* A sample whose frames are named root first, as one reads a folded line. */
#define add(p, mapping, labels, nlabels, count, n, ...)                                     \
	assert_int_equal(support__add_named_sample(p, mapping, labels, nlabels, count, true, n, \
						   (const char *const[]){ __VA_ARGS__ }),         \
			 0)

/* folded__write(p, root_label) writes exactly want. */
static void expect_folded(const struct profile *p, const char *root_label, const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(folded__write(p, root_label, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	assert_string_equal(buf, want);
	free(buf);
}

/* Off-CPU: the lines weigh nanoseconds (profile_sample.value), merged
 * lines summed. */
static void test_folded_values(void **state)
{
	const struct profile_label app[] = { { .key = "comm", .str = "app" } };
	const struct profile_frame f[] = { { .address = 0x20, .function = "read" },
					   { .address = 0x10, .function = "main" } };
	const struct profile_label pid1[] = { { .key = "comm", .str = "app" },
					      { .key = "pid", .num = 1 } };
	struct profile *p = profile__new(1, 0, 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	assert_non_null(p);
	assert_int_equal(profile__add_sample_value(p, f, 2, app, 1, 2, 3000000000ULL), 0);
	assert_int_equal(profile__add_sample_value(p, f, 2, pid1, 2, 1, 7), 0);
	assert_int_equal(profile__add_sample_value(p, f + 1, 1, app, 1, 1, 5), 0);
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	assert_int_equal(folded__write_values(p, "comm", out), 0);
	assert_int_equal(fclose(out), 0);
	assert_string_equal(buf, "app;main 5\napp;main;read 3000000007\n");
	free(buf);
	/* The counts are still what folded__write writes. */
	expect_folded(p, "comm", "app;main 1\napp;main;read 3\n");
	profile__free(p);
}

static void test_folded_lines(void **state)
{
	const struct profile_label app1[] = { { .key = "pid", .num = 1 },
					      { .key = "comm", .str = "app" } };
	const struct profile_label app2[] = { { .key = "comm", .str = "app" },
					      { .key = "pid", .num = 2 } };
	const struct profile_label app[] = { { .key = "comm", .str = "app" } };
	const struct profile_label weird[] = { { .key = "comm", .str = "we;ird" } };
	const struct profile_label pid_only[] = { { .key = "pid", .num = 3 } };
	const struct profile_label other[] = { { .key = "thread", .str = "t1" } };
	struct profile *p = profile__new(10000000, 0, 0);
	struct profile_mapping pm = { .start = 0, .limit = 0x10000, .file = "/bin/app" };
	struct profile_frame moved[3] = {
		{ .mapping = 1, .address = 0x2222, .function = "c" },
		{ .mapping = 1, .address = 0x1010, .function = "b" },
		{ .mapping = 1, .address = 0x1000, .function = "a" },
	};

	(void)state;
	assert_non_null(p);
	assert_int_equal(profile__add_mapping(p, &pm), 1);

	/* Root label first, then root → leaf; the pid label plays no part, so
	 * these three merge into one line. */
	add(p, 1, app1, 2, 2, 3, "a", "b", "c");
	add(p, 1, app2, 2, 3, 3, "a", "b", "c");
	/* Same names at other addresses: the same folded line. */
	assert_int_equal(profile__add_sample(p, moved, 3, app, 1, 10), 0);
	add(p, 1, app, 1, 1, 2, "a", "b");
	/* ';' would split a frame in two: in names and in the root label. */
	add(p, 1, weird, 1, 4, 2, "main", "x;y");
	/* No string label with that key: no root element. */
	add(p, 1, NULL, 0, 7, 1, "leaf");
	add(p, 1, pid_only, 1, 1, 1, "f");
	add(p, 1, other, 1, 1, 1, "f");
	/* Spaces are kept; the count is after the last one. */
	add(p, 0, app, 1, 1, 1, "[unknown] 0xdead");

	expect_folded(p, "comm",
		      "app;[unknown] 0xdead 1\n"
		      "app;a;b 1\n"
		      "app;a;b;c 15\n"
		      "f 2\n"
		      "leaf 7\n"
		      "we:ird;main;x:y 4\n");

	/* Another root label. */
	expect_folded(p, "thread",
		      "[unknown] 0xdead 1\n"
		      "a;b 1\n"
		      "a;b;c 15\n"
		      "f 1\n"
		      "leaf 7\n"
		      "main;x:y 4\n"
		      "t1;f 1\n");
	profile__free(p);
}

static void test_folded_sorted(void **state)
{
	const struct profile_label l[] = { { .key = "comm", .str = "z" } };
	const struct profile_label l2[] = { { .key = "comm", .str = "B" } };
	struct profile *p = profile__new(1, 0, 0);

	(void)state;
	assert_non_null(p);
	add(p, 0, l, 1, 1, 2, "main", "zeta");
	add(p, 0, l, 1, 2, 2, "main", "alpha");
	add(p, 0, l2, 1, 3, 1, "main");
	add(p, 0, l, 1, 4, 1, "main");
	add(p, 0, l, 1, 5, 2, "main", "Alpha");
	/* Byte order (strcmp): upper case before lower case. */
	expect_folded(p, "comm",
		      "B;main 3\n"
		      "z;main 4\n"
		      "z;main;Alpha 5\n"
		      "z;main;alpha 2\n"
		      "z;main;zeta 1\n");
	profile__free(p);
}

static void test_folded_empty(void **state)
{
	struct profile *p = profile__new(1, 0, 0);

	(void)state;
	assert_non_null(p);
	expect_folded(p, "comm", "");
	profile__free(p);
}

static void test_folded_no_frames(void **state)
{
	const struct profile_label l[] = { { .key = "comm", .str = "idle" } };
	struct profile *p = profile__new(1, 0, 0);

	(void)state;
	assert_non_null(p);
	assert_int_equal(profile__add_sample(p, NULL, 0, l, 1, 9), 0);
	expect_folded(p, "comm", "idle 9\n");
	profile__free(p);
}

static void test_folded_many_merge(void **state)
{
	const struct profile_label l[] = { { .key = "comm", .str = "w" } };
	struct profile *p = profile__new(1, 0, 0);

	(void)state;
	assert_non_null(p);
	for (int i = 0; i < 1000; i++)
		add(p, 0, l, 1, (uint64_t)i, 2, "main", i % 2 ? "odd" : "even");
	/* 0+2+...+998 and 1+3+...+999. */
	expect_folded(p, "comm", "w;main;even 249500\nw;main;odd 250000\n");
	profile__free(p);
}

/* Lines are merged by their text, not by their names: names that differ
 * only in ';' and ':' write the same, and so do a root label and a frame
 * of the same name, and every empty line. */
static void test_folded_equal_text(void **state)
{
	const struct profile_label pq[] = { { .key = "comm", .str = "p;q" } };
	const struct profile_label p_[] = { { .key = "comm", .str = "p" } };
	const struct profile_label empty[] = { { .key = "comm", .str = "" } };
	struct profile *p = profile__new(1, 0, 0);

	(void)state;
	assert_non_null(p);
	add(p, 0, NULL, 0, 1, 1, "a;b");
	add(p, 0, NULL, 0, 2, 1, "a:b");
	add(p, 0, NULL, 0, 4, 2, "a", "b");
	add(p, 0, NULL, 0, 8, 1, "a b");
	add(p, 0, NULL, 0, 16, 1, "a");
	add(p, 0, NULL, 0, 32, 1, "a~");
	assert_int_equal(profile__add_sample(p, NULL, 0, pq, 1, 64), 0);
	add(p, 0, NULL, 0, 128, 1, "p:q");
	add(p, 0, p_, 1, 256, 1, "q");
	add(p, 0, NULL, 0, 512, 2, "p", "q");
	assert_int_equal(profile__add_sample(p, NULL, 0, NULL, 0, 1024), 0);
	assert_int_equal(profile__add_sample(p, NULL, 0, empty, 1, 2048), 0);
	add(p, 0, NULL, 0, 4096, 1, "");
	add(p, 0, NULL, 0, 8192, 2, "", "");
	expect_folded(p, "comm",
		      " 7168\n"
		      "; 8192\n"
		      "a 16\n"
		      "a b 8\n"
		      "a:b 3\n"
		      "a;b 4\n"
		      "a~ 32\n"
		      "p:q 192\n"
		      "p;q 768\n");
	profile__free(p);
}

/* The line of one sample as folded writes it, the slow way. */
static char *reference_line(const struct profile *p, const struct profile_sample *s,
			    const char *root_label)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	int first = 1;

	assert_non_null(f);
	for (uint32_t i = 0; i < s->nlabels; i++) {
		if (s->labels[i].str && strcmp(s->labels[i].key, root_label) == 0) {
			for (const char *c = s->labels[i].str; *c; c++)
				fputc(*c == ';' ? ':' : *c, f);
			first = 0;
			break;
		}
	}
	for (uint32_t i = s->nframes; i-- > 0; first = 0) {
		if (!first)
			fputc(';', f);
		for (const char *c = support__frame(p, s, i)->function; *c; c++)
			fputc(*c == ';' ? ':' : *c, f);
	}
	assert_int_equal(fclose(f), 0);
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Random profiles over names made to collide and to sort close together:
 * folded writes what formatting every sample, sorting the lines with
 * strcmp and merging equal ones writes. */
static void test_folded_matches_reference(void **state)
{
	static const char *const names[] = { "a", "b", "a;b", "a:b", "", ";", ":", "b;",
					     "a b", "~", "a;", ":b", "\xc3\xa9" };
	const size_t nnames = sizeof(names) / sizeof(names[0]);
	uint64_t rng = 0x9e3779b97f4a7c15ULL;

	(void)state;
	for (int round = 0; round < 300; round++) {
		struct profile *p = profile__new(1, 0, 0);
		char *lines[40], *got = NULL, *want = NULL;
		size_t got_len = 0, want_len = 0, n;
		FILE *f;

		assert_non_null(p);
		for (int i = 0; i < 40; i++) {
			struct profile_frame fr[4] = { 0 };
			struct profile_label l = { .key = "comm" };
			size_t nf;

			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			nf = rng % 5;
			for (size_t j = 0; j < nf; j++) {
				fr[j].function = names[(rng >> (8 + 4 * j)) % nnames];
				fr[j].address = (rng >> 40) % 3;
			}
			l.str = names[(rng >> 30) % nnames];
			l.key = (rng >> 50) % 3 ? "comm" : "other";
			assert_int_equal(profile__add_sample(p, fr, nf, &l, 1, 1 + (rng >> 56)), 0);
		}
		n = profile__sample_count(p);
		for (size_t i = 0; i < n; i++)
			lines[i] = reference_line(p, profile__sample(p, i), "comm");
		qsort(lines, n, sizeof(lines[0]), cmp_str);
		f = open_memstream(&want, &want_len);
		assert_non_null(f);
		for (size_t i = 0, m; i < n; i = m) {
			uint64_t count = 0;

			for (m = i; m < n && strcmp(lines[m], lines[i]) == 0; m++)
				;
			/* Counts by text, summed over the samples that make it. */
			for (size_t k = 0; k < n; k++) {
				char *t = reference_line(p, profile__sample(p, k), "comm");

				if (strcmp(t, lines[i]) == 0)
					count += profile__sample(p, k)->count;
				free(t);
			}
			fprintf(f, "%s %" PRIu64 "\n", lines[i], count);
		}
		assert_int_equal(fclose(f), 0);
		f = open_memstream(&got, &got_len);
		assert_non_null(f);
		assert_int_equal(folded__write(p, "comm", f), 0);
		assert_int_equal(fclose(f), 0);
		assert_string_equal(got, want);
		for (size_t i = 0; i < n; i++)
			free(lines[i]);
		free(got);
		free(want);
		profile__free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folded_lines),
		cmocka_unit_test(test_folded_values),
		cmocka_unit_test(test_folded_sorted),
		cmocka_unit_test(test_folded_empty),
		cmocka_unit_test(test_folded_no_frames),
		cmocka_unit_test(test_folded_many_merge),
		cmocka_unit_test(test_folded_equal_text),
		cmocka_unit_test(test_folded_matches_reference),
	};

	return cmocka_run_group_tests_name("folded", tests, NULL, NULL) ? 1 : 0;
}
