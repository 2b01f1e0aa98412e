/* Workloads with known off-CPU time, each in a function of its own name.
 * usage: offcpu_wait sleep SECONDS   main → run_sleep → {spin_10ms, sleep_10ms}:
 *                                    after a second of warm_up, 10 ms spinning,
 *                                    10 ms in nanosleep, repeated
 *        offcpu_wait pipe SECONDS    main → pipe_reader blocks in read(2) until a
 *                                    child process (writer_wait) writes after SECONDS
 *        offcpu_wait mutex SECONDS   main → mutex_waiter waits for a mutex another
 *                                    thread (holder_sleep) holds for SECONDS
 *        offcpu_wait direct FILE SECONDS  main → direct_reader reads FILE with
 *                                    O_DIRECT for SECONDS (exit 3: not supported here)
 *        offcpu_wait pingpong SECONDS  two threads pass a byte over two pipes
 *                                    (context switches for the benchmark) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

__attribute__((noinline)) void spin_10ms(void)
{
	double end = now() + 0.010;
	unsigned long x = sink;

	while (now() < end)
		for (int i = 0; i < 1000; i++)
			x = x * 6364136223846793005UL + 1442695040888963407UL;
	sink = x;
}

__attribute__((noinline)) void sleep_10ms(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	sink++;  /* not a tail call: this frame stays on the stack */
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Runs a second first, so that a profiler started with it knows the
 * process (maps read, unwind tables loaded) before the measured part. */
__attribute__((noinline)) void warm_up(void)
{
	double end = now() + 1;
	unsigned long x = sink;

	while (now() < end)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	sink = x;
}

/* Prints what a profiler should find: the time spent in sleep_10ms and
 * the CPU time of the loop (on a busy machine the spinner gets less than
 * its 10 ms of CPU, and a sleeper waits longer than 10 ms to run again). */
__attribute__((noinline)) void run_sleep(double seconds)
{
	double end, slept = 0, t, cpu0;
	long sleeps = 0;

	warm_up();
	end = now() + seconds;
	cpu0 = cpu_s();
	while (now() < end) {
		spin_10ms();
		t = now();
		sleep_10ms();
		slept += now() - t;
		sleeps++;
	}
	printf("%ld sleeps, slept %.6f s, cpu %.6f s\n", sleeps, slept, cpu_s() - cpu0);
}

static void sleep_s(double seconds)
{
	struct timespec ts = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

__attribute__((noinline)) void writer_wait(int fd, double seconds)
{
	sleep_s(seconds);
	if (write(fd, "x", 1) != 1)
		_exit(1);
	sink++;
}

__attribute__((noinline)) int pipe_reader(int fd)
{
	char c;
	ssize_t n = read(fd, &c, 1);

	sink++;
	return n == 1 ? 0 : 1;
}

static int run_pipe(double seconds)
{
	int p[2], status = 0, err;
	pid_t pid;

	if (pipe(p))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	/* Both processes run a while before they wait: ignis reads a process's
	 * maps (and loads its unwind tables) at its first CPU sample, and walks
	 * the stacks of one it has not seen yet by frame pointers. */
	if (pid == 0) {
		close(p[0]);
		for (int i = 0; i < 20; i++)
			spin_10ms();
		writer_wait(p[1], seconds);
		_exit(0);
	}
	close(p[1]);
	for (int i = 0; i < 20; i++)
		spin_10ms();
	err = pipe_reader(p[0]);
	/* The record of the wait comes when the reader runs again; a process
	 * gone by the time the agent reads it has its frames unnamed (its
	 * maps went with it), so stay a little. */
	sleep_s(0.5);
	waitpid(pid, &status, 0);
	return err || status;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t held;
static double hold_s;

__attribute__((noinline)) void holder_sleep(void)
{
	pthread_mutex_lock(&lock);
	pthread_barrier_wait(&held);
	sleep_s(hold_s);
	pthread_mutex_unlock(&lock);
	sink++;
}

static void *holder(void *arg)
{
	(void)arg;
	holder_sleep();
	return NULL;
}

__attribute__((noinline)) void mutex_waiter(void)
{
	pthread_mutex_lock(&lock);
	pthread_mutex_unlock(&lock);
	sink++;
}

static int run_mutex(double seconds)
{
	pthread_t t;

	hold_s = seconds;
	pthread_barrier_init(&held, NULL, 2);
	if (pthread_create(&t, NULL, holder, NULL))
		return 1;
	/* Runs first, so that ignis knows the process (see run_pipe). */
	for (int i = 0; i < 20; i++)
		spin_10ms();
	pthread_barrier_wait(&held);
	mutex_waiter();
	pthread_join(t, NULL);
	return 0;
}

__attribute__((noinline)) long direct_reader(int fd, off_t size, double seconds)
{
	double end = now() + seconds;
	unsigned long blocks = size / 4096, i = 0;
	long reads = 0;
	void *buf;

	if (posix_memalign(&buf, 4096, 4096))
		return -1;
	while (now() < end) {
		/* A different block each time: O_DIRECT bypasses the page cache,
		 * but a disk's own cache may still answer a repeated one. */
		off_t off = (off_t)((i++ * 7919) % blocks) * 4096;

		if (pread(fd, buf, 4096, off) != 4096) {
			free(buf);
			return -1;
		}
		reads++;
	}
	free(buf);
	return reads;
}

static int run_direct(const char *path, double seconds)
{
	int fd = open(path, O_RDONLY | O_DIRECT);
	off_t size;
	long reads;

	if (fd < 0) {
		fprintf(stderr, "offcpu_wait: open %s with O_DIRECT: %s\n", path, strerror(errno));
		return 3;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size < 4096) {
		fprintf(stderr, "offcpu_wait: %s: smaller than a block\n", path);
		return 2;
	}
	reads = direct_reader(fd, size, seconds);
	if (reads < 0) {
		fprintf(stderr, "offcpu_wait: O_DIRECT read of %s: %s\n", path, strerror(errno));
		return 3;
	}
	printf("%ld reads\n", reads);
	return 0;
}

static int pp_a[2], pp_b[2];
static volatile int pp_stop;

static void *pong(void *arg)
{
	char c;

	(void)arg;
	while (read(pp_a[0], &c, 1) == 1 && write(pp_b[1], &c, 1) == 1)
		;
	return NULL;
}

__attribute__((noinline)) long ping(double seconds)
{
	double end = now() + seconds;
	long n = 0;
	char c = 'x';

	while (now() < end) {
		for (int i = 0; i < 1000; i++) {
			if (write(pp_a[1], &c, 1) != 1 || read(pp_b[0], &c, 1) != 1)
				return -1;
		}
		n += 1000;
	}
	return n;
}

static int run_pingpong(double seconds)
{
	pthread_t t;
	long n;

	if (pipe(pp_a) || pipe(pp_b) || pthread_create(&t, NULL, pong, NULL))
		return 1;
	n = ping(seconds);
	close(pp_a[1]);
	pthread_join(t, NULL);
	printf("%ld round trips, %.0f per second\n", n, n / seconds);
	return n < 0;
}

int main(int argc, char **argv)
{
	double seconds = argc > 2 ? atof(argv[argc - 1]) : 0;

	if (argc < 3 || seconds <= 0)
		goto usage;
	if (!strcmp(argv[1], "sleep")) {
		run_sleep(seconds);
		return 0;
	}
	if (!strcmp(argv[1], "pipe"))
		return run_pipe(seconds);
	if (!strcmp(argv[1], "mutex"))
		return run_mutex(seconds);
	if (!strcmp(argv[1], "direct") && argc == 4)
		return run_direct(argv[2], seconds);
	if (!strcmp(argv[1], "pingpong"))
		return run_pingpong(seconds);
usage:
	fprintf(stderr, "usage: offcpu_wait sleep|pipe|mutex|pingpong SECONDS, "
		"offcpu_wait direct FILE SECONDS\n");
	return 2;
}
