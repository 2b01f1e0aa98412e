#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <limits.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/array.h"
#include "base/log.h"
#include "base/str.h"
#include "symbolizer/demangle.h"
#include "symbolizer/elf.h"

/* Longest build id we keep. GNU ld writes 20 bytes (sha1) by default and at
 * most 32 (sha256 via --build-id=0x...); anything longer is not a build id
 * we could match against a debuginfod server anyway. */

/* The symbol had size 0 and must be extended to the next symbol. */
#define SYM_EXTEND	0x1
/* 'size' holds the distance to the end of the symbol's section, a cap on
 * the extension, so a size-0 symbol never runs into another section. */
#define SYM_SEC_END	0x2

/* 24 bytes: a big binary (a browser) has about a million functions. */
struct elf_sym {
	uint64_t addr;
	const char *name;	/* into libelf's copy of the string table */
	uint32_t size;		/* no function is 4 GiB; larger is clamped */
	uint8_t bind;		/* STB_*, only to rank duplicates */
	uint8_t flags;		/* SYM_* */
};

struct elf_load {
	uint64_t offset;
	uint64_t filesz;
	uint64_t vaddr;
	bool exec;
};

struct elf_binary {
	int fd;			/* -1 for an image in memory */
	void *image;		/* owned; the bytes libelf reads when fd is -1 */
	Elf *elf;
	struct elf_load *loads;
	size_t nr_loads;
	char build_id[2 * ELF_BUILD_ID_MAX + 1];

	bool syms_loaded;
	int syms_err;		/* sticky: a bad file stays bad */
	const char *table;	/* ".symtab", ".dynsym" or NULL, once loaded */
	struct elf_plt *plt;	/* PLT entries' names, once asked for */
	bool plt_loaded;
	size_t table_bytes;	/* what libelf read for the table and its strings */
	struct elf_sym *syms;
	size_t nr_syms;
};

static pthread_once_t libelf_once = PTHREAD_ONCE_INIT;
static bool libelf_ok;

static void libelf_init(void)
{
	libelf_ok = elf_version(EV_CURRENT) != EV_NONE;
}

bool elf__notes_build_id(Elf_Data *data, char *out)
{
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nhdr;

	if (!data || !data->d_buf)
		return false;
	while (off < data->d_size &&
	       (next = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
		const char *name = (const char *)data->d_buf + name_off;

		off = next;
		if (nhdr.n_type != NT_GNU_BUILD_ID || nhdr.n_namesz != sizeof("GNU") ||
		    memcmp(name, "GNU", sizeof("GNU")) != 0)
			continue;
		if (nhdr.n_descsz == 0 || nhdr.n_descsz > ELF_BUILD_ID_MAX)
			continue;
		str__hex(out, (const char *)data->d_buf + desc_off, nhdr.n_descsz);
		return true;
	}
	return false;
}

/* Program headers first: they are what the loader maps, and they survive
 * strippers that drop section headers. Sections are the fallback for files
 * without PT_NOTE (some separate debug files). */
static void read_build_id(struct elf_binary *b, size_t phnum)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;
	GElf_Phdr phdr;
	size_t i;

	for (i = 0; i < phnum; i++) {
		Elf_Data *data;

		if (!gelf_getphdr(b->elf, i, &phdr) || phdr.p_type != PT_NOTE)
			continue;
		/* rawchunk refuses ranges outside the file. */
		data = elf_getdata_rawchunk(b->elf, phdr.p_offset, phdr.p_filesz,
					    phdr.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (elf__notes_build_id(data, b->build_id))
			return;
	}

	while ((scn = elf_nextscn(b->elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE)
			continue;
		if (elf__notes_build_id(elf_getdata(scn, NULL), b->build_id))
			return;
	}
}

static int read_loads(struct elf_binary *b, size_t phnum)
{
	GElf_Phdr phdr;
	size_t i, n = 0;

	for (i = 0; i < phnum; i++) {
		if (!gelf_getphdr(b->elf, i, &phdr))
			return -ENOEXEC;
		if (phdr.p_type == PT_LOAD && phdr.p_filesz > 0)
			n++;
	}
	if (n == 0)
		return 0;
	b->loads = calloc(n, sizeof(*b->loads));
	if (!b->loads)
		return -ENOMEM;
	for (i = 0; i < phnum && b->nr_loads < n; i++) {
		struct elf_load *l;

		if (!gelf_getphdr(b->elf, i, &phdr))
			return -ENOEXEC;
		if (phdr.p_type != PT_LOAD || phdr.p_filesz == 0)
			continue;
		l = &b->loads[b->nr_loads++];
		l->offset = phdr.p_offset;
		l->filesz = phdr.p_filesz;
		l->vaddr = phdr.p_vaddr;
		l->exec = phdr.p_flags & PF_X;
	}
	return 0;
}

/* Reads the headers of b->elf, which b owns; frees b on failure. */
static struct elf_binary *finish_open(struct elf_binary *b)
{
	size_t phnum;
	GElf_Ehdr ehdr;
	int err;

	if (!b->elf || elf_kind(b->elf) != ELF_K_ELF || !gelf_getehdr(b->elf, &ehdr)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	if (elf_getphdrnum(b->elf, &phnum) != 0) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = read_loads(b, phnum);
	if (err)
		goto cleanup;
	read_build_id(b, phnum);
	return b;

cleanup:
	elf_binary__free(b);
	errno = -err;
	return NULL;
}

static struct elf_binary *binary_alloc(void)
{
	struct elf_binary *b;

	pthread_once(&libelf_once, libelf_init);
	if (!libelf_ok) {
		pr_warn("elf: libelf version mismatch\n");
		errno = ENOSYS;
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		errno = ENOMEM;
	return b;
}

struct elf_binary *elf_binary__open_fd(int fd)
{
	struct elf_binary *b;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	b = binary_alloc();
	if (!b) {
		int err = errno;

		close(fd);
		errno = err;
		return NULL;
	}
	b->fd = fd;
	/* ELF_C_READ rather than _MMAP: the file may be truncated under us
	 * (a package upgrade), which would be SIGBUS through a mapping and
	 * is a plain read error here. */
	b->elf = elf_begin(fd, ELF_C_READ, NULL);
	return finish_open(b);
}

struct elf_binary *elf_binary__open_mem(void *image, size_t size)
{
	struct elf_binary *b = binary_alloc();

	if (!b) {
		int err = errno;

		free(image);
		errno = err;
		return NULL;
	}
	b->fd = -1;
	b->image = image;
	b->elf = elf_memory(image, size);
	return finish_open(b);
}

static void plt_free(struct elf_plt *p);

void elf_binary__free(struct elf_binary *b)
{
	if (!b)
		return;
	plt_free(b->plt);
	free(b->syms);
	free(b->loads);
	if (b->elf)
		elf_end(b->elf);
	if (b->fd >= 0)
		close(b->fd);
	free(b->image);
	free(b);
}

int elf_binary__fd(const struct elf_binary *b)
{
	return b->fd;
}

Elf *elf_binary__elf(const struct elf_binary *b)
{
	return b->elf;
}

static Elf_Scn *section_named(Elf *elf, const char *want, GElf_Shdr *sh);

bool elf_binary__has_section(const struct elf_binary *b, const char *name)
{
	GElf_Shdr shdr;

	return section_named(b->elf, name, &shdr) != NULL;
}

const char *elf_binary__build_id(const struct elf_binary *b)
{
	return b->build_id;
}

size_t elf_binary__symbol_count(const struct elf_binary *b)
{
	return b->nr_syms;
}

static int bind_rank(uint8_t bind)
{
	switch (bind) {
	case STB_GLOBAL:
		return 0;
	case STB_WEAK:
		return 1;
	default:
		return 2;
	}
}

/* By address; on one address the entry lookups should return comes first:
 * the larger symbol (it covers the smaller one's range too), then global
 * before weak before local, then the public-looking name, then by name so
 * the choice is reproducible. */
static int sym_cmp(const void *pa, const void *pb)
{
	const struct elf_sym *a = pa, *b = pb;
	int ra, rb;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (!(a->flags & SYM_EXTEND) != !(b->flags & SYM_EXTEND))
		return (a->flags & SYM_EXTEND) ? 1 : -1;
	if (a->size != b->size)
		return a->size > b->size ? -1 : 1;
	ra = bind_rank(a->bind);
	rb = bind_rank(b->bind);
	if (ra != rb)
		return ra - rb;
	/* malloc over __libc_malloc, printf over _IO_printf (perf does too). */
	ra = (int)strspn(a->name, "_");
	rb = (int)strspn(b->name, "_");
	if (ra != rb)
		return ra - rb;
	return strcmp(a->name, b->name);
}

/* Distance from addr to the end of section shndx, or false when the symbol
 * does not sit in an allocated section we can read. */
static bool section_end(Elf *elf, size_t shndx, uint64_t addr, uint64_t *left)
{
	Elf_Scn *scn;
	GElf_Shdr shdr;

	if (shndx == SHN_UNDEF || shndx >= SHN_LORESERVE)
		return false;
	scn = elf_getscn(elf, shndx);
	if (!scn || !gelf_getshdr(scn, &shdr) || !(shdr.sh_flags & SHF_ALLOC))
		return false;
	if (addr < shdr.sh_addr || addr - shdr.sh_addr >= shdr.sh_size)
		return false;
	*left = shdr.sh_size - (addr - shdr.sh_addr);
	return true;
}

/* Reads the function symbols of one symbol table into b->syms (unsorted).
 * Counts come from the Elf_Data libelf actually read, never from sh_size
 * or sh_entsize, and elf_strptr checks each name ends inside its table. */
static int collect_syms(struct elf_binary *b, Elf_Scn *scn, const GElf_Shdr *shdr)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t entsz = gelf_fsize(b->elf, ELF_T_SYM, 1, EV_CURRENT);
	size_t i, n, cap;
	GElf_Ehdr ehdr;

	if (!data || entsz == 0 || !gelf_getehdr(b->elf, &ehdr))
		return -ENOEXEC;
	n = data->d_size / entsz;
	if (n > INT_MAX)	/* gelf_getsym's index is an int */
		n = INT_MAX;
	cap = 0;
	for (i = 0; i < n; i++) {
		GElf_Sym sym;
		uint8_t type;

		if (!gelf_getsym(data, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type == STT_FUNC || type == STT_GNU_IFUNC) &&
		    sym.st_shndx != SHN_UNDEF && sym.st_value != 0)
			cap++;
	}
	if (cap == 0)
		return 0;
	b->syms = calloc(cap, sizeof(*b->syms));
	if (!b->syms)
		return -ENOMEM;

	for (i = 0; i < n && b->nr_syms < cap; i++) {
		struct elf_sym *s;
		const char *name;
		uint64_t addr, left;
		GElf_Sym sym;
		uint8_t type;

		if (!gelf_getsym(data, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
		    sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
			continue;
		name = elf_strptr(b->elf, shdr->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		addr = sym.st_value;
		/* Bit 0 of a Thumb function's address is the mode, not code. */
		if (ehdr.e_machine == EM_ARM)
			addr &= ~(uint64_t)1;

		s = &b->syms[b->nr_syms++];
		s->addr = addr;
		s->name = name;
		s->bind = GELF_ST_BIND(sym.st_info);
		if (sym.st_size > 0) {
			s->size = sym.st_size > UINT32_MAX ? UINT32_MAX : (uint32_t)sym.st_size;
		} else {
			s->flags = SYM_EXTEND;
			if (section_end(b->elf, sym.st_shndx, addr, &left)) {
				s->flags |= SYM_SEC_END;
				s->size = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
			}
		}
	}
	return 0;
}

/* Sorts, gives size-0 symbols their extent (to the next symbol, capped at
 * their section's end) and drops duplicates, keeping sym_cmp's favourite. */
static int finish_syms(struct elf_binary *b)
{
	size_t i, j, out = 0;

	if (b->nr_syms == 0)
		return 0;
	qsort(b->syms, b->nr_syms, sizeof(*b->syms), sym_cmp);
	for (i = 0; i < b->nr_syms; i = j) {
		struct elf_sym *s = &b->syms[i];

		for (j = i + 1; j < b->nr_syms && b->syms[j].addr == s->addr; j++)
			;
		if (s->flags & SYM_EXTEND) {
			uint64_t ext;

			if (j < b->nr_syms) {
				ext = b->syms[j].addr - s->addr;
				if ((s->flags & SYM_SEC_END) && s->size < ext)
					ext = s->size;
			} else {
				/* Last symbol and no section to bound it: cover
				 * its first byte only rather than guess. */
				ext = s->flags & SYM_SEC_END ? s->size : 1;
			}
			s->size = ext > UINT32_MAX ? UINT32_MAX : (uint32_t)ext;
		}
		b->syms[out++] = *s;
	}
	b->nr_syms = out;
	return 0;
}

/* A symbol table and its string table, as libelf holds them once read. */
static size_t table_bytes(Elf *elf, const GElf_Shdr *shdr)
{
	Elf_Scn *str = elf_getscn(elf, shdr->sh_link);
	GElf_Shdr str_shdr;
	size_t n = shdr->sh_size;

	if (str && gelf_getshdr(str, &str_shdr))
		n += str_shdr.sh_size;
	return n;
}

static int load_syms(struct elf_binary *b)
{
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
	GElf_Shdr shdr, symtab_shdr, dynsym_shdr;
	const char *from = "no table";
	struct elf_sym *shrunk;
	int err;

	while ((scn = elf_nextscn(b->elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &shdr))
			return -ENOEXEC;
		if (shdr.sh_type == SHT_SYMTAB && !symtab) {
			symtab = scn;
			symtab_shdr = shdr;
		} else if (shdr.sh_type == SHT_DYNSYM && !dynsym) {
			dynsym = scn;
			dynsym_shdr = shdr;
		}
	}

	if (symtab) {
		from = ".symtab";
		err = collect_syms(b, symtab, &symtab_shdr);
		if (err)
			return err;
		b->table = ".symtab";
		b->table_bytes = table_bytes(b->elf, &symtab_shdr);
	}
	/* A .symtab without functions (some partially stripped files keep only
	 * section and file symbols) is no better than none. */
	if (b->nr_syms == 0 && dynsym) {
		free(b->syms);
		b->syms = NULL;
		from = ".dynsym";
		err = collect_syms(b, dynsym, &dynsym_shdr);
		if (err)
			return err;
		b->table = b->nr_syms ? ".dynsym" : NULL;
		b->table_bytes = table_bytes(b->elf, &dynsym_shdr);
	}
	if (!b->nr_syms)
		b->table = NULL;
	err = finish_syms(b);
	if (err)
		return err;
	if (b->nr_syms > 0) {
		shrunk = realloc(b->syms, b->nr_syms * sizeof(*b->syms));
		if (shrunk)
			b->syms = shrunk;
	}
	pr_debug("elf: %zu function symbols from %s\n", b->nr_syms, from);
	return 0;
}

/* File offset to link-time address through the PT_LOAD that maps it; an
 * executable segment wins if (oddly) two claim the offset. */
static bool offset_to_vaddr(const struct elf_binary *b, uint64_t off, uint64_t *vaddr)
{
	const struct elf_load *found = NULL;
	size_t i;

	for (i = 0; i < b->nr_loads; i++) {
		const struct elf_load *l = &b->loads[i];

		if (off < l->offset || off - l->offset >= l->filesz)
			continue;
		if (!found || (l->exec && !found->exec))
			found = l;
	}
	if (!found)
		return false;
	*vaddr = off - found->offset + found->vaddr;
	return true;
}

static int ensure_syms(struct elf_binary *b)
{
	if (!b->syms_loaded) {
		b->syms_loaded = true;
		b->syms_err = load_syms(b);
		if (b->syms_err) {
			int err = b->syms_err;

			free(b->syms);
			b->syms = NULL;
			b->nr_syms = 0;
			b->table = NULL;
			pr_debug("elf: cannot read symbols: %s\n",
				 err == -ENOMEM ? "out of memory" : elf_errmsg(-1));
			/* Memory may come back; a corrupt file will not. */
			if (err == -ENOMEM) {
				b->syms_loaded = false;
				b->syms_err = 0;
			}
			return err;
		}
	}
	return b->syms_err;
}

int elf_binary__vaddr(const struct elf_binary *b, uint64_t off, uint64_t *vaddr)
{
	return offset_to_vaddr(b, off, vaddr) ? 0 : -ENOENT;
}

int elf_binary__exec_vaddr(const struct elf_binary *b, uint64_t off, uint64_t *vaddr)
{
	for (size_t i = 0; i < b->nr_loads; i++) {
		const struct elf_load *l = &b->loads[i];
		uint64_t page = l->offset & ~4095ULL;

		if (!l->exec || off < page)
			continue;
		if (off >= l->offset) {
			if (off - l->offset >= l->filesz)
				continue;
			*vaddr = l->vaddr + (off - l->offset);
		} else {
			if (l->vaddr < l->offset - off)
				continue;
			*vaddr = l->vaddr - (l->offset - off);
		}
		return 0;
	}
	return -ENOENT;
}

const char *elf_binary__table(struct elf_binary *b)
{
	return ensure_syms(b) ? NULL : b->table;
}

int elf_binary__lookup(struct elf_binary *b, uint64_t addr, const char **name, uint64_t *sym_off)
{
	const struct elf_sym *s;
	size_t lo;
	int err = ensure_syms(b);

	if (err)
		return err;
	/* Last symbol starting at or before addr. */
	lo = ARRAY_UPPER_BOUND(b->syms, b->nr_syms, addr, addr);
	if (lo == 0)
		return -ENOENT;
	s = &b->syms[lo - 1];
	if (addr - s->addr >= s->size)
		return -ENOENT;
	*name = s->name;
	*sym_off = addr - s->addr;
	return 0;
}

int elf_binary__symbolize(struct elf_binary *b, uint64_t off, const char **name,
			  uint64_t *sym_off)
{
	uint64_t addr;
	int err = ensure_syms(b);

	if (err)
		return err;
	if (!offset_to_vaddr(b, off, &addr))
		return -ENOENT;
	return elf_binary__lookup(b, addr, name, sym_off);
}

/* ---- PLT entries --------------------------------------------------------
 * The stubs through which calls reach other objects' functions have no
 * symbol; perf and objdump name each after the relocation of the GOT slot
 * it jumps through: "puts@plt", or "*ABS*+0xa0cb0@plt" for an IFUNC the
 * object resolves itself. On x86-64 every 16-byte entry (of .plt.sec when
 * the binary has IBT stubs, else of .plt after its header) holds one
 * `jmp *slot(%rip)` (ff 25, maybe after endbr64 or a bnd prefix). */

#define PLT_ENTRY 16
#define PLT_MAX_ENTRIES (1u << 20)

struct elf_plt {
	uint64_t lo, hi;	/* the entries' addresses */
	char **names;		/* one per entry; NULL for an entry not named */
	size_t n;
};

struct plt_slot {
	uint64_t got;		/* the relocation's r_offset */
	char *name;
};

static void plt_free(struct elf_plt *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->names[i]);
	free(p->names);
	free(p);
}

static Elf_Scn *section_named(Elf *elf, const char *want, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	const char *n;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, sh) && sh->sh_type != SHT_NOBITS &&
		    (n = elf_strptr(elf, shstrndx, sh->sh_name)) && !strcmp(n, want))
			return scn;
	return NULL;
}

/* The name of relocation r, or NULL when it is of a kind not named. */
static char *plt_name(Elf *elf, const GElf_Rela *r, Elf_Data *dynsym, size_t strndx)
{
	const char *sym;
	char *out = NULL, *dem;
	GElf_Sym s;

	switch (GELF_R_TYPE(r->r_info)) {
	case R_X86_64_JUMP_SLOT:
		if (!dynsym || !gelf_getsym(dynsym, (int)GELF_R_SYM(r->r_info), &s) ||
		    !(sym = elf_strptr(elf, strndx, s.st_name)) || !*sym)
			return NULL;
		dem = demangle(sym);
		if (asprintf(&out, "%s@plt", dem ? dem : sym) < 0)
			out = NULL;
		free(dem);
		return out;
	case R_X86_64_IRELATIVE:
		if (asprintf(&out, "*ABS*+0x%" PRIx64 "@plt", (uint64_t)r->r_addend) < 0)
			out = NULL;
		return out;
	default:
		return NULL;
	}
}

static int slot_cmp(const void *a, const void *b)
{
	const struct plt_slot *x = a, *y = b;

	return x->got < y->got ? -1 : x->got > y->got;
}

/* .rela.plt's relocations by GOT slot; *n of them. */
static struct plt_slot *plt_slots(Elf *elf, size_t *n)
{
	GElf_Shdr rela_sh, sym_sh;
	Elf_Data *data, *dynsym = NULL;
	struct plt_slot *v;
	Elf_Scn *rela, *syms;
	size_t i, m = 0;

	if (!(rela = section_named(elf, ".rela.plt", &rela_sh)) || rela_sh.sh_type != SHT_RELA ||
	    !(data = elf_getdata(rela, NULL)) || !rela_sh.sh_entsize)
		return NULL;
	*n = data->d_size / rela_sh.sh_entsize;
	if (*n == 0 || *n > PLT_MAX_ENTRIES || !(v = calloc(*n, sizeof(*v))))
		return NULL;
	syms = elf_getscn(elf, rela_sh.sh_link);
	if (syms && gelf_getshdr(syms, &sym_sh) && sym_sh.sh_type == SHT_DYNSYM)
		dynsym = elf_getdata(syms, NULL);
	for (i = 0; i < *n; i++) {
		GElf_Rela r;

		if (!gelf_getrela(data, (int)i, &r))
			continue;
		v[m].name = plt_name(elf, &r, dynsym, dynsym ? sym_sh.sh_link : 0);
		if (v[m].name)
			v[m++].got = r.r_offset;
	}
	*n = m;
	qsort(v, m, sizeof(*v), slot_cmp);
	return v;
}

/* The GOT slot the entry at addr (its 16 bytes e) jumps through, or 0. */
static uint64_t plt_got(const uint8_t *e, uint64_t addr)
{
	for (unsigned k = 0; k + 6 <= PLT_ENTRY; k++) {
		int32_t disp;

		if (e[k] != 0xff || e[k + 1] != 0x25)
			continue;
		memcpy(&disp, e + k + 2, sizeof(disp));	/* little-endian */
		return addr + k + 6 + (int64_t)disp;
	}
	return 0;
}

static struct elf_plt *load_plt(Elf *elf)
{
	struct plt_slot *slots = NULL;
	struct elf_plt *p = NULL;
	Elf_Data *code;
	GElf_Shdr sh;
	GElf_Ehdr eh;
	Elf_Scn *plt;
	size_t nslots = 0, n, skip = 0, i;

	if (!gelf_getehdr(elf, &eh) || eh.e_machine != EM_X86_64)
		return NULL;
	plt = section_named(elf, ".plt.sec", &sh);
	if (!plt) {
		plt = section_named(elf, ".plt", &sh);
		skip = 1;	/* the lazy-binding header */
	}
	if (!plt || !(sh.sh_flags & SHF_EXECINSTR) || !(code = elf_getdata(plt, NULL)) ||
	    code->d_size < sh.sh_size || sh.sh_addr > UINT64_MAX - sh.sh_size ||
	    sh.sh_size / PLT_ENTRY <= skip)
		return NULL;
	n = sh.sh_size / PLT_ENTRY - skip;
	if (n > PLT_MAX_ENTRIES || !(slots = plt_slots(elf, &nslots)))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->names = calloc(n, sizeof(*p->names))))
		goto out;
	p->lo = sh.sh_addr + skip * PLT_ENTRY;
	p->hi = p->lo + n * PLT_ENTRY;
	p->n = n;
	for (i = 0; i < n; i++) {
		uint64_t at = p->lo + i * PLT_ENTRY;
		struct plt_slot key = { .got = plt_got((const uint8_t *)code->d_buf +
						       (skip + i) * PLT_ENTRY, at) };
		struct plt_slot *hit = key.got ? bsearch(&key, slots, nslots, sizeof(*slots),
							 slot_cmp) : NULL;

		if (hit && hit->name) {
			p->names[i] = hit->name;	/* moved: one entry per slot */
			hit->name = NULL;
		}
	}
out:
	for (i = 0; i < nslots; i++)
		free(slots[i].name);
	free(slots);
	if (p && !p->names) {
		free(p);
		p = NULL;
	}
	return p;
}

const char *elf_binary__plt_name(struct elf_binary *b, uint64_t vaddr)
{
	if (!b->plt_loaded) {
		b->plt_loaded = true;
		b->plt = load_plt(b->elf);
	}
	if (!b->plt || vaddr < b->plt->lo || vaddr >= b->plt->hi)
		return NULL;
	return b->plt->names[(vaddr - b->plt->lo) / PLT_ENTRY];
}

bool elf_binary__is_sigreturn(const struct elf_binary *b, uint64_t off)
{
	/* mov $15 (rt_sigreturn), %rax; syscall */
	static const unsigned char code[] = { 0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05 };
	unsigned char buf[2 * sizeof(code)];
	uint64_t from = off >= sizeof(code) - 1 ? off - (sizeof(code) - 1) : 0;
	ssize_t n;

	if (!b || b->fd < 0)
		return false;
	/* One byte more after off: a caller's address is looked up one byte
	 * before the return address, and the handler returns to the start. */
	n = pread(b->fd, buf, sizeof(buf), (off_t)from);
	for (ssize_t i = 0; n > 0 && i + (ssize_t)sizeof(code) <= n; i++)
		if (from + i <= off + 1 && off < from + i + sizeof(code) &&
		    !memcmp(buf + i, code, sizeof(code)))
			return true;
	return false;
}

size_t elf_binary__bytes(const struct elf_binary *b)
{
	return sizeof(*b) + b->nr_loads * sizeof(*b->loads) + b->nr_syms * sizeof(*b->syms) +
	       b->table_bytes;
}

int elf_binary__drop_syms(struct elf_binary *b)
{
	Elf *fresh;

	if (!b->syms_loaded || b->fd < 0)
		return 0;
	/* libelf keeps every section it has read until elf_end: a fresh
	 * handle is the only way to give the tables back. */
	fresh = elf_begin(b->fd, ELF_C_READ, NULL);
	if (!fresh)
		return -ENOMEM;
	elf_end(b->elf);
	b->elf = fresh;
	free(b->syms);
	b->syms = NULL;
	b->nr_syms = 0;
	b->table = NULL;
	b->table_bytes = 0;
	b->syms_loaded = false;
	plt_free(b->plt);
	b->plt = NULL;
	b->plt_loaded = false;
	return 0;
}
