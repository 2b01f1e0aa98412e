/* libFuzzer target: perf map contents. The same bytes read in one refresh
 * and in three (split anywhere, partial lines included) must name every
 * address the same way. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "symbolizer/perfmap.h"

/* A map over a fresh memfd; *wfd writes to it (the map reads with pread,
 * so the shared file offset does not matter). */
static struct perfmap *map_new(int *wfd)
{
	int fd = memfd_create("fuzz-perfmap", MFD_CLOEXEC);

	*wfd = -1;
	if (fd < 0)
		return NULL;
	*wfd = dup(fd);
	return perfmap__new(fd);
}

static int map_append(struct perfmap *m, int wfd, const unsigned char *p, size_t n)
{
	if (n && write(wfd, p, n) != (ssize_t)n)
		return -1;
	return perfmap__refresh(m);
}

static int hexv(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

static void check(const struct perfmap *a, const struct perfmap *b, uint64_t addr)
{
	const char *x = perfmap__lookup(a, addr), *y = perfmap__lookup(b, addr);

	if (!x != !y || (x && strcmp(x, y)))
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	size_t s1 = size ? data[0] % (size + 1) : 0, s2 = size ? data[size - 1] % (size + 1) : 0;
	int fd1, fd3;
	struct perfmap *one = map_new(&fd1), *three = map_new(&fd3);

	if (!one || !three || fd1 < 0 || fd3 < 0)
		goto out;
	if (s1 > s2) {
		size_t t = s1;

		s1 = s2;
		s2 = t;
	}
	if (map_append(one, fd1, data, size) ||
	    map_append(three, fd3, data, s1) ||
	    map_append(three, fd3, data + s1, s2 - s1) ||
	    map_append(three, fd3, data + s2, size - s2))
		goto out;
	if (perfmap__count(one) != perfmap__count(three))
		abort();
	check(one, three, 0);
	check(one, three, UINT64_MAX);
	/* Around the first two numbers of every line: its start and end. */
	for (size_t i = 0; i < size; i++) {
		uint64_t v[2] = { 0, 0 };
		size_t j = i;

		if (i && data[i - 1] != '\n')
			continue;
		for (int k = 0; k < 2; k++) {
			if (j + 1 < size && data[j] == '0' && (data[j + 1] | 0x20) == 'x')
				j += 2;
			while (j < size && hexv(data[j]) >= 0)
				v[k] = v[k] << 4 | (uint64_t)hexv(data[j++]);
			while (j < size && (data[j] == ' ' || data[j] == '\t'))
				j++;
		}
		for (int d = -1; d <= 1; d++) {
			check(one, three, v[0] + (uint64_t)d);
			check(one, three, v[0] + v[1] + (uint64_t)d);
		}
	}
out:
	if (fd1 >= 0)
		close(fd1);
	if (fd3 >= 0)
		close(fd3);
	perfmap__free(one);
	perfmap__free(three);
	return 0;
}
