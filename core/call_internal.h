/* multiproc internal — the call object, shared by Process children and
 * pool workers. */
#ifndef MPROC_CORE_CALL_INTERNAL_H
#define MPROC_CORE_CALL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/check.h"
#include "multiproc/call.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mproc_call {
  const char *target;
  const mproc_value_t *args;   /* tuple */
  const mproc_value_t *kwargs; /* dict */
  void *ctx;
  uint64_t id;
  bool failed;
  size_t message_len;
  char *message; /* MPROC_CALL_MESSAGE_MAX bytes once a failure is recorded:
                    calls that succeed never touch that memory */
  mproc_value_t *result;
};

/* A call over decoded args/kwargs (borrowed; they must outlive the call). */
void mproc__call_init(mproc_call_t *call, const char *target,
                      const mproc_value_t *args, const mproc_value_t *kwargs,
                      void *ctx, uint64_t id);
/* Frees the result and message, if any. */
void mproc__call_clear(mproc_call_t *call);

/* Runs target and settles what its return value means (call.h): returns
 * the code to report (0..255 for success or an exit code, -1 for a
 * failure), with call->message explaining any failure (or NULL when memory
 * for it could not be had). */
MPROC__MUST_USE int mproc__call_run(mproc_call_t *call, mproc_target_fn target);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_CALL_INTERNAL_H */
