/* `ignis agent`: the configuration turned into a running agent. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/agent_cmd.h"
#include "agent/config.h"
#include "agent/log.h"
#include "agent/preflight.h"
#include "exporters/filedest.h"
#include "exporters/pyroscope.h"

#define EXIT_USAGE 2

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
		"      --print-config         print the effective configuration (secrets\n"
		"                             redacted) and exit\n");
}

static void pyroscope_submit_describe(void *impl, char *buf, size_t len)
{
	struct pyroscope_stats s;

	pyroscope__stats(impl, &s);
	snprintf(buf, len, "%llu profiles sent, %llu retried, %llu dropped (%llu rejected, "
		 "%llu after retries, %llu too old, %llu queue full), %llu split, queue %llu "
		 "bytes%s%s",
		 (unsigned long long)s.delivery.sent, (unsigned long long)s.delivery.retried,
		 (unsigned long long)(s.delivery.dropped_client_error +
				      s.delivery.dropped_retries_exhausted +
				      s.delivery.dropped_too_old + s.delivery.dropped_queue_full),
		 (unsigned long long)s.delivery.dropped_client_error,
		 (unsigned long long)s.delivery.dropped_retries_exhausted,
		 (unsigned long long)s.delivery.dropped_too_old,
		 (unsigned long long)s.delivery.dropped_queue_full, (unsigned long long)s.split,
		 (unsigned long long)s.delivery.queue_bytes,
		 s.delivery.last_error[0] ? ", last error: " : "", s.delivery.last_error);
}

static int pyroscope_submit(void *impl, const struct interval *iv)
{
	return pyroscope__submit(impl, iv);
}

static int pyroscope_drain(void *impl, int64_t deadline_ns)
{
	return pyroscope__drain(impl, deadline_ns);
}

static void pyroscope_free(void *impl)
{
	pyroscope__free(impl);
}

static int file_submit(void *impl, const struct interval *iv)
{
	return filedest__submit(impl, iv);
}

static void file_describe(void *impl, char *buf, size_t len)
{
	struct filedest_stats s;

	filedest__stats(impl, &s);
	snprintf(buf, len, "%llu files written (%llu bytes), %llu deleted for space, %llu errors, "
		 "%llu bytes in the directory", (unsigned long long)s.files,
		 (unsigned long long)s.bytes_written, (unsigned long long)s.deleted,
		 (unsigned long long)s.errors, (unsigned long long)s.dir_bytes);
}

static void file_free(void *impl)
{
	filedest__free(impl);
}

static int make_dest(const struct config_destination *cd, struct agent_dest *d)
{
	*d = (struct agent_dest){ .name = cd->name };
	if (cd->type == CONFIG_DEST_FILE) {
		struct filedest_opts fo = {
			.name = cd->name,
			.dir = cd->directory,
			.max_bytes = cd->max_bytes,
			.sample_labels = cd->sample_labels,
			.nsample_labels = cd->nsample_labels,
		};

		d->impl = filedest__new(&fo);
		d->submit = file_submit;
		d->describe = file_describe;
		d->free = file_free;
	} else {
		struct http_header *headers = NULL;
		struct pyroscope_opts po = {
			.name = cd->name,
			.url = cd->url,
			.api = cd->api == CONFIG_API_INGEST ? PYROSCOPE_INGEST : PYROSCOPE_PUSH_V1,
			.tenant_id = cd->tenant_id,
			.basic_user = cd->basic_user,
			.basic_password = cd->basic_password,
			.bearer_token = cd->bearer_token,
			.sample_labels = cd->sample_labels,
			.nsample_labels = cd->nsample_labels,
			.delivery = {
				.name = cd->name,
				.timeout_ms = cd->timeout_ms,
				.queue_bytes = cd->queue_bytes,
				.ca_file = cd->ca_file,
				.insecure_skip_verify = cd->insecure_skip_verify,
			},
		};

		if (cd->nheaders) {
			headers = calloc(cd->nheaders, sizeof(*headers));
			if (!headers)
				return -ENOMEM;
			for (size_t i = 0; i < cd->nheaders; i++)
				headers[i] = (struct http_header){ cd->headers[i].name,
								   cd->headers[i].value };
		}
		po.headers = headers;
		po.nheaders = cd->nheaders;
		d->impl = pyroscope__new(&po);
		free(headers);
		d->submit = pyroscope_submit;
		d->drain = pyroscope_drain;
		d->describe = pyroscope_submit_describe;
		d->free = pyroscope_free;
	}
	if (!d->impl) {
		int err = -errno;

		fprintf(stderr, "ignis: destination %s: %s\n", cd->name, strerror(-err));
		return err ? err : -EINVAL;
	}
	return 0;
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
		{ "print-config", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const enum log_level levels[] = {
		[CONFIG_LOG_DEBUG] = LOG_DEBUG, [CONFIG_LOG_INFO] = LOG_INFO,
		[CONFIG_LOG_WARN] = LOG_WARN, [CONFIG_LOG_ERROR] = LOG_WARN,
	};
	struct config_overrides ov = { 0 };
	struct agent_opts ao = { 0 };
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
	log__set_level(levels[cfg->log_level]);
	if (preflight__privileges() || preflight__btf(cfg->sys_root)) {
		config__free(cfg);
		return EXIT_FAILURE;
	}

	ao.dests = calloc(cfg->ndestinations, sizeof(*ao.dests));
	if (!ao.dests) {
		config__free(cfg);
		return EXIT_FAILURE;
	}
	for (size_t i = 0; i < cfg->ndestinations; i++) {
		err = make_dest(&cfg->destinations[i], &ao.dests[ao.ndests]);
		if (err) {
			for (size_t j = 0; j < ao.ndests; j++)
				ao.dests[j].free(ao.dests[j].impl);
			free(ao.dests);
			config__free(cfg);
			return EXIT_FAILURE;
		}
		ao.ndests++;
	}
	ao.collector = (struct collector_opts){
		.frequency_hz = cfg->frequency_hz,
		.cpus = cfg->cpus,
		.include_idle = cfg->include_idle,
		.unwind = cfg->unwind,
		.stack_size = cfg->stack_size,
		.proc_root = cfg->proc_root,
		.sys_root = cfg->sys_root,
		.debug_dirs = cfg->debug_dirs,
		.ndebug_dirs = cfg->ndebug_dirs,
		.debuginfod_urls = cfg->debuginfod_urls,
		.debuginfod_cache = cfg->debuginfod_cache,
		.debuginfod_cache_bytes = cfg->debuginfod_cache_bytes,
		.symbol_cache_bytes = cfg->symbol_cache_bytes,
	};
	ao.upload_interval_ms = cfg->upload_interval_ms;
	ao.shutdown_timeout_ms = cfg->shutdown_timeout_ms;
	ao.host = cfg->host;
	err = agent__run(&ao);
	free(ao.dests);
	config__free(cfg);
	return err ? EXIT_FAILURE : 0;
}
