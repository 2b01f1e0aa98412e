/* Separate debug files and MiniDebugInfo, made at test time the way the
 * distributions make them (objcopy --only-keep-debug, strip,
 * --add-gnu-debuglink, Fedora's .gnu_debugdata recipe). */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/debugfile.h"
#include "tests/unit/support.h"

static const char prog_src[] =
	"#include <stdio.h>\n"
	"volatile int sink;\n"
	"static __attribute__((noinline)) int secret_worker(int x)\n"
	"{\n"
	"	for (int i = 0; i < x; i++)\n"
	"		sink += i * x;\n"
	"	return sink;\n"
	"}\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	(void)argv;\n"
	"	printf(\"%d\\n\", secret_worker(argc));\n"
	"	return 0;\n"
	"}\n";

static const char other_src[] =
	"int other_main_value = 3;\n"
	"int main(void) { return other_main_value - 3; }\n";

/* Made once for every test. */
static struct {
	char *dir;
	char *prog;		/* with debug info and a build id */
	char *debug;		/* objcopy --only-keep-debug of prog */
	char *stripped;		/* prog stripped, no debuglink */
	char *linked;		/* stripped + .gnu_debuglink=prog.debug */
	char *other_debug;	/* the debug file of another program */
	char build_id[130];
} g;

static int group_setup(void **state)
{
	char *other;

	(void)state;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -1;
	g.dir = support__tmpdir("debugfile");
	if (!g.dir)
		return -1;
	g.prog = support__build_program(g.dir, "prog", prog_src,
					"-O1 -g -fPIE -pie -Wl,--build-id");
	other = support__build_program(g.dir, "other", other_src, "-O1 -g -Wl,--build-id");
	g.debug = support__path(g.dir, "prog.debug");
	g.stripped = support__path(g.dir, "stripped");
	g.linked = support__path(g.dir, "linked");
	g.other_debug = support__path(g.dir, "other.debug");
	if (!g.prog || !other || !g.debug || !g.stripped || !g.linked || !g.other_debug)
		return -1;
	if (support__run("objcopy --only-keep-debug '%s' '%s'", g.prog, g.debug) ||
	    support__run("objcopy --only-keep-debug '%s' '%s'", other, g.other_debug) ||
	    support__run("strip --strip-debug --strip-unneeded -o '%s' '%s'", g.stripped,
			 g.prog) ||
	    support__run("cd '%s' && objcopy --add-gnu-debuglink=prog.debug stripped linked",
			 g.dir))
		return -1;
	free(other);
	return support__build_id(g.prog, g.build_id, sizeof(g.build_id));
}

static int group_teardown(void **state)
{
	(void)state;
	support__rmtree(g.dir);
	free(g.dir);
	free(g.prog);
	free(g.debug);
	free(g.stripped);
	free(g.linked);
	free(g.other_debug);
	return 0;
}

/* A fresh directory under g.dir for one test. */
static char *scratch(const char *name)
{
	char *p = support__path(g.dir, name);

	assert_non_null(p);
	assert_int_equal(support__run("rm -rf '%s' && mkdir -p '%s'", p, p), 0);
	return p;
}

/* <base>/.build-id/xx/rest.debug of our build id, its directory made. */
static char *build_id_path(const char *base)
{
	char *p;

	assert_true(asprintf(&p, "%s/.build-id/%.2s/%s.debug", base, g.build_id,
			     g.build_id + 2) > 0);
	assert_int_equal(support__run("mkdir -p \"$(dirname '%s')\"", p), 0);
	return p;
}

/* fd is the file at path (same inode), and closed here. */
static void assert_is(int fd, const char *path)
{
	struct stat a, b;

	if (fd < 0)
		fail_msg("expected %s, got %d (%s)", path, fd, strerror(-fd));
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(path, &b), 0);
	assert_int_equal(a.st_dev, b.st_dev);
	assert_int_equal(a.st_ino, b.st_ino);
	/* O_CLOEXEC, and readable. */
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	close(fd);
}

static int find(const char *const *dirs, size_t ndirs, const char *root, const char *elf_path,
		const char *build_id, const char *path)
{
	struct debugfile_dirs d = { dirs, ndirs };
	int efd, fd;
	Elf *e = support__elf_open(elf_path, &efd);

	assert_non_null(e);
	fd = debugfile__find(&d, root, e, build_id, path);
	support__elf_close(e, efd);
	return fd;
}

static void test_debugfile_setup_sane(void **state)
{
	char bid[130], *text;

	(void)state;
	/* The stripped binary has what the tests rely on, nothing more. */
	assert_int_equal(support__build_id(g.stripped, bid, sizeof(bid)), 0);
	assert_string_equal(bid, g.build_id);
	assert_int_equal(strlen(g.build_id), 40);
	text = support__read_cmd("readelf -S '%s'", g.stripped);
	assert_non_null(text);
	assert_null(strstr(text, ".debug_info"));
	assert_null(strstr(text, ".gnu_debuglink"));
	free(text);
	text = support__read_cmd("readelf -S '%s'", g.linked);
	assert_non_null(text);
	assert_non_null(strstr(text, ".gnu_debuglink"));
	free(text);
}

static void test_debugfile_build_id_dir(void **state)
{
	char *base = scratch("bid-a"), *file = build_id_path(base);
	const char *dirs[] = { base };

	(void)state;
	assert_int_equal(support__run("cp '%s' '%s'", g.debug, file), 0);
	assert_is(find(dirs, 1, NULL, g.stripped, g.build_id, g.stripped), file);
	/* Upper-case hex is the same build id (the path is lower-case). */
	{
		char upper[130];

		for (size_t i = 0; i <= strlen(g.build_id); i++)
			upper[i] = (char)(g.build_id[i] >= 'a' ? g.build_id[i] - 32 : g.build_id[i]);
		assert_is(find(dirs, 1, NULL, g.stripped, upper, g.stripped), file);
	}
	/* Without the build id, or without the directory, nothing. */
	assert_int_equal(find(dirs, 1, NULL, g.stripped, "", g.stripped), -ENOENT);
	assert_int_equal(find(dirs, 1, NULL, g.stripped, NULL, g.stripped), -ENOENT);
	assert_int_equal(find(NULL, 0, NULL, g.stripped, g.build_id, g.stripped), -ENOENT);
	/* A build id that could leave the directory is not used. */
	assert_int_equal(find(dirs, 1, NULL, g.stripped, "../../etc", g.stripped), -ENOENT);
	free(file);
	free(base);
}

static void test_debugfile_build_id_mismatch(void **state)
{
	char *wrong = scratch("bid-wrong"), *right = scratch("bid-right");
	char *wfile = build_id_path(wrong), *rfile = build_id_path(right);
	const char *dirs[] = { wrong, right };

	(void)state;
	/* Another program's debug file under our build id: refused, and the
	 * next directory is tried. */
	assert_int_equal(support__run("cp '%s' '%s'", g.other_debug, wfile), 0);
	assert_int_equal(find(dirs, 1, NULL, g.stripped, g.build_id, g.stripped), -ENOENT);
	assert_int_equal(support__run("cp '%s' '%s'", g.debug, rfile), 0);
	assert_is(find(dirs, 2, NULL, g.stripped, g.build_id, g.stripped), rfile);
	/* Something that is not ELF at all. */
	assert_int_equal(support__write_text(wfile, "not an ELF file\n"), 0);
	assert_int_equal(find(dirs, 1, NULL, g.stripped, g.build_id, g.stripped), -ENOENT);
	free(wfile);
	free(rfile);
	free(wrong);
	free(right);
}

static void test_debugfile_never_the_binary(void **state)
{
	char *base = scratch("bid-self"), *file = build_id_path(base);
	const char *dirs[] = { base };

	(void)state;
	/* The unstripped binary has the right build id, but it is the
	 * binary being looked up. */
	assert_int_equal(symlink(g.prog, file), 0);
	assert_int_equal(find(dirs, 1, NULL, g.prog, g.build_id, g.prog), -ENOENT);
	/* A copy of it is another file, and a fine debug file. */
	assert_int_equal(unlink(file), 0);
	assert_int_equal(support__run("cp '%s' '%s'", g.prog, file), 0);
	assert_is(find(dirs, 1, NULL, g.prog, g.build_id, g.prog), file);
	free(file);
	free(base);
}

static void test_debugfile_debuglink(void **state)
{
	char *base = scratch("link"), *bin, *next, *dotdir, *indot, *global, *gfile, *gdir;
	const char *dirs[1];

	(void)state;
	bin = support__path(base, "prog");
	next = support__path(base, "prog.debug");
	dotdir = support__path(base, ".debug");
	indot = support__path(dotdir, "prog.debug");
	gdir = scratch("link-global");
	assert_true(asprintf(&global, "%s%s", gdir, base) > 0);
	gfile = support__path(global, "prog.debug");
	dirs[0] = gdir;
	assert_int_equal(support__run("cp '%s' '%s'", g.linked, bin), 0);

	assert_int_equal(find(dirs, 1, NULL, bin, "", bin), -ENOENT);
	/* Next to the binary. */
	assert_int_equal(support__run("cp '%s' '%s'", g.debug, next), 0);
	assert_is(find(dirs, 1, NULL, bin, "", bin), next);
	/* In .debug/ next to it. */
	assert_int_equal(support__run("mkdir '%s' && mv '%s' '%s'", dotdir, next, indot), 0);
	assert_is(find(dirs, 1, NULL, bin, "", bin), indot);
	/* Under a debug directory, at the binary's own path. */
	assert_int_equal(support__run("mkdir -p '%s' && mv '%s' '%s'", global, indot, gfile), 0);
	assert_is(find(dirs, 1, NULL, bin, "", bin), gfile);
	assert_int_equal(find(NULL, 0, NULL, bin, "", bin), -ENOENT);
	/* The link is read from the ELF, the path only gives the directory. */
	assert_int_equal(find(dirs, 1, NULL, g.stripped, "", bin), -ENOENT);

	free(bin);
	free(next);
	free(dotdir);
	free(indot);
	free(global);
	free(gfile);
	free(gdir);
	free(base);
}

static void test_debugfile_debuglink_crc_mismatch(void **state)
{
	char *base = scratch("link-crc"), *bin, *next;

	(void)state;
	bin = support__path(base, "prog");
	next = support__path(base, "prog.debug");
	assert_int_equal(support__run("cp '%s' '%s'", g.linked, bin), 0);
	/* One byte more than the file the link was made for. */
	assert_int_equal(support__run("cp '%s' '%s' && printf x >> '%s'", g.debug, next, next),
			 0);
	assert_int_equal(find(NULL, 0, NULL, bin, "", bin), -ENOENT);
	/* Another program's debug file under the linked name. */
	assert_int_equal(support__run("cp '%s' '%s'", g.other_debug, next), 0);
	assert_int_equal(find(NULL, 0, NULL, bin, "", bin), -ENOENT);
	/* And the right one passes, so the CRC is what refused them. */
	assert_int_equal(support__run("cp '%s' '%s'", g.debug, next), 0);
	assert_is(find(NULL, 0, NULL, bin, "", bin), next);
	free(bin);
	free(next);
	free(base);
}

static void test_debugfile_container_root(void **state)
{
	char *root = scratch("croot"), *bin, *file, *sub, *outside, *real, *dot;
	const char *dirs[] = { "/dbg" };

	(void)state;
	/* The process sees /opt/app/prog; it lives under root. */
	assert_true(asprintf(&bin, "%s/opt/app/prog", root) > 0);
	assert_true(asprintf(&sub, "%s/usr/lib/debug", root) > 0);
	assert_int_equal(support__run("mkdir -p \"$(dirname '%s')\" && cp '%s' '%s'", bin,
				      g.linked, bin), 0);
	file = build_id_path(sub);
	assert_int_equal(support__run("cp '%s' '%s'", g.debug, file), 0);
	assert_is(find(NULL, 0, root, bin, g.build_id, "/opt/app/prog"), file);
	/* Not on the host. */
	assert_int_equal(find(NULL, 0, NULL, bin, g.build_id, "/opt/app/prog"), -ENOENT);
	assert_int_equal(find(NULL, 0, "", bin, g.build_id, "/opt/app/prog"), -ENOENT);

	/* An absolute symlink resolves inside the container ... */
	assert_true(asprintf(&real, "%s/usr/lib/debug/real.debug", root) > 0);
	assert_int_equal(support__run("mv '%s' '%s' && ln -s /usr/lib/debug/real.debug '%s'",
				      file, real, file), 0);
	assert_is(find(NULL, 0, root, bin, g.build_id, "/opt/app/prog"), real);
	/* ... and never reaches the host's files. */
	outside = scratch("croot-outside");
	free(real);
	real = support__path(outside, "prog.debug");
	assert_int_equal(support__run("cp '%s' '%s' && ln -sfn '%s' '%s'", g.debug, real, real,
				      file), 0);
	assert_int_equal(find(NULL, 0, root, bin, g.build_id, "/opt/app/prog"), -ENOENT);
	/* "..": no way out either. */
	assert_int_equal(support__run("ln -sfn ../../../../../../../../../../../'%s' '%s'", real,
				      file), 0);
	assert_int_equal(find(NULL, 0, root, bin, g.build_id, "/opt/app/prog"), -ENOENT);
	assert_int_equal(unlink(file), 0);

	/* Users' directories are inside the root too. */
	free(file);
	free(sub);
	assert_true(asprintf(&sub, "%s/dbg", root) > 0);
	file = build_id_path(sub);
	assert_int_equal(support__run("cp '%s' '%s'", g.debug, file), 0);
	assert_is(find(dirs, 1, root, bin, g.build_id, "/opt/app/prog"), file);
	assert_int_equal(unlink(file), 0);

	/* The debuglink, next to the binary inside the root. */
	assert_true(asprintf(&dot, "%s/opt/app/.debug/prog.debug", root) > 0);
	assert_int_equal(support__run("mkdir -p \"$(dirname '%s')\" && cp '%s' '%s'", dot,
				      g.debug, dot), 0);
	assert_is(find(dirs, 1, root, bin, g.build_id, "/opt/app/prog"), dot);
	assert_int_equal(find(dirs, 1, NULL, bin, g.build_id, "/opt/app/prog"), -ENOENT);

	assert_int_equal(find(NULL, 0, "/nonexistent-root", bin, g.build_id, "/opt/app/prog"),
			 -ENOENT);
	free(dot);
	free(outside);
	free(real);
	free(file);
	free(sub);
	free(bin);
	free(root);
}

static void test_debugfile_bad_args(void **state)
{
	struct debugfile_dirs d = { NULL, 1 };
	int efd;
	Elf *e = support__elf_open(g.stripped, &efd);

	(void)state;
	assert_non_null(e);
	assert_int_equal(debugfile__find(NULL, NULL, NULL, g.build_id, g.stripped), -EINVAL);
	assert_int_equal(debugfile__find(&d, NULL, e, g.build_id, g.stripped), -EINVAL);
	/* No dirs at all: only /usr/lib/debug, which has nothing of ours. */
	assert_int_equal(debugfile__find(NULL, NULL, e, g.build_id, g.stripped), -ENOENT);
	assert_int_equal(debugfile__find(NULL, NULL, e, g.build_id, NULL), -ENOENT);
	support__elf_close(e, efd);
}

/* ---- MiniDebugInfo ------------------------------------------------------ */

/* Fedora's find-debuginfo recipe: the function symbols .dynsym lacks, from
 * the debug file, xz'd into .gnu_debugdata of the stripped binary. */
static char *make_minidebug(const char *dir)
{
	char *out = support__path(dir, "with-mini");

	assert_non_null(out);
	assert_int_equal(
		support__run("cd '%s' && "
			     "nm -D '%s' --format=posix --defined-only | awk '{ print $1 }' | sort > dynsyms && "
			     "nm '%s' --format=posix --defined-only | "
			     "awk '{ if ($2 == \"T\" || $2 == \"t\" || $2 == \"D\") print $1 }' | sort > funcsyms && "
			     "comm -13 dynsyms funcsyms > keep_symbols && "
			     "objcopy -S --remove-section .gdb_index --remove-section .comment "
			     "--keep-symbols=keep_symbols '%s' mini_debuginfo && "
			     "rm -f mini_debuginfo.xz && xz mini_debuginfo && "
			     "objcopy --add-section .gnu_debugdata=mini_debuginfo.xz '%s' '%s'",
			     dir, g.stripped, g.debug, g.debug, g.stripped, out),
		0);
	return out;
}

/* The value of a function symbol in the .symtab of an in-memory ELF. */
static int symtab_func(void *image, size_t size, const char *name, uint64_t *value)
{
	Elf *e = elf_memory(image, size);
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;
	int found = -1;

	assert_non_null(e);
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		Elf_Data *data;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_SYMTAB || !shdr.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		assert_non_null(data);
		for (size_t i = 0; i < shdr.sh_size / shdr.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;

			if (!gelf_getsym(data, (int)i, &sym))
				continue;
			n = elf_strptr(e, shdr.sh_link, sym.st_name);
			if (n && strcmp(n, name) == 0 && GELF_ST_TYPE(sym.st_info) == STT_FUNC) {
				*value = sym.st_value;
				found = 0;
			}
		}
	}
	elf_end(e);
	return found;
}

static int minidebug_of(const char *path, void **image, size_t *size)
{
	int efd, err;
	Elf *e = support__elf_open(path, &efd);

	assert_non_null(e);
	err = debugfile__minidebuginfo(e, image, size);
	support__elf_close(e, efd);
	return err;
}

static void test_debugfile_minidebuginfo(void **state)
{
	char *dir = scratch("mini"), *bin = make_minidebug(dir);
	uint64_t want, got, unused;
	void *image = NULL;
	size_t size = 0;

	(void)state;
	/* The function is only in the debug info: not in .dynsym, and the
	 * stripped binary has no .symtab. */
	assert_int_equal(support__symbol(g.prog, "secret_worker", &want, NULL), 0);
	assert_int_equal(support__dynsym(bin, "secret_worker", &unused, NULL), -1);
	assert_int_equal(support__symbol(bin, "secret_worker", &unused, NULL), -1);

	assert_int_equal(minidebug_of(bin, &image, &size), 0);
	assert_non_null(image);
	assert_true(size > EI_NIDENT);
	assert_memory_equal(image, ELFMAG, SELFMAG);
	assert_int_equal(symtab_func(image, size, "secret_worker", &got), 0);
	assert_int_equal(got, want);
	/* main is in .symtab of the mini debug info too (not in .dynsym). */
	assert_int_equal(symtab_func(image, size, "main", &got), 0);
	/* And the decompressed image is what xz -d gives. */
	{
		char *xz = support__path(dir, "mini_debuginfo.xz"), *plain;
		void *want_img;
		size_t want_len;

		assert_int_equal(support__run("xz -dkc '%s' > '%s/plain'", xz, dir), 0);
		plain = support__path(dir, "plain");
		want_img = support__read_file(plain, &want_len);
		assert_non_null(want_img);
		assert_int_equal(want_len, size);
		assert_memory_equal(want_img, image, size);
		free(want_img);
		free(plain);
		free(xz);
	}
	free(image);
	free(bin);
	free(dir);
}

static void test_debugfile_minidebuginfo_absent(void **state)
{
	void *image = (void *)1;
	size_t size = 1;

	(void)state;
	assert_int_equal(minidebug_of(g.stripped, &image, &size), -ENOENT);
	assert_null(image);
	assert_int_equal(size, 0);
	assert_int_equal(minidebug_of(g.prog, &image, &size), -ENOENT);
	assert_int_equal(debugfile__minidebuginfo(NULL, &image, &size), -EINVAL);
}

static void test_debugfile_minidebuginfo_corrupt(void **state)
{
	char *dir = scratch("mini-bad"), *bin = make_minidebug(dir), *bad;
	void *image = NULL;
	size_t size = 0;

	(void)state;
	bad = support__path(dir, "bad");
	/* A byte flipped in the middle of the compressed data. */
	assert_int_equal(support__run("cd '%s' && cp mini_debuginfo.xz flipped.xz && "
				      "n=$(($(stat -c %%s flipped.xz) / 2)) && "
				      "printf '\\x5a' | dd of=flipped.xz bs=1 seek=$n conv=notrunc "
				      "status=none && "
				      "printf '\\xa5' | dd of=flipped.xz bs=1 seek=$((n + 1)) "
				      "conv=notrunc status=none && "
				      "objcopy --add-section .gnu_debugdata=flipped.xz '%s' bad",
				      dir, g.stripped),
			 0);
	assert_int_equal(minidebug_of(bad, &image, &size), -EINVAL);
	assert_null(image);
	/* Cut short. */
	assert_int_equal(support__run("cd '%s' && head -c 200 mini_debuginfo.xz > short.xz && "
				      "objcopy --add-section .gnu_debugdata=short.xz '%s' bad",
				      dir, g.stripped),
			 0);
	assert_int_equal(minidebug_of(bad, &image, &size), -EINVAL);
	/* Valid xz, but not an ELF image inside. */
	assert_int_equal(support__run("cd '%s' && printf 'hello' | xz > hello.xz && "
				      "objcopy --add-section .gnu_debugdata=hello.xz '%s' bad",
				      dir, g.stripped),
			 0);
	assert_int_equal(minidebug_of(bad, &image, &size), -EINVAL);
	/* Not xz at all. */
	assert_int_equal(support__run("cd '%s' && printf 'plain text' > text && "
				      "objcopy --add-section .gnu_debugdata=text '%s' bad",
				      dir, g.stripped),
			 0);
	assert_int_equal(minidebug_of(bad, &image, &size), -EINVAL);
	/* And the intact one still decodes, so the damage is what failed. */
	assert_int_equal(minidebug_of(bin, &image, &size), 0);
	free(image);
	free(bad);
	free(bin);
	free(dir);
}

static void test_debugfile_xz_decode(void **state)
{
	char *dir = scratch("xz"), *path;
	void *in, *out = (void *)1;
	size_t inlen, outlen = 1;

	(void)state;
	assert_int_equal(debugfile__xz_decode("", 0, &out, &outlen), -EINVAL);
	assert_null(out);
	assert_int_equal(outlen, 0);
	assert_int_equal(debugfile__xz_decode("\xfd" "7zXZ", 6, &out, &outlen), -EINVAL);

	/* Two streams and stream padding: one xz file, as xz -d reads it. */
	assert_int_equal(support__run("cd '%s' && printf 'first,' | xz > two.xz && "
				      "printf 'second' | xz --check=sha256 >> two.xz && "
				      "head -c 8 /dev/zero >> two.xz",
				      dir),
			 0);
	path = support__path(dir, "two.xz");
	in = support__read_file(path, &inlen);
	assert_non_null(in);
	assert_int_equal(debugfile__xz_decode(in, inlen, &out, &outlen), 0);
	assert_int_equal(outlen, strlen("first,second"));
	assert_memory_equal(out, "first,second", outlen);
	free(out);
	/* Padding that is not a multiple of 4 is not xz. */
	assert_int_equal(debugfile__xz_decode(in, inlen - 1, &out, &outlen), -EINVAL);
	free(in);
	free(path);

	/* 304 MiB of zeros in a few KiB, as 19 streams of 16 MiB (compressing
	 * 300 MiB at once took seconds): stopped at the bound. */
	_Static_assert(DEBUGFILE_XZ_MAX_OUT == 16 * (16u << 20), "16 streams are the bound");
	assert_int_equal(support__run("cd '%s' && head -c 16M /dev/zero | xz -1 -T1 > 16m.xz && "
				      "for i in $(seq 19); do cat 16m.xz; done > bomb.xz && "
				      "for i in $(seq 16); do cat 16m.xz; done > big.xz",
				      dir),
			 0);
	path = support__path(dir, "bomb.xz");
	in = support__read_file(path, &inlen);
	assert_non_null(in);
	assert_true(inlen < 100000);
	assert_int_equal(debugfile__xz_decode(in, inlen, &out, &outlen), -EFBIG);
	assert_null(out);
	free(in);
	free(path);

	/* Up to the bound is fine (big.xz: 16 of those streams). */
	path = support__path(dir, "big.xz");
	in = support__read_file(path, &inlen);
	assert_non_null(in);
	assert_int_equal(debugfile__xz_decode(in, inlen, &out, &outlen), 0);
	assert_int_equal(outlen, DEBUGFILE_XZ_MAX_OUT);
	free(out);
	free(in);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debugfile_setup_sane),
		cmocka_unit_test(test_debugfile_build_id_dir),
		cmocka_unit_test(test_debugfile_build_id_mismatch),
		cmocka_unit_test(test_debugfile_never_the_binary),
		cmocka_unit_test(test_debugfile_debuglink),
		cmocka_unit_test(test_debugfile_debuglink_crc_mismatch),
		cmocka_unit_test(test_debugfile_container_root),
		cmocka_unit_test(test_debugfile_bad_args),
		cmocka_unit_test(test_debugfile_minidebuginfo),
		cmocka_unit_test(test_debugfile_minidebuginfo_absent),
		cmocka_unit_test(test_debugfile_minidebuginfo_corrupt),
		cmocka_unit_test(test_debugfile_xz_decode),
	};

	return cmocka_run_group_tests_name("debugfile", tests, group_setup, group_teardown);
}
