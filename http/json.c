#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http/json.h"

static struct json_object *parse(const char *s, size_t len, size_t max, int depth, bool strict,
				 size_t *end)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (!s || !len || len > max || len > (size_t)INT32_MAX)
		return NULL;
	tok = json_tokener_new_ex(depth);
	if (!tok)
		return NULL;
	/* json-c's strict mode also refuses anything after the value */
	json_tokener_set_flags(tok, strict ? JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8 : 0);
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	*end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	return o;
}

struct json_object *json__parse(const char *s, size_t len, size_t max, int depth)
{
	struct json_object *o;
	size_t end;

	o = parse(s, len, max, depth, true, &end);
	if (!o)
		return NULL;
	while (end < len && isspace((unsigned char)s[end]))
		end++;
	if (end < len) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

struct json_object *json__parse_prefix(const char *s, size_t len, size_t max, int depth)
{
	size_t end;

	return parse(s, len, max, depth, false, &end);
}

struct json_object *json__get(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

const char *json__str(struct json_object *o, const char *key, size_t max)
{
	struct json_object *v = json__get(o, key, json_type_string);
	const char *s;
	int len;

	if (!v)
		return NULL;
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (!s || len <= 0 || (size_t)len > max || strlen(s) != (size_t)len)
		return NULL;
	return s;
}
