/* Small string helpers that several layers had each written for itself. */
#ifndef IGNIS_STR_H
#define IGNIS_STR_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s ends with suffix (every string ends with ""). */
bool str__ends_with(const char *s, const char *suffix);

/* *out = a copy of s, NULL for NULL. Returns 0, or -ENOMEM with *out NULL. */
int str__dup(const char *s, char **out);

/* Lowercase hex of len bytes of src into dst (2 * len + 1 bytes, with the
 * NUL): build ids. Returns dst. */
char *str__hex(char *dst, const void *src, size_t len);

/* Room for str__printable's output. */
#define STR_PRINTABLE_SIZE 64
/* At most 48 bytes of s for a log line: printable ASCII kept, any other
 * byte as '?', a trailing '~' when s was longer; NULL gives "". Returns
 * out. */
const char *str__printable(const char *s, char out[STR_PRINTABLE_SIZE]);

/* A growable NUL-terminated string. The first failed append leaves
 * -ENOMEM in err and turns the later ones into no-ops, so a builder checks
 * once at the end; s is the caller's to free. */
struct strbuf {
	char *s;
	size_t len, cap;
	int err;
};
void strbuf__add(struct strbuf *b, const void *s, size_t n);
void strbuf__puts(struct strbuf *b, const char *s);

#endif
