/* Secrets: one line from a file or an environment variable, wiped when
 * freed. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/schema.h"   /* schema__quote, schema__has_control */
#include "base/secret.h"

#define MAX_SECRET_BYTES (64u << 10)
#define MAX_EXPANDED     8192u
#define Q SCHEMA_Q

__attribute__((format(printf, 3, 4)))
static int say(char *w, size_t wl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w, wl, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A secret is one line: a header value cannot hold a line break, and a
 * trailing newline is what editors and `echo` leave behind. */
static int check_secret(const char *where, const char *s, size_t len, char *w, size_t wl)
{
	if (!len)
		return say(w, wl, "%s is empty", where);
	if (strlen(s) != len || schema__has_control(s, true))
		return say(w, wl, "%s holds more than one line or control characters", where);
	return 0;
}

int secret__read_file(const char *path, char **out, char *w, size_t wl)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, err;

	/* Only regular files: opening a FIFO would hang the start, and opening
	 * some devices has effects of its own. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return say(w, wl, "cannot read %s: not a regular file", Q(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return say(w, wl, "cannot read %s: %s", Q(path), strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		err = say(w, wl, "cannot read %s: not a regular file", Q(path));
		goto cleanup;
	}
	buf = malloc(MAX_SECRET_BYTES + 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, MAX_SECRET_BYTES + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = say(w, wl, "cannot read %s: %s", Q(path), strerror(errno));
			goto cleanup;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > MAX_SECRET_BYTES) {
			err = say(w, wl, "%s is larger than %u bytes", Q(path), MAX_SECRET_BYTES);
			goto cleanup;
		}
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	err = check_secret(Q(path), buf, len, w, wl);
	if (err)
		goto cleanup;
	*out = buf;
	buf = NULL;
cleanup:
	if (buf)
		explicit_bzero(buf, MAX_SECRET_BYTES + 1);
	free(buf);
	close(fd);
	return err;
}

bool secret__env_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return true;
}

int secret__read_env(const char *name, char **out, char *w, size_t wl)
{
	char where[96];
	const char *v;

	if (!secret__env_name(name))
		return say(w, wl, "'%s': expected the name of an environment variable", Q(name));
	v = getenv(name);
	if (!v)
		return say(w, wl, "environment variable %s is not set", Q(name));
	snprintf(where, sizeof(where), "environment variable %s", Q(name));
	if (check_secret(where, v, strlen(v), w, wl))
		return -EINVAL;
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

void secret__release(const char *s)
{
	if (s) {
		explicit_bzero((char *)s, strlen(s));
		free((char *)s);
	}
}

void secret__free(char **s)
{
	secret__release(*s);
	*s = NULL;
}

int secret__expand(const char *raw, char **out, char *w, size_t wl)
{
	size_t cap = strlen(raw) + 1, len = 0;
	char *buf = malloc(cap);
	const char *p = raw;
	int err;

	if (!buf)
		return -ENOMEM;
	while (*p) {
		const char *add = p;
		size_t n = 1;

		if (p[0] == '$' && p[1] == '$') {
			p += 2;
		} else if (p[0] == '$' && p[1] == '{') {
			const char *close = strchr(p + 2, '}');
			char name[256];

			if (!close || close - p - 2 >= (ptrdiff_t)sizeof(name)) {
				err = say(w, wl, "unterminated ${ (write $$ for a literal $)");
				goto cleanup;
			}
			memcpy(name, p + 2, close - p - 2);
			name[close - p - 2] = '\0';
			if (!secret__env_name(name)) {
				err = say(w, wl, "'${%s}': expected the name of an environment "
						      "variable", Q(name));
				goto cleanup;
			}
			add = getenv(name);
			if (!add) {
				err = say(w, wl, "environment variable %s is not set", name);
				goto cleanup;
			}
			n = strlen(add);
			p = close + 1;
		} else {
			p++;
		}
		if (len + n + 1 > MAX_EXPANDED + 1) {
			err = say(w, wl, "longer than %u bytes once expanded", MAX_EXPANDED);
			goto cleanup;
		}
		if (len + n + 1 > cap) {
			char *nb;

			cap = len + n + 1 > cap * 2 ? len + n + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
		}
		memcpy(buf + len, add, n);
		len += n;
	}
	buf[len] = '\0';
	/* Not quoted: the expansion may be a secret. */
	if (schema__has_control(buf, true)) {
		err = say(w, wl, "holds line breaks or control characters once expanded");
		goto cleanup;
	}
	*out = buf;
	return 0;
cleanup:
	explicit_bzero(buf, cap);
	free(buf);
	return err;
}

