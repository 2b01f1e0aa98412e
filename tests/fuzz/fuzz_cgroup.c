/* libFuzzer target: what identity reads from /proc about a process -- the
 * cgroup file (every hierarchy line and path component) and the
 * environment (NUL-separated entries, OTEL_RESOURCE_ATTRIBUTES decoding). */
#include <stdlib.h>
#include <string.h>

#include "identity/cgroup.h"
#include "identity/identity.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct cgroup_info ci;
	struct identity_env *env = malloc(sizeof(*env));
	char *path = malloc(size + 1), out[64];

	if (!env || !path)
		goto out;
	cgroup__parse((const char *)data, size, &ci);
	memcpy(path, data, size);
	path[size] = '\0';
	cgroup__parse_path(path, &ci);
	identity__parse_environ((const char *)data, size, env);
	identity__otel_attr(env->otel_resource_attributes, "service.name", out, sizeof(out));
	identity__otel_attr(path, "service.version", out, sizeof(out));
out:
	free(path);
	free(env);
	return 0;
}
