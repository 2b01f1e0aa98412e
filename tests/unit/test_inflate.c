/* Uncompressed copies of debug files: on the real libc and libm debug files
 * of libc6-dbg (zlib-compressed DWARF), the copy reads the same as the file
 * it comes from, is written once and reused, and a copy that does not match
 * its source, a directory that cannot be written, a bound too small, a
 * damaged zlib stream or a header shorter than its class's end in an error
 * the caller falls back from. */
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
#include <unistd.h>

#include <cmocka.h>

#include "symbolizer/dwarf.h"
#include "symbolizer/inflate.h"
#include "tests/unit/support.h"

struct world {
	char *tmp;
	char *libc_dbg, *libm_dbg;
	char libc_id[130], libm_id[130];
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w || elf_version(EV_CURRENT) == EV_NONE)
		return -1;
	w->tmp = support__tmpdir("inflate");
	w->libc_dbg = support__system_debug_file("libc.so.6", w->libc_id, sizeof(w->libc_id));
	w->libm_dbg = support__system_debug_file("libm.so.6", w->libm_id, sizeof(w->libm_id));
	if (!w->tmp || !w->libc_dbg || !w->libm_dbg) {
		fprintf(stderr, "libc6-dbg debug files not found (scripts/deps.sh installs them)\n");
		return -1;
	}
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	support__rmtree(w->tmp);
	free(w->tmp);
	free(w->libc_dbg);
	free(w->libm_dbg);
	free(w);
	return 0;
}

static char *key_of(const char *id)
{
	char *k;

	assert_true(asprintf(&k, "buildid:%s", id) > 0);
	return k;
}

static char *cache_dir(const struct world *w, const char *name)
{
	char *d = support__path(w->tmp, name);

	assert_non_null(d);
	return d;
}

/* The number of entries in dir (0 when it does not exist). */
static int count_files(const char *dir, const char *suffix)
{
	char *out = support__read_cmd("ls -A '%s' 2>/dev/null | grep -c -- '%s$'", dir, suffix);
	int n;

	assert_non_null(out);
	n = atoi(out);
	free(out);
	return n;
}

/* The section named name of the ELF file fd: its header. */
static bool section(int fd, const char *name, GElf_Shdr *out)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Elf_Scn *scn = NULL;
	bool found = false;
	size_t shstrndx;

	assert_non_null(e);
	assert_int_equal(elf_getshdrstrndx(e, &shstrndx), 0);
	while (!found && (scn = elf_nextscn(e, scn)) != NULL) {
		const char *n;

		assert_non_null(gelf_getshdr(scn, out));
		n = elf_strptr(e, shstrndx, out->sh_name);
		found = n && strcmp(n, name) == 0;
	}
	elf_end(e);
	return found;
}

static void test_inflate_libc_reads_the_same(void **state)
{
	struct world *w = *state;
	char *dir = cache_dir(w, "same"), *key = key_of(w->libc_id);
	struct inflate_cache *c = inflate_cache__new(dir, 0);
	struct inflate_stats st;
	GElf_Shdr shdr;
	int fd, cfd, cfd2;

	assert_non_null(c);
	fd = open(w->libc_dbg, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	/* The source really is compressed. */
	assert_true(section(fd, ".debug_info", &shdr));
	assert_true(shdr.sh_flags & SHF_COMPRESSED);

	cfd = inflate_cache__open(c, fd, key);
	assert_true(cfd >= 0);
	inflate_cache__stats(c, &st);
	assert_int_equal(st.written, 1);
	assert_int_equal(st.used, 1);
	assert_int_equal(count_files(dir, ".elf"), 1);
	/* No temporary file is left next to it. */
	assert_int_equal(count_files(dir, ""), 1);
	/* The sections read are plain in the copy; .debug_info has the size
	 * readelf gives for its uncompressed contents. */
	assert_true(section(cfd, ".debug_info", &shdr));
	assert_false(shdr.sh_flags & SHF_COMPRESSED);
	{
		char *out = support__read_cmd("readelf -W --decompress -x .debug_abbrev '%s' "
					      "2>/dev/null | md5sum", w->libc_dbg);
		char path[4096], *out2;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), cfd);
		out2 = support__read_cmd("readelf -W -x .debug_abbrev '%s' 2>/dev/null | md5sum",
					 path);
		assert_non_null(out);
		assert_non_null(out2);
		assert_string_equal(out, out2);
		free(out);
		free(out2);
	}

	/* test_dwarf compares every function's names, inline chains and
	 * file:line between the source and the copy. */

	/* Opened again: the same copy, not written again. */
	cfd2 = inflate_cache__open(c, fd, key);
	assert_true(cfd2 >= 0);
	inflate_cache__stats(c, &st);
	assert_int_equal(st.written, 1);
	assert_int_equal(st.used, 2);
	assert_int_equal(st.invalid, 0);
	/* Another cache on the same directory (another agent) finds it. */
	{
		struct inflate_cache *c2 = inflate_cache__new(dir, 0);
		int cfd3 = inflate_cache__open(c2, fd, key);

		assert_true(cfd3 >= 0);
		inflate_cache__stats(c2, &st);
		assert_int_equal(st.written, 0);
		assert_int_equal(st.used, 1);
		close(cfd3);
		inflate_cache__free(c2);
	}
	close(cfd2);
	close(cfd);
	close(fd);
	inflate_cache__free(c);
	free(key);
	free(dir);
}

/* The path of the only copy in dir. */
static char *only_copy(const char *dir)
{
	char *out = support__read_cmd("ls -d '%s'/*.elf", dir), *nl;

	assert_non_null(out);
	nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	return out;
}

static void test_inflate_bad_copy_is_deleted(void **state)
{
	struct world *w = *state;
	char *dir = cache_dir(w, "bad"), *key = key_of(w->libm_id), *copy;
	struct inflate_cache *c = inflate_cache__new(dir, 0);
	struct inflate_stats st;
	struct stat sb;
	int fd, cfd, i;

	fd = open(w->libm_dbg, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	for (i = 0; i < 3; i++) {
		cfd = inflate_cache__open(c, fd, key);
		assert_true(cfd >= 0);
		close(cfd);
		copy = only_copy(dir);
		assert_int_equal(stat(copy, &sb), 0);
		switch (i) {
		case 0: /* cut short */
			assert_int_equal(truncate(copy, sb.st_size - 1), 0);
			break;
		case 1: /* a section header changed (the last header's size) */
			assert_int_equal(support__run("printf '\\377' | dd of='%s' bs=1 seek=%lld "
						      "conv=notrunc status=none",
						      copy, (long long)sb.st_size - 0x20),
					 0);
			break;
		case 2: { /* the build id note changed */
			GElf_Shdr note;
			int wfd = open(copy, O_RDWR | O_CLOEXEC);

			assert_true(wfd >= 0);
			assert_true(section(wfd, ".note.gnu.build-id", &note));
			assert_int_equal(pwrite(wfd, "X", 1, note.sh_offset + note.sh_size - 1), 1);
			close(wfd);
			break;
		}
		}
		/* Refused, deleted, counted; the caller reads the source. */
		assert_true(inflate_cache__open(c, fd, key) < 0);
		inflate_cache__stats(c, &st);
		assert_int_equal(st.invalid, (uint64_t)i + 1);
		assert_int_equal(count_files(dir, ".elf"), 0);
		free(copy);
	}
	/* The next open writes it afresh. */
	cfd = inflate_cache__open(c, fd, key);
	assert_true(cfd >= 0);
	inflate_cache__stats(c, &st);
	assert_int_equal(st.written, 4);
	close(cfd);
	close(fd);
	inflate_cache__free(c);
	free(key);
	free(dir);
}

static void test_inflate_unwritable_and_bounds(void **state)
{
	struct world *w = *state;
	char *file = cache_dir(w, "plainfile"), *dir, *key = key_of(w->libc_id);
	char *mkey = key_of(w->libm_id);
	struct inflate_cache *c;
	struct inflate_stats st;
	struct stat sb;
	int fd, mfd, cfd;

	fd = open(w->libc_dbg, O_RDONLY | O_CLOEXEC);
	mfd = open(w->libm_dbg, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0 && mfd >= 0);

	/* A directory that cannot be made (a file is in the way): an error,
	 * counted, and not tried again for every file. */
	assert_int_equal(support__write_text(file, "x"), 0);
	assert_true(asprintf(&dir, "%s/inflated", file) > 0);
	c = inflate_cache__new(dir, 0);
	assert_true(inflate_cache__open(c, fd, key) < 0);
	assert_true(inflate_cache__open(c, mfd, mkey) < 0);
	inflate_cache__stats(c, &st);
	assert_int_equal(st.failed, 2);
	assert_int_equal(st.written, 0);
	inflate_cache__free(c);
	free(dir);

	/* A bound smaller than the copy: nothing written. */
	dir = cache_dir(w, "small");
	c = inflate_cache__new(dir, 1 << 20);
	assert_int_equal(inflate_cache__open(c, fd, key), -EFBIG);
	inflate_cache__stats(c, &st);
	assert_int_equal(st.failed, 1);
	assert_int_equal(count_files(dir, ""), 0);
	inflate_cache__free(c);
	free(dir);

	/* Room for libc's copy but not for libm's as well: the least
	 * recently used goes, never the one just written. */
	dir = cache_dir(w, "lru");
	c = inflate_cache__new(dir, 0);
	cfd = inflate_cache__open(c, mfd, mkey);
	assert_true(cfd >= 0);
	assert_int_equal(fstat(cfd, &sb), 0);
	close(cfd);
	inflate_cache__free(c);
	c = inflate_cache__new(dir, 10 << 20);
	cfd = inflate_cache__open(c, fd, key);
	assert_true(cfd >= 0);
	assert_int_equal(fstat(cfd, &sb), 0);
	assert_true(sb.st_size < (10 << 20));
	close(cfd);
	inflate_cache__stats(c, &st);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(count_files(dir, ".elf"), 1);
	assert_true(inflate_cache__open(c, fd, key) >= 0);
	inflate_cache__free(c);
	free(dir);

	close(fd);
	close(mfd);
	free(file);
	free(key);
	free(mkey);
}

static void test_inflate_nothing_to_do_and_bad_streams(void **state)
{
	struct world *w = *state;
	char *dir = cache_dir(w, "streams"), *plain = NULL, *bad = NULL, *short_hdr = NULL;
	char *key = key_of(w->libm_id);
	struct inflate_cache *c = inflate_cache__new(dir, 0);
	struct inflate_stats st;
	GElf_Shdr shdr;
	int fd;

	/* A file without compressed sections: nothing to gain. */
	assert_true(asprintf(&plain, "%s/plain.debug", w->tmp) > 0);
	assert_int_equal(support__run("objcopy --decompress-debug-sections '%s' '%s'",
				      w->libm_dbg, plain),
			 0);
	fd = open(plain, O_RDONLY | O_CLOEXEC);
	assert_int_equal(inflate_cache__open(c, fd, key), -ENOENT);
	close(fd);
	/* Not ELF at all. */
	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	assert_int_equal(inflate_cache__open(c, fd, key), -EINVAL);
	close(fd);

	/* A zlib stream damaged in the middle of .debug_info: no copy, no
	 * temporary file left behind. */
	assert_true(asprintf(&bad, "%s/bad.debug", w->tmp) > 0);
	assert_int_equal(support__run("cp '%s' '%s'", w->libm_dbg, bad), 0);
	fd = open(bad, O_RDWR | O_CLOEXEC);
	assert_true(section(fd, ".debug_info", &shdr));
	assert_int_equal(pwrite(fd, "\xde\xad\xbe\xef\xde\xad\xbe\xef", 8,
				shdr.sh_offset + shdr.sh_size / 2),
			 8);
	assert_true(inflate_cache__open(c, fd, key) < 0);
	inflate_cache__stats(c, &st);
	assert_int_equal(st.failed, 1);
	assert_int_equal(count_files(dir, ""), 0);
	close(fd);

	/* A header that says it is 1 byte long (libelf takes it): refused as
	 * corrupt before the copy's header is rewritten (fuzz_inflate found
	 * a heap overflow there), and nothing written. */
	assert_true(asprintf(&short_hdr, "%s/short-ehsize.debug", w->tmp) > 0);
	assert_int_equal(support__run("cp '%s' '%s'", w->libm_dbg, short_hdr), 0);
	fd = open(short_hdr, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\x01\x00", 2, offsetof(Elf64_Ehdr, e_ehsize)), 2);
	assert_int_equal(inflate_cache__open(c, fd, key), -EINVAL);
	assert_int_equal(count_files(dir, ""), 0);
	close(fd);
	inflate_cache__free(c);
	free(plain);
	free(bad);
	free(short_hdr);
	free(key);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflate_libc_reads_the_same),
		cmocka_unit_test(test_inflate_bad_copy_is_deleted),
		cmocka_unit_test(test_inflate_unwritable_and_bounds),
		cmocka_unit_test(test_inflate_nothing_to_do_and_bad_streams),
	};

	return cmocka_run_group_tests_name("inflate", tests, setup, teardown);
}
