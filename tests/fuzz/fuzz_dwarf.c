/* libFuzzer target: DWARF read through libdw (units, ranges, the DIE walk
 * that indexes a unit, names, inline chains, line tables). */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "symbolizer/dwarf.h"

/* Reading every string makes ASan check it lies in valid memory. */
static volatile size_t sink;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct sym_frame f[SYM_MAX_FRAMES];
	struct dwarf_debug *d;
	int fd = memfd_create("fuzz-dwarf", MFD_CLOEXEC), n, k;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	/* Both ways of finding units: through .debug_aranges and by reading
	 * every unit's DIE. */
	d = dwarf_debug__open_fd_flags(fd, size & 1 ? DWARF_DEBUG_NO_ARANGES : 0);
	if (!d)
		return 0;
	/* Small programs link their code in the first pages; the coarse
	 * steps reach units placed anywhere else. */
	for (uint64_t a = 0; a < 0x4000; a += 3) {
		n = dwarf_debug__lookup(d, a, f, a & 1 ? SYM_MAX_FRAMES : 2);
		for (k = 0; k < n; k++)
			sink += strlen(f[k].name) + (f[k].file ? strlen(f[k].file) : 0) +
				(f[k].system_name ? strlen(f[k].system_name) : 0);
	}
	for (uint64_t a = 0x4000; a < (1ULL << 40); a = a * 3 / 2 + 7)
		dwarf_debug__lookup(d, a, f, SYM_MAX_FRAMES);
	sink += dwarf_debug__bytes(d);
	dwarf_debug__free(d);
	return 0;
}
