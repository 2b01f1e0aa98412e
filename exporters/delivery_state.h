/* What the three pieces of a delivery share: the queue and its API
 * (delivery.c), the worker that sends (delivery_send.c) and the spool side
 * with its writer thread (delivery_spool.c). Internal to them. */
#ifndef IGNIS_DELIVERY_STATE_H
#define IGNIS_DELIVERY_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/log.h"
#include "exporters/delivery.h"
#include "exporters/spool.h"

struct http_client;

struct qnode {
	struct qnode *next;
	struct http_request *r;
	uint64_t bytes;
	unsigned attempts;
	int64_t failed_ns;      /* CLOCK_MONOTONIC of the last retryable failure */
	uint64_t backoff_ms;    /* our own wait after it */
	int64_t not_before_ns;  /* CLOCK_MONOTONIC lower bound from Retry-After */
	uint64_t seq;           /* the spool file of d->sp */
	bool done;              /* d->sp had its final answer */
};

/* Each kind of trouble is logged at most once per 10 s per destination. */
enum rl_kind { RL_QUEUE_FULL, RL_RETRY, RL_CLIENT, RL_EXHAUSTED, RL_TOO_OLD, RL_SPOOL, RL_COUNT };

struct delivery {
	char *name;
	char *ca_file;
	unsigned timeout_ms, backoff_min_ms, backoff_max_ms, max_attempts;
	uint64_t queue_limit, max_age_ms;
	bool insecure;

	/* Secret header lines, added to each attempt only. */
	char **secrets;
	size_t nsecrets;

	/* Lock order: smu, then mu. smu serializes the spool (the writer's
	 * and the worker's disk work); nobody waits for it holding mu, so
	 * neither enqueue nor the worker's memory queue waits on the disk. */
	pthread_mutex_t smu;
	struct spool *spool;

	pthread_mutex_t mu;
	pthread_cond_t wake;  /* worker: a request came, a drain began, stop */
	pthread_cond_t idle;  /* drainers: the queue became empty */
	pthread_cond_t wwake; /* writer: a request to write, stop */
	bool mu_ok, smu_ok, wake_ok, idle_ok, wwake_ok, thread_ok, writer_ok;
	/* One FIFO: memory (oldest), then the spool's files, then the
	 * requests handed to the writer and not yet written (newest). A
	 * request goes to memory only while the other two are empty, so once
	 * anything is bound for the disk everything after it is too, and the
	 * worker empties memory before it reads the spool. The writer makes
	 * its files visible (spool_files) and takes them off the hand-off
	 * (spool_pending_*) in one step under mu, so enqueue never sees both
	 * empty while a file is on its way. */
	struct qnode *head, *tail;
	struct qnode *sp;     /* the spool's head, read back to be sent */
	struct qnode *whead, *wtail;  /* the hand-off, but the batch being written */
	uint64_t pending_limit;       /* bytes bound of the hand-off */
	bool wstop;           /* the writer writes what is handed over, then ends */
	pthread_t writer;
	unsigned draining;
	struct delivery_stats st;
	struct log_ratelimit rl[RL_COUNT];
	struct rng rng;

	atomic_bool stop;
	pthread_t thread;

	/* the worker's (free cancels its transfer from another thread) */
	struct http_client *http;

	/* delivery_opts.judge */
	enum delivery_verdict (*judge)(void *arg, const struct http_request *r, long status,
				       const char *body, size_t len, char *reason, size_t rlen);
	void *judge_arg;
	const char *final_message, *final_hint;  /* delivery_opts' */
	bool final_logged;
};

/* An absolute time (ns on its clock) for pthread_cond_timedwait. */
static inline struct timespec ns_to_ts(int64_t ns)
{
	struct timespec ts;

	if (ns < 0)
		ns = 0;
	ts.tv_sec = ns / NSEC_PER_SEC;
	ts.tv_nsec = ns % NSEC_PER_SEC;
	return ts;
}

/* delivery.c: the queue, under d->mu. */
uint64_t delivery_request_bytes(const struct http_request *r);
void delivery_set_last_error(struct delivery *d, const struct http_request *r, const char *reason);
bool delivery_queue_empty(const struct delivery *d);
void delivery_pop_head(struct delivery *d);
bool delivery_too_old(const struct delivery *d, const struct qnode *n, int64_t now_real);
void delivery_drop_too_old(struct delivery *d);

/* delivery_send.c: the worker thread. */
void *delivery_worker(void *arg);

/* delivery_spool.c: the spool side. */
void delivery_sync_spool(struct delivery *d);              /* smu held, not mu */
void delivery_load_sp(struct delivery *d);                 /* worker, mu held */
void delivery_release_sp(struct delivery *d);              /* worker, mu held */
void *delivery_writer(void *arg);
void delivery_spool_memory(struct delivery *d);            /* at free, no threads */

#endif
