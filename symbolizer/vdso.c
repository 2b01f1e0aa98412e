#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sys/procmaps.h"
#include "symbolizer/vdso.h"

const void *vdso__image(size_t *size)
{
	static void *copy;
	static size_t len;
	static int tried;
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	struct procmaps m;

	if (!tried && base) {
		tried = 1;
		if (!procmaps__read("/proc", getpid(), &m)) {
			const struct procmaps_entry *e = procmaps__find(&m, base);

			if (e && !strcmp(e->path, "[vdso]") && (copy = malloc(e->end - base))) {
				len = e->end - base;
				memcpy(copy, (const void *)base, len);
			}
			procmaps__clear(&m);
		}
	}
	*size = len;
	return copy;
}

int vdso__open(void)
{
	size_t size;
	const void *image = vdso__image(&size);
	int fd, err;

	if (!image)
		return -ENOENT;
	fd = memfd_create("ignis-vdso", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, image, size) != (ssize_t)size) {
		err = errno ? -errno : -EIO;
		close(fd);
		return err;
	}
	return fd;
}
