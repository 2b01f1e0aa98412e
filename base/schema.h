/* Settings described once: a table of rows (name, kind, field offset,
 * range, default, enum names, environment variable, flag, secret) drives
 * the parsing of a value from text, the defaults, the dump and the freeing
 * of a struct (systemd's conf-parser and libcyaml's schemas are the
 * pattern). The YAML walk (agent/config.c) reads mappings, lists and pairs
 * against the same rows; this file knows only text, so any layer can
 * declare rows for its own settings (exporters/ do, for their
 * destinations).
 *
 * Messages are one line "FILE:LINE: key.path: reason", "IGNIS_X: reason"
 * or "--flag: reason", built in a struct schema_ctx. */
#ifndef IGNIS_SCHEMA_H
#define IGNIS_SCHEMA_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SCHEMA_KiB (1ull << 10)
#define SCHEMA_MiB (1ull << 20)
#define SCHEMA_GiB (1ull << 30)
#define SCHEMA_TiB (1ull << 40)
#define SCHEMA_SEC 1000ull                 /* durations are in ms */
#define SCHEMA_MIN (60 * SCHEMA_SEC)
#define SCHEMA_HOUR (60 * SCHEMA_MIN)

#define SCHEMA_MAX_STRING 4096u            /* longer scalars are rejected */

enum schema_kind {
	SCHEMA_UINT,      /* a whole number from min to max (field: size bytes) */
	SCHEMA_DURATION,  /* "15s", "500ms", "2m", "1h", "1.5s", seconds: uint64_t ms */
	SCHEMA_SIZE,      /* "64MiB", "1GiB", "100MB", bytes: uint64_t */
	SCHEMA_ENUM,      /* one of names: an enum (int-sized) */
	SCHEMA_BOOL,      /* true/false: bool */
	SCHEMA_FRACTION,  /* (0, 1], six decimals: uint32_t millionths */
	SCHEMA_STRING,    /* char *, then check */
	SCHEMA_PATH,      /* char *, no control characters */
	SCHEMA_URL,       /* char *, http(s)://host[:port][/path], trailing slashes cut */
	SCHEMA_SECRET,    /* char * source (a file, or with from_env a variable);
			   * the secret it names at secret_offset */
	/* Read by the walker (agent/config.c); defaults, dump and free here. */
	SCHEMA_MAP,       /* nested rows on the same struct (SUB: on the one at offset) */
	SCHEMA_LIST,      /* array at offset, size_t count at count_offset: of char *
			   * (items checked by check), or with rows of elem_size structs */
	SCHEMA_PAIRS,     /* mapping into struct schema_pair array + count */
	SCHEMA_CUSTOM,    /* parse/dump/free hooks of its own */
};

enum {
	SCHEMA_REQUIRED = 1 << 0,  /* must be set (checked by the reader) */
	SCHEMA_EMPTY = 1 << 1,     /* "" is a value, not "the default" */
	SCHEMA_UNIQUE = 1 << 2,    /* LIST: no item twice */
	SCHEMA_EXPAND = 1 << 3,    /* PAIRS: ${VAR} in values; raw kept for the dump */
	SCHEMA_SUB = 1 << 4,       /* MAP: the rows' offsets are from offset */
	SCHEMA_ONE_KEY = 1 << 5,   /* LIST of maps: each has one key, a row of rows,
				    * whose variant goes to the int at variant_offset */
	SCHEMA_NONEMPTY = 1 << 6,  /* LIST of strings: no "" item */
	SCHEMA_WORDS = 1 << 7,     /* URL: space-separated URLs (the walk also takes a
				    * list); NULL dumps as null */
};

/* One PAIRS entry; name and key are the same field. */
struct schema_pair {
	union {
		char *name;
		char *key;
	};
	char *value;
	char *raw;     /* EXPAND: as written (${VAR} unexpanded) */
};

struct schema_ctx;
struct schema_row;

typedef int (*schema_check_fn)(struct schema_ctx *x, const char *s);
typedef void (*schema_dump_fn)(FILE *f, const struct schema_row *r, const void *obj,
			       int indent);

struct schema_row {
	const char *name;              /* NULL ends a table */
	enum schema_kind kind;
	size_t offset, size;           /* of the field in the struct */
	uint64_t min, max;             /* UINT, DURATION, SIZE; LIST, PAIRS: entries */
	uint64_t def;                  /* default number, enum index or bool */
	const char *def_str;           /* default string */
	unsigned multiple;             /* UINT: must be a multiple of it */
	/* ENUM; LIST of strings: the items are among them (stored as these
	 * static strings, not copies) */
	const char *const *names;
	size_t nnames;
	const struct schema_row *rows; /* MAP, LIST of maps */
	size_t elem_size;              /* LIST of maps */
	size_t count_offset;           /* LIST, PAIRS */
	size_t variant_offset;         /* ONE_KEY */
	int variant;                   /* a row of a ONE_KEY list */
	size_t secret_offset;          /* SECRET */
	bool from_env;                 /* SECRET: the source is a variable's name */
	const char *other;             /* SECRET: the alternative row's name */
	/* SECRET: what the dump's comment calls it ("password"); STRING and
	 * the items of a LIST: what a scalar was expected to be ("a label
	 * name"; default "a string"). */
	const char *what;
	/* LIST: what it lists ("label names": "expected a list of label
	 * names"); PAIRS: what it maps ("header": "a header name"). */
	const char *item;
	const char *items;             /* "labels": "more than 64 labels" */
	const char *dup;               /* PAIRS: the message for a key twice */
	unsigned flags;
	schema_check_fn check;         /* STRING, LIST items, PAIRS keys */
	/* PAIRS values: 0 or a message through x. */
	int (*check_value)(struct schema_ctx *x, const char *key, const char *value);
	/* LIST of maps: checks across an element's keys, after them. */
	int (*finish)(struct schema_ctx *x, void *elem);
	schema_dump_fn dump;           /* NULL: by kind */
	/* CUSTOM: node is the walker's (a yaml_node_t); LIST: reads one
	 * element (a mapping) into obj, instead of rows. */
	int (*parse)(struct schema_ctx *x, const struct schema_row *r, const void *node,
		     void *obj);
	void (*free)(const struct schema_row *r, void *obj);   /* instead of by kind */
	const char *note;              /* dump: a comment when the value is 0 */
	/* REQUIRED: appended to "required for ..."; NONEMPTY, ONE_KEY strings:
	 * the message for a missing item; LIST of maps: the format for an item
	 * that is not a mapping (%s: what it is). */
	const char *hint;
	const char *env, *flag;        /* overrides: "IGNIS_HOST", "--host" */
};

#define SCHEMA_AT(type, field) \
	.offset = offsetof(type, field), .size = sizeof(((type *)0)->field)
#define SCHEMA_NAMES(a) .names = (a), .nnames = sizeof(a) / sizeof((a)[0])

/* ---- messages ------------------------------------------------------------ */

#define SCHEMA_MAX_SEEN 128

struct schema_ctx {
	const char *file;        /* NULL: messages have no FILE:LINE: */
	const char *source;      /* "IGNIS_X" or "--x" while reading those */
	unsigned long line;      /* 1-based line of what is being read */
	char key[512];           /* dotted path of the key being read */
	size_t keylen;
	char *err;
	size_t errlen;
	int errnum;
	/* The rows set (and their lines) in the object being read, for
	 * checks that span keys; the reader clears it per object. */
	struct {
		const struct schema_row *row;
		unsigned long line;
	} seen[SCHEMA_MAX_SEEN];
	size_t nseen;
};

/* Writes the message (control characters as '?'); returns -EINVAL. */
__attribute__((format(printf, 2, 3)))
int schema__fail(struct schema_ctx *x, const char *fmt, ...);
int schema__vfail(struct schema_ctx *x, const char *fmt, va_list ap);
int schema__oom(struct schema_ctx *x);   /* -ENOMEM */
size_t schema__push_key(struct schema_ctx *x, const char *name);
size_t schema__push_index(struct schema_ctx *x, size_t i);
void schema__pop_key(struct schema_ctx *x, size_t old);
__attribute__((format(printf, 2, 3)))
void schema__set_key(struct schema_ctx *x, const char *fmt, ...);
void schema__saw(struct schema_ctx *x, const struct schema_row *r, unsigned long line);
/* The line where the row named name was set in this object, 0: not set. */
unsigned long schema__seen(const struct schema_ctx *x, const char *name);
/* A user's value cut short so a bad line stays one line. */
const char *schema__quote(const char *s, char *buf, size_t len);
#define SCHEMA_Q(s) schema__quote((s), (char[72]){ 0 }, 72)

/* ---- values -------------------------------------------------------------- */

/* Text into the field of a scalar row (UINT ... SECRET) in obj: 0 or a
 * message through x. "" is a value here; readers decide what it means. */
int schema__set(struct schema_ctx *x, const struct schema_row *r, void *obj, const char *s);
int schema__parse_uint(struct schema_ctx *x, const char *s, uint64_t min, uint64_t max,
		       uint64_t *out);
int schema__parse_enum(struct schema_ctx *x, const char *s, const char *const *names,
		       size_t n, unsigned *out);
/* http(s)://host[:port][/path]; the URL without trailing slashes in *out. */
int schema__parse_url(struct schema_ctx *x, const char *s, char **out);
bool schema__has_control(const char *s, bool allow_tab);
bool schema__ends_with(const char *s, const char *suffix);
/* Printable UTF-8 of at most max bytes. */
int schema__check_text(struct schema_ctx *x, const char *s, size_t max);
int schema__check_no_control(struct schema_ctx *x, const char *s);
/* A DNS name: dot-separated labels of letters, digits and inner '-'. */
bool schema__dns_name(const char *s);
void schema__format_duration(uint64_t ms, char *buf, size_t len);
int schema__replace(struct schema_ctx *x, char **dst, const char *s);

/* A secret__ result (base/secret.h) as a message through x. */
int schema__secret(struct schema_ctx *x, int err, const char *why);

/* ---- tables -------------------------------------------------------------- */

/* The row named name, NULL when none. */
const struct schema_row *schema__find(const struct schema_row *rows, const char *name);
/* A dotted path ("sampling.frequency") through MAP rows; *base gets the
 * offset in the outer struct that the row's own offset is from. */
const struct schema_row *schema__lookup(const struct schema_row *rows, const char *path,
					size_t *base);
/* Every row's default into obj; *err = -ENOMEM when a string could not be
 * copied. */
void schema__defaults(const struct schema_row *rows, void *obj, int *err);
/* What the rows own in obj (strings, lists, pairs; secrets wiped), not obj. */
void schema__free(const struct schema_row *rows, void *obj);
/* "key: value" lines at indent, by kind or by each row's dump. */
void schema__dump(const struct schema_row *rows, const void *obj, FILE *f, int indent);
/* A YAML double-quoted scalar; NULL as "". */
void schema__put_str(FILE *f, const char *s);
void schema__put_qlist(FILE *f, const char *const *s, size_t n);

#endif
