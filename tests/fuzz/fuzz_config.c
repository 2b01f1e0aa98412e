/* libFuzzer target: agent configuration files (YAML through libyaml, the
 * schema walk, values, the dump of what loads). */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/config.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char path[64], err[512];
	struct config *c;
	FILE *sink;
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	c = config__load(path, NULL, err, sizeof(err));
	if (c) {
		sink = fopen("/dev/null", "w");
		if (sink) {
			config__dump(c, sink);
			fclose(sink);
		}
		config__free(c);
	}
	close(fd);
	return 0;
}
