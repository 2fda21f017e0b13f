/* multiproc internal — hooks for multiproc's own tests. Not installed, not
 * part of the API. */
#ifndef MPROC_CORE_PROCESS_TESTING_H
#define MPROC_CORE_PROCESS_TESTING_H

/* mproc__pidfd_force_disabled(true) forces the portable sentinel-pipe path
 * (as on kernels before pidfd_open) for processes started afterwards;
 * false returns to probing. mproc__pidfd_enabled() tells which is used. */
#include "core/pidfd.h"

#endif /* MPROC_CORE_PROCESS_TESTING_H */
