/* The kernel's BTF, cut for one BPF object's CO-RE relocations.
 *
 * libbpf 1.1 relocates against the kernel's whole BTF: it reads
 * /sys/kernel/btf/vmlinux (5.4 MB, in 4 KiB reads) into one buffer, copies
 * it into a second and indexes its types, 45-55 ms of CPU on this machine,
 * most of it first touches of fresh pages (7-13 µs a page here). A cut is
 * tens of KiB, made in 6-7 ms: the file read in blocks through a 128 KiB
 * buffer that is reused, in two streamed passes (the types, marking the
 * names of those of a kind a relocation starts from; then the marked
 * strings, for the wanted names) and a few hundred random reads for what
 * the roots hold, and only what a relocation can reach kept.
 *
 * What a cut holds: every struct, union, enum and typedef of the kernel
 * whose essential name (less a ___flavour suffix, as libbpf compares them)
 * is the name of a struct, union, enum or typedef in the object's BTF; and
 * every type those hold by value (members, array elements, typedef and
 * modifier targets), as the kernel has them: sizes, offsets, bitfields,
 * int encodings, enum values. A pointer leads to void. libbpf matches a
 * field relocation member by member by name from a root of the local
 * type's name, through embedded structs and arrays, and takes any pointer
 * as compatible with any other without looking at what it points to; so
 * the offsets, sizes, signedness and existence it computes from the cut are
 * those it computes from the whole BTF. A type relocation through a
 * pointer (bpf_core_type_matches of a pointer type) would differ: the
 * sampler has none, and tests/unit/test_kbtf.c compares every relocated
 * instruction of the sampler's programs both ways. Should a load fail with
 * the cut all the same, the sampler loads again without it (kbtf__disable). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btf.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "base/array.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "sys/kbtf.h"

#define BLK 4096
#define NBLK 32
/* statfs's f_type of sysfs (linux/magic.h) */
#define KBTF_SYSFS_MAGIC 0x62656572
/* A type's offset is kept for every CKPT-th id; the others are found by
 * skipping records from there. */
#define CKPT 32
#define MAX_TYPES (1u << 22)
/* Bounds of a cut: types, and roots (several kernel types may share a name). */
#define MAX_CUT 65536
#define MAX_ROOT_STRINGS 4096
/* Longer strings are not type names a BPF object uses. */
#define MAX_NAME 256

/* The BTF file or buffer, read through a direct-mapped block cache. */
struct src {
	int fd;
	const uint8_t *mem;
	uint64_t size;
	uint8_t *blk;           /* NBLK blocks */
	uint64_t tag[NBLK];     /* block number + 1 held, 0: none */
};

/* len bytes at off, which the caller checked are in the file. */
static int src_pread(struct src *s, uint64_t off, void *dst, size_t len)
{
	size_t got = 0;

	if (s->mem) {
		memcpy(dst, s->mem + off, len);
		return 0;
	}
	/* sysfs answers at most a page a call */
	while (got < len) {
		ssize_t r = pread(s->fd, (uint8_t *)dst + got, len - got, off + got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EINVAL;  /* shorter than it said */
		got += r;
	}
	return 0;
}

/* len bytes at off through the cache: 0, or -EINVAL past the end. */
static int src_read(struct src *s, uint64_t off, void *dst, size_t len)
{
	uint8_t *d = dst;
	int err;

	if (off > s->size || len > s->size - off)
		return -EINVAL;
	if (s->mem)
		return src_pread(s, off, dst, len);
	while (len) {
		uint64_t b = off / BLK;
		size_t i = b % NBLK, at = off % BLK, n = BLK - at;
		uint8_t *p = s->blk + i * BLK;

		if (s->tag[i] != b + 1) {
			s->tag[i] = 0;
			err = src_pread(s, b * BLK, p,
					s->size - b * BLK < BLK ? s->size - b * BLK : BLK);
			if (err)
				return err;
			s->tag[i] = b + 1;
		}
		if (n > len)
			n = len;
		memcpy(d, p + at, n);
		d += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* A section read front to back through a buffer (the cache's blocks,
 * reused: the two passes run before any random read). */
struct stream {
	struct src *src;
	uint64_t base, end;     /* the file offset of buf[0]; the section's end */
	uint8_t *buf;
	size_t cap, pos, len;   /* buf[pos, len) is unread */
};

static void stream_init(struct stream *st, struct src *s, uint64_t at, uint64_t len)
{
	st->src = s;
	st->base = at;
	st->end = at + len;
	st->pos = 0;
	for (size_t i = 0; i < NBLK; i++)
		s->tag[i] = 0;
	if (s->mem) {
		/* the whole section, read in place (never written: stream_need
		 * has nothing to move or load) */
		st->buf = (uint8_t *)s->mem + at;
		st->cap = st->len = len;
		return;
	}
	st->buf = s->blk;
	st->cap = NBLK * BLK;
	st->len = 0;
}

/* At least n (<= cap) unread bytes in the buffer: 0, or -EINVAL when the
 * section ends first. */
static int stream_need(struct stream *st, size_t n)
{
	uint64_t more;

	if (st->len - st->pos >= n)
		return 0;
	if (st->src->mem)
		return -EINVAL;  /* it all was there */
	memmove(st->buf, st->buf + st->pos, st->len - st->pos);
	st->base += st->pos;
	st->len -= st->pos;
	st->pos = 0;
	more = st->end - (st->base + st->len);
	if (more > st->cap - st->len)
		more = st->cap - st->len;
	if (st->len + more < n)
		return -EINVAL;
	if (more && src_pread(st->src, st->base + st->len, st->buf + st->len, more))
		return -EIO;
	st->len += more;
	return 0;
}

/* Moves to the file offset off, in the section and not behind the cursor. */
static int stream_seek(struct stream *st, uint64_t off)
{
	if (off < st->base + st->pos || off > st->end)
		return -EINVAL;
	if (off - st->base <= st->len) {
		st->pos = off - st->base;
	} else {
		st->base = off;
		st->pos = st->len = 0;
	}
	return 0;
}

/* libbpf's rule: the name up to the last "X___Y" (X and Y not '_'). */
static size_t essential_len(const char *s, size_t n)
{
	for (size_t i = n >= 5 ? n - 5 + 1 : 0; i-- > 0;) {
		if (s[i] != '_' && s[i + 1] == '_' && s[i + 2] == '_' && s[i + 3] == '_' &&
		    s[i + 4] != '_')
			return i + 1;
	}
	return n;
}

struct name_key {
	const char *s;
	size_t n;
};

static bool name_eq(const void *ctx, uint32_t idx, const void *key)
{
	char *const *names = ctx;
	const struct name_key *k = key;

	return strlen(names[idx]) == k->n && memcmp(names[idx], k->s, k->n) == 0;
}

static bool u32_eq(const void *ctx, uint32_t idx, const void *key)
{
	return ((const uint32_t *)ctx)[idx] == *(const uint32_t *)key;
}

static bool is_root_kind(unsigned kind)
{
	return kind == BTF_KIND_STRUCT || kind == BTF_KIND_UNION || kind == BTF_KIND_ENUM ||
	       kind == BTF_KIND_ENUM64 || kind == BTF_KIND_TYPEDEF;
}

/* The bytes after a type's header, or -1 for a kind this does not know. */
static int64_t extra_len(const struct btf_type *t)
{
	uint32_t vlen = BTF_INFO_VLEN(t->info);

	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_INT: case BTF_KIND_VAR: case BTF_KIND_DECL_TAG:
		return 4;
	case BTF_KIND_PTR: case BTF_KIND_FWD: case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST: case BTF_KIND_RESTRICT: case BTF_KIND_FUNC: case BTF_KIND_FLOAT:
	case BTF_KIND_TYPE_TAG:
		return 0;
	case BTF_KIND_ARRAY:
		return sizeof(struct btf_array);
	case BTF_KIND_STRUCT: case BTF_KIND_UNION:
		return (int64_t)vlen * sizeof(struct btf_member);
	case BTF_KIND_ENUM:
		return (int64_t)vlen * sizeof(struct btf_enum);
	case BTF_KIND_ENUM64:
		return (int64_t)vlen * sizeof(struct btf_enum64);
	case BTF_KIND_FUNC_PROTO:
		return (int64_t)vlen * sizeof(struct btf_param);
	case BTF_KIND_DATASEC:
		return (int64_t)vlen * sizeof(struct btf_var_secinfo);
	default:
		return -1;
	}
}

struct cand {
	uint32_t name_off, id;
};

struct cut {
	struct src *src;
	uint64_t types_at, types_len, strs_at, strs_len;
	uint32_t ntypes;
	uint32_t *ckpt;         /* offset in the type section of id 1 + k * CKPT */
	size_t ckpt_cap;
	uint64_t *marks;        /* a bit per string offset: a root kind's name */
	struct cand *cands;     /* the named types of a root kind */
	size_t ncands, cands_cap;
	uint32_t *hits;         /* the marked offsets whose name is wanted */
	size_t nhits, hits_cap;
	struct hashidx hit_idx;
	uint32_t *old;          /* the cut's types by new id - 1: their kernel ids */
	size_t nold, old_cap;
	struct hashidx old_idx; /* kernel id -> index in old */
	uint8_t *out;           /* the cut's type section */
	size_t out_len, out_cap;
	char *strs;             /* the cut's string section */
	size_t strs_out_len, strs_cap;
	uint8_t *rec;           /* one kernel type's record */
	size_t rec_cap;
};

/* Pass 1, the types: every record's size checked, every CKPT-th offset
 * kept, the names of the struct, union, enum and typedef marked. */
static int scan_types(struct cut *c)
{
	struct stream st;
	uint32_t id = 0;
	int err;

	stream_init(&st, c->src, c->types_at, c->types_len);
	c->marks = calloc((c->strs_len + 63) / 64, sizeof(*c->marks));
	if (!c->marks)
		return -ENOMEM;
	while (st.base + st.pos < st.end) {
		uint64_t off = st.base + st.pos - c->types_at;
		struct btf_type t;
		int64_t extra;

		if (id + 1 >= MAX_TYPES)
			return -E2BIG;
		if ((err = stream_need(&st, sizeof(t))))
			return err;
		memcpy(&t, st.buf + st.pos, sizeof(t));
		extra = extra_len(&t);
		if (extra < 0 || off + sizeof(t) + extra > c->types_len)
			return -EINVAL;
		id++;
		if ((id - 1) % CKPT == 0) {
			if ((err = ARRAY_RESERVE(c->ckpt, &c->ckpt_cap, (id - 1) / CKPT + 1)))
				return err;
			c->ckpt[(id - 1) / CKPT] = off;
		}
		if (t.name_off && is_root_kind(BTF_INFO_KIND(t.info))) {
			if (t.name_off >= c->strs_len)
				return -EINVAL;
			if ((err = ARRAY_RESERVE(c->cands, &c->cands_cap, c->ncands + 1)))
				return err;
			c->cands[c->ncands++] = (struct cand){ t.name_off, id };
			c->marks[t.name_off / 64] |= 1ULL << (t.name_off % 64);
		}
		if ((err = stream_seek(&st, c->types_at + off + sizeof(t) + extra)))
			return err;
	}
	c->ntypes = id;
	return 0;
}

/* Pass 2, the strings: of the marked ones, those whose essential name is
 * wanted, into c->hits. */
static int match_names(struct cut *c, char *const *names, size_t n)
{
	struct hashidx set = { 0 };
	struct stream st;
	int err = hashidx__reserve(&set, n);

	for (size_t i = 0; i < n && !err; i++) {
		struct name_key k = { names[i], strlen(names[i]) };
		uint64_t h = hash_bytes(HASH_SEED, k.s, k.n);
		size_t slot;

		if (hashidx__find(&set, h, name_eq, names, &k, &slot) < 0)
			hashidx__set(&set, slot, h, i);
	}
	stream_init(&st, c->src, c->strs_at, c->strs_len);
	for (size_t w = 0; w < (c->strs_len + 63) / 64 && !err; w++) {
		for (uint64_t bits = c->marks[w]; bits && !err; bits &= bits - 1) {
			uint32_t off = w * 64 + __builtin_ctzll(bits);
			uint64_t left = c->strs_len - off;
			size_t want = left < MAX_NAME ? left : MAX_NAME, slot;
			const char *str, *nul;
			struct name_key k;

			if ((err = stream_seek(&st, c->strs_at + off)) ||
			    (err = stream_need(&st, want)))
				break;
			str = (const char *)st.buf + st.pos;
			nul = memchr(str, 0, want);
			if (!nul)
				continue;  /* longer than a name this matches */
			k.s = str;
			k.n = essential_len(str, nul - str);
			if (hashidx__find(&set, hash_bytes(HASH_SEED, k.s, k.n), name_eq, names, &k,
					  &slot) < 0)
				continue;
			if (c->nhits >= MAX_ROOT_STRINGS) {
				err = -E2BIG;
			} else if (!(err = ARRAY_RESERVE(c->hits, &c->hits_cap, c->nhits + 1)) &&
				   !(err = hashidx__reserve(&c->hit_idx, 1))) {
				uint64_t h = hash_word(HASH_SEED, off);

				hashidx__find(&c->hit_idx, h, u32_eq, c->hits, &off, &slot);
				c->hits[c->nhits] = off;
				hashidx__set(&c->hit_idx, slot, h, c->nhits++);
			}
		}
	}
	hashidx__free(&set);
	return err;
}

/* The kernel id of type new (1-based) in the cut, added if new. 0, or -errno. */
static int want_type(struct cut *c, uint32_t id, uint32_t *new_id)
{
	uint64_t h = hash_word(HASH_SEED, id);
	size_t slot;
	int64_t at;
	int err;

	if (id == 0) {
		*new_id = 0;
		return 0;
	}
	if (id > c->ntypes)
		return -EINVAL;
	if ((err = hashidx__reserve(&c->old_idx, 1)))
		return err;
	at = hashidx__find(&c->old_idx, h, u32_eq, c->old, &id, &slot);
	if (at < 0) {
		if (c->nold >= MAX_CUT)
			return -E2BIG;
		if ((err = ARRAY_RESERVE(c->old, &c->old_cap, c->nold + 1)))
			return err;
		at = c->nold;
		c->old[c->nold++] = id;
		hashidx__set(&c->old_idx, slot, h, at);
	}
	*new_id = at + 1;
	return 0;
}

/* The roots: the types whose name matched, in the kernel's order. */
static int add_roots(struct cut *c)
{
	uint32_t new_id;
	size_t slot;
	int err = 0;

	for (size_t i = 0; i < c->ncands && !err && c->nhits; i++) {
		uint32_t off = c->cands[i].name_off;

		if (hashidx__find(&c->hit_idx, hash_word(HASH_SEED, off), u32_eq, c->hits, &off,
				  &slot) >= 0)
			err = want_type(c, c->cands[i].id, &new_id);
	}
	return err;
}

/* Type id's whole record into c->rec. 0, or -errno. */
static int read_type(struct cut *c, uint32_t id, size_t *len)
{
	uint64_t off = c->ckpt[(id - 1) / CKPT];
	struct btf_type t;
	int64_t extra;
	int err;

	for (uint32_t at = id - (id - 1) % CKPT;; at++) {
		if ((err = src_read(c->src, c->types_at + off, &t, sizeof(t))))
			return err;
		extra = extra_len(&t);  /* checked by scan_types */
		if (at == id)
			break;
		off += sizeof(t) + extra;
	}
	*len = sizeof(t) + extra;
	if ((err = ARRAY_RESERVE(c->rec, &c->rec_cap, *len)))
		return err;
	return src_read(c->src, c->types_at + off, c->rec, *len);
}

/* The kernel's string at off into the cut's strings: its offset there. */
static int add_string(struct cut *c, uint32_t off, uint32_t *out)
{
	size_t start = c->strs_out_len;
	int err;

	if (off == 0) {
		*out = 0;
		return 0;
	}
	for (uint64_t at = c->strs_at + off;; at++) {
		char ch;

		if (at >= c->strs_at + c->strs_len)
			return -EINVAL;  /* not terminated in the section */
		if ((err = src_read(c->src, at, &ch, 1)))
			return err;
		if ((err = ARRAY_RESERVE(c->strs, &c->strs_cap, c->strs_out_len + 1)))
			return err;
		c->strs[c->strs_out_len++] = ch;
		if (!ch)
			break;
		if (c->strs_out_len - start > 4096)
			return -EINVAL;
	}
	*out = start;
	return 0;
}

/* The cut's record of c->old[i]: the kernel's, with its names in the cut's
 * strings and its references to the cut's ids; what it holds by value is
 * added to the cut. */
static int emit_type(struct cut *c, size_t i)
{
	size_t len;
	struct btf_type *t;
	uint32_t vlen;
	unsigned kind;
	int err = read_type(c, c->old[i], &len);

	if (err)
		return err;
	t = (struct btf_type *)c->rec;
	kind = BTF_INFO_KIND(t->info);
	vlen = BTF_INFO_VLEN(t->info);
	if ((err = add_string(c, t->name_off, &t->name_off)))
		return err;
	switch (kind) {
	case BTF_KIND_PTR:
		t->type = 0;
		break;
	case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT: case BTF_KIND_TYPE_TAG:
		err = want_type(c, t->type, &t->type);
		break;
	case BTF_KIND_ARRAY: {
		struct btf_array *a = (struct btf_array *)(t + 1);

		if (!(err = want_type(c, a->type, &a->type)))
			err = want_type(c, a->index_type, &a->index_type);
		break;
	}
	case BTF_KIND_STRUCT: case BTF_KIND_UNION: {
		struct btf_member *m = (struct btf_member *)(t + 1);

		for (uint32_t k = 0; k < vlen && !err; k++) {
			if (!(err = add_string(c, m[k].name_off, &m[k].name_off)))
				err = want_type(c, m[k].type, &m[k].type);
		}
		break;
	}
	case BTF_KIND_ENUM: {
		struct btf_enum *e = (struct btf_enum *)(t + 1);

		for (uint32_t k = 0; k < vlen && !err; k++)
			err = add_string(c, e[k].name_off, &e[k].name_off);
		break;
	}
	case BTF_KIND_ENUM64: {
		struct btf_enum64 *e = (struct btf_enum64 *)(t + 1);

		for (uint32_t k = 0; k < vlen && !err; k++)
			err = add_string(c, e[k].name_off, &e[k].name_off);
		break;
	}
	case BTF_KIND_FUNC_PROTO: {
		struct btf_param *p = (struct btf_param *)(t + 1);

		err = want_type(c, t->type, &t->type);
		for (uint32_t k = 0; k < vlen && !err; k++) {
			if (!(err = add_string(c, p[k].name_off, &p[k].name_off)))
				err = want_type(c, p[k].type, &p[k].type);
		}
		break;
	}
	case BTF_KIND_INT: case BTF_KIND_FWD: case BTF_KIND_FLOAT:
		break;
	default:
		/* functions, variables, sections, tags: nothing holds one
		 * by value */
		return -EINVAL;
	}
	if (err)
		return err;
	if ((err = ARRAY_RESERVE(c->out, &c->out_cap, c->out_len + len)))
		return err;
	memcpy(c->out + c->out_len, c->rec, len);
	c->out_len += len;
	return 0;
}

static int cut_src(struct src *s, char *const *names, size_t n, void **out, size_t *out_len)
{
	struct btf_header h;
	struct cut c = { .src = s };
	uint8_t *res;
	int err;

	*out = NULL;
	*out_len = 0;
	if ((err = src_read(s, 0, &h, sizeof(h))))
		return err;
	if (h.magic != BTF_MAGIC || h.version != BTF_VERSION || h.hdr_len < sizeof(h) ||
	    h.hdr_len > s->size || h.type_off % 4 ||
	    (uint64_t)h.type_off + h.type_len > s->size - h.hdr_len ||
	    (uint64_t)h.str_off + h.str_len > s->size - h.hdr_len || h.str_len == 0)
		return -EINVAL;
	c.types_at = h.hdr_len + (uint64_t)h.type_off;
	c.types_len = h.type_len;
	c.strs_at = h.hdr_len + (uint64_t)h.str_off;
	c.strs_len = h.str_len;
	/* the string at 0 is the empty one */
	err = ARRAY_RESERVE(c.strs, &c.strs_cap, 1);
	if (!err) {
		c.strs[0] = 0;
		c.strs_out_len = 1;
		err = scan_types(&c);
	}
	if (!err)
		err = match_names(&c, names, n);
	if (!err)
		err = add_roots(&c);
	/* emit_type adds to c.old as it goes: the loop reaches those too */
	for (size_t i = 0; i < c.nold && !err; i++)
		err = emit_type(&c, i);
	/* none of the names in this BTF: nothing a cut could relocate */
	if (!err && c.nold == 0)
		err = -ENOENT;
	if (!err) {
		struct btf_header oh = {
			.magic = BTF_MAGIC, .version = BTF_VERSION, .hdr_len = sizeof(oh),
			.type_off = 0, .type_len = c.out_len,
			.str_off = c.out_len, .str_len = c.strs_out_len,
		};

		res = malloc(sizeof(oh) + c.out_len + c.strs_out_len);
		if (!res) {
			err = -ENOMEM;
		} else {
			memcpy(res, &oh, sizeof(oh));
			memcpy(res + sizeof(oh), c.out, c.out_len);
			memcpy(res + sizeof(oh) + c.out_len, c.strs, c.strs_out_len);
			*out = res;
			*out_len = sizeof(oh) + c.out_len + c.strs_out_len;
		}
	}
	free(c.ckpt);
	free(c.marks);
	free(c.cands);
	free(c.hits);
	hashidx__free(&c.hit_idx);
	free(c.old);
	hashidx__free(&c.old_idx);
	free(c.out);
	free(c.strs);
	free(c.rec);
	return err;
}

int kbtf__cut_mem(const void *btf, size_t btf_len, char *const *names, size_t n, void **out,
		  size_t *out_len)
{
	struct src s = { .fd = -1, .mem = btf, .size = btf_len, .blk = malloc(NBLK * BLK) };
	int err = s.blk ? cut_src(&s, names, n, out, out_len) : -ENOMEM;

	free(s.blk);
	return err;
}

static bool sysfs(int fd)
{
	struct statfs fs;

	return fstatfs(fd, &fs) == 0 && fs.f_type == KBTF_SYSFS_MAGIC;
}

int kbtf__cut(const char *path, char *const *names, size_t n, void **out, size_t *out_len)
{
	struct src s = { .fd = open(path, O_RDONLY | O_CLOEXEC) };
	struct stat st;
	int err;

	*out = NULL;
	*out_len = 0;
	if (s.fd < 0)
		return -errno;
	if (fstat(s.fd, &st)) {
		err = -errno;
		close(s.fd);
		return err;
	}
	s.size = st.st_size;
	s.blk = malloc(NBLK * BLK);
	/* Linux 6.16 and later map the kernel's BTF read-only (its pages
	 * are the kernel image's): no 1,300 reads of a page each, a fifth
	 * of the cut's CPU. Only on sysfs, whose file cannot shrink under
	 * the mapping; elsewhere, and where the kernel refuses, the reads. */
	if (s.blk && s.size && sysfs(s.fd)) {
		void *m = mmap(NULL, s.size, PROT_READ, MAP_PRIVATE, s.fd, 0);

		if (m != MAP_FAILED)
			s.mem = m;
	}
	err = s.blk ? cut_src(&s, names, n, out, out_len) : -ENOMEM;
	if (s.mem)
		munmap((void *)s.mem, s.size);
	free(s.blk);
	close(s.fd);
	return err;
}

/* The bytes of obj's section called name, or NULL. obj may sit at any
 * alignment: its headers are copied out. */
static const void *elf_section(const uint8_t *obj, size_t len, const char *name, size_t *size)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh, strs;
	size_t nlen = strlen(name);

	if (len < sizeof(eh))
		return NULL;
	memcpy(&eh, obj, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_shentsize != sizeof(sh) || eh.e_shoff > len ||
	    (uint64_t)eh.e_shnum * sizeof(sh) > len - eh.e_shoff || eh.e_shstrndx >= eh.e_shnum)
		return NULL;
	memcpy(&strs, obj + eh.e_shoff + (size_t)eh.e_shstrndx * sizeof(sh), sizeof(strs));
	if (strs.sh_offset > len || strs.sh_size > len - strs.sh_offset)
		return NULL;
	for (size_t i = 0; i < eh.e_shnum; i++) {
		memcpy(&sh, obj + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		if (sh.sh_name >= strs.sh_size || strs.sh_size - sh.sh_name <= nlen ||
		    memcmp(obj + strs.sh_offset + sh.sh_name, name, nlen + 1))
			continue;
		if (sh.sh_type == SHT_NOBITS || sh.sh_offset > len || sh.sh_size > len - sh.sh_offset)
			return NULL;
		*size = sh.sh_size;
		return obj + sh.sh_offset;
	}
	return NULL;
}

void kbtf__free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int kbtf__names(const void *obj, size_t obj_len, char ***names, size_t *n)
{
	size_t size = 0, cap = 0;
	const void *sec = elf_section(obj, obj_len, ".BTF", &size);
	struct hashidx seen = { 0 };
	struct btf *btf;
	char **out = NULL;
	size_t nout = 0;
	int err = 0;

	*names = NULL;
	*n = 0;
	if (!sec)
		return elf_section(obj, obj_len, ".text", &size) ? -ENOENT : -EINVAL;
	btf = btf__new(sec, size);
	if (!btf)
		return -errno ? -errno : -EINVAL;
	for (uint32_t id = 1; id < btf__type_cnt(btf) && !err; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const char *s = btf__name_by_offset(btf, t->name_off);
		struct name_key k;
		uint64_t h;
		size_t slot;

		if (!is_root_kind(BTF_INFO_KIND(t->info)) || !s || !*s)
			continue;
		k.s = s;
		k.n = essential_len(s, strlen(s));
		h = hash_bytes(HASH_SEED, k.s, k.n);
		if ((err = hashidx__reserve(&seen, 1)))
			break;
		if (hashidx__find(&seen, h, name_eq, out, &k, &slot) >= 0)
			continue;
		if ((err = ARRAY_RESERVE(out, &cap, nout + 1)))
			break;
		if (!(out[nout] = strndup(k.s, k.n))) {
			err = -ENOMEM;
			break;
		}
		hashidx__set(&seen, slot, h, nout++);
	}
	hashidx__free(&seen);
	btf__free(btf);
	if (err) {
		kbtf__free_names(out, nout);
		return err;
	}
	*names = out;
	*n = nout;
	return 0;
}

static struct {
	pthread_mutex_t lock;
	void *obj;         /* a copy of the object the cut is for */
	size_t obj_len;
	int fd;            /* the memfd holding it */
	bool tried, off;
	char path[64];
} kbtf_state = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

/* The cut for obj into a memfd: its fd, or -errno. */
static int make_cut(const void *obj, size_t obj_len)
{
	char **names;
	size_t n, len = 0;
	void *cut = NULL;
	int err = kbtf__names(obj, obj_len, &names, &n), fd = -1;

	if (err)
		return err;
	err = kbtf__cut(KBTF_VMLINUX, names, n, &cut, &len);
	kbtf__free_names(names, n);
	if (!err) {
		ssize_t w = -1;

		fd = memfd_create("ignis-kernel-btf", MFD_CLOEXEC);
		if (fd >= 0)
			w = write(fd, cut, len);
		if (w < 0)
			err = -errno;
		else if ((size_t)w != len)
			err = -EIO;
	}
	free(cut);
	if (err) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	pr_debug("kbtf: the kernel's BTF cut to %zu bytes for CO-RE\n", len);
	return fd;
}

const char *kbtf__path(const void *obj, size_t obj_len)
{
	const char *path = NULL;

	pthread_mutex_lock(&kbtf_state.lock);
	if (!kbtf_state.tried && !kbtf_state.off) {
		int fd = make_cut(obj, obj_len);

		kbtf_state.tried = true;
		/* each user's skeleton header holds its own copy of the bytes */
		kbtf_state.obj = fd >= 0 ? malloc(obj_len) : NULL;
		if (kbtf_state.obj) {
			memcpy(kbtf_state.obj, obj, obj_len);
			kbtf_state.obj_len = obj_len;
		} else if (fd >= 0) {
			close(fd);
			fd = -ENOMEM;
		}
		if (fd >= 0) {
			kbtf_state.fd = fd;
			snprintf(kbtf_state.path, sizeof(kbtf_state.path), "/proc/self/fd/%d", fd);
		} else {
			pr_debug("kbtf: no cut of the kernel's BTF (%s): libbpf reads it whole\n",
				 strerror(-fd));
		}
	}
	if (!kbtf_state.off && kbtf_state.fd >= 0 && kbtf_state.obj_len == obj_len &&
	    !memcmp(kbtf_state.obj, obj, obj_len))
		path = kbtf_state.path;
	pthread_mutex_unlock(&kbtf_state.lock);
	return path;
}

void kbtf__disable(void)
{
	pthread_mutex_lock(&kbtf_state.lock);
	kbtf_state.off = true;
	pthread_mutex_unlock(&kbtf_state.lock);
}
