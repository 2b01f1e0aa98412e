/* The delivery's spool side: the writer thread that writes what enqueue
 * hands over (so the caller never waits on the disk), reading the spool's
 * head back for the worker, and writing memory out at shutdown. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "exporters/delivery.h"
#include "exporters/delivery_state.h"
#include "exporters/spool.h"

/* Requests the spool writer takes at once: their renames share one fsync
 * of the directory, and the worker waits for the spool no longer than a
 * batch takes. */
#define WRITE_BATCH_MAX 64

/* Copies the spool's figures (ss) into the stats. Under d->mu. */
static void put_spool_stats(struct delivery *d, const struct spool_stats *ss)
{
	d->st.spool_files = ss->files;
	d->st.spool_bytes = ss->bytes;
	d->st.dropped_spool_full = ss->dropped_full;
	d->st.dropped_spool_bad = ss->dropped_bad;
	if (delivery_queue_empty(d))
		pthread_cond_broadcast(&d->idle);
}

/* Copies the spool's figures into the stats. Called with d->smu held,
 * without d->mu. */
void delivery_sync_spool(struct delivery *d)
{
	struct spool_stats ss;

	spool__stats(d->spool, &ss);
	pthread_mutex_lock(&d->mu);
	put_spool_stats(d, &ss);
	pthread_mutex_unlock(&d->mu);
}

/* Reads the spool's head into d->sp. Called by the worker under d->mu,
 * which it lets go meanwhile (smu comes first). */
void delivery_load_sp(struct delivery *d)
{
	struct http_request *r = NULL;
	struct qnode *n = calloc(1, sizeof(*n));
	uint64_t seq = 0;
	int err;

	pthread_mutex_unlock(&d->mu);
	pthread_mutex_lock(&d->smu);
	err = n ? spool__peek(d->spool, &r, &seq) : -ENOMEM;
	delivery_sync_spool(d);
	pthread_mutex_unlock(&d->smu);
	pthread_mutex_lock(&d->mu);
	if (!err) {
		n->r = r;
		n->seq = seq;
		n->bytes = delivery_request_bytes(r);
		d->sp = n;
		d->st.replayed++;
		return;
	}
	free(n);
	if (err == -ENOMEM) {
		/* the file stays; try again in a while */
		struct timespec ts = ns_to_ts(clock__ns(CLOCK_MONOTONIC) + NSEC_PER_SEC);

		pthread_cond_timedwait(&d->wake, &d->mu, &ts);
	}
}

/* Removes the spool file of d->sp after its final answer. Called by the
 * worker under d->mu, which it lets go meanwhile. The file goes before
 * the stats say so: spool_files keeps drainers waiting until then. */
void delivery_release_sp(struct delivery *d)
{
	struct qnode *n = d->sp;

	d->sp = NULL;
	pthread_mutex_unlock(&d->mu);
	pthread_mutex_lock(&d->smu);
	spool__pop(d->spool, n->seq);
	delivery_sync_spool(d);
	pthread_mutex_unlock(&d->smu);
	http_request__free(n->r);
	free(n);
	pthread_mutex_lock(&d->mu);
}

/* Writes one batch from the hand-off (nodes linked by next, at most
 * WRITE_BATCH_MAX) behind the spool's files, then books it: the files
 * become visible to enqueue and the worker in the same step as the batch
 * leaves the hand-off. Called by the writer without locks. */
static void write_batch(struct delivery *d, struct qnode *batch)
{
	struct http_request *v[WRITE_BATCH_MAX];
	int errs[WRITE_BATCH_MAX];
	struct spool_stats ss;
	uint64_t bytes = 0;
	size_t n = 0;

	for (struct qnode *q = batch; q; q = q->next) {
		v[n++] = q->r;
		bytes += q->bytes;
	}
	pthread_mutex_lock(&d->smu);
	spool__append_batch(d->spool, v, n, errs);
	spool__stats(d->spool, &ss);
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < n; i++) {
		if (!errs[i]) {
			d->st.spooled++;
			continue;
		}
		delivery_set_last_error(d, v[i], "spool full or not writable, dropped");
		log__printf_ratelimited(&d->rl[RL_SPOOL], LOG_WARN,
					"delivery: %s: %s: not written to the spool (%s); dropped\n",
					d->name, v[i]->what,
					errs[i] == -EFBIG ? "bigger than the spool's bound" :
					strerror(-errs[i]));
	}
	d->st.spool_pending_len -= n;
	d->st.spool_pending_bytes -= bytes;
	put_spool_stats(d, &ss);
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->mu);
	pthread_mutex_unlock(&d->smu);
	while (batch) {
		struct qnode *q = batch;

		batch = q->next;
		http_request__free(q->r);
		free(q);
	}
}

/* The spool writer: the disk work of enqueue, so that the caller (the
 * sampling loop) never waits for it. Ends once stopped and the hand-off
 * is empty: free still writes everything that was handed over. */
void *delivery_writer(void *arg)
{
	struct delivery *d = arg;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		struct qnode *batch, *last;
		size_t n = 1;

		if (!d->whead) {
			if (d->wstop)
				break;
			pthread_cond_wait(&d->wwake, &d->mu);
			continue;
		}
		batch = last = d->whead;
		while (last->next && n < WRITE_BATCH_MAX) {
			last = last->next;
			n++;
		}
		d->whead = last->next;
		if (!d->whead)
			d->wtail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&d->mu);
		write_batch(d, batch);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* Shutdown: what is still in memory goes to the spool, ahead of its files
 * (memory holds the older requests), so the next run sends it in order.
 * The request in flight when free stopped the worker is among them: if
 * the server took it before we saw the answer, it is sent twice. The
 * worker and the writer are gone: no locks needed. */
void delivery_spool_memory(struct delivery *d)
{
	struct http_request **v;
	size_t n = 0, ok;

	for (struct qnode *q = d->head; q; q = q->next)
		n++;
	v = calloc(n, sizeof(*v));
	if (!v) {
		pr_warn("delivery: %s: out of memory; %zu request(s) in memory not spooled at shutdown\n",
			d->name, n);
		return;
	}
	n = 0;
	for (struct qnode *q = d->head; q; q = q->next)
		v[n++] = q->r;
	/* one fsync of the directory for all of them */
	ok = spool__prepend_batch(d->spool, v, n, NULL);
	free(v);
	pr_info("delivery: %s: %zu request(s) still in memory at shutdown, %zu of them written to the spool\n",
		d->name, n, ok);
}

