/* What profiling needs before anything is loaded, said plainly when it is
 * missing. */
#ifndef IGNIS_PREFLIGHT_H
#define IGNIS_PREFLIGHT_H

/* Root, or CAP_BPF and CAP_PERFMON. 0 or -errno, reported on stderr. */
int preflight__privileges(void);
/* <sys_root>/kernel/btf/vmlinux. 0 or -ENOENT, reported on stderr. */
int preflight__btf(const char *sys_root);

#endif
