#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "sys/preflight.h"
#include "sys/probe.h"

/* CAP_SYS_ADMIN covers both on kernels before 5.8, which lack the split. */
int preflight__privileges(void)
{
	uint64_t caps;
	int err = probe__caps(&caps);

	if (err) {
		fprintf(stderr, "ignis: cannot read capabilities: %s\n", strerror(-err));
		return err;
	}
	if (probe__has_cap(caps, CAP_SYS_ADMIN) ||
	    (probe__has_cap(caps, CAP_BPF) && probe__has_cap(caps, CAP_PERFMON)))
		return 0;
	fprintf(stderr, "ignis: profiling needs root, or the capabilities CAP_BPF and "
			"CAP_PERFMON (missing:%s%s); run it with sudo (`ignis check` lists "
			"everything else that is missing)\n",
		probe__has_cap(caps, CAP_BPF) ? "" : " CAP_BPF",
		probe__has_cap(caps, CAP_PERFMON) ? "" : " CAP_PERFMON");
	return -EPERM;
}

int preflight__btf(const char *sys_root)
{
	char path[PATH_MAX];
	long long size;
	int err = probe__btf(sys_root, path, sizeof(path), &size);

	if (!err)
		return 0;
	fprintf(stderr, "ignis: this kernel has no BTF type information (%s: %s); ignis needs a "
			"kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux 5.8 or later; most "
			"distributions since 2021; `ignis check` tells the rest)\n", path, strerror(-err));
	return -ENOENT;
}
