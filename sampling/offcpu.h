/* Off-CPU time: the kernel side's helpers (bpf/offcpu.bpf.h) that the
 * sampler uses to set it up. */
#ifndef IGNIS_OFFCPU_H
#define IGNIS_OFFCPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The sampling probability (0, 1] as the BPF side's threshold on a random
 * u32; 0 (unset) means 1. */
uint32_t offcpu__threshold(double probability);

/* Threads whose tid is below this keep their switch-out time in an array
 * slot (8 bytes each, kernel memory: 8 MiB at the cap); others in
 * task-local storage, slower (bpf/offcpu.bpf.h). */
#define OFFCPU_TID_SLOTS_MAX (1u << 20)

/* The slots for the tids of this machine: its pid_max (read from
 * pid_max_path, normally /proc/sys/kernel/pid_max), at most
 * OFFCPU_TID_SLOTS_MAX. */
uint32_t offcpu__tid_slots(const char *pid_max_path);

/* sampling.off_cpu*: the agent's settings for it. */
struct offcpu_config {
	bool on;                   /* default off */
	unsigned min_block_us;     /* 0..10 s; default OFFCPU_MIN_BLOCK_US */
	uint32_t probability_ppm;  /* (0, 1]; default 1 */
};

#define OFFCPU_MIN_BLOCK_US 1000

/* The rows of sampling: for a struct offcpu_config field of type. */
#define OFFCPU_ROWS(type, field)                                                              \
	{ "off_cpu", SCHEMA_BOOL, SCHEMA_AT(type, field.on), .flag = "--off-cpu" },               \
	{ "off_cpu_min_block_us", SCHEMA_UINT, SCHEMA_AT(type, field.min_block_us), 0, 10000000, \
	  .def = OFFCPU_MIN_BLOCK_US, .flag = "--off-cpu-min-block-us" },                        \
	{ "off_cpu_probability", SCHEMA_FRACTION, SCHEMA_AT(type, field.probability_ppm),        \
	  .def = 1000000, .flag = "--off-cpu-probability" }

#endif
