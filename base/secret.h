/* Secrets (passwords, tokens, API keys, the header lines that carry them)
 * are wiped before their memory goes back to the allocator, so that a
 * later heap dump or a use after free cannot show them. */
#ifndef IGNIS_SECRET_H
#define IGNIS_SECRET_H

/* Wipes and frees *s, then sets it to NULL. */
void secret__free(char **s);

#endif
