/* Reader of the Go runtime's function table (pclntab).
 *
 * Layouts, from Go's runtime/symtab.go, runtime/runtime2.go,
 * cmd/link/internal/ld/pcln.go and debug/gosym/pclntab.go:
 *
 *   header   magic (its byte order is the binary's), 0, 0, pc quantum,
 *            pointer size, then pointer-sized words:
 *              1.2:   nfunc, functab follows at once
 *              1.16:  nfunc, nfiles, funcname, cu, filetab, pctab, pcln
 *              1.18+: nfunc, nfiles, textStart, funcname, cu, filetab,
 *                     pctab, pcln (offsets from the header; textStart is
 *                     0 from Go 1.26 on: moduledata.text has it)
 *   functab  nfunc pairs (entry, funcoff) and a last entry, the end of
 *            the last function: pointer-sized absolute addresses before
 *            1.18, uint32 offsets from textStart since
 *   _func    entry, nameoff, args, deferreturn, pcsp, pcfile, pcln,
 *            npcdata, cuOffset, [startLine 1.20+], funcID, flag, pad,
 *            nfuncdata; then npcdata uint32 pc-value table offsets and
 *            nfuncdata FUNCDATA: absolute pointers (pointer aligned)
 *            before 1.18, uint32 offsets from moduledata.gofunc since
 *
 * A pc-value table is a run of (zig-zag value delta, pc delta / quantum)
 * varint pairs starting from value -1 at the function's entry.
 *
 * Inlined calls: the pcdata InlTreeIndex table gives, at a pc, an index
 * into the function's FUNCDATA InlTree array (or -1); that entry names the
 * inlined function and gives parentPc, an offset from the entry of an
 * instruction at the call site, where the lookup starts again. File and
 * line of every frame come from the outer function's pcfile/pcln tables
 * at the pc of that step, as the runtime's traceback does.
 *
 * Nothing read from the file is trusted: each read is checked against the
 * bytes it comes from, and the functab is checked to be sorted before any
 * binary search runs over it. */
#include <errno.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/log.h"
#include "symbolizer/gopclntab.h"

#define MAGIC_12 0xfffffffbu
#define MAGIC_116 0xfffffffau
#define MAGIC_118 0xfffffff0u
#define MAGIC_120 0xfffffff1u

enum format { FMT_12 = 12, FMT_116 = 116, FMT_118 = 118, FMT_120 = 120 };

#define PCDATA_INLTREEINDEX 2
#define FUNCDATA_INLTREE 3

/* Inline chains longer than this are cut (a cycle in a corrupt table
 * would otherwise never end). */
#define MAX_INLINE_DEPTH 32
/* Sections we may read FUNCDATA from; Go binaries have about 25. */
#define MAX_REGIONS 48

/* One allocated section of the binary, its bytes loaded on first use. */
struct region {
	uint64_t vaddr, size;
	Elf_Scn *scn;
	const uint8_t *data;
	const char *name;
	bool exec, tried;
};

/* The function table proper: offsets are from its first byte. */
struct table {
	const uint8_t *data;
	size_t size;
	uint64_t vaddr;
	enum format fmt;
	bool big;
	uint8_t quantum, ptrsize;
	uint64_t text_start; /* 1.18+: what entry offsets count from */
	uint64_t text_hdr;   /* textStart as the header has it (0 from 1.26) */
	uint32_t nfunc;
	size_t ftab, fsz;            /* functab: offset, field size */
	size_t funcs;                /* what funcoff counts from */
	size_t names, cutab, files, pctab;
	size_t ncu;                  /* uint32 entries from cutab to the end */
	uint32_t nfiles12;           /* 1.2: entries of the file table */
	size_t func_hdr;             /* bytes of _func before its pcdata */
};

struct gopclntab {
	struct table t;
	Elf *elf;
	uint64_t gofunc;
	bool have_gofunc;
	struct region regions[MAX_REGIONS];
	size_t nr_regions;
	size_t loaded_bytes;
	bool relocs_counted;
};

/* ---- raw reads ---------------------------------------------------------- */

static uint32_t get32(const uint8_t *p, bool big)
{
	if (big)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t get_ptr(const uint8_t *p, bool big, unsigned size)
{
	uint64_t hi, lo;

	if (size == 4)
		return get32(p, big);
	hi = get32(p + (big ? 0 : 4), big);
	lo = get32(p + (big ? 4 : 0), big);
	return hi << 32 | lo;
}

/* len bytes at off in the table, or NULL when they are not all there. */
static const uint8_t *at(const struct table *t, uint64_t off, uint64_t len)
{
	if (off > t->size || len > t->size - off)
		return NULL;
	return t->data + off;
}

static bool rd32(const struct table *t, uint64_t off, uint32_t *v)
{
	const uint8_t *p = at(t, off, 4);

	if (!p)
		return false;
	*v = get32(p, t->big);
	return true;
}

static bool rd_ptr(const struct table *t, uint64_t off, uint64_t *v)
{
	const uint8_t *p = at(t, off, t->ptrsize);

	if (!p)
		return false;
	*v = get_ptr(p, t->big, t->ptrsize);
	return true;
}

/* The NUL-terminated string at base+off, or NULL when it runs off the end. */
static const char *cstr(const struct table *t, size_t base, uint64_t off)
{
	const uint8_t *p = at(t, base, 0);

	if (!p || off >= t->size - base)
		return NULL;
	p += off;
	if (!memchr(p, 0, t->data + t->size - p))
		return NULL;
	return (const char *)p;
}

/* ---- header and functab ------------------------------------------------- */

/* Each header version: its magic, and the words (nfunc, nfiles, then the
 * offsets of the regions) that follow the 8 fixed bytes. */
static const struct {
	uint32_t magic;
	enum format fmt;
	size_t nwords;
} formats[] = {
	{ MAGIC_12, FMT_12, 1 },
	{ MAGIC_116, FMT_116, 7 },
	{ MAGIC_118, FMT_118, 8 },
	{ MAGIC_120, FMT_120, 8 },
};

static int parse_header(struct table *t)
{
	uint64_t w[8] = { 0 }, nfunc, need;
	size_t nwords, i, k, hdr;
	uint32_t magic, fileoff;

	if (t->size < 16)
		return -ENOEXEC;
	if (t->data[4] || t->data[5])
		return -ENOEXEC;
	t->quantum = t->data[6];
	t->ptrsize = t->data[7];
	if ((t->quantum != 1 && t->quantum != 2 && t->quantum != 4) ||
	    (t->ptrsize != 4 && t->ptrsize != 8))
		return -ENOEXEC;
	/* The magic says the byte order too: try little-endian, then big. */
	for (k = 0; k < 2 * ARRAY_SIZE(formats); k++) {
		t->big = k >= ARRAY_SIZE(formats);
		magic = get32(t->data, t->big);
		if (magic == formats[k % ARRAY_SIZE(formats)].magic)
			break;
	}
	if (k == 2 * ARRAY_SIZE(formats))
		return -ENOEXEC;
	t->fmt = formats[k % ARRAY_SIZE(formats)].fmt;
	nwords = formats[k % ARRAY_SIZE(formats)].nwords;
	hdr = 8 + nwords * t->ptrsize;
	for (i = 0; i < nwords; i++)
		if (!rd_ptr(t, 8 + i * t->ptrsize, &w[i]))
			return -ENOEXEC;
	nfunc = w[0];
	if (t->fmt == FMT_12) {
		t->fsz = t->ptrsize;
		t->ftab = hdr;
		t->funcs = t->names = t->pctab = 0;
	} else {
		/* The offsets of the regions come after nfunc, nfiles and,
		 * from 1.18, textStart. */
		size_t first = t->fmt == FMT_116 ? 2 : 3;

		for (i = first; i < nwords; i++)
			if (w[i] < hdr || w[i] > t->size)
				return -ENOEXEC;
		t->text_hdr = t->fmt == FMT_116 ? 0 : w[2];
		t->names = w[first];
		t->cutab = w[first + 1];
		t->files = w[first + 2];
		t->pctab = w[first + 3];
		t->funcs = t->ftab = w[first + 4];
		t->fsz = t->fmt == FMT_116 ? t->ptrsize : 4;
		t->ncu = (t->size - t->cutab) / 4;
	}
	if (nfunc == 0 || nfunc > UINT32_MAX || nfunc > (t->size - t->ftab) / (2 * t->fsz))
		return -ENOEXEC;
	t->nfunc = nfunc;
	need = (2 * nfunc + 1) * t->fsz;
	if (!at(t, t->ftab, need))
		return -ENOEXEC;
	switch (t->fmt) {
	case FMT_12:
		/* The file table's offset follows the functab: a count, then
		 * one string offset per file (entry 0 unused). */
		if (!rd32(t, t->ftab + need, &fileoff) || !rd32(t, fileoff, &t->nfiles12) ||
		    !at(t, fileoff, (uint64_t)t->nfiles12 * 4))
			return -ENOEXEC;
		t->files = fileoff;
		t->func_hdr = t->ptrsize + 28;
		break;
	case FMT_116:
		t->func_hdr = t->ptrsize + 36;
		break;
	case FMT_118:
		t->func_hdr = 40;
		break;
	case FMT_120:
		t->func_hdr = 44;
		break;
	}
	return 0;
}

static uint64_t ftab_word(const struct table *t, uint64_t idx)
{
	const uint8_t *p = t->data + t->ftab + idx * t->fsz;

	return t->fsz == 4 ? get32(p, t->big) : get_ptr(p, t->big, 8);
}

/* Entry address of function i (i == nfunc: the end of the last one). */
static uint64_t func_pc(const struct table *t, uint32_t i)
{
	uint64_t v = ftab_word(t, 2 * (uint64_t)i);

	return t->fmt >= FMT_118 ? t->text_start + v : v;
}

static uint64_t func_off(const struct table *t, uint32_t i)
{
	return t->funcs + ftab_word(t, 2 * (uint64_t)i + 1);
}

/* Sorted entries, every _func header inside the table: after this the
 * lookups may binary-search and read headers without more checks. */
static int validate_functab(const struct table *t)
{
	uint64_t prev = 0, pc;
	uint32_t i;

	if (t->fmt >= FMT_118 && t->text_start > UINT64_MAX - UINT32_MAX)
		return -ENOEXEC;
	for (i = 0; i <= t->nfunc; i++) {
		pc = func_pc(t, i);
		if (pc < prev)
			return -ENOEXEC;
		prev = pc;
		if (i < t->nfunc && !at(t, func_off(t, i), t->func_hdr))
			return -ENOEXEC;
	}
	return 0;
}

/* ---- regions: the rest of the binary, for FUNCDATA and moduledata ------- */

static const uint8_t *region_bytes(struct gopclntab *g, struct region *r)
{
	Elf_Data *d;

	if (r->data || r->tried || !r->scn)
		return r->data;
	r->tried = true;
	d = elf_getdata(r->scn, NULL);
	if (!d || !d->d_buf || d->d_size != r->size)
		return NULL;
	r->data = d->d_buf;
	g->loaded_bytes += r->size;
	return r->data;
}

/* len bytes at link-time address vaddr from a data section (never text:
 * a stray pointer must not make us load the code), or NULL. */
static const uint8_t *read_at(struct gopclntab *g, uint64_t vaddr, uint64_t len)
{
	const struct table *t = &g->t;
	const uint8_t *p;
	size_t i;

	if (vaddr >= t->vaddr && vaddr - t->vaddr <= t->size && len <= t->size - (vaddr - t->vaddr))
		return t->data + (vaddr - t->vaddr);
	for (i = 0; i < g->nr_regions; i++) {
		struct region *r = &g->regions[i];

		if (r->exec || vaddr < r->vaddr || vaddr - r->vaddr >= r->size ||
		    len > r->size - (vaddr - r->vaddr))
			continue;
		p = region_bytes(g, r);
		return p ? p + (vaddr - r->vaddr) : NULL;
	}
	return NULL;
}

static struct region *region_named(struct gopclntab *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->nr_regions; i++)
		if (!strcmp(g->regions[i].name, name))
			return &g->regions[i];
	return NULL;
}

static bool in_text(const struct gopclntab *g, uint64_t vaddr)
{
	size_t i;

	for (i = 0; i < g->nr_regions; i++)
		if (g->regions[i].exec && vaddr >= g->regions[i].vaddr &&
		    vaddr - g->regions[i].vaddr < g->regions[i].size)
			return true;
	return false;
}

/* The addend of a relative dynamic relocation of the word at vaddr: what a
 * linker that leaves relocated words zero in the file (lld) meant there. */
static bool reloc_addend(struct gopclntab *g, uint64_t vaddr, uint64_t *v)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	GElf_Rela rela;
	Elf_Data *d;
	size_t n, i;
	bool found = false;

	if (!g->elf)
		return false;
	/* Every relocation section is loaded (and counted) on the first call:
	 * later calls find them loaded. */
	while ((scn = elf_nextscn(g->elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize)
			continue;
		if (found && g->relocs_counted)
			break;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		if (!g->relocs_counted)
			g->loaded_bytes += sh.sh_size;
		n = d->d_size / sh.sh_entsize;
		for (i = 0; i < n && !found; i++) {
			if (!gelf_getrela(d, i, &rela))
				break;
			if (rela.r_offset == vaddr && GELF_R_SYM(rela.r_info) == 0 && rela.r_addend) {
				*v = rela.r_addend;
				found = true;
			}
		}
	}
	g->relocs_counted = true;
	return found;
}

/* A pointer-sized word of the binary at vaddr, relocated if need be. */
static bool read_word(struct gopclntab *g, uint64_t vaddr, uint64_t *v)
{
	const uint8_t *p = read_at(g, vaddr, g->t.ptrsize);

	if (!p)
		return false;
	*v = get_ptr(p, g->t.big, g->t.ptrsize);
	return *v || reloc_addend(g, vaddr, v);
}

/* moduledata (runtime/symtab.go) starts with the header's address, the
 * funcnametab slice and four more slices, the ftab slice, findfunctab,
 * minpc, maxpc, then text. */
#define MD_FUNCNAMETAB 1
#define MD_TEXT 22
/* gofunc: after etext, noptrdata..enoptrbss (9 words), covctrs and
 * ecovctrs (1.20+), end, gcdata, gcbss, types, etypes, rodata. */
#define MD_GOFUNC_118 38
#define MD_GOFUNC_120 40

static bool moduledata_ok(struct gopclntab *g, uint64_t md)
{
	const struct table *t = &g->t;
	uint64_t names, text;

	if (!read_word(g, md + MD_FUNCNAMETAB * t->ptrsize, &names) ||
	    names != t->vaddr + t->names || !read_word(g, md + MD_TEXT * t->ptrsize, &text))
		return false;
	return t->text_start ? text == t->text_start : in_text(g, text);
}

/* Where runtime.firstmoduledata is: the start of .go.module (Go 1.26+),
 * else a word of the data sections holding the table's address. */
static bool find_moduledata(struct gopclntab *g, uint64_t *md)
{
	static const char *const scan[] = { ".noptrdata", ".data", ".data.rel.ro" };
	const struct table *t = &g->t;
	struct region *r = region_named(g, ".go.module");
	const uint8_t *p;
	uint64_t off;
	size_t i;

	if (r && moduledata_ok(g, r->vaddr)) {
		*md = r->vaddr;
		return true;
	}
	for (i = 0; i < sizeof(scan) / sizeof(scan[0]); i++) {
		r = region_named(g, scan[i]);
		if (!r || !(p = region_bytes(g, r)))
			continue;
		off = (t->ptrsize - r->vaddr % t->ptrsize) % t->ptrsize;
		for (; off + t->ptrsize <= r->size; off += t->ptrsize) {
			if (get_ptr(p + off, t->big, t->ptrsize) == t->vaddr &&
			    moduledata_ok(g, r->vaddr + off)) {
				*md = r->vaddr + off;
				return true;
			}
		}
	}
	return false;
}

/* ---- pc-value tables ---------------------------------------------------- */

static bool varint(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	uint32_t r = 0;
	unsigned shift;

	for (shift = 0; shift < 35 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		r |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* The value table off gives at target in a function that starts at entry;
 * -1 where it gives none, as in the runtime. */
static int32_t pcvalue(const struct table *t, uint32_t off, uint64_t entry, uint64_t target)
{
	const uint8_t *p = at(t, (uint64_t)t->pctab + off, 0), *end = t->data + t->size;
	uint64_t pc = entry;
	uint32_t val = (uint32_t)-1, uv, pcd;

	if (!off || !p)
		return -1;
	/* Every step eats at least two bytes: the loop ends with the table. */
	for (;;) {
		bool first = pc == entry;

		if (!varint(&p, end, &uv) || (uv == 0 && !first))
			return -1;
		uv = uv & 1 ? ~(uv >> 1) : uv >> 1;
		if (!varint(&p, end, &pcd))
			return -1;
		pc += (uint64_t)pcd * t->quantum;
		val += uv;
		if (target < pc)
			return (int32_t)val;
	}
}

/* ---- one function ------------------------------------------------------- */

struct func {
	uint64_t off, entry, end;
};

static bool field(const struct table *t, const struct func *f, unsigned n, uint32_t *v)
{
	return rd32(t, f->off + (t->fmt >= FMT_118 ? 4 : t->ptrsize) + (n - 1) * 4, v);
}

#define F_NAMEOFF 1
#define F_PCSP 4
#define F_PCFILE 5
#define F_PCLN 6
#define F_NPCDATA 7
#define F_CUOFFSET 8
#define F_STARTLINE 9

static const char *file_name(const struct table *t, const struct func *f, int32_t fno)
{
	uint32_t cu, off;

	if (t->fmt == FMT_12) {
		if (fno <= 0 || (uint32_t)fno >= t->nfiles12 || !rd32(t, t->files + 4 * (uint64_t)fno, &off))
			return NULL;
		return cstr(t, 0, off);
	}
	if (fno < 0 || !field(t, f, F_CUOFFSET, &cu) || cu == UINT32_MAX ||
	    (uint64_t)cu + (uint32_t)fno >= t->ncu || !rd32(t, t->cutab + 4 * ((uint64_t)cu + fno), &off) ||
	    off == UINT32_MAX)
		return NULL;
	return cstr(t, t->files, off);
}

/* File and line at pc, as the pcfile and pcln tables have them. */
static void file_line(const struct table *t, const struct func *f, uint64_t pc,
		      struct sym_frame *fr)
{
	uint32_t pcfile, pcln;
	int32_t line;

	fr->file = NULL;
	fr->line = 0;
	if (pc < f->entry || pc >= f->end || !field(t, f, F_PCFILE, &pcfile) ||
	    !field(t, f, F_PCLN, &pcln))
		return;
	fr->file = file_name(t, f, pcvalue(t, pcfile, f->entry, pc));
	line = pcvalue(t, pcln, f->entry, pc);
	fr->line = line > 0 ? (uint32_t)line : 0;
}

static int32_t pcdata(const struct table *t, const struct func *f, uint32_t table, uint64_t pc)
{
	uint32_t n, off;

	if (t->fmt == FMT_12 || !field(t, f, F_NPCDATA, &n) || table >= n ||
	    !rd32(t, f->off + t->func_hdr + 4 * table, &off))
		return -1;
	return pcvalue(t, off, f->entry, pc);
}

/* Link-time address of FUNCDATA item k, false when the function has none. */
static bool funcdata(const struct gopclntab *g, const struct func *f, uint32_t k, uint64_t *addr)
{
	const struct table *t = &g->t;
	uint32_t npcdata, off;
	uint64_t p;
	uint8_t nfuncdata;

	if (t->fmt == FMT_12 || !field(t, f, F_NPCDATA, &npcdata))
		return false;
	nfuncdata = t->data[f->off + t->func_hdr - 1];
	if (k >= nfuncdata)
		return false;
	p = f->off + t->func_hdr + 4 * (uint64_t)npcdata;
	if (t->fmt >= FMT_118) {
		if (!g->have_gofunc || !rd32(t, p + 4 * k, &off) || off == UINT32_MAX)
			return false;
		*addr = g->gofunc + off;
		return true;
	}
	/* Pointers are aligned in memory, where the table is aligned too. */
	if (t->ptrsize == 8 && ((t->vaddr + p) & 4))
		p += 4;
	return rd_ptr(t, p + (uint64_t)k * t->ptrsize, addr) && *addr;
}

/* One inlinedCall: 1.16-1.19 {parent int16, funcID, pad, file, line,
 * func_, parentPc}, 1.20+ {funcID, pad[3], nameOff, parentPc, startLine}. */
struct inl_call {
	uint32_t name_off, parent_pc;
	int32_t start_line;
};

static bool inl_call(struct gopclntab *g, uint64_t tree, int32_t ix, struct inl_call *c)
{
	const struct table *t = &g->t;
	uint64_t size = t->fmt >= FMT_120 ? 16 : 20;
	const uint8_t *p;

	if (ix < 0 || tree > UINT64_MAX - (uint64_t)ix * size - size)
		return false;
	p = read_at(g, tree + (uint64_t)ix * size, size);
	if (!p)
		return false;
	if (t->fmt >= FMT_120) {
		c->name_off = get32(p + 4, t->big);
		c->parent_pc = get32(p + 8, t->big);
		c->start_line = (int32_t)get32(p + 12, t->big);
	} else {
		c->name_off = get32(p + 12, t->big);
		c->parent_pc = get32(p + 16, t->big);
		c->start_line = 0;
	}
	return true;
}

/* ---- public ------------------------------------------------------------- */

int gopclntab__lookup(struct gopclntab *g, uint64_t vaddr, struct sym_frame *out, size_t max)
{
	const struct table *t;
	struct sym_frame outer = { 0 };
	struct inl_call call;
	struct func f;
	uint64_t tree, pc = vaddr;
	uint32_t lo, hi, mid, name_off, start;
	size_t n = 0, depth;
	bool have_tree;
	int32_t ix;

	if (!g || !out || !max)
		return -EINVAL;
	t = &g->t;
	if (vaddr < func_pc(t, 0) || vaddr >= func_pc(t, t->nfunc))
		return -ENOENT;
	/* The last function whose entry is at or below vaddr. */
	lo = 0;
	hi = t->nfunc;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (func_pc(t, mid) <= vaddr)
			lo = mid;
		else
			hi = mid;
	}
	f.entry = func_pc(t, lo);
	f.end = func_pc(t, lo + 1);
	f.off = func_off(t, lo);
	if (!field(t, &f, F_NAMEOFF, &name_off) || !(outer.name = cstr(t, t->names, name_off)))
		return -ENOEXEC;
	if (t->fmt >= FMT_120 && field(t, &f, F_STARTLINE, &start) && (int32_t)start > 0)
		outer.start_line = start;

	have_tree = funcdata(g, &f, FUNCDATA_INLTREE, &tree);
	for (depth = 0; have_tree && depth < MAX_INLINE_DEPTH; depth++) {
		struct sym_frame fr = { 0 };

		ix = pcdata(t, &f, PCDATA_INLTREEINDEX, pc);
		if (ix < 0 || !inl_call(g, tree, ix, &call) ||
		    !(fr.name = cstr(t, t->names, call.name_off)))
			break;
		file_line(t, &f, pc, &fr);
		fr.start_line = call.start_line > 0 ? (uint32_t)call.start_line : 0;
		/* Keep the innermost frames and room for the function. */
		if (n + 1 < max)
			out[n++] = fr;
		pc = f.entry + call.parent_pc;
	}
	file_line(t, &f, pc, &outer);
	out[n++] = outer;
	return n;
}

size_t gopclntab__nfunc(const struct gopclntab *g)
{
	return g ? g->t.nfunc : 0;
}

static int func_at(const struct table *t, size_t i, struct func *f)
{
	if (i >= t->nfunc)
		return -ERANGE;
	f->entry = func_pc(t, i);
	f->end = func_pc(t, i + 1);
	f->off = func_off(t, i);
	return 0;
}

int gopclntab__func(const struct gopclntab *g, size_t i, struct gopclntab_func *out)
{
	const struct table *t;
	uint32_t name_off;
	struct func f;
	int err;

	if (!g || !out)
		return -EINVAL;
	t = &g->t;
	err = func_at(t, i, &f);
	if (err)
		return err;
	out->entry = f.entry;
	out->end = f.end;
	out->name = field(t, &f, F_NAMEOFF, &name_off) ? cstr(t, t->names, name_off) : NULL;
	/* validate_functab saw the whole header: the flag byte is there. */
	out->flag = t->fmt >= FMT_118 ? t->data[f.off + t->func_hdr - 3] : 0;
	return 0;
}

int gopclntab__pcsp(const struct gopclntab *g, size_t i, gopclntab_pcsp_fn fn, void *arg)
{
	const struct table *t;
	const uint8_t *p, *end;
	uint32_t off, uv, pcd, val = (uint32_t)-1;
	uint64_t pc, next;
	struct func f;
	bool first = true;
	int err;

	if (!g || !fn)
		return -EINVAL;
	t = &g->t;
	err = func_at(t, i, &f);
	if (err)
		return err;
	if (!field(t, &f, F_PCSP, &off))
		return -ENOEXEC;
	/* C code an internal link with cgo brought in has no table. */
	if (!off)
		return -ENOENT;
	if (!(p = at(t, (uint64_t)t->pctab + off, 0)))
		return -ENOEXEC;
	end = t->data + t->size;
	/* The same decoding as pcvalue(), every run instead of one pc; each
	 * step eats two bytes at least, so the loop ends with the table. */
	for (pc = f.entry; pc < f.end; pc = next, first = false) {
		if (!varint(&p, end, &uv))
			return -ENOEXEC;
		if (uv == 0 && !first)
			return 0;
		uv = uv & 1 ? ~(uv >> 1) : uv >> 1;
		if (!varint(&p, end, &pcd))
			return -ENOEXEC;
		val += uv;
		next = pc + (uint64_t)pcd * t->quantum;
		if (next > f.end)
			next = f.end;
		if (next == pc)
			continue;
		err = fn(arg, pc, next, (int32_t)val);
		if (err)
			return err;
	}
	return 0;
}

const char *gopclntab__format(const struct gopclntab *g)
{
	switch (g->t.fmt) {
	case FMT_12:
		return "go1.2";
	case FMT_116:
		return "go1.16";
	case FMT_118:
		return "go1.18";
	case FMT_120:
		return "go1.20";
	}
	return "?";
}

size_t gopclntab__bytes(const struct gopclntab *g)
{
	return g ? sizeof(*g) + g->loaded_bytes : 0;
}

void gopclntab__set_gofunc(struct gopclntab *g, uint64_t gofunc)
{
	g->gofunc = gofunc;
	g->have_gofunc = true;
}

void gopclntab__free(struct gopclntab *g)
{
	free(g);
}

/* Reads the header at data and checks the functab; the ELF (when there is
 * one) supplies runtime.text where the header does not. */
static int init_table(struct gopclntab *g, const uint8_t *data, size_t size, uint64_t vaddr,
		      uint64_t text_fallback)
{
	struct table *t = &g->t;
	uint64_t md, v;
	int err;

	memset(t, 0, sizeof(*t));
	t->data = data;
	t->size = size;
	t->vaddr = vaddr;
	err = parse_header(t);
	if (err)
		return err;
	if (t->fmt >= FMT_118) {
		t->text_start = t->text_hdr;
		/* Zero: left to a relocation (lld), or no longer recorded
		 * (Go 1.26+, where moduledata.text has it). */
		if (!t->text_start && g->elf && reloc_addend(g, vaddr + 8 + 2 * t->ptrsize, &v))
			t->text_start = v;
		if (!t->text_start && g->elf && find_moduledata(g, &md))
			read_word(g, md + MD_TEXT * t->ptrsize, &t->text_start);
		if (!t->text_start)
			t->text_start = text_fallback;
	}
	return validate_functab(t);
}

struct gopclntab *gopclntab__open_mem(const void *data, size_t size, uint64_t section_vaddr,
				      uint64_t text_vaddr)
{
	struct gopclntab *g = calloc(1, sizeof(*g));
	int err;

	if (!g)
		return NULL;
	if (!data) {
		err = -ENOENT;
		goto cleanup;
	}
	err = init_table(g, data, size, section_vaddr, text_vaddr);
	if (err)
		goto cleanup;
	return g;
cleanup:
	free(g);
	errno = -err;
	return NULL;
}

static bool magic_at(const uint8_t *p)
{
	uint32_t le = get32(p, false), be = get32(p, true);

	return (le == MAGIC_12 || le == MAGIC_116 || le == MAGIC_118 || le == MAGIC_120 ||
		be == MAGIC_12 || be == MAGIC_116 || be == MAGIC_118 || be == MAGIC_120) &&
	       !p[4] && !p[5];
}

/* Without a section header for it (external linking merges .gopclntab
 * into .data.rel.ro), the table is found by its magic and a header and
 * functab that check out. Only in binaries a Go linker marked. */
static int scan_for_table(struct gopclntab *g, uint64_t text_fallback)
{
	static const char *const where[] = { ".data.rel.ro", ".rodata" };
	const uint8_t *p;
	struct region *r;
	uint64_t off;
	size_t i;

	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		r = region_named(g, where[i]);
		if (!r || !(p = region_bytes(g, r)))
			continue;
		for (off = (8 - r->vaddr % 8) % 8; off + 16 <= r->size; off += 8)
			if (magic_at(p + off) &&
			    !init_table(g, p + off, r->size - off, r->vaddr + off, text_fallback))
				return 0;
	}
	return -ENOENT;
}

struct gopclntab *gopclntab__open(Elf *elf)
{
	struct gopclntab *g = NULL;
	struct region *tab = NULL;
	const uint8_t *p;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	uint64_t text_sec = 0, md;
	size_t shstrndx;
	bool go_marked = false;
	const char *name;
	int err;

	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx)) {
		err = -ENOENT;
		goto cleanup;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		err = -ENOMEM;
		goto cleanup;
	}
	g->elf = elf;
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)))
			continue;
		if (!strcmp(name, ".text"))
			text_sec = sh.sh_addr;
		if (!strcmp(name, ".go.buildinfo") || !strcmp(name, ".note.go.buildid"))
			go_marked = true;
		if (!(sh.sh_flags & SHF_ALLOC) || sh.sh_type != SHT_PROGBITS || !sh.sh_size ||
		    g->nr_regions == MAX_REGIONS)
			continue;
		g->regions[g->nr_regions] = (struct region){
			.vaddr = sh.sh_addr,
			.size = sh.sh_size,
			.scn = scn,
			.name = name,
			.exec = sh.sh_flags & SHF_EXECINSTR,
		};
		if (!strcmp(name, ".gopclntab") || !strcmp(name, ".data.rel.ro.gopclntab"))
			tab = &g->regions[g->nr_regions];
		g->nr_regions++;
	}

	if (tab) {
		p = region_bytes(g, tab);
		err = p ? init_table(g, p, tab->size, tab->vaddr, text_sec) : -ENOEXEC;
	} else {
		err = go_marked ? scan_for_table(g, text_sec) : -ENOENT;
	}
	if (err)
		goto cleanup;

	/* Inline trees (FUNCDATA) are at offsets from moduledata.gofunc. */
	if (g->t.fmt >= FMT_118 && find_moduledata(g, &md) &&
	    read_word(g, md + (g->t.fmt == FMT_118 ? MD_GOFUNC_118 : MD_GOFUNC_120) * g->t.ptrsize,
		      &g->gofunc))
		g->have_gofunc = true;
	if (g->t.fmt >= FMT_118 && !g->have_gofunc)
		pr_debug("gopclntab: no moduledata found, inlined frames unavailable\n");
	return g;
cleanup:
	if (err != -ENOENT)
		pr_debug("gopclntab: unusable function table: %s\n", strerror(-err));
	free(g);
	errno = -err;
	return NULL;
}

struct gopclntab_stops {
	size_t n;
	struct {
		uint64_t lo, hi;
		uint8_t flag;
	} r[];
};

struct gopclntab_stops *gopclntab__stops(Elf *elf)
{
	struct gopclntab *g = elf ? gopclntab__open(elf) : NULL;
	struct gopclntab_stops *st = NULL;
	struct gopclntab_func f;
	size_t n = 0, cap = 0;

	if (!g)
		return NULL;
	for (size_t i = 0; i < gopclntab__nfunc(g); i++) {
		if (gopclntab__func(g, i, &f) ||
		    !(f.flag & (GOPCLNTAB_FLAG_TOPFRAME | GOPCLNTAB_FLAG_SPWRITE)) ||
		    f.end <= f.entry)
			continue;
		if (n == cap) {
			struct gopclntab_stops *bigger;

			cap = cap ? 2 * cap : 16;
			bigger = realloc(st, sizeof(*st) + cap * sizeof(st->r[0]));
			if (!bigger) {
				free(st);
				st = NULL;
				break;
			}
			st = bigger;
		}
		st->r[n].lo = f.entry;
		st->r[n].hi = f.end;
		st->r[n].flag = f.flag;
		n++;
	}
	gopclntab__free(g);
	if (st)
		st->n = n;
	return st;
}

void gopclntab_stops__free(struct gopclntab_stops *s)
{
	free(s);
}

uint8_t gopclntab_stops__at(const struct gopclntab_stops *s, uint64_t vaddr)
{
	size_t lo = 0, hi = s ? s->n : 0;

	/* sorted and disjoint: the table's functions are (checked at open) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (vaddr < s->r[mid].lo)
			hi = mid;
		else if (vaddr >= s->r[mid].hi)
			lo = mid + 1;
		else
			return s->r[mid].flag;
	}
	return 0;
}
