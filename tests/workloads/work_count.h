/* Work counters a benchmark reads while a workload runs (bench/machine
 * --lost-work): with IGNIS_WORK_FILE set, the file's first page is mapped
 * shared, and word i counts the blocks of work of kind i this process has
 * finished; the benchmark reads the file before and after a profiler runs
 * and compares the rates with those of windows without one. Without the
 * variable the counters are plain memory. No function here appears in a
 * sampled stack: work_open runs once, WORK_DONE is a store. */
#ifndef IGNIS_WORK_COUNT_H
#define IGNIS_WORK_COUNT_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define WORK_KINDS 8

static volatile unsigned long work_local[WORK_KINDS];
static volatile unsigned long *work_count = work_local;

#define WORK_DONE(kind) (work_count[(kind)]++)

static void work_open(void)
{
	const char *path = getenv("IGNIS_WORK_FILE");
	void *p;
	int fd;

	if (!path)
		return;
	fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || ftruncate(fd, 4096)) {
		perror(path);
		exit(2);
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror(path);
		exit(2);
	}
	close(fd);
	work_count = p;
}

#endif
