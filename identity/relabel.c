#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/schema.h"
#include "base/str.h"
#include "identity/relabel.h"

/* A rule's regex runs over labels that come from pods and processes: a
 * pathological pattern must not stall the agent. */
#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 10000
/* Longest expanded value or joined source value. */
#define VALUE_MAX (256 * 1024)

/* ---- label sets --------------------------------------------------------- */

struct label {
	char *key, *value;
};

struct label_set {
	struct label *v;
	size_t n, cap, bytes;
};

struct label_set *label_set__new(void)
{
	return calloc(1, sizeof(struct label_set));
}

void label_set__free(struct label_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].key);
		free(s->v[i].value);
	}
	free(s->v);
	free(s);
}

/* The index of key, or where it would go (with *found false). */
static size_t find(const struct label_set *s, const char *key, bool *found)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->v[mid].key, key);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static void remove_at(struct label_set *s, size_t i)
{
	s->bytes -= strlen(s->v[i].key) + strlen(s->v[i].value);
	free(s->v[i].key);
	free(s->v[i].value);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(s->v[0]));
	s->n--;
}

int label_set__set(struct label_set *s, const char *key, const char *value)
{
	size_t klen, vlen, i;
	bool found;
	char *copy;

	if (!key || !*key)
		return -EINVAL;
	i = find(s, key, &found);
	if (!value || !*value) {
		if (found)
			remove_at(s, i);
		return 0;
	}
	klen = strlen(key);
	vlen = strlen(value);
	if (found) {
		size_t old = strlen(s->v[i].value);

		if (s->bytes - old + vlen > LABEL_SET_MAX_BYTES)
			return -E2BIG;
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		free(s->v[i].value);
		s->v[i].value = copy;
		s->bytes = s->bytes - old + vlen;
		return 0;
	}
	if (s->n >= LABEL_SET_MAX || s->bytes + klen + vlen > LABEL_SET_MAX_BYTES)
		return -E2BIG;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct label *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	{
		char *k = strdup(key), *val = strdup(value);

		if (!k || !val) {
			free(k);
			free(val);
			return -ENOMEM;
		}
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
		s->v[i] = (struct label){ k, val };
		s->n++;
		s->bytes += klen + vlen;
	}
	return 0;
}

const char *label_set__get(const struct label_set *s, const char *key)
{
	bool found;
	size_t i;

	if (!key)
		return NULL;
	i = find(s, key, &found);
	return found ? s->v[i].value : NULL;
}

int label_set__del(struct label_set *s, const char *key)
{
	bool found;
	size_t i;

	if (!key)
		return -ENOENT;
	i = find(s, key, &found);
	if (!found)
		return -ENOENT;
	remove_at(s, i);
	return 0;
}

void label_set__del_prefix(struct label_set *s, const char *prefix)
{
	size_t n = strlen(prefix);

	for (size_t i = s->n; i-- > 0;)
		if (!strncmp(s->v[i].key, prefix, n))
			remove_at(s, i);
}

size_t label_set__count(const struct label_set *s)
{
	return s->n;
}

const char *label_set__key(const struct label_set *s, size_t i)
{
	return i < s->n ? s->v[i].key : NULL;
}

const char *label_set__value(const struct label_set *s, size_t i)
{
	return i < s->n ? s->v[i].value : NULL;
}

/* ---- rules -------------------------------------------------------------- */

struct rule {
	char **source;
	size_t nsource;
	char *separator, *target, *replacement;
	pcre2_code *re;
	enum relabel_action action;
};

struct relabel {
	struct rule *rules;
	size_t n;
	uint32_t max_pairs;     /* ovector pairs the largest regex needs */
	pcre2_match_context *mctx;
};

/* A string bounded by VALUE_MAX. */
static void buf_add(struct strbuf *b, const char *s, size_t n)
{
	if (!b->err && b->len + n + 1 > VALUE_MAX)
		b->err = -E2BIG;
	strbuf__add(b, s, n);
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static bool valid_label_name(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!is_name_char(*s))
			return false;
	return true;
}

/* A target or labelmap replacement: name characters and $references,
 * which is what Prometheus accepts before expansion. */
static bool valid_target_template(const char *s)
{
	if (!s || !*s)
		return false;
	while (*s) {
		if (*s == '$') {
			s++;
			if (*s == '{') {
				const char *e = s + 1;

				while (is_name_char(*e))
					e++;
				if (e == s + 1 || *e != '}')
					return false;
				s = e + 1;
			} else {
				const char *e = s;

				while (is_name_char(*e))
					e++;
				if (e == s)
					return false;
				s = e;
			}
		} else if (is_name_char(*s)) {
			s++;
		} else {
			return false;
		}
	}
	return true;
}

/* Go's Regexp.Expand over one match: see relabel.h. */
static void expand(struct strbuf *out, const char *tmpl, const pcre2_code *re, const char *subject,
		   const PCRE2_SIZE *ov, uint32_t pairs)
{
	const char *t = tmpl;

	while (*t) {
		const char *dollar = strchr(t, '$'), *name, *end;
		bool brace = false;
		size_t nlen;
		long num = 0;
		int group = -1;

		if (!dollar) {
			buf_add(out, t, strlen(t));
			return;
		}
		buf_add(out, t, (size_t)(dollar - t));
		t = dollar + 1;
		if (*t == '$') {
			buf_add(out, "$", 1);
			t++;
			continue;
		}
		name = t;
		if (*name == '{') {
			brace = true;
			name++;
		}
		end = name;
		while (is_name_char(*end))
			end++;
		nlen = (size_t)(end - name);
		if (nlen == 0 || (brace && *end != '}')) {
			buf_add(out, "$", 1);   /* malformed: the '$' is text */
			continue;
		}
		t = brace ? end + 1 : end;
		for (size_t i = 0; i < nlen; i++) {
			if (name[i] < '0' || name[i] > '9' || num >= 100000000) {
				num = -1;
				break;
			}
			num = num * 10 + (name[i] - '0');
		}
		if (name[0] == '0' && nlen > 1)
			num = -1;
		if (num >= 0) {
			group = (int)num;
		} else {
			char nm[128];

			if (nlen < sizeof(nm)) {
				memcpy(nm, name, nlen);
				nm[nlen] = '\0';
				group = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nm);
			}
		}
		if (group >= 0 && (uint32_t)group < pairs && ov[2 * group] != PCRE2_UNSET)
			buf_add(out, subject + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
	}
}

static int compile(const char *re, pcre2_code **out, char *err, size_t errlen)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *c;

	/* Prometheus compiles "^(?s:RE)$": anchored both ends, '.' matching
	 * newlines. The options say the same without shifting the offsets
	 * reported in errors. */
	c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
			  PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL | PCRE2_UTF |
				  PCRE2_MATCH_INVALID_UTF,
			  &code, &off, NULL);
	if (!c) {
		char msg[256];

		if (pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg)) < 0)
			snprintf(msg, sizeof(msg), "error %d", code);
		snprintf(err, errlen, "%s at offset %zu", msg, (size_t)off);
		return code == PCRE2_ERROR_NOMEMORY ? -ENOMEM : -EINVAL;
	}
	*out = c;
	return 0;
}

int relabel__check_regex(const char *re, char *err, size_t errlen)
{
	pcre2_code *c = NULL;
	int ret = compile(re ? re : "(.*)", &c, err, errlen);

	pcre2_code_free(c);
	return ret;
}

static void free_rule(struct rule *r)
{
	for (size_t i = 0; i < r->nsource; i++)
		free(r->source[i]);
	free(r->source);
	free(r->separator);
	free(r->target);
	free(r->replacement);
	pcre2_code_free(r->re);
}

void relabel__free(struct relabel *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free_rule(&r->rules[i]);
	free(r->rules);
	pcre2_match_context_free(r->mctx);
	free(r);
}

static const char *const action_names[] = {
	[RELABEL_REPLACE] = "replace", [RELABEL_KEEP] = "keep", [RELABEL_DROP] = "drop",
	[RELABEL_LABELMAP] = "labelmap", [RELABEL_LABELDROP] = "labeldrop",
	[RELABEL_LABELKEEP] = "labelkeep",
};

static const char *action_name(enum relabel_action a)
{
	return (unsigned)a < sizeof(action_names) / sizeof(action_names[0]) ? action_names[a] : "?";
}

/* Checks one rule; a message naming the field in err on failure. */
static int check_rule(const struct relabel_rule *in, size_t idx, char *err, size_t errlen)
{
	switch (in->action) {
	case RELABEL_REPLACE:
	case RELABEL_KEEP:
	case RELABEL_DROP:
	case RELABEL_LABELMAP:
	case RELABEL_LABELDROP:
	case RELABEL_LABELKEEP:
		break;
	default:
		snprintf(err, errlen, "relabel_configs[%zu].action: unknown action %d", idx,
			 (int)in->action);
		return -EINVAL;
	}
	for (size_t i = 0; i < in->nsource_labels; i++) {
		if (!valid_label_name(in->source_labels ? in->source_labels[i] : NULL)) {
			snprintf(err, errlen,
				 "relabel_configs[%zu].source_labels[%zu]: \"%s\" is not a valid "
				 "label name", idx, i,
				 in->source_labels && in->source_labels[i] ? in->source_labels[i] : "");
			return -EINVAL;
		}
	}
	if (in->action == RELABEL_REPLACE) {
		if (!in->target_label || !*in->target_label) {
			snprintf(err, errlen, "relabel_configs[%zu].target_label: required for "
				 "action replace", idx);
			return -EINVAL;
		}
		if (!valid_target_template(in->target_label)) {
			snprintf(err, errlen, "relabel_configs[%zu].target_label: \"%s\" is not a "
				 "valid label name", idx, in->target_label);
			return -EINVAL;
		}
	}
	if (in->action == RELABEL_LABELMAP && in->replacement &&
	    !valid_target_template(in->replacement)) {
		snprintf(err, errlen, "relabel_configs[%zu].replacement: \"%s\" is not a valid "
			 "label name", idx, in->replacement);
		return -EINVAL;
	}
	if ((in->action == RELABEL_LABELDROP || in->action == RELABEL_LABELKEEP) &&
	    (in->nsource_labels || in->target_label || in->separator || in->replacement)) {
		snprintf(err, errlen, "relabel_configs[%zu].action: %s takes only a regex", idx,
			 action_name(in->action));
		return -EINVAL;
	}
	return 0;
}

static char *dup_or(const char *s, const char *dflt, int *err)
{
	char *c = strdup(s ? s : dflt);

	if (!c)
		*err = -ENOMEM;
	return c;
}

struct relabel *relabel__new(const struct relabel_rule *rules, size_t n, char *err,
			     size_t errlen)
{
	struct relabel *r = calloc(1, sizeof(*r));
	int ret = 0;

	if (errlen)
		err[0] = '\0';
	if (!r) {
		ret = -ENOMEM;
		goto cleanup;
	}
	r->rules = calloc(n ? n : 1, sizeof(*r->rules));
	r->mctx = pcre2_match_context_create(NULL);
	if (!r->rules || !r->mctx) {
		ret = -ENOMEM;
		goto cleanup;
	}
	pcre2_set_match_limit(r->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(r->mctx, DEPTH_LIMIT);
	r->max_pairs = 1;
	for (size_t i = 0; i < n; i++) {
		const struct relabel_rule *in = &rules[i];
		struct rule *out = &r->rules[i];
		char msg[256];
		uint32_t caps = 0;

		ret = check_rule(in, i, err, errlen);
		if (ret)
			goto cleanup;
		r->n = i + 1;   /* from here on, free_rule cleans up out */
		out->action = in->action;
		ret = compile(in->regex ? in->regex : "(.*)", &out->re, msg, sizeof(msg));
		if (ret) {
			snprintf(err, errlen, "relabel_configs[%zu].regex: %s", i, msg);
			goto cleanup;
		}
		pcre2_pattern_info(out->re, PCRE2_INFO_CAPTURECOUNT, &caps);
		if (caps + 1 > r->max_pairs)
			r->max_pairs = caps + 1;
		if (in->nsource_labels) {
			out->source = calloc(in->nsource_labels, sizeof(*out->source));
			if (!out->source) {
				ret = -ENOMEM;
				goto cleanup;
			}
			for (size_t k = 0; k < in->nsource_labels; k++) {
				out->source[k] = strdup(in->source_labels[k]);
				if (!out->source[k]) {
					ret = -ENOMEM;
					goto cleanup;
				}
				out->nsource = k + 1;
			}
		}
		out->separator = dup_or(in->separator, ";", &ret);
		out->replacement = dup_or(in->replacement, "$1", &ret);
		out->target = dup_or(in->target_label, "", &ret);
		if (ret)
			goto cleanup;
	}
	return r;
cleanup:
	if (ret == -ENOMEM && errlen)
		snprintf(err, errlen, "relabel_configs: out of memory");
	relabel__free(r);
	errno = -ret;
	return NULL;
}

/* One match of a rule's regex over subject: the number of ovector pairs
 * to read (> 0), or 0 for no match. A regex that hits the match limit
 * counts as no match. */
static uint32_t match(const struct relabel *r, const struct rule *rule, const char *subject,
		      pcre2_match_data *md)
{
	int rc = pcre2_match(rule->re, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, r->mctx);

	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0) {
		pr_debug("relabel: regex gave up on a %zu-byte value (error %d): no match\n",
			 strlen(subject), rc);
		return 0;
	}
	/* rc is one more than the highest group set; the pairs past a
	 * pattern's groups keep what an earlier rule left there. */
	return rc > 0 ? (uint32_t)rc : 0;
}

static int joined_sources(const struct rule *rule, const struct label_set *labels,
			  struct strbuf *out)
{
	buf_add(out, "", 0);
	for (size_t i = 0; i < rule->nsource; i++) {
		const char *v = label_set__get(labels, rule->source[i]);

		if (i)
			buf_add(out, rule->separator, strlen(rule->separator));
		if (v)
			buf_add(out, v, strlen(v));
	}
	return out->err;
}

/* The keys of the set as they are now: labelmap, labeldrop and labelkeep
 * change the set while walking it. */
static char **snapshot_keys(const struct label_set *s, size_t *n)
{
	char **keys = calloc(s->n ? s->n : 1, sizeof(*keys));

	if (!keys)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		keys[i] = strdup(s->v[i].key);
		if (!keys[i]) {
			for (size_t k = 0; k < i; k++)
				free(keys[k]);
			free(keys);
			return NULL;
		}
	}
	*n = s->n;
	return keys;
}

static int apply_names(const struct relabel *r, const struct rule *rule, struct label_set *labels,
		       pcre2_match_data *md)
{
	size_t n = 0;
	char **keys = snapshot_keys(labels, &n);
	int err = 0;

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		uint32_t pairs = match(r, rule, keys[i], md);

		if (rule->action == RELABEL_LABELDROP && pairs)
			label_set__del(labels, keys[i]);
		else if (rule->action == RELABEL_LABELKEEP && !pairs)
			label_set__del(labels, keys[i]);
		else if (rule->action == RELABEL_LABELMAP && pairs) {
			struct strbuf name = { 0 };
			const char *v = label_set__get(labels, keys[i]);
			char *value = v ? strdup(v) : NULL;

			expand(&name, rule->replacement, rule->re, keys[i],
			       pcre2_get_ovector_pointer(md), pairs);
			if (v && !value)
				err = -ENOMEM;
			else if (name.err)
				err = name.err;
			else if (value && valid_label_name(name.s))
				err = label_set__set(labels, name.s, value);
			free(value);
			free(name.s);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	return err;
}

int relabel__apply(const struct relabel *r, struct label_set *labels, bool *keep)
{
	pcre2_match_data *md;
	int err = 0;

	*keep = true;
	if (!r || !r->n)
		return 0;
	md = pcre2_match_data_create(r->max_pairs, NULL);
	if (!md)
		return -ENOMEM;
	for (size_t i = 0; i < r->n && !err; i++) {
		const struct rule *rule = &r->rules[i];
		struct strbuf val = { 0 }, target = { 0 }, res = { 0 };
		uint32_t pairs;

		switch (rule->action) {
		case RELABEL_KEEP:
		case RELABEL_DROP:
			err = joined_sources(rule, labels, &val);
			if (!err && !!match(r, rule, val.s, md) != (rule->action == RELABEL_KEEP)) {
				*keep = false;
				free(val.s);
				goto out;
			}
			break;
		case RELABEL_REPLACE:
			err = joined_sources(rule, labels, &val);
			if (err)
				break;
			pairs = match(r, rule, val.s, md);
			if (!pairs)
				break;
			buf_add(&target, "", 0);
			expand(&target, rule->target, rule->re, val.s,
			       pcre2_get_ovector_pointer(md), pairs);
			buf_add(&res, "", 0);
			expand(&res, rule->replacement, rule->re, val.s,
			       pcre2_get_ovector_pointer(md), pairs);
			err = target.err ? target.err : res.err;
			if (err || !valid_label_name(target.s))
				break;
			/* An empty result deletes the target (label_set__set does). */
			err = label_set__set(labels, target.s, res.s);
			break;
		case RELABEL_LABELMAP:
		case RELABEL_LABELDROP:
		case RELABEL_LABELKEEP:
			err = apply_names(r, rule, labels, md);
			break;
		}
		free(val.s);
		free(target.s);
		free(res.s);
	}
out:
	pcre2_match_data_free(md);
	return err;
}

/* ---- relabel_configs in the config file ----------------------------------- */

/* Prometheus label names, as relabel rules name them. */
static int prom_label(struct schema_ctx *x, const char *s)
{
	size_t n = strlen(s);

	if (n && !(*s >= '0' && *s <= '9') &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n)
		return 0;
	return schema__fail(x, "'%s': expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)", SCHEMA_Q(s));
}

/* Compiled as the relabeling code will compile it, so a bad pattern stops
 * the start, not the first process. */
static int check_regex(struct schema_ctx *x, const char *re)
{
	char msg[300];

	if (relabel__check_regex(re, msg, sizeof(msg)))
		return schema__fail(x, "%s", msg);
	return 0;
}

/* What each action reads, so a rule that sets what its action ignores is
 * a mistake caught at load rather than a silent no-op. */
int relabel__check_rule(struct schema_ctx *x, void *elem)
{
	const struct relabel_rule *r = elem;
	bool replacement = schema__seen(x, "replacement");
	const char *unused = NULL;

	if (r->action == RELABEL_REPLACE && !r->target_label) {
		schema__push_key(x, "target_label");
		return schema__fail(x, "required for action replace");
	}
	if (r->nsource_labels && r->action >= RELABEL_LABELMAP)
		unused = "source_labels";
	else if (r->target_label && r->action != RELABEL_REPLACE)
		unused = "target_label";
	else if (replacement && r->action != RELABEL_REPLACE && r->action != RELABEL_LABELMAP)
		unused = "replacement";
	if (!unused)
		return 0;
	schema__push_key(x, unused);
	return schema__fail(x, "not used by action %s", action_name(r->action));
}

#define R struct relabel_rule
const struct schema_row relabel__rows[] = {
	{ "source_labels", SCHEMA_LIST, SCHEMA_AT(R, source_labels), .max = 64,
	  .count_offset = offsetof(R, nsource_labels), .item = "label names", .items = "labels",
	  .what = "a label name", .check = prom_label },
	{ "separator", SCHEMA_STRING, SCHEMA_AT(R, separator), .flags = SCHEMA_EMPTY },
	{ "regex", SCHEMA_STRING, SCHEMA_AT(R, regex), .flags = SCHEMA_EMPTY, .check = check_regex },
	{ "target_label", SCHEMA_STRING, SCHEMA_AT(R, target_label),
	  .check = schema__check_no_control },
	{ "replacement", SCHEMA_STRING, SCHEMA_AT(R, replacement), .flags = SCHEMA_EMPTY,
	  .check = schema__check_no_control },
	{ "action", SCHEMA_ENUM, SCHEMA_AT(R, action), SCHEMA_NAMES(action_names) },
	{ 0 },
};

void relabel__dump_rules(FILE *f, const struct schema_row *row, const void *obj, int indent)
{
	const R *rules = *(R *const *)((const char *)obj + row->offset);
	size_t n = *(const size_t *)((const char *)obj + row->count_offset);

	fprintf(f, "%s:%s\n", row->name, n ? "" : " []");
	(void)indent;
	for (size_t i = 0; i < n; i++) {
		const R *r = &rules[i];

		fputs("  - source_labels: ", f);
		schema__put_qlist(f, r->source_labels, r->nsource_labels);
		fputs("\n    separator: ", f);
		schema__put_str(f, r->separator ? r->separator : ";");
		fputs("\n    regex: ", f);
		schema__put_str(f, r->regex ? r->regex : "(.*)");
		fputs("\n    target_label: ", f);
		schema__put_str(f, r->target_label);
		if (r->action == RELABEL_REPLACE || r->action == RELABEL_LABELMAP) {
			fputs("\n    replacement: ", f);
			schema__put_str(f, r->replacement ? r->replacement : "$1");
		}
		fprintf(f, "\n    action: %s\n", action_name(r->action));
	}
}
