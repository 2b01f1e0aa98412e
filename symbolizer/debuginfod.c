/* Background fetches of debug files through libdebuginfod: see debuginfod.h.
 *
 * Facts about libdebuginfod 0.188 this relies on (debuginfod-client.c):
 * - DEBUGINFOD_URLS, DEBUGINFOD_CACHE_PATH and DEBUGINFOD_TIMEOUT are read
 *   with getenv() inside every debuginfod_find_*() call, not at
 *   debuginfod_begin(); the file lands in <cache>/<build id>/debuginfo and
 *   the returned fd and path point at that cache file.
 * - DEBUGINFOD_TIMEOUT (default 90) is a curl low-speed limit (less than
 *   100 KiB/s for that long), not a bound on the request, and a timed-out
 *   query is retried twice (DEBUGINFOD_RETRY_LIMIT). So the bound here is a
 *   progress callback: it is called at least once a second while a query
 *   runs, and a non-zero return ends the query.
 * - An ended query comes back as -ENOENT and leaves an empty file in the
 *   cache, which the library then takes as "server has no such file" for
 *   cache_miss_s (600 s): we remove that file, or a short outage would
 *   hide the file for ten minutes.
 * - A 404 also leaves that empty file; retrying past cache_miss_s asks the
 *   servers again.
 * - The downloaded file's mtime is the server's, and atime is set to the
 *   same: we set atime to "now" on arrival and on use, and evict by it. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <elfutils/debuginfod.h>

#include "base/array.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "symbolizer/debuginfod.h"

#define DEFAULT_CACHE_DIR   DEBUGINFOD_DEFAULT_CACHE
#define DEFAULT_CACHE_BYTES (2ULL << 30)
#define DEFAULT_TIMEOUT_S   30
#define DEFAULT_RETRY_S     300
#define DEFAULT_MISS_S      3600
#define MAX_QUEUED          4096
/* Build ids remembered (queued, done, backing off); past it, done and
 * expired entries are forgotten, then requests are dropped. */
#define MAX_ENTRIES         16384
#define MAX_ID_HEX          128 /* libdebuginfod's MAX_BUILD_ID_BYTES * 2 */
/* The same server problem is reported again after this long. */
#define WARN_INTERVAL_MS    (10 * 60 * 1000ULL)
/* Use of a cached file is written to its atime at most this often. */
#define TOUCH_INTERVAL_S    60

enum entry_state { ST_QUEUED, ST_INFLIGHT, ST_DONE, ST_BACKOFF };

struct entry {
	struct hashmap_node node;
	struct entry *qnext;
	enum entry_state state;
	uint64_t retry_ms; /* ST_BACKOFF: queued again by a request or result past it */
	char id[MAX_ID_HEX + 1];
};

struct debuginfod {
	pthread_mutex_t lock;
	pthread_cond_t work; /* the queue has something, or stop */
	pthread_cond_t idle; /* nothing queued or in flight */
	struct hashmap table;
	struct entry *qhead, *qtail;
	size_t queued;
	struct entry *inflight;
	struct debuginfod_stats stats;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;

	char *cache_dir;
	char *urls_log; /* the servers with any user:password@ removed */
	uint64_t cache_bound;
	uint64_t timeout_ms, retry_ms, miss_ms;

	/* Worker thread only. */
	debuginfod_client *client;
	uint64_t last_progress_ms;
	long last_bytes;
	bool timed_out;
	int warned_err;
	uint64_t warned_ms;
};

/* ---- the process environment ------------------------------------------ */

/* What the live instances put in the environment, and what was there before
 * the first of them. */
static struct {
	pthread_mutex_t lock;
	unsigned users;
	char *urls, *cache;
	bool set_urls;
	char *old_urls, *old_cache;
} env = { .lock = PTHREAD_MUTEX_INITIALIZER };

static char *dup_env(const char *name)
{
	const char *v = getenv(name);

	return v ? strdup(v) : NULL;
}

static int restore_env(const char *name, const char *old)
{
	return old ? setenv(name, old, 1) : unsetenv(name);
}

static void env_clear(void)
{
	free(env.urls);
	free(env.cache);
	free(env.old_urls);
	free(env.old_cache);
	env.urls = env.cache = env.old_urls = env.old_cache = NULL;
	env.set_urls = false;
}

/* urls: the servers this instance uses; set: whether they must be written
 * to DEBUGINFOD_URLS (not when they came from there). */
static int env_acquire(const char *urls, bool set, const char *cache)
{
	int err = 0;

	pthread_mutex_lock(&env.lock);
	if (env.users) {
		if (strcmp(env.urls, urls) != 0 || strcmp(env.cache, cache) != 0)
			err = -EBUSY;
		else
			env.users++;
		goto cleanup;
	}
	env.urls = strdup(urls);
	env.cache = strdup(cache);
	if (!env.urls || !env.cache) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (set && getenv(DEBUGINFOD_URLS_ENV_VAR) && !(env.old_urls = dup_env(DEBUGINFOD_URLS_ENV_VAR))) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (getenv(DEBUGINFOD_CACHE_PATH_ENV_VAR) &&
	    !(env.old_cache = dup_env(DEBUGINFOD_CACHE_PATH_ENV_VAR))) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (set && setenv(DEBUGINFOD_URLS_ENV_VAR, urls, 1) != 0) {
		err = -errno;
		goto cleanup;
	}
	env.set_urls = set;
	if (setenv(DEBUGINFOD_CACHE_PATH_ENV_VAR, cache, 1) != 0) {
		err = -errno;
		if (set)
			restore_env(DEBUGINFOD_URLS_ENV_VAR, env.old_urls);
		goto cleanup;
	}
	env.users = 1;
cleanup:
	if (err && !env.users)
		env_clear();
	pthread_mutex_unlock(&env.lock);
	return err;
}

static void env_release(void)
{
	pthread_mutex_lock(&env.lock);
	if (env.users && --env.users == 0) {
		if (env.set_urls)
			restore_env(DEBUGINFOD_URLS_ENV_VAR, env.old_urls);
		restore_env(DEBUGINFOD_CACHE_PATH_ENV_VAR, env.old_cache);
		env_clear();
	}
	pthread_mutex_unlock(&env.lock);
}

/* ---- small helpers ----------------------------------------------------- */

/* Lowercase hex of an even length the library accepts, into out. */
static int parse_id(const char *in, char out[MAX_ID_HEX + 1])
{
	size_t n;

	if (!in)
		return -EINVAL;
	for (n = 0; in[n]; n++) {
		if (n >= MAX_ID_HEX || !isxdigit((unsigned char)in[n]))
			return -EINVAL;
		out[n] = tolower((unsigned char)in[n]);
	}
	if (n == 0 || n % 2)
		return -EINVAL;
	out[n] = '\0';
	return 0;
}

static bool is_id_dir(const char *name)
{
	char tmp[MAX_ID_HEX + 1];

	return parse_id(name, tmp) == 0 && strcmp(tmp, name) == 0;
}

static bool only_spaces(const char *s)
{
	return s[strspn(s, " \t\n")] == '\0';
}

/* The servers as they may be logged: "scheme://user:pw@host/x" becomes
 * "scheme://host/x". NULL on allocation failure. */
static char *urls_for_log(const char *urls)
{
	char *out = malloc(strlen(urls) + 1), *w = out;
	const char *p = urls;

	if (!out)
		return NULL;
	while (*p) {
		const char *end, *auth, *auth_end, *at = NULL, *q;

		if (*p == ' ' || *p == '\t' || *p == '\n') {
			p++;
			continue;
		}
		end = p + strcspn(p, " \t\n");
		auth = strstr(p, "://");
		auth = auth && auth < end ? auth + 3 : p;
		auth_end = auth + strcspn(auth, "/?# \t\n");
		for (q = auth; q < auth_end; q++)
			if (*q == '@')
				at = q;
		if (w != out)
			*w++ = ' ';
		memcpy(w, p, auth - p);
		w += auth - p;
		q = at ? at + 1 : auth;
		memcpy(w, q, end - q);
		w += end - q;
		p = end;
	}
	*w = '\0';
	return out;
}

static char *cache_file(const struct debuginfod *d, const char *id)
{
	char *p;

	if (asprintf(&p, "%s/%s/debuginfo", d->cache_dir, id) < 0)
		return NULL;
	return p;
}

/* Records a use of a cached file, for eviction by age of last use. */
static void touch(const char *path)
{
	const struct timespec ts[2] = { { .tv_nsec = UTIME_NOW }, { .tv_nsec = UTIME_OMIT } };

	(void)utimensat(AT_FDCWD, path, ts, 0);
}

/* True when path is a non-empty regular file (an empty one is the library's
 * "not found" marker); its stat in *st. */
static bool cached(const char *path, struct stat *st)
{
	return stat(path, st) == 0 && S_ISREG(st->st_mode) && st->st_size > 0;
}

/* ---- table and queue (under d->lock) ----------------------------------- */

static int entry_eq(const struct hashmap_node *node, const void *key)
{
	return strcmp(((const struct entry *)node)->id, key) == 0;
}

static uint64_t id_hash(const char *id)
{
	return hash_bytes(HASH_SEED, id, strlen(id));
}

static struct entry *find_entry(struct debuginfod *d, const char *id)
{
	return (struct entry *)hashmap__find(&d->table, id_hash(id), id, entry_eq);
}

static int enqueue(struct debuginfod *d, struct entry *e)
{
	if (d->queued >= MAX_QUEUED) {
		d->stats.dropped++;
		return -ENOBUFS;
	}
	e->qnext = NULL;
	if (d->qtail)
		d->qtail->qnext = e;
	else
		d->qhead = e;
	d->qtail = e;
	d->queued++;
	e->state = ST_QUEUED;
	d->stats.requested++;
	pthread_cond_signal(&d->work);
	return 0;
}

static struct entry *dequeue(struct debuginfod *d)
{
	struct entry *e = d->qhead;

	if (!e)
		return NULL;
	d->qhead = e->qnext;
	if (!d->qhead)
		d->qtail = NULL;
	d->queued--;
	e->qnext = NULL;
	return e;
}

/* Forgets what the cache or an expired back-off answers as well. */
static void purge(struct debuginfod *d, uint64_t now)
{
	struct hashmap_node *n, *tmp;
	size_t b;

	hashmap__for_each(&d->table, n, tmp, b) {
		struct entry *e = (struct entry *)n;

		if (e->state == ST_DONE || (e->state == ST_BACKOFF && now >= e->retry_ms)) {
			hashmap__remove(&d->table, n);
			free(e);
		}
	}
}

/* ---- the cache's size bound -------------------------------------------- */

struct cache_file {
	char *path;
	char id[MAX_ID_HEX + 1];
	uint64_t size;
	int64_t used_ns;
};

static int by_use(const void *a, const void *b)
{
	const struct cache_file *x = a, *y = b;

	if (x->used_ns != y->used_ns)
		return x->used_ns < y->used_ns ? -1 : 1;
	return strcmp(x->path, y->path);
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Appends the files of one <cache>/<build id>/ directory. */
static int list_id_dir(const char *cache, const char *id, struct cache_file **files,
		       size_t *n, size_t *cap)
{
	char *dir = NULL;
	struct dirent *de;
	int err = 0;
	DIR *dh;

	if (asprintf(&dir, "%s/%s", cache, id) < 0)
		return -ENOMEM;
	dh = opendir(dir);
	if (!dh)
		goto cleanup; /* removed meanwhile, or not a directory */
	while ((de = readdir(dh))) {
		struct cache_file *f;
		struct stat st;

		/* Partial downloads ("debuginfo.XXXXXX") belong to a live query. */
		if (de->d_name[0] == '.' || strncmp(de->d_name, "debuginfo.", 10) == 0 ||
		    strncmp(de->d_name, "executable.", 11) == 0)
			continue;
		if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (ARRAY_RESERVE_FROM(*files, cap, *n + 1, 64)) {
			err = -ENOMEM;
			break;
		}
		f = &(*files)[*n];
		if (asprintf(&f->path, "%s/%s", dir, de->d_name) < 0) {
			err = -ENOMEM;
			break;
		}
		/* is_id_dir() bounded its length. */
		memcpy(f->id, id, strnlen(id, MAX_ID_HEX));
		f->id[strnlen(id, MAX_ID_HEX)] = '\0';
		f->size = st.st_size;
		f->used_ns = ts_ns(&st.st_atim) > ts_ns(&st.st_mtim) ? ts_ns(&st.st_atim)
								      : ts_ns(&st.st_mtim);
		(*n)++;
	}
	closedir(dh);
cleanup:
	free(dir);
	return err;
}

/* An evicted file is fetched again after the retry back-off, if still
 * asked for. */
static void mark_evicted(struct debuginfod *d, const char *id)
{
	struct entry *e;

	pthread_mutex_lock(&d->lock);
	e = find_entry(d, id);
	if (e && e->state == ST_DONE) {
		e->state = ST_BACKOFF;
		e->retry_ms = (uint64_t)clock__monotonic_ms() + d->retry_ms;
	}
	pthread_mutex_unlock(&d->lock);
}

/* Deletes the least recently used files until the cache holds at most the
 * bound, never keep (the file just fetched). The bytes left. */
static uint64_t enforce_bound(struct debuginfod *d, const char *keep)
{
	struct cache_file *files = NULL;
	size_t n = 0, cap = 0, i;
	uint64_t total = 0;
	struct dirent *de;
	DIR *dh;

	dh = opendir(d->cache_dir);
	if (!dh)
		return 0;
	while ((de = readdir(dh))) {
		if (is_id_dir(de->d_name) && list_id_dir(d->cache_dir, de->d_name, &files, &n, &cap))
			break;
	}
	closedir(dh);
	for (i = 0; i < n; i++)
		total += files[i].size;
	if (total > d->cache_bound) {
		qsort(files, n, sizeof(*files), by_use);
		for (i = 0; i < n && total > d->cache_bound; i++) {
			struct cache_file *f = &files[i];
			char *slash;

			if (f->size == 0 || (keep && strcmp(f->path, keep) == 0))
				continue;
			if (unlink(f->path) != 0)
				continue;
			total -= f->size;
			pr_debug("debuginfod: evicted %s (%llu bytes) to keep the cache under %llu bytes\n",
				 f->path, (unsigned long long)f->size,
				 (unsigned long long)d->cache_bound);
			slash = strrchr(f->path, '/');
			*slash = '\0';
			(void)rmdir(f->path); /* only when that was its last file */
			mark_evicted(d, f->id);
		}
	}
	for (i = 0; i < n; i++)
		free(files[i].path);
	free(files);
	return total;
}

/* ---- the worker -------------------------------------------------------- */

/* Called by libdebuginfod at least once a second during a query (and while
 * it cleans its cache); non-zero ends the query. a is the bytes received
 * once a server answers with the file, whose size b then is (else b is 0
 * and a counts loops). */
static int progress(debuginfod_client *c, long a, long b)
{
	struct debuginfod *d = debuginfod_get_user_data(c);
	uint64_t now = (uint64_t)clock__monotonic_ms();

	if (atomic_load(&d->stop))
		return 1;
	if (b > 0 && a != d->last_bytes) {
		d->last_bytes = a;
		d->last_progress_ms = now;
	}
	if (now - d->last_progress_ms >= d->timeout_ms) {
		d->timed_out = true;
		return 1;
	}
	return 0;
}

/* An ended query left the "server has no such file" marker: not true. */
static void drop_miss_marker(struct debuginfod *d, const char *id)
{
	char *path = cache_file(d, id);
	struct stat st;

	if (!path)
		return;
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0 && unlink(path) == 0) {
		*strrchr(path, '/') = '\0';
		(void)rmdir(path);
	}
	free(path);
}

static void warn_server(struct debuginfod *d, int err, const char *what)
{
	uint64_t now = (uint64_t)clock__monotonic_ms();

	if (err == d->warned_err && d->warned_ms && now - d->warned_ms < WARN_INTERVAL_MS)
		return;
	d->warned_err = err;
	d->warned_ms = now;
	pr_warn("debuginfod: %s: %s; retrying fetches after %llu s\n", d->urls_log, what,
		(unsigned long long)(d->retry_ms / 1000));
}

/* One query, without the lock; then its outcome, with it. */
static void fetch(struct debuginfod *d, struct entry *e)
{
	char id[MAX_ID_HEX + 1], *path = NULL;
	bool found = false, cancelled, missing = false;
	uint64_t bytes = 0, total = 0;
	struct stat st;
	int fd, err = 0;

	memcpy(id, e->id, sizeof(id));
	d->last_progress_ms = (uint64_t)clock__monotonic_ms();
	d->last_bytes = -1;
	d->timed_out = false;
	fd = debuginfod_find_debuginfo(d->client, (const unsigned char *)id, 0, &path);
	cancelled = d->timed_out || atomic_load(&d->stop);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0)
			bytes = st.st_size;
		close(fd);
		if (path) {
			touch(path);
			found = true;
			total = enforce_bound(d, path);
		}
	} else {
		err = fd;
		if (cancelled)
			drop_miss_marker(d, id);
		else
			missing = err == -ENOENT;
	}

	pthread_mutex_lock(&d->lock);
	if (found) {
		e->state = ST_DONE;
		d->stats.fetched++;
		d->stats.cache_bytes = total;
	} else {
		e->state = ST_BACKOFF;
		e->retry_ms = (uint64_t)clock__monotonic_ms() + (missing ? d->miss_ms : d->retry_ms);
		if (!atomic_load(&d->stop))
			d->stats.failed++;
	}
	pthread_mutex_unlock(&d->lock);

	if (found) {
		d->warned_err = 0;
		pr_info("debuginfod: fetched debuginfo of %s (%llu bytes)\n", id,
			(unsigned long long)bytes);
	} else if (atomic_load(&d->stop)) {
		/* Shutting down: not a server problem. */
	} else if (d->timed_out) {
		warn_server(d, ETIMEDOUT, "no answer in time");
	} else if (missing) {
		pr_debug("debuginfod: no debuginfo for %s on the servers\n", id);
	} else if (fd >= 0) {
		warn_server(d, EIO, "fetched file has no path");
	} else {
		warn_server(d, -err, strerror(-err));
	}
	free(path);
}

static void *worker(void *arg)
{
	struct debuginfod *d = arg;
	uint64_t total;
	struct entry *e;

	/* What an earlier run left, to the bound of this one. */
	total = enforce_bound(d, NULL);
	pthread_mutex_lock(&d->lock);
	d->stats.cache_bytes = total;
	for (;;) {
		while (!atomic_load(&d->stop) && !d->qhead)
			pthread_cond_wait(&d->work, &d->lock);
		if (atomic_load(&d->stop))
			break;
		e = dequeue(d);
		e->state = ST_INFLIGHT;
		d->inflight = e;
		pthread_mutex_unlock(&d->lock);
		fetch(d, e);
		pthread_mutex_lock(&d->lock);
		d->inflight = NULL;
		if (!d->qhead)
			pthread_cond_broadcast(&d->idle);
	}
	d->inflight = NULL;
	pthread_cond_broadcast(&d->idle);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* ---- API --------------------------------------------------------------- */

void debuginfod__free(struct debuginfod *d)
{
	struct hashmap_node *n, *tmp;
	size_t b;

	if (!d)
		return;
	if (d->thread_started) {
		pthread_mutex_lock(&d->lock);
		atomic_store(&d->stop, true);
		pthread_cond_broadcast(&d->work);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	if (d->client)
		debuginfod_end(d->client);
	if (d->cache_dir)
		env_release();
	hashmap__for_each(&d->table, n, tmp, b)
		free(n);
	hashmap__clear(&d->table);
	pthread_cond_destroy(&d->idle);
	pthread_cond_destroy(&d->work);
	pthread_mutex_destroy(&d->lock);
	free(d->urls_log);
	free(d->cache_dir);
	free(d);
}

struct debuginfod *debuginfod__new(const struct debuginfod_opts *o)
{
	const struct debuginfod_opts none = { 0 };
	const char *urls, *cache;
	struct debuginfod *d = NULL;
	pthread_condattr_t ca;
	sigset_t all, old;
	char *dir = NULL;
	size_t len;
	int err;

	if (!o)
		o = &none;
	urls = o->urls ? o->urls : getenv(DEBUGINFOD_URLS_ENV_VAR);
	if (!urls || only_spaces(urls)) {
		errno = ENOENT;
		return NULL;
	}
	cache = o->cache_dir && *o->cache_dir ? o->cache_dir : DEFAULT_CACHE_DIR;
	dir = strdup(cache);
	if (!dir) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* The library builds "<cache>/<id>/debuginfo" from this verbatim. */
	for (len = strlen(dir); len > 1 && dir[len - 1] == '/'; len--)
		dir[len - 1] = '\0';
	err = file__make_dirs(dir, 0755);
	if (err) {
		pr_warn("debuginfod: cannot create cache directory %s: %s\n", dir, strerror(-err));
		goto cleanup;
	}

	d = calloc(1, sizeof(*d));
	if (!d) {
		err = -ENOMEM;
		goto cleanup;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->work, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->idle, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&d->stop, false);
	d->cache_bound = o->cache_bytes ? o->cache_bytes : DEFAULT_CACHE_BYTES;
	d->timeout_ms = (o->timeout_s ? o->timeout_s : DEFAULT_TIMEOUT_S) * 1000ULL;
	d->retry_ms = (o->retry_s ? o->retry_s : DEFAULT_RETRY_S) * 1000ULL;
	d->miss_ms = (o->miss_s ? o->miss_s : DEFAULT_MISS_S) * 1000ULL;
	d->urls_log = urls_for_log(urls);
	if (!d->urls_log) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = env_acquire(urls, o->urls != NULL, dir);
	if (err) {
		if (err == -EBUSY)
			pr_warn("debuginfod: another instance uses other servers or another cache\n");
		goto cleanup;
	}
	d->cache_dir = dir; /* from here on, free releases the environment */
	dir = NULL;

	errno = 0;
	d->client = debuginfod_begin();
	if (!d->client) {
		err = errno ? -errno : -ENOMEM;
		goto cleanup;
	}
	debuginfod_set_user_data(d->client, d);
	debuginfod_set_progressfn(d->client, progress);

	/* Signals are for the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&d->thread, NULL, worker, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto cleanup;
	d->thread_started = true;
	pr_info("debuginfod: servers %s, cache %s (bound %llu bytes)\n", d->urls_log, d->cache_dir,
		(unsigned long long)d->cache_bound);
	return d;

cleanup:
	debuginfod__free(d);
	free(dir);
	errno = -err;
	return NULL;
}

int debuginfod__request(struct debuginfod *d, const char *build_id)
{
	char id[MAX_ID_HEX + 1], *path;
	struct entry *e;
	struct stat st;
	uint64_t now;
	int err;

	if (!d)
		return -EINVAL;
	err = parse_id(build_id, id);
	if (err)
		return err;
	path = cache_file(d, id);
	if (!path)
		return -ENOMEM;
	if (cached(path, &st)) {
		free(path);
		return 0;
	}
	free(path);

	pthread_mutex_lock(&d->lock);
	now = (uint64_t)clock__monotonic_ms();
	e = find_entry(d, id);
	if (e) {
		if (e->state == ST_BACKOFF && now >= e->retry_ms)
			err = enqueue(d, e);
		goto cleanup;
	}
	if (d->queued >= MAX_QUEUED) {
		d->stats.dropped++;
		err = -ENOBUFS;
		goto cleanup;
	}
	if (d->table.count >= MAX_ENTRIES)
		purge(d, now);
	if (d->table.count >= MAX_ENTRIES) {
		d->stats.dropped++;
		err = -ENOBUFS;
		goto cleanup;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		err = -ENOMEM;
		goto cleanup;
	}
	memcpy(e->id, id, sizeof(id));
	err = hashmap__insert(&d->table, &e->node, id_hash(id));
	if (err) {
		free(e);
		goto cleanup;
	}
	err = enqueue(d, e);
cleanup:
	pthread_mutex_unlock(&d->lock);
	return err;
}

int debuginfod__result(struct debuginfod *d, const char *build_id, char **path)
{
	char id[MAX_ID_HEX + 1], *file;
	struct entry *e;
	struct stat st;
	int err;

	if (!d || !path)
		return -EINVAL;
	*path = NULL;
	err = parse_id(build_id, id);
	if (err)
		return err;
	file = cache_file(d, id);
	if (!file)
		return -ENOMEM;
	if (cached(file, &st)) {
		if (clock__realtime_ns() / NSEC_PER_SEC - st.st_atim.tv_sec >= TOUCH_INTERVAL_S)
			touch(file);
		*path = file;
		return 0;
	}

	pthread_mutex_lock(&d->lock);
	e = find_entry(d, id);
	if (!e) {
		err = -ENOENT;
		goto cleanup;
	}
	switch (e->state) {
	case ST_QUEUED:
	case ST_INFLIGHT:
		err = -EAGAIN;
		break;
	case ST_DONE:
		/* The worker renames the file in before it says done: a miss
		 * above may have raced with that, so look again. */
		if (cached(file, &st)) {
			*path = file;
			file = NULL;
			err = 0;
			break;
		}
		/* Gone from the cache behind our back. */
		e->state = ST_BACKOFF;
		e->retry_ms = (uint64_t)clock__monotonic_ms() + d->retry_ms;
		err = -ENOENT;
		break;
	case ST_BACKOFF:
		err = (uint64_t)clock__monotonic_ms() >= e->retry_ms && enqueue(d, e) == 0 ?
		      -EAGAIN : -ENOENT;
		break;
	}
cleanup:
	pthread_mutex_unlock(&d->lock);
	free(file);
	return err;
}

int debuginfod__wait(struct debuginfod *d, uint64_t timeout_ms)
{
	struct timespec deadline;
	int err = 0;

	if (!d)
		return 0;
	/* A timeout past what an int64_t of ms holds (centuries) is forever
	 * enough. */
	deadline = clock__deadline(CLOCK_MONOTONIC,
				   timeout_ms > INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)timeout_ms);
	pthread_mutex_lock(&d->lock);
	while ((d->qhead || d->inflight) && !atomic_load(&d->stop)) {
		if (pthread_cond_timedwait(&d->idle, &d->lock, &deadline) == ETIMEDOUT) {
			if (d->qhead || d->inflight)
				err = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return err;
}

void debuginfod__stats(struct debuginfod *d, struct debuginfod_stats *s)
{
	if (!d) {
		memset(s, 0, sizeof(*s));
		return;
	}
	pthread_mutex_lock(&d->lock);
	*s = d->stats;
	pthread_mutex_unlock(&d->lock);
}
