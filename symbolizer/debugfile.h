/* Debug info kept apart from the binary: separate debug files found by
 * build id or .gnu_debuglink (the layouts gdb and the distributions use),
 * and MiniDebugInfo, the xz-compressed ELF in .gnu_debugdata. */
#ifndef IGNIS_SYM_DEBUGFILE_H
#define IGNIS_SYM_DEBUGFILE_H

#include <libelf.h>
#include <stddef.h>

/* Decompressed MiniDebugInfo larger than this is refused (-EFBIG). */
#define DEBUGFILE_XZ_MAX_OUT (256u << 20)

/* Where separate debug files are looked for: dirs (users' own, searched
 * first), then "/usr/lib/debug". */
struct debugfile_dirs {
	const char *const *dirs;
	size_t ndirs;
};

/* The separate debug file of the ELF binary elf (borrowed) whose path as
 * the process sees it is path and whose hex build id is build_id ("" or
 * NULL if none). Tried in order:
 *   <dir>/.build-id/<xx>/<rest>.debug for each dir, whose build id must match;
 *   for .gnu_debuglink <name>: <dirname(path)>/<name>,
 *   <dirname(path)>/.debug/<name>, <dir><dirname(path)>/<name> for each
 *   dir, whose CRC32 must match the link's.
 * root: every path is looked up inside it ("<proc_root>/<pid>/root" for a
 * container; symlinks resolve as the process would see them); NULL or "" for
 * the host. Never the binary itself (path under root). An fd (O_RDONLY |
 * O_CLOEXEC) or -ENOENT (-EINVAL for bad arguments). */
int debugfile__find(const struct debugfile_dirs *d, const char *root, Elf *elf,
		    const char *build_id, const char *path);

/* MiniDebugInfo of elf: a malloc'd buffer holding the decompressed ELF
 * image, and its size. -ENOENT without a .gnu_debugdata section, -EINVAL
 * when it does not decompress to an ELF image, -EFBIG past
 * DEBUGFILE_XZ_MAX_OUT, -ENOMEM. */
int debugfile__minidebuginfo(Elf *elf, void **image, size_t *size);

/* One .xz stream decompressed into a malloc'd buffer (liblzma, bounded
 * memory and output). 0, -EINVAL (not a whole valid stream), -EFBIG,
 * -ENOMEM. */
int debugfile__xz_decode(const void *in, size_t len, void **out, size_t *outlen);

#endif
