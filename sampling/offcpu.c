#include <stdio.h>

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

uint32_t offcpu__tid_slots(const char *pid_max_path)
{
	unsigned long long n = 0;
	FILE *f = fopen(pid_max_path, "r");

	if (f) {
		if (fscanf(f, "%llu", &n) != 1)
			n = 0;
		fclose(f);
	}
	if (n == 0 || n > OFFCPU_TID_SLOTS_MAX)
		n = OFFCPU_TID_SLOTS_MAX;  /* unreadable: the cap */
	return (uint32_t)n;
}
