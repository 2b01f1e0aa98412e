/* Off-CPU time: the kernel side's helpers (bpf/offcpu.bpf.h) that the
 * sampler uses to set it up. */
#ifndef IGNIS_OFFCPU_H
#define IGNIS_OFFCPU_H

#include <stddef.h>
#include <stdint.h>

/* The sampling probability (0, 1] as the BPF side's threshold on a random
 * u32; 0 (unset) means 1. */
uint32_t offcpu__threshold(double probability);

/* The name finish_task_switch has in kallsyms_path (the compiler may have
 * cloned it: "finish_task_switch.isra.0") into out. 0, -ENOENT or -errno. */
int offcpu__finish_symbol(const char *kallsyms_path, char *out, size_t len);

#endif
