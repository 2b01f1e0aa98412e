/* Interval aggregation and its rendering into a profile. User frames come
 * from a real binary compiled here (support__build_prog) and reached
 * through a process table over a proc root built at test time (as in
 * test_proctab); kernel frames are named from tests/fixtures/proc-kallsyms. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "sampling/aggregate.h"
#include "sampling/proctab.h"
#include "exporters/profile.h"
#include "symbolizer/bincache.h"
#include "symbolizer/kallsyms.h"
#include "tests/unit/support.h"

#define KALLSYMS_ROOT "tests/fixtures/proc-kallsyms"
#define CORE 0xffffffff81000000ull
#define EXT4 0xffffffffc0a00000ull
#define BASE 0x55d0c0de0000ULL

/* In the program support__build_prog builds, ends_in_call's last
 * instruction is a call to a noreturn function, so the return address it
 * pushes is the first byte of hot_b: the frame of ends_in_call must not be
 * named hot_b. setup checks that the two are adjacent. */
struct world {
	char *dir;
	char *proc_root;
	char *prog;
	char *notelf;
	struct stat prog_st, notelf_st;
	struct support_seg x;
	char build_id[256];
	uint64_t hot_b, hot_b_size, ends_in_call, ends_in_call_size, main_fn;  /* vaddrs */

	struct bincache *bins;
	struct proctab *procs;
	struct kallsyms *ksyms;
	struct binary *bin;       /* prog, through the table */
	struct binary *text_bin;  /* notelf.so */
};

static uint64_t file_offset(const struct world *w, uint64_t vaddr)
{
	return support__seg_file_offset(&w->x, vaddr);
}

/* <proc_root>/<pid>/maps with prog's executable segment at BASE and
 * notelf.so after it, and <proc_root>/<pid>/root → "/". */
static int write_proc(const struct world *w, int pid)
{
	char *prog_line = support__seg_maps_line(&w->x, BASE, &w->prog_st, w->prog);
	char *text = NULL;
	int err = -1;

	if (!prog_line)
		return -1;
	if (asprintf(&text,
		     "%s"
		     "7f0000000000-7f0000001000 r-xp 00000000 %02x:%02x %llu   %s\n"
		     "7ffc8e9fa000-7ffc8e9fc000 r-xp 00000000 00:00 0                  [vdso]\n",
		     prog_line, major(w->notelf_st.st_dev), minor(w->notelf_st.st_dev),
		     (unsigned long long)w->notelf_st.st_ino, w->notelf) < 0)
		text = NULL;
	else
		err = support__write_proc(w->proc_root, pid, text);
	free(prog_line);
	free(text);
	return err;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	uint64_t off;
	struct proc *p;

	*state = w;
	if (!w || !(w->dir = support__tmpdir("aggregate")))
		return -1;
	w->proc_root = support__path(w->dir, "proc");
	w->prog = support__build_prog(w->dir);
	w->notelf = support__path(w->dir, "notelf.so");
	if (!w->proc_root || !w->prog || !w->notelf || mkdir(w->proc_root, 0755) ||
	    support__write_text(w->notelf, "not an ELF file\n"))
		return -1;
	if (stat(w->prog, &w->prog_st) || stat(w->notelf, &w->notelf_st) ||
	    support__exec_segment(w->prog, &w->x) ||
	    support__build_id(w->prog, w->build_id, sizeof(w->build_id)) ||
	    support__symbol(w->prog, "hot_b", &w->hot_b, &w->hot_b_size) ||
	    support__symbol(w->prog, "ends_in_call", &w->ends_in_call, &w->ends_in_call_size) ||
	    support__symbol(w->prog, "main", &w->main_fn, NULL))
		return -1;
	if (w->ends_in_call + w->ends_in_call_size != w->hot_b) {
		fprintf(stderr, "test_aggregate: the compiler did not keep ends_in_call "
				"(%#llx+%#llx) next to hot_b (%#llx)\n",
			(unsigned long long)w->ends_in_call,
			(unsigned long long)w->ends_in_call_size, (unsigned long long)w->hot_b);
		return -1;
	}
	if (write_proc(w, 700))
		return -1;

	w->ksyms = kallsyms__load(KALLSYMS_ROOT);
	w->bins = bincache__new(w->proc_root);
	w->procs = w->bins ? proctab__new(w->proc_root, w->bins) : NULL;
	if (!w->ksyms || !w->procs)
		return -1;
	p = proctab__get(w->procs, 700, 0);
	if (!p ||
	    proc__resolve(p, support__seg_addr(&w->x, BASE, w->main_fn), 0, &w->bin, &off) ||
	    off != file_offset(w, w->main_fn) ||
	    proc__resolve(p, 0x7f0000000010, 0, &w->text_bin, &off) || off != 0x10)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	if (!w)
		return 0;
	proctab__free(w->procs);
	bincache__free(w->bins);
	kallsyms__free(w->ksyms);
	support__rmtree(w->dir);
	free(w->dir);
	free(w->proc_root);
	free(w->prog);
	free(w->notelf);
	free(w);
	return 0;
}

/* ---- aggregation alone ------------------------------------------------- */

/* Frames with no binary are all aggregation needs to tell stacks apart. */
#define UF(a) { NULL, (a) }

/* Empty stacks as the agent passes them: an array, with a count of 0 (see
 * test_aggregate_null_empty_stacks for NULL). */
static const uint64_t no_kstack[1];
static const struct agg_frame no_ustack[1];
#define NO_K no_kstack
#define NO_U no_ustack

static void test_aggregate_identical_stacks(void **state)
{
	const uint64_t k[] = { CORE + 0x110, CORE + 0x210 };
	const struct agg_frame u[] = { UF(0x1000), UF(0x2000), UF(0x3000) };
	struct aggregate *a = aggregate__new();

	(void)state;
	assert_non_null(a);
	assert_int_equal(aggregate__stacks(a), 0);
	assert_int_equal(aggregate__samples(a), 0);
	assert_int_equal(aggregate__add(a, 42, "bash", k, 2, u, 3, 1), 0);
	assert_int_equal(aggregate__add(a, 42, "bash", k, 2, u, 3, 2), 0);
	assert_int_equal(aggregate__add(a, 42, "bash", k, 2, u, 3, 5), 0);
	assert_int_equal(aggregate__stacks(a), 1);
	assert_int_equal(aggregate__samples(a), 8);
	aggregate__free(a);
	aggregate__free(NULL);
}

static void test_aggregate_distinct_stacks(void **state)
{
	const uint64_t k[] = { CORE + 0x110, CORE + 0x210 };
	const uint64_t k2[] = { CORE + 0x110, CORE + 0x214 };
	const struct agg_frame u[] = { UF(0x1000), UF(0x2000), UF(0x3000) };
	const struct agg_frame u2[] = { UF(0x1000), UF(0x2000), UF(0x3004) };
	const struct agg_frame ku[] = { UF(CORE + 0x110) };
	const struct agg_frame ub[] = { { (struct binary *)0x1, 0x1000 }, UF(0x2000),
					UF(0x3000) };
	/* Each one a new stack: added once, it adds one to the count. */
	const struct {
		uint32_t tgid;
		const char *comm;
		const uint64_t *k;
		const struct agg_frame *u;
		size_t nk, nu;
	} distinct[] = {
		{ 42, "bash", k, u, 2, 3 },
		/* Another thread name of the same process. */
		{ 42, "bash-worker", k, u, 2, 3 },
		/* Another process with the same name. */
		{ 43, "bash", k, u, 2, 3 },
		/* Another kernel stack, another user stack. */
		{ 42, "bash", k2, u, 2, 3 },
		{ 42, "bash", k, u2, 2, 3 },
		/* A prefix is not the same stack. */
		{ 42, "bash", k, u, 2, 2 },
		{ 42, "bash", k, u, 1, 3 },
		/* Nor is one address on the other side of the kernel/user line. */
		{ 42, "bash", k, NO_U, 1, 0 },
		{ 42, "bash", k, ku, 0, 1 },
		/* A binary in the frame makes it another frame. */
		{ 42, "bash", k, ub, 2, 3 },
	};
	struct aggregate *a = aggregate__new();
	size_t n = 0;

	(void)state;
	assert_non_null(a);
	for (size_t i = 0; i < sizeof(distinct) / sizeof(distinct[0]); i++) {
		assert_int_equal(aggregate__add(a, distinct[i].tgid, distinct[i].comm, distinct[i].k,
						distinct[i].nk, distinct[i].u, distinct[i].nu, 1),
				 0);
		assert_int_equal(aggregate__stacks(a), ++n);
	}
	/* And each of them again changes no count of stacks. */
	assert_int_equal(aggregate__add(a, 43, "bash", k, 2, u, 3, 4), 0);
	assert_int_equal(aggregate__add(a, 42, "bash-worker", k, 2, u, 3, 4), 0);
	assert_int_equal(aggregate__stacks(a), n);
	assert_int_equal(aggregate__samples(a), n + 8);
	aggregate__free(a);
}

static void test_aggregate_comm_bytes(void **state)
{
	const uint64_t k[] = { CORE };
	/* As BPF hands it over: the name, a NUL, then leftovers. */
	const char raw1[IGNIS_COMM_LEN] = "nginx\0garbage12";
	const char raw2[IGNIS_COMM_LEN] = "nginx\0otherjunk";
	struct aggregate *a = aggregate__new();

	(void)state;
	assert_non_null(a);
	assert_int_equal(aggregate__add(a, 1, raw1, k, 1, NO_U, 0, 1), 0);
	assert_int_equal(aggregate__add(a, 1, raw2, k, 1, NO_U, 0, 1), 0);
	assert_int_equal(aggregate__add(a, 1, "nginx", k, 1, NO_U, 0, 1), 0);
	assert_int_equal(aggregate__stacks(a), 1);
	/* Longer than a comm can be: only the first 15 bytes count. */
	assert_int_equal(aggregate__add(a, 1, "abcdefghijklmnopqrstuvwxyz", k, 1, NO_U, 0, 1), 0);
	assert_int_equal(aggregate__add(a, 1, "abcdefghijklmno", k, 1, NO_U, 0, 1), 0);
	assert_int_equal(aggregate__stacks(a), 2);
	assert_int_equal(aggregate__samples(a), 5);
	aggregate__free(a);
}

static void test_aggregate_too_deep(void **state)
{
	struct aggregate *a = aggregate__new();
	uint64_t *k = calloc(UINT16_MAX + 1, sizeof(*k));

	(void)state;
	assert_non_null(a);
	assert_non_null(k);
	assert_int_equal(aggregate__add(a, 1, "x", k, UINT16_MAX + 1, NULL, 0, 1), -EINVAL);
	assert_int_equal(aggregate__stacks(a), 0);
	assert_int_equal(aggregate__samples(a), 0);
	free(k);
	aggregate__free(a);
}

/* ---- rendering --------------------------------------------------------- */

static const struct profile_sample *find_sample(const struct profile *p, int64_t pid,
						const char *comm)
{
	const struct profile_sample *found = NULL;

	for (size_t i = 0; i < profile__sample_count(p); i++) {
		const struct profile_sample *s = profile__sample(p, i);
		int pid_ok = 0, comm_ok = 0;

		assert_int_equal(s->nlabels, 2);
		for (uint32_t j = 0; j < s->nlabels; j++) {
			const struct profile_label *l = &s->labels[j];

			if (strcmp(l->key, "pid") == 0) {
				assert_null(l->str);	/* a number, not a string */
				pid_ok = l->num == pid;
			} else if (strcmp(l->key, "comm") == 0) {
				assert_non_null(l->str);
				comm_ok = strcmp(l->str, comm) == 0;
			} else {
				fail_msg("unexpected label %s", l->key);
			}
		}
		if (pid_ok && comm_ok) {
			assert_null(found);
			found = s;
		}
	}
	assert_non_null(found);
	return found;
}

static void expect_frame(const struct profile *p, const struct profile_frame *f,
			 const char *function, const char *mapping_file, uint64_t address)
{
	assert_non_null(f->function);
	assert_string_equal(f->function, function);
	assert_int_equal(f->address, address);
	if (mapping_file) {
		const struct profile_mapping *m = profile__mapping(p, f->mapping);

		assert_non_null(m);
		assert_string_equal(m->file, mapping_file);
	} else {
		assert_int_equal(f->mapping, 0);
	}
}

/* A flush over a symbol budget smaller than one binary: the binary's
 * symbols are given back as soon as its addresses are named, during the
 * flush, and the profile keeps the same names, files and lines (copies). */
static void test_aggregate_names_outlive_the_symbols(void **state)
{
	struct world *w = *state;
	const uint64_t off_hot = file_offset(w, w->hot_b);
	const uint64_t off_main = file_offset(w, w->main_fn);
	const struct agg_frame u[] = { { w->bin, off_hot + 3 }, { w->bin, off_main + 1 } };
	struct bincache_opts tiny = { .budget_bytes = 1 }, dflt = { 0 };
	struct profile *p[2] = { NULL, NULL };
	const struct profile_sample *s[2];
	struct bincache_stats st0, st1;
	struct aggregate *a = aggregate__new();

	assert_non_null(a);
	assert_int_equal(aggregate__add(a, 700, "prog", NO_K, 0, u, 2, 1), 0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(bincache__configure(w->bins, round ? &tiny : &dflt), 0);
		bincache__trim(w->bins);
		bincache__stats(w->bins, &st0);
		p[round] = profile__new(10000000, 1, 2);
		assert_non_null(p[round]);
		assert_int_equal(aggregate__to_profile(a, w->ksyms, p[round]), 0);
		bincache__stats(w->bins, &st1);
		/* Only the flush itself gave them back (no trim since). */
		assert_int_equal(st1.evictions - st0.evictions, round ? 1 : 0);
		s[round] = find_sample(p[round], 700, "prog");
		assert_non_null(s[round]);
		assert_int_equal(s[round]->nframes, 2);
	}
	expect_frame(p[1], support__frame(p[1], s[1], 0), "hot_b", w->prog, off_hot + 3);
	expect_frame(p[1], support__frame(p[1], s[1], 1), "main", w->prog, off_main + 1);
	for (int i = 0; i < 2; i++) {
		const struct profile_frame *f0 = support__frame(p[0], s[0], i);
		const struct profile_frame *f1 = support__frame(p[1], s[1], i);

		assert_string_equal(f1->function, f0->function);
		assert_true(!f1->file == !f0->file);
		if (f0->file)
			assert_string_equal(f1->file, f0->file);
		assert_int_equal(f1->line, f0->line);
	}
	assert_int_equal(bincache__configure(w->bins, &dflt), 0);
	profile__free(p[0]);
	profile__free(p[1]);
	aggregate__free(a);
}

static void test_aggregate_to_profile(void **state)
{
	struct world *w = *state;
	const uint64_t off_hot = file_offset(w, w->hot_b);
	const uint64_t off_main = file_offset(w, w->main_fn);
	const uint64_t off_call = file_offset(w, w->ends_in_call);
	/* pid 700 "prog": a user-only stack, every kind of user frame. */
	const struct agg_frame u1[] = {
		{ w->bin, off_hot + 3 },        /* leaf inside hot_b */
		{ w->bin, off_hot },            /* return address = start of hot_b */
		{ w->bin, off_call + 2 },       /* inside ends_in_call, as caller */
		{ w->bin, off_main + 1 },       /* return address just past main's start */
		{ w->bin, 0x7fff0000 },         /* beyond every symbol of prog */
		{ w->text_bin, 0x10 },          /* a file that is not ELF */
		{ NULL, 0xdeadbeef },           /* no mapping at all */
	};
	/* pid 700 "worker": kernel frames on top of a user return address. */
	const uint64_t k2[] = { CORE + 0x110, EXT4 + 0x210, CORE + 0x350 };
	const struct agg_frame u2[] = { { w->bin, off_hot } };
	/* pid 701 "prog": the same address as the interrupted instruction. */
	const struct agg_frame u3[] = { { w->bin, off_hot } };
	struct aggregate *a = aggregate__new();
	struct profile *p = profile__new(10000000, 1, 2);
	const struct profile_sample *s;
	const struct profile_mapping *m;
	uint32_t user_mapping, kernel_mapping;
	char want[128];

	assert_non_null(a);
	assert_non_null(p);
	assert_int_equal(aggregate__add(a, 700, "prog", NO_K, 0, u1, 7, 1), 0);
	assert_int_equal(aggregate__add(a, 700, "prog", NO_K, 0, u1, 7, 2), 0);
	assert_int_equal(aggregate__add(a, 700, "worker", k2, 3, u2, 1, 4), 0);
	assert_int_equal(aggregate__add(a, 701, "prog", NO_K, 0, u3, 1, 5), 0);
	assert_int_equal(aggregate__stacks(a), 3);
	assert_int_equal(aggregate__samples(a), 12);

	assert_int_equal(aggregate__to_profile(a, w->ksyms, p), 0);
	assert_int_equal(profile__sample_count(p), 3);

	s = find_sample(p, 700, "prog");
	assert_int_equal(s->count, 3);
	assert_int_equal(s->nframes, 7);
	expect_frame(p, support__frame(p, s, 0), "hot_b", w->prog, off_hot + 3);
	/* The call that pushed this return address is the last instruction
	 * of ends_in_call; the address itself is already hot_b's. */
	expect_frame(p, support__frame(p, s, 1), "ends_in_call", w->prog, off_hot);
	expect_frame(p, support__frame(p, s, 2), "ends_in_call", w->prog, off_call + 2);
	expect_frame(p, support__frame(p, s, 3), "main", w->prog, off_main + 1);
	expect_frame(p, support__frame(p, s, 4), "[unknown] prog+0x7fff0000", w->prog, 0x7fff0000);
	expect_frame(p, support__frame(p, s, 5), "[unknown] notelf.so+0x10", w->notelf, 0x10);
	expect_frame(p, support__frame(p, s, 6), "[unknown] 0xdeadbeef", NULL, 0xdeadbeef);
	user_mapping = support__frame(p, s, 0)->mapping;

	/* The binary's mapping: file offsets, the build id, the file size. */
	m = profile__mapping(p, user_mapping);
	assert_non_null(m);
	assert_int_equal(m->start, 0);
	assert_int_equal(m->offset, 0);
	assert_int_equal(m->limit, (uint64_t)w->prog_st.st_size);
	assert_non_null(m->build_id);
	assert_string_equal(m->build_id, w->build_id);
	/* A file without a build id has none in its mapping. */
	m = profile__mapping(p, support__frame(p, s, 5)->mapping);
	assert_non_null(m);
	assert_null(m->build_id);

	s = find_sample(p, 700, "worker");
	assert_int_equal(s->count, 4);
	assert_int_equal(s->nframes, 4);
	expect_frame(p, support__frame(p, s, 0), "do_one_initcall", "[kernel.kallsyms]", CORE + 0x110);
	expect_frame(p, support__frame(p, s, 1), "ext4_iget", "[kernel.kallsyms]", EXT4 + 0x210);
	/* No kernel symbol covers +0x350 (after weak_func, before after_data). */
	assert_non_null(strstr(support__frame(p, s, 2)->function, "[unknown]"));
	assert_non_null(strstr(support__frame(p, s, 2)->function, "ffffffff81000350"));
	/* Under kernel frames the user frame is where the thread will return
	 * to, not an instruction that ran. */
	expect_frame(p, support__frame(p, s, 3), "ends_in_call", w->prog, off_hot);
	assert_int_equal(support__frame(p, s, 3)->mapping, user_mapping);
	kernel_mapping = support__frame(p, s, 0)->mapping;
	assert_int_equal(support__frame(p, s, 1)->mapping, kernel_mapping);
	assert_int_equal(support__frame(p, s, 2)->mapping, kernel_mapping);
	m = profile__mapping(p, kernel_mapping);
	assert_non_null(m);
	assert_int_equal(m->start, kallsyms__min_addr(w->ksyms));
	assert_null(m->build_id);
	/* Readers take mapping 1 for the main program: not the kernel. */
	assert_true(kernel_mapping > user_mapping);
	snprintf(want, sizeof(want), "%s", profile__mapping(p, 1)->file);
	assert_string_not_equal(want, "[kernel.kallsyms]");

	s = find_sample(p, 701, "prog");
	assert_int_equal(s->count, 5);
	assert_int_equal(s->nframes, 1);
	expect_frame(p, support__frame(p, s, 0), "hot_b", w->prog, off_hot);
	assert_int_equal(support__frame(p, s, 0)->mapping, user_mapping);

	/* One mapping per binary plus the kernel, however many frames. */
	assert_int_equal(profile__mapping_count(p), 3);

	profile__free(p);
	aggregate__free(a);
}

static void test_aggregate_to_profile_without_kallsyms(void **state)
{
	struct world *w = *state;
	const uint64_t k[] = { CORE + 0x110 };
	const struct agg_frame u[] = { { w->bin, file_offset(w, w->hot_b) + 1 } };
	struct aggregate *a = aggregate__new();
	struct profile *p = profile__new(10000000, 1, 2);
	const struct profile_sample *s;

	assert_non_null(a);
	assert_non_null(p);
	assert_int_equal(aggregate__add(a, 9, "kworker/0:1", k, 1, u, 1, 1), 0);
	assert_int_equal(aggregate__to_profile(a, NULL, p), 0);
	s = find_sample(p, 9, "kworker/0:1");
	assert_int_equal(s->nframes, 2);
	assert_non_null(strstr(support__frame(p, s, 0)->function, "[unknown]"));
	assert_non_null(strstr(support__frame(p, s, 0)->function, "ffffffff81000110"));
	assert_string_equal(profile__mapping(p, support__frame(p, s, 0)->mapping)->file, "[kernel.kallsyms]");
	assert_int_equal(support__frame(p, s, 0)->address, CORE + 0x110);
	expect_frame(p, support__frame(p, s, 1), "hot_b", w->prog, file_offset(w, w->hot_b) + 1);
	profile__free(p);
	aggregate__free(a);
}

static void test_aggregate_empty_to_profile(void **state)
{
	struct aggregate *a = aggregate__new();
	struct profile *p = profile__new(10000000, 1, 2);

	(void)state;
	assert_non_null(a);
	assert_non_null(p);
	assert_int_equal(aggregate__to_profile(a, NULL, p), 0);
	assert_int_equal(profile__sample_count(p), 0);
	assert_int_equal(profile__mapping_count(p), 0);
	profile__free(p);
	aggregate__free(a);
}

/* Deeper kernel frames are return addresses, named at address - 1 like the
 * kernel's own %pB backtraces: with the fixture kallsyms, _stext covers
 * [CORE, CORE+0x100) and do_one_initcall starts at CORE+0x100, so the
 * return address CORE+0x100 in a caller frame is _stext's call. */
static void test_aggregate_kernel_return_address(void **state)
{
	struct world *w = *state;
	const uint64_t k[] = { CORE + 0x110, CORE + 0x100 };
	struct aggregate *a = aggregate__new();
	struct profile *p = profile__new(1, 0, 0);
	const struct profile_sample *s;

	assert_non_null(a);
	assert_non_null(p);
	assert_int_equal(aggregate__add(a, 5, "kthread", k, 2, NO_U, 0, 1), 0);
	assert_int_equal(aggregate__to_profile(a, w->ksyms, p), 0);
	s = find_sample(p, 5, "kthread");
	assert_int_equal(s->nframes, 2);
	/* The leaf is the instruction itself. */
	expect_frame(p, support__frame(p, s, 0), "do_one_initcall", "[kernel.kallsyms]", CORE + 0x110);
	/* The caller: the call that returns to CORE+0x100 sits in _stext. */
	expect_frame(p, support__frame(p, s, 1), "_stext", "[kernel.kallsyms]", CORE + 0x100);
	profile__free(p);
	aggregate__free(a);
}

/* An empty stack passed as (NULL, 0) must not reach memcpy/memcmp with a
 * NULL pointer (undefined behaviour, caught under SANITIZE=1). */
static void test_aggregate_null_empty_stacks(void **state)
{
	const uint64_t k[] = { CORE + 0x110 };
	const struct agg_frame u[] = { UF(0x1000) };
	struct aggregate *a = aggregate__new();
	struct profile *p = profile__new(1, 0, 0);

	(void)state;
	assert_non_null(a);
	assert_non_null(p);
	assert_int_equal(aggregate__add(a, 1, "kthread", k, 1, NULL, 0, 1), 0);
	assert_int_equal(aggregate__add(a, 1, "kthread", k, 1, NULL, 0, 1), 0);
	assert_int_equal(aggregate__add(a, 2, "user", NULL, 0, u, 1, 1), 0);
	assert_int_equal(aggregate__add(a, 2, "user", NULL, 0, u, 1, 1), 0);
	assert_int_equal(aggregate__add(a, 3, "nothing", NULL, 0, NULL, 0, 1), 0);
	assert_int_equal(aggregate__stacks(a), 3);
	assert_int_equal(aggregate__samples(a), 5);
	assert_int_equal(aggregate__to_profile(a, NULL, p), 0);
	assert_int_equal(profile__sample_count(p), 3);
	profile__free(p);
	aggregate__free(a);
}

/* Interpreted frames (AGG_INTERP): named from the namer's struct, with no
 * mapping and no address; two lines of one function are two frames of one
 * name, and the same (name, file, line) pointer is one stack. */
static void test_aggregate_interp_frames(void **state)
{
	static const struct agg_interp_frame leaf = { "K.leaf", "/srv/app.py", 12, 10 };
	static const struct agg_interp_frame leaf2 = { "K.leaf", "/srv/app.py", 13, 10 };
	static const struct agg_interp_frame caller = { "main", "/srv/app.py", 30, 28 };
	const struct agg_frame u1[] = {
		{ NULL, AGG_INTERP | (uint64_t)(uintptr_t)&leaf },
		{ NULL, AGG_INTERP | (uint64_t)(uintptr_t)&caller },
	};
	const struct agg_frame u2[] = {
		{ NULL, AGG_INTERP | (uint64_t)(uintptr_t)&leaf2 },
		{ NULL, AGG_INTERP | (uint64_t)(uintptr_t)&caller },
	};
	struct aggregate *a = aggregate__new();
	struct profile *p = profile__new(1, 0, 0);
	const struct profile_sample *s;

	(void)state;
	assert_non_null(a);
	assert_non_null(p);
	assert_int_equal(aggregate__add(a, 7, "python3", NULL, 0, u1, 2, 1), 0);
	assert_int_equal(aggregate__add(a, 7, "python3", NULL, 0, u1, 2, 1), 0);
	assert_int_equal(aggregate__add(a, 7, "python3", NULL, 0, u2, 2, 1), 0);
	assert_int_equal(aggregate__stacks(a), 2);
	assert_int_equal(aggregate__to_profile(a, NULL, p), 0);
	assert_int_equal(profile__sample_count(p), 2);
	assert_int_equal(profile__mapping_count(p), 0);
	for (size_t i = 0; i < 2; i++) {
		s = profile__sample(p, i);
		assert_int_equal(s->nframes, 2);
		assert_string_equal(support__frame(p, s, 0)->function, "K.leaf");
		assert_string_equal(support__frame(p, s, 0)->file, "/srv/app.py");
		assert_int_equal(support__frame(p, s, 0)->line, s->count == 2 ? 12 : 13);
		assert_int_equal(support__frame(p, s, 0)->start_line, 10);
		assert_int_equal(support__frame(p, s, 0)->mapping, 0);
		assert_int_equal(support__frame(p, s, 0)->address, 0);
		assert_string_equal(support__frame(p, s, 1)->function, "main");
		assert_int_equal(support__frame(p, s, 1)->line, 30);
	}
	profile__free(p);
	aggregate__free(a);
}

/* Off-CPU: each blocking counts once and weighs its nanoseconds; the
 * profile carries both, scaled by 1/probability (rounded) when asked. */
static void test_aggregate_weights(void **state)
{
	const uint64_t k[] = { CORE + 0x110 };
	struct aggregate *a = aggregate__new();
	struct profile *p = profile__new(1, 0, 0), *q = profile__new(1, 0, 0);

	(void)state;
	assert_non_null(a);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal(aggregate__add_value(a, 0, 1, "app", k, 1, NULL, 0, 1, 10000000), 0);
	assert_int_equal(aggregate__add_value(a, 0, 1, "app", k, 1, NULL, 0, 1, 12000001), 0);
	assert_int_equal(aggregate__samples(a), 2);
	assert_int_equal(aggregate__value(a), 22000001);
	assert_int_equal(aggregate__to_profile(a, NULL, p), 0);
	assert_int_equal(profile__sample_count(p), 1);
	assert_int_equal(profile__sample(p, 0)->count, 2);
	assert_int_equal(profile__sample(p, 0)->value, 22000001);
	/* Probability 0.3: 2 / 0.3 = 6.67 blockings, 73333336.67 ns. */
	aggregate__set_scale(a, 1 / 0.3);
	assert_int_equal(aggregate__to_profile(a, NULL, q), 0);
	assert_int_equal(profile__sample(q, 0)->count, 7);
	assert_int_equal(profile__sample(q, 0)->value, 73333337);
	profile__free(q);
	profile__free(p);
	aggregate__free(a);
}

/* One flush, several series: each profile gets only its series' stacks and
 * its own kernel mapping; a skipped series costs nothing. */
static void test_aggregate_series(void **state)
{
	const uint64_t k[] = { CORE + 0x110 };
	const struct agg_frame u[] = { UF(0x1000) };
	struct aggregate *a = aggregate__new();
	struct profile *p[3] = { profile__new(1, 0, 0), profile__new(1, 0, 0), NULL };

	(void)state;
	assert_non_null(a);
	assert_int_equal(aggregate__add_series(a, 0, 10, "api", k, 1, u, 1, 2), 0);
	assert_int_equal(aggregate__add_series(a, 1, 10, "api", k, 1, u, 1, 3), 0);
	assert_int_equal(aggregate__add_series(a, 1, 11, "db", NULL, 0, u, 1, 4), 0);
	assert_int_equal(aggregate__add_series(a, 2, 12, "skipped", k, 1, NULL, 0, 5), 0);
	assert_int_equal(aggregate__stacks(a), 4);
	{
		uint64_t counts[4];

		aggregate__series_counts(a, counts, 4);
		assert_int_equal(counts[0], 2);
		assert_int_equal(counts[1], 7);
		assert_int_equal(counts[2], 5);
		assert_int_equal(counts[3], 0);
	}
	assert_int_equal(aggregate__to_profiles(a, NULL, p, 3), 0);
	assert_int_equal(profile__sample_count(p[0]), 1);
	assert_int_equal(profile__sample(p[0], 0)->count, 2);
	assert_int_equal(profile__sample_count(p[1]), 2);
	assert_int_equal(profile__sample(p[0], 0)->nframes, 2);
	assert_int_equal(profile__mapping_count(p[0]), 1);  /* the kernel's */
	assert_int_equal(profile__mapping_count(p[1]), 1);
	profile__free(p[0]);
	profile__free(p[1]);
	aggregate__free(a);
}

/* Keyed by thread: two threads of one name with the same stack stay two
 * samples, each with its "tid"; without a tid they are one, with no tid. */
static void test_aggregate_threads(void **state)
{
	const struct agg_frame u[] = { UF(0x1000) };
	struct aggregate *a = aggregate__new();
	struct profile *p = profile__new(1, 0, 0);
	uint64_t seen = 0;

	(void)state;
	assert_non_null(a);
	assert_int_equal(aggregate__add_labeled(a, 0, 10, 11, "worker", NULL, 0, u, 1, NULL, 0, 2), 0);
	assert_int_equal(aggregate__add_labeled(a, 0, 10, 12, "worker", NULL, 0, u, 1, NULL, 0, 3), 0);
	assert_int_equal(aggregate__add_labeled(a, 0, 10, 12, "worker", NULL, 0, u, 1, NULL, 0, 1), 0);
	assert_int_equal(aggregate__add_series(a, 0, 10, "worker", NULL, 0, u, 1, 5), 0);
	assert_int_equal(aggregate__add_series(a, 0, 10, "worker", NULL, 0, u, 1, 1), 0);
	assert_int_equal(aggregate__stacks(a), 3);
	assert_int_equal(aggregate__to_profile(a, NULL, p), 0);
	assert_int_equal(profile__sample_count(p), 3);
	for (size_t i = 0; i < 3; i++) {
		const struct profile_sample *s = profile__sample(p, i);
		int64_t tid = s->nlabels == 3 ? s->labels[2].num : 0;

		assert_string_equal(s->labels[0].key, "pid");
		assert_int_equal(s->labels[0].num, 10);
		if (tid) {
			assert_string_equal(s->labels[2].key, "tid");
			assert_int_equal(s->count, tid == 11 ? 2 : 4);
		} else {
			assert_int_equal(s->nlabels, 2);
			assert_int_equal(s->count, 6);
		}
		seen |= tid == 0 ? 1 : tid == 11 ? 2 : tid == 12 ? 4 : 8;
	}
	assert_int_equal(seen, 7);  /* no tid, 11, 12 */
	profile__free(p);
	aggregate__free(a);
}

/* The program's labels (a golabels blob) are part of the key, and come
 * out as per-sample labels with their origin after pid and comm. */
static void test_aggregate_program_labels(void **state)
{
	static const char span1[] = "\x01span_id\0" "0000000000000001\0";
	static const char span2[] = "\x01span_id\0" "0000000000000002\0\x02" "custom\0x\0";
	const uint64_t k[] = { CORE + 0x110 };
	const struct agg_frame u[] = { UF(0x1000) };
	struct aggregate *a = aggregate__new();
	struct profile *p = profile__new(1, 0, 0);
	uint64_t seen = 0;

	(void)state;
	assert_non_null(a);
	assert_int_equal(aggregate__add_labeled(a, 0, 10, 0, "api", k, 1, u, 1, span1,
						sizeof(span1) - 1, 2), 0);
	assert_int_equal(aggregate__add_labeled(a, 0, 10, 0, "api", k, 1, u, 1, span1,
						sizeof(span1) - 1, 1), 0);
	assert_int_equal(aggregate__add_labeled(a, 0, 10, 0, "api", k, 1, u, 1, span2,
						sizeof(span2) - 1, 4), 0);
	assert_int_equal(aggregate__add_series(a, 0, 10, "api", k, 1, u, 1, 8), 0);
	assert_int_equal(aggregate__add_labeled(a, 0, 10, 0, "api", k, 1, u, 1, span1, 70000, 1),
			 -EINVAL);
	assert_int_equal(aggregate__stacks(a), 3);
	assert_int_equal(aggregate__to_profile(a, NULL, p), 0);
	assert_int_equal(profile__sample_count(p), 3);
	for (size_t i = 0; i < 3; i++) {
		const struct profile_sample *s = profile__sample(p, i);

		assert_string_equal(s->labels[0].key, "pid");
		assert_string_equal(s->labels[1].key, "comm");
		if (s->count == 8) {
			assert_int_equal(s->nlabels, 2);
		} else if (s->count == 3) {
			assert_int_equal(s->nlabels, 3);
			assert_string_equal(s->labels[2].str, "0000000000000001");
			assert_int_equal(s->labels[2].origin, PROFILE_LABEL_TRACE);
		} else {
			assert_int_equal(s->count, 4);
			assert_int_equal(s->nlabels, 4);
			assert_string_equal(s->labels[2].str, "0000000000000002");
			assert_string_equal(s->labels[3].key, "custom");
			assert_int_equal(s->labels[3].origin, PROFILE_LABEL_PROGRAM);
		}
		seen += s->count;
	}
	assert_int_equal(seen, 15);
	profile__free(p);
	aggregate__free(a);
}

int main(void)
{
	const struct CMUnitTest plain[] = {
		cmocka_unit_test(test_aggregate_identical_stacks),
		cmocka_unit_test(test_aggregate_series),
		cmocka_unit_test(test_aggregate_threads),
		cmocka_unit_test(test_aggregate_program_labels),
		cmocka_unit_test(test_aggregate_distinct_stacks),
		cmocka_unit_test(test_aggregate_comm_bytes),
		cmocka_unit_test(test_aggregate_too_deep),
		cmocka_unit_test(test_aggregate_empty_to_profile),
	};
	const struct CMUnitTest rendering[] = {
		cmocka_unit_test(test_aggregate_to_profile),
		cmocka_unit_test(test_aggregate_names_outlive_the_symbols),
		cmocka_unit_test(test_aggregate_to_profile_without_kallsyms),
		cmocka_unit_test(test_aggregate_kernel_return_address),
	};
	const struct CMUnitTest null_bug[] = {
		cmocka_unit_test(test_aggregate_null_empty_stacks),
		cmocka_unit_test(test_aggregate_interp_frames),
		cmocka_unit_test(test_aggregate_weights),
	};
	int failed;

	failed = cmocka_run_group_tests_name("aggregate", plain, NULL, NULL);
	failed += cmocka_run_group_tests_name("aggregate to profile", rendering, setup, teardown);
	failed += cmocka_run_group_tests_name("aggregate, NULL empty stacks", null_bug, NULL,
					      NULL);
	return failed ? 1 : 0;
}
