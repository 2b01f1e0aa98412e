#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/dynlib.h"
#include "base/log.h"

static __thread struct dynlib *loading;

static void load_once(void)
{
	struct dynlib *l = loading;
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
	size_t i;

	if (!h) {
		snprintf(l->why, sizeof(l->why), "cannot load %s: %s", l->soname, dlerror());
		l->err = -ENOENT;
		pr_warn("%s\n", l->why);
		return;
	}
	for (i = 0; l->names[i]; i++) {
		l->fns[i] = dlsym(h, l->names[i]);
		if (!l->fns[i]) {
			snprintf(l->why, sizeof(l->why), "%s has no %s", l->soname, l->names[i]);
			pr_warn("%s\n", l->why);
			memset(l->fns, 0, i * sizeof(*l->fns));
			dlclose(h);
			l->err = -ENOENT;
			return;
		}
	}
	/* Kept open for the life of the process: its functions are in use. */
	l->err = 0;
}

int dynlib__load(struct dynlib *l)
{
	/* pthread_once takes no argument: the library being loaded is passed
	 * through a thread-local, each dynlib having its own once. */
	loading = l;
	pthread_once(&l->once, load_once);
	loading = NULL;
	return l->err;
}
