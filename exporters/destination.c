#include <string.h>

#include "exporters/destination.h"

const char *series__label(const struct series *s, const char *key)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (s->labels[i].key && !strcmp(s->labels[i].key, key))
			return s->labels[i].str;
	return NULL;
}
