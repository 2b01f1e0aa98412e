#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include "base/hashmap.h"
#include "base/log.h"
#include "base/lru.h"
#include "sys/procmaps.h"
#include "symbolizer/gopclntab.h"
#include "symbolizer/unwind.h"
#include "symbolizer/vdso.h"

#define REREPORT_INTERVAL 64   /* unwinds of a process between module re-reads */

/* DWARF register numbers of the x86-64 psABI. */
enum { DW_X86_64_RBP = 6, DW_X86_64_RSP = 7, DW_X86_64_RIP = 16 };

struct uproc {
	struct hashmap_node node;
	struct lru_node lru;
	struct unwinder *u;
	uint32_t tgid;
	Dwfl *dwfl;
	int reported;
	int attached;
	uint64_t unwinds_since_report;
	/* The sample being unwound: the callbacks read from it. */
	const struct unwind_sample *cur;
	int ran_off;
};

struct unwinder {
	char *proc_root;
	size_t max_procs;
	struct hashmap procs;
	struct lru lru;                      /* processes, most recently used first */
	struct unwind_stats stats;
};

/* libdwfl's find_elf callback has no user pointer, and modules load lazily
 * from any libdwfl call; every such call is made by unwinder__unwind, which
 * keeps its process here meanwhile. */
static struct uproc *current;

static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	char path[PATH_MAX];
	const void *vdso;
	size_t size;
	int fd;

	(void)mod;
	(void)userdata;
	(void)base;
	*elfp = NULL;
	if (!strcmp(name, "[vdso]")) {
		vdso = vdso__image(&size);
		if (vdso)
			*elfp = elf_memory((char *)vdso, size);
		return -1;
	}
	if (!current || name[0] != '/')
		return -1;
	snprintf(path, sizeof(path), "%s/%u/root%s", current->u->proc_root, current->tgid,
		 name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	*file_name = strdup(path);
	return fd;
}

/* CFI comes from .eh_frame and .debug_frame of the mapped file itself;
 * separate debug files are the symbolizer's business. */
static int find_no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			     Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			     GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	(void)mod, (void)userdata, (void)modname, (void)base, (void)file_name;
	(void)debuglink_file, (void)debuglink_crc, (void)debuginfo_file_name;
	return -1;
}

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = find_no_debuginfo,
};

/* Where a Go binary's stacks end for the walk, as they do for Go's own
 * traceback and for the kernel's walk (unwinder/unwtable.c): see
 * gopclntab__stops. Past mcall on g0, the walk would find the goroutine
 * just preempted while m.curg (whose labels the sample carries) already
 * names the next one; past mstart, g0's stale words. Kept as the module's
 * userdata: the stops, or no_go_stops. */
static char no_go_stops;

/* How the walk ends with the frame at pc (its code's address):
 * UNWIND_END_OTHER when it goes on. */
static enum unwind_end ends_stack(Dwfl *dwfl, Dwarf_Addr pc)
{
	Dwfl_Module *m = dwfl_addrmodule(dwfl, pc);
	Dwarf_Addr bias;
	uint8_t flag;
	void **ud;

	if (!m || !dwfl_module_info(m, &ud, NULL, NULL, NULL, NULL, NULL, NULL))
		return UNWIND_END_OTHER;
	if (!*ud) {
		*ud = gopclntab__stops(dwfl_module_getelf(m, &bias));
		if (!*ud)
			*ud = &no_go_stops;
	}
	/* dwfl_module_getelf ran when the stops were made: bias is set */
	if (*ud == &no_go_stops || !dwfl_module_getelf(m, &bias))
		return UNWIND_END_OTHER;
	flag = gopclntab_stops__at(*ud, pc - bias);
	return flag & GOPCLNTAB_FLAG_TOPFRAME ? UNWIND_END_GO_TOP :
	       flag & GOPCLNTAB_FLAG_SPWRITE ? UNWIND_END_SWITCH : UNWIND_END_OTHER;
}

static void go_stops_free(void *userdata)
{
	if (userdata && userdata != &no_go_stops)
		gopclntab_stops__free(userdata);
}

static int free_module_stops(Dwfl_Module *m, void **userdata, const char *name,
			     Dwarf_Addr base, void *arg)
{
	(void)m, (void)name, (void)base, (void)arg;
	go_stops_free(*userdata);
	*userdata = NULL;
	return DWARF_CB_OK;
}

static int removed_module(Dwfl_Module *m, void *userdata, const char *name, Dwarf_Addr base,
			  void *arg)
{
	(void)m, (void)name, (void)base, (void)arg;
	go_stops_free(userdata);
	return DWARF_CB_OK;
}

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct uproc *p = arg;

	(void)dwfl;
	if (*thread_argp)
		return 0;
	*thread_argp = p;
	return p->cur->tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct uproc *p = arg;

	(void)dwfl;
	if (!p->cur || (uint32_t)tid != p->cur->tid)
		return false;
	*thread_argp = p;
	return true;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct uproc *p = arg;
	const struct unwind_sample *s = p->cur;
	uint64_t sp = s->regs[IGNIS_REG_SP];

	(void)dwfl;
	if (addr < sp || addr - sp > s->stack_len || s->stack_len - (addr - sp) < sizeof(*result)) {
		if (addr >= sp)
			p->ran_off = 1;
		return false;
	}
	memcpy(result, s->stack + (addr - sp), sizeof(*result));
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct uproc *p = arg;
	const uint64_t *r = p->cur->regs;
	Dwarf_Word regs[2] = { r[IGNIS_REG_BP], r[IGNIS_REG_SP] };

	Dwarf_Word ip = r[IGNIS_REG_IP];

	/* The PLT's CFA rule is an expression over rip, so rip must be a
	 * readable DWARF register as well as the frame's pc. */
	if (!dwfl_thread_state_registers(thread, DW_X86_64_RBP, 2, regs) ||
	    !dwfl_thread_state_registers(thread, DW_X86_64_RIP, 1, &ip))
		return false;
	dwfl_thread_state_register_pc(thread, ip);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

struct unwinder *unwinder__new(const char *proc_root, size_t max_procs)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->proc_root = strdup(proc_root);
	if (!u->proc_root) {
		free(u);
		errno = ENOMEM;
		return NULL;
	}
	u->max_procs = max_procs ? max_procs : 1;
	return u;
}

static void uproc_free(struct unwinder *u, struct uproc *p)
{
	hashmap__remove(&u->procs, &p->node);
	lru__unlink(&u->lru, &p->lru);
	if (p->dwfl) {
		dwfl_getmodules(p->dwfl, free_module_stops, NULL, 0);
		dwfl_end(p->dwfl);
	}
	free(p);
}

void unwinder__free(struct unwinder *u)
{
	if (!u)
		return;
	while (u->lru.head)
		uproc_free(u, lru_entry(u->lru.head, struct uproc, lru));
	hashmap__clear(&u->procs);
	free(u->proc_root);
	free(u);
}

static int tgid_eq(const struct hashmap_node *n, const void *key)
{
	return ((const struct uproc *)n)->tgid == *(const uint32_t *)key;
}

static uint64_t tgid_hash(uint32_t tgid)
{
	return hash_bytes(HASH_SEED, &tgid, sizeof(tgid));
}

void unwinder__forget(struct unwinder *u, uint32_t tgid)
{
	struct uproc *p = (void *)hashmap__find(&u->procs, tgid_hash(tgid), &tgid, tgid_eq);

	if (p)
		uproc_free(u, p);
}

/* libdwfl's maps reader skips the vDSO, which has CFI of its own (samples
 * in clock_gettime would otherwise end there). */
static void report_vdso(struct uproc *p, FILE *f)
{
	struct procmaps m;

	rewind(f);
	if (procmaps__parse(f, &m, NULL))
		return;
	for (size_t i = 0; i < m.n; i++)
		if (!strcmp(m.v[i].path, "[vdso]"))
			dwfl_report_module(p->dwfl, "[vdso]", m.v[i].start, m.v[i].end);
	procmaps__clear(&m);
}

/* (Re)reads the process's modules from its maps file. */
static int report_modules(struct uproc *p)
{
	char path[PATH_MAX];
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s/%u/maps", p->u->proc_root, p->tgid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	dwfl_report_begin(p->dwfl);
	err = dwfl_linux_proc_maps_report(p->dwfl, f);
	if (!err)
		report_vdso(p, f);
	dwfl_report_end(p->dwfl, removed_module, NULL);
	fclose(f);
	p->unwinds_since_report = 0;
	if (err) {
		pr_debug("unwind: modules of %u: %s\n", p->tgid,
			 err > 0 ? strerror(err) : dwfl_errmsg(-1));
		return err > 0 ? -err : -ENOEXEC;
	}
	return 0;
}

static struct uproc *get_proc(struct unwinder *u, uint32_t tgid)
{
	uint64_t h = tgid_hash(tgid);
	struct uproc *p = (void *)hashmap__find(&u->procs, h, &tgid, tgid_eq);

	if (p) {
		lru__touch(&u->lru, &p->lru);
		return p;
	}
	if (u->procs.count >= u->max_procs && u->lru.tail) {
		uproc_free(u, lru_entry(u->lru.tail, struct uproc, lru));
		u->stats.dwfl_evicted++;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->u = u;
	p->tgid = tgid;
	p->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!p->dwfl || hashmap__insert(&u->procs, &p->node, h)) {
		if (p->dwfl)
			dwfl_end(p->dwfl);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	lru__push_front(&u->lru, &p->lru);
	u->stats.dwfl_created++;
	return p;
}

struct frames_ctx {
	uint64_t *pcs;
	size_t n, max;
	enum unwind_end end;  /* UNWIND_END_OTHER, or a Go function's end */
};

static int on_frame(Dwfl_Frame *state, void *arg)
{
	struct frames_ctx *c = arg;
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	c->pcs[c->n++] = pc;
	/* A return address belongs to the call before it. */
	c->end = ends_stack(dwfl_thread_dwfl(dwfl_frame_thread(state)), activation ? pc : pc - 1);
	if (c->end != UNWIND_END_OTHER)
		return DWARF_CB_ABORT;
	return c->n < c->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

int unwinder__unwind(struct unwinder *u, const struct unwind_sample *s, uint64_t *pcs,
		     size_t max, enum unwind_end *end)
{
	struct frames_ctx c = { pcs, 0, max, UNWIND_END_OTHER };
	struct uproc *p;

	*end = UNWIND_END_OTHER;
	if (!max)
		return 0;
	p = get_proc(u, s->tgid);
	if (!p)
		return -ENOMEM;
	u->stats.unwinds++;
	current = p;
	/* First sight, or a library loaded since the last report (it has no
	 * module yet); a process that could not be attached is retried at
	 * the same pace, not on every sample. */
	if (!p->reported || ((!p->attached || !dwfl_addrmodule(p->dwfl, s->regs[IGNIS_REG_IP])) &&
			     p->unwinds_since_report >= REREPORT_INTERVAL)) {
		report_modules(p);
		p->reported = 1;
	} else if (!p->attached) {
		p->unwinds_since_report++;
		u->stats.failed++;
		current = NULL;
		return -ENOEXEC;
	}
	p->unwinds_since_report++;
	if (!p->attached) {
		/* attach_state learns the architecture from an ELF it is given
		 * or one already loaded; modules load lazily, so load one. */
		Dwfl_Module *m = dwfl_addrmodule(p->dwfl, s->regs[IGNIS_REG_IP]);
		Dwarf_Addr bias;
		Elf *elf = m ? dwfl_module_getelf(m, &bias) : NULL;

		if (!dwfl_attach_state(p->dwfl, elf, s->tgid, &thread_callbacks, p)) {
			pr_debug("unwind: attach %u: %s\n", s->tgid, dwfl_errmsg(-1));
			u->stats.failed++;
			current = NULL;
			return -ENOEXEC;
		}
		p->attached = 1;
	}
	p->cur = s;
	p->ran_off = 0;
	/* It ends with an error on every stack (no caller of the outermost
	 * frame, or a read outside the copy): the frames are what counts. */
	dwfl_getthread_frames(p->dwfl, s->tid, on_frame, &c);
	p->cur = NULL;
	current = NULL;
	/* Cut short by the copy, or by the frame limit: either way the
	 * stack goes on, and the profile must say so. */
	if (c.end != UNWIND_END_OTHER) {
		*end = c.end;
		u->stats.go_switch += c.end == UNWIND_END_SWITCH;
	} else if ((p->ran_off && s->stack_cut) || c.n == max) {
		*end = UNWIND_END_TRUNCATED;
		u->stats.truncated++;
	}
	if (c.n <= 1)
		u->stats.failed++;
	u->stats.frames += c.n;
	return c.n;
}

void unwinder__stats(const struct unwinder *u, struct unwind_stats *out)
{
	*out = u->stats;
}
