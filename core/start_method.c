/* The global start method (multiproc/process.h): one atomic, read at each
 * start by Process and pool. */
#include <stdatomic.h>

#include "core/base/error_detail.h"
#include "core/start_method.h"
#include "multiproc/process.h"

static atomic_int global_method = MPROC_START_FORK;

int mproc_set_start_method(mproc_start_method_t method) {
  if (!mproc__start_method_valid(method))
    return MPROC__EINVAL("method %d is not an mproc_start_method_t",
                         (int)method);
  atomic_store(&global_method,
               method == MPROC_START_DEFAULT ? MPROC_START_FORK : (int)method);
  return 0;
}

int mproc_get_start_method(void) { return atomic_load(&global_method); }

bool mproc__start_method_valid(int method) {
  return method >= MPROC_START_DEFAULT && method <= MPROC_START_SPAWN;
}

int mproc__start_method_resolve(int method) {
  return method == MPROC_START_DEFAULT ? mproc_get_start_method() : method;
}

const char *mproc__start_method_name(int method) {
  switch (mproc__start_method_resolve(method)) {
    case MPROC_START_FORKSERVER: return "forkserver";
    case MPROC_START_SPAWN: return "spawn";
    default: return "fork";
  }
}
