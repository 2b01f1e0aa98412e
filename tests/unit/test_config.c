/* The agent configuration: defaults, every kind of value, the exact
 * "FILE:LINE: KEY: reason" of each kind of error, environment and flag
 * precedence, secrets read from files and variables and never dumped, and
 * deploy/ignis.yaml equal to the defaults it documents. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/config.h"
#include "tests/unit/support.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* A minimal valid destination list, on lines 1 to 3. */
#define PYRO "destinations:\n  - type: pyroscope\n    url: http://127.0.0.1:4040\n"

static char *dir;
static char path[PATH_MAX];
static char err[3 * PATH_MAX];

static const char *const env_vars[] = {
	"IGNIS_FREQUENCY", "IGNIS_UPLOAD_INTERVAL", "IGNIS_LOG_LEVEL", "IGNIS_PYROSCOPE_URL",
	"IGNIS_OUTPUT_DIR", "IGNIS_HOST", "NODE_NAME", "IGNIS_TEST_SECRET", "IGNIS_TEST_VAR",
	"IGNIS_TEST_EMPTY", "IGNIS_LOG_FORMAT", "DD_TRACE_AGENT_URL", "DD_AGENT_HOST",
	"DD_TRACE_AGENT_PORT", "DD_SITE", "DD_API_KEY", "KUBERNETES_SERVICE_HOST",
	"KUBERNETES_SERVICE_PORT", "IGNIS_TEST_MISSING",
};

static int group_setup(void **state)
{
	(void)state;
	dir = support__tmpdir("config");
	if (!dir)
		return -1;
	snprintf(path, sizeof(path), "%s/ignis.yaml", dir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	support__rmtree(dir);
	free(dir);
	return 0;
}

/* Each test starts from an environment without our variables. */
static int clean_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	err[0] = '\0';
	return 0;
}

static struct config *load(const char *text, const struct config_overrides *ov)
{
	assert_int_equal(support__write_text(path, text), 0);
	return config__load(path, ov, err, sizeof(err));
}

static struct config *load_ok(const char *text, const struct config_overrides *ov)
{
	struct config *c = load(text, ov);

	if (!c)
		fail_msg("load failed: %s", err);
	return c;
}

/* Loading text fails, and the message is exactly "<path>" + want. */
static void expect_error(const char *text, const char *want)
{
	char full[3 * PATH_MAX];
	struct config *c = load(text, NULL);

	snprintf(full, sizeof(full), "%s%s", path, want);
	if (c)
		fail_msg("loaded, expected: %s", full);
	assert_int_equal(errno, EINVAL);
	assert_string_equal(err, full);
}

/* Same, comparing only the start (for libyaml's own wording). */
static void expect_error_prefix(const char *text, const char *want)
{
	char full[3 * PATH_MAX];
	struct config *c = load(text, NULL);

	snprintf(full, sizeof(full), "%s%s", path, want);
	if (c)
		fail_msg("loaded, expected: %s", full);
	if (strncmp(err, full, strlen(full)))
		fail_msg("got '%s', expected it to start with '%s'", err, full);
}

static char *dump(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config__dump(c, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void assert_labels(const char *const *got, size_t n, size_t want_n, ...)
{
	va_list ap;

	assert_int_equal(n, want_n);
	va_start(ap, want_n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(got[i], va_arg(ap, const char *));
	va_end(ap);
}

static void test_config_defaults(void **state)
{
	char host[HOST_NAME_MAX + 1] = { 0 };
	struct config *c = load_ok(PYRO, NULL);
	struct config_destination *d;

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(c->path, path);
	assert_int_equal(c->frequency_hz, 100);
	assert_int_equal(c->unwind, UNWIND_KERNEL);
	assert_int_equal(c->unwind_table_bytes, 32 << 20);
	assert_int_equal(c->stack_size, 16384);
	assert_false(c->include_idle);
	assert_null(c->cpus);
	assert_int_equal(c->upload_interval_ms, 15000);
	assert_int_equal(c->shutdown_timeout_ms, 10000);
	assert_string_equal(c->host, host);
	assert_string_equal(c->proc_root, "/proc");
	assert_string_equal(c->sys_root, "/sys");
	assert_int_equal(c->log_level, CONFIG_LOG_INFO);
	assert_int_equal(c->nsample_labels, 0);
	assert_int_equal(c->ndebug_dirs, 0);
	assert_null(c->debuginfod_urls);
	assert_string_equal(c->debuginfod_cache, "/var/cache/ignis/debuginfod");
	assert_int_equal(c->debuginfod_cache_bytes, 2 * GiB);
	assert_int_equal(c->symbol_cache_bytes, 32 * MiB);

	assert_int_equal(c->ndestinations, 1);
	d = &c->destinations[0];
	assert_string_equal(d->name, "pyroscope");
	assert_int_equal(d->type, CONFIG_DEST_PYROSCOPE);
	assert_string_equal(d->url, "http://127.0.0.1:4040");
	assert_int_equal(d->api, CONFIG_API_PUSH);
	assert_null(d->tenant_id);
	assert_null(d->basic_user);
	assert_null(d->basic_password);
	assert_null(d->bearer_token);
	assert_int_equal(d->nheaders, 0);
	assert_null(d->ca_file);
	assert_false(d->insecure_skip_verify);
	assert_int_equal(d->timeout_ms, 10000);
	assert_int_equal(d->queue_bytes, 64 * MiB);
	assert_int_equal(d->nsample_labels, 0);
	assert_null(d->directory);
	config__free(c);

	/* null and "" mean the default too. */
	c = load_ok("sampling:\n  frequency: null\n  cpus: \"\"\nhost: ~\nproc_root: ''\nlog:\n"
		    "symbols:\n" PYRO, NULL);
	assert_int_equal(c->frequency_hz, 100);
	assert_null(c->cpus);
	assert_string_equal(c->host, host);
	assert_string_equal(c->proc_root, "/proc");
	config__free(c);

	/* NODE_NAME names the host when the file does not. */
	setenv("NODE_NAME", "node-7", 1);
	c = load_ok(PYRO, NULL);
	assert_string_equal(c->host, "node-7");
	config__free(c);
}

/* deploy/ignis.yaml sets every key to its default: loading it gives what
 * the same three destinations give with nothing else said. */
static void test_config_example_is_defaults(void **state)
{
	char example[PATH_MAX], *a, *b, *nl;
	struct config *c, *d;
	const char *src = __FILE__;

	(void)state;
	/* tests/unit/test_config.c → the repository root. */
	snprintf(example, sizeof(example), "%.*sdeploy/ignis.yaml",
		 (int)(strlen(src) - strlen("tests/unit/test_config.c")), src);
	c = config__load(example, NULL, err, sizeof(err));
	if (!c)
		fail_msg("%s: %s", example, err);
	d = load_ok("destinations:\n"
		    "  - type: pyroscope\n    url: http://localhost:4040\n"
		    "  - type: datadog\n"
		    "  - type: otlp\n    endpoint: http://localhost:4318\n"
		    "  - type: file\n    directory: /var/lib/ignis/profiles\n", NULL);
	assert_int_equal(c->ndestinations, 4);
	assert_int_equal(c->destinations[0].type, CONFIG_DEST_PYROSCOPE);
	assert_int_equal(c->destinations[1].type, CONFIG_DEST_DATADOG);
	assert_int_equal(c->destinations[2].type, CONFIG_DEST_OTLP);
	assert_int_equal(c->destinations[3].type, CONFIG_DEST_FILE);
	/* Every field is in the dump (secrets' sources included), so equal
	 * dumps after the first line (which names the file) are equal configs. */
	a = dump(c);
	b = dump(d);
	nl = strchr(a, '\n');
	assert_non_null(nl);
	assert_string_equal(nl, strchr(b, '\n'));
	free(a);
	free(b);
	config__free(c);
	config__free(d);
}

static void test_config_values(void **state)
{
	char secret_path[PATH_MAX], ca[PATH_MAX], text[4 * PATH_MAX], *out;
	struct config_destination *p, *f;
	struct config *c, *again;

	(void)state;
	snprintf(secret_path, sizeof(secret_path), "%s/password", dir);
	assert_int_equal(support__write_text(secret_path, "s3cr3t-pass\n"), 0);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	setenv("IGNIS_TEST_VAR", "middle", 1);
	snprintf(text, sizeof(text),
		 "sampling:\n"
		 "  frequency: 250\n"
		 "  unwind: dwarf\n"
		 "  stack_size: 8192\n"
		 "  include_idle: true\n"
		 "  cpus: \"0-1,3\"\n"
		 "upload_interval: 2m\n"
		 "shutdown_timeout: 1.5s\n"
		 "host: node-a\n"
		 "proc_root: /host/proc\n"
		 "sys_root: /host/sys\n"
		 "log: {level: debug}\n"
		 "labels:\n"
		 "  sample_labels: [pid, thread_name]\n"
		 "symbols:\n"
		 "  debug_dirs: [/a, \"/b c\"]\n"
		 "  debuginfod_urls: \"http://d1:8002  https://d2.example/x/\"\n"
		 "  debuginfod_cache: /c\n"
		 "  debuginfod_cache_size: 1.5GB\n"
		 "  cache_size: 100MB\n"
		 "destinations:\n"
		 "  - name: grafana-eu_1\n"
		 "    type: pyroscope\n"
		 "    url: HTTPS://[::1]:4443/prefix//\n"
		 "    api: ingest\n"
		 "    tenant_id: 123\n"
		 "    basic_auth:\n"
		 "      username: \"42\"\n"
		 "      password_file: %s\n"
		 "    headers:\n"
		 "      X-A: plain\n"
		 "      X-B: \"pre-${IGNIS_TEST_VAR}-post\"\n"
		 "      X-C: \"$${NOT} $x\"\n"
		 "      X-D: 42\n"
		 "    tls:\n"
		 "      ca_file: %s\n"
		 "      insecure_skip_verify: true\n"
		 "    timeout: 250ms\n"
		 "    queue_size: 2MB\n"
		 "    sample_labels: []\n"
		 "  - type: file\n"
		 "    directory: /var/tmp/p\n"
		 "    max_size: 5GiB\n",
		 secret_path, ca);
	c = load_ok(text, NULL);
	assert_int_equal(c->frequency_hz, 250);
	assert_int_equal(c->unwind, UNWIND_DWARF);
	assert_int_equal(c->stack_size, 8192);
	assert_true(c->include_idle);
	assert_string_equal(c->cpus, "0-1,3");
	assert_int_equal(c->upload_interval_ms, 120000);
	assert_int_equal(c->shutdown_timeout_ms, 1500);
	assert_string_equal(c->host, "node-a");
	assert_string_equal(c->proc_root, "/host/proc");
	assert_string_equal(c->sys_root, "/host/sys");
	assert_int_equal(c->log_level, CONFIG_LOG_DEBUG);
	assert_labels(c->sample_labels, c->nsample_labels, 2, "pid", "thread_name");
	assert_int_equal(c->ndebug_dirs, 2);
	assert_string_equal(c->debug_dirs[0], "/a");
	assert_string_equal(c->debug_dirs[1], "/b c");
	assert_string_equal(c->debuginfod_urls, "http://d1:8002 https://d2.example/x");
	assert_string_equal(c->debuginfod_cache, "/c");
	assert_int_equal(c->debuginfod_cache_bytes, 1500000000);
	assert_int_equal(c->symbol_cache_bytes, 100000000);

	assert_int_equal(c->ndestinations, 2);
	p = &c->destinations[0];
	assert_string_equal(p->name, "grafana-eu_1");
	/* Trailing slashes go: exporters append paths to it. */
	assert_string_equal(p->url, "HTTPS://[::1]:4443/prefix");
	assert_int_equal(p->api, CONFIG_API_INGEST);
	assert_string_equal(p->tenant_id, "123");
	assert_string_equal(p->basic_user, "42");
	assert_string_equal(p->basic_password, "s3cr3t-pass");   /* newline stripped */
	assert_string_equal(p->password_file, secret_path);
	assert_null(p->bearer_token);
	assert_int_equal(p->nheaders, 4);
	assert_string_equal(p->headers[0].name, "X-A");
	assert_string_equal(p->headers[0].value, "plain");
	assert_string_equal(p->headers[1].name, "X-B");
	assert_string_equal(p->headers[1].value, "pre-middle-post");
	assert_string_equal(p->headers[1].raw, "pre-${IGNIS_TEST_VAR}-post");
	assert_string_equal(p->headers[2].value, "${NOT} $x");
	assert_string_equal(p->headers[3].name, "X-D");
	assert_string_equal(p->headers[3].value, "42");
	assert_string_equal(p->ca_file, ca);
	assert_true(p->insecure_skip_verify);
	assert_int_equal(p->timeout_ms, 250);
	assert_int_equal(p->queue_bytes, 2000000);
	assert_int_equal(p->nsample_labels, 0);   /* its own empty list */

	f = &c->destinations[1];
	assert_string_equal(f->name, "file");
	assert_int_equal(f->type, CONFIG_DEST_FILE);
	assert_string_equal(f->directory, "/var/tmp/p");
	assert_int_equal(f->max_bytes, 5 * GiB);
	assert_labels(f->sample_labels, f->nsample_labels, 2, "pid", "thread_name");   /* inherited */
	assert_null(f->url);

	/* The dump loads back into the same configuration. */
	out = dump(c);
	assert_int_equal(support__write_text(path, out), 0);
	again = config__load(path, NULL, err, sizeof(err));
	if (!again)
		fail_msg("the dump does not load: %s\n%s", err, out);
	{
		char *out2 = dump(again);

		assert_string_equal(strchr(out, '\n'), strchr(out2, '\n'));
		free(out2);
	}
	assert_string_equal(again->destinations[0].basic_password, "s3cr3t-pass");
	free(out);
	config__free(again);
	config__free(c);
}

static void test_config_durations_sizes(void **state)
{
	static const struct { const char *text; uint64_t ms; } good_d[] = {
		{ "1s", 1000 }, { "90", 90000 }, { "1.5m", 90000 }, { "1h", 3600000 },
		{ "2500ms", 2500 }, { "\"15s\"", 15000 }, { "1.25", 1250 }, { "3600", 3600000 },
	};
	static const char *const bad_d[] = { "-1s", "1d", "s", "1e3", "1 s", "1.s", ".5s",
					     "0.5", "3601", "1h1s", "99999999999999999999s" };
	static const struct { const char *text; uint64_t bytes; } good_s[] = {
		{ "64MiB", 64 * MiB }, { "1GiB", GiB }, { "2000000", 2000000 },
		{ "1.5GiB", 3 * GiB / 2 }, { "100MB", 100000000 }, { "64 MiB", 64 * MiB },
		{ "1024KiB", MiB }, { "2GB", 2000000000 }, { "1048576B", MiB }, { "1.5MB", 1500000 },
	};
	static const char *const bad_s[] = { "64mb", "1PiB", "99999999999999999999",
					     "1.2.3MiB", "1000", "65GiB", "MiB", "-1MiB",
					     "16000000000000 TiB", "1e9" };
	char text[256];
	struct config *c;

	(void)state;
	for (size_t i = 0; i < sizeof(good_d) / sizeof(good_d[0]); i++) {
		snprintf(text, sizeof(text), "upload_interval: %s\n" PYRO, good_d[i].text);
		c = load_ok(text, NULL);
		if (c->upload_interval_ms != good_d[i].ms)
			fail_msg("%s: %llu ms", good_d[i].text, (unsigned long long)c->upload_interval_ms);
		config__free(c);
	}
	for (size_t i = 0; i < sizeof(bad_d) / sizeof(bad_d[0]); i++) {
		snprintf(text, sizeof(text), "upload_interval: %s\n" PYRO, bad_d[i]);
		c = load(text, NULL);
		if (c)
			fail_msg("%s accepted as %llu ms", bad_d[i], (unsigned long long)c->upload_interval_ms);
		if (!strstr(err, ":1: upload_interval: '"))
			fail_msg("%s: %s", bad_d[i], err);
	}
	for (size_t i = 0; i < sizeof(good_s) / sizeof(good_s[0]); i++) {
		snprintf(text, sizeof(text), PYRO "    queue_size: %s\n", good_s[i].text);
		c = load_ok(text, NULL);
		if (c->destinations[0].queue_bytes != good_s[i].bytes)
			fail_msg("%s: %llu bytes", good_s[i].text,
				 (unsigned long long)c->destinations[0].queue_bytes);
		config__free(c);
	}
	for (size_t i = 0; i < sizeof(bad_s) / sizeof(bad_s[0]); i++) {
		snprintf(text, sizeof(text), PYRO "    queue_size: %s\n", bad_s[i]);
		c = load(text, NULL);
		if (c)
			fail_msg("%s accepted as %llu bytes", bad_s[i],
				 (unsigned long long)c->destinations[0].queue_bytes);
		if (!strstr(err, ":4: destinations[0].queue_size: '"))
			fail_msg("%s: %s", bad_s[i], err);
	}
	/* Whole messages, with the range. */
	expect_error("upload_interval: 2h\n" PYRO,
		     ":1: upload_interval: '2h': out of range, from 1s to 1h");
	expect_error("upload_interval: fast\n" PYRO,
		     ":1: upload_interval: 'fast': expected a duration like 15s, 500ms, 2m, 1h or "
		     "a number of seconds, from 1s to 1h");
	expect_error("symbols:\n  cache_size: 12XB\n" PYRO,
		     ":2: symbols.cache_size: '12XB': expected a size like 64MiB, 1GiB, 512KiB, "
		     "100MB or a number of bytes, from 1MiB to 64GiB");
}

static void test_config_errors(void **state)
{
	char secret[PATH_MAX], text[3 * PATH_MAX];

	(void)state;
	/* Unknown keys, at every depth. */
	expect_error("sampling:\n  frequency: 100\n  frequncy: 99\n" PYRO,
		     ":3: sampling.frequncy: unknown key (expected one of: frequency, unwind, "
		     "stack_size, include_idle, cpus, unwind_table_memory, off_cpu, "
		     "off_cpu_min_block_us, off_cpu_probability)");
	expect_error(PYRO "upload_intervall: 15s\n",
		     ":4: upload_intervall: unknown key (expected one of: sampling, upload_interval, "
		     "shutdown_timeout, host, proc_root, sys_root, log, labels, symbols, spool_dir, "
		     "max_series, metrics, kubernetes, relabel_configs, destinations)");
	expect_error(PYRO "    tls:\n      verify: false\n",
		     ":5: destinations[0].tls.verify: unknown key (expected one of: ca_file, "
		     "insecure_skip_verify)");
	expect_error(PYRO "    basic_auth:\n      user: me\n",
		     ":5: destinations[0].basic_auth.user: unknown key (expected one of: username, "
		     "password_file, password_env)");
	expect_error("log:\n  levle: debug\n" PYRO,
		     ":2: log.levle: unknown key (expected one of: level, format)");

	/* Wrong types. */
	expect_error("sampling: 5\n" PYRO, ":1: sampling: expected a mapping, got a scalar");
	expect_error("sampling:\n  frequency: [100]\n" PYRO,
		     ":2: sampling.frequency: expected a number, got a list");
	expect_error("sampling:\n  include_idle: yes\n" PYRO,
		     ":2: sampling.include_idle: 'yes': expected true or false");
	expect_error("destinations:\n  type: pyroscope\n",
		     ":2: destinations: expected a list of destinations, got a mapping");
	expect_error("destinations:\n  - pyroscope\n",
		     ":2: destinations[0]: expected a mapping (a destination), got a scalar");
	expect_error(PYRO "    url: {a: 1}\n",
		     ":4: destinations[0].url: duplicate key (first at line 3)");
	expect_error("destinations:\n  - type: pyroscope\n    url: {a: 1}\n",
		     ":3: destinations[0].url: expected a string, got a mapping");
	expect_error(PYRO "    headers: [a]\n",
		     ":4: destinations[0].headers: expected a mapping of header names to values, "
		     "got a list");
	expect_error("labels:\n  sample_labels: pid\n" PYRO,
		     ":2: labels.sample_labels: expected a list of label names, got a scalar");
	expect_error("{1: 2}\n", ":1: 1: unknown key (expected one of: sampling, upload_interval, "
				 "shutdown_timeout, host, proc_root, sys_root, log, labels, symbols, "
				 "spool_dir, max_series, metrics, kubernetes, relabel_configs, "
				 "destinations)");
	expect_error("? [a]\n: 1\n", ":1: keys must be strings, got a list");

	/* Out of range. */
	expect_error("sampling:\n  frequency: 0\n" PYRO,
		     ":2: sampling.frequency: '0': expected a whole number from 1 to 10000");
	expect_error("sampling:\n  frequency: 10001\n" PYRO,
		     ":2: sampling.frequency: '10001': expected a whole number from 1 to 10000");
	expect_error("sampling:\n  frequency: -5\n" PYRO,
		     ":2: sampling.frequency: '-5': expected a whole number from 1 to 10000");
	expect_error("sampling:\n  stack_size: 1001\n" PYRO,
		     ":2: sampling.stack_size: '1001': expected a multiple of 8");
	expect_error("sampling:\n  stack_size: 65544\n" PYRO,
		     ":2: sampling.stack_size: '65544': expected a whole number from 512 to 65536");
	expect_error("sampling:\n  unwind: lbr\n" PYRO,
		     ":2: sampling.unwind: 'lbr': expected one of auto, fp, dwarf, kernel, copy");
	expect_error("sampling:\n  unwind_table_memory: 100KiB\n" PYRO,
		     ":2: sampling.unwind_table_memory: '100KiB': out of range, from 1MiB to 4GiB");
	expect_error("sampling:\n  cpus: \"3-1\"\n" PYRO,
		     ":2: sampling.cpus: '3-1': expected a CPU list like 0-3,8 (CPUs below 8192)");
	expect_error("log:\n  level: verbose\n" PYRO,
		     ":2: log.level: 'verbose': expected one of debug, info, warn, error");
	expect_error("labels:\n  sample_labels: [pid, tid]\n" PYRO,
		     ":2: labels.sample_labels[1]: 'tid': expected one of pid, comm, thread_name");
	expect_error("labels:\n  sample_labels: [pid, comm, pid]\n" PYRO,
		     ":2: labels.sample_labels[2]: 'pid' is listed twice");
	expect_error("symbols:\n  debuginfod_urls: \"http://a ftp://b\"\n" PYRO,
		     ":2: symbols.debuginfod_urls: 'ftp://b': expected a URL (http:// or https://)");

	/* Destinations. */
	expect_error("destinations:\n  - type: pyroscope\n    api: push\n",
		     ":2: destinations[0].url: required for a destination of type pyroscope "
		     "(http:// or https://)");
	expect_error(PYRO "  - type: file\n    max_size: 1GiB\n",
		     ":4: destinations[1].directory: required for a destination of type file");
	expect_error("destinations:\n  - url: http://a\n",
		     ":2: destinations[0].type: required: pyroscope, file, datadog or otlp");
	expect_error("destinations:\n  - type: kafka\n",
		     ":2: destinations[0].type: 'kafka': expected one of pyroscope, file, datadog, otlp");
	expect_error(PYRO "  - type: pyroscope\n    url: http://b\n",
		     ":4: destinations[1].name: duplicate destination name 'pyroscope' (also "
		     "destinations[0]; give each a name)");
	expect_error(PYRO "  - type: file\n    name: x\n    directory: /d\n"
			  "  - type: file\n    name: x\n    directory: /e\n",
		     ":7: destinations[2].name: duplicate destination name 'x' (also "
		     "destinations[1])");
	expect_error(PYRO "    name: Big\n",
		     ":4: destinations[0].name: 'Big': expected 1 to 64 of a-z, 0-9, _ and -");
	expect_error(PYRO "    directory: /d\n",
		     ":4: destinations[0].directory: only for destinations of type file");
	expect_error("destinations:\n  - type: file\n    directory: /d\n    url: http://a\n",
		     ":4: destinations[0].url: only for destinations of type pyroscope or datadog");
	expect_error("destinations:\n  - type: pyroscope\n    url: localhost:4040\n",
		     ":3: destinations[0].url: 'localhost:4040': expected a URL (http:// or https://)");
	expect_error("destinations:\n  - type: pyroscope\n    url: http://u:pw@host\n",
		     ":3: destinations[0].url: credentials in the URL are not supported (use "
		     "basic_auth, bearer_token_file or bearer_token_env)");
	expect_error("destinations:\n  - type: pyroscope\n    url: http://h:99999\n",
		     ":3: destinations[0].url: 'http://h:99999': bad port in the URL");
	expect_error("destinations:\n  - type: pyroscope\n    url: http:///x\n",
		     ":3: destinations[0].url: 'http:///x': the URL has no host");
	expect_error("destinations:\n  - type: pyroscope\n    url: http://h/p?x=1\n",
		     ":3: destinations[0].url: 'http://h/p?x=1': a base URL has no query, fragment, "
		     "spaces or non-ASCII characters");
	expect_error(PYRO "    api: grpc\n",
		     ":4: destinations[0].api: 'grpc': expected one of push, ingest");
	expect_error(PYRO "    timeout: 50ms\n",
		     ":4: destinations[0].timeout: '50ms': out of range, from 100ms to 10m");
	expect_error("destinations: []\n",
		     ":1: destinations: at least one destination is required (or give "
		     "--pyroscope-url or --output-dir)");

	/* Headers. */
	expect_error(PYRO "    headers:\n      \"Bad Name\": x\n",
		     ":5: destinations[0].headers.Bad Name: not a valid header name");
	expect_error(PYRO "    headers:\n      content-type: text/plain\n",
		     ":5: destinations[0].headers.content-type: set by ignis itself");
	expect_error(PYRO "    headers:\n      X-A: 1\n      x-a: 2\n",
		     ":6: destinations[0].headers.x-a: duplicate header (headers ignore case)");
	expect_error(PYRO "    headers:\n      X-A: \"${IGNIS_TEST_VAR}\"\n",
		     ":5: destinations[0].headers.X-A: environment variable IGNIS_TEST_VAR is not set");
	expect_error(PYRO "    headers:\n      X-A: \"${IGNIS_TEST_VAR\"\n",
		     ":5: destinations[0].headers.X-A: unterminated ${ (write $$ for a literal $)");
	setenv("IGNIS_TEST_VAR", "a\r\nInjected: 1", 1);
	expect_error(PYRO "    headers:\n      X-A: \"${IGNIS_TEST_VAR}\"\n",
		     ":5: destinations[0].headers.X-A: holds line breaks or control characters once "
		     "expanded");
	setenv("IGNIS_TEST_VAR", "", 1);
	expect_error(PYRO "    headers:\n      X-A: \"${IGNIS_TEST_VAR}\"\n",
		     ":5: destinations[0].headers.X-A: empty value");
	expect_error(PYRO "    headers:\n      X-A:\n",
		     ":5: destinations[0].headers.X-A: empty value");
	unsetenv("IGNIS_TEST_VAR");
	expect_error(PYRO "    tenant_id: t\n    headers:\n      X-Scope-OrgID: u\n",
		     ":2: destinations[0].headers.X-Scope-OrgID: already set by tenant_id");

	/* Secrets. */
	snprintf(secret, sizeof(secret), "%s/missing-secret", dir);
	snprintf(text, sizeof(text), PYRO "    basic_auth:\n      username: u\n"
					  "      password_file: %s\n", secret);
	{
		char want[2 * PATH_MAX];

		snprintf(want, sizeof(want), ":6: destinations[0].basic_auth.password_file: cannot "
					     "read %s: No such file or directory", secret);
		expect_error(text, want);
	}
	expect_error(PYRO "    basic_auth:\n      username: u\n      password_env: IGNIS_TEST_SECRET\n",
		     ":6: destinations[0].basic_auth.password_env: environment variable "
		     "IGNIS_TEST_SECRET is not set");
	expect_error(PYRO "    bearer_token_env: IGNIS_TEST_SECRET\n",
		     ":4: destinations[0].bearer_token_env: environment variable IGNIS_TEST_SECRET "
		     "is not set");
	setenv("IGNIS_TEST_EMPTY", "", 1);
	expect_error(PYRO "    bearer_token_env: IGNIS_TEST_EMPTY\n",
		     ":4: destinations[0].bearer_token_env: environment variable IGNIS_TEST_EMPTY "
		     "is empty");
	setenv("IGNIS_TEST_SECRET", "pw", 1);
	expect_error(PYRO "    basic_auth:\n      password_env: IGNIS_TEST_SECRET\n",
		     ":5: destinations[0].basic_auth.username: required with password_file or "
		     "password_env");
	expect_error(PYRO "    basic_auth:\n      username: u\n",
		     ":5: destinations[0].basic_auth: set password_file or password_env with the "
		     "username");
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	assert_int_equal(support__write_text(secret, "tok\n"), 0);
	snprintf(text, sizeof(text), PYRO "    bearer_token_env: IGNIS_TEST_SECRET\n"
					  "    bearer_token_file: %s\n", secret);
	expect_error(text, ":5: destinations[0].bearer_token_file: set one of bearer_token_file "
			   "and bearer_token_env, not both");
	expect_error(PYRO "    basic_auth:\n      username: u\n      password_env: IGNIS_TEST_SECRET\n"
			  "    bearer_token_env: IGNIS_TEST_SECRET\n",
		     ":7: destinations[0].bearer_token_env: basic_auth and a bearer token cannot "
		     "both be set");
	assert_int_equal(support__write_text(secret, "two\nlines\n"), 0);
	snprintf(text, sizeof(text), PYRO "    bearer_token_file: %s\n", secret);
	{
		char want[2 * PATH_MAX];

		snprintf(want, sizeof(want), ":4: destinations[0].bearer_token_file: %s holds more "
					     "than one line or control characters", secret);
		expect_error(text, want);
		assert_null(strstr(err, "lines"));   /* never the content */
	}

	expect_error(PYRO "    bearer_token_file: /dev/null\n",
		     ":4: destinations[0].bearer_token_file: cannot read /dev/null: not a regular file");

	/* Duplicate keys. */
	expect_error("host: a\nhost: b\n" PYRO, ":2: host: duplicate key (first at line 1)");
	expect_error("sampling:\n  unwind: fp\n  unwind: fp\n" PYRO,
		     ":3: sampling.unwind: duplicate key (first at line 2)");
}

/* Files that are not a mapping of settings. */
static void test_config_not_a_config(void **state)
{
	char missing[PATH_MAX], want[PATH_MAX + 64];
	struct config *c;

	(void)state;
	/* An empty file is an empty mapping: no destination. */
	expect_error("", ":1: destinations: at least one destination is required (or give "
			 "--pyroscope-url or --output-dir)");
	expect_error("# only a comment\n", ":1: destinations: at least one destination is "
					   "required (or give --pyroscope-url or --output-dir)");
	expect_error("- a\n- b\n", ":1: expected a mapping of settings at the top, got a list");
	expect_error("just text\n", ":1: expected a mapping of settings at the top, got a scalar");
	expect_error(PYRO "---\nhost: x\n",
		     ":4: more than one YAML document (---) in the file");
	expect_error_prefix("sampling:\n  frequency: [1\n" PYRO, ":3: not valid YAML: ");
	expect_error_prefix("host: a\n\tsampling: {}\n", ":2: not valid YAML: ");
	expect_error_prefix("host: \"a\xff\"\n", ":1: not valid YAML: ");
	expect_error("host: \"a\\0b\"\n" PYRO, ":1: host: contains a NUL character");
	expect_error("host: \"a\\tb\"\n" PYRO, ":1: host: 'a?b': expected printable UTF-8 text");

	snprintf(missing, sizeof(missing), "%s/nope.yaml", dir);
	c = config__load(missing, NULL, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", missing);
	assert_string_equal(err, want);
	c = config__load(dir, NULL, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s: is a directory", dir);
	assert_string_equal(err, want);

	/* No file and nothing on the command line. */
	c = config__load(NULL, NULL, err, sizeof(err));
	assert_null(c);
	assert_int_equal(errno, EINVAL);
	assert_string_equal(err, "no destination: give --config FILE, --pyroscope-url URL or "
				 "--output-dir DIR");

	/* Aliases are followed; a list that holds itself is just a wrong type. */
	expect_error("symbols:\n  debug_dirs: &a [*a]\n" PYRO,
		     ":2: symbols.debug_dirs[0]: expected a string, got a list");
	c = load_ok("symbols:\n  debug_dirs: [&d /x, *d]\n" PYRO, NULL);
	assert_int_equal(c->ndebug_dirs, 2);
	assert_string_equal(c->debug_dirs[1], "/x");
	config__free(c);
}

static void test_config_precedence(void **state)
{
	struct config_overrides ov = { 0 };
	const char *text = "sampling: {frequency: 50}\nupload_interval: 30s\nhost: file-host\n"
			   "log: {level: warn}\n" PYRO;
	struct config *c;

	(void)state;
	setenv("NODE_NAME", "node-name", 1);
	c = load_ok(text, NULL);
	assert_int_equal(c->frequency_hz, 50);
	assert_int_equal(c->upload_interval_ms, 30000);
	assert_string_equal(c->host, "file-host");
	assert_int_equal(c->log_level, CONFIG_LOG_WARN);
	config__free(c);

	setenv("IGNIS_FREQUENCY", "200", 1);
	setenv("IGNIS_UPLOAD_INTERVAL", "5s", 1);
	setenv("IGNIS_HOST", "env-host", 1);
	setenv("IGNIS_LOG_LEVEL", "error", 1);
	c = load_ok(text, NULL);
	assert_int_equal(c->frequency_hz, 200);
	assert_int_equal(c->upload_interval_ms, 5000);
	assert_string_equal(c->host, "env-host");
	assert_int_equal(c->log_level, CONFIG_LOG_ERROR);
	config__free(c);

	ov.frequency = "300";
	ov.upload_interval = "1m";
	ov.host = "flag-host";
	ov.log_level = "debug";
	c = load_ok(text, &ov);
	assert_int_equal(c->frequency_hz, 300);
	assert_int_equal(c->upload_interval_ms, 60000);
	assert_string_equal(c->host, "flag-host");
	assert_int_equal(c->log_level, CONFIG_LOG_DEBUG);
	config__free(c);

	/* An empty variable is not set. */
	setenv("IGNIS_FREQUENCY", "", 1);
	c = load_ok(text, NULL);
	assert_int_equal(c->frequency_hz, 50);
	config__free(c);

	/* Bad values name the variable or the flag. */
	setenv("IGNIS_FREQUENCY", "lots", 1);
	assert_null(load(text, NULL));
	assert_string_equal(err, "IGNIS_FREQUENCY: 'lots': expected a whole number from 1 to 10000");
	/* ... even when the flag would have replaced it. */
	assert_null(load(text, &ov));
	assert_string_equal(err, "IGNIS_FREQUENCY: 'lots': expected a whole number from 1 to 10000");
	unsetenv("IGNIS_FREQUENCY");
	ov = (struct config_overrides){ .upload_interval = "2h" };
	assert_null(load(text, &ov));
	assert_string_equal(err, "--upload-interval: '2h': out of range, from 1s to 1h");
	ov = (struct config_overrides){ .log_level = "loud" };
	assert_null(load(text, &ov));
	assert_string_equal(err, "--log-level: 'loud': expected one of debug, info, warn, error");
	ov = (struct config_overrides){ .host = "" };
	assert_null(load(text, &ov));
	assert_string_equal(err, "--host: empty value");
	setenv("IGNIS_HOST", "a\nb", 1);
	assert_null(load(text, NULL));
	assert_string_equal(err, "IGNIS_HOST: 'a?b': expected printable UTF-8 text");
}

static void test_config_destination_overrides(void **state)
{
	struct config_overrides ov = { 0 };
	struct config *c;

	(void)state;
	/* No file: destinations from flags and variables alone. */
	ov.pyroscope_url = "http://127.0.0.1:4040/";
	c = config__load(NULL, &ov, err, sizeof(err));
	if (!c)
		fail_msg("%s", err);
	assert_null(c->path);
	assert_int_equal(c->ndestinations, 1);
	assert_string_equal(c->destinations[0].name, "pyroscope");
	assert_string_equal(c->destinations[0].url, "http://127.0.0.1:4040");
	assert_int_equal(c->destinations[0].timeout_ms, 10000);
	assert_int_equal(c->destinations[0].queue_bytes, 64 * MiB);
	config__free(c);

	setenv("IGNIS_OUTPUT_DIR", "/tmp/env-out", 1);
	setenv("IGNIS_PYROSCOPE_URL", "http://env:4040", 1);
	c = config__load(NULL, &ov, err, sizeof(err));
	if (!c)
		fail_msg("%s", err);
	assert_int_equal(c->ndestinations, 2);
	/* The flag's URL replaced the variable's. */
	assert_string_equal(c->destinations[0].name, "pyroscope");
	assert_string_equal(c->destinations[0].url, "http://127.0.0.1:4040");
	assert_string_equal(c->destinations[1].name, "files");
	assert_int_equal(c->destinations[1].type, CONFIG_DEST_FILE);
	assert_string_equal(c->destinations[1].directory, "/tmp/env-out");
	assert_int_equal(c->destinations[1].max_bytes, GiB);
	config__free(c);
	unsetenv("IGNIS_PYROSCOPE_URL");
	unsetenv("IGNIS_OUTPUT_DIR");

	/* The file's "pyroscope" gets the flag's URL (and may leave it out);
	 * it keeps its other settings; other destinations stay. Added ones
	 * inherit labels.sample_labels. */
	ov = (struct config_overrides){ .pyroscope_url = "https://flag:443",
					.output_dir = "/tmp/flag-out" };
	c = load_ok("labels: {sample_labels: [comm]}\n"
		    "destinations:\n"
		    "  - type: pyroscope\n    tenant_id: t\n"
		    "  - type: pyroscope\n    name: other\n    url: http://other\n", &ov);
	assert_int_equal(c->ndestinations, 3);
	assert_string_equal(c->destinations[0].url, "https://flag:443");
	assert_string_equal(c->destinations[0].tenant_id, "t");
	assert_string_equal(c->destinations[1].url, "http://other");
	assert_string_equal(c->destinations[2].name, "files");
	assert_string_equal(c->destinations[2].directory, "/tmp/flag-out");
	assert_labels(c->destinations[2].sample_labels, c->destinations[2].nsample_labels, 1, "comm");
	config__free(c);

	/* A "files" destination of another type cannot take --output-dir. */
	ov = (struct config_overrides){ .output_dir = "/x" };
	assert_null(load("destinations:\n  - type: pyroscope\n    name: files\n    url: http://a\n",
			 &ov));
	assert_string_equal(err, "--output-dir: the destination named 'files' is of type "
				 "pyroscope, not file");
	ov = (struct config_overrides){ .pyroscope_url = "ftp://a" };
	assert_null(load(PYRO, &ov));
	assert_string_equal(err, "--pyroscope-url: 'ftp://a': expected a URL (http:// or https://)");
	/* A URL with credentials is not echoed. */
	ov = (struct config_overrides){ .pyroscope_url = "ftp://user:pw@a" };
	assert_null(load(PYRO, &ov));
	assert_null(strstr(err, "pw"));
}

static void test_config_secrets_redacted(void **state)
{
	char pw[PATH_MAX], text[3 * PATH_MAX], *out;
	struct config *c;

	(void)state;
	snprintf(pw, sizeof(pw), "%s/pw", dir);
	assert_int_equal(support__write_text(pw, "file-pass-XYZ\r\n"), 0);
	setenv("IGNIS_TEST_SECRET", "env-token-QRS", 1);
	setenv("IGNIS_TEST_VAR", "header-secret-LMN", 1);
	snprintf(text, sizeof(text),
		 "destinations:\n"
		 "  - type: pyroscope\n    url: http://a\n"
		 "    basic_auth: {username: me, password_file: %s}\n"
		 "    headers:\n"
		 "      X-Api-Key: literal-key-ABC\n"
		 "      X-From-Env: \"${IGNIS_TEST_VAR}\"\n"
		 "      X-Plain: visible\n"
		 "  - type: pyroscope\n    name: b\n    url: http://b\n"
		 "    bearer_token_env: IGNIS_TEST_SECRET\n", pw);
	c = load_ok(text, NULL);
	assert_string_equal(c->destinations[0].basic_password, "file-pass-XYZ");
	assert_string_equal(c->destinations[0].headers[1].value, "header-secret-LMN");
	assert_string_equal(c->destinations[1].bearer_token, "env-token-QRS");
	out = dump(c);
	assert_null(strstr(out, "file-pass-XYZ"));
	assert_null(strstr(out, "env-token-QRS"));
	assert_null(strstr(out, "header-secret-LMN"));
	assert_null(strstr(out, "literal-key-ABC"));
	assert_non_null(strstr(out, "# password: <redacted>"));
	assert_non_null(strstr(out, "# token: <redacted>"));
	assert_non_null(strstr(out, "\"X-Api-Key\": \"<redacted>\""));
	assert_non_null(strstr(out, "\"X-From-Env\": \"${IGNIS_TEST_VAR}\""));
	assert_non_null(strstr(out, "\"X-Plain\": \"visible\""));
	assert_non_null(strstr(out, "username: \"me\""));
	free(out);
	config__free(c);
}

/* The settings of issues 6-8 at their defaults. */
static void test_config_new_defaults(void **state)
{
	char host[HOST_NAME_MAX + 1] = { 0 };
	struct config *c;
	struct config_destination *p, *dd, *f;

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	c = load_ok(PYRO "  - type: datadog\n  - type: file\n    directory: /d\n", NULL);
	assert_int_equal(c->log_format, CONFIG_LOG_PLAIN);
	assert_string_equal(c->spool_dir, "/var/lib/ignis/spool");
	assert_int_equal(c->max_series, 10000);
	assert_string_equal(c->metrics_listen, "127.0.0.1:9464");
	assert_string_equal(c->metrics_host, "127.0.0.1");
	assert_int_equal(c->metrics_port, 9464);
	assert_int_equal(c->kubernetes.mode, CONFIG_K8S_AUTO);
	assert_false(c->kubernetes.enabled);   /* not in a pod */
	assert_string_equal(c->kubernetes.node_name, host);
	assert_null(c->kubernetes.api_url);
	assert_string_equal(c->kubernetes.token_file,
			    "/var/run/secrets/kubernetes.io/serviceaccount/token");
	assert_string_equal(c->kubernetes.ca_file,
			    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
	assert_null(c->kubernetes.kubelet_url);
	assert_false(c->kubernetes.insecure_skip_verify);
	assert_int_equal(c->kubernetes.resync_ms, 300000);
	assert_int_equal(c->kubernetes.max_pods, 1000);
	assert_int_equal(c->nrelabel, 0);
	/* 15 s and 60 s tick every 15 s. */
	assert_int_equal(c->tick_ms, 15000);

	p = &c->destinations[0];
	assert_int_equal(p->upload_interval_ms, 15000);
	assert_int_equal(p->sample_ppm, 1000000);
	assert_int_equal(p->max_age_ms, 3600000);
	assert_true(p->spool_enabled);
	assert_string_equal(p->spool_dir, "/var/lib/ignis/spool/pyroscope");
	assert_int_equal(p->spool_max_bytes, GiB);
	assert_true(p->default_tag_rules);
	assert_int_equal(p->ntag_rules, 0);

	dd = &c->destinations[1];
	assert_string_equal(dd->name, "datadog");
	assert_int_equal(dd->type, CONFIG_DEST_DATADOG);
	assert_string_equal(dd->url, "http://localhost:8126/profiling/v1/input");
	assert_false(dd->agentless);
	assert_string_equal(dd->site, "datadoghq.com");
	assert_null(dd->api_key);
	assert_int_equal(dd->compression, CONFIG_COMPRESS_ZSTD);
	assert_int_equal(dd->ntags, 0);
	assert_int_equal(dd->upload_interval_ms, 60000);
	assert_int_equal(dd->sample_ppm, 1000000);
	assert_int_equal(dd->max_age_ms, 3600000);
	assert_true(dd->spool_enabled);
	assert_string_equal(dd->spool_dir, "/var/lib/ignis/spool/datadog");
	assert_int_equal(dd->queue_bytes, 64 * MiB);
	assert_int_equal(dd->timeout_ms, 10000);
	assert_true(dd->default_tag_rules);

	f = &c->destinations[2];
	assert_int_equal(f->upload_interval_ms, 15000);
	assert_int_equal(f->max_age_ms, 0);
	assert_false(f->spool_enabled);
	assert_null(f->spool_dir);
	config__free(c);

	/* A flag's upload interval is every non-Datadog destination's default. */
	{
		struct config_overrides ov = { .upload_interval = "20s" };

		c = load_ok(PYRO "  - type: datadog\n", &ov);
		assert_int_equal(c->destinations[0].upload_interval_ms, 20000);
		assert_int_equal(c->destinations[1].upload_interval_ms, 60000);
		assert_int_equal(c->tick_ms, 20000);
		config__free(c);
	}
}

static void test_config_new_values(void **state)
{
	char key_path[PATH_MAX], text[8 * PATH_MAX], *out, *out2;
	struct config *c, *again;
	struct config_destination *dd, *p;
	const struct tag_rule *r;

	(void)state;
	snprintf(key_path, sizeof(key_path), "%s/dd-key", dir);
	assert_int_equal(support__write_text(key_path, "dd-key-SECRET-123\n"), 0);
	snprintf(text, sizeof(text),
		 "log: {level: info, format: json}\n"
		 "spool_dir: /var/spool/x\n"
		 "max_series: 1000000\n"
		 "metrics: {listen: \"[::1]:9100\"}\n"
		 "kubernetes:\n"
		 "  enabled: true\n"
		 "  node_name: node-9\n"
		 "  api_url: https://10.0.0.1:6443/\n"
		 "  token_file: /t\n"
		 "  ca_file: /ca\n"
		 "  kubelet_url: https://127.0.0.1:10250\n"
		 "  insecure_skip_verify: true\n"
		 "  resync: 10s\n"
		 "  max_pods: 5\n"
		 "relabel_configs:\n"
		 "  - source_labels: [__meta_kubernetes_namespace]\n"
		 "    regex: shop|pay.*\n"
		 "    action: keep\n"
		 "  - source_labels: [a, b]\n"
		 "    separator: \"\"\n"
		 "    target_label: ab\n"
		 "    replacement: \"${1}x\"\n"
		 "  - regex: __meta_kubernetes_pod_label_(.+)\n"
		 "    action: labelmap\n"
		 "  - regex: tmp_.*\n"
		 "    action: labeldrop\n"
		 "destinations:\n"
		 "  - type: datadog\n"
		 "    name: dd-eu\n"
		 "    agentless: true\n"
		 "    site: datadoghq.eu\n"
		 "    api_key_file: %s\n"
		 "    compression: gzip\n"
		 "    tags: {team: payments, \"owner.org\": \"a/b:c\"}\n"
		 "    upload_interval: 2m\n"
		 "    sample_fraction: 0.25\n"
		 "    max_age: 30m\n"
		 "    spool: {enabled: false, directory: /s, max_size: 10MiB}\n"
		 "    queue_size: 2MiB\n"
		 "    sample_labels: [pid, tid, container_id]\n"
		 "    default_tag_rules: false\n"
		 "    tag_rules:\n"
		 "      - rename: {from: git_sha, to: version}\n"
		 "      - drop: pod_uid\n"
		 "      - set: {key: team, value: payments}\n"
		 "      - split: {source: env, separator: \"-\", targets: [env, region]}\n"
		 "  - type: pyroscope\n"
		 "    url: http://p:4040\n"
		 "    upload_interval: 30s\n"
		 "    sample_fraction: 1.0\n",
		 key_path);
	c = load_ok(text, NULL);
	assert_int_equal(c->log_format, CONFIG_LOG_JSON);
	assert_string_equal(c->spool_dir, "/var/spool/x");
	assert_int_equal(c->max_series, 1000000);
	assert_string_equal(c->metrics_listen, "[::1]:9100");
	assert_string_equal(c->metrics_host, "::1");
	assert_int_equal(c->metrics_port, 9100);
	assert_int_equal(c->kubernetes.mode, CONFIG_K8S_ON);
	assert_true(c->kubernetes.enabled);
	assert_string_equal(c->kubernetes.node_name, "node-9");
	assert_string_equal(c->kubernetes.api_url, "https://10.0.0.1:6443");
	assert_string_equal(c->kubernetes.token_file, "/t");
	assert_string_equal(c->kubernetes.ca_file, "/ca");
	assert_string_equal(c->kubernetes.kubelet_url, "https://127.0.0.1:10250");
	assert_true(c->kubernetes.insecure_skip_verify);
	assert_int_equal(c->kubernetes.resync_ms, 10000);
	assert_int_equal(c->kubernetes.max_pods, 5);

	assert_int_equal(c->nrelabel, 4);
	assert_int_equal(c->relabel[0].action, RELABEL_KEEP);
	assert_int_equal(c->relabel[0].nsource_labels, 1);
	assert_string_equal(c->relabel[0].source_labels[0], "__meta_kubernetes_namespace");
	assert_string_equal(c->relabel[0].regex, "shop|pay.*");
	assert_null(c->relabel[0].separator);   /* default ";" */
	assert_null(c->relabel[0].replacement);   /* default "$1" */
	assert_int_equal(c->relabel[1].action, RELABEL_REPLACE);
	assert_string_equal(c->relabel[1].separator, "");
	assert_string_equal(c->relabel[1].target_label, "ab");
	assert_string_equal(c->relabel[1].replacement, "${1}x");
	assert_null(c->relabel[1].regex);
	assert_int_equal(c->relabel[2].action, RELABEL_LABELMAP);
	assert_int_equal(c->relabel[3].action, RELABEL_LABELDROP);

	assert_int_equal(c->tick_ms, 30000);
	dd = &c->destinations[0];
	assert_string_equal(dd->name, "dd-eu");
	assert_true(dd->agentless);
	assert_string_equal(dd->site, "datadoghq.eu");
	assert_string_equal(dd->url, "https://intake.profile.datadoghq.eu/api/v2/profile");
	assert_string_equal(dd->api_key, "dd-key-SECRET-123");
	assert_string_equal(dd->api_key_file, key_path);
	assert_int_equal(dd->compression, CONFIG_COMPRESS_GZIP);
	assert_int_equal(dd->ntags, 2);
	assert_string_equal(dd->tags[0].key, "team");
	assert_string_equal(dd->tags[0].value, "payments");
	assert_string_equal(dd->tags[1].key, "owner.org");
	assert_string_equal(dd->tags[1].value, "a/b:c");
	assert_int_equal(dd->upload_interval_ms, 120000);
	assert_int_equal(dd->sample_ppm, 250000);
	assert_int_equal(dd->max_age_ms, 1800000);
	assert_false(dd->spool_enabled);
	assert_string_equal(dd->spool_dir, "/s");
	assert_int_equal(dd->spool_max_bytes, 10 * MiB);
	assert_int_equal(dd->queue_bytes, 2 * MiB);
	assert_labels(dd->sample_labels, dd->nsample_labels, 3, "pid", "tid", "container_id");
	assert_false(dd->default_tag_rules);
	assert_int_equal(dd->ntag_rules, 4);
	r = dd->tag_rules;
	assert_int_equal(r[0].kind, TAG_RENAME);
	assert_string_equal(r[0].from, "git_sha");
	assert_string_equal(r[0].to, "version");
	assert_int_equal(r[1].kind, TAG_DROP);
	assert_string_equal(r[1].key, "pod_uid");
	assert_int_equal(r[2].kind, TAG_SET);
	assert_string_equal(r[2].key, "team");
	assert_string_equal(r[2].value, "payments");
	assert_int_equal(r[3].kind, TAG_SPLIT);
	assert_string_equal(r[3].source, "env");
	assert_string_equal(r[3].separator, "-");
	assert_int_equal(r[3].ntargets, 2);
	assert_string_equal(r[3].targets[0], "env");
	assert_string_equal(r[3].targets[1], "region");
	/* The config's rules are what tagmap takes. */
	{
		struct tagmap *m = tagmap__new(NULL, 0, dd->tag_rules, dd->ntag_rules);

		assert_non_null(m);
		tagmap__free(m);
	}

	p = &c->destinations[1];
	assert_int_equal(p->upload_interval_ms, 30000);
	assert_int_equal(p->sample_ppm, 1000000);
	assert_string_equal(p->spool_dir, "/var/spool/x/pyroscope");

	/* The dump hides the key, and loads back into the same configuration. */
	out = dump(c);
	assert_null(strstr(out, "dd-key-SECRET-123"));
	assert_non_null(strstr(out, "# api key: <redacted>"));
	assert_int_equal(support__write_text(path, out), 0);
	again = config__load(path, NULL, err, sizeof(err));
	if (!again)
		fail_msg("the dump does not load: %s\n%s", err, out);
	out2 = dump(again);
	assert_string_equal(strchr(out, '\n'), strchr(out2, '\n'));
	assert_string_equal(again->destinations[0].api_key, "dd-key-SECRET-123");
	assert_string_equal(again->destinations[0].url, dd->url);
	free(out);
	free(out2);
	config__free(again);
	config__free(c);
}

/* Datadog's defaults from the variables its own clients read. */
static void test_config_datadog_env(void **state)
{
	struct config_overrides ov = { 0 };
	struct config *c;
	char *out;

	(void)state;
	setenv("DD_AGENT_HOST", "dd-agent.local", 1);
	setenv("DD_TRACE_AGENT_PORT", "18126", 1);
	c = load_ok("destinations:\n  - type: datadog\n", NULL);
	assert_string_equal(c->destinations[0].url, "http://dd-agent.local:18126/profiling/v1/input");
	config__free(c);
	setenv("DD_AGENT_HOST", "fd00::1", 1);
	c = load_ok("destinations:\n  - type: datadog\n", NULL);
	assert_string_equal(c->destinations[0].url, "http://[fd00::1]:18126/profiling/v1/input");
	config__free(c);
	/* DD_TRACE_AGENT_URL wins over host and port. */
	setenv("DD_TRACE_AGENT_URL", "http://10.1.2.3:9126/", 1);
	c = load_ok("destinations:\n  - type: datadog\n", NULL);
	assert_string_equal(c->destinations[0].url, "http://10.1.2.3:9126/profiling/v1/input");
	config__free(c);
	/* The file's url wins over all of them; a full intake URL is kept. */
	c = load_ok("destinations:\n  - type: datadog\n    url: http://127.0.0.1:1/profiling/v1/input\n",
		    NULL);
	assert_string_equal(c->destinations[0].url, "http://127.0.0.1:1/profiling/v1/input");
	config__free(c);
	unsetenv("DD_TRACE_AGENT_URL");
	unsetenv("DD_AGENT_HOST");
	unsetenv("DD_TRACE_AGENT_PORT");

	/* Agentless: site and key from DD_SITE and DD_API_KEY; tests point
	 * url at a local intake. */
	setenv("DD_SITE", "us5.datadoghq.com", 1);
	setenv("DD_API_KEY", "env-key-XYZ", 1);
	c = load_ok("destinations:\n  - type: datadog\n    agentless: true\n", NULL);
	assert_string_equal(c->destinations[0].site, "us5.datadoghq.com");
	assert_string_equal(c->destinations[0].url,
			    "https://intake.profile.us5.datadoghq.com/api/v2/profile");
	assert_string_equal(c->destinations[0].api_key, "env-key-XYZ");
	assert_string_equal(c->destinations[0].api_key_env, "DD_API_KEY");
	out = dump(c);
	assert_null(strstr(out, "env-key-XYZ"));
	assert_non_null(strstr(out, "api_key_env: \"DD_API_KEY\"   # api key: <redacted>"));
	free(out);
	config__free(c);
	c = load_ok("destinations:\n  - type: datadog\n    agentless: true\n"
		    "    url: http://127.0.0.1:8999\n", NULL);
	assert_string_equal(c->destinations[0].url, "http://127.0.0.1:8999/api/v2/profile");
	config__free(c);
	(void)ov;

	/* Errors name the variable. */
	setenv("DD_SITE", "bad site", 1);
	assert_null(load("destinations:\n  - type: datadog\n", NULL));
	assert_string_equal(err, "DD_SITE: 'bad site': expected a Datadog site host name like "
				 "datadoghq.com");
	unsetenv("DD_SITE");
	setenv("DD_TRACE_AGENT_PORT", "0", 1);
	assert_null(load("destinations:\n  - type: datadog\n", NULL));
	assert_string_equal(err, "DD_TRACE_AGENT_PORT: '0': expected a whole number from 1 to 65535");
	unsetenv("DD_TRACE_AGENT_PORT");
	setenv("DD_TRACE_AGENT_URL", "unix:///var/run/datadog/apm.socket", 1);
	assert_null(load("destinations:\n  - type: datadog\n", NULL));
	assert_string_equal(err, "DD_TRACE_AGENT_URL: 'unix:///var/run/datadog/apm.socket': expected "
				 "a URL (http:// or https://)");
	unsetenv("DD_TRACE_AGENT_URL");
	unsetenv("DD_API_KEY");
	expect_error("destinations:\n  - type: datadog\n    agentless: true\n",
		     ":3: destinations[0].agentless: true needs an API key: set api_key_file or "
		     "api_key_env, or the DD_API_KEY environment variable");
	setenv("DD_API_KEY", "", 1);
	expect_error("destinations:\n  - type: datadog\n    agentless: true\n",
		     ":3: destinations[0].agentless: environment variable DD_API_KEY is empty");
	setenv("IGNIS_TEST_SECRET", "k", 1);
	expect_error("destinations:\n  - type: datadog\n    api_key_env: IGNIS_TEST_SECRET\n",
		     ":3: destinations[0].api_key_env: only with agentless: true (a Datadog Agent "
		     "adds its own key)");
	expect_error("destinations:\n  - type: datadog\n    agentless: true\n"
		     "    api_key_env: IGNIS_TEST_SECRET\n    api_key_file: /x\n",
		     ":5: destinations[0].api_key_file: set one of api_key_file and api_key_env, "
		     "not both");
	expect_error("destinations:\n  - type: datadog\n    agentless: true\n"
		     "    api_key_env: IGNIS_TEST_MISSING\n",
		     ":4: destinations[0].api_key_env: environment variable IGNIS_TEST_MISSING is "
		     "not set");
}

static void test_config_new_errors(void **state)
{
	(void)state;
	/* Top level. */
	expect_error("max_series: 0\n" PYRO,
		     ":1: max_series: '0': expected a whole number from 1 to 1000000");
	expect_error("log: {format: xml}\n" PYRO,
		     ":1: log.format: 'xml': expected one of plain, json");
	expect_error("metrics: {listen: 9464}\n" PYRO,
		     ":1: metrics.listen: '9464': expected HOST:PORT like 127.0.0.1:9464 or "
		     "[::1]:9464, or off");
	expect_error("metrics: {listen: \"0.0.0.0:70000\"}\n" PYRO,
		     ":1: metrics.listen: '0.0.0.0:70000': the port must be from 1 to 65535");
	expect_error("metrics: {listen: \"[::1:9464\"}\n" PYRO,
		     ":1: metrics.listen: '[::1:9464': expected HOST:PORT like 127.0.0.1:9464 or "
		     "[::1]:9464, or off");
	expect_error("metrics: {port: 1}\n" PYRO,
		     ":1: metrics.port: unknown key (expected one of: listen)");
	expect_error("kubernetes:\n  enabled: yes\n" PYRO,
		     ":2: kubernetes.enabled: 'yes': expected one of auto, true, false");
	expect_error("kubernetes:\n  enabled: true\n" PYRO,
		     ":2: kubernetes.enabled: true, but there is no way to reach Kubernetes: set "
		     "api_url or kubelet_url (KUBERNETES_SERVICE_HOST is not set: not in a pod?)");
	expect_error("kubernetes:\n  resync: 5s\n" PYRO,
		     ":2: kubernetes.resync: '5s': out of range, from 10s to 24h");
	expect_error("kubernetes:\n  api_url: ftp://x\n" PYRO,
		     ":2: kubernetes.api_url: 'ftp://x': expected a URL (http:// or https://)");
	expect_error("kubernetes:\n  max_pods: 0\n" PYRO,
		     ":2: kubernetes.max_pods: '0': expected a whole number from 1 to 100000");

	/* relabel_configs. */
	expect_error("relabel_configs:\n  - source_labels: [a]\n    regex: ok\n    action: keep\n"
		     "  - source_labels: [a]\n    regex: \"(x\"\n  - source_labels: [a]\n"
		     "    regex: \"a)\"\n" PYRO,
		     ":6: relabel_configs[1].regex: missing closing parenthesis at offset 2");
	expect_error("relabel_configs:\n  - {source_labels: [a], target_label: b}\n"
		     "  - {source_labels: [a], target_label: b}\n"
		     "  - {source_labels: [a], regex: \"[z-a]\", target_label: b}\n" PYRO,
		     ":4: relabel_configs[2].regex: range out of order in character class at "
		     "offset 3");
	expect_error("relabel_configs:\n  - source_labels: [a]\n" PYRO,
		     ":2: relabel_configs[0].target_label: required for action replace");
	expect_error("relabel_configs:\n  - source_labels: [a]\n    action: labelmap\n" PYRO,
		     ":2: relabel_configs[0].source_labels: not used by action labelmap");
	expect_error("relabel_configs:\n  - {regex: x, action: labeldrop, target_label: y}\n" PYRO,
		     ":2: relabel_configs[0].target_label: not used by action labeldrop");
	expect_error("relabel_configs:\n  - {source_labels: [a], action: keep, replacement: y}\n" PYRO,
		     ":2: relabel_configs[0].replacement: not used by action keep");
	expect_error("relabel_configs:\n  - {source_labels: [a], action: hashmod}\n" PYRO,
		     ":2: relabel_configs[0].action: 'hashmod': expected one of replace, keep, drop, "
		     "labelmap, labeldrop, labelkeep");
	expect_error("relabel_configs:\n  - {source_labels: [a-b], target_label: c}\n" PYRO,
		     ":2: relabel_configs[0].source_labels[0]: 'a-b': expected a label name "
		     "([a-zA-Z_][a-zA-Z0-9_]*)");
	expect_error("relabel_configs:\n  - {source_labels: [a], target_label: c, modulus: 2}\n" PYRO,
		     ":2: relabel_configs[0].modulus: unknown key (expected one of: source_labels, "
		     "separator, regex, target_label, replacement, action)");
	expect_error("relabel_configs: {a: 1}\n" PYRO,
		     ":1: relabel_configs: expected a list of rules, got a mapping");
	{
		char text[300 * 40 + 200];
		size_t n = 0;

		n += snprintf(text + n, sizeof(text) - n, "relabel_configs:\n");
		for (int i = 0; i < 257; i++)
			n += snprintf(text + n, sizeof(text) - n, "  - {regex: x, action: labeldrop}\n");
		snprintf(text + n, sizeof(text) - n, PYRO);
		expect_error(text, ":2: relabel_configs: more than 256 rules");
	}

	/* Per-destination keys. */
	expect_error(PYRO "    sample_fraction: 0\n",
		     ":4: destinations[0].sample_fraction: '0': expected a fraction above 0 and at "
		     "most 1, like 0.5 (up to six decimals)");
	expect_error(PYRO "    sample_fraction: 1.5\n",
		     ":4: destinations[0].sample_fraction: '1.5': expected a fraction above 0 and at "
		     "most 1, like 0.5 (up to six decimals)");
	expect_error(PYRO "    upload_interval: 500ms\n",
		     ":4: destinations[0].upload_interval: '500ms': out of range, from 1s to 1h");
	expect_error("destinations:\n  - type: file\n    directory: /d\n    spool: {enabled: true}\n",
		     ":4: destinations[0].spool: only for destinations of type pyroscope or datadog "
		     "or otlp");
	expect_error(PYRO "    spool: {dir: /x}\n",
		     ":4: destinations[0].spool.dir: unknown key (expected one of: enabled, "
		     "directory, max_size)");
	expect_error(PYRO "    agentless: true\n",
		     ":4: destinations[0].agentless: only for destinations of type datadog");
	expect_error("destinations:\n  - type: datadog\n    api: push\n",
		     ":3: destinations[0].api: only for destinations of type pyroscope");
	expect_error("destinations:\n  - type: datadog\n    site: \"-x.com\"\n",
		     ":3: destinations[0].site: '-x.com': expected a Datadog site host name like "
		     "datadoghq.com or datadoghq.eu");
	expect_error("destinations:\n  - type: datadog\n    compression: lz4\n",
		     ":3: destinations[0].compression: 'lz4': expected one of zstd, gzip");
	expect_error("destinations:\n  - type: datadog\n    tags: {1x: a}\n",
		     ":3: destinations[0].tags.1x: not a valid Datadog tag name (a letter, then "
		     "letters, digits, _ - . / \\)");
	expect_error("destinations:\n  - type: datadog\n    tags: {a: \"b c\"}\n",
		     ":3: destinations[0].tags.a: 'b c': not a valid Datadog tag value (letters, "
		     "digits, _ - : . / \\, not ending with :)");
	expect_error("destinations:\n  - type: datadog\n    tags: {a: x, A: y}\n",
		     ":3: destinations[0].tags.A: duplicate tag (Datadog ignores case)");
	expect_error("destinations:\n  - type: datadog\n    headers: {DD-API-KEY: x}\n",
		     ":3: destinations[0].headers.DD-API-KEY: set by ignis itself");
	expect_error(PYRO "    sample_labels: [tid]\n",
		     ":4: destinations[0].sample_labels[0]: 'tid': expected one of pid, comm, "
		     "thread_name");
	expect_error("destinations:\n  - type: datadog\n    sample_labels: [pod]\n",
		     ":3: destinations[0].sample_labels[0]: 'pod': expected one of pid, comm, "
		     "thread_name, container_id, tid");

	/* tag_rules: errors name the index. */
	expect_error(PYRO "  - type: file\n    directory: /d\n    tag_rules:\n"
			  "      - split: {source: env, separator: \"-\", targets: [env]}\n",
		     ":7: destinations[1].tag_rules[0].split.targets: must list 2..8 labels");
	expect_error(PYRO "    tag_rules:\n      - drop: a\n      - {drop: a, set: {key: b, value: c}}\n",
		     ":6: destinations[0].tag_rules[1]: expected a mapping with one key: rename, "
		     "drop, set or split");
	expect_error(PYRO "    tag_rules:\n      - copy: {from: a, to: b}\n",
		     ":5: destinations[0].tag_rules[0].copy: unknown key (expected one of: rename, "
		     "drop, set, split)");
	expect_error(PYRO "    tag_rules:\n      - rename: {from: a}\n",
		     ":5: destinations[0].tag_rules[0].rename.to: required");
	expect_error(PYRO "    tag_rules:\n      - rename: {from: a, to: \"x y\"}\n",
		     ":5: destinations[0].tag_rules[0].rename.to: 'x y': expected a label name (a "
		     "letter or _, then letters, digits, _ . - /; at most 200 bytes; not starting "
		     "with __)");
	expect_error(PYRO "    tag_rules:\n      - set: {key: __name__, value: x}\n",
		     ":5: destinations[0].tag_rules[0].set.key: '__name__': expected a label name (a "
		     "letter or _, then letters, digits, _ . - /; at most 200 bytes; not starting "
		     "with __)");
	expect_error(PYRO "    tag_rules:\n      - set: {key: a}\n",
		     ":5: destinations[0].tag_rules[0].set.value: required");
	expect_error(PYRO "    tag_rules:\n      - split: {source: a, targets: [b, c]}\n",
		     ":5: destinations[0].tag_rules[0].split.separator: required");
	expect_error(PYRO "    tag_rules:\n      - split: {source: a, separator: \"-\", "
			  "targets: [b, b]}\n",
		     ":5: destinations[0].tag_rules[0].split.targets[1]: 'b' is listed twice");
	expect_error(PYRO "    tag_rules:\n      - drop:\n",
		     ":5: destinations[0].tag_rules[0].drop: expected a label name");

	/* The tick: intervals whose GCD is under 1 s. */
	expect_error(PYRO "    upload_interval: 1500ms\n  - type: datadog\n    name: dd\n"
			  "    upload_interval: 2s\n",
		     ":7: destinations[1].upload_interval: 2s here and 1500ms for the destinations "
		     "before it tick the agent every 500ms (their greatest common divisor); it must "
		     "be at least 1s: pick intervals that are multiples of a whole second");
	{
		struct config *c = load_ok(PYRO "    upload_interval: 1500ms\n  - type: datadog\n"
					   "    upload_interval: 3s\n", NULL);

		assert_int_equal(c->tick_ms, 1500);
		config__free(c);
	}

	/* Flags and variables for the log format. */
	{
		struct config_overrides ov = { .log_format = "json" };
		struct config *c;

		setenv("IGNIS_LOG_FORMAT", "plain", 1);
		c = load_ok("log: {format: json}\n" PYRO, NULL);
		assert_int_equal(c->log_format, CONFIG_LOG_PLAIN);
		config__free(c);
		c = load_ok(PYRO, &ov);
		assert_int_equal(c->log_format, CONFIG_LOG_JSON);
		config__free(c);
		ov.log_format = "yaml";
		assert_null(load(PYRO, &ov));
		assert_string_equal(err, "--log-format: 'yaml': expected one of plain, json");
	}
}

static void test_config_kubernetes_env(void **state)
{
	struct config *c;

	(void)state;
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("NODE_NAME", "worker-3", 1);
	c = load_ok(PYRO, NULL);
	assert_true(c->kubernetes.enabled);
	assert_string_equal(c->kubernetes.api_url, "https://10.96.0.1:443");
	assert_string_equal(c->kubernetes.node_name, "worker-3");
	config__free(c);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	c = load_ok("kubernetes: {enabled: true}\n" PYRO, NULL);
	assert_string_equal(c->kubernetes.api_url, "https://[fd00::1]:6443");
	config__free(c);
	/* enabled: false wins over the environment. */
	c = load_ok("kubernetes: {enabled: false}\n" PYRO, NULL);
	assert_false(c->kubernetes.enabled);
	config__free(c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("NODE_NAME");
	/* Without the variable, enabled: true needs a URL of its own. */
	c = load_ok("host: h1\nkubernetes: {enabled: true, kubelet_url: \"https://127.0.0.1:10250\"}\n"
		    PYRO, NULL);
	assert_true(c->kubernetes.enabled);
	assert_null(c->kubernetes.api_url);
	assert_string_equal(c->kubernetes.node_name, "h1");   /* the host setting */
	config__free(c);
	/* metrics off. */
	c = load_ok("metrics: {listen: \"\"}\n" PYRO, NULL);
	assert_null(c->metrics_listen);
	config__free(c);
	c = load_ok("metrics: {listen: \"off\"}\n" PYRO, NULL);
	assert_null(c->metrics_listen);
	assert_int_equal(c->metrics_port, 0);
	config__free(c);
	c = load_ok("metrics: {listen: \"0.0.0.0:1\"}\n" PYRO, NULL);
	assert_string_equal(c->metrics_host, "0.0.0.0");
	assert_int_equal(c->metrics_port, 1);
	config__free(c);
}

/* The otlp type: its rows (endpoint, path, compression) and the HTTP ones. */
static void test_config_otlp(void **state)
{
	struct config *c;
	const struct config_destination *d;

	(void)state;
	c = load_ok("destinations:\n  - type: otlp\n    endpoint: http://collector:4318/\n"
		    "    headers: {X-Key: abc}\n    sample_labels: [pid, tid]\n", NULL);
	d = &c->destinations[0];
	assert_int_equal(d->type, CONFIG_DEST_OTLP);
	assert_string_equal(d->name, "otlp");
	assert_string_equal(d->url, "http://collector:4318");
	assert_string_equal(d->otlp_path, "/v1development/profiles");
	assert_int_equal(d->otlp_compression, CONFIG_OTLP_GZIP);
	assert_int_equal(d->otlp_max_request_bytes, 64 << 20);
	assert_true(d->spool_enabled);
	assert_non_null(strstr(d->spool_dir, "/otlp"));
	assert_int_equal(d->nheaders, 1);
	assert_int_equal(d->nsample_labels, 2);
	assert_string_equal(d->sample_labels[1], "tid");
	config__free(c);
	c = load_ok("destinations:\n  - type: otlp\n    endpoint: https://otlp.example.com/otlp\n"
		    "    path: /v1/profiles\n    compression: none\n    max_request_size: 4MiB\n", NULL);
	d = &c->destinations[0];
	assert_string_equal(d->url, "https://otlp.example.com/otlp");
	assert_string_equal(d->otlp_path, "/v1/profiles");
	assert_int_equal(d->otlp_compression, CONFIG_OTLP_NONE);
	assert_int_equal(d->otlp_max_request_bytes, 4 << 20);
	config__free(c);
	expect_error("destinations:\n  - type: otlp\n    endpoint: http://c\n    max_request_size: 1KiB\n",
		     ":4: destinations[0].max_request_size: '1KiB': out of range, from 64KiB to 1GiB");
	expect_error("destinations:\n  - type: otlp\n",
		     ":2: destinations[0].endpoint: required for a destination of type otlp (the "
		     "receiver's http:// or https:// base URL, e.g. http://collector:4318)");
	expect_error("destinations:\n  - type: otlp\n    endpoint: collector:4318\n",
		     ":3: destinations[0].endpoint: 'collector:4318': expected a URL (http:// or "
		     "https://)");
	expect_error("destinations:\n  - type: otlp\n    endpoint: http://c\n    path: v1/x\n",
		     ":4: destinations[0].path: a URL path: starts with '/', no blanks, query or "
		     "fragment");
	expect_error("destinations:\n  - type: otlp\n    endpoint: http://c\n    path: /p?x=1\n",
		     ":4: destinations[0].path: a URL path: starts with '/', no blanks, query or "
		     "fragment");
	expect_error("destinations:\n  - type: otlp\n    endpoint: http://c\n    compression: zstd\n",
		     ":4: destinations[0].compression: 'zstd': expected one of gzip, none");
	expect_error("destinations:\n  - type: otlp\n    endpoint: http://c\n    url: http://c\n",
		     ":4: destinations[0].url: only for destinations of type pyroscope or datadog");
	expect_error("destinations:\n  - type: otlp\n    endpoint: http://c\n"
		     "    headers: {Content-Encoding: zstd}\n",
		     ":4: destinations[0].headers.Content-Encoding: set by ignis itself");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_config_defaults, clean_env),
		cmocka_unit_test_setup(test_config_example_is_defaults, clean_env),
		cmocka_unit_test_setup(test_config_values, clean_env),
		cmocka_unit_test_setup(test_config_durations_sizes, clean_env),
		cmocka_unit_test_setup(test_config_errors, clean_env),
		cmocka_unit_test_setup(test_config_not_a_config, clean_env),
		cmocka_unit_test_setup(test_config_precedence, clean_env),
		cmocka_unit_test_setup(test_config_destination_overrides, clean_env),
		cmocka_unit_test_setup(test_config_secrets_redacted, clean_env),
		cmocka_unit_test_setup(test_config_new_defaults, clean_env),
		cmocka_unit_test_setup(test_config_new_values, clean_env),
		cmocka_unit_test_setup(test_config_datadog_env, clean_env),
		cmocka_unit_test_setup(test_config_new_errors, clean_env),
		cmocka_unit_test_setup(test_config_kubernetes_env, clean_env),
		cmocka_unit_test_setup(test_config_otlp, clean_env),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
