/* Tests for exporters/profile.c and exporters/pprof.c: build a neutral
 * profile, encode it, decode it back with the generated unpacker and check
 * it field by field; gzip round trip with zlib; and, when Go is installed,
 * that an independent reader (go tool pprof) accepts the file. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "base/utf8.h"
#include "exporters/pprof.h"
#include "exporters/profile.h"
#include "proto/profile.pb-c.h"
#include "tests/unit/support.h"

#define PERIOD_NS 10000000ULL  /* 100 Hz */
#define TIME_NS 1700000000123456789LL
#define DURATION_NS 10000000000LL

#define APP_START 0x400000ULL
#define KERN_START 0xffffffff81000000ULL

static const char app_build_id[] = "4f1c2a9b0d3e5f60718293a4b5c6d7e8f9012345";

/* ---- the fixture profile --------------------------------------------- */

static const struct profile_frame k_syscall = {
	.mapping = 2, .address = KERN_START + 0x1000, .function = "do_syscall_64",
};
static const struct profile_frame k_entry = {
	.mapping = 2, .address = KERN_START + 0x2000, .function = "entry_SYSCALL_64",
};
/* hot_loop at 0x401000 with two frames inlined into it. */
static const struct profile_frame u_leaf = {
	.mapping = 1, .address = APP_START + 0x1000, .function = "inlined_leaf",
	.file = "src/app.c", .line = 10, .inlined = 1,
};
static const struct profile_frame u_mid = {
	.mapping = 1, .address = APP_START + 0x1000, .function = "inlined_mid",
	.file = "src/app.c", .line = 20, .inlined = 1,
};
static const struct profile_frame u_hot = {
	.mapping = 1, .address = APP_START + 0x1000, .function = "hot_loop",
	.system_name = "_Z8hot_loopv", .file = "src/app.c", .line = 30,
};
static const struct profile_frame u_main = {
	.mapping = 1, .address = APP_START + 0x2000, .function = "main",
	.file = "src/app.c", .line = 40,
};
/* The same function at another address: a new Location, the same Function. */
static const struct profile_frame u_main2 = {
	.mapping = 1, .address = APP_START + 0x2010, .function = "main",
	.file = "src/app.c", .line = 41,
};

static const struct profile_label labels_a[] = {
	{ .key = "pid", .num = 1234 },
	{ .key = "comm", .str = "app" },
	{ .key = "pod", .str = "web-1" },
	{ .key = "tid", .num = 1235 },
};
static const struct profile_label labels_b[] = {
	{ .key = "pid", .num = 99 },
	{ .key = "comm", .str = "other" },
	{ .key = "pod", .str = "web-2" },
	{ .key = "tid", .num = 100 },
};

static const struct pprof_label_rename renames[] = {
	{ .from = "pod", .to = "pod_name" },
	{ .from = "tid", .to = NULL },
};

static struct profile *fixture(void)
{
	const struct profile_mapping app = {
		.start = APP_START, .limit = APP_START + 0x100000, .offset = 0x1000,
		.file = "/usr/bin/app", .build_id = app_build_id,
	};
	const struct profile_mapping kern = {
		.start = KERN_START, .limit = 0xffffffffffffffffULL, .offset = 0,
		.file = "[kernel.kallsyms]", .build_id = NULL,
	};
	const struct profile_frame s1[] = { k_syscall, k_entry, u_leaf, u_mid, u_hot, u_main };
	const struct profile_frame s2[] = { u_leaf, u_mid, u_hot, u_main };
	const struct profile_frame s3[] = { u_main };
	const struct profile_frame s4[] = { k_syscall, u_main2 };
	struct profile *p;

	p = profile__new(PERIOD_NS, TIME_NS, DURATION_NS);
	assert_non_null(p);
	assert_int_equal(profile__add_mapping(p, &app), 1);
	assert_int_equal(profile__add_mapping(p, &kern), 2);
	assert_int_equal(profile__add_sample(p, s1, 6, labels_a, 4, 3), 0);
	assert_int_equal(profile__add_sample(p, s2, 4, labels_a, 4, 5), 0);
	assert_int_equal(profile__add_sample(p, s3, 1, labels_b, 4, 1), 0);
	assert_int_equal(profile__add_sample(p, s4, 2, labels_b, 4, 7), 0);
	return p;
}

/* ---- decoding helpers ------------------------------------------------ */

static Perftools__Profiles__Profile *encode_decode(const struct profile *p,
						   const struct pprof_style *style)
{
	Perftools__Profiles__Profile *prof;
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(pprof__encode(p, style, &buf, &len), 0);
	assert_non_null(buf);
	assert_true(len > 0);
	prof = perftools__profiles__profile__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(prof);
	return prof;
}

static const char *S(const Perftools__Profiles__Profile *prof, int64_t idx)
{
	assert_true(idx >= 0 && (size_t)idx < prof->n_string_table);
	return prof->string_table[idx];
}

static const Perftools__Profiles__Location *loc_by_id(const Perftools__Profiles__Profile *prof,
						      uint64_t id)
{
	size_t i;

	for (i = 0; i < prof->n_location; i++)
		if (prof->location[i]->id == id)
			return prof->location[i];
	fail_msg("no location %llu", (unsigned long long)id);
	return NULL;
}

static const Perftools__Profiles__Function *fn_by_id(const Perftools__Profiles__Profile *prof,
						     uint64_t id)
{
	size_t i;

	for (i = 0; i < prof->n_function; i++)
		if (prof->function[i]->id == id)
			return prof->function[i];
	fail_msg("no function %llu", (unsigned long long)id);
	return NULL;
}

static const char *loc_fn_name(const Perftools__Profiles__Profile *prof, uint64_t loc_id,
			       size_t line)
{
	const Perftools__Profiles__Location *l = loc_by_id(prof, loc_id);

	assert_true(line < l->n_line);
	return S(prof, fn_by_id(prof, l->line[line]->function_id)->name);
}

static const Perftools__Profiles__Label *find_label(const Perftools__Profiles__Sample *s,
						    const Perftools__Profiles__Profile *prof,
						    const char *key)
{
	size_t i;

	for (i = 0; i < s->n_label; i++)
		if (strcmp(S(prof, s->label[i]->key), key) == 0)
			return s->label[i];
	return NULL;
}

/* Sample i of the fixture, found by its count (samples keep their order,
 * but the test should not depend on that). */
static const Perftools__Profiles__Sample *sample_by_count(const Perftools__Profiles__Profile *prof,
							  int64_t count)
{
	size_t i;

	for (i = 0; i < prof->n_sample; i++)
		if (prof->sample[i]->n_value == 2 && prof->sample[i]->value[0] == count)
			return prof->sample[i];
	fail_msg("no sample with count %lld", (long long)count);
	return NULL;
}

/* ---- profile.c alone ------------------------------------------------- */

static void test_profile_interning(void **state)
{
	char fn_a[32], fn_b[32], file[32], key[8], val[8];
	struct profile_frame fa = { .mapping = 1, .address = 0x10, .line = 3 };
	struct profile_frame fb = { .mapping = 1, .address = 0x20 };
	struct profile_label lab = { .key = key, .str = val };
	char path[32], bid[16];
	struct profile_mapping m = { .start = 0x1000, .limit = 0x2000, .offset = 0x40,
				     .file = path, .build_id = bid };
	const struct profile_sample *s0, *s1, *s2;
	const struct profile_mapping *pm;
	struct profile *p;

	(void)state;
	profile__free(NULL);

	p = profile__new(PERIOD_NS, TIME_NS, DURATION_NS);
	assert_non_null(p);
	assert_int_equal(profile__period_ns(p), PERIOD_NS);
	assert_int_equal(profile__time_nanos(p), TIME_NS);
	assert_int_equal(profile__duration_nanos(p), DURATION_NS);
	assert_int_equal(profile__mapping_count(p), 0);
	assert_int_equal(profile__sample_count(p), 0);
	assert_null(profile__sample(p, 0));

	strcpy(path, "/bin/x");
	strcpy(bid, "abcd");
	assert_int_equal(profile__add_mapping(p, &m), 1);
	/* The profile copies: the caller's buffers may change afterwards. */
	strcpy(path, "/bin/y");
	strcpy(bid, "ef01");
	assert_int_equal(profile__add_mapping(p, &m), 2);
	assert_int_equal(profile__mapping_count(p), 2);
	assert_null(profile__mapping(p, 0));
	assert_null(profile__mapping(p, 3));
	pm = profile__mapping(p, 1);
	assert_non_null(pm);
	assert_string_equal(pm->file, "/bin/x");
	assert_string_equal(pm->build_id, "abcd");
	assert_int_equal(pm->start, 0x1000);
	assert_int_equal(pm->limit, 0x2000);
	assert_int_equal(pm->offset, 0x40);
	assert_ptr_not_equal(pm->file, path);
	assert_string_equal(profile__mapping(p, 2)->file, "/bin/y");
	m.build_id = NULL;
	m.file = NULL;
	assert_int_equal(profile__add_mapping(p, &m), 3);
	assert_null(profile__mapping(p, 3)->build_id);
	assert_string_equal(profile__mapping(p, 3)->file, "");
	m.limit = 0;  /* below start */
	assert_int_equal(profile__add_mapping(p, &m), -EINVAL);

	/* Equal strings from different buffers come out as one pointer. */
	strcpy(fn_a, "compute");
	strcpy(fn_b, "compute");
	strcpy(file, "a.c");
	strcpy(key, "comm");
	strcpy(val, "x");
	fa.function = fn_a;
	fa.file = file;
	fb.function = fn_b;
	{
		struct profile_frame st[] = { fa, fb };

		assert_int_equal(profile__add_sample(p, st, 2, &lab, 1, 4), 0);
	}
	strcpy(fn_a, "changed");
	strcpy(val, "y");
	{
		struct profile_frame st[] = { fb };

		assert_int_equal(profile__add_sample(p, st, 1, &lab, 1, 1), 0);
	}
	assert_int_equal(profile__add_sample(p, NULL, 0, NULL, 0, 2), 0);
	assert_int_equal(profile__sample_count(p), 3);

	s0 = profile__sample(p, 0);
	s1 = profile__sample(p, 1);
	s2 = profile__sample(p, 2);
	assert_non_null(s0);
	assert_int_equal(s0->nframes, 2);
	assert_int_equal(s0->count, 4);
	assert_string_equal(support__frame(p, s0, 0)->function, "compute");
	assert_string_equal(support__frame(p, s0, 0)->file, "a.c");
	assert_int_equal(support__frame(p, s0, 0)->line, 3);
	assert_int_equal(support__frame(p, s0, 0)->address, 0x10);
	assert_null(support__frame(p, s0, 0)->system_name);
	assert_ptr_equal(support__frame(p, s0, 0)->function, support__frame(p, s0, 1)->function);
	assert_ptr_equal(support__frame(p, s0, 1)->function, support__frame(p, s1, 0)->function);
	assert_null(support__frame(p, s1, 0)->file);
	assert_int_equal(s0->nlabels, 1);
	assert_string_equal(s0->labels[0].key, "comm");
	assert_string_equal(s0->labels[0].str, "x");
	assert_string_equal(s1->labels[0].str, "y");
	assert_ptr_equal(s0->labels[0].key, s1->labels[0].key);
	assert_int_equal(s2->nframes, 0);
	assert_int_equal(s2->nlabels, 0);
	assert_int_equal(s2->count, 2);
	assert_null(profile__sample(p, 3));

	/* Bad input is refused and leaves the profile as it was. */
	fa.mapping = 4;
	assert_int_equal(profile__add_sample(p, &fa, 1, NULL, 0, 1), -EINVAL);
	fa.mapping = 1;
	fa.function = NULL;
	assert_int_equal(profile__add_sample(p, &fa, 1, NULL, 0, 1), -EINVAL);
	lab.key = NULL;
	assert_int_equal(profile__add_sample(p, NULL, 0, &lab, 1, 1), -EINVAL);
	assert_int_equal(profile__add_sample(p, NULL, 1, NULL, 0, 1), -EINVAL);
	assert_int_equal(profile__sample_count(p), 3);

	profile__free(p);
}

/* Identical stacks and label sets are stored once. */
static void test_profile_shares_stacks(void **state)
{
	struct profile *p = fixture();
	const struct profile_frame s[] = { u_leaf, u_mid, u_hot, u_main };

	(void)state;
	assert_int_equal(profile__add_sample(p, s, 4, labels_b, 4, 2), 0);
	assert_ptr_equal(profile__sample(p, 1)->frame_ids, profile__sample(p, 4)->frame_ids);
	assert_ptr_equal(profile__sample(p, 2)->labels, profile__sample(p, 4)->labels);
	assert_ptr_not_equal(profile__sample(p, 0)->frame_ids, profile__sample(p, 1)->frame_ids);
	profile__free(p);
}

/* ---- pprof ------------------------------------------------------------ */

static void test_pprof_roundtrip(void **state)
{
	struct pprof_style style = pprof_style_default;
	Perftools__Profiles__Profile *prof;
	const Perftools__Profiles__Sample *s1, *s2, *s3, *s4;
	const Perftools__Profiles__Location *l;
	const Perftools__Profiles__Label *lab;
	const Perftools__Profiles__Mapping *m;
	struct profile *p = fixture();
	size_t i, j;

	(void)state;
	style.renames = renames;
	style.nrenames = 2;
	prof = encode_decode(p, &style);

	/* Strings: "" first, each once. */
	assert_true(prof->n_string_table > 1);
	assert_string_equal(prof->string_table[0], "");
	for (i = 0; i < prof->n_string_table; i++)
		for (j = i + 1; j < prof->n_string_table; j++)
			assert_string_not_equal(prof->string_table[i], prof->string_table[j]);

	/* Types, period, time. */
	assert_int_equal(prof->n_sample_type, 2);
	assert_string_equal(S(prof, prof->sample_type[0]->type), "samples");
	assert_string_equal(S(prof, prof->sample_type[0]->unit), "count");
	assert_string_equal(S(prof, prof->sample_type[1]->type), "cpu");
	assert_string_equal(S(prof, prof->sample_type[1]->unit), "nanoseconds");
	assert_non_null(prof->period_type);
	assert_string_equal(S(prof, prof->period_type->type), "cpu");
	assert_string_equal(S(prof, prof->period_type->unit), "nanoseconds");
	assert_int_equal(prof->period, PERIOD_NS);
	assert_int_equal(prof->time_nanos, TIME_NS);
	assert_int_equal(prof->duration_nanos, DURATION_NS);
	assert_string_equal(S(prof, prof->default_sample_type), "cpu");

	/* Mappings. */
	assert_int_equal(prof->n_mapping, 2);
	m = prof->mapping[0];
	assert_int_equal(m->id, 1);
	assert_int_equal(m->memory_start, APP_START);
	assert_int_equal(m->memory_limit, APP_START + 0x100000);
	assert_int_equal(m->file_offset, 0x1000);
	assert_string_equal(S(prof, m->filename), "/usr/bin/app");
	assert_string_equal(S(prof, m->build_id), app_build_id);
	assert_true(m->has_functions);
	assert_true(m->has_filenames);
	assert_true(m->has_line_numbers);
	assert_true(m->has_inline_frames);
	m = prof->mapping[1];
	assert_int_equal(m->id, 2);
	assert_int_equal(m->memory_start, KERN_START);
	assert_int_equal(m->memory_limit, 0xffffffffffffffffULL);
	assert_int_equal(m->file_offset, 0);
	assert_string_equal(S(prof, m->filename), "[kernel.kallsyms]");
	assert_int_equal(m->build_id, 0);
	assert_true(m->has_functions);
	assert_false(m->has_inline_frames);

	/* Locations: k_syscall, k_entry, hot_loop+inlines, main, main2. */
	assert_int_equal(prof->n_location, 5);
	for (i = 0; i < prof->n_location; i++) {
		assert_true(prof->location[i]->id >= 1);
		assert_true(prof->location[i]->id <= prof->n_location);
		for (j = i + 1; j < prof->n_location; j++)
			assert_int_not_equal(prof->location[i]->id, prof->location[j]->id);
	}
	/* Functions: 6 distinct, main shared by two locations. */
	assert_int_equal(prof->n_function, 6);
	for (i = 0; i < prof->n_function; i++) {
		const Perftools__Profiles__Function *f = prof->function[i];

		assert_true(f->id >= 1 && f->id <= prof->n_function);
		for (j = i + 1; j < prof->n_function; j++)
			assert_int_not_equal(f->id, prof->function[j]->id);
		assert_int_equal(f->start_line, 0);
		if (strcmp(S(prof, f->name), "hot_loop") == 0) {
			assert_string_equal(S(prof, f->system_name), "_Z8hot_loopv");
			assert_string_equal(S(prof, f->filename), "src/app.c");
		} else if (strcmp(S(prof, f->name), "do_syscall_64") == 0) {
			assert_int_equal(f->filename, 0);
			assert_int_equal(f->system_name, 0);
		}
	}

	/* Samples: values, stacks, labels. */
	assert_int_equal(prof->n_sample, 4);
	s1 = sample_by_count(prof, 3);
	s2 = sample_by_count(prof, 5);
	s3 = sample_by_count(prof, 1);
	s4 = sample_by_count(prof, 7);
	assert_int_equal(s1->value[1], 3 * PERIOD_NS);
	assert_int_equal(s2->value[1], 5 * PERIOD_NS);
	assert_int_equal(s3->value[1], 1 * PERIOD_NS);
	assert_int_equal(s4->value[1], 7 * PERIOD_NS);

	assert_int_equal(s1->n_location_id, 4);
	assert_string_equal(loc_fn_name(prof, s1->location_id[0], 0), "do_syscall_64");
	assert_string_equal(loc_fn_name(prof, s1->location_id[1], 0), "entry_SYSCALL_64");
	l = loc_by_id(prof, s1->location_id[2]);
	assert_int_equal(l->mapping_id, 1);
	assert_int_equal(l->address, APP_START + 0x1000);
	assert_int_equal(l->n_line, 3);
	assert_string_equal(loc_fn_name(prof, l->id, 0), "inlined_leaf");
	assert_string_equal(loc_fn_name(prof, l->id, 1), "inlined_mid");
	assert_string_equal(loc_fn_name(prof, l->id, 2), "hot_loop");
	assert_int_equal(l->line[0]->line, 10);
	assert_int_equal(l->line[1]->line, 20);
	assert_int_equal(l->line[2]->line, 30);
	l = loc_by_id(prof, s1->location_id[3]);
	assert_int_equal(l->n_line, 1);
	assert_int_equal(l->address, APP_START + 0x2000);
	assert_string_equal(loc_fn_name(prof, l->id, 0), "main");
	assert_int_equal(loc_by_id(prof, s1->location_id[0])->mapping_id, 2);

	/* Shared frames are shared locations. */
	assert_int_equal(s2->n_location_id, 2);
	assert_int_equal(s2->location_id[0], s1->location_id[2]);
	assert_int_equal(s2->location_id[1], s1->location_id[3]);
	assert_int_equal(s3->n_location_id, 1);
	assert_int_equal(s3->location_id[0], s1->location_id[3]);
	assert_int_equal(s4->n_location_id, 2);
	assert_int_equal(s4->location_id[0], s1->location_id[0]);
	assert_int_not_equal(s4->location_id[1], s1->location_id[3]);
	l = loc_by_id(prof, s4->location_id[1]);
	assert_int_equal(l->line[0]->function_id,
			 loc_by_id(prof, s1->location_id[3])->line[0]->function_id);
	assert_int_equal(l->line[0]->line, 41);

	/* Labels: numeric pid without unit, strings, pod renamed, tid dropped. */
	assert_int_equal(s1->n_label, 3);
	lab = find_label(s1, prof, "pid");
	assert_non_null(lab);
	assert_int_equal(lab->num, 1234);
	assert_int_equal(lab->str, 0);
	assert_int_equal(lab->num_unit, 0);
	lab = find_label(s1, prof, "comm");
	assert_non_null(lab);
	assert_string_equal(S(prof, lab->str), "app");
	assert_int_equal(lab->num, 0);
	lab = find_label(s1, prof, "pod_name");
	assert_non_null(lab);
	assert_string_equal(S(prof, lab->str), "web-1");
	assert_null(find_label(s1, prof, "pod"));
	assert_null(find_label(s1, prof, "tid"));
	lab = find_label(s4, prof, "pid");
	assert_non_null(lab);
	assert_int_equal(lab->num, 99);
	assert_string_equal(S(prof, find_label(s4, prof, "pod_name")->str), "web-2");
	assert_string_equal(S(prof, find_label(s3, prof, "comm")->str), "other");
	/* "tid" was only a key; dropped, it is not in the table at all. */
	for (i = 0; i < prof->n_string_table; i++)
		assert_string_not_equal(prof->string_table[i], "tid");

	perftools__profiles__profile__free_unpacked(prof, NULL);
	profile__free(p);
}

/* Without a samples type the only value is CPU time; labels pass through. */
static void test_pprof_cpu_only(void **state)
{
	struct pprof_style style = {
		.cpu = { .type = "cpu", .unit = "nanoseconds" },
		.period = { .type = "cpu", .unit = "nanoseconds" },
	};
	Perftools__Profiles__Profile *prof;
	struct profile *p = fixture();
	size_t i;

	(void)state;
	prof = encode_decode(p, &style);
	assert_int_equal(prof->n_sample_type, 1);
	assert_string_equal(S(prof, prof->sample_type[0]->type), "cpu");
	assert_int_equal(prof->n_sample, 4);
	for (i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *s = prof->sample[i];

		assert_int_equal(s->n_value, 1);
		assert_int_equal(s->value[0], (int64_t)profile__sample(p, i)->count * PERIOD_NS);
		assert_int_equal(s->n_label, 4);
		assert_non_null(find_label(s, prof, "tid"));
		assert_non_null(find_label(s, prof, "pod"));
	}
	perftools__profiles__profile__free_unpacked(prof, NULL);
	profile__free(p);
}

static void test_pprof_empty_and_errors(void **state)
{
	Perftools__Profiles__Profile *prof;
	struct profile *p;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	p = profile__new(PERIOD_NS, TIME_NS, DURATION_NS);
	assert_non_null(p);
	prof = encode_decode(p, &pprof_style_default);
	assert_int_equal(prof->n_sample, 0);
	assert_int_equal(prof->n_location, 0);
	assert_string_equal(prof->string_table[0], "");
	assert_int_equal(prof->period, PERIOD_NS);
	perftools__profiles__profile__free_unpacked(prof, NULL);

	assert_int_equal(pprof__encode(NULL, &pprof_style_default, &buf, &len), -EINVAL);
	assert_int_equal(pprof__encode(p, NULL, &buf, &len), -EINVAL);
	assert_int_equal(pprof__encode(p, &pprof_style_default, NULL, &len), -EINVAL);

	/* count x period past INT64_MAX is refused, not wrapped. */
	assert_int_equal(profile__add_sample(p, NULL, 0, NULL, 0, UINT64_MAX / 2), 0);
	assert_int_equal(pprof__encode(p, &pprof_style_default, &buf, &len), -EOVERFLOW);
	assert_null(buf);
	profile__free(p);

	assert_int_equal(pprof__gzip(NULL, 1, &buf, &len), -EINVAL);
}

static void gunzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	size_t cap = len * 4 + 64;
	uint8_t *buf = malloc(cap);
	z_stream zs;
	int ret;

	assert_non_null(buf);
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		zs.next_out = buf + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		ret = inflate(&zs, Z_NO_FLUSH);
		if (ret == Z_STREAM_END)
			break;
		assert_int_equal(ret, Z_OK);
		if (zs.avail_out == 0) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	*out_len = zs.total_out;
	*out = buf;
	inflateEnd(&zs);
}

static void test_pprof_gzip_roundtrip(void **state)
{
	struct profile *p = fixture();
	uint8_t *raw = NULL, *gz = NULL, *back = NULL;
	size_t raw_len = 0, gz_len = 0, back_len = 0;

	(void)state;
	assert_int_equal(pprof__encode(p, &pprof_style_default, &raw, &raw_len), 0);
	assert_int_equal(pprof__gzip(raw, raw_len, &gz, &gz_len), 0);
	assert_true(gz_len > 18);
	assert_int_equal(gz[0], 0x1f);
	assert_int_equal(gz[1], 0x8b);
	gunzip(gz, gz_len, &back, &back_len);
	assert_int_equal(back_len, raw_len);
	assert_memory_equal(back, raw, raw_len);
	free(back);
	free(gz);

	/* An empty input is still a valid gzip member. */
	assert_int_equal(pprof__gzip(raw, 0, &gz, &gz_len), 0);
	gunzip(gz, gz_len, &back, &back_len);
	assert_int_equal(back_len, 0);
	free(back);
	free(gz);
	free(raw);
	profile__free(p);
}

/* ~100k samples x 64 frames: must finish quickly (no quadratic step) and
 * come back with every sample and a bounded number of locations. */
static void test_pprof_large(void **state)
{
	enum { NSAMPLES = 100000, DEPTH = 64, NFUNCS = 4096 };
	static char names[NFUNCS][16];
	struct profile_frame frames[DEPTH];
	struct profile_label labels[2];
	const struct profile_mapping app = {
		.start = APP_START, .limit = APP_START + 0x1000000, .file = "/usr/bin/big",
	};
	Perftools__Profiles__Profile *prof;
	struct profile *p;
	uint64_t x = 88172645463325252ULL, total = 0;
	size_t i, d;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	for (i = 0; i < NFUNCS; i++)
		snprintf(names[i], sizeof(names[i]), "fn_%zu", i);
	p = profile__new(PERIOD_NS, TIME_NS, DURATION_NS);
	assert_non_null(p);
	assert_int_equal(profile__add_mapping(p, &app), 1);
	for (i = 0; i < NSAMPLES; i++) {
		for (d = 0; d < DEPTH; d++) {
			size_t f;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			f = x % NFUNCS;
			frames[d] = (struct profile_frame){
				.mapping = 1, .address = APP_START + f * 16,
				.function = names[f], .line = (int64_t)f,
			};
		}
		labels[0] = (struct profile_label){ .key = "pid", .num = (int64_t)(i % 50) };
		labels[1] = (struct profile_label){ .key = "comm", .str = names[i % 7] };
		assert_int_equal(profile__add_sample(p, frames, DEPTH, labels, 2, 1 + i % 3), 0);
		total += 1 + i % 3;
	}
	assert_int_equal(pprof__encode(p, &pprof_style_default, &buf, &len), 0);
	prof = perftools__profiles__profile__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(prof);
	assert_int_equal(prof->n_sample, NSAMPLES);
	assert_true(prof->n_location <= NFUNCS);
	assert_true(prof->n_function <= NFUNCS);
	for (i = 0; i < prof->n_sample; i++) {
		assert_int_equal(prof->sample[i]->n_location_id, DEPTH);
		total -= (uint64_t)prof->sample[i]->value[0];
	}
	assert_int_equal(total, 0);
	perftools__profiles__profile__free_unpacked(prof, NULL);
	profile__free(p);
}

/* ---- an independent reader: go tool pprof ---------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	/* Go's build cache marks files read-only; unlinking still works. */
	return remove(path);
}

static const char *find_go(void)
{
	const char *go = getenv("GO");

	if (go && *go && access(go, X_OK) == 0)
		return go;
	if (access("/usr/bin/go", X_OK) == 0)
		return "/usr/bin/go";
	if (access("/usr/lib/go/bin/go", X_OK) == 0)
		return "/usr/lib/go/bin/go";
	return NULL;
}

static void test_pprof_go_tool(void **state)
{
	char dir[] = "/tmp/ignis-test-pprof-XXXXXX";
	char file[128], out[128], cache[128], text[65536];
	const char *go = find_go();
	struct profile *p;
	uint8_t *raw = NULL, *gz = NULL;
	size_t raw_len = 0, gz_len = 0, n;
	int status, fd;
	FILE *f;
	pid_t pid;

	(void)state;
	if (!go) {
		skip();
		return;
	}
	p = fixture();
	assert_int_equal(pprof__encode(p, &pprof_style_default, &raw, &raw_len), 0);
	assert_int_equal(pprof__gzip(raw, raw_len, &gz, &gz_len), 0);
	profile__free(p);
	free(raw);

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/cpu.pb.gz", dir);
	snprintf(out, sizeof(out), "%s/out.txt", dir);
	snprintf(cache, sizeof(cache), "%s/gocache", dir);
	f = fopen(file, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(gz, 1, gz_len, f), gz_len);
	assert_int_equal(fclose(f), 0);
	free(gz);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* A private HOME and GOCACHE: the test must not depend on, or
		 * write to, the user's Go setup. */
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(126);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		setenv("HOME", dir, 1);
		setenv("GOCACHE", cache, 1);
		setenv("GOFLAGS", "", 1);
		setenv("GOTOOLCHAIN", "local", 1);
		setenv("PPROF_TMPDIR", dir, 1);
		execl(go, "go", "tool", "pprof", "-raw", file, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);

	f = fopen(out, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("go tool pprof failed (status %d):\n%s", status, text);
	if (!strstr(text, "hot_loop") || !strstr(text, "inlined_leaf") ||
	    !strstr(text, "do_syscall_64"))
		fail_msg("go tool pprof output lacks expected functions:\n%s", text);
}

/* Strings from outside (a JIT's perf map, a comm the kernel cut inside a
 * character, a path) reach the string table as valid UTF-8, or a strict
 * decoder and Pyroscope refuse the whole profile. */
static void test_pprof_utf8(void **state)
{
	const struct profile_mapping jit = {
		.start = 0x7f0000000000ULL, .limit = 0x7f0000100000ULL,
		.file = "/tmp/perf-42\xff.map",
	};
	struct profile_frame f[2] = {
		{ .mapping = 1, .address = 0x7f0000000010ULL,
		  .function = "jit_spin_\xff\xfe_bad\xc3", .file = "src/\xe2\x82.js", .line = 7 },
		{ .mapping = 1, .address = 0x7f0000000020ULL },
	};
	const struct profile_label labels[] = {
		/* "python3-réseau" cut by the kernel at 15 bytes, inside the é. */
		{ .key = "thread name", .str = "python3-r\xc3" },
		{ .key = "bad\x80key", .str = "v" },
	};
	Perftools__Profiles__Profile *prof;
	const Perftools__Profiles__Sample *smp;
	const Perftools__Profiles__Label *lab;
	struct profile *p;
	size_t i, long_len = 70000;
	char *long_name;

	(void)state;
	/* "xy" then 34,999 two-byte characters: a byte-wise cut at 65,535
	 * would split one. */
	long_name = malloc(long_len + 1);
	assert_non_null(long_name);
	memcpy(long_name, "xy", 2);
	for (i = 2; i < long_len; i += 2)
		memcpy(&long_name[i], "\xc3\xa9", 2);
	long_name[long_len] = 0;
	f[1].function = long_name;

	p = profile__new(PERIOD_NS, TIME_NS, DURATION_NS);
	assert_non_null(p);
	assert_int_equal(profile__add_mapping(p, &jit), 1);
	assert_int_equal(profile__add_sample(p, f, 2, labels, 2, 5), 0);
	/* The same raw names again land on the same interned strings. */
	assert_int_equal(profile__add_sample(p, f, 2, labels, 2, 1), 0);
	assert_int_equal(profile__sample_count(p), 1);
	assert_int_equal(profile__sample(p, 0)->count, 6);
	free(long_name);

	prof = encode_decode(p, &pprof_style_default);
	for (i = 0; i < prof->n_string_table; i++)
		assert_true(utf8__valid(prof->string_table[i], strlen(prof->string_table[i])));
	assert_string_equal(S(prof, prof->mapping[0]->filename), "/tmp/perf-42\xef\xbf\xbd.map");
	smp = prof->sample[0];
	assert_int_equal(smp->n_location_id, 2);
	assert_string_equal(loc_fn_name(prof, smp->location_id[0], 0),
			    "jit_spin_\xef\xbf\xbd\xef\xbf\xbd_bad\xef\xbf\xbd");
	assert_string_equal(S(prof, fn_by_id(prof, loc_by_id(prof, smp->location_id[0])
					   ->line[0]->function_id)->filename),
			    "src/\xef\xbf\xbd\xef\xbf\xbd.js");
	/* The long name keeps its head, whole characters, at most 65,535 bytes. */
	{
		const char *n = loc_fn_name(prof, smp->location_id[1], 0);

		assert_int_equal(strlen(n), PROFILE_STRING_MAX - 1);
		assert_int_equal(strncmp(n, "xy\xc3\xa9\xc3\xa9", 6), 0);
	}
	lab = find_label(smp, prof, "thread name");
	assert_non_null(lab);
	assert_string_equal(S(prof, lab->str), "python3-r\xef\xbf\xbd");
	assert_non_null(find_label(smp, prof, "bad\xef\xbf\xbdkey"));
	perftools__profiles__profile__free_unpacked(prof, NULL);
	profile__free(p);
}

/* A location is its frames' mapping and address and each frame's
 * function, system name, file and line: frames with no mapping and no
 * address that differ in any of them are other locations; a start line
 * does not make another one (the function keeps the first). */
static void test_pprof_location_keys(void **state)
{
	const struct profile_frame a[] = { { .function = "f", .file = "a.c", .line = 1 } };
	const struct profile_frame b[] = { { .function = "f", .file = "b.c", .line = 1 } };
	const struct profile_frame c[] = { { .function = "f", .system_name = "_Zf",
					     .file = "a.c", .line = 1 } };
	const struct profile_frame d[] = { { .function = "f", .file = "a.c", .line = 2 } };
	const struct profile_frame e[] = { { .function = "f", .file = "a.c", .line = 1,
					     .start_line = 7 } };
	const struct profile_frame f[] = { { .function = "g", .inlined = 1 },
					   { .function = "f", .file = "a.c", .line = 1 } };
	const struct profile_frame g[] = { { .function = "g", .line = 5, .inlined = 1 },
					   { .function = "f", .file = "a.c", .line = 1 } };
	const struct profile_frame *all[] = { a, b, c, d, e, f, g };
	const size_t n[] = { 1, 1, 1, 1, 1, 2, 2 };
	const Perftools__Profiles__Location *loc[7];
	Perftools__Profiles__Profile *prof;
	struct profile *p = profile__new(PERIOD_NS, 0, 0);

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(profile__add_sample(p, all[i], n[i], NULL, 0, i + 1), 0);
	prof = encode_decode(p, &pprof_style_default);
	for (size_t i = 0; i < 7; i++) {
		const Perftools__Profiles__Sample *s = sample_by_count(prof, i + 1);

		assert_int_equal(s->n_location_id, 1);
		loc[i] = loc_by_id(prof, s->location_id[0]);
		assert_int_equal(loc[i]->n_line, n[i]);
	}
	assert_int_equal(prof->n_location, 6);
	assert_ptr_equal(loc[4], loc[0]);
	for (size_t i = 0; i < 7; i++)
		for (size_t j = i + 1; j < 7; j++)
			if (i != 0 || j != 4)
				assert_int_not_equal(loc[i]->id, loc[j]->id);
	/* f in a.c, f in b.c, f as _Zf, g. */
	assert_int_equal(prof->n_function, 4);
	assert_int_equal(loc[3]->line[0]->function_id, loc[0]->line[0]->function_id);
	assert_int_equal(loc[3]->line[0]->line, 2);
	assert_int_equal(prof->function[loc[0]->line[0]->function_id - 1]->start_line, 0);
	assert_int_equal(loc[6]->line[0]->line, 5);
	assert_int_equal(loc[5]->line[1]->function_id, loc[0]->line[0]->function_id);
	perftools__profiles__profile__free_unpacked(prof, NULL);
	profile__free(p);
}

/* Frames are stored once each, but a location is not a frame: frames
 * that differ only in what a location does not hold (an inlined frame's
 * address, a start line, a trailing frame's inlined flag) are other
 * frames of the profile and the same location. */
static void test_pprof_location_not_frame(void **state)
{
	const struct profile_frame a[] = { { .function = "f", .file = "a.c", .line = 1 } };
	const struct profile_frame b[] = { { .function = "f", .file = "a.c", .line = 1,
					     .inlined = 1 } };
	const struct profile_frame c[] = { { .function = "g", .inlined = 1 },
					   { .function = "f", .file = "a.c", .line = 1 } };
	const struct profile_frame d[] = { { .function = "g", .address = 0x99, .inlined = 1 },
					   { .function = "f", .file = "a.c", .line = 1 } };
	const struct profile_frame e[] = { { .function = "g", .start_line = 4, .inlined = 1 },
					   { .function = "f", .file = "a.c", .line = 1,
					     .start_line = 9 } };
	const struct profile_frame *all[] = { a, b, c, d, e };
	const size_t n[] = { 1, 1, 2, 2, 2 };
	uint64_t id[5];
	Perftools__Profiles__Profile *prof;
	struct profile *p = profile__new(PERIOD_NS, 0, 0);

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(profile__add_sample(p, all[i], n[i], NULL, 0, i + 1), 0);
	assert_int_equal(profile__frame_count(p), 6);
	prof = encode_decode(p, &pprof_style_default);
	for (size_t i = 0; i < 5; i++) {
		const Perftools__Profiles__Sample *s = sample_by_count(prof, i + 1);

		assert_int_equal(s->n_location_id, 1);
		id[i] = s->location_id[0];
	}
	assert_int_equal(prof->n_location, 2);
	assert_int_equal(id[1], id[0]);
	assert_int_not_equal(id[2], id[0]);
	assert_int_equal(id[3], id[2]);
	assert_int_equal(id[4], id[2]);
	perftools__profiles__profile__free_unpacked(prof, NULL);
	profile__free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profile_interning),
		cmocka_unit_test(test_profile_shares_stacks),
		cmocka_unit_test(test_pprof_roundtrip),
		cmocka_unit_test(test_pprof_location_keys),
		cmocka_unit_test(test_pprof_location_not_frame),
		cmocka_unit_test(test_pprof_cpu_only),
		cmocka_unit_test(test_pprof_empty_and_errors),
		cmocka_unit_test(test_pprof_gzip_roundtrip),
		cmocka_unit_test(test_pprof_large),
		cmocka_unit_test(test_pprof_go_tool),
		cmocka_unit_test(test_pprof_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
