/* The process table and the binary cache against a proc root built at test
 * time: <tmp>/proc/<pid>/maps list a PIE program compiled here, and
 * <tmp>/proc/<pid>/root is a symlink to "/", so the cache finds the file
 * through <proc_root>/<pid>/root/<path> (there is no map_files in the
 * fixture, which is the fallback an unprivileged agent takes). Mapping
 * addresses come from the program's real executable PT_LOAD and function
 * addresses from nm, so the expected file offsets are computed independently
 * of the code under test. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
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

#include "agent/proctab.h"
#include "symbolizer/bincache.h"

#define SEC 1000000000ULL
#define PAGE 0x1000ULL

/* ends_in_call ends with a call to a noreturn function, so its return
 * address is the first byte of hot_b (-falign-functions=1 keeps them
 * adjacent); test_aggregate relies on that, here it is just code. */
static const char prog_src[] =
	"volatile int sink;\n"
	"__attribute__((noinline, noreturn)) void die_slowly(void)\n"
	"{\n"
	"	for (;;)\n"
	"		sink++;\n"
	"}\n"
	"__attribute__((noinline)) void ends_in_call(int x)\n"
	"{\n"
	"	sink += x;\n"
	"	die_slowly();\n"
	"}\n"
	"__attribute__((noinline)) int hot_b(int x)\n"
	"{\n"
	"	int s = 1;\n"
	"	for (int i = 0; i < x; i++)\n"
	"		s ^= s * 31 + sink;\n"
	"	return s;\n"
	"}\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	(void)argv;\n"
	"	if (argc > 5)\n"
	"		ends_in_call(argc);\n"
	"	return hot_b(argc);\n"
	"}\n";

/* The executable PT_LOAD of a file, as the loader maps it. */
struct seg {
	uint64_t vaddr, offset, memsz;
};

struct world {
	char *dir;
	char *proc_root;        /* <dir>/proc */
	char *prog;             /* PIE with a build id */
	char *prog_copy;        /* the same bytes under another path and inode */
	char *notelf;           /* a file that is not ELF */
	struct stat prog_st, copy_st, notelf_st;
	struct seg x;           /* prog's executable segment */
	char build_id[256];
};

/* Per test: a fresh cache and table over the world's proc root. */
struct fx {
	struct world *w;
	struct bincache *bins;
	struct proctab *t;
};

static struct world *g_world;

static int run(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "test_proctab: '%s' failed (%d)\n", cmd, rc);
	free(cmd);
	return rc;
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f)
		return -1;
	err = fputs(text, f) < 0;
	err |= fclose(f) != 0;
	return err ? -1 : 0;
}

static int exec_segment(const char *path, struct seg *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), found = -1;
	size_t i, phnum;
	GElf_Phdr ph;
	Elf *e;

	if (fd < 0 || elf_version(EV_CURRENT) == EV_NONE)
		return -1;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e && elf_getphdrnum(e, &phnum) == 0) {
		for (i = 0; i < phnum; i++) {
			if (!gelf_getphdr(e, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
				continue;
			out->vaddr = ph.p_vaddr;
			out->offset = ph.p_offset;
			out->memsz = ph.p_memsz;
			found = 0;
			break;
		}
	}
	if (e)
		elf_end(e);
	close(fd);
	return found;
}

/* What "readelf -n" prints as the build id. */
static int readelf_build_id(const char *path, char *out, size_t len)
{
	char *cmd, line[512], *p;
	FILE *f;

	out[0] = '\0';
	if (asprintf(&cmd, "readelf -n '%s'", path) < 0)
		return -1;
	f = popen(cmd, "r");
	free(cmd);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "Build ID: ");
		if (!p)
			continue;
		p += strlen("Build ID: ");
		p[strcspn(p, " \r\n")] = '\0';
		snprintf(out, len, "%s", p);
	}
	pclose(f);
	return out[0] ? 0 : -1;
}

static int world_setup(void **state)
{
	const char *base = getenv("TMPDIR");
	struct world *w = calloc(1, sizeof(*w));
	char *src = NULL;
	int err = -1;

	*state = w;
	g_world = w;
	if (!w)
		return -1;
	if (asprintf(&w->dir, "%s/ignis-proctab-XXXXXX", base && *base ? base : "/tmp") < 0) {
		w->dir = NULL;
		goto out;
	}
	if (!mkdtemp(w->dir))
		goto out;
	src = path_in(w->dir, "prog.c");
	w->proc_root = path_in(w->dir, "proc");
	w->prog = path_in(w->dir, "prog");
	w->prog_copy = path_in(w->dir, "prog-copy");
	w->notelf = path_in(w->dir, "notelf.so");
	if (!src || !w->proc_root || !w->prog || !w->prog_copy || !w->notelf)
		goto out;
	if (write_text(src, prog_src) || mkdir(w->proc_root, 0755) ||
	    write_text(w->notelf, "this is a text file, not an ELF object\n"))
		goto out;
	if (run("cc -O1 -fPIE -pie -fno-toplevel-reorder -fno-reorder-functions "
		"-falign-functions=1 -Wl,--build-id -o '%s' '%s'", w->prog, src) ||
	    run("cp '%s' '%s'", w->prog, w->prog_copy))
		goto out;
	if (stat(w->prog, &w->prog_st) || stat(w->prog_copy, &w->copy_st) ||
	    stat(w->notelf, &w->notelf_st))
		goto out;
	if (exec_segment(w->prog, &w->x) || readelf_build_id(w->prog, w->build_id,
							     sizeof(w->build_id)))
		goto out;
	err = 0;
out:
	free(src);
	return err;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	if (w && w->dir)
		run("rm -rf '%s'", w->dir);
	if (w) {
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
	char *cmd, line[512], sym[256];
	unsigned long long addr, sz;
	uint64_t found = 0;
	FILE *p;
	char type;

	assert_true(asprintf(&cmd, "nm -S '%s'", path) >= 0);
	p = popen(cmd, "r");
	free(cmd);
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		if (sscanf(line, "%llx %llx %c %255s", &addr, &sz, &type, sym) == 4 &&
		    strcmp(sym, name) == 0) {
			found = addr;
			if (size)
				*size = sz;
		}
	}
	pclose(p);
	assert_true(found != 0);
	return found;
}

/* Where the executable segment of prog lies when the program is loaded at
 * 'base', as a maps line gives it: page-aligned start, end and offset. */
static uint64_t map_start(const struct world *w, uint64_t base)
{
	return base + (w->x.vaddr & ~(PAGE - 1));
}

static uint64_t map_end(const struct world *w, uint64_t base)
{
	return base + ((w->x.vaddr + w->x.memsz + PAGE - 1) & ~(PAGE - 1));
}

static uint64_t map_offset(const struct world *w)
{
	return w->x.offset & ~(PAGE - 1);
}

/* vaddr (from nm) → file offset → address in a process that loaded prog at
 * base. */
static uint64_t file_offset(const struct world *w, uint64_t vaddr)
{
	assert_true(vaddr >= w->x.vaddr && vaddr < w->x.vaddr + w->x.memsz);
	return vaddr - w->x.vaddr + w->x.offset;
}

static uint64_t mapped_addr(const struct world *w, uint64_t base, uint64_t vaddr)
{
	return map_start(w, base) + file_offset(w, vaddr) - map_offset(w);
}

/* The maps line of prog's executable segment at base (path may be the copy). */
static char *exec_line(const struct world *w, uint64_t base, const char *path,
		       const struct stat *st)
{
	char *line;

	assert_true(asprintf(&line,
			     "%012llx-%012llx r--p 00000000 %02x:%02x %llu                 %s\n"
			     "%012llx-%012llx r-xp %08llx %02x:%02x %llu                 %s\n",
			     (unsigned long long)base, (unsigned long long)map_start(w, base),
			     major(st->st_dev), minor(st->st_dev), (unsigned long long)st->st_ino,
			     path, (unsigned long long)map_start(w, base),
			     (unsigned long long)map_end(w, base), (unsigned long long)map_offset(w),
			     major(st->st_dev), minor(st->st_dev), (unsigned long long)st->st_ino,
			     path) >= 0);
	return line;
}

/* Writes <proc_root>/<pid>/maps (replacing it) and the root symlink. */
static void write_maps(const struct world *w, int pid, const char *text)
{
	char *dir, *maps, *root, *tmp;

	assert_true(asprintf(&dir, "%s/%d", w->proc_root, pid) >= 0);
	assert_true(asprintf(&maps, "%s/maps", dir) >= 0);
	assert_true(asprintf(&tmp, "%s/maps.tmp", dir) >= 0);
	assert_true(asprintf(&root, "%s/root", dir) >= 0);
	if (mkdir(dir, 0755))
		assert_int_equal(errno, EEXIST);
	if (symlink("/", root))
		assert_int_equal(errno, EEXIST);
	assert_int_equal(write_text(tmp, text), 0);
	assert_int_equal(rename(tmp, maps), 0);
	free(dir);
	free(maps);
	free(tmp);
	free(root);
}

static void write_prog_maps(const struct world *w, int pid, uint64_t base)
{
	char *text = exec_line(w, base, w->prog, &w->prog_st);

	write_maps(w, pid, text);
	free(text);
}

static void expect_symbol(struct binary *b, uint64_t off, const char *name, uint64_t sym_off)
{
	const char *got = NULL;
	uint64_t got_off = ~0ull;

	assert_int_equal(binary__symbolize(b, off, &got, &got_off), 0);
	assert_non_null(got);
	assert_string_equal(got, name);
	assert_int_equal(got_off, sym_off);
}

#define BASE_A 0x55d0c0de0000ULL
#define BASE_B 0x5611aa400000ULL
#define BASE_C 0x7f1234500000ULL

static void test_proctab_resolve_and_symbolize(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	uint64_t size = 0, hot = nm_sym(w->prog, "hot_b", &size), off = 0;
	struct binary *bin = NULL;
	struct proc *p;
	const char *name;
	uint64_t so;

	write_prog_maps(w, 100, BASE_A);
	p = proctab__get(f->t, 100, 0);
	assert_non_null(p);
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
	expect_symbol(bin, off, "hot_b", 3);
	expect_symbol(bin, file_offset(w, hot) + size - 1, "hot_b", size - 1);

	assert_string_equal(binary__path(bin), w->prog);
	assert_string_equal(binary__name(bin), "prog");
	assert_string_equal(binary__build_id(bin), w->build_id);
	assert_int_equal(binary__size(bin), w->prog_st.st_size);

	/* The edges of the executable mapping. */
	assert_int_equal(proc__resolve(p, map_start(w, BASE_A), 0, &bin, &off), 0);
	assert_int_equal(off, map_offset(w));
	assert_int_equal(proc__resolve(p, map_end(w, BASE_A) - 1, 0, &bin, &off), 0);
	assert_int_equal(off, map_offset(w) + map_end(w, BASE_A) - map_start(w, BASE_A) - 1);
	assert_int_equal(proc__resolve(p, map_end(w, BASE_A), 0, &bin, &off), -ENOENT);
	/* The r--p mapping before it is not executable, so not in the table. */
	assert_int_equal(proc__resolve(p, BASE_A, 0, &bin, &off), -ENOENT);
	assert_int_equal(proc__resolve(p, 0x1000, 0, &bin, &off), -ENOENT);
	/* An offset past every function has no name. */
	assert_int_equal(binary__symbolize(bin, 1ull << 40, &name, &so), -ENOENT);
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
	expect_symbol(ba, off_a, "main", 0);
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

	write_prog_maps(w, 300, BASE_A);
	p = proctab__get(f->t, 300, 10 * SEC);
	assert_non_null(p);
	assert_int_equal(proc__resolve(p, mapped_addr(w, BASE_A, hot), 10 * SEC, &bin, &off), 0);

	/* The process execs: the new image is elsewhere. */
	write_prog_maps(w, 300, BASE_B);
	proctab__exec(f->t, 300);
	p2 = proctab__get(f->t, 300, 10 * SEC);
	assert_non_null(p2);
	assert_int_equal(proctab__count(f->t), 1);
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_B, hot), 10 * SEC, &bin, &off), 0);
	assert_int_equal(off, file_offset(w, hot));
	expect_symbol(bin, off, "hot_b", 0);
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_A, hot), 10 * SEC, &bin, &off),
			 -ENOENT);

	/* Without an exec a plain get does not read the maps again... */
	write_prog_maps(w, 300, BASE_C);
	p2 = proctab__get(f->t, 300, 10 * SEC);
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_B, hot), 10 * SEC, &bin, &off), 0);
	/* ...an unknown address does, but at most once a second. */
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_C, hot), 10 * SEC + SEC / 2,
				       &bin, &off), -ENOENT);
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_C, hot), 11 * SEC + SEC / 2,
				       &bin, &off), 0);
	assert_int_equal(off, file_offset(w, hot));
	assert_int_equal(proc__resolve(p2, mapped_addr(w, BASE_B, hot), 11 * SEC + SEC / 2,
				       &bin, &off), -ENOENT);
	assert_int_equal(bincache__count(f->bins), 1);

	/* exec and exit of a pid never seen are no-ops. */
	proctab__exec(f->t, 301);
	proctab__exit(f->t, 301);
	assert_int_equal(proctab__count(f->t), 1);
}

static void test_proctab_pid_reuse_and_sweep(void **state)
{
	struct fx *f = *state;
	const struct world *w = f->w;
	uint64_t hot = nm_sym(w->prog, "hot_b", NULL), off = 0;
	struct binary *bin = NULL;
	struct proc *old, *young;

	write_prog_maps(w, 400, BASE_A);
	old = proctab__get(f->t, 400, 0);
	assert_non_null(old);
	proctab__exit(f->t, 400);
	/* Exited but not swept: the interval that saw it can still use it. */
	assert_int_equal(proctab__count(f->t), 1);
	assert_int_equal(proc__resolve(old, mapped_addr(w, BASE_A, hot), 0, &bin, &off), 0);

	/* The pid comes back as another program image. */
	write_prog_maps(w, 400, BASE_B);
	young = proctab__get(f->t, 400, 2 * SEC);
	assert_non_null(young);
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
	expect_symbol(bin, file_offset(w, hot), "hot_b", 0);

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
	uint64_t off = 0, so;
	const char *name;
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
	assert_int_equal(binary__symbolize(text, off, &name, &so), -ENOENT);
	assert_string_equal(binary__name(text), "notelf.so");
	assert_string_equal(binary__path(text), w->notelf);
	assert_string_equal(binary__build_id(text), "");

	/* A file that cannot be opened at all. */
	assert_int_equal(proc__resolve(p, 0x7f0000011234, 0, &gone, &off), 0);
	assert_non_null(gone);
	assert_ptr_not_equal(gone, text);
	assert_int_equal(off, 0x1234);
	assert_int_equal(binary__symbolize(gone, off, &name, &so), -ENOENT);
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
	uint64_t off = 0, so;
	const char *name;
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
			found = binary__symbolize(vdso, o, &name, &so) == 0 &&
				strstr(name, "clock_gettime");
		assert_true(found);
	}

	assert_int_equal(proc__resolve(p, 0x7f0d61200040, 0, &anon, &off), 0);
	assert_non_null(anon);
	assert_int_equal(off, 0x40);
	assert_string_equal(binary__name(anon), "[anon]");
	assert_int_equal(binary__symbolize(anon, off, &name, &so), -ENOENT);

	assert_int_equal(proc__resolve(p, 0xffffffffff600400, 0, &vsys, &off), 0);
	assert_string_equal(binary__name(vsys), "[vsyscall]");
	assert_int_equal(proc__resolve(p, 0x7ffc8e9f6000, 0, &vsys, &off), -ENOENT);

	/* Every process's [vdso] is one pseudo binary. */
	p = proctab__get(f->t, 601, 0);
	assert_int_equal(proc__resolve(p, 0x7fff11110010, 0, &vdso2, &off), 0);
	assert_ptr_equal(vdso2, vdso);
	assert_int_equal(off, 0x10);
	assert_int_equal(bincache__count(f->bins), 3);
	assert_ptr_equal(bincache__get_named(f->bins, "[vdso]"), vdso);
	assert_int_equal(bincache__count(f->bins), 3);
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

	write_prog_maps(w, 801, BASE_B);
	p = proctab__get(f->t, 801, 0);
	assert_non_null(p);
	assert_int_equal(proc__resolve(p, mapped_addr(w, BASE_B, hot), 0, &bin, &off), 0);
	assert_int_equal(off, file_offset(w, hot));
	assert_string_equal(binary__build_id(bin), w->build_id);
	expect_symbol(bin, off, "hot_b", 0);
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
		cmocka_unit_test_setup_teardown(test_proctab_exec_rereads, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_pid_reuse_and_sweep, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_unusable_files, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_proctab_pseudo_binaries, fx_setup,
						fx_teardown),
		cmocka_unit_test(test_proctab_free_null),
		cmocka_unit_test_setup_teardown(test_proctab_unreadable_does_not_poison, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests_name("proctab", tests, world_setup, world_teardown) ? 1 : 0;
}
