/* goruntime: the Go version from .go.buildinfo bytes, the minor version of
 * version strings, the offsets of the version table, and binaries that are
 * not Go; a Go program built by the go tool, its DWARF against the table. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libelf.h>

#include "bpf/golabels.h"
#include "symbolizer/goruntime.h"

/* A Go 1.18+ header: magic, pointer size 8, flags 2 (inline strings). */
static size_t buildinfo(uint8_t *b, const char *version)
{
	size_t n = strlen(version);

	memset(b, 0, 64);
	memcpy(b, "\xff Go buildinf:", 14);
	b[14] = 8;
	b[15] = 2;
	b[32] = (uint8_t)n;
	memcpy(b + 33, version, n);
	b[33 + n] = 0;  /* the module info's length */
	return 34 + n;
}

static void test_goruntime_buildinfo(void **state)
{
	uint8_t b[64];
	char out[32];
	size_t n;

	(void)state;
	n = buildinfo(b, "go1.19.8");
	assert_int_equal(goruntime__buildinfo(b, n, out, sizeof(out)), 0);
	assert_string_equal(out, "go1.19.8");
	/* Not Go, too short, no magic. */
	assert_int_equal(goruntime__buildinfo(b, 31, out, sizeof(out)), -ENOENT);
	assert_int_equal(goruntime__buildinfo(NULL, 0, out, sizeof(out)), -ENOENT);
	b[1] = 'g';
	assert_int_equal(goruntime__buildinfo(b, n, out, sizeof(out)), -ENOENT);
	b[1] = ' ';
	/* Go <= 1.17: pointers into the data, not read here. */
	b[15] = 0;
	assert_int_equal(goruntime__buildinfo(b, n, out, sizeof(out)), -ENOTSUP);
	b[15] = 2;
	/* A length past the end, a varint that never ends, no room. */
	assert_int_equal(goruntime__buildinfo(b, 36, out, sizeof(out)), -ENOEXEC);
	assert_int_equal(goruntime__buildinfo(b, n, out, 8), -ENOEXEC);
	b[32] = 0;
	assert_int_equal(goruntime__buildinfo(b, n, out, sizeof(out)), -ENOEXEC);
	memset(b + 32, 0x80, 32);
	assert_int_equal(goruntime__buildinfo(b, 64, out, sizeof(out)), -ENOEXEC);
}

static void test_goruntime_minor(void **state)
{
	(void)state;
	assert_int_equal(goruntime__minor("go1.19.8"), 19);
	assert_int_equal(goruntime__minor("go1.21rc2"), 21);
	assert_int_equal(goruntime__minor("devel go1.24-4d1c255 Tue"), 24);
	assert_int_equal(goruntime__minor("go1.9"), 9);
	assert_int_equal(goruntime__minor("go2.0"), -EINVAL);
	assert_int_equal(goruntime__minor("go1."), -EINVAL);
	assert_int_equal(goruntime__minor("go1.99999999"), -EINVAL);
	assert_int_equal(goruntime__minor(NULL), -EINVAL);
}

static void test_goruntime_table(void **state)
{
	struct goruntime g;

	(void)state;
	assert_int_equal(goruntime__table(19, &g), 0);
	assert_int_equal(g.g_m, 48);
	assert_int_equal(g.m_curg, 192);
	assert_int_equal(g.g_labels, 360);
	assert_int_equal(g.labels_kind, IGNIS_GO_LABELS_HMAP);
	assert_int_equal(goruntime__table(17, &g), 0);
	assert_int_equal(g.g_labels, 360);
	assert_int_equal(goruntime__table(21, &g), 0);
	assert_int_equal(g.g_labels, 344);
	assert_int_equal(g.labels_kind, IGNIS_GO_LABELS_HMAP);
	assert_int_equal(goruntime__table(23, &g), 0);
	assert_int_equal(g.g_labels, 352);
	assert_int_equal(g.labels_kind, IGNIS_GO_LABELS_HMAP);
	assert_int_equal(goruntime__table(24, &g), 0);
	assert_int_equal(g.g_labels, 352);
	assert_int_equal(g.labels_kind, IGNIS_GO_LABELS_SLICE);
	/* Not known: DWARF only. */
	assert_int_equal(goruntime__table(16, &g), -ENOTSUP);
	assert_int_equal(goruntime__table(25, &g), -ENOTSUP);
}

/* The test itself is an ELF without .go.buildinfo. */
static void test_goruntime_not_go(void **state)
{
	struct goruntime g;
	int fd = open("/proc/self/exe", O_RDONLY);
	Elf *elf;

	(void)state;
	assert_true(fd >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	assert_non_null(elf);
	assert_int_equal(goruntime__read(elf, &g, 0), -ENOENT);
	assert_string_equal(g.version, "");
	elf_end(elf);
	close(fd);
}

/* The Go toolchains scripts/deps.sh installs: Debian's (1.19, golang-go's)
 * and the bookworm-backports ones. */
struct toolchain {
	const char *go;      /* the go command */
	const char *prefix;  /* what the binary's version starts with */
	int g_labels;        /* the table's offset, from the version's DWARF */
};

static const struct toolchain go119 = { "/usr/lib/go-1.19/bin/go", "go1.19.", 360 };
static const struct toolchain go121 = { "/usr/lib/go-1.21/bin/go", "go1.21.", 344 };
static const struct toolchain go123 = { "/usr/lib/go-1.23/bin/go", "go1.23.", 352 };

/* A Go program built here by each toolchain: its DWARF and the table agree
 * (offsets, the label set's kind), a stripped copy is read from the table,
 * and its g is in the TLS slot Go's own linker uses. A toolchain that is
 * missing skips, saying so. */
static void real_binary(const struct toolchain *t)
{
	char dir[] = "/tmp/ignis-goruntime-XXXXXX", cmd[1024], path[512];
	const char *exes[] = { "prog", "stripped" };
	struct goruntime dw, tab;
	FILE *f;

	if (access(t->go, X_OK)) {
		print_message("skipped: %s missing (scripts/deps.sh installs golang-%.4s-go)\n",
			      t->go, t->prefix + 2);
		skip();
	}
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/prog.go", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("package main\n"
	      "import (\"context\"; \"runtime/pprof\")\n"
	      "func main() { pprof.Do(context.Background(), pprof.Labels(\"a\", \"b\"),"
	      " func(context.Context) {}) }\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && export GO111MODULE=off CGO_ENABLED=0 GOFLAGS= GOTOOLCHAIN=local "
		 "GOCACHE=${IGNIS_TEST_GOCACHE:-$PWD/cache} && "
		 "%s build -o prog prog.go && %s build -ldflags='-s -w' -o stripped prog.go",
		 dir, t->go, t->go);
	assert_int_equal(system(cmd), 0);
	elf_version(EV_CURRENT);
	for (int i = 0; i < 2; i++) {
		int fd;
		Elf *elf;

		snprintf(path, sizeof(path), "%s/%s", dir, exes[i]);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		assert_non_null(elf);
		assert_int_equal(goruntime__read(elf, &dw, GORUNTIME_DWARF_FIRST), 0);
		assert_int_equal(goruntime__read(elf, &tab, 0), 0);
		assert_int_equal(dw.from_dwarf, i == 0);
		assert_int_equal(tab.from_dwarf, 0);
		assert_true(strncmp(dw.version, t->prefix, strlen(t->prefix)) == 0);
		assert_int_equal(dw.g_m, 48);
		assert_int_equal(dw.m_curg, 192);
		assert_int_equal(dw.g_labels, t->g_labels);
		/* A map up to Go 1.23 (the list came with 1.24). */
		assert_int_equal(dw.labels_kind, IGNIS_GO_LABELS_HMAP);
		assert_int_equal(dw.g_m, tab.g_m);
		assert_int_equal(dw.m_curg, tab.m_curg);
		assert_int_equal(dw.g_labels, tab.g_labels);
		assert_int_equal(dw.labels_kind, tab.labels_kind);
		assert_int_equal(dw.tls_offset, -8);
		assert_int_equal(tab.tls_offset, -8);
		elf_end(elf);
		close(fd);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_goruntime_go119(void **state)
{
	(void)state;
	real_binary(&go119);
}

static void test_goruntime_go121(void **state)
{
	(void)state;
	real_binary(&go121);
}

static void test_goruntime_go123(void **state)
{
	(void)state;
	real_binary(&go123);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_goruntime_buildinfo),
		cmocka_unit_test(test_goruntime_minor),
		cmocka_unit_test(test_goruntime_table),
		cmocka_unit_test(test_goruntime_not_go),
		cmocka_unit_test(test_goruntime_go119),
		cmocka_unit_test(test_goruntime_go121),
		cmocka_unit_test(test_goruntime_go123),
	};

	return cmocka_run_group_tests_name("goruntime", tests, NULL, NULL) ? 1 : 0;
}
