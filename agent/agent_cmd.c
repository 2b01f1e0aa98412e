/* `ignis agent`: the configuration turned into a running agent. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/agent_cmd.h"
#include "agent/config.h"
#include "identity/identity.h"
#include "identity/kube.h"
#include "base/log.h"
#include "identity/relabel.h"
#include "sys/preflight.h"
#include "exporters/tagmap.h"

#define EXIT_USAGE 2

static const enum log_level log_levels[] = {
	[CONFIG_LOG_DEBUG] = LOG_DEBUG, [CONFIG_LOG_INFO] = LOG_INFO,
	[CONFIG_LOG_WARN] = LOG_WARN, [CONFIG_LOG_ERROR] = LOG_ERROR,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ignis agent [options]    profile this machine forever, delivering a\n"
		"                                profile per workload every interval\n"
		"  -c, --config FILE          YAML configuration (deploy/ignis.yaml shows every\n"
		"                             setting); without one, flags and IGNIS_* variables\n"
		"                             must name a destination\n"
		"  -F, --frequency HZ         samples per second per CPU (IGNIS_FREQUENCY)\n"
		"      --upload-interval D    e.g. 15s (IGNIS_UPLOAD_INTERVAL)\n"
		"      --pyroscope-url URL    deliver to this Pyroscope (IGNIS_PYROSCOPE_URL)\n"
		"      --output-dir DIR       write .pb.gz files here (IGNIS_OUTPUT_DIR)\n"
		"      --host NAME            the host label (IGNIS_HOST; default NODE_NAME, else\n"
		"                             the hostname)\n"
		"      --log-level LEVEL      debug, info, warn or error (IGNIS_LOG_LEVEL)\n"
		"      --log-format FORMAT    plain or json lines (IGNIS_LOG_FORMAT)\n"
		"      --print-config         print the effective configuration (secrets\n"
		"                             redacted) and exit\n");
}

static int make_dest(const struct config_destination *cd, struct agent_dest *d)
{
	const struct tag_rule *defaults = NULL;
	size_t ndefaults = 0;
	int err;

	*d = (struct agent_dest){
		.name = cd->name,
		.ops = destination__types[cd->type],
		.period_ms = cd->upload_interval_ms,
		.sample_fraction = cd->sample_ppm / 1e6,
	};
	if (cd->default_tag_rules)
		defaults = tagmap__defaults(d->ops->type, &ndefaults);
	if (ndefaults || cd->ntag_rules) {
		d->tags = tagmap__new(defaults, ndefaults, cd->tag_rules, cd->ntag_rules);
		if (!d->tags) {
			err = -errno;
			fprintf(stderr, "ignis: destination %s: tag rules: %s\n", cd->name,
				strerror(-err));
			return err;
		}
	}
	d->impl = d->ops->new(cd);
	if (!d->impl) {
		err = errno ? -errno : -EINVAL;
		fprintf(stderr, "ignis: destination %s: %s\n", cd->name, strerror(-err));
		tagmap__free(d->tags);
		return err;
	}
	return 0;
}

/* The configuration running, and one loaded by SIGHUP waiting to take its
 * place. */
struct reload_ctx {
	const char *path;
	const struct config_overrides *ov;
	/* The agent's options point into the first one (host, roots): it
	 * lives for the whole run. */
	struct config *first, *cur, *next;
};

static void release_config(struct reload_ctx *r, struct config *c)
{
	if (c != r->first)
		config__free(c);
}

static void free_dests(struct agent_dest *dests, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		tagmap__free(dests[j].tags);
		dests[j].ops->free(dests[j].impl);
	}
	free(dests);
}

/* What identity uses besides itself, freed after it. */
struct identity_parts {
	struct kube *kube;
	struct relabel *relabel;
};

static void release_parts(void *ctx)
{
	struct identity_parts *p = ctx;

	kube__free(p->kube);
	relabel__free(p->relabel);
	free(p);
}

static int kube_lookup(void *ctx, const char *pod_uid, const char *container_id,
		       struct kube_pod **out)
{
	return kube__lookup(ctx, pod_uid, container_id, out);
}

static int build_identity(const struct config *cfg, struct agent_setup *s)
{
	struct identity_parts *p = calloc(1, sizeof(*p));
	struct identity_opts io = { .proc_root = cfg->proc_root, .node = cfg->host };
	char msg[512];
	int err;

	if (!p)
		return -ENOMEM;
	if (cfg->nrelabel) {
		p->relabel = relabel__new(cfg->relabel, cfg->nrelabel, msg, sizeof(msg));
		if (!p->relabel) {
			err = -errno;
			fprintf(stderr, "ignis: %s\n", msg);
			goto fail;
		}
	}
	if (cfg->kubernetes.enabled) {
		struct kube_opts ko = {
			.node_name = cfg->kubernetes.node_name,
			.api_url = cfg->kubernetes.api_url,
			.token_file = cfg->kubernetes.token_file,
			.ca_file = cfg->kubernetes.ca_file,
			.kubelet_url = cfg->kubernetes.kubelet_url,
			.insecure_skip_verify = cfg->kubernetes.insecure_skip_verify,
			.resync_ms = cfg->kubernetes.resync_ms,
			.max_pods = cfg->kubernetes.max_pods,
		};

		p->kube = kube__new(&ko);
		if (!p->kube) {
			err = -errno;
			fprintf(stderr, "ignis: kubernetes: %s\n", strerror(-err));
			goto fail;
		}
		io.node = cfg->kubernetes.node_name;
		io.lookup = kube_lookup;
		io.lookup_ctx = p->kube;
		io.pod_free = kube_pod__free;
	}
	io.relabel = p->relabel;
	s->identity = identity__new(&io);
	if (!s->identity) {
		err = -errno;
		fprintf(stderr, "ignis: workload identity: %s\n", strerror(-err));
		goto fail;
	}
	s->release = release_parts;
	s->release_ctx = p;
	return 0;
fail:
	release_parts(p);
	return err ? err : -EINVAL;
}

/* Whether a destination keeps the "tid" sample label: only then are samples
 * kept per thread (a thread's samples otherwise merge with its siblings'
 * of the same name). Read at start: a reload that adds it needs a restart. */
static int asks_for_tid(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->ndestinations; i++)
		for (size_t j = 0; j < cfg->destinations[i].nsample_labels; j++)
			if (!strcmp(cfg->destinations[i].sample_labels[j], "tid"))
				return 1;
	return 0;
}

static int build_setup(const struct config *cfg, struct agent_setup *s)
{
	int err = 0;

	memset(s, 0, sizeof(*s));
	s->dests = calloc(cfg->ndestinations, sizeof(*s->dests));
	if (!s->dests)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->ndestinations; i++) {
		err = make_dest(&cfg->destinations[i], &s->dests[s->ndests]);
		if (err)
			goto fail;
		s->ndests++;
	}
	err = build_identity(cfg, s);
	if (err)
		goto fail;
	return 0;
fail:
	free_dests(s->dests, s->ndests);
	memset(s, 0, sizeof(*s));
	return err;
}

static int reload_prepare(void *ctx)
{
	struct reload_ctx *r = ctx;
	char msg[1024];

	config__free(r->next);
	r->next = config__load(r->path, r->ov, msg, sizeof(msg));
	if (!r->next) {
		pr_warn("agent: reload: %s\n", msg);
		return -EINVAL;
	}
	/* What sampling was started with cannot change under it. */
	if (r->next->frequency_hz != r->cur->frequency_hz ||
	    r->next->tick_ms != r->cur->tick_ms) {
		pr_warn("agent: reload: sampling.frequency and the upload intervals' common "
			"interval (%.1f s) only change with a restart\n", r->cur->tick_ms / 1e3);
		config__free(r->next);
		r->next = NULL;
		return -EINVAL;
	}
	if (!golabels__config_equal(&r->next->go, &r->cur->go)) {
		pr_warn("agent: reload: labels.go_labels and labels.trace_labels only change with a "
			"restart\n");
		config__free(r->next);
		r->next = NULL;
		return -EINVAL;
	}
	return 0;
}

static int reload_build(void *ctx, struct agent_setup *out)
{
	struct reload_ctx *r = ctx;
	int err = build_setup(r->next, out);

	if (!err) {
		release_config(r, r->cur);
		r->cur = r->next;
		r->next = NULL;
		log__set_level(log_levels[r->cur->log_level]);
		log__set_format(r->cur->log_format == CONFIG_LOG_JSON ? LOG_FORMAT_JSON :
				LOG_FORMAT_PLAIN);
	}
	return err;
}

static int reload_build_current(void *ctx, struct agent_setup *out)
{
	struct reload_ctx *r = ctx;

	config__free(r->next);
	r->next = NULL;
	return build_setup(r->cur, out);
}

int agent_cmd__run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "frequency", required_argument, NULL, 'F' },
		{ "upload-interval", required_argument, NULL, 'i' },
		{ "pyroscope-url", required_argument, NULL, 'u' },
		{ "output-dir", required_argument, NULL, 'o' },
		{ "host", required_argument, NULL, 'H' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "log-format", required_argument, NULL, 'L' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct config_overrides ov = { 0 };
	struct agent_opts ao = { 0 };
	struct reload_ctx rc = { 0 };
	const char *path = NULL;
	struct config *cfg;
	int print = 0, c, err;
	char msg[1024];

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:F:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'F':
			ov.frequency = optarg;
			break;
		case 'i':
			ov.upload_interval = optarg;
			break;
		case 'u':
			ov.pyroscope_url = optarg;
			break;
		case 'o':
			ov.output_dir = optarg;
			break;
		case 'H':
			ov.host = optarg;
			break;
		case 'l':
			ov.log_level = optarg;
			break;
		case 'L':
			ov.log_format = optarg;
			break;
		case 'P':
			print = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ignis agent: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	cfg = config__load(path, &ov, msg, sizeof(msg));
	if (!cfg) {
		fprintf(stderr, "ignis: %s\n", msg);
		return errno == ENOMEM ? EXIT_FAILURE : EXIT_USAGE;
	}
	if (print) {
		config__dump(cfg, stdout);
		config__free(cfg);
		return 0;
	}
	log__set_level(log_levels[cfg->log_level]);
	log__set_format(cfg->log_format == CONFIG_LOG_JSON ? LOG_FORMAT_JSON : LOG_FORMAT_PLAIN);
	if (preflight__privileges() || preflight__btf(cfg->sys_root)) {
		config__free(cfg);
		return EXIT_FAILURE;
	}

	if (build_setup(cfg, &ao.setup)) {
		config__free(cfg);
		return EXIT_FAILURE;
	}
	rc.path = path;
	rc.ov = &ov;
	rc.cur = cfg;
	rc.first = cfg;
	if (path) {
		ao.prepare = reload_prepare;
		ao.build = reload_build;
		ao.build_current = reload_build_current;
		ao.reload_ctx = &rc;
	}
	ao.collector = (struct collector_opts){
		.frequency_hz = cfg->frequency_hz,
		.cpus = cfg->cpus,
		.include_idle = cfg->include_idle,
		.unwind = cfg->unwind,
		.stack_size = cfg->stack_size,
		.unwind_table_bytes = cfg->unwind_table_bytes,
		.proc_root = cfg->proc_root,
		.sys_root = cfg->sys_root,
		.debug_dirs = cfg->debug_dirs,
		.ndebug_dirs = cfg->ndebug_dirs,
		.debuginfod_urls = cfg->debuginfod_urls,
		.debuginfod_cache = cfg->debuginfod_cache,
		.debuginfod_cache_bytes = cfg->debuginfod_cache_bytes,
		.symbol_cache_bytes = cfg->symbol_cache_bytes,
		.key_by_tid = asks_for_tid(cfg),
		.go_labels = cfg->go.go_labels,
		.ngo_labels = cfg->go.ngo_labels,
		.trace_labels = cfg->go.trace_labels,
		.ntrace_labels = cfg->go.ntrace_labels,
		.off_cpu = cfg->off_cpu.on,
		.offcpu_min_ns = (uint64_t)cfg->off_cpu.min_block_us * 1000,
		.offcpu_probability = cfg->off_cpu.probability_ppm / 1e6,
	};
	ao.upload_interval_ms = cfg->tick_ms ? cfg->tick_ms : cfg->upload_interval_ms;
	ao.shutdown_timeout_ms = cfg->shutdown_timeout_ms;
	ao.host = cfg->host;
	ao.max_series = cfg->max_series;
	ao.metrics_listen = cfg->metrics_listen;
	err = agent__run(&ao);
	config__free(rc.next);
	release_config(&rc, rc.cur);
	config__free(rc.first);
	return err ? EXIT_FAILURE : 0;
}
