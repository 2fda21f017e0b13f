/* The call a target receives: see call.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error_detail.h"
#include "core/base/check.h"
#include "core/call_internal.h"

void mproc__call_init(mproc_call_t *call, const char *target,
                      const mproc_value_t *args, const mproc_value_t *kwargs,
                      void *ctx, uint64_t id) {
  call->target = target ? target : "";
  call->args = args;
  call->kwargs = kwargs;
  call->ctx = ctx;
  call->id = id;
  call->failed = false;
  call->message_len = 0;
  call->message = NULL;
  call->result = NULL;
}

void mproc__call_clear(mproc_call_t *call) {
  mproc_value_free(call->result);
  call->result = NULL;
  free(call->message);
  call->message = NULL;
  call->message_len = 0;
  call->failed = false;
}

const mproc_value_t *mproc_call_args(const mproc_call_t *call) {
  return call ? call->args : NULL;
}

const mproc_value_t *mproc_call_kwargs(const mproc_call_t *call) {
  return call ? call->kwargs : NULL;
}

void *mproc_call_ctx(const mproc_call_t *call) {
  return call ? call->ctx : NULL;
}

const char *mproc_call_target(const mproc_call_t *call) {
  return call ? call->target : "";
}

__attribute__((format(printf, 2, 0))) static void set_message(
    mproc_call_t *call, const char *fmt, va_list ap) {
  call->failed = true;
  if (call->message == NULL) call->message = malloc(MPROC_CALL_MESSAGE_MAX);
  if (call->message == NULL) return; /* failed, without words */
  int n = vsnprintf(call->message, MPROC_CALL_MESSAGE_MAX, fmt, ap);
  if (n < 0) n = 0;
  call->message_len = (size_t)n < MPROC_CALL_MESSAGE_MAX
                          ? (size_t)n
                          : MPROC_CALL_MESSAGE_MAX - 1;
}

int mproc_call_fail(mproc_call_t *call, const char *fmt, ...) {
  if (call == NULL || fmt == NULL)
    return MPROC__EINVAL("%s is NULL", call == NULL ? "call" : "fmt");
  va_list ap;
  va_start(ap, fmt);
  set_message(call, fmt, ap);
  va_end(ap);
  return MPROC_EFAILED;
}

int mproc_unpack(mproc_call_t *call, const char *fmt, ...) {
  if (call == NULL || fmt == NULL)
    return MPROC__EINVAL("%s is NULL", call == NULL ? "call" : "fmt");
  /* Messages name the function like Python's: the target's name, unless
   * the format names it (":name"). */
  char err[MPROC_CALL_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  int rc = mproc_vunpack_values(call->args, call->kwargs, err, sizeof err,
                                fmt, ap);
  va_end(ap);
  if (rc < 0) {
    const char *generic = "function() ";
    if (call->target[0] != '\0' && strncmp(err, generic, strlen(generic)) == 0)
      /* It returns MPROC_EFAILED; rc is the code that counts here. */
      MPROC__IGNORE(mproc_call_fail(call, "%s() %s", call->target,
                                    err + strlen(generic)));
    else
      MPROC__IGNORE(
          mproc_call_fail(call, "%s", err[0] ? err : mproc_strerror(rc)));
  }
  return rc;
}

int mproc_call_set_result(mproc_call_t *call, mproc_value_t *v) {
  if (call == NULL || v == NULL) {
    (void)MPROC__EINVAL("%s is NULL", call == NULL ? "call" : "v");
    mproc_value_free(v);
    return MPROC_EINVAL;
  }
  if (mproc_value_is_owned(v)) return MPROC_EOWNED; /* not ours to free */
  if (v == call->result) return 0; /* set again: keep it, do not free it */
  mproc_value_free(call->result);
  call->result = v;
  return 0;
}

int mproc_call_return(mproc_call_t *call, const char *fmt, ...) {
  if (call == NULL || fmt == NULL)
    return MPROC__EINVAL("%s is NULL", call == NULL ? "call" : "fmt");
  mproc_value_t *v = NULL;
  va_list ap;
  va_start(ap, fmt);
  int rc = mproc_vpack(&v, fmt, ap);
  va_end(ap);
  if (rc < 0) return rc;
  return mproc_call_set_result(call, v);
}

int mproc__call_run(mproc_call_t *call, mproc_target_fn target) {
  int rc = target(call);
  if (rc >= 0 && rc <= 255) {
    if (call->failed && rc == 0) return -1; /* failed, yet returned 0 */
    return rc;
  }
  if (!call->failed) {
    if (rc < 0)
      mproc_call_fail(call, "target returned %s (%s)", mproc_err_name(rc),
                      mproc_strerror(rc));
    else
      mproc_call_fail(call, "target returned %d, outside 0..255", rc);
  }
  return -1;
}
