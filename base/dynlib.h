/* A shared library opened the first time one of its functions is called
 * rather than when ignis starts. libcurl brings 35 libraries with it (TLS,
 * Kerberos, LDAP, SSH, ...): about 6 MiB of resident pages and 5 ms of
 * relocation in every process that links it, which `ignis record` and an
 * agent that only writes files never use. http/curl_lazy.c and
 * symbolizer/debuginfod_lazy.c define the functions ignis calls under their
 * own names and forward them through one of these. */
#ifndef IGNIS_DYNLIB_H
#define IGNIS_DYNLIB_H

#include <pthread.h>
#include <stddef.h>

struct dynlib {
	const char *soname;		/* "libcurl.so.4" */
	const char *const *names;	/* the functions, NULL-terminated */
	void **fns;			/* filled in the order of names */
	pthread_once_t once;
	int err;			/* 0 once loaded, else -errno */
	char why[256];			/* what went wrong, for the caller's message */
};

#define DYNLIB_INIT(so, n, f) { .soname = (so), .names = (n), .fns = (f), .once = PTHREAD_ONCE_INIT }

/* For LIST(X), an X-macro naming the library's functions (X(curl_free)
 * ...): the index DYNLIB_F_<name> of each, the table of names and
 * pointers, and `static struct dynlib lib` over them, opening so. */
#define DYNLIB_ENUM_(n) DYNLIB_F_##n,
#define DYNLIB_NAME_(n) #n,
#define DYNLIB_DEFINE(lib, so, LIST)                                         \
	enum { LIST(DYNLIB_ENUM_) lib##_nr_fns };                            \
	static const char *const lib##_names[] = { LIST(DYNLIB_NAME_) NULL }; \
	static void *lib##_fns[lib##_nr_fns];                                \
	static struct dynlib lib = DYNLIB_INIT(so, lib##_names, lib##_fns)
/* Function n of lib, as type (once dynlib__load(&lib) succeeded). */
#define DYNLIB_FN(lib, n, type) ((type)lib##_fns[DYNLIB_F_##n])

/* Opens l's library and resolves every name, once per process (thread
 * safe). 0, or -ENOENT when the library or one of the functions is
 * missing: then l->why says which, and no function is filled. */
int dynlib__load(struct dynlib *l);

#endif
