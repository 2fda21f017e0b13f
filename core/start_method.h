/* multiproc internal — start methods (multiproc/process.h), for Process
 * and the pool. */
#ifndef MPROC_CORE_START_METHOD_H
#define MPROC_CORE_START_METHOD_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One of the mproc_start_method_t values (MPROC_START_DEFAULT included). */
bool mproc__start_method_valid(int method);
/* method, or the global one for MPROC_START_DEFAULT. */
int mproc__start_method_resolve(int method);
/* "fork", "forkserver", "spawn" (resolved), for messages. */
const char *mproc__start_method_name(int method);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_START_METHOD_H */
