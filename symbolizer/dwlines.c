#include <dwarf.h>
#include <errno.h>
#include <stddef.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "symbolizer/dwlines.h"

/* A row as kept: file in the low 31 bits, the end-of-sequence flag on top. */
struct dwl_row {
	uint64_t addr;
	int32_t line;
	uint32_t file_end;
};

#define ROW_END 0x80000000u
#define ROW_FILE_MASK 0x7fffffffu

struct dwl_table {
	struct dwl_row *rows;
	size_t nrows, program_rows;
	char **files;
	size_t nfiles, cap_files;
	size_t bytes;
};

/* A row as the program emits it, before sorting. */
struct raw_row {
	uint64_t addr;
	int32_t line;
	uint32_t file;
	uint32_t order;
	uint8_t end;
};

struct cursor {
	const uint8_t *p, *end;
	bool big_endian;
	bool bad;
};

static bool need(struct cursor *c, size_t n)
{
	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = true;
		return false;
	}
	return true;
}

static uint64_t read_uint(struct cursor *c, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	if (!need(c, n))
		return 0;
	for (i = 0; i < n; i++) {
		unsigned int k = c->big_endian ? i : n - 1 - i;

		v = (v << 8) | c->p[k];
	}
	c->p += n;
	return v;
}

/* A LEB128 number (bits past 64 dropped); its width in *bits and its last
 * byte in *last, which sleb128 needs for the sign. */
static uint64_t read_leb(struct cursor *c, unsigned int *bits, uint8_t *last)
{
	uint64_t v = 0;
	unsigned int shift = 0;
	uint8_t b;

	do {
		if (!need(c, 1)) {
			b = 0;
			break;
		}
		b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	*bits = shift;
	*last = b;
	return v;
}

static uint64_t read_uleb(struct cursor *c)
{
	unsigned int bits;
	uint8_t last;

	return read_leb(c, &bits, &last);
}

static int64_t read_sleb(struct cursor *c)
{
	unsigned int bits;
	uint8_t last;
	uint64_t v = read_leb(c, &bits, &last);

	if (bits < 64 && (last & 0x40))
		v |= ~(uint64_t)0 << bits;
	return (int64_t)v;
}

static const char *read_cstr(struct cursor *c)
{
	const uint8_t *nul;
	const char *s;

	if (c->bad || c->p >= c->end || !(nul = memchr(c->p, '\0', c->end - c->p))) {
		c->bad = true;
		return NULL;
	}
	s = (const char *)c->p;
	c->p = nul + 1;
	return s;
}

/* The string at off in a string section, NULL when off or its end lie
 * outside it. */
static const char *section_str(const uint8_t *sec, size_t size, uint64_t off)
{
	if (!sec || off >= size || !memchr(sec + off, '\0', size - off))
		return NULL;
	return (const char *)sec + off;
}

/* ---- the header's directory and file lists ----------------------------- */

struct header {
	unsigned int version, offset_size;
	uint8_t min_inst, max_ops, line_range, opcode_base;
	int8_t line_base;
	const uint8_t *std_lengths;	/* std_lengths[op] for 1 <= op < opcode_base */
	const uint8_t *program;		/* where the lists end and the program starts */
	const uint8_t *unit_end;
	const char **dirs;
	size_t ndirs;
};

static int add_file(struct dwl_table *t, const char *dir, const char *name)
{
	size_t dl, nl = strlen(name);
	char *s;

	if (ARRAY_RESERVE(t->files, &t->cap_files, t->nfiles + 1))
		return -ENOMEM;
	/* As libdw joins them: an absolute name as it is, else its directory
	 * (when there is one), a slash and the name. */
	if (name[0] == '/')
		dir = NULL;
	dl = dir ? strlen(dir) : 0;
	s = malloc(dl + 1 + nl + 1);
	if (!s)
		return -ENOMEM;
	if (dir) {
		memcpy(s, dir, dl);
		s[dl] = '/';
		memcpy(s + dl + 1, name, nl + 1);
	} else {
		memcpy(s, name, nl + 1);
	}
	t->files[t->nfiles++] = s;
	t->bytes += dl + nl + 2;
	return 0;
}

/* One attribute of a DWARF 5 directory or file entry, in form: its string
 * (path forms) or number (index forms) when it has one. */
static void read_form(struct cursor *c, const struct dwl_sections *s, const struct header *h,
		      uint64_t form, const char **str, uint64_t *num)
{
	uint64_t len;

	*str = NULL;
	*num = UINT64_MAX;
	switch (form) {
	case DW_FORM_string:
		*str = read_cstr(c);
		return;
	case DW_FORM_line_strp:
		*str = section_str(s->line_str, s->line_str_size, read_uint(c, h->offset_size));
		return;
	case DW_FORM_strp:
		*str = section_str(s->str, s->str_size, read_uint(c, h->offset_size));
		return;
	case DW_FORM_strp_sup:
	case DW_FORM_GNU_strp_alt:
		(void)read_uint(c, h->offset_size);
		return;
	case DW_FORM_udata:
		*num = read_uleb(c);
		return;
	case DW_FORM_sdata:
		(void)read_sleb(c);
		return;
	case DW_FORM_data1:
	case DW_FORM_flag:
	case DW_FORM_strx1:
		*num = read_uint(c, 1);
		return;
	case DW_FORM_data2:
	case DW_FORM_strx2:
		*num = read_uint(c, 2);
		return;
	case DW_FORM_strx3:
		(void)read_uint(c, 3);
		return;
	case DW_FORM_data4:
	case DW_FORM_strx4:
		*num = read_uint(c, 4);
		return;
	case DW_FORM_data8:
		*num = read_uint(c, 8);
		return;
	case DW_FORM_strx:
		(void)read_uleb(c);
		return;
	case DW_FORM_data16:
		len = 16;
		break;
	case DW_FORM_block1:
		len = read_uint(c, 1);
		break;
	case DW_FORM_block2:
		len = read_uint(c, 2);
		break;
	case DW_FORM_block4:
		len = read_uint(c, 4);
		break;
	case DW_FORM_block:
		len = read_uleb(c);
		break;
	default:
		c->bad = true;
		return;
	}
	if (need(c, len))
		c->p += len;
}

/* The (content type, form) pairs of a DWARF 5 entry format: where the path
 * and the directory index are, -1 when absent. */
struct entry_format {
	uint64_t forms[256];
	unsigned int n;
	int path, dir_index;
};

static void read_format(struct cursor *c, struct entry_format *f)
{
	unsigned int i;

	f->n = read_uint(c, 1);
	f->path = f->dir_index = -1;
	for (i = 0; i < f->n && !c->bad; i++) {
		uint64_t type = read_uleb(c);

		f->forms[i] = read_uleb(c);
		if (type == DW_LNCT_path)
			f->path = i;
		else if (type == DW_LNCT_directory_index)
			f->dir_index = i;
	}
}

/* One entry of a DWARF 5 list: its path, and its directory index. */
static const char *read_entry(struct cursor *c, const struct dwl_sections *s,
			      const struct header *h, const struct entry_format *f,
			      uint64_t *dir_index)
{
	const char *path = NULL, *str;
	uint64_t num;
	unsigned int i;

	*dir_index = UINT64_MAX;
	for (i = 0; i < f->n && !c->bad; i++) {
		read_form(c, s, h, f->forms[i], &str, &num);
		if ((int)i == f->path)
			path = str;
		else if ((int)i == f->dir_index)
			*dir_index = num;
	}
	return c->bad ? NULL : path;
}

static int read_lists_v5(struct cursor *c, const struct dwl_sections *s, struct header *h,
			 struct dwl_table *t)
{
	struct entry_format *f = malloc(sizeof(*f));
	uint64_t n, i, dir;
	const char *name;
	int err = -EINVAL;

	if (!f)
		return -ENOMEM;
	read_format(c, f);
	n = read_uleb(c);
	/* Every entry takes a byte at least: a count beyond the header is
	 * a lie, and so is a count without a format. */
	if (c->bad || (f->n && f->path < 0) || (!f->n && n) || n > (uint64_t)(c->end - c->p))
		goto cleanup;
	h->dirs = calloc(n ? n : 1, sizeof(*h->dirs));
	if (!h->dirs) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		h->dirs[i] = read_entry(c, s, h, f, &dir);
		if (!h->dirs[i])
			goto cleanup;
	}
	h->ndirs = n;

	read_format(c, f);
	n = read_uleb(c);
	if (c->bad || (f->n && (f->path < 0 || f->dir_index < 0)) || (!f->n && n) ||
	    n > (uint64_t)(c->end - c->p))
		goto cleanup;
	for (i = 0; i < n; i++) {
		name = read_entry(c, s, h, f, &dir);
		if (!name || dir >= h->ndirs)
			goto cleanup;
		err = add_file(t, h->dirs[dir], name);
		if (err)
			goto cleanup;
		err = -EINVAL;
	}
	/* libdw keeps a slot 0 whatever the list holds. */
	if (n == 0 && (err = add_file(t, NULL, DWL_PLACEHOLDER_FILE)))
		goto cleanup;
	err = 0;
cleanup:
	free(f);
	return err;
}

static int read_lists_v4(struct cursor *c, struct header *h, const char *comp_dir,
			 struct dwl_table *t)
{
	const uint8_t *p;
	const char *name;
	size_t n = 1, i;
	uint64_t dir;
	int err;

	/* Directory 0 is the unit's own; the list names the others. */
	for (p = c->p; p < c->end && *p; n++) {
		const uint8_t *nul = memchr(p, '\0', c->end - p);

		if (!nul)
			return -EINVAL;
		p = nul + 1;
	}
	h->dirs = calloc(n, sizeof(*h->dirs));
	if (!h->dirs)
		return -ENOMEM;
	h->dirs[0] = comp_dir;
	for (i = 1; i < n; i++)
		h->dirs[i] = read_cstr(c);
	h->ndirs = n;
	if (read_uint(c, 1) != 0 || c->bad)
		return -EINVAL;

	if ((err = add_file(t, NULL, DWL_PLACEHOLDER_FILE)))
		return err;
	while (!c->bad && c->p < c->end && *c->p) {
		name = read_cstr(c);
		dir = read_uleb(c);
		(void)read_uleb(c);	/* modification time */
		(void)read_uleb(c);	/* length */
		if (c->bad || dir >= h->ndirs)
			return -EINVAL;
		if ((err = add_file(t, h->dirs[dir], name)))
			return err;
	}
	if (read_uint(c, 1) != 0 || c->bad)
		return -EINVAL;
	return 0;
}

/* ---- the line program -------------------------------------------------- */

struct machine {
	uint64_t addr;
	uint32_t op_index, file;
	int64_t line;
	struct raw_row *rows;
	size_t nrows, cap;
};

static void advance(struct machine *m, const struct header *h, uint32_t op_advance)
{
	uint64_t ops = (uint64_t)m->op_index + op_advance;

	m->addr += (uint64_t)h->min_inst * (ops / h->max_ops);
	m->op_index = ops % h->max_ops;
}

static int emit(struct machine *m, bool end)
{
	struct raw_row *r;

	if (m->line < INT32_MIN || m->line > INT32_MAX)
		return -EINVAL;
	if (m->nrows >= DWL_MAX_ROWS)
		return -E2BIG;
	if (ARRAY_RESERVE(m->rows, &m->cap, m->nrows + 1))
		return -ENOMEM;
	r = &m->rows[m->nrows];
	*r = (struct raw_row){
		.addr = m->addr,
		.line = (int32_t)m->line,
		.file = m->file,
		.order = (uint32_t)m->nrows,
		.end = end,
	};
	m->nrows++;
	return 0;
}

static void reset(struct machine *m)
{
	m->addr = 0;
	m->op_index = 0;
	m->file = 1;
	m->line = 1;
}

static int extended(struct cursor *c, struct machine *m, struct header *h,
		    struct dwl_table *t, unsigned int addr_size)
{
	const uint8_t *start;
	const char *name;
	uint64_t len, dir;
	int err;

	len = read_uint(c, 1);
	if (c->bad || len == 0 || !need(c, len))
		return -EINVAL;
	start = c->p;
	switch (*c->p++) {
	case DW_LNE_end_sequence:
		err = emit(m, true);
		reset(m);
		return err;
	case DW_LNE_set_address:
		/* As libdw: the unit's address size, whatever len says. */
		m->op_index = 0;
		m->addr = read_uint(c, addr_size);
		return c->bad ? -EINVAL : 0;
	case DW_LNE_define_file:
		name = read_cstr(c);
		dir = read_uleb(c);
		(void)read_uleb(c);
		(void)read_uleb(c);
		if (c->bad || dir >= h->ndirs)
			return -EINVAL;
		return add_file(t, h->dirs[dir], name);
	case DW_LNE_set_discriminator:
		(void)read_uleb(c);
		return c->bad ? -EINVAL : 0;
	default:
		c->p = start + len;
		return 0;
	}
}

/* The standard opcodes this reader knows, with the operand count DWARF
 * gives each: a header that says otherwise is malformed (libdw's rule). */
static const uint8_t std_operands[] = {
	[DW_LNS_copy] = 0,
	[DW_LNS_advance_pc] = 1,
	[DW_LNS_advance_line] = 1,
	[DW_LNS_set_file] = 1,
	[DW_LNS_set_column] = 1,
	[DW_LNS_negate_stmt] = 0,
	[DW_LNS_set_basic_block] = 0,
	[DW_LNS_const_add_pc] = 0,
	[DW_LNS_fixed_advance_pc] = 1,
	[DW_LNS_set_prologue_end] = 0,
	[DW_LNS_set_epilogue_begin] = 0,
	[DW_LNS_set_isa] = 1,
};

static int run(struct cursor *c, struct machine *m, struct header *h, struct dwl_table *t,
	       unsigned int addr_size)
{
	unsigned int op, adj, i;
	int err = 0;

	reset(m);
	while (!err && c->p < c->end) {
		op = *c->p++;
		if (op >= h->opcode_base) {
			adj = op - h->opcode_base;
			m->line += h->line_base + (int)(adj % h->line_range);
			advance(m, h, adj / h->line_range);
			err = emit(m, false);
			continue;
		}
		if (op == 0) {
			err = extended(c, m, h, t, addr_size);
			continue;
		}
		if (op >= sizeof(std_operands)) {
			/* A standard opcode from after DWARF 5: skip its
			 * operands, as many as the header says. */
			for (i = 0; i < h->std_lengths[op]; i++)
				(void)read_uleb(c);
			err = c->bad ? -EINVAL : 0;
			continue;
		}
		if (h->std_lengths[op] != std_operands[op])
			return -EINVAL;
		switch (op) {
		case DW_LNS_copy:
			err = emit(m, false);
			break;
		case DW_LNS_advance_pc:
			/* libdw reads it into 32 bits. */
			advance(m, h, (uint32_t)read_uleb(c));
			break;
		case DW_LNS_advance_line:
			m->line += (int32_t)read_sleb(c);
			break;
		case DW_LNS_set_file:
			m->file = (uint32_t)read_uleb(c);
			break;
		case DW_LNS_set_column:
		case DW_LNS_set_isa:
			(void)read_uleb(c);
			break;
		case DW_LNS_const_add_pc:
			advance(m, h, (255 - h->opcode_base) / h->line_range);
			break;
		case DW_LNS_fixed_advance_pc:
			m->addr += read_uint(c, 2);
			m->op_index = 0;
			break;
		default:
			break;
		}
		if (c->bad)
			err = -EINVAL;
	}
	return err;
}

/* ---- sorting and keeping what lookups can return ------------------------ */

static int raw_cmp(const void *a, const void *b)
{
	const struct raw_row *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* At one address, a sequence's end comes before rows that start one. */
	if (x->end != y->end)
		return x->end ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* A sequence of the program: rows in address order (DWARF says so; rows
 * at one address in an order of their own are put right here), the
 * sequences in any order. */
struct run {
	struct raw_row head;
	size_t first, n;
};

static int run_cmp(const void *a, const void *b)
{
	return raw_cmp(&((const struct run *)a)->head, &((const struct run *)b)->head);
}

/* Sorts *rawp as qsort with raw_cmp would, in time linear in the rows when
 * the sequences do not overlap, as compilers lay them out: the sequences
 * are sorted, not the rows. Overlapping ones take the row sort. *rawp may
 * be replaced by a sorted copy. */
static int sort_rows(struct raw_row **rawp, size_t n)
{
	struct raw_row *raw = *rawp, *copy;
	size_t nruns = 0, i, j, o;
	struct run *runs;
	bool in_place = true;

	for (i = 0; i < n; i++)
		nruns += raw[i].end || i + 1 == n;
	runs = malloc(nruns * sizeof(*runs));
	if (!runs)
		return -ENOMEM;
	for (i = 0, j = 0; i < n; j++) {
		size_t first = i, k;

		while (i < n && !raw[i].end)
			i++;
		i += i < n;
		for (k = first + 1; k < i && raw_cmp(&raw[k - 1], &raw[k]) < 0; k++)
			;
		if (k < i)
			qsort(raw + first, i - first, sizeof(*raw), raw_cmp);
		runs[j] = (struct run){ raw[first], first, i - first };
	}
	qsort(runs, nruns, sizeof(*runs), run_cmp);
	for (j = 1; j < nruns; j++) {
		const struct run *prev = &runs[j - 1];

		if (raw_cmp(&raw[prev->first + prev->n - 1], &raw[runs[j].first]) > 0) {
			free(runs);
			qsort(raw, n, sizeof(*raw), raw_cmp);
			return 0;
		}
		in_place &= runs[j].first == prev->first + prev->n;
	}
	if (!in_place) {
		copy = malloc(n * sizeof(*copy));
		if (!copy) {
			free(runs);
			return -ENOMEM;
		}
		for (j = 0, o = 0; j < nruns; o += runs[j].n, j++)
			memcpy(copy + o, raw + runs[j].first, runs[j].n * sizeof(*raw));
		free(raw);
		*rawp = copy;
	}
	free(runs);
	return 0;
}

static int keep_rows(struct dwl_table *t, struct raw_row **rawp, size_t n)
{
	struct dwl_row *rows, *r;
	struct raw_row *raw;
	size_t i, out = 0;
	int err;

	t->program_rows = n;
	if (n == 0)
		return 0;
	err = sort_rows(rawp, n);
	if (err)
		return err;
	raw = *rawp;
	/* libdw makes sure the last row ends a sequence, as the standard
	 * wants and some compilers forget. */
	raw[n - 1].end = 1;
	rows = malloc(n * sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		uint32_t file = raw[i].file > ROW_FILE_MASK ? ROW_FILE_MASK : raw[i].file;

		/* A lookup takes the rightmost row at or below its address:
		 * of rows at one address only the last is ever taken, and
		 * a row saying what the one before says changes nothing. */
		if (i + 1 < n && raw[i + 1].addr == raw[i].addr)
			continue;
		r = out ? &rows[out - 1] : NULL;
		if (r && !raw[i].end && !(r->file_end & ROW_END) && r->line == raw[i].line &&
		    r->file_end == file)
			continue;
		rows[out++] = (struct dwl_row){
			.addr = raw[i].addr,
			.line = raw[i].line,
			.file_end = file | (raw[i].end ? ROW_END : 0),
		};
	}
	r = realloc(rows, out * sizeof(*rows));
	t->rows = r ? r : rows;
	t->nrows = out;
	t->bytes += out * sizeof(*rows);
	return 0;
}

/* ---- the table --------------------------------------------------------- */

void dwlines__sections(Elf *elf, struct dwl_sections *out)
{
	static const char *const names[] = { "line", "line_str", "str" };
	const uint8_t **data[] = { &out->line, &out->line_str, &out->str };
	size_t *size[] = { &out->line_size, &out->line_str_size, &out->str_size };
	Elf_Scn *scn = NULL;
	size_t shstrndx, i;
	GElf_Ehdr ehdr;
	GElf_Shdr shdr;
	Elf_Data *ed;

	*out = (struct dwl_sections){};
	if (!elf || !gelf_getehdr(elf, &ehdr) || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return;
	out->big_endian = ehdr.e_ident[EI_DATA] == ELFDATA2MSB;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		const char *name;
		bool gnu_z;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type == SHT_NOBITS ||
		    !(name = elf_strptr(elf, shstrndx, shdr.sh_name)))
			continue;
		if (strncmp(name, ".debug_", 7) == 0)
			gnu_z = false;
		else if (strncmp(name, ".zdebug_", 8) == 0)
			gnu_z = true;
		else
			continue;
		name += gnu_z ? 8 : 7;
		for (i = 0; i < 3 && strcmp(name, names[i]); i++)
			;
		if (i == 3)
			continue;
		if (shdr.sh_flags & SHF_COMPRESSED) {
			(void)elf_compress(scn, 0, 0);
		} else if (gnu_z) {
			/* Inflated or not, the name stays: the magic tells. */
			ed = elf_getdata(scn, NULL);
			if (ed && ed->d_size >= 4 && memcmp(ed->d_buf, "ZLIB", 4) == 0)
				(void)elf_compress_gnu(scn, 0, 0);
		}
		ed = elf_getdata(scn, NULL);
		if (ed && ed->d_buf) {
			*data[i] = ed->d_buf;
			*size[i] = ed->d_size;
		}
	}
}

static int read_header(struct cursor *c, struct header *h, unsigned int addr_size)
{
	uint64_t unit_length, header_length;

	h->offset_size = 4;
	unit_length = read_uint(c, 4);
	if (unit_length == 0xffffffffu) {
		h->offset_size = 8;
		unit_length = read_uint(c, 8);
	}
	if (c->bad || unit_length > (uint64_t)(c->end - c->p))
		return -EINVAL;
	c->end = c->p + unit_length;
	h->version = read_uint(c, 2);
	if (c->bad || h->version < 2 || h->version > 5)
		return -EINVAL;
	if (h->version >= 5 && (read_uint(c, 1) != addr_size || read_uint(c, 1) != 0))
		return -EINVAL;
	header_length = read_uint(c, h->offset_size);
	if (c->bad || header_length > (uint64_t)(c->end - c->p))
		return -EINVAL;
	/* The fields and lists that follow end where the program starts. */
	h->program = c->p + header_length;
	h->unit_end = c->end;
	c->end = h->program;
	h->min_inst = read_uint(c, 1);
	h->max_ops = h->version >= 4 ? read_uint(c, 1) : 1;
	(void)read_uint(c, 1);	/* default_is_stmt */
	h->line_base = (int8_t)read_uint(c, 1);
	h->line_range = read_uint(c, 1);
	h->opcode_base = read_uint(c, 1);
	if (c->bad || h->max_ops == 0 || h->line_range == 0 || h->opcode_base == 0 ||
	    !need(c, h->opcode_base - 1))
		return -EINVAL;
	h->std_lengths = c->p - 1;
	c->p += h->opcode_base - 1;
	return 0;
}

struct dwl_table *dwlines__read(const struct dwl_sections *s, uint64_t offset,
				const char *comp_dir, unsigned int addr_size)
{
	struct header h = {};
	struct machine m = {};
	struct dwl_table *t = NULL;
	struct cursor c;
	int err = -EINVAL;

	if (!s || !s->line || offset >= s->line_size || (addr_size != 4 && addr_size != 8))
		goto fail;
	c = (struct cursor){ .p = s->line + offset, .end = s->line + s->line_size,
			     .big_endian = s->big_endian };
	err = read_header(&c, &h, addr_size);
	if (err)
		goto fail;
	t = calloc(1, sizeof(*t));
	if (!t) {
		err = -ENOMEM;
		goto fail;
	}
	t->bytes = sizeof(*t);
	/* read_header stopped where the lists begin: they must end exactly
	 * where header_length says the program starts (or 4 bytes before,
	 * in a CUBIN, whose header ends with a string offset of its own). */
	err = h.version >= 5 ? read_lists_v5(&c, s, &h, t) : read_lists_v4(&c, &h, comp_dir, t);
	if (!err && c.p != h.program && c.p + 4 != h.program)
		err = -EINVAL;
	if (err)
		goto fail;
	c.p = h.program;
	c.end = h.unit_end;
	err = run(&c, &m, &h, t, addr_size);
	if (!err)
		err = keep_rows(t, &m.rows, m.nrows);
	if (err)
		goto fail;
	free(m.rows);
	free(h.dirs);
	return t;
fail:
	free(m.rows);
	free(h.dirs);
	dwlines__free(t);
	errno = -err;
	return NULL;
}

void dwlines__free(struct dwl_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nfiles; i++)
		free(t->files[i]);
	free(t->files);
	free(t->rows);
	free(t);
}

int dwlines__lookup(const struct dwl_table *t, uint64_t addr, const char **file, int *line)
{
	const struct dwl_row *r;
	size_t i;

	if (!t)
		return -ENOENT;
	/* The rightmost row at or below addr. */
	i = array__upper_bound_u64(t->rows, t->nrows, sizeof(*t->rows),
				   offsetof(struct dwl_row, addr), addr);
	if (i == 0 || (t->rows[i - 1].file_end & ROW_END))
		return -ENOENT;
	r = &t->rows[i - 1];
	*file = dwlines__file(t, r->file_end & ROW_FILE_MASK);
	*line = r->line;
	return 0;
}

const char *dwlines__file(const struct dwl_table *t, uint64_t idx)
{
	return t && idx < t->nfiles ? t->files[idx] : NULL;
}

size_t dwlines__nfiles(const struct dwl_table *t)
{
	return t ? t->nfiles : 0;
}

size_t dwlines__nrows(const struct dwl_table *t)
{
	return t ? t->nrows : 0;
}

size_t dwlines__program_rows(const struct dwl_table *t)
{
	return t ? t->program_rows : 0;
}

size_t dwlines__bytes(const struct dwl_table *t)
{
	return t ? t->bytes + t->cap_files * sizeof(char *) : 0;
}
