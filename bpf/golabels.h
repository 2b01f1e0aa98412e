/* Go pprof labels of the goroutine a sample interrupted: the per-process
 * layout the agent pushes (go_procs) and the record bpf/golabels.bpf.h sends
 * just before the sample it belongs to. Fixed-size types only. */
#ifndef IGNIS_BPF_GOLABELS_H
#define IGNIS_BPF_GOLABELS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* A record type of its own on the sampler's ring buffer (first __u32), far
 * from enum ignis_event_type's values. */
#define IGNIS_EV_GO_LABELS 0x60

/* Labels read per sample (of the keys the agent wants, told apart by their
 * length), and bytes kept of each key and value: longer ones are cut (their
 * full length is sent, so the cut is seen and counted). */
#define IGNIS_GO_MAX_LABELS 10
#define IGNIS_GO_KEY_LEN    32
#define IGNIS_GO_VAL_LEN    112
/* Hash buckets (with overflow buckets, one read each) visited per sample in
 * a Go <= 1.23 label map: 300 labels take about 64 buckets and their
 * overflow; a handful of labels, one. */
#define IGNIS_GO_MAX_BUCKETS 128
/* Labels of a Go 1.24+ sorted slice looked at per sample. */
#define IGNIS_GO_MAX_SCAN 512
/* Go processes described at once (go_procs: 32 bytes each with its key). */
#define IGNIS_GO_MAX_PROCS 4096

/* How g.labels holds the label set (runtime/pprof's labelMap). */
enum ignis_go_labels_kind {
	/* Go 1.17-1.23: *labelMap, labelMap = map[string]string (a *hmap). */
	IGNIS_GO_LABELS_HMAP = 1,
	/* Go 1.24+: *labelMap, labelMap = struct { LabelSet { list []label } } (sorted). */
	IGNIS_GO_LABELS_SLICE = 2,
};

/* go_procs value: where the current goroutine's labels are, per process.
 * tls_offset: the g of the thread's running code at fsbase + tls_offset;
 * then g.m, m.curg (the user goroutine, also when the thread runs on g0 or
 * in a system call), curg.labels. */
struct ignis_go_proc {
	__s64 tls_offset;
	__u32 g_m;
	__u32 m_curg;
	__u32 g_labels;
	__u32 kind;          /* enum ignis_go_labels_kind */
	/* Bit L: some key the agent keeps is L bytes long. Keys of other
	 * lengths are skipped unread. */
	__u64 key_lens;
};

struct ignis_go_label {
	__u16 key_len;       /* the full length (capped at 65535); key[] holds the
			      * first IGNIS_GO_KEY_LEN bytes of it */
	__u16 val_len;
	char key[IGNIS_GO_KEY_LEN];
	char val[IGNIS_GO_VAL_LEN];
};

enum ignis_go_labels_flags {
	IGNIS_GO_LABELS_READ_FAIL = 1 << 0,  /* a user read failed: labels may be missing */
	/* labels left unread: past IGNIS_GO_MAX_LABELS wanted ones, or past
	 * IGNIS_GO_MAX_BUCKETS / IGNIS_GO_MAX_SCAN */
	IGNIS_GO_LABELS_CUT = 1 << 1,
};

/* Sent right before the sample of the same cpu, tid and time_ns, and only
 * when the goroutine has labels: the agent attaches it to that sample. Its
 * length is IGNIS_GO_LABELS_LEN(nlabels). */
struct ignis_go_labels {
	__u32 type;          /* IGNIS_EV_GO_LABELS */
	__u32 tid;
	__u32 cpu;
	__u32 flags;         /* enum ignis_go_labels_flags */
	__u64 time_ns;       /* the sample's */
	__u32 total;         /* labels the goroutine has */
	__u32 nlabels;       /* read into labels[] (at most IGNIS_GO_MAX_LABELS) */
	struct ignis_go_label labels[IGNIS_GO_MAX_LABELS];
};

#define IGNIS_GO_LABELS_HDR_LEN __builtin_offsetof(struct ignis_go_labels, labels)
#define IGNIS_GO_LABELS_LEN(n) (IGNIS_GO_LABELS_HDR_LEN + (n) * sizeof(struct ignis_go_label))

/* Indexes of the per-CPU counters in the 'go_stats' map. */
enum ignis_go_stat {
	IGNIS_GO_STAT_SAMPLES = 0,  /* samples of processes in go_procs */
	IGNIS_GO_STAT_LABELED,      /* ... whose goroutine had labels */
	IGNIS_GO_STAT_LOST,         /* ... record dropped: ring buffer full */
	IGNIS_GO_STAT_READ_FAIL,    /* ... a read of g, m or the labels failed */
	IGNIS_GO_STAT_CUT,          /* ... some labels left unread (IGNIS_GO_LABELS_CUT) */
	IGNIS_GO_NSTATS,
};

#endif
