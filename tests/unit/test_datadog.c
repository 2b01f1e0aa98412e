/* Tests for exporters/datadog.c: render intervals, take apart what would be
 * sent (the multipart body by hand, event.json with json-c, the zstd or
 * gzip pprof inside with libzstd/zlib and protobuf-c) and check it against
 * what the Datadog intake reads; the tag normalization table; then submit
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
#include <json-c/json.h>
#include <zstd.h>

#include "exporters/datadog.h"
#include "exporters/delivery.h"
#include "exporters/destination.h"
#include "exporters/profile.h"
#include "proto/profile.pb-c.h"
#include "tests/unit/support.h"

#define PERIOD_NS 10000000ULL  /* 100 Hz */
#define START_NS 1700000000500000000LL   /* 2023-11-14T22:13:20.500Z */
#define END_NS 1700000060007000000LL     /* 2023-11-14T22:14:20.007Z */
#define URL "http://127.0.0.1:8126/profiling/v1/input"

/* ---- building intervals ------------------------------------------------- */

static const char *const stack_a[] = { "main", "parent", "leaf_a" };
static const char *const stack_b[] = { "main", "parent", "leaf_b" };

static struct profile *new_profile(void)
{
	struct profile *p = profile__new(PERIOD_NS, START_NS, END_NS - START_NS);

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

static struct datadog_opts agent_opts(void)
{
	return (struct datadog_opts){ .name = "test", .url = URL };
}

/* ---- taking a request apart --------------------------------------------- */

struct part {
	char name[64], filename[64], ctype[64];
	const uint8_t *data;
	size_t len;
};

struct sent {
	char version[128];        /* DD-EVP-ORIGIN-VERSION */
	char boundary[128];
	struct part parts[4];
	size_t nparts;
	json_object *event;
	char **tags;
	size_t ntags;
	uint8_t *raw;             /* the decompressed pprof */
	size_t raw_len;
	Perftools__Profiles__Profile *prof;
};

/* The value of header name in r, or NULL. */
static const char *header(const struct http_request *r, const char *name)
{
	size_t n = strlen(name);

	for (const struct curl_slist *h = r->headers; h; h = h->next)
		if (!strncasecmp(h->data, name, n) && h->data[n] == ':')
			return h->data + n + 1 + (h->data[n + 1] == ' ');
	return NULL;
}

static const uint8_t *find(const uint8_t *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle));
}

/* A quoted parameter of a Content-Disposition line into out. */
static void disposition_param(const char *line, const char *param, char *out, size_t size)
{
	char key[32];
	const char *p, *q;

	snprintf(key, sizeof(key), "; %s=\"", param);
	p = strstr(line, key);
	assert_non_null(p);
	p += strlen(key);
	q = strchr(p, '"');
	assert_non_null(q);
	assert_true((size_t)(q - p) < size);
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
}

/* Splits a multipart/form-data body strictly: CRLF everywhere, every part
 * with Content-Disposition form-data, name, filename and Content-Type. */
static void split_multipart(const struct http_request *r, struct sent *s)
{
	const char *ct = header(r, "Content-Type");
	const uint8_t *p = r->body, *end = p + r->len;
	char delim[140];

	assert_non_null(ct);
	assert_true(!strncmp(ct, "multipart/form-data; boundary=", 30));
	snprintf(s->boundary, sizeof(s->boundary), "%s", ct + 30);
	assert_true(strlen(s->boundary) >= 16 && strlen(s->boundary) <= 70);
	snprintf(delim, sizeof(delim), "--%s", s->boundary);
	assert_true(r->len > strlen(delim) + 2);
	assert_memory_equal(p, delim, strlen(delim));
	p += strlen(delim);
	for (;;) {
		struct part *pt;
		const uint8_t *hdr_end, *next;
		char hdrs[512], *line, *save = NULL;
		char crlf_delim[144];

		if (end - p >= 2 && !memcmp(p, "--", 2)) {
			/* The close delimiter, then the final CRLF. */
			assert_int_equal(end - p, 4);
			assert_memory_equal(p, "--\r\n", 4);
			break;
		}
		assert_memory_equal(p, "\r\n", 2);
		p += 2;
		assert_true(s->nparts < 4);
		pt = &s->parts[s->nparts++];
		hdr_end = find(p, (size_t)(end - p), "\r\n\r\n");
		assert_non_null(hdr_end);
		assert_true((size_t)(hdr_end - p) < sizeof(hdrs));
		memcpy(hdrs, p, (size_t)(hdr_end - p));
		hdrs[hdr_end - p] = '\0';
		for (line = strtok_r(hdrs, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
			if (!strncasecmp(line, "Content-Disposition: ", 21)) {
				assert_true(!strncmp(line + 21, "form-data;", 10));
				disposition_param(line, "name", pt->name, sizeof(pt->name));
				disposition_param(line, "filename", pt->filename, sizeof(pt->filename));
			} else if (!strncasecmp(line, "Content-Type: ", 14)) {
				snprintf(pt->ctype, sizeof(pt->ctype), "%s", line + 14);
			} else {
				fail_msg("unexpected part header: %s", line);
			}
		}
		p = hdr_end + 4;
		snprintf(crlf_delim, sizeof(crlf_delim), "\r\n%s", delim);
		next = find(p, (size_t)(end - p), crlf_delim);
		assert_non_null(next);
		pt->data = p;
		pt->len = (size_t)(next - p);
		p = next + strlen(crlf_delim);
	}
}

static uint8_t *gunzip(const uint8_t *in, size_t len, size_t *out_len)
{
	size_t cap = len * 4 + 1024, n = 0;
	uint8_t *out = malloc(cap);
	z_stream zs;
	int ret;

	assert_non_null(out);
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

static uint8_t *unzstd(const uint8_t *in, size_t len, size_t *out_len)
{
	unsigned long long size = ZSTD_getFrameContentSize(in, len);
	uint8_t *out;
	size_t n;

	assert_true(size != ZSTD_CONTENTSIZE_ERROR && size != ZSTD_CONTENTSIZE_UNKNOWN);
	out = malloc(size ? size : 1);
	assert_non_null(out);
	n = ZSTD_decompress(out, size, in, len);
	assert_false(ZSTD_isError(n));
	assert_int_equal(n, size);
	*out_len = n;
	return out;
}

static json_object *event_field(const struct sent *s, const char *key)
{
	json_object *v = NULL;

	assert_true(json_object_object_get_ex(s->event, key, &v));
	return v;
}

static const char *want_url = URL;

/* Everything one request says, checked for the shape the intake requires;
 * want_zstd picks the compression expected. */
static struct sent take_apart(const struct http_request *r, bool want_zstd)
{
	struct sent s = { 0 };
	const struct part *ev, *pp;
	json_object *att;
	const char *tp;
	char *copy, *tok, *save = NULL;

	assert_string_equal(r->url, want_url);
	assert_string_equal(header(r, "DD-EVP-ORIGIN"), "ignis");
	/* The version itself is checked loosely: an object built at another
	 * commit carries another IGNIS_VERSION than this test. */
	assert_non_null(header(r, "DD-EVP-ORIGIN-VERSION"));
	assert_true(strlen(header(r, "DD-EVP-ORIGIN-VERSION")) > 0);
	snprintf(s.version, sizeof(s.version), "%s", header(r, "DD-EVP-ORIGIN-VERSION"));
	split_multipart(r, &s);
	assert_int_equal(s.nparts, 2);
	ev = &s.parts[0];
	pp = &s.parts[1];
	assert_string_equal(ev->name, "event");
	assert_string_equal(ev->filename, "event.json");
	assert_string_equal(ev->ctype, "application/json");
	assert_string_equal(pp->name, "cpu.pprof");
	assert_string_equal(pp->filename, "cpu.pprof");
	assert_string_equal(pp->ctype, "application/octet-stream");

	copy = strndup((const char *)ev->data, ev->len);
	s.event = json_tokener_parse(copy);
	free(copy);
	assert_non_null(s.event);
	assert_true(json_object_is_type(s.event, json_type_object));
	assert_string_equal(json_object_get_string(event_field(&s, "version")), "4");
	assert_string_equal(json_object_get_string(event_field(&s, "family")), "ebpf");
	att = event_field(&s, "attachments");
	assert_true(json_object_is_type(att, json_type_array));
	assert_int_equal(json_object_array_length(att), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(att, 0)), "cpu.pprof");

	tp = json_object_get_string(event_field(&s, "tags_profiler"));
	copy = strdup(tp);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		s.tags = realloc(s.tags, (s.ntags + 1) * sizeof(*s.tags));
		assert_non_null(s.tags);
		s.tags[s.ntags++] = strdup(tok);
	}
	free(copy);

	if (want_zstd) {
		assert_true(pp->len >= 4 && !memcmp(pp->data, "\x28\xb5\x2f\xfd", 4));
		s.raw = unzstd(pp->data, pp->len, &s.raw_len);
	} else {
		assert_true(pp->len >= 2 && pp->data[0] == 0x1f && pp->data[1] == 0x8b);
		s.raw = gunzip(pp->data, pp->len, &s.raw_len);
	}
	s.prof = perftools__profiles__profile__unpack(NULL, s.raw_len, s.raw);
	assert_non_null(s.prof);
	return s;
}

static void sent_free(struct sent *s)
{
	for (size_t i = 0; i < s->ntags; i++)
		free(s->tags[i]);
	free(s->tags);
	json_object_put(s->event);
	perftools__profiles__profile__free_unpacked(s->prof, NULL);
	free(s->raw);
}

static const char *str(const Perftools__Profiles__Profile *p, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < p->n_string_table);
	return p->string_table[i];
}

/* The value of the tag with that key ("" for none). */
static const char *tag_value(const struct sent *s, const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < s->ntags; i++)
		if (!strncmp(s->tags[i], key, n) && s->tags[i][n] == ':')
			return s->tags[i] + n + 1;
	return "";
}

static const char *leaf_name(const Perftools__Profiles__Profile *p,
			     const Perftools__Profiles__Sample *smp)
{
	uint64_t id = smp->location_id[0];

	for (size_t i = 0; i < p->n_location; i++) {
		if (p->location[i]->id != id)
			continue;
		for (size_t j = 0; j < p->n_function; j++)
			if (p->function[j]->id == p->location[i]->line[0]->function_id)
				return str(p, p->function[j]->name);
	}
	fail_msg("no location %" PRIu64, id);
	return NULL;
}

static void render(const struct datadog_opts *o, const struct interval *iv, uint64_t *seq,
		   struct http_request ***reqs, size_t *n, struct datadog_stats *st)
{
	assert_int_equal(datadog__render(o, iv, seq, reqs, n, st), 0);
}

static void reqs_free(struct http_request **reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		http_request__free(reqs[i]);
	free(reqs);
}

/* ---- tests -------------------------------------------------------------- */

static void test_one_series(void **state)
{
	const struct profile_label labels[] = {
		{ .key = "env", .str = "prod" },
		{ .key = "host", .str = "node-1" },
		{ .key = "service", .str = "checkout-api" },
		{ .key = "version", .str = "abc123" },
	};
	const char *const tags[] = { "team:core", "region:eu-west-1" };
	struct datadog_opts o = agent_opts();
	struct datadog_stats st = { 0 };
	struct profile *p = new_profile();
	uint32_t m = add_app_mapping(p);
	struct series s = { .labels = labels, .nlabels = 4, .profile = p };
	struct interval iv = one_series(&s);
	struct http_request **reqs = NULL;
	size_t n = 0, seen_a = 0, seen_b = 0;
	uint64_t seq = 7;
	char version_tag[DATADOG_MAX_TAG_LEN + 1];
	struct sent x;

	(void)state;
	o.tags = tags;
	o.ntags = 2;
	add_named(p, m, NULL, 0, 3, 3, stack_a);
	add_named(p, m, NULL, 0, 5, 3, stack_b);
	render(&o, &iv, &seq, &reqs, &n, &st);
	assert_int_equal(n, 1);
	assert_int_equal(seq, 8);
	assert_int_equal(st.profiles, 1);
	assert_int_equal(st.series, 1);
	assert_int_equal(st.trimmed_tags, 0);
	/* The interval is stamped on the request for the delivery's max_age. */
	assert_int_equal(reqs[0]->created_ns, START_NS);

	x = take_apart(reqs[0], true);
	assert_string_equal(json_object_get_string(event_field(&x, "start")), "2023-11-14T22:13:20.500Z");
	assert_string_equal(json_object_get_string(event_field(&x, "end")), "2023-11-14T22:14:20.007Z");
	assert_int_equal(datadog__normalize_tag("profiler_version", x.version, version_tag,
						sizeof(version_tag)), 0);
	{
		const char *want[] = {
			"service:checkout-api", "env:prod", "host:node-1", "version:abc123",
			"runtime:ebpf", version_tag, "profile_seq:7", "team:core",
			"region:eu-west-1",
		};

		assert_int_equal(x.ntags, sizeof(want) / sizeof(*want));
		for (size_t i = 0; i < x.ntags; i++)
			assert_string_equal(x.tags[i], want[i]);
	}

	/* The pprof: Datadog's CPU sample types and period. */
	assert_int_equal(x.prof->n_sample_type, 2);
	assert_string_equal(str(x.prof, x.prof->sample_type[0]->type), "cpu-samples");
	assert_string_equal(str(x.prof, x.prof->sample_type[0]->unit), "count");
	assert_string_equal(str(x.prof, x.prof->sample_type[1]->type), "cpu-time");
	assert_string_equal(str(x.prof, x.prof->sample_type[1]->unit), "nanoseconds");
	assert_non_null(x.prof->period_type);
	assert_string_equal(str(x.prof, x.prof->period_type->type), "cpu-time");
	assert_string_equal(str(x.prof, x.prof->period_type->unit), "nanoseconds");
	assert_int_equal(x.prof->period, PERIOD_NS);
	assert_string_equal(x.prof->string_table[0], "");
	assert_int_equal(x.prof->n_sample, 2);
	for (size_t i = 0; i < x.prof->n_sample; i++) {
		const Perftools__Profiles__Sample *smp = x.prof->sample[i];
		const char *leaf = leaf_name(x.prof, smp);
		int64_t want = !strcmp(leaf, "leaf_a") ? 3 : 5;

		seen_a += !strcmp(leaf, "leaf_a");
		seen_b += !strcmp(leaf, "leaf_b");
		assert_int_equal(smp->n_value, 2);
		assert_int_equal(smp->value[0], want);
		assert_int_equal(smp->value[1], want * (int64_t)PERIOD_NS);
		assert_int_equal(smp->n_label, 0);
	}
	assert_int_equal(seen_a, 1);
	assert_int_equal(seen_b, 1);
	sent_free(&x);
	reqs_free(reqs, n);
	profile__free(p);
}

/* The tags_profiler of one series rendered with o (host: the interval's). */
static void tags_of(const struct datadog_opts *o, const struct profile_label *labels, size_t n,
		    const char *host, const char *const *want, size_t nwant)
{
	struct profile *p = new_profile();
	struct series s = { .labels = labels, .nlabels = n, .profile = p };
	struct interval iv = one_series(&s);
	struct http_request **reqs = NULL;
	size_t nreqs = 0, k = 0;
	uint64_t seq = 1;
	struct sent x;

	iv.host = host;
	add_named(p, add_app_mapping(p), NULL, 0, 1, 3, stack_a);
	render(o, &iv, &seq, &reqs, &nreqs, NULL);
	assert_int_equal(nreqs, 1);
	x = take_apart(reqs[0], true);
	for (size_t i = 0; i < x.ntags; i++) {
		if (!strncmp(x.tags[i], "runtime:", 8) || !strncmp(x.tags[i], "profiler_version:", 17) ||
		    !strncmp(x.tags[i], "profile_seq:", 12))
			continue;
		assert_true(k < nwant);
		assert_string_equal(x.tags[i], want[k]);
		k++;
	}
	assert_int_equal(k, nwant);
	sent_free(&x);
	reqs_free(reqs, nreqs);
	profile__free(p);
}

/* service, env, version and host carry one value each: the workload's
 * wins, a static tag is the default where the workload has none. */
static void test_unified_tags_one_value(void **state)
{
	const struct profile_label prod[] = {
		{ .key = "env", .str = "prod" },
		{ .key = "host", .str = "node-1" },
		{ .key = "service", .str = "checkout-api" },
	};
	const struct profile_label bare[] = { { .key = "pod_name", .str = "web-1" } };
	const char *const statics[] = { "env:staging", "Version:1.2", "host:static-host",
					"service:fallback", "team:core" };
	struct datadog_opts o = agent_opts();

	(void)state;
	o.tags = statics;
	o.ntags = 5;
	{
		const char *want[] = { "service:checkout-api", "env:prod", "host:node-1",
				       "version:1.2", "team:core" };

		tags_of(&o, prod, 3, NULL, want, 5);
	}
	{
		const char *want[] = { "service:fallback", "pod_name:web-1", "env:staging",
				       "version:1.2", "host:static-host", "team:core" };

		tags_of(&o, bare, 1, NULL, want, 6);
	}
	/* Agentless: the interval's host when nothing else names one; never
	 * through an Agent (it adds its own). */
	o.ntags = 0;
	{
		const char *want[] = { "service:unnamed-service", "pod_name:web-1" };

		tags_of(&o, bare, 1, "node-9", want, 2);
	}
	o.api_key = "test-api-key-0001";
	{
		const char *want[] = { "service:unnamed-service", "pod_name:web-1", "host:node-9" };

		tags_of(&o, bare, 1, "node-9", want, 3);
	}
	{
		const char *want[] = { "service:checkout-api", "env:prod", "host:node-1" };

		tags_of(&o, prod, 3, "node-9", want, 3);
	}
}

struct norm_case {
	const char *key, *value, *want;  /* want NULL: -EINVAL */
};

static void test_normalize_table(void **state)
{
	char long_value[251], want_long[201], long_key[200], key198[199], want198[201], bare[201];
	const struct norm_case cases[] = {
		{ "env", "prod", "env:prod" },
		{ "Env", "PROD-US", "env:prod-us" },                 /* upper case */
		{ "env", "prod us", "env:prod_us" },                  /* spaces */
		{ "pod name", "web 1", "pod_name:web_1" },
		{ "1st", "x", "st:x" },                               /* key: leading digit dropped */
		{ "123", "x", NULL },                                 /* ... nothing left */
		{ "k", "9lives", "k:9lives" },                        /* a value may start with one */
		{ "version", "1.2.3/rc-1", "version:1.2.3/rc-1" },
		{ "k", "v:", "k:v" },                                 /* trailing colon */
		{ "k", "a::", "k:a" },
		{ "k", ":", NULL },
		{ "k", "a:b", "k:a:b" },                              /* ':' kept in values */
		{ "k:ey", "v", "k_ey:v" },                            /* ... not in keys */
		{ "k", "h\xc3\xa9llo w\xc3\xb6rld", "k:h_llo_w_rld" }, /* unicode */
		{ "k", "\xe6\x97\xa5\xe6\x9c\xac", NULL },            /* only unicode */
		{ "k", "a\xff\xfe" "b", "k:a_b" },                    /* invalid UTF-8 */
		{ "k", "a,b", "k:a_b" },                              /* the tag separator */
		{ "k", "a\\b", "k:a_b" },
		{ "k", "a__b", "k:a_b" },                             /* runs of '_' */
		{ "k", "a  !! b", "k:a_b" },
		{ "k", "#x", "k:_x" },
		{ "k", "x_", "k:x" },
		{ "key", NULL, "key" },                               /* bare tag */
		{ "_Key!", NULL, "key" },
		{ "", "v", NULL },
		{ "k", "", NULL },
		{ "k", "!!!", NULL },
		{ long_value, "v", NULL },                            /* 250-char key */
		{ "k", long_value, want_long },                       /* 250-char value */
		{ long_key, "v", NULL },                              /* no room for a value */
		{ key198, "xyz", want198 },
		{ long_value, NULL, bare },                           /* bare: cut at 200 */
	};
	char out[DATADOG_MAX_TAG_LEN + 1];

	(void)state;
	memset(long_value, 'a', 250);
	long_value[250] = '\0';
	memcpy(want_long, "k:", 2);
	memset(want_long + 2, 'a', 198);
	want_long[200] = '\0';
	memset(long_key, 'b', 199);
	long_key[199] = '\0';
	memset(key198, 'c', 198);
	key198[198] = '\0';
	memcpy(want198, key198, 198);
	memcpy(want198 + 198, ":x", 3);
	memset(bare, 'a', 200);
	bare[200] = '\0';

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const struct norm_case *c = &cases[i];
		int err = datadog__normalize_tag(c->key, c->value, out, sizeof(out));

		if (!c->want) {
			if (err != -EINVAL)
				fail_msg("case %zu (%s:%s): want -EINVAL, got %d (%s)", i, c->key,
					 c->value ? c->value : "(bare)", err, err ? "" : out);
			continue;
		}
		if (err)
			fail_msg("case %zu (%s:%s): %d", i, c->key, c->value ? c->value : "(bare)", err);
		assert_string_equal(out, c->want);
		assert_true(strlen(out) <= DATADOG_MAX_TAG_LEN);
	}
	/* Too small a buffer is said so, not cut. */
	assert_int_equal(datadog__normalize_tag("env", "prod", out, 8), -ENOSPC);
	assert_int_equal(datadog__normalize_tag("env", "prod", out, 9), 0);
	assert_string_equal(out, "env:prod");
}

static void test_tags_in_request(void **state)
{
	const struct profile_label labels[] = {
		{ .key = "Container Name", .str = "Web Server" },
		{ .key = "env", .str = "!!!" },           /* nothing valid: dropped */
		{ .key = "profile_seq", .str = "99" },    /* ours: dropped */
		{ .key = "replicas", .num = 3 },
		{ .key = "service", .str = "Checkout API" },
	};
	const char *const tags[] = {
		"Team:Core", "bare", ":novalue", "k:v:w", "runtime:jvm", "service:checkout_api",
	};
	struct datadog_opts o = agent_opts();
	struct datadog_stats st = { 0 };
	struct profile *p = new_profile();
	uint32_t m = add_app_mapping(p);
	struct series s = { .labels = labels, .nlabels = 5, .profile = p };
	struct interval iv = one_series(&s);
	struct http_request **reqs = NULL;
	size_t n = 0;
	uint64_t seq = 0;
	struct sent x;

	(void)state;
	o.tags = tags;
	o.ntags = 6;
	o.compression = DATADOG_GZIP;
	add_named(p, m, NULL, 0, 1, 3, stack_a);
	render(&o, &iv, &seq, &reqs, &n, &st);
	assert_int_equal(n, 1);
	x = take_apart(reqs[0], false);
	{
		const char *want[] = {
			"service:checkout_api", "container_name:web_server", "replicas:3",
			"runtime:ebpf", NULL, "profile_seq:0", "team:core", "bare", "k:v:w",
		};

		assert_int_equal(x.ntags, sizeof(want) / sizeof(*want));
		for (size_t i = 0; i < x.ntags; i++)
			if (want[i])
				assert_string_equal(x.tags[i], want[i]);
	}
	/* env:!!!, profile_seq:99, :novalue, runtime:jvm; service:checkout_api
	 * says again what is there and is not counted. */
	assert_int_equal(st.trimmed_tags, 4);
	for (size_t i = 0; i < x.ntags; i++) {
		const char *t = x.tags[i];

		assert_true(strlen(t) <= DATADOG_MAX_TAG_LEN);
		assert_true(t[0] >= 'a' && t[0] <= 'z');
		assert_true(t[strlen(t) - 1] != ':');
		assert_int_equal(strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789_-:./"), strlen(t));
	}
	sent_free(&x);
	reqs_free(reqs, n);
	profile__free(p);
}

static void test_service_fallback(void **state)
{
	const struct profile_label by_name[] = { { .key = "service_name", .str = "billing" } };
	const struct profile_label bad[] = {
		{ .key = "service", .str = "@@@" },
		{ .key = "service_name", .str = "payments" },
	};
	const struct profile_label none[] = { { .key = "host", .str = "n1" } };
	struct profile *p = new_profile();
	uint32_t m = add_app_mapping(p);
	struct series s[3] = {
		{ .labels = by_name, .nlabels = 1, .profile = p },
		{ .labels = bad, .nlabels = 2, .profile = p },
		{ .labels = none, .nlabels = 1, .profile = p },
	};
	struct interval iv = { .start_ns = START_NS, .end_ns = END_NS, .series = s, .nseries = 3 };
	struct datadog_opts o = agent_opts();
	struct datadog_stats st = { 0 };
	struct http_request **reqs = NULL;
	size_t n = 0;
	uint64_t seq = 0;
	const char *want[] = { "billing", "payments", "unnamed-service" };

	(void)state;
	add_named(p, m, NULL, 0, 1, 3, stack_a);
	render(&o, &iv, &seq, &reqs, &n, &st);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++) {
		struct sent x = take_apart(reqs[i], true);

		/* service comes first. */
		assert_true(!strncmp(x.tags[0], "service:", 8));
		assert_string_equal(tag_value(&x, "service"), want[i]);
		sent_free(&x);
	}
	/* The unusable service:@@@ is counted. */
	assert_int_equal(st.trimmed_tags, 1);
	reqs_free(reqs, n);
	profile__free(p);
}

/* The labels of sample i as "key=value" strings joined by ' ', in order. */
static void sample_labels_of(const Perftools__Profiles__Profile *p, size_t i, char *out, size_t size)
{
	const Perftools__Profiles__Sample *smp = p->sample[i];
	size_t o = 0;

	out[0] = '\0';
	for (size_t j = 0; j < smp->n_label; j++) {
		const Perftools__Profiles__Label *l = smp->label[j];

		if (l->str)
			o += (size_t)snprintf(out + o, size - o, "%s%s=%s", j ? " " : "",
					      str(p, l->key), str(p, l->str));
		else
			o += (size_t)snprintf(out + o, size - o, "%s%s=#%" PRId64, j ? " " : "",
					      str(p, l->key), l->num);
		assert_true(o < size);
	}
}

static void test_sample_labels(void **state)
{
	const struct profile_label sl[] = {
		{ .key = "pid", .num = 4242 },
		{ .key = "comm", .str = "worker-3" },
		{ .key = "tid", .num = 4250 },
		{ .key = "thread_name", .str = "io-loop" },
		{ .key = "container_id", .str = "0123abcd" },
		{ .key = "secret_label", .str = "x" },
	};
	const struct profile_label series_labels[] = { { .key = "service", .str = "svc" } };
	const char *const all[] = { "pid", "comm", "tid", "container_id" };
	const char *const both[] = { "comm", "thread_name" };
	struct profile *p = new_profile();
	uint32_t m = add_app_mapping(p);
	struct series s = { .labels = series_labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	struct datadog_opts o = agent_opts();
	struct http_request **reqs = NULL;
	size_t n = 0;
	uint64_t seq = 0;
	char got[256];
	struct sent x;

	(void)state;
	add_named(p, m, sl, 6, 2, 3, stack_a);

	/* Default: none. */
	render(&o, &iv, &seq, &reqs, &n, NULL);
	x = take_apart(reqs[0], true);
	assert_int_equal(x.prof->n_sample, 1);
	assert_int_equal(x.prof->sample[0]->n_label, 0);
	sent_free(&x);
	reqs_free(reqs, n);

	/* Renamed to Datadog's names; pid and tid as strings, as Datadog's
	 * own profilers send them (ddprof, the eBPF host profiler). */
	o.sample_labels = all;
	o.nsample_labels = 4;
	render(&o, &iv, &seq, &reqs, &n, NULL);
	x = take_apart(reqs[0], true);
	sample_labels_of(x.prof, 0, got, sizeof(got));
	assert_string_equal(got, "process_id=4242 thread name=worker-3 thread id=4250 container_id=0123abcd");
	sent_free(&x);
	reqs_free(reqs, n);

	/* comm and thread_name both asked for: one "thread name", thread_name's. */
	o.sample_labels = both;
	o.nsample_labels = 2;
	render(&o, &iv, &seq, &reqs, &n, NULL);
	x = take_apart(reqs[0], true);
	sample_labels_of(x.prof, 0, got, sizeof(got));
	assert_string_equal(got, "thread name=io-loop");
	sent_free(&x);
	reqs_free(reqs, n);
	profile__free(p);
}

/* The program's trace context as Datadog's tracers send it, go_labels under
 * their own keys, the OpenTelemetry spellings dropped; asked for or not. */
static void test_trace_labels(void **state)
{
	const struct profile_label sl[] = {
		{ .key = "pid", .num = 7 },
		{ .key = "span id", .str = "100009", .origin = PROFILE_LABEL_TRACE },
		{ .key = "local root span id", .str = "100000", .origin = PROFILE_LABEL_TRACE },
		{ .key = "trace_endpoint", .str = "GET /work", .origin = PROFILE_LABEL_TRACE },
		{ .key = "span_id", .str = "00000000000186a9", .origin = PROFILE_LABEL_TRACE },
		{ .key = "trace_id", .str = "0af7651916cd43dd8448eb211c80319c",
		  .origin = PROFILE_LABEL_TRACE },
		{ .key = "span_name", .str = "work", .origin = PROFILE_LABEL_TRACE },
		{ .key = "custom", .str = "c1", .origin = PROFILE_LABEL_PROGRAM },
	};
	const struct profile_label series_labels[] = { { .key = "service", .str = "svc" } };
	struct profile *p = new_profile();
	uint32_t m = add_app_mapping(p);
	struct series s = { .labels = series_labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	struct datadog_opts o = agent_opts();
	struct http_request **reqs = NULL;
	size_t n = 0;
	uint64_t seq = 0;
	char got[256];
	struct sent x;

	(void)state;
	add_named(p, m, sl, 8, 2, 3, stack_a);
	render(&o, &iv, &seq, &reqs, &n, NULL);
	x = take_apart(reqs[0], true);
	sample_labels_of(x.prof, 0, got, sizeof(got));
	assert_string_equal(got, "span id=100009 local root span id=100000 "
				 "trace endpoint=GET /work custom=c1");
	sent_free(&x);
	reqs_free(reqs, n);
	profile__free(p);
}

static void test_compressions_agree(void **state)
{
	const struct profile_label labels[] = { { .key = "service", .str = "svc" } };
	const struct profile_label sl[] = { { .key = "pid", .num = 7 } };
	const char *const pid[] = { "pid" };
	struct profile *p = new_profile();
	uint32_t m = add_app_mapping(p);
	struct series s = { .labels = labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	struct datadog_opts o = agent_opts();
	struct http_request **rz = NULL, **rg = NULL;
	size_t nz = 0, ng = 0;
	uint64_t seq = 0;
	struct sent z, g;

	(void)state;
	o.sample_labels = pid;
	o.nsample_labels = 1;
	add_named(p, m, sl, 1, 11, 3, stack_a);
	add_named(p, m, sl, 1, 13, 3, stack_b);
	o.compression = DATADOG_ZSTD;
	render(&o, &iv, &seq, &rz, &nz, NULL);
	o.compression = DATADOG_GZIP;
	render(&o, &iv, &seq, &rg, &ng, NULL);
	z = take_apart(rz[0], true);
	g = take_apart(rg[0], false);
	/* The same pprof under either compression. */
	assert_int_equal(z.raw_len, g.raw_len);
	assert_memory_equal(z.raw, g.raw, z.raw_len);
	assert_int_equal(z.prof->n_sample, 2);
	assert_int_equal(z.prof->sample[0]->value[0] + z.prof->sample[1]->value[0], 24);
	sent_free(&z);
	sent_free(&g);
	reqs_free(rz, nz);
	reqs_free(rg, ng);
	profile__free(p);
}

static void test_profile_seq_and_empty(void **state)
{
	const struct profile_label la[] = { { .key = "service", .str = "a" } };
	const struct profile_label lb[] = { { .key = "service", .str = "b" } };
	const struct profile_label lc[] = { { .key = "service", .str = "c" } };
	struct profile *pa = new_profile(), *pb = new_profile(), *pc = new_profile();
	uint32_t ma = add_app_mapping(pa), mc = add_app_mapping(pc);
	struct series s[3] = {
		{ .labels = la, .nlabels = 1, .profile = pa },
		{ .labels = lb, .nlabels = 1, .profile = pb },   /* no samples */
		{ .labels = lc, .nlabels = 1, .profile = pc },
	};
	struct interval iv = { .start_ns = START_NS, .end_ns = END_NS, .series = s, .nseries = 3 };
	struct interval empty = { .start_ns = START_NS, .end_ns = END_NS, .series = &s[1], .nseries = 1 };
	struct datadog_opts o = agent_opts();
	struct datadog_stats st = { 0 };
	struct http_request **reqs = NULL;
	size_t n = 0;
	uint64_t seq = 5;

	(void)state;
	add_named(pa, ma, NULL, 0, 1, 3, stack_a);
	add_named(pc, mc, NULL, 0, 1, 3, stack_b);
	render(&o, &iv, &seq, &reqs, &n, &st);
	assert_int_equal(n, 2);
	assert_int_equal(seq, 7);
	assert_int_equal(st.series, 2);
	assert_int_equal(st.profiles, 2);
	for (size_t i = 0; i < 2; i++) {
		struct sent x = take_apart(reqs[i], true);

		assert_string_equal(tag_value(&x, "service"), i ? "c" : "a");
		assert_string_equal(tag_value(&x, "profile_seq"), i ? "6" : "5");
		sent_free(&x);
	}
	reqs_free(reqs, n);

	/* The next interval goes on from there. */
	render(&o, &iv, &seq, &reqs, &n, NULL);
	{
		struct sent x = take_apart(reqs[0], true);

		assert_string_equal(tag_value(&x, "profile_seq"), "7");
		sent_free(&x);
	}
	reqs_free(reqs, n);
	assert_int_equal(seq, 9);

	/* Nothing to send: no request, no number used. */
	render(&o, &empty, &seq, &reqs, &n, NULL);
	assert_int_equal(n, 0);
	assert_int_equal(seq, 9);
	free(reqs);
	profile__free(pa);
	profile__free(pb);
	profile__free(pc);
}

/* A profile past 10 MiB compressed is dropped and counted; the series next
 * to it is sent and takes the next profile_seq. */
static void test_too_large(void **state)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const struct profile_label lbig[] = { { .key = "service", .str = "big" } };
	const struct profile_label lsmall[] = { { .key = "service", .str = "small" } };
	struct profile *big = new_profile(), *small = new_profile();
	uint32_t mb = add_app_mapping(big), ms = add_app_mapping(small);
	struct series s[2] = {
		{ .labels = lbig, .nlabels = 1, .profile = big },
		{ .labels = lsmall, .nlabels = 1, .profile = small },
	};
	struct interval iv = { .start_ns = START_NS, .end_ns = END_NS, .series = s, .nseries = 2 };
	struct datadog_opts o = agent_opts();
	struct datadog_stats st = { 0 };
	struct http_request **reqs = NULL;
	size_t n = 0, name_len = PROFILE_STRING_MAX;
	uint64_t seq = 3, x = 88172645463325252ULL;
	char *name = malloc(name_len + 1);
	struct sent sent;

	(void)state;
	assert_non_null(name);
	/* 256 frames named by 64 KiB (the most a profile string holds) of
	 * random base64 each: about 12 MiB once compressed, whatever the
	 * compressor. */
	for (size_t k = 0; k < 256; k++) {
		const char *names[] = { name };

		for (size_t i = 0; i < name_len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			name[i] = b64[x & 63];
		}
		name[name_len] = '\0';
		add_named(big, mb, NULL, 0, 1, 1, names);
	}
	free(name);
	add_named(small, ms, NULL, 0, 1, 3, stack_a);
	render(&o, &iv, &seq, &reqs, &n, &st);
	assert_int_equal(n, 1);
	assert_int_equal(st.dropped_too_large, 1);
	assert_int_equal(st.series, 2);
	assert_int_equal(st.profiles, 1);
	assert_int_equal(seq, 4);
	sent = take_apart(reqs[0], true);
	assert_string_equal(tag_value(&sent, "service"), "small");
	assert_string_equal(tag_value(&sent, "profile_seq"), "3");
	sent_free(&sent);
	reqs_free(reqs, n);
	profile__free(big);
	profile__free(small);
}

static void test_api_key_not_in_request(void **state)
{
	const struct profile_label labels[] = { { .key = "service", .str = "svc" } };
	struct profile *p = new_profile();
	uint32_t m = add_app_mapping(p);
	struct series s = { .labels = labels, .nlabels = 1, .profile = p };
	struct interval iv = one_series(&s);
	struct datadog_opts o = agent_opts();
	struct http_request **reqs = NULL;
	size_t n = 0;
	uint64_t seq = 0;

	(void)state;
	o.api_key = "0123456789abcdefSECRETKEY";
	add_named(p, m, NULL, 0, 1, 3, stack_a);
	render(&o, &iv, &seq, &reqs, &n, NULL);
	assert_int_equal(n, 1);
	/* Not in the queued request: the delivery adds it at each attempt. */
	assert_null(header(reqs[0], "DD-API-KEY"));
	for (const struct curl_slist *h = reqs[0]->headers; h; h = h->next)
		assert_null(strstr(h->data, "SECRETKEY"));
	assert_null(memmem(reqs[0]->body, reqs[0]->len, "SECRETKEY", 9));
	assert_null(strstr(reqs[0]->what, "SECRETKEY"));
	reqs_free(reqs, n);
	profile__free(p);
}

static void test_bad_opts(void **state)
{
	const char *const unknown[] = { "pod_name" };
	const char *const dup[] = { "pid", "pid" };
	struct interval iv = { .start_ns = START_NS, .end_ns = END_NS };
	struct http_request **reqs = NULL;
	size_t n = 0;
	uint64_t seq = 0;
	struct datadog_opts o;

	(void)state;
	o = agent_opts();
	o.url = "ftp://example.com/x";
	assert_int_equal(datadog__render(&o, &iv, &seq, &reqs, &n, NULL), -EINVAL);
	errno = 0;
	assert_null(datadog__new(&o));
	assert_int_equal(errno, EINVAL);

	o = agent_opts();
	o.api_key = "key\r\nX-Injected: 1";
	assert_null(datadog__new(&o));
	assert_int_equal(errno, EINVAL);
	o.api_key = "";
	assert_null(datadog__new(&o));

	o = agent_opts();
	o.sample_labels = unknown;
	o.nsample_labels = 1;
	assert_int_equal(datadog__render(&o, &iv, &seq, &reqs, &n, NULL), -EINVAL);
	o.sample_labels = dup;
	o.nsample_labels = 2;
	assert_int_equal(datadog__render(&o, &iv, &seq, &reqs, &n, NULL), -EINVAL);

	o = agent_opts();
	o.ntags = 1;  /* and no tags */
	assert_int_equal(datadog__render(&o, &iv, &seq, &reqs, &n, NULL), -EINVAL);
}

/* ---- a tiny intake on 127.0.0.1 ----------------------------------------- */

#define MAXREQ 8

struct server {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t lock;
	size_t nreq;
	char paths[MAXREQ][128];
	char *heads[MAXREQ];
	uint8_t *bodies[MAXREQ];
	size_t lens[MAXREQ];
};

static ssize_t find_crlf2(const char *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4))
			return (ssize_t)i;
	return -1;
}

/* One connection: requests one after another (keep-alive), each answered
 * 202 as the agentless intake does. */
static void serve_conn(struct server *sv, int c)
{
	size_t have = 0, cap = 1 << 20;
	char *buf = malloc(cap);

	assert_non_null(buf);
	for (;;) {
		ssize_t end, r;
		size_t clen = 0, need;
		const char *cl;

		while ((end = find_crlf2(buf, have)) < 0) {
			if (have == cap)
				goto out;
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
		if (sv->nreq < MAXREQ) {
			sscanf(buf, "POST %127s", sv->paths[sv->nreq]);
			sv->heads[sv->nreq] = strdup(buf);
			sv->bodies[sv->nreq] = malloc(clen ? clen : 1);
			memcpy(sv->bodies[sv->nreq], buf + end + 4, clen);
			sv->lens[sv->nreq] = clen;
		}
		sv->nreq++;
		pthread_mutex_unlock(&sv->lock);
		send(c, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 44, MSG_NOSIGNAL);
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
	for (size_t i = 0; i < sv->nreq && i < MAXREQ; i++) {
		free(sv->bodies[i]);
		free(sv->heads[i]);
	}
}

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void test_submit(void **state)
{
	const struct profile_label la[] = { { .key = "service", .str = "one" } };
	const struct profile_label lb[] = { { .key = "service", .str = "two" } };
	struct profile *pa = new_profile(), *pb = new_profile();
	uint32_t ma = add_app_mapping(pa), mb = add_app_mapping(pb);
	struct series s[2] = {
		{ .labels = la, .nlabels = 1, .profile = pa },
		{ .labels = lb, .nlabels = 1, .profile = pb },
	};
	struct interval iv = { .series = s, .nseries = 2 };
	struct datadog_opts o = agent_opts();
	struct datadog_stats st;
	struct datadog *dd;
	struct server sv;
	char url[96];

	(void)state;
	add_named(pa, ma, NULL, 0, 2, 3, stack_a);
	add_named(pb, mb, NULL, 0, 4, 3, stack_b);
	/* Fresh timestamps: the delivery drops data older than an hour. */
	iv.start_ns = now_ns(CLOCK_REALTIME) - 60000000000LL;
	iv.end_ns = iv.start_ns + 60000000000LL;

	server_start(&sv);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v2/profile", sv.port);
	o.url = url;
	o.api_key = "test-api-key-0001";
	o.delivery.timeout_ms = 5000;
	dd = datadog__new(&o);
	assert_non_null(dd);
	assert_int_equal(datadog__submit(dd, &iv), 0);
	assert_int_equal(datadog__submit(dd, &iv), 0);
	assert_int_equal(httpdest__drain(dd, now_ns(CLOCK_MONOTONIC) + 20000000000LL), 0);
	datadog__stats(dd, &st);
	assert_int_equal(st.profiles, 4);
	assert_int_equal(st.series, 4);
	assert_int_equal(st.delivery.sent, 4);
	datadog__free(dd);
	server_stop(&sv);

	/* In order, profile_seq counting per destination across intervals; the
	 * API key added by the delivery on the way out. */
	assert_int_equal(sv.nreq, 4);
	want_url = url;
	for (size_t i = 0; i < 4; i++) {
		struct http_request r = { .url = url, .body = sv.bodies[i], .len = sv.lens[i] };
		const char *ct = strcasestr(sv.heads[i], "\r\ncontent-type: ");
		char line[160], seq[8];
		struct sent x;

		assert_string_equal(sv.paths[i], "/api/v2/profile");
		assert_non_null(strcasestr(sv.heads[i], "\r\nDD-API-KEY: test-api-key-0001\r\n"));
		assert_non_null(strcasestr(sv.heads[i], "\r\nDD-EVP-ORIGIN: ignis\r\n"));
		assert_non_null(ct);
		snprintf(line, sizeof(line), "Content-Type: %.*s", (int)strcspn(ct + 16, "\r"), ct + 16);
		r.headers = curl_slist_append(NULL, line);
		r.headers = curl_slist_append(r.headers, "DD-EVP-ORIGIN: ignis");
		r.headers = curl_slist_append(r.headers, "DD-EVP-ORIGIN-VERSION: x");
		x = take_apart(&r, true);
		assert_string_equal(tag_value(&x, "service"), i % 2 ? "two" : "one");
		snprintf(seq, sizeof(seq), "%zu", i);
		assert_string_equal(tag_value(&x, "profile_seq"), seq);
		sent_free(&x);
		curl_slist_free_all(r.headers);
	}
	want_url = URL;
	server_free(&sv);
	profile__free(pa);
	profile__free(pb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_series),
		cmocka_unit_test(test_normalize_table),
		cmocka_unit_test(test_tags_in_request),
		cmocka_unit_test(test_service_fallback),
		cmocka_unit_test(test_sample_labels),
		cmocka_unit_test(test_trace_labels),
		cmocka_unit_test(test_compressions_agree),
		cmocka_unit_test(test_profile_seq_and_empty),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_unified_tags_one_value),
		cmocka_unit_test(test_api_key_not_in_request),
		cmocka_unit_test(test_bad_opts),
		cmocka_unit_test(test_submit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
