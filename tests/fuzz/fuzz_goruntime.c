/* libFuzzer target: Go runtime layout from an ELF file (.go.buildinfo,
 * PT_TLS and runtime.tlsg, DWARF of runtime.g and runtime.m), and the
 * buildinfo parser on the raw bytes. */
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/goruntime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct goruntime g;
	char version[64];
	void *copy;
	Elf *elf;

	goruntime__buildinfo(data, size, version, sizeof(version));
	if (!size)
		return 0;
	/* libelf may write to the image (section data conversions). */
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	elf_version(EV_CURRENT);
	elf = elf_memory(copy, size);
	if (elf) {
		goruntime__read(elf, &g, GORUNTIME_DWARF_FIRST);
		elf_end(elf);
	}
	free(copy);
	return 0;
}
