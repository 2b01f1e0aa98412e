// SPDX-License-Identifier: GPL-2.0
/* The running kernel's symbols, asked one question at a time, so the agent
 * never reads /proc/kallsyms (50 ms of system time on a stock kernel) nor
 * keeps its 100,000 names. The agent fills the globals, runs a program with
 * BPF_PROG_TEST_RUN and reads the answer:
 * - ksym_names: names[i] is the %pB text of addrs[i], for i < nr:
 *   "name+0xoff/0xsize [module]", or the bare address when no symbol holds
 *   addrs[i] - 1 (%pB names return addresses, so it looks one byte back);
 * - ksym_addr: query_addr is the address of the symbol called query (NUL
 *   padded to its full size), 0 when there is none. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "ksym.h"

__u64 addrs[KSYM_BATCH];
char names[KSYM_BATCH][KSYM_TEXT_LEN];
__u32 nr;
char query[KSYM_TEXT_LEN];
__u64 query_addr;

static long name_one(__u64 i, void *ctx)
{
	__u64 arg;

	(void)ctx;
	if (i >= KSYM_BATCH)
		return 1;
	arg = addrs[i];
	bpf_snprintf(names[i], KSYM_TEXT_LEN, "%pB", &arg, sizeof(arg));
	return 0;
}

SEC("syscall")
int ksym_names(void *ctx)
{
	(void)ctx;
	bpf_loop(nr < KSYM_BATCH ? nr : KSYM_BATCH, name_one, NULL, 0);
	return 0;
}

SEC("syscall")
int ksym_addr(void *ctx)
{
	__u64 addr = 0;

	(void)ctx;
	if (bpf_kallsyms_lookup_name(query, sizeof(query), 0, &addr))
		addr = 0;
	query_addr = addr;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
