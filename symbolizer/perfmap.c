#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/array.h"
#include "base/charclass.h"
#include "base/file.h"
#include "base/log.h"
#include "symbolizer/perfmap.h"

/* Java signatures and Node.js "LazyCompile:~fn /long/path.js:1:2" names stay
 * well under this; a longer line is not a perf map line. */
#define NAME_MAX_LEN 4096
#define LINE_MAX_LEN (NAME_MAX_LEN + 64)
#define READ_CHUNK (64 * 1024)
/* Names of ranges that later lines replaced are only reclaimed once they are
 * at least this much, so small maps never pay for a compaction. */
#define COMPACT_MIN_WASTE (256u << 10)
#define STATUS_MAX 16384

/* One address range [start, end). In the map the ranges are sorted and
 * disjoint; while merging, prio orders the lines of one refresh (1 for the
 * first) above everything already held. */
struct range {
	uint64_t start, end;
	size_t name_off;	/* into m->pool, NUL-terminated */
	uint32_t name_len;
	uint32_t prio;
};

struct perfmap {
	int fd;
	uint64_t off;		/* bytes of the file consumed, the partial line included */

	struct range *ranges;
	size_t nr, cap;
	size_t live;		/* name bytes the ranges use, counted per range */

	char *pool;
	size_t pool_len, pool_cap;

	struct range *pend;	/* lines of the refresh under way */
	size_t npend, pend_cap;

	size_t max_entries, max_name_bytes;
	struct perfmap_stats st;

	bool skipping;		/* inside an over-long line: drop to its newline */
	size_t carry_len;
	char carry[LINE_MAX_LEN];	/* the partial last line */
};

struct perfmap *perfmap__new(int fd)
{
	struct perfmap *m;
	struct stat st;
	int err;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	if (fstat(fd, &st)) {
		err = errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		err = EINVAL;
		goto cleanup;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		err = ENOMEM;
		goto cleanup;
	}
	m->fd = fd;
	m->max_entries = PERFMAP_DEFAULT_MAX_ENTRIES;
	m->max_name_bytes = PERFMAP_DEFAULT_MAX_NAME_BYTES;
	return m;
cleanup:
	close(fd);
	errno = err;
	return NULL;
}

void perfmap__free(struct perfmap *m)
{
	if (!m)
		return;
	close(m->fd);
	free(m->ranges);
	free(m->pool);
	free(m->pend);
	free(m);
}

int perfmap__set_limits(struct perfmap *m, size_t max_entries, size_t max_name_bytes)
{
	if (!max_entries || !max_name_bytes)
		return -EINVAL;
	/* prio is 32 bits and counts the lines of one refresh. */
	if (max_entries > UINT32_MAX - 1)
		max_entries = UINT32_MAX - 1;
	m->max_entries = max_entries;
	m->max_name_bytes = max_name_bytes;
	return 0;
}

/* A hex number, "0x" optional; the position after it, NULL for anything
 * else (no digits, more than 64 bits). */
static const char *parse_hex(const char *p, const char *end, uint64_t *out)
{
	int digits = 0, v;
	uint64_t x = 0;

	if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	while (p < end && (v = charclass__hex_value(*p)) >= 0) {
		if (++digits > 16)
			return NULL;
		x = x << 4 | (uint64_t)v;
		p++;
	}
	if (!digits)
		return NULL;
	*out = x;
	return p;
}

/* "START SIZE NAME": the name is the rest of the line, spaces included. */
static bool parse_line(const char *p, size_t len, struct range *r)
{
	const char *line = p, *end = p + len;
	uint64_t start, size;

	while (end > p && (charclass__is_blank(end[-1]) || end[-1] == '\r'))
		end--;
	p = parse_hex(p, end, &start);
	if (!p || p == end || !charclass__is_blank(*p))
		return false;
	while (p < end && charclass__is_blank(*p))
		p++;
	p = parse_hex(p, end, &size);
	if (!p || p == end || !charclass__is_blank(*p))
		return false;
	while (p < end && charclass__is_blank(*p))
		p++;
	/* An empty range holds nothing; one past the top of the address space
	 * would wrap around and match low addresses. */
	if (size == 0 || size > UINT64_MAX - start)
		return false;
	if (p == end || (size_t)(end - p) > NAME_MAX_LEN || memchr(p, '\0', end - p))
		return false;
	r->start = start;
	r->end = start + size;
	r->name_off = (size_t)(p - line);	/* into the line; the caller copies it */
	r->name_len = (uint32_t)(end - p);
	return true;
}

static int pool_reserve(struct perfmap *m, size_t need)
{
	size_t cap = m->pool_cap ? m->pool_cap : 4096;
	char *pool;

	if (m->pool_len + need <= m->pool_cap)
		return 0;
	while (cap < m->pool_len + need) {
		if (cap > SIZE_MAX / 2)
			return -EOVERFLOW;
		cap *= 2;
	}
	if (cap > m->max_name_bytes && m->pool_len + need <= m->max_name_bytes)
		cap = m->max_name_bytes;
	pool = realloc(m->pool, cap);
	if (!pool)
		return -ENOMEM;
	m->pool = pool;
	m->pool_cap = cap;
	return 0;
}

/* One complete line (without its newline). */
static int take_line(struct perfmap *m, const char *line, size_t len)
{
	struct range r;
	int err;

	m->st.lines++;
	if (len > LINE_MAX_LEN || !parse_line(line, len, &r)) {
		m->st.bad++;
		return 0;
	}
	/* Lines past the bound are not even kept pending; see merge() for the
	 * ranges that splitting adds. */
	if (m->nr >= m->max_entries || m->npend >= m->max_entries - m->nr ||
	    m->pool_len + r.name_len + 1 > m->max_name_bytes) {
		m->st.dropped++;
		return 0;
	}
	if (ARRAY_RESERVE_FROM(m->pend, &m->pend_cap, m->npend + 1, 256))
		return -ENOMEM;
	err = pool_reserve(m, r.name_len + 1);
	if (err)
		return err;
	memcpy(m->pool + m->pool_len, line + r.name_off, r.name_len);
	m->pool[m->pool_len + r.name_len] = '\0';
	r.name_off = m->pool_len;
	m->pool_len += r.name_len + 1;
	r.prio = (uint32_t)(m->npend + 1);
	m->pend[m->npend++] = r;
	return 0;
}

static int feed(struct perfmap *m, const char *p, size_t n)
{
	int err = 0;

	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;

		if (m->skipping) {
			if (nl) {
				m->skipping = false;
				m->st.lines++;
				m->st.bad++;
			}
		} else if (m->carry_len == 0 && nl) {
			err = take_line(m, p, len);
		} else if (m->carry_len + len > LINE_MAX_LEN) {
			m->carry_len = 0;
			if (nl) {
				m->st.lines++;
				m->st.bad++;
			} else {
				m->skipping = true;
			}
		} else {
			memcpy(m->carry + m->carry_len, p, len);
			m->carry_len += len;
			if (nl) {
				err = take_line(m, m->carry, m->carry_len);
				m->carry_len = 0;
			}
		}
		if (err || !nl)
			break;
		p = nl + 1;
		n -= len + 1;
	}
	return err;
}

static int cmp_start(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->prio < y->prio ? -1 : x->prio > y->prio;
}

/* Max-heap of indices into pend, by prio: the latest line covering the
 * sweep position is on top. */
static void heap_push(size_t *heap, size_t *h, const struct range *pend, size_t idx)
{
	size_t i = (*h)++;

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (pend[heap[parent]].prio >= pend[idx].prio)
			break;
		heap[i] = heap[parent];
		i = parent;
	}
	heap[i] = idx;
}

static void heap_pop(size_t *heap, size_t *h, const struct range *pend)
{
	size_t i = 0, last = heap[--(*h)];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= *h)
			break;
		if (c + 1 < *h && pend[heap[c + 1]].prio > pend[heap[c]].prio)
			c++;
		if (pend[last].prio >= pend[heap[c]].prio)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (*h)
		heap[i] = last;
}

static int emit(struct range **out, size_t *n, size_t *cap, uint64_t start, uint64_t end,
		const struct range *src)
{
	struct range *o = *out;

	if (*n && o[*n - 1].end == start && o[*n - 1].name_off == src->name_off) {
		o[*n - 1].end = end;
		return 0;
	}
	if (*n == *cap) {
		/* Cannot happen (k lines add at most 2k ranges); kept so a
		 * mistake there costs a realloc, not memory safety. */
		size_t c = *cap * 2 + 16;

		o = reallocarray(o, c, sizeof(*o));
		if (!o)
			return -ENOMEM;
		*out = o;
		*cap = c;
	}
	o[*n] = *src;
	o[*n].start = start;
	o[*n].end = end;
	o[*n].prio = 0;
	(*n)++;
	return 0;
}

/* The held ranges overlaid with pend[0..k) (sorted by start), later lines
 * winning: a sweep over addresses where the top of a heap of the pending
 * lines covering the position wins over the one held range covering it. */
static int merge(const struct perfmap *m, const struct range *pend, size_t k,
		 struct range **out, size_t *out_n)
{
	const struct range *old = m->ranges;
	size_t n = m->nr, io = 0, ip = 0, h = 0, nout = 0, cap = n + 2 * k + 1;
	struct range *res = NULL;
	size_t *heap = NULL;
	uint64_t pos = 0;
	int err;

	res = reallocarray(NULL, cap, sizeof(*res));
	heap = reallocarray(NULL, k ? k : 1, sizeof(*heap));
	if (!res || !heap) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		const struct range *top = NULL;
		uint64_t next;

		while (io < n && old[io].end <= pos)
			io++;
		while (ip < k && pend[ip].start <= pos)
			heap_push(heap, &h, pend, ip++);
		while (h && pend[heap[0]].end <= pos)
			heap_pop(heap, &h, pend);
		if (h)
			top = &pend[heap[0]];
		else if (io < n && old[io].start <= pos)
			top = &old[io];
		if (!top) {
			if (io >= n && ip >= k)
				break;
			next = UINT64_MAX;
			if (io < n)
				next = old[io].start;
			if (ip < k && pend[ip].start < next)
				next = pend[ip].start;
			pos = next;
			continue;
		}
		next = top->end;
		if (ip < k && pend[ip].start < next)
			next = pend[ip].start;
		err = emit(&res, &nout, &cap, pos, next, top);
		if (err)
			goto cleanup;
		pos = next;
	}
	*out = res;
	*out_n = nout;
	res = NULL;
	err = 0;
cleanup:
	free(res);
	free(heap);
	return err;
}

/* Keeps the pending lines with prio <= k (the first k read), in order. */
static size_t pend_keep_first(struct range *pend, size_t npend, size_t k)
{
	size_t i, j = 0;

	for (i = 0; i < npend; i++)
		if (pend[i].prio <= k)
			pend[j++] = pend[i];
	return j;
}

static int apply_pending(struct perfmap *m)
{
	size_t k = m->npend, nout = 0, i, min_off = m->pool_len;
	struct range *out = NULL;
	int err;

	if (!k)
		return 0;
	qsort(m->pend, k, sizeof(*m->pend), cmp_start);
	err = merge(m, m->pend, k, &out, &nout);
	if (err)
		return err;
	if (nout > m->max_entries) {
		/* Splits of reused ranges went past the bound: take only as
		 * many lines as can never do that (each adds at most 2). */
		size_t keep = (m->max_entries - m->nr) / 2;

		free(out);
		out = NULL;
		for (i = 0; i < k; i++)
			if (m->pend[i].prio > keep && m->pend[i].name_off < min_off)
				min_off = m->pend[i].name_off;
		m->st.dropped += k - keep;
		k = pend_keep_first(m->pend, k, keep);
		if (k) {
			err = merge(m, m->pend, k, &out, &nout);
			if (err)
				return err;
		}
		/* Names go into the pool in the order the lines were read. */
		m->pool_len = min_off;
		if (!k)
			return 0;
	}
	free(m->ranges);
	m->ranges = out;
	m->nr = m->cap = nout;
	m->live = 0;
	for (i = 0; i < nout; i++)
		m->live += out[i].name_len + 1;
	return 0;
}

/* Drops the names no range uses any more. Pieces of one split range that
 * are not next to each other get a copy each, so this never needs more than
 * m->live bytes. */
static int compact(struct perfmap *m)
{
	size_t waste = m->pool_len - m->live, len = 0, i, prev_old = SIZE_MAX, prev_new = 0;
	char *pool;

	if (m->live > m->pool_len || waste < COMPACT_MIN_WASTE)
		return 0;
	/* Half the pool wasted, or room needed near the name budget. */
	if (waste < m->live && m->pool_len + COMPACT_MIN_WASTE <= m->max_name_bytes)
		return 0;
	pool = malloc(m->live ? m->live : 1);
	if (!pool)
		return -ENOMEM;
	for (i = 0; i < m->nr; i++) {
		struct range *r = &m->ranges[i];

		if (r->name_off == prev_old) {
			r->name_off = prev_new;
			continue;
		}
		prev_old = r->name_off;
		memcpy(pool + len, m->pool + r->name_off, r->name_len + 1);
		r->name_off = prev_new = len;
		len += r->name_len + 1;
	}
	free(m->pool);
	m->pool = pool;
	m->pool_len = len;
	m->pool_cap = m->live ? m->live : 1;
	return 0;
}

static void reset(struct perfmap *m)
{
	free(m->ranges);
	m->ranges = NULL;
	m->nr = m->cap = 0;
	m->live = 0;
	m->pool_len = 0;
	m->off = 0;
	m->carry_len = 0;
	m->skipping = false;
	m->st.resets++;
}

int perfmap__refresh(struct perfmap *m)
{
	struct perfmap_stats saved_st = m->st;
	size_t saved_pool = m->pool_len, saved_carry = m->carry_len;
	bool saved_skipping = m->skipping;
	char *buf = NULL, *saved = NULL;
	uint64_t size, off;
	struct stat st;
	int err;

	if (fstat(m->fd, &st))
		return -errno;
	size = (uint64_t)st.st_size;
	if (size == m->off)
		return 0;
	if (size < m->off) {
		/* Append-only by contract; a shorter file is a new one. */
		pr_debug("perfmap: map shrank from %" PRIu64 " to %" PRIu64 " bytes, rereading\n",
			 m->off, size);
		reset(m);
		saved_st = m->st;
		saved_pool = 0;
		saved_carry = 0;
		saved_skipping = false;
	}
	err = compact(m);
	if (err)
		return err;
	saved_pool = m->pool_len;
	buf = malloc(READ_CHUNK);
	saved = malloc(m->carry_len ? m->carry_len : 1);
	if (!buf || !saved) {
		err = -ENOMEM;
		goto cleanup;
	}
	memcpy(saved, m->carry, m->carry_len);
	m->npend = 0;
	/* Up to the size seen: a JIT writing all the time cannot keep one
	 * refresh going. */
	for (off = m->off; off < size;) {
		size_t want = size - off < READ_CHUNK ? (size_t)(size - off) : READ_CHUNK;
		ssize_t got = pread(m->fd, buf, want, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			goto cleanup;
		}
		if (got == 0)
			break;
		err = feed(m, buf, (size_t)got);
		if (err)
			goto cleanup;
		off += (uint64_t)got;
	}
	err = apply_pending(m);
	if (err)
		goto cleanup;
	m->off = off;
cleanup:
	if (err) {
		/* Left as before, so the next refresh reads the same bytes. */
		m->st = saved_st;
		m->pool_len = saved_pool;
		m->carry_len = saved_carry;
		m->skipping = saved_skipping;
		if (saved)
			memcpy(m->carry, saved, saved_carry);
	}
	m->npend = 0;
	/* The first read of a big map needs a big pending array; later
	 * refreshes are small. */
	free(m->pend);
	m->pend = NULL;
	m->pend_cap = 0;
	free(saved);
	free(buf);
	return err;
}

const char *perfmap__lookup(const struct perfmap *m, uint64_t addr)
{
	/* The last range starting at or below addr. */
	size_t lo = ARRAY_UPPER_BOUND(m->ranges, m->nr, start, addr);

	if (lo == 0 || addr >= m->ranges[lo - 1].end)
		return NULL;
	return m->pool + m->ranges[lo - 1].name_off;
}

size_t perfmap__count(const struct perfmap *m)
{
	return m->nr;
}

size_t perfmap__bytes(const struct perfmap *m)
{
	return sizeof(*m) + m->cap * sizeof(*m->ranges) + m->pool_cap;
}

void perfmap__stats(const struct perfmap *m, struct perfmap_stats *st)
{
	*st = m->st;
}

/* ---- finding the map of a process -------------------------------------- */

struct proc_ids {
	long nspid;		/* 0 when status has no NSpid: line */
	long uids[4];
	int nuids;
};

/* The last number of "NSpid:" and the numbers of "Uid:". */
static int parse_status(const char *buf, struct proc_ids *ids)
{
	const char *line = buf;

	memset(ids, 0, sizeof(*ids));
	while (*line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		bool nspid = len > 6 && strncmp(line, "NSpid:", 6) == 0;
		bool uid = len > 4 && strncmp(line, "Uid:", 4) == 0;

		if (nspid || uid) {
			const char *p = line + (nspid ? 6 : 4), *end = line + len;
			long last = -1;

			while (p < end) {
				char *q;
				long v;

				while (p < end && charclass__is_blank(*p))
					p++;
				if (p == end)
					break;
				errno = 0;
				v = strtol(p, &q, 10);
				if (q == p || q > end || errno || v < 0 ||
				    (q < end && !charclass__is_blank(*q)))
					return -EINVAL;
				if (uid && ids->nuids < 4)
					ids->uids[ids->nuids++] = v;
				last = v;
				p = q;
			}
			if (nspid) {
				if (last <= 0 || last > INT_MAX)
					return -EINVAL;
				ids->nspid = last;
			}
		}
		if (!eol)
			break;
		line = eol + 1;
	}
	return 0;
}

static int read_status(const char *proc_root, int pid, struct proc_ids *ids)
{
	char path[PATH_MAX], *buf;
	ssize_t got;
	int fd, err;

	if ((size_t)snprintf(path, sizeof(path), "%s/%d/status", proc_root, pid) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	buf = malloc(STATUS_MAX + 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	got = file__read_fd(fd, buf, STATUS_MAX);
	if (got < 0) {
		err = (int)got;
		goto cleanup;
	}
	buf[got] = '\0';
	err = parse_status(buf, ids);
cleanup:
	free(buf);
	close(fd);
	return err;
}

/* rel opened inside root as if root were "/": a container cannot point the
 * agent at the host's files with an absolute symlink in its /tmp. */
static int open_in_root(const char *root, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int dfd, fd, err;

	dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
	/* openat2 is Linux 5.6; seccomp profiles of older runtimes answer
	 * EPERM for syscalls they do not know. Without it, at least the map
	 * itself must not be a symlink. */
	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		fd = openat(dfd, rel, flags | O_NOFOLLOW);
	err = fd < 0 ? -errno : fd;
	close(dfd);
	return err;
}

int perfmap__open_for(const char *proc_root, int pid)
{
	char root[PATH_MAX], rel[64];
	struct proc_ids ids;
	struct stat st;
	bool owner_ok;
	int fd, err, i;

	if (pid <= 0)
		return -EINVAL;
	err = read_status(proc_root, pid, &ids);
	if (err)
		return err;
	if ((size_t)snprintf(root, sizeof(root), "%s/%d/root", proc_root, pid) >= sizeof(root))
		return -ENAMETOOLONG;
	snprintf(rel, sizeof(rel), "tmp/perf-%ld.map", ids.nspid ? ids.nspid : (long)pid);
	/* O_NONBLOCK: a FIFO in its place must not hang the agent. */
	fd = open_in_root(root, rel, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto cleanup;
	}
	/* /tmp is shared: anyone may create perf-PID.map for a process that
	 * is not theirs and put names in its profile (perf checks the same). */
	owner_ok = st.st_uid == 0;
	for (i = 0; i < ids.nuids; i++)
		owner_ok |= (long)st.st_uid == ids.uids[i];
	if (!owner_ok) {
		pr_debug("perfmap: pid %d: %s is owned by uid %u, not the process's\n", pid, rel,
			 (unsigned)st.st_uid);
		err = -EPERM;
		goto cleanup;
	}
	if (fcntl(fd, F_SETFL, 0)) {
		err = -errno;
		goto cleanup;
	}
	return fd;
cleanup:
	close(fd);
	return err;
}
