#include <stdlib.h>
#include <string.h>

#include "base/secret.h"

void secret__wipe(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
}

void secret__free(char *s)
{
	secret__wipe(s);
	free(s);
}

void secret__clear(char **s)
{
	secret__free(*s);
	*s = NULL;
}
