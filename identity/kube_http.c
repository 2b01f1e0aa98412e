/* The Kubernetes client's link to its server: the bearer token (re-read at
 * every request), one GET on the HTTP layer (a watch streamed line by
 * line), what a failure is reported as (one warning per cause with its
 * fix, debug lines after), and the backoff between tries. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/array.h"
#include "base/backoff.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "base/secret.h"
#include "http/http.h"
#include "identity/kube.h"
#include "identity/kube_pod.h"
#include "identity/kube_state.h"
#include "identity/kube_store.h"

#define BACKOFF_MIN_MS 1000ull
#define BACKOFF_MAX_MS (60 * 1000ull)
#define CONNECT_TIMEOUT_MS 10000L
#define MAX_TOKEN_LEN (64u << 10)

/* ---- errors ----------------------------------------------------------- */

static void set_error(struct kube *k, const char *msg, bool failed)
{
	pthread_mutex_lock(&k->st_lock);
	snprintf(k->st.last_error, sizeof(k->st.last_error), "%s", msg);
	if (failed) {
		k->st.errors++;
		k->st.synced = false;
	}
	pthread_mutex_unlock(&k->st_lock);
}

void kube_fail(struct kube *k, enum kube_cause c, const char *short_msg, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	set_error(k, short_msg, true);
	k->failing = true;
	if (!(k->warned & (1u << c))) {
		k->warned |= 1u << c;
		pr_warn("kube: %s\n", line);
	} else {
		pr_debug("kube: %s\n", short_msg);
	}
}

void kube_note_full(struct kube *k)
{
	if (!(k->warned & (1u << CAUSE_FULL))) {
		k->warned |= 1u << CAUSE_FULL;
		pr_warn("kube: more than %llu pods on this node: the others get no pod metadata "
			"(raise the bound on pods kept)\n", (unsigned long long)k->max_pods);
	}
}

void kube_note_success(struct kube *k, const char *url)
{
	if (!k->failing)
		return;
	k->failing = false;
	pr_info("kube: %s answers again: pod metadata of node %s available\n", url, k->node);
}

/* ---- waiting ---------------------------------------------------------- */

uint64_t kube_next_backoff(struct kube *k)
{
	k->failures++;
	/* jitter spreads a node pool's agents after an API server restart */
	return backoff__delay_ms(BACKOFF_MIN_MS, BACKOFF_MAX_MS, k->failures, &k->rng);
}

bool kube_sleep_ms(struct kube *k, uint64_t ms)
{
	struct timespec ts = clock__deadline(CLOCK_MONOTONIC, (int64_t)ms);
	bool stop;

	pthread_mutex_lock(&k->wait_lock);
	while (!(stop = atomic_load(&k->stop)))
		if (pthread_cond_timedwait(&k->wait_cond, &k->wait_lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&k->wait_lock);
	return stop || atomic_load(&k->stop);
}

/* ---- one GET ---------------------------------------------------------- */

static bool line_append(struct kube *k, const char *p, size_t n)
{
	if (n > KUBE_MAX_OBJECT - k->line_len) {
		k->overflow = true;
		return false;
	}
	if (ARRAY_RESERVE_FROM(k->line, &k->line_cap, k->line_len + n + 1, 64 * 1024))
		return false;
	memcpy(k->line + k->line_len, p, n);
	k->line_len += n;
	k->line[k->line_len] = '\0';
	return true;
}

/* A watch stream's bytes: cut into event lines. */
static bool on_watch_data(void *arg, const char *p, size_t n)
{
	struct kube *k = arg;
	size_t done = 0;

	if (!k->ok_seen) {
		k->ok_seen = true;
		kube_note_success(k, k->api_url);
		pthread_mutex_lock(&k->st_lock);
		k->st.synced = true;
		pthread_mutex_unlock(&k->st_lock);
	}
	while (done < n) {
		const char *nl = memchr(p + done, '\n', n - done);
		size_t chunk = nl ? (size_t)(nl - (p + done)) : n - done;

		if (!line_append(k, p + done, chunk))
			return false;
		done += chunk;
		if (!nl)
			break;
		done++;
		if (!kube_on_event(k, k->line, k->line_len))
			return false;
		k->line_len = 0;
	}
	return true;
}

/* Deleted pods age out even while the watch stream is quiet. */
static void on_watch_tick(void *arg)
{
	struct kube *k = arg;
	uint64_t now = (uint64_t)clock__monotonic_ms();

	if (now < k->next_purge_ms)
		return;
	k->next_purge_ms = now + 1000;
	kube_store__purge(k->store, now);
}

/* The bearer token, read at every request: bound tokens rotate (kubelet
 * rewrites the file about hourly) and a stale copy would end in 401s. */
static char *read_token(struct kube *k)
{
	char *t = NULL;
	ssize_t r;
	size_t len;
	int fd = open(k->token_file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	t = malloc(MAX_TOKEN_LEN + 1);
	if (!t)
		goto cleanup;
	r = file__read_fd(fd, t, MAX_TOKEN_LEN);
	len = r > 0 ? (size_t)r : 0;
	while (len && isspace((unsigned char)t[len - 1]))
		len--;
	t[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		/* a header injection or a binary file: no token at all */
		if (!isgraph((unsigned char)t[i])) {
			len = 0;
			break;
		}
	}
	if (!len) {
		explicit_bzero(t, MAX_TOKEN_LEN + 1);
		free(t);
		t = NULL;
	}
cleanup:
	close(fd);
	return t;
}

void kube_get(struct kube *k, const char *url, enum kube_xfer mode, uint64_t timeout_ms)
{
	struct http_call call = {
		.url = url, .ca_file = k->ca_file, .insecure = k->insecure,
		.timeout_ms = (long)timeout_ms, .connect_timeout_ms = CONNECT_TIMEOUT_MS,
		.user_agent = "ignis/" IGNIS_VERSION,
		/* lists of a busy node compress well, and the server gzips big ones */
		.compressed = true,
		.max_body = KUBE_MAX_LIST,
		.on_data = mode == X_WATCH ? on_watch_data : NULL,
		.on_tick = mode == X_WATCH ? on_watch_tick : NULL,
		.arg = k,
	};
	struct curl_slist *hdrs = NULL;
	char *tok = read_token(k);
	int err;

	k->had_token = tok != NULL;
	k->mode = mode;
	k->line_len = 0;
	k->overflow = k->gone = k->watch_error = k->ok_seen = false;
	err = http_headers__add_line(&hdrs, "Accept: application/json");
	if (!err && tok) {
		char *auth = NULL;

		if (asprintf(&auth, "Bearer %s", tok) < 0) {
			auth = NULL;
			err = -ENOMEM;
		} else {
			err = http_headers__add(&hdrs, "Authorization", auth);
		}
		secret__free(&auth);
	}
	secret__free(&tok);
	if (err) {
		memset(&k->ans, 0, sizeof(k->ans));
		k->ans.result = HTTP_NOMEM;
		k->ans.body = "";
		snprintf(k->ans.error, sizeof(k->ans.error), "out of memory");
	} else {
		call.headers = hdrs;
		http_client__call(k->http, &call, &k->ans);
	}
	http_headers__free(hdrs);
}

int kube_judge(struct kube *k, const char *what, const char *url_base)
{
	const struct http_answer *a = &k->ans;
	char msg[256], srv[256];
	bool write_error;

	if (atomic_load(&k->stop))
		return -EINTR;
	if (a->result == HTTP_DONE && a->status == 200)
		return 0;
	if (k->overflow || a->result == HTTP_TOO_BIG) {
		snprintf(msg, sizeof(msg), "%s: answer larger than %u MiB", what,
			 (k->mode == X_BODY ? KUBE_MAX_LIST : KUBE_MAX_OBJECT) >> 20);
		kube_fail(k, CAUSE_BODY, msg, "%s from %s refused: %s", what, url_base, msg);
		return -E2BIG;
	}
	/* the body could not be taken in (ended by us, or no memory for it) */
	write_error = a->status == 200 && (a->result == HTTP_STOPPED || a->result == HTTP_NOMEM);
	if (a->result != HTTP_DONE && !write_error) {
		snprintf(msg, sizeof(msg), "%s: %.200s", what, a->error);
		if (a->result == HTTP_TLS)
			kube_fail(k, CAUSE_TLS, msg,
				  "TLS with %s failed (%s): pod metadata unavailable; check the CA "
				  "file (%s)%s; retrying in the background",
				  url_base, a->error, k->ca_file ? k->ca_file : "the system's",
				  k->kubelet_url ? " or allow the kubelet's self-signed certificate" : "");
		else
			kube_fail(k, CAUSE_NET, msg,
				  "cannot reach %s (%s): pod metadata unavailable until it answers, "
				  "profiles keep cgroup-level identity; retrying in the background",
				  url_base, a->error);
		return -EIO;
	}
	if (write_error) {
		if (k->mode == X_WATCH && a->result == HTTP_STOPPED)
			return 0;   /* ended on purpose (410, ERROR event) */
		kube_fail(k, CAUSE_BODY, "out of memory", "%s from %s: out of memory", what, url_base);
		return -ENOMEM;
	}
	http__json_message(a->body, a->len, srv, sizeof(srv));
	snprintf(msg, sizeof(msg), "%s: HTTP %ld%s%.200s", what, a->status, srv[0] ? ": " : "", srv);
	if (a->status == 401)
		kube_fail(k, CAUSE_401, msg,
			  "401 Unauthorized from %s: %s: mount the service account token "
			  "(automountServiceAccountToken: true) or set the token file; "
			  "pod metadata unavailable, retrying in the background",
			  url_base, k->had_token ? "the token was not accepted (expired or for another cluster?)"
						 : "no token was sent");
	else if (a->status == 403)
		kube_fail(k, CAUSE_403, msg,
			  "403 Forbidden from %s%s%s: the service account lacks %s: apply the "
			  "ClusterRole in deploy/daemonset.yaml; pod metadata unavailable, retrying "
			  "in the background", url_base, srv[0] ? ": " : "", srv,
			  k->kubelet_url ? "get on nodes/proxy (the kubelet API)" : "list/watch on pods");
	else
		kube_fail(k, CAUSE_HTTP, msg, "%s from %s failed: HTTP %ld%s%s; retrying in the background",
			  what, url_base, a->status, srv[0] ? ": " : "", srv);
	return a->status == 410 ? -ESTALE : -EIO;
}
