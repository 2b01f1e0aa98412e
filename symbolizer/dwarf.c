#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/hashmap.h"
#include "base/log.h"
#include "symbolizer/demangle.h"
#include "symbolizer/dwarf.h"
#include "symbolizer/dwlines.h"

#define NONE UINT32_MAX

/* DIE nesting followed inside one unit. Real code nests inline calls and
 * lexical blocks a few dozen deep; deeper subtrees are left out rather
 * than walked, so a hostile file cannot make a chain (or the walk's stack)
 * arbitrarily long. */
#define MAX_DEPTH 256
/* Code ranges kept per DIE: a function split hot/cold has a handful, an
 * inlined call scattered by the scheduler a few hundred at worst. */
#define MAX_DIE_RANGES 1024
/* How far a span lookup walks back over earlier spans that might still
 * cover the address. Spans of one kind do not nest in sane DWARF, so the
 * first step almost always decides; the bound keeps a file with one huge
 * bogus range from making every lookup linear. */
#define MAX_WALK_BACK 64

struct dw_range {
	uint64_t lo, hi;
};

/* An address range of a unit (in d->cu_spans) or of an out-of-line
 * function (in a unit's spans), sorted by lo; maxhi is the largest hi of
 * this span and all before it, which tells a lookup when to stop walking
 * back. */
struct dw_span {
	uint64_t lo, hi, maxhi;
	uint32_t idx;		/* unit index, or node index of the function */
};

/* A function in a unit, out of line (parent NONE) or inlined, in preorder:
 * the nodes inside node i are i+1 .. end-1. */
struct dw_node {
	Dwarf_Off die_off;
	uint32_t range_first, nr_ranges;	/* into the unit's ranges */
	uint32_t end;
	uint32_t parent;
	uint32_t info;		/* into d->infos; 0 until a lookup needs it */
};

/* What a frame shows about a node, read from its DIE on first use. */
struct dw_info {
	const char *name, *system_name;
	const char *call_file;	/* where the node was inlined; NULL when unknown */
	uint32_t call_line, start_line;
};

struct dw_cu {
	Dwarf_Die die;
	Dwarf_Half version;
	bool indexed;
	bool lazy;		/* found through .debug_aranges: DIE not read yet */
	bool has_ranges;
	bool lines_read;
	/* Read on the first lookup that needs a file or a line, by our own
	 * reader (symbolizer/dwlines.h): libdw's keeps 90 bytes for every
	 * row until dwarf_end, ours 16 for the rows a lookup can return.
	 * NULL when the unit has none, or it could not be read. */
	struct dwl_table *lines;
	struct dw_node *nodes;
	struct dw_range *ranges;
	struct dw_span *spans;
	uint32_t nr_nodes, nr_ranges, nr_spans;
};

/* A demangled linkage name, shared by every node (inlined copies
 * included) that carries the same mangled string. */
struct dw_name {
	struct hashmap_node node;
	const char *mangled;	/* libdw's string, lives as long as the Dwarf */
	char *demangled;	/* NULL when it does not demangle */
};

struct dwarf_debug {
	int fd;
	Elf *elf;
	Dwarf *dw;
	bool is_rel;

	struct dw_cu *cus;
	uint32_t nr_cus, cap_cus;
	struct dw_span *cu_spans;
	uint32_t nr_cu_spans, cap_cu_spans;

	struct dw_info *infos;
	uint32_t nr_infos, cap_infos;
	struct dwl_sections line_sections;
	struct hashmap names;
	struct hashmap qnames;

	size_t section_bytes;
	size_t heap_bytes;
	size_t libdw_read_bytes;  /* libdw's share of the units read (below) */
};

/* What libdw keeps of its own, which none of its calls reports, until
 * dwarf_end: measured with mallinfo2 against what is counted here
 * (test_dwarf's test_dwarf_bytes_follow_the_heap), over libc's debug file
 * and pyenv's CPython 3.9, 3.11 and 3.13 libraries: 1.1-1.2 KiB for every
 * unit it knows of (its record of the unit, made at open by the aranges
 * or the walk over the units), about 1.5 KiB more for every unit whose DIE
 * tree is read (the unit's abbreviations), and 13-24 bytes more for each
 * node that walk indexes (the larger the unit, the more abbreviations). */
#define LIBDW_UNIT_BYTES      1152
#define LIBDW_READ_UNIT_BYTES 1536
#define LIBDW_NODE_BYTES      16

static const char unknown_name[] = "??";

static pthread_once_t libelf_once = PTHREAD_ONCE_INIT;
static bool libelf_ok;

static void libelf_init(void)
{
	libelf_ok = elf_version(EV_CURRENT) != EV_NONE;
}

/* Makes room for need elements in the array at p (capacity *cap),
 * counting the growth in d's heap bytes. */
static int vec_reserve(struct dwarf_debug *d, void *p, uint32_t *cap, uint32_t need,
		       size_t elem)
{
	void **pp = p, *q;
	uint64_t n;

	if (need <= *cap)
		return 0;
	for (n = *cap ? *cap : 16; n < need; n *= 2)
		;
	if (n > UINT32_MAX)
		return -ENOMEM;
	q = realloc(*pp, n * elem);
	if (!q)
		return -ENOMEM;
	d->heap_bytes += (n - *cap) * elem;
	*pp = q;
	*cap = n;
	return 0;
}

/* Gives back the capacity of the array at p past its n elements. */
static void vec_shrink(struct dwarf_debug *d, void *p, uint32_t *cap, uint32_t n, size_t elem)
{
	void **pp = p, *q;

	if (n == 0 || n >= *cap)
		return;
	q = realloc(*pp, (size_t)n * elem);
	if (!q)
		return;
	d->heap_bytes -= (size_t)(*cap - n) * elem;
	*pp = q;
	*cap = n;
}

/* ---- ranges and spans -------------------------------------------------- */

/* Appends the code ranges of die to *ranges; how many, or -ENOMEM. */
static int read_ranges(struct dwarf_debug *d, Dwarf_Die *die, struct dw_range **ranges,
		       uint32_t *nr, uint32_t *cap)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;
	int n = 0, steps = 0, err;

	/* A range list libdw cannot read ends the loop: the ranges before
	 * the bad entry are still good. */
	while (n < MAX_DIE_RANGES && steps++ < 4 * MAX_DIE_RANGES &&
	       (off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
		/* Linkers resolve the ranges of code they dropped to 0 (or to
		 * a -1/-2 tombstone, which wraps to hi <= lo); in a linked
		 * file nothing runs at 0, so such a range would only shadow
		 * real code near the start of the image. */
		if (lo >= hi || (lo == 0 && !d->is_rel))
			continue;
		err = vec_reserve(d, ranges, cap, *nr + 1, sizeof(**ranges));
		if (err)
			return err;
		(*ranges)[(*nr)++] = (struct dw_range){ .lo = lo, .hi = hi };
		n++;
	}
	return n;
}

static int span_cmp(const void *a, const void *b)
{
	const struct dw_span *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	/* Of two spans starting together the narrower goes last, where a
	 * lookup meets it first. */
	if (x->hi != y->hi)
		return x->hi > y->hi ? -1 : 1;
	return 0;
}

static void spans_sort(struct dw_span *s, uint32_t n)
{
	uint64_t max = 0;
	uint32_t i;

	if (n == 0)
		return;
	qsort(s, n, sizeof(*s), span_cmp);
	for (i = 0; i < n; i++) {
		if (s[i].hi > max)
			max = s[i].hi;
		s[i].maxhi = max;
	}
}

/* The span with the greatest start that holds addr, or NULL. */
static const struct dw_span *span_find(const struct dw_span *s, uint32_t n, uint64_t addr)
{
	uint32_t lo = 0, hi = n, mid, steps;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (steps = 0; lo-- > 0 && steps < MAX_WALK_BACK; steps++) {
		if (s[lo].maxhi <= addr)
			break;
		if (s[lo].hi > addr)
			return &s[lo];
	}
	return NULL;
}

/* ---- units ------------------------------------------------------------- */

static int cu_off_cmp(const void *key, const void *elem)
{
	Dwarf_Off off = *(const Dwarf_Off *)key;
	Dwarf_Off o = dwarf_dieoffset((Dwarf_Die *)&((const struct dw_cu *)elem)->die);

	return off < o ? -1 : off > o;
}

static int add_cu_span(struct dwarf_debug *d, uint64_t lo, uint64_t hi, uint32_t cu)
{
	int err = vec_reserve(d, &d->cu_spans, &d->cap_cu_spans, d->nr_cu_spans + 1,
			      sizeof(*d->cu_spans));

	if (err)
		return err;
	d->cu_spans[d->nr_cu_spans++] = (struct dw_span){ .lo = lo, .hi = hi, .idx = cu };
	return 0;
}

/* Spans of the units from .debug_aranges, which names them by the offset
 * of their DIE (d->cus is sorted by it); only for units without ranges of
 * their own when only_rangeless. The units named get true in named. */
static int add_aranges(struct dwarf_debug *d, Dwarf_Aranges *ar, size_t n, bool only_rangeless,
		       bool *named)
{
	Dwarf_Addr addr;
	Dwarf_Word len;
	Dwarf_Off off;
	size_t i;
	int err;

	for (i = 0; i < n && d->nr_cus > 0; i++) {
		struct dw_cu *cu;

		if (dwarf_getarangeinfo(dwarf_onearange(ar, i), &addr, &len, &off) != 0)
			continue;
		if (len == 0 || addr + len < addr || (addr == 0 && !d->is_rel))
			continue;
		cu = bsearch(&off, d->cus, d->nr_cus, sizeof(*d->cus), cu_off_cmp);
		if (!cu || (only_rangeless && cu->has_ranges))
			continue;
		if (named)
			named[cu - d->cus] = true;
		err = add_cu_span(d, addr, addr + len, cu - d->cus);
		if (err)
			return err;
	}
	return 0;
}

/* A unit's own code ranges (DW_AT_low_pc/high_pc, DW_AT_ranges) as spans;
 * reading them makes libdw parse the unit's abbreviations. */
static int add_unit_ranges(struct dwarf_debug *d, uint32_t idx, struct dw_range **ranges,
			   uint32_t *cap_ranges)
{
	struct dw_cu *c = &d->cus[idx];
	uint32_t nr_ranges = 0, i;
	int r, err;

	r = read_ranges(d, &c->die, ranges, &nr_ranges, cap_ranges);
	if (r < 0)
		return r;
	for (i = 0; i < nr_ranges; i++) {
		err = add_cu_span(d, (*ranges)[i].lo, (*ranges)[i].hi, idx);
		if (err)
			return err;
	}
	c->has_ranges = nr_ranges > 0;
	return 0;
}

static int read_units(struct dwarf_debug *d, bool use_aranges)
{
	struct dw_range *ranges = NULL;
	uint32_t cap_ranges = 0, i;
	Dwarf_CU *cu = NULL, *next;
	bool rangeless = false, *named = NULL;
	Dwarf_Aranges *ar = NULL;
	Dwarf_Half version;
	uint8_t unit_type;
	Dwarf_Die cudie;
	size_t nar = 0;
	int r, err = 0;

	/* .debug_aranges (GCC writes it; clang, Go and Rust do not) maps
	 * addresses to units without reading each unit's DIE, which would
	 * make libdw parse every unit's abbreviations up front: megabytes
	 * for a libc, most of it for units no sample lands in. The DIE of
	 * a unit is then read on the first lookup in it. */
	if (use_aranges && !d->is_rel && (dwarf_getaranges(d->dw, &ar, &nar) != 0 || nar == 0))
		use_aranges = false;

	/* No sub DIE: for it libdw would go looking for split units' .dwo
	 * files at paths the DWARF names, which an untrusted binary picks.
	 * With aranges, no CU DIE either: for DWARF 5 the unit type is in
	 * the header, and dwarf_cu_die only points at the DIE. */
	while ((r = dwarf_get_units(d->dw, cu, &next, &version, &unit_type,
				    use_aranges ? NULL : &cudie, NULL)) == 0) {
		struct dw_cu *c;

		cu = next;
		if (unit_type != DW_UT_compile && unit_type != DW_UT_partial)
			continue;
		if (use_aranges && !dwarf_cu_die(cu, &cudie, NULL, NULL, NULL, NULL, NULL, NULL))
			continue;
		if (!use_aranges) {
			int tag = dwarf_tag(&cudie);

			if (tag != DW_TAG_compile_unit && tag != DW_TAG_partial_unit)
				continue;
		}
		err = vec_reserve(d, &d->cus, &d->cap_cus, d->nr_cus + 1, sizeof(*d->cus));
		if (err)
			goto cleanup;
		c = &d->cus[d->nr_cus];
		*c = (struct dw_cu){ .die = cudie, .version = version, .lazy = use_aranges };
		if (!use_aranges) {
			err = add_unit_ranges(d, d->nr_cus, &ranges, &cap_ranges);
			if (err)
				goto cleanup;
			rangeless |= !c->has_ranges;
		}
		d->nr_cus++;
	}
	if (r < 0)
		pr_debug("dwarf: unit list ends in an unreadable unit after %u units: %s\n",
			 d->nr_cus, dwarf_errmsg(-1));
	if (use_aranges) {
		/* A unit .debug_aranges leaves out (an object from another
		 * compiler in the same link) is read as without it. */
		named = calloc(d->nr_cus ? d->nr_cus : 1, sizeof(*named));
		if (!named) {
			err = -ENOMEM;
			goto cleanup;
		}
		err = add_aranges(d, ar, nar, false, named);
		for (i = 0; i < d->nr_cus && !err; i++) {
			int tag;

			if (named[i])
				continue;
			d->cus[i].lazy = false;
			tag = dwarf_tag(&d->cus[i].die);
			if (tag == DW_TAG_compile_unit || tag == DW_TAG_partial_unit)
				err = add_unit_ranges(d, i, &ranges, &cap_ranges);
		}
		if (err)
			goto cleanup;
	} else if (rangeless && dwarf_getaranges(d->dw, &ar, &nar) == 0) {
		/* Units whose DIE gives no ranges (old producers) may still
		 * be covered by .debug_aranges. */
		err = add_aranges(d, ar, nar, true, NULL);
		if (err)
			goto cleanup;
	}
	/* A unit whose DIE was read here had libdw parse its abbreviations. */
	for (i = 0; i < d->nr_cus; i++)
		d->libdw_read_bytes += d->cus[i].lazy ? 0 : LIBDW_READ_UNIT_BYTES;
	spans_sort(d->cu_spans, d->nr_cu_spans);
	/* Both lists are final: the doubling's slack (up to half of them,
	 * a few hundred KiB for a libc) goes back. */
	vec_shrink(d, &d->cus, &d->cap_cus, d->nr_cus, sizeof(*d->cus));
	vec_shrink(d, &d->cu_spans, &d->cap_cu_spans, d->nr_cu_spans, sizeof(*d->cu_spans));
cleanup:
	free(named);
	/* The scratch list was counted by vec_reserve; it goes now. */
	d->heap_bytes -= (size_t)cap_ranges * sizeof(*ranges);
	free(ranges);
	return err;
}

/* ---- one unit's functions ---------------------------------------------- */

struct walk_level {
	Dwarf_Die die;		/* the DIE being looked at on this level */
	uint32_t owner;		/* the innermost function node around it */
	uint32_t close;		/* node whose subtree ends with this level */
	bool done;
};

struct cu_builder {
	uint32_t cap_nodes, cap_ranges, cap_spans;
};

/* A node for die when it has code (else *idx NONE); 0 or -ENOMEM. */
static int add_node(struct dwarf_debug *d, struct dw_cu *cu, struct cu_builder *b,
		    Dwarf_Die *die, uint32_t parent, uint32_t *idx)
{
	uint32_t first = cu->nr_ranges, i;
	struct dw_node *n;
	int r, err;

	*idx = NONE;
	r = read_ranges(d, die, &cu->ranges, &cu->nr_ranges, &b->cap_ranges);
	if (r <= 0)
		return r;
	err = vec_reserve(d, &cu->nodes, &b->cap_nodes, cu->nr_nodes + 1, sizeof(*cu->nodes));
	if (err)
		return err;
	*idx = cu->nr_nodes++;
	n = &cu->nodes[*idx];
	*n = (struct dw_node){
		.die_off = dwarf_dieoffset(die),
		.range_first = first,
		.nr_ranges = r,
		.end = *idx + 1,
		.parent = parent,
	};
	if (parent != NONE)
		return 0;
	/* An out-of-line function: reachable from the unit's spans. */
	err = vec_reserve(d, &cu->spans, &b->cap_spans, cu->nr_spans + r, sizeof(*cu->spans));
	if (err)
		return err;
	for (i = first; i < first + (uint32_t)r; i++)
		cu->spans[cu->nr_spans++] = (struct dw_span){
			.lo = cu->ranges[i].lo, .hi = cu->ranges[i].hi, .idx = *idx,
		};
	return 0;
}

/* Moves level l to its next sibling. Offsets must grow: a DW_AT_sibling
 * pointing back would otherwise loop for ever. */
static void walk_next(struct walk_level *l)
{
	Dwarf_Off off = dwarf_dieoffset(&l->die);
	Dwarf_Die next;

	if (dwarf_siblingof(&l->die, &next) != 0 || dwarf_dieoffset(&next) <= off) {
		l->done = true;
		return;
	}
	l->die = next;
}

/* Scopes that may hold function definitions (Rust and C++ namespaces,
 * Fortran modules, members defined in their class). */
static bool is_scope_tag(int tag)
{
	switch (tag) {
	case DW_TAG_namespace:
	case DW_TAG_module:
	case DW_TAG_class_type:
	case DW_TAG_structure_type:
	case DW_TAG_union_type:
	case DW_TAG_interface_type:
		return true;
	}
	return false;
}

/* Collects the unit's out-of-line functions and, inside them, the inlined
 * calls with their code ranges, in one walk over the DIE tree that skips
 * types' members, variables and parameters. (dwarf_getscopes would walk
 * the whole unit again for every address.) */
static int index_cu(struct dwarf_debug *d, struct dw_cu *cu)
{
	struct cu_builder b = {};
	struct walk_level *lv;
	int depth = 1, err = 0;
	bool was_lazy = cu->lazy;  /* its abbreviations not counted yet */

	if (cu->lazy) {
		int tag = dwarf_tag(&cu->die);

		cu->lazy = false;
		if (tag != DW_TAG_compile_unit && tag != DW_TAG_partial_unit) {
			cu->indexed = true;
			return 0;
		}
	}
	lv = calloc(MAX_DEPTH, sizeof(*lv));
	if (!lv)
		return -ENOMEM;
	cu->indexed = true;
	if (dwarf_child(&cu->die, &lv[0].die) != 0)
		goto cleanup;
	lv[0].owner = NONE;
	lv[0].close = NONE;

	while (depth > 0) {
		struct walk_level *l = &lv[depth - 1];
		uint32_t owner, node = NONE;
		bool descend = false;
		int tag;

		if (l->done) {
			if (l->close != NONE)
				cu->nodes[l->close].end = cu->nr_nodes;
			if (--depth > 0)
				walk_next(&lv[depth - 1]);
			continue;
		}

		owner = l->owner;
		tag = dwarf_tag(&l->die);
		if (tag == DW_TAG_subprogram) {
			/* Out of line, also when nested in another function
			 * (GNU C nested functions, Ada): a root of its own,
			 * never an inlined frame. */
			err = add_node(d, cu, &b, &l->die, NONE, &node);
			descend = node != NONE;
			owner = node;
		} else if (tag == DW_TAG_inlined_subroutine && owner != NONE) {
			err = add_node(d, cu, &b, &l->die, owner, &node);
			descend = node != NONE;
			if (descend)
				owner = node;
		} else if (owner != NONE && (tag == DW_TAG_lexical_block ||
					     tag == DW_TAG_try_block ||
					     tag == DW_TAG_catch_block)) {
			descend = true;
		} else if (is_scope_tag(tag)) {
			descend = true;
		}
		if (err)
			goto cleanup;

		if (descend && depth < MAX_DEPTH && dwarf_haschildren(&l->die) > 0 &&
		    dwarf_child(&l->die, &lv[depth].die) == 0) {
			lv[depth].owner = owner;
			lv[depth].close = node;
			lv[depth].done = false;
			depth++;
			continue;
		}
		/* A node left without its children ends where it starts
		 * (add_node set end to idx + 1). */
		walk_next(l);
	}
	spans_sort(cu->spans, cu->nr_spans);
cleanup:
	free(lv);
	if (err) {
		/* Only allocations fail here (libdw errors end a subtree or
		 * a range list early instead): drop the partial index so a
		 * later lookup tries again. */
		d->heap_bytes -= (size_t)b.cap_nodes * sizeof(*cu->nodes) +
				 (size_t)b.cap_ranges * sizeof(*cu->ranges) +
				 (size_t)b.cap_spans * sizeof(*cu->spans);
		free(cu->nodes);
		free(cu->ranges);
		free(cu->spans);
		cu->nodes = NULL;
		cu->ranges = NULL;
		cu->spans = NULL;
		cu->nr_nodes = cu->nr_ranges = cu->nr_spans = 0;
		cu->indexed = false;
	} else {
		d->libdw_read_bytes += (was_lazy ? LIBDW_READ_UNIT_BYTES : 0) +
				       (size_t)cu->nr_nodes * LIBDW_NODE_BYTES;
	}
	return err;
}

/* ---- names ------------------------------------------------------------- */

static int name_eq(const struct hashmap_node *node, const void *key)
{
	return strcmp(((const struct dw_name *)node)->mangled, key) == 0;
}

/* The display form of a linkage name, demangled once per distinct name;
 * NULL when it does not demangle. 0 or -ENOMEM. */
static int demangled(struct dwarf_debug *d, const char *mangled, const char **out)
{
	uint64_t hash = hash_bytes(HASH_SEED, mangled, strlen(mangled));
	struct hashmap_node *hn = hashmap__find(&d->names, hash, mangled, name_eq);
	struct dw_name *n;

	if (hn) {
		*out = ((struct dw_name *)hn)->demangled;
		return 0;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->mangled = mangled;
	n->demangled = demangle(mangled);
	if (hashmap__insert(&d->names, &n->node, hash) != 0) {
		free(n->demangled);
		free(n);
		return -ENOMEM;
	}
	d->heap_bytes += sizeof(*n) + (n->demangled ? strlen(n->demangled) + 1 : 0);
	*out = n->demangled;
	return 0;
}

static struct dwl_table *cu_lines(struct dwarf_debug *d, struct dw_cu *cu)
{
	Dwarf_Attribute attr;
	Dwarf_Word offset;
	Dwarf_Die cudie;
	uint8_t addr_size;

	if (cu->lines_read)
		return cu->lines;
	cu->lines_read = true;
	if (!dwarf_attr(&cu->die, DW_AT_stmt_list, &attr) || dwarf_formudata(&attr, &offset) ||
	    !dwarf_diecu(&cu->die, &cudie, &addr_size, NULL))
		return NULL;
	cu->lines = dwlines__read(&d->line_sections, offset,
				  dwarf_formstring(dwarf_attr(&cu->die, DW_AT_comp_dir, &attr)),
				  addr_size);
	if (!cu->lines)
		pr_debug("dwarf: line table of %s at %#llx: %s\n", dwarf_diename(&cu->die) ?: "?",
			 (unsigned long long)offset, strerror(errno));
	d->heap_bytes += dwlines__bytes(cu->lines);
	return cu->lines;
}

static const char *cu_file(struct dwarf_debug *d, struct dw_cu *cu, Dwarf_Word idx)
{
	/* Before DWARF 5, file 0 means "none" (libdw fills the slot with a
	 * placeholder name). */
	if (idx == 0 && cu->version < 5)
		return NULL;
	return dwlines__file(cu_lines(d, cu), idx);
}

/* ---- qualified names for C++ functions without a linkage name ---------- */

/* GCC gives lambdas (and other members of local classes) no linkage name,
 * and DW_AT_name alone ("operator()") says nothing; such a name is
 * qualified with the scopes around its DIE, the way the demangler would
 * spell them where it can ("main::{lambda}::operator()"). */
#define MAX_QUALIFIED 1024
#define MAX_SCOPES 64

struct dw_qname {
	struct hashmap_node node;
	Dwarf_Off off;		/* of the DIE that has the DW_AT_name */
	const char *s;
	bool owned;		/* else libdw's string: the name had no scopes */
};

static int qname_eq(const struct hashmap_node *node, const void *key)
{
	return ((const struct dw_qname *)node)->off == *(const Dwarf_Off *)key;
}

static bool is_cplusplus(Dwarf_Die *die)
{
	Dwarf_Die cudie;

	if (!dwarf_diecu(die, &cudie, NULL, NULL))
		return false;
	switch (dwarf_srclang(&cudie)) {
	case DW_LANG_C_plus_plus:
	case DW_LANG_C_plus_plus_03:
	case DW_LANG_C_plus_plus_11:
	case DW_LANG_C_plus_plus_14:
		return true;
	}
	return false;
}

/* The DIEs enclosing die, outermost first (the unit DIE left out); their
 * number, or -1. A subtree's DIEs sit between its root and the root's
 * next sibling, so each level keeps the last sibling not past die. */
static int die_scopes(Dwarf_Die *die, Dwarf_Die *scopes, int max)
{
	Dwarf_Off target = dwarf_dieoffset(die), off;
	Dwarf_Die cudie, cur, next;
	int n = 0;

	if (!dwarf_diecu(die, &cudie, NULL, NULL) || dwarf_child(&cudie, &cur) != 0)
		return -1;
	for (;;) {
		off = dwarf_dieoffset(&cur);
		while (off < target && dwarf_siblingof(&cur, &next) == 0 &&
		       dwarf_dieoffset(&next) <= target && dwarf_dieoffset(&next) > off) {
			cur = next;
			off = dwarf_dieoffset(&cur);
		}
		if (off == target)
			return n;
		if (off > target || n == max)
			return -1;
		scopes[n++] = cur;
		if (dwarf_child(&cur, &next) != 0)
			return -1;
		cur = next;
	}
}

/* The display name of an enclosing scope; NULL for scopes that do not
 * name anything (lexical blocks). *stop when it is complete on its own
 * (a function with a demangled linkage name includes its own scopes). */
static const char *scope_name(struct dwarf_debug *d, Dwarf_Die *scope, const char *leaf,
			      bool *stop, int *err)
{
	const char *name = dwarf_diename(scope), *dem = NULL;
	Dwarf_Attribute attr;

	switch (dwarf_tag(scope)) {
	case DW_TAG_namespace:
		return name ? name : "(anonymous namespace)";
	case DW_TAG_class_type:
	case DW_TAG_structure_type:
	case DW_TAG_union_type:
		if (name)
			return name;
		/* GCC's closure types have no name; their call operator
		 * is what a lambda runs. */
		return strcmp(leaf, "operator()") == 0 ? "{lambda}" : "{unnamed type}";
	case DW_TAG_subprogram:
		if ((dwarf_attr_integrate(scope, DW_AT_linkage_name, &attr) ||
		     dwarf_attr_integrate(scope, DW_AT_MIPS_linkage_name, &attr)) &&
		    dwarf_formstring(&attr)) {
			*err = demangled(d, dwarf_formstring(&attr), &dem);
			if (dem) {
				*stop = true;
				return dem;
			}
		}
		return dwarf_diename(scope);
	}
	return NULL;
}

/* name (of the DIE name_die) with its C++ scopes; name itself when it has
 * none or they cannot be found. 0 or -ENOMEM. */
static int qualified(struct dwarf_debug *d, Dwarf_Die *name_die, const char *name,
		     const char **out)
{
	Dwarf_Off off = dwarf_dieoffset(name_die);
	uint64_t hash = hash_bytes(HASH_SEED, &off, sizeof(off));
	struct hashmap_node *hn = hashmap__find(&d->qnames, hash, &off, qname_eq);
	const char *parts[MAX_SCOPES];
	Dwarf_Die *scopes = NULL;
	int n, i, nparts = 0, err = 0;
	struct dw_qname *q = NULL;
	size_t len;
	char *buf = NULL, *s;

	*out = name;
	if (hn) {
		*out = ((struct dw_qname *)hn)->s;
		return 0;
	}
	scopes = malloc(MAX_SCOPES * sizeof(*scopes));
	q = calloc(1, sizeof(*q));
	if (!scopes || !q) {
		err = -ENOMEM;
		goto cleanup;
	}
	n = die_scopes(name_die, scopes, MAX_SCOPES);
	len = strlen(name) + 1;
	for (i = n - 1; i >= 0; i--) {
		bool stop = false;
		const char *p = scope_name(d, &scopes[i], name, &stop, &err);

		if (err)
			goto cleanup;
		if (!p || !*p)
			continue;
		if (len + strlen(p) + 2 > MAX_QUALIFIED)
			break;
		parts[nparts++] = p;
		len += strlen(p) + 2;
		if (stop)
			break;
	}
	q->off = off;
	q->s = name;
	if (nparts > 0) {
		buf = malloc(len);
		if (!buf) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (s = buf, i = nparts - 1; i >= 0; i--)
			s += sprintf(s, "%s::", parts[i]);
		strcpy(s, name);
		q->s = buf;
		q->owned = true;
	}
	if (hashmap__insert(&d->qnames, &q->node, hash) != 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	d->heap_bytes += sizeof(*q) + (buf ? len : 0);
	*out = q->s;
	q = NULL;
	buf = NULL;
cleanup:
	free(buf);
	free(q);
	free(scopes);
	return err;
}

/* ---- what a frame shows ------------------------------------------------ */

/* The DIE that carries die's DW_AT_name, following abstract origins and
 * specifications (a short chain: 8 steps cover any compiler's output and
 * stop reference loops in a hostile file). */
static const char *name_die(Dwarf_Die *die, Dwarf_Die *out)
{
	Dwarf_Attribute attr;
	const char *name;
	int i;

	*out = *die;
	for (i = 0; i < 8; i++) {
		/* dwarf_attr, not dwarf_diename: the latter integrates, and
		 * the scopes wanted are those of the DIE holding the name. */
		if (dwarf_attr(out, DW_AT_name, &attr)) {
			name = dwarf_formstring(&attr);
			return name && *name ? name : NULL;
		}
		if (!dwarf_attr(out, DW_AT_abstract_origin, &attr) &&
		    !dwarf_attr(out, DW_AT_specification, &attr))
			return NULL;
		if (!dwarf_formref_die(&attr, out))
			return NULL;
	}
	return NULL;
}

static void fill_info(struct dwarf_debug *d, struct dw_cu *cu, const struct dw_node *n,
		      struct dw_info *info, int *err)
{
	const char *linkage = NULL, *name, *dem = NULL;
	Dwarf_Attribute attr;
	Dwarf_Die die, ndie;
	Dwarf_Word v;
	int line;

	*info = (struct dw_info){ .name = unknown_name };
	if (!dwarf_offdie(d->dw, n->die_off, &die))
		return;
	/* _integrate follows DW_AT_abstract_origin (inlined and out-of-line
	 * copies of an inline function) and DW_AT_specification (C++
	 * members defined outside their class). */
	if (dwarf_attr_integrate(&die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(&die, DW_AT_MIPS_linkage_name, &attr))
		linkage = dwarf_formstring(&attr);
	if (linkage && *linkage) {
		*err = demangled(d, linkage, &dem);
		if (*err)
			return;
		/* A linkage name that does not demangle is still the
		 * precise name: shown raw, as an ELF symbol would be. */
		info->name = dem ? dem : linkage;
		info->system_name = dem ? linkage : NULL;
	} else if ((name = name_die(&die, &ndie)) != NULL) {
		info->name = name;
		if (is_cplusplus(&ndie)) {
			*err = qualified(d, &ndie, name, &info->name);
			if (*err)
				return;
		}
	}
	if (dwarf_decl_line(&die, &line) == 0 && line > 0)
		info->start_line = line;
	if (n->parent == NONE)
		return;
	if (dwarf_attr(&die, DW_AT_call_line, &attr) && dwarf_formudata(&attr, &v) == 0 &&
	    v <= UINT32_MAX)
		info->call_line = v;
	if (dwarf_attr(&die, DW_AT_call_file, &attr) && dwarf_formudata(&attr, &v) == 0)
		info->call_file = cu_file(d, cu, v);
}

/* A copy of what node n shows (d->infos moves as it grows). */
static int node_info(struct dwarf_debug *d, struct dw_cu *cu, struct dw_node *n,
		     struct dw_info *info)
{
	int err = 0;

	if (n->info) {
		*info = d->infos[n->info];
		return 0;
	}
	fill_info(d, cu, n, info, &err);
	if (err)
		return err;
	/* Slot 0 stays unused: it means "not read yet". */
	err = vec_reserve(d, &d->infos, &d->cap_infos, (d->nr_infos ? d->nr_infos : 1) + 1,
			  sizeof(*d->infos));
	if (err)
		return err;
	if (d->nr_infos == 0)
		d->nr_infos = 1;
	n->info = d->nr_infos++;
	d->infos[n->info] = *info;
	return 0;
}

/* ---- lookups ----------------------------------------------------------- */

static bool node_has(const struct dw_cu *cu, const struct dw_node *n, uint64_t addr)
{
	uint32_t i;

	for (i = n->range_first; i < n->range_first + n->nr_ranges; i++)
		if (cu->ranges[i].lo <= addr && addr < cu->ranges[i].hi)
			return true;
	return false;
}

int dwarf_debug__lookup(struct dwarf_debug *d, uint64_t vaddr, struct sym_frame *out,
			size_t max)
{
	uint32_t chain[MAX_DEPTH], len = 0, i, end, deepest;
	const struct dw_span *span;
	struct dw_cu *cu;
	size_t k, n;
	int err;

	if (!d || !out || max == 0)
		return -EINVAL;
	span = span_find(d->cu_spans, d->nr_cu_spans, vaddr);
	if (!span)
		return -ENOENT;
	cu = &d->cus[span->idx];
	if (!cu->indexed) {
		err = index_cu(d, cu);
		if (err)
			return err;
	}
	span = span_find(cu->spans, cu->nr_spans, vaddr);
	if (!span)
		return -ENOENT;

	/* The deepest inlined call holding vaddr: a node's subtree is
	 * entered only when the node holds vaddr. Nested out-of-line
	 * functions sit in their parent's subtree but are roots of their
	 * own, found through the spans. */
	deepest = span->idx;
	end = cu->nodes[deepest].end;
	for (i = deepest + 1; i < end;) {
		const struct dw_node *nd = &cu->nodes[i];

		if (nd->parent == NONE || !node_has(cu, nd, vaddr)) {
			i = nd->end;
			continue;
		}
		deepest = i;
		end = nd->end;
		i++;
	}
	for (i = deepest; i != NONE && len < MAX_DEPTH; i = cu->nodes[i].parent)
		chain[len++] = i;

	n = len < max ? len : max;
	for (k = 0; k < n; k++) {
		/* Past max, the outermost function takes the last slot. */
		uint32_t p = (k == n - 1) ? len - 1 : k;
		struct sym_frame *f = &out[k];
		struct dw_info info, callee;

		err = node_info(d, cu, &cu->nodes[chain[p]], &info);
		if (err)
			return err;
		*f = (struct sym_frame){
			.name = info.name,
			.system_name = info.system_name,
			.start_line = info.start_line,
		};
		if (p == 0) {
			const char *file;
			int lineno;

			if (dwlines__lookup(cu_lines(d, cu), vaddr, &file, &lineno) == 0) {
				f->file = file;
				if (lineno > 0)
					f->line = lineno;
			}
		} else {
			/* The caller's line is where its callee was inlined. */
			err = node_info(d, cu, &cu->nodes[chain[p - 1]], &callee);
			if (err)
				return err;
			f->file = callee.call_file;
			f->line = callee.call_line;
		}
	}
	return n;
}

/* ---- open and free ----------------------------------------------------- */

static bool is_debug_name(const char *name)
{
	return strncmp(name, ".debug_", 7) == 0 || strncmp(name, ".zdebug_", 8) == 0;
}

/* Sections libdw reads for what we ask of it; the others (locations,
 * frames, macros) stay untouched on disk. */
static bool section_read(const char *name)
{
	static const char *const read[] = {
		"info", "abbrev", "line", "str", "line_str", "ranges", "rnglists",
		"addr", "str_offsets", "aranges",
	};
	size_t i;

	name += name[1] == 'z' ? 8 : 7;
	for (i = 0; i < sizeof(read) / sizeof(read[0]); i++)
		if (strcmp(name, read[i]) == 0)
			return true;
	return false;
}

bool dwarf_debug__reads_section(const char *name)
{
	return name && is_debug_name(name) && section_read(name);
}

/* Visits the debug sections with contents: fn(d, index, name, shdr, arg). */
static int for_each_debug_section(struct dwarf_debug *d,
				  void (*fn)(struct dwarf_debug *, size_t, const char *,
					     const GElf_Shdr *, void *),
				  void *arg)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr shdr;

	if (elf_getshdrstrndx(d->elf, &shstrndx) != 0)
		return -ENOEXEC;
	while ((scn = elf_nextscn(d->elf, scn)) != NULL) {
		const char *name;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type == SHT_NOBITS || shdr.sh_size == 0)
			continue;
		name = elf_strptr(d->elf, shstrndx, shdr.sh_name);
		if (name && is_debug_name(name))
			fn(d, elf_ndxscn(scn), name, &shdr, arg);
	}
	return 0;
}

struct section_scan {
	bool has_info;
	unsigned char *compressed;	/* one byte per section index */
	size_t nr;
};

static void scan_section(struct dwarf_debug *d, size_t idx, const char *name,
			 const GElf_Shdr *shdr, void *arg)
{
	struct section_scan *s = arg;

	(void)d;
	if (strcmp(name, ".debug_info") == 0 || strcmp(name, ".zdebug_info") == 0)
		s->has_info = true;
	if (idx < s->nr && ((shdr->sh_flags & SHF_COMPRESSED) || name[1] == 'z'))
		s->compressed[idx] = 1;
}

/* dwarf_begin_elf inflates every compressed debug section onto the heap,
 * those we never ask about too: the location lists alone are as big as the
 * line tables in a distribution's libc debug file. libdw skips SHT_NOBITS
 * sections, so such a section is marked NOBITS in our private copy of the
 * section headers (the mapping is copy-on-write; the file is untouched). */
static void hide_section(struct dwarf_debug *d, size_t idx, const char *name,
			 const GElf_Shdr *shdr, void *arg)
{
	struct section_scan *s = arg;
	Elf_Scn *scn;
	GElf_Shdr hidden;

	if (idx >= s->nr || !s->compressed[idx] || section_read(name))
		return;
	scn = elf_getscn(d->elf, idx);
	hidden = *shdr;
	hidden.sh_type = SHT_NOBITS;
	if (scn && gelf_update_shdr(scn, &hidden))
		s->compressed[idx] = 0;
}

/* What the debug sections cost on the heap: libdw inflates every
 * compressed one left visible (hide_section) there in dwarf_begin_elf
 * (libelf then gives the inflated size). The mapped ones are not counted:
 * they are the file's page cache, of which only the pages lookups touch
 * become resident, and those are dropped again when a flush is done with
 * the binary (binary__named), so a flush holds one binary's at a time.
 * Counting them made the symbol budget evict and reload, at every flush,
 * binaries whose heap was a fraction of it: five CPython libraries with
 * uncompressed DWARF (7-13 MiB of sections read each) did so on a 32 MiB
 * budget (bench/README.md). */
static void count_section(struct dwarf_debug *d, size_t idx, const char *name,
			  const GElf_Shdr *shdr, void *arg)
{
	struct section_scan *s = arg;

	(void)name;
	if (idx < s->nr && s->compressed[idx])
		d->section_bytes += shdr->sh_size;
}

/* Finding the units reads a header per unit, every few KiB of .debug_info
 * (the full walk reads each unit's DIE too), and each fault on a mapped file
 * maps the cached pages around it as well (fault-around, 64 KiB): opening
 * a libc's DWARF left 7 MiB of its file resident in the process. Those
 * pages are only read, never written (hide_section writes section headers,
 * which lie outside the sections), so dropping them from the mapping loses
 * nothing; lookups fault back in the units they read (from the page cache,
 * where they still are unless memory ran short). */
static void drop_pages(struct dwarf_debug *d, size_t idx, const char *name,
		       const GElf_Shdr *shdr, void *arg)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t lo, hi, base;
	Elf_Scn *scn;
	Elf_Data *data;
	size_t size;
	char *map;

	(void)arg;
	if (page <= 0 || !section_read(name) || name[1] == 'z' ||
	    (shdr->sh_flags & SHF_COMPRESSED))
		return;
	map = elf_rawfile(d->elf, &size);
	scn = elf_getscn(d->elf, idx);
	data = scn ? elf_getdata(scn, NULL) : NULL;
	if (!map || !data || !data->d_buf || data->d_size == 0)
		return;
	base = (uintptr_t)map;
	lo = (uintptr_t)data->d_buf;
	hi = lo + data->d_size;
	/* Only a section that lies in the mapping (not a converted copy). */
	if (lo < base || hi > base + size || hi < lo)
		return;
	lo = (lo + page - 1) & ~(uintptr_t)(page - 1);
	hi &= ~(uintptr_t)(page - 1);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void dwarf_debug__drop_pages(struct dwarf_debug *d)
{
	if (d && d->elf)
		for_each_debug_section(d, drop_pages, NULL);
}

struct dwarf_debug *dwarf_debug__open_fd(int fd)
{
	return dwarf_debug__open_fd_flags(fd, 0);
}

struct dwarf_debug *dwarf_debug__open_fd_flags(int fd, unsigned int flags)
{
	struct section_scan scan = {};
	struct dwarf_debug *d = NULL;
	GElf_Ehdr ehdr;
	int err;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	pthread_once(&libelf_once, libelf_init);
	if (!libelf_ok) {
		pr_warn("dwarf: libelf version mismatch\n");
		close(fd);
		errno = ENOSYS;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	d->fd = fd;

	/* Mapped rather than read: the debug sections of a big binary run to
	 * hundreds of megabytes, of which mapped only the pages lookups touch
	 * become resident, as page cache the kernel can take back, where
	 * ELF_C_READ would copy every section libdw asks for onto our heap.
	 * The price is SIGBUS if the file is truncated in place while
	 * mapped; package managers, linkers and debuginfod's cache replace
	 * files by rename instead, which leaves this inode alone. Private:
	 * hide_section writes section headers, in our copy only. */
	d->elf = elf_begin(fd, ELF_C_READ_MMAP_PRIVATE, NULL);
	if (!d->elf || elf_kind(d->elf) != ELF_K_ELF || !gelf_getehdr(d->elf, &ehdr) ||
	    elf_getshdrnum(d->elf, &scan.nr) != 0) {
		err = -ENOEXEC;
		goto cleanup;
	}
	d->is_rel = ehdr.e_type == ET_REL;
	scan.compressed = calloc(scan.nr ? scan.nr : 1, 1);
	if (!scan.compressed) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = for_each_debug_section(d, scan_section, &scan);
	if (err)
		goto cleanup;
	if (!scan.has_info) {
		err = -ENODATA;
		goto cleanup;
	}
	for_each_debug_section(d, hide_section, &scan);
	d->dw = dwarf_begin_elf(d->elf, DWARF_C_READ, NULL);
	if (!d->dw) {
		pr_debug("dwarf: cannot read DWARF: %s\n", dwarf_errmsg(-1));
		err = -ENOEXEC;
		goto cleanup;
	}
	for_each_debug_section(d, count_section, &scan);
	dwlines__sections(d->elf, &d->line_sections);
	err = read_units(d, !(flags & DWARF_DEBUG_NO_ARANGES));
	if (err)
		goto cleanup;
	dwarf_debug__drop_pages(d);
	if (d->nr_cu_spans == 0)
		err = -ENODATA;
cleanup:
	free(scan.compressed);
	if (err) {
		dwarf_debug__free(d);
		errno = -err;
		return NULL;
	}
	return d;
}

void dwarf_debug__free(struct dwarf_debug *d)
{
	struct hashmap_node *hn, *tmp;
	size_t b;
	uint32_t i;

	if (!d)
		return;
	hashmap__for_each(&d->names, hn, tmp, b) {
		struct dw_name *n = (struct dw_name *)hn;

		free(n->demangled);
		free(n);
	}
	hashmap__clear(&d->names);
	hashmap__for_each(&d->qnames, hn, tmp, b) {
		struct dw_qname *q = (struct dw_qname *)hn;

		if (q->owned)
			free((char *)q->s);
		free(q);
	}
	hashmap__clear(&d->qnames);
	for (i = 0; i < d->nr_cus; i++) {
		free(d->cus[i].nodes);
		free(d->cus[i].ranges);
		free(d->cus[i].spans);
		dwlines__free(d->cus[i].lines);
	}
	free(d->cus);
	free(d->cu_spans);
	free(d->infos);
	if (d->dw)
		dwarf_end(d->dw);
	if (d->elf)
		elf_end(d->elf);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

size_t dwarf_debug__bytes(const struct dwarf_debug *d)
{
	if (!d)
		return 0;
	return sizeof(*d) + d->heap_bytes +
	       (d->names.nbuckets + d->qnames.nbuckets) * sizeof(*d->names.buckets) +
	       d->section_bytes + (size_t)d->nr_cus * LIBDW_UNIT_BYTES + d->libdw_read_bytes;
}
