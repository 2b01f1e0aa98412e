/* The vDSO image. Every x86-64 process maps the same one, the running
 * kernel's, so the agent's own copy serves for unwinding and naming frames
 * in any process's [vdso]. */
#ifndef IGNIS_VDSO_H
#define IGNIS_VDSO_H

#include <stddef.h>

/* The image (copied once, never freed), or NULL when there is none. */
const void *vdso__image(size_t *size);
/* A new read-only-use file descriptor (memfd) holding the image, or -errno. */
int vdso__open(void);

#endif
