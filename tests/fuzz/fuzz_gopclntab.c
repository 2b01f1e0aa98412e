/* libFuzzer target: Go function tables, the input being the contents of a
 * .gopclntab section. Inline trees are read from the input itself (gofunc
 * at its start), which is where the seeds put them. */
#include <stddef.h>
#include <stdint.h>

#include "symbolizer/gopclntab.h"

/* Where the seeds were laid out: text of a non-PIE amd64 Go binary. */
#define SECTION_VADDR 0x4b0000ull
#define TEXT_VADDR 0x401000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sym_frame out[SYM_MAX_FRAMES];
	struct gopclntab *g;
	uint64_t i;

	g = gopclntab__open_mem(data, size, SECTION_VADDR, TEXT_VADDR);
	if (!g)
		return 0;
	gopclntab__set_gofunc(g, SECTION_VADDR);
	gopclntab__format(g);
	gopclntab__bytes(g);
	/* Every few bytes of the first functions, then sparser. */
	for (i = 0; i < 128; i++)
		gopclntab__lookup(g, TEXT_VADDR + i * 3, out, SYM_MAX_FRAMES);
	for (i = 0; i < 64; i++)
		gopclntab__lookup(g, TEXT_VADDR + 0x180 + i * 0x101, out, 1 + i % SYM_MAX_FRAMES);
	gopclntab__lookup(g, TEXT_VADDR - 1, out, SYM_MAX_FRAMES);
	gopclntab__lookup(g, UINT64_MAX, out, SYM_MAX_FRAMES);
	gopclntab__free(g);
	return 0;
}
