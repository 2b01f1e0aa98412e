/* A signal taken at the very first instruction of a function: fault_here
 * starts with ud2, so SIGILL arrives with the pc on fault_here's first
 * byte; the handler spins (in_handler), then steps over the ud2. The
 * interrupted frame is fault_here itself, not a return address: a
 * profiler that looks up pc - 1 for it names whatever lies before
 * fault_here. main → fault_loop → fault_here ← __restore_rt ← on_ill →
 * in_handler. usage: fault_entry_nofp SECONDS */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

void fault_here(void);
__asm__(".text\n"
	".p2align 4\n"
	".globl fault_here\n"
	".type fault_here, @function\n"
	"fault_here:\n"
	".cfi_startproc\n"
	"\tud2\n"
	"\tret\n"
	".cfi_endproc\n"
	".size fault_here, .-fault_here\n");

static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void in_handler(void)
{
	double end = now() + 0.002;

	while (now() < end)
		for (int i = 0; i < 10000; i++)
			sink = sink * 31 + i;
}

__attribute__((noinline)) static void on_ill(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	(void)sig;
	(void)si;
	in_handler();
	uc->uc_mcontext.gregs[REG_RIP] += 2;  /* past the ud2 */
}

__attribute__((noinline)) static void fault_loop(double end)
{
	while (now() < end)
		fault_here();
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	struct sigaction sa;

	if (seconds <= 0) {
		fprintf(stderr, "usage: fault_entry_nofp SECONDS\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_ill;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGILL, &sa, NULL);
	fault_loop(now() + seconds);
	return 0;
}
