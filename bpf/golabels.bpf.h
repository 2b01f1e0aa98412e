/* Go pprof labels for bpf/sampler.bpf.c: for a process the agent put in
 * go_procs, the labels of the goroutine the sampled thread runs are read
 * (g from the thread's TLS, g.m.curg.labels) and sent as one
 * IGNIS_EV_GO_LABELS record right before the sample. Bounded: at most
 * IGNIS_GO_MAX_LABELS labels, keys and values cut, IGNIS_GO_MAX_BUCKETS hash
 * buckets; what is left out is counted. x86-64: the TLS base is fsbase. */
#ifndef IGNIS_GOLABELS_BPF_H
#define IGNIS_GOLABELS_BPF_H

#include "golabels.h"

/* Entries the agent has put in go_procs (counted up before an insert, down
 * after a delete): while it is 0 no sample looks the process up. */
volatile __u32 go_nprocs = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IGNIS_GO_MAX_PROCS);
	__type(key, __u32);         /* tgid */
	__type(value, struct ignis_go_proc);
} go_procs SEC(".maps");

/* runtime.hmap (runtime/map.go, Go 1.17-1.23): count int; flags uint8;
 * B uint8; noverflow uint16; hash0 uint32; buckets, oldbuckets pointers. */
struct go_hmap {
	__s64 count;
	__u8 flags;
	__u8 B;
	__u16 noverflow;
	__u32 hash0;
	__u64 buckets;
	__u64 oldbuckets;
};

struct go_string {
	__u64 ptr;
	__s64 len;
};

/* Labels of a Go 1.24+ slice read at once (256 bytes). */
#define GO_SLICE_CHUNK 8

/* A bucket of map[string]string: tophash [8]uint8, keys [8]string,
 * elems [8]string, overflow *bucket. */
struct go_bucket {
	__u8 top[8];
	struct go_string keys[8];
	struct go_string vals[8];
	__u64 overflow;
};

/* The walk's state lives in a map value, not on the stack: the verifier
 * then sees its fields as unknown and checks a bpf_loop callback once,
 * rather than once per value they take. */
struct go_walk {
	__u64 lo, hi;         /* [lo, hi): old buckets, then new ones, by index */
	__u64 old, buckets, nold;
	__u64 cur;            /* the bucket of an overflow chain to read next, else 0 */
	__u64 array;          /* slice kind: the labels' array */
	__u64 key_lens;       /* the go_proc's */
	__u32 n;              /* labels read into rec */
	__u32 seen;           /* labels looked at */
	__u32 fail;           /* a read failed */
	__u32 more;           /* a wanted label found no room */
	struct go_bucket bk;  /* the bucket being read */
	struct go_string chunk[GO_SLICE_CHUNK][2];  /* labels of the slice being read */
	struct ignis_go_labels rec;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct go_walk);
} go_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IGNIS_GO_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} go_stats SEC(".maps");

/* tophash values below minTopHash mark empty or evacuated slots. */
#define GO_MIN_TOP_HASH    5
/* hmap.flags: the grow in progress keeps the bucket count. */
#define GO_SAME_SIZE_GROW  8

static __always_inline void go_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&go_stats, &stat);

	if (v)
		*v += 1;
}

static __always_inline __u16 go_len16(__s64 len)
{
	return len > 0xffff ? 0xffff : (__u16)len;
}

/* A key of a length some wanted key has (the agent's key_lens mask): only
 * those are read, so a goroutine with hundreds of other labels still gets
 * its trace context across. */
static __always_inline int go_wanted(const struct go_walk *w, const struct go_string *k)
{
	return k->len > 0 && k->len < 64 && ((w->key_lens >> k->len) & 1);
}

/* Copies the key and the value into the record's next label. 0, or -1 to
 * stop. Global: checked once, not once per label slot of the callers'
 * loops. */
__noinline int go_put(struct go_walk *w, const struct go_string *k, const struct go_string *v)
{
	struct ignis_go_label *l;
	__u32 n, kn, vn;

	if (!w || !k || !v)
		return -1;
	n = w->n;
	if (n >= IGNIS_GO_MAX_LABELS) {
		w->more = 1;
		return -1;
	}
	l = &w->rec.labels[n];
	l->key_len = go_len16(k->len);
	l->val_len = go_len16(v->len);
	/* Unsigned: a length that is not one (a torn read) is cut too. */
	kn = (__u64)k->len < IGNIS_GO_KEY_LEN ? (__u32)k->len : IGNIS_GO_KEY_LEN;
	vn = (__u64)v->len < IGNIS_GO_VAL_LEN ? (__u32)v->len : IGNIS_GO_VAL_LEN;
	if (kn > IGNIS_GO_KEY_LEN || vn > IGNIS_GO_VAL_LEN)
		return -1;
	if ((kn && bpf_probe_read_user(l->key, kn, (void *)k->ptr)) ||
	    (vn && bpf_probe_read_user(l->val, vn, (void *)v->ptr))) {
		w->fail = 1;
		return -1;
	}
	w->n = n + 1;
	return 0;
}

/* One bucket (of the old array, the new one, or an overflow chain), read
 * whole. */
static long go_bucket(__u64 i, void *ctx)
{
	__u32 zero = 0;
	struct go_walk *w = bpf_map_lookup_elem(&go_scratch, &zero);
	__u64 b;

	if (!w)
		return 1;
	if (w->cur)
		b = w->cur;
	else if (w->lo < w->nold)
		b = w->old + w->lo++ * sizeof(struct go_bucket);
	else if (w->lo < w->hi)
		b = w->buckets + (w->lo++ - w->nold) * sizeof(struct go_bucket);
	else
		return 1;
	if (bpf_probe_read_user(&w->bk, sizeof(w->bk), (void *)b)) {
		w->fail = 1;
		return 1;
	}
	for (int j = 0; j < 8; j++) {
		if (w->bk.top[j] < GO_MIN_TOP_HASH)
			continue;
		w->seen++;
		if (go_wanted(w, &w->bk.keys[j]) && go_put(w, &w->bk.keys[j], &w->bk.vals[j]))
			return 1;
	}
	w->cur = w->bk.overflow;
	return 0;
}

/* GO_SLICE_CHUNK labels of the sorted slice (Go 1.24+: {key, value
 * string} each), read at once: the keys of hundreds of labels cost a few
 * reads, not one each. */
static long go_slice_chunk(__u64 i, void *ctx)
{
	__u32 zero = 0;
	struct go_walk *w = bpf_map_lookup_elem(&go_scratch, &zero);
	__u64 first = i * GO_SLICE_CHUNK, n;

	if (!w || first >= w->hi)
		return 1;
	n = w->hi - first;
	if (n > GO_SLICE_CHUNK)
		n = GO_SLICE_CHUNK;
	if (n == 0 || bpf_probe_read_user(w->chunk, n * sizeof(w->chunk[0]),
					  (void *)(w->array + first * sizeof(w->chunk[0])))) {
		w->fail = 1;
		return 1;
	}
	for (int j = 0; j < GO_SLICE_CHUNK; j++) {
		if (j >= n)
			return 1;
		w->seen++;
		if (go_wanted(w, &w->chunk[j][0]) && go_put(w, &w->chunk[j][0], &w->chunk[j][1]))
			return 1;
	}
	return 0;
}

/* Sends the labels of the goroutine on this thread, if it is a Go process
 * the agent described and the goroutine has any, stamped with the sample's
 * cpu, tid and time. A global function: the verifier checks it once, not
 * once per path of the program that calls it. */
__noinline int go_labels_send(__u32 tgid, __u32 tid, __u32 cpu, __u64 time_ns)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct ignis_go_proc *p = bpf_map_lookup_elem(&go_procs, &tgid);
	struct ignis_go_labels *rec;
	struct go_walk *w;
	__u64 fsbase, g = 0, m = 0, curg = 0, back = 0, lp = 0, len;
	__u32 zero = 0, n;

	if (!p)
		return 0;
	go_count(IGNIS_GO_STAT_SAMPLES);
	fsbase = BPF_CORE_READ(task, thread.fsbase);
	if (!fsbase)
		return 0;
	if (bpf_probe_read_user(&g, sizeof(g), (void *)(fsbase + p->tls_offset)) || !g)
		return 0;  /* a thread that runs no Go code (yet) */
	if (bpf_probe_read_user(&m, sizeof(m), (void *)(g + p->g_m)) || !m ||
	    bpf_probe_read_user(&curg, sizeof(curg), (void *)(m + p->m_curg))) {
		go_count(IGNIS_GO_STAT_READ_FAIL);
		return 0;
	}
	if (!curg)
		return 0;  /* the scheduler, between goroutines */
	/* The running goroutine points back at its m: anything else is not
	 * the layout we were told (a pid reused by another program since). */
	if (bpf_probe_read_user(&back, sizeof(back), (void *)(curg + p->g_m)) || back != m ||
	    bpf_probe_read_user(&lp, sizeof(lp), (void *)(curg + p->g_labels))) {
		go_count(IGNIS_GO_STAT_READ_FAIL);
		return 0;
	}
	if (!lp)
		return 0;
	w = bpf_map_lookup_elem(&go_scratch, &zero);
	if (!w)
		return 0;
	rec = &w->rec;
	w->n = 0;
	w->seen = 0;
	w->more = 0;
	w->key_lens = p->key_lens;
	w->fail = 0;
	w->cur = 0;
	w->lo = 0;
	w->nold = 0;
	rec->flags = 0;
	if (p->kind == IGNIS_GO_LABELS_HMAP) {
		struct go_hmap h;
		__u64 hm = 0;

		if (bpf_probe_read_user(&hm, sizeof(hm), (void *)lp) || !hm ||
		    bpf_probe_read_user(&h, sizeof(h), (void *)hm)) {
			go_count(IGNIS_GO_STAT_READ_FAIL);
			return 0;
		}
		if (h.count <= 0)
			return 0;
		rec->total = h.count > 0xffffffffLL ? 0xffffffff : (__u32)h.count;
		w->buckets = h.buckets;
		w->old = h.oldbuckets;
		if (h.oldbuckets)
			w->nold = (h.flags & GO_SAME_SIZE_GROW) ? 1ULL << (h.B & 31) :
								 1ULL << ((h.B - 1) & 31);
		w->hi = w->nold + (1ULL << (h.B & 31));
		bpf_loop(IGNIS_GO_MAX_BUCKETS, go_bucket, NULL, 0);
	} else if (p->kind == IGNIS_GO_LABELS_SLICE) {
		struct go_string hdr;  /* the slice's array and len */

		if (bpf_probe_read_user(&hdr, sizeof(hdr), (void *)lp)) {
			go_count(IGNIS_GO_STAT_READ_FAIL);
			return 0;
		}
		if (hdr.len <= 0)
			return 0;
		rec->total = hdr.len > 0xffffffffLL ? 0xffffffff : (__u32)hdr.len;
		w->array = hdr.ptr;
		w->hi = rec->total;
		bpf_loop(IGNIS_GO_MAX_SCAN / GO_SLICE_CHUNK, go_slice_chunk, NULL, 0);
	} else {
		return 0;
	}
	go_count(IGNIS_GO_STAT_LABELED);
	if (w->fail) {
		rec->flags |= IGNIS_GO_LABELS_READ_FAIL;
		go_count(IGNIS_GO_STAT_READ_FAIL);
	}
	if (w->more || (w->seen < rec->total && !w->fail)) {
		rec->flags |= IGNIS_GO_LABELS_CUT;
		go_count(IGNIS_GO_STAT_CUT);
	}
	rec->type = IGNIS_EV_GO_LABELS;
	rec->tid = tid;
	rec->cpu = cpu;
	rec->time_ns = time_ns;
	n = w->n;
	if (n == 0 || n > IGNIS_GO_MAX_LABELS)
		return 0;  /* none of the keys wanted */
	rec->nlabels = n;
	len = IGNIS_GO_LABELS_LEN((__u64)n);
	/* The sample follows at once: it decides about the wake-up. */
	if (bpf_ringbuf_output(&events, rec, len, BPF_RB_NO_WAKEUP))
		go_count(IGNIS_GO_STAT_LOST);
	return 0;
}

/* The current task's labels, when any Go process is described. */
static __always_inline void go_labels(__u32 tgid, __u32 tid, __u32 cpu, __u64 time_ns)
{
	if (go_nprocs)
		go_labels_send(tgid, tid, cpu, time_ns);
}

#endif
