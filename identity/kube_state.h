/* The Kubernetes client's state, shared by its two halves: the worker's
 * protocol (kube.c: list, watch, kubelet poll, the public API) and its
 * link to the server (kube_http.c: the token, one GET on the HTTP layer,
 * what a failure is reported as, backoff). Internal to identity/kube*.c. */
#ifndef IGNIS_KUBE_STATE_H
#define IGNIS_KUBE_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/backoff.h"
#include "http/http.h"
#include "identity/kube.h"

/* Each cause of failure is a warning the first time, a debug line after. */
enum kube_cause {
	CAUSE_NET, CAUSE_TLS, CAUSE_401, CAUSE_403, CAUSE_HTTP, CAUSE_BODY, CAUSE_NOCLUSTER,
	CAUSE_FULL, NCAUSES,
};

enum kube_xfer { X_BODY, X_WATCH };

struct kube_store;

struct kube {
	char *node, *api_url, *token_file, *ca_file, *kubelet_url;
	bool insecure;
	uint64_t resync_ms, max_pods;

	pthread_t thread;
	bool started;
	atomic_bool stop;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;

	struct kube_store *store;        /* its own lock */
	pthread_mutex_t st_lock;         /* guards st */
	struct kube_stats st;

	/* worker only */
	struct http_client *http;
	struct http_answer ans;          /* of the last GET */
	unsigned warned;                 /* bit per enum kube_cause */
	bool failing;                    /* since the last success */
	unsigned failures;               /* in a row, for the backoff */
	struct rng rng;
	uint64_t next_purge_ms;
	char *rv;
	bool had_token;
	/* the transfer in flight */
	enum kube_xfer mode;
	char *line;                      /* a watch event being received */
	size_t line_len, line_cap;
	bool overflow, gone, watch_error, ok_seen;
};

/* kube_http.c */
/* One GET of url on the worker's client into k->ans; a watch's lines go
 * to kube_on_event. */
void kube_get(struct kube *k, const char *url, enum kube_xfer mode, uint64_t timeout_ms);
/* Reports what went wrong with the GET of what ("list", "watch",
 * "/pods"); 0 when nothing did, -EINTR when stopping, -ESTALE on 410,
 * -E2BIG, -ENOMEM, -EIO. */
int kube_judge(struct kube *k, const char *what, const char *url_base);
void kube_fail(struct kube *k, enum kube_cause c, const char *short_msg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void kube_note_full(struct kube *k);
/* After a warning, the user wants to know it is over. */
void kube_note_success(struct kube *k, const char *url);
/* The wait after one more failure in a row. */
uint64_t kube_next_backoff(struct kube *k);
/* Sleeps; true when asked to stop. */
bool kube_sleep_ms(struct kube *k, uint64_t ms);

/* kube.c: one watch event line; false ends the watch. */
bool kube_on_event(struct kube *k, const char *line, size_t len);

#endif
