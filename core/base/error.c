/* Error descriptions, generated from the one table in error.h. */
#include "multiproc/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/base/error_detail.h"

static _Thread_local char detail[MPROC__DETAIL_MAX];

const char *mproc_last_error(void) { return detail; }

int mproc__fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return code;
}

int mproc__einval(const char *func, const char *fmt, ...) {
  int n = snprintf(detail, sizeof detail, "%s: ", func);
  if (n < 0 || (size_t)n >= sizeof detail) return MPROC_EINVAL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail + n, sizeof detail - (size_t)n, fmt, ap);
  va_end(ap);
  return MPROC_EINVAL;
}

const char *mproc_strerror(int err) {
  switch (err) {
    case 0:
      return "success";
#define MPROC__ERR_MSG(name, value, msg) \
  case (value):                          \
    return msg;
    MPROC_ERRNO_MAP(MPROC__ERR_MSG)
#undef MPROC__ERR_MSG
    default:
      break;
  }
  /* Any other errno: glibc's table of constant strings is thread-safe and
   * needs no buffer, unlike strerror(). */
  if (err < 0 && err > -4000) {
    const char *desc = strerrordesc_np(-err);
    if (desc != NULL) return desc;
  }
  return "unknown error";
}

const char *mproc_err_name(int err) {
  switch (err) {
    case 0:
      return "MPROC_OK";
#define MPROC__ERR_NAME(name, value, msg) \
  case (value):                           \
    return "MPROC_" #name;
    MPROC_ERRNO_MAP(MPROC__ERR_NAME)
#undef MPROC__ERR_NAME
    default:
      break;
  }
  return "MPROC_UNKNOWN";
}
