/* libFuzzer target: /proc/PID/maps content. */
#include <stdio.h>

#include "sys/procmaps.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct procmaps m;
	size_t bad;
	FILE *f;

	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	if (!procmaps__parse(f, &m, &bad)) {
		for (size_t i = 0; i < m.n; i++)
			procmaps__find(&m, m.v[i].start);
		procmaps__clear(&m);
	}
	fclose(f);
	return 0;
}
