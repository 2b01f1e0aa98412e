/* systemd's readiness notification (sd_notify(3)), written here rather than
 * linked from libsystemd, which would bring libgcrypt, liblz4 and libcap
 * into every ignis process for one datagram: the state text is sent to the
 * unix datagram socket named by $NOTIFY_SOCKET (a path, or "@name" in the
 * abstract namespace), as systemd documents for other implementations. */
#ifndef IGNIS_SYS_SDNOTIFY_H
#define IGNIS_SYS_SDNOTIFY_H

/* 1 when sent, 0 when not run by systemd (no $NOTIFY_SOCKET, or a kind of
 * address other than a unix socket), -errno when the socket cannot be
 * reached or the name is too long. */
int sdnotify__send(const char *state);

#endif
