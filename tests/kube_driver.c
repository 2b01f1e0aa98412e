/* Drives identity/kube.c for tests/integration/test_fake_kubeapi.py: starts a
 * client with the options given as flags, then answers commands read from
 * stdin, one per line, with one JSON line each on stdout:
 *   stats                 {"synced":..,"pods":..,"lists":..,"watch_events":..,
 *                          "errors":..,"relists":..,"generation":..,"last_error":".."}
 *   lookup UID|- CID|-    the pod as JSON, or {"err": -errno}
 *   quit
 * The client's log goes to stderr, where the test counts warnings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity/kube.h"
#include "base/log.h"

static void json_str(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_kvs(const struct kube_kv *kv, size_t n)
{
	putchar('{');
	for (size_t i = 0; i < n; i++) {
		if (i)
			putchar(',');
		json_str(kv[i].key);
		putchar(':');
		json_str(kv[i].value);
	}
	putchar('}');
}

static void print_pod(const struct kube_pod *p)
{
	fputs("{\"uid\":", stdout);
	json_str(p->uid);
	fputs(",\"name\":", stdout);
	json_str(p->name);
	fputs(",\"namespace\":", stdout);
	json_str(p->namespace);
	fputs(",\"node\":", stdout);
	json_str(p->node);
	fputs(",\"owner_kind\":", stdout);
	json_str(p->owner_kind);
	fputs(",\"owner_name\":", stdout);
	json_str(p->owner_name);
	fputs(",\"labels\":", stdout);
	json_kvs(p->labels, p->nlabels);
	fputs(",\"annotations\":", stdout);
	json_kvs(p->annotations, p->nannotations);
	fputs(",\"containers\":[", stdout);
	for (size_t i = 0; i < p->ncontainers; i++) {
		fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
		json_str(p->containers[i].name);
		fputs(",\"id\":", stdout);
		json_str(p->containers[i].id);
		putchar('}');
	}
	fputs("]}\n", stdout);
}

int main(int argc, char **argv)
{
	struct kube_opts o = { 0 };
	struct kube *k;
	char line[4096];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--insecure")) {
			o.insecure_skip_verify = true;
			continue;
		}
		if (!strcmp(a, "--debug")) {
			log__set_level(LOG_DEBUG);
			continue;
		}
		if (!v) {
			fprintf(stderr, "kube_driver: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--node"))
			o.node_name = v;
		else if (!strcmp(a, "--api"))
			o.api_url = v;
		else if (!strcmp(a, "--kubelet"))
			o.kubelet_url = v;
		else if (!strcmp(a, "--token"))
			o.token_file = v;
		else if (!strcmp(a, "--ca"))
			o.ca_file = v;
		else if (!strcmp(a, "--resync-ms"))
			o.resync_ms = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--max-pods"))
			o.max_pods = strtoull(v, NULL, 10);
		else {
			fprintf(stderr, "kube_driver: unknown flag %s\n", a);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	k = kube__new(&o);
	if (!k) {
		printf("{\"new_err\":%d}\n", -errno);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		char uid[1024], cid[1024];

		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, "quit"))
			break;
		if (!strcmp(line, "stats")) {
			struct kube_stats s;

			kube__stats(k, &s);
			printf("{\"synced\":%s,\"pods\":%llu,\"lists\":%llu,\"watch_events\":%llu,"
			       "\"errors\":%llu,\"relists\":%llu,\"generation\":%llu,\"last_error\":",
			       s.synced ? "true" : "false", (unsigned long long)s.pods,
			       (unsigned long long)s.lists, (unsigned long long)s.watch_events,
			       (unsigned long long)s.errors, (unsigned long long)s.relists,
			       (unsigned long long)kube__generation(k));
			json_str(s.last_error);
			fputs("}\n", stdout);
		} else if (sscanf(line, "lookup %1023s %1023s", uid, cid) == 2) {
			struct kube_pod *p;
			int err = kube__lookup(k, strcmp(uid, "-") ? uid : NULL,
					       strcmp(cid, "-") ? cid : NULL, &p);

			if (err) {
				printf("{\"err\":%d}\n", err);
			} else {
				print_pod(p);
				kube_pod__free(p);
			}
		} else {
			printf("{\"bad_command\":true}\n");
		}
	}
	kube__free(k);
	return 0;
}
