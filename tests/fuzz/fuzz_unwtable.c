/* libFuzzer target: unwind-table compilation, then lookups over the table.
 *
 * An input starting with the ELF magic is a whole file. Any other input is
 * one section, wrapped here in a minimal ELF whose one executable segment
 * spans [0, 256 MiB): byte 0 says which section (0 .eh_frame, 1
 * .debug_frame, 2 .gopclntab), bytes 1-4 its link-time address
 * (little-endian, so pc-relative FDE addresses of a section cut from a real
 * binary stay right), the rest its contents. Mutations of a whole file
 * rarely land in its few hundred bytes of CFI; these land nowhere else. */
#include <elf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unwinder/unwtable.h"

#define SEG_END 0x10000000ull

static void exercise(Elf *e, size_t max_rows)
{
	const struct ignis_unw_row *rows;
	struct unw_table_stats st;
	struct unw_table *t;
	size_t n, i;

	t = unw_table__compile(e, NULL, max_rows);
	if (!t)
		return;
	unw_table__stats(t, &st);
	unw_table__bytes(t);
	rows = unw_table__rows(t);
	n = unw_table__nrows(t);
	/* The shape every table has, whatever the input. */
	if (n < 1 || rows[n - 1].rule != 0 || unw_table__rules(t)[0].cfa_base != IGNIS_CFA_INVALID ||
	    (max_rows && n > max_rows))
		abort();
	for (i = 0; i < n; i++) {
		if (rows[i].rule >= unw_table__nrules(t) || (i && rows[i - 1].pc >= rows[i].pc))
			abort();
		if (unw_table__find(t, rows[i].pc) != &rows[i])
			abort();
	}
	unw_table__find(t, 0);
	unw_table__find(t, UINT64_MAX);
	unw_table__free(t);
}

/* The ELF image around one section; its size in *len. */
static char *wrap(const uint8_t *data, size_t size, size_t *len)
{
	static const char names[] = "\0.eh_frame\0.debug_frame\0.gopclntab\0.text\0.shstrtab";
	static const unsigned name_off[] = { 1, 11, 24 };
	size_t data_off, str_off, sh_off;
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph = { 0 };
	Elf64_Shdr sh[4];
	uint32_t addr;
	unsigned kind;
	char *img;

	if (size < 5)
		return NULL;
	kind = data[0] % 3;
	memcpy(&addr, data + 1, 4);
	data += 5;
	size -= 5;
	data_off = sizeof(eh) + sizeof(ph);
	str_off = data_off + size;
	sh_off = (str_off + sizeof(names) + 7) & ~(size_t)7;
	*len = sh_off + sizeof(sh);
	img = calloc(1, *len);
	if (!img)
		return NULL;
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_DYN;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_ehsize = sizeof(eh);
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	eh.e_shoff = sh_off;
	eh.e_shentsize = sizeof(sh[0]);
	eh.e_shnum = 4;
	eh.e_shstrndx = 3;
	ph.p_type = PT_LOAD;
	ph.p_flags = PF_R | PF_X;
	ph.p_memsz = SEG_END;
	memset(sh, 0, sizeof(sh));
	sh[1] = (Elf64_Shdr){ .sh_name = name_off[kind], .sh_type = SHT_PROGBITS,
			      .sh_flags = kind == 1 ? 0 : SHF_ALLOC, .sh_addr = kind == 1 ? 0 : addr,
			      .sh_offset = data_off, .sh_size = size, .sh_addralign = 1 };
	/* Code of which nothing is in the file (Go's prologues are then
	 * not recognized, which is what a table without code gets). */
	sh[2] = (Elf64_Shdr){ .sh_name = 35, .sh_type = SHT_NOBITS, .sh_flags = SHF_ALLOC | SHF_EXECINSTR,
			      .sh_addr = 0x1000, .sh_size = SEG_END - 0x1000, .sh_addralign = 16 };
	sh[3] = (Elf64_Shdr){ .sh_name = 41, .sh_type = SHT_STRTAB, .sh_offset = str_off,
			      .sh_size = sizeof(names), .sh_addralign = 1 };
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + sizeof(eh), &ph, sizeof(ph));
	memcpy(img + data_off, data, size);
	memcpy(img + str_off, names, sizeof(names));
	memcpy(img + sh_off, sh, sizeof(sh));
	return img;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *img;
	size_t len;
	Elf *e;

	elf_version(EV_CURRENT);
	if (size >= SELFMAG && !memcmp(data, ELFMAG, SELFMAG)) {
		/* libelf may write to the image (libdw inflates compressed
		 * sections in place): a copy of its own, which ASan also
		 * bounds exactly. */
		img = malloc(size);
		if (!img)
			return 0;
		memcpy(img, data, size);
		len = size;
	} else {
		img = wrap(data, size, &len);
		if (!img)
			return 0;
	}
	e = elf_memory(img, len);
	if (e) {
		exercise(e, 0);
		elf_end(e);
	}
	e = elf_memory(img, len);
	if (e) {
		exercise(e, 8);
		elf_end(e);
	}
	free(img);
	return 0;
}
