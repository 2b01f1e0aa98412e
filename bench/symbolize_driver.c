/* Times ignis's symbolizer over a list of addresses of one binary, the way
 * the agent uses it: one bincache, the binary found by (device, inode), each
 * address named by file offset. Pass 1 starts from a fresh cache, so it pays
 * for opening the file, finding the debug file and loading DWARF and symbol
 * tables; passes 2..N find everything loaded. Used by bench/symbolize, which
 * also runs eu-addr2line and addr2line over the same list.
 *
 *   symbolize_driver BINARY ADDRFILE [--passes N] [--print]
 *
 * ADDRFILE holds link-time addresses in hex, one per line. Figures go to
 * stdout; with --print, the frames of every address go to stdout (after the
 * timed passes, from one more untimed pass) and the figures to stderr. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "sys/procmaps.h"
#include "symbolizer/bincache.h"
#include "symbolizer/symbol.h"

#define MAX_LOADS 64

struct load {
	uint64_t vaddr, filesz, offset;
};

struct addrs {
	uint64_t *addr;   /* as read */
	uint64_t *off;    /* file offset, or UINT64_MAX when no PT_LOAD holds it */
	size_t n, cap;
	size_t unmapped;
};

static double now(void)
{
	return clock__monotonic_ns() / 1e9;
}

/* The executable PT_LOADs of the file, which are what samples land in. */
static int read_loads(const char *path, struct load *loads, size_t *nloads)
{
	Elf *elf = NULL;
	size_t phnum, i;
	int fd, err = 0;

	*nloads = 0;
	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &phnum)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	for (i = 0; i < phnum && *nloads < MAX_LOADS; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		loads[*nloads].vaddr = ph.p_vaddr;
		loads[*nloads].filesz = ph.p_filesz;
		loads[*nloads].offset = ph.p_offset;
		(*nloads)++;
	}
	if (!*nloads)
		err = -ENOEXEC;
cleanup:
	elf_end(elf);
	close(fd);
	return err;
}

static int read_addrs(const char *path, const struct load *loads, size_t nloads, struct addrs *a)
{
	char line[128];
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *end;
		uint64_t v;
		size_t i;

		errno = 0;
		v = strtoull(line, &end, 16);
		if (end == line || errno)
			continue;
		if (a->n == a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 4096;
			uint64_t *na = realloc(a->addr, cap * sizeof(*na));

			if (!na)
				goto nomem;
			a->addr = na;
			na = realloc(a->off, cap * sizeof(*na));
			if (!na)
				goto nomem;
			a->off = na;
			a->cap = cap;
		}
		a->addr[a->n] = v;
		a->off[a->n] = UINT64_MAX;
		for (i = 0; i < nloads; i++) {
			if (v >= loads[i].vaddr && v - loads[i].vaddr < loads[i].filesz) {
				a->off[a->n] = v - loads[i].vaddr + loads[i].offset;
				break;
			}
		}
		a->unmapped += a->off[a->n] == UINT64_MAX;
		a->n++;
	}
	fclose(f);
	return 0;
nomem:
	fclose(f);
	return -ENOMEM;
}

/* Heap bytes in use, malloc's mapped blocks included. */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* One pass over the list; returns how many addresses got at least one
 * frame, and adds up the frames. */
static size_t run_pass(struct binary *b, const struct addrs *a, uint64_t *frames)
{
	struct sym_frame out[SYM_MAX_FRAMES];
	size_t i, named = 0;
	int n;

	for (i = 0; i < a->n; i++) {
		if (a->off[i] == UINT64_MAX)
			continue;
		n = binary__symbolize(b, a->off[i], out, SYM_MAX_FRAMES);
		if (n > 0) {
			named++;
			*frames += n;
		}
	}
	return named;
}

/* Tabs and newlines would break the line format the script reads. */
static void put_field(const char *s, FILE *f)
{
	for (; *s; s++)
		fputc(*s == '\t' || *s == '\n' ? ' ' : *s, f);
}

/* Marks fields binary__symbolize should have set: a frame named from a
 * symbol table must say file NULL, line 0, not keep the previous
 * address's. */
static const char unset[] = "(unset)";

/* One line per frame, innermost first:
 *   ADDR<TAB>DEPTH<TAB>NAME<TAB>FILE<TAB>LINE
 * and "ADDR<TAB>-<TAB>??<TAB>??<TAB>0" when nothing names the address.
 * Returns the number of frames whose file or line was left unset. */
static size_t print_frames(struct binary *b, const struct addrs *a, FILE *f)
{
	struct sym_frame out[SYM_MAX_FRAMES];
	size_t i, left = 0;
	int n, j;

	for (i = 0; i < a->n; i++) {
		for (j = 0; j < SYM_MAX_FRAMES; j++)
			out[j] = (struct sym_frame){ .name = unset, .file = unset, .line = UINT32_MAX };
		n = a->off[i] == UINT64_MAX ? -ENOENT :
		    binary__symbolize(b, a->off[i], out, SYM_MAX_FRAMES);
		if (n <= 0) {
			fprintf(f, "%" PRIx64 "\t-\t??\t??\t0\n", a->addr[i]);
			continue;
		}
		for (j = 0; j < n; j++) {
			bool bad = out[j].file == unset || out[j].line == UINT32_MAX;

			left += bad;
			fprintf(f, "%" PRIx64 "\t%d\t", a->addr[i], j);
			put_field(out[j].name, f);
			fputc('\t', f);
			put_field(out[j].file && out[j].file != unset ? out[j].file : "??", f);
			fprintf(f, "\t%u\n", out[j].line == UINT32_MAX ? 0 : out[j].line);
		}
	}
	return left;
}

static void usage(void)
{
	fprintf(stderr, "usage: symbolize_driver BINARY ADDRFILE [--passes N] [--print]\n");
}

int main(int argc, char **argv)
{
	struct load loads[MAX_LOADS];
	struct addrs a = { 0 };
	struct bincache_opts opts = { 0 };
	struct bincache_stats st;
	size_t heap0;
	struct bincache *c = NULL;
	struct procmaps_entry e = { 0 };
	struct binary *b;
	struct rusage ru;
	struct stat sb;
	char path[PATH_MAX];
	const char *binary = NULL, *addrfile = NULL;
	FILE *fig = stdout;
	bool print = false;
	size_t nloads;
	long passes = 3;
	int i, err, ret = 1;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--passes") && i + 1 < argc) {
			char *end;

			passes = strtol(argv[++i], &end, 10);
			if (*end || passes < 1 || passes > 1000) {
				usage();
				return 2;
			}
		} else if (!strcmp(argv[i], "--print")) {
			print = true;
		} else if (!binary) {
			binary = argv[i];
		} else if (!addrfile) {
			addrfile = argv[i];
		} else {
			usage();
			return 2;
		}
	}
	if (!binary || !addrfile) {
		usage();
		return 2;
	}
	if (print)
		fig = stderr;
	log__set_level(LOG_WARN);

	/* bincache__get opens <proc>/PID/root/PATH when map_files has no such
	 * mapping (we map nothing at [0, 0)), so PATH must be absolute, and
	 * the fast path is keyed by the file's device and inode. */
	if (!realpath(binary, path) || stat(path, &sb)) {
		fprintf(stderr, "symbolize_driver: %s: %s\n", binary, strerror(errno));
		return 1;
	}
	err = read_loads(path, loads, &nloads);
	if (err) {
		fprintf(stderr, "symbolize_driver: %s: no executable PT_LOAD: %s\n", path,
			strerror(-err));
		return 1;
	}
	err = read_addrs(addrfile, loads, nloads, &a);
	if (err) {
		fprintf(stderr, "symbolize_driver: %s: %s\n", addrfile, strerror(-err));
		goto cleanup;
	}
	if (!a.n) {
		fprintf(stderr, "symbolize_driver: %s: no addresses\n", addrfile);
		goto cleanup;
	}
	e.path = path;
	e.dev_major = major(sb.st_dev);
	e.dev_minor = minor(sb.st_dev);
	e.inode = sb.st_ino;

	c = bincache__new("/proc");
	if (!c || bincache__configure(c, &opts)) {
		fprintf(stderr, "symbolize_driver: bincache: %s\n", strerror(errno));
		goto cleanup;
	}
	fprintf(fig, "binary %s\naddresses %zu (not in an executable PT_LOAD: %zu)\n", path, a.n,
		a.unmapped);
	fprintf(fig, "%-5s %-5s %10s %10s %12s %10s %12s\n", "pass", "kind", "addresses", "named",
		"seconds", "addr/s", "frames");
	heap0 = heap_in_use();
	for (i = 1; i <= passes; i++) {
		uint64_t frames = 0;
		size_t named;
		double t0, t;

		t0 = now();
		b = bincache__get(c, getpid(), &e);
		if (!b) {
			fprintf(stderr, "symbolize_driver: bincache__get: %s\n", strerror(errno));
			goto cleanup;
		}
		named = run_pass(b, &a, &frames);
		t = now() - t0;
		fprintf(fig, "%-5d %-5s %10zu %10zu %12.6f %10.0f %12" PRIu64 "\n", i,
			i == 1 ? "cold" : "warm", a.n, named, t, t > 0 ? a.n / t : 0.0, frames);
	}
	getrusage(RUSAGE_SELF, &ru);
	/* What the symbol cache counts against its budget (brought up to
	 * date by binary__named, as after a flush) next to what the passes
	 * grew the heap by: the two should agree (symbolizer/dwarf.c). */
	binary__named(b);
	bincache__stats(c, &st);
	fprintf(fig, "heap_grew %zu symbol_bytes %" PRIu64 "\n", heap_in_use() - heap0, st.bytes);
	fprintf(fig, "max_rss_kib %ld\n", ru.ru_maxrss);
	fprintf(fig, "build_id %s\n", binary__build_id(b));
	fprintf(fig, "stats lookups %" PRIu64 " hits %" PRIu64 " misses %" PRIu64
		" binaries %" PRIu64 "\n", st.lookups, st.hits, st.misses, st.binaries);
	if (print) {
		size_t left = print_frames(b, &a, stdout);

		if (fflush(stdout)) {
			fprintf(stderr, "symbolize_driver: writing frames: %s\n", strerror(errno));
			goto cleanup;
		}
		/* Not an error of this run, but the agent would show such
		 * frames with another address's file:line. */
		fprintf(fig, "frames_with_file_or_line_unset %zu\n", left);
	}
	ret = 0;
cleanup:
	bincache__free(c);
	free(a.addr);
	free(a.off);
	return ret;
}
