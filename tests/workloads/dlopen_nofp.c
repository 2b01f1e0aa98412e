/* Loads a library with dlopen after DELAY seconds (so after a profiler
 * started) and spends the rest of the time in its plugin_work, built
 * without frame pointers like this program: main → run_plugin → (library)
 * plugin_work → plugin_inner. usage: dlopen_nofp SECONDS LIBRARY DELAY */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void run_plugin(unsigned long (*work)(unsigned long), double end)
{
	while (now() < end)
		sink += work(1000000);
}

int main(int argc, char **argv)
{
	double seconds = argc > 3 ? atof(argv[1]) : 0, delay = argc > 3 ? atof(argv[3]) : 0;
	double start = now();
	unsigned long (*work)(unsigned long);
	void *lib;

	if (seconds <= 0 || delay < 0) {
		fprintf(stderr, "usage: dlopen_nofp SECONDS LIBRARY DELAY\n");
		return 2;
	}
	usleep((useconds_t)(delay * 1e6));
	lib = dlopen(argv[2], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "dlopen_nofp: %s\n", dlerror());
		return 1;
	}
	*(void **)&work = dlsym(lib, "plugin_work");
	if (!work) {
		fprintf(stderr, "dlopen_nofp: %s\n", dlerror());
		return 1;
	}
	run_plugin(work, start + seconds);
	return 0;
}
