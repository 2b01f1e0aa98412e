/* Off-CPU time: the kernel side's helpers (bpf/offcpu.bpf.h) that the
 * sampler uses to set it up. */
#ifndef IGNIS_OFFCPU_H
#define IGNIS_OFFCPU_H

#include <stddef.h>
#include <stdint.h>

/* The sampling probability (0, 1] as the BPF side's threshold on a random
 * u32; 0 (unset) means 1. */
uint32_t offcpu__threshold(double probability);

#endif
