/* libFuzzer target: unwind-table compilation from ELF files (.eh_frame and
 * its header, .debug_frame, .gopclntab), then lookups over the table. */
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unwinder/unwtable.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;
	Elf *e;

	elf_version(EV_CURRENT);
	/* libelf may write to the image (libdw inflates compressed sections
	 * in place): a copy of its own, which ASan also bounds exactly. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	e = elf_memory(copy, size);
	if (e) {
		exercise(e, 0);
		elf_end(e);
	}
	e = elf_memory(copy, size);
	if (e) {
		exercise(e, 8);
		elf_end(e);
	}
	free(copy);
	return 0;
}
