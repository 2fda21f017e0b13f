/* multiproc internal — hooks for multiproc's own tests. Not installed, not
 * part of the API. */
#ifndef MPROC_CORE_PROCESS_TESTING_H
#define MPROC_CORE_PROCESS_TESTING_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Forces the portable sentinel-pipe path (as on kernels before pidfd_open)
 * for processes started afterwards; false returns to probing. */
void mproc__pidfd_force_disabled(bool disabled);

/* Whether processes started now use pidfds. */
bool mproc__pidfd_enabled(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_PROCESS_TESTING_H */
