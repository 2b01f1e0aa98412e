/* Tests for exporters/pyroscope.c: render intervals, decode what would be
 * sent (the PushRequest with protobuf-c, the gzipped pprof inside with zlib
 * and protobuf-c) and check it against the server's rules; then submit
 * through a real delivery to a small HTTP server on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "exporters/delivery.h"
#include "exporters/destination.h"
#include "exporters/profile.h"
#include "exporters/pyroscope.h"
#include "proto/profile.pb-c.h"
#include "proto/push.pb-c.h"
#include "tests/unit/support.h"

#define PERIOD_NS 10000000ULL  /* 100 Hz */
#define START_NS 1700000000500000000LL
#define END_NS 1700000015200000000LL

/* ---- building intervals ------------------------------------------------- */

static struct profile *new_profile(void)
{
	struct profile *p = profile__new(PERIOD_NS, 1, 2);

	assert_non_null(p);
	return p;
}

static uint32_t add_app_mapping(struct profile *p)
{
	const struct profile_mapping m = {
		.start = 0x400000, .limit = 0x500000, .file = "/usr/bin/app",
		.build_id = "0123456789abcdef",
	};
	int id = profile__add_mapping(p, &m);

	assert_true(id >= 1);
	return (uint32_t)id;
}

static void add_named(struct profile *p, uint32_t map, const struct profile_label *labels,
		      size_t nlabels, uint64_t count, size_t n, const char *const *names)
{
	assert_int_equal(support__add_named_sample(p, map, labels, nlabels, count, true, n, names), 0);
}

static struct interval one_series(const struct series *s)
{
	return (struct interval){ .start_ns = START_NS, .end_ns = END_NS, .series = s, .nseries = 1 };
}

static struct pyroscope_opts push_opts(void)
{
	return (struct pyroscope_opts){
		.name = "test", .url = "http://127.0.0.1:4040/prefix/", .api = PYROSCOPE_PUSH_V1,
	};
}

/* ---- decoding ----------------------------------------------------------- */

static uint8_t *gunzip(const uint8_t *in, size_t len, size_t *out_len)
{
	size_t cap = len * 4 + 1024, n = 0;
	uint8_t *out = malloc(cap);
	z_stream zs;
	int ret;

	assert_non_null(out);
	assert_true(len >= 2 && in[0] == 0x1f && in[1] == 0x8b);
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	do {
		if (n == cap) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		zs.next_out = out + n;
		zs.avail_out = (uInt)(cap - n);
		ret = inflate(&zs, Z_NO_FLUSH);
		assert_true(ret == Z_OK || ret == Z_STREAM_END);
		n = zs.total_out;
	} while (ret != Z_STREAM_END);
	inflateEnd(&zs);
	*out_len = n;
	return out;
}

struct decoded {
	Push__V1__PushRequest *req;  /* push only */
	Perftools__Profiles__Profile *prof;
	size_t raw_len;              /* uncompressed pprof */
};

static Perftools__Profiles__Profile *unpack_pprof(const uint8_t *gz, size_t len, size_t *raw_len)
{
	Perftools__Profiles__Profile *prof;
	uint8_t *raw = gunzip(gz, len, raw_len);

	prof = perftools__profiles__profile__unpack(NULL, *raw_len, raw);
	free(raw);
	assert_non_null(prof);
	return prof;
}

static struct decoded decode_push(const struct http_request *r)
{
	struct decoded d = { 0 };
	Push__V1__RawSample *s;

	d.req = push__v1__push_request__unpack(NULL, r->len, r->body);
	assert_non_null(d.req);
	assert_int_equal(d.req->n_series, 1);
	assert_int_equal(d.req->series[0]->n_samples, 1);
	s = d.req->series[0]->samples[0];
	d.prof = unpack_pprof(s->raw_profile.data, s->raw_profile.len, &d.raw_len);
	return d;
}

static struct decoded decode_ingest(const struct http_request *r)
{
	struct decoded d = { 0 };

	d.prof = unpack_pprof(r->body, r->len, &d.raw_len);
	return d;
}

static void decoded_free(struct decoded *d)
{
	if (d->req)
		push__v1__push_request__free_unpacked(d->req, NULL);
	if (d->prof)
		perftools__profiles__profile__free_unpacked(d->prof, NULL);
}

static void free_reqs(struct http_request **reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		http_request__free(reqs[i]);
	free(reqs);
}

static const char *S(const Perftools__Profiles__Profile *p, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < p->n_string_table);
	return p->string_table[i];
}

static const Perftools__Profiles__Location *loc(const Perftools__Profiles__Profile *p, uint64_t id)
{
	for (size_t i = 0; i < p->n_location; i++)
		if (p->location[i]->id == id)
			return p->location[i];
	fail_msg("no location %llu", (unsigned long long)id);
	return NULL;
}

/* The name of the outermost function of a location. */
static const char *loc_name(const Perftools__Profiles__Profile *p, uint64_t id)
{
	const Perftools__Profiles__Location *l = loc(p, id);

	assert_true(l->n_line >= 1);
	for (size_t i = 0; i < p->n_function; i++)
		if (p->function[i]->id == l->line[l->n_line - 1]->function_id)
			return S(p, p->function[i]->name);
	fail_msg("no function");
	return NULL;
}

static const char *sample_label(const Perftools__Profiles__Profile *p,
				const Perftools__Profiles__Sample *s, const char *key)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (!strcmp(S(p, s->label[i]->key), key))
			return S(p, s->label[i]->str);
	return NULL;
}

/* The value of header name ("Name: value" lines), NULL if absent; fails
 * if it is there twice. */
static const char *header(const struct http_request *r, const char *name)
{
	const char *found = NULL;
	size_t n = strlen(name);

	for (const struct curl_slist *l = r->headers; l; l = l->next) {
		if (!strncasecmp(l->data, name, n) && l->data[n] == ':') {
			assert_null(found);
			found = l->data + n + 1;
			while (*found == ' ')
				found++;
		}
	}
	return found;
}

static bool is_uuid_v4(const char *s)
{
	static const char hexd[] = "0123456789abcdef";

	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr(hexd, s[i]) || !s[i]) {
			return false;
		}
	}
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static bool valid_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* What the server checks of a push series' labels: the 30-name limit,
 * a __name__, no other private names, name rules, no duplicates, lengths. */
static void assert_server_valid_labels(const Push__V1__RawProfileSeries *s, size_t sample_keys)
{
	assert_true(s->n_labels + sample_keys <= PYROSCOPE_MAX_LABELS);
	assert_string_equal(s->labels[0]->name, "__name__");
	assert_string_equal(s->labels[0]->value, "process_cpu");
	for (size_t i = 0; i < s->n_labels; i++) {
		const char *n = s->labels[i]->name, *v = s->labels[i]->value;

		if (i > 0)
			assert_true(strncmp(n, "__", 2) != 0);
		assert_true(valid_name(n));
		assert_true(strlen(n) <= PYROSCOPE_MAX_NAME_LEN);
		assert_true(*v && strlen(v) <= PYROSCOPE_MAX_VALUE_LEN);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(n, s->labels[j]->name);
	}
}

static const char *series_label(const Push__V1__RawProfileSeries *s, const char *name)
{
	for (size_t i = 0; i < s->n_labels; i++)
		if (!strcmp(s->labels[i]->name, name))
			return s->labels[i]->value;
	return NULL;
}

/* ---- push v1 ------------------------------------------------------------ */

static const char *const stack_a[] = { "main", "parent", "leaf_a" };
static const char *const stack_b[] = { "main", "parent", "leaf_b" };
static const char *const stack_c[] = { "main" };

static void test_push_one_series(void **state)
{
	const struct profile_label series_labels[] = {
		{ .key = "host", .str = "node-1" },
		{ .key = "service_name", .str = "api" },
		{ .key = "zone", .str = "eu-1" },
	};
	const struct profile_label lab[] = {
		{ .key = "comm", .str = "app" }, { .key = "pid", .num = 1234 },
		{ .key = "thread_name", .str = "worker" },
	};
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	uint32_t map = add_app_mapping(p);
	struct series s = { .labels = series_labels, .nlabels = 3, .profile = p };
	struct interval iv = one_series(&s);
	const Push__V1__RawProfileSeries *ser;
	const Perftools__Profiles__Profile *prof;
	struct decoded d;
	char first_id[40];
	size_t n = 0;
	int64_t sum = 0;

	(void)state;
	add_named(p, map, lab, 3, 1, 3, stack_a);
	add_named(p, map, lab, 3, 2, 3, stack_b);
	add_named(p, map, NULL, 0, 5, 1, stack_c);

	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_string_equal(reqs[0]->url, "http://127.0.0.1:4040/prefix/push.v1.PusherService/Push");
	assert_int_equal(reqs[0]->created_ns, START_NS);
	assert_non_null(strstr(reqs[0]->what, "service_name=api"));
	assert_int_equal(st.profiles, 1);
	assert_int_equal(st.series, 1);
	assert_int_equal(st.split, 0);
	assert_int_equal(st.trimmed_labels, 0);
	assert_int_equal(st.trimmed_samples, 0);

	d = decode_push(reqs[0]);
	ser = d.req->series[0];
	/* Order: __name__, service_name, then the series' own labels. */
	assert_int_equal(ser->n_labels, 4);
	assert_string_equal(ser->labels[0]->name, "__name__");
	assert_string_equal(ser->labels[0]->value, "process_cpu");
	assert_string_equal(ser->labels[1]->name, "service_name");
	assert_string_equal(ser->labels[1]->value, "api");
	assert_string_equal(ser->labels[2]->name, "host");
	assert_string_equal(ser->labels[2]->value, "node-1");
	assert_string_equal(ser->labels[3]->name, "zone");
	assert_string_equal(ser->labels[3]->value, "eu-1");
	assert_server_valid_labels(ser, 0);
	assert_true(is_uuid_v4(ser->samples[0]->id));
	strcpy(first_id, ser->samples[0]->id);
	assert_true(ser->samples[0]->raw_profile.data[0] == 0x1f);

	prof = d.prof;
	assert_string_equal(S(prof, 0), "");
	assert_int_equal(prof->n_sample_type, 1);
	assert_string_equal(S(prof, prof->sample_type[0]->type), "cpu");
	assert_string_equal(S(prof, prof->sample_type[0]->unit), "nanoseconds");
	assert_non_null(prof->period_type);
	assert_string_equal(S(prof, prof->period_type->type), "cpu");
	assert_string_equal(S(prof, prof->period_type->unit), "nanoseconds");
	assert_int_equal(prof->period, PERIOD_NS);
	assert_int_equal(prof->time_nanos, START_NS);
	assert_int_equal(prof->duration_nanos, END_NS - START_NS);
	assert_int_equal(prof->n_sample, 3);
	for (size_t i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *smp = prof->sample[i];
		const char *leaf;

		assert_int_equal(smp->n_value, 1);
		/* Per-sample labels are off unless asked for. */
		assert_int_equal(smp->n_label, 0);
		leaf = loc_name(prof, smp->location_id[0]);
		if (!strcmp(leaf, "leaf_a"))
			assert_int_equal(smp->value[0], 1 * PERIOD_NS);
		else if (!strcmp(leaf, "leaf_b"))
			assert_int_equal(smp->value[0], 2 * PERIOD_NS);
		else if (!strcmp(leaf, "main"))
			assert_int_equal(smp->value[0], 5 * PERIOD_NS);
		else
			fail_msg("unexpected leaf %s", leaf);
		assert_string_equal(loc_name(prof, smp->location_id[smp->n_location_id - 1]), "main");
		sum += smp->value[0];
	}
	assert_int_equal(sum, 8 * PERIOD_NS);
	for (size_t i = 0; i < prof->n_location; i++)
		assert_true(prof->location[i]->id != 0);
	for (size_t i = 0; i < prof->n_function; i++)
		assert_true(prof->function[i]->id != 0);
	decoded_free(&d);
	free_reqs(reqs, n);

	/* Every profile gets its own ID. */
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), 0);
	d = decode_push(reqs[0]);
	assert_true(is_uuid_v4(d.req->series[0]->samples[0]->id));
	assert_string_not_equal(d.req->series[0]->samples[0]->id, first_id);
	decoded_free(&d);
	free_reqs(reqs, n);
	profile__free(p);
}

/* A series' off-CPU profile is a request of its own: __name__ off_cpu (as
 * Pyroscope names off-CPU profiles), the same labels, one sample type
 * off_cpu/nanoseconds with the nanoseconds blocked. An off-CPU profile
 * without a CPU one is still sent. */
static void test_push_offcpu(void **state)
{
	const struct profile_label series_labels[] = { { .key = "service_name", .str = "api" },
						       { .key = "zone", .str = "eu-1" } };
	const struct profile_frame f[] = { { .function = "read" }, { .function = "main" } };
	struct pyroscope_opts o = push_opts();
	struct http_request **reqs = NULL;
	struct profile *p = new_profile(), *off = profile__new(1, 1, 2), *none = new_profile();
	uint32_t map = add_app_mapping(p);
	struct series s = { .labels = series_labels, .nlabels = 2, .profile = p, .offcpu = off };
	struct interval iv = one_series(&s);
	const Perftools__Profiles__Profile *prof;
	struct decoded d;
	size_t n = 0;

	(void)state;
	assert_non_null(off);
	add_named(p, map, NULL, 0, 1, 3, stack_a);
	assert_int_equal(profile__add_sample_value(off, f, 2, NULL, 0, 3, 2500000000LL), 0);
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), 0);
	assert_int_equal(n, 2);
	d = decode_push(reqs[0]);
	assert_string_equal(d.req->series[0]->labels[0]->value, "process_cpu");
	decoded_free(&d);
	assert_non_null(strstr(reqs[1]->what, "off_cpu service_name=api"));
	d = decode_push(reqs[1]);
	assert_int_equal(d.req->series[0]->n_labels, 3);
	assert_string_equal(d.req->series[0]->labels[0]->name, "__name__");
	assert_string_equal(d.req->series[0]->labels[0]->value, "off_cpu");
	assert_string_equal(d.req->series[0]->labels[1]->value, "api");
	assert_string_equal(d.req->series[0]->labels[2]->value, "eu-1");
	prof = d.prof;
	assert_int_equal(prof->n_sample_type, 1);
	assert_string_equal(S(prof, prof->sample_type[0]->type), "off_cpu");
	assert_string_equal(S(prof, prof->sample_type[0]->unit), "nanoseconds");
	assert_int_equal(prof->n_sample, 1);
	assert_int_equal(prof->sample[0]->value[0], 2500000000LL);
	decoded_free(&d);
	free_reqs(reqs, n);

	s.profile = none;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), 0);
	assert_int_equal(n, 1);
	d = decode_push(reqs[0]);
	assert_string_equal(d.req->series[0]->labels[0]->value, "off_cpu");
	decoded_free(&d);
	free_reqs(reqs, n);
	profile__free(none);
	profile__free(off);
	profile__free(p);
}

static void test_push_headers(void **state)
{
	const struct profile_label series_labels[] = { { .key = "service_name", .str = "api" } };
	const struct http_header extra[] = {
		{ .name = "X-Extra", .value = "1" }, { .name = "user-agent", .value = "custom/2" },
	};
	const struct http_header bad[] = { { .name = "X-Bad", .value = "a\r\nX-Injected: 1" } };
	const struct http_header bad_name[] = { { .name = "X Bad", .value = "1" } };
	struct pyroscope_opts o = push_opts();
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	struct series s = { .labels = series_labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	size_t n = 0;

	(void)state;
	add_named(p, add_app_mapping(p), NULL, 0, 1, 3, stack_a);

	o.tenant_id = "team-a";
	o.basic_user = "user";
	o.basic_password = "pass";
	o.headers = extra;
	o.nheaders = 1;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(header(reqs[0], "Content-Type"), "application/proto");
	assert_string_equal(header(reqs[0], "Connect-Protocol-Version"), "1");
	/* The version is the build's (objects of one build agree; a stale
	 * object from an older commit need not). */
	assert_true(!strncmp(header(reqs[0], "User-Agent"), "ignis/", 6) &&
		    strlen(header(reqs[0], "User-Agent")) > 6);
	/* Credentials are not in the request (which may be queued and
	 * spooled): the delivery adds them to each attempt (test_submit). */
	assert_null(header(reqs[0], "Authorization"));
	assert_string_equal(header(reqs[0], "X-Scope-OrgID"), "team-a");
	assert_string_equal(header(reqs[0], "X-Extra"), "1");
	/* The secret is nowhere in what logs show. */
	assert_null(strstr(reqs[0]->what, "pass"));
	free_reqs(reqs, n);

	/* Bearer; an extra header named like one of ours replaces it. */
	o.basic_user = o.basic_password = NULL;
	o.bearer_token = "tok3n";
	o.tenant_id = NULL;
	o.nheaders = 2;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), 0);
	assert_null(header(reqs[0], "Authorization"));
	assert_null(header(reqs[0], "X-Scope-OrgID"));
	assert_string_equal(header(reqs[0], "User-Agent"), "custom/2");
	free_reqs(reqs, n);

	/* A user with no password: "user:". */
	o.bearer_token = NULL;
	o.basic_user = "u";
	o.nheaders = 0;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), 0);
	assert_null(header(reqs[0], "Authorization"));
	free_reqs(reqs, n);

	/* A token that would inject a header is refused like an extra header. */
	o.basic_user = NULL;
	o.bearer_token = "t\r\nX-Injected: 1";
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	o.bearer_token = NULL;
	o.basic_user = "u";

	/* Refused: both kinds of auth, header injection, a bad header name. */
	reqs = NULL;
	o.bearer_token = "t";
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	assert_null(reqs);
	o.bearer_token = NULL;
	o.headers = bad;
	o.nheaders = 1;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	o.headers = bad_name;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	errno = 0;
	assert_null(pyroscope__new(&o));
	assert_int_equal(errno, EINVAL);
	profile__free(p);
}

static void test_bad_opts(void **state)
{
	const char *const two[] = { "pid", "pid" };
	const char *const bad[] = { "thread-name" };
	const char *const priv[] = { "__x" };
	const char *many[40];
	char names[40][8];
	struct pyroscope_opts o = push_opts();
	struct http_request **reqs = NULL;
	struct interval iv = { .start_ns = START_NS, .end_ns = END_NS };
	size_t n = 7;

	(void)state;
	/* Nothing to send: no request. */
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(reqs);

	o.url = "ftp://x";
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	o.url = "http://x/?a=b";
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	o.url = NULL;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	o = push_opts();
	o.sample_labels = two;
	o.nsample_labels = 2;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	o.sample_labels = bad;
	o.nsample_labels = 1;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	o.sample_labels = priv;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "k%d", i);
		many[i] = names[i];
	}
	o.sample_labels = many;
	o.nsample_labels = 28;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), 0);
	free(reqs);
	o.nsample_labels = 29;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
	o.api = PYROSCOPE_INGEST;
	o.nsample_labels = 27;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), -EINVAL);
}

/* Series with no samples send nothing. */
static void test_empty_series(void **state)
{
	const struct profile_label series_labels[] = { { .key = "service_name", .str = "idle" } };
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	struct series s = { .labels = series_labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	size_t n = 9;

	(void)state;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	assert_int_equal(n, 0);
	assert_int_equal(st.series, 0);
	assert_int_equal(st.profiles, 0);
	free(reqs);
	profile__free(p);
}

static void test_sample_labels(void **state)
{
	const struct profile_label series_labels[] = { { .key = "service_name", .str = "api" } };
	const struct profile_label lab1[] = {
		{ .key = "comm", .str = "app" }, { .key = "pid", .num = 1234 },
		{ .key = "thread_name", .str = "worker" },
	};
	/* comm is whatever bytes the process set: not always UTF-8. */
	const struct profile_label lab2[] = {
		{ .key = "comm", .str = "b\xff\xfe" }, { .key = "pid", .num = 99 },
	};
	const char *const keep[] = { "pid", "comm" };
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	uint32_t map = add_app_mapping(p);
	struct series s = { .labels = series_labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	const Perftools__Profiles__Profile *prof;
	struct decoded d;
	bool seen1 = false, seen2 = false, seen3 = false;
	size_t n = 0;

	(void)state;
	add_named(p, map, lab1, 3, 1, 3, stack_a);
	add_named(p, map, lab2, 2, 1, 3, stack_b);
	add_named(p, map, NULL, 0, 1, 1, stack_c);
	o.sample_labels = keep;
	o.nsample_labels = 2;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	assert_int_equal(n, 1);
	d = decode_push(reqs[0]);
	assert_server_valid_labels(d.req->series[0], 2);
	prof = d.prof;
	assert_int_equal(prof->n_sample, 3);
	for (size_t i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *smp = prof->sample[i];
		const char *leaf = loc_name(prof, smp->location_id[0]);

		/* Only what was asked for; numbers as strings (the server
		 * ignores numeric labels). */
		assert_null(sample_label(prof, smp, "thread_name"));
		for (size_t j = 0; j < smp->n_label; j++)
			assert_int_equal(smp->label[j]->num, 0);
		if (!strcmp(leaf, "leaf_a")) {
			assert_int_equal(smp->n_label, 2);
			assert_string_equal(sample_label(prof, smp, "pid"), "1234");
			assert_string_equal(sample_label(prof, smp, "comm"), "app");
			seen1 = true;
		} else if (!strcmp(leaf, "leaf_b")) {
			assert_int_equal(smp->n_label, 2);
			assert_string_equal(sample_label(prof, smp, "pid"), "99");
			assert_string_equal(sample_label(prof, smp, "comm"),
					    "b\xef\xbf\xbd\xef\xbf\xbd");
			seen2 = true;
		} else {
			assert_int_equal(smp->n_label, 0);
			seen3 = true;
		}
	}
	assert_true(seen1 && seen2 && seen3);
	/* The profile made comm valid UTF-8 already (PROFILE_STRING_MAX):
	 * nothing left to trim here. */
	assert_int_equal(st.trimmed_labels, 0);
	decoded_free(&d);
	free_reqs(reqs, n);
	profile__free(p);
}

/* Names and values the server would refuse are fixed or dropped, each
 * counted once. */
static void test_label_rules(void **state)
{
	static char long_value[3001], long_name[1101];
	static char nul_cut[2050];
	const struct profile_label series_labels[] = {
		{ .key = "9lives", .str = "c" },             /* -> _9lives */
		{ .key = "__meta", .str = "x" },             /* private: dropped */
		{ .key = "cafe", .str = "caf\xc3\xa9\xff" }, /* -> "café?" */
		{ .key = "cut", .str = nul_cut },            /* 2047 'a' + "é": cut before é */
		{ .key = "empty", .str = "" },               /* dropped */
		{ .key = long_name, .str = "v" },            /* dropped */
		{ .key = "long", .str = long_value },        /* cut to 2048 */
		{ .key = "n", .num = -5 },                   /* a number: "-5" */
		{ .key = "pod.name", .str = "a" },           /* -> pod_name */
		{ .key = "pod_name", .str = "b" },           /* duplicate: dropped */
		{ .key = "service_name", .str = "svc" },
	};
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	struct series s = { .labels = series_labels, .nlabels = 11, .profile = p };
	struct interval iv = one_series(&s);
	const Push__V1__RawProfileSeries *ser;
	struct decoded d;
	size_t n = 0;

	(void)state;
	memset(long_value, 'v', 3000);
	memset(long_name, 'k', 1100);
	memset(nul_cut, 'a', 2047);
	memcpy(nul_cut + 2047, "\xc3\xa9", 3);
	add_named(p, add_app_mapping(p), NULL, 0, 1, 3, stack_a);
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	assert_int_equal(n, 1);
	d = decode_push(reqs[0]);
	ser = d.req->series[0];
	assert_server_valid_labels(ser, 0);
	assert_int_equal(ser->n_labels, 8);
	assert_string_equal(series_label(ser, "service_name"), "svc");
	assert_string_equal(series_label(ser, "_9lives"), "c");
	assert_string_equal(series_label(ser, "cafe"), "caf\xc3\xa9\xef\xbf\xbd");
	assert_int_equal(strlen(series_label(ser, "cut")), 2047);
	assert_int_equal(strlen(series_label(ser, "long")), 2048);
	assert_string_equal(series_label(ser, "n"), "-5");
	assert_string_equal(series_label(ser, "pod_name"), "a");
	assert_null(series_label(ser, "__meta"));
	assert_null(series_label(ser, "empty"));
	/* 9lives, __meta, cafe, cut, empty, long_name, long, pod.name, pod_name */
	assert_int_equal(st.trimmed_labels, 9);
	decoded_free(&d);
	free_reqs(reqs, n);
	profile__free(p);
}

/* Span profiles: the program's span id as span_id (16 hex digits, from
 * span_id or Datadog's decimal "span id"), span_name as set; the other
 * trace labels and the agent's unasked ones stay home. span_name is a
 * series label at the server: it takes one name's room. */
static void test_span_labels(void **state)
{
	const struct profile_label series_labels[] = { { .key = "service_name", .str = "api" } };
	const struct profile_label otel[] = {
		{ .key = "pid", .num = 1 },
		{ .key = "span_id", .str = "00000000000186a9", .origin = PROFILE_LABEL_TRACE },
		{ .key = "span_name", .str = "GET /x", .origin = PROFILE_LABEL_TRACE },
		{ .key = "trace_id", .str = "0af7651916cd43dd8448eb211c80319c",
		  .origin = PROFILE_LABEL_TRACE },
	};
	const struct profile_label dd[] = {
		{ .key = "span id", .str = "255", .origin = PROFILE_LABEL_TRACE },
		{ .key = "local root span id", .str = "1", .origin = PROFILE_LABEL_TRACE },
		{ .key = "custom", .str = "x", .origin = PROFILE_LABEL_PROGRAM },
	};
	/* The agent's own label of that name is no span. */
	const struct profile_label agent[] = { { .key = "span_id", .str = "00000000000000ff" } };
	struct profile_label many[41];
	char names[40][8];
	const char *keep[28];
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	uint32_t map = add_app_mapping(p);
	struct series s = { .labels = series_labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	const Perftools__Profiles__Profile *prof;
	struct decoded d;
	int seen = 0;
	size_t n = 0;

	(void)state;
	add_named(p, map, otel, 4, 1, 3, stack_a);
	add_named(p, map, dd, 3, 1, 3, stack_b);
	add_named(p, map, agent, 1, 1, 1, stack_c);
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	d = decode_push(reqs[0]);
	prof = d.prof;
	for (size_t i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *smp = prof->sample[i];
		const char *leaf = loc_name(prof, smp->location_id[0]);

		if (!strcmp(leaf, "leaf_a")) {
			assert_int_equal(smp->n_label, 2);
			assert_string_equal(sample_label(prof, smp, "span_id"), "00000000000186a9");
			assert_string_equal(sample_label(prof, smp, "span_name"), "GET /x");
			seen |= 1;
		} else if (!strcmp(leaf, "leaf_b")) {
			assert_int_equal(smp->n_label, 1);
			assert_string_equal(sample_label(prof, smp, "span_id"), "00000000000000ff");
			seen |= 2;
		} else {
			assert_int_equal(smp->n_label, 0);
			seen |= 4;
		}
	}
	assert_int_equal(seen, 7);
	decoded_free(&d);
	free_reqs(reqs, n);

	/* 40 series labels: one fewer fits beside span_name. */
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "l%02d", i);
		many[i] = (struct profile_label){ .key = names[i], .str = "v" };
	}
	many[40] = (struct profile_label){ .key = "service_name", .str = "many" };
	s.labels = many;
	s.nlabels = 41;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	d = decode_push(reqs[0]);
	assert_int_equal(d.req->series[0]->n_labels, 29);
	assert_server_valid_labels(d.req->series[0], 1);
	decoded_free(&d);
	free_reqs(reqs, n);

	/* 28 sample labels asked for leave no room: span_name stays home,
	 * span_id (no series label) still goes. */
	for (int i = 0; i < 28; i++)
		keep[i] = names[i];
	o.sample_labels = keep;
	o.nsample_labels = 28;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	d = decode_push(reqs[0]);
	assert_server_valid_labels(d.req->series[0], 28);
	prof = d.prof;
	for (size_t i = 0; i < prof->n_sample; i++) {
		assert_null(sample_label(prof, prof->sample[i], "span_name"));
		if (!strcmp(loc_name(prof, prof->sample[i]->location_id[0]), "leaf_a"))
			assert_non_null(sample_label(prof, prof->sample[i], "span_id"));
	}
	decoded_free(&d);
	free_reqs(reqs, n);
	profile__free(p);
}

/* At most 30 names, counting __name__, service_name and the per-sample
 * labels the server makes series labels of. */
static void test_label_count(void **state)
{
	struct profile_label labels[41];
	char names[40][8], values[40][8];
	const char *const keep[] = { "pid", "comm" };
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	struct series s = { .labels = labels, .nlabels = 41, .profile = p };
	struct interval iv = one_series(&s);
	struct decoded d;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "l%02d", i);
		snprintf(values[i], sizeof(values[i]), "v%d", i);
		labels[i] = (struct profile_label){ .key = names[i], .str = values[i] };
	}
	labels[40] = (struct profile_label){ .key = "service_name", .str = "many" };
	add_named(p, add_app_mapping(p), NULL, 0, 1, 3, stack_a);

	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	d = decode_push(reqs[0]);
	assert_int_equal(d.req->series[0]->n_labels, 30);
	assert_server_valid_labels(d.req->series[0], 0);
	assert_string_equal(series_label(d.req->series[0], "service_name"), "many");
	assert_string_equal(series_label(d.req->series[0], "l27"), "v27");
	assert_null(series_label(d.req->series[0], "l28"));
	assert_int_equal(st.trimmed_labels, 12);
	decoded_free(&d);
	free_reqs(reqs, n);

	memset(&st, 0, sizeof(st));
	o.sample_labels = keep;
	o.nsample_labels = 2;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	d = decode_push(reqs[0]);
	assert_int_equal(d.req->series[0]->n_labels, 28);
	assert_server_valid_labels(d.req->series[0], 2);
	assert_int_equal(st.trimmed_labels, 14);
	decoded_free(&d);
	free_reqs(reqs, n);
	profile__free(p);
}

/* A series without a service_name is "unknown_service", as the server
 * would name it. */
static void test_unknown_service(void **state)
{
	const struct profile_label series_labels[] = { { .key = "host", .str = "h" } };
	struct pyroscope_opts o = push_opts();
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	struct series s = { .labels = series_labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	struct decoded d;
	size_t n = 0;

	(void)state;
	add_named(p, add_app_mapping(p), NULL, 0, 1, 3, stack_a);
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), 0);
	d = decode_push(reqs[0]);
	assert_string_equal(series_label(d.req->series[0], "service_name"), "unknown_service");
	decoded_free(&d);
	free_reqs(reqs, n);
	profile__free(p);
}

/* ---- splitting ------------------------------------------------------------ */

/* Checks the parts of a split series: same labels, each within the
 * limits, every source sample (told apart by its unique leaf name) in
 * exactly one part, values summing to the source's. */
static void check_parts(struct http_request **reqs, size_t n, size_t nsamples,
			const char *leaf_fmt, uint64_t total_count)
{
	char *seen = calloc(nsamples, 1), name[64];
	uint64_t sum = 0;
	size_t got = 0;

	assert_non_null(seen);
	for (size_t r = 0; r < n; r++) {
		struct decoded d = decode_push(reqs[r]);
		const Perftools__Profiles__Profile *prof = d.prof;
		char part[64];

		snprintf(part, sizeof(part), "part %zu/%zu", r + 1, n);
		assert_non_null(strstr(reqs[r]->what, part));
		assert_true(prof->n_sample <= PYROSCOPE_MAX_SAMPLES);
		assert_true(d.raw_len <= PYROSCOPE_MAX_PROFILE_BYTES);
		assert_true(d.raw_len <= PYROSCOPE_BURST_BYTES);
		assert_int_equal(prof->time_nanos, START_NS);
		assert_int_equal(prof->duration_nanos, END_NS - START_NS);
		assert_string_equal(series_label(d.req->series[0], "service_name"), "big");
		assert_true(is_uuid_v4(d.req->series[0]->samples[0]->id));
		if (r > 0) {
			struct decoded prev = decode_push(reqs[r - 1]);

			assert_string_not_equal(prev.req->series[0]->samples[0]->id,
						d.req->series[0]->samples[0]->id);
			decoded_free(&prev);
		}
		for (size_t i = 0; i < prof->n_sample; i++) {
			const char *leaf = loc_name(prof, prof->sample[i]->location_id[0]);
			unsigned k;

			assert_int_equal(sscanf(leaf, leaf_fmt, &k), 1);
			snprintf(name, sizeof(name), leaf_fmt, k);
			assert_int_equal(strncmp(name, leaf, strlen(name)), 0);
			assert_true(k < nsamples);
			assert_false(seen[k]);
			seen[k] = 1;
			sum += (uint64_t)prof->sample[i]->value[0];
			got++;
		}
		decoded_free(&d);
	}
	assert_int_equal(got, nsamples);
	assert_int_equal(sum, total_count * PERIOD_NS);
	free(seen);
}

static void test_split_by_samples(void **state)
{
	const size_t N = 40000;
	const struct profile_label series_labels[] = { { .key = "service_name", .str = "big" } };
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	uint32_t map = add_app_mapping(p);
	struct series s = { .labels = series_labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	uint64_t total = 0;
	char leaf[32];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < N; i++) {
		const char *names[] = { "main", leaf };

		snprintf(leaf, sizeof(leaf), "leaf_%zu", i);
		add_named(p, map, NULL, 0, 1 + i % 7, 2, names);
		total += 1 + i % 7;
	}
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	assert_int_equal(n, 3);
	check_parts(reqs, n, N, "leaf_%u", total);
	assert_int_equal(st.profiles, 3);
	assert_int_equal(st.series, 1);
	assert_int_equal(st.split, 1);
	free_reqs(reqs, n);
	profile__free(p);
}

static void test_split_by_size(void **state)
{
	const size_t N = 12000;
	const struct profile_label series_labels[] = { { .key = "service_name", .str = "big" } };
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	uint32_t map = add_app_mapping(p);
	struct series s = { .labels = series_labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	char leaf[480], mid[480];
	uint64_t total = 0;
	size_t n = 0, raw = 0;

	(void)state;
	/* Two unique ~470-byte names per sample (long C++ names are like
	 * that): about 11 MB of pprof, over the 4 MiB limit. */
	memset(mid, 'm', 460);
	for (size_t i = 0; i < N; i++) {
		const char *names[] = { "main", mid, leaf };

		snprintf(leaf, sizeof(leaf), "L%06zu_%0460d", i, 0);
		snprintf(mid + 460, sizeof(mid) - 460, "%06zu", i);
		add_named(p, map, NULL, 0, 2, 3, names);
		total += 2;
	}
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	for (size_t r = 0; r < n; r++) {
		struct decoded d = decode_push(reqs[r]);

		raw += d.raw_len;
		decoded_free(&d);
	}
	assert_true(raw > PYROSCOPE_MAX_PROFILE_BYTES);
	assert_true(n >= 6);
	check_parts(reqs, n, N, "L%06u_", total);
	assert_int_equal(st.profiles, n);
	assert_int_equal(st.split, 1);
	assert_int_equal(st.trimmed_samples, 0);
	free_reqs(reqs, n);
	profile__free(p);
}

/* ---- stack depth ---------------------------------------------------------- */

static void test_depth(void **state)
{
	const struct profile_label series_labels[] = { { .key = "service_name", .str = "deep" } };
	static char names[2400][16];
	static struct profile_frame frames[2400];
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	uint32_t map = add_app_mapping(p);
	struct series s = { .labels = series_labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	const Perftools__Profiles__Profile *prof;
	struct decoded d;
	bool seen[4] = { false };
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 2400; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		frames[i] = (struct profile_frame){
			.mapping = map, .address = 0x400000 + 0x10 * (uint64_t)i, .function = names[i],
		};
	}
	/* 1500 locations: cut. */
	assert_int_equal(profile__add_sample(p, frames, 1500, NULL, 0, 1), 0);
	/* Exactly 1000: kept whole. */
	assert_int_equal(profile__add_sample(p, frames, 1000, NULL, 0, 2), 0);
	/* 1400 frames, every other one inlined into the next: 700
	 * locations, kept whole (the limit is on locations, not frames). */
	{
		static struct profile_frame inl[1400];

		for (int i = 0; i < 1400; i++) {
			inl[i] = frames[i];
			inl[i].address = 0x400000 + 0x10 * (uint64_t)(i | 1);
			inl[i].inlined = !(i & 1);
		}
		assert_int_equal(profile__add_sample(p, inl, 1400, NULL, 0, 3), 0);
	}
	/* 2400 frames in 1200 locations: cut to 999 locations (1998 frames). */
	{
		static struct profile_frame inl[2400];

		for (int i = 0; i < 2400; i++) {
			inl[i] = frames[i];
			inl[i].address = 0x400000 + 0x10 * (uint64_t)(i | 1);
			inl[i].inlined = !(i & 1);
		}
		assert_int_equal(profile__add_sample(p, inl, 2400, NULL, 0, 4), 0);
	}
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	assert_int_equal(n, 1);
	d = decode_push(reqs[0]);
	prof = d.prof;
	assert_int_equal(prof->n_sample, 4);
	for (size_t i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *smp = prof->sample[i];

		assert_true(smp->n_location_id <= PYROSCOPE_MAX_LOCATIONS);
		switch (smp->value[0] / (int64_t)PERIOD_NS) {
		case 1:
			/* The leaf side kept, the cut marked at the root. */
			assert_int_equal(smp->n_location_id, 1000);
			for (size_t k = 0; k < 999; k++) {
				char want[16];

				snprintf(want, sizeof(want), "f%zu", k);
				assert_string_equal(loc_name(prof, smp->location_id[k]), want);
			}
			assert_string_equal(loc_name(prof, smp->location_id[999]), "[truncated]");
			seen[0] = true;
			break;
		case 2:
			assert_int_equal(smp->n_location_id, 1000);
			assert_string_equal(loc_name(prof, smp->location_id[999]), "f999");
			seen[1] = true;
			break;
		case 3:
			assert_int_equal(smp->n_location_id, 700);
			assert_int_equal(loc(prof, smp->location_id[0])->n_line, 2);
			assert_string_equal(loc_name(prof, smp->location_id[699]), "f1399");
			seen[2] = true;
			break;
		case 4:
			assert_int_equal(smp->n_location_id, 1000);
			assert_int_equal(loc(prof, smp->location_id[998])->n_line, 2);
			assert_string_equal(loc_name(prof, smp->location_id[998]), "f1997");
			assert_string_equal(loc_name(prof, smp->location_id[999]), "[truncated]");
			seen[3] = true;
			break;
		default:
			fail_msg("unexpected sample");
		}
	}
	assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
	assert_int_equal(st.trimmed_samples, 2);
	decoded_free(&d);
	free_reqs(reqs, n);
	profile__free(p);
}

/* ---- legacy /ingest -------------------------------------------------------- */

static char *url_decode(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	assert_non_null(out);
	for (; *s; s++) {
		unsigned v;

		if (*s == '%' && sscanf(s + 1, "%2x", &v) == 1) {
			*o++ = (char)v;
			s += 2;
		} else {
			/* A blank must come escaped: '+' would read as one. */
			assert_true(*s != '+' && *s != ' ');
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

static void test_ingest(void **state)
{
	const struct profile_label series_labels[] = {
		{ .key = "host", .str = "node 1" },
		{ .key = "pad", .str = "  x y  " },
		{ .key = "region", .str = "eu,west}" },
		{ .key = "service_name", .str = "my app/x,y" },
	};
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	struct series s = { .labels = series_labels, .nlabels = 4, .profile = p };
	struct interval iv = one_series(&s);
	const char *prefix = "http://127.0.0.1:4040/prefix/ingest?name=";
	struct decoded d;
	char *q, *name;
	size_t n = 0;

	(void)state;
	add_named(p, add_app_mapping(p), NULL, 0, 3, 3, stack_a);
	o.api = PYROSCOPE_INGEST;
	o.tenant_id = "t1";
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_string_equal(reqs[0]->url,
			    "http://127.0.0.1:4040/prefix/ingest?name="
			    "my_app%2Fx_y%7Bhost%3Dnode%201%2Cpad%3Dx%20y%2Cregion%3Deu_west_%7D"
			    "&from=1700000000&until=1700000016&format=pprof&spyName=ignis&sampleRate=100");
	/* The same, decoded: app name [A-Za-z0-9_.-/], values without ',' or
	 * '}' and trimmed, from/until seconds (10 digits) covering the interval. */
	assert_true(!strncmp(reqs[0]->url, prefix, strlen(prefix)));
	q = strchr(reqs[0]->url + strlen(prefix), '&');
	assert_non_null(q);
	*q = '\0';
	name = url_decode(reqs[0]->url + strlen(prefix));
	*q = '&';
	assert_string_equal(name, "my_app/x_y{host=node 1,pad=x y,region=eu_west_}");
	free(name);
	/* service_name, pad, region */
	assert_int_equal(st.trimmed_labels, 3);

	assert_string_equal(header(reqs[0], "Content-Type"), "application/octet-stream");
	assert_null(header(reqs[0], "Connect-Protocol-Version"));
	assert_string_equal(header(reqs[0], "X-Scope-OrgID"), "t1");
	/* The version is the build's (objects of one build agree; a stale
	 * object from an older commit need not). */
	assert_true(!strncmp(header(reqs[0], "User-Agent"), "ignis/", 6) &&
		    strlen(header(reqs[0], "User-Agent")) > 6);

	d = decode_ingest(reqs[0]);
	assert_int_equal(d.prof->time_nanos, START_NS);
	assert_int_equal(d.prof->n_sample, 1);
	assert_int_equal(d.prof->sample[0]->value[0], 3 * PERIOD_NS);
	assert_string_equal(S(d.prof, d.prof->sample_type[0]->type), "cpu");
	decoded_free(&d);
	free_reqs(reqs, n);

	/* Whole seconds: until is the end itself. */
	iv.start_ns = 1700000000000000000LL;
	iv.end_ns = 1700000015000000000LL;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, NULL), 0);
	assert_non_null(strstr(reqs[0]->url, "&from=1700000000&until=1700000015&"));
	free_reqs(reqs, n);
	profile__free(p);
}

/* /ingest reserves two of the 30 names for what the server adds. */
static void test_ingest_label_count(void **state)
{
	struct profile_label labels[41];
	char names[40][8], values[40][8];
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st = { 0 };
	struct http_request **reqs = NULL;
	struct profile *p = new_profile();
	struct series s = { .labels = labels, .nlabels = 41, .profile = p };
	struct interval iv = one_series(&s);
	char *name;
	size_t n = 0, commas = 0;

	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "l%02d", i);
		snprintf(values[i], sizeof(values[i]), "v%d", i);
		labels[i] = (struct profile_label){ .key = names[i], .str = values[i] };
	}
	labels[40] = (struct profile_label){ .key = "service_name", .str = "many" };
	add_named(p, add_app_mapping(p), NULL, 0, 1, 3, stack_a);
	o.api = PYROSCOPE_INGEST;
	assert_int_equal(pyroscope__render(&o, &iv, &reqs, &n, &st), 0);
	name = url_decode(strstr(reqs[0]->url, "name=") + 5);
	for (char *c = name; *c && *c != '&'; c++)
		commas += *c == ',';
	/* 26 labels in the braces + __name__, service_name, __delta__,
	 * pyroscope_spy = 30. */
	assert_int_equal(commas, 25);
	assert_non_null(strstr(name, "l25=v25}"));
	assert_int_equal(st.trimmed_labels, 14);
	free(name);
	free_reqs(reqs, n);
	profile__free(p);
}

/* ---- submit through a delivery, to a server on 127.0.0.1 ------------------ */

struct server {
	int fd;
	int port;
	pthread_t thread;
	pthread_mutex_t lock;
	size_t nreq;
	char paths[8][128];
	char auth[8][64];         /* the Authorization header's value */
	uint8_t *bodies[8];
	size_t lens[8];
};

static ssize_t find_crlf2(const char *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4))
			return (ssize_t)i;
	return -1;
}

/* One connection: requests one after another (keep-alive), each answered
 * 200 with an empty body. */
static void serve_conn(struct server *sv, int c)
{
	char *buf = malloc(1 << 20);
	size_t have = 0, cap = 1 << 20;

	assert_non_null(buf);
	for (;;) {
		ssize_t end, r;
		size_t clen = 0, need;
		const char *cl;

		while ((end = find_crlf2(buf, have)) < 0) {
			r = recv(c, buf + have, cap - have, 0);
			if (r <= 0)
				goto out;
			have += (size_t)r;
		}
		buf[end] = '\0';
		cl = strcasestr(buf, "\r\ncontent-length:");
		if (cl)
			clen = strtoul(cl + 17, NULL, 10);
		if (strcasestr(buf, "\r\nexpect: 100-continue"))
			send(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, MSG_NOSIGNAL);
		need = (size_t)end + 4 + clen;
		while (need > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		while (have < need) {
			r = recv(c, buf + have, cap - have, 0);
			if (r <= 0)
				goto out;
			have += (size_t)r;
		}
		pthread_mutex_lock(&sv->lock);
		if (sv->nreq < 8) {
			const char *a = strcasestr(buf, "\r\nAuthorization: ");

			sscanf(buf, "POST %127s", sv->paths[sv->nreq]);
			if (a)
				sscanf(a + 17, "%63[^\r]", sv->auth[sv->nreq]);
			sv->bodies[sv->nreq] = malloc(clen ? clen : 1);
			memcpy(sv->bodies[sv->nreq], buf + end + 4, clen);
			sv->lens[sv->nreq] = clen;
		}
		sv->nreq++;
		pthread_mutex_unlock(&sv->lock);
		send(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38, MSG_NOSIGNAL);
		memmove(buf, buf + need, have - need);
		have -= need;
	}
out:
	free(buf);
}

static void *server_main(void *arg)
{
	struct server *sv = arg;
	int c;

	while ((c = accept(sv->fd, NULL, NULL)) >= 0) {
		serve_conn(sv, c);
		close(c);
	}
	return NULL;
}

static void server_start(struct server *sv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	memset(sv, 0, sizeof(*sv));
	pthread_mutex_init(&sv->lock, NULL);
	sv->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sv->fd >= 0);
	assert_int_equal(bind(sv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(sv->fd, 8), 0);
	assert_int_equal(getsockname(sv->fd, (struct sockaddr *)&a, &alen), 0);
	sv->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&sv->thread, NULL, server_main, sv), 0);
}

static void server_stop(struct server *sv)
{
	shutdown(sv->fd, SHUT_RDWR);
	pthread_join(sv->thread, NULL);
	close(sv->fd);
	pthread_mutex_destroy(&sv->lock);
}

static void server_free(struct server *sv)
{
	for (size_t i = 0; i < sv->nreq && i < 8; i++)
		free(sv->bodies[i]);
}

static void test_submit(void **state)
{
	const struct profile_label la[] = { { .key = "service_name", .str = "one" } };
	const struct profile_label lb[] = { { .key = "service_name", .str = "two" } };
	struct pyroscope_opts o = push_opts();
	struct pyroscope_stats st;
	struct profile *pa = new_profile(), *pb = new_profile();
	uint32_t ma = add_app_mapping(pa), mb = add_app_mapping(pb);
	struct series s[2] = {
		{ .labels = la, .nlabels = 1, .profile = pa },
		{ .labels = lb, .nlabels = 1, .profile = pb },
	};
	struct interval iv = { .series = s, .nseries = 2 };
	struct pyroscope *py;
	struct server sv;
	struct timespec now;
	char url[64], leaf[32];

	(void)state;
	/* "one" takes two profiles, "two" one. */
	for (size_t i = 0; i < PYROSCOPE_MAX_SAMPLES + 10; i++) {
		const char *names[] = { "main", leaf };

		snprintf(leaf, sizeof(leaf), "a_%zu", i);
		add_named(pa, ma, NULL, 0, 1, 2, names);
	}
	add_named(pb, mb, NULL, 0, 4, 3, stack_b);
	/* Fresh timestamps: the delivery drops data older than an hour. */
	clock_gettime(CLOCK_REALTIME, &now);
	iv.start_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - 15000000000LL;
	iv.end_ns = iv.start_ns + 15000000000LL;

	server_start(&sv);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/p", sv.port);
	o.url = url;
	o.delivery.timeout_ms = 5000;
	o.basic_user = "user";
	o.basic_password = "pass";
	py = pyroscope__new(&o);
	assert_non_null(py);
	assert_int_equal(pyroscope__submit(py, &iv), 0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	assert_int_equal(httpdest__drain(py, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec +
					      20000000000LL), 0);
	pyroscope__stats(py, &st);
	assert_int_equal(st.profiles, 3);
	assert_int_equal(st.series, 2);
	assert_int_equal(st.split, 1);
	assert_int_equal(st.delivery.sent, 3);
	pyroscope__free(py);
	server_stop(&sv);

	/* In order: the two parts of "one", then "two". */
	assert_int_equal(sv.nreq, 3);
	for (size_t i = 0; i < 3; i++) {
		struct http_request r = { .body = sv.bodies[i], .len = sv.lens[i] };
		struct decoded d = decode_push(&r);

		assert_string_equal(sv.paths[i], "/p/push.v1.PusherService/Push");
		/* base64("user:pass"), added by the delivery to each attempt */
		assert_string_equal(sv.auth[i], "Basic dXNlcjpwYXNz");
		assert_string_equal(series_label(d.req->series[0], "service_name"),
				    i < 2 ? "one" : "two");
		assert_int_equal(d.prof->n_sample, i == 0 ? PYROSCOPE_MAX_SAMPLES : i == 1 ? 10 : 1);
		decoded_free(&d);
	}
	server_free(&sv);
	profile__free(pa);
	profile__free(pb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_one_series),
		cmocka_unit_test(test_push_offcpu),
		cmocka_unit_test(test_push_headers),
		cmocka_unit_test(test_bad_opts),
		cmocka_unit_test(test_empty_series),
		cmocka_unit_test(test_sample_labels),
		cmocka_unit_test(test_span_labels),
		cmocka_unit_test(test_label_rules),
		cmocka_unit_test(test_label_count),
		cmocka_unit_test(test_unknown_service),
		cmocka_unit_test(test_split_by_samples),
		cmocka_unit_test(test_split_by_size),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_ingest),
		cmocka_unit_test(test_ingest_label_count),
		cmocka_unit_test(test_submit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
