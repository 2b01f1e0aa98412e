#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys/preflight.h"

static int has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return !!(d[cap / 32].effective & (1u << (cap % 32)));
}

/* CAP_SYS_ADMIN covers both on kernels before 5.8, which lack the split. */
int preflight__privileges(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (syscall(SYS_capget, &hdr, data)) {
		fprintf(stderr, "ignis: cannot read capabilities: %s\n", strerror(errno));
		return -errno;
	}
	if (has_cap(data, CAP_SYS_ADMIN) ||
	    (has_cap(data, CAP_BPF) && has_cap(data, CAP_PERFMON)))
		return 0;
	fprintf(stderr, "ignis: profiling needs root, or the capabilities CAP_BPF and "
			"CAP_PERFMON (missing:%s%s); run it with sudo (`ignis check` lists "
			"everything else that is missing)\n",
		has_cap(data, CAP_BPF) ? "" : " CAP_BPF",
		has_cap(data, CAP_PERFMON) ? "" : " CAP_PERFMON");
	return -EPERM;
}

int preflight__btf(const char *sys_root)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/kernel/btf/vmlinux", sys_root);
	if (stat(path, &st) == 0)
		return 0;
	fprintf(stderr, "ignis: this kernel has no BTF type information (%s: %s); ignis needs a "
			"kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux 5.8 or later; most "
			"distributions since 2021; `ignis check` tells the rest)\n", path, strerror(errno));
	return -ENOENT;
}

