/* What it takes to read a Go program's pprof labels from outside: its Go
 * version (from .go.buildinfo), where the running g is in thread-local
 * storage, and the offsets of g.m, m.curg and g.labels, from a table of the
 * versions whose layout is known, else from the binary's DWARF (runtime.g,
 * runtime.m). */
#ifndef IGNIS_SYM_GORUNTIME_H
#define IGNIS_SYM_GORUNTIME_H

#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

struct goruntime {
	char version[32];      /* "go1.19.8" */
	int minor;             /* 19 */
	int64_t tls_offset;    /* g at fsbase + tls_offset */
	uint32_t g_m, m_curg, g_labels;
	int labels_kind;       /* IGNIS_GO_LABELS_HMAP or _SLICE (bpf/golabels.h) */
	int from_dwarf;        /* offsets read from the binary's DWARF */
};

/* goruntime__read: DWARF even for a version the table knows (the table
 * is used without it: a big binary's DWARF takes long to inflate). */
#define GORUNTIME_DWARF_FIRST 1

/* 0; -ENOENT: not a Go program; -ENOTSUP: a Go version or layout whose
 * labels cannot be read (too old, or newer than the table without DWARF to
 * say); -ENOEXEC: malformed. out->version is set whenever it was found. */
int goruntime__read(Elf *elf, struct goruntime *out, int flags);

/* The version string of a .go.buildinfo section's bytes (Go 1.18+ inline
 * format; older ones point into the data and need the binary: -ENOTSUP).
 * 0, -ENOENT (no magic), -ENOEXEC (malformed). */
int goruntime__buildinfo(const uint8_t *data, size_t size, char *out, size_t outlen);

/* The minor version of "go1.N...", "devel go1.N-...": N, or -EINVAL. */
int goruntime__minor(const char *version);

/* The offsets of the table for a minor version (Go 1.17 on): 0 or
 * -ENOTSUP. Sets g_m, m_curg, g_labels, labels_kind. */
int goruntime__table(int minor, struct goruntime *out);

#endif
