/* Rows of settings: values from text, defaults, dump and free. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/array.h"
#include "base/schema.h"
#include "base/secret.h"
#include "base/utf8.h"

#define MAX_URL          2048u
#define FIELD(obj, r) ((char *)(obj) + (r)->offset)
#define Q SCHEMA_Q

/* ---- messages ------------------------------------------------------------ */

static size_t clamp_add(size_t n, int w, size_t cap)
{
	if (w <= 0)
		return n;
	return (size_t)w < cap - n ? n + (size_t)w : cap - 1;
}

int schema__vfail(struct schema_ctx *x, const char *fmt, va_list ap)
{
	size_t n = 0;

	if (!x->errlen)
		return -(x->errnum = EINVAL);
	x->err[0] = '\0';
	if (x->source)
		n = clamp_add(n, snprintf(x->err, x->errlen, "%s: ", x->source), x->errlen);
	else if (x->file)
		n = clamp_add(n, snprintf(x->err, x->errlen, "%s:%lu: ", x->file, x->line), x->errlen);
	if (!x->source && x->keylen)
		n = clamp_add(n, snprintf(x->err + n, x->errlen - n, "%s: ", x->key), x->errlen);
	vsnprintf(x->err + n, x->errlen - n, fmt, ap);
	/* Keys and values quoted from the file must not drive the terminal. */
	for (char *p = x->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -(x->errnum = EINVAL);
}

int schema__fail(struct schema_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = schema__vfail(x, fmt, ap);
	va_end(ap);
	return err;
}

int schema__oom(struct schema_ctx *x)
{
	snprintf(x->err, x->errlen, "%s: out of memory", x->file ? x->file : "ignis");
	return -(x->errnum = ENOMEM);
}

size_t schema__push_key(struct schema_ctx *x, const char *name)
{
	size_t old = x->keylen;

	x->keylen = clamp_add(old, snprintf(x->key + old, sizeof(x->key) - old, "%s%s",
					    old ? "." : "", name), sizeof(x->key));
	return old;
}

size_t schema__push_index(struct schema_ctx *x, size_t i)
{
	size_t old = x->keylen;

	x->keylen = clamp_add(old, snprintf(x->key + old, sizeof(x->key) - old, "[%zu]", i),
			      sizeof(x->key));
	return old;
}

void schema__pop_key(struct schema_ctx *x, size_t old)
{
	x->keylen = old;
	x->key[old] = '\0';
}

void schema__set_key(struct schema_ctx *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	x->keylen = clamp_add(0, vsnprintf(x->key, sizeof(x->key), fmt, ap), sizeof(x->key));
	va_end(ap);
	x->key[x->keylen] = '\0';
}

void schema__saw(struct schema_ctx *x, const struct schema_row *r, unsigned long line)
{
	if (x->nseen < SCHEMA_MAX_SEEN)
		x->seen[x->nseen++] = (typeof(x->seen[0])){ r, line };
}

unsigned long schema__seen(const struct schema_ctx *x, const char *name)
{
	for (size_t i = x->nseen; i-- > 0;)
		if (!strcmp(x->seen[i].row->name, name))
			return x->seen[i].line;
	return 0;
}

const char *schema__quote(const char *s, char *buf, size_t len)
{
	if (strlen(s) + 1 <= len)
		return s;
	snprintf(buf, len, "%.*s...", (int)(len - 4), s);
	return buf;
}

/* ---- numbers, durations, sizes ------------------------------------------- */

int schema__parse_uint(struct schema_ctx *x, const char *s, uint64_t min, uint64_t max,
		       uint64_t *out)
{
	uint64_t v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			break;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s || *p || v < min || v > max)
		return schema__fail(x, "'%s': expected a whole number from %llu to %llu", Q(s),
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

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit duration_units[] = {
	{ "", SCHEMA_SEC }, { "ms", 1 }, { "s", SCHEMA_SEC }, { "m", SCHEMA_MIN }, { "h", SCHEMA_HOUR },
};
static const struct unit size_units[] = {
	{ "", 1 }, { "B", 1 },
	{ "kB", 1000 }, { "KB", 1000 }, { "MB", 1000000 }, { "GB", 1000000000 },
	{ "TB", 1000000000000ull },
	{ "KiB", SCHEMA_KiB }, { "MiB", SCHEMA_MiB }, { "GiB", SCHEMA_GiB }, { "TiB", SCHEMA_TiB },
};
/* What the dump writes: the largest unit that divides the value. */
static const struct unit duration_out[] = {
	{ "h", SCHEMA_HOUR }, { "m", SCHEMA_MIN }, { "s", SCHEMA_SEC },
};
static const struct unit size_out[] = {
	{ "TiB", SCHEMA_TiB }, { "GiB", SCHEMA_GiB }, { "MiB", SCHEMA_MiB }, { "KiB", SCHEMA_KiB },
};

static void format_units(uint64_t v, const struct unit *u, size_t n, const char *rest,
			 char *buf, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if ((v || u[i].mult == SCHEMA_SEC) && v % u[i].mult == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(v / u[i].mult), u[i].name);
			return;
		}
	}
	snprintf(buf, len, "%llu%s", (unsigned long long)v, rest);
}

void schema__format_duration(uint64_t ms, char *buf, size_t len)
{
	format_units(ms, duration_out, ARRAY_SIZE(duration_out), "ms", buf, len);
}

static void format_size(uint64_t b, char *buf, size_t len)
{
	format_units(b, size_out, ARRAY_SIZE(size_out), "", buf, len);
}

/* A decimal with one of units; false when it has none of them or overflows. */
static bool parse_units(const char *s, const struct unit *u, size_t n, bool space, uint64_t *out)
{
	uint64_t micro, whole;
	const char *end;

	if (!parse_decimal(s, &micro, &end))
		return false;
	if (space && *end == ' ')
		end++;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(end, u[i].name))
			continue;
		/* The fraction: < 1e6 times <= 2^40 fits in 64 bits. */
		return !__builtin_mul_overflow(micro / 1000000, u[i].mult, &whole) &&
		       !__builtin_add_overflow(whole, (micro % 1000000) * u[i].mult / 1000000, out);
	}
	return false;
}

/* A duration or a size with its units, in the row's range. */
static int parse_scaled(struct schema_ctx *x, const struct schema_row *r, const char *s,
			uint64_t *out)
{
	bool size = r->kind == SCHEMA_SIZE;
	char lo[32], hi[32];
	uint64_t v;
	bool ok = size ? parse_units(s, size_units, ARRAY_SIZE(size_units), true, &v) :
			 parse_units(s, duration_units, ARRAY_SIZE(duration_units), false, &v);

	(size ? format_size : schema__format_duration)(r->min, lo, sizeof(lo));
	(size ? format_size : schema__format_duration)(r->max, hi, sizeof(hi));
	if (!ok)
		return schema__fail(x, size ? "'%s': expected a size like 64MiB, 1GiB, 512KiB, 100MB "
					      "or a number of bytes, from %s to %s" :
					      "'%s': expected a duration like 15s, 500ms, 2m, 1h or a "
					      "number of seconds, from %s to %s", Q(s), lo, hi);
	if (v < r->min || v > r->max)
		return schema__fail(x, "'%s': out of range, from %s to %s", Q(s), lo, hi);
	*out = v;
	return 0;
}

int schema__parse_enum(struct schema_ctx *x, const char *s, const char *const *names, size_t n,
		       unsigned *out)
{
	char list[128] = "";
	size_t used = 0;

	for (size_t i = 0; i < n; i++) {
		if (names[i] && !strcmp(s, names[i])) {
			*out = (unsigned)i;
			return 0;
		}
	}
	for (size_t i = 0; i < n && used < sizeof(list); i++)
		used = clamp_add(used, snprintf(list + used, sizeof(list) - used, "%s%s",
						i ? ", " : "", names[i]), sizeof(list));
	return schema__fail(x, "'%s': expected one of %s", Q(s), list);
}

/* ---- strings ------------------------------------------------------------- */

bool schema__has_control(const char *s, bool allow_tab)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && !(allow_tab && *s == '\t')) || *s == 0x7f)
			return true;
	return false;
}

bool schema__ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

int schema__check_text(struct schema_ctx *x, const char *s, size_t max)
{
	if (strlen(s) > max)
		return schema__fail(x, "longer than %zu bytes", max);
	if (!utf8__valid(s, strlen(s)) || schema__has_control(s, false))
		return schema__fail(x, "'%s': expected printable UTF-8 text", Q(s));
	return 0;
}

int schema__check_no_control(struct schema_ctx *x, const char *s)
{
	return schema__has_control(s, false) ? schema__fail(x, "contains control characters") : 0;
}

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

bool schema__dns_name(const char *s)
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

int schema__replace(struct schema_ctx *x, char **dst, const char *s)
{
	char *d = strdup(s);

	if (!d)
		return schema__oom(x);
	free(*dst);
	*dst = d;
	return 0;
}

int schema__parse_url(struct schema_ctx *x, const char *s, char **out)
{
	const char *p, *h, *e;
	size_t n;

	if (!strncasecmp(s, "http://", 7))
		p = s + 7;
	else if (!strncasecmp(s, "https://", 8))
		p = s + 8;
	else
		return schema__fail(x, "'%s': expected a URL (http:// or https://)",
				    strchr(s, '@') ? "..." : Q(s));
	if (strlen(s) > MAX_URL)
		return schema__fail(x, "longer than %u bytes", MAX_URL);
	e = p + strcspn(p, "/?#");
	if (memchr(p, '@', e - p))
		return schema__fail(x, "credentials in the URL are not supported (use basic_auth, "
				       "bearer_token_file or bearer_token_env)");
	h = p;
	if (*h == '[') {
		const char *close = memchr(h, ']', e - h);

		if (!close || close == h + 1 || strspn(h + 1, "0123456789abcdefABCDEF:.%") <
						     (size_t)(close - h - 1))
			return schema__fail(x, "'%s': bad IPv6 address in the URL", Q(s));
		p = close + 1;
	} else {
		for (p = h; p < e && *p != ':'; p++)
			if (!is_alnum(*p) && *p != '-' && *p != '.' && *p != '_')
				return schema__fail(x, "'%s': bad host name in the URL", Q(s));
		if (p == h)
			return schema__fail(x, "'%s': the URL has no host", Q(s));
	}
	if (p < e && *p == ':') {
		unsigned long port = 0;
		const char *d = ++p;

		for (; p < e && *p >= '0' && *p <= '9' && p - d < 6; p++)
			port = port * 10 + (unsigned long)(*p - '0');
		if (p == d || p != e || port == 0 || port > 65535)
			return schema__fail(x, "'%s': bad port in the URL", Q(s));
	}
	if (p != e)
		return schema__fail(x, "'%s': bad host name in the URL", Q(s));
	for (; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '?' || *p == '#')
			return schema__fail(x, "'%s': a base URL has no query, fragment, spaces or "
					       "non-ASCII characters", Q(s));
	n = strlen(s);
	while (n && s[n - 1] == '/')
		n--;
	*out = strndup(s, n);
	return *out ? 0 : schema__oom(x);
}

int schema__secret(struct schema_ctx *x, int err, const char *why)
{
	return err == -ENOMEM ? schema__oom(x) : err ? schema__fail(x, "%s", why) : 0;
}

/* ---- fields -------------------------------------------------------------- */

static uint64_t get_num(const void *obj, const struct schema_row *r)
{
	const char *p = FIELD(obj, r);

	return r->size == 1 ? *(const uint8_t *)p : r->size == 2 ? *(const uint16_t *)p :
	       r->size == 4 ? *(const uint32_t *)p : *(const uint64_t *)p;
}

static void put_num(void *obj, const struct schema_row *r, uint64_t v)
{
	char *p = FIELD(obj, r);

	if (r->size == 1)
		*(uint8_t *)p = v;
	else if (r->size == 2)
		*(uint16_t *)p = v;
	else if (r->size == 4)
		*(uint32_t *)p = v;
	else
		*(uint64_t *)p = v;
}

static char **str_at(void *obj, size_t off)
{
	return (char **)((char *)obj + off);
}

/* The struct a MAP row's rows are on: the one at its offset (SUB), else obj. */
static void *inner(const void *obj, const struct schema_row *r)
{
	return r->flags & SCHEMA_SUB ? FIELD(obj, r) : (void *)obj;
}

static int set_secret(struct schema_ctx *x, const struct schema_row *r, void *obj, const char *s)
{
	char **secret = str_at(obj, r->secret_offset);
	char why[256];
	int err;

	if (*secret)
		return schema__fail(x, "set one of %s and %s, not both",
				    r->from_env ? r->other : r->name, r->from_env ? r->name : r->other);
	err = r->from_env ? secret__read_env(s, secret, why, sizeof(why)) :
			    secret__read_file(s, secret, why, sizeof(why));
	if (err)
		return schema__secret(x, err, why);
	return schema__replace(x, str_at(obj, r->offset), s);
}

/* A URL, or (WORDS) each of the space-separated ones, joined by one space. */
static int set_urls(struct schema_ctx *x, const struct schema_row *r, void *obj, const char *s)
{
	bool words = r->flags & SCHEMA_WORDS;
	char *copy = strdup(s), *out = calloc(1, strlen(s) + 1), *save, *u;
	size_t n = 0;
	int err = copy && out ? 0 : schema__oom(x);

	for (char *t = err ? NULL : words ? strtok_r(copy, " \t", &save) : copy; t && !err;
	     t = words ? strtok_r(NULL, " \t", &save) : NULL) {
		if (!(err = schema__parse_url(x, t, &u))) {
			n += sprintf(out + n, "%s%s", n ? " " : "", u);
			free(u);
		}
	}
	free(copy);
	if (err) {
		free(out);
		return err;
	}
	free(*str_at(obj, r->offset));
	*str_at(obj, r->offset) = out;
	return 0;
}

int schema__set(struct schema_ctx *x, const struct schema_row *r, void *obj, const char *s)
{
	uint64_t v = 0, micro;
	const char *end;
	unsigned e;
	int err = 0;

	switch (r->kind) {
	case SCHEMA_UINT:
		err = schema__parse_uint(x, s, r->min, r->max, &v);
		if (!err && r->multiple && v % r->multiple)
			return schema__fail(x, "'%llu': expected a multiple of %u",
					    (unsigned long long)v, r->multiple);
		break;
	case SCHEMA_DURATION:
	case SCHEMA_SIZE:
		err = parse_scaled(x, r, s, &v);
		break;
	case SCHEMA_ENUM:
		err = schema__parse_enum(x, s, r->names, r->nnames, &e);
		v = e;
		break;
	case SCHEMA_BOOL:
		if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
			v = 1;
		else if (strcmp(s, "false") && strcmp(s, "False") && strcmp(s, "FALSE"))
			return schema__fail(x, "'%s': expected true or false", Q(s));
		break;
	case SCHEMA_FRACTION:
		if (!parse_decimal(s, &micro, &end) || *end || !micro || micro > 1000000)
			return schema__fail(x, "'%s': expected a fraction above 0 and at most 1, "
					       "like 0.5 (up to six decimals)", Q(s));
		v = micro;
		break;
	case SCHEMA_PATH:
		if (schema__has_control(s, false))
			return schema__fail(x, "contains control characters");
		/* fall through */
	case SCHEMA_STRING:
		if (r->check && r->check(x, s))
			return -x->errnum;
		return schema__replace(x, str_at(obj, r->offset), s);
	case SCHEMA_URL:
		return set_urls(x, r, obj, s);
	case SCHEMA_SECRET:
		return set_secret(x, r, obj, s);
	default:
		return schema__fail(x, "not a value that text can set");
	}
	if (!err)
		put_num(obj, r, v);
	return err;
}

/* ---- tables -------------------------------------------------------------- */

const struct schema_row *schema__find(const struct schema_row *rows, const char *name)
{
	for (; rows && rows->name; rows++)
		if (!strcmp(rows->name, name))
			return rows;
	return NULL;
}

const struct schema_row *schema__lookup(const struct schema_row *rows, const char *path,
					size_t *base)
{
	const char *dot = strchr(path, '.');
	char head[64];

	*base = 0;
	while (dot) {
		const struct schema_row *r;

		snprintf(head, sizeof(head), "%.*s", (int)(dot - path), path);
		r = schema__find(rows, head);
		if (!r || r->kind != SCHEMA_MAP)
			return NULL;
		if (r->flags & SCHEMA_SUB)
			*base += r->offset;
		rows = r->rows;
		path = dot + 1;
		dot = strchr(path, '.');
	}
	return schema__find(rows, path);
}

/* By kind, in the runs of schema.h's order: numbers (UINT ... FRACTION),
 * then char * (STRING ... SECRET). */
void schema__defaults(const struct schema_row *rows, void *obj, int *err)
{
	for (const struct schema_row *r = rows; r && r->name; r++) {
		if (r->kind <= SCHEMA_FRACTION)
			put_num(obj, r, r->def);
		else if (r->kind == SCHEMA_MAP)
			schema__defaults(r->rows, inner(obj, r), err);
		else if (r->kind < SCHEMA_SECRET && r->def_str &&
			 !(*str_at(obj, r->offset) = strdup(r->def_str)))
			*err = -ENOMEM;
	}
}

static void free_elem(const struct schema_row *r, void *elem)
{
	if (!(r->flags & SCHEMA_ONE_KEY)) {
		schema__free(r->rows, elem);
		return;
	}
	for (const struct schema_row *v = r->rows; v->name; v++) {
		if (*(int *)((char *)elem + r->variant_offset) != v->variant)
			continue;
		if (v->kind == SCHEMA_MAP)
			schema__free(v->rows, elem);
		else
			schema__free((const struct schema_row[]){ *v, { 0 } }, elem);
	}
}

void schema__free(const struct schema_row *rows, void *obj)
{
	for (const struct schema_row *r = rows; r && r->name; r++) {
		char **p = str_at(obj, r->offset);
		size_t n = r->count_offset ? *(size_t *)((char *)obj + r->count_offset) : 0;

		if (r->free || r->kind <= SCHEMA_FRACTION || r->kind == SCHEMA_CUSTOM) {
			if (r->free)
				r->free(r, obj);
			continue;
		}
		if (r->kind == SCHEMA_MAP) {
			schema__free(r->rows, inner(obj, r));
			continue;
		}
		if (r->kind == SCHEMA_SECRET)
			secret__free(str_at(obj, r->secret_offset));
		for (size_t i = 0; r->kind == SCHEMA_LIST && *p && i < n; i++) {
			if (r->rows)
				free_elem(r, *p + i * r->elem_size);
			else if (!r->names)
				free(((char **)*p)[i]);
		}
		for (size_t i = 0; r->kind == SCHEMA_PAIRS && *p && i < n; i++) {
			struct schema_pair *e = &((struct schema_pair *)*p)[i];

			free(e->key);
			secret__free(&e->value);   /* an expansion may be a secret */
			free(e->raw);
		}
		free(*p);
		*p = NULL;
	}
}

/* ---- dump ---------------------------------------------------------------- */

void schema__put_str(FILE *f, const char *s)
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

/* Quoted unless the strings are names of a table (plain, safe scalars). */
static void put_list(FILE *f, const char *const *s, size_t n, bool quote)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		if (quote)
			schema__put_str(f, s[i]);
		else
			fputs(s[i], f);
	}
	fputc(']', f);
}

void schema__put_qlist(FILE *f, const char *const *s, size_t n)
{
	put_list(f, s, n, true);
}

/* A number row's value as the dump writes it. */
static void num_text(const struct schema_row *r, uint64_t v, char *buf, size_t len)
{
	size_t n;

	if (r->kind == SCHEMA_DURATION)
		schema__format_duration(v, buf, len);
	else if (r->kind == SCHEMA_SIZE)
		format_size(v, buf, len);
	else if (r->kind == SCHEMA_ENUM || r->kind == SCHEMA_BOOL)
		snprintf(buf, len, "%s", r->kind == SCHEMA_BOOL ? (v ? "true" : "false") :
					 v < r->nnames ? r->names[v] : "?");
	else if (r->kind == SCHEMA_UINT || v >= 1000000)   /* UINT, or a fraction of 1 */
		snprintf(buf, len, "%llu", (unsigned long long)(r->kind == SCHEMA_UINT ? v : 1));
	else {   /* millionths, trailing zeros cut */
		snprintf(buf, len, "0.%06u", (unsigned)v);
		for (n = strlen(buf); buf[n - 1] == '0';)
			buf[--n] = '\0';
	}
}

static void dump_pairs(FILE *f, const struct schema_row *r, const void *obj, int indent)
{
	const struct schema_pair *v = *(struct schema_pair *const *)FIELD(obj, r);
	size_t n = *(const size_t *)((const char *)obj + r->count_offset);

	fputs(n ? "\n" : " {}\n", f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%*s", indent + 2, "");
		schema__put_str(f, v[i].key);
		fputs(": ", f);
		schema__put_str(f, v[i].raw ? v[i].raw : v[i].value);
		fputc('\n', f);
	}
}

void schema__dump(const struct schema_row *rows, const void *obj, FILE *f, int indent)
{
	for (const struct schema_row *r = rows; r && r->name; r++) {
		uint64_t v = r->kind <= SCHEMA_FRACTION ? get_num(obj, r) : 0;
		const char *s;
		char buf[64];

		if (r->dump) {
			r->dump(f, r, obj, indent);
			continue;
		}
		fprintf(f, "%*s%s:", indent, "", r->name);
		if (r->kind == SCHEMA_MAP) {
			fputc('\n', f);
			schema__dump(r->rows, inner(obj, r), f, indent + 2);
			continue;
		} else if (r->kind == SCHEMA_PAIRS) {
			dump_pairs(f, r, obj, indent);
			continue;
		} else if (r->kind <= SCHEMA_FRACTION) {
			num_text(r, v, buf, sizeof(buf));
			fprintf(f, " %s", buf);
		} else if (r->kind == SCHEMA_LIST) {
			fputc(' ', f);
			put_list(f, *(const char *const *const *)FIELD(obj, r),
				 *(const size_t *)((const char *)obj + r->count_offset), !r->names);
		} else if (r->kind != SCHEMA_CUSTOM) {
			s = *(char *const *)FIELD(obj, r);
			fputc(' ', f);
			if (!s && (r->flags & SCHEMA_WORDS))
				fputs("null", f);
			else
				schema__put_str(f, s);
			if (r->kind == SCHEMA_SECRET && s)
				fprintf(f, "   # %s: <redacted>", r->what);
		}
		if (r->note && !v)
			fprintf(f, "   # %s", r->note);
		fputc('\n', f);
	}
}
