/* The libmicrohttpd functions the metrics server calls, defined here under
 * their own names and forwarded to libmicrohttpd.so.12, opened when the
 * server starts (see base/dynlib.h): `ignis record`, and an agent without
 * a metrics address, never map it and the TLS libraries it needs. Without
 * the library the server does not start (ENOENT), and says why. */
#include <errno.h>
#include <stdarg.h>

#include <microhttpd.h>

#include "base/dynlib.h"

#define MHD_FNS(X)                                                                   \
	X(MHD_start_daemon_va) X(MHD_stop_daemon) X(MHD_queue_response)               \
	X(MHD_create_response_from_buffer) X(MHD_create_response_from_buffer_with_free_callback) \
	X(MHD_destroy_response) X(MHD_add_response_header)

DYNLIB_DEFINE(lib, "libmicrohttpd.so.12", MHD_FNS);

#define FN(n, type) DYNLIB_FN(lib, MHD_##n, type)

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port,
				    MHD_AcceptPolicyCallback apc, void *apc_cls,
				    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	struct MHD_Daemon *d;
	va_list ap;

	if (dynlib__load(&lib)) {
		errno = ENOENT;
		return NULL;
	}
	va_start(ap, dh_cls);
	d = FN(start_daemon_va, struct MHD_Daemon *(*)(unsigned int, uint16_t,
						       MHD_AcceptPolicyCallback, void *,
						       MHD_AccessHandlerCallback, void *, va_list))(
		flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

/* The others take what only a started daemon gives: the library is loaded
 * by then. */
void MHD_stop_daemon(struct MHD_Daemon *d)
{
	FN(stop_daemon, void (*)(struct MHD_Daemon *))(d);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status,
				   struct MHD_Response *r)
{
	return FN(queue_response, enum MHD_Result (*)(struct MHD_Connection *, unsigned int,
						      struct MHD_Response *))(c, status, r);
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buf,
						     enum MHD_ResponseMemoryMode mode)
{
	return FN(create_response_from_buffer,
		  struct MHD_Response *(*)(size_t, void *, enum MHD_ResponseMemoryMode))(size, buf,
											 mode);
}

struct MHD_Response *MHD_create_response_from_buffer_with_free_callback(
	size_t size, void *buf, MHD_ContentReaderFreeCallback crfc)
{
	return FN(create_response_from_buffer_with_free_callback,
		  struct MHD_Response *(*)(size_t, void *, MHD_ContentReaderFreeCallback))(size, buf,
											  crfc);
}

void MHD_destroy_response(struct MHD_Response *r)
{
	FN(destroy_response, void (*)(struct MHD_Response *))(r);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *r, const char *header,
					const char *content)
{
	return FN(add_response_header, enum MHD_Result (*)(struct MHD_Response *, const char *,
							   const char *))(r, header, content);
}
