/* libFuzzer target: the line-table reader (symbolizer/dwlines.c), then
 * lookups over what it kept.
 *
 * Byte 0: bit 0 big-endian, bit 1 a unit address size of 4 (else 8).
 * Bytes 1-2: n, little-endian; the next n bytes are .debug_line, and the
 * rest serves as both .debug_line_str and .debug_str. Tables are read at
 * offset 0 and, when the first says how long it is, at the next one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/dwlines.h"

static void exercise(const struct dwl_sections *s, uint64_t offset, unsigned int addr_size,
		     const uint8_t *probe, size_t nprobe)
{
	struct dwl_table *t = dwlines__read(s, offset, "/comp", addr_size);
	const char *file;
	size_t i;
	int line;

	if (!t)
		return;
	/* The shape every table has, whatever the input. */
	if (dwlines__nrows(t) > dwlines__program_rows(t) || dwlines__nfiles(t) < 1 ||
	    dwlines__program_rows(t) > DWL_MAX_ROWS)
		abort();
	for (i = 0; i <= dwlines__nfiles(t); i++) {
		file = dwlines__file(t, i);
		if ((i < dwlines__nfiles(t)) != (file != NULL))
			abort();
		if (file)
			(void)strlen(file);
	}
	dwlines__lookup(t, 0, &file, &line);
	dwlines__lookup(t, UINT64_MAX, &file, &line);
	for (i = 0; i + 8 <= nprobe && i < 256; i += 8) {
		uint64_t a;

		memcpy(&a, probe + i, 8);
		if (dwlines__lookup(t, a, &file, &line) == 0 && file)
			(void)strlen(file);
	}
	dwlines__free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dwl_sections s = {};
	unsigned int addr_size;
	uint8_t *line, *strs;
	size_t n;

	if (size < 3)
		return 0;
	s.big_endian = data[0] & 1;
	addr_size = data[0] & 2 ? 4 : 8;
	n = data[1] | (size_t)data[2] << 8;
	data += 3;
	size -= 3;
	if (n > size)
		n = size;
	/* Copies of their own, which ASan bounds exactly. */
	line = malloc(n ? n : 1);
	strs = malloc(size - n ? size - n : 1);
	if (!line || !strs)
		goto out;
	memcpy(line, data, n);
	memcpy(strs, data + n, size - n);
	s.line = line;
	s.line_size = n;
	s.line_str = s.str = strs;
	s.line_str_size = s.str_size = size - n;
	exercise(&s, 0, addr_size, data, size);
	if (n >= 4) {
		uint32_t len = s.big_endian ? (uint32_t)line[0] << 24 | line[1] << 16 | line[2] << 8 | line[3]
					    : line[0] | line[1] << 8 | line[2] << 16 | (uint32_t)line[3] << 24;

		if (len < 0xfffffff0u)
			exercise(&s, (uint64_t)len + 4, addr_size, data, size);
	}
out:
	free(line);
	free(strs);
	return 0;
}
