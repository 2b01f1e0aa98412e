#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/array.h"
#include "base/log.h"
#include "base/secret.h"
#include "http/http.h"
#include "http/json.h"

/* CURLOPT_PROTOCOLS_STR (7.85), curl_easy_header (7.83), curl_multi_wakeup
 * (7.68). */
#if LIBCURL_VERSION_NUM < 0x075500
#error "libcurl 7.85 or later is needed"
#endif

/* A body buffer larger than this is given back after use. */
#define KEEP_BUFFER_MAX (1u << 20)
#define JSON_DEPTH 64

struct http_client {
	CURL *easy;
	/* Made on the first call (handles()); read by cancel from any
	 * thread, hence atomic. */
	_Atomic(CURLM *) multi;
	atomic_bool cancelled;
	char errbuf[CURL_ERROR_SIZE];
	/* the call under way */
	const struct http_call *call;
	long status;
	char *buf;
	size_t len, cap;
	bool too_big, stopped, nomem;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int http__init(void)
{
	pthread_once(&init_once, global_init);
	if (init_rc != CURLE_OK) {
		pr_warn("http: curl_global_init: %s\n", curl_easy_strerror(init_rc));
		return -ENOMEM;
	}
	return 0;
}

/* ---- header lists ------------------------------------------------------ */

static bool is_token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

int http_headers__line(const char *name, const char *value, char **line)
{
	int n;

	*line = NULL;
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

int http_headers__add_line(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);

	if (!l)
		return -ENOMEM;
	*list = l;
	return 0;
}

int http_headers__add(struct curl_slist **list, const char *name, const char *value)
{
	char *line;
	int err = http_headers__line(name, value, &line);

	if (err)
		return err;
	err = http_headers__add_line(list, line);
	secret__free(&line);
	return err;
}

int http_headers__copy(struct curl_slist **list, const struct curl_slist *src)
{
	for (const struct curl_slist *h = src; h; h = h->next)
		if (http_headers__add_line(list, h->data))
			return -ENOMEM;
	return 0;
}

size_t http_headers__bytes(const struct curl_slist *list)
{
	size_t n = 0;

	for (const struct curl_slist *h = list; h; h = h->next)
		n += sizeof(*h) + strlen(h->data) + 1;
	return n;
}

void http_headers__free(struct curl_slist *list)
{
	for (struct curl_slist *h = list; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(list);
}

/* ---- the client -------------------------------------------------------- */

struct http_client *http_client__new(void)
{
	/* libcurl is opened (http/curl_lazy.c) and its handles made on the
	 * first call, not here: an agent starting up (its BPF objects, the
	 * kernel's BTF) does not carry libcurl and OpenSSL at the same time. */
	return calloc(1, sizeof(struct http_client));
}

/* The handles, on the first call; 0 or -errno (ENOENT: no libcurl). */
static int handles(struct http_client *c)
{
	CURLM *m;

	if (c->easy)
		return 0;
	if (http__init())
		return -ENOENT;
	c->easy = curl_easy_init();
	m = curl_multi_init();
	if (!c->easy || !m) {
		if (m)
			curl_multi_cleanup(m);
		if (c->easy)
			curl_easy_cleanup(c->easy);
		c->easy = NULL;
		return -ENOMEM;
	}
	/* A cancel that sees no multi yet has set cancelled first, which the
	 * call checks before it waits on the multi. */
	atomic_store(&c->multi, m);
	return 0;
}

void http_client__free(struct http_client *c)
{
	if (!c)
		return;
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->easy)
		curl_easy_cleanup(c->easy);
	free(c->buf);
	free(c);
}

void http_client__cancel(struct http_client *c)
{
	if (!c)
		return;
	CURLM *m;

	atomic_store(&c->cancelled, true);
	m = atomic_load(&c->multi);
	if (m)
		curl_multi_wakeup(m);
}

void http_client__release(struct http_client *c)
{
	if (c->cap > KEEP_BUFFER_MAX) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
	c->len = 0;
}

static bool keep(struct http_client *c, const char *p, size_t n)
{
	if (ARRAY_RESERVE_FROM(c->buf, &c->cap, c->len + n + 1, 64 * 1024)) {
		c->nomem = true;
		return false;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return true;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct http_client *c = arg;
	const struct http_call *call = c->call;
	size_t n = size * nmemb, limit, room;
	bool ok;

	if (!c->status)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
	ok = c->status >= 200 && c->status < 300;
	if (ok && call->on_data) {
		if (call->on_data(call->arg, p, n))
			return n;
		c->stopped = true;
		return 0;
	}
	limit = call->truncate || ok ? call->max_body : HTTP_ERROR_BODY_MAX;
	room = limit > c->len ? limit - c->len : 0;
	if (ok && !call->truncate && n > room) {
		c->too_big = true;
		return 0;
	}
	/* the rest of an error body is read and thrown away */
	if (room && !keep(c, p, n < room ? n : room))
		return 0;
	return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct http_client *cl = arg;

	(void)a, (void)b, (void)c, (void)d;
	return atomic_load(&cl->cancelled) ? 1 : 0;
}

static CURLcode setup(struct http_client *c, const struct http_call *call)
{
	CURL *e = c->easy;
	CURLcode rc = CURLE_OK;

	curl_easy_reset(e);
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_URL, call->url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* a redirect is the caller's decision (same host only, for uploads) */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	if (call->timeout_ms)
		SET(CURLOPT_TIMEOUT_MS, call->timeout_ms);
	if (call->connect_timeout_ms)
		SET(CURLOPT_CONNECTTIMEOUT_MS, call->connect_timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	if (call->headers)
		SET(CURLOPT_HTTPHEADER, (struct curl_slist *)call->headers);
	if (call->user_agent)
		SET(CURLOPT_USERAGENT, call->user_agent);
	if (call->compressed)
		SET(CURLOPT_ACCEPT_ENCODING, "");
	if (call->post) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->len);
		SET(CURLOPT_POSTFIELDS, call->body ? (const char *)call->body : "");
	} else {
		SET(CURLOPT_HTTPGET, 1L);
	}
	if (call->user && call->password) {
		SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SET(CURLOPT_USERNAME, call->user);
		SET(CURLOPT_PASSWORD, call->password);
	}
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, c);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, c);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (call->ca_file)
		SET(CURLOPT_CAINFO, call->ca_file);
	if (call->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
#undef SET
	return rc;
}

/* The transfer on the multi handle, so that cancel can interrupt its
 * waits at once. */
static CURLcode run(struct http_client *c, const struct http_call *call)
{
	CURLcode rc;
	CURLMcode mc;
	CURLMsg *m;
	int running = 1, left;

	if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	while (running) {
		mc = curl_multi_perform(c->multi, &running);
		if (mc != CURLM_OK) {
			rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
			goto cleanup;
		}
		if (!running)
			break;
		if (atomic_load(&c->cancelled)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			goto cleanup;
		}
		if (call->on_tick)
			call->on_tick(call->arg);
		/* curl shortens the wait to its own timers */
		if (curl_multi_poll(c->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			rc = CURLE_FAILED_INIT;
			goto cleanup;
		}
	}
	rc = CURLE_FAILED_INIT;
	while ((m = curl_multi_info_read(c->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == c->easy)
			rc = m->data.result;
cleanup:
	curl_multi_remove_handle(c->multi, c->easy);
	return rc;
}

static enum http_result classify(struct http_client *c, CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return HTTP_DONE;
	case CURLE_WRITE_ERROR:
		return c->stopped ? HTTP_STOPPED : c->too_big ? HTTP_TOO_BIG :
		       c->nomem ? HTTP_NOMEM : HTTP_NET;
	case CURLE_ABORTED_BY_CALLBACK:
		return atomic_load(&c->cancelled) ? HTTP_CANCELLED : HTTP_NET;
	case CURLE_OUT_OF_MEMORY:
		return HTTP_NOMEM;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return HTTP_TLS;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
		return HTTP_PERMANENT;
	default:
		return HTTP_NET;
	}
}

void http_client__call(struct http_client *c, const struct http_call *call,
		       struct http_answer *a)
{
	struct curl_header *h;
	CURLcode rc;
	char *loc = NULL;
	int err;

	memset(a, 0, sizeof(*a));
	err = handles(c);
	if (err) {
		/* Retried like a network failure: what was to be sent is
		 * kept (and spooled) meanwhile. */
		a->result = HTTP_NET;
		snprintf(a->error, sizeof(a->error), "cannot start HTTP: %s",
			 err == -ENOENT ? curl_easy_strerror(CURLE_FAILED_INIT) : strerror(-err));
		return;
	}
	c->call = call;
	c->status = 0;
	c->len = 0;
	c->too_big = c->stopped = c->nomem = false;
	c->errbuf[0] = '\0';
	rc = setup(c, call);
	if (rc == CURLE_OK)
		rc = atomic_load(&c->cancelled) ? CURLE_ABORTED_BY_CALLBACK : run(c, call);
	if (!c->status)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
	a->result = classify(c, rc);
	a->status = c->status;
	a->body = c->buf && c->len ? c->buf : "";
	a->len = c->len;
	if (a->result != HTTP_DONE)
		snprintf(a->error, sizeof(a->error), "%s",
			 c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	if (rc == CURLE_OK && curl_easy_header(c->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) ==
		    CURLHE_OK) {
		time_t now = time(NULL);

		a->has_retry_after = !http__parse_retry_after(h->value, (int64_t)now,
							      &a->retry_after_ms);
	}
	if (rc == CURLE_OK && !curl_easy_getinfo(c->easy, CURLINFO_REDIRECT_URL, &loc))
		a->redirect_url = loc;
	/* the handle keeps pointers to the caller's header list until reset */
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
	c->call = NULL;
}

/* ---- pieces of answers and URLs ---------------------------------------- */

int http__parse_retry_after(const char *value, int64_t now_s, uint64_t *delay_ms)
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
	if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f')
		c = ' ';
	out[(*n)++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
}

static size_t finish(char *out, size_t n)
{
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return n;
}

/* The message of a JSON error body into out; *found tells whether the body
 * is an object with a "message" string (an empty one included). */
static size_t json_message(const char *body, size_t len, char *out, size_t size, bool *found)
{
	struct json_object *o, *m;
	const char *s;
	size_t n = 0;
	int slen;

	out[0] = '\0';
	if (size > HTTP_MESSAGE_MAX + 1)
		size = HTTP_MESSAGE_MAX + 1;
	/* what follows the object does not matter: the message is in it */
	o = json__parse_prefix(body, len, HTTP_ERROR_BODY_MAX, JSON_DEPTH);
	m = json__get(o, "message", json_type_string);
	*found = m != NULL;
	if (m) {
		s = json_object_get_string(m);
		slen = json_object_get_string_len(m);
		for (int i = 0; i < slen; i++)
			put_printable(out, size, &n, (unsigned char)s[i]);
	}
	json_object_put(o);
	return finish(out, n);
}

size_t http__json_message(const char *body, size_t len, char *out, size_t size)
{
	bool found;

	if (!out || !size)
		return 0;
	return json_message(body, len, out, size, &found);
}

size_t http__server_message(const char *body, size_t len, char *out, size_t size)
{
	size_t n, start = 0;
	bool found;

	if (!out || !size)
		return 0;
	out[0] = '\0';
	if (!body)
		return 0;
	n = json_message(body, len, out, size, &found);
	if (found)
		return n;
	if (size > HTTP_MESSAGE_MAX + 1)
		size = HTTP_MESSAGE_MAX + 1;
	while (start < len && body[start] && strchr(" \t\r\n", body[start]))
		start++;
	n = 0;
	for (size_t i = start; i < len && i - start < HTTP_MESSAGE_MAX; i++)
		put_printable(out, size, &n, (unsigned char)body[i]);
	return finish(out, n);
}

char *http__escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0), *c;

	if (!e)
		return NULL;
	c = strdup(e);
	curl_free(e);
	return c;
}

bool http__same_origin_redirect(const char *from, const char *to)
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
