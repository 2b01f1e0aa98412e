/* libFuzzer target: /proc/kallsyms content, through a proc root. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "symbolizer/kallsyms.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static char root[] = "/tmp/ignis-fuzz-kallsyms-XXXXXX";
	static int ready;
	char path[sizeof(root) + 16];
	struct kallsyms *k;
	FILE *f;

	if (!ready && !mkdtemp(root))
		abort();
	ready = 1;
	snprintf(path, sizeof(path), "%s/kallsyms", root);
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	k = kallsyms__load(root);
	if (k) {
		uint64_t lo = kallsyms__min_addr(k);

		for (uint64_t a = lo; a < lo + 4096; a += 61)
			kallsyms__lookup(k, a, NULL, NULL);
		kallsyms__free(k);
	}
	return 0;
}
