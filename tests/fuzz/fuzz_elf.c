/* libFuzzer target: ELF files (build id, symbol tables, offset lookups). */
#include <sys/mman.h>
#include <unistd.h>

#include "symbolizer/elf.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct elf_binary *b;
	const char *name;
	uint64_t off;
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	b = elf_binary__open_fd(fd);
	if (!b)
		return 0;
	elf_binary__build_id(b);
	for (uint64_t o = 0; o < size + 64; o += 97) {
		elf_binary__symbolize(b, o, &name, &off);
		elf_binary__plt_name(b, o);
	}
	elf_binary__free(b);
	return 0;
}
