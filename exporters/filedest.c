/* The file destination. Everything happens in the caller's thread during
 * filedest__submit: render, write, fsync, rename, then rescan the directory
 * and delete the oldest of our files while over the bound. Rescanning each
 * interval rather than keeping an index costs a readdir and a stat per file
 * but stays right when someone else deletes or copies files away, and there
 * is no state to go stale across a directory that vanished and came back. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/log.h"
#include "exporters/filedest.h"
#include "exporters/pprof.h"

#define DEFAULT_MAX_BYTES (1ULL << 30)
#define TIME_LEN 16          /* 20261121T120015Z */
#define VALUE_MAX 64         /* bytes of one label value in a name */
#define HASH_LEN 8
#define BASE_MAX 200         /* time, labels and hash; suffix and extension come on top */
#define SUFFIX_MAX 999       /* "-999": same series, same second */
#define EXT ".pb.gz"
#define TMP_EXT ".tmp"

struct filedest {
	char *name;
	char *dir;
	uint64_t max_bytes;
	char **sample_labels;
	size_t nsample_labels;
	bool failing;  /* the last interval had errors: say when it recovers */

	pthread_mutex_t lock;  /* guards st */
	struct filedest_stats st;
};

/* One of our files as a scan found it. */
struct ours {
	char *name;
	uint64_t size;
	struct timespec mtime;
};

/* What one submit did, logged once at its end. */
struct tally {
	uint64_t files, bytes, deleted, deleted_bytes, errors;
	int first_err;
	char what[320];  /* the first failure, for the log line */
};

static void tally__error(struct tally *t, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void tally__error(struct tally *t, int err, const char *fmt, ...)
{
	va_list ap;

	t->errors++;
	if (t->first_err)
		return;
	t->first_err = err;
	va_start(ap, fmt);
	vsnprintf(t->what, sizeof(t->what), fmt, ap);
	va_end(ap);
}

/* ---- names ------------------------------------------------------------ */

static bool is_name_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-';
}

static bool is_hex_lower(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* A label value as it goes into a name: allowed bytes kept, every run of
 * others (a multi-byte character, a '/', a '_') one '-', at most VALUE_MAX
 * bytes. Returns its length, 0 for an empty value. */
static size_t sanitize(const char *v, char *out)
{
	size_t n = 0;
	bool replaced = false;

	for (; *v && n < VALUE_MAX; v++) {
		if (is_name_byte((unsigned char)*v)) {
			out[n++] = *v;
			replaced = false;
		} else if (!replaced) {
			out[n++] = '-';
			replaced = true;
		}
	}
	out[n] = '\0';
	return n;
}

static int label_cmp(const void *a, const void *b)
{
	const struct profile_label *x = *(const struct profile_label *const *)a;
	const struct profile_label *y = *(const struct profile_label *const *)b;

	return strcmp(x->key, y->key);
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* "<time>_<service>[_<value>...]_<hash>" without suffix or extension. The
 * hash covers every label, unsanitized and uncut, in key order, each field
 * terminated so that ("ab","c") and ("a","bc") differ. */
static int base_name(const struct series *s, const char *kind, int64_t end_ns, char *out,
		     size_t outlen)
{
	const struct profile_label **sorted = NULL;
	const char *service = NULL;
	char value[VALUE_MAX + 1], num[32];
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t n = 0, len, vlen, i;
	struct tm tm;
	time_t secs;
	int err = 0;

	if (outlen < BASE_MAX + 1)
		return -EINVAL;
	if (s->nlabels) {
		sorted = calloc(s->nlabels, sizeof(*sorted));
		if (!sorted)
			return -ENOMEM;
	}
	for (i = 0; i < s->nlabels; i++)
		if (s->labels[i].key)
			sorted[n++] = &s->labels[i];
	if (n > 1)
		qsort(sorted, n, sizeof(*sorted), label_cmp);

	for (i = 0; i < n; i++) {
		const struct profile_label *l = sorted[i];

		h = fnv_bytes(h, l->key, strlen(l->key) + 1);
		if (l->str) {
			h = fnv_bytes(h, "s", 1);
			h = fnv_bytes(h, l->str, strlen(l->str) + 1);
		} else {
			snprintf(num, sizeof(num), "n%" PRId64, l->num);
			h = fnv_bytes(h, num, strlen(num) + 1);
		}
		if (!strcmp(l->key, "service_name") && l->str)
			service = l->str;
	}
	/* Another profile type of the series (off-CPU) is another file:
	 * named after it, hashed apart. */
	if (kind)
		h = fnv_bytes(h, kind, strlen(kind) + 1);

	/* Names must be 16 characters of time whatever the clock says. */
	if (end_ns < 0)
		end_ns = 0;
	secs = (time_t)(end_ns / 1000000000LL);
	if (secs > 253402300799LL)  /* 9999-12-31T23:59:59Z */
		secs = 253402300799LL;
	if (!gmtime_r(&secs, &tm) || strftime(out, outlen, "%Y%m%dT%H%M%SZ", &tm) != TIME_LEN) {
		err = -ERANGE;
		goto cleanup;
	}
	len = TIME_LEN;

	vlen = service ? sanitize(service, value) : 0;
	len += snprintf(out + len, outlen - len, "_%s", vlen ? value : "unknown");
	for (i = 0; i < n; i++) {
		const struct profile_label *l = sorted[i];

		if (!strcmp(l->key, "service_name"))
			continue;
		if (l->str)
			vlen = sanitize(l->str, value);
		else
			vlen = (size_t)snprintf(value, sizeof(value), "%" PRId64, l->num);
		if (!vlen)
			continue;
		/* Past the budget the hash alone tells the series apart; cut
		 * here rather than skip, so the name keeps the key order. */
		if (len + 1 + vlen + 1 + (kind ? strlen(kind) + 1 : 0) + HASH_LEN > BASE_MAX)
			break;
		len += snprintf(out + len, outlen - len, "_%s", value);
	}
	if (kind)
		len += snprintf(out + len, outlen - len, "_%s", kind);
	snprintf(out + len, outlen - len, "_%08" PRIx32, (uint32_t)(h ^ (h >> 32)));
cleanup:
	free(sorted);
	return err;
}

enum kind { NOT_OURS, OURS, OURS_TMP };

static bool ends_with(const char *s, size_t len, const char *tail, size_t *stem)
{
	size_t t = strlen(tail);

	if (len < t || memcmp(s + len - t, tail, t))
		return false;
	*stem = len - t;
	return true;
}

/* Whether a directory entry has exactly the shape of the names we write:
 * only those are counted and deleted. */
static enum kind classify(const char *n)
{
	size_t len = strlen(n), stem, i, us, hash_end;
	enum kind k;

	if (ends_with(n, len, EXT TMP_EXT, &stem))
		k = OURS_TMP;
	else if (ends_with(n, len, EXT, &stem))
		k = OURS;
	else
		return NOT_OURS;
	/* time, '_', a label part of at least one byte, '_', hash */
	if (stem < TIME_LEN + 1 + 1 + 1 + HASH_LEN || stem > BASE_MAX + 4)
		return NOT_OURS;
	for (i = 0; i < TIME_LEN; i++) {
		unsigned char c = n[i];

		if (i == 8 ? c != 'T' : i == 15 ? c != 'Z' : !is_digit(c))
			return NOT_OURS;
	}
	if (n[TIME_LEN] != '_')
		return NOT_OURS;
	for (us = stem; us > TIME_LEN && n[us - 1] != '_'; us--)
		;
	/* us is just past the last '_': the hash and an optional "-N". */
	if (us <= TIME_LEN + 2 || stem - us < HASH_LEN)
		return NOT_OURS;
	for (i = us; i < us + HASH_LEN; i++)
		if (!is_hex_lower(n[i]))
			return NOT_OURS;
	hash_end = us + HASH_LEN;
	if (hash_end != stem) {
		if (n[hash_end] != '-' || stem - hash_end < 2 || stem - hash_end > 4 ||
		    n[hash_end + 1] == '0')
			return NOT_OURS;
		for (i = hash_end + 1; i < stem; i++)
			if (!is_digit(n[i]))
				return NOT_OURS;
	}
	for (i = TIME_LEN + 1; i < us - 1; i++)
		if (!is_name_byte(n[i]) && n[i] != '_')
			return NOT_OURS;
	return k;
}

/* ---- the directory ------------------------------------------------------ */

static int ours_cmp(const void *a, const void *b)
{
	const struct ours *x = a, *y = b;
	int c = strncmp(x->name, y->name, TIME_LEN);

	if (c)
		return c;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void ours__free(struct ours *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].name);
	free(list);
}

/* Our regular files of the given kind, oldest first, and their total size.
 * A symlink or directory that looks like ours is someone else's. */
static int scan(const char *dir, enum kind want, struct ours **out, size_t *nout,
		uint64_t *total)
{
	struct ours *list = NULL, *grown;
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int err = 0;

	*total = 0;
	d = opendir(dir);
	if (!d)
		return -errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			err = -errno;
			break;
		}
		if (classify(de->d_name) != want)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			if (errno == ENOENT)
				continue;
			err = -errno;
			break;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			list = grown;
		}
		list[n].name = strdup(de->d_name);
		if (!list[n].name) {
			err = -ENOMEM;
			break;
		}
		list[n].size = (uint64_t)st.st_size;
		list[n].mtime = st.st_mtim;
		*total += list[n].size;
		n++;
	}
	closedir(d);
	if (err) {
		ours__free(list, n);
		return err;
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), ours_cmp);
	*out = list;
	*nout = n;
	return 0;
}

static bool is_kept(const char *name, char *const *keep, size_t nkeep)
{
	for (size_t i = 0; i < nkeep; i++)
		if (!strcmp(name, keep[i]))
			return true;
	return false;
}

/* Deletes the oldest of our files, sparing this interval's, until the
 * total is within the bound. */
static void enforce_bound(struct filedest *f, char *const *keep, size_t nkeep,
			  struct tally *t, uint64_t *dir_bytes)
{
	struct ours *list = NULL;
	uint64_t total;
	size_t n = 0, i;
	bool stuck = false;
	char *path;
	int err;

	err = scan(f->dir, OURS, &list, &n, &total);
	if (err) {
		tally__error(t, err, "cannot list %s: %s", f->dir, strerror(-err));
		return;
	}
	for (i = 0; i < n && total > f->max_bytes; i++) {
		if (is_kept(list[i].name, keep, nkeep))
			continue;
		if (asprintf(&path, "%s/%s", f->dir, list[i].name) < 0) {
			tally__error(t, -ENOMEM, "out of memory");
			break;
		}
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			tally__error(t, err, "cannot delete %s: %s", path, strerror(-err));
			stuck = true;
			free(path);
			continue;
		}
		free(path);
		total -= list[i].size;
		t->deleted++;
		t->deleted_bytes += list[i].size;
	}
	if (total > f->max_bytes && !stuck)
		pr_warn("filedest: %s: this interval's files alone take %" PRIu64
			" bytes, over max_bytes %" PRIu64 "; kept, older ones deleted\n",
			f->name, total, f->max_bytes);
	*dir_bytes = total;
	ours__free(list, n);
}

static int fsync_dir(const char *dir)
{
	int fd, err = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Some file systems cannot fsync a directory; the rename is as
	 * durable as they make it. */
	if (fsync(fd) && errno != EINVAL && errno != EROFS)
		err = -errno;
	close(fd);
	return err;
}

/* Writes data under "<base>[-N].pb.gz" through a ".tmp" name and rename,
 * never over an existing file. The name used goes to *written. */
static int write_file(struct filedest *f, const char *base, const uint8_t *data, size_t len,
		      char **written, struct tally *t)
{
	char *path = NULL, *tmp = NULL, *name = NULL;
	struct stat st;
	size_t off = 0;
	ssize_t w;
	int fd = -1, k, err = 0;

	for (k = 1; k <= SUFFIX_MAX; k++) {
		free(path);
		free(name);
		path = NULL;
		if (k == 1 ? asprintf(&name, "%s" EXT, base) < 0 :
			     asprintf(&name, "%s-%d" EXT, base, k) < 0) {
			name = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
		if (asprintf(&path, "%s/%s", f->dir, name) < 0) {
			path = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
		/* Any failure but "absent" is left for open() to report. */
		if (lstat(path, &st))
			break;
	}
	if (k > SUFFIX_MAX) {
		err = -EEXIST;
		tally__error(t, err, "%s/%s" EXT ": %d files of that series in one second",
			     f->dir, base, SUFFIX_MAX);
		goto cleanup;
	}
	if (asprintf(&tmp, "%s" TMP_EXT, path) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto cleanup;
	}

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		err = -errno;
		tally__error(t, err, "cannot create %s: %s", tmp, strerror(-err));
		goto cleanup;
	}
	while (off < len) {
		w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	fd = -1;
	if (err) {
		tally__error(t, err, "cannot write %s: %s", tmp, strerror(-err));
		goto cleanup;
	}
	if (rename(tmp, path)) {
		err = -errno;
		tally__error(t, err, "cannot rename %s: %s", tmp, strerror(-err));
		goto cleanup;
	}
	*written = name;
	name = NULL;
cleanup:
	/* A partial file on a full disk would only take the space the next
	 * interval needs. */
	if (err && tmp)
		unlink(tmp);
	free(tmp);
	free(name);
	free(path);
	return err;
}

/* ---- rendering ---------------------------------------------------------- */

static bool keeps_label(const struct filedest *f, const char *key)
{
	for (size_t i = 0; i < f->nsample_labels; i++)
		if (!strcmp(f->sample_labels[i], key))
			return true;
	return false;
}

/* The pprof of `ignis record`, with every per-sample label key of the
 * agent's not in sample_labels renamed to NULL, which drops it. The keys come from the
 * profile itself, so a label the aggregation adds later is dropped too
 * unless asked for. */
static int render(const struct filedest *f, const struct profile *p,
		  const struct pprof_style *base, uint8_t **gz, size_t *gz_len)
{
	struct pprof_style style = *base;
	struct pprof_label_rename *drops = NULL, *grown;
	const struct profile_label *last = NULL;
	size_t ndrops = 0, cap = 0, i, j, k;
	uint8_t *raw = NULL;
	size_t raw_len;
	int err = 0;

	for (i = 0; i < profile__sample_count(p); i++) {
		const struct profile_sample *s = profile__sample(p, i);

		/* Label arrays are interned: runs of samples share one. */
		if (s->labels == last)
			continue;
		last = s->labels;
		for (j = 0; j < s->nlabels; j++) {
			const char *key = s->labels[j].key;

			/* The program's own labels (trace context, go_labels)
			 * are all kept: a file is not series-based. */
			if (!key || s->labels[j].origin != PROFILE_LABEL_AGENT || keeps_label(f, key))
				continue;
			for (k = 0; k < ndrops; k++)
				if (drops[k].from == key || !strcmp(drops[k].from, key))
					break;
			if (k < ndrops)
				continue;
			if (ndrops == cap) {
				cap = cap ? cap * 2 : 8;
				grown = realloc(drops, cap * sizeof(*drops));
				if (!grown) {
					err = -ENOMEM;
					goto cleanup;
				}
				drops = grown;
			}
			drops[ndrops++] = (struct pprof_label_rename){ .from = key, .to = NULL };
		}
	}
	style.renames = drops;
	style.nrenames = ndrops;

	err = pprof__encode(p, &style, &raw, &raw_len);
	if (!err)
		err = pprof__gzip(raw, raw_len, gz, gz_len);
cleanup:
	free(raw);
	free(drops);
	return err;
}

/* ---- API ---------------------------------------------------------------- */

void filedest__free(struct filedest *f)
{
	if (!f)
		return;
	pthread_mutex_destroy(&f->lock);
	for (size_t i = 0; i < f->nsample_labels; i++)
		free(f->sample_labels[i]);
	free(f->sample_labels);
	free(f->dir);
	free(f->name);
	free(f);
}

/* Removes what a crash between create and rename left behind. */
static void remove_leftovers(struct filedest *f)
{
	struct ours *list = NULL;
	size_t n = 0, removed = 0;
	uint64_t total;
	char *path;

	if (scan(f->dir, OURS_TMP, &list, &n, &total))
		return;
	for (size_t i = 0; i < n; i++) {
		if (asprintf(&path, "%s/%s", f->dir, list[i].name) < 0)
			break;
		if (!unlink(path))
			removed++;
		free(path);
	}
	if (removed)
		pr_info("filedest: %s: removed %zu unfinished files in %s\n", f->name, removed,
			f->dir);
	ours__free(list, n);
}

struct filedest *filedest__new(const struct filedest_opts *o)
{
	struct filedest *f = NULL;
	struct ours *list = NULL;
	char *probe = NULL;
	size_t n = 0, len;
	int err = 0, fd;

	if (!o || (o->nsample_labels && !o->sample_labels)) {
		err = -EINVAL;
		goto cleanup;
	}
	if (!o->dir || !*o->dir) {
		pr_warn("filedest: %s: no directory given\n", o->name ? o->name : "file");
		err = -EINVAL;
		goto cleanup;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (pthread_mutex_init(&f->lock, NULL)) {
		free(f);
		f = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	f->name = strdup(o->name ? o->name : "file");
	f->dir = strdup(o->dir);
	if (!f->name || !f->dir) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* "dir/" and "dir" are one directory; "/" stays "/". */
	for (len = strlen(f->dir); len > 1 && f->dir[len - 1] == '/'; len--)
		f->dir[len - 1] = '\0';
	f->max_bytes = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES;
	if (o->nsample_labels) {
		f->sample_labels = calloc(o->nsample_labels, sizeof(*f->sample_labels));
		if (!f->sample_labels) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (; f->nsample_labels < o->nsample_labels; f->nsample_labels++) {
			const char *l = o->sample_labels[f->nsample_labels];

			f->sample_labels[f->nsample_labels] = strdup(l ? l : "");
			if (!f->sample_labels[f->nsample_labels]) {
				err = -ENOMEM;
				goto cleanup;
			}
		}
	}

	/* 0700: profiles name the functions and commands of the node. */
	err = file__make_dirs(f->dir, 0700);
	if (err) {
		pr_warn("filedest: %s: cannot create directory %s: %s\n", f->name, f->dir,
			strerror(-err));
		goto cleanup;
	}
	/* Fail now, with the reason, rather than every interval from now on. */
	if (asprintf(&probe, "%s/.ignis-probe-XXXXXX", f->dir) < 0) {
		probe = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	fd = mkstemp(probe);
	if (fd < 0) {
		err = -errno;
		pr_warn("filedest: %s: cannot create files in %s: %s\n", f->name, f->dir,
			strerror(-err));
		goto cleanup;
	}
	close(fd);
	unlink(probe);

	remove_leftovers(f);
	err = scan(f->dir, OURS, &list, &n, &f->st.dir_bytes);
	if (err) {
		pr_warn("filedest: %s: cannot list %s: %s\n", f->name, f->dir, strerror(-err));
		goto cleanup;
	}
	pr_info("filedest: %s: writing to %s (%zu files, %" PRIu64 " of max %" PRIu64
		" bytes there)\n", f->name, f->dir, n, f->st.dir_bytes, f->max_bytes);
cleanup:
	ours__free(list, n);
	free(probe);
	if (err) {
		filedest__free(f);
		errno = -err;
		return NULL;
	}
	return f;
}

/* One profile of series s (kind NULL: its CPU profile) to its file; what
 * happened goes to t, the name written to written[(*nwritten)++]. */
static void write_profile(struct filedest *f, const struct series *s, const struct profile *p,
			  const char *kind, const struct pprof_style *style, int64_t end_ns,
			  struct tally *t, char **written, size_t *nwritten)
{
	char base[BASE_MAX + 1];
	uint8_t *gz = NULL;
	size_t gz_len;
	int err;

	err = base_name(s, kind, end_ns, base, sizeof(base));
	if (err) {
		tally__error(t, err, "a series: cannot name its file: %s", strerror(-err));
		return;
	}
	err = render(f, p, style, &gz, &gz_len);
	if (err) {
		tally__error(t, err, "%s: cannot render: %s", base, strerror(-err));
		return;
	}
	err = write_file(f, base, gz, gz_len, &written[*nwritten], t);
	free(gz);
	if (err)
		return;
	(*nwritten)++;
	t->files++;
	t->bytes += gz_len;
}

int filedest__submit(struct filedest *f, const struct interval *iv)
{
	struct tally t = { 0 };
	char **written = NULL;
	size_t nwritten = 0, i;
	uint64_t dir_bytes;
	struct stat st;
	int err;

	if (!f || !iv || (iv->nseries && !iv->series))
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	dir_bytes = f->st.dir_bytes;
	pthread_mutex_unlock(&f->lock);

	/* The directory may have been removed (or a mount gone) since. */
	if (stat(f->dir, &st) && errno == ENOENT) {
		err = file__make_dirs(f->dir, 0700);
		if (!err)
			pr_info("filedest: %s: recreated %s\n", f->name, f->dir);
	}

	if (iv->nseries) {
		/* A CPU and an off-CPU file per series at most. */
		written = calloc(2 * iv->nseries, sizeof(*written));
		if (!written) {
			tally__error(&t, -ENOMEM, "out of memory");
			t.errors += iv->nseries - 1;
			goto done;
		}
	}
	for (i = 0; i < iv->nseries; i++) {
		const struct series *s = &iv->series[i];

		if (!s->profile || (s->nlabels && !s->labels)) {
			tally__error(&t, -EINVAL, "series %zu has no profile", i);
			continue;
		}
		bool off = s->offcpu && profile__sample_count(s->offcpu);

		/* A series with only off-CPU time gets only that file. */
		if (profile__sample_count(s->profile) || !off)
			write_profile(f, s, s->profile, NULL, &pprof_style_default, iv->end_ns, &t,
				      written, &nwritten);
		if (off)
			write_profile(f, s, s->offcpu, "offcpu", &pprof_style_offcpu, iv->end_ns,
				      &t, written, &nwritten);
	}
	if (nwritten) {
		err = fsync_dir(f->dir);
		if (err)
			tally__error(&t, err, "cannot fsync %s: %s", f->dir, strerror(-err));
	}
	enforce_bound(f, written, nwritten, &t, &dir_bytes);

done:
	if (t.deleted)
		pr_info("filedest: %s: deleted %" PRIu64 " oldest files (%" PRIu64
			" bytes) to stay within max_bytes %" PRIu64 "\n",
			f->name, t.deleted, t.deleted_bytes, f->max_bytes);
	if (t.errors) {
		pr_warn("filedest: %s: %" PRIu64 " errors this interval, %" PRIu64
			" of %zu files written; first: %s\n",
			f->name, t.errors, t.files, iv->nseries, t.what);
		f->failing = true;
	} else if (f->failing) {
		pr_info("filedest: %s: writing to %s again\n", f->name, f->dir);
		f->failing = false;
	}

	pthread_mutex_lock(&f->lock);
	f->st.files += t.files;
	f->st.bytes_written += t.bytes;
	f->st.deleted += t.deleted;
	f->st.errors += t.errors;
	f->st.dir_bytes = dir_bytes;
	pthread_mutex_unlock(&f->lock);

	for (i = 0; i < nwritten; i++)
		free(written[i]);
	free(written);
	return t.first_err;
}

void filedest__stats(struct filedest *f, struct filedest_stats *s)
{
	if (!f || !s)
		return;
	pthread_mutex_lock(&f->lock);
	*s = f->st;
	pthread_mutex_unlock(&f->lock);
}

/* ---- the destination type ------------------------------------------------- */

#define D struct config_destination

static const struct schema_row file_rows[] = {
	{ "directory", SCHEMA_PATH, SCHEMA_AT(D, directory), .flags = SCHEMA_REQUIRED,
	  .env = "IGNIS_OUTPUT_DIR", .flag = "--output-dir" },
	{ "max_size", SCHEMA_SIZE, SCHEMA_AT(D, max_bytes), SCHEMA_MiB, 16 * SCHEMA_TiB,
	  .def = SCHEMA_GiB },
	{ 0 },
};

/* A local write has no intake to refuse old profiles. */
static void defaults(D *d)
{
	d->max_age_ms = 0;
}

static void *new_file(const D *d)
{
	struct filedest_opts fo = {
		.name = d->name,
		.dir = d->directory,
		.max_bytes = d->max_bytes,
		.sample_labels = d->sample_labels,
		.nsample_labels = d->nsample_labels,
	};

	return filedest__new(&fo);
}

static int submit(void *impl, const struct interval *iv)
{
	return filedest__submit(impl, iv);
}

static void describe(void *impl, char *buf, size_t len)
{
	struct filedest_stats s = { 0 };

	filedest__stats(impl, &s);
	snprintf(buf, len, "%llu files written (%llu bytes), %llu deleted for space, %llu errors, "
		 "%llu bytes in the directory", (unsigned long long)s.files,
		 (unsigned long long)s.bytes_written, (unsigned long long)s.deleted,
		 (unsigned long long)s.errors, (unsigned long long)s.dir_bytes);
}

static void free_impl(void *impl)
{
	filedest__free(impl);
}

const struct destination_ops filedest__destination = {
	.type = "file",
	.rows = (const struct schema_row *const[]){ file_rows, NULL },
	.flag_dest = "files",
	.defaults = defaults,
	.new = new_file,
	.submit = submit,
	.describe = describe,
	.free = free_impl,
};
