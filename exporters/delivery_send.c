/* The delivery's worker thread: sends the queue's head, follows same-host
 * redirects, books each answer (sent, retried with backoff, dropped) and
 * reads the spool back once memory is empty. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/backoff.h"
#include "base/log.h"
#include "exporters/delivery.h"
#include "exporters/delivery_state.h"
#include "http/http.h"

/* Same-host redirects followed within one attempt. */
#define MAX_REDIRECTS 3

enum outcome { OUT_SENT, OUT_RETRY, OUT_DROP, OUT_ABORTED, OUT_REFUSED };

struct attempt_result {
	enum outcome out;
	bool has_retry_after;
	uint64_t retry_after_ms;
	char reason[HTTP_MESSAGE_MAX + 64];
};

/* When the head may be tried (CLOCK_MONOTONIC); 0 at once. */
static int64_t next_attempt_ns(const struct delivery *d, const struct qnode *n)
{
	uint64_t b = n->backoff_ms;
	int64_t at;

	if (!n->attempts)
		return 0;
	/* someone is waiting to shut down: retry sooner, but a server's
	 * Retry-After still holds */
	if (d->draining && b > d->backoff_min_ms)
		b = d->backoff_min_ms;
	at = n->failed_ns + (int64_t)b * NSEC_PER_MSEC;
	return at > n->not_before_ns ? at : n->not_before_ns;
}

/* One attempt at sending r (following same-host redirects), without d->mu. */
static void attempt(struct delivery *d, const struct http_request *r, struct attempt_result *res)
{
	struct http_call call = {
		.post = true, .body = r->body, .len = r->len,
		.ca_file = d->ca_file, .insecure = d->insecure, .timeout_ms = (long)d->timeout_ms,
		.max_body = HTTP_ERROR_BODY_MAX, .truncate = true,
	};
	struct curl_slist *hdrs = NULL;
	struct http_answer a;
	char *url = NULL;
	int err;

	memset(res, 0, sizeof(*res));
	err = http_headers__copy(&hdrs, r->headers);
	/* the destination's credentials as they are now, also for a request
	 * written to the spool long ago */
	for (size_t i = 0; !err && i < d->nsecrets; i++)
		err = http_headers__add_line(&hdrs, d->secrets[i]);
	/* no 100-continue round trip: intakes answer the whole request */
	if (!err)
		err = http_headers__add_line(&hdrs, "Expect:");
	if (err)
		goto nomem;
	call.headers = hdrs;
	call.url = r->url;

	for (int hop = 0;; hop++) {
		http_client__call(d->http, &call, &a);
		if (atomic_load(&d->stop)) {
			res->out = OUT_ABORTED;
			break;
		}
		if (a.result != HTTP_DONE) {
			res->out = a.result == HTTP_PERMANENT ? OUT_DROP : OUT_RETRY;
			snprintf(res->reason, sizeof(res->reason), "%s", a.error);
			break;
		}
		if (d->judge && !(a.status >= 300 && a.status < 400)) {
			enum delivery_verdict v = d->judge(d->judge_arg, r, a.status, a.body, a.len,
							   res->reason, sizeof(res->reason));

			res->out = v == DELIVERY_SENT ? OUT_SENT : v == DELIVERY_RETRY ? OUT_RETRY : OUT_DROP;
			res->has_retry_after = v == DELIVERY_RETRY && a.has_retry_after;
			res->retry_after_ms = a.retry_after_ms;
			break;
		}
		if (a.status >= 200 && a.status < 300) {
			res->out = OUT_SENT;
			break;
		}
		if (a.status == 301 || a.status == 302 || a.status == 307 || a.status == 308) {
			const char *loc = a.redirect_url;

			if (loc && hop < MAX_REDIRECTS && http__same_origin_redirect(call.url, loc)) {
				char *next = strdup(loc);

				if (!next)
					goto nomem;
				free(url);
				call.url = url = next;
				continue;
			}
			res->out = OUT_DROP;
			snprintf(res->reason, sizeof(res->reason),
				 "HTTP %ld: redirect not followed (%s)", a.status,
				 !loc ? "no location" : hop >= MAX_REDIRECTS ? "too many" :
				 "other host or https to http");
			break;
		}
		if (a.status == 408 || a.status == 429 || a.status >= 500) {
			res->out = OUT_RETRY;
			res->has_retry_after = a.has_retry_after;
			res->retry_after_ms = a.retry_after_ms;
		} else {
			res->out = OUT_DROP;
		}
		{
			char msg[HTTP_MESSAGE_MAX + 1];

			if (http__server_message(a.body, a.len, msg, sizeof(msg)))
				snprintf(res->reason, sizeof(res->reason), "HTTP %ld: %s", a.status, msg);
			else
				snprintf(res->reason, sizeof(res->reason), "HTTP %ld", a.status);
			/* the whole (bounded) body: the message may be cut short */
			if (res->out == OUT_RETRY && d->final_message && a.body &&
			    memmem(a.body, a.len, d->final_message, strlen(d->final_message)))
				res->out = OUT_REFUSED;
		}
		break;
	}
	goto cleanup;

nomem:
	res->out = OUT_RETRY;
	snprintf(res->reason, sizeof(res->reason), "out of memory");
cleanup:
	/* the copies of secret lines do not linger in freed memory */
	http_headers__free(hdrs);
	free(url);
}

/* The final answer for n: a memory head is freed here; the spool's head
 * is marked, its file removed by the worker outside d->mu (release_sp). */
static void finish(struct delivery *d, struct qnode *n)
{
	if (n == d->sp)
		n->done = true;
	else
		delivery_pop_head(d);
}

/* Books the result of an attempt on the head, under d->mu. */
static void settle(struct delivery *d, struct qnode *n, const struct attempt_result *res)
{
	const struct http_request *r = n->r;
	uint64_t wait;

	switch (res->out) {
	case OUT_ABORTED:
		n->attempts--;  /* not an attempt the server answered */
		d->st.attempts--;
		return;
	case OUT_SENT:
		d->st.sent++;
		d->st.bytes_sent += r->len;
		if (n->attempts > 1)
			pr_info("delivery: %s: %s: sent after %u attempts\n", d->name, r->what,
				n->attempts);
		finish(d, n);
		return;
	case OUT_DROP:
		d->st.dropped_client_error++;
		delivery_set_last_error(d, r, res->reason);
		log__printf_ratelimited(&d->rl[RL_CLIENT], LOG_WARN, "delivery: %s: %s: %s; dropped\n",
					d->name, r->what, res->reason);
		finish(d, n);
		return;
	case OUT_REFUSED:
		d->st.dropped_refused++;
		delivery_set_last_error(d, r, res->reason);
		if (!d->final_logged)
			pr_warn("delivery: %s: %s: %s; dropped, not retried (retrying cannot help): %s\n",
				d->name, r->what, res->reason, d->final_hint ? d->final_hint : "");
		else
			pr_debug("delivery: %s: %s: %s; dropped, not retried\n", d->name, r->what,
				 res->reason);
		d->final_logged = true;
		finish(d, n);
		return;
	case OUT_RETRY:
		break;
	}
	delivery_set_last_error(d, r, res->reason);
	if (n->attempts >= d->max_attempts) {
		d->st.dropped_retries_exhausted++;
		log__printf_ratelimited(&d->rl[RL_EXHAUSTED], LOG_WARN,
					"delivery: %s: %s: %s; dropped after %u attempts\n",
					d->name, r->what, res->reason, n->attempts);
		finish(d, n);
		return;
	}
	d->st.retried++;
	n->failed_ns = clock__ns(CLOCK_MONOTONIC);
	n->backoff_ms = backoff__delay_ms(d->backoff_min_ms, d->backoff_max_ms, n->attempts, &d->rng);
	n->not_before_ns = 0;
	wait = n->backoff_ms;
	if (res->has_retry_after) {
		/* no point waiting past the age at which the request is dropped */
		uint64_t ra = res->retry_after_ms < d->max_age_ms ? res->retry_after_ms : d->max_age_ms;

		n->not_before_ns = n->failed_ns + (int64_t)ra * NSEC_PER_MSEC;
		if (ra > wait)
			wait = ra;
	}
	log__printf_ratelimited(&d->rl[RL_RETRY], LOG_WARN,
				"delivery: %s: %s: %s; retry %u/%u in %llu ms\n",
				d->name, r->what, res->reason, n->attempts + 1, d->max_attempts,
				(unsigned long long)wait);
}

void *delivery_worker(void *arg)
{
	struct delivery *d = arg;
	struct attempt_result res;

	pthread_mutex_lock(&d->mu);
	while (!atomic_load(&d->stop)) {
		struct qnode *n;
		int64_t at, now;

		delivery_drop_too_old(d);
		/* memory is older than anything on disk */
		n = d->head ? d->head : d->sp;
		if (!n && d->st.spool_files) {
			delivery_load_sp(d);
			continue;
		}
		if (!n) {
			pthread_cond_wait(&d->wake, &d->mu);
			continue;
		}
		if (n == d->sp && delivery_too_old(d, n, clock__ns(CLOCK_REALTIME))) {
			d->st.dropped_too_old++;
			delivery_set_last_error(d, n->r, "older than max_age, dropped");
			log__printf_ratelimited(&d->rl[RL_TOO_OLD], LOG_WARN,
						"delivery: %s: dropped a spooled request older than %llu ms (%s)\n",
						d->name, (unsigned long long)d->max_age_ms, n->r->what);
			delivery_release_sp(d);
			continue;
		}
		at = next_attempt_ns(d, n);
		now = clock__ns(CLOCK_MONOTONIC);
		if (at > now) {
			/* wake up too when the head gets too old to wait for */
			int64_t old_in = n->r->created_ns + (int64_t)(d->max_age_ms * NSEC_PER_MSEC) -
					 clock__ns(CLOCK_REALTIME) + NSEC_PER_MSEC;
			struct timespec ts;

			if (now + old_in < at)
				at = now + old_in;
			ts = ns_to_ts(at);
			pthread_cond_timedwait(&d->wake, &d->mu, &ts);
			continue;
		}
		n->attempts++;
		d->st.attempts++;
		pthread_mutex_unlock(&d->mu);
		/* n stays at the head meanwhile: only this thread removes */
		attempt(d, n->r, &res);
		pthread_mutex_lock(&d->mu);
		settle(d, n, &res);
		if (d->sp && d->sp->done)
			delivery_release_sp(d);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

