/* The kernel's definitions of the types a BPF object names, cut out of the
 * kernel's BTF, for libbpf's CO-RE relocations (btf_custom_path): libbpf
 * 1.1 otherwise reads, copies and indexes the whole of it (5.4 MB, 130,000
 * types) before it relocates a program, which was most of a `record`'s
 * start (sys/kbtf.c says what a cut holds and why it relocates alike). */
#ifndef IGNIS_KBTF_H
#define IGNIS_KBTF_H

#include <stddef.h>

#define KBTF_VMLINUX "/sys/kernel/btf/vmlinux"

/* The names of the structs, unions, enums and typedefs in the .BTF section
 * of obj (a BPF object's ELF bytes), less any ___flavour suffix, each once:
 * a malloc'd array of malloc'd strings into *names (kbtf__free_names).
 * 0, or -errno: -ENOENT without a .BTF, -EINVAL for a malformed ELF. */
int kbtf__names(const void *obj, size_t obj_len, char ***names, size_t *n);
void kbtf__free_names(char **names, size_t n);

/* A raw BTF (malloc'd, into *out) that holds, for each name, every struct,
 * union, enum and typedef of that name (less a ___flavour suffix) in the
 * BTF at path (the kernel's: KBTF_VMLINUX), with every type they hold by
 * value; pointers lead to void. The file is read in blocks through a small
 * cache, never whole. 0, or -errno: -EINVAL for malformed BTF, -E2BIG past
 * the bounds of a cut, -ENOENT when it holds none of the names, the error
 * of opening or reading the file. */
int kbtf__cut(const char *path, char *const *names, size_t n, void **out, size_t *out_len);
/* The same from BTF in memory (tests, fuzzing). */
int kbtf__cut_mem(const void *btf, size_t btf_len, char *const *names, size_t n, void **out,
		  size_t *out_len);

/* For libbpf's btf_custom_path when it opens obj: a file of this process
 * (a memfd, made once and kept) holding the kernel's BTF cut for obj's
 * names, or NULL when none can be made (no kernel BTF file, a malformed
 * one) or after kbtf__disable: libbpf then reads the kernel's whole BTF.
 * One object per process: another obj gets NULL. */
const char *kbtf__path(const void *obj, size_t obj_len);
/* A load relocated with the cut failed: from now on kbtf__path says NULL. */
void kbtf__disable(void);

#endif
