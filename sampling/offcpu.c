#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bpf/offcpu.h"
#include "sampling/offcpu.h"

uint32_t offcpu__threshold(double probability)
{
	double t;

	if (probability <= 0 || probability >= 1)
		return IGNIS_OFFCPU_PROB_ONE;
	t = probability * 4294967296.0;
	return t >= IGNIS_OFFCPU_PROB_ONE ? IGNIS_OFFCPU_PROB_ONE : (uint32_t)t;
}

int offcpu__finish_symbol(const char *kallsyms_path, char *out, size_t len)
{
	static const char want[] = "finish_task_switch";
	char line[512], name[256], type;
	unsigned long long addr;
	int err = -ENOENT;
	FILE *f;

	f = fopen(kallsyms_path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* "ffffffff813aea80 t finish_task_switch.isra.0": a text symbol,
		 * the name itself or a clone of it (name.suffix). */
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		if (type != 't' && type != 'T')
			continue;
		if (strncmp(name, want, sizeof(want) - 1) ||
		    (name[sizeof(want) - 1] != '\0' && name[sizeof(want) - 1] != '.'))
			continue;
		if (strlen(name) >= len) {
			err = -ENAMETOOLONG;
			continue;
		}
		strcpy(out, name);
		err = 0;
		/* The function itself beats a clone. */
		if (name[sizeof(want) - 1] == '\0')
			break;
	}
	fclose(f);
	return err;
}
