/* Tests for exporters/otlp.c: encode intervals, decode the bodies with the
 * protobuf-c code generated from the official OTLP .proto files and check
 * them field by field (dictionary zero values, indices, stacks with inlined
 * frames, attributes, links, resources); the id parser; how answers are
 * read (OTLP/HTTP's retryable statuses, partial success, google.rpc.Status);
 * the request split under the size bound; and the destination's config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/schema.h"
#include "exporters/destination.h"
#include "exporters/otlp.h"
#include "exporters/profile.h"
#include "proto/otlp/opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"
#include "proto/rpc_status.pb-c.h"

#define PERIOD_NS 10000000ULL
#define START_NS 1700000000500000000LL
#define END_NS 1700000001500000000LL
#define TRACE_HEX "5b8efff798038103d269b633813fc60c"
#define SPAN_HEX "eee19b7ec3c1b174"

typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest Req;
typedef Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary Dict;
typedef Opentelemetry__Proto__Profiles__V1development__Profile Prof;
typedef Opentelemetry__Proto__Profiles__V1development__Sample Sample;

static Req *unpack(const uint8_t *b, size_t len)
{
	Req *r = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack(
		NULL, len, b);

	assert_non_null(r);
	return r;
}

static void free_req(Req *r)
{
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked(
		r, NULL);
}

static const char *str(const Dict *d, int32_t i)
{
	assert_true(i >= 0 && (size_t)i < d->n_string_table);
	return d->string_table[i];
}

/* The dictionary rules of the specification: zero values at index 0 and
 * every index in range; returns the decoded request's dictionary. */
static void check_dict(const Dict *d)
{
	assert_true(d->n_string_table > 0 && d->n_function_table > 0 && d->n_mapping_table > 0 &&
		    d->n_location_table > 0 && d->n_stack_table > 0 && d->n_attribute_table > 0 &&
		    d->n_link_table > 0);
	assert_string_equal(d->string_table[0], "");
	assert_int_equal(d->function_table[0]->name_strindex, 0);
	assert_int_equal(d->mapping_table[0]->filename_strindex, 0);
	assert_int_equal(d->location_table[0]->n_lines, 0);
	assert_int_equal(d->stack_table[0]->n_location_indices, 0);
	assert_int_equal(d->attribute_table[0]->key_strindex, 0);
	assert_null(d->attribute_table[0]->value);
	assert_int_equal(d->link_table[0]->trace_id.len, 16);
	assert_int_equal(d->link_table[0]->span_id.len, 8);
	for (size_t i = 1; i < d->n_string_table; i++)
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(d->string_table[i], d->string_table[j]);
	for (size_t i = 1; i < d->n_function_table; i++) {
		assert_true(d->function_table[i]->name_strindex > 0);
		str(d, d->function_table[i]->system_name_strindex);
		str(d, d->function_table[i]->filename_strindex);
	}
	for (size_t i = 1; i < d->n_location_table; i++) {
		const Opentelemetry__Proto__Profiles__V1development__Location *l = d->location_table[i];

		assert_true(l->mapping_index >= 0 && (size_t)l->mapping_index < d->n_mapping_table);
		assert_true(l->n_lines > 0);
		for (size_t k = 0; k < l->n_lines; k++)
			assert_true(l->lines[k]->function_index > 0 &&
				    (size_t)l->lines[k]->function_index < d->n_function_table);
	}
	for (size_t i = 1; i < d->n_stack_table; i++)
		for (size_t k = 0; k < d->stack_table[i]->n_location_indices; k++)
			assert_true(d->stack_table[i]->location_indices[k] > 0 &&
				    (size_t)d->stack_table[i]->location_indices[k] < d->n_location_table);
	for (size_t i = 1; i < d->n_attribute_table; i++) {
		assert_true(d->attribute_table[i]->key_strindex > 0);
		str(d, d->attribute_table[i]->key_strindex);
	}
}

/* "fn:line" of each line of sample s's stack, leaf first, joined by ' ',
 * locations separated by " | ". */
static void stack_text(const Dict *d, const Sample *s, char *out, size_t len)
{
	const Opentelemetry__Proto__Profiles__V1development__Stack *st;
	size_t n = 0;

	assert_true(s->stack_index >= 0 && (size_t)s->stack_index < d->n_stack_table);
	st = d->stack_table[s->stack_index];
	out[0] = '\0';
	for (size_t i = 0; i < st->n_location_indices; i++) {
		const Opentelemetry__Proto__Profiles__V1development__Location *l =
			d->location_table[st->location_indices[i]];

		if (i)
			n += (size_t)snprintf(out + n, len - n, " | ");
		for (size_t k = 0; k < l->n_lines; k++)
			n += (size_t)snprintf(out + n, len - n, "%s%s:%lld", k ? " " : "",
					      str(d, d->function_table[l->lines[k]->function_index]->name_strindex),
					      (long long)l->lines[k]->line);
	}
}

/* The value of sample attribute key (string or number as text), or NULL. */
static const char *attr(const Dict *d, const Sample *s, const char *key, char buf[32])
{
	for (size_t i = 0; i < s->n_attribute_indices; i++) {
		const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *kv =
			d->attribute_table[s->attribute_indices[i]];

		if (strcmp(str(d, kv->key_strindex), key))
			continue;
		if (kv->value->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
			return kv->value->string_value;
		snprintf(buf, 32, "%lld", (long long)kv->value->int_value);
		return buf;
	}
	return NULL;
}

static const char *res_attr(const Opentelemetry__Proto__Resource__V1__Resource *r, const char *key)
{
	for (size_t i = 0; i < r->n_attributes; i++)
		if (!strcmp(r->attributes[i]->key, key))
			return r->attributes[i]->value->string_value;
	return NULL;
}

static void encode_one(const struct otlp_opts *o, const struct interval *iv, Req **out,
		       struct otlp_stats *st)
{
	uint8_t **bodies = NULL;
	size_t *lens = NULL, n = 0;

	assert_int_equal(otlp__encode(o, iv, &bodies, &lens, &n, st), 0);
	assert_int_equal(n, 1);
	*out = unpack(bodies[0], lens[0]);
	free(bodies[0]);
	free(bodies);
	free(lens);
}

static void test_encode(void **state)
{
	struct profile *p = profile__new(PERIOD_NS, START_NS, END_NS - START_NS);
	const struct profile_mapping m = { .start = 0x400000, .limit = 0x500000, .offset = 0x1000,
					   .file = "/usr/bin/app", .build_id = "0123abcd" };
	const struct profile_mapping kernel = { .start = 0xffffffff80000000ULL,
						.limit = 0xffffffffc0000000ULL,
						.file = "[kernel.kallsyms]" };
	int map;
	/* leaf first: inl_b and inl_a inlined into hot (one location), then main */
	const struct profile_frame f1[] = {
		{ .mapping = 2, .address = 0xffffffff81000000ULL, .function = "do_syscall_64" },
		{ .mapping = 1, .address = 0x401010, .function = "inl_b", .file = "a.c", .line = 7, .inlined = 1 },
		{ .mapping = 1, .address = 0x401010, .function = "inl_a", .file = "a.c", .line = 12, .inlined = 1 },
		{ .mapping = 1, .address = 0x401010, .function = "hot", .file = "a.c", .line = 30 },
		{ .mapping = 1, .address = 0x401500, .function = "main", .file = "a.c", .line = 50 },
	};
	const struct profile_frame f2[] = {
		{ .mapping = 1, .address = 0x401500, .function = "main", .file = "a.c", .line = 50 },
	};
	const struct profile_label l1[] = {
		{ .key = "pid", .num = 4242 },
		{ .key = "comm", .str = "worker" },
		{ .key = "tid", .num = 4243 },
		{ .key = "span_id", .str = SPAN_HEX },
		{ .key = "trace_id", .str = TRACE_HEX },
		{ .key = "trace_endpoint", .str = "GET /users" },
	};
	const struct profile_label l2[] = {
		{ .key = "pid", .num = 4242 },
		{ .key = "span id", .str = "12345" },   /* no trace id: stays an attribute */
	};
	const struct profile_label series_labels[] = {
		{ .key = "container.id", .str = "abc123" },
		{ .key = "host.name", .str = "node-1" },
		{ .key = "k8s.namespace.name", .str = "shop" },
		{ .key = "service.name", .str = "checkout" },
		{ .key = "workload", .str = "checkout-api" },
		{ .key = "workload_kind", .str = "Deployment" },
	};
	const char *asked[] = { "pid", "comm" };
	struct series s = { series_labels, 6, p };
	struct interval iv = { START_NS, END_NS, &s, 1 };
	struct otlp_opts o = { .name = "t", .url = "http://x", .sample_labels = asked, .nsample_labels = 2 };
	struct otlp_stats st = { 0 };
	const Prof *pr;
	const Dict *d;
	Req *r;
	char buf[512], num[32];
	int seen = 0;

	(void)state;
	assert_non_null(p);
	map = profile__add_mapping(p, &m);
	assert_int_equal(map, 1);
	assert_int_equal(profile__add_mapping(p, &kernel), 2);
	assert_int_equal(profile__add_sample(p, f1, 5, l1, 6, 3), 0);
	assert_int_equal(profile__add_sample(p, f2, 1, l2, 2, 2), 0);
	/* the same stack with a label the destination drops: the same sample */
	{
		const struct profile_label l3[] = { { .key = "pid", .num = 4242 },
						    { .key = "span id", .str = "12345" },
						    { .key = "thread_name", .str = "dropped" } };

		assert_int_equal(profile__add_sample(p, f2, 1, l3, 3, 5), 0);
	}
	encode_one(&o, &iv, &r, &st);
	d = r->dictionary;
	assert_non_null(d);
	check_dict(d);
	assert_int_equal(r->n_resource_profiles, 1);
	{
		const Opentelemetry__Proto__Resource__V1__Resource *res = r->resource_profiles[0]->resource;

		assert_string_equal(res_attr(res, "service.name"), "checkout");
		assert_string_equal(res_attr(res, "k8s.deployment.name"), "checkout-api");
		assert_null(res_attr(res, "workload"));
		assert_null(res_attr(res, "workload_kind"));
		assert_string_equal(res_attr(res, "container.id"), "abc123");
		assert_int_equal(res->n_attributes, 5);
	}
	assert_int_equal(r->resource_profiles[0]->n_scope_profiles, 1);
	assert_string_equal(r->resource_profiles[0]->scope_profiles[0]->scope->name, "ignis");
	pr = r->resource_profiles[0]->scope_profiles[0]->profiles[0];
	assert_string_equal(str(d, pr->sample_type->type_strindex), "samples");
	assert_string_equal(str(d, pr->sample_type->unit_strindex), "count");
	assert_string_equal(str(d, pr->period_type->type_strindex), "cpu");
	assert_string_equal(str(d, pr->period_type->unit_strindex), "nanoseconds");
	assert_int_equal(pr->period, PERIOD_NS);
	assert_int_equal(pr->time_unix_nano, START_NS);
	assert_int_equal(pr->duration_nano, END_NS - START_NS);
	assert_int_equal(pr->profile_id.len, 16);
	assert_int_equal(pr->n_samples, 2);
	for (size_t i = 0; i < pr->n_samples; i++) {
		const Sample *sm = pr->samples[i];

		assert_int_equal(sm->n_values, 1);
		stack_text(d, sm, buf, sizeof(buf));
		if (sm->values[0] == 3) {
			const Opentelemetry__Proto__Profiles__V1development__Link *lk;
			char hex[33];

			seen |= 1;
			assert_string_equal(buf, "do_syscall_64:0 | inl_b:7 inl_a:12 hot:30 | main:50");
			assert_string_equal(attr(d, sm, "process.pid", num), "4242");
			assert_string_equal(attr(d, sm, "thread.name", num), "worker");
			assert_string_equal(attr(d, sm, "trace_endpoint", num), "GET /users");
			assert_null(attr(d, sm, "thread.id", num));   /* not asked */
			assert_null(attr(d, sm, "span_id", num));     /* in the link */
			assert_null(attr(d, sm, "trace_id", num));
			assert_int_equal(sm->n_attribute_indices, 3);
			assert_true(sm->link_index > 0);
			lk = d->link_table[sm->link_index];
			assert_int_equal(lk->trace_id.len, 16);
			assert_int_equal(lk->span_id.len, 8);
			for (size_t k = 0; k < 16; k++)
				snprintf(hex + 2 * k, 3, "%02x", lk->trace_id.data[k]);
			assert_string_equal(hex, TRACE_HEX);
			for (size_t k = 0; k < 8; k++)
				snprintf(hex + 2 * k, 3, "%02x", lk->span_id.data[k]);
			assert_string_equal(hex, SPAN_HEX);
		} else {
			seen |= 2;
			assert_int_equal(sm->values[0], 7);   /* 2 + 5, merged */
			assert_string_equal(buf, "main:50");
			assert_int_equal(sm->link_index, 0);
			assert_string_equal(attr(d, sm, "span id", num), "12345");
			assert_string_equal(attr(d, sm, "process.pid", num), "4242");
		}
	}
	assert_int_equal(seen, 3);
	/* the app's mapping carries its build id, the kernel's location its
	 * frame type */
	assert_int_equal(d->n_mapping_table, 3);
	{
		size_t app = strcmp(str(d, d->mapping_table[1]->filename_strindex), "/usr/bin/app") ? 2 : 1;
		const Opentelemetry__Proto__Profiles__V1development__Mapping *mp = d->mapping_table[app];
		const Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit *kv;

		assert_string_equal(str(d, mp->filename_strindex), "/usr/bin/app");
		assert_int_equal(mp->memory_start, 0x400000);
		assert_int_equal(mp->file_offset, 0x1000);
		assert_int_equal(mp->n_attribute_indices, 1);
		kv = d->attribute_table[mp->attribute_indices[0]];

		assert_string_equal(str(d, kv->key_strindex), "process.executable.build_id.gnu");
		assert_string_equal(kv->value->string_value, "0123abcd");
	}
	for (size_t i = 1; i < d->n_location_table; i++) {
		const Opentelemetry__Proto__Profiles__V1development__Location *l = d->location_table[i];
		const char *fn = str(d, d->function_table[l->lines[0]->function_index]->name_strindex);

		if (strcmp(fn, "do_syscall_64")) {
			assert_int_equal(l->n_attribute_indices, 0);
			continue;
		}
		assert_string_equal(str(d, d->mapping_table[l->mapping_index]->filename_strindex),
				    "[kernel.kallsyms]");
		assert_int_equal(d->mapping_table[l->mapping_index]->n_attribute_indices, 0);
		assert_int_equal(l->n_attribute_indices, 1);
		assert_string_equal(str(d, d->attribute_table[l->attribute_indices[0]]->key_strindex),
				    "profile.frame.type");
		assert_string_equal(d->attribute_table[l->attribute_indices[0]]->value->string_value,
				    "kernel");
	}
	/* main is one function and one location, shared by both stacks */
	assert_int_equal(d->n_function_table, 1 + 5);
	assert_int_equal(d->n_location_table, 1 + 3);
	assert_int_equal(st.samples, 10);
	assert_int_equal(st.linked_samples, 3);
	assert_int_equal(st.profiles, 1);
	assert_int_equal(st.requests, 1);
	free_req(r);
	profile__free(p);
}

/* Two series share one dictionary; a series without samples is left out;
 * a series without service.name gets unknown_service. */
static void test_two_series_one_dictionary(void **state)
{
	struct profile *a = profile__new(PERIOD_NS, START_NS, END_NS - START_NS);
	struct profile *b = profile__new(PERIOD_NS, START_NS, END_NS - START_NS);
	struct profile *empty = profile__new(PERIOD_NS, START_NS, END_NS - START_NS);
	const struct profile_frame fr[] = { { .function = "leaf" }, { .function = "main" } };
	const struct profile_label la[] = { { .key = "service.name", .str = "a" } };
	struct series s[3] = { { la, 1, a }, { NULL, 0, empty }, { NULL, 0, b } };
	struct interval iv = { START_NS, END_NS, s, 3 };
	struct otlp_opts o = { .url = "http://x" };
	Req *r;

	(void)state;
	assert_int_equal(profile__add_sample(a, fr, 2, NULL, 0, 4), 0);
	assert_int_equal(profile__add_sample(b, fr, 2, NULL, 0, 6), 0);
	encode_one(&o, &iv, &r, NULL);
	check_dict(r->dictionary);
	assert_int_equal(r->n_resource_profiles, 2);
	assert_string_equal(res_attr(r->resource_profiles[0]->resource, "service.name"), "a");
	assert_string_equal(res_attr(r->resource_profiles[1]->resource, "service.name"),
			    "unknown_service");
	assert_int_equal(r->dictionary->n_function_table, 3);
	assert_int_equal(r->dictionary->n_stack_table, 2);
	for (size_t i = 0; i < 2; i++) {
		const Prof *pr = r->resource_profiles[i]->scope_profiles[0]->profiles[0];

		assert_int_equal(pr->n_samples, 1);
		assert_int_equal(pr->samples[0]->values[0], i ? 6 : 4);
		assert_int_equal(pr->samples[0]->stack_index, 1);
	}
	free_req(r);
	profile__free(a);
	profile__free(b);
	profile__free(empty);
}

/* Off-CPU time: a second Profile beside the CPU one in the series'
 * ScopeProfiles (off_cpu/nanoseconds, no period, values the nanoseconds
 * blocked, as Pyroscope's OTLP ingest recognises it); a series with only
 * off-CPU time still gets its resource; the CPU counters count CPU only. */
static void test_offcpu(void **state)
{
	struct profile *cpu = profile__new(PERIOD_NS, START_NS, END_NS - START_NS);
	struct profile *off = profile__new(PERIOD_NS, START_NS, END_NS - START_NS);
	struct profile *off_only = profile__new(PERIOD_NS, START_NS, END_NS - START_NS);
	const struct profile_frame spin[] = { { .function = "spin" }, { .function = "main" } };
	const struct profile_frame wait[] = { { .function = "nanosleep" }, { .function = "main" } };
	const struct profile_label la[] = { { .key = "service.name", .str = "a" } };
	const struct profile_label lb[] = { { .key = "service.name", .str = "b" } };
	struct series s[2] = { { la, 1, cpu, off }, { lb, 1, NULL, off_only } };
	struct interval iv = { START_NS, END_NS, s, 2 };
	struct otlp_opts o = { .url = "http://x" };
	struct otlp_stats st = { 0 };
	char text[256];
	Req *r;

	(void)state;
	assert_int_equal(profile__add_sample(cpu, spin, 2, NULL, 0, 7), 0);
	assert_int_equal(profile__add_sample_value(off, wait, 2, NULL, 0, 3, 30000000), 0);
	assert_int_equal(profile__add_sample_value(off, wait, 2, NULL, 0, 1, 5000000), 0);
	assert_int_equal(profile__add_sample_value(off_only, wait, 2, NULL, 0, 2, 4000), 0);
	encode_one(&o, &iv, &r, &st);
	check_dict(r->dictionary);
	assert_int_equal(r->n_resource_profiles, 2);
	assert_string_equal(res_attr(r->resource_profiles[0]->resource, "service.name"), "a");
	assert_string_equal(res_attr(r->resource_profiles[1]->resource, "service.name"), "b");
	assert_int_equal(r->resource_profiles[0]->n_scope_profiles, 1);
	assert_int_equal(r->resource_profiles[0]->scope_profiles[0]->n_profiles, 2);
	assert_int_equal(r->resource_profiles[1]->scope_profiles[0]->n_profiles, 1);
	for (size_t i = 0; i < 3; i++) {
		const Opentelemetry__Proto__Profiles__V1development__ScopeProfiles *sp =
			r->resource_profiles[i == 2]->scope_profiles[0];
		const Prof *pr = sp->profiles[i == 2 ? 0 : i];
		const Dict *d = r->dictionary;
		bool is_off = i > 0;

		assert_string_equal(str(d, pr->sample_type->type_strindex),
				    is_off ? "off_cpu" : "samples");
		assert_string_equal(str(d, pr->sample_type->unit_strindex),
				    is_off ? "nanoseconds" : "count");
		if (is_off) {
			assert_null(pr->period_type);
			assert_int_equal(pr->period, 0);
		} else {
			assert_string_equal(str(d, pr->period_type->type_strindex), "cpu");
			assert_int_equal(pr->period, PERIOD_NS);
		}
		assert_int_equal(pr->time_unix_nano, START_NS);
		assert_int_equal(pr->n_samples, 1);
		stack_text(d, pr->samples[0], text, sizeof(text));
		assert_string_equal(text, is_off ? "nanosleep:0 | main:0" : "spin:0 | main:0");
		assert_int_equal(pr->samples[0]->n_values, 1);
		assert_int_equal(pr->samples[0]->values[0], i == 0 ? 7 : i == 1 ? 35000000 : 4000);
	}
	/* The CPU and the off-CPU profile each have an id of their own. */
	assert_memory_not_equal(r->resource_profiles[0]->scope_profiles[0]->profiles[0]->profile_id.data,
				r->resource_profiles[0]->scope_profiles[0]->profiles[1]->profile_id.data, 16);
	assert_int_equal(st.profiles, 3);
	assert_int_equal(st.samples, 7);
	free_req(r);
	profile__free(cpu);
	profile__free(off);
	profile__free(off_only);
}

/* Over max_request_bytes: split by series, every sample in exactly one
 * request; a series alone over it is dropped and counted. */
static void test_split(void **state)
{
	struct profile *p[4];
	struct series s[4];
	struct interval iv = { START_NS, END_NS, s, 4 };
	struct otlp_opts o = { .url = "http://x", .max_request_bytes = 1500 };
	struct otlp_stats st = { 0 };
	uint8_t **bodies = NULL;
	size_t *lens = NULL, n = 0;
	int64_t total = 0;
	char name[64];

	(void)state;
	for (int i = 0; i < 4; i++) {
		p[i] = profile__new(PERIOD_NS, START_NS, END_NS - START_NS);
		/* series 3 is far bigger than the bound */
		for (int k = 0; k < (i == 3 ? 200 : 10); k++) {
			struct profile_frame fr[2] = { { .function = name }, { .function = "main" } };

			snprintf(name, sizeof(name), "series%d_function_number_%d", i, k);
			assert_int_equal(profile__add_sample(p[i], fr, 2, NULL, 0, 1), 0);
		}
		s[i] = (struct series){ NULL, 0, p[i] };
	}
	assert_int_equal(otlp__encode(&o, &iv, &bodies, &lens, &n, &st), 0);
	assert_true(n >= 2);
	for (size_t i = 0; i < n; i++) {
		Req *r = unpack(bodies[i], lens[i]);

		assert_true(lens[i] <= 1500);
		check_dict(r->dictionary);
		for (size_t k = 0; k < r->n_resource_profiles; k++) {
			const Prof *pr = r->resource_profiles[k]->scope_profiles[0]->profiles[0];

			for (size_t j = 0; j < pr->n_samples; j++)
				total += pr->samples[j]->values[0];
		}
		free_req(r);
		free(bodies[i]);
	}
	assert_int_equal(total, 30);
	assert_int_equal(st.dropped_too_big, 1);
	assert_int_equal(st.samples, 30);
	assert_int_equal(st.requests, n);
	free(bodies);
	free(lens);
	for (int i = 0; i < 4; i++)
		profile__free(p[i]);
}

static void test_parse_id(void **state)
{
	uint8_t id[16];

	(void)state;
	assert_true(otlp__parse_id(SPAN_HEX, id, 8));
	assert_int_equal(id[0], 0xee);
	assert_int_equal(id[7], 0x74);
	assert_true(otlp__parse_id("5B8EFFF798038103D269B633813FC60C", id, 16));
	assert_int_equal(id[0], 0x5b);
	assert_int_equal(id[15], 0x0c);
	/* decimal (Datadog's 64-bit ids), big-endian in the low 8 bytes */
	assert_true(otlp__parse_id("258", id, 16));
	for (int i = 0; i < 14; i++)
		assert_int_equal(id[i], 0);
	assert_int_equal(id[14], 1);
	assert_int_equal(id[15], 2);
	assert_true(otlp__parse_id("18446744073709551615", id, 8));
	assert_int_equal(id[0], 0xff);
	assert_false(otlp__parse_id("18446744073709551616", id, 8));   /* 2^64 */
	assert_false(otlp__parse_id("0000000000000000", id, 8));       /* all zero: invalid */
	assert_false(otlp__parse_id("0", id, 8));
	assert_false(otlp__parse_id("", id, 8));
	assert_false(otlp__parse_id("12ab", id, 8));                   /* short hex */
	assert_false(otlp__parse_id("eee19b7ec3c1b17g", id, 8));
	assert_false(otlp__parse_id(SPAN_HEX, id, 16));                /* 8 bytes for a trace */
}

static size_t pack_response(int64_t rejected, const char *msg, uint8_t *buf)
{
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceResponse r =
		OPENTELEMETRY__PROTO__COLLECTOR__PROFILES__V1DEVELOPMENT__EXPORT_PROFILES_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesPartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__PROFILES__V1DEVELOPMENT__EXPORT_PROFILES_PARTIAL_SUCCESS__INIT;

	ps.rejected_profiles = rejected;
	ps.error_message = (char *)msg;
	r.partial_success = &ps;
	return opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__pack(&r, buf);
}

static void test_read_answer(void **state)
{
	Ignis__Rpc__Status s = IGNIS__RPC__STATUS__INIT;
	uint8_t buf[256];
	char reason[300];
	int64_t rej;
	bool partial;
	size_t n;

	(void)state;
	/* success, empty body */
	assert_int_equal(otlp__read_answer(200, "", 0, &rej, &partial, reason, sizeof(reason)),
			 DELIVERY_SENT);
	assert_false(partial);
	/* partial success: counted, not retried */
	n = pack_response(3, "bad attribute", buf);
	assert_int_equal(otlp__read_answer(200, (const char *)buf, n, &rej, &partial, reason,
					   sizeof(reason)), DELIVERY_SENT);
	assert_true(partial);
	assert_int_equal(rej, 3);
	assert_string_equal(reason, "3 profiles rejected: bad attribute");
	/* a warning with nothing rejected */
	n = pack_response(0, "slow down", buf);
	otlp__read_answer(200, (const char *)buf, n, &rej, &partial, reason, sizeof(reason));
	assert_true(partial);
	assert_int_equal(rej, 0);
	/* an empty partial_success is full success */
	n = pack_response(0, "", buf);
	otlp__read_answer(200, (const char *)buf, n, &rej, &partial, reason, sizeof(reason));
	assert_false(partial);
	/* errors: only 429, 502, 503, 504 retried; the Status message quoted */
	s.code = 14;
	s.message = "collector overloaded";
	n = ignis__rpc__status__pack(&s, buf);
	for (long st = 400; st < 600; st++) {
		enum delivery_verdict v = otlp__read_answer(st, (const char *)buf, n, &rej, &partial,
							    reason, sizeof(reason));

		if (st == 429 || st == 502 || st == 503 || st == 504)
			assert_int_equal(v, DELIVERY_RETRY);
		else
			assert_int_equal(v, DELIVERY_DROP);
	}
	otlp__read_answer(503, (const char *)buf, n, &rej, &partial, reason, sizeof(reason));
	assert_string_equal(reason, "HTTP 503: collector overloaded");
	/* a proxy's text page instead of a Status */
	otlp__read_answer(502, "Bad Gateway\n", 12, &rej, &partial, reason, sizeof(reason));
	assert_string_equal(reason, "HTTP 502: Bad Gateway");
	/* garbage in a 2xx body is still a success */
	assert_int_equal(otlp__read_answer(200, "\xff\xff\xff", 3, &rej, &partial, reason,
					   sizeof(reason)), DELIVERY_SENT);
}

static void test_destination_rows(void **state)
{
	const struct destination_ops *ops = destination__types[CONFIG_DEST_OTLP];

	(void)state;
	assert_non_null(ops);
	assert_string_equal(ops->type, "otlp");
	assert_true(ops->all_sample_labels);
	assert_string_equal(ops->rows[0][0].name, "endpoint");
	assert_true(ops->rows[0][0].flags & SCHEMA_REQUIRED);
	assert_string_equal(ops->rows[0][1].def_str, OTLP_PROFILES_PATH);
	assert_ptr_equal(ops->rows[1], destination__http_rows);
}

static void test_new_refuses_bad_urls(void **state)
{
	struct otlp_opts o = { .url = "ftp://x" };

	(void)state;
	assert_null(otlp__new(&o));
	o.url = "http://x/v1development/profiles?x=1";
	assert_null(otlp__new(&o));
	assert_null(otlp__new(NULL));
}

/* Strings that are not UTF-8 (a comm cut inside a character, a Latin-1
 * path, a series label) go as valid UTF-8, each bad byte U+FFFD: protobuf
 * strings must be UTF-8 and receivers refuse the whole request otherwise. */
#define FFFD "\xef\xbf\xbd"
static void test_invalid_utf8(void **state)
{
	struct profile *p = profile__new(PERIOD_NS, START_NS, END_NS - START_NS);
	const struct profile_frame fr[] = { { .function = "caf\xc3", .file = "/src/\xe9t\xe9.c" },
					    { .function = "main" } };
	const struct profile_label sl[] = { { .key = "go\xff", .str = "\xe6\x97\xa5\xe6\x9c" } };
	const struct profile_label series_labels[] = { { .key = "service.name", .str = "svc\xff" } };
	const char *asked[] = { "pid" };
	struct series s = { series_labels, 1, p };
	struct interval iv = { START_NS, END_NS, &s, 1 };
	struct otlp_opts o = { .url = "http://x", .sample_labels = asked, .nsample_labels = 1 };
	struct otlp_stats st = { 0 };
	const Dict *d;
	const Sample *sm;
	Req *r;
	char num[32];
	bool caf = false, file = false;

	(void)state;
	assert_int_equal(profile__add_sample(p, fr, 2, sl, 1, 1), 0);
	encode_one(&o, &iv, &r, &st);
	d = r->dictionary;
	for (size_t i = 0; i < d->n_string_table; i++) {
		caf |= !strcmp(d->string_table[i], "caf" FFFD);
		file |= !strcmp(d->string_table[i], "/src/" FFFD "t" FFFD ".c");
	}
	/* the profile interns its strings valid (profile.c); series labels
	 * and keys come from elsewhere */
	assert_true(caf && file);
	sm = r->resource_profiles[0]->scope_profiles[0]->profiles[0]->samples[0];
	assert_string_equal(attr(d, sm, "go" FFFD, num), "\xe6\x97\xa5" FFFD FFFD);
	assert_string_equal(res_attr(r->resource_profiles[0]->resource, "service.name"),
			    "svc" FFFD);
	assert_int_equal(st.fixed_strings, 1);
	free_req(r);
	profile__free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_two_series_one_dictionary),
		cmocka_unit_test(test_offcpu),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_read_answer),
		cmocka_unit_test(test_destination_rows),
		cmocka_unit_test(test_new_refuses_bad_urls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
