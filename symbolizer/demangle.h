/* Display names for mangled symbols: C++ (Itanium ABI, "_Z..."), Rust legacy
 * ("_ZN...17h<hash>E", shown without the hash) and Rust v0 ("_R..."), through
 * libiberty's cplus_demangle. */
#ifndef IGNIS_SYM_DEMANGLE_H
#define IGNIS_SYM_DEMANGLE_H

/* The demangled form of sym, with C++ parameter lists, as a string to free;
 * NULL when sym is not a mangled name we know (C and Go names such as
 * "main.hot"), cannot be demangled, or memory ran out — callers then show
 * sym as it is. libiberty's recursion limit stays on, so a hostile or very
 * long name (about 1000 characters and more for C++) gives NULL rather than
 * exhausting the stack. */
char *demangle(const char *sym);

#endif
