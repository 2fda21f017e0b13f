/* multiproc internal — the boundary between multiproc and the user's code in
 * a child (a Process child, a pool worker).
 *
 * A child is a copy of its parent, call stack included: below the frame
 * that runs the user's target sit the parent's frames — the caller of
 * mproc_process_start, gtest's test body and its try/catch. A C++ exception
 * escaping the target would unwind into them and the child would go on
 * running the parent's program (under gtest: the remaining tests, a second
 * summary). So the child's own code runs under a frame that ends every
 * unwinding: one whose return address the call-frame information leaves
 * undefined, as glibc marks clone's (core/outermost.S; elsewhere than
 * x86-64 and AArch64, the bottom frame of a fresh stack). An escaping
 * exception finds no handler, C++
 * calls std::terminate, and multiproc's terminate handler describes the
 * exception and hands the description to the child's escape function,
 * which reports it and leaves. A plain C program has no exceptions, and
 * none of this costs it anything but the stack's mapping.
 */
#ifndef MPROC_CORE_BOUNDARY_H
#define MPROC_CORE_BOUNDARY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called with a description of an exception that escaped the user's code
 * ("std::runtime_error: boom", "exception of type 'int'"). Must not return;
 * if it does, the child aborts, as C++ would. */
typedef void (*mproc__escape_fn)(const char *what, void *ctx);

/* Longest description handed to an escape function, NUL included. */
#define MPROC__ESCAPE_TEXT_MAX 512

/* In the parent, before forking (mproc__fork_begin does it): installs
 * multiproc's terminate handler once, in front of the program's own, which
 * it calls wherever no escape is set — the parent's behaviour is
 * unchanged. Children inherit it. (A program that replaces the terminate
 * handler afterwards has its own run in children: they then end with it,
 * typically an abort, still never unwinding into the caller's code.) */
void mproc__boundary_prepare(void);

/* Sets what an escaping exception does from now on in this (single-threaded)
 * child. NULL restores C++'s default: abort. */
void mproc__set_escape(mproc__escape_fn fn, void *ctx);

/* Runs main(arg) under a frame that ends unwinding (see above; elsewhere
 * than x86-64 and AArch64, on a fresh stack as large as RLIMIT_STACK
 * allows), with the terminate handler above installed when the program is
 * C++. main must leave the process (mproc__child_exit); if it returns, the
 * child exits 1. A program without the C++ runtime (no exceptions) just
 * calls main. */
void mproc__run_isolated(void (*main)(void *), void *arg)
    __attribute__((noreturn));

/* Describes the exception being handled (inside a terminate handler or a
 * catch), snprintf-style: "std::runtime_error: boom" for a std::exception
 * (its dynamic type and what()), "exception of type 'int'" otherwise, or
 * "unknown exception" when the C++ runtime is absent. */
void mproc__describe_exception(char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_BOUNDARY_H */
