/* libFuzzer target: what the process metrics read from /proc (self/stat,
 * whose command name may hold anything, and stat's btime line), and label
 * values of any bytes through the exposition writer. The input is split
 * at the first two NUL bytes: self/stat, stat, a label value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "agent/metrics.h"

static char root[64];

struct input {
	const char *value;
};

static void collect(void *ctx, struct metrics_writer *w)
{
	struct input *in = ctx;
	const char *labels[] = { "v", in->value, NULL };

	metrics__write_process(w, root);
	metrics__family(w, "fuzz_value", "gauge", in->value);
	metrics__sample(w, "fuzz_value", 1, labels);
}

static void remove_root(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/self/stat", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/stat", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/self/fd", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/self", root);
	rmdir(path);
	rmdir(root);
}

static void put(const char *name, const unsigned char *p, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	f = fopen(path, "w");
	if (!f)
		return;
	fwrite(p, 1, n, f);
	fclose(f);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const unsigned char *parts[3] = { data, NULL, NULL }, *end = data + size, *z;
	size_t lens[3] = { size, 0, 0 };
	struct input in;
	char *out, *value;
	size_t len;

	if (!root[0]) {
		char path[96];

		snprintf(root, sizeof(root), "/tmp/fuzz-metrics-%d", getpid());
		mkdir(root, 0700);
		snprintf(path, sizeof(path), "%s/self", root);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/self/fd", root);
		mkdir(path, 0700);
		log__set_level(LOG_ERROR);
		atexit(remove_root);
	}
	for (int i = 0; i < 2; i++) {
		z = memchr(parts[i], 0, end - parts[i]);
		if (!z)
			break;
		lens[i] = z - parts[i];
		parts[i + 1] = z + 1;
		lens[i + 1] = end - parts[i + 1];
	}
	put("self/stat", parts[0], lens[0]);
	put("stat", parts[1] ? parts[1] : data, parts[1] ? lens[1] : 0);
	value = strndup(parts[2] ? (const char *)parts[2] : "", parts[2] ? lens[2] : 0);
	if (!value)
		return 0;
	in.value = value;
	if (metrics__render(collect, &in, &out, &len) == 0)
		free(out);
	free(value);
	return 0;
}
