/* Spends about half its time in a signal handler, built without frame
 * pointers: main → spin_main (interrupted) ← __restore_rt ← on_alarm →
 * in_handler. A profiler must unwind through the signal frame to reach
 * main from the handler's samples. usage: signal_nofp SECONDS */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void in_handler(void)
{
	double end = now() + 0.005;

	while (now() < end)
		for (int i = 0; i < 10000; i++)
			sink = sink * 31 + i;
}

__attribute__((noinline)) static void on_alarm(int sig)
{
	(void)sig;
	in_handler();
}

__attribute__((noinline)) static void spin_main(double end)
{
	while (now() < end)
		for (int i = 0; i < 10000; i++)
			sink = sink * 17 + i;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	struct itimerval it = { { 0, 10000 }, { 0, 10000 } };
	struct sigaction sa;

	if (seconds <= 0) {
		fprintf(stderr, "usage: signal_nofp SECONDS\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	spin_main(now() + seconds);
	return 0;
}
