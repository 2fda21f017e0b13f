/* multiproc internal — recording the details of a failure for
 * mproc_last_error() (multiproc/error.h). */
#ifndef MPROC_CORE_ERROR_DETAIL_H
#define MPROC_CORE_ERROR_DETAIL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Longest detail kept, NUL included (longer ones are cut). */
#define MPROC__DETAIL_MAX 1024

/* Records the detail (printf-style) for this thread and returns code, so a
 * public function can `return mproc__fail(MPROC_EINVAL, "...", ...);`. */
int mproc__fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* MPROC_EINVAL with a detail that names the public function and what is
 * wrong with which argument or field: MPROC__EINVAL("args must be a tuple
 * or list, not %s", kind) in mproc_pool_submit records "mproc_pool_submit:
 * args must be a tuple or list, not dict". Use it in the public function
 * itself (the name is __func__). */
int mproc__einval(const char *func, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define MPROC__EINVAL(...) mproc__einval(__func__, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_ERROR_DETAIL_H */
