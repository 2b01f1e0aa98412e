/* What compiling a binary's unwind table costs (unwinder/unwtable.c's
 * unw_table__compile), the work `record` and the agent do on their worker
 * thread for every new binary. Prints the rows, rules and FDEs of each file
 * and the fastest and median of PASSES compiles, in ms.
 *
 * usage: unwtable_driver [--passes N] FILE [DEBUGFILE]... (a DEBUGFILE is
 * given as FILE:DEBUGFILE) */
#include <fcntl.h>
#include <libelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/heap.h"
#include "unwinder/unwtable.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static Elf *open_elf(const char *path, int *fd)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		perror(path);
		return NULL;
	}
	return elf_begin(*fd, ELF_C_READ_MMAP, NULL);
}

int main(int argc, char **argv)
{
	int passes = 9, i = 1, status = 0;

	if (argc > 2 && !strcmp(argv[1], "--passes")) {
		passes = atoi(argv[2]);
		i = 3;
	}
	if (i >= argc || passes < 1 || passes > 1000) {
		fprintf(stderr, "usage: unwtable_driver [--passes N] FILE[:DEBUGFILE]...\n");
		return 2;
	}
	elf_version(EV_CURRENT);
	/* As the collector has it (sampling/collector.c). */
	heap__keep_freed();
	for (; i < argc; i++) {
		char *path = strdup(argv[i]), *dpath = strchr(path, ':');
		int64_t t[1000];
		struct unw_table_stats st = { 0 };
		int fd, dfd = -1;
		Elf *elf, *debug = NULL;

		if (dpath)
			*dpath++ = 0;
		elf = open_elf(path, &fd);
		if (dpath)
			debug = open_elf(dpath, &dfd);
		if (!elf || (dpath && !debug)) {
			status = 1;
			goto next;
		}
		for (int p = 0; p < passes; p++) {
			int64_t t0 = clock__monotonic_ns();
			struct unw_table *tab = unw_table__compile(elf, debug, 0);

			t[p] = clock__monotonic_ns() - t0;
			if (!tab) {
				perror(path);
				status = 1;
				goto next;
			}
			unw_table__stats(tab, &st);
			unw_table__free(tab);
		}
		qsort(t, passes, sizeof(t[0]), cmp_i64);
		printf("%s: %llu FDEs, %llu rows, %llu rules: fastest %.2f ms, median %.2f ms "
		       "(%d passes)\n", argv[i], (unsigned long long)st.fdes,
		       (unsigned long long)st.rows, (unsigned long long)st.rules, t[0] / 1e6,
		       t[passes / 2] / 1e6, passes);
next:
		if (debug)
			elf_end(debug);
		if (elf)
			elf_end(elf);
		if (dfd >= 0)
			close(dfd);
		if (fd >= 0)
			close(fd);
		free(path);
	}
	return status;
}
