/* Where the store's tables come from: a bincache binary's own file, and
 * its separate debug file's .debug_frame when the binary has none, compiled
 * by unw_table__compile (unwinder/unwtable.h). The store's compile
 * callback, run on its worker thread. */
#ifndef IGNIS_UNWSOURCE_H
#define IGNIS_UNWSOURCE_H

#include <stddef.h>

#include "unwinder/unwstore.h"

/* The callback's context (may be NULL): where separate debug files are
 * looked for besides /usr/lib/debug (symbolizer/debugfile.h). */
struct unwsource {
	const char *const *debug_dirs;
	size_t ndebug_dirs;
};

/* bin is a struct binary (symbolizer/bincache.h). The file is read through
 * a libelf handle of its own, so the symbolizer may use the binary at the
 * same time. 0 or -errno (-ENOENT: no ELF file, or no call frame
 * information in it or its debug file). */
int unwsource__compile(void *ctx, const void *bin, size_t max_rows, struct unwstore_table *out);
void unwsource__release(void *ctx, struct unwstore_table *t);

#endif
