/* The libdebuginfod functions ignis calls, defined here under their own
 * names and forwarded to libdebuginfod.so.1, opened on the first call (see
 * base/dynlib.h): only an agent given debuginfod servers maps it, and the
 * libcurl it brings. Without the library, debuginfod_begin fails (ENOENT)
 * and debuginfod.c says so; nothing else is called then. */
#include <errno.h>

#include <elfutils/debuginfod.h>

#include "base/dynlib.h"

#define DEBUGINFOD_FNS(X)                                                          \
	X(debuginfod_begin) X(debuginfod_end) X(debuginfod_find_debuginfo)          \
	X(debuginfod_get_user_data) X(debuginfod_set_user_data) X(debuginfod_set_progressfn)

DYNLIB_DEFINE(lib, "libdebuginfod.so.1", DEBUGINFOD_FNS);

#define FN(n, type) DYNLIB_FN(lib, debuginfod_##n, type)

debuginfod_client *debuginfod_begin(void)
{
	if (dynlib__load(&lib)) {
		errno = ENOENT;
		return NULL;
	}
	return FN(begin, debuginfod_client *(*)(void))();
}

/* The others take a client, which only debuginfod_begin makes: the library
 * is loaded by then. */
void debuginfod_end(debuginfod_client *c)
{
	FN(end, void (*)(debuginfod_client *))(c);
}

int debuginfod_find_debuginfo(debuginfod_client *c, const unsigned char *id, int len,
			      char **path)
{
	return FN(find_debuginfo, int (*)(debuginfod_client *, const unsigned char *, int,
					  char **))(c, id, len, path);
}

void *debuginfod_get_user_data(debuginfod_client *c)
{
	return FN(get_user_data, void *(*)(debuginfod_client *))(c);
}

void debuginfod_set_user_data(debuginfod_client *c, void *value)
{
	FN(set_user_data, void (*)(debuginfod_client *, void *))(c, value);
}

void debuginfod_set_progressfn(debuginfod_client *c, debuginfod_progressfn_t fn)
{
	FN(set_progressfn, void (*)(debuginfod_client *, debuginfod_progressfn_t))(c, fn);
}
