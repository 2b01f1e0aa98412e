/* The agent configuration: YAML through libyaml's document API (every node
 * carries its line for messages), walked against a fixed schema. The walk
 * never recurses on the document's own shape (only on the schema's, three
 * levels deep), so aliases, cycles and deep nesting cost nothing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "agent/config.h"
#include "sampling/sampler.h"
#include "unwinder/unwstore.h"
#include "base/utf8.h"
#include "bpf/sampler.h"

#define MAX_FILE_BYTES   (1u << 20)
#define MAX_SECRET_BYTES (64u << 10)
#define MAX_STRING       4096u   /* PATH_MAX; longer scalars are rejected */
#define MAX_HOST         1024u
#define MAX_URL          2048u
#define MAX_NAME         64u
#define MAX_HEADER_VALUE 8192u
#define MAX_DESTS        (CONFIG_MAX_DESTINATIONS + 2)   /* + the two from flags */

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define TiB (1ull << 40)

#define SEC_MS  1000ull
#define MIN_MS  (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)

/* The per-sample labels a destination may keep; config arrays point here.
 * The first NSAMPLE_LABELS_ANY are for every destination; Datadog's
 * backend is not series-based, so it may also take the high-cardinality
 * ones after them. */
static const char *const sample_label_names[] = { "pid", "comm", "thread_name", "container_id",
						  "tid" };
#define NSAMPLE_LABELS (sizeof(sample_label_names) / sizeof(sample_label_names[0]))
#define NSAMPLE_LABELS_ANY 3

static const char *const unwind_names[] = { [UNWIND_AUTO] = "auto", [UNWIND_FP] = "fp",
					    [UNWIND_DWARF] = "dwarf", [UNWIND_KERNEL] = "kernel",
					    [UNWIND_COPY] = "copy" };
static const char *const level_names[] = { [CONFIG_LOG_DEBUG] = "debug", [CONFIG_LOG_INFO] = "info",
					   [CONFIG_LOG_WARN] = "warn", [CONFIG_LOG_ERROR] = "error" };
static const char *const api_names[] = { [CONFIG_API_PUSH] = "push", [CONFIG_API_INGEST] = "ingest" };
static const char *const type_names[] = { [CONFIG_DEST_PYROSCOPE] = "pyroscope",
					  [CONFIG_DEST_FILE] = "file",
					  [CONFIG_DEST_DATADOG] = "datadog" };
static const char *const format_names[] = { [CONFIG_LOG_PLAIN] = "plain", [CONFIG_LOG_JSON] = "json" };
static const char *const k8s_mode_names[] = { [CONFIG_K8S_AUTO] = "auto", [CONFIG_K8S_ON] = "true",
					      [CONFIG_K8S_OFF] = "false" };
static const char *const compression_names[] = { [CONFIG_COMPRESS_ZSTD] = "zstd",
						 [CONFIG_COMPRESS_GZIP] = "gzip" };
static const char *const action_names[] = {
	[RELABEL_REPLACE] = "replace", [RELABEL_KEEP] = "keep", [RELABEL_DROP] = "drop",
	[RELABEL_LABELMAP] = "labelmap", [RELABEL_LABELDROP] = "labeldrop",
	[RELABEL_LABELKEEP] = "labelkeep",
};

/* The Datadog intake paths (WIRE.md), appended to the destination's URL. */
#define DD_AGENT_PATH      "/profiling/v1/input"
#define DD_AGENTLESS_PATH  "/api/v2/profile"

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Headers the exporters set themselves; a second copy would corrupt the
 * request rather than customize it. */
static const char *const reserved_headers[] = {
	"Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding",
	"Host", "Connection", "Connect-Protocol-Version",
	"DD-API-KEY", "DD-EVP-ORIGIN", "DD-EVP-ORIGIN-VERSION",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What the walk of a destination learns that the struct does not keep:
 * where it was (for checks after the overrides) and whether it had its own
 * sample_labels. */
struct dest_state {
	unsigned long line;      /* 0: added by a flag or variable */
	size_t index;            /* in the file's list */
	bool labels_set;
	unsigned long basic_line, bearer_line;
	unsigned long api_key_line, agentless_line, interval_line;
};

struct loader {
	struct config *c;
	yaml_document_t *doc;
	const char *file;        /* for messages */
	const char *source;      /* "IGNIS_X" or "--x" while applying those, else NULL */
	unsigned long line;      /* 1-based line of the node being read */
	char key[512];           /* dotted path of the key being read */
	size_t keylen;
	char *err;
	size_t errlen;
	int errnum;
	struct dest_state dest[MAX_DESTS];
	unsigned long root_line, dests_line;
	unsigned long k8s_enabled_line;
	bool metrics_set;        /* metrics.listen given (maybe "off") */
};

/* ---- messages ------------------------------------------------------------ */

__attribute__((format(printf, 3, 4)))
static int fail(struct loader *l, const yaml_node_t *at, const char *fmt, ...)
{
	size_t n = 0;
	va_list ap;
	int w;

	if (at)
		l->line = at->start_mark.line + 1;
	if (!l->errlen)
		return -(l->errnum = EINVAL);
	if (l->source)
		w = snprintf(l->err, l->errlen, "%s: ", l->source);
	else if (l->file)
		w = snprintf(l->err, l->errlen, "%s:%lu: ", l->file, l->line);
	else
		w = 0;
	if (w > 0)
		n = (size_t)w < l->errlen ? (size_t)w : l->errlen - 1;
	if (!l->source && l->keylen && n < l->errlen) {
		w = snprintf(l->err + n, l->errlen - n, "%s: ", l->key);
		if (w > 0)
			n += (size_t)w < l->errlen - n ? (size_t)w : l->errlen - n - 1;
	}
	va_start(ap, fmt);
	vsnprintf(l->err + n, l->errlen - n, fmt, ap);
	va_end(ap);
	/* Keys and values quoted from the file must not drive the terminal. */
	for (char *p = l->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -(l->errnum = EINVAL);
}

static int fail_oom(struct loader *l)
{
	snprintf(l->err, l->errlen, "%s: out of memory", l->file ? l->file : "ignis");
	return -(l->errnum = ENOMEM);
}

/* A user's value in a message: cut short so a bad line stays one line. */
static const char *quote(const char *s, char *buf, size_t len)
{
	size_t n = strlen(s);

	if (n + 1 <= len)
		return s;
	snprintf(buf, len, "%.*s...", (int)(len - 4), s);
	return buf;
}
#define Q(s) quote((s), (char[72]){ 0 }, 72)

static size_t push_key(struct loader *l, const char *name)
{
	size_t old = l->keylen;
	int w = snprintf(l->key + old, sizeof(l->key) - old, "%s%s", old ? "." : "", name);

	if (w > 0)
		l->keylen += (size_t)w < sizeof(l->key) - old ? (size_t)w : sizeof(l->key) - old - 1;
	return old;
}

static size_t push_index(struct loader *l, size_t i)
{
	size_t old = l->keylen;
	int w = snprintf(l->key + old, sizeof(l->key) - old, "[%zu]", i);

	if (w > 0)
		l->keylen += (size_t)w < sizeof(l->key) - old ? (size_t)w : sizeof(l->key) - old - 1;
	return old;
}

static void pop_key(struct loader *l, size_t old)
{
	l->keylen = old;
	l->key[old] = '\0';
}

static void set_key(struct loader *l, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(l->key, sizeof(l->key), fmt, ap);
	va_end(ap);
	l->keylen = w < 0 ? 0 : (size_t)w < sizeof(l->key) ? (size_t)w : sizeof(l->key) - 1;
}

/* ---- nodes --------------------------------------------------------------- */

static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = (const char *)n->data.scalar.value;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
	if (is_null(n))
		return "null";
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

/* The text of a scalar; NULL (with a message) for anything else. */
static const char *scalar(struct loader *l, const yaml_node_t *n, const char *expected)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE) {
		fail(l, n, "expected %s, got %s", expected, kind(n));
		return NULL;
	}
	s = (const char *)n->data.scalar.value;
	if (strlen(s) != n->data.scalar.length) {
		fail(l, n, "contains a NUL character");
		return NULL;
	}
	if (n->data.scalar.length > MAX_STRING) {
		fail(l, n, "longer than %u bytes", MAX_STRING);
		return NULL;
	}
	l->line = n->start_mark.line + 1;
	return s;
}

static yaml_node_t *node(struct loader *l, int id)
{
	return yaml_document_get_node(l->doc, id);
}

typedef int (*key_fn)(struct loader *l, size_t key, yaml_node_t *val, void *obj);

/* Calls fn for each key of a mapping (null: none). Keys are strings, known,
 * and unique; the message for an unknown key lists the known ones. */
static int walk_map(struct loader *l, yaml_node_t *map, const char *const *keys, size_t nkeys,
		    key_fn fn, void *obj)
{
	yaml_node_pair_t *p, *q;

	if (is_null(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return fail(l, map, "expected a mapping, got %s", kind(map));
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
		const char *name;
		size_t old, i;
		int err;

		if (!k || !v)
			return fail(l, map, "malformed mapping");
		if (k->type != YAML_SCALAR_NODE)
			return fail(l, k, "keys must be strings, got %s", kind(k));
		name = scalar(l, k, "a key");
		if (!name)
			return -EINVAL;
		old = push_key(l, name);
		for (q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *pk = node(l, q->key);

			if (pk && pk->type == YAML_SCALAR_NODE && !strcmp((const char *)pk->data.scalar.value, name))
				return fail(l, k, "duplicate key (first at line %lu)",
					    (unsigned long)pk->start_mark.line + 1);
		}
		for (i = 0; i < nkeys && strcmp(keys[i], name); i++)
			;
		if (i == nkeys) {
			char list[512];
			size_t n = 0;

			list[0] = '\0';
			for (size_t j = 0; j < nkeys && n < sizeof(list); j++) {
				int w = snprintf(list + n, sizeof(list) - n, "%s%s", j ? ", " : "", keys[j]);

				if (w > 0)
					n += w;
			}
			return fail(l, k, "unknown key (expected one of: %s)", list);
		}
		err = fn(l, i, v, obj);
		if (err)
			return err;
		pop_key(l, old);
	}
	return 0;
}

/* ---- values from text (file, environment, flags) ------------------------- */

static int parse_uint(struct loader *l, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			break;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s || *p || v < min || v > max)
		return fail(l, NULL, "'%s': expected a whole number from %llu to %llu", Q(s),
			    (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

/* "12", "1.5": the whole part and up to six decimals, as millionths; the
 * rest of the text in *end. false when there is no number. */
static bool parse_decimal(const char *s, uint64_t *micro, const char **end)
{
	uint64_t whole = 0, frac = 0, scale = 1000000;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole >= 100000000000ull)   /* 1e11: keeps whole * 1e6 * units in range */
			return false;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return false;
	if (*p == '.') {
		const char *f = ++p;

		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale == 1)
				return false;
			scale /= 10;
			frac += (uint64_t)(*p - '0') * scale;
		}
		if (p == f)
			return false;
	}
	*micro = whole * 1000000 + frac;
	*end = p;
	return true;
}

static void format_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms && ms % HOUR_MS == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / HOUR_MS));
	else if (ms && ms % MIN_MS == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / MIN_MS));
	else if (ms % SEC_MS == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / SEC_MS));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
}

static void format_size(uint64_t b, char *buf, size_t len)
{
	if (b && b % TiB == 0)
		snprintf(buf, len, "%lluTiB", (unsigned long long)(b / TiB));
	else if (b && b % GiB == 0)
		snprintf(buf, len, "%lluGiB", (unsigned long long)(b / GiB));
	else if (b && b % MiB == 0)
		snprintf(buf, len, "%lluMiB", (unsigned long long)(b / MiB));
	else if (b && b % KiB == 0)
		snprintf(buf, len, "%lluKiB", (unsigned long long)(b / KiB));
	else
		snprintf(buf, len, "%llu", (unsigned long long)b);
}

/* "15s", "500ms", "2m", "1h", "1.5s" or a bare number of seconds. */
static int parse_duration(struct loader *l, const char *s, uint64_t min_ms, uint64_t max_ms,
			  uint64_t *out)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "", SEC_MS }, { "ms", 1 }, { "s", SEC_MS }, { "m", MIN_MS }, { "h", HOUR_MS },
	};
	char lo[32], hi[32];
	uint64_t micro, ms = 0;
	const char *end;
	bool ok = false;

	if (parse_decimal(s, &micro, &end)) {
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			if (strcmp(end, units[i].unit))
				continue;
			/* micro < 1e17 and ms per unit <= 3.6e6: split to stay in 64 bits. */
			ms = (micro / 1000000) * units[i].ms + (micro % 1000000) * units[i].ms / 1000000;
			ok = true;
			break;
		}
	}
	format_duration(min_ms, lo, sizeof(lo));
	format_duration(max_ms, hi, sizeof(hi));
	if (!ok)
		return fail(l, NULL, "'%s': expected a duration like 15s, 500ms, 2m, 1h or a number "
				     "of seconds, from %s to %s", Q(s), lo, hi);
	if (ms < min_ms || ms > max_ms)
		return fail(l, NULL, "'%s': out of range, from %s to %s", Q(s), lo, hi);
	*out = ms;
	return 0;
}

/* "64MiB", "1GiB", "512KiB", "1000000" (bytes), "1.5GB" (decimal units). */
static int parse_size(struct loader *l, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	static const struct { const char *unit; uint64_t bytes; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "kB", 1000 }, { "KB", 1000 }, { "MB", 1000000 }, { "GB", 1000000000 },
		{ "TB", 1000000000000ull },
		{ "KiB", KiB }, { "MiB", MiB }, { "GiB", GiB }, { "TiB", TiB },
	};
	char lo[32], hi[32];
	uint64_t micro, b = 0;
	const char *end;
	bool ok = false;

	if (parse_decimal(s, &micro, &end)) {
		if (*end == ' ')
			end++;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			uint64_t whole;

			if (strcmp(end, units[i].unit))
				continue;
			ok = !__builtin_mul_overflow(micro / 1000000, units[i].bytes, &whole);
			/* The fraction: < 1e6 times <= 2^40 fits in 64 bits. */
			if (ok)
				ok = !__builtin_add_overflow(whole, (micro % 1000000) * units[i].bytes / 1000000, &b);
			break;
		}
	}
	format_size(min, lo, sizeof(lo));
	format_size(max, hi, sizeof(hi));
	if (!ok)
		return fail(l, NULL, "'%s': expected a size like 64MiB, 1GiB, 512KiB, 100MB or a "
				     "number of bytes, from %s to %s", Q(s), lo, hi);
	if (b < min || b > max)
		return fail(l, NULL, "'%s': out of range, from %s to %s", Q(s), lo, hi);
	*out = b;
	return 0;
}

static int parse_enum(struct loader *l, const char *s, const char *const *names, size_t n,
		      unsigned *out)
{
	char list[128];
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		if (names[i] && !strcmp(s, names[i])) {
			*out = (unsigned)i;
			return 0;
		}
	}
	list[0] = '\0';
	for (size_t i = 0; i < n && len < sizeof(list); i++) {
		int w = snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", names[i]);

		if (w > 0)
			len += w;
	}
	return fail(l, NULL, "'%s': expected one of %s", Q(s), list);
}

static bool has_control(const char *s, bool allow_tab)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && !(allow_tab && *s == '\t')) || *s == 0x7f)
			return true;
	return false;
}

static int check_host(struct loader *l, const char *s)
{
	if (strlen(s) > MAX_HOST)
		return fail(l, NULL, "longer than %u bytes", MAX_HOST);
	if (!utf8__valid(s, strlen(s)) || has_control(s, false))
		return fail(l, NULL, "'%s': expected printable UTF-8 text", Q(s));
	return 0;
}

static bool url_path_char(char ch)
{
	return ch > 0x20 && ch < 0x7f && ch != '?' && ch != '#';
}

/* http(s)://host[:port][/path]; the URL without trailing slashes in *out. */
static int check_url(struct loader *l, const char *s, char **out)
{
	const char *p, *h, *e;
	size_t n;

	if (!strncasecmp(s, "http://", 7))
		p = s + 7;
	else if (!strncasecmp(s, "https://", 8))
		p = s + 8;
	else
		return fail(l, NULL, "'%s': expected a URL (http:// or https://)",
			    strchr(s, '@') ? "..." : Q(s));
	if (strlen(s) > MAX_URL)
		return fail(l, NULL, "longer than %u bytes", MAX_URL);
	e = p + strcspn(p, "/?#");
	if (memchr(p, '@', e - p))
		return fail(l, NULL, "credentials in the URL are not supported (use basic_auth, "
				     "bearer_token_file or bearer_token_env)");
	h = p;
	if (*h == '[') {
		const char *close = memchr(h, ']', e - h);

		if (!close || close == h + 1)
			return fail(l, NULL, "'%s': bad IPv6 address in the URL", Q(s));
		for (const char *c = h + 1; c < close; c++)
			if (!strchr("0123456789abcdefABCDEF:.%", *c))
				return fail(l, NULL, "'%s': bad IPv6 address in the URL", Q(s));
		p = close + 1;
	} else {
		for (p = h; p < e && *p != ':'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
				return fail(l, NULL, "'%s': bad host name in the URL", Q(s));
		if (p == h)
			return fail(l, NULL, "'%s': the URL has no host", Q(s));
	}
	if (p < e && *p == ':') {
		unsigned long port = 0;
		const char *d = ++p;

		for (; p < e && *p >= '0' && *p <= '9' && p - d < 6; p++)
			port = port * 10 + (unsigned long)(*p - '0');
		if (p == d || p != e || port == 0 || port > 65535)
			return fail(l, NULL, "'%s': bad port in the URL", Q(s));
	}
	if (p != e)
		return fail(l, NULL, "'%s': bad host name in the URL", Q(s));
	for (; *p; p++)
		if (!url_path_char(*p))
			return fail(l, NULL, "'%s': a base URL has no query, fragment, spaces or "
					     "non-ASCII characters", Q(s));
	n = strlen(s);
	while (n && s[n - 1] == '/')
		n--;
	*out = strndup(s, n);
	return *out ? 0 : fail_oom(l);
}

static int check_dest_name(struct loader *l, const char *s)
{
	size_t n = strlen(s);

	if (!n || n > MAX_NAME || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return fail(l, NULL, "'%s': expected 1 to %u of a-z, 0-9, _ and -", Q(s), MAX_NAME);
	return 0;
}

static int replace(struct loader *l, char **dst, const char *s)
{
	char *d = strdup(s);

	if (!d)
		return fail_oom(l);
	free(*dst);
	*dst = d;
	return 0;
}

/* ---- typed node readers -------------------------------------------------- */

/* A string: 1 with the text in *s, 0 for null or "" (the default). */
static int get_str(struct loader *l, const yaml_node_t *n, const char **s)
{
	if (is_null(n))
		return 0;
	*s = scalar(l, n, "a string");
	if (!*s)
		return -EINVAL;
	return **s ? 1 : 0;
}

static int get_path(struct loader *l, const yaml_node_t *n, char **dst)
{
	const char *s;
	int r = get_str(l, n, &s);

	if (r <= 0)
		return r;
	if (has_control(s, false))
		return fail(l, n, "contains control characters");
	return replace(l, dst, s);
}

static int get_uint(struct loader *l, const yaml_node_t *n, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	const char *s;

	if (is_null(n))
		return 0;
	if (!(s = scalar(l, n, "a number")))
		return -EINVAL;
	if (!*s)
		return 0;   /* "": the default */
	return parse_uint(l, s, min, max, out);
}

static int get_bool(struct loader *l, const yaml_node_t *n, bool *out)
{
	const char *s;

	if (is_null(n))
		return 0;
	if (!(s = scalar(l, n, "true or false")))
		return -EINVAL;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		*out = false;
	else
		return fail(l, n, "'%s': expected true or false", Q(s));
	return 0;
}

static int get_duration(struct loader *l, const yaml_node_t *n, uint64_t min, uint64_t max,
			uint64_t *out)
{
	const char *s;

	if (is_null(n))
		return 0;
	if (!(s = scalar(l, n, "a duration")))
		return -EINVAL;
	if (!*s)
		return 0;   /* "": the default */
	return parse_duration(l, s, min, max, out);
}

static int get_size(struct loader *l, const yaml_node_t *n, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	const char *s;

	if (is_null(n))
		return 0;
	if (!(s = scalar(l, n, "a size")))
		return -EINVAL;
	if (!*s)
		return 0;   /* "": the default */
	return parse_size(l, s, min, max, out);
}

static int get_enum(struct loader *l, const yaml_node_t *n, const char *const *names, size_t nn,
		    unsigned *out)
{
	const char *s;

	if (is_null(n))
		return 0;
	if (!(s = scalar(l, n, "a string")))
		return -EINVAL;
	return parse_enum(l, s, names, nn, out);
}

/* A list of per-sample label names: 1 when given (possibly empty), 0 for
 * null (the default). */
static int get_labels(struct loader *l, const yaml_node_t *n, size_t nallowed, const char ***out,
		      size_t *nout)
{
	const char *picked[NSAMPLE_LABELS];
	size_t count = 0, i = 0;
	yaml_node_item_t *it;
	const char **arr;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, "expected a list of label names, got %s", kind(n));
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = push_index(l, i);
		unsigned idx;
		const char *s;

		if (!v || !(s = scalar(l, v, "a label name")))
			return v ? -EINVAL : fail(l, n, "malformed list");
		if (parse_enum(l, s, sample_label_names, nallowed, &idx))
			return -EINVAL;
		for (size_t j = 0; j < count; j++)
			if (picked[j] == sample_label_names[idx])
				return fail(l, v, "'%s' is listed twice", s);
		picked[count++] = sample_label_names[idx];
		pop_key(l, old);
	}
	arr = calloc(count ? count : 1, sizeof(*arr));
	if (!arr)
		return fail_oom(l);
	memcpy(arr, picked, count * sizeof(*arr));
	free(*out);
	*out = arr;
	*nout = count;
	return 1;
}

/* ---- secrets ------------------------------------------------------------- */

/* A secret is one line: a header value cannot hold a line break, and a
 * trailing newline is what editors and `echo` leave behind. */
static int check_secret(struct loader *l, const yaml_node_t *at, const char *where,
			const char *s, size_t len)
{
	if (!len)
		return fail(l, at, "%s is empty", where);
	if (strlen(s) != len || has_control(s, true))
		return fail(l, at, "%s holds more than one line or control characters", where);
	return 0;
}

static int read_secret_file(struct loader *l, const yaml_node_t *at, const char *path,
			    char **out)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, err;

	/* Only regular files: opening a FIFO would hang the start, and opening
	 * some devices has effects of its own. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return fail(l, at, "cannot read %s: not a regular file", Q(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(l, at, "cannot read %s: %s", Q(path), strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		err = fail(l, at, "cannot read %s: not a regular file", Q(path));
		goto cleanup;
	}
	buf = malloc(MAX_SECRET_BYTES + 1);
	if (!buf) {
		err = fail_oom(l);
		goto cleanup;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, MAX_SECRET_BYTES + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = fail(l, at, "cannot read %s: %s", Q(path), strerror(errno));
			goto cleanup;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > MAX_SECRET_BYTES) {
			err = fail(l, at, "%s is larger than %u bytes", Q(path), MAX_SECRET_BYTES);
			goto cleanup;
		}
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	err = check_secret(l, at, Q(path), buf, len);
	if (err)
		goto cleanup;
	*out = buf;
	buf = NULL;
cleanup:
	if (buf)
		explicit_bzero(buf, MAX_SECRET_BYTES + 1);
	free(buf);
	close(fd);
	return err;
}

static bool env_name_valid(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int read_secret_env(struct loader *l, const yaml_node_t *at, const char *name, char **out)
{
	char where[96];
	const char *v;

	if (!env_name_valid(name))
		return fail(l, at, "'%s': expected the name of an environment variable", Q(name));
	v = getenv(name);
	if (!v)
		return fail(l, at, "environment variable %s is not set", Q(name));
	snprintf(where, sizeof(where), "environment variable %s", Q(name));
	if (check_secret(l, at, where, v, strlen(v)))
		return -EINVAL;
	*out = strdup(v);
	return *out ? 0 : fail_oom(l);
}

static void free_secret(char **s)
{
	if (*s)
		explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

/* "${VAR}" references expanded from the environment, "$$" for a "$". */
static int expand(struct loader *l, const yaml_node_t *at, const char *raw, char **out)
{
	size_t cap = strlen(raw) + 1, len = 0;
	char *buf = malloc(cap);
	const char *p = raw;
	int err;

	if (!buf)
		return fail_oom(l);
	while (*p) {
		const char *add = p;
		size_t n = 1;

		if (p[0] == '$' && p[1] == '$') {
			p += 2;
		} else if (p[0] == '$' && p[1] == '{') {
			const char *close = strchr(p + 2, '}');
			char name[256];

			if (!close || close - p - 2 >= (ptrdiff_t)sizeof(name)) {
				err = fail(l, at, "unterminated ${ (write $$ for a literal $)");
				goto cleanup;
			}
			memcpy(name, p + 2, close - p - 2);
			name[close - p - 2] = '\0';
			if (!env_name_valid(name)) {
				err = fail(l, at, "'${%s}': expected the name of an environment variable",
					   Q(name));
				goto cleanup;
			}
			add = getenv(name);
			if (!add) {
				err = fail(l, at, "environment variable %s is not set", name);
				goto cleanup;
			}
			n = strlen(add);
			p = close + 1;
		} else {
			p++;
		}
		if (len + n + 1 > MAX_HEADER_VALUE + 1) {
			err = fail(l, at, "longer than %u bytes once expanded", MAX_HEADER_VALUE);
			goto cleanup;
		}
		if (len + n + 1 > cap) {
			char *nb;

			cap = len + n + 1 > cap * 2 ? len + n + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = fail_oom(l);
				goto cleanup;
			}
			buf = nb;
		}
		memcpy(buf + len, add, n);
		len += n;
	}
	buf[len] = '\0';
	/* Not quoted: the expansion may be a secret. */
	if (has_control(buf, true)) {
		err = fail(l, at, "holds line breaks or control characters once expanded");
		goto cleanup;
	}
	*out = buf;
	return 0;
cleanup:
	explicit_bzero(buf, cap);
	free(buf);
	return err;
}

/* ---- the schema ---------------------------------------------------------- */

enum { S_FREQUENCY, S_UNWIND, S_STACK_SIZE, S_INCLUDE_IDLE, S_CPUS, S_UNWIND_TABLE_MEMORY };
static const char *const sampling_keys[] = { "frequency", "unwind", "stack_size", "include_idle",
					     "cpus", "unwind_table_memory" };

static int set_cpus(struct loader *l, const char *s)
{
	uint8_t *bits = malloc(CONFIG_MAX_CPUS / 8);
	int n;

	if (!bits)
		return fail_oom(l);
	n = s[0] >= '0' && s[0] <= '9' && !has_control(s, false) ? sampler__parse_cpu_list(s, bits, CONFIG_MAX_CPUS) : -EINVAL;
	free(bits);
	if (n <= 0)
		return fail(l, NULL, "'%s': expected a CPU list like 0-3,8 (CPUs below %u)", Q(s),
			    CONFIG_MAX_CPUS);
	return replace(l, &l->c->cpus, s);
}

static int on_sampling(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct config *c = obj;
	uint64_t u;
	unsigned e;
	const char *s;
	int r;

	switch (key) {
	case S_FREQUENCY:
		u = c->frequency_hz;
		r = get_uint(l, v, 1, 10000, &u);
		c->frequency_hz = u;
		return r;
	case S_UNWIND:
		e = c->unwind;
		r = get_enum(l, v, unwind_names, ARRAY_SIZE(unwind_names), &e);
		c->unwind = e;
		return r;
	case S_STACK_SIZE:
		u = c->stack_size;
		r = get_uint(l, v, IGNIS_STACK_MIN, IGNIS_STACK_MAX, &u);
		if (!r && u % 8)
			return fail(l, v, "'%llu': expected a multiple of 8", (unsigned long long)u);
		c->stack_size = u;
		return r;
	case S_INCLUDE_IDLE:
		return get_bool(l, v, &c->include_idle);
	case S_CPUS:
		r = get_str(l, v, &s);
		return r <= 0 ? r : set_cpus(l, s);
	case S_UNWIND_TABLE_MEMORY:
		return get_size(l, v, UNWSTORE_MIN_BUDGET, UNWSTORE_MAX_BUDGET,
				&c->unwind_table_bytes);
	}
	return 0;
}

static const char *const log_keys[] = { "level", "format" };

static int on_log(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct config *c = obj;
	unsigned e;
	int r;

	if (key == 0) {
		e = c->log_level;
		r = get_enum(l, v, level_names, ARRAY_SIZE(level_names), &e);
		c->log_level = e;
		return r;
	}
	e = c->log_format;
	r = get_enum(l, v, format_names, ARRAY_SIZE(format_names), &e);
	c->log_format = e;
	return r;
}

static const char *const labels_keys[] = { "sample_labels" };

static int on_labels(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct config *c = obj;
	int r;

	(void)key;
	r = get_labels(l, v, NSAMPLE_LABELS_ANY, &c->sample_labels, &c->nsample_labels);
	return r < 0 ? r : 0;
}

enum { Y_DEBUG_DIRS, Y_DEBUGINFOD_URLS, Y_DEBUGINFOD_CACHE, Y_DEBUGINFOD_CACHE_SIZE, Y_CACHE_SIZE };
static const char *const symbols_keys[] = { "debug_dirs", "debuginfod_urls", "debuginfod_cache",
					    "debuginfod_cache_size", "cache_size" };

static int get_debug_dirs(struct loader *l, yaml_node_t *n, struct config *c)
{
	yaml_node_item_t *it;
	size_t count, i = 0;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, "expected a list of directories, got %s", kind(n));
	count = n->data.sequence.items.top - n->data.sequence.items.start;
	if (count > CONFIG_MAX_DEBUG_DIRS)
		return fail(l, n, "more than %u directories", CONFIG_MAX_DEBUG_DIRS);
	c->debug_dirs = calloc(count ? count : 1, sizeof(*c->debug_dirs));
	if (!c->debug_dirs)
		return fail_oom(l);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = push_index(l, i);
		char *d = NULL;
		int r;

		if (!v)
			return fail(l, n, "malformed list");
		r = get_path(l, v, &d);
		if (r < 0)
			return r;
		if (!d)
			return fail(l, v, "expected a directory, got an empty string");
		c->debug_dirs[c->ndebug_dirs++] = d;
		pop_key(l, old);
	}
	return 0;
}

/* Appends the URLs of one scalar (space-separated) to out. */
static int add_urls(struct loader *l, yaml_node_t *v, char *out, size_t *len)
{
	char *copy, *tok, *save;
	const char *s;
	int err = 0;

	if (!(s = scalar(l, v, "a URL")))
		return -EINVAL;
	copy = strdup(s);
	if (!copy)
		return fail_oom(l);
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *u;

		err = check_url(l, tok, &u);
		if (err)
			break;
		if (*len + strlen(u) + 1 > MAX_STRING) {
			free(u);
			err = fail(l, v, "longer than %u bytes", MAX_STRING);
			break;
		}
		*len += sprintf(out + *len, "%s%s", *len ? " " : "", u);
		free(u);
	}
	free(copy);
	return err;
}

/* A space-separated string or a list of http(s) URLs; "" or [] turn
 * debuginfod off, null leaves DEBUGINFOD_URLS in charge. */
static int get_debuginfod_urls(struct loader *l, yaml_node_t *n, struct config *c)
{
	yaml_node_item_t *it;
	size_t len = 0, i = 0;
	char *out;
	int err = 0;

	if (is_null(n))
		return 0;
	if (n->type == YAML_MAPPING_NODE)
		return fail(l, n, "expected a string or a list of URLs, got %s", kind(n));
	out = calloc(1, MAX_STRING + 1);
	if (!out)
		return fail_oom(l);
	if (n->type == YAML_SCALAR_NODE) {
		err = add_urls(l, n, out, &len);
	} else {
		for (it = n->data.sequence.items.start; !err && it < n->data.sequence.items.top;
		     it++, i++) {
			yaml_node_t *v = node(l, *it);
			size_t old = push_index(l, i);

			err = v ? add_urls(l, v, out, &len) : fail(l, n, "malformed list");
			if (!err)
				pop_key(l, old);
		}
	}
	if (err) {
		free(out);
		return err;
	}
	free(c->debuginfod_urls);
	c->debuginfod_urls = out;
	return 0;
}

static int on_symbols(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct config *c = obj;

	switch (key) {
	case Y_DEBUG_DIRS:
		return get_debug_dirs(l, v, c);
	case Y_DEBUGINFOD_URLS:
		return get_debuginfod_urls(l, v, c);
	case Y_DEBUGINFOD_CACHE:
		return get_path(l, v, &c->debuginfod_cache);
	case Y_DEBUGINFOD_CACHE_SIZE:
		return get_size(l, v, MiB, TiB, &c->debuginfod_cache_bytes);
	case Y_CACHE_SIZE:
		return get_size(l, v, MiB, 64 * GiB, &c->symbol_cache_bytes);
	}
	return 0;
}

/* ---- names --------------------------------------------------------------- */

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_alnum(char ch)
{
	return is_alpha(ch) || (ch >= '0' && ch <= '9');
}

/* A DNS name: dot-separated labels of letters, digits and inner '-'. */
static bool dns_name(const char *s)
{
	size_t n = strlen(s), lab = 0;

	if (!n || n > 253)
		return false;
	for (const char *p = s;; p++) {
		if (*p == '.' || !*p) {
			if (!lab || p[-1] == '-')
				return false;
			if (!*p)
				return true;
			lab = 0;
			continue;
		}
		if (!is_alnum(*p) && !(*p == '-' && lab))
			return false;
		if (++lab > 63)
			return false;
	}
}

/* A label name in tag_rules: it must survive both schemas (Pyroscope's
 * [A-Za-z0-9_.] and Datadog's tag keys, where ':' would split key from
 * value), so the common ground plus '-' and '/'. "__" names are the
 * agent's discovery labels, which never leave it. */
#define MAX_TAG_NAME 200u
static bool tag_label_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > MAX_TAG_NAME || !(is_alpha(*s) || *s == '_') || !strncmp(s, "__", 2))
		return false;
	for (s++; *s; s++)
		if (!is_alnum(*s) && !strchr("_.-/", *s))
			return false;
	return true;
}

static int check_tag_label(struct loader *l, const yaml_node_t *at, const char *s)
{
	if (tag_label_name(s))
		return 0;
	return fail(l, at, "'%s': expected a label name (a letter or _, then letters, digits, "
			   "_ . - /; at most %u bytes; not starting with __)", Q(s), MAX_TAG_NAME);
}

/* Prometheus label names, as relabel rules name them. */
static bool prom_label_name(const char *s)
{
	if (!(is_alpha(*s) || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!is_alnum(*s) && *s != '_')
			return false;
	return true;
}

/* A scalar that may be "" (then it means ""): 1 with the text, 0 for null. */
static int get_raw(struct loader *l, const yaml_node_t *n, const char **s)
{
	if (is_null(n))
		return 0;
	*s = scalar(l, n, "a string");
	return *s ? 1 : -EINVAL;
}

static int set_cstr(struct loader *l, const char **dst, const char *s)
{
	char *d = strdup(s);

	if (!d)
		return fail_oom(l);
	free((char *)*dst);
	*dst = d;
	return 0;
}

/* ---- metrics ------------------------------------------------------------- */

static int set_listen(struct loader *l, const char *s)
{
	struct config *c = l->c;
	const char *h, *he, *p;
	unsigned long port;

	free(c->metrics_listen);
	free(c->metrics_host);
	c->metrics_listen = c->metrics_host = NULL;
	c->metrics_port = 0;
	if (!*s || !strcmp(s, "off"))
		return 0;
	if (*s == '[') {
		he = strchr(s, ']');
		if (!he || he == s + 1 || he[1] != ':')
			goto bad;
		for (p = s + 1; p < he; p++)
			if (!strchr("0123456789abcdefABCDEF:.", *p))
				goto bad;
		h = s + 1;
		p = he + 2;
	} else {
		he = strrchr(s, ':');
		if (!he || he == s)
			goto bad;
		h = s;
		for (p = s; p < he; p++)
			if (!is_alnum(*p) && *p != '.' && *p != '-')
				goto bad;
		p = he + 1;
	}
	if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
		goto bad;
	port = strtoul(p, NULL, 10);
	if (port < 1 || port > 65535)
		return fail(l, NULL, "'%s': the port must be from 1 to 65535", Q(s));
	c->metrics_host = strndup(h, he - h);
	c->metrics_listen = strdup(s);
	c->metrics_port = port;
	if (!c->metrics_host || !c->metrics_listen)
		return fail_oom(l);
	return 0;
bad:
	return fail(l, NULL, "'%s': expected HOST:PORT like 127.0.0.1:9464 or [::1]:9464, or off",
		    Q(s));
}

static const char *const metrics_keys[] = { "listen" };

static int on_metrics(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	const char *s;
	int r;

	(void)key;
	(void)obj;
	r = get_raw(l, v, &s);   /* "" turns it off; null is the default */
	return r <= 0 ? r : set_listen(l, s);
}

/* ---- kubernetes ---------------------------------------------------------- */

enum { K_ENABLED, K_NODE_NAME, K_API_URL, K_TOKEN_FILE, K_CA_FILE, K_KUBELET_URL, K_INSECURE,
       K_RESYNC, K_MAX_PODS };
static const char *const k8s_keys[] = { "enabled", "node_name", "api_url", "token_file", "ca_file",
					"kubelet_url", "insecure_skip_verify", "resync", "max_pods" };

static int on_k8s(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct config_kubernetes *k = obj;
	const char *s;
	uint64_t u;
	unsigned e;
	char **url;
	int r;

	switch (key) {
	case K_ENABLED:
		l->k8s_enabled_line = v->start_mark.line + 1;
		e = k->mode;
		r = get_enum(l, v, k8s_mode_names, ARRAY_SIZE(k8s_mode_names), &e);
		k->mode = e;
		return r;
	case K_NODE_NAME:
		r = get_str(l, v, &s);
		if (r <= 0)
			return r;
		return check_host(l, s) ? -EINVAL : replace(l, &k->node_name, s);
	case K_API_URL:
	case K_KUBELET_URL:
		r = get_str(l, v, &s);
		if (r <= 0)
			return r;
		url = key == K_API_URL ? &k->api_url : &k->kubelet_url;
		free(*url);
		*url = NULL;
		return check_url(l, s, url);
	case K_TOKEN_FILE:
		return get_path(l, v, &k->token_file);
	case K_CA_FILE:
		return get_path(l, v, &k->ca_file);
	case K_INSECURE:
		return get_bool(l, v, &k->insecure_skip_verify);
	case K_RESYNC:
		return get_duration(l, v, 10 * SEC_MS, 24 * HOUR_MS, &k->resync_ms);
	case K_MAX_PODS:
		u = k->max_pods;
		r = get_uint(l, v, 1, 100000, &u);
		k->max_pods = u;
		return r;
	}
	return 0;
}

/* ---- relabel_configs ----------------------------------------------------- */

enum { RL_SOURCE_LABELS, RL_SEPARATOR, RL_REGEX, RL_TARGET, RL_REPLACEMENT, RL_ACTION };
static const char *const relabel_keys[] = { "source_labels", "separator", "regex", "target_label",
					    "replacement", "action" };
#define MAX_SOURCE_LABELS 64u

/* Compiled as the relabeling code will (anchored like Prometheus', UTF-8)
 * so a bad pattern stops the start, not the first process. */
static int check_regex(struct loader *l, const yaml_node_t *at, const char *re)
{
	size_t n = strlen(re);
	char *wrapped = malloc(n + 8);
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	pcre2_code *rc;
	int code;

	if (!wrapped)
		return fail_oom(l);
	snprintf(wrapped, n + 8, "^(?:%s)$", re);
	rc = pcre2_compile((PCRE2_SPTR)wrapped, n + 6, PCRE2_UTF, &code, &off, NULL);
	free(wrapped);
	if (rc) {
		pcre2_code_free(rc);
		return 0;
	}
	if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
		snprintf((char *)msg, sizeof(msg), "error %d", code);
	/* The offset in the user's pattern, not in the wrapped one. */
	off = off >= 4 ? off - 4 : 0;
	if (off > n)
		off = n;
	return fail(l, at, "%s at offset %zu", (const char *)msg, (size_t)off);
}

struct relabel_ctx {
	struct relabel_rule *r;
	bool has_replacement;
};

static int get_source_labels(struct loader *l, yaml_node_t *n, struct relabel_rule *r)
{
	yaml_node_item_t *it;
	size_t count, i = 0;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, "expected a list of label names, got %s", kind(n));
	count = n->data.sequence.items.top - n->data.sequence.items.start;
	if (count > MAX_SOURCE_LABELS)
		return fail(l, n, "more than %u labels", MAX_SOURCE_LABELS);
	r->source_labels = calloc(count ? count : 1, sizeof(*r->source_labels));
	if (!r->source_labels)
		return fail_oom(l);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = push_index(l, i);
		const char *s;

		if (!v)
			return fail(l, n, "malformed list");
		if (!(s = scalar(l, v, "a label name")))
			return -EINVAL;
		if (!prom_label_name(s))
			return fail(l, v, "'%s': expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)", Q(s));
		if (set_cstr(l, &r->source_labels[r->nsource_labels], s))
			return -ENOMEM;
		r->nsource_labels++;
		pop_key(l, old);
	}
	return 0;
}

static int on_relabel(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct relabel_ctx *x = obj;
	struct relabel_rule *r = x->r;
	const char *s;
	unsigned e;
	int rr;

	switch (key) {
	case RL_SOURCE_LABELS:
		return get_source_labels(l, v, r);
	case RL_SEPARATOR:
		rr = get_raw(l, v, &s);
		return rr <= 0 ? rr : set_cstr(l, &r->separator, s);
	case RL_REGEX:
		rr = get_raw(l, v, &s);
		if (rr <= 0)
			return rr;
		return check_regex(l, v, s) ? -EINVAL : set_cstr(l, &r->regex, s);
	case RL_TARGET:
		rr = get_str(l, v, &s);
		if (rr <= 0)
			return rr;
		if (has_control(s, false))
			return fail(l, v, "contains control characters");
		return set_cstr(l, &r->target_label, s);
	case RL_REPLACEMENT:
		rr = get_raw(l, v, &s);
		if (rr <= 0)
			return rr;
		if (has_control(s, false))
			return fail(l, v, "contains control characters");
		x->has_replacement = true;
		return set_cstr(l, &r->replacement, s);
	case RL_ACTION:
		e = r->action;
		rr = get_enum(l, v, action_names, ARRAY_SIZE(action_names), &e);
		r->action = e;
		return rr;
	}
	return 0;
}

/* What each action reads, so a rule that sets what its action ignores is
 * a mistake caught at load rather than a silent no-op. */
static int check_relabel(struct loader *l, const yaml_node_t *at, const struct relabel_ctx *x)
{
	const struct relabel_rule *r = x->r;
	const char *name = action_names[r->action];
	const char *unused = NULL;

	switch (r->action) {
	case RELABEL_REPLACE:
		if (!r->target_label) {
			push_key(l, "target_label");
			return fail(l, at, "required for action replace");
		}
		break;
	case RELABEL_KEEP:
	case RELABEL_DROP:
		if (r->target_label)
			unused = "target_label";
		else if (x->has_replacement)
			unused = "replacement";
		break;
	case RELABEL_LABELMAP:
		if (r->nsource_labels)
			unused = "source_labels";
		else if (r->target_label)
			unused = "target_label";
		break;
	case RELABEL_LABELDROP:
	case RELABEL_LABELKEEP:
		if (r->nsource_labels)
			unused = "source_labels";
		else if (r->target_label)
			unused = "target_label";
		else if (x->has_replacement)
			unused = "replacement";
		break;
	}
	if (unused) {
		push_key(l, unused);
		return fail(l, at, "not used by action %s", name);
	}
	return 0;
}

static int get_relabel(struct loader *l, yaml_node_t *n)
{
	struct config *c = l->c;
	yaml_node_item_t *it;
	size_t count, i = 0;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, "expected a list of rules, got %s", kind(n));
	count = n->data.sequence.items.top - n->data.sequence.items.start;
	if (count > CONFIG_MAX_RELABEL)
		return fail(l, n, "more than %u rules", CONFIG_MAX_RELABEL);
	c->relabel = calloc(count ? count : 1, sizeof(*c->relabel));
	if (!c->relabel)
		return fail_oom(l);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = push_index(l, i);
		struct relabel_ctx x = { .r = &c->relabel[c->nrelabel] };
		int err;

		if (!v)
			return fail(l, n, "malformed list");
		if (v->type != YAML_MAPPING_NODE)
			return fail(l, v, "expected a mapping (a rule), got %s", kind(v));
		c->nrelabel++;
		err = walk_map(l, v, relabel_keys, ARRAY_SIZE(relabel_keys), on_relabel, &x);
		if (!err)
			err = check_relabel(l, v, &x);
		if (err)
			return err;
		pop_key(l, old);
	}
	return 0;
}

/* ---- tag_rules ----------------------------------------------------------- */

enum { TR_RENAME, TR_DROP, TR_SET, TR_SPLIT };
static const char *const tag_rule_keys[] = { "rename", "drop", "set", "split" };
static const char *const rename_keys[] = { "from", "to" };
static const char *const set_keys[] = { "key", "value" };
static const char *const split_keys[] = { "source", "separator", "targets" };
#define MAX_TAG_VALUE 2048u   /* Pyroscope's label value limit (WIRE.md) */
#define MAX_SEPARATOR 16u

static int get_label_field(struct loader *l, yaml_node_t *v, const char **dst)
{
	const char *s;
	int r = get_str(l, v, &s);

	if (r <= 0)
		return r;
	return check_tag_label(l, v, s) ? -EINVAL : set_cstr(l, dst, s);
}

static int on_rename(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct tag_rule *r = obj;

	return get_label_field(l, v, key == 0 ? &r->from : &r->to);
}

static int on_set(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct tag_rule *r = obj;
	const char *s;
	int rr;

	if (key == 0)
		return get_label_field(l, v, &r->key);
	rr = get_str(l, v, &s);
	if (rr <= 0)
		return rr;
	if (strlen(s) > MAX_TAG_VALUE)
		return fail(l, v, "longer than %u bytes", MAX_TAG_VALUE);
	if (!utf8__valid(s, strlen(s)) || has_control(s, false))
		return fail(l, v, "'%s': expected printable UTF-8 text", Q(s));
	return set_cstr(l, &r->value, s);
}

static int get_targets(struct loader *l, yaml_node_t *n, struct tag_rule *r)
{
	yaml_node_item_t *it;
	size_t count, i = 0;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, "expected a list of label names, got %s", kind(n));
	count = n->data.sequence.items.top - n->data.sequence.items.start;
	if (count < 2 || count > TAGMAP_MAX_TARGETS)
		return fail(l, n, "must list 2..%u labels", TAGMAP_MAX_TARGETS);
	r->targets = calloc(count, sizeof(*r->targets));
	if (!r->targets)
		return fail_oom(l);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = push_index(l, i);
		const char *s;

		if (!v)
			return fail(l, n, "malformed list");
		if (!(s = scalar(l, v, "a label name")) || check_tag_label(l, v, s))
			return -EINVAL;
		for (size_t j = 0; j < r->ntargets; j++)
			if (!strcmp(r->targets[j], s))
				return fail(l, v, "'%s' is listed twice", s);
		if (set_cstr(l, &r->targets[r->ntargets], s))
			return -ENOMEM;
		r->ntargets++;
		pop_key(l, old);
	}
	return 0;
}

static int on_split(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct tag_rule *r = obj;
	const char *s;
	int rr;

	switch (key) {
	case 0:
		return get_label_field(l, v, &r->source);
	case 1:
		rr = get_str(l, v, &s);
		if (rr <= 0)
			return rr;
		if (strlen(s) > MAX_SEPARATOR || has_control(s, false))
			return fail(l, v, "'%s': expected 1 to %u printable characters", Q(s),
				    MAX_SEPARATOR);
		return set_cstr(l, &r->separator, s);
	default:
		return get_targets(l, v, r);
	}
}

/* A required field of a rule kind, reported at the rule. */
static int need(struct loader *l, const yaml_node_t *at, const void *field, const char *name)
{
	if (field)
		return 0;
	push_key(l, name);
	return fail(l, at, "required");
}

static int on_tag_rule(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct tag_rule *r = obj;
	const char *s;
	int err;

	switch (key) {
	case TR_RENAME:
		r->kind = TAG_RENAME;
		err = walk_map(l, v, rename_keys, ARRAY_SIZE(rename_keys), on_rename, r);
		if (!err)
			err = need(l, v, r->from, "from");
		if (!err)
			err = need(l, v, r->to, "to");
		return err;
	case TR_DROP:
		r->kind = TAG_DROP;
		if (is_null(v))
			return fail(l, v, "expected a label name");
		if (!(s = scalar(l, v, "a label name")) || check_tag_label(l, v, s))
			return -EINVAL;
		return set_cstr(l, &r->key, s);
	case TR_SET:
		r->kind = TAG_SET;
		err = walk_map(l, v, set_keys, ARRAY_SIZE(set_keys), on_set, r);
		if (!err)
			err = need(l, v, r->key, "key");
		if (!err)
			err = need(l, v, r->value, "value");
		return err;
	case TR_SPLIT:
		r->kind = TAG_SPLIT;
		err = walk_map(l, v, split_keys, ARRAY_SIZE(split_keys), on_split, r);
		if (!err)
			err = need(l, v, r->source, "source");
		if (!err)
			err = need(l, v, r->separator, "separator");
		if (!err)
			err = need(l, v, r->targets, "targets");
		return err;
	}
	return 0;
}

static int get_tag_rules(struct loader *l, yaml_node_t *n, struct config_destination *d)
{
	yaml_node_item_t *it;
	size_t count, i = 0;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, "expected a list of rules, got %s", kind(n));
	count = n->data.sequence.items.top - n->data.sequence.items.start;
	if (count > TAGMAP_MAX_RULES)
		return fail(l, n, "more than %u rules", TAGMAP_MAX_RULES);
	d->tag_rules = calloc(count ? count : 1, sizeof(*d->tag_rules));
	if (!d->tag_rules)
		return fail_oom(l);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = push_index(l, i);
		int err;

		if (!v)
			return fail(l, n, "malformed list");
		if (v->type != YAML_MAPPING_NODE ||
		    v->data.mapping.pairs.top - v->data.mapping.pairs.start != 1)
			return fail(l, v, "expected a mapping with one key: rename, drop, set or split");
		err = walk_map(l, v, tag_rule_keys, ARRAY_SIZE(tag_rule_keys), on_tag_rule,
			       &d->tag_rules[d->ntag_rules++]);
		if (err)
			return err;
		pop_key(l, old);
	}
	return 0;
}

/* ---- datadog tags -------------------------------------------------------- */

/* Datadog's tag rules (WIRE.md): a tag starts with a letter, holds
 * [A-Za-z0-9_-:./\], at most 200 characters, and does not end with ':'.
 * The key cannot hold ':' (it separates the value). */
#define DD_MAX_TAG 200u
static bool dd_tag_chars(const char *s, bool colon)
{
	for (; *s; s++)
		if (!is_alnum(*s) && !strchr("_-./\\", *s) && !(colon && *s == ':'))
			return false;
	return true;
}

static int get_dd_tags(struct loader *l, yaml_node_t *n, struct config_destination *d)
{
	yaml_node_pair_t *p;
	size_t count;

	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, "expected a mapping of tag names to values, got %s", kind(n));
	count = n->data.mapping.pairs.top - n->data.mapping.pairs.start;
	if (count > CONFIG_MAX_TAGS)
		return fail(l, n, "more than %u tags", CONFIG_MAX_TAGS);
	d->tags = calloc(count ? count : 1, sizeof(*d->tags));
	if (!d->tags)
		return fail_oom(l);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
		struct config_tag *t = &d->tags[d->ntags];
		const char *name, *val;
		size_t old;

		if (!k || !v)
			return fail(l, n, "malformed mapping");
		if (!(name = scalar(l, k, "a tag name")))
			return -EINVAL;
		old = push_key(l, name);
		if (!is_alpha(*name) || !dd_tag_chars(name, false))
			return fail(l, k, "not a valid Datadog tag name (a letter, then letters, "
					  "digits, _ - . / \\)");
		for (size_t i = 0; i < d->ntags; i++)
			if (!strcasecmp(d->tags[i].key, name))
				return fail(l, k, "duplicate tag (Datadog ignores case)");
		if (is_null(v) || !(val = scalar(l, v, "a tag value")) || !*val)
			return is_null(v) ? fail(l, v, "empty value") : -EINVAL;
		if (!dd_tag_chars(val, true) || val[strlen(val) - 1] == ':')
			return fail(l, v, "'%s': not a valid Datadog tag value (letters, digits, "
					  "_ - : . / \\, not ending with :)", Q(val));
		if (strlen(name) + 1 + strlen(val) > DD_MAX_TAG)
			return fail(l, v, "the tag is longer than %u characters", DD_MAX_TAG);
		t->key = strdup(name);
		t->value = strdup(val);
		d->ntags++;
		if (!t->key || !t->value)
			return fail_oom(l);
		pop_key(l, old);
	}
	return 0;
}

/* ---- destinations -------------------------------------------------------- */

static void dest_defaults(struct config_destination *d, enum config_dest_type type)
{
	d->type = type;
	d->sample_ppm = 1000000;
	d->default_tag_rules = true;
	if (type == CONFIG_DEST_FILE) {
		d->max_bytes = GiB;
		return;   /* a local write has no intake to refuse old profiles */
	}
	d->api = CONFIG_API_PUSH;
	d->timeout_ms = 10 * SEC_MS;   /* also what Datadog's clients use (WIRE.md) */
	d->queue_bytes = 64 * MiB;
	d->spool_enabled = true;
	d->spool_max_bytes = GiB;
	d->compression = CONFIG_COMPRESS_ZSTD;
	/* Pyroscope refuses profiles over 1 h old (WIRE.md, server limits).
	 * Datadog documents no bound for profiles; the one its intakes do
	 * document is for metrics: points over 1 h old are not ingested
	 * (docs.datadoghq.com "Historical Metrics Ingestion", "Submit metric":
	 * "not ... more than 1 hour in the past"). 1 h for both. */
	d->max_age_ms = HOUR_MS;
}

struct dest_ctx {
	struct config_destination *d;
	struct dest_state *st;
};

#define TP (1u << CONFIG_DEST_PYROSCOPE)
#define TF (1u << CONFIG_DEST_FILE)
#define TD (1u << CONFIG_DEST_DATADOG)

enum { D_NAME, D_TYPE, D_URL, D_API, D_TENANT, D_BASIC, D_BEARER_FILE, D_BEARER_ENV, D_HEADERS,
       D_TLS, D_TIMEOUT, D_QUEUE, D_LABELS, D_DIRECTORY, D_MAX_SIZE, D_AGENTLESS, D_SITE,
       D_API_KEY_FILE, D_API_KEY_ENV, D_COMPRESSION, D_TAGS, D_UPLOAD_INTERVAL,
       D_SAMPLE_FRACTION, D_MAX_AGE, D_SPOOL, D_TAG_RULES, D_DEFAULT_TAG_RULES };
static const char *const dest_keys[] = {
	"name", "type", "url", "api", "tenant_id", "basic_auth", "bearer_token_file",
	"bearer_token_env", "headers", "tls", "timeout", "queue_size", "sample_labels",
	"directory", "max_size", "agentless", "site", "api_key_file", "api_key_env", "compression",
	"tags", "upload_interval", "sample_fraction", "max_age", "spool", "tag_rules",
	"default_tag_rules",
};
/* Which types take each key. */
static const unsigned dest_key_types[] = {
	[D_NAME] = TP | TF | TD, [D_TYPE] = TP | TF | TD, [D_URL] = TP | TD, [D_API] = TP,
	[D_TENANT] = TP, [D_BASIC] = TP, [D_BEARER_FILE] = TP, [D_BEARER_ENV] = TP,
	[D_HEADERS] = TP | TD, [D_TLS] = TP | TD, [D_TIMEOUT] = TP | TD, [D_QUEUE] = TP | TD,
	[D_LABELS] = TP | TF | TD, [D_DIRECTORY] = TF, [D_MAX_SIZE] = TF, [D_AGENTLESS] = TD,
	[D_SITE] = TD, [D_API_KEY_FILE] = TD, [D_API_KEY_ENV] = TD, [D_COMPRESSION] = TD,
	[D_TAGS] = TD, [D_UPLOAD_INTERVAL] = TP | TF | TD, [D_SAMPLE_FRACTION] = TP | TF | TD,
	[D_MAX_AGE] = TP | TF | TD, [D_SPOOL] = TP | TD, [D_TAG_RULES] = TP | TF | TD,
	[D_DEFAULT_TAG_RULES] = TP | TF | TD,
};

enum { B_USERNAME, B_PASSWORD_FILE, B_PASSWORD_ENV };
static const char *const basic_keys[] = { "username", "password_file", "password_env" };

static int on_basic(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct config_destination *d = ((struct dest_ctx *)obj)->d;
	const char *s;
	int r = get_str(l, v, &s);

	if (r <= 0)
		return r;
	switch (key) {
	case B_USERNAME:
		if (strchr(s, ':') || has_control(s, false))
			return fail(l, v, "a user name has no ':' or control characters");
		return replace(l, &d->basic_user, s);
	case B_PASSWORD_FILE:
		if (d->password_env)
			return fail(l, v, "set one of password_file and password_env, not both");
		free_secret(&d->basic_password);
		if (read_secret_file(l, v, s, &d->basic_password))
			return -EINVAL;
		return replace(l, &d->password_file, s);
	case B_PASSWORD_ENV:
		if (d->password_file)
			return fail(l, v, "set one of password_file and password_env, not both");
		free_secret(&d->basic_password);
		if (read_secret_env(l, v, s, &d->basic_password))
			return -EINVAL;
		return replace(l, &d->password_env, s);
	}
	return 0;
}

enum { T_CA_FILE, T_INSECURE };
static const char *const tls_keys[] = { "ca_file", "insecure_skip_verify" };

static int on_tls(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct config_destination *d = ((struct dest_ctx *)obj)->d;

	if (key == T_CA_FILE)
		return get_path(l, v, &d->ca_file);
	return get_bool(l, v, &d->insecure_skip_verify);
}

enum { SP_ENABLED, SP_DIRECTORY, SP_MAX_SIZE };
static const char *const spool_keys[] = { "enabled", "directory", "max_size" };

static int on_spool(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct config_destination *d = ((struct dest_ctx *)obj)->d;

	switch (key) {
	case SP_ENABLED:
		return get_bool(l, v, &d->spool_enabled);
	case SP_DIRECTORY:
		return get_path(l, v, &d->spool_dir);
	case SP_MAX_SIZE:
		return get_size(l, v, 16 * KiB, 16 * TiB, &d->spool_max_bytes);
	}
	return 0;
}

static bool header_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

static int get_headers(struct loader *l, yaml_node_t *n, struct config_destination *d)
{
	yaml_node_pair_t *p;
	size_t count;

	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, "expected a mapping of header names to values, got %s", kind(n));
	count = n->data.mapping.pairs.top - n->data.mapping.pairs.start;
	if (count > CONFIG_MAX_HEADERS)
		return fail(l, n, "more than %u headers", CONFIG_MAX_HEADERS);
	d->headers = calloc(count ? count : 1, sizeof(*d->headers));
	if (!d->headers)
		return fail_oom(l);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
		struct config_header *h = &d->headers[d->nheaders];
		const char *name, *raw;
		size_t old;

		if (!k || !v)
			return fail(l, n, "malformed mapping");
		if (!(name = scalar(l, k, "a header name")))
			return -EINVAL;
		old = push_key(l, name);
		if (!header_token(name) || strlen(name) > 256)
			return fail(l, k, "not a valid header name");
		for (size_t i = 0; i < ARRAY_SIZE(reserved_headers); i++)
			if (!strcasecmp(name, reserved_headers[i]))
				return fail(l, k, "set by ignis itself");
		for (size_t i = 0; i < d->nheaders; i++)
			if (!strcasecmp(d->headers[i].name, name))
				return fail(l, k, "duplicate header (headers ignore case)");
		if (is_null(v))
			raw = "";
		else if (!(raw = scalar(l, v, "a header value")))
			return -EINVAL;
		h->name = strdup(name);
		h->raw = strdup(raw);
		d->nheaders++;
		if (!h->name || !h->raw)
			return fail_oom(l);
		if (expand(l, v, raw, &h->value))
			return -EINVAL;
		/* libcurl reads "Name:" as "remove this header", not as empty. */
		if (!*h->value)
			return fail(l, v, "empty value");
		pop_key(l, old);
	}
	return 0;
}

static int get_fraction(struct loader *l, yaml_node_t *v, uint32_t *ppm)
{
	uint64_t micro;
	const char *s, *end;

	if (is_null(v))
		return 0;
	if (!(s = scalar(l, v, "a number")))
		return -EINVAL;
	if (!parse_decimal(s, &micro, &end) || *end || !micro || micro > 1000000)
		return fail(l, v, "'%s': expected a fraction above 0 and at most 1, like 0.5 (up "
				  "to six decimals)", Q(s));
	*ppm = (uint32_t)micro;
	return 0;
}

static int on_dest(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct dest_ctx *x = obj;
	struct config_destination *d = x->d;
	uint64_t u;
	unsigned e;
	const char *s;
	int r;

	if (!(dest_key_types[key] & (1u << d->type))) {
		char types[64];
		size_t n = 0, count = 0;

		types[0] = '\0';
		for (unsigned t = 0; t < ARRAY_SIZE(type_names); t++) {
			if (!(dest_key_types[key] & (1u << t)))
				continue;
			n += snprintf(types + n, sizeof(types) - n, "%s%s", count++ ? " or " : "",
				      type_names[t]);
		}
		return fail(l, v, "only for destinations of type %s", types);
	}

	switch (key) {
	case D_NAME:
		r = get_str(l, v, &s);
		if (r <= 0)
			return r;
		if (check_dest_name(l, s))
			return -EINVAL;
		return replace(l, &d->name, s);
	case D_TYPE:
		return 0;   /* read before the walk */
	case D_URL:
		r = get_str(l, v, &s);
		if (r <= 0)
			return r;
		free(d->url);
		d->url = NULL;
		return check_url(l, s, &d->url);
	case D_API:
		e = d->api;
		r = get_enum(l, v, api_names, ARRAY_SIZE(api_names), &e);
		d->api = e;
		return r;
	case D_TENANT:
		r = get_str(l, v, &s);
		if (r <= 0)
			return r;
		if (has_control(s, false))
			return fail(l, v, "contains control characters");
		return replace(l, &d->tenant_id, s);
	case D_BASIC:
		x->st->basic_line = v->start_mark.line + 1;
		return walk_map(l, v, basic_keys, ARRAY_SIZE(basic_keys), on_basic, x);
	case D_BEARER_FILE:
	case D_BEARER_ENV:
		r = get_str(l, v, &s);
		if (r <= 0)
			return r;
		x->st->bearer_line = v->start_mark.line + 1;
		if (d->bearer_token)
			return fail(l, v, "set one of bearer_token_file and bearer_token_env, not both");
		if (key == D_BEARER_FILE) {
			if (read_secret_file(l, v, s, &d->bearer_token))
				return -EINVAL;
			return replace(l, &d->bearer_token_file, s);
		}
		if (read_secret_env(l, v, s, &d->bearer_token))
			return -EINVAL;
		return replace(l, &d->bearer_token_env, s);
	case D_HEADERS:
		return get_headers(l, v, d);
	case D_TLS:
		return walk_map(l, v, tls_keys, ARRAY_SIZE(tls_keys), on_tls, x);
	case D_TIMEOUT:
		u = d->timeout_ms;
		r = get_duration(l, v, 100, 10 * MIN_MS, &u);
		d->timeout_ms = u;
		return r;
	case D_QUEUE:
		return get_size(l, v, KiB, 64 * GiB, &d->queue_bytes);
	case D_LABELS:
		r = get_labels(l, v, d->type == CONFIG_DEST_DATADOG ? NSAMPLE_LABELS : NSAMPLE_LABELS_ANY,
			       &d->sample_labels, &d->nsample_labels);
		if (r > 0)
			x->st->labels_set = true;
		return r < 0 ? r : 0;
	case D_DIRECTORY:
		return get_path(l, v, &d->directory);
	case D_MAX_SIZE:
		return get_size(l, v, MiB, 16 * TiB, &d->max_bytes);
	case D_AGENTLESS:
		x->st->agentless_line = v->start_mark.line + 1;
		return get_bool(l, v, &d->agentless);
	case D_SITE:
		r = get_str(l, v, &s);
		if (r <= 0)
			return r;
		if (!dns_name(s))
			return fail(l, v, "'%s': expected a Datadog site host name like datadoghq.com "
					  "or datadoghq.eu", Q(s));
		return replace(l, &d->site, s);
	case D_API_KEY_FILE:
	case D_API_KEY_ENV:
		r = get_str(l, v, &s);
		if (r <= 0)
			return r;
		x->st->api_key_line = v->start_mark.line + 1;
		if (d->api_key)
			return fail(l, v, "set one of api_key_file and api_key_env, not both");
		if (key == D_API_KEY_FILE) {
			if (read_secret_file(l, v, s, &d->api_key))
				return -EINVAL;
			return replace(l, &d->api_key_file, s);
		}
		if (read_secret_env(l, v, s, &d->api_key))
			return -EINVAL;
		return replace(l, &d->api_key_env, s);
	case D_COMPRESSION:
		e = d->compression;
		r = get_enum(l, v, compression_names, ARRAY_SIZE(compression_names), &e);
		d->compression = e;
		return r;
	case D_TAGS:
		return get_dd_tags(l, v, d);
	case D_UPLOAD_INTERVAL:
		x->st->interval_line = v->start_mark.line + 1;
		return get_duration(l, v, SEC_MS, HOUR_MS, &d->upload_interval_ms);
	case D_SAMPLE_FRACTION:
		return get_fraction(l, v, &d->sample_ppm);
	case D_MAX_AGE:
		return get_duration(l, v, 0, 168 * HOUR_MS, &d->max_age_ms);
	case D_SPOOL:
		return walk_map(l, v, spool_keys, ARRAY_SIZE(spool_keys), on_spool, x);
	case D_TAG_RULES:
		return get_tag_rules(l, v, d);
	case D_DEFAULT_TAG_RULES:
		return get_bool(l, v, &d->default_tag_rules);
	}
	return 0;
}

/* Checks that need the whole destination; run after the walk. */
static int check_dest_auth(struct loader *l, struct config_destination *d, struct dest_state *st)
{
	bool basic = d->basic_user || d->basic_password;

	if (basic && !d->basic_user) {
		l->line = st->basic_line;
		push_key(l, "basic_auth.username");
		return fail(l, NULL, "required with password_file or password_env");
	}
	if (basic && !d->basic_password) {
		l->line = st->basic_line;
		push_key(l, "basic_auth");
		return fail(l, NULL, "set password_file or password_env with the username");
	}
	if (basic && d->bearer_token) {
		l->line = st->bearer_line;
		push_key(l, d->bearer_token_file ? "bearer_token_file" : "bearer_token_env");
		return fail(l, NULL, "basic_auth and a bearer token cannot both be set");
	}
	for (size_t i = 0; i < d->nheaders; i++) {
		const char *clash = NULL;

		if (!strcasecmp(d->headers[i].name, "Authorization") && (basic || d->bearer_token))
			clash = "basic_auth or the bearer token";
		else if (!strcasecmp(d->headers[i].name, "X-Scope-OrgID") && d->tenant_id)
			clash = "tenant_id";
		if (clash) {
			l->line = st->line;
			push_key(l, "headers");
			push_key(l, d->headers[i].name);
			return fail(l, NULL, "already set by %s", clash);
		}
	}
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* The base URL of the local Datadog Agent from the variables its own
 * clients read: DD_TRACE_AGENT_URL, else DD_AGENT_HOST and
 * DD_TRACE_AGENT_PORT (localhost, 8126). */
static int dd_agent_url(struct loader *l, char **out)
{
	const char *url = getenv("DD_TRACE_AGENT_URL");
	const char *host = getenv("DD_AGENT_HOST"), *port = getenv("DD_TRACE_AGENT_PORT");
	uint64_t p = 8126;
	char buf[MAX_HOST + 32];
	int err;

	if (url && *url) {
		l->source = "DD_TRACE_AGENT_URL";
		err = check_url(l, url, out);
		l->source = NULL;
		return err;
	}
	if (port && *port) {
		l->source = "DD_TRACE_AGENT_PORT";
		if (parse_uint(l, port, 1, 65535, &p))
			return -EINVAL;
	}
	if (!host || !*host)
		host = "localhost";
	l->source = "DD_AGENT_HOST";
	if (strlen(host) > MAX_HOST)
		return fail(l, NULL, "longer than %u bytes", MAX_HOST);
	/* An IPv6 address needs brackets in a URL. */
	snprintf(buf, sizeof(buf), strchr(host, ':') && *host != '[' ? "http://[%s]:%llu" :
				   "http://%s:%llu", host, (unsigned long long)p);
	err = check_url(l, buf, out);
	l->source = NULL;
	return err;
}

/* Datadog settings that come from the environment or depend on each
 * other: site, the API key, the final intake URL. */
static int finish_datadog(struct loader *l, struct config_destination *d, struct dest_state *st)
{
	const char *site = getenv("DD_SITE");
	const char *path = d->agentless ? DD_AGENTLESS_PATH : DD_AGENT_PATH;
	char *base = NULL, *url;
	size_t old;

	if (!d->site) {
		if (site && *site) {
			l->source = "DD_SITE";
			if (!dns_name(site))
				return fail(l, NULL, "'%s': expected a Datadog site host name like "
						     "datadoghq.com", Q(site));
			l->source = NULL;
		} else {
			site = "datadoghq.com";
		}
		if (replace(l, &d->site, site))
			return -ENOMEM;
	}
	if (d->api_key && !d->agentless) {
		l->line = st->api_key_line;
		push_key(l, d->api_key_file ? "api_key_file" : "api_key_env");
		return fail(l, NULL, "only with agentless: true (a Datadog Agent adds its own key)");
	}
	if (d->agentless && !d->api_key) {
		const char *key = getenv("DD_API_KEY");

		l->line = st->agentless_line;
		old = push_key(l, "agentless");
		if (!key)
			return fail(l, NULL, "true needs an API key: set api_key_file or api_key_env, "
					     "or the DD_API_KEY environment variable");
		if (read_secret_env(l, NULL, "DD_API_KEY", &d->api_key) ||
		    replace(l, &d->api_key_env, "DD_API_KEY"))
			return -l->errnum;
		pop_key(l, old);
	}
	if (d->url) {
		base = d->url;
		d->url = NULL;
	} else if (d->agentless) {
		size_t n = strlen(d->site) + 32;

		base = malloc(n);
		if (!base)
			return fail_oom(l);
		snprintf(base, n, "https://intake.profile.%s", d->site);
	} else if (dd_agent_url(l, &base)) {
		return -l->errnum;
	}
	/* A URL that already names the intake's path is taken as it is. */
	if (ends_with(base, path)) {
		d->url = base;
		return 0;
	}
	url = malloc(strlen(base) + strlen(path) + 1);
	if (!url) {
		free(base);
		return fail_oom(l);
	}
	strcpy(url, base);
	strcat(url, path);
	free(base);
	d->url = url;
	return 0;
}

static int parse_dest(struct loader *l, yaml_node_t *n, size_t index)
{
	struct config *c = l->c;
	struct config_destination *d = &c->destinations[c->ndestinations];
	struct dest_state *st = &l->dest[c->ndestinations];
	struct dest_ctx x = { .d = d, .st = st };
	yaml_node_t *type = NULL;
	yaml_node_pair_t *p;
	const char *s;
	size_t old;
	unsigned e;
	int err;

	if (n->type != YAML_MAPPING_NODE)
		return fail(l, n, "expected a mapping (a destination), got %s", kind(n));
	/* The type decides which keys are allowed: read it first. */
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(l, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "type")) {
			type = node(l, p->value);
			break;
		}
	}
	c->ndestinations++;   /* from here on, config__free frees it */
	st->line = n->start_mark.line + 1;
	st->index = index;
	old = push_key(l, "type");
	if (!type || is_null(type))
		return fail(l, n, "required: pyroscope, file or datadog");
	if (!(s = scalar(l, type, "a string")))
		return -EINVAL;
	if (parse_enum(l, s, type_names, ARRAY_SIZE(type_names), &e))
		return -EINVAL;
	pop_key(l, old);
	dest_defaults(d, e);

	err = walk_map(l, n, dest_keys, ARRAY_SIZE(dest_keys), on_dest, &x);
	if (err)
		return err;
	if (!d->name && replace(l, &d->name, type_names[d->type]))
		return -ENOMEM;
	for (size_t i = 0; i + 1 < c->ndestinations; i++) {
		if (strcmp(c->destinations[i].name, d->name))
			continue;
		l->line = st->line;
		push_key(l, "name");
		return fail(l, NULL, "duplicate destination name '%s' (also destinations[%zu]%s)",
			    d->name, l->dest[i].index,
			    strcmp(d->name, type_names[d->type]) ? "" : "; give each a name");
	}
	err = check_dest_auth(l, d, st);
	if (!err && d->type == CONFIG_DEST_DATADOG)
		err = finish_datadog(l, d, st);
	return err;
}

static int get_destinations(struct loader *l, yaml_node_t *n)
{
	yaml_node_item_t *it;
	size_t i = 0;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(l, n, "expected a list of destinations, got %s", kind(n));
	l->dests_line = n->start_mark.line + 1;
	if (n->data.sequence.items.top - n->data.sequence.items.start > CONFIG_MAX_DESTINATIONS)
		return fail(l, n, "more than %u destinations", CONFIG_MAX_DESTINATIONS);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *v = node(l, *it);
		size_t old = push_index(l, i);
		int err;

		if (!v)
			return fail(l, n, "malformed list");
		err = parse_dest(l, v, i);
		if (err)
			return err;
		pop_key(l, old);
	}
	return 0;
}

enum { R_SAMPLING, R_UPLOAD_INTERVAL, R_SHUTDOWN_TIMEOUT, R_HOST, R_PROC_ROOT, R_SYS_ROOT, R_LOG,
       R_LABELS, R_SYMBOLS, R_SPOOL_DIR, R_MAX_SERIES, R_METRICS, R_KUBERNETES, R_RELABEL,
       R_DESTINATIONS };
static const char *const root_keys[] = { "sampling", "upload_interval", "shutdown_timeout", "host",
					 "proc_root", "sys_root", "log", "labels", "symbols",
					 "spool_dir", "max_series", "metrics", "kubernetes",
					 "relabel_configs", "destinations" };

static int on_root(struct loader *l, size_t key, yaml_node_t *v, void *obj)
{
	struct config *c = obj;
	const char *s;
	uint64_t u;
	int r;

	switch (key) {
	case R_SAMPLING:
		return walk_map(l, v, sampling_keys, ARRAY_SIZE(sampling_keys), on_sampling, c);
	case R_UPLOAD_INTERVAL:
		return get_duration(l, v, SEC_MS, HOUR_MS, &c->upload_interval_ms);
	case R_SHUTDOWN_TIMEOUT:
		return get_duration(l, v, 0, 10 * MIN_MS, &c->shutdown_timeout_ms);
	case R_HOST:
		r = get_str(l, v, &s);
		if (r <= 0)
			return r;
		return check_host(l, s) ? -EINVAL : replace(l, &c->host, s);
	case R_PROC_ROOT:
		return get_path(l, v, &c->proc_root);
	case R_SYS_ROOT:
		return get_path(l, v, &c->sys_root);
	case R_LOG:
		return walk_map(l, v, log_keys, ARRAY_SIZE(log_keys), on_log, c);
	case R_LABELS:
		return walk_map(l, v, labels_keys, ARRAY_SIZE(labels_keys), on_labels, c);
	case R_SYMBOLS:
		return walk_map(l, v, symbols_keys, ARRAY_SIZE(symbols_keys), on_symbols, c);
	case R_SPOOL_DIR:
		return get_path(l, v, &c->spool_dir);
	case R_MAX_SERIES:
		u = c->max_series;
		r = get_uint(l, v, 1, 1000000, &u);
		c->max_series = u;
		return r;
	case R_METRICS:
		return walk_map(l, v, metrics_keys, ARRAY_SIZE(metrics_keys), on_metrics, c);
	case R_KUBERNETES:
		return walk_map(l, v, k8s_keys, ARRAY_SIZE(k8s_keys), on_k8s, &c->kubernetes);
	case R_RELABEL:
		return get_relabel(l, v);
	case R_DESTINATIONS:
		return get_destinations(l, v);
	}
	return 0;
}

/* ---- the file ------------------------------------------------------------ */

static int read_file(struct loader *l, const char *path, unsigned char **buf, size_t *len)
{
	unsigned char *b = NULL;
	size_t n = 0;
	struct stat st;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(l->err, l->errlen, "%s: cannot open: %s", path, strerror(errno));
		return -(l->errnum = EINVAL);
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(l->err, l->errlen, "%s: is a directory", path);
		err = -(l->errnum = EINVAL);
		goto cleanup;
	}
	b = malloc(MAX_FILE_BYTES + 1);
	if (!b) {
		err = fail_oom(l);
		goto cleanup;
	}
	for (;;) {
		ssize_t r = read(fd, b + n, MAX_FILE_BYTES + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(l->err, l->errlen, "%s: cannot read: %s", path, strerror(errno));
			err = -(l->errnum = EINVAL);
			goto cleanup;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > MAX_FILE_BYTES) {
			snprintf(l->err, l->errlen, "%s: larger than %u bytes; not a configuration "
				 "file?", path, MAX_FILE_BYTES);
			err = -(l->errnum = EINVAL);
			goto cleanup;
		}
	}
	*buf = b;
	*len = n;
	b = NULL;
cleanup:
	free(b);
	close(fd);
	return err;
}

static int yaml_error(struct loader *l, yaml_parser_t *p, const unsigned char *buf, size_t len)
{
	unsigned long line = p->problem_mark.line + 1;

	if (p->error == YAML_MEMORY_ERROR)
		return fail_oom(l);
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors carry a byte offset, not a mark. */
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++)
			line += buf[i] == '\n';
	}
	l->line = line;
	l->keylen = 0;
	l->key[0] = '\0';
	return fail(l, NULL, "not valid YAML: %s%s%s", p->context ? p->context : "",
		    p->context ? ": " : "", p->problem ? p->problem : "parse error");
}

static int load_file(struct loader *l, const char *path)
{
	unsigned char *buf = NULL;
	yaml_document_t doc, extra;
	bool have_doc = false;
	yaml_parser_t parser;
	yaml_node_t *root;
	size_t len = 0;
	int err;

	err = read_file(l, path, &buf, &len);
	if (err)
		return err;
	if (!yaml_parser_initialize(&parser)) {
		free(buf);
		return fail_oom(l);
	}
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		err = yaml_error(l, &parser, buf, len);
		goto cleanup;
	}
	have_doc = true;
	l->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root) {
		/* A second document would be ignored without this. */
		if (!yaml_parser_load(&parser, &extra)) {
			err = yaml_error(l, &parser, buf, len);
			goto cleanup;
		}
		if (yaml_document_get_root_node(&extra)) {
			l->line = extra.start_mark.line + 1;
			yaml_document_delete(&extra);
			err = fail(l, NULL, "more than one YAML document (---) in the file");
			goto cleanup;
		}
		yaml_document_delete(&extra);
		l->root_line = root->start_mark.line + 1;
		if (root->type != YAML_MAPPING_NODE && !is_null(root)) {
			err = fail(l, root, "expected a mapping of settings at the top, got %s",
				   kind(root));
			goto cleanup;
		}
		err = walk_map(l, root, root_keys, ARRAY_SIZE(root_keys), on_root, l->c);
	} else {
		l->root_line = 1;
	}
cleanup:
	l->doc = NULL;
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(buf);
	return err;
}

/* ---- environment and flags ----------------------------------------------- */

static struct config_destination *find_or_add(struct loader *l, const char *name,
					      enum config_dest_type type)
{
	struct config *c = l->c;
	struct config_destination *d;

	for (size_t i = 0; i < c->ndestinations; i++) {
		d = &c->destinations[i];
		if (strcmp(d->name, name))
			continue;
		if (d->type != type) {
			fail(l, NULL, "the destination named '%s' is of type %s, not %s", name,
			     type_names[d->type], type_names[type]);
			return NULL;
		}
		return d;
	}
	if (c->ndestinations == MAX_DESTS) {   /* cannot happen: the file has at most 16 */
		fail(l, NULL, "too many destinations");
		return NULL;
	}
	d = &c->destinations[c->ndestinations++];
	memset(&l->dest[c->ndestinations - 1], 0, sizeof(l->dest[0]));
	dest_defaults(d, type);
	d->name = strdup(name);
	if (!d->name) {
		fail_oom(l);
		return NULL;
	}
	return d;
}

enum { O_FREQUENCY, O_UPLOAD_INTERVAL, O_LOG_LEVEL, O_PYROSCOPE_URL, O_OUTPUT_DIR, O_HOST,
       O_LOG_FORMAT };

static int apply_override(struct loader *l, int which, const char *s)
{
	struct config *c = l->c;
	struct config_destination *d;
	uint64_t u;
	unsigned e;
	char *url = NULL;

	switch (which) {
	case O_FREQUENCY:
		if (parse_uint(l, s, 1, 10000, &u))
			return -EINVAL;
		c->frequency_hz = u;
		return 0;
	case O_UPLOAD_INTERVAL:
		return parse_duration(l, s, SEC_MS, HOUR_MS, &c->upload_interval_ms);
	case O_LOG_LEVEL:
		if (parse_enum(l, s, level_names, ARRAY_SIZE(level_names), &e))
			return -EINVAL;
		c->log_level = e;
		return 0;
	case O_PYROSCOPE_URL:
		if (check_url(l, s, &url))
			return -EINVAL;
		d = find_or_add(l, "pyroscope", CONFIG_DEST_PYROSCOPE);
		if (!d) {
			free(url);
			return -l->errnum;
		}
		free(d->url);
		d->url = url;
		return 0;
	case O_OUTPUT_DIR:
		if (has_control(s, false))
			return fail(l, NULL, "contains control characters");
		d = find_or_add(l, "files", CONFIG_DEST_FILE);
		if (!d)
			return -l->errnum;
		return replace(l, &d->directory, s);
	case O_HOST:
		return check_host(l, s) ? -EINVAL : replace(l, &c->host, s);
	case O_LOG_FORMAT:
		if (parse_enum(l, s, format_names, ARRAY_SIZE(format_names), &e))
			return -EINVAL;
		c->log_format = e;
		return 0;
	}
	return 0;
}

static int apply_overrides(struct loader *l, const struct config_overrides *ov)
{
	static const char *const env[] = { "IGNIS_FREQUENCY", "IGNIS_UPLOAD_INTERVAL",
					   "IGNIS_LOG_LEVEL", "IGNIS_PYROSCOPE_URL",
					   "IGNIS_OUTPUT_DIR", "IGNIS_HOST", "IGNIS_LOG_FORMAT" };
	static const char *const flags[] = { "--frequency", "--upload-interval", "--log-level",
					     "--pyroscope-url", "--output-dir", "--host",
					     "--log-format" };
	const char *given[ARRAY_SIZE(env)] = { 0 };
	int err;

	if (ov) {
		given[O_FREQUENCY] = ov->frequency;
		given[O_UPLOAD_INTERVAL] = ov->upload_interval;
		given[O_LOG_LEVEL] = ov->log_level;
		given[O_PYROSCOPE_URL] = ov->pyroscope_url;
		given[O_OUTPUT_DIR] = ov->output_dir;
		given[O_HOST] = ov->host;
		given[O_LOG_FORMAT] = ov->log_format;
	}
	/* Flags after the environment: the later one wins. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ARRAY_SIZE(env); i++) {
			const char *s = pass ? given[i] : getenv(env[i]);

			if (!s || (!pass && !*s))
				continue;
			l->source = pass ? flags[i] : env[i];
			if (pass && !*s)
				return fail(l, NULL, "empty value");
			err = apply_override(l, (int)i, s);
			if (err)
				return err;
		}
	}
	l->source = NULL;
	return 0;
}

/* ---- after everything ---------------------------------------------------- */

/* Per-destination defaults that depend on top-level settings, which flags
 * and variables may have changed after the destination was read. */
static int finish_dest(struct loader *l, struct config_destination *d, struct dest_state *st)
{
	struct config *c = l->c;
	size_t n;

	(void)st;
	if (!d->upload_interval_ms)
		d->upload_interval_ms = d->type == CONFIG_DEST_DATADOG ? 60 * SEC_MS
								       : c->upload_interval_ms;
	if (d->type == CONFIG_DEST_FILE || d->spool_dir)
		return 0;
	n = strlen(c->spool_dir) + 1 + strlen(d->name) + 1;
	d->spool_dir = malloc(n);
	if (!d->spool_dir)
		return fail_oom(l);
	snprintf(d->spool_dir, n, "%s/%s", c->spool_dir, d->name);
	return 0;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* The agent wakes at the GCD of the upload intervals; under 1 s it would
 * spin on bookkeeping, so such a mix is refused. */
static int finish_tick(struct loader *l)
{
	struct config *c = l->c;
	uint64_t g = 0;

	for (size_t i = 0; i < c->ndestinations; i++) {
		uint64_t ng = gcd(g, c->destinations[i].upload_interval_ms);
		char a[32], b[32], t[32];

		if (ng >= SEC_MS) {
			g = ng;
			continue;
		}
		/* i > 0: every interval alone is at least 1 s. */
		format_duration(g, a, sizeof(a));
		format_duration(c->destinations[i].upload_interval_ms, b, sizeof(b));
		format_duration(ng, t, sizeof(t));
		l->line = l->dest[i].interval_line ? l->dest[i].interval_line : l->dest[i].line;
		set_key(l, "destinations[%zu].upload_interval", l->dest[i].index);
		return fail(l, NULL, "%s here and %s for the destinations before it tick the agent "
				     "every %s (their greatest common divisor); it must be at least "
				     "1s: pick intervals that are multiples of a whole second", b, a, t);
	}
	c->tick_ms = g;
	return 0;
}

static int finish_k8s(struct loader *l)
{
	struct config *c = l->c;
	struct config_kubernetes *k = &c->kubernetes;
	const char *svc = getenv("KUBERNETES_SERVICE_HOST");
	const char *node = getenv("NODE_NAME");
	bool in_pod = svc && *svc;

	if (!k->node_name && replace(l, &k->node_name, node && *node ? node : c->host))
		return -ENOMEM;
	if (!k->api_url && in_pod) {
		const char *port = getenv("KUBERNETES_SERVICE_PORT");
		char buf[MAX_HOST + 32];
		uint64_t p = 443;

		if (port && *port) {
			l->source = "KUBERNETES_SERVICE_PORT";
			if (parse_uint(l, port, 1, 65535, &p))
				return -EINVAL;
		}
		l->source = "KUBERNETES_SERVICE_HOST";
		if (strlen(svc) > MAX_HOST)
			return fail(l, NULL, "longer than %u bytes", MAX_HOST);
		snprintf(buf, sizeof(buf), strchr(svc, ':') ? "https://[%s]:%llu" : "https://%s:%llu",
			 svc, (unsigned long long)p);
		if (check_url(l, buf, &k->api_url))
			return -EINVAL;
		l->source = NULL;
	}
	k->enabled = k->mode == CONFIG_K8S_ON || (k->mode == CONFIG_K8S_AUTO && in_pod);
	if (k->mode == CONFIG_K8S_ON && !k->api_url && !k->kubelet_url) {
		l->line = l->k8s_enabled_line;
		set_key(l, "kubernetes.enabled");
		return fail(l, NULL, "true, but there is no way to reach Kubernetes: set api_url or "
				     "kubelet_url (KUBERNETES_SERVICE_HOST is not set: not in a pod?)");
	}
	return 0;
}

static int finish(struct loader *l)
{
	struct config *c = l->c;

	l->keylen = 0;
	l->key[0] = '\0';
	if (!c->host) {
		const char *node = getenv("NODE_NAME");
		char name[HOST_NAME_MAX + 1] = { 0 };

		if (node && *node) {
			l->source = "NODE_NAME";
			if (check_host(l, node))
				return -EINVAL;
			l->source = NULL;
			if (replace(l, &c->host, node))
				return -ENOMEM;
		} else {
			if (gethostname(name, sizeof(name) - 1) || !*name) {
				l->source = "host";
				return fail(l, NULL, "cannot read this machine's host name (%s); set "
						     "host in the file or IGNIS_HOST",
					    strerror(errno ? errno : ENOENT));
			}
			if (replace(l, &c->host, name))
				return -ENOMEM;
		}
	}
	if (!c->ndestinations) {
		if (!l->file) {
			snprintf(l->err, l->errlen, "no destination: give --config FILE, "
				 "--pyroscope-url URL or --output-dir DIR");
			return -(l->errnum = EINVAL);
		}
		l->line = l->dests_line ? l->dests_line : l->root_line;
		set_key(l, "destinations");
		return fail(l, NULL, "at least one destination is required (or give "
				     "--pyroscope-url or --output-dir)");
	}
	for (size_t i = 0; i < c->ndestinations; i++) {
		struct config_destination *d = &c->destinations[i];
		struct dest_state *st = &l->dest[i];
		const char *missing = NULL;

		if (d->type == CONFIG_DEST_PYROSCOPE && !d->url)
			missing = "url";
		else if (d->type == CONFIG_DEST_FILE && !d->directory)
			missing = "directory";
		if (missing) {
			/* Only destinations from the file can miss one: flags set
			 * what they add. */
			l->line = st->line;
			set_key(l, "destinations[%zu].%s", st->index, missing);
			return fail(l, NULL, "required for a destination of type %s%s",
				    type_names[d->type],
				    d->type == CONFIG_DEST_PYROSCOPE ? " (http:// or https://)" : "");
		}
		if (finish_dest(l, d, st))
			return -l->errnum;
		if (!st->labels_set) {
			free(d->sample_labels);
			d->sample_labels = calloc(c->nsample_labels ? c->nsample_labels : 1,
						  sizeof(*d->sample_labels));
			if (!d->sample_labels)
				return fail_oom(l);
			if (c->nsample_labels)
				memcpy(d->sample_labels, c->sample_labels,
				       c->nsample_labels * sizeof(*d->sample_labels));
			d->nsample_labels = c->nsample_labels;
		}
	}
	if (finish_tick(l) || finish_k8s(l))
		return -l->errnum;
	return 0;
}

static int set_defaults(struct config *c)
{
	c->frequency_hz = 100;
	c->unwind = UNWIND_KERNEL;
	c->unwind_table_bytes = UNWSTORE_DEFAULT_BUDGET;
	c->stack_size = IGNIS_STACK_DEFAULT;
	c->upload_interval_ms = 15 * SEC_MS;
	c->shutdown_timeout_ms = 10 * SEC_MS;
	c->log_level = CONFIG_LOG_INFO;
	c->debuginfod_cache_bytes = 2 * GiB;
	c->symbol_cache_bytes = 256 * MiB;
	c->proc_root = strdup("/proc");
	c->sys_root = strdup("/sys");
	c->debuginfod_cache = strdup("/var/cache/ignis/debuginfod");
	c->destinations = calloc(MAX_DESTS, sizeof(*c->destinations));
	c->log_format = CONFIG_LOG_PLAIN;
	c->spool_dir = strdup("/var/lib/ignis/spool");
	c->max_series = 10000;
	c->metrics_listen = strdup("127.0.0.1:9464");
	c->metrics_host = strdup("127.0.0.1");
	c->metrics_port = 9464;
	c->kubernetes.mode = CONFIG_K8S_AUTO;
	c->kubernetes.token_file = strdup(K8S_SA_DIR "/token");
	c->kubernetes.ca_file = strdup(K8S_SA_DIR "/ca.crt");
	c->kubernetes.resync_ms = 5 * MIN_MS;
	c->kubernetes.max_pods = 1000;
	if (!c->proc_root || !c->sys_root || !c->debuginfod_cache || !c->destinations ||
	    !c->spool_dir || !c->metrics_listen || !c->metrics_host || !c->kubernetes.token_file ||
	    !c->kubernetes.ca_file)
		return -ENOMEM;
	return 0;
}

struct config *config__load(const char *path, const struct config_overrides *ov, char *err,
			    size_t errlen)
{
	struct loader *l = calloc(1, sizeof(*l));
	struct config *c = calloc(1, sizeof(*c));
	char dummy[1];
	int e;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (!l || !c || set_defaults(c)) {
		snprintf(err, errlen, "%s: out of memory", path ? path : "ignis");
		e = ENOMEM;
		goto cleanup;
	}
	l->c = c;
	l->file = path;
	l->err = err;
	l->errlen = errlen;
	if (path) {
		c->path = strdup(path);
		if (!c->path) {
			fail_oom(l);
			goto fail;
		}
		if (load_file(l, path))
			goto fail;
	}
	if (apply_overrides(l, ov) || finish(l))
		goto fail;
	free(l);
	return c;
fail:
	e = l->errnum ? l->errnum : EINVAL;
cleanup:
	free(l);
	config__free(c);
	errno = e;
	return NULL;
}

static void dest_free(struct config_destination *d)
{
	free(d->name);
	free(d->url);
	free(d->tenant_id);
	free(d->basic_user);
	free_secret(&d->basic_password);
	free_secret(&d->bearer_token);
	free(d->password_file);
	free(d->password_env);
	free(d->bearer_token_file);
	free(d->bearer_token_env);
	for (size_t i = 0; i < d->nheaders; i++) {
		free(d->headers[i].name);
		/* An expanded value may hold a secret. */
		free_secret(&d->headers[i].value);
		free(d->headers[i].raw);
	}
	free(d->headers);
	free(d->ca_file);
	free(d->sample_labels);
	free(d->directory);
	free(d->site);
	free_secret(&d->api_key);
	free(d->api_key_file);
	free(d->api_key_env);
	for (size_t i = 0; i < d->ntags; i++) {
		free(d->tags[i].key);
		free(d->tags[i].value);
	}
	free(d->tags);
	free(d->spool_dir);
	for (size_t i = 0; i < d->ntag_rules; i++) {
		struct tag_rule *r = &d->tag_rules[i];

		free((char *)r->from);
		free((char *)r->to);
		free((char *)r->key);
		free((char *)r->value);
		free((char *)r->source);
		free((char *)r->separator);
		for (size_t j = 0; j < r->ntargets; j++)
			free((char *)r->targets[j]);
		free(r->targets);
	}
	free(d->tag_rules);
}

void config__free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->destinations && i < c->ndestinations; i++)
		dest_free(&c->destinations[i]);
	free(c->destinations);
	for (size_t i = 0; i < c->ndebug_dirs; i++)
		free((char *)c->debug_dirs[i]);
	free(c->debug_dirs);
	free(c->sample_labels);
	free(c->debuginfod_urls);
	free(c->debuginfod_cache);
	free(c->cpus);
	free(c->host);
	free(c->proc_root);
	free(c->sys_root);
	free(c->path);
	free(c->spool_dir);
	free(c->metrics_listen);
	free(c->metrics_host);
	free(c->kubernetes.node_name);
	free(c->kubernetes.api_url);
	free(c->kubernetes.token_file);
	free(c->kubernetes.ca_file);
	free(c->kubernetes.kubelet_url);
	for (size_t i = 0; i < c->nrelabel; i++) {
		struct relabel_rule *r = &c->relabel[i];

		for (size_t j = 0; j < r->nsource_labels; j++)
			free((char *)r->source_labels[j]);
		free(r->source_labels);
		free((char *)r->separator);
		free((char *)r->regex);
		free((char *)r->target_label);
		free((char *)r->replacement);
	}
	free(c->relabel);
	free(c);
}

/* ---- dump ---------------------------------------------------------------- */

const char *config__dest_type_name(enum config_dest_type t)
{
	static const char *const names[] = { [CONFIG_DEST_PYROSCOPE] = "pyroscope",
					      [CONFIG_DEST_FILE] = "file",
					      [CONFIG_DEST_DATADOG] = "datadog" };

	return (unsigned)t < ARRAY_SIZE(names) ? names[t] : "unknown";
}

const char *config__log_level_name(enum config_log_level lv)
{
	return (unsigned)lv < ARRAY_SIZE(level_names) ? level_names[lv] : "info";
}

/* A YAML double-quoted scalar. */
static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void put_labels(FILE *f, const char *const *labels, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ", " : "", labels[i]);
	fputs("]\n", f);
}

/* Header values are often credentials: shown only when they came from
 * ${VAR} references (then the reference is shown) or the name is harmless. */
static bool sensitive_header(const char *name)
{
	static const char *const words[] = { "auth", "token", "key", "secret", "pass", "cookie",
					     "session", "signature", "credential" };

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (strcasestr(name, words[i]))
			return true;
	return false;
}

/* A list of quoted strings ("null" is a fine label name but not a fine
 * plain scalar). */
static void put_qlist(FILE *f, const char *const *s, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		put_str(f, s[i]);
	}
	fputc(']', f);
}

static void put_tag_rule(FILE *f, const struct tag_rule *r)
{
	fputs("      - ", f);
	switch (r->kind) {
	case TAG_RENAME:
		fputs("rename: {from: ", f);
		put_str(f, r->from);
		fputs(", to: ", f);
		put_str(f, r->to);
		break;
	case TAG_DROP:
		fputs("drop: ", f);
		put_str(f, r->key);
		fputc('\n', f);
		return;
	case TAG_SET:
		fputs("set: {key: ", f);
		put_str(f, r->key);
		fputs(", value: ", f);
		put_str(f, r->value);
		break;
	case TAG_SPLIT:
		fputs("split: {source: ", f);
		put_str(f, r->source);
		fputs(", separator: ", f);
		put_str(f, r->separator);
		fputs(", targets: ", f);
		put_qlist(f, r->targets, r->ntargets);
		break;
	default:
		fputs("{", f);
		break;
	}
	fputs("}\n", f);
}

static void put_fraction(FILE *f, uint32_t ppm)
{
	char buf[16];
	size_t n;

	if (ppm >= 1000000) {
		fputs("1", f);
		return;
	}
	snprintf(buf, sizeof(buf), "0.%06u", ppm);
	n = strlen(buf);
	while (buf[n - 1] == '0')
		buf[--n] = '\0';
	fputs(buf, f);
}

static void put_secret_source(FILE *f, const char *indent, const char *key, const char *src,
			      const char *what)
{
	fprintf(f, "%s%s: ", indent, key);
	put_str(f, src);
	if (src)
		fprintf(f, "   # %s: <redacted>", what);
	fputc('\n', f);
}

static void dump_dest(const struct config_destination *d, FILE *f)
{
	char buf[32];

	fputs("  - name: ", f);
	put_str(f, d->name);
	fprintf(f, "\n    type: %s\n", type_names[d->type]);
	if (d->type == CONFIG_DEST_PYROSCOPE) {
		fputs("    url: ", f);
		put_str(f, d->url);
		fprintf(f, "\n    api: %s\n    tenant_id: ", api_names[d->api]);
		put_str(f, d->tenant_id);
		fputs("\n    basic_auth:\n      username: ", f);
		put_str(f, d->basic_user);
		fputc('\n', f);
		put_secret_source(f, "      ", "password_file", d->password_file, "password");
		put_secret_source(f, "      ", "password_env", d->password_env, "password");
		put_secret_source(f, "    ", "bearer_token_file", d->bearer_token_file, "token");
		put_secret_source(f, "    ", "bearer_token_env", d->bearer_token_env, "token");
	}
	if (d->type == CONFIG_DEST_DATADOG) {
		const char *path = d->agentless ? DD_AGENTLESS_PATH : DD_AGENT_PATH;
		size_t n = strlen(d->url);

		/* The base URL: loading it appends the path again. */
		if (ends_with(d->url, path))
			n -= strlen(path);
		fprintf(f, "    url: \"%.*s\"   # posts to ", (int)n, d->url);
		put_str(f, d->url);
		fprintf(f, "\n    agentless: %s\n    site: ", d->agentless ? "true" : "false");
		put_str(f, d->site);
		fputc('\n', f);
		put_secret_source(f, "    ", "api_key_file", d->api_key_file, "api key");
		put_secret_source(f, "    ", "api_key_env", d->api_key_env, "api key");
		fprintf(f, "    compression: %s\n", compression_names[d->compression]);
		fputs(d->ntags ? "    tags:\n" : "    tags: {}\n", f);
		for (size_t i = 0; i < d->ntags; i++) {
			fputs("      ", f);
			put_str(f, d->tags[i].key);
			fputs(": ", f);
			put_str(f, d->tags[i].value);
			fputc('\n', f);
		}
	}
	if (d->type != CONFIG_DEST_FILE) {
		fputs(d->nheaders ? "    headers:\n" : "    headers: {}\n", f);
		for (size_t i = 0; i < d->nheaders; i++) {
			const struct config_header *h = &d->headers[i];

			fputs("      ", f);
			put_str(f, h->name);
			fputs(": ", f);
			if (strstr(h->raw, "${") || !sensitive_header(h->name))
				put_str(f, h->raw);
			else
				fputs("\"<redacted>\"", f);
			fputc('\n', f);
		}
		fputs("    tls:\n      ca_file: ", f);
		put_str(f, d->ca_file);
		format_duration(d->timeout_ms, buf, sizeof(buf));
		fprintf(f, "\n      insecure_skip_verify: %s\n    timeout: %s\n",
			d->insecure_skip_verify ? "true" : "false", buf);
		format_size(d->queue_bytes, buf, sizeof(buf));
		fprintf(f, "    queue_size: %s\n", buf);
		fprintf(f, "    spool:\n      enabled: %s\n      directory: ",
			d->spool_enabled ? "true" : "false");
		put_str(f, d->spool_dir);
		format_size(d->spool_max_bytes, buf, sizeof(buf));
		fprintf(f, "\n      max_size: %s\n", buf);
	} else {
		fputs("    directory: ", f);
		put_str(f, d->directory);
		format_size(d->max_bytes, buf, sizeof(buf));
		fprintf(f, "\n    max_size: %s\n", buf);
	}
	format_duration(d->upload_interval_ms, buf, sizeof(buf));
	fprintf(f, "    upload_interval: %s\n    sample_fraction: ", buf);
	put_fraction(f, d->sample_ppm);
	format_duration(d->max_age_ms, buf, sizeof(buf));
	fprintf(f, "\n    max_age: %s%s\n    default_tag_rules: %s\n", buf,
		d->max_age_ms ? "" : "   # no limit", d->default_tag_rules ? "true" : "false");
	fputs(d->ntag_rules ? "    tag_rules:\n" : "    tag_rules: []\n", f);
	for (size_t i = 0; i < d->ntag_rules; i++)
		put_tag_rule(f, &d->tag_rules[i]);
	fputs("    sample_labels: ", f);
	put_labels(f, d->sample_labels, d->nsample_labels);
}

static void dump_relabel(const struct relabel_rule *r, FILE *f)
{
	fputs("  - source_labels: ", f);
	put_qlist(f, r->source_labels, r->nsource_labels);
	fputs("\n    separator: ", f);
	put_str(f, r->separator ? r->separator : ";");
	fputs("\n    regex: ", f);
	put_str(f, r->regex ? r->regex : "(.*)");
	fputs("\n    target_label: ", f);
	put_str(f, r->target_label);
	if (r->action == RELABEL_REPLACE || r->action == RELABEL_LABELMAP) {
		fputs("\n    replacement: ", f);
		put_str(f, r->replacement ? r->replacement : "$1");
	}
	fprintf(f, "\n    action: %s\n", action_names[r->action]);
}

void config__dump(const struct config *c, FILE *f)
{
	char buf[32];

	fprintf(f, "# ignis agent: effective configuration (defaults, %s, IGNIS_* variables, "
		   "flags)\n", c->path ? c->path : "no file");
	format_size(c->unwind_table_bytes, buf, sizeof(buf));
	fprintf(f, "sampling:\n  frequency: %u\n  unwind: %s\n  unwind_table_memory: %s\n"
		   "  stack_size: %u\n  include_idle: %s\n  cpus: ",
		c->frequency_hz, unwind_names[c->unwind], buf, c->stack_size,
		c->include_idle ? "true" : "false");
	put_str(f, c->cpus);
	format_duration(c->upload_interval_ms, buf, sizeof(buf));
	fprintf(f, "\nupload_interval: %s\n", buf);
	format_duration(c->shutdown_timeout_ms, buf, sizeof(buf));
	fprintf(f, "shutdown_timeout: %s\nhost: ", buf);
	put_str(f, c->host);
	fputs("\nproc_root: ", f);
	put_str(f, c->proc_root);
	fputs("\nsys_root: ", f);
	put_str(f, c->sys_root);
	fprintf(f, "\nlog:\n  level: %s\n  format: %s\nlabels:\n  sample_labels: ",
		config__log_level_name(c->log_level), format_names[c->log_format]);
	put_labels(f, c->sample_labels, c->nsample_labels);
	fputs("symbols:\n  debug_dirs: [", f);
	for (size_t i = 0; i < c->ndebug_dirs; i++) {
		if (i)
			fputs(", ", f);
		put_str(f, c->debug_dirs[i]);
	}
	fputs("]\n  debuginfod_urls: ", f);
	if (c->debuginfod_urls)
		put_str(f, c->debuginfod_urls);
	else
		fputs("null", f);
	fputs("\n  debuginfod_cache: ", f);
	put_str(f, c->debuginfod_cache);
	format_size(c->debuginfod_cache_bytes, buf, sizeof(buf));
	fprintf(f, "\n  debuginfod_cache_size: %s\n", buf);
	format_size(c->symbol_cache_bytes, buf, sizeof(buf));
	fprintf(f, "  cache_size: %s\nspool_dir: ", buf);
	put_str(f, c->spool_dir);
	fprintf(f, "\nmax_series: %u\nmetrics:\n  listen: ", c->max_series);
	put_str(f, c->metrics_listen ? c->metrics_listen : "off");
	fprintf(f, "\nkubernetes:\n  enabled: %s   # %s\n  node_name: ",
		k8s_mode_names[c->kubernetes.mode], c->kubernetes.enabled ? "on" : "off");
	put_str(f, c->kubernetes.node_name);
	fputs("\n  api_url: ", f);
	put_str(f, c->kubernetes.api_url);
	fputs("\n  token_file: ", f);
	put_str(f, c->kubernetes.token_file);
	fputs("\n  ca_file: ", f);
	put_str(f, c->kubernetes.ca_file);
	fputs("\n  kubelet_url: ", f);
	put_str(f, c->kubernetes.kubelet_url);
	format_duration(c->kubernetes.resync_ms, buf, sizeof(buf));
	fprintf(f, "\n  insecure_skip_verify: %s\n  resync: %s\n  max_pods: %u\n",
		c->kubernetes.insecure_skip_verify ? "true" : "false", buf, c->kubernetes.max_pods);
	fputs(c->nrelabel ? "relabel_configs:\n" : "relabel_configs: []\n", f);
	for (size_t i = 0; i < c->nrelabel; i++)
		dump_relabel(&c->relabel[i], f);
	format_duration(c->tick_ms, buf, sizeof(buf));
	fprintf(f, "# the agent ticks every %s\ndestinations:\n", buf);
	for (size_t i = 0; i < c->ndestinations; i++)
		dump_dest(&c->destinations[i], f);
}
