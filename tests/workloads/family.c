/* A process tree with a known profile, for `ignis record -- COMMAND`: the
 * parent spins in parent_spin; after a moment (so the child comes after
 * the recording started) it forks a child that spins in child_spin, which
 * forks a grandchild that spins in grandchild_spin. Each spins for SECONDS;
 * the parent waits for its child and exits with STATUS.
 * usage: family SECONDS [STATUS] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define SPIN(name)                                                              \
	__attribute__((noinline)) void name(double seconds)                     \
	{                                                                       \
		double end = now() + seconds;                                   \
		unsigned long x = sink;                                         \
                                                                                \
		while (now() < end)                                             \
			for (int i = 0; i < 100000; i++)                        \
				x = x * 6364136223846793005UL + 1;              \
		sink = x;                                                       \
	}

SPIN(parent_spin)
SPIN(child_spin)
SPIN(grandchild_spin)

static void reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2;
	int status = argc > 2 ? atoi(argv[2]) : 0;
	pid_t child, grandchild;

	if (seconds <= 0) {
		fprintf(stderr, "usage: family SECONDS [STATUS]\n");
		return 2;
	}
	parent_spin(0.3);
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		grandchild = fork();
		if (grandchild < 0)
			_exit(1);
		if (grandchild == 0) {
			grandchild_spin(seconds);
			_exit(0);
		}
		child_spin(seconds);
		reap(grandchild);
		_exit(0);
	}
	parent_spin(seconds);
	reap(child);
	return status;
}
