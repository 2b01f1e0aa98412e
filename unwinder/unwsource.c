#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "symbolizer/bincache.h"
#include "symbolizer/debugfile.h"
#include "unwinder/unwsource.h"
#include "unwinder/unwtable.h"

static bool has_section(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		n = elf_strptr(elf, shstrndx, sh.sh_name);
		if (n && !strcmp(n, name))
			return true;
	}
	return false;
}

int unwsource__compile(void *ctx, const void *bin, size_t max_rows, struct unwstore_table *out)
{
	const struct unwsource *src = ctx;
	struct debugfile_dirs dirs = { src ? src->debug_dirs : NULL, src ? src->ndebug_dirs : 0 };
	const struct binary *b = bin;
	struct unw_table *t;
	Elf *elf, *debug = NULL;
	int fd, dfd = -1, err;

	fd = binary__fd(b);
	if (fd < 0)
		return -ENOENT;
	fd = dup(fd);
	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf) {
		close(fd);
		return -ENOEXEC;
	}
	/* Code built without asynchronous unwind tables has CFI only in
	 * .debug_frame, which stripping moves to the debug file. (Files in a
	 * container's own root are looked up on the host only.) */
	if (!has_section(elf, ".debug_frame") &&
	    (dfd = debugfile__find(&dirs, NULL, elf, binary__build_id(b), binary__path(b))) >= 0) {
		debug = elf_begin(dfd, ELF_C_READ_MMAP, NULL);
		if (!debug)
			pr_debug("unwsource: %s: debug file unreadable\n", binary__path(b));
	}
	t = unw_table__compile(elf, debug, max_rows);
	err = t ? 0 : -errno;
	if (debug)
		elf_end(debug);
	if (dfd >= 0)
		close(dfd);
	elf_end(elf);
	close(fd);
	if (!t) {
		pr_debug("unwsource: %s: no table: %s\n", binary__path(b), strerror(-err));
		return err ? err : -ENOEXEC;
	}
	*out = (struct unwstore_table){
		.rows = unw_table__rows(t), .nrows = unw_table__nrows(t),
		.rules = unw_table__rules(t), .nrules = unw_table__nrules(t), .owner = t,
	};
	pr_debug("unwsource: %s: %zu rows, %zu rules\n", binary__path(b), out->nrows, out->nrules);
	return 0;
}

void unwsource__release(void *ctx, struct unwstore_table *t)
{
	(void)ctx;
	unw_table__free(t->owner);
	t->owner = NULL;
}
