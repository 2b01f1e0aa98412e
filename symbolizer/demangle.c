#include <stddef.h>

#include <libiberty/demangle.h>

#include "symbolizer/demangle.h"

char *demangle(const char *sym)
{
	/* Only the prefixes of the manglings we show: with DMGL_AUTO,
	 * libiberty would also try other schemes (GNU v3 accepts
	 * "_GLOBAL__" names, for one), and a C function that happens to
	 * look mangled should keep its own name. Rust legacy names are
	 * "_ZN..." and are tried as Rust before C++ by cplus_demangle. */
	if (!sym || sym[0] != '_' || (sym[1] != 'Z' && sym[1] != 'R'))
		return NULL;
	/* DMGL_AUTO rather than relying on libiberty's global style;
	 * without DMGL_VERBOSE, Rust legacy names lose their "::h<hash>".
	 * The recursion limit (no DMGL_NO_RECURSE_LIMIT) also bounds the
	 * component arrays libiberty puts on the stack, which scale with
	 * the name's length. */
	return cplus_demangle(sym, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
}
