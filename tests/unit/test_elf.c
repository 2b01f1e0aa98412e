/* Builds small programs with the system compiler at test time and checks
 * the module against what binutils (nm, readelf, strip) say about them. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/elf.h"
#include "tests/unit/support.h"

static const char prog_src[] =
	"int hot_data[64] = { 1, 2, 3 };\n"
	"__attribute__((noinline)) int hot_a(int x)\n"
	"{\n"
	"	int s = 0;\n"
	"	for (int i = 0; i < x; i++)\n"
	"		s += i * hot_data[i & 63];\n"
	"	return s;\n"
	"}\n"
	"__attribute__((noinline)) int hot_b(int x)\n"
	"{\n"
	"	int s = 1;\n"
	"	for (int i = 0; i < x; i++)\n"
	"		s ^= s * 31 + hot_data[(i * 7) & 63];\n"
	"	return s;\n"
	"}\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	(void)argv;\n"
	"	return hot_a(argc) + hot_b(argc);\n"
	"}\n";

static const char lib_src[] =
	"static __attribute__((noinline)) int lib_local(int x)\n"
	"{\n"
	"	int s = 0;\n"
	"	for (int i = 0; i < x; i++)\n"
	"		s += i * i;\n"
	"	return s;\n"
	"}\n"
	"__attribute__((noinline)) int lib_exported(int x)\n"
	"{\n"
	"	int s = 3;\n"
	"	for (int i = 0; i < x; i++)\n"
	"		s = s * 17 + lib_local(i);\n"
	"	return s;\n"
	"}\n";

struct world {
	char *dir;
	char *prog;		/* non-PIE: vaddr != file offset */
	char *lib;
	char *lib_stripped;
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	*state = w;
	if (!w || !(w->dir = support__tmpdir("elf")))
		return -1;
	w->prog = support__build_program(w->dir, "prog", prog_src,
					 "-O1 -fno-pie -no-pie -Wl,--build-id");
	w->lib = support__build_program(w->dir, "libdemo.so", lib_src,
					"-O1 -shared -fPIC -Wl,--build-id");
	w->lib_stripped = support__path(w->dir, "libdemo-stripped.so");
	if (!w->prog || !w->lib || !w->lib_stripped ||
	    support__run("strip -o '%s' '%s'", w->lib_stripped, w->lib))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	if (w) {
		support__rmtree(w->dir);
		free(w->dir);
		free(w->prog);
		free(w->lib);
		free(w->lib_stripped);
		free(w);
	}
	return 0;
}

static struct elf_binary *open_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	return elf_binary__open_fd(fd);
}

/* Address and size of one symbol as nm prints them ("-D": dynamic table). */
static uint64_t nm_sym(const char *path, bool dynamic, const char *name, uint64_t *size)
{
	uint64_t vaddr;

	assert_int_equal((dynamic ? support__dynsym : support__symbol)(path, name, &vaddr, size),
			 0);
	return vaddr;
}

/* The file offset that holds a link-time address, from the program headers. */
static uint64_t vaddr_to_offset(const char *path, uint64_t vaddr)
{
	uint64_t off = support__vaddr_to_offset(path, vaddr);

	assert_true(off != UINT64_MAX);
	return off;
}

static void expect_symbol(struct elf_binary *b, uint64_t off, const char *name,
			  uint64_t sym_off)
{
	const char *got = NULL;
	uint64_t got_off = ~0ull;

	assert_int_equal(elf_binary__symbolize(b, off, &got, &got_off), 0);
	assert_non_null(got);
	assert_string_equal(got, name);
	assert_int_equal(got_off, sym_off);
}

static void test_elf_symbolize_exec(void **state)
{
	struct world *w = *state;
	uint64_t a_size = 0, b_size = 0, a, b_addr, a_off, b_off, data_off, so;
	struct elf_binary *b;
	const char *name;

	a = nm_sym(w->prog, false, "hot_a", &a_size);
	b_addr = nm_sym(w->prog, false, "hot_b", &b_size);
	assert_true(a_size > 4 && b_size > 0);
	a_off = vaddr_to_offset(w->prog, a);
	b_off = vaddr_to_offset(w->prog, b_addr);
	/* Non-PIE, so this checks the PT_LOAD translation, not identity. */
	assert_true(a_off != a);

	b = open_path(w->prog);
	assert_non_null(b);
	assert_int_equal(elf_binary__symbol_count(b), 0);	/* lazy */

	expect_symbol(b, a_off, "hot_a", 0);
	assert_true(elf_binary__symbol_count(b) > 0);
	expect_symbol(b, a_off + 3, "hot_a", 3);
	expect_symbol(b, a_off + a_size - 1, "hot_a", a_size - 1);
	expect_symbol(b, b_off, "hot_b", 0);
	expect_symbol(b, b_off + b_size / 2, "hot_b", b_size / 2);

	/* Data is not code. */
	data_off = vaddr_to_offset(w->prog, nm_sym(w->prog, false, "hot_data", NULL));
	if (elf_binary__symbolize(b, data_off, &name, &so) == 0)
		assert_string_not_equal(name, "hot_data");
	/* Past the end of the file: no segment maps it. */
	assert_int_equal(elf_binary__symbolize(b, 1ull << 40, &name, &so), -ENOENT);
	assert_int_equal(elf_binary__symbolize(b, UINT64_MAX, &name, &so), -ENOENT);
	elf_binary__free(b);
}

static void test_elf_build_id(void **state)
{
	struct world *w = *state;
	const char *paths[] = { w->prog, w->lib, w->lib_stripped };
	char want[256];
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct elf_binary *b = open_path(paths[i]);

		assert_non_null(b);
		assert_int_equal(support__build_id(paths[i], want, sizeof(want)), 0);
		assert_string_equal(elf_binary__build_id(b), want);
		elf_binary__free(b);
	}
}

static void test_elf_no_build_id(void **state)
{
	struct world *w = *state;
	char *nobid = support__path(w->dir, "prog-nobid");
	struct elf_binary *b;

	assert_non_null(nobid);
	assert_int_equal(support__run("objcopy --remove-section .note.gnu.build-id '%s' '%s'",
				      w->prog, nobid), 0);
	b = open_path(nobid);
	assert_non_null(b);
	assert_string_equal(elf_binary__build_id(b), "");
	elf_binary__free(b);
	free(nobid);
}

static void test_elf_stripped_shared_lib(void **state)
{
	struct world *w = *state;
	uint64_t size = 0, addr, off, local_off;
	struct elf_binary *full, *stripped;
	const char *name = NULL;
	uint64_t so;
	int err;

	addr = nm_sym(w->lib, true, "lib_exported", &size);
	off = vaddr_to_offset(w->lib, addr);
	local_off = vaddr_to_offset(w->lib, nm_sym(w->lib, false, "lib_local", NULL));

	full = open_path(w->lib);
	assert_non_null(full);
	expect_symbol(full, off + 1, "lib_exported", 1);
	expect_symbol(full, local_off, "lib_local", 0);

	stripped = open_path(w->lib_stripped);
	assert_non_null(stripped);
	expect_symbol(stripped, off + 1, "lib_exported", 1);
	expect_symbol(stripped, off + size - 1, "lib_exported", size - 1);
	/* .dynsym has fewer functions than .symtab, and no local ones. */
	assert_true(elf_binary__symbol_count(stripped) < elf_binary__symbol_count(full));
	err = elf_binary__symbolize(stripped, local_off, &name, &so);
	if (err == 0)
		assert_string_not_equal(name, "lib_local");
	elf_binary__free(stripped);
	elf_binary__free(full);
}

static void *slurp(const char *path, size_t *len)
{
	void *buf = support__read_file(path, len);

	assert_non_null(buf);
	return buf;
}

/* An fd holding exactly len bytes of buf, without touching the disk. */
static int mem_fd(const void *buf, size_t len)
{
	int fd = memfd_create("ignis-test-elf", MFD_CLOEXEC);

	assert_true(fd >= 0);
	if (len)
		assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Opens and uses a possibly broken image: whatever it returns, it must not
 * crash, and a success must give a string. */
static int poke(const void *buf, size_t len, uint64_t off)
{
	struct elf_binary *b = elf_binary__open_fd(mem_fd(buf, len));
	const char *name = NULL;
	uint64_t so = 0;
	int err;

	if (!b)
		return -errno;
	assert_non_null(elf_binary__build_id(b));
	err = elf_binary__symbolize(b, off, &name, &so);
	if (err == 0) {
		assert_non_null(name);
		assert_true(strlen(name) < 1 << 20);
	} else {
		assert_true(err < 0);
	}
	elf_binary__free(b);
	return err;
}

static void test_elf_truncated(void **state)
{
	struct world *w = *state;
	uint64_t a_off = vaddr_to_offset(w->prog, nm_sym(w->prog, false, "hot_a", NULL));
	size_t len, cut;
	void *buf = slurp(w->prog, &len);
	const size_t short_cuts[] = { 0, 1, 4, 16, 52, 63 };
	size_t i;

	/* Shorter than an ELF header: not an ELF at all. */
	for (i = 0; i < sizeof(short_cuts) / sizeof(short_cuts[0]); i++)
		assert_int_equal(poke(buf, short_cuts[i], a_off), -ENOEXEC);
	/* Header intact, the rest gone: the symbols cannot be read. */
	assert_true(poke(buf, 64, a_off) < 0);
	assert_true(poke(buf, len / 2, a_off) < 0);
	assert_true(poke(buf, len - 1, a_off) < 0);
	/* And everything in between must at least not crash. */
	for (cut = 64; cut < len; cut += 97)
		poke(buf, cut, a_off);
	/* The whole file still works through the same path. */
	assert_int_equal(poke(buf, len, a_off), 0);
	free(buf);
}

static void test_elf_not_elf(void **state)
{
	static const char script[] = "#!/bin/sh\necho this is not an ELF file\n";
	static const char fake[] = "\177ELF but then nothing that makes sense at all, "
				   "just text padding the header out to sixty-four bytes";
	struct world *w = *state;
	struct elf_binary *b;

	(void)w;
	assert_int_equal(poke(script, sizeof(script) - 1, 0), -ENOEXEC);
	assert_int_equal(poke(fake, sizeof(fake) - 1, 0), -ENOEXEC);

	/* A directory is readable as an fd but is no ELF. */
	b = elf_binary__open_fd(open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	assert_null(b);

	errno = 0;
	assert_null(elf_binary__open_fd(-1));
	assert_int_equal(errno, EBADF);
	elf_binary__free(NULL);
}

/* Deterministic byte flips over the headers, section table and symbol
 * tables: the sanitizer build turns any out-of-bounds read into a failure. */
static void test_elf_corrupt(void **state)
{
	struct world *w = *state;
	const char *paths[] = { w->prog, w->lib_stripped };
	uint32_t seed = 12345;
	size_t p, iter;

	for (p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
		size_t len;
		unsigned char *orig = slurp(paths[p], &len), *buf = malloc(len);

		assert_non_null(buf);
		for (iter = 0; iter < 400; iter++) {
			int flips = 1 + iter % 8, f;

			memcpy(buf, orig, len);
			for (f = 0; f < flips; f++) {
				size_t at;

				seed = seed * 1103515245u + 12345u;
				/* Half the flips in the first 4 KiB (ELF and
				 * program headers), half anywhere. */
				at = (seed >> 8) % (f % 2 ? len : (len < 4096 ? len : 4096));
				seed = seed * 1103515245u + 12345u;
				buf[at] = (unsigned char)(seed >> 16);
			}
			poke(buf, len, (seed >> 4) % len);
		}
		free(buf);
		free(orig);
	}
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* The trampoline the kernel returns signal handlers to (the sa_restorer
 * libc gave it) is told apart from other code. */
static void test_elf_sigreturn_trampoline(void **state)
{
	/* The kernel's struct sigaction on x86-64. */
	struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } k;
	struct sigaction sa = { .sa_handler = on_usr1 };
	char line[512], path[256] = "";
	uint64_t tramp = 0, start, end, off, at = 0;
	struct elf_binary *b;
	FILE *maps;

	(void)state;
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	assert_int_equal(syscall(SYS_rt_sigaction, SIGUSR1, NULL, &k, sizeof(k.mask)), 0);
	assert_true(k.flags & 0x04000000);  /* SA_RESTORER */
	tramp = (uint64_t)(uintptr_t)k.restorer;
	maps = fopen("/proc/self/maps", "r");
	assert_non_null(maps);
	while (fgets(line, sizeof(line), maps)) {
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %255s", &start, &end, &off, path) == 4 &&
		    tramp >= start && tramp < end) {
			at = tramp - start + off;
			break;
		}
	}
	fclose(maps);
	assert_true(at > 0);
	b = open_path(path);
	assert_non_null(b);
	assert_true(elf_binary__is_sigreturn(b, at));
	assert_true(elf_binary__is_sigreturn(b, at - 1));  /* a caller's lookup */
	assert_true(elf_binary__is_sigreturn(b, at + 7));  /* at the syscall */
	assert_false(elf_binary__is_sigreturn(b, at + 9));
	assert_false(elf_binary__is_sigreturn(b, at - 2));
	assert_false(elf_binary__is_sigreturn(b, 0));
	assert_false(elf_binary__is_sigreturn(NULL, at));
	elf_binary__free(b);
}


/* PLT stubs, named as objdump names them: each binary's entries through
 * .plt (lazy-binding header first) or .plt.sec (IBT), and libc's IFUNC
 * entries (*ABS*+0x...@plt). */
static const char plt_src[] =
	"#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
	"int main(int c, char **v)\n"
	"{\n"
	"	char b[64];\n"
	"	strcpy(b, v[0]);\n"
	"	puts(b);\n"
	"	printf(\"%d\\n\", atoi(v[c - 1]));\n"
	"	return (int)strlen(b);\n"
	"}\n";

/* Every "ADDR <NAME@plt>:" objdump prints for path is what the binary
 * says of ADDR; the number of them. */
static size_t expect_plt_like_objdump(const char *path)
{
	struct elf_binary *b = open_path(path);
	char cmd[1024], line[512], name[400];
	unsigned long long addr;
	size_t n = 0;
	FILE *f;

	assert_non_null(b);
	snprintf(cmd, sizeof(cmd), "objdump -d -j .plt -j .plt.sec '%s' 2>/dev/null", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		const char *got;

		/* objdump calls the lazy-binding header "FIRST@plt-0x10". */
		if (sscanf(line, "%llx <%399[^>]>:", &addr, name) != 2 || strlen(name) < 4 ||
		    strcmp(name + strlen(name) - 4, "@plt"))
			continue;
		got = elf_binary__plt_name(b, addr);
		if (!got || strcmp(got, name))
			fail_msg("%s: %#llx is %s, not %s", path, addr, got ? got : "nothing", name);
		/* The whole stub, not only its first byte. */
		assert_string_equal(elf_binary__plt_name(b, addr + 15), name);
		n++;
	}
	assert_int_equal(pclose(f), 0);
	elf_binary__free(b);
	return n;
}

static void test_elf_plt_names(void **state)
{
	struct world *w = *state;
	char *ibt = support__build_program(w->dir, "plt_ibt", plt_src,
					   "-O1 -fcf-protection=full -Wl,-z,ibtplt");
	char *plain = support__build_program(w->dir, "plt_plain", plt_src,
					     "-O1 -fcf-protection=none");
	struct elf_binary *b;
	uint64_t size;

	assert_non_null(ibt);
	assert_non_null(plain);
	assert_int_equal(expect_plt_like_objdump(ibt), 5);
	assert_int_equal(expect_plt_like_objdump(plain), 5);
	/* libc's own stubs: IFUNCs it resolves itself, and malloc & co. */
	assert_true(expect_plt_like_objdump("/lib/x86_64-linux-gnu/libc.so.6") > 10);
	/* Outside the stubs: the .plt header and main name no PLT entry. */
	b = open_path(plain);
	assert_null(elf_binary__plt_name(b, nm_sym(plain, false, "main", &size)));
	assert_null(elf_binary__plt_name(b, 0));
	elf_binary__free(b);
	free(ibt);
	free(plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_symbolize_exec),
		cmocka_unit_test(test_elf_build_id),
		cmocka_unit_test(test_elf_no_build_id),
		cmocka_unit_test(test_elf_stripped_shared_lib),
		cmocka_unit_test(test_elf_truncated),
		cmocka_unit_test(test_elf_not_elf),
		cmocka_unit_test(test_elf_corrupt),
		cmocka_unit_test(test_elf_sigreturn_trampoline),
		cmocka_unit_test(test_elf_plt_names),
	};

	return cmocka_run_group_tests_name("elf", tests, setup, teardown);
}
