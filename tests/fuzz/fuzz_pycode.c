/* libFuzzer target: a code object and its strings and line table read from
 * a made-up process memory (the input), in the layout of the version the
 * first byte picks; then lines at a spread of offsets. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "symbolizer/pycode.h"

#define BASE 0x10000ull

struct image {
	const uint8_t *data;
	size_t size;
};

static int rd(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct image *m = ctx;

	if (addr < BASE || addr - BASE > m->size || len > m->size - (addr - BASE))
		return -EFAULT;
	memcpy(buf, m->data + (addr - BASE), len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct pycode_layout *l;
	struct image m = { data + 1, size ? size - 1 : 0 };
	struct pycode c;

	if (size < 2)
		return 0;
	l = pycode__layout(8 + data[0] % 6);
	if (pycode__read(l, rd, &m, BASE, 0, &c) == 0) {
		for (uint32_t off = 0; off < 4096; off += 2 + off / 8)
			pycode__line(l, &c, off);
		pycode__line(l, &c, UINT32_MAX);
		pycode__clear(&c);
	}
	/* The input as a line table of every version. */
	c = (struct pycode){ .firstlineno = 1, .linetable = (uint8_t *)data, .linetable_len = size };
	for (int minor = 8; minor <= 13; minor++)
		for (uint32_t off = 0; off < 2048; off += 2 + off / 4)
			pycode__line(pycode__layout(minor), &c, off);
	return 0;
}
