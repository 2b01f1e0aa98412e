#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/charclass.h"
#include "base/log.h"
#include "exporters/delivery.h"
#include "exporters/spool.h"

/* CURLOPT_PROTOCOLS_STR (7.85) and curl_multi_wakeup (7.68). */
#if LIBCURL_VERSION_NUM < 0x075500
#error "libcurl 7.85 or later is needed"
#endif

#define NSEC_PER_MSEC 1000000LL
#define NSEC_PER_SEC 1000000000LL

#define DEF_TIMEOUT_MS 10000u
#define DEF_BACKOFF_MIN_MS 500u
#define DEF_BACKOFF_MAX_MS 300000u
#define DEF_MAX_ATTEMPTS 10u
#define DEF_QUEUE_BYTES (64ull << 20)
#define DEF_MAX_AGE_MS 3600000ull

/* Enough of an error body to quote; the rest is read and thrown away so
 * the connection stays usable. */
#define RESP_CAPTURE_MAX (64 * 1024)
#define MESSAGE_MAX 200
/* Same-host redirects followed within one attempt. */
#define MAX_REDIRECTS 3
#define LOG_EVERY_NS (10 * NSEC_PER_SEC)
/* Requests the spool writer takes at once: their renames share one fsync
 * of the directory, and the worker waits for the spool no longer than a
 * batch takes. */
#define WRITE_BATCH_MAX 64

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static struct timespec ns_to_ts(int64_t ns)
{
	struct timespec ts;

	if (ns < 0)
		ns = 0;
	ts.tv_sec = ns / NSEC_PER_SEC;
	ts.tv_nsec = ns % NSEC_PER_SEC;
	return ts;
}

/* ---- requests ---------------------------------------------------------- */

struct http_request *http_request__new(const char *url, void *body, size_t len,
				       int64_t created_ns, const char *what)
{
	struct http_request *r;
	int err;

	if (!url) {
		free(body);
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		err = -ENOMEM;
		free(body);
		goto cleanup;
	}
	r->body = body;
	r->len = len;
	r->created_ns = created_ns;
	r->url = strdup(url);
	r->what = strdup(what ? what : "request");
	if (!r->url || !r->what) {
		err = -ENOMEM;
		goto cleanup;
	}
	return r;

cleanup:
	http_request__free(r);
	errno = -err;
	return NULL;
}

static bool is_token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The header line "name: value" in *line (to free). */
static int header_line(const char *name, const char *value, char **line)
{
	int n;

	if (!name || !*name || !value)
		return -EINVAL;
	for (const char *p = name; *p; p++)
		if (!is_token_char((unsigned char)*p))
			return -EINVAL;
	if (strpbrk(value, "\r\n"))
		return -EINVAL;
	/* "Name;" is libcurl's spelling of an empty header; "Name:" would
	 * remove the header instead. */
	if (*value)
		n = asprintf(line, "%s: %s", name, value);
	else
		n = asprintf(line, "%s;", name);
	if (n < 0) {
		*line = NULL;
		return -ENOMEM;
	}
	return 0;
}

int http_request__add_header(struct http_request *r, const char *name, const char *value)
{
	struct curl_slist *l;
	char *line;
	int err;

	if (!r)
		return -EINVAL;
	err = header_line(name, value, &line);
	if (err)
		return err;
	l = curl_slist_append(r->headers, line);
	free(line);
	if (!l)
		return -ENOMEM;
	r->headers = l;
	return 0;
}

void http_request__free(struct http_request *r)
{
	if (!r)
		return;
	curl_slist_free_all(r->headers);
	free(r->url);
	free(r->what);
	free(r->body);
	free(r);
}

/* What a request costs the queue's memory bound. */
static uint64_t request_bytes(const struct http_request *r)
{
	uint64_t n = sizeof(*r) + r->len + strlen(r->url) + 1 + strlen(r->what) + 1;

	for (const struct curl_slist *h = r->headers; h; h = h->next)
		n += sizeof(*h) + strlen(h->data) + 1;
	return n;
}

/* ---- parsers of server answers ----------------------------------------- */

int delivery__parse_retry_after(const char *value, int64_t now_s, uint64_t *delay_ms)
{
	char buf[64];
	size_t len;
	time_t t;

	if (!value || !delay_ms)
		return -EINVAL;
	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (!len)
		return -EINVAL;
	if (strspn(value, "0123456789") >= len) {
		uint64_t s = 0;

		/* delta-seconds; a huge value saturates (the caller bounds it) */
		for (size_t i = 0; i < len; i++) {
			s = s * 10 + (uint64_t)(value[i] - '0');
			if (s > UINT32_MAX) {
				s = UINT32_MAX;
				break;
			}
		}
		*delay_ms = s * 1000;
		return 0;
	}
	/* An HTTP-date in any of its three forms (IMF-fixdate, RFC 850,
	 * asctime) fits in 64 bytes; longer is not one. */
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, len);
	buf[len] = '\0';
	t = curl_getdate(buf, NULL);
	if (t == (time_t)-1)
		return -EINVAL;
	*delay_ms = (int64_t)t > now_s ? (uint64_t)((int64_t)t - now_s) * 1000 : 0;
	return 0;
}

/* Appends c to out as printable ASCII: line breaks and tabs become ' ',
 * other bytes '?', except UTF-8 continuation bytes, which are skipped so a
 * character gives one '?'. */
static void put_printable(char *out, size_t size, size_t *n, unsigned char c)
{
	if (*n + 1 >= size)
		return;
	if (c >= 0x80 && (c & 0xc0) == 0x80)
		return;
	if (c == '\n' || c == '\r' || c == '\t')
		c = ' ';
	out[(*n)++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
}

static size_t skip_ws(const char *b, size_t len, size_t i)
{
	while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
		i++;
	return i;
}

/* The JSON string starting at b[i] ('"'): decoded (printable ASCII) into
 * out when out is set, its decoded length in *n. The index after the
 * closing quote, or SIZE_MAX when malformed. */
static size_t json_string(const char *b, size_t len, size_t i, char *out, size_t size, size_t *n)
{
	size_t dummy = 0;

	if (!n)
		n = &dummy;
	*n = 0;
	if (i >= len || b[i] != '"')
		return SIZE_MAX;
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)b[i];

		if (c == '"')
			return i + 1;
		if (c != '\\') {
			if (out)
				put_printable(out, size, n, c);
			continue;
		}
		if (++i >= len)
			return SIZE_MAX;
		switch (b[i]) {
		case 'n': case 't': case 'r': case 'b': case 'f':
			c = ' ';
			break;
		case 'u': {
			unsigned v = 0;

			if (len - i < 5)
				return SIZE_MAX;
			for (int k = 1; k <= 4; k++) {
				int h = charclass__hex_value(b[i + k]);

				if (h < 0)
					return SIZE_MAX;
				v = v << 4 | (unsigned)h;
			}
			i += 4;
			c = v >= 0x20 && v < 0x7f ? (unsigned char)v : '?';
			break;
		}
		default:
			c = (unsigned char)b[i];  /* \" \\ \/ and anything else as is */
			break;
		}
		if (out)
			put_printable(out, size, n, c);
	}
	return SIZE_MAX;
}

/* Skips the JSON value at b[i]; the index after it, SIZE_MAX when
 * malformed. Nesting is counted, not recursed into. */
static size_t json_skip(const char *b, size_t len, size_t i)
{
	size_t depth = 0;

	if (i >= len)
		return SIZE_MAX;
	if (b[i] != '{' && b[i] != '[' && b[i] != '"') {
		size_t start = i;

		while (i < len && !strchr(",}] \t\r\n", b[i]) && b[i])
			i++;
		return i > start ? i : SIZE_MAX;
	}
	while (i < len) {
		switch (b[i]) {
		case '"':
			i = json_string(b, len, i, NULL, 0, NULL);
			if (i == SIZE_MAX)
				return SIZE_MAX;
			if (!depth)
				return i;
			continue;
		case '{': case '[':
			depth++;
			break;
		case '}': case ']':
			if (!depth)
				return SIZE_MAX;
			if (!--depth)
				return i + 1;
			break;
		}
		i++;
	}
	return SIZE_MAX;
}

/* The top-level "message" string of a JSON object into out; false when
 * the body is not such an object. */
static bool json_message(const char *b, size_t len, char *out, size_t size, size_t *n)
{
	size_t i = skip_ws(b, len, 0);

	if (i >= len || b[i] != '{')
		return false;
	i = skip_ws(b, len, i + 1);
	if (i < len && b[i] == '}')
		return false;
	while (i < len) {
		size_t key = i;
		bool is_message;

		i = json_string(b, len, i, NULL, 0, NULL);
		if (i == SIZE_MAX)
			return false;
		/* the raw text: an escaped spelling of the key is not worth decoding */
		is_message = i - key == 9 && !memcmp(b + key, "\"message\"", 9);

		i = skip_ws(b, len, i);
		if (i >= len || b[i] != ':')
			return false;
		i = skip_ws(b, len, i + 1);
		if (is_message && i < len && b[i] == '"')
			return json_string(b, len, i, out, size, n) != SIZE_MAX;
		i = json_skip(b, len, i);
		if (i == SIZE_MAX)
			return false;
		i = skip_ws(b, len, i);
		if (i >= len || b[i] != ',')
			return false;  /* the end of the object, or not JSON */
		i = skip_ws(b, len, i + 1);
	}
	return false;
}

size_t delivery__server_message(const char *body, size_t len, char *out, size_t size)
{
	size_t n = 0;

	if (!out || !size)
		return 0;
	out[0] = '\0';
	if (!body)
		return 0;
	if (size > MESSAGE_MAX + 1)
		size = MESSAGE_MAX + 1;
	if (!json_message(body, len, out, size, &n)) {
		size_t start = skip_ws(body, len, 0);

		n = 0;
		for (size_t i = start; i < len && i - start < MESSAGE_MAX; i++)
			put_printable(out, size, &n, (unsigned char)body[i]);
	}
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return n;
}

/* ---- the delivery ------------------------------------------------------ */

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

struct ratelimit {
	int64_t next_ns;
	uint64_t suppressed;
};

enum rl_kind { RL_QUEUE_FULL, RL_RETRY, RL_CLIENT, RL_EXHAUSTED, RL_TOO_OLD, RL_SPOOL, RL_COUNT };

enum outcome { OUT_SENT, OUT_RETRY, OUT_DROP, OUT_ABORTED };

struct attempt_result {
	enum outcome out;
	bool has_retry_after;
	uint64_t retry_after_ms;
	char reason[MESSAGE_MAX + 64];
};

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
	struct ratelimit rl[RL_COUNT];
	uint64_t rng;

	atomic_bool stop;
	pthread_t thread;

	/* worker only (free touches multi through curl_multi_wakeup) */
	CURLM *multi;
	CURL *easy;
	char *resp;
	size_t resp_len;
	char errbuf[CURL_ERROR_SIZE];
};

#define NOTE_SIZE 48

/* true when a message of that kind may be logged now; note gets how many
 * were held back since the last one ("" when none). Called under d->mu. */
static bool ratelimit(struct delivery *d, enum rl_kind k, char note[NOTE_SIZE])
{
	struct ratelimit *rl = &d->rl[k];
	int64_t now = clock_ns(CLOCK_MONOTONIC);

	if (rl->next_ns && now < rl->next_ns) {
		rl->suppressed++;
		return false;
	}
	note[0] = '\0';
	if (rl->suppressed)
		snprintf(note, NOTE_SIZE, " [%llu similar suppressed]",
			 (unsigned long long)rl->suppressed);
	rl->suppressed = 0;
	rl->next_ns = now + LOG_EVERY_NS;
	return true;
}

static uint64_t next_random(struct delivery *d)
{
	/* splitmix64: jitter only needs to decorrelate agents */
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Exponential backoff with full jitter between backoff_min and the
 * doubling cap; the floor keeps a dead intake from being hammered. */
static uint64_t backoff_ms(struct delivery *d, unsigned failures)
{
	uint64_t cap = d->backoff_min_ms;

	for (unsigned i = 1; i < failures && cap < d->backoff_max_ms; i++)
		cap *= 2;
	if (cap > d->backoff_max_ms)
		cap = d->backoff_max_ms;
	return d->backoff_min_ms + next_random(d) % (cap - d->backoff_min_ms + 1);
}

static void set_last_error(struct delivery *d, const struct http_request *r, const char *reason)
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
static bool queue_empty(const struct delivery *d)
{
	return !d->head && !d->sp && !d->st.spool_files && !d->st.spool_pending_len;
}

/* Unlinks the head (the worker's only way of removing a request but
 * drop_too_old) and wakes drainers when the queue empties. */
static void pop_head(struct delivery *d)
{
	struct qnode *n = d->head;

	d->head = n->next;
	if (!d->head)
		d->tail = NULL;
	if (queue_empty(d))
		pthread_cond_broadcast(&d->idle);
	d->st.queue_bytes -= n->bytes;
	d->st.queue_len--;
	http_request__free(n->r);
	free(n);
}

static bool too_old(const struct delivery *d, const struct qnode *n, int64_t now_real)
{
	return now_real - n->r->created_ns > (int64_t)(d->max_age_ms * NSEC_PER_MSEC);
}

/* Drops every queued request older than max_age (the intake would reject
 * it anyway). Called by the worker under d->mu with nothing in flight. */
static void drop_too_old(struct delivery *d)
{
	int64_t now = clock_ns(CLOCK_REALTIME);
	struct qnode **pp = &d->head, *prev = NULL;
	uint64_t dropped = 0;
	char note[NOTE_SIZE];
	char what[128] = "";

	while (*pp) {
		struct qnode *n = *pp;

		if (!too_old(d, n, now)) {
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
		set_last_error(d, n->r, "older than max_age, dropped");
		dropped++;
		http_request__free(n->r);
		free(n);
	}
	if (!dropped)
		return;
	if (queue_empty(d))
		pthread_cond_broadcast(&d->idle);
	if (ratelimit(d, RL_TOO_OLD, note))
		pr_warn("delivery: %s: dropped %llu request(s) older than %llu ms (%s%s)%s\n",
			d->name, (unsigned long long)dropped, (unsigned long long)d->max_age_ms, what,
			dropped > 1 ? ", ..." : "", note);
}

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

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct delivery *d = arg;
	size_t n = size * nmemb, room = RESP_CAPTURE_MAX - d->resp_len;

	if (room) {
		size_t k = n < room ? n : room;

		memcpy(d->resp + d->resp_len, data, k);
		d->resp_len += k;
	}
	return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct delivery *d = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load(&d->stop) ? 1 : 0;
}

/* One HTTP exchange with url on the worker's multi handle, so free() can
 * interrupt the wait at once with curl_multi_wakeup. */
static CURLcode perform(struct delivery *d, const char *url, struct curl_slist *hdrs,
			const struct http_request *r)
{
	CURL *e = d->easy;
	CURLcode rc = CURLE_OK;
	CURLMcode mc;
	CURLMsg *m;
	int running = 1, left;

	curl_easy_reset(e);
	d->resp_len = 0;
	d->errbuf[0] = '\0';
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, d->errbuf);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* redirects are followed by hand, to the same host only */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, (long)d->timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	SET(CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, d);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, d);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (d->ca_file)
		SET(CURLOPT_CAINFO, d->ca_file);
	if (d->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
#undef SET
	if (rc != CURLE_OK)
		return rc;
	if (curl_multi_add_handle(d->multi, e) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	while (running) {
		mc = curl_multi_perform(d->multi, &running);
		if (mc != CURLM_OK) {
			rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
			goto cleanup;
		}
		if (!running)
			break;
		if (atomic_load(&d->stop)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			goto cleanup;
		}
		/* curl shortens the wait to its own timers */
		mc = curl_multi_poll(d->multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK) {
			rc = CURLE_FAILED_INIT;
			goto cleanup;
		}
	}
	rc = CURLE_FAILED_INIT;
	while ((m = curl_multi_info_read(d->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == e)
			rc = m->data.result;
cleanup:
	curl_multi_remove_handle(d->multi, e);
	return rc;
}

/* Whether to follow a redirect from one URL to another: same host,
 * no step down from https. */
static bool redirect_allowed(const char *from, const char *to)
{
	CURLU *a = curl_url(), *b = curl_url();
	char *ha = NULL, *hb = NULL, *sa = NULL, *sb = NULL;
	bool ok = false;

	if (!a || !b)
		goto cleanup;
	if (curl_url_set(a, CURLUPART_URL, from, 0) || curl_url_set(b, CURLUPART_URL, to, 0))
		goto cleanup;
	if (curl_url_get(a, CURLUPART_HOST, &ha, 0) || curl_url_get(b, CURLUPART_HOST, &hb, 0) ||
	    curl_url_get(a, CURLUPART_SCHEME, &sa, 0) || curl_url_get(b, CURLUPART_SCHEME, &sb, 0))
		goto cleanup;
	ok = !strcasecmp(ha, hb) && !(!strcasecmp(sa, "https") && strcasecmp(sb, "https"));
cleanup:
	curl_free(ha);
	curl_free(hb);
	curl_free(sa);
	curl_free(sb);
	curl_url_cleanup(a);
	curl_url_cleanup(b);
	return ok;
}

/* Errors no retry can fix. */
static bool curl_error_permanent(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
		return true;
	default:
		return false;
	}
}

/* One attempt at sending r (following same-host redirects), without d->mu. */
static void attempt(struct delivery *d, const struct http_request *r, struct attempt_result *res)
{
	struct curl_slist *hdrs = NULL, *l;
	char *url = NULL;
	const char *target = r->url;

	memset(res, 0, sizeof(*res));
	for (const struct curl_slist *h = r->headers; h; h = h->next) {
		l = curl_slist_append(hdrs, h->data);
		if (!l)
			goto nomem;
		hdrs = l;
	}
	/* the destination's credentials as they are now, also for a request
	 * written to the spool long ago */
	for (size_t i = 0; i < d->nsecrets; i++) {
		l = curl_slist_append(hdrs, d->secrets[i]);
		if (!l)
			goto nomem;
		hdrs = l;
	}
	/* no 100-continue round trip: intakes answer the whole request */
	l = curl_slist_append(hdrs, "Expect:");
	if (!l)
		goto nomem;
	hdrs = l;

	for (int hop = 0;; hop++) {
		CURLcode rc = perform(d, target, hdrs, r);
		long status = 0;
		char *loc = NULL;

		if (atomic_load(&d->stop)) {
			res->out = OUT_ABORTED;
			break;
		}
		if (rc != CURLE_OK) {
			res->out = curl_error_permanent(rc) ? OUT_DROP : OUT_RETRY;
			snprintf(res->reason, sizeof(res->reason), "%s",
				 d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc));
			break;
		}
		curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300) {
			res->out = OUT_SENT;
			break;
		}
		if (status == 301 || status == 302 || status == 307 || status == 308) {
			curl_easy_getinfo(d->easy, CURLINFO_REDIRECT_URL, &loc);
			if (loc && hop < MAX_REDIRECTS && redirect_allowed(target, loc)) {
				char *next = strdup(loc);

				if (!next)
					goto nomem;
				free(url);
				target = url = next;
				continue;
			}
			res->out = OUT_DROP;
			snprintf(res->reason, sizeof(res->reason),
				 "HTTP %ld: redirect not followed (%s)", status,
				 !loc ? "no location" : hop >= MAX_REDIRECTS ? "too many" :
				 "other host or https to http");
			break;
		}
		if (status == 408 || status == 429 || status >= 500) {
			struct curl_header *h;

			res->out = OUT_RETRY;
			if (curl_easy_header(d->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) ==
				    CURLHE_OK &&
			    !delivery__parse_retry_after(h->value, clock_ns(CLOCK_REALTIME) / NSEC_PER_SEC,
							 &res->retry_after_ms))
				res->has_retry_after = true;
		} else {
			res->out = OUT_DROP;
		}
		{
			char msg[MESSAGE_MAX + 1];

			if (delivery__server_message(d->resp, d->resp_len, msg, sizeof(msg)))
				snprintf(res->reason, sizeof(res->reason), "HTTP %ld: %s", status, msg);
			else
				snprintf(res->reason, sizeof(res->reason), "HTTP %ld", status);
		}
		break;
	}
	goto cleanup;

nomem:
	res->out = OUT_RETRY;
	snprintf(res->reason, sizeof(res->reason), "out of memory");
cleanup:
	/* the copies of secret lines do not linger in freed memory */
	for (struct curl_slist *h = hdrs; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(hdrs);
	free(url);
}

/* The final answer for n: a memory head is freed here; the spool's head
 * is marked, its file removed by the worker outside d->mu (release_sp). */
static void finish(struct delivery *d, struct qnode *n)
{
	if (n == d->sp)
		n->done = true;
	else
		pop_head(d);
}

/* Books the result of an attempt on the head, under d->mu. */
static void settle(struct delivery *d, struct qnode *n, const struct attempt_result *res)
{
	const struct http_request *r = n->r;
	uint64_t wait;
	char note[NOTE_SIZE];

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
		set_last_error(d, r, res->reason);
		if (ratelimit(d, RL_CLIENT, note))
			pr_warn("delivery: %s: %s: %s; dropped%s\n",
				d->name, r->what, res->reason, note);
		finish(d, n);
		return;
	case OUT_RETRY:
		break;
	}
	set_last_error(d, r, res->reason);
	if (n->attempts >= d->max_attempts) {
		d->st.dropped_retries_exhausted++;
		if (ratelimit(d, RL_EXHAUSTED, note))
			pr_warn("delivery: %s: %s: %s; dropped after %u attempts%s\n",
				d->name, r->what, res->reason, n->attempts,
				note);
		finish(d, n);
		return;
	}
	d->st.retried++;
	n->failed_ns = clock_ns(CLOCK_MONOTONIC);
	n->backoff_ms = backoff_ms(d, n->attempts);
	n->not_before_ns = 0;
	wait = n->backoff_ms;
	if (res->has_retry_after) {
		/* no point waiting past the age at which the request is dropped */
		uint64_t ra = res->retry_after_ms < d->max_age_ms ? res->retry_after_ms : d->max_age_ms;

		n->not_before_ns = n->failed_ns + (int64_t)ra * NSEC_PER_MSEC;
		if (ra > wait)
			wait = ra;
	}
	if (ratelimit(d, RL_RETRY, note))
		pr_warn("delivery: %s: %s: %s; retry %u/%u in %llu ms%s\n",
			d->name, r->what, res->reason, n->attempts + 1, d->max_attempts,
			(unsigned long long)wait, note);
}

/* Copies the spool's figures (ss) into the stats. Under d->mu. */
static void put_spool_stats(struct delivery *d, const struct spool_stats *ss)
{
	d->st.spool_files = ss->files;
	d->st.spool_bytes = ss->bytes;
	d->st.dropped_spool_full = ss->dropped_full;
	d->st.dropped_spool_bad = ss->dropped_bad;
	if (queue_empty(d))
		pthread_cond_broadcast(&d->idle);
}

/* Copies the spool's figures into the stats. Called with d->smu held,
 * without d->mu. */
static void sync_spool(struct delivery *d)
{
	struct spool_stats ss;

	spool__stats(d->spool, &ss);
	pthread_mutex_lock(&d->mu);
	put_spool_stats(d, &ss);
	pthread_mutex_unlock(&d->mu);
}

/* Reads the spool's head into d->sp. Called by the worker under d->mu,
 * which it lets go meanwhile (smu comes first). */
static void load_sp(struct delivery *d)
{
	struct http_request *r = NULL;
	struct qnode *n = calloc(1, sizeof(*n));
	uint64_t seq = 0;
	int err;

	pthread_mutex_unlock(&d->mu);
	pthread_mutex_lock(&d->smu);
	err = n ? spool__peek(d->spool, &r, &seq) : -ENOMEM;
	sync_spool(d);
	pthread_mutex_unlock(&d->smu);
	pthread_mutex_lock(&d->mu);
	if (!err) {
		n->r = r;
		n->seq = seq;
		n->bytes = request_bytes(r);
		d->sp = n;
		d->st.replayed++;
		return;
	}
	free(n);
	if (err == -ENOMEM) {
		/* the file stays; try again in a while */
		struct timespec ts = ns_to_ts(clock_ns(CLOCK_MONOTONIC) + NSEC_PER_SEC);

		pthread_cond_timedwait(&d->wake, &d->mu, &ts);
	}
}

/* Removes the spool file of d->sp after its final answer. Called by the
 * worker under d->mu, which it lets go meanwhile. The file goes before
 * the stats say so: spool_files keeps drainers waiting until then. */
static void release_sp(struct delivery *d)
{
	struct qnode *n = d->sp;

	d->sp = NULL;
	pthread_mutex_unlock(&d->mu);
	pthread_mutex_lock(&d->smu);
	spool__pop(d->spool, n->seq);
	sync_spool(d);
	pthread_mutex_unlock(&d->smu);
	http_request__free(n->r);
	free(n);
	pthread_mutex_lock(&d->mu);
}

static void *worker(void *arg)
{
	struct delivery *d = arg;
	struct attempt_result res;
	char note[NOTE_SIZE];

	pthread_mutex_lock(&d->mu);
	while (!atomic_load(&d->stop)) {
		struct qnode *n;
		int64_t at, now;

		drop_too_old(d);
		/* memory is older than anything on disk */
		n = d->head ? d->head : d->sp;
		if (!n && d->st.spool_files) {
			load_sp(d);
			continue;
		}
		if (!n) {
			pthread_cond_wait(&d->wake, &d->mu);
			continue;
		}
		if (n == d->sp && too_old(d, n, clock_ns(CLOCK_REALTIME))) {
			d->st.dropped_too_old++;
			set_last_error(d, n->r, "older than max_age, dropped");
			if (ratelimit(d, RL_TOO_OLD, note))
				pr_warn("delivery: %s: dropped a spooled request older than %llu ms (%s)%s\n",
					d->name, (unsigned long long)d->max_age_ms, n->r->what, note);
			release_sp(d);
			continue;
		}
		at = next_attempt_ns(d, n);
		now = clock_ns(CLOCK_MONOTONIC);
		if (at > now) {
			/* wake up too when the head gets too old to wait for */
			int64_t old_in = n->r->created_ns + (int64_t)(d->max_age_ms * NSEC_PER_MSEC) -
					 clock_ns(CLOCK_REALTIME) + NSEC_PER_MSEC;
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
			release_sp(d);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
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
	char note[NOTE_SIZE];
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
		set_last_error(d, v[i], "spool full or not writable, dropped");
		if (ratelimit(d, RL_SPOOL, note))
			pr_warn("delivery: %s: %s: not written to the spool (%s); dropped%s\n", d->name,
				v[i]->what,
				errs[i] == -EFBIG ? "bigger than the spool's bound" : strerror(-errs[i]),
				note);
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
static void *writer(void *arg)
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
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		pr_warn("delivery: curl_global_init: %s\n", curl_easy_strerror(curl_init_rc));
		err = -ENOMEM;
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

			err = header_line(h->name, h->value, &d->secrets[d->nsecrets]);
			if (err) {
				/* the name only: the value is the secret */
				if (err == -EINVAL)
					pr_warn("delivery: %s: secret header %s cannot be sent (bad name, or CR/LF in its value)\n",
						d->name, h->name ? h->name : "(null)");
				goto cleanup;
			}
		}
	}
	if (getrandom(&d->rng, sizeof(d->rng), GRND_NONBLOCK) != sizeof(d->rng))
		d->rng = (uint64_t)clock_ns(CLOCK_MONOTONIC) ^ (uint64_t)getpid() << 32;

	d->resp = malloc(RESP_CAPTURE_MAX);
	d->multi = curl_multi_init();
	d->easy = curl_easy_init();
	if (!d->resp || !d->multi || !d->easy) {
		err = -ENOMEM;
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
		sync_spool(d);
		pthread_mutex_unlock(&d->smu);
		if (d->st.spool_files)
			pr_info("delivery: %s: spool %s holds %llu request(s), %llu bytes, from an earlier run; they are sent first\n",
				d->name, o->spool_dir, (unsigned long long)d->st.spool_files,
				(unsigned long long)d->st.spool_bytes);
	}
	/* signals belong to the agent's main loop, not to this thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&d->thread, NULL, worker, d);
	if (!err)
		d->thread_ok = true;
	if (!err && d->spool) {
		err = -pthread_create(&d->writer, NULL, writer, d);
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
	char note[NOTE_SIZE];
	int err = 0;

	if (!r)
		return -EINVAL;
	if (!d) {
		http_request__free(r);
		return -EINVAL;
	}
	bytes = request_bytes(r);
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
	set_last_error(d, r, err == -ENOMEM ? "out of memory, dropped" :
			     d->spool ? "spool writer behind, dropped" : "queue full, dropped");
	if (ratelimit(d, RL_QUEUE_FULL, note)) {
		if (err == -ENOBUFS && d->spool)
			pr_warn("delivery: %s: %s: the spool's writer is behind (%llu requests, %llu of %llu bytes waiting to be written); dropped%s\n",
				d->name, r->what, (unsigned long long)d->st.spool_pending_len,
				(unsigned long long)d->st.spool_pending_bytes,
				(unsigned long long)d->pending_limit, note);
		else
			pr_warn("delivery: %s: %s: %s (%llu requests, %llu of %llu bytes queued); dropped%s\n",
				d->name, r->what, err == -ENOBUFS ? "queue full" : "out of memory",
				(unsigned long long)d->st.queue_len,
				(unsigned long long)d->st.queue_bytes,
				(unsigned long long)d->queue_limit, note);
	}
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
	while (!queue_empty(d) && !atomic_load(&d->stop))
		if (pthread_cond_timedwait(&d->idle, &d->mu, &ts) == ETIMEDOUT)
			break;
	err = queue_empty(d) ? 0 : -ETIMEDOUT;
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

/* Shutdown: what is still in memory goes to the spool, ahead of its files
 * (memory holds the older requests), so the next run sends it in order.
 * The request in flight when free stopped the worker is among them: if
 * the server took it before we saw the answer, it is sent twice. The
 * worker and the writer are gone: no locks needed. */
static void spool_memory(struct delivery *d)
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
		curl_multi_wakeup(d->multi);
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
		spool_memory(d);
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
	for (size_t i = 0; i < d->nsecrets; i++) {
		explicit_bzero(d->secrets[i], strlen(d->secrets[i]));
		free(d->secrets[i]);
	}
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
	if (d->easy)
		curl_easy_cleanup(d->easy);
	if (d->multi)
		curl_multi_cleanup(d->multi);
	free(d->resp);
	free(d->ca_file);
	free(d->name);
	free(d);
}
