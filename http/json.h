/* JSON documents that come from the network (API answers, error bodies),
 * through json-c: never trusted for size, depth or types. */
#ifndef IGNIS_JSON_H
#define IGNIS_JSON_H

#include <stddef.h>

#include <json-c/json.h>

/* One strict JSON document of at most max bytes (valid UTF-8, nesting at
 * most depth, nothing but whitespace after it), or NULL. */
struct json_object *json__parse(const char *s, size_t len, size_t max, int depth);
/* The JSON value at the start of s, read leniently (what follows is
 * ignored, and so is invalid UTF-8 in strings), or NULL. For error bodies
 * to quote, which need not be well-formed to say something. */
struct json_object *json__parse_prefix(const char *s, size_t len, size_t max, int depth);
/* o's member key when o is an object and the member of type t, else NULL.
 * o may be NULL. */
struct json_object *json__get(struct json_object *o, const char *key, enum json_type t);
/* The string member key, or NULL when absent, not a string, empty, longer
 * than max or holding a NUL (which no C consumer could see past). */
const char *json__str(struct json_object *o, const char *key, size_t max);

#endif
