/* libFuzzer target: /proc/kallsyms content, through a proc root, and the
 * same bytes as a kernel's %pB answer (symbolizer/kallsyms_live.c). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string.h>

#include "symbolizer/kallsyms.h"
#include "symbolizer/kallsyms_live.h"

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
	if (size < 600) {
		char text[600];
		struct ksym_text t;

		memcpy(text, data, size);
		text[size] = '\0';
		if (ksym_live__parse(text, &t) &&
		    (t.name < text || t.name + t.name_len > text + size || t.off > t.size ||
		     (t.module_len && (t.module < text || t.module + t.module_len > text + size))))
			abort();
	}
	k = kallsyms__load(root);
	if (k) {
		uint64_t lo = kallsyms__min_addr(k);

		for (uint64_t a = lo; a < lo + 4096; a += 61)
			kallsyms__lookup(k, a, NULL, NULL);
		kallsyms__free(k);
	}
	return 0;
}
