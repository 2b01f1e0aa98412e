/* Secrets (passwords, tokens, API keys, the header lines that carry them):
 * wiped before their memory goes back to the allocator, and read at load, so a missing one
 * fails at startup rather than at the first upload. A secret is one line:
 * a header value cannot hold a line break, and a trailing newline is what
 * editors and `echo` leave behind (it is cut). Every function returns 0,
 * -ENOMEM, or -EINVAL with the reason in why (which quotes names, never
 * the secret). */
#ifndef IGNIS_SECRET_H
#define IGNIS_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* The regular file path (at most 64 KiB), into *out. */
int secret__read_file(const char *path, char **out, char *why, size_t len);
/* The environment variable name, into *out. */
int secret__read_env(const char *name, char **out, char *why, size_t len);
/* raw with "${VAR}" references expanded from the environment ("$$" for a
 * "$"), into *out: at most 8 KiB, no line breaks. */
int secret__expand(const char *raw, char **out, char *why, size_t len);
bool secret__env_name(const char *s);
/* Wipes and frees *s, then sets it to NULL. */
void secret__free(char **s);
/* Wipes and frees s (a secret held through a const pointer); NULL is fine. */
void secret__release(const char *s);

#endif
