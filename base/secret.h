/* Buffers that hold credentials (tokens, API keys, passwords, the header
 * lines carrying them) are wiped before their memory goes back to the
 * allocator, so a later heap dump or a use-after-free cannot show them. */
#ifndef IGNIS_SECRET_H
#define IGNIS_SECRET_H

#include <stddef.h>

/* Zeroes the string's bytes, up to its NUL. Accepts NULL. */
void secret__wipe(char *s);
/* Wipes and frees a string. Accepts NULL. */
void secret__free(char *s);
/* Wipes and frees *s, and sets it to NULL. */
void secret__clear(char **s);

#endif
