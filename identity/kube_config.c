/* The kubernetes: settings of the agent's configuration: their rows, the
 * dump of enabled, and the defaults that come from the pod's environment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity/kube.h"

#define MAX_HOST 1024u
#define K struct config_kubernetes

static const char *const mode_names[] = { [CONFIG_K8S_AUTO] = "auto", [CONFIG_K8S_ON] = "true",
					  [CONFIG_K8S_OFF] = "false" };

static int check_node(struct schema_ctx *x, const char *s)
{
	return schema__check_text(x, s, MAX_HOST);
}

static void dump_enabled(FILE *f, const struct schema_row *r, const void *obj, int indent)
{
	const K *k = obj;

	fprintf(f, "%*s%s: %s   # %s\n", indent, "", r->name, mode_names[k->mode],
		k->enabled ? "on" : "off");
}

const struct schema_row kube__config_rows[] = {
	{ "enabled", SCHEMA_ENUM, SCHEMA_AT(K, mode), SCHEMA_NAMES(mode_names),
	  .dump = dump_enabled },
	{ "node_name", SCHEMA_STRING, SCHEMA_AT(K, node_name), .check = check_node },
	{ "api_url", SCHEMA_URL, SCHEMA_AT(K, api_url) },
	{ "token_file", SCHEMA_PATH, SCHEMA_AT(K, token_file), .def_str = KUBE_SA_DIR "/token" },
	{ "ca_file", SCHEMA_PATH, SCHEMA_AT(K, ca_file), .def_str = KUBE_SA_DIR "/ca.crt" },
	{ "kubelet_url", SCHEMA_URL, SCHEMA_AT(K, kubelet_url) },
	{ "insecure_skip_verify", SCHEMA_BOOL, SCHEMA_AT(K, insecure_skip_verify) },
	{ "resync", SCHEMA_DURATION, SCHEMA_AT(K, resync_ms), 10 * SCHEMA_SEC, 24 * SCHEMA_HOUR,
	  .def = 5 * SCHEMA_MIN },
	{ "max_pods", SCHEMA_UINT, SCHEMA_AT(K, max_pods), 1, 100000, .def = 1000 },
	{ 0 },
};

int kube__config_finish(struct schema_ctx *x, K *k, const char *host)
{
	const char *svc = getenv("KUBERNETES_SERVICE_HOST");
	const char *node = getenv("NODE_NAME");
	bool in_pod = svc && *svc;

	if (!k->node_name && schema__replace(x, &k->node_name, node && *node ? node : host))
		return -ENOMEM;
	if (!k->api_url && in_pod) {
		const char *port = getenv("KUBERNETES_SERVICE_PORT");
		char buf[MAX_HOST + 32];
		uint64_t p = 443;

		x->source = "KUBERNETES_SERVICE_PORT";
		if (port && *port && schema__parse_uint(x, port, 1, 65535, &p))
			return -EINVAL;
		x->source = "KUBERNETES_SERVICE_HOST";
		if (strlen(svc) > MAX_HOST)
			return schema__fail(x, "longer than %u bytes", MAX_HOST);
		snprintf(buf, sizeof(buf), strchr(svc, ':') ? "https://[%s]:%llu" : "https://%s:%llu",
			 svc, (unsigned long long)p);
		if (schema__parse_url(x, buf, &k->api_url))
			return -EINVAL;
		x->source = NULL;
	}
	k->enabled = k->mode == CONFIG_K8S_ON || (k->mode == CONFIG_K8S_AUTO && in_pod);
	if (k->mode == CONFIG_K8S_ON && !k->api_url && !k->kubelet_url) {
		x->line = schema__seen(x, "enabled");
		schema__set_key(x, "kubernetes.enabled");
		return schema__fail(x, "true, but there is no way to reach Kubernetes: set "
				       "api_url or kubelet_url (KUBERNETES_SERVICE_HOST is not "
				       "set: not in a pod?)");
	}
	return 0;
}
