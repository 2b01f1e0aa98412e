/* A return address in the kernel's half of the address space, where a
 * corrupt stack or a garbage unwind puts one: spin() overwrites the return
 * address its call saved (never returning to it) with 0xf7af28219f2b1900,
 * the value a copied stack once gave the DWARF unwinder. Every unwinder
 * reads it as spin's caller; a profile must end the stack at spin.
 * usage: bad_frame SECONDS */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define BAD_RETURN_ADDRESS 0xf7af28219f2b1900ULL

static volatile unsigned long sink;

__attribute__((noinline)) void spin(long seconds)
{
	time_t end = time(0) + seconds;

	/* The frame pointer's slot, then the return address (x86-64). */
	((volatile uintptr_t *)__builtin_frame_address(0))[1] = BAD_RETURN_ADDRESS;
	while (time(0) < end)
		for (unsigned long i = 0; i < 1000000; i++)
			sink = sink * 6364136223846793005UL + 1442695040888963407UL;
	exit(0);
}

int main(int argc, char **argv)
{
	spin(argc > 1 ? atol(argv[1]) : 10);
	return 0;
}
