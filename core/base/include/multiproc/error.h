/* multiproc — error codes.
 *
 * Every public function returns 0 (or a count >= 0) on success and a negative
 * code on failure. System errors are the negated errno value (MPROC_EINVAL is
 * -EINVAL), so they can be compared with errno values directly; failures that
 * are multiproc's own use codes below -4000, outside every errno range.
 * mproc_strerror() and mproc_err_name() describe any code, including system
 * errors not listed here.
 */
#ifndef MPROC_ERROR_H
#define MPROC_ERROR_H

#include <errno.h>

/* What multiproc exports: the library is built with -fvisibility=hidden, and
 * only declarations marked MPROC_API are visible to programs that link it
 * (its internal mproc__ functions never are). */
#if defined(__GNUC__)
#define MPROC_API __attribute__((visibility("default")))
#else
#define MPROC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message). The first block is system errors a caller can
 * meet and act on; the second is multiproc's own. */
#define MPROC_ERRNO_MAP(X)                                                     \
  X(EPERM, -EPERM, "operation not permitted")                                  \
  X(ENOENT, -ENOENT, "no such file or directory")                              \
  X(ESRCH, -ESRCH, "no such process")                                          \
  X(EINTR, -EINTR, "interrupted system call")                                  \
  X(EIO, -EIO, "i/o error")                                                    \
  X(E2BIG, -E2BIG, "argument list too long")                                   \
  X(EBADF, -EBADF, "bad file descriptor")                                      \
  X(ECHILD, -ECHILD, "no child process to wait for")                           \
  X(EAGAIN, -EAGAIN, "resource temporarily unavailable")                       \
  X(ENOMEM, -ENOMEM, "not enough memory")                                      \
  X(EACCES, -EACCES, "permission denied")                                      \
  X(EBUSY, -EBUSY, "resource busy")                                            \
  X(EEXIST, -EEXIST, "already exists")                                         \
  X(EINVAL, -EINVAL, "invalid argument")                                       \
  X(ENFILE, -ENFILE, "file table overflow")                                    \
  X(EMFILE, -EMFILE, "too many open files")                                    \
  X(ENOSPC, -ENOSPC, "no space left on device")                                \
  X(EPIPE, -EPIPE, "broken pipe")                                              \
  X(ERANGE, -ERANGE, "result out of range")                                    \
  X(ENOSYS, -ENOSYS, "function not implemented")                               \
  X(EOVERFLOW, -EOVERFLOW, "value too large for defined data type")            \
  X(ENOTSOCK, -ENOTSOCK, "socket operation on non-socket")                     \
  X(ECONNRESET, -ECONNRESET, "connection reset by peer")                       \
  X(ETIMEDOUT, -ETIMEDOUT, "timed out")                                        \
  X(ECANCELED, -ECANCELED, "operation canceled")                               \
  X(EDEADLK, -EDEADLK, "resource deadlock avoided")                            \
                                                                               \
  X(ESTATE, -4001, "operation not valid in the object's current state")        \
  X(ENOTCHILD, -4002, "handle belongs to another process")                     \
  X(EDAEMONIC, -4003, "daemonic processes are not allowed to have children")   \
  X(EOF, -4010, "end of stream")                                               \
  X(ETRUNCATED, -4011, "truncated frame: the stream ended inside a frame")     \
  X(ETOOBIG, -4012, "frame larger than the allowed maximum")                   \
  X(EMALFORMED, -4013, "malformed message")                                    \
  X(EDEPTH, -4014, "values nested deeper than the limit")                      \
  X(ETYPE, -4020, "value has the wrong type")                                  \
  X(EARITY, -4021, "wrong number of arguments")                                \
  X(EFORMAT, -4022, "invalid format string")                                   \
  X(EKEY, -4023, "missing or unexpected keyword")                              \
  X(EUTF8, -4024, "string is not valid UTF-8")                                 \
  X(EOWNED, -4025, "value already belongs to a container")                     \
  X(EFAILED, -4030, "the target reported a failure")                           \
  X(ENOTARGET, -4031, "no target registered under that name")                  \
  X(EWORKER, -4032, "the worker running the task died")                        \
  X(ECLOSED, -4033, "the pool no longer accepts tasks")                        \
  X(ETERMINATED, -4034, "the pool was terminated before the task finished")    \
  X(ETASKTIMEOUT, -4035, "the task ran longer than the pool's task timeout")   \
  X(EBROKEN, -4036, "the pool's workers cannot start (initializer failing)") \
  X(EDUPTARGET, -4037, "two different functions registered as one target")   \
  X(EOWNERDEAD, -4040,                                                         \
    "the lock's previous holder died holding it; the lock is now held "        \
    "by the caller and consistent, the data it guards may not be")             \
  X(EEMPTY, -4041, "the queue is empty")                                       \
  X(EFULL, -4042, "the queue is full")                                         \
  X(EBROKENBARRIER, -4043, "the barrier is broken")

typedef enum {
  MPROC_OK = 0,
#define MPROC__ERR_ENUM(name, value, msg) MPROC_##name = (value),
  MPROC_ERRNO_MAP(MPROC__ERR_ENUM)
#undef MPROC__ERR_ENUM
  MPROC__ERR_END_ /* keeps the enum well-formed; not an error */
} mproc_errno_t;

/* A short English description of err; never NULL. Any negative errno value is
 * described, as are codes this version does not know ("unknown error"). */
MPROC_API const char *mproc_strerror(int err);

/* The symbolic name of err ("MPROC_ETIMEDOUT"), or "MPROC_UNKNOWN". */
MPROC_API const char *mproc_err_name(int err);

/* The details of the calling thread's latest failure that had any, in the
 * spirit of dlerror(): "target 'square' is registered twice: a.c:12 and
 * b.c:40". Every MPROC_EINVAL records one, naming the function and the
 * argument or options field at fault: "mproc_pool_submit: args must be a
 * tuple or list, not dict", "mproc_process_new: opts is NULL". Other
 * functions that record details say so in their documentation; the text
 * stays until the thread's next failure that records one. Never
 * NULL ("" when there is none); valid until that thread's next multiproc
 * call. */
MPROC_API const char *mproc_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_ERROR_H */
