/* The pods of this node, from the API server (list, then watch from the
 * list's resourceVersion, relist on 410 Gone and every resync) or from the
 * kubelet's /pods (polled). One worker thread does all the network work
 * (kube_http.c) on its own HTTP client, so kube__free can interrupt a long
 * watch at once; the pods live in a store (kube_store.c) whose lookups
 * take the read side of its lock and copy what they return. */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/log.h"
#include "http/http.h"
#include "identity/kube.h"
#include "identity/kube_pod.h"
#include "identity/kube_state.h"
#include "identity/kube_store.h"

#define DEF_TOKEN_FILE KUBE_SA_DIR "/token"
#define DEF_CA_FILE KUBE_SA_DIR "/ca.crt"

#define DEF_RESYNC_MS (5 * 60 * 1000ull)
/* The kubelet has no watch: a pod started after a poll stays unknown until
 * the next one, so its default period is shorter. */
#define DEF_KUBELET_RESYNC_MS (30 * 1000ull)
#define DEF_MAX_PODS 1000ull
#define MAX_GRACE_MS (60 * 1000ull)
#define LIST_TIMEOUT_MS 60000L
/* A watch the server does not end by itself (timeoutSeconds) is cut this
 * long after it should have ended. */
#define WATCH_SLACK_MS 30000ull
#define LIST_LIMIT 500
#define MAX_PAGES 1024

static void set_rv(struct kube *k, const char *rv)
{
	char *c;

	if (!rv || !(c = strdup(rv)))
		return;
	free(k->rv);
	k->rv = c;
}

/* A pod the store could not take. */
static void store_failed(struct kube *k, int err)
{
	pthread_mutex_lock(&k->st_lock);
	k->st.errors++;
	pthread_mutex_unlock(&k->st_lock);
	if (err == -ENOSPC)
		kube_note_full(k);
}

bool kube_on_event(struct kube *k, const char *line, size_t len)
{
	struct kube_event ev;
	int err;

	while (len && isspace((unsigned char)line[len - 1]))
		len--;
	if (!len)
		return true;
	err = kube__parse_event(line, len, &ev);
	pthread_mutex_lock(&k->st_lock);
	if (err)
		k->st.errors++;
	else
		k->st.watch_events++;
	pthread_mutex_unlock(&k->st_lock);
	if (err) {
		pr_debug("kube: unreadable watch event (%zu bytes) skipped\n", len);
		return true;
	}
	switch (ev.type) {
	case KUBE_EV_ADDED:
	case KUBE_EV_MODIFIED:
		err = kube_store__upsert(k->store, ev.pod);
		ev.pod = NULL;
		if (err)
			store_failed(k, err);
		break;
	case KUBE_EV_DELETED:
		kube_store__delete(k->store, ev.pod->uid, (uint64_t)clock__monotonic_ms());
		break;
	case KUBE_EV_BOOKMARK:
		break;
	case KUBE_EV_ERROR:
		/* 410: our resourceVersion left the server's window; only a
		 * relist gets us back in */
		if (ev.code == 410 || (ev.message && strstr(ev.message, "too old resource version")))
			k->gone = true;
		else
			k->watch_error = true;
		pr_debug("kube: watch error event %d: %s\n", ev.code, ev.message ? ev.message : "");
		break;
	}
	set_rv(k, ev.resource_version);
	kube_event__clear(&ev);
	return !k->gone && !k->watch_error;
}

/* A full list (or /pods) into the store, and the books of a success. */
static void listed(struct kube *k, struct kube_pod **pods, size_t n, bool dropped,
		   const char *url)
{
	size_t full = 0, failed = kube_store__replace(k->store, pods, n, (uint64_t)clock__monotonic_ms(), &full);

	/* a list's JSON tree is many times the pods kept: give it back (the
	 * agent's steady RSS is a tested figure) */
	malloc_trim(0);
	if (dropped || full)
		kube_note_full(k);
	pthread_mutex_lock(&k->st_lock);
	k->st.errors += failed;
	if (k->st.lists)
		k->st.relists++;
	k->st.lists++;
	k->st.synced = true;
	k->st.last_error[0] = '\0';
	pthread_mutex_unlock(&k->st_lock);
	k->failures = 0;
	kube_note_success(k, url);
}

/* A full list, page by page, into the store. */
static int do_list(struct kube *k)
{
	struct kube_pod **all = NULL;
	size_t nall = 0, dropped = 0, invalid = 0;
	char *node = http__escape(k->node), *cont = NULL, *url = NULL, *rv = NULL;
	int err = -ENOMEM, pages = 0;

	if (!node)
		goto cleanup;
	do {
		struct kube_list l;
		struct kube_pod **grown;
		char *econt = cont ? http__escape(cont) : NULL;

		free(url);
		url = NULL;
		if (cont && !econt)
			goto cleanup;
		if (asprintf(&url, "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=%d%s%s",
			     k->api_url, node, LIST_LIMIT, econt ? "&continue=" : "",
			     econt ? econt : "") < 0) {
			url = NULL;
			free(econt);
			goto cleanup;
		}
		free(econt);
		kube_get(k, url, X_BODY, LIST_TIMEOUT_MS);
		err = kube_judge(k, "list", k->api_url);
		if (err)
			goto cleanup;
		err = kube__parse_list(k->ans.body, k->ans.len, k->max_pods - nall, &l);
		http_client__release(k->http);
		if (err) {
			kube_fail(k, CAUSE_BODY, "list: not a PodList",
				  "the pod list from %s is not a PodList: pod metadata unavailable",
				  k->api_url);
			err = -EBADMSG;
			goto cleanup;
		}
		dropped += l.dropped;
		invalid += l.invalid;
		grown = realloc(all, (nall + l.npods + 1) * sizeof(*all));
		if (!grown) {
			kube_list__clear(&l);
			err = -ENOMEM;
			goto cleanup;
		}
		all = grown;
		if (l.npods)
			memcpy(all + nall, l.pods, l.npods * sizeof(*all));
		nall += l.npods;
		l.npods = 0;
		free(cont);
		cont = l.cont;
		l.cont = NULL;
		if (l.resource_version) {
			free(rv);
			rv = l.resource_version;
			l.resource_version = NULL;
		}
		kube_list__clear(&l);
		/* the rest would be dropped anyway */
		if (nall >= k->max_pods && cont) {
			dropped++;
			break;
		}
	} while (cont && ++pages < MAX_PAGES);
	if (!rv) {
		kube_fail(k, CAUSE_BODY, "list: no resourceVersion",
			  "the pod list from %s has no resourceVersion: cannot watch", k->api_url);
		err = -EBADMSG;
		goto cleanup;
	}
	if (invalid)
		pr_debug("kube: %zu unreadable pods in the list skipped\n", invalid);
	free(k->rv);
	k->rv = rv;
	rv = NULL;
	listed(k, all, nall, dropped, k->api_url);
	pr_debug("kube: listed %zu pods of node %s at resourceVersion %s\n", nall, k->node, k->rv);
	err = 0;
cleanup:
	for (size_t i = 0; i < nall; i++)
		kube_pod__free(all[i]);
	free(all);
	free(rv);
	free(cont);
	free(url);
	free(node);
	return err;
}

/* Watches from k->rv until the stream ends. 0: ended normally (rewatch);
 * -ESTALE: relist now; -EPROTO: relist after a backoff; other: failed. */
static int do_watch(struct kube *k, uint64_t secs)
{
	char *node = http__escape(k->node), *rv = http__escape(k->rv), *url = NULL;
	int err = -ENOMEM;

	if (!node || !rv)
		goto cleanup;
	if (asprintf(&url, "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&watch=1"
		     "&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%llu",
		     k->api_url, node, rv, (unsigned long long)secs) < 0) {
		url = NULL;
		goto cleanup;
	}
	kube_get(k, url, X_WATCH, secs * 1000 + WATCH_SLACK_MS);
	if (k->gone) {
		err = -ESTALE;
		goto cleanup;
	}
	if (k->watch_error) {
		kube_fail(k, CAUSE_HTTP, "watch: ERROR event", "the pod watch on %s ended with an "
			  "error event; relisting", k->api_url);
		err = -EPROTO;
		goto cleanup;
	}
	/* The server is meant to end it; our own cut is no failure either,
	 * nor a stream that breaks (an API server restarting): the rewatch
	 * says whether the server is really gone. */
	if (k->ans.result != HTTP_DONE && k->ok_seen) {
		pr_debug("kube: watch ended: %s\n", k->ans.error);
		err = 0;
		goto cleanup;
	}
	err = kube_judge(k, "watch", k->api_url);
	if (!err && k->line_len)
		pr_debug("kube: watch ended inside an event (%zu bytes dropped)\n", k->line_len);
cleanup:
	http_client__release(k->http);
	free(url);
	free(rv);
	free(node);
	return err;
}

static void run_api(struct kube *k)
{
	bool need_list = true;
	uint64_t resync_at = 0;

	while (!atomic_load(&k->stop)) {
		uint64_t now = (uint64_t)clock__monotonic_ms();
		int err;

		if (need_list || now >= resync_at) {
			err = do_list(k);
			if (err == -EINTR)
				return;
			if (err) {
				if (kube_sleep_ms(k, kube_next_backoff(k)))
					return;
				continue;
			}
			need_list = false;
			resync_at = (uint64_t)clock__monotonic_ms() + k->resync_ms;
			continue;
		}
		err = do_watch(k, (resync_at - now + 999) / 1000);
		if (err == -EINTR)
			return;
		if (err == -ESTALE) {
			pr_debug("kube: resourceVersion %s expired: relisting\n", k->rv);
			need_list = true;
			continue;
		}
		if (err) {
			/* a broken connection rewatches from where it was; an
			 * ERROR event says the stream itself is not to be trusted */
			need_list = err == -EPROTO;
			if (kube_sleep_ms(k, kube_next_backoff(k)))
				return;
			continue;
		}
		k->failures = 0;
	}
}

static void run_kubelet(struct kube *k)
{
	char *url = NULL;

	if (asprintf(&url, "%s/pods", k->kubelet_url) < 0)
		return;
	while (!atomic_load(&k->stop)) {
		struct kube_list l;
		uint64_t wait;
		int err;

		kube_get(k, url, X_BODY, LIST_TIMEOUT_MS);
		err = kube_judge(k, "/pods", k->kubelet_url);
		if (err == -EINTR)
			break;
		if (!err && kube__parse_list(k->ans.body, k->ans.len, k->max_pods, &l))
			err = -EBADMSG;
		http_client__release(k->http);
		if (err == -EBADMSG)
			kube_fail(k, CAUSE_BODY, "/pods: not a PodList",
				  "the kubelet's /pods at %s is not a PodList: pod metadata unavailable",
				  k->kubelet_url);
		if (err) {
			wait = kube_next_backoff(k);
		} else {
			listed(k, l.pods, l.npods, l.dropped, k->kubelet_url);
			kube_list__clear(&l);
			wait = k->resync_ms;
		}
		if (kube_sleep_ms(k, wait))
			break;
	}
	free(url);
}

static void *worker(void *arg)
{
	struct kube *k = arg;

	if (!k->api_url && !k->kubelet_url) {
		kube_fail(k, CAUSE_NOCLUSTER, "not in a cluster: KUBERNETES_SERVICE_HOST unset",
			  "KUBERNETES_SERVICE_HOST is not set (not running in a pod?): no pod "
			  "metadata; set the API server URL or the kubelet URL to get it");
		return NULL;
	}
	if (k->kubelet_url)
		run_kubelet(k);
	else
		run_api(k);
	return NULL;
}

/* ---- life ------------------------------------------------------------- */

static bool http_url(const char *u)
{
	return u && (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8)) &&
	       strlen(u) < 4096 && !strpbrk(u, " \t\r\n");
}

static char *dup_url(const char *u)
{
	char *c = strdup(u);
	size_t n;

	if (!c)
		return NULL;
	for (n = strlen(c); n && c[n - 1] == '/'; n--)
		c[n - 1] = '\0';
	return c;
}

static char *in_cluster_url(void)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *u = NULL;

	if (!host || !*host)
		return NULL;
	if (!port || !*port)
		port = "443";
	if (asprintf(&u, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0)
		return NULL;
	return u;
}

struct kube *kube__new(const struct kube_opts *o)
{
	struct kube *k = NULL;
	pthread_condattr_t ca;
	sigset_t all, old;
	struct stat sb;
	int err;

	if (!o || !o->node_name || !*o->node_name || strlen(o->node_name) > KUBE_MAX_NAME_LEN ||
	    (o->api_url && !http_url(o->api_url)) || (o->kubelet_url && !http_url(o->kubelet_url))) {
		err = -EINVAL;
		goto cleanup;
	}
	if (http__init()) {
		err = -ENOMEM;
		goto cleanup;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		err = -ENOMEM;
		goto cleanup;
	}
	pthread_mutex_init(&k->st_lock, NULL);
	pthread_mutex_init(&k->wait_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->wait_cond, &ca);
	pthread_condattr_destroy(&ca);
	k->insecure = o->insecure_skip_verify;
	k->max_pods = o->max_pods ? o->max_pods : DEF_MAX_PODS;
	k->resync_ms = o->resync_ms ? o->resync_ms
				    : o->kubelet_url ? DEF_KUBELET_RESYNC_MS : DEF_RESYNC_MS;
	rng__seed(&k->rng);
	err = -ENOMEM;
	/* long enough for the interval that sampled a pod's last processes */
	k->store = kube_store__new(k->max_pods, 2 * k->resync_ms < MAX_GRACE_MS ?
						2 * k->resync_ms : MAX_GRACE_MS);
	if (!k->store)
		goto cleanup;
	k->node = strdup(o->node_name);
	k->token_file = strdup(o->token_file ? o->token_file : DEF_TOKEN_FILE);
	if (!k->node || !k->token_file)
		goto cleanup;
	if (o->kubelet_url) {
		if (!(k->kubelet_url = dup_url(o->kubelet_url)))
			goto cleanup;
	} else if (o->api_url) {
		if (!(k->api_url = dup_url(o->api_url)))
			goto cleanup;
	} else {
		k->api_url = in_cluster_url();   /* NULL: the worker says why */
	}
	/* an explicit CA must be used (and fail loudly if missing); the
	 * in-cluster default only when it is there, else the system's */
	if (o->ca_file ? !(k->ca_file = strdup(o->ca_file))
		       : (!stat(DEF_CA_FILE, &sb) && !(k->ca_file = strdup(DEF_CA_FILE))))
		goto cleanup;
	k->http = http_client__new();
	if (!k->http)
		goto cleanup;
	/* signals belong to the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&k->thread, NULL, worker, k);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto cleanup;
	k->started = true;
	return k;
cleanup:
	kube__free(k);
	errno = -err;
	return NULL;
}

void kube__free(struct kube *k)
{
	if (!k)
		return;
	if (k->started) {
		pthread_mutex_lock(&k->wait_lock);
		atomic_store(&k->stop, true);
		pthread_cond_broadcast(&k->wait_cond);
		pthread_mutex_unlock(&k->wait_lock);
		http_client__cancel(k->http);
		pthread_join(k->thread, NULL);
	}
	kube_store__free(k->store);
	http_client__free(k->http);
	pthread_cond_destroy(&k->wait_cond);
	pthread_mutex_destroy(&k->wait_lock);
	pthread_mutex_destroy(&k->st_lock);
	free(k->line);
	free(k->rv);
	free(k->node);
	free(k->api_url);
	free(k->token_file);
	free(k->ca_file);
	free(k->kubelet_url);
	free(k);
}

/* ---- lookups ---------------------------------------------------------- */

int kube__lookup(struct kube *k, const char *pod_uid, const char *container_id,
		 struct kube_pod **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!k)
		return -EINVAL;
	return kube_store__lookup(k->store, pod_uid, container_id, out);
}

uint64_t kube__generation(struct kube *k)
{
	return k ? kube_store__generation(k->store) : 0;
}

void kube__stats(struct kube *k, struct kube_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (!k)
		return;
	pthread_mutex_lock(&k->st_lock);
	*s = k->st;
	pthread_mutex_unlock(&k->st_lock);
	s->pods = kube_store__live(k->store);
}
