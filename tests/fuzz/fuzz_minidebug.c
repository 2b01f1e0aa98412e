/* libFuzzer target: the content of a .gnu_debugdata section (xz), and the
 * ELF image it decompresses to, walked the way a symbolizer would. */
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/debugfile.h"

static void walk(void *image, size_t size)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;
	Elf *e;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return;
	e = elf_memory(image, size);
	if (!e)
		return;
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		Elf_Data *data;
		size_t n;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_SYMTAB || !shdr.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		n = data->d_size / shdr.sh_entsize;
		for (size_t i = 0; i < n && i < 100000; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(data, (int)i, &sym))
				break;
			name = elf_strptr(e, shdr.sh_link, sym.st_name);
			if (name)
				(void)strlen(name);
		}
	}
	elf_end(e);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	void *out = NULL;
	size_t len = 0;

	if (debugfile__xz_decode(data, size, &out, &len) == 0) {
		if (len > DEBUGFILE_XZ_MAX_OUT)
			abort();
		if (len >= SELFMAG && memcmp(out, ELFMAG, SELFMAG) == 0)
			walk(out, len);
		free(out);
	} else if (out || len) {
		abort();
	}
	return 0;
}
