/* A stand-in for a Go program, for the label layouts this machine's Go
 * toolchains (1.19, 1.21, 1.23) cannot build (1.24's list) or do not make
 * on demand (a map's overflow and growth): it lays out in memory what the
 * Go runtime would (the g in the thread's TLS slot runtime.tlsg, g.m,
 * m.curg, curg.labels) and
 * claims a Go version in .go.buildinfo, so the agent reads its labels with
 * the offsets of that version's table. The binary says go1.24.0: labels at
 * g+352 point to a labelMap { LabelSet { list []label } } sorted by key (Go
 * 1.24+). A copy whose version string is patched to go1.19.0 is read with
 * Go 1.17-1.20's offsets: labels at g+360 point to a *hmap map[string]string,
 * here two buckets, one overflow bucket, and an old bucket array half
 * evacuated (a growth in progress). Both hold the same labels:
 *
 *   go_layout SECONDS NLABELS
 *
 * span_id 00000000000186a9, "span id" 100009, "local root span id" 100000,
 * "trace endpoint" GET /work, trace_id 000..aae9f, and NLABELS - 5 more
 * (key000, key001, ...: not trace context, of other lengths), spinning in
 * layout_work. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

__attribute__((section(".go.buildinfo"), used, aligned(16)))
static const unsigned char buildinfo[64] =
	"\xff Go buildinf:\x08\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
	"\x08go1.24.0\0";

__thread void *tlsg __asm__("runtime.tlsg");

struct gostr {
	const char *p;
	int64_t len;
};

struct label {
	struct gostr k, v;
};

struct bucket {
	uint8_t top[8];
	struct gostr keys[8], vals[8];
	struct bucket *overflow;
};

struct hmap {
	int64_t count;
	uint8_t flags, B;
	uint16_t noverflow;
	uint32_t hash0;
	struct bucket *buckets, *oldbuckets;
	uintptr_t nevacuate;
	void *extra;
};

static unsigned char g0[512], m[512], curg[512];
static struct { struct label *list; int64_t len, cap; } labelmap;
static struct hmap h;
static struct hmap *maplabels = &h;  /* labelMap: a map variable */
volatile uint64_t sink;

static struct gostr str(const char *s)
{
	return (struct gostr){ s, (int64_t)strlen(s) };
}

static int by_key(const void *a, const void *b)
{
	const struct label *x = a, *y = b;

	return strcmp(x->k.p, y->k.p);
}

__attribute__((noinline)) static void layout_work(double seconds)
{
	struct timespec t0, t;
	uint64_t x = 1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		sink = x;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	int n = argc > 2 ? atoi(argv[2]) : 5;
	struct bucket *b, *old;
	struct label *l;
	int slot = 0;

	if (n < 5)
		n = 5;
	l = calloc(n, sizeof(*l));
	b = calloc(3, sizeof(*b));       /* 2 buckets, then an overflow one */
	old = calloc(1, sizeof(*old));   /* the one old bucket: half moved */
	if (!l || !b || !old)
		return 1;
	l[0] = (struct label){ str("span_id"), str("00000000000186a9") };
	l[1] = (struct label){ str("span id"), str("100009") };
	l[2] = (struct label){ str("local root span id"), str("100000") };
	l[3] = (struct label){ str("trace endpoint"), str("GET /work") };
	l[4] = (struct label){ str("trace_id"), str("000000000000000000000000000aae9f") };
	for (int i = 5; i < n; i++) {
		char *k = malloc(16), *v = malloc(16);

		snprintf(k, 16, "key%03d", i - 5);
		snprintf(v, 16, "value%03d", i - 5);
		l[i] = (struct label){ str(k), str(v) };
	}
	qsort(l, n, sizeof(*l), by_key);
	labelmap.list = l;
	labelmap.len = labelmap.cap = n;

	/* The map: the first label still in the old bucket (evacuated marks
	 * 2..4 on the moved slots), the rest 8 to a bucket, the second
	 * bucket's spill in its overflow one. */
	h.count = n;
	h.B = 1;
	h.buckets = b;
	h.oldbuckets = old;
	old->top[0] = 2;
	old->top[1] = 200;
	old->keys[1] = l[0].k;
	old->vals[1] = l[0].v;
	old->top[2] = 4;
	for (int i = 1; i < n && i < 1 + 24; i++, slot++) {
		struct bucket *to = &b[slot / 8];

		to->top[slot % 8] = 5 + i;
		to->keys[slot % 8] = l[i].k;
		to->vals[slot % 8] = l[i].v;
	}
	b[1].overflow = &b[2];

	*(void **)(g0 + 48) = m;
	*(void **)(m + 192) = curg;
	*(void **)(curg + 48) = m;
	*(void **)(curg + 352) = &labelmap;
	*(void **)(curg + 360) = &maplabels;
	tlsg = g0;
	layout_work(seconds);
	return 0;
}
