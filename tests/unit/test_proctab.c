/* The process table and the binary cache against a proc root built at test
 * time: <tmp>/proc/<pid>/maps list a PIE program compiled here
 * (support__build_prog), and <tmp>/proc/<pid>/root is a symlink to "/", so
 * the cache finds the file through <proc_root>/<pid>/root/<path> (there is
 * no map_files in the fixture, which is the fallback an unprivileged agent
 * takes). Mapping addresses come from the program's real executable PT_LOAD
 * and function addresses from nm, so the expected file offsets are computed
 * independently of the code under test. */
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

#include "sampling/proctab.h"
#include "symbolizer/bincache.h"
#include "tests/unit/support.h"

#define SEC 1000000000ULL
#define MS(n) ((uint64_t)(n) * 1000000ULL)

struct world {
	char *dir;
	char *proc_root;        /* <dir>/proc */
	char *prog;             /* PIE with a build id */
	char *prog_copy;        /* the same bytes under another path and inode */
	char *notelf;           /* a file that is not ELF */
	struct stat prog_st, copy_st, notelf_st;
	struct support_seg x;   /* prog's executable segment */
	char build_id[256];
};

/* Per test: a fresh cache and table over the world's proc root. */
struct fx {
	struct world *w;
	struct bincache *bins;
	struct proctab *t;
};

static struct world *g_world;

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	*state = w;
	g_world = w;
	if (!w || !(w->dir = support__tmpdir("proctab")))
		return -1;
	w->proc_root = support__path(w->dir, "proc");
	w->prog = support__build_prog(w->dir);
	w->prog_copy = support__path(w->dir, "prog-copy");
	w->notelf = support__path(w->dir, "notelf.so");
	if (!w->proc_root || !w->prog || !w->prog_copy || !w->notelf)
		return -1;
	if (mkdir(w->proc_root, 0755) ||
	    support__write_text(w->notelf, "this is a text file, not an ELF object\n") ||
	    support__run("cp '%s' '%s'", w->prog, w->prog_copy))
		return -1;
	if (stat(w->prog, &w->prog_st) || stat(w->prog_copy, &w->copy_st) ||
	    stat(w->notelf, &w->notelf_st))
		return -1;
	if (support__exec_segment(w->prog, &w->x) ||
	    support__build_id(w->prog, w->build_id, sizeof(w->build_id)))
		return -1;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	if (w) {
		support__rmtree(w->dir);
		free(w->dir);
		free(w->proc_root);
		free(w->prog);
		free(w->prog_copy);
		free(w->notelf);
		free(w);
	}
	g_world = NULL;
	return 0;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->w = g_world;
	f->bins = bincache__new(f->w->proc_root);
	f->t = f->bins ? proctab__new(f->w->proc_root, f->bins) : NULL;
	*state = f;
	return f->t ? 0 : -1;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f) {
		proctab__free(f->t);
		bincache__free(f->bins);
		free(f);
	}
	return 0;
}

/* The link-time address of a symbol, from nm. */
static uint64_t nm_sym(const char *path, const char *name, uint64_t *size)
{
	uint64_t vaddr;

	assert_int_equal(support__symbol(path, name, &vaddr, size), 0);
	return vaddr;
}

/* vaddr (from nm) → file offset → address in a process that loaded prog at
 * base. */
static uint64_t file_offset(const struct world *w, uint64_t vaddr)
{
	assert_true(vaddr >= w->x.vaddr && vaddr < w->x.vaddr + w->x.memsz);
	return support__seg_file_offset(&w->x, vaddr);
}

static uint64_t mapped_addr(const struct world *w, uint64_t base, uint64_t vaddr)
{
	return support__seg_start(&w->x, base) + file_offset(w, vaddr) -
	       support__seg_map_offset(&w->x);
}

/* The maps lines of prog's first two segments at base (path may be the
 * copy): the r--p one from offset 0 up to the executable one. */
static char *exec_line(const struct world *w, uint64_t base, const char *path,
		       const struct stat *st)
{
	char *x = support__seg_maps_line(&w->x, base, st, path), *line;

	assert_non_null(x);
	assert_true(asprintf(&line,
			     "%012llx-%012llx r--p 00000000 %02x:%02x %llu                 %s\n%s",
			     (unsigned long long)base,
			     (unsigned long long)support__seg_start(&w->x, base), major(st->st_dev),
			     minor(st->st_dev), (unsigned long long)st->st_ino, path, x) >= 0);
	free(x);
	return line;
}

/* Writes <proc_root>/<pid>/maps (replacing it) and the root symlink. */
static void write_maps(const struct world *w, int pid, const char *text)
{
	assert_int_equal(support__write_proc(w->proc_root, pid, text), 0);
}

static void write_prog_maps(const struct world *w, int pid, uint64_t base)
{
	char *text = exec_line(w, base, w->prog, &w->prog_st);

	write_maps(w, pid, text);
	free(text);
}

/* The table's entry for pid, which runs prog loaded at base. */
static struct proc *prog_proc(struct fx *f, int pid, uint64_t base, uint64_t now)
{
	struct proc *p;

	write_prog_maps(f->w, pid, base);
	p = proctab__get(f->t, pid, now);
	assert_non_null(p);
	return p;
}

/* The program has no DWARF: one frame, from .symtab. */
static void expect_symbol(struct binary *b, uint64_t off, const char *name)
{
	struct sym_frame got[SYM_MAX_FRAMES];

	assert_int_equal(binary__symbolize(b, off, got, SYM_MAX_FRAMES), 1);
	assert_string_equal(got[0].name, name);
	assert_null(got[0].system_name);
}

#define BASE_A 0x55d0c0de0000ULL
#define BASE_B 0x5611aa400000ULL
#define BASE_C 0x7f1234500000ULL

static void test_proctab_resolve_and_symbolize(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	uint64_t size = 0, hot = nm_sym(w->prog, "hot_b", &size), off = 0;
	/* Where prog's executable segment lies in the maps line. */
	const uint64_t start = support__seg_start(&w->x, BASE_A);
	const uint64_t end = support__seg_end(&w->x, BASE_A);
	const uint64_t map_off = support__seg_map_offset(&w->x);
	struct binary *bin = NULL;
	struct proc *p;
	struct sym_frame sf[SYM_MAX_FRAMES];

	p = prog_proc(f, 100, BASE_A, 0);
	assert_int_equal(proc__tgid(p), 100);
	assert_int_equal(proctab__count(f->t), 1);
	/* The same entry again. */
	assert_ptr_equal(proctab__get(f->t, 100, 0), p);
	assert_int_equal(proctab__count(f->t), 1);

	assert_true(size > 4);
	assert_int_equal(proc__resolve(p, mapped_addr(w, BASE_A, hot) + 3, 0, &bin, &off), 0);
	assert_non_null(bin);
	assert_int_equal(off, file_offset(w, hot) + 3);
	/* A PIE loaded at a high base: the offset is not the address. */
	assert_true(off < BASE_A);
	expect_symbol(bin, off, "hot_b");
	expect_symbol(bin, file_offset(w, hot) + size - 1, "hot_b");

	assert_string_equal(binary__path(bin), w->prog);
	assert_string_equal(binary__name(bin), "prog");
	assert_string_equal(binary__build_id(bin), w->build_id);
	assert_int_equal(binary__size(bin), w->prog_st.st_size);

	/* The edges of the executable mapping. */
	assert_int_equal(proc__resolve(p, start, 0, &bin, &off), 0);
	assert_int_equal(off, map_off);
	assert_int_equal(proc__resolve(p, end - 1, 0, &bin, &off), 0);
	assert_int_equal(off, map_off + end - start - 1);
	assert_int_equal(proc__resolve(p, end, 0, &bin, &off), -ENOENT);
	/* The r--p mapping before it is not executable, so not in the table. */
	assert_int_equal(proc__resolve(p, BASE_A, 0, &bin, &off), -ENOENT);
	assert_int_equal(proc__resolve(p, 0x1000, 0, &bin, &off), -ENOENT);
	/* An offset past every function has no name. */
	assert_int_equal(binary__symbolize(bin, 1ull << 40, sf, SYM_MAX_FRAMES), -ENOENT);
}

/* Symbols over the byte budget are given back after a flush, least
 * recently used first, and come back on the next lookup. */
static void test_bincache_budget_evicts_and_reloads(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	uint64_t hot = nm_sym(w->prog, "hot_b", NULL), off = 0;
	struct bincache_opts tiny = { .budget_bytes = 1 };
	struct bincache_opts roomy = { .budget_bytes = 64 << 20 };
	struct bincache_stats st;
	struct binary *bin = NULL;
	struct proc *p = prog_proc(f, 100, BASE_A, 0);

	assert_int_equal(bincache__configure(f->bins, &roomy), 0);
	assert_int_equal(proc__resolve(p, mapped_addr(w, BASE_A, hot), 0, &bin, &off), 0);
	expect_symbol(bin, off, "hot_b");
	expect_symbol(bin, off + 1, "hot_b");
	bincache__trim(f->bins);
	bincache__stats(f->bins, &st);
	assert_int_equal(st.lookups, 2);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.evictions, 0);
	assert_true(st.bytes > 0);

	assert_int_equal(bincache__configure(f->bins, &tiny), 0);
	bincache__trim(f->bins);
	bincache__stats(f->bins, &st);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.bytes, 0);

	/* Loaded again, the same answer. */
	expect_symbol(bin, off, "hot_b");
	bincache__stats(f->bins, &st);
	assert_int_equal(st.misses, 2);
}

static void test_proctab_one_binary_for_many_pids(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	uint64_t main_v = nm_sym(w->prog, "main", NULL), off_a = 0, off_b = 0, off_c = 0;
	struct binary *ba = NULL, *bb = NULL, *bc = NULL;
	struct proc *pa, *pb, *pc;
	char *copy;

	write_prog_maps(w, 110, BASE_A);
	write_prog_maps(w, 111, BASE_B);
	copy = exec_line(w, BASE_C, w->prog_copy, &w->copy_st);
	write_maps(w, 112, copy);
	free(copy);

	pa = proctab__get(f->t, 110, 0);
	assert_non_null(pa);
	assert_int_equal(bincache__count(f->bins), 1);
	pb = proctab__get(f->t, 111, 0);
	assert_non_null(pb);
	/* Same file, another pid, another load address: one entry. */
	assert_int_equal(bincache__count(f->bins), 1);
	pc = proctab__get(f->t, 112, 0);
	assert_non_null(pc);
	/* Another path and inode with the same build id: still one. */
	assert_int_equal(bincache__count(f->bins), 1);
	assert_int_equal(proctab__count(f->t), 3);

	assert_int_equal(proc__resolve(pa, mapped_addr(w, BASE_A, main_v), 0, &ba, &off_a), 0);
	assert_int_equal(proc__resolve(pb, mapped_addr(w, BASE_B, main_v), 0, &bb, &off_b), 0);
	assert_int_equal(proc__resolve(pc, mapped_addr(w, BASE_C, main_v), 0, &bc, &off_c), 0);
	assert_ptr_equal(ba, bb);
	assert_ptr_equal(ba, bc);
	assert_int_equal(off_a, file_offset(w, main_v));
	assert_int_equal(off_b, off_a);
	assert_int_equal(off_c, off_a);
	expect_symbol(ba, off_a, "main");
}

static void test_proctab_missing_maps(void **state)
{
	struct fx *f = *state;
	struct binary *bin = NULL;
	uint64_t off = 0;
	struct proc *p;

	/* No <proc_root>/200 at all: the process is gone (or never was). */
	p = proctab__get(f->t, 200, 0);
	assert_non_null(p);
	assert_int_equal(proc__tgid(p), 200);
	assert_int_equal(proctab__count(f->t), 1);
	assert_int_equal(proc__resolve(p, BASE_A, 0, &bin, &off), -ENOENT);
	/* Later (a re-read is allowed) it is still nothing. */
	assert_int_equal(proc__resolve(p, BASE_A, 5 * SEC, &bin, &off), -ENOENT);
	assert_int_equal(bincache__count(f->bins), 0);
	assert_ptr_equal(proctab__get(f->t, 200, 6 * SEC), p);
}

static void test_proctab_exec_rereads(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	uint64_t hot = nm_sym(w->prog, "hot_b", NULL), off = 0;
	struct binary *bin = NULL;
	struct proc *p, *p2;

	p = prog_proc(f, 300, BASE_A, 10 * SEC);
	assert_int_equal(proc__resolve(p, mapped_addr(w, BASE_A, hot), 10 * SEC, &bin, &off), 0);

	/* The process execs: the new image is elsewhere. */
	write_prog_maps(w, 300, BASE_B);
	proctab__exec(f->t, 300);
	p2 = proctab__get(f->t, 300, 10 * SEC);
	assert_non_null(p2);
	assert_int_equal(proctab__count(f->t), 1);
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_B, hot), 10 * SEC, &bin, &off), 0);
	assert_int_equal(off, file_offset(w, hot));
	expect_symbol(bin, off, "hot_b");
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_A, hot), 10 * SEC, &bin, &off),
			 -ENOENT);

	/* Without an exec a plain get does not read the maps again... */
	write_prog_maps(w, 300, BASE_C);
	p2 = proctab__get(f->t, 300, 10 * SEC);
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_B, hot), 10 * SEC, &bin, &off), 0);
	/* ...an unknown address does, 5 ms after the last read at first (a
	 * process just started: its libraries are still being mapped)... */
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_C, hot), 10 * SEC + MS(4),
				       &bin, &off), -ENOENT);
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_C, hot), 10 * SEC + MS(5),
				       &bin, &off), 0);
	assert_int_equal(off, file_offset(w, hot));
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_B, hot), 10 * SEC + MS(5),
				       &bin, &off), -ENOENT);
	/* ...but not for a sample taken before that read, however long ago
	 * (the ring buffer's order is not quite the samples' times)... */
	write_prog_maps(w, 300, BASE_B);
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_B, hot), 10 * SEC + MS(5) - 1,
				       &bin, &off), -ENOENT);
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_B, hot), 9 * SEC,
				       &bin, &off), -ENOENT);
	write_prog_maps(w, 300, BASE_C);
	/* ...then twice as long after each such read, up to once a second. */
	{
		uint64_t t = 10 * SEC + MS(5), wait = MS(10);

		for (int i = 0; i < 7; i++) {
			write_prog_maps(w, 300, i % 2 ? BASE_C : BASE_B);
			assert_int_equal(proc__resolve(p2, mapped_addr(w, i % 2 ? BASE_C : BASE_B, hot),
						       t + wait - MS(1), &bin, &off), -ENOENT);
			assert_int_equal(proc__resolve(p2, mapped_addr(w, i % 2 ? BASE_C : BASE_B, hot),
						       t + wait, &bin, &off), 0);
			t += wait;
			wait = wait * 2 < SEC ? wait * 2 : SEC;
		}
		assert_int_equal(wait, SEC);
	}
	assert_int_equal(bincache__count(f->bins), 1);

	/* exec and exit of a pid never seen are no-ops. */
	proctab__exec(f->t, 301);
	proctab__exit(f->t, 301);
	assert_int_equal(proctab__count(f->t), 1);
}

/* Frames alternate between mappings: each address finds its own mapping,
 * also right after the maps changed under the entries it found last. */
static void test_proctab_resolve_alternating(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	uint64_t hot = nm_sym(w->prog, "hot_b", NULL), off = 0, start = 0;
	char *a = exec_line(w, BASE_A, w->prog, &w->prog_st);
	char *b = exec_line(w, BASE_B, w->prog, &w->prog_st);
	char *c = exec_line(w, BASE_C, w->prog, &w->prog_st);
	struct binary *bin = NULL;
	char *text = NULL;
	struct proc *p;

	assert_true(asprintf(&text, "%s%s", a, c) > 0);
	write_maps(w, 310, text);
	free(text);
	p = proctab__get(f->t, 310, 10 * SEC);
	assert_non_null(p);
	for (int i = 0; i < 9; i++) {
		uint64_t base = i % 2 ? BASE_C : BASE_A;

		assert_int_equal(proc__resolve_mapping(p, mapped_addr(w, base, hot), 10 * SEC, &bin,
						       &off, &start), 0);
		assert_int_equal(start, support__seg_start(&w->x, base));
		assert_int_equal(off, file_offset(w, hot));
	}
	/* B takes A's place in the list; an address of B reads the maps again. */
	assert_true(asprintf(&text, "%s%s", b, c) > 0);
	write_maps(w, 310, text);
	free(text);
	assert_int_equal(proc__resolve_mapping(p, mapped_addr(w, BASE_B, hot), 11 * SEC, &bin, &off,
					       &start), 0);
	assert_int_equal(start, support__seg_start(&w->x, BASE_B));
	assert_int_equal(proc__resolve_mapping(p, mapped_addr(w, BASE_A, hot), 11 * SEC, &bin, &off,
					       &start), -ENOENT);
	assert_int_equal(proc__resolve_mapping(p, mapped_addr(w, BASE_C, hot), 11 * SEC, &bin, &off,
					       &start), 0);
	assert_int_equal(start, support__seg_start(&w->x, BASE_C));
	free(a);
	free(b);
	free(c);
}

static void test_proctab_pid_reuse_and_sweep(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	uint64_t hot = nm_sym(w->prog, "hot_b", NULL), off = 0;
	struct binary *bin = NULL;
	struct proc *old, *young;

	old = prog_proc(f, 400, BASE_A, 0);
	proctab__exit(f->t, 400);
	/* Exited but not swept: the interval that saw it can still use it. */
	assert_int_equal(proctab__count(f->t), 1);
	assert_int_equal(proc__resolve(old, mapped_addr(w, BASE_A, hot), 0, &bin, &off), 0);

	/* The pid comes back as another program image. */
	young = prog_proc(f, 400, BASE_B, 2 * SEC);
	assert_ptr_not_equal(young, old);
	assert_int_equal(proc__tgid(young), 400);
	assert_int_equal(proctab__count(f->t), 1);
	assert_int_equal(proc__resolve(young, mapped_addr(w, BASE_B, hot), 2 * SEC, &bin, &off),
			 0);
	/* The old one still answers with its own maps until the sweep, and
	 * an exited process never re-reads (the file is someone else's now). */
	assert_int_equal(proc__resolve(old, mapped_addr(w, BASE_A, hot), 2 * SEC, &bin, &off), 0);
	assert_int_equal(off, file_offset(w, hot));
	assert_int_equal(proc__resolve(old, mapped_addr(w, BASE_B, hot), 5 * SEC, &bin, &off),
			 -ENOENT);
	assert_ptr_equal(proctab__get(f->t, 400, 2 * SEC), young);

	/* The sweep frees the replaced one (ASan checks) and keeps the live one. */
	proctab__sweep(f->t);
	assert_int_equal(proctab__count(f->t), 1);
	assert_ptr_equal(proctab__get(f->t, 400, 3 * SEC), young);
	assert_int_equal(proc__resolve(young, mapped_addr(w, BASE_B, hot), 3 * SEC, &bin, &off),
			 0);

	proctab__exit(f->t, 400);
	proctab__sweep(f->t);
	assert_int_equal(proctab__count(f->t), 0);
	proctab__sweep(f->t);
	/* Binaries outlive the processes: frames still name after exit. */
	assert_int_equal(bincache__count(f->bins), 1);
	expect_symbol(bin, file_offset(w, hot), "hot_b");

	/* And the pid can come back once more after the sweep. */
	young = proctab__get(f->t, 400, 4 * SEC);
	assert_non_null(young);
	assert_int_equal(proctab__count(f->t), 1);
}

static void test_proctab_unusable_files(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	struct binary *gone = NULL, *text = NULL, *again = NULL;
	struct sym_frame sf[SYM_MAX_FRAMES];
	uint64_t off = 0;
	struct proc *p;
	char *maps;

	assert_true(asprintf(&maps,
			     "7f0000000000-7f0000002000 r-xp 00001000 %02x:%02x %llu   %s\n"
			     "7f0000010000-7f0000012000 r-xp 00000000 fe:01 987654 "
			     "  /nonexistent/dir/libgone.so.1\n",
			     major(w->notelf_st.st_dev), minor(w->notelf_st.st_dev),
			     (unsigned long long)w->notelf_st.st_ino, w->notelf) >= 0);
	write_maps(w, 500, maps);
	free(maps);
	p = proctab__get(f->t, 500, 0);
	assert_non_null(p);
	assert_int_equal(bincache__count(f->bins), 2);

	/* A file that is there but is not ELF. */
	assert_int_equal(proc__resolve(p, 0x7f0000000010, 0, &text, &off), 0);
	assert_non_null(text);
	assert_int_equal(off, 0x1010);
	assert_int_equal(binary__symbolize(text, off, sf, SYM_MAX_FRAMES), -ENOENT);
	assert_string_equal(binary__name(text), "notelf.so");
	assert_string_equal(binary__path(text), w->notelf);
	assert_string_equal(binary__build_id(text), "");

	/* A file that cannot be opened at all. */
	assert_int_equal(proc__resolve(p, 0x7f0000011234, 0, &gone, &off), 0);
	assert_non_null(gone);
	assert_ptr_not_equal(gone, text);
	assert_int_equal(off, 0x1234);
	assert_int_equal(binary__symbolize(gone, off, sf, SYM_MAX_FRAMES), -ENOENT);
	assert_string_equal(binary__name(gone), "libgone.so.1");
	assert_string_equal(binary__path(gone), "/nonexistent/dir/libgone.so.1");
	assert_string_equal(binary__build_id(gone), "");
	assert_int_equal(binary__size(gone), 0);

	/* Another pid mapping the unreadable file: the same entry. */
	write_maps(w, 501, "7f5000010000-7f5000012000 r-xp 00000000 fe:01 987654 "
			   "  /nonexistent/dir/libgone.so.1\n");
	p = proctab__get(f->t, 501, 0);
	assert_int_equal(proc__resolve(p, 0x7f5000010000, 0, &again, &off), 0);
	assert_ptr_equal(again, gone);
	assert_int_equal(bincache__count(f->bins), 2);
}

static void test_proctab_pseudo_binaries(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	struct binary *vdso = NULL, *vdso2 = NULL, *anon = NULL, *vsys = NULL;
	struct sym_frame sf[SYM_MAX_FRAMES];
	uint64_t off = 0;
	struct proc *p;

	write_maps(w, 600,
		   "7f0d61200000-7f0d61210000 rwxp 00000000 00:00 0 \n"
		   "7ffc8e9f6000-7ffc8e9fa000 r--p 00000000 00:00 0                          [vvar]\n"
		   "7ffc8e9fa000-7ffc8e9fc000 r-xp 00000000 00:00 0                          [vdso]\n"
		   "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n");
	write_maps(w, 601,
		   "7fff11110000-7fff11112000 r-xp 00000000 00:00 0                          [vdso]\n");
	p = proctab__get(f->t, 600, 0);
	assert_non_null(p);

	assert_int_equal(proc__resolve(p, 0x7ffc8e9fa123, 0, &vdso, &off), 0);
	assert_non_null(vdso);
	assert_int_equal(off, 0x123);
	assert_string_equal(binary__name(vdso), "[vdso]");
	assert_string_equal(binary__path(vdso), "[vdso]");
	{
		/* Named from the agent's own copy of the kernel's vDSO. */
		int found = 0;

		assert_int_equal(strlen(binary__build_id(vdso)), 40);
		for (uint64_t o = 0; o < 0x4000 && !found; o++)
			found = binary__symbolize(vdso, o, sf, SYM_MAX_FRAMES) == 1 &&
				strstr(sf[0].name, "clock_gettime");
		assert_true(found);
	}

	/* Anonymous code is JIT output: one per process, absolute addresses,
	 * named by a perf map this process does not have. */
	assert_int_equal(proc__resolve(p, 0x7f0d61200040, 0, &anon, &off), 0);
	assert_non_null(anon);
	assert_true(binary__is_jit(anon));
	assert_int_equal(off, 0x7f0d61200040);
	assert_string_equal(binary__name(anon), "perf-600.map");
	assert_int_equal(binary__symbolize(anon, off, sf, SYM_MAX_FRAMES), -ENOENT);

	assert_int_equal(proc__resolve(p, 0xffffffffff600400, 0, &vsys, &off), 0);
	assert_string_equal(binary__name(vsys), "[vsyscall]");
	assert_int_equal(proc__resolve(p, 0x7ffc8e9f6000, 0, &vsys, &off), -ENOENT);

	/* Every process's [vdso] is one pseudo binary. */
	p = proctab__get(f->t, 601, 0);
	assert_int_equal(proc__resolve(p, 0x7fff11110010, 0, &vdso2, &off), 0);
	assert_ptr_equal(vdso2, vdso);
	assert_int_equal(off, 0x10);
	assert_int_equal(bincache__count(f->bins), 2);  /* [vdso], [vsyscall]: JIT code is per process */
	assert_ptr_equal(bincache__get_named(f->bins, "[vdso]"), vdso);
	assert_int_equal(bincache__count(f->bins), 2);
}

/* A file that could not be opened through the first pid that maps it (the
 * process exited, its root is gone) must not be cached under its inode for
 * the processes that can open it. */
static void test_proctab_unreadable_does_not_poison(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	uint64_t hot = nm_sym(w->prog, "hot_b", NULL), off = 0;
	struct binary *gone = NULL, *bin = NULL;
	struct proc *p;
	char *root;

	write_prog_maps(w, 800, BASE_A);
	assert_true(asprintf(&root, "%s/800/root", w->proc_root) >= 0);
	assert_int_equal(unlink(root), 0);
	free(root);
	p = proctab__get(f->t, 800, 0);
	assert_non_null(p);
	assert_int_equal(proc__resolve(p, mapped_addr(w, BASE_A, hot), 0, &gone, &off), 0);
	/* For the process that is gone, a path+offset entry is all there is. */
	assert_string_equal(binary__name(gone), "prog");

	p = prog_proc(f, 801, BASE_B, 0);
	assert_int_equal(proc__resolve(p, mapped_addr(w, BASE_B, hot), 0, &bin, &off), 0);
	assert_int_equal(off, file_offset(w, hot));
	assert_string_equal(binary__build_id(bin), w->build_id);
	expect_symbol(bin, off, "hot_b");
}

/* JIT code is named from the process's perf map, found in its own root
 * under the pid it knows itself by; the map is read again once per flush,
 * and stays readable after the process is gone. */
static void test_proctab_jit_perf_map(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	char *pdir = support__path(w->proc_root, "700");
	char *root = support__path(pdir, "root");
	char *ctr = support__path(w->dir, "container700");
	char *tmpdir = support__path(ctr, "tmp");
	char *map = support__path(tmpdir, "perf-7.map");
	char *status = support__path(pdir, "status");
	struct sym_frame sf[SYM_MAX_FRAMES];
	struct binary *jit = NULL;
	uint64_t off = 0;
	struct proc *p;
	FILE *fp;

	write_maps(w, 700, "7f0d61200000-7f0d61210000 rwxp 00000000 00:00 0 \n");
	assert_int_equal(unlink(root), 0);
	assert_int_equal(mkdir(ctr, 0755), 0);
	assert_int_equal(mkdir(tmpdir, 01777), 0);
	assert_int_equal(symlink(ctr, root), 0);
	assert_int_equal(support__write_text(status, "Name:\tnode\nUid:\t0\t0\t0\t0\n"
						    "NSpid:\t700\t7\n"), 0);
	assert_int_equal(support__write_text(map, "7f0d61200100 40 LazyCompile:*hot /app/x.js:3\n"),
			 0);

	p = proctab__get(f->t, 700, 0);
	assert_non_null(p);
	assert_int_equal(proc__resolve(p, 0x7f0d61200120, 0, &jit, &off), 0);
	assert_true(binary__is_jit(jit));
	assert_int_equal(off, 0x7f0d61200120);
	assert_int_equal(binary__symbolize(jit, off, sf, SYM_MAX_FRAMES), 1);
	assert_string_equal(sf[0].name, "LazyCompile:*hot /app/x.js:3");
	assert_int_equal(binary__symbolize(jit, 0x7f0d61200140, sf, SYM_MAX_FRAMES), -ENOENT);

	/* Appended while running: seen from the next flush on. */
	fp = fopen(map, "a");
	assert_non_null(fp);
	fputs("7f0d61200200 20 JS:*later /app/x.js:9\n", fp);
	fclose(fp);
	assert_int_equal(binary__symbolize(jit, 0x7f0d61200210, sf, SYM_MAX_FRAMES), -ENOENT);
	bincache__trim(f->bins);
	assert_int_equal(binary__symbolize(jit, 0x7f0d61200210, sf, SYM_MAX_FRAMES), 1);
	assert_string_equal(sf[0].name, "JS:*later /app/x.js:9");

	/* Gone, map file and all: what was opened at first sight still names it. */
	proctab__exit(f->t, 700);
	assert_int_equal(unlink(map), 0);
	bincache__trim(f->bins);
	assert_int_equal(binary__symbolize(jit, 0x7f0d61200120, sf, SYM_MAX_FRAMES), 1);
	assert_string_equal(sf[0].name, "LazyCompile:*hot /app/x.js:3");

	free(status);
	free(map);
	free(tmpdir);
	free(ctr);
	free(root);
	free(pdir);
}

static void test_proctab_free_null(void **state)
{
	(void)state;
	proctab__free(NULL);
	bincache__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_proctab_resolve_and_symbolize, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_one_binary_for_many_pids, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_missing_maps, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_resolve_alternating, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_exec_rereads, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_pid_reuse_and_sweep, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_unusable_files, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_pseudo_binaries, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_jit_perf_map, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bincache_budget_evicts_and_reloads, fx_setup,
						fx_teardown),
		cmocka_unit_test(test_proctab_free_null),
		cmocka_unit_test_setup_teardown(test_proctab_unreadable_does_not_poison, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests_name("proctab", tests, world_setup, world_teardown) ? 1 : 0;
}
