/* The libcurl functions ignis calls, defined here under their own names and
 * forwarded to libcurl.so.4, which is opened on the first call (see
 * base/dynlib.h): a process that never sends anything never maps libcurl
 * and the 35 libraries it needs. Without the library every call fails as
 * libcurl reports a failed start (CURLE_FAILED_INIT and the like) and
 * curl_easy_strerror says which file is missing. */
#include <stdarg.h>

#include <curl/curl.h>

#include "base/dynlib.h"

#define CURL_FNS(X)                                                                 \
	X(curl_global_init) X(curl_easy_init) X(curl_easy_cleanup) X(curl_easy_escape)  \
	X(curl_easy_getinfo) X(curl_easy_header) X(curl_easy_perform) X(curl_easy_reset) \
	X(curl_easy_setopt) X(curl_easy_strerror) X(curl_free) X(curl_getdate)          \
	X(curl_multi_add_handle) X(curl_multi_cleanup) X(curl_multi_info_read)          \
	X(curl_multi_init) X(curl_multi_perform) X(curl_multi_poll)                     \
	X(curl_multi_remove_handle) X(curl_multi_wakeup) X(curl_slist_append)           \
	X(curl_slist_free_all) X(curl_url) X(curl_url_cleanup) X(curl_url_get)          \
	X(curl_url_set)

DYNLIB_DEFINE(curl, "libcurl.so.4", CURL_FNS);

/* The function curl_<n>, typed; the call sites check ready() first. */
#define FN(n, type) DYNLIB_FN(curl, curl_##n, type)

static int ready(void)
{
	return dynlib__load(&curl) == 0;
}

/* The names are parenthesized: curl.h makes some of them macros. */
CURLcode (curl_global_init)(long flags)
{
	return ready() ? FN(global_init, CURLcode (*)(long))(flags) : CURLE_FAILED_INIT;
}

const char *(curl_easy_strerror)(CURLcode code)
{
	return ready() ? FN(easy_strerror, const char *(*)(CURLcode))(code) : curl.why;
}

CURL *(curl_easy_init)(void)
{
	return ready() ? FN(easy_init, CURL *(*)(void))() : NULL;
}

void (curl_easy_cleanup)(CURL *h)
{
	if (h && ready())
		FN(easy_cleanup, void (*)(CURL *))(h);
}

void (curl_easy_reset)(CURL *h)
{
	if (h && ready())
		FN(easy_reset, void (*)(CURL *))(h);
}

CURLcode (curl_easy_perform)(CURL *h)
{
	return ready() ? FN(easy_perform, CURLcode (*)(CURL *))(h) : CURLE_FAILED_INIT;
}

/* Every option and every piece of information ignis passes is one long, one
 * pointer or one curl_off_t: on the 64-bit targets ignis builds for, all
 * travel in the same argument register, so one void * carries each. */
CURLcode (curl_easy_setopt)(CURL *h, CURLoption opt, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, opt);
	arg = va_arg(ap, void *);
	va_end(ap);
	return ready() ? FN(easy_setopt, CURLcode (*)(CURL *, CURLoption, ...))(h, opt, arg) :
			 CURLE_FAILED_INIT;
}

CURLcode (curl_easy_getinfo)(CURL *h, CURLINFO info, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, info);
	arg = va_arg(ap, void *);
	va_end(ap);
	return ready() ? FN(easy_getinfo, CURLcode (*)(CURL *, CURLINFO, ...))(h, info, arg) :
			 CURLE_FAILED_INIT;
}

CURLHcode (curl_easy_header)(CURL *h, const char *name, size_t index, unsigned int origin,
			     int request, struct curl_header **hout)
{
	return ready() ? FN(easy_header, CURLHcode (*)(CURL *, const char *, size_t, unsigned int,
						       int, struct curl_header **))(
				 h, name, index, origin, request, hout) :
			 CURLHE_NOT_BUILT_IN;
}

char *(curl_easy_escape)(CURL *h, const char *s, int len)
{
	return ready() ? FN(easy_escape, char *(*)(CURL *, const char *, int))(h, s, len) : NULL;
}

void (curl_free)(void *p)
{
	/* Nothing curl allocated can exist before it was loaded. */
	if (p && ready())
		FN(free, void (*)(void *))(p);
}

time_t (curl_getdate)(const char *p, const time_t *unused)
{
	return ready() ? FN(getdate, time_t (*)(const char *, const time_t *))(p, unused) : -1;
}

CURLM *(curl_multi_init)(void)
{
	return ready() ? FN(multi_init, CURLM *(*)(void))() : NULL;
}

CURLMcode (curl_multi_cleanup)(CURLM *m)
{
	return ready() ? FN(multi_cleanup, CURLMcode (*)(CURLM *))(m) : CURLM_BAD_HANDLE;
}

CURLMcode (curl_multi_add_handle)(CURLM *m, CURL *h)
{
	return ready() ? FN(multi_add_handle, CURLMcode (*)(CURLM *, CURL *))(m, h) :
			 CURLM_BAD_HANDLE;
}

CURLMcode (curl_multi_remove_handle)(CURLM *m, CURL *h)
{
	return ready() ? FN(multi_remove_handle, CURLMcode (*)(CURLM *, CURL *))(m, h) :
			 CURLM_BAD_HANDLE;
}

CURLMcode (curl_multi_perform)(CURLM *m, int *running)
{
	return ready() ? FN(multi_perform, CURLMcode (*)(CURLM *, int *))(m, running) :
			 CURLM_BAD_HANDLE;
}

CURLMcode (curl_multi_poll)(CURLM *m, struct curl_waitfd extra[], unsigned int n, int timeout_ms,
			    int *numfds)
{
	return ready() ? FN(multi_poll, CURLMcode (*)(CURLM *, struct curl_waitfd *, unsigned int,
						      int, int *))(m, extra, n, timeout_ms, numfds) :
			 CURLM_BAD_HANDLE;
}

CURLMcode (curl_multi_wakeup)(CURLM *m)
{
	return ready() ? FN(multi_wakeup, CURLMcode (*)(CURLM *))(m) : CURLM_BAD_HANDLE;
}

CURLMsg *(curl_multi_info_read)(CURLM *m, int *left)
{
	return ready() ? FN(multi_info_read, CURLMsg *(*)(CURLM *, int *))(m, left) : NULL;
}

struct curl_slist *(curl_slist_append)(struct curl_slist *list, const char *s)
{
	return ready() ? FN(slist_append, struct curl_slist *(*)(struct curl_slist *,
								 const char *))(list, s) :
			 NULL;
}

void (curl_slist_free_all)(struct curl_slist *list)
{
	if (list && ready())
		FN(slist_free_all, void (*)(struct curl_slist *))(list);
}

CURLU *(curl_url)(void)
{
	return ready() ? FN(url, CURLU *(*)(void))() : NULL;
}

void (curl_url_cleanup)(CURLU *u)
{
	if (u && ready())
		FN(url_cleanup, void (*)(CURLU *))(u);
}

CURLUcode (curl_url_get)(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
	return ready() ? FN(url_get, CURLUcode (*)(CURLU *, CURLUPart, char **,
						   unsigned int))(u, what, part, flags) :
			 CURLUE_BAD_HANDLE;
}

CURLUcode (curl_url_set)(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
	return ready() ? FN(url_set, CURLUcode (*)(CURLU *, CURLUPart, const char *,
						   unsigned int))(u, what, part, flags) :
			 CURLUE_BAD_HANDLE;
}
