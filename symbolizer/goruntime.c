/* Go runtime layout for reading pprof labels (see goruntime.h).
 *
 * Facts this relies on (golang/go source):
 *  - cmd/go/internal/version, debug/buildinfo: .go.buildinfo starts with
 *    "\xff Go buildinf:", then the pointer size and a flags byte; with flag 2
 *    (Go 1.18+) the version follows at offset 32 as a uvarint length and
 *    its bytes.
 *  - runtime/runtime2.go: g.m at 48 in every version since Go 1.4 (stack,
 *    stackguard0/1, _panic, _defer before it); m.curg at 192 (g0, morebuf,
 *    divmod, procid, gsignal, goSigStack, sigmask, tls[6], mstartfn);
 *    g.labels moved as fields before it came and went: 360 in Go 1.17-1.20,
 *    344 in 1.21-1.22, 352 in 1.23-1.24 (the unit tests read 1.19's, 1.21's
 *    and 1.23's from the DWARF of programs they build; 1.24's is the
 *    OpenTelemetry eBPF profiler's record, not built here). Later
 *    versions are read from DWARF only: runtime.g keeps gaining and losing
 *    fields before labels (syncSafePoint, runningCleanups, fipsIndicator
 *    in the newest runtime2.go), so no offset is guessed.
 *  - runtime/pprof/label.go: labelMap is map[string]string up to Go 1.23
 *    (1.21's and 1.23's label.go say so; LabelSet's sorted list only built
 *    the map), struct { LabelSet } (LabelSet = struct { list []label },
 *    sorted by key) from Go 1.24; g.labels points to a labelMap.
 *  - ELF TLS (variant II, x86-64): the executable's block ends at the
 *    thread pointer, so runtime.tlsg (STT_TLS, value = offset in the block)
 *    is at fsbase - roundup(p_memsz, p_align) + value; Go's own internal
 *    link puts only runtime.tlsg there: -8. */
#include <errno.h>
#include <gelf.h>
#include <elfutils/libdw.h>
#include <dwarf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "bpf/golabels.h"
#include "symbolizer/goruntime.h"

#define BUILDINFO_MAGIC "\xff Go buildinf:"
#define BUILDINFO_MAGIC_LEN 14
#define BUILDINFO_HDR_LEN 32
#define BUILDINFO_FLAG_INLINE 2

int goruntime__buildinfo(const uint8_t *data, size_t size, char *out, size_t outlen)
{
	uint64_t len = 0;
	size_t off = BUILDINFO_HDR_LEN;
	int shift = 0;

	if (!data || size < BUILDINFO_HDR_LEN || memcmp(data, BUILDINFO_MAGIC, BUILDINFO_MAGIC_LEN))
		return -ENOENT;
	if (!(data[15] & BUILDINFO_FLAG_INLINE))
		return -ENOTSUP;  /* Go <= 1.17: pointers into the data */
	for (;;) {
		uint8_t b;

		if (off >= size || shift > 63)
			return -ENOEXEC;
		b = data[off++];
		len |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
		shift += 7;
	}
	if (len == 0 || len > size - off || len >= outlen)
		return -ENOEXEC;
	memcpy(out, data + off, len);
	out[len] = '\0';
	return 0;
}

int goruntime__minor(const char *v)
{
	const char *p = v ? strstr(v, "go1.") : NULL;
	long n = 0;

	if (!p)
		return -EINVAL;
	p += 4;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9' && n < 10000)
		n = n * 10 + (*p++ - '0');
	return n < 10000 ? (int)n : -EINVAL;
}

int goruntime__table(int minor, struct goruntime *out)
{
	out->g_m = 48;
	out->m_curg = 192;
	if (minor < 17 || minor > 24)
		return -ENOTSUP;
	out->g_labels = minor <= 20 ? 360 : minor <= 22 ? 344 : 352;
	out->labels_kind = minor <= 23 ? IGNIS_GO_LABELS_HMAP : IGNIS_GO_LABELS_SLICE;
	return 0;
}

static Elf_Scn *section(Elf *elf, const char *name, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, sh))
			continue;
		n = elf_strptr(elf, shstrndx, sh->sh_name);
		if (n && !strcmp(n, name))
			return scn;
	}
	return NULL;
}

static int read_version(Elf *elf, struct goruntime *out)
{
	GElf_Shdr sh;
	Elf_Scn *scn = section(elf, ".go.buildinfo", &sh);
	Elf_Data *d;

	if (!scn || sh.sh_type == SHT_NOBITS)
		return -ENOENT;
	d = elf_getdata(scn, NULL);
	if (!d || !d->d_buf)
		return -ENOEXEC;
	return goruntime__buildinfo(d->d_buf, d->d_size, out->version, sizeof(out->version));
}

/* The value of runtime.tlsg in .symtab, or -ENOENT. */
static int tlsg_value(Elf *elf, uint64_t *value)
{
	GElf_Shdr sh;
	Elf_Scn *scn = section(elf, ".symtab", &sh);
	Elf_Data *d;
	size_t n;

	if (!scn || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
		return -ENOENT;
	d = elf_getdata(scn, NULL);
	if (!d)
		return -ENOENT;
	n = d->d_size / sh.sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(d, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_TLS)
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (name && !strcmp(name, "runtime.tlsg")) {
			*value = sym.st_value;
			return 0;
		}
	}
	return -ENOENT;
}

static int read_tls(Elf *elf, struct goruntime *out)
{
	size_t nph;
	uint64_t value;
	int err;

	if (elf_getphdrnum(elf, &nph))
		return -ENOEXEC;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		uint64_t align, block;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_TLS)
			continue;
		align = ph.p_align ? ph.p_align : 1;
		if ((align & (align - 1)) || (ph.p_vaddr & (align - 1)) || ph.p_memsz > (1u << 30))
			return -ENOTSUP;
		block = (ph.p_memsz + align - 1) & ~(align - 1);
		err = tlsg_value(elf, &value);
		if (err) {
			/* Stripped: only Go's own slot in the block leaves no doubt. */
			if (ph.p_memsz > 8)
				return -ENOTSUP;
			value = 0;
		}
		if (value >= block)
			return -ENOEXEC;
		out->tls_offset = (int64_t)value - (int64_t)block;
		return 0;
	}
	/* No TLS segment: Go set the thread pointer itself, g in the slot
	 * just below it (runtime·settls). */
	out->tls_offset = -8;
	return 0;
}

/* ---- DWARF ---------------------------------------------------------------- */

struct dwarf_find {
	int g_m, m_curg, g_labels;  /* -1: not found */
	int kind;                   /* 0: labelMap not found */
	int found_g, found_m;
};

static int member_offset(Dwarf_Die *st, const char *name)
{
	Dwarf_Die child;

	if (dwarf_child(st, &child) != 0)
		return -1;
	do {
		Dwarf_Attribute a;
		Dwarf_Word off;
		const char *n;

		if (dwarf_tag(&child) != DW_TAG_member)
			continue;
		n = dwarf_diename(&child);
		if (!n || strcmp(n, name))
			continue;
		if (!dwarf_attr(&child, DW_AT_data_member_location, &a) ||
		    dwarf_formudata(&a, &off) || off > 1u << 20)
			return -1;
		return (int)off;
	} while (dwarf_siblingof(&child, &child) == 0);
	return -1;
}

static void look_at(Dwarf_Die *die, struct dwarf_find *f)
{
	int tag = dwarf_tag(die);
	const char *name = dwarf_diename(die);

	if (!name)
		return;
	if (tag == DW_TAG_structure_type && !f->found_g && !strcmp(name, "runtime.g")) {
		f->found_g = 1;
		f->g_m = member_offset(die, "m");
		f->g_labels = member_offset(die, "labels");
	} else if (tag == DW_TAG_structure_type && !f->found_m && !strcmp(name, "runtime.m")) {
		f->found_m = 1;
		f->m_curg = member_offset(die, "curg");
	} else if (!f->kind && !strcmp(name, "runtime/pprof.labelMap")) {
		/* A struct whose first member is the sorted list, or a map. */
		if (tag == DW_TAG_structure_type)
			f->kind = member_offset(die, "list") == 0 ||
				  member_offset(die, "LabelSet") == 0 ? IGNIS_GO_LABELS_SLICE : -1;
		else if (tag == DW_TAG_typedef)
			f->kind = IGNIS_GO_LABELS_HMAP;
	}
}

static int read_dwarf(Elf *elf, struct goruntime *out)
{
	struct dwarf_find f = { -1, -1, -1, 0, 0, 0 };
	Dwarf *dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	Dwarf_Off off = 0, next;
	size_t hsize;
	int ret = -ENOENT;

	if (!dw)
		return -ENOENT;
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, die;

		if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_child(&cu, &die) == 0) {
			do
				look_at(&die, &f);
			while (dwarf_siblingof(&die, &die) == 0);
		}
		off = next;
		if (f.found_g && f.found_m && f.kind)
			break;
	}
	dwarf_end(dw);
	if (f.found_g || f.found_m) {
		if (f.g_m < 0 || f.m_curg < 0 || f.g_labels < 0)
			return -ENOTSUP;
		out->g_m = f.g_m;
		out->m_curg = f.m_curg;
		out->g_labels = f.g_labels;
		out->from_dwarf = 1;
		ret = 0;
		if (f.kind > 0)
			out->labels_kind = f.kind;
		else if (f.kind < 0)
			ret = -ENOTSUP;
	}
	return ret;
}

int goruntime__read(Elf *elf, struct goruntime *out, int flags)
{
	struct goruntime table = { 0 };
	int err, known;

	memset(out, 0, sizeof(*out));
	err = read_version(elf, out);
	if (err)
		return err;
	out->minor = goruntime__minor(out->version);
	if (out->minor < 0)
		return -ENOEXEC;
	if (out->minor < 17)
		return -ENOTSUP;
	err = read_tls(elf, out);
	if (err)
		return err;
	known = goruntime__table(out->minor, &table) == 0;
	if (known && !(flags & GORUNTIME_DWARF_FIRST)) {
		/* A version the table knows: no need to inflate the DWARF of
		 * a big binary on the sampling thread. */
		out->g_m = table.g_m;
		out->m_curg = table.m_curg;
		out->g_labels = table.g_labels;
		out->labels_kind = table.labels_kind;
		return 0;
	}
	/* The label set's representation comes with the version, unless the
	 * DWARF says what runtime/pprof.labelMap is. */
	out->labels_kind = out->minor <= 23 ? IGNIS_GO_LABELS_HMAP : IGNIS_GO_LABELS_SLICE;
	err = read_dwarf(elf, out);
	if (err == -ENOTSUP)
		return err;
	if (err == 0) {
		/* Go 1.24 made maps Swiss tables: a labelMap that is still a
		 * map there is a layout we do not walk. */
		if (out->labels_kind == IGNIS_GO_LABELS_HMAP && out->minor >= 24)
			return -ENOTSUP;
		return 0;
	}
	if (!known)
		return -ENOTSUP;
	out->g_m = table.g_m;
	out->m_curg = table.m_curg;
	out->g_labels = table.g_labels;
	out->labels_kind = table.labels_kind;
	return 0;
}
