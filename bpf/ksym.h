/* What the agent and bpf/ksym.bpf.c share: the size of a batch of kernel
 * addresses to name and of each answer. */
#ifndef IGNIS_BPF_KSYM_H
#define IGNIS_BPF_KSYM_H

#define KSYM_BATCH 64
/* KSYM_NAME_LEN (512) is the most a name can be; the offset, size and
 * module take 64 more. Longer answers are cut and refused. */
#define KSYM_TEXT_LEN 576

#endif
