/* Character classes the parsers of outside text share (/proc/kallsyms,
 * perf maps, OTEL_RESOURCE_ATTRIBUTES). Inline: they run once a byte in
 * loops over whole files. */
#ifndef IGNIS_CHARCLASS_H
#define IGNIS_CHARCLASS_H

#include <stdbool.h>

/* The value of hex digit c (either case), -1 for anything else. */
static inline int charclass__hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A space or a tab: what separates fields on one line. */
static inline bool charclass__is_blank(char c)
{
	return c == ' ' || c == '\t';
}

#endif
