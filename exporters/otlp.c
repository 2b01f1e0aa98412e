/* OTLP profiles rendering and submission (see otlp.h for what a request
 * carries).
 *
 * Choices and their reasons:
 *  - OTLP/HTTP with binary protobuf, not gRPC: gRPC needs HTTP/2 with
 *    length-prefixed messages and its status in HTTP trailers, which
 *    libcurl neither frames nor exposes (no trailer access in the easy
 *    API); every OTLP receiver that speaks gRPC also serves OTLP/HTTP.
 *  - One request per interval, every series in it, one dictionary: the
 *    dictionary is shared by the whole request, so a function or a binary
 *    seen in ten workloads is sent once. Split by series only past the size
 *    bound, each part with a dictionary of its own.
 *  - The dictionary is built by content, not by the profile's pointers:
 *    every series is a profile of its own with its own interned strings.
 *    Each table holds its items as bytes (the indices and numbers that make
 *    the item) in one pool, with a hash index; the protobuf-c messages are
 *    laid over the pool once nothing grows any more.
 *  - Values are sample counts (samples/count) with cpu/nanoseconds as the
 *    period type, as the OpenTelemetry eBPF profiler sends them; the CPU
 *    time is count x period.
 *  - A series' off-CPU time (sampling.off_cpu) is a second Profile beside
 *    its CPU one in the same ScopeProfiles, as the OpenTelemetry eBPF
 *    profiler sends it: sample type off_cpu/nanoseconds, no period, each
 *    value the nanoseconds blocked. Pyroscope's OTLP ingest names exactly
 *    that shape (type:unit:period "off_cpu:nanoseconds::") __name__
 *    off_cpu (pkg/ingester/otlp/convert.go).
 *  - Samples with the same stack, attributes and link are one Sample (the
 *    specification's identity of a sample): labels the destination drops
 *    can make two source samples one.
 *  - Resource attributes are plain KeyValue with the key as a string (not
 *    key_strindex, an alpha feature of the profiles signal), and attribute
 *    values plain string_value, which any receiver reads.
 *  - A span id alone (dd-trace-go's "span id" without a trace id) cannot
 *    make a valid Link (an all-zero trace id is invalid): it stays an
 *    attribute. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/array.h"
#include "base/backoff.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "base/utf8.h"
#include "exporters/otlp.h"
#include "exporters/pprof.h"
#include "exporters/profile.h"
#include "exporters/tagmap.h"
#include "http/http.h"
#include "proto/otlp/opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"
#include "proto/rpc_status.pb-c.h"

#define SCOPE_NAME "ignis"
#define UNKNOWN_SERVICE "unknown_service"
#define BUILD_ID_ATTR "process.executable.build_id.gnu"
#define FRAME_TYPE_ATTR "profile.frame.type"
#define KERNEL_FILE "[kernel.kallsyms]"
/* Words of a location before its lines: mapping, address, frame type. */
#define LOC_HEAD 3

typedef Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary PbDict;
typedef Opentelemetry__Proto__Profiles__V1development__ResourceProfiles PbResourceProfiles;
typedef Opentelemetry__Proto__Profiles__V1development__ScopeProfiles PbScopeProfiles;
typedef Opentelemetry__Proto__Profiles__V1development__Profile PbProfile;
typedef Opentelemetry__Proto__Profiles__V1development__ValueType PbValueType;
typedef Opentelemetry__Proto__Profiles__V1development__Sample PbSample;
typedef Opentelemetry__Proto__Profiles__V1development__Mapping PbMapping;
typedef Opentelemetry__Proto__Profiles__V1development__Location PbLocation;
typedef Opentelemetry__Proto__Profiles__V1development__Line PbLine;
typedef Opentelemetry__Proto__Profiles__V1development__Function PbFunction;
typedef Opentelemetry__Proto__Profiles__V1development__Stack PbStack;
typedef Opentelemetry__Proto__Profiles__V1development__Link PbLink;
typedef Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit PbKvu;
typedef Opentelemetry__Proto__Common__V1__AnyValue PbAny;
typedef Opentelemetry__Proto__Common__V1__KeyValue PbKv;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope PbScope;
typedef Opentelemetry__Proto__Resource__V1__Resource PbResource;
typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest PbRequest;
typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceResponse PbResponse;

/* ---- a table of byte strings, deduplicated -------------------------------- */

struct blob {
	size_t off, len;
};

struct tab {
	uint8_t *pool;          /* items 8-aligned, each followed by a NUL */
	size_t plen, pcap;
	struct blob *v;
	size_t n, cap;
	struct hashidx idx;
};

struct key {
	const void *p;
	size_t len;
};

static bool tab_eq(const void *ctx, uint32_t i, const void *key)
{
	const struct tab *t = ctx;
	const struct key *k = key;

	return t->v[i].len == k->len && !memcmp(t->pool + t->v[i].off, k->p, k->len);
}

/* Items are mostly words (indices, addresses): mixed 8 bytes at a time,
 * a quarter of the multiplications of a byte-wise hash. */
static uint64_t hash_blob(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h = len, w;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, b + i, 8);
		h = hash_mix(h, w);
	}
	if (i < len) {
		w = 0;
		memcpy(&w, b + i, len - i);
		h = hash_mix(h, w);
	}
	return h;
}

/* The index of the item p[0..len), added when new (*added). */
static int tab__add(struct tab *t, const void *p, size_t len, int32_t *out, bool *added)
{
	struct key k = { p, len };
	uint64_t h = hash_blob(p, len);
	size_t slot, off;
	int64_t i;
	int err;

	if (added)
		*added = false;
	err = hashidx__reserve(&t->idx, 1);
	if (err)
		return err;
	i = hashidx__find(&t->idx, h, tab_eq, t, &k, &slot);
	if (i >= 0) {
		*out = (int32_t)i;
		return 0;
	}
	if (t->n >= INT32_MAX)
		return -E2BIG;
	off = (t->plen + 7) & ~(size_t)7;
	err = ARRAY_RESERVE(t->pool, &t->pcap, off + len + 1);
	if (!err)
		err = ARRAY_RESERVE(t->v, &t->cap, t->n + 1);
	if (err)
		return err;
	if (len)
		memcpy(t->pool + off, p, len);
	t->pool[off + len] = 0;
	t->plen = off + len + 1;
	t->v[t->n] = (struct blob){ off, len };
	hashidx__set(&t->idx, slot, h, (uint32_t)t->n);
	*out = (int32_t)t->n++;
	if (added)
		*added = true;
	return 0;
}

static const void *tab__at(const struct tab *t, size_t i)
{
	return t->pool + t->v[i].off;
}

static void tab__free(struct tab *t)
{
	hashidx__free(&t->idx);
	free(t->pool);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* ---- the encoder ------------------------------------------------------------ */

/* Items as their tables hold them (int64 words, so no padding bytes):
 *   function  name, system name, file (string indices), start line
 *   mapping   start, limit, offset, file, build-id attribute
 *   location  mapping, address, frame-type attribute (kernel frames'
 *             "kernel", else none), then (function, line) per line
 *   attribute key, kind, value (a string index or the number)
 *   stack     int32 location indices; link: trace id 16 + span id 8 bytes
 *   sample    int32 stack, link, then the sorted attribute indices */
enum { ATTR_STR = 1, ATTR_INT = 2 };

struct dict {
	struct tab strs, fns, maps, locs, stacks, attrs, links;
};

/* A function of one series' profile by its interned pointers (equal
 * pointers, equal strings): spares hashing the strings of every frame. */
struct fn_key {
	const char *name, *system_name, *file;
	int64_t start_line;
	int64_t idx;
};

struct series_enc {
	const struct series *s;
	const struct profile *prof;  /* s->profile, or s->offcpu */
	bool offcpu;
	struct fn_key *fk;
	size_t nfk, fk_cap;
	struct hashidx fk_tab;
	struct tab samples;
	int64_t *vals;          /* per sample entry */
	size_t vals_cap;
	int32_t *map_idx;       /* the profile's mapping id -> mapping index, -1: not yet */
	bool *map_kernel;       /* the profile's mapping id -> the kernel's */
	size_t nmaps;
	uint8_t id[16];
};

struct enc {
	const struct otlp_opts *o;
	const struct interval *iv;
	struct dict d;
	int32_t kernel_attr;    /* profile.frame.type=kernel, 0 until needed */
	struct series_enc *ser;
	size_t nser;
	/* scratch, per sample */
	int64_t *words;
	size_t words_cap;
	int32_t *ints;
	size_t ints_cap;
	/* everything the messages are laid out in */
	void **allocs;
	size_t nallocs, allocs_cap;
	struct otlp_stats st;
};

static void *enc__alloc(struct enc *e, size_t n, size_t size)
{
	void *p;

	if (ARRAY_RESERVE(e->allocs, &e->allocs_cap, e->nallocs + 1))
		return NULL;
	p = calloc(n ? n : 1, size);
	if (p)
		e->allocs[e->nallocs++] = p;
	return p;
}

static void enc__free(struct enc *e)
{
	struct tab *t[] = { &e->d.strs, &e->d.fns, &e->d.maps, &e->d.locs, &e->d.stacks,
			    &e->d.attrs, &e->d.links };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		tab__free(t[i]);
	for (size_t i = 0; i < e->nser; i++) {
		tab__free(&e->ser[i].samples);
		free(e->ser[i].fk);
		hashidx__free(&e->ser[i].fk_tab);
		free(e->ser[i].vals);
		free(e->ser[i].map_idx);
		free(e->ser[i].map_kernel);
	}
	free(e->ser);
	free(e->words);
	free(e->ints);
	for (size_t i = 0; i < e->nallocs; i++)
		free(e->allocs[i]);
	free(e->allocs);
}

/* s, or when it is not valid UTF-8 (a series label from a file in another
 * encoding, a Go label's bytes) a copy with U+FFFD for each bad byte, as
 * the profile's own strings: protobuf strings must be UTF-8, and receivers
 * refuse the whole request otherwise. The copy lives until the request is
 * packed. NULL when out of memory. */
static const char *utf8_clean(struct enc *e, const char *s)
{
	size_t len = strlen(s);
	char *out;

	if (utf8__valid(s, len))
		return s;
	if (ARRAY_RESERVE(e->allocs, &e->allocs_cap, e->nallocs + 1))
		return NULL;
	out = utf8__valid_copy(s, len, 3 * len + 3, NULL);
	if (!out)
		return NULL;
	e->allocs[e->nallocs++] = out;
	e->st.fixed_strings++;
	return out;
}

static int str_idx(struct enc *e, const char *s, int64_t *out)
{
	int32_t i = 0;
	int err = 0;

	if (s && *s) {
		s = utf8_clean(e, s);
		err = s ? tab__add(&e->d.strs, s, strlen(s), &i, NULL) : -ENOMEM;
	}
	*out = i;
	return err;
}

/* The zero value of every table at index 0 (the specification's rule);
 * link 0 is the 16 + 8 zero bytes it recommends. */
static int dict__init(struct dict *d)
{
	static const int64_t zeros[5];
	static const uint8_t zero_link[24];
	int32_t i;
	int err;

	if ((err = tab__add(&d->strs, "", 0, &i, NULL)) ||
	    (err = tab__add(&d->fns, zeros, 4 * sizeof(int64_t), &i, NULL)) ||
	    (err = tab__add(&d->maps, zeros, 5 * sizeof(int64_t), &i, NULL)) ||
	    (err = tab__add(&d->locs, zeros, LOC_HEAD * sizeof(int64_t), &i, NULL)) ||
	    (err = tab__add(&d->stacks, zeros, 0, &i, NULL)) ||
	    (err = tab__add(&d->attrs, zeros, 3 * sizeof(int64_t), &i, NULL)) ||
	    (err = tab__add(&d->links, zero_link, sizeof(zero_link), &i, NULL)))
		return err;
	return 0;
}

static int attr_idx(struct enc *e, const char *key, const char *str, int64_t num, int32_t *out)
{
	int64_t w[3];
	int err;

	if ((err = str_idx(e, key, &w[0])))
		return err;
	if (str) {
		w[1] = ATTR_STR;
		if ((err = str_idx(e, str, &w[2])))
			return err;
	} else {
		w[1] = ATTR_INT;
		w[2] = num;
	}
	return tab__add(&e->d.attrs, w, sizeof(w), out, NULL);
}

static int mapping_idx(struct enc *e, struct series_enc *se, uint32_t id, int64_t *out)
{
	const struct profile_mapping *m;
	int64_t w[5];
	int32_t i;
	int err;

	if (!id || id > se->nmaps) {
		*out = 0;
		return 0;
	}
	if (se->map_idx[id] >= 0) {
		*out = se->map_idx[id];
		return 0;
	}
	m = profile__mapping(se->prof, id);
	w[0] = (int64_t)m->start;
	w[1] = (int64_t)m->limit;
	w[2] = (int64_t)m->offset;
	if ((err = str_idx(e, m->file, &w[3])))
		return err;
	w[4] = 0;
	if (m->build_id && *m->build_id) {
		if ((err = attr_idx(e, BUILD_ID_ATTR, m->build_id, 0, &i)))
			return err;
		w[4] = i;
	}
	if ((err = tab__add(&e->d.maps, w, sizeof(w), &i, NULL)))
		return err;
	se->map_idx[id] = i;
	se->map_kernel[id] = m->file && !strcmp(m->file, KERNEL_FILE);
	*out = i;
	return 0;
}

static bool fk_eq(const void *ctx, uint32_t i, const void *key)
{
	const struct fn_key *a = &((const struct series_enc *)ctx)->fk[i], *b = key;

	return a->name == b->name && a->system_name == b->system_name && a->file == b->file &&
	       a->start_line == b->start_line;
}

static int function_idx(struct enc *e, struct series_enc *se, const struct profile_frame *f,
			int64_t *out)
{
	struct fn_key k = { f->function, f->system_name, f->file, f->start_line, 0 };
	uint64_t h = hash_mix(hash_mix(hash_mix(hash_mix(0, (uintptr_t)k.name),
						(uintptr_t)k.system_name), (uintptr_t)k.file),
			      (uint64_t)k.start_line);
	size_t slot;
	int64_t w[4], found;
	int32_t i;
	int err;

	if ((err = hashidx__reserve(&se->fk_tab, 1)))
		return err;
	found = hashidx__find(&se->fk_tab, h, fk_eq, se, &k, &slot);
	if (found >= 0) {
		*out = se->fk[found].idx;
		return 0;
	}
	if (se->nfk >= UINT32_MAX - 1)
		return -E2BIG;
	if ((err = ARRAY_RESERVE(se->fk, &se->fk_cap, se->nfk + 1)))
		return err;

	/* A Function needs a name, a system name or a file. */
	if ((err = str_idx(e, f->function && *f->function ? f->function : "[unknown]", &w[0])) ||
	    (err = str_idx(e, f->system_name, &w[1])) || (err = str_idx(e, f->file, &w[2])))
		return err;
	w[3] = f->start_line;
	if ((err = tab__add(&e->d.fns, w, sizeof(w), &i, NULL)))
		return err;
	k.idx = i;
	se->fk[se->nfk] = k;
	hashidx__set(&se->fk_tab, slot, h, (uint32_t)se->nfk++);
	*out = i;
	return 0;
}

static int words_reserve(struct enc *e, size_t n)
{
	return ARRAY_RESERVE(e->words, &e->words_cap, n);
}

/* The stack of a sample, leaf first: a location per frame that is not
 * inlined into the next one (a trailing inlined frame closes its own),
 * its lines innermost first as the specification orders them. */
static int stack_idx(struct enc *e, struct series_enc *se, const struct profile_sample *s,
		     int32_t *out)
{
	size_t nf = s->nframes, nloc = 0, f = 0;
	int err;

	if ((err = ARRAY_RESERVE(e->ints, &e->ints_cap, nf + 2 + 64)))
		return err;
	while (f < nf) {
		const struct profile_frame *last;
		size_t start = f, n = 0;
		int32_t li;

		while ((last = profile__frame(se->prof, s->frame_ids[f]))->inlined && f + 1 < nf)
			f++;
		if ((err = words_reserve(e, LOC_HEAD + 2 * (f - start + 1))))
			return err;
		if ((err = mapping_idx(e, se, last->mapping, &e->words[0])))
			return err;
		e->words[1] = (int64_t)last->address;
		e->words[2] = 0;
		if (e->words[0] && se->map_kernel[last->mapping]) {
			if (!e->kernel_attr &&
			    (err = attr_idx(e, FRAME_TYPE_ATTR, "kernel", 0, &e->kernel_attr)))
				return err;
			e->words[2] = e->kernel_attr;
		}
		for (size_t k = start; k <= f; k++, n++) {
			const struct profile_frame *fr = profile__frame(se->prof, s->frame_ids[k]);
			int64_t fi;

			if ((err = function_idx(e, se, fr, &fi)))
				return err;
			e->words[LOC_HEAD + 2 * n] = fi;
			e->words[LOC_HEAD + 1 + 2 * n] = fr->line;
		}
		if ((err = tab__add(&e->d.locs, e->words, (LOC_HEAD + 2 * n) * sizeof(int64_t), &li,
				    NULL)))
			return err;
		e->ints[nloc++] = li;
		f++;
	}
	return tab__add(&e->d.stacks, e->ints, nloc * sizeof(int32_t), out, NULL);
}

/* ---- per-sample labels ----------------------------------------------------- */

static const struct {
	const char *label, *attr;
} agent_labels[] = {
	{ "pid", "process.pid" },
	{ "tid", "thread.id" },
	{ "comm", "thread.name" },
	{ "thread_name", "thread.name" },
	{ "container_id", "container.id" },
};

static bool is_span_key(const char *k)
{
	return !strcmp(k, "span_id") || !strcmp(k, "span id");
}

static bool is_trace_key(const char *k)
{
	return !strcmp(k, "trace_id") || !strcmp(k, "trace id");
}

static bool asked(const struct otlp_opts *o, const char *key)
{
	for (size_t i = 0; i < o->nsample_labels; i++)
		if (!strcmp(o->sample_labels[i], key))
			return true;
	return false;
}

static bool hexval(char c, uint8_t *v)
{
	if (c >= '0' && c <= '9')
		*v = (uint8_t)(c - '0');
	else if (c >= 'a' && c <= 'f')
		*v = (uint8_t)(c - 'a' + 10);
	else if (c >= 'A' && c <= 'F')
		*v = (uint8_t)(c - 'A' + 10);
	else
		return false;
	return true;
}

bool otlp__parse_id(const char *s, uint8_t *out, size_t n)
{
	size_t len = s ? strlen(s) : 0;
	bool nonzero = false;

	if (!len || (n != 8 && n != 16))
		return false;
	memset(out, 0, n);
	if (len == 2 * n) {
		size_t i;

		for (i = 0; i < n; i++) {
			uint8_t hi, lo;

			if (!hexval(s[2 * i], &hi) || !hexval(s[2 * i + 1], &lo))
				break;
			out[i] = (uint8_t)(hi << 4 | lo);
			nonzero |= out[i] != 0;
		}
		if (i == n)
			return nonzero;
		memset(out, 0, n);
	}
	if (len <= 20 && strspn(s, "0123456789") == len) {
		uint64_t v = 0;

		for (size_t i = 0; i < len; i++) {
			unsigned d = (unsigned)(s[i] - '0');

			if (v > (UINT64_MAX - d) / 10)
				return false;
			v = v * 10 + d;
		}
		for (size_t i = 0; i < 8; i++)
			out[n - 1 - i] = (uint8_t)(v >> (8 * i));
		return v != 0;
	}
	return false;
}

/* An id label's value as text (numbers in decimal). */
static const char *label_text(const struct profile_label *l, char buf[32])
{
	if (l->str)
		return l->str;
	snprintf(buf, 32, "%" PRIu64, (uint64_t)l->num);
	return buf;
}

/* The sample's link index: 0 unless it has a valid span and trace id. */
static int link_idx(struct enc *e, const struct profile_sample *s, int32_t *out)
{
	const struct profile_label *span = NULL, *trace = NULL;
	uint8_t id[24];
	char b1[32], b2[32];

	*out = 0;
	for (size_t i = 0; i < s->nlabels; i++) {
		const char *k = s->labels[i].key;

		if (!k)
			continue;
		if (is_span_key(k) && !span)
			span = &s->labels[i];
		else if (is_trace_key(k) && !trace)
			trace = &s->labels[i];
	}
	if (!span || !trace || !otlp__parse_id(label_text(trace, b1), id, 16) ||
	    !otlp__parse_id(label_text(span, b2), id + 16, 8))
		return 0;
	return tab__add(&e->d.links, id, sizeof(id), out, NULL);
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

/* The sample's attributes into e->ints from [2], sorted; their count. */
static int sample_attrs(struct enc *e, const struct profile_sample *s, bool linked, size_t *n)
{
	const struct otlp_opts *o = e->o;
	bool has_thread_name = false;
	size_t na = 0;
	int64_t keys[64];
	int err;

	if ((err = ARRAY_RESERVE(e->ints, &e->ints_cap, 2 + s->nlabels + 1)))
		return err;
	for (size_t i = 0; i < s->nlabels; i++)
		has_thread_name |= s->labels[i].key && !strcmp(s->labels[i].key, "thread_name") &&
				   asked(o, "thread_name");
	for (size_t i = 0; i < s->nlabels && na < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct profile_label *l = &s->labels[i];
		const char *key = l->key;
		size_t j;
		int64_t ki;
		int32_t ai;

		if (!key || !*key || (l->str && !*l->str))
			continue;
		if (linked && (is_span_key(key) || is_trace_key(key)))
			continue;
		for (j = 0; j < sizeof(agent_labels) / sizeof(agent_labels[0]); j++)
			if (!strcmp(key, agent_labels[j].label))
				break;
		if (j < sizeof(agent_labels) / sizeof(agent_labels[0])) {
			if (!asked(o, key) || (has_thread_name && !strcmp(key, "comm")))
				continue;
			key = agent_labels[j].attr;
		}
		/* Keys are unique among a sample's attributes. */
		if ((err = str_idx(e, key, &ki)))
			return err;
		for (j = 0; j < na && keys[j] != ki; j++)
			;
		if (j < na)
			continue;
		if ((err = attr_idx(e, key, l->str, l->num, &ai)))
			return err;
		keys[na] = ki;
		e->ints[2 + na++] = ai;
	}
	qsort(e->ints + 2, na, sizeof(int32_t), cmp_i32);
	*n = na;
	return 0;
}

static int add_sample(struct enc *e, struct series_enc *se, const struct profile_sample *s)
{
	int32_t stack, link, idx;
	size_t na;
	bool added;
	int err;

	if ((err = stack_idx(e, se, s, &stack)) || (err = link_idx(e, s, &link)) ||
	    (err = sample_attrs(e, s, link != 0, &na)))
		return err;
	e->ints[0] = stack;
	e->ints[1] = link;
	if ((err = tab__add(&se->samples, e->ints, (2 + na) * sizeof(int32_t), &idx, &added)))
		return err;
	if (added) {
		if ((err = ARRAY_RESERVE(se->vals, &se->vals_cap, (size_t)idx + 1)))
			return err;
		se->vals[idx] = 0;
	}
	if (se->offcpu) {
		se->vals[idx] += (int64_t)s->value;
		return 0;
	}
	if (link)
		e->st.linked_samples += s->count;
	se->vals[idx] += (int64_t)s->count;
	e->st.samples += s->count;
	return 0;
}

/* A profile id: random, never all zeros (that id is invalid). */
static void random_id(uint8_t id[16])
{
	rng__bytes(id, 16);
	id[0] |= 1;
}

static bool has_samples(const struct profile *p)
{
	return p && profile__sample_count(p) > 0;
}

/* One profile of series s: its CPU samples, or with offcpu its off-CPU
 * time. */
static int encode_series(struct enc *e, struct series_enc *se, const struct series *s,
			 bool offcpu)
{
	const struct profile *prof = offcpu ? s->offcpu : s->profile;
	size_t n = profile__sample_count(prof);
	int err;

	se->s = s;
	se->prof = prof;
	se->offcpu = offcpu;
	se->nmaps = profile__mapping_count(prof);
	se->map_idx = malloc((se->nmaps + 1) * sizeof(*se->map_idx));
	se->map_kernel = calloc(se->nmaps + 1, sizeof(*se->map_kernel));
	if (!se->map_idx || !se->map_kernel)
		return -ENOMEM;
	for (size_t i = 0; i <= se->nmaps; i++)
		se->map_idx[i] = -1;
	random_id(se->id);
	for (size_t i = 0; i < n; i++)
		if ((err = add_sample(e, se, profile__sample(prof, i))))
			return err;
	return 0;
}

/* ---- laying out the messages ------------------------------------------------ */

static char **lay_strings(struct enc *e)
{
	char **v = enc__alloc(e, e->d.strs.n, sizeof(*v));

	for (size_t i = 0; v && i < e->d.strs.n; i++)
		v[i] = (char *)tab__at(&e->d.strs, i);
	return v;
}

/* n zeroed messages of size bytes and the array of pointers to them that a
 * repeated message field takes; NULL when out of memory. */
static void **enc__rows(struct enc *e, size_t n, size_t size)
{
	void **p = enc__alloc(e, n, sizeof(*p));
	char *rows = enc__alloc(e, n, size);

	if (!p || !rows)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = rows + i * size;
	return p;
}

#define ENC_ROWS(e, n, type) ((type **)enc__rows((e), (n), sizeof(type)))

static int lay_dict(struct enc *e, char **strs, PbDict *dict)
{
	const struct dict *d = &e->d;
	PbFunction **fn = ENC_ROWS(e, d->fns.n, PbFunction);
	PbMapping **mp = ENC_ROWS(e, d->maps.n, PbMapping);
	PbLocation **lo = ENC_ROWS(e, d->locs.n, PbLocation);
	PbStack **st = ENC_ROWS(e, d->stacks.n, PbStack);
	PbKvu **kv = ENC_ROWS(e, d->attrs.n, PbKvu);
	PbLink **lk = ENC_ROWS(e, d->links.n, PbLink);
	PbAny *av = enc__alloc(e, d->attrs.n, sizeof(*av));
	int32_t *mattr = enc__alloc(e, d->maps.n, sizeof(*mattr));
	int32_t *lattr = enc__alloc(e, d->locs.n, sizeof(*lattr));
	PbLine **ln;
	size_t nlines = 0, k = 0;

	if (!fn || !mp || !lo || !st || !kv || !lk || !av || !mattr || !lattr)
		return -ENOMEM;
	for (size_t i = 0; i < d->fns.n; i++) {
		const int64_t *w = tab__at(&d->fns, i);

		opentelemetry__proto__profiles__v1development__function__init(fn[i]);
		fn[i]->name_strindex = (int32_t)w[0];
		fn[i]->system_name_strindex = (int32_t)w[1];
		fn[i]->filename_strindex = (int32_t)w[2];
		fn[i]->start_line = w[3];
	}
	for (size_t i = 0; i < d->maps.n; i++) {
		const int64_t *w = tab__at(&d->maps, i);

		opentelemetry__proto__profiles__v1development__mapping__init(mp[i]);
		mp[i]->memory_start = (uint64_t)w[0];
		mp[i]->memory_limit = (uint64_t)w[1];
		mp[i]->file_offset = (uint64_t)w[2];
		mp[i]->filename_strindex = (int32_t)w[3];
		if (w[4]) {
			mattr[i] = (int32_t)w[4];
			mp[i]->attribute_indices = &mattr[i];
			mp[i]->n_attribute_indices = 1;
		}
	}
	for (size_t i = 0; i < d->locs.n; i++)
		nlines += (d->locs.v[i].len / sizeof(int64_t) - LOC_HEAD) / 2;
	ln = ENC_ROWS(e, nlines, PbLine);
	if (!ln)
		return -ENOMEM;
	for (size_t i = 0; i < d->locs.n; i++) {
		const int64_t *w = tab__at(&d->locs, i);
		size_t n = (d->locs.v[i].len / sizeof(int64_t) - LOC_HEAD) / 2;

		opentelemetry__proto__profiles__v1development__location__init(lo[i]);
		lo[i]->mapping_index = (int32_t)w[0];
		lo[i]->address = (uint64_t)w[1];
		if (w[2]) {
			lattr[i] = (int32_t)w[2];
			lo[i]->attribute_indices = &lattr[i];
			lo[i]->n_attribute_indices = 1;
		}
		lo[i]->n_lines = n;
		lo[i]->lines = &ln[k];
		for (size_t j = 0; j < n; j++, k++) {
			opentelemetry__proto__profiles__v1development__line__init(ln[k]);
			ln[k]->function_index = (int32_t)w[LOC_HEAD + 2 * j];
			ln[k]->line = w[LOC_HEAD + 1 + 2 * j];
		}
	}
	for (size_t i = 0; i < d->stacks.n; i++) {
		opentelemetry__proto__profiles__v1development__stack__init(st[i]);
		st[i]->n_location_indices = d->stacks.v[i].len / sizeof(int32_t);
		st[i]->location_indices = (int32_t *)tab__at(&d->stacks, i);
	}
	for (size_t i = 0; i < d->attrs.n; i++) {
		const int64_t *w = tab__at(&d->attrs, i);

		opentelemetry__proto__profiles__v1development__key_value_and_unit__init(kv[i]);
		opentelemetry__proto__common__v1__any_value__init(&av[i]);
		kv[i]->key_strindex = (int32_t)w[0];
		if (w[1] == ATTR_STR) {
			av[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
			av[i].string_value = strs[w[2]];
		} else if (w[1] == ATTR_INT) {
			av[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			av[i].int_value = w[2];
		}
		/* the zero value (index 0) has no value */
		kv[i]->value = i ? &av[i] : NULL;
	}
	for (size_t i = 0; i < d->links.n; i++) {
		uint8_t *b = (uint8_t *)tab__at(&d->links, i);

		opentelemetry__proto__profiles__v1development__link__init(lk[i]);
		lk[i]->trace_id = (ProtobufCBinaryData){ 16, b };
		lk[i]->span_id = (ProtobufCBinaryData){ 8, b + 16 };
	}
	opentelemetry__proto__profiles__v1development__profiles_dictionary__init(dict);
	dict->string_table = strs;
	dict->n_string_table = d->strs.n;
	dict->n_function_table = d->fns.n, dict->function_table = fn;
	dict->n_mapping_table = d->maps.n, dict->mapping_table = mp;
	dict->n_location_table = d->locs.n, dict->location_table = lo;
	dict->n_stack_table = d->stacks.n, dict->stack_table = st;
	dict->n_attribute_table = d->attrs.n, dict->attribute_table = kv;
	dict->n_link_table = d->links.n, dict->link_table = lk;
	return 0;
}

/* The Kubernetes owner kinds with a semantic-convention attribute. */
static const char *workload_attr(const char *kind)
{
	static const struct { const char *kind, *attr; } kinds[] = {
		{ "deployment", "k8s.deployment.name" },
		{ "statefulset", "k8s.statefulset.name" },
		{ "daemonset", "k8s.daemonset.name" },
		{ "replicaset", "k8s.replicaset.name" },
		{ "job", "k8s.job.name" },
		{ "cronjob", "k8s.cronjob.name" },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (tagmap__kind_is(kind, kinds[i].kind))
			return kinds[i].attr;
	return NULL;
}

static bool kv_has(PbKv **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i]->key, key))
			return true;
	return false;
}

/* The series labels as resource attributes (keys unique, first wins). */
static int lay_resource(struct enc *e, const struct series *s, PbResource *res)
{
	const char *workload = series__label(s, "workload");
	const char *kind = series__label(s, "workload_kind");
	const char *wattr = workload && kind ? workload_attr(kind) : NULL;
	size_t cap = s->nlabels + 2, n = 0;
	PbKv *kv = enc__alloc(e, cap, sizeof(*kv));
	PbKv **kvp = enc__alloc(e, cap, sizeof(*kvp));
	PbAny *av = enc__alloc(e, cap, sizeof(*av));

	if (!kv || !kvp || !av)
		return -ENOMEM;
	for (size_t i = 0; i < s->nlabels + 2; i++) {
		const char *key, *str = NULL;
		int64_t num = 0;

		if (i < s->nlabels) {
			const struct profile_label *l = &s->labels[i];

			key = l->key;
			str = l->str;
			num = l->num;
			if (!key || !*key || (str && !*str) ||
			    (wattr && (!strcmp(key, "workload") || !strcmp(key, "workload_kind"))))
				continue;
		} else if (i == s->nlabels) {
			key = wattr;
			str = workload;
		} else {
			key = "service.name";
			str = UNKNOWN_SERVICE;
		}
		if (!key)
			continue;
		if (!(key = utf8_clean(e, key)) || (str && !(str = utf8_clean(e, str))))
			return -ENOMEM;
		if (kv_has(kvp, n, key))
			continue;
		opentelemetry__proto__common__v1__key_value__init(&kv[n]);
		opentelemetry__proto__common__v1__any_value__init(&av[n]);
		kv[n].key = (char *)key;
		if (str) {
			av[n].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
			av[n].string_value = (char *)str;
		} else {
			av[n].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			av[n].int_value = num;
		}
		kv[n].value = &av[n];
		kvp[n] = &kv[n];
		n++;
	}
	opentelemetry__proto__resource__v1__resource__init(res);
	res->n_attributes = n;
	res->attributes = kvp;
	return 0;
}

struct names {
	int64_t samples, count, cpu, ns, off_cpu;
};

/* The Profile of se: its samples, sample type and period. */
static int lay_profile(struct enc *e, struct series_enc *se, const struct names *nm,
		       PbProfile *pr)
{
	PbValueType *vt = enc__alloc(e, 2, sizeof(*vt));
	size_t n = se->samples.n;
	PbSample *sm = enc__alloc(e, n, sizeof(*sm));
	PbSample **smp = enc__alloc(e, n, sizeof(*smp));

	if (!vt || !sm || !smp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int32_t *w = (int32_t *)tab__at(&se->samples, i);

		opentelemetry__proto__profiles__v1development__sample__init(&sm[i]);
		sm[i].stack_index = w[0];
		sm[i].link_index = w[1];
		sm[i].n_attribute_indices = se->samples.v[i].len / sizeof(int32_t) - 2;
		sm[i].attribute_indices = sm[i].n_attribute_indices ? w + 2 : NULL;
		sm[i].n_values = 1;
		sm[i].values = &se->vals[i];
		smp[i] = &sm[i];
	}
	opentelemetry__proto__profiles__v1development__value_type__init(&vt[0]);
	opentelemetry__proto__profiles__v1development__value_type__init(&vt[1]);
	opentelemetry__proto__profiles__v1development__profile__init(pr);
	if (se->offcpu) {
		vt[0].type_strindex = (int32_t)nm->off_cpu;
		vt[0].unit_strindex = (int32_t)nm->ns;
	} else {
		vt[0].type_strindex = (int32_t)nm->samples;
		vt[0].unit_strindex = (int32_t)nm->count;
		vt[1].type_strindex = (int32_t)nm->cpu;
		vt[1].unit_strindex = (int32_t)nm->ns;
		pr->period_type = &vt[1];
		pr->period = (int64_t)profile__period_ns(se->prof);
	}
	pr->sample_type = &vt[0];
	pr->time_unix_nano = (uint64_t)e->iv->start_ns;
	pr->duration_nano = (uint64_t)(e->iv->end_ns - e->iv->start_ns);
	pr->profile_id = (ProtobufCBinaryData){ 16, se->id };
	pr->n_samples = n;
	pr->samples = smp;
	return 0;
}

/* The ResourceProfiles of one series: its resource, and the n profiles
 * se[0..n) (its CPU and off-CPU ones) in one ScopeProfiles. */
static int lay_series(struct enc *e, struct series_enc *se, size_t n, const struct names *nm,
		      PbResourceProfiles *rp)
{
	PbResource *res = enc__alloc(e, 1, sizeof(*res));
	PbScopeProfiles *sp = enc__alloc(e, 1, sizeof(*sp));
	PbScopeProfiles **spp = enc__alloc(e, 1, sizeof(*spp));
	PbScope *scope = enc__alloc(e, 1, sizeof(*scope));
	PbProfile *pr = enc__alloc(e, n, sizeof(*pr));
	PbProfile **prp = enc__alloc(e, n, sizeof(*prp));
	int err;

	if (!res || !sp || !spp || !scope || !pr || !prp)
		return -ENOMEM;
	if ((err = lay_resource(e, se->s, res)))
		return err;
	for (size_t i = 0; i < n; i++) {
		if ((err = lay_profile(e, &se[i], nm, &pr[i])))
			return err;
		prp[i] = &pr[i];
	}
	opentelemetry__proto__common__v1__instrumentation_scope__init(scope);
	scope->name = SCOPE_NAME;
	scope->version = IGNIS_VERSION;
	opentelemetry__proto__profiles__v1development__scope_profiles__init(sp);
	sp->scope = scope;
	sp->n_profiles = n;
	sp->profiles = prp;
	spp[0] = sp;
	opentelemetry__proto__profiles__v1development__resource_profiles__init(rp);
	rp->resource = res;
	rp->n_scope_profiles = 1;
	rp->scope_profiles = spp;
	return 0;
}

/* The request of series [from, to) (those with samples), packed. */
static int encode_range(const struct otlp_opts *o, const struct interval *iv, size_t from,
			size_t to, uint8_t **out, size_t *out_len, struct otlp_stats *st)
{
	struct enc e = { .o = o, .iv = iv };
	PbRequest req = OPENTELEMETRY__PROTO__COLLECTOR__PROFILES__V1DEVELOPMENT__EXPORT_PROFILES_SERVICE_REQUEST__INIT;
	PbDict dict;
	PbResourceProfiles *rp, **rpp;
	struct names nm;
	char **strs;
	uint8_t *buf = NULL;
	size_t len, nrp = 0;
	int err;

	/* Up to two profiles per series: CPU, off-CPU. */
	e.ser = calloc(to - from ? 2 * (to - from) : 1, sizeof(*e.ser));
	if (!e.ser)
		return -ENOMEM;
	if ((err = dict__init(&e.d)) || (err = str_idx(&e, "samples", &nm.samples)) ||
	    (err = str_idx(&e, "count", &nm.count)) || (err = str_idx(&e, "cpu", &nm.cpu)) ||
	    (err = str_idx(&e, "nanoseconds", &nm.ns)) ||
	    (err = str_idx(&e, "off_cpu", &nm.off_cpu)))
		goto cleanup;
	for (size_t i = from; i < to; i++) {
		const struct series *s = &iv->series[i];

		if (has_samples(s->profile) && (err = encode_series(&e, &e.ser[e.nser++], s, false)))
			goto cleanup;
		if (has_samples(s->offcpu) && (err = encode_series(&e, &e.ser[e.nser++], s, true)))
			goto cleanup;
	}
	strs = lay_strings(&e);
	rp = enc__alloc(&e, e.nser, sizeof(*rp));
	rpp = enc__alloc(&e, e.nser, sizeof(*rpp));
	if (!strs || !rp || !rpp) {
		err = -ENOMEM;
		goto cleanup;
	}
	if ((err = lay_dict(&e, strs, &dict)))
		goto cleanup;
	for (size_t i = 0, n; i < e.nser; i += n, nrp++) {
		for (n = 1; i + n < e.nser && e.ser[i + n].s == e.ser[i].s; n++)
			;
		if ((err = lay_series(&e, &e.ser[i], n, &nm, &rp[nrp])))
			goto cleanup;
		rpp[nrp] = &rp[nrp];
	}
	req.n_resource_profiles = nrp;
	req.resource_profiles = rpp;
	req.dictionary = &dict;
	len = opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__get_packed_size(&req);
	buf = malloc(len ? len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__pack(&req, buf) != len) {
		free(buf);
		err = -EIO;
		goto cleanup;
	}
	*out = buf;
	*out_len = len;
	if (st) {
		st->profiles += e.nser;
		st->samples += e.st.samples;
		st->linked_samples += e.st.linked_samples;
		st->fixed_strings += e.st.fixed_strings;
	}
cleanup:
	enc__free(&e);
	return err;
}

struct bodies {
	uint8_t **v;
	size_t *lens;
	size_t n, cap, lcap;
};

static int bodies__push(struct bodies *b, uint8_t *buf, size_t len)
{
	if (ARRAY_RESERVE(b->v, &b->cap, b->n + 1) || ARRAY_RESERVE(b->lens, &b->lcap, b->n + 1)) {
		free(buf);
		return -ENOMEM;
	}
	b->v[b->n] = buf;
	b->lens[b->n++] = len;
	return 0;
}

static void bodies__free(struct bodies *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i]);
	free(b->v);
	free(b->lens);
	memset(b, 0, sizeof(*b));
}

/* Series [from, to) in as few requests under the bound as halving finds. */
static int encode_split(const struct otlp_opts *o, const struct interval *iv, size_t from,
			size_t to, struct bodies *out, struct otlp_stats *st)
{
	uint64_t max = o->max_request_bytes ? o->max_request_bytes : OTLP_MAX_REQUEST_BYTES;
	struct otlp_stats part = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0, mid;
	int err;

	err = encode_range(o, iv, from, to, &buf, &len, &part);
	if (err)
		return err;
	if (len <= max) {
		if (st) {
			st->profiles += part.profiles;
			st->samples += part.samples;
			st->linked_samples += part.linked_samples;
			st->fixed_strings += part.fixed_strings;
		}
		return bodies__push(out, buf, len);
	}
	free(buf);
	if (to - from == 1) {
		if (st)
			st->dropped_too_big++;
		pr_warn_ratelimited("otlp: %s: a series of %" PRIu64 " samples takes %zu bytes, over "
				    "the %" PRIu64 " of a request: dropped\n",
				    o->name ? o->name : "otlp", part.samples, len, max);
		return 0;
	}
	mid = from + (to - from) / 2;
	err = encode_split(o, iv, from, mid, out, st);
	return err ? err : encode_split(o, iv, mid, to, out, st);
}

int otlp__encode(const struct otlp_opts *o, const struct interval *iv, uint8_t ***bodies,
		 size_t **lens, size_t *nbodies, struct otlp_stats *st)
{
	struct bodies b = { 0 };
	bool any = false;
	int err;

	if (!o || !iv || !bodies || !lens || !nbodies || (iv->nseries && !iv->series) ||
	    (o->nsample_labels && !o->sample_labels))
		return -EINVAL;
	for (size_t i = 0; i < iv->nseries; i++)
		any |= has_samples(iv->series[i].profile) || has_samples(iv->series[i].offcpu);
	if (any) {
		err = encode_split(o, iv, 0, iv->nseries, &b, st);
		if (err) {
			bodies__free(&b);
			return err;
		}
	}
	if (st)
		st->requests += b.n;
	*bodies = b.v;
	*lens = b.lens;
	*nbodies = b.n;
	return 0;
}

/* ---- answers ---------------------------------------------------------------- */

enum delivery_verdict otlp__read_answer(long status, const char *body, size_t len,
					int64_t *rejected, bool *partial, char *reason,
					size_t rlen)
{
	char msg[HTTP_MESSAGE_MAX + 1] = "";

	*rejected = 0;
	*partial = false;
	if (rlen)
		reason[0] = '\0';
	if (status >= 200 && status < 300) {
		PbResponse *r = len ? opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__unpack(
					      NULL, len, (const uint8_t *)body) : NULL;

		if (r && r->partial_success) {
			const char *m = r->partial_success->error_message;

			*rejected = r->partial_success->rejected_profiles;
			*partial = *rejected != 0 || (m && *m);
			if (m && *m)
				http__server_message(m, strlen(m), msg, sizeof(msg));
			if (*partial)
				snprintf(reason, rlen, "%" PRId64 " profiles rejected%s%s", *rejected,
					 *msg ? ": " : "", msg);
		}
		if (r)
			opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__free_unpacked(r, NULL);
		return DELIVERY_SENT;
	}
	if (len) {
		Ignis__Rpc__Status *s = ignis__rpc__status__unpack(NULL, len, (const uint8_t *)body);

		if (s && s->message && *s->message)
			http__server_message(s->message, strlen(s->message), msg, sizeof(msg));
		else
			/* a proxy's page rather than the receiver's Status */
			http__server_message(body, len, msg, sizeof(msg));
		if (s)
			ignis__rpc__status__free_unpacked(s, NULL);
	}
	snprintf(reason, rlen, "HTTP %ld%s%s", status, *msg ? ": " : "", msg);
	return status == 429 || status == 502 || status == 503 || status == 504 ? DELIVERY_RETRY :
										    DELIVERY_DROP;
}

/* ---- the destination -------------------------------------------------------- */

struct otlp {
	struct httpdest h;         /* first: httpdest__drain takes the struct as h */
	char *name, *url;
	bool gzip;
	bool user_agent;          /* an extra header sets it */
	char **sample_labels;
	size_t nsample_labels;
	uint64_t max_request_bytes;
	struct otlp_stats st;     /* under h.lock: submit and the delivery's worker */
	struct log_ratelimit rl;
};

static void opts_of(const struct otlp *p, struct otlp_opts *o)
{
	*o = (struct otlp_opts){
		.name = p->name,
		.url = p->url,
		.gzip = p->gzip,
		.sample_labels = (const char *const *)p->sample_labels,
		.nsample_labels = p->nsample_labels,
		.max_request_bytes = p->max_request_bytes,
	};
}

static enum delivery_verdict judge(void *arg, const struct http_request *r, long status,
				   const char *body, size_t len, char *reason, size_t rlen)
{
	struct otlp *p = arg;
	enum delivery_verdict v;
	int64_t rejected;
	bool partial;

	v = otlp__read_answer(status, body, len, &rejected, &partial, reason, rlen);
	if (partial) {
		pthread_mutex_lock(&p->h.lock);
		p->st.partial_answers++;
		p->st.rejected_profiles += rejected > 0 ? (uint64_t)rejected : 0;
		log__printf_ratelimited(&p->rl, rejected ? LOG_WARN : LOG_INFO,
					"otlp: %s: %s: partial success: %s (not retried)\n", p->name,
					r->what, reason);
		pthread_mutex_unlock(&p->h.lock);
	}
	return v;
}

static void otlp__free_fields(struct otlp *p)
{
	for (size_t i = 0; p->sample_labels && i < p->nsample_labels; i++)
		free(p->sample_labels[i]);
	free(p->sample_labels);
	free(p->name);
	free(p->url);
}

struct otlp *otlp__new(const struct otlp_opts *o)
{
	struct delivery_opts dopts;
	struct otlp *p;
	bool ok = true;
	int err;

	if (!o || !o->url || (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)) ||
	    strpbrk(o->url, "?#") || (o->nheaders && !o->headers) ||
	    (o->nsample_labels && !o->sample_labels)) {
		pr_warn("otlp: %s: needs an http:// or https:// URL without query or fragment\n",
			o && o->name ? o->name : "otlp");
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->name = strdup(o->name ? o->name : "otlp");
	p->url = strdup(o->url);
	ok = p->name && p->url;
	p->gzip = o->gzip;
	p->max_request_bytes = o->max_request_bytes;
	if (o->nsample_labels) {
		p->sample_labels = calloc(o->nsample_labels, sizeof(*p->sample_labels));
		ok &= p->sample_labels != NULL;
		for (size_t i = 0; p->sample_labels && i < o->nsample_labels; i++) {
			p->sample_labels[i] = strdup(o->sample_labels[i]);
			ok &= p->sample_labels[i] != NULL;
		}
		p->nsample_labels = o->nsample_labels;
	}
	for (size_t i = 0; i < o->nheaders; i++)
		p->user_agent |= o->headers[i].name && !strcasecmp(o->headers[i].name, "User-Agent");
	if (!ok) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Extra headers go with every attempt, never to the queue or spool. */
	dopts = o->delivery;
	dopts.name = o->delivery.name ? o->delivery.name : p->name;
	dopts.secret_headers = o->headers;
	dopts.nsecret_headers = o->nheaders;
	dopts.judge = judge;
	dopts.judge_arg = p;
	err = httpdest__init(&p->h, &dopts);
	if (err) {
		if (err == -EINVAL)
			pr_warn("otlp: %s: a header cannot be sent (bad name, or CR/LF in a value)\n",
				p->name);
		goto cleanup;
	}
	pr_info("otlp: %s: OTLP/HTTP profiles to %s%s\n", p->name, p->url,
		p->gzip ? " (gzip)" : "");
	return p;
cleanup:
	otlp__free_fields(p);
	free(p);
	errno = -err;
	return NULL;
}

static int make_request(const struct otlp *p, const struct interval *iv, uint8_t *raw,
			size_t len, size_t part, size_t nparts, struct http_request **out)
{
	struct http_request *r;
	char what[96], when[32];
	time_t t = (time_t)(iv->start_ns / 1000000000);
	struct tm tm;
	uint8_t *body = raw;
	size_t blen = len;
	int err;

	if (p->gzip) {
		err = pprof__gzip(raw, len, &body, &blen);
		free(raw);
		if (err)
			return err;
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (nparts > 1)
		snprintf(what, sizeof(what), "interval %s part %zu/%zu", when, part + 1, nparts);
	else
		snprintf(what, sizeof(what), "interval %s", when);
	r = http_request__new(p->url, body, blen, iv->start_ns, what);
	if (!r)
		return -errno;
	err = http_request__add_header(r, "Content-Type", "application/x-protobuf");
	if (!err && p->gzip)
		err = http_request__add_header(r, "Content-Encoding", "gzip");
	if (!err && !p->user_agent)
		err = http_request__add_header(r, "User-Agent", "ignis/" IGNIS_VERSION);
	if (err) {
		http_request__free(r);
		return err;
	}
	*out = r;
	return 0;
}

int otlp__submit(struct otlp *p, const struct interval *iv)
{
	struct otlp_stats st = { 0 };
	struct otlp_opts o;
	struct reqs out = { 0 };
	uint8_t **bodies = NULL;
	size_t *lens = NULL, n = 0, i;
	int err;

	if (!p || !iv)
		return -EINVAL;
	opts_of(p, &o);
	err = otlp__encode(&o, iv, &bodies, &lens, &n, &st);
	pthread_mutex_lock(&p->h.lock);
	p->st.requests += st.requests;
	p->st.profiles += st.profiles;
	p->st.samples += st.samples;
	p->st.linked_samples += st.linked_samples;
	p->st.dropped_too_big += st.dropped_too_big;
	p->st.fixed_strings += st.fixed_strings;
	pthread_mutex_unlock(&p->h.lock);
	if (st.fixed_strings)
		pr_debug("otlp: %s: %" PRIu64 " strings not valid UTF-8 sent with U+FFFD for the bad "
			 "bytes\n", p->name, st.fixed_strings);
	if (err) {
		pr_warn("otlp: %s: rendering the interval failed: %s\n", p->name, strerror(-err));
		return err;
	}
	for (i = 0; i < n; i++) {
		struct http_request *r = NULL;

		err = make_request(p, iv, bodies[i], lens[i], i, n, &r);
		bodies[i] = NULL;
		if (!err)
			err = reqs__push(&out, r);
		if (err)
			break;
	}
	for (; i < n; i++)
		free(bodies[i]);
	free(bodies);
	free(lens);
	if (err) {
		reqs__free(&out);
		return err;
	}
	return reqs__enqueue(p->h.d, out.v, out.n);
}

void otlp__stats(struct otlp *p, struct otlp_stats *s)
{
	if (p && s)
		httpdest__stats(&p->h, &p->st, s, sizeof(*s), &s->delivery);
}

void otlp__free(struct otlp *p)
{
	if (!p)
		return;
	/* first: the worker's judge uses p */
	httpdest__fini(&p->h);
	otlp__free_fields(p);
	free(p);
}

/* ---- the destination type ------------------------------------------------- */

#define D struct config_destination

static int check_path(struct schema_ctx *x, const char *s)
{
	if (*s != '/' || strpbrk(s, "?# ") || schema__has_control(s, false))
		return schema__fail(x, "a URL path: starts with '/', no blanks, query or fragment");
	return 0;
}

static const char *const compression_names[] = { [CONFIG_OTLP_GZIP] = "gzip",
						  [CONFIG_OTLP_NONE] = "none" };

static const struct schema_row otlp_rows[] = {
	{ "endpoint", SCHEMA_URL, SCHEMA_AT(D, url), .flags = SCHEMA_REQUIRED,
	  .hint = " (the receiver's http:// or https:// base URL, e.g. http://collector:4318)" },
	{ "path", SCHEMA_STRING, SCHEMA_AT(D, otlp_path), .def_str = OTLP_PROFILES_PATH,
	  .check = check_path },
	{ "compression", SCHEMA_ENUM, SCHEMA_AT(D, otlp_compression), SCHEMA_NAMES(compression_names) },
	/* Uncompressed; the specification recommends 64 MiB. A receiver
	 * answers 413 past its own bound (dropped): set this to it. */
	{ "max_request_size", SCHEMA_SIZE, SCHEMA_AT(D, otlp_max_request_bytes), 64 * SCHEMA_KiB,
	  SCHEMA_GiB, .def = OTLP_MAX_REQUEST_BYTES },
	{ 0 },
};

static void *new_otlp(const D *d)
{
	struct http_header *headers = calloc(d->nheaders ? d->nheaders : 1, sizeof(*headers));
	struct otlp_opts o = {
		.name = d->name,
		.gzip = d->otlp_compression == CONFIG_OTLP_GZIP,
		.headers = headers,
		.nheaders = d->nheaders,
		.sample_labels = d->sample_labels,
		.nsample_labels = d->nsample_labels,
		.max_request_bytes = d->otlp_max_request_bytes,
	};
	char *url = NULL;
	void *impl = NULL;

	if (!headers)
		return NULL;
	if (asprintf(&url, "%s%s", d->url, d->otlp_path ? d->otlp_path : OTLP_PROFILES_PATH) < 0) {
		free(headers);
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < d->nheaders; i++)
		headers[i] = (struct http_header){ d->headers[i].name, d->headers[i].value };
	o.url = url;
	destination__delivery_opts(d, &o.delivery);
	impl = otlp__new(&o);
	free(url);
	free(headers);
	return impl;
}

static int submit(void *impl, const struct interval *iv)
{
	return otlp__submit(impl, iv);
}

static void stats(void *impl, struct delivery_stats *s)
{
	struct otlp_stats os;

	otlp__stats(impl, &os);
	*s = os.delivery;
	s->partially_rejected = os.rejected_profiles;
}

static void free_impl(void *impl)
{
	otlp__free(impl);
}

const struct destination_ops otlp__destination = {
	.type = "otlp",
	.rows = (const struct schema_row *const[]){ otlp_rows, destination__http_rows, NULL },
	/* attributes are per sample, not series: tid and container_id are fine */
	.all_sample_labels = true,
	.new = new_otlp,
	.submit = submit,
	.drain = httpdest__drain,
	.stats = stats,
	.free = free_impl,
};
