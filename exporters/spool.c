#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "exporters/spool.h"
#include "http/http.h"

#define MAGIC "IGSP"
#define VERSION 1
#define NAME_DIGITS 20
#define EXT ".req"
#define TMP_EXT ".req.tmp"
#define NAME_SIZE (NAME_DIGITS + sizeof(TMP_EXT))
/* The first sequence of an empty spool: far from 0 so that requests still
 * in memory at shutdown can be written ahead of the files (lower numbers). */
#define SEQ_BASE (1ull << 40)
#define LOG_EVERY_NS (10LL * 1000000000LL)
#define ZSTD_LEVEL 3

struct entry {
	uint64_t seq, size;
	int64_t created_ns;
};

struct spool {
	char *name;
	int dfd;
	uint64_t max_bytes;
	/* the queue: v[head .. head+n), oldest first */
	struct entry *v;
	size_t head, n, cap;
	uint64_t next_seq;
	bool pinned;                    /* v[head] is being sent */
	bool dirty;                     /* names changed since the last fsync of the directory */
	struct spool_stats st;
	int64_t log_next_ns;
	uint64_t log_suppressed;
};

/* ---- the file format --------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int spool__decode_header(const void *buf, size_t len, int64_t *created_ns, uint64_t *raw_len)
{
	const uint8_t *p = buf;

	if (!p || len < SPOOL_HEADER_SIZE || memcmp(p, MAGIC, 4) || get_u16(p + 4) != VERSION ||
	    get_u16(p + 6) != 0)
		return -EINVAL;
	if (get_u64(p + 16) > SPOOL_MAX_REQUEST)
		return -EINVAL;
	if (created_ns)
		*created_ns = (int64_t)get_u64(p + 8);
	if (raw_len)
		*raw_len = get_u64(p + 16);
	return 0;
}

static bool has_crlf_nul(const char *s, size_t len)
{
	return memchr(s, '\r', len) || memchr(s, '\n', len) || memchr(s, '\0', len);
}

int spool__encode(const struct http_request *r, void **out, size_t *out_len)
{
	size_t raw_len, cap, n, off;
	uint32_t nheaders = 0;
	uint8_t *raw = NULL, *buf = NULL;
	int err = 0;

	if (!r || !r->url || !r->what || !out || !out_len || (r->len && !r->body))
		return -EINVAL;
	raw_len = 4 + strlen(r->url) + 4 + strlen(r->what) + 4 + 8 + (uint64_t)r->len;
	for (const struct curl_slist *h = r->headers; h; h = h->next) {
		size_t l = strlen(h->data);

		/* what a reader would refuse is not written */
		if (!l || has_crlf_nul(h->data, l))
			return -EINVAL;
		raw_len += 4 + l;
		nheaders++;
	}
	if (raw_len > SPOOL_MAX_REQUEST || strlen(r->url) > UINT32_MAX)
		return -EINVAL;
	raw = malloc(raw_len);
	if (!raw)
		return -ENOMEM;
	off = 0;
#define PUT_STR(s) do { size_t l_ = strlen(s); put_u32(raw + off, (uint32_t)l_); \
		memcpy(raw + off + 4, s, l_); off += 4 + l_; } while (0)
	PUT_STR(r->url);
	PUT_STR(r->what);
	put_u32(raw + off, nheaders);
	off += 4;
	for (const struct curl_slist *h = r->headers; h; h = h->next)
		PUT_STR(h->data);
#undef PUT_STR
	put_u64(raw + off, r->len);
	off += 8;
	if (r->len)
		memcpy(raw + off, r->body, r->len);

	cap = SPOOL_HEADER_SIZE + ZSTD_compressBound(raw_len);
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	memcpy(buf, MAGIC, 4);
	put_u16(buf + 4, VERSION);
	put_u16(buf + 6, 0);
	put_u64(buf + 8, (uint64_t)r->created_ns);
	put_u64(buf + 16, raw_len);
	n = ZSTD_compress(buf + SPOOL_HEADER_SIZE, cap - SPOOL_HEADER_SIZE, raw, raw_len, ZSTD_LEVEL);
	if (ZSTD_isError(n)) {
		err = ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EINVAL;
		goto cleanup;
	}
	*out = buf;
	*out_len = SPOOL_HEADER_SIZE + n;
	buf = NULL;
cleanup:
	free(raw);
	free(buf);
	return err;
}

struct cursor {
	const uint8_t *p;
	size_t left;
};

static bool take(struct cursor *c, size_t n, const uint8_t **at)
{
	if (c->left < n)
		return false;
	*at = c->p;
	c->p += n;
	c->left -= n;
	return true;
}

/* A u32-length string without NUL, copied (to free). */
static char *take_str(struct cursor *c)
{
	const uint8_t *at;
	uint32_t l;

	if (!take(c, 4, &at))
		return NULL;
	l = get_u32(at);
	if (!take(c, l, &at) || memchr(at, '\0', l))
		return NULL;
	return strndup((const char *)at, l);
}

int spool__decode(const void *buf, size_t len, struct http_request **out)
{
	const uint8_t *b = buf, *at;
	unsigned long long fsize;
	struct http_request *r = NULL;
	struct cursor c;
	uint8_t *raw = NULL;
	char *url = NULL, *what = NULL;
	void *body = NULL;
	uint64_t raw_len, blen;
	int64_t created;
	uint32_t nheaders;
	size_t n;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	err = spool__decode_header(buf, len, &created, &raw_len);
	if (err)
		return err;
	/* exactly one frame, which says it holds raw_len bytes */
	b += SPOOL_HEADER_SIZE;
	len -= SPOOL_HEADER_SIZE;
	fsize = ZSTD_getFrameContentSize(b, len);
	if (fsize == ZSTD_CONTENTSIZE_UNKNOWN || fsize == ZSTD_CONTENTSIZE_ERROR || fsize != raw_len)
		return -EINVAL;
	n = ZSTD_findFrameCompressedSize(b, len);
	if (ZSTD_isError(n) || n != len)
		return -EINVAL;
	raw = malloc(raw_len ? raw_len : 1);
	if (!raw)
		return -ENOMEM;
	n = ZSTD_decompress(raw, raw_len, b, len);
	if (ZSTD_isError(n) || n != raw_len) {
		err = ZSTD_isError(n) && ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ?
			      -ENOMEM : -EINVAL;
		goto cleanup;
	}

	err = -EINVAL;
	c = (struct cursor){ raw, raw_len };
	url = take_str(&c);
	what = url ? take_str(&c) : NULL;
	if (!url || !what || !*url || !take(&c, 4, &at))
		goto cleanup;
	nheaders = get_u32(at);
	/* each header takes 4 bytes at least: a count that lies ends here */
	if (nheaders > c.left / 4)
		goto cleanup;
	r = calloc(1, sizeof(*r));
	if (!r) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (uint32_t i = 0; i < nheaders; i++) {
		char *line = take_str(&c);

		if (!line || !*line || has_crlf_nul(line, strlen(line))) {
			free(line);
			goto cleanup;
		}
		if (http_headers__add_line(&r->headers, line)) {
			free(line);
			err = -ENOMEM;
			goto cleanup;
		}
		free(line);
	}
	if (!take(&c, 8, &at))
		goto cleanup;
	blen = get_u64(at);
	if (blen != c.left)
		goto cleanup;
	if (blen) {
		body = malloc(blen);
		if (!body) {
			err = -ENOMEM;
			goto cleanup;
		}
		memcpy(body, c.p, blen);
	}
	r->url = url;
	r->what = what;
	r->body = body;
	r->len = blen;
	r->created_ns = created;
	url = what = NULL;
	body = NULL;
	*out = r;
	r = NULL;
	err = 0;
cleanup:
	http_request__free(r);
	free(body);
	free(url);
	free(what);
	free(raw);
	return err;
}

/* ---- the directory ----------------------------------------------------- */

static void seq_name(char out[NAME_SIZE], uint64_t seq, bool tmp)
{
	snprintf(out, NAME_SIZE, "%020" PRIu64 "%s", seq, tmp ? TMP_EXT : EXT);
}

/* The sequence of one of our names; false for any other name. */
static bool parse_name(const char *name, uint64_t *seq, bool *tmp)
{
	uint64_t v = 0;

	for (int i = 0; i < NAME_DIGITS; i++) {
		unsigned d = (unsigned char)name[i] - '0';

		if (d > 9)
			return false;
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (!strcmp(name + NAME_DIGITS, EXT))
		*tmp = false;
	else if (!strcmp(name + NAME_DIGITS, TMP_EXT))
		*tmp = true;
	else
		return false;
	*seq = v;
	return true;
}

/* ---- the index --------------------------------------------------------- */

static int index_reserve(struct spool *s, size_t front, size_t back)
{
	size_t want = s->n + front + back + 16, ncap;
	struct entry *v;

	if (s->head >= front && s->head + s->n + back <= s->cap)
		return 0;
	/* grow only when more than half full: else moving the entries is
	 * enough, and a queue that only ever moves forward stays its size */
	if (want > s->cap / 2) {
		ncap = s->cap * 2 > want * 2 ? s->cap * 2 : want * 2;
		v = realloc(s->v, ncap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = ncap;
	}
	/* leave room on both sides */
	{
		size_t nh = front ? (s->cap - s->n) / 2 : 0;

		if (nh < front)
			nh = front;
		memmove(s->v + nh, s->v + s->head, s->n * sizeof(*s->v));
		s->head = nh;
	}
	return 0;
}

/* Forgets entry i (0: the head) of the queue and its bytes. */
static void index_remove(struct spool *s, size_t i)
{
	s->st.bytes -= s->v[s->head + i].size;
	s->st.files--;
	if (i == 0) {
		s->head++;
		if (s->pinned)
			s->pinned = false;
	} else {
		memmove(s->v + s->head + i, s->v + s->head + i + 1, (s->n - i - 1) * sizeof(*s->v));
	}
	if (!--s->n)
		s->head = 0;
}

static void unlink_seq(struct spool *s, uint64_t seq)
{
	char name[NAME_SIZE];

	seq_name(name, seq, false);
	if (unlinkat(s->dfd, name, 0) && errno != ENOENT)
		pr_warn("spool: %s: cannot delete %s: %s\n", s->name, name, strerror(errno));
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Drops the oldest evictable files until need more bytes fit; the number
 * dropped and the creation time of the oldest of them. */
static void evict(struct spool *s, uint64_t need, uint64_t *count, int64_t *oldest_ns)
{
	size_t first = s->pinned ? 1 : 0;

	*count = 0;
	while (s->n > first && s->st.bytes + need > s->max_bytes) {
		struct entry e = s->v[s->head + first];

		if (!*count)
			*oldest_ns = e.created_ns;
		unlink_seq(s, e.seq);
		s->dirty = true;
		index_remove(s, first);
		s->st.dropped_full++;
		(*count)++;
	}
}

static void log_evicted(struct spool *s, uint64_t count, int64_t oldest_ns, const char *why)
{
	int64_t now = clock__monotonic_ns();
	double age_s = (double)(clock__realtime_ns() - oldest_ns) / 1e9;
	char note[64] = "";

	if (!count)
		return;
	if (s->log_next_ns && now < s->log_next_ns) {
		s->log_suppressed++;
		return;
	}
	if (s->log_suppressed)
		snprintf(note, sizeof(note), " [%" PRIu64 " similar suppressed]", s->log_suppressed);
	s->log_suppressed = 0;
	s->log_next_ns = now + LOG_EVERY_NS;
	pr_warn("spool: %s: %s (bound %" PRIu64 " bytes): dropped the %" PRIu64
		" oldest request(s), the oldest taken %.0f s ago%s\n",
		s->name, why, s->max_bytes, count, age_s, note);
}

/* Opens a spooled file for reading, never through a link; anything but a
 * regular file is -EINVAL. Returns the fd or -errno. */
static int open_entry(struct spool *s, const char *name, struct stat *st)
{
	int fd, err;

	fd = openat(s->dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* Reads the 24-byte header of one file: its size and creation time. */
static int stat_file(struct spool *s, const char *name, struct entry *e)
{
	uint8_t hdr[SPOOL_HEADER_SIZE];
	struct stat st;
	ssize_t r;
	int fd, err = 0;

	fd = open_entry(s, name, &st);
	if (fd < 0)
		return fd;
	r = pread(fd, hdr, sizeof(hdr), 0);
	if (r < 0) {
		err = -errno;
		goto cleanup;
	}
	err = spool__decode_header(hdr, (size_t)r, &e->created_ns, NULL);
	e->size = (uint64_t)st.st_size;
cleanup:
	close(fd);
	return err;
}

static int scan(struct spool *s)
{
	DIR *dir;
	struct dirent *de;
	uint64_t tmps = 0, bad = 0, max_seq = 0, count;
	int64_t oldest = 0;
	int fd, err = 0;

	fd = openat(s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((errno = 0, de = readdir(dir))) {
		struct entry e = { 0 };
		bool tmp;
		int rc;

		if (!parse_name(de->d_name, &e.seq, &tmp))
			continue;
		if (tmp) {
			/* a crash between create and rename: never renamed,
			 * so never counted as spooled */
			if (!unlinkat(s->dfd, de->d_name, 0))
				tmps++;
			continue;
		}
		rc = stat_file(s, de->d_name, &e);
		if (rc == -ENOENT)
			continue;
		if (rc) {
			pr_warn("spool: %s: %s is not a readable spool file (%s); deleted\n",
				s->name, de->d_name, strerror(-rc));
			unlinkat(s->dfd, de->d_name, 0);
			s->st.dropped_bad++;
			bad++;
			continue;
		}
		err = index_reserve(s, 0, 1);
		if (err)
			break;
		s->v[s->head + s->n++] = e;
		s->st.files++;
		s->st.bytes += e.size;
		if (e.seq > max_seq)
			max_seq = e.seq;
	}
	if (!err && errno)
		err = -errno;
	closedir(dir);
	if (err)
		return err;
	if (s->n)
		qsort(s->v + s->head, s->n, sizeof(*s->v), cmp_entry);
	s->next_seq = s->n ? max_seq + 1 : SEQ_BASE;
	if (tmps)
		pr_info("spool: %s: removed %" PRIu64 " partly written file(s) of an earlier run\n",
			s->name, tmps);
	/* the bound may have been lowered since the files were written */
	evict(s, 0, &count, &oldest);
	log_evicted(s, count, oldest, "more on disk than the bound at start");
	if (tmps || bad || count)
		file__fsync_dir_fd(s->dfd);
	return 0;
}

struct spool *spool__open(const char *dir, uint64_t max_bytes, const char *name)
{
	struct spool *s = NULL;
	struct stat st;
	int err;

	if (!dir || !*dir) {
		err = -EINVAL;
		goto cleanup;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto cleanup;
	}
	s->dfd = -1;
	s->max_bytes = max_bytes ? max_bytes : SPOOL_DEFAULT_BYTES;
	s->name = strdup(name ? name : "spool");
	if (!s->name) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* mkdir -p: parents 0755, the spool itself 0700 (profiles name the
	 * node's functions and commands). Something other than a directory
	 * standing at dir itself is for the checks below to refuse. */
	err = file__make_dirs(dir, 0700);
	if (err == -ENOTDIR && !lstat(dir, &st) && !S_ISDIR(st.st_mode))
		err = 0;
	if (err) {
		pr_warn("spool: %s: cannot create %s: %s\n", s->name, dir, strerror(-err));
		goto cleanup;
	}
	/* A link planted at the spool's path could point our writes (as
	 * root) anywhere: lstat says so clearly, O_NOFOLLOW closes the race. */
	if (!lstat(dir, &st) && S_ISLNK(st.st_mode)) {
		err = -ELOOP;
		pr_warn("spool: %s: %s is a symbolic link; refused\n", s->name, dir);
		goto cleanup;
	}
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->dfd < 0) {
		err = errno == ENOTDIR ? -ELOOP : -errno;
		pr_warn("spool: %s: %s: %s\n", s->name, dir, strerror(errno));
		goto cleanup;
	}
	if (fstat(s->dfd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (st.st_uid != geteuid()) {
		err = -EPERM;
		pr_warn("spool: %s: %s belongs to uid %u, not to us (%u); refused\n", s->name, dir,
			(unsigned)st.st_uid, (unsigned)geteuid());
		goto cleanup;
	}
	if ((st.st_mode & 077) && fchmod(s->dfd, 0700)) {
		err = -errno;
		pr_warn("spool: %s: cannot make %s 0700: %s\n", s->name, dir, strerror(-err));
		goto cleanup;
	}
	err = scan(s);
	if (err) {
		pr_warn("spool: %s: cannot read %s: %s\n", s->name, dir, strerror(-err));
		goto cleanup;
	}
	return s;

cleanup:
	spool__free(s);
	errno = -err;
	return NULL;
}

void spool__free(struct spool *s)
{
	if (!s)
		return;
	if (s->dfd >= 0)
		close(s->dfd);
	free(s->v);
	free(s->name);
	free(s);
}

size_t spool__count(const struct spool *s)
{
	return s ? s->n : 0;
}

void spool__stats(const struct spool *s, struct spool_stats *st)
{
	if (!st)
		return;
	if (!s) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = s->st;
}

/* tmp name, write, fsync, rename: after a crash the file is there whole,
 * or only its tmp name is (removed at start). The rename is made durable
 * by the caller's fsync of the directory, once for a whole batch. */
static int write_file(struct spool *s, uint64_t seq, const void *buf, size_t len)
{
	char tmp[NAME_SIZE], name[NAME_SIZE];
	int fd, err;

	seq_name(tmp, seq, true);
	seq_name(name, seq, false);
	fd = openat(s->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = file__write_fd(fd, buf, len);
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat(s->dfd, tmp, s->dfd, name))
		err = -errno;
	if (err)
		unlinkat(s->dfd, tmp, 0);
	return err;
}

/* The fsync of the directory that makes a batch's renames and evictions
 * durable. When it fails the files stay (they are whole and readable;
 * only a power loss could still take them), and the failure is logged. */
static void sync_batch(struct spool *s)
{
	int err;

	if (!s->dirty)
		return;
	s->dirty = false;
	err = file__fsync_dir_fd(s->dfd);
	if (err)
		pr_warn("spool: %s: fsync of the directory: %s; a power loss may lose the last files written\n",
			s->name, strerror(-err));
}

static int put(struct spool *s, const struct http_request *r, bool front)
{
	struct entry e = { .created_ns = r ? r->created_ns : 0 };
	uint64_t count = 0;
	int64_t oldest = 0;
	void *buf = NULL;
	size_t len = 0;
	int err;

	if (!s || !r)
		return -EINVAL;
	if (front && s->pinned)
		return -EBUSY;
	err = spool__encode(r, &buf, &len);
	if (err == -EINVAL)
		err = -EFBIG;  /* nothing we can write (too big, or a bad header) */
	if (err)
		goto dropped;
	e.size = len;
	if (front && s->n && !s->v[s->head].seq) {
		/* no lower number left (2^40 shutdowns): behind is the best */
		pr_warn("spool: %s: sequence exhausted at the front; %s written at the back\n",
			s->name, r->what);
		front = false;
	}
	/* the oldest go first; when r would be the oldest, or no eviction can
	 * make room, it is r that does not fit */
	if (len > s->max_bytes ||
	    (s->pinned && s->v[s->head].size + len > s->max_bytes) ||
	    (front && s->st.bytes + len > s->max_bytes)) {
		err = -EFBIG;
		goto dropped;
	}
	err = index_reserve(s, front ? 1 : 0, front ? 0 : 1);
	if (err)
		goto dropped;
	evict(s, len, &count, &oldest);
	log_evicted(s, count, oldest, "spool full");
	e.seq = front && s->n ? s->v[s->head].seq - 1 : s->next_seq;
	err = write_file(s, e.seq, buf, len);
	if (err) {
		pr_warn("spool: %s: cannot write %s: %s\n", s->name, r->what, strerror(-err));
		goto dropped;
	}
	s->dirty = true;
	if (e.seq == s->next_seq)
		s->next_seq++;
	if (front)
		s->v[--s->head] = e;
	else
		s->v[s->head + s->n] = e;
	s->n++;
	s->st.files++;
	s->st.bytes += len;
	s->st.written++;
	free(buf);
	return 0;

dropped:
	/* the caller says so in its own words (rate-limited) */
	s->st.dropped_full++;
	free(buf);
	return err;
}

int spool__append(struct spool *s, const struct http_request *r)
{
	int err = put(s, r, false);

	if (s)
		sync_batch(s);
	return err;
}

int spool__prepend(struct spool *s, const struct http_request *r)
{
	int err = put(s, r, true);

	if (s)
		sync_batch(s);
	return err;
}

/* Puts each of v (the last first when prepending: each is written ahead
 * of the one after it), then makes the batch durable at once. */
static size_t put_batch(struct spool *s, struct http_request *const *v, size_t n, int *errs,
			bool front)
{
	size_t ok = 0;

	for (size_t k = 0; k < n; k++) {
		size_t i = front ? n - 1 - k : k;
		int err = put(s, v[i], front);

		if (errs)
			errs[i] = err;
		ok += !err;
	}
	if (s)
		sync_batch(s);
	return ok;
}

size_t spool__append_batch(struct spool *s, struct http_request *const *v, size_t n, int *errs)
{
	return put_batch(s, v, n, errs, false);
}

size_t spool__prepend_batch(struct spool *s, struct http_request *const *v, size_t n, int *errs)
{
	return put_batch(s, v, n, errs, true);
}

static int read_file(struct spool *s, const char *name, void **out, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	ssize_t got;
	int fd, err = 0;

	fd = open_entry(s, name, &st);
	if (fd < 0)
		return fd;
	if (st.st_size < SPOOL_HEADER_SIZE ||
	    (uint64_t)st.st_size > SPOOL_HEADER_SIZE + ZSTD_compressBound(SPOOL_MAX_REQUEST)) {
		err = -EINVAL;
		goto cleanup;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	got = file__read_fd(fd, buf, (size_t)st.st_size);
	if (got != (ssize_t)st.st_size) {
		err = got < 0 ? (int)got : -EINVAL;  /* shrank under us */
		goto cleanup;
	}
	*out = buf;
	*len = (size_t)got;
	buf = NULL;
cleanup:
	free(buf);
	close(fd);
	return err;
}

int spool__peek(struct spool *s, struct http_request **out, uint64_t *seq)
{
	if (!s || !out || !seq)
		return -EINVAL;
	while (s->n) {
		struct entry e = s->v[s->head];
		char name[NAME_SIZE];
		void *buf = NULL;
		size_t len = 0;
		int err;

		seq_name(name, e.seq, false);
		err = read_file(s, name, &buf, &len);
		if (!err)
			err = spool__decode(buf, len, out);
		free(buf);
		if (!err) {
			*seq = e.seq;
			s->pinned = true;
			return 0;
		}
		if (err == -ENOMEM)
			return err;
		/* whatever else is wrong with it (gone, cut short, not
		 * ours, unreadable) will not get better by waiting: the
		 * queue goes on */
		pr_warn("spool: %s: %s: %s; skipped\n", s->name, name,
			err == -ENOENT ? "gone" : err == -EINVAL ? "not a valid spool file" :
			strerror(-err));
		if (err != -ENOENT)
			unlink_seq(s, e.seq);
		index_remove(s, 0);
		s->st.dropped_bad++;
	}
	return -ENOENT;
}

int spool__pop(struct spool *s, uint64_t seq)
{
	char name[NAME_SIZE];
	int err = 0;

	if (!s)
		return -EINVAL;
	if (!s->n || s->v[s->head].seq != seq)
		return -ENOENT;
	seq_name(name, seq, false);
	if (unlinkat(s->dfd, name, 0) && errno != ENOENT) {
		err = -errno;
		pr_warn("spool: %s: cannot delete %s: %s\n", s->name, name, strerror(-err));
	}
	index_remove(s, 0);
	/* an unlink lost to a crash would send the request again */
	if (!err) {
		err = file__fsync_dir_fd(s->dfd);
		if (!err)
			s->dirty = false;
	}
	return err;
}
