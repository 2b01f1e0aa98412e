#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/array.h"
#include "base/file.h"
#include "base/log.h"
#include "base/schema.h"
#include "agent/metrics.h"
#include "base/utf8.h"

#define DEFAULT_LISTEN "127.0.0.1:9464"
#define MAX_FAMILIES   1024
/* A scrape is one or two connections; a few more for probes arriving at
 * once. Anything beyond waits in the backlog rather than costing memory. */
#define CONN_LIMIT     16
#define CONN_TIMEOUT_S 10
#define CONTENT_TYPE   "text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct MHD_Daemon *daemon;
	int fd;
	int port;
	metrics_collect_fn collect;
	metrics_health_fn healthy;
	void *ctx;
};

struct metrics_writer {
	char *buf;
	size_t len, cap;
	int err;
	char *family;                    /* the one written last */
	char *families[MAX_FAMILIES];    /* every family written, to refuse a repeat */
	size_t nfamilies;
};

/* ---- the writer -------------------------------------------------------- */

static void fail(struct metrics_writer *w, int err, const char *what, const char *name)
{
	if (!w->err)
		w->err = err;
	if (err == -EINVAL)
		pr_warn_ratelimited("metrics: %s '%s' dropped\n", what, name ? name : "(null)");
}

static void put(struct metrics_writer *w, const char *s, size_t n)
{
	if (w->err == -ENOMEM || w->err == -E2BIG)
		return;
	if (w->len + n + 1 > METRICS_MAX_BYTES) {
		fail(w, -E2BIG, "rendering", "too large");
		return;
	}
	if (ARRAY_RESERVE_FROM(w->buf, &w->cap, w->len + n + 1, 4096)) {
		fail(w, -ENOMEM, "rendering", "out of memory");
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = 0;
}

static void puts_(struct metrics_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static bool valid_name(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		    (colon && c == ':'))
			continue;
		if (i > 0 && c >= '0' && c <= '9')
			continue;
		return false;
	}
	return true;
}

/* Label values and HELP text: the exposition format escapes \ and newline
 * in both, and " in label values. */
static void put_escaped(struct metrics_writer *w, const char *s, bool quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		if (p[i] == '\\') {
			puts_(w, "\\\\");
			i++;
		} else if (p[i] == '\n') {
			puts_(w, "\\n");
			i++;
		} else if (quote && p[i] == '"') {
			puts_(w, "\\\"");
			i++;
		} else if ((k = utf8__seq_len(p + i, n - i)) > 0) {
			put(w, s + i, k);
			i += k;
		} else {
			puts_(w, "\xef\xbf\xbd");   /* U+FFFD: the format is UTF-8 */
			i++;
		}
	}
}

void metrics__family(struct metrics_writer *w, const char *name, const char *type,
		     const char *help)
{
	char *copy;

	if (!valid_name(name, true)) {
		fail(w, -EINVAL, "metric name", name);
		goto refuse;
	}
	if (!type || (strcmp(type, "counter") && strcmp(type, "gauge") &&
		      strcmp(type, "untyped"))) {
		fail(w, -EINVAL, "metric type", type);
		goto refuse;
	}
	for (size_t i = 0; i < w->nfamilies; i++) {
		if (!strcmp(w->families[i], name)) {
			fail(w, -EINVAL, "repeated metric family", name);
			goto refuse;
		}
	}
	if (w->nfamilies == MAX_FAMILIES) {
		fail(w, -E2BIG, "metric family", "too many");
		goto refuse;
	}
	copy = strdup(name);
	if (!copy) {
		fail(w, -ENOMEM, "metric family", name);
		goto refuse;
	}
	w->families[w->nfamilies++] = copy;
	w->family = copy;
	puts_(w, "# HELP ");
	puts_(w, name);
	puts_(w, " ");
	put_escaped(w, help ? help : "", false);
	puts_(w, "\n# TYPE ");
	puts_(w, name);
	puts_(w, " ");
	puts_(w, type);
	puts_(w, "\n");
	return;
refuse:
	w->family = NULL;
}

/* Go's strconv formatting is what Prometheus parses: integers plainly,
 * others with the fewest digits that read back the same. */
static void put_value(struct metrics_writer *w, double v)
{
	char buf[64];

	if (isnan(v)) {
		puts_(w, "NaN");
		return;
	}
	if (isinf(v)) {
		puts_(w, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		snprintf(buf, sizeof(buf), "%.0f", v);
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
	puts_(w, buf);
}

void metrics__sample(struct metrics_writer *w, const char *name, double value,
		     const char *const *labels)
{
	size_t i;

	if (!valid_name(name, true)) {
		fail(w, -EINVAL, "metric name", name);
		return;
	}
	if (!w->family || strcmp(w->family, name)) {
		fail(w, -EINVAL, "sample outside its family", name);
		return;
	}
	for (i = 0; labels && labels[i]; i += 2) {
		if (!valid_name(labels[i], false) || !strncmp(labels[i], "__", 2)) {
			fail(w, -EINVAL, "label name", labels[i]);
			return;
		}
		if (!labels[i + 1]) {
			fail(w, -EINVAL, "label without a value", labels[i]);
			return;
		}
	}
	puts_(w, name);
	if (labels && labels[0]) {
		puts_(w, "{");
		for (i = 0; labels[i]; i += 2) {
			if (i)
				puts_(w, ",");
			puts_(w, labels[i]);
			puts_(w, "=\"");
			put_escaped(w, labels[i + 1], true);
			puts_(w, "\"");
		}
		puts_(w, "}");
	}
	puts_(w, " ");
	put_value(w, value);
	puts_(w, "\n");
}

int metrics__render(metrics_collect_fn fn, void *ctx, char **out, size_t *len)
{
	struct metrics_writer w = { 0 };
	int err;

	*out = NULL;
	*len = 0;
	puts_(&w, "");   /* an empty rendering is still a string */
	if (fn)
		fn(ctx, &w);
	err = w.err;
	for (size_t i = 0; i < w.nfamilies; i++)
		free(w.families[i]);
	if (err) {
		free(w.buf);
		return err;
	}
	*out = w.buf;
	*len = w.len;
	return 0;
}

/* ---- process metrics --------------------------------------------------- */

/* Reads a small /proc file whole (at most len - 1 bytes), NUL-terminated.
 * Its length, or -1. */
static ssize_t read_small(const char *root, const char *name, char *buf, size_t len)
{
	char path[4096];
	ssize_t total;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* A read error reads as an empty file. */
	total = file__read_fd(fd, buf, len - 1);
	close(fd);
	if (total < 0)
		total = 0;
	buf[total] = 0;
	return total;
}

struct self_stat {
	unsigned long long utime, stime, starttime, vsize, rss;
};

/* <pid>/stat: the command name may hold spaces and parentheses, so the
 * fields start after the last ')'. 0, or -1 when malformed. */
static int parse_stat(const char *buf, struct self_stat *st)
{
	const char *p = strrchr(buf, ')');
	unsigned long long v[64];
	int field = 3;   /* state is the third field */
	char *end;

	if (!p)
		return -1;
	p++;
	memset(v, 0, sizeof(v));
	while (*p && field < 64) {
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			break;
		if (field == 3) {
			while (*p && *p != ' ')
				p++;
		} else {
			errno = 0;
			v[field] = strtoull(p, &end, 10);
			if (end == p || errno)
				return -1;
			p = end;
		}
		field++;
	}
	if (field <= 24)
		return -1;
	st->utime = v[14];
	st->stime = v[15];
	st->starttime = v[22];
	st->vsize = v[23];
	st->rss = v[24];
	return 0;
}

static int parse_btime(const char *buf, unsigned long long *btime)
{
	const char *p = buf;
	char *end;

	while ((p = strstr(p, "btime ")) != NULL) {
		if (p == buf || p[-1] == '\n') {
			errno = 0;
			*btime = strtoull(p + 6, &end, 10);
			return end == p + 6 || errno ? -1 : 0;
		}
		p++;
	}
	return -1;
}

static long count_fds(const char *root)
{
	char path[4096];
	struct dirent *de;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/self/fd", root);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}

void metrics__write_process(struct metrics_writer *w, const char *proc_root)
{
	const char *version[] = { "version", IGNIS_VERSION, NULL };
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long btime;
	struct self_stat st;
	char buf[4096];
	long fds;

	if (!proc_root)
		proc_root = "/proc";
	if (hz <= 0)
		hz = 100;
	if (page <= 0)
		page = 4096;
	if (read_small(proc_root, "self/stat", buf, sizeof(buf)) > 0 && parse_stat(buf, &st) == 0) {
		metrics__family(w, "process_cpu_seconds_total", "counter",
				"Total user and system CPU time spent in seconds.");
		metrics__sample(w, "process_cpu_seconds_total",
				(double)(st.utime + st.stime) / hz, NULL);
		metrics__family(w, "process_resident_memory_bytes", "gauge",
				"Resident memory size in bytes.");
		metrics__sample(w, "process_resident_memory_bytes", (double)st.rss * page, NULL);
		metrics__family(w, "process_virtual_memory_bytes", "gauge",
				"Virtual memory size in bytes.");
		metrics__sample(w, "process_virtual_memory_bytes", (double)st.vsize, NULL);
		if (read_small(proc_root, "stat", buf, sizeof(buf)) > 0 &&
		    parse_btime(buf, &btime) == 0) {
			metrics__family(w, "process_start_time_seconds", "gauge",
					"Start time of the process since unix epoch in seconds.");
			metrics__sample(w, "process_start_time_seconds",
					(double)btime + (double)st.starttime / hz, NULL);
		}
	}
	fds = count_fds(proc_root);
	if (fds >= 0) {
		metrics__family(w, "process_open_fds", "gauge", "Number of open file descriptors.");
		metrics__sample(w, "process_open_fds", fds, NULL);
	}
	metrics__family(w, "ignis_build_info", "gauge",
			"Always 1; the version of the running agent is its label.");
	metrics__sample(w, "ignis_build_info", 1, version);
}

/* ---- BPF statistics ---------------------------------------------------- */

int metrics__bpf_prog_stats(int prog_fd, uint64_t *run_ns, uint64_t *run_cnt)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	*run_ns = info.run_time_ns;
	*run_cnt = info.run_cnt;
	return 0;
}

bool metrics__bpf_stats_enabled(const char *proc_root)
{
	char buf[16];

	if (read_small(proc_root ? proc_root : "/proc", "sys/kernel/bpf_stats_enabled", buf,
		       sizeof(buf)) <= 0)
		return false;
	return buf[0] == '1';
}

int metrics__bpf_enable_stats(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	return fd < 0 ? -errno : fd;
}

/* ---- HTTP -------------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, char *body,
			      size_t len, bool owned, const char *ctype)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (owned)
		r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	else
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **req)
{
	static int first_call;
	struct metrics *m = cls;
	char why[512], *body;
	size_t len;
	int err;

	(void)version;
	(void)upload;
	/* Answer once the request (and any body, which we ignore) is in. */
	if (!*req) {
		*req = &first_call;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", 19, false,
			      "text/plain");
	if (!strcmp(url, "/metrics")) {
		err = metrics__render(m->collect, m->ctx, &body, &len);
		if (err) {
			snprintf(why, sizeof(why), "metrics: cannot render: %s\n", strerror(-err));
			return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, why, strlen(why), false,
				      "text/plain");
		}
		return answer(c, MHD_HTTP_OK, body, len, true, CONTENT_TYPE);
	}
	if (!strcmp(url, "/healthz")) {
		why[0] = 0;
		if (!m->healthy || m->healthy(m->ctx, why, sizeof(why) - 1))
			return answer(c, MHD_HTTP_OK, "ok\n", 3, false, "text/plain");
		why[sizeof(why) - 2] = 0;
		len = strlen(why);
		if (!len || why[len - 1] != '\n') {
			why[len++] = '\n';
			why[len] = 0;
		}
		return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, why, len, false, "text/plain");
	}
	return answer(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /healthz\n", 36, false,
		      "text/plain");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	pr_debug("metrics: %s%s", buf, buf[0] && buf[strlen(buf) - 1] == '\n' ? "" : "\n");
}

/* "host:port", "[v6]:port" or ":port" into host (NULL: every address) and
 * port. 0 or -EINVAL. */
static int split_listen(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon;
	size_t n;

	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		n = rb - addr - 1;
		if (n == 0 || n >= hlen)
			return -EINVAL;
		memcpy(host, addr + 1, n);
		host[n] = 0;
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		n = colon - addr;
		if (n >= hlen || memchr(addr, ':', n))
			return -EINVAL;
		memcpy(host, addr, n);
		host[n] = 0;
	}
	n = strlen(colon + 1);
	if (n == 0 || n >= plen || strspn(colon + 1, "0123456789") != n ||
	    strtoul(colon + 1, NULL, 10) > 65535)
		return -EINVAL;
	memcpy(port, colon + 1, n + 1);
	return 0;
}

static int listen_on(const char *addr, int *port_out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[8];
	int fd = -1, one = 1, err, rc;

	if (split_listen(addr, host, sizeof(host), port, sizeof(port))) {
		pr_error("metrics: listen address '%s': expected HOST:PORT, [IPV6]:PORT or "
			 ":PORT\n", addr);
		return -EINVAL;
	}
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc) {
		pr_error("metrics: listen address '%s': %s\n", addr, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	/* A restart must not wait for the old connections' TIME_WAIT; Linux
	 * still refuses a second listener on the same port. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 64)) {
		err = -errno;
		goto cleanup;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		err = -errno;
		goto cleanup;
	}
	*port_out = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
					       ntohs(((struct sockaddr_in *)&ss)->sin_port);
	freeaddrinfo(res);
	return fd;
cleanup:
	pr_error("metrics: cannot listen on %s: %s%s\n", addr, strerror(-err),
		 err == -EADDRINUSE ? " (another ignis, or another exporter on this port? "
				      "set metrics.listen)" : "");
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return err;
}

struct metrics *metrics__new(const struct metrics_opts *o)
{
	const char *addr = o->listen && *o->listen ? o->listen : DEFAULT_LISTEN;
	struct metrics *m;
	int err;

	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->fd = -1;
	m->collect = o->collect;
	m->healthy = o->healthy;
	m->ctx = o->ctx;
	m->fd = listen_on(addr, &m->port);
	if (m->fd < 0) {
		err = m->fd;
		goto cleanup;
	}
	/* poll rather than select: the agent holds many fds (perf events per
	 * CPU, binaries), and the socket may land above FD_SETSIZE. */
	m->daemon = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
				     NULL, handle, m,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				     MHD_OPTION_LISTEN_SOCKET, m->fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
				     MHD_OPTION_END);
	if (!m->daemon) {
		err = errno ? -errno : -EIO;
		pr_error("metrics: cannot start the HTTP server on %s: %s\n", addr,
			 strerror(-err));
		goto cleanup;
	}
	pr_info("metrics: serving /metrics and /healthz on %s (port %d)\n", addr, m->port);
	return m;
cleanup:
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	errno = -err;
	return NULL;
}

void metrics__free(struct metrics *m)
{
	if (!m)
		return;
	/* Closes the listening socket too, though MHD did not open it. */
	MHD_stop_daemon(m->daemon);
	free(m);
}

int metrics__port(const struct metrics *m)
{
	return m->port;
}

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

int metrics__parse_listen(struct schema_ctx *x, const char *s, char **listen, char **host,
			  unsigned *port)
{
	const char *h, *he, *p;
	unsigned long num;

	free(*listen);
	free(*host);
	*listen = *host = NULL;
	*port = 0;
	if (!*s || !strcmp(s, "off"))
		return 0;
	if (*s == '[') {
		he = strchr(s, ']');
		if (!he || he == s + 1 || he[1] != ':' ||
		    strspn(s + 1, "0123456789abcdefABCDEF:.") < (size_t)(he - s - 1))
			goto bad;
		h = s + 1;
		p = he + 2;
	} else {
		he = strrchr(s, ':');
		if (!he || he == s)
			goto bad;
		h = s;
		for (p = s; p < he; p++)
			if (!is_alnum(*p) && *p != '.' && *p != '-')
				goto bad;
		p = he + 1;
	}
	if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
		goto bad;
	num = strtoul(p, NULL, 10);
	if (num < 1 || num > 65535)
		return schema__fail(x, "'%s': the port must be from 1 to 65535", SCHEMA_Q(s));
	*host = strndup(h, he - h);
	*listen = strdup(s);
	*port = num;
	if (!*host || !*listen)
		return schema__oom(x);
	return 0;
bad:
	return schema__fail(x, "'%s': expected HOST:PORT like 127.0.0.1:9464 or [::1]:9464, or off",
			    SCHEMA_Q(s));
}
