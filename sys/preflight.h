/* What profiling needs before anything is loaded, said plainly when it is
 * missing. */
#ifndef IGNIS_PREFLIGHT_H
#define IGNIS_PREFLIGHT_H

/* Capabilities newer than the oldest headers we build with (Linux 5.8 split
 * CAP_BPF and CAP_PERFMON out of CAP_SYS_ADMIN; 5.9 added
 * CAP_CHECKPOINT_RESTORE); the preflight and `ignis check` test them. */
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

/* Root, or CAP_BPF and CAP_PERFMON. 0 or -errno, reported on stderr. */
int preflight__privileges(void);
/* <sys_root>/kernel/btf/vmlinux. 0 or -ENOENT, reported on stderr. */
int preflight__btf(const char *sys_root);

#endif
