/* The delivery's queue and its API: memory first, then (past queue_bytes)
 * the spool; the worker (delivery_send.c) sends, the spool side
 * (delivery_spool.c) writes and reads back. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/backoff.h"
#include "base/log.h"
#include "base/secret.h"
#include "exporters/delivery.h"
#include "exporters/delivery_state.h"
#include "exporters/spool.h"
#include "http/http.h"

#define DEF_TIMEOUT_MS 10000u
#define DEF_BACKOFF_MIN_MS 500u
#define DEF_BACKOFF_MAX_MS 300000u
#define DEF_MAX_ATTEMPTS 10u
#define DEF_QUEUE_BYTES (64ull << 20)
#define DEF_MAX_AGE_MS 3600000ull
#define LOG_EVERY_MS 10000

/* What a request costs the queue's memory bound. */
uint64_t delivery_request_bytes(const struct http_request *r)
{
	return sizeof(*r) + r->len + strlen(r->url) + 1 + strlen(r->what) + 1 +
	       http_headers__bytes(r->headers);
}

void delivery_set_last_error(struct delivery *d, const struct http_request *r, const char *reason)
{
	char *out = d->st.last_error;
	size_t size = sizeof(d->st.last_error), n = 0;
	const char *parts[] = { r->what, ": ", reason };

	/* a long reason is cut: the log has it whole */
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (const char *p = parts[i]; *p && n + 1 < size; p++)
			out[n++] = *p;
	out[n] = '\0';
}

/* Nothing in memory, read back, on disk or on its way there. Under d->mu. */
bool delivery_queue_empty(const struct delivery *d)
{
	return !d->head && !d->sp && !d->st.spool_files && !d->st.spool_pending_len;
}

/* Unlinks the head (the worker's only way of removing a request but
 * drop_too_old) and wakes drainers when the queue empties. */
void delivery_pop_head(struct delivery *d)
{
	struct qnode *n = d->head;

	d->head = n->next;
	if (!d->head)
		d->tail = NULL;
	if (delivery_queue_empty(d))
		pthread_cond_broadcast(&d->idle);
	d->st.queue_bytes -= n->bytes;
	d->st.queue_len--;
	http_request__free(n->r);
	free(n);
}

bool delivery_too_old(const struct delivery *d, const struct qnode *n, int64_t now_real)
{
	return now_real - n->r->created_ns > (int64_t)(d->max_age_ms * NSEC_PER_MSEC);
}

/* Drops every queued request older than max_age (the intake would reject
 * it anyway). Called by the worker under d->mu with nothing in flight. */
void delivery_drop_too_old(struct delivery *d)
{
	int64_t now = clock__ns(CLOCK_REALTIME);
	struct qnode **pp = &d->head, *prev = NULL;
	uint64_t dropped = 0;
	char what[128] = "";

	while (*pp) {
		struct qnode *n = *pp;

		if (!delivery_too_old(d, n, now)) {
			prev = n;
			pp = &n->next;
			continue;
		}
		*pp = n->next;
		if (d->tail == n)
			d->tail = prev;
		d->st.queue_bytes -= n->bytes;
		d->st.queue_len--;
		d->st.dropped_too_old++;
		if (!dropped)
			snprintf(what, sizeof(what), "%s", n->r->what);
		delivery_set_last_error(d, n->r, "older than max_age, dropped");
		dropped++;
		http_request__free(n->r);
		free(n);
	}
	if (!dropped)
		return;
	if (delivery_queue_empty(d))
		pthread_cond_broadcast(&d->idle);
	log__printf_ratelimited(&d->rl[RL_TOO_OLD], LOG_WARN,
				"delivery: %s: dropped %llu request(s) older than %llu ms (%s%s)\n",
				d->name, (unsigned long long)dropped,
				(unsigned long long)d->max_age_ms, what, dropped > 1 ? ", ..." : "");
}

struct delivery *delivery__new(const struct delivery_opts *o)
{
	struct delivery *d = NULL;
	pthread_condattr_t ca;
	sigset_t all, old;
	int err;

	if (!o) {
		err = -EINVAL;
		goto cleanup;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		err = -ENOMEM;
		goto cleanup;
	}
	d->timeout_ms = o->timeout_ms ? o->timeout_ms : DEF_TIMEOUT_MS;
	d->backoff_min_ms = o->backoff_min_ms ? o->backoff_min_ms : DEF_BACKOFF_MIN_MS;
	d->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : DEF_BACKOFF_MAX_MS;
	if (d->backoff_max_ms < d->backoff_min_ms)
		d->backoff_max_ms = d->backoff_min_ms;
	d->max_attempts = o->max_attempts ? o->max_attempts : DEF_MAX_ATTEMPTS;
	d->queue_limit = o->queue_bytes ? o->queue_bytes : DEF_QUEUE_BYTES;
	d->pending_limit = d->queue_limit > DELIVERY_HANDOFF_MIN_BYTES ? d->queue_limit :
									 DELIVERY_HANDOFF_MIN_BYTES;
	d->max_age_ms = o->max_age_ms ? o->max_age_ms : DEF_MAX_AGE_MS;
	if (d->max_age_ms > INT64_MAX / NSEC_PER_MSEC / 2)
		d->max_age_ms = INT64_MAX / NSEC_PER_MSEC / 2;
	d->insecure = o->insecure_skip_verify;
	d->judge = o->judge;
	d->judge_arg = o->judge_arg;
	d->final_message = o->final_message;
	d->final_hint = o->final_hint;
	d->name = strdup(o->name ? o->name : "http");
	if (!d->name) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (o->ca_file) {
		/* say so now rather than on every upload */
		if (access(o->ca_file, R_OK)) {
			err = -errno;
			pr_warn("delivery: %s: CA file %s: %s\n", d->name, o->ca_file, strerror(-err));
			goto cleanup;
		}
		d->ca_file = strdup(o->ca_file);
		if (!d->ca_file) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	if (d->insecure)
		pr_warn("delivery: %s: TLS certificate verification is off\n", d->name);
	if (o->nsecret_headers) {
		if (!o->secret_headers) {
			err = -EINVAL;
			goto cleanup;
		}
		d->secrets = calloc(o->nsecret_headers, sizeof(*d->secrets));
		if (!d->secrets) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (; d->nsecrets < o->nsecret_headers; d->nsecrets++) {
			const struct http_header *h = &o->secret_headers[d->nsecrets];

			err = http_headers__line(h->name, h->value, &d->secrets[d->nsecrets]);
			if (err) {
				/* the name only: the value is the secret */
				if (err == -EINVAL)
					pr_warn("delivery: %s: secret header %s cannot be sent (bad name, or CR/LF in its value)\n",
						d->name, h->name ? h->name : "(null)");
				goto cleanup;
			}
		}
	}
	rng__seed(&d->rng);
	for (int k = 0; k < RL_COUNT; k++)
		d->rl[k] = (struct log_ratelimit){ .interval_ms = LOG_EVERY_MS, .burst = 1 };
	d->http = http_client__new();
	if (!d->http) {
		err = -errno;
		goto cleanup;
	}
	err = -pthread_mutex_init(&d->mu, NULL);
	if (err)
		goto cleanup;
	d->mu_ok = true;
	err = -pthread_mutex_init(&d->smu, NULL);
	if (err)
		goto cleanup;
	d->smu_ok = true;
	err = -pthread_condattr_init(&ca);
	if (err)
		goto cleanup;
	err = -pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!err) {
		err = -pthread_cond_init(&d->wake, &ca);
		d->wake_ok = !err;
	}
	if (!err) {
		err = -pthread_cond_init(&d->idle, &ca);
		d->idle_ok = !err;
	}
	if (!err) {
		err = -pthread_cond_init(&d->wwake, &ca);
		d->wwake_ok = !err;
	}
	pthread_condattr_destroy(&ca);
	if (err)
		goto cleanup;
	if (o->spool_dir) {
		d->spool = spool__open(o->spool_dir, o->spool_bytes, d->name);
		if (!d->spool) {
			err = -errno;
			goto cleanup;
		}
		/* no other thread yet, but sync_spool expects smu held */
		pthread_mutex_lock(&d->smu);
		delivery_sync_spool(d);
		pthread_mutex_unlock(&d->smu);
		if (d->st.spool_files)
			pr_info("delivery: %s: spool %s holds %llu request(s), %llu bytes, from an earlier run; they are sent first\n",
				d->name, o->spool_dir, (unsigned long long)d->st.spool_files,
				(unsigned long long)d->st.spool_bytes);
	}
	/* signals belong to the agent's main loop, not to this thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&d->thread, NULL, delivery_worker, d);
	if (!err)
		d->thread_ok = true;
	if (!err && d->spool) {
		err = -pthread_create(&d->writer, NULL, delivery_writer, d);
		d->writer_ok = !err;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto cleanup;
	return d;

cleanup:
	delivery__free(d);
	errno = -err;
	return NULL;
}

int delivery__enqueue(struct delivery *d, struct http_request *r)
{
	struct qnode *n;
	uint64_t bytes;
	int err = 0;

	if (!r)
		return -EINVAL;
	if (!d) {
		http_request__free(r);
		return -EINVAL;
	}
	bytes = delivery_request_bytes(r);
	n = calloc(1, sizeof(*n));
	/* mu only, and briefly: the disk is the writer's */
	pthread_mutex_lock(&d->mu);
	if (!n) {
		err = -ENOMEM;
		goto dropped;
	}
	n->r = r;
	n->bytes = bytes;
	if (d->st.queue_bytes + bytes <= d->queue_limit &&
	    !(d->spool && (d->st.spool_files || d->st.spool_pending_len))) {
		if (d->tail)
			d->tail->next = n;
		else
			d->head = n;
		d->tail = n;
		d->st.queue_bytes += bytes;
		d->st.queue_len++;
		pthread_cond_signal(&d->wake);
		pthread_mutex_unlock(&d->mu);
		return 0;
	}
	err = -ENOBUFS;
	/* behind what is on disk or on its way there; one request is always
	 * taken, however big, the spool's bound decides about it */
	if (d->spool && (!d->st.spool_pending_len ||
			 (d->st.spool_pending_len < DELIVERY_HANDOFF_MAX_REQUESTS &&
			  d->st.spool_pending_bytes + bytes <= d->pending_limit))) {
		if (d->wtail)
			d->wtail->next = n;
		else
			d->whead = n;
		d->wtail = n;
		d->st.spool_pending_len++;
		d->st.spool_pending_bytes += bytes;
		pthread_cond_signal(&d->wwake);
		pthread_mutex_unlock(&d->mu);
		return 0;
	}

dropped:
	d->st.dropped_queue_full++;
	delivery_set_last_error(d, r, err == -ENOMEM ? "out of memory, dropped" :
			     d->spool ? "spool writer behind, dropped" : "queue full, dropped");
	if (err == -ENOBUFS && d->spool)
		log__printf_ratelimited(&d->rl[RL_QUEUE_FULL], LOG_WARN,
					"delivery: %s: %s: the spool's writer is behind (%llu requests, %llu of %llu bytes waiting to be written); dropped\n",
					d->name, r->what, (unsigned long long)d->st.spool_pending_len,
					(unsigned long long)d->st.spool_pending_bytes,
					(unsigned long long)d->pending_limit);
	else
		log__printf_ratelimited(&d->rl[RL_QUEUE_FULL], LOG_WARN,
					"delivery: %s: %s: %s (%llu requests, %llu of %llu bytes queued); dropped\n",
					d->name, r->what, err == -ENOBUFS ? "queue full" : "out of memory",
					(unsigned long long)d->st.queue_len,
					(unsigned long long)d->st.queue_bytes,
					(unsigned long long)d->queue_limit);
	pthread_mutex_unlock(&d->mu);
	free(n);
	http_request__free(r);
	return err;
}

int delivery__drain(struct delivery *d, int64_t deadline_ns)
{
	struct timespec ts = ns_to_ts(deadline_ns);
	int err;

	if (!d)
		return -EINVAL;
	pthread_mutex_lock(&d->mu);
	d->draining++;
	pthread_cond_signal(&d->wake);
	while (!delivery_queue_empty(d) && !atomic_load(&d->stop))
		if (pthread_cond_timedwait(&d->idle, &d->mu, &ts) == ETIMEDOUT)
			break;
	err = delivery_queue_empty(d) ? 0 : -ETIMEDOUT;
	d->draining--;
	pthread_mutex_unlock(&d->mu);
	return err;
}

void delivery__stats(struct delivery *d, struct delivery_stats *s)
{
	if (!s)
		return;
	if (!d) {
		memset(s, 0, sizeof(*s));
		return;
	}
	pthread_mutex_lock(&d->mu);
	*s = d->st;
	pthread_mutex_unlock(&d->mu);
}

void delivery__free(struct delivery *d)
{
	if (!d)
		return;
	if (d->thread_ok) {
		atomic_store(&d->stop, true);
		pthread_mutex_lock(&d->mu);
		pthread_cond_broadcast(&d->wake);
		pthread_cond_broadcast(&d->idle);
		pthread_mutex_unlock(&d->mu);
		http_client__cancel(d->http);
		pthread_join(d->thread, NULL);
	}
	if (d->writer_ok) {
		/* what was handed over is written first, behind the files */
		pthread_mutex_lock(&d->mu);
		d->wstop = true;
		pthread_cond_signal(&d->wwake);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->writer, NULL);
	}
	if (d->spool && d->head)
		delivery_spool_memory(d);
	else if (d->st.queue_len)
		pr_info("delivery: %s: %llu request(s), %llu bytes, not sent at shutdown\n", d->name,
			(unsigned long long)d->st.queue_len, (unsigned long long)d->st.queue_bytes);
	while (d->head) {
		struct qnode *n = d->head;

		d->head = n->next;
		http_request__free(n->r);
		free(n);
	}
	while (d->whead) {
		struct qnode *n = d->whead;

		d->whead = n->next;
		http_request__free(n->r);
		free(n);
	}
	if (d->sp) {
		/* its file stays for the next run */
		http_request__free(d->sp->r);
		free(d->sp);
	}
	spool__free(d->spool);
	for (size_t i = 0; i < d->nsecrets; i++)
		secret__free(&d->secrets[i]);
	free(d->secrets);
	if (d->smu_ok)
		pthread_mutex_destroy(&d->smu);
	if (d->wwake_ok)
		pthread_cond_destroy(&d->wwake);
	if (d->idle_ok)
		pthread_cond_destroy(&d->idle);
	if (d->wake_ok)
		pthread_cond_destroy(&d->wake);
	if (d->mu_ok)
		pthread_mutex_destroy(&d->mu);
	http_client__free(d->http);
	free(d->ca_file);
	free(d->name);
	free(d);
}
