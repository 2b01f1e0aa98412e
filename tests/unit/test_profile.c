/* The neutral profile: identical samples summed, mappings deduplicated,
 * intervals merged, and uniform thinning for downsampled destinations. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/profile.h"
#include "tests/unit/support.h"

static const struct profile_mapping libc = { .start = 0x1000, .limit = 0x9000, .offset = 0,
					     .file = "/usr/lib/libc.so.6", .build_id = "abcd" };
static const struct profile_mapping app = { .start = 0x400000, .limit = 0x500000,
					    .file = "/usr/bin/app" };

static void add(struct profile *p, int mapping, const char *fn, int64_t pid, uint64_t count)
{
	const struct profile_frame f[] = {
		{ .mapping = (uint32_t)mapping, .address = 0x1234, .function = fn },
		{ .mapping = (uint32_t)mapping, .address = 0x1000, .function = "main" },
	};
	const struct profile_label l[] = { { .key = "pid", .num = pid },
					   { .key = "comm", .str = "app" } };

	assert_int_equal(profile__add_sample(p, f, 2, l, 2, count), 0);
}

static uint64_t total(const struct profile *p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < profile__sample_count(p); i++)
		n += profile__sample(p, i)->count;
	return n;
}

static void test_identical_samples_summed(void **state)
{
	struct profile *p = profile__new(10000000, 0, 0);
	int m = profile__add_mapping(p, &libc);

	(void)state;
	assert_int_equal(m, 1);
	/* The same mapping again is the same id. */
	assert_int_equal(profile__add_mapping(p, &libc), 1);
	assert_int_equal(profile__add_mapping(p, &app), 2);
	assert_int_equal(profile__mapping_count(p), 2);
	add(p, m, "work", 1, 3);
	add(p, m, "work", 1, 4);
	add(p, m, "work", 2, 5);   /* other labels: another sample */
	add(p, m, "rest", 1, 1);   /* other stack */
	assert_int_equal(profile__sample_count(p), 3);
	assert_int_equal(profile__sample(p, 0)->count, 7);
	assert_int_equal(total(p), 13);
	profile__free(p);
}

/* The same key and value from the agent and from the program are two
 * labels: origin is part of a label, kept through a merge. */
static void test_label_origin(void **state)
{
	struct profile *p = profile__new(1, 0, 0), *q = profile__new(1, 0, 0);
	struct profile_frame f = { .function = "work" };
	struct profile_label agent = { .key = "span_id", .str = "1" };
	struct profile_label prog = { .key = "span_id", .str = "1", .origin = PROFILE_LABEL_TRACE };

	(void)state;
	assert_int_equal(profile__add_sample(p, &f, 1, &agent, 1, 1), 0);
	assert_int_equal(profile__add_sample(p, &f, 1, &prog, 1, 2), 0);
	assert_int_equal(profile__add_sample(p, &f, 1, &prog, 1, 3), 0);
	assert_int_equal(profile__sample_count(p), 2);
	assert_int_equal(profile__sample(p, 1)->labels[0].origin, PROFILE_LABEL_TRACE);
	assert_int_equal(profile__sample(p, 1)->count, 5);
	assert_int_equal(profile__merge(q, p, 1, NULL), 0);
	assert_int_equal(profile__sample_count(q), 2);
	assert_int_equal(profile__sample(q, 0)->labels[0].origin, PROFILE_LABEL_AGENT);
	assert_int_equal(profile__sample(q, 1)->labels[0].origin, PROFILE_LABEL_TRACE);
	profile__free(p);
	profile__free(q);
}

static void test_merge(void **state)
{
	struct profile *a = profile__new(10000000, 1000, 500);
	struct profile *b = profile__new(10000000, 1500, 700);
	const struct profile_sample *s;

	(void)state;
	/* Mapping ids differ between the two: b's libc is its 2nd. */
	add(a, profile__add_mapping(a, &libc), "work", 1, 3);
	profile__add_mapping(b, &app);
	add(b, profile__add_mapping(b, &libc), "work", 1, 2);
	add(b, 1, "appfn", 1, 6);
	assert_int_equal(profile__merge(a, b, 1.0, NULL), 0);
	assert_int_equal(profile__mapping_count(a), 2);
	assert_int_equal(profile__sample_count(a), 2);
	assert_int_equal(total(a), 11);
	s = profile__sample(a, 0);
	assert_int_equal(s->count, 5);
	assert_string_equal(profile__mapping(a, support__frame(a, s, 0)->mapping)->file,
			    "/usr/lib/libc.so.6");
	s = profile__sample(a, 1);
	assert_string_equal(support__frame(a, s, 0)->function, "appfn");
	assert_string_equal(profile__mapping(a, support__frame(a, s, 0)->mapping)->file,
			    "/usr/bin/app");
	assert_int_equal(profile__time_nanos(a), 1000);
	assert_int_equal(profile__duration_nanos(a), 1200);
	/* b is untouched. */
	assert_int_equal(total(b), 8);
	profile__free(a);
	profile__free(b);
}

static void test_merge_thinning_is_uniform(void **state)
{
	struct profile *src = profile__new(10000000, 0, 0);
	struct profile *dst = profile__new(10000000, 0, 0);
	const uint64_t n = 100000;
	uint64_t rng = 42, got_a = 0, got_b = 0;
	int m = profile__add_mapping(src, &libc);

	(void)state;
	add(src, m, "a", 1, n);           /* one big sample */
	for (int i = 0; i < 1000; i++)    /* many small ones */
		add(src, m, "b", i + 10, n / 1000);
	assert_int_equal(profile__merge(dst, src, 0.5, &rng), 0);
	for (size_t i = 0; i < profile__sample_count(dst); i++) {
		const struct profile_sample *s = profile__sample(dst, i);

		if (!strcmp(support__frame(dst, s, 0)->function, "a"))
			got_a += s->count;
		else
			got_b += s->count;
	}
	/* Binomial(100000, 0.5): sd 158; 6 sd of slack. */
	assert_true(fabs((double)got_a - n / 2.0) < 950);
	assert_true(fabs((double)got_b - n / 2.0) < 950);
	profile__free(dst);
	profile__free(src);
}

/* A sample's weight: count x period by default, or given (off-CPU
 * nanoseconds); summed with its twins, kept in proportion when thinned. */
static void test_sample_values(void **state)
{
	const struct profile_frame f[] = { { .mapping = 0, .address = 0x10, .function = "wait" } };
	struct profile *p = profile__new(10000000, 0, 0), *q = profile__new(1, 0, 0);
	uint64_t rng = 42;

	(void)state;
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal(profile__add_sample(p, f, 1, NULL, 0, 3), 0);
	assert_int_equal(profile__sample(p, 0)->value, 30000000);
	assert_int_equal(profile__add_sample_value(p, f, 1, NULL, 0, 1, 5), 0);
	assert_int_equal(profile__sample_count(p), 1);
	assert_int_equal(profile__sample(p, 0)->count, 4);
	assert_int_equal(profile__sample(p, 0)->value, 30000005);
	/* Saturates rather than wraps: the encoder refuses it then. */
	assert_int_equal(profile__add_sample(p, f, 1, NULL, 0, UINT64_MAX / 2), 0);
	assert_true(profile__sample(p, 0)->value == UINT64_MAX);
	profile__free(p);

	p = profile__new(1, 0, 0);
	assert_non_null(p);
	assert_int_equal(profile__add_sample_value(p, f, 1, NULL, 0, 1000, 4000000), 0);
	assert_int_equal(profile__merge(q, p, 1, NULL), 0);
	assert_int_equal(profile__sample(q, 0)->value, 4000000);
	profile__free(q);
	q = profile__new(1, 0, 0);
	assert_non_null(q);
	assert_int_equal(profile__merge(q, p, 0.5, &rng), 0);
	assert_true(profile__sample(q, 0)->count > 400 && profile__sample(q, 0)->count < 600);
	assert_int_equal(profile__sample(q, 0)->value, profile__sample(q, 0)->count * 4000);
	profile__free(q);
	profile__free(p);
}

static void test_merge_bad_args(void **state)
{
	struct profile *a = profile__new(1, 0, 0), *b = profile__new(1, 0, 0);
	uint64_t zero = 0, rng = 1;

	(void)state;
	assert_int_equal(profile__merge(a, b, 0, &rng), -EINVAL);
	assert_int_equal(profile__merge(a, b, 1.5, &rng), -EINVAL);
	assert_int_equal(profile__merge(a, b, 0.5, NULL), -EINVAL);
	assert_int_equal(profile__merge(a, b, 0.5, &zero), -EINVAL);
	assert_int_equal(profile__merge(NULL, b, 1, NULL), -EINVAL);
	profile__free(a);
	profile__free(b);
}

/* The id of the only frame of the last sample made in p (a sample added
 * again is summed into the one it was). */
static uint32_t only_frame(const struct profile *p)
{
	const struct profile_sample *s = profile__sample(p, profile__sample_count(p) - 1);

	assert_int_equal(s->nframes, 1);
	return s->frame_ids[0];
}

/* Stacks share their frames: each distinct frame is stored once, and a
 * frame that differs in any one field is another frame. */
static void test_frames_stored_once(void **state)
{
	struct profile *p = profile__new(1, 0, 0);
	const struct profile_frame base = { .mapping = 1, .address = 0x1010, .function = "f",
					    .system_name = "_Z1fv", .file = "f.c", .line = 3,
					    .start_line = 1 };
	struct profile_frame a[] = { base, { .mapping = 1, .address = 0x1100, .function = "main" } };
	struct profile_frame b[] = { { .mapping = 1, .address = 0x1200, .function = "g" }, base,
				     { .mapping = 1, .address = 0x1100, .function = "main" } };
	struct profile_frame v[9];
	const struct profile_sample *sa, *sb;
	char fn[] = "f";
	int m1, m2;
	size_t n;

	(void)state;
	m1 = profile__add_mapping(p, &libc);
	m2 = profile__add_mapping(p, &app);
	assert_int_equal(m1, 1);
	assert_int_equal(m2, 2);
	assert_int_equal(profile__add_sample(p, a, 2, NULL, 0, 1), 0);
	assert_int_equal(profile__add_sample(p, b, 3, NULL, 0, 1), 0);
	assert_int_equal(profile__frame_count(p), 3);
	sa = profile__sample(p, 0);
	sb = profile__sample(p, 1);
	assert_int_equal(sa->frame_ids[0], sb->frame_ids[1]);
	assert_int_equal(sa->frame_ids[1], sb->frame_ids[2]);
	assert_int_not_equal(sb->frame_ids[0], sb->frame_ids[1]);
	assert_ptr_equal(profile__frames(p) + sa->frame_ids[0], support__frame(p, sa, 0));
	assert_string_equal(support__frame(p, sb, 1)->system_name, "_Z1fv");
	assert_int_equal(support__frame(p, sb, 1)->start_line, 1);
	assert_null(profile__frame(p, 3));

	/* Equal contents from other pointers: the same frame. */
	a[0].function = fn;
	assert_int_equal(profile__add_sample(p, a, 1, NULL, 0, 1), 0);
	assert_int_equal(only_frame(p), sa->frame_ids[0]);
	assert_int_equal(profile__frame_count(p), 3);

	for (size_t i = 0; i < 9; i++)
		v[i] = base;
	v[0].line = 4;
	v[1].inlined = 1;
	v[2].start_line = 2;
	v[3].system_name = "_Z1fi";
	v[4].mapping = 2;
	v[5].address = 0x1018;
	v[6].file = NULL;
	v[7].function = "F";
	v[8].system_name = NULL;
	for (size_t i = 0; i < 9; i++) {
		const struct profile_frame *f;

		n = profile__frame_count(p);
		assert_int_equal(profile__add_sample(p, &v[i], 1, NULL, 0, 1), 0);
		assert_int_equal(profile__frame_count(p), n + 1);
		assert_int_equal(only_frame(p), n);
		f = profile__frame(p, (uint32_t)n);
		assert_int_equal(f->line, v[i].line);
		assert_int_equal(f->inlined, v[i].inlined);
		assert_int_equal(f->start_line, v[i].start_line);
		assert_int_equal(f->mapping, v[i].mapping);
		assert_int_equal(f->address, v[i].address);
		assert_string_equal(f->function, v[i].function);
		assert_true(!f->system_name == !v[i].system_name);
		assert_true(!f->file == !v[i].file);
		/* Added again: found, not stored twice. */
		assert_int_equal(profile__add_sample(p, &v[i], 1, NULL, 0, 1), 0);
		assert_int_equal(only_frame(p), n);
	}
	assert_int_equal(profile__frame_count(p), 12);
	profile__free(p);
}

/* A caller may reuse its buffers: a frame is found by what its strings
 * hold, not by where they are. */
static void test_frames_reused_buffer(void **state)
{
	struct profile *p = profile__new(1, 0, 0);
	char fn[16], file[16];
	struct profile_frame f = { .address = 0x10, .function = fn, .file = file };
	uint32_t first, second;

	(void)state;
	strcpy(fn, "alpha");
	strcpy(file, "a.c");
	assert_int_equal(profile__add_sample(p, &f, 1, NULL, 0, 1), 0);
	first = only_frame(p);
	strcpy(fn, "bravo");
	assert_int_equal(profile__add_sample(p, &f, 1, NULL, 0, 1), 0);
	second = only_frame(p);
	assert_int_not_equal(first, second);
	assert_string_equal(profile__frame(p, first)->function, "alpha");
	assert_string_equal(profile__frame(p, second)->function, "bravo");
	strcpy(file, "b.c");
	assert_int_equal(profile__add_sample(p, &f, 1, NULL, 0, 1), 0);
	assert_int_not_equal(only_frame(p), second);
	assert_string_equal(profile__frame(p, only_frame(p))->file, "b.c");
	/* A prefix of the string it held is another string too. */
	strcpy(fn, "brav");
	assert_int_equal(profile__add_sample(p, &f, 1, NULL, 0, 1), 0);
	assert_string_equal(profile__frame(p, only_frame(p))->function, "brav");
	strcpy(fn, "alpha");
	strcpy(file, "a.c");
	assert_int_equal(profile__add_sample(p, &f, 1, NULL, 0, 1), 0);
	/* The first sample again. */
	assert_int_equal(profile__sample_count(p), 4);
	assert_int_equal(profile__sample(p, 0)->count, 2);
	assert_int_equal(profile__frame_count(p), 4);
	profile__free(p);
}

#define FFFD "\xef\xbf\xbd"

/* Strings are cleaned before frames are compared: a frame whose name is
 * not UTF-8 or is too long is the frame of its cleaned name. */
static void test_frames_cleaned(void **state)
{
	struct profile *p = profile__new(1, 0, 0);
	struct profile_frame bad = { .function = "caf\xc3", .file = "\xe9t\xe9.c" };
	struct profile_frame good = { .function = "caf" FFFD, .file = FFFD "t" FFFD ".c" };
	struct profile_frame big = { .function = NULL };
	char *name = malloc(PROFILE_STRING_MAX + 100);
	uint32_t id;

	(void)state;
	assert_non_null(name);
	assert_int_equal(profile__add_sample(p, &bad, 1, NULL, 0, 1), 0);
	id = only_frame(p);
	assert_string_equal(profile__frame(p, id)->function, "caf" FFFD);
	assert_string_equal(profile__frame(p, id)->file, FFFD "t" FFFD ".c");
	assert_int_equal(profile__add_sample(p, &bad, 1, NULL, 0, 1), 0);
	assert_int_equal(only_frame(p), id);
	assert_int_equal(profile__add_sample(p, &good, 1, NULL, 0, 1), 0);
	assert_int_equal(only_frame(p), id);
	assert_int_equal(profile__frame_count(p), 1);

	memset(name, 'x', PROFILE_STRING_MAX + 99);
	name[PROFILE_STRING_MAX + 99] = '\0';
	big.function = name;
	assert_int_equal(profile__add_sample(p, &big, 1, NULL, 0, 1), 0);
	id = only_frame(p);
	assert_int_equal(strlen(profile__frame(p, id)->function), PROFILE_STRING_MAX);
	assert_int_equal(profile__add_sample(p, &big, 1, NULL, 0, 1), 0);
	assert_int_equal(only_frame(p), id);
	/* Its cleaned form is the same frame. */
	name[PROFILE_STRING_MAX] = '\0';
	assert_int_equal(profile__add_sample(p, &big, 1, NULL, 0, 1), 0);
	assert_int_equal(only_frame(p), id);
	assert_int_equal(profile__frame_count(p), 2);
	free(name);
	profile__free(p);
}

/* A merge carries frames over once each, mappings renumbered. */
static void test_merge_frames(void **state)
{
	struct profile *a = profile__new(1, 0, 0), *b = profile__new(1, 0, 0);
	const struct profile_sample *s;

	(void)state;
	profile__add_mapping(b, &app);
	add(b, profile__add_mapping(b, &libc), "work", 1, 1);
	add(b, 2, "work", 2, 1);
	add(b, 2, "rest", 1, 1);
	assert_int_equal(profile__frame_count(b), 3);
	add(a, profile__add_mapping(a, &libc), "work", 1, 1);
	assert_int_equal(profile__merge(a, b, 1.0, NULL), 0);
	assert_int_equal(profile__frame_count(a), 3);
	assert_int_equal(profile__sample_count(a), 3);
	s = profile__sample(a, 2);
	assert_string_equal(support__frame(a, s, 0)->function, "rest");
	assert_int_equal(support__frame(a, s, 0)->mapping, 1);
	assert_int_equal(profile__sample(a, 0)->frame_ids[1], s->frame_ids[1]);
	profile__free(a);
	profile__free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical_samples_summed),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_label_origin),
		cmocka_unit_test(test_merge_thinning_is_uniform),
		cmocka_unit_test(test_merge_bad_args),
		cmocka_unit_test(test_sample_values),
		cmocka_unit_test(test_frames_stored_once),
		cmocka_unit_test(test_frames_reused_buffer),
		cmocka_unit_test(test_frames_cleaned),
		cmocka_unit_test(test_merge_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
