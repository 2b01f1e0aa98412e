/* libFuzzer target: the kernel's BTF as sys/kbtf.c cuts it (the first byte
 * picks what the rest is: BTF to cut, or a BPF object's ELF to take the
 * names from). */
#include <stdlib.h>

#include "sys/kbtf.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *want[] = { "task_struct", "pt_regs", "mm_struct", "signal_struct", "atomic_t" };
	char **names;
	size_t n, len;
	void *out;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		if (!kbtf__names(data + 1, size - 1, &names, &n))
			kbtf__free_names(names, n);
		return 0;
	}
	if (!kbtf__cut_mem(data + 1, size - 1, want, sizeof(want) / sizeof(want[0]), &out, &len))
		free(out);
	return 0;
}
