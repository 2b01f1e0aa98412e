#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/array.h"
#include "base/charclass.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "bpf/ksym.h"
#include "ksym.skel.h"
#include "symbolizer/kallsyms_live.h"

/* Addresses remembered before the table starts over: a kernel has fewer
 * distinct return addresses in its hot paths, and the names stay. */
#define LIVE_MAX_ADDRS (1u << 16)
#define NO_STR UINT32_MAX
#define CHUNK_BYTES (64u << 10)

struct live_addr {
	uint64_t addr;
	uint64_t off;
	uint32_t name;		/* into strs, NO_STR when no symbol holds addr */
	uint32_t module;	/* into strs, NO_STR for the core kernel */
};

/* Interned names and modules; the bytes live in chunks that never move,
 * so the pointers handed out stay valid. */
struct live_strs {
	const char **v;
	size_t nr, cap;
	struct hashidx idx;
	char *chunk;		/* the chunk being filled */
	size_t used, room;
	char **chunks;
	size_t nr_chunks, cap_chunks;
};

struct ksym_live {
	struct ksym_bpf *skel;
	uint64_t text;
	struct live_addr *addrs;
	size_t nr_addrs, cap_addrs;
	struct hashidx addr_idx;
	struct live_strs strs;
};

/* ---- the answer's text -------------------------------------------------- */

/* "0x" and at least one hex digit, up to 16, ending at end. */
static bool parse_hex(const char *p, const char *end, uint64_t *v)
{
	int digit;

	if (end - p < 3 || p[0] != '0' || p[1] != 'x' || end - p > 18)
		return false;
	*v = 0;
	for (p += 2; p < end; p++) {
		digit = charclass__hex_value(*p);
		if (digit < 0)
			return false;
		*v = *v << 4 | (uint64_t)digit;
	}
	return true;
}

bool ksym_live__parse(const char *text, struct ksym_text *out)
{
	const char *end = text + strlen(text), *plus, *slash, *p;

	memset(out, 0, sizeof(*out));
	if (end > text && end[-1] == ']') {
		for (p = end - 1; p > text && p[-1] != '['; p--)
			;
		if (p - text < 2 || p[-2] != ' ' || p == end - 1)
			return false;
		out->module = p;
		out->module_len = (size_t)(end - 1 - p);
		end = p - 2;
	}
	plus = NULL;
	for (p = text; p < end; p++) {
		if (*p == '+')
			plus = p;
		else if (charclass__is_blank(*p) || *p == '[' || *p == ']')
			return false;
	}
	if (!plus || plus == text)
		return false;
	slash = memchr(plus, '/', (size_t)(end - plus));
	if (!slash || !parse_hex(plus + 1, slash, &out->off) ||
	    !parse_hex(slash + 1, end, &out->size) || out->off > out->size)
		return false;
	out->name = text;
	out->name_len = (size_t)(plus - text);
	return true;
}

/* ---- interned strings --------------------------------------------------- */

struct str_key {
	const char *s;
	size_t len;
};

static bool str_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct live_strs *t = ctx;
	const struct str_key *k = key;

	return strncmp(t->v[idx], k->s, k->len) == 0 && t->v[idx][k->len] == '\0';
}

static int strs_intern(struct live_strs *t, const char *s, size_t len, uint32_t *out)
{
	struct str_key key = { s, len };
	uint64_t h = hash_bytes(HASH_SEED, s, len);
	size_t slot;
	int64_t found;
	char *copy;

	if (hashidx__reserve(&t->idx, 1))
		return -ENOMEM;
	found = hashidx__find(&t->idx, h, str_eq, t, &key, &slot);
	if (found >= 0) {
		*out = (uint32_t)found;
		return 0;
	}
	if (t->nr >= NO_STR || ARRAY_RESERVE(t->v, &t->cap, t->nr + 1))
		return -ENOMEM;
	if (len + 1 > t->room - t->used) {
		size_t room = len + 1 > CHUNK_BYTES ? len + 1 : CHUNK_BYTES;
		char *chunk;

		if (ARRAY_RESERVE(t->chunks, &t->cap_chunks, t->nr_chunks + 1))
			return -ENOMEM;
		chunk = malloc(room);
		if (!chunk)
			return -ENOMEM;
		t->chunks[t->nr_chunks++] = chunk;
		t->chunk = chunk;
		t->used = 0;
		t->room = room;
	}
	copy = t->chunk + t->used;
	memcpy(copy, s, len);
	copy[len] = '\0';
	t->used += len + 1;
	t->v[t->nr] = copy;
	hashidx__set(&t->idx, slot, h, (uint32_t)t->nr);
	*out = (uint32_t)t->nr++;
	return 0;
}

static void strs_free(struct live_strs *t)
{
	for (size_t i = 0; i < t->nr_chunks; i++)
		free(t->chunks[i]);
	free(t->chunks);
	free(t->v);
	hashidx__free(&t->idx);
}

/* ---- the kernel's answers ----------------------------------------------- */

static int run(struct bpf_program *prog)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	return bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) ? -errno : 0;
}

/* The address of the symbol called name, or 0. */
static uint64_t address_of(struct ksym_live *l, const char *name)
{
	size_t len = strlen(name);

	if (len >= sizeof(l->skel->bss->query))
		return 0;
	memset(l->skel->bss->query, 0, sizeof(l->skel->bss->query));
	memcpy(l->skel->bss->query, name, len);
	if (run(l->skel->progs.ksym_addr))
		return 0;
	return l->skel->bss->query_addr;
}

/* The kernel's answer for the symbol holding addr; its size in *size
 * when size is not NULL (0 when no symbol holds addr). */
static int ask(struct ksym_live *l, uint64_t addr, struct live_addr *out, uint64_t *size)
{
	char *text = l->skel->bss->names[0];
	struct ksym_text t;
	int err;

	*out = (struct live_addr){ .addr = addr, .name = NO_STR, .module = NO_STR };
	if (size)
		*size = 0;
	/* %pB looks one byte back, for return addresses: addr is asked as is. */
	if (addr == UINT64_MAX)
		return 0;
	l->skel->bss->addrs[0] = addr + 1;
	l->skel->bss->nr = 1;
	text[0] = '\0';
	err = run(l->skel->progs.ksym_names);
	if (err)
		return err;
	text[KSYM_TEXT_LEN - 1] = '\0';
	if (!ksym_live__parse(text, &t) || t.off == 0)
		return 0;
	out->off = t.off - 1;
	if (size)
		*size = t.size;
	err = strs_intern(&l->strs, t.name, t.name_len, &out->name);
	if (!err && t.module_len)
		err = strs_intern(&l->strs, t.module, t.module_len, &out->module);
	return err;
}

static bool addr_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct ksym_live *l = ctx;

	return l->addrs[idx].addr == *(const uint64_t *)key;
}

const char *ksym_live__lookup(struct ksym_live *l, uint64_t addr, uint64_t *off,
			      const char **module)
{
	uint64_t h = hash_bytes(HASH_SEED, &addr, sizeof(addr));
	const struct live_addr *a;
	struct live_addr fresh;
	size_t slot;
	int64_t found;

	if (l->nr_addrs >= LIVE_MAX_ADDRS) {
		hashidx__free(&l->addr_idx);
		l->nr_addrs = 0;
	}
	if (hashidx__reserve(&l->addr_idx, 1))
		return NULL;
	found = hashidx__find(&l->addr_idx, h, addr_eq, l, &addr, &slot);
	if (found >= 0) {
		a = &l->addrs[found];
	} else {
		if (ask(l, addr, &fresh, NULL) || ARRAY_RESERVE(l->addrs, &l->cap_addrs, l->nr_addrs + 1))
			return NULL;
		l->addrs[l->nr_addrs] = fresh;
		hashidx__set(&l->addr_idx, slot, h, (uint32_t)l->nr_addrs);
		a = &l->addrs[l->nr_addrs++];
	}
	if (a->name == NO_STR)
		return NULL;
	if (off)
		*off = a->off;
	if (module)
		*module = a->module == NO_STR ? NULL : l->strs.v[a->module];
	return l->strs.v[a->name];
}

int ksym_live__range(struct ksym_live *l, const char *name, uint64_t *start, uint64_t *end)
{
	uint64_t addr = address_of(l, name), size;
	struct live_addr a;

	if (!addr || ask(l, addr, &a, &size) || a.name == NO_STR || a.off != 0 ||
	    strcmp(l->strs.v[a.name], name) != 0)
		return -ENOENT;
	*start = addr;
	*end = addr + (size ? size : 1);
	return 0;
}

uint64_t ksym_live__min_addr(const struct ksym_live *l)
{
	return l->text;
}

struct ksym_live *ksym_live__open(void)
{
	struct ksym_live *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return NULL;
	l->skel = ksym_bpf__open_and_load();
	if (!l->skel) {
		err = -errno;
		goto fail;
	}
	/* The programs load where the helpers exist; whether they answer
	 * (kptr_restrict, lockdown) shows in the first question. */
	l->text = address_of(l, "_stext");
	if (!l->text) {
		err = -EPERM;
		goto fail;
	}
	return l;
fail:
	ksym_live__free(l);
	errno = err ? -err : EINVAL;
	return NULL;
}

void ksym_live__free(struct ksym_live *l)
{
	if (!l)
		return;
	ksym_bpf__destroy(l->skel);
	free(l->addrs);
	hashidx__free(&l->addr_idx);
	strs_free(&l->strs);
	free(l);
}
