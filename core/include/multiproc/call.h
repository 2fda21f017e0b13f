/* multiproc — the call a target receives.
 *
 * One target signature serves a Process and a pool alike:
 *
 *     static int run_proc(mproc_call_t *call) {
 *       const char *name;
 *       int age;
 *       if (mproc_unpack(call, "name=s age=i **", &name, &age) < 0)
 *         return -1;                     // the message is already recorded
 *       printf("%s is %d\n", name, age);
 *       return 0;                        // the exit code of a Process
 *     }
 *
 * The call holds the decoded args (a tuple) and kwargs (a dict), the
 * caller's ctx pointer, and lets the target fail with a message or, in a
 * pool, set a result. New features reach targets as new functions on the
 * call, never as a new signature.
 *
 * What a target's return value means:
 *   0..255  success (0) or an exit code, as with exit(); a Process exits
 *           with it; a pool task with a non-zero code fails
 *   < 0     failure: the message given to mproc_call_fail (or, without one,
 *           the name of the error code) reaches the caller; a Process exits
 *           with 1, like a Python process with an uncaught exception
 *   > 255   failure, reported as out of range; a Process exits with 1
 */
#ifndef MPROC_CALL_H
#define MPROC_CALL_H

#include <stdarg.h>
#include <stdint.h>

#include "multiproc/error.h"
#include "multiproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_call mproc_call_t;

typedef int (*mproc_target_fn)(mproc_call_t *call);

/* Longest failure message kept (longer ones are cut). */
#define MPROC_CALL_MESSAGE_MAX 1024

/* The positional arguments, a tuple (empty when none were given). */
MPROC_API const mproc_value_t *mproc_call_args(const mproc_call_t *call);
/* The keyword arguments, a dict in the caller's order (maybe empty). */
MPROC_API const mproc_value_t *mproc_call_kwargs(const mproc_call_t *call);
/* The ctx pointer from the caller's options (in a Process: the child's copy
 * of the parent's memory at start). */
MPROC_API void *mproc_call_ctx(const mproc_call_t *call);
/* The target's name as carried by the call ("" when it has none). */
MPROC_API const char *mproc_call_target(const mproc_call_t *call);

/* Records a failure message (printf-style) for the caller and returns
 * MPROC_EFAILED, so a target can `return mproc_call_fail(call, ...)`. A
 * later call replaces the message. */
MPROC_API int mproc_call_fail(mproc_call_t *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* mproc_unpack_values (multiproc/value.h) on this call's args and
 * kwargs; on failure the Python-style message ("run_proc() missing required
 * argument 'age' (pos 2)") is recorded as by mproc_call_fail and the error
 * code returned. */
MPROC_API int mproc_unpack(mproc_call_t *call, const char *fmt, ...);

/* Sets the call's result: a pool returns it to the task's caller, a
 * Process to its parent (mproc_process_result). Takes v (value.h's rule);
 * a later call replaces the result. Errors: MPROC_EINVAL, MPROC_EOWNED. */
MPROC_API int mproc_call_set_result(mproc_call_t *call, mproc_value_t *v);

/* mproc_pack, then mproc_call_set_result. */
MPROC_API int mproc_call_return(mproc_call_t *call, const char *fmt, ...);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CALL_H */
