/* libFuzzer target: uncompressed copies of debug files (symbolizer/inflate.c):
 * the ELF and section headers and compression headers it plans from, the
 * zlib streams it inflates, the check of a copy against its source, and
 * the DWARF read from the copy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "symbolizer/dwarf.h"
#include "symbolizer/inflate.h"

static volatile size_t sink;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct inflate_cache *cache;
	struct sym_frame f[SYM_MAX_FRAMES];
	struct dwarf_debug *d;
	int fd, cfd, n;

	if (!cache) {
		char dir[] = "/tmp/ignis-fuzz-inflate-XXXXXX";

		if (!mkdtemp(dir))
			abort();
		/* Small: eviction runs as copies pile up. */
		cache = inflate_cache__new(dir, 16 << 20);
		if (!cache)
			abort();
	}
	fd = memfd_create("fuzz-inflate", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	/* Written, then found again and checked against the source. */
	for (int round = 0; round < 2; round++) {
		cfd = inflate_cache__open(cache, fd, "buildid:0123456789abcdef");
		if (cfd < 0)
			break;
		d = dwarf_debug__open_fd(cfd);
		for (uint64_t a = 0; d && a < 0x4000; a += 7) {
			n = dwarf_debug__lookup(d, a, f, SYM_MAX_FRAMES);
			for (int k = 0; k < n; k++)
				sink += strlen(f[k].name) + (f[k].file ? strlen(f[k].file) : 0);
		}
		dwarf_debug__free(d);
	}
	close(fd);
	return 0;
}
