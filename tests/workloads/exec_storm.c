/* Starts RATE short processes a second for SECONDS: each runs PROGRAM
 * (fork + exec, then waited for), so a profiler sees processes appear,
 * exec and exit far faster than it can follow each one.
 * usage: exec_storm SECONDS RATE PROGRAM [ARGS...] */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 3 ? atof(argv[1]) : 0, rate = argc > 3 ? atof(argv[2]) : 0;
	double start = now(), next = start;
	unsigned long started = 0, failed = 0;

	if (seconds <= 0 || rate <= 0) {
		fprintf(stderr, "usage: exec_storm SECONDS RATE PROGRAM [ARGS...]\n");
		return 2;
	}
	while (now() < start + seconds) {
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			execv(argv[3], argv + 3);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed++;
		started++;
		next += 1 / rate;
		/* One reading of the clock: with two, time could pass the deadline
		 * between the test and the subtraction, and a negative wait
		 * converted to useconds_t slept for an hour (seen in CI). */
		double wait = next - now();

		if (wait > 0)
			usleep((useconds_t)(wait * 1e6));
	}
	printf("%lu started, %lu failed, %.0f/s\n", started, failed, started / (now() - start));
	return failed > started / 100;
}
