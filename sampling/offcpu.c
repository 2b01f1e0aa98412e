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
