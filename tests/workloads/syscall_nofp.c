/* Spends its time in the kernel: write() of a small buffer to /dev/null in
 * a loop, two levels below main. A profiler must continue the stacks from
 * the kernel frames into the user frames up to main.
 * usage: syscall_nofp SECONDS */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) static void writer(int fd, time_t end)
{
	static char buf[4096];

	while (time(NULL) < end)
		for (int i = 0; i < 1000; i++)
			if (write(fd, buf, sizeof(buf)) < 0)
				exit(1);
}

__attribute__((noinline)) static void loop(double seconds)
{
	int fd = open("/dev/null", O_WRONLY);

	if (fd < 0)
		exit(1);
	writer(fd, time(NULL) + (time_t)seconds + 1);
	close(fd);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;

	if (seconds <= 0) {
		fprintf(stderr, "usage: syscall_nofp SECONDS\n");
		return 2;
	}
	loop(seconds);
	return 0;
}
