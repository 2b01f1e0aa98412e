#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hashmap.h"
#include "base/log.h"
#include "bpf/interp.h"
#include "sampling/progcount.h"
#include "sampling/python.h"
#include "symbolizer/pycode.h"

/* Code objects cached per process; a process with more starts over. */
#define MAX_CODES_PER_PROC 16384
/* Names, files and line tables kept across processes before a flush
 * frees them all. */
#define NAME_BUDGET (32u << 20)
/* Binaries not called python found without CPython's symbols, remembered
 * so each is looked at once; past this many the set starts over. */
#define MAX_NOT_PYTHON 65536

struct pycode_ent {
	struct hashmap_node node;
	uint64_t addr;
	uint32_t aux;          /* co_firstlineno as the walker read it (24 bits) */
	int ok;                /* read; else "[python: code object unreadable]" */
	const char *name, *file;  /* interned */
	struct pycode code;    /* its line table (name and file freed) */
};

struct pyproc {
	struct hashmap_node node;
	uint32_t tgid;
	const struct pycode_layout *layout;
	uint64_t code_type;    /* &PyCode_Type in the process, 0 unknown */
	uint64_t runtime;
	int mem_fd;
	struct hashmap codes;
	size_t ncodes;
};

struct istr {
	struct hashmap_node node;
	char s[];
};

struct iframe {
	struct hashmap_node node;
	struct agg_interp_frame f;
};

struct python {
	char *proc_root;
	int map_fd;
	volatile uint32_t *count;  /* python__set_count */
	struct hashmap procs;   /* pyproc by tgid */
	struct hashmap done;    /* tgids looked at: struct pydone */
	struct hashmap strs;
	struct hashmap frames;
	struct hashmap not_python;  /* struct binkey: no CPython in these */
	struct python_stats st;
};

/* A binary by identity (build id, path, size): the bincache's entry may
 * be freed and its address reused by another binary. */
struct binkey {
	struct hashmap_node node;
	uint64_t key;
};

/* A process whose maps were looked at: final (described, or a version
 * not supported) is not looked at again until it execs; otherwise its maps
 * are looked at again when they change (libpython may come later), and
 * logged says its one log line was written. */
struct pydone {
	struct hashmap_node node;
	uint32_t tgid;
	int final, logged;
};

static uint64_t tgid_hash(uint32_t tgid)
{
	return hash_bytes(HASH_SEED, &tgid, sizeof(tgid));
}

static int proc_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct pyproc *)n)->tgid == *(const uint32_t *)key;
}

static int done_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct pydone *)n)->tgid == *(const uint32_t *)key;
}

static int code_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct pycode_ent *)n)->addr == *(const uint64_t *)key;
}

static int binkey_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct binkey *)n)->key == *(const uint64_t *)key;
}

static int str_eq(const struct hashmap_node *n, const void *key)
{
	return strcmp(((const struct istr *)n)->s, key) == 0;
}

static int frame_eq(const struct hashmap_node *n, const void *key)
{
	const struct agg_interp_frame *a = &((const struct iframe *)n)->f, *b = key;

	return a->name == b->name && a->file == b->file && a->line == b->line &&
	       a->start_line == b->start_line;
}

void python__set_count(struct python *py, volatile uint32_t *count)
{
	py->count = count;
}

struct python *python__new(const char *proc_root, int interp_procs_fd)
{
	struct python *py = calloc(1, sizeof(*py));

	if (!py)
		return NULL;
	py->proc_root = strdup(proc_root);
	if (!py->proc_root) {
		free(py);
		errno = ENOMEM;
		return NULL;
	}
	py->map_fd = interp_procs_fd;
	return py;
}

static void codes_clear(struct pyproc *p, uint64_t *bytes)
{
	struct hashmap_node *n, *tmp;
	size_t i;

	hashmap__for_each(&p->codes, n, tmp, i) {
		if (bytes)
			*bytes -= ((struct pycode_ent *)n)->code.linetable_len;
		pycode__clear(&((struct pycode_ent *)n)->code);
		free(n);
	}
	hashmap__clear(&p->codes);
	p->ncodes = 0;
}

static void proc_free(struct pyproc *p, uint64_t *bytes)
{
	codes_clear(p, bytes);
	if (p->mem_fd >= 0)
		close(p->mem_fd);
	free(p);
}

static void names_clear(struct python *py)
{
	struct hashmap_node *n, *tmp;
	size_t i;

	hashmap__for_each(&py->strs, n, tmp, i)
		free(n);
	hashmap__for_each(&py->frames, n, tmp, i)
		free(n);
	hashmap__clear(&py->strs);
	hashmap__clear(&py->frames);
	py->st.bytes = 0;
}

void python__free(struct python *py)
{
	struct hashmap_node *n, *tmp;
	size_t i;

	if (!py)
		return;
	hashmap__for_each(&py->procs, n, tmp, i)
		proc_free((struct pyproc *)n, NULL);
	hashmap__clear(&py->procs);
	hashmap__for_each(&py->done, n, tmp, i)
		free(n);
	hashmap__clear(&py->done);
	hashmap__for_each(&py->not_python, n, tmp, i)
		free(n);
	hashmap__clear(&py->not_python);
	names_clear(py);
	free(py->proc_root);
	free(py);
}

/* What a binary says about the CPython in it (all link-time addresses). */
struct pysyms {
	uint64_t runtime, eval, eval_size, version, code_type;
};

static void scan_symtab(Elf *elf, Elf_Scn *scn, GElf_Shdr *sh, struct pysyms *s)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n;

	if (!data || !sh->sh_entsize)
		return;
	n = sh->sh_size / sh->sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, (int)i, &sym) || !sym.st_value)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || (name[0] != '_' && name[0] != 'P'))
			continue;
		if (!strcmp(name, "_PyRuntime")) {
			s->runtime = sym.st_value;
		} else if (!strcmp(name, "_PyEval_EvalFrameDefault")) {
			s->eval = sym.st_value;
			s->eval_size = sym.st_size;
		} else if (!strcmp(name, "Py_Version")) {
			s->version = sym.st_value;
		} else if (!strcmp(name, "PyCode_Type")) {
			s->code_type = sym.st_value;
		}
	}
}

/* .dynsym first: a stripped python3.X (Debian's) still exports them. */
static int read_syms(int fd, struct pysyms *s)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf *elf;

	memset(s, 0, sizeof(*s));
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return -EINVAL;
	for (int pass = 0; pass < 2 && (!s->runtime || !s->eval); pass++) {
		while ((scn = elf_nextscn(elf, scn))) {
			if (!gelf_getshdr(scn, &sh))
				continue;
			if (sh.sh_type == (pass ? SHT_SYMTAB : SHT_DYNSYM))
				scan_symtab(elf, scn, &sh, s);
		}
	}
	elf_end(elf);
	return s->runtime && s->eval ? 0 : -ENOENT;
}

static int mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct pyproc *p = ctx;
	ssize_t n;

	if (p->mem_fd < 0)
		return -ESRCH;
	if (!len)
		return 0;
	if (addr > INT64_MAX - len)
		return -EFAULT;
	n = pread(p->mem_fd, buf, len, (off_t)addr);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

/* "python3.11", "libpython3.9.so.1.0", "python3.13d": the minor version,
 * or -1; *named: the file is called python-something. */
static int minor_from_name(const char *path, int *named)
{
	const char *base = strrchr(path, '/');
	int minor = -1;

	base = base ? base + 1 : path;
	if (!strncmp(base, "lib", 3))
		base += 3;
	*named = !strncmp(base, "python", 6);
	if (*named && sscanf(base + 6, "3.%d", &minor) != 1)
		minor = -1;
	return minor;
}

static uint64_t binary_key(const struct binary *b)
{
	uint64_t size = binary__size(b);
	uint64_t h = hash_bytes(HASH_SEED, binary__build_id(b), strlen(binary__build_id(b)));

	h = hash_bytes(h, binary__path(b), strlen(binary__path(b)));
	return hash_bytes(h, &size, sizeof(size));
}

/* A binary not called python is looked at (its symbols read) once. */
static int not_python_seen(struct python *py, const struct binary *b, int add)
{
	uint64_t key = binary_key(b), h = key;  /* a hash already */
	struct binkey *k;
	struct hashmap_node *n, *tmp;
	size_t i;

	if (hashmap__find(&py->not_python, h, &key, binkey_eq))
		return 1;
	if (!add)
		return 0;
	if (py->not_python.count >= MAX_NOT_PYTHON) {
		hashmap__for_each(&py->not_python, n, tmp, i)
			free(n);
		hashmap__clear(&py->not_python);
	}
	k = malloc(sizeof(*k));
	if (!k)
		return 0;
	k->key = key;
	if (hashmap__insert(&py->not_python, &k->node, h))
		free(k);
	return 0;
}

static struct pydone *done_of(struct python *py, uint32_t tgid)
{
	uint64_t h = tgid_hash(tgid);
	struct pydone *d = (void *)hashmap__find(&py->done, h, &tgid, done_eq);

	if (d)
		return d;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->tgid = tgid;
	if (hashmap__insert(&py->done, &d->node, h)) {
		free(d);
		return NULL;
	}
	return d;
}

void python__process(struct python *py, uint32_t tgid, const struct procmaps *maps,
		     struct binary *const *bins)
{
	const struct binary *tried = NULL, *tried_named = NULL;
	const struct procmaps_entry *e = NULL;
	const struct pycode_layout *l;
	struct ignis_interp_proc rec;
	struct pysyms s = { 0 };
	struct pyproc *p;
	uint64_t vaddr, bias = 0;
	uint32_t hexversion = 0;
	char path[128];
	int minor = -1, named = 0, any_named = 0, found = 0;
	struct pydone *d;
	size_t i;

	if (!py)
		return;
	d = done_of(py, tgid);
	if (!d || d->final)
		return;
	/* Files called python3.X or libpython3.X, and any other ELF file
	 * mapped (a program that embeds CPython, linked statically: uwsgi,
	 * a C program with libpython3.X.a), each of those once. */
	for (i = 0; i < maps->n && !found; i++) {
		e = &maps->v[i];
		minor = minor_from_name(e->path, &named);
		if (!bins[i] || bins[i] == tried || binary__is_jit(bins[i]) ||
		    (!named && (binary__fd(bins[i]) < 0 || not_python_seen(py, bins[i], 0))))
			continue;
		tried = bins[i];
		if (named) {
			any_named = 1;
			tried_named = bins[i];
		}
		if (binary__fd(bins[i]) < 0 || read_syms(binary__fd(bins[i]), &s)) {
			if (!named)
				not_python_seen(py, bins[i], 1);
			continue;
		}
		if (binary__exec_vaddr(bins[i], e->offset, &vaddr) || vaddr > e->start)
			continue;
		bias = e->start - vaddr;
		found = 1;
	}
	if (!found) {
		if (any_named && !d->logged)
			pr_info("python: %u: %s has no _PyRuntime and _PyEval_EvalFrameDefault "
				"symbols (not CPython 3.8+?): native frames only\n", tgid,
				tried_named ? binary__path(tried_named) : "?");
		d->logged |= any_named;
		return;
	}
	d->final = 1;
	p = calloc(1, sizeof(*p));
	if (!p)
		return;
	p->tgid = tgid;
	snprintf(path, sizeof(path), "%s/%u/mem", py->proc_root, tgid);
	p->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s.version && mem_read(p, s.version + bias, &hexversion, sizeof(hexversion)) == 0 &&
	    hexversion >> 24 == 3)
		minor = (hexversion >> 16) & 0xff;
	l = minor >= 0 ? pycode__layout(minor) : NULL;
	if (!l && minor < 0) {
		/* 3.8 to 3.10 have no Py_Version: only the file's name says. */
		pr_info("python: %u: %s: CPython of unknown version (no Py_Version, not called "
			"python3.X): native frames only\n", tgid, e->path);
		goto fail;
	}
	if (!l) {
		pr_info("python: %u: %s: CPython 3.%d is not supported (3.8 to 3.13): native "
			"frames only\n", tgid, e->path, minor);
		goto fail;
	}
	/* 3.13 starts _PyRuntime with _Py_DebugOffsets (cookie, version,
	 * free_threaded, runtime_state.{size, finalizing, interpreters_head}):
	 * it says the symbol is what we think, refuses the free-threaded
	 * build (another object layout), and checks the table's first offset. */
	if (minor >= 13) {
		struct { char cookie[8]; uint64_t version, free_threaded, size, fin, head; } dbg;

		if (mem_read(p, s.runtime + bias, &dbg, sizeof(dbg)) ||
		    memcmp(dbg.cookie, "xdebugpy", 8) || dbg.free_threaded ||
		    dbg.head != l->bpf.runtime_interpreters_head) {
			pr_info("python: %u: %s: _PyRuntime's debug offsets are not those of a "
				"default 3.%d build (free-threaded?): native frames only\n", tgid,
				e->path, minor);
			goto fail;
		}
	}
	p->layout = l;
	p->runtime = s.runtime + bias;
	p->code_type = s.code_type ? s.code_type + bias : 0;
	rec = (struct ignis_interp_proc){
		.kind = IGNIS_INTERP_PYTHON,
		.version = 3 << 8 | minor,
		.eval_start = s.eval + bias,
		.eval_end = s.eval + bias + (s.eval_size ? s.eval_size : 1),
		.runtime = p->runtime,
		.py = l->bpf,
	};
	count_add(py->count, 1);
	if (bpf_map_update_elem(py->map_fd, &tgid, &rec, BPF_ANY)) {
		count_add(py->count, -1);
		/* Full (E2BIG): the process keeps native stacks; it is looked
		 * at again when its maps change, by which time room may have
		 * been made by an exit. */
		if (errno == E2BIG) {
			if (!py->st.map_full++)
				pr_warn("python: %u: the walker's map of Python processes is full: "
					"native frames only (ignis_python_map_full_total)\n", tgid);
			d->final = 0;
		} else {
			pr_warn("python: %u: cannot describe it to the walker: %s\n", tgid,
				strerror(errno));
		}
		goto fail;
	}
	if (hashmap__insert(&py->procs, &p->node, tgid_hash(tgid))) {
		bpf_map_delete_elem(py->map_fd, &tgid);
		count_add(py->count, -1);
		goto fail;
	}
	py->st.processes++;
	pr_debug("python: %u: CPython 3.%d in %s, _PyRuntime at %#" PRIx64 "\n", tgid, minor,
		 e->path, p->runtime);
	return;
fail:
	proc_free(p, NULL);
}

void python__forget(struct python *py, uint32_t tgid)
{
	uint64_t h = tgid_hash(tgid);
	struct hashmap_node *n;

	if (!py)
		return;
	n = hashmap__find(&py->done, h, &tgid, done_eq);
	if (n) {
		hashmap__remove(&py->done, n);
		free(n);
	}
	n = hashmap__find(&py->procs, h, &tgid, proc_eq);
	if (!n)
		return;
	hashmap__remove(&py->procs, n);
	proc_free((struct pyproc *)n, &py->st.bytes);
	bpf_map_delete_elem(py->map_fd, &tgid);
	count_add(py->count, -1);
	py->st.processes--;
}

static const char *intern_str(struct python *py, const char *s)
{
	size_t len = strlen(s);
	uint64_t h = hash_bytes(HASH_SEED, s, len);
	struct istr *e = (void *)hashmap__find(&py->strs, h, s, str_eq);

	if (e)
		return e->s;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->s, s, len + 1);
	if (hashmap__insert(&py->strs, &e->node, h)) {
		free(e);
		return NULL;
	}
	py->st.bytes += sizeof(*e) + len + 1;
	return e->s;
}

static const struct agg_interp_frame *intern_frame(struct python *py,
						   const struct agg_interp_frame *f)
{
	uint64_t h = hash_bytes(HASH_SEED, f, sizeof(*f));
	struct iframe *e = (void *)hashmap__find(&py->frames, h, f, frame_eq);

	if (e)
		return &e->f;
	e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	e->f = *f;
	if (hashmap__insert(&py->frames, &e->node, h)) {
		free(e);
		return NULL;
	}
	py->st.bytes += sizeof(*e);
	return &e->f;
}

static struct pycode_ent *code_of(struct python *py, struct pyproc *p, uint64_t addr,
				  uint32_t aux)
{
	uint64_t h = hash_bytes(HASH_SEED, &addr, sizeof(addr));
	struct pycode_ent *c = (void *)hashmap__find(&p->codes, h, &addr, code_eq);
	struct pycode code;

	if (c && c->aux == aux)
		return c;
	if (!c) {
		if (p->ncodes >= MAX_CODES_PER_PROC)
			codes_clear(p, &py->st.bytes);
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		c->addr = addr;
		if (hashmap__insert(&p->codes, &c->node, h)) {
			free(c);
			return NULL;
		}
		p->ncodes++;
	} else {
		/* Another code object at a freed one's address. */
		py->st.bytes -= c->code.linetable_len;
		pycode__clear(&c->code);
	}
	c->aux = aux;
	c->ok = 0;
	py->st.code_reads++;
	if (pycode__read(p->layout, mem_read, p, addr, p->code_type, &code)) {
		py->st.code_failed++;
		return c;
	}
	c->name = intern_str(py, code.name);
	c->file = intern_str(py, code.file);
	free(code.name);
	free(code.file);
	code.name = code.file = NULL;
	c->code = code;
	py->st.bytes += code.linetable_len;
	c->ok = c->name && c->file;
	return c;
}

static const struct agg_interp_frame markers[] = {
	{ .name = "[python: frames unknown]" },
	{ .name = "[python: thread state not found]" },
	{ .name = "[python: frame unreadable]" },
	{ .name = "[python: code object unreadable]" },
};

static void put(struct agg_frame *out, const struct agg_interp_frame *f)
{
	out->bin = NULL;
	out->addr = AGG_INTERP | (uint64_t)(uintptr_t)f;
}

int python__frame(struct python *py, uint32_t tgid, uint64_t w0, uint64_t w1,
		  struct agg_frame *out)
{
	struct agg_interp_frame f = { 0 };
	const struct agg_interp_frame *in;
	struct pyproc *p;
	struct pycode_ent *c;

	if (IGNIS_IFRAME_KIND(w0) == IGNIS_IFRAME_MARKER) {
		py->st.markers++;
		put(out, &markers[w1 == IGNIS_IFRAME_ERR_THREAD ? 1 :
				  w1 == IGNIS_IFRAME_ERR_READ ? 2 : 0]);
		return 0;
	}
	if (IGNIS_IFRAME_KIND(w0) != IGNIS_IFRAME_PYTHON)
		return -EINVAL;
	p = (void *)hashmap__find(&py->procs, tgid_hash(tgid), &tgid, proc_eq);
	if (!p) {
		put(out, &markers[0]);
		return 0;
	}
	c = code_of(py, p, w1, IGNIS_IFRAME_AUX(w0));
	if (!c)
		return -ENOMEM;
	if (!c->ok) {
		put(out, &markers[3]);
		return 0;
	}
	f.name = c->name;
	f.file = c->file;
	f.start_line = c->code.firstlineno > 0 ? (uint32_t)c->code.firstlineno : 0;
	f.line = pycode__line(p->layout, &c->code, IGNIS_IFRAME_OFFSET(w0));
	in = intern_frame(py, &f);
	if (!in)
		return -ENOMEM;
	py->st.frames++;
	put(out, in);
	return 0;
}

void python__trim(struct python *py, uint64_t pending)
{
	struct hashmap_node *n, *tmp;
	size_t i;

	if (!py || pending || py->st.bytes <= NAME_BUDGET)
		return;
	hashmap__for_each(&py->procs, n, tmp, i)
		codes_clear((struct pyproc *)n, NULL);
	names_clear(py);
}

void python__stats(const struct python *py, struct python_stats *s)
{
	*s = py->st;
}
