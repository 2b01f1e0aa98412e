#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/log.h"
#include "sampling/proctab.h"

/* An address outside every known mapping reads the maps again, first
 * REREAD_MIN_NS after the last read, then twice as long after each such
 * read up to REREAD_MAX_NS: a process that has just started (ld.so still
 * mapping its libraries when it was first read) is known within a few
 * milliseconds, one whose stacks hold stray addresses costs a read a
 * second. 5 ms: the walker wakes the agent at most that often for a
 * sample with no mapping (bpf/sampler.bpf.c); at 50 ms, `record -- CMD`
 * of a dynamically linked program had its first 48 samples of 2,000
 * walked by frame pointers one run in two. A sample taken before the last
 * read (the ring buffer's order is not quite the samples' times) reads
 * nothing again: what it needed was mapped then or is gone. */
#define REREAD_MIN_NS 5000000ULL
#define REREAD_MAX_NS 1000000000ULL

struct proc {
	struct hashmap_node node;
	struct proc *next_dead;
	struct proctab *table;
	uint32_t tgid;
	int exited;
	int stale;              /* exec seen: maps must be read again */
	uint64_t maps_read_ns;
	uint64_t reread_ns;     /* wait before a miss reads the maps again */
	struct procmaps maps;
	struct binary **bins;   /* parallel to maps.v */
	struct binary *jit;     /* its anonymous code, named from its perf map */
	int64_t series;         /* the caller's, -1 until set and after an exec */
};

struct proctab {
	char *proc_root;
	struct bincache *bins;
	struct hashmap procs;
	struct proc *dead;      /* replaced by a new process with the same pid */
	struct unwstore *unw;   /* borrowed; NULL: no BPF walker */
	proctab_maps_fn maps_hook;
	void *maps_hook_ctx;
};

static int tgid_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct proc *)n)->tgid == *(const uint32_t *)key;
}

static uint64_t tgid_hash(uint32_t tgid)
{
	return hash_bytes(HASH_SEED, &tgid, sizeof(tgid));
}

struct proctab *proctab__new(const char *proc_root, struct bincache *bins)
{
	struct proctab *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->proc_root = strdup(proc_root);
	if (!t->proc_root) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->bins = bins;
	return t;
}

static void proc_clear_maps(struct proc *p)
{
	procmaps__clear(&p->maps);
	free(p->bins);
	p->bins = NULL;
}

static void proc_free(struct proc *p)
{
	proc_clear_maps(p);
	binary__free_jit(p->jit);
	free(p);
}

void proctab__free(struct proctab *t)
{
	struct hashmap_node *n, *tmp;
	size_t i;

	if (!t)
		return;
	proctab__sweep(t);
	hashmap__for_each(&t->procs, n, tmp, i)
		proc_free((struct proc *)n);
	hashmap__clear(&t->procs);
	free(t->proc_root);
	free(t);
}

void proctab__set_unwstore(struct proctab *t, struct unwstore *store)
{
	t->unw = store;
}

void proctab__set_maps_hook(struct proctab *t, proctab_maps_fn fn, void *ctx)
{
	t->maps_hook = fn;
	t->maps_hook_ctx = ctx;
}

/* The walker's view of the process: each executable mapping with the load
 * bias that turns its addresses into the binary's link-time addresses, and
 * the binary whose table covers it (none for JIT code and files that are
 * not ELF). */
static void unw_publish(struct proc *p)
{
	struct unwstore_mapping *m;
	size_t n = 0;
	int err;

	if (!p->table->unw)
		return;
	m = calloc(p->maps.n ? p->maps.n : 1, sizeof(*m));
	if (!m)
		return;
	for (size_t i = 0; i < p->maps.n; i++) {
		const struct procmaps_entry *e = &p->maps.v[i];
		struct binary *b = p->bins[i];
		uint64_t vaddr;

		m[n] = (struct unwstore_mapping){ .start = e->start, .end = e->end };
		if (b && !binary__is_jit(b) && binary__fd(b) >= 0 &&
		    binary__exec_vaddr(b, e->offset, &vaddr) == 0 && vaddr <= e->start) {
			m[n].bias = e->start - vaddr;
			m[n].bin = b;
		}
		n++;
	}
	err = unwstore__set_process(p->table->unw, p->tgid, m, n);
	if (err)
		pr_debug("proctab: unwind mappings of %u: %s\n", p->tgid, strerror(-err));
	free(m);
}

static void read_maps(struct proc *p, uint64_t now_ns)
{
	struct procmaps m;
	struct binary **bins;
	int err;

	p->maps_read_ns = now_ns;
	p->stale = 0;
	err = procmaps__read(p->table->proc_root, p->tgid, &m);
	if (err) {
		/* Gone already, or a kernel thread: keep what we had. */
		pr_debug("proctab: maps of %u: %s\n", p->tgid, strerror(-err));
		return;
	}
	bins = calloc(m.n ? m.n : 1, sizeof(*bins));
	if (!bins) {
		procmaps__clear(&m);
		return;
	}
	for (size_t i = 0; i < m.n; i++) {
		/* Executable memory without a file is JIT output (V8, the JVM,
		 * CPython's perf trampolines). */
		if (!m.v[i].inode && (!m.v[i].path[0] || !strncmp(m.v[i].path, "[anon", 5))) {
			if (!p->jit)
				p->jit = bincache__new_jit(p->table->bins, p->tgid);
			if (p->jit) {
				bins[i] = p->jit;
				continue;
			}
		}
		bins[i] = bincache__get(p->table->bins, p->tgid, &m.v[i]);
	}
	proc_clear_maps(p);
	p->maps = m;
	p->bins = bins;
	unw_publish(p);
	if (p->table->maps_hook)
		p->table->maps_hook(p->table->maps_hook_ctx, p->tgid, &p->maps, p->bins);
}

struct proc *proctab__get(struct proctab *t, uint32_t tgid, uint64_t now_ns)
{
	uint64_t h = tgid_hash(tgid);
	struct proc *p = (struct proc *)hashmap__find(&t->procs, h, &tgid, tgid_eq);

	if (p && p->exited) {
		/* The pid was reused: the old entry lives until the sweep. */
		hashmap__remove(&t->procs, &p->node);
		p->next_dead = t->dead;
		t->dead = p;
		p = NULL;
	}
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return NULL;
		p->table = t;
		p->tgid = tgid;
		p->series = -1;
		if (hashmap__insert(&t->procs, &p->node, h)) {
			free(p);
			errno = ENOMEM;
			return NULL;
		}
		p->reread_ns = REREAD_MIN_NS;
		read_maps(p, now_ns);
	} else if (p->stale) {
		p->reread_ns = REREAD_MIN_NS;
		read_maps(p, now_ns);
	}
	return p;
}

static struct proc *find(struct proctab *t, uint32_t tgid)
{
	return (struct proc *)hashmap__find(&t->procs, tgid_hash(tgid), &tgid, tgid_eq);
}

void proctab__exec(struct proctab *t, uint32_t tgid)
{
	struct proc *p = find(t, tgid);

	if (p) {
		p->stale = 1;
		p->series = -1;
	}
	/* The old image's mappings must not serve the new one's addresses. */
	if (t->unw)
		unwstore__forget_process(t->unw, tgid);
}

void proctab__forget_series(struct proctab *t, const uint32_t *tgids, size_t n)
{
	struct hashmap_node *node, *tmp;
	size_t i;

	if (tgids) {
		for (i = 0; i < n; i++) {
			struct proc *p = find(t, tgids[i]);

			if (p)
				p->series = -1;
		}
		return;
	}
	hashmap__for_each(&t->procs, node, tmp, i)
		((struct proc *)node)->series = -1;
}

void proctab__exit(struct proctab *t, uint32_t tgid)
{
	struct proc *p = find(t, tgid);

	if (!p)
		return;
	p->exited = 1;
	if (p->jit)
		binary__exited(p->jit);
	/* Its frames are kept until the flush; its walker entries can go. */
	if (t->unw)
		unwstore__forget_process(t->unw, tgid);
}

void proctab__sweep(struct proctab *t)
{
	struct hashmap_node *n, *tmp;
	size_t i;

	while (t->dead) {
		struct proc *p = t->dead;

		t->dead = p->next_dead;
		proc_free(p);
	}
	hashmap__for_each(&t->procs, n, tmp, i) {
		struct proc *p = (struct proc *)n;

		if (p->exited) {
			hashmap__remove(&t->procs, n);
			proc_free(p);
		}
	}
}

size_t proctab__count(const struct proctab *t)
{
	return t->procs.count;
}

int64_t proc__series(const struct proc *p)
{
	return p->series;
}

void proc__set_series(struct proc *p, int64_t series)
{
	p->series = series;
}

uint32_t proc__tgid(const struct proc *p)
{
	return p->tgid;
}

int proc__resolve(struct proc *p, uint64_t addr, uint64_t now_ns, struct binary **bin,
		  uint64_t *off)
{
	uint64_t start;

	return proc__resolve_mapping(p, addr, now_ns, bin, off, &start);
}

int proc__resolve_mapping(struct proc *p, uint64_t addr, uint64_t now_ns, struct binary **bin,
			  uint64_t *off, uint64_t *start)
{
	const struct procmaps_entry *e = procmaps__find(&p->maps, addr);

	if (!e && !p->exited && now_ns > p->maps_read_ns &&
	    now_ns - p->maps_read_ns >= p->reread_ns) {
		p->reread_ns = p->reread_ns * 2 < REREAD_MAX_NS ? p->reread_ns * 2 : REREAD_MAX_NS;
		read_maps(p, now_ns);
		e = procmaps__find(&p->maps, addr);
	}
	if (!e)
		return -ENOENT;
	*bin = p->bins[e - p->maps.v];
	if (!*bin)
		return -ENOENT;
	*start = e->start;
	/* Perf maps give absolute addresses. */
	*off = binary__is_jit(*bin) ? addr : addr - e->start + e->offset;
	return 0;
}
