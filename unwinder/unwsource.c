#include <errno.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "symbolizer/bincache.h"
#include "unwinder/unwsource.h"
#include "unwinder/unwtable.h"

int unwsource__compile(void *ctx, const void *bin, size_t max_rows, struct unwstore_table *out)
{
	const struct binary *b = bin;
	struct unw_table *t;
	Elf *elf;
	int fd, err;

	(void)ctx;
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
	t = unw_table__compile(elf, NULL, max_rows);
	err = t ? 0 : -errno;
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
