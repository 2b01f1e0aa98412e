#include <stdlib.h>
#include <string.h>

#include "base/secret.h"

void secret__free(char **s)
{
	if (*s)
		explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}
