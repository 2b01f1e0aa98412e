#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hashmap.h"
#include "base/log.h"
#include "base/utf8.h"
#include "sampling/golabels.h"
#include "sampling/progcount.h"
#include "symbolizer/goruntime.h"

/* Executables remembered (Go or not); past it the memory starts afresh. */
#define MAX_BINARIES 1024
/* Room for one label in a blob: origin, key, NUL, value, NUL. */
#define BLOB_LABEL (1 + IGNIS_GO_KEY_LEN + 1 + IGNIS_GO_VAL_LEN + 1)

static const char *const trace_default[] = { GOLABELS_TRACE_DEFAULT };
/* The agent's own per-sample label keys (PROFILE_LABEL_AGENT). */
static const char *const agent_keys[] = { "pid", "comm", "tid", "thread_name", "container_id" };

static bool same_list(const char **a, size_t na, const char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

bool golabels__config_equal(const struct golabels_config *a, const struct golabels_config *b)
{
	return same_list(a->go_labels, a->ngo_labels, b->go_labels, b->ngo_labels) &&
	       same_list(a->trace_labels, a->ntrace_labels, b->trace_labels, b->ntrace_labels);
}

int golabels__check_key(struct schema_ctx *x, const char *s)
{
	int err = schema__check_no_control(x, s);

	if (err)
		return err;
	if (strlen(s) > IGNIS_GO_KEY_LEN)
		return schema__fail(x, "label key \"%s\" is longer than %d bytes", SCHEMA_Q(s),
				    IGNIS_GO_KEY_LEN);
	return 0;
}

struct proc_node {
	struct hashmap_node node;
	uint32_t tgid;
};

struct bin_key {
	uint64_t dev, ino, size, mtime;
};

struct bin_node {
	struct hashmap_node node;
	struct bin_key key;
	int err;                    /* goruntime__read's */
	struct ignis_go_proc rec;
};

struct pending {
	bool valid;
	struct ignis_go_labels rec;
};

struct golabels {
	char *proc_root;
	int procs_fd, stats_fd;
	volatile uint32_t *count;   /* golabels_opts.count */
	unsigned int max_procs;
	char **keep, **trace;       /* owned copies */
	size_t nkeep, ntrace;
	struct hashmap procs, bins;
	size_t nbins;
	struct pending *pending;    /* per CPU */
	unsigned int ncpus;
	uint64_t *cpu_vals;
	struct golabels_stats st;
	uint64_t key_lens;          /* ignis_go_proc.key_lens */
	size_t in_map;
	uint8_t blob[IGNIS_GO_MAX_LABELS * BLOB_LABEL];
};

static char **copy_list(const char *const *v, size_t n)
{
	char **out = calloc(n ? n : 1, sizeof(*out));

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = strdup(v[i]);
		if (!out[i]) {
			while (i--)
				free(out[i]);
			free(out);
			return NULL;
		}
	}
	return out;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

struct golabels *golabels__new(const struct golabels_opts *o)
{
	struct golabels *g = calloc(1, sizeof(*g));
	const char *const *trace = o->ntrace_labels ? o->trace_labels : trace_default;
	size_t ntrace = o->ntrace_labels ? o->ntrace_labels :
					   sizeof(trace_default) / sizeof(*trace_default);
	int n;

	if (!g)
		return NULL;
	elf_version(EV_CURRENT);
	g->procs_fd = o->procs_fd;
	g->count = o->count;
	g->stats_fd = o->stats_fd;
	g->max_procs = o->max_procs;
	g->proc_root = strdup(o->proc_root ? o->proc_root : "/proc");
	g->keep = copy_list(o->go_labels, o->ngo_labels);
	g->trace = copy_list(trace, ntrace);
	n = libbpf_num_possible_cpus();
	g->ncpus = n > 0 ? (unsigned int)n : 1;
	g->pending = calloc(g->ncpus, sizeof(*g->pending));
	g->cpu_vals = calloc(g->ncpus, sizeof(*g->cpu_vals));
	if (!g->proc_root || !g->keep || !g->trace || !g->pending || !g->cpu_vals) {
		golabels__free(g);
		errno = ENOMEM;
		return NULL;
	}
	g->nkeep = o->ngo_labels;
	g->ntrace = ntrace;
	for (size_t i = 0; i < g->nkeep + g->ntrace; i++) {
		size_t l = strlen(i < g->nkeep ? g->keep[i] : g->trace[i - g->nkeep]);

		if (l > 0 && l <= IGNIS_GO_KEY_LEN)
			g->key_lens |= 1ULL << l;
	}
	return g;
}

static void clear_map(struct hashmap *h)
{
	struct hashmap_node *n, *tmp;
	size_t i;

	hashmap__for_each(h, n, tmp, i)
		free(n);
	hashmap__clear(h);
}

void golabels__free(struct golabels *g)
{
	if (!g)
		return;
	clear_map(&g->procs);
	clear_map(&g->bins);
	free(g->pending);
	free(g->cpu_vals);
	free_list(g->keep, g->nkeep);
	free_list(g->trace, g->ntrace);
	free(g->proc_root);
	free(g);
}

static int proc_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct proc_node *)n)->tgid == *(const uint32_t *)key;
}

static int bin_eq(const struct hashmap_node *n, const void *key)
{
	return !memcmp(&((const struct bin_node *)n)->key, key, sizeof(struct bin_key));
}

/* The executable's description, parsed once per binary. */
static const struct bin_node *binary_of(struct golabels *g, int fd, const struct stat *st)
{
	struct bin_key key = { st->st_dev, st->st_ino, (uint64_t)st->st_size,
			       (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + st->st_mtim.tv_nsec };
	uint64_t h = hash_bytes(HASH_SEED, &key, sizeof(key));
	struct bin_node *b = (void *)hashmap__find(&g->bins, h, &key, bin_eq);
	struct goruntime rt;
	Elf *elf;

	if (b)
		return b;
	if (g->nbins >= MAX_BINARIES) {
		clear_map(&g->bins);
		g->nbins = 0;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->key = key;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	b->err = elf && elf_kind(elf) == ELF_K_ELF ? goruntime__read(elf, &rt, 0) : -ENOENT;
	if (elf)
		elf_end(elf);
	if (!b->err) {
		b->rec = (struct ignis_go_proc){
			.tls_offset = rt.tls_offset, .g_m = rt.g_m, .m_curg = rt.m_curg,
			.g_labels = rt.g_labels, .kind = (uint32_t)rt.labels_kind,
		};
		pr_info("golabels: a %s program: pprof labels read (g.labels at %u, from %s)\n",
			rt.version, rt.g_labels, rt.from_dwarf ? "its DWARF" : "the version table");
	} else if (b->err != -ENOENT) {
		pr_info("golabels: a %s program: its pprof labels cannot be read (%s)\n",
			rt.version[0] ? rt.version : "Go", b->err == -ENOTSUP ?
			"a Go version or layout not known, and no DWARF to tell" : strerror(-b->err));
	}
	if (hashmap__insert(&g->bins, &b->node, h)) {
		free(b);
		return NULL;
	}
	g->nbins++;
	return b;
}

void golabels__see(struct golabels *g, uint32_t tgid)
{
	uint64_t h = hash_bytes(HASH_SEED, &tgid, sizeof(tgid));
	const struct bin_node *b;
	struct ignis_go_proc rec;
	struct proc_node *p;
	char path[4200];
	struct stat st;
	int fd;

	if (!g || hashmap__find(&g->procs, h, &tgid, proc_eq))
		return;
	p = calloc(1, sizeof(*p));
	if (!p)
		return;
	p->tgid = tgid;
	if (hashmap__insert(&g->procs, &p->node, h)) {
		free(p);
		return;
	}
	snprintf(path, sizeof(path), "%s/%u/exe", g->proc_root, tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	b = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? binary_of(g, fd, &st) : NULL;
	close(fd);
	if (!b || b->err == -ENOENT)
		return;
	if (b->err) {
		g->st.unsupported++;
		return;
	}
	rec = b->rec;
	rec.key_lens = g->key_lens;
	if (g->in_map >= g->max_procs) {
		g->st.procs_full++;
		return;
	}
	count_add(g->count, 1);
	if (bpf_map_update_elem(g->procs_fd, &tgid, &rec, BPF_ANY)) {
		count_add(g->count, -1);
		g->st.procs_full++;
		return;
	}
	g->in_map++;
	g->st.processes++;
}

void golabels__forget(struct golabels *g, uint32_t tgid)
{
	uint64_t h = hash_bytes(HASH_SEED, &tgid, sizeof(tgid));
	struct hashmap_node *n;

	if (!g)
		return;
	n = hashmap__find(&g->procs, h, &tgid, proc_eq);
	if (!n)
		return;
	hashmap__remove(&g->procs, n);
	free(n);
	if (bpf_map_delete_elem(g->procs_fd, &tgid) == 0 && g->in_map) {
		g->in_map--;
		count_add(g->count, -1);
	}
}

void golabels__record(struct golabels *g, const void *data, size_t len)
{
	const struct ignis_go_labels *r = data;
	struct pending *p;

	if (!g || len < IGNIS_GO_LABELS_HDR_LEN || r->nlabels > IGNIS_GO_MAX_LABELS ||
	    len < IGNIS_GO_LABELS_LEN(r->nlabels) || r->cpu >= g->ncpus)
		return;
	g->st.records++;
	g->st.record_bytes += len;
	p = &g->pending[r->cpu];
	if (p->valid)
		g->st.unmatched++;
	memcpy(&p->rec, r, IGNIS_GO_LABELS_LEN(r->nlabels));
	p->valid = true;
}

static bool listed(char *const *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], key))
			return true;
	return false;
}

/* n bytes of s into out as text: NUL and invalid UTF-8 (a cut through a
 * character too) become '?'. Returns the length written. */
static size_t clean(const char *s, size_t n, char *out)
{
	size_t i = 0;

	while (i < n) {
		size_t l = s[i] ? utf8__seq_len((const unsigned char *)s + i, n - i) : 0;

		if (!l) {
			out[i++] = '?';
			continue;
		}
		memcpy(out + i, s + i, l);
		i += l;
	}
	out[n] = '\0';
	return n;
}

struct entry {
	char key[IGNIS_GO_KEY_LEN + 1];
	char val[IGNIS_GO_VAL_LEN + 1];
	int origin;
};

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

const void *golabels__take(struct golabels *g, uint32_t cpu, uint32_t tid, uint64_t time_ns,
			   size_t *len)
{
	struct entry e[IGNIS_GO_MAX_LABELS];
	const struct ignis_go_labels *r;
	size_t n = 0, off = 0;

	*len = 0;
	if (!g || cpu >= g->ncpus || !g->pending[cpu].valid)
		return NULL;
	r = &g->pending[cpu].rec;
	g->pending[cpu].valid = false;
	if (r->tid != tid || r->time_ns != time_ns) {
		g->st.unmatched++;
		return NULL;
	}
	g->st.attached++;
	for (uint32_t i = 0; i < r->nlabels; i++) {
		const struct ignis_go_label *l = &r->labels[i];
		size_t kn = l->key_len < IGNIS_GO_KEY_LEN ? l->key_len : IGNIS_GO_KEY_LEN;
		size_t vn = l->val_len < IGNIS_GO_VAL_LEN ? l->val_len : IGNIS_GO_VAL_LEN;

		clean(l->key, kn, e[n].key);
		if (listed((char *const *)agent_keys, sizeof(agent_keys) / sizeof(*agent_keys),
			   e[n].key)) {
			g->st.dropped++;  /* would pass for the agent's own */
			continue;
		}
		if (listed(g->trace, g->ntrace, e[n].key))
			e[n].origin = PROFILE_LABEL_TRACE;
		else if (listed(g->keep, g->nkeep, e[n].key))
			e[n].origin = PROFILE_LABEL_PROGRAM;
		else {
			g->st.dropped++;
			continue;
		}
		if (kn < l->key_len || vn < l->val_len)
			g->st.truncated++;
		clean(l->val, vn, e[n].val);
		n++;
	}
	if (!n)
		return NULL;
	qsort(e, n, sizeof(*e), entry_cmp);
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(e[i].key) + 1, vl = strlen(e[i].val) + 1;

		if (i && !strcmp(e[i].key, e[i - 1].key))
			continue;  /* a cut key met another */
		g->blob[off++] = (uint8_t)e[i].origin;
		memcpy(g->blob + off, e[i].key, kl);
		off += kl;
		memcpy(g->blob + off, e[i].val, vl);
		off += vl;
	}
	*len = off;
	return g->blob;
}

size_t golabels__decode(const void *blob, size_t len, struct profile_label *out, size_t max)
{
	const char *p = blob, *end = p + len;
	size_t n = 0;

	while (p < end && n < max) {
		const char *k = p + 1, *v, *z;

		z = memchr(k, '\0', end - k);
		if (!z)
			break;
		v = z + 1;
		z = v < end ? memchr(v, '\0', end - v) : NULL;
		if (!z)
			break;
		out[n++] = (struct profile_label){ .key = k, .str = v, .origin = (uint8_t)p[0] };
		p = z + 1;
	}
	return n;
}

static uint64_t bpf_stat(const struct golabels *g, uint32_t k)
{
	uint64_t sum = 0;

	if (bpf_map_lookup_elem(g->stats_fd, &k, g->cpu_vals))
		return 0;
	for (unsigned int i = 0; i < g->ncpus; i++)
		sum += g->cpu_vals[i];
	return sum;
}

void golabels__stats(const struct golabels *g, struct golabels_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (!g)
		return;
	*s = g->st;
	s->samples = bpf_stat(g, IGNIS_GO_STAT_SAMPLES);
	s->labeled = bpf_stat(g, IGNIS_GO_STAT_LABELED);
	s->lost = bpf_stat(g, IGNIS_GO_STAT_LOST);
	s->read_failed = bpf_stat(g, IGNIS_GO_STAT_READ_FAIL);
	s->cut = bpf_stat(g, IGNIS_GO_STAT_CUT);
}

void golabels__print(const struct golabels_stats *s, FILE *f)
{
	fprintf(f, "ignis: Go pprof labels: %llu processes read (%llu of a version not known), "
		"%llu of their %llu samples had labels, %llu given their label set (%llu records "
		"in %llu bytes, %llu lost, %llu unmatched), %llu read failures, %llu cut at %d "
		"labels or the scan bound, %llu labels not kept, %llu cut in length\n",
		(unsigned long long)s->processes, (unsigned long long)s->unsupported,
		(unsigned long long)s->labeled, (unsigned long long)s->samples,
		(unsigned long long)s->attached, (unsigned long long)s->records,
		(unsigned long long)s->record_bytes, (unsigned long long)s->lost,
		(unsigned long long)s->unmatched, (unsigned long long)s->read_failed,
		(unsigned long long)s->cut, IGNIS_GO_MAX_LABELS, (unsigned long long)s->dropped,
		(unsigned long long)s->truncated);
}
