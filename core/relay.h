/* multiproc internal — Process children of a program that ignores SIGCHLD.
 *
 * A program that ignores SIGCHLD (SIG_IGN, a common daemon idiom, or
 * SA_NOCLDWAIT) has the kernel reap its children as they end: their exit
 * status is lost, and wait4 only says ECHILD. So when start() finds SIGCHLD
 * ignored it forks a relay instead of the child: the relay — our child,
 * single-threaded, running only multiproc's code — restores SIGCHLD's
 * default, forks the real child and waits for it. It sends the real
 * child's pid (with a pidfd, SCM_RIGHTS) first, and its wait status and
 * resource usage once it has ended, over the child's own socket; then it
 * leaves (and the kernel reaps it). The parent watches and signals the real
 * child through that pidfd, and takes its status from the relay: exit
 * codes, signals, timing and join behave exactly as with SIGCHLD's default.
 * It costs one more fork, only in such programs.
 */
#ifndef MPROC_CORE_RELAY_H
#define MPROC_CORE_RELAY_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "core/base/check.h"
#include "core/fork.h"
#include "serialization/reader.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether this process's children are reaped by the kernel as they end. */
bool mproc__children_autoreaped(void);

/* In the relay, just forked (core/fork.h) with every signal blocked:
 * forks the real child as child says and returns in it. The relay itself
 * never returns. sock is the child's end of its socket, sentinel the write
 * end of its sentinel pipe or -1. */
void mproc__relay_main(const mproc__fork_t *child, int sock, int sentinel);

/* For a relay and the fork server (core/forkserver.h), to the parent on
 * the child's socket: the child's pid with a pidfd (or, pid < 0, the fork's
 * failure -errno); then its wait status and usage once it has ended. The
 * parent gone (EPIPE) is nobody's loss. */
void mproc__relay_send_child(int sock, pid_t pid);
void mproc__relay_send_exited(int sock, int status, const struct rusage *ru);

/* Parent, right after forking a relay (registry lock held, so that the
 * pidfd is registered before anyone forks): the real child's pid and pidfd
 * (-1 without pidfds). Errors: MPROC_ECHILD (the relay failed), -errno. */
MPROC__MUST_USE int mproc__relay_receive_child(int sock, pid_t *pid, int *pidfd);

/* Parent, once the real child has ended (or to wait for it when block):
 * reads the reports on its socket (frames of at most max bytes, each read
 * by fill(ctx, reader) once poll says so, as mproc__reader_fill, MPROC_EAGAIN
 * meaning poll again; the caller receives the descriptors a report may
 * carry) up to the relay's EXITED, handing the others to
 * apply(ctx, report). Returns 1 with *status and *ru filled, 0
 * when it still runs (!block), MPROC_ECHILD when the relay went without
 * saying (killed), or -errno. */
MPROC__MUST_USE int mproc__relay_collect(
    int sock, int sentinel, bool block, size_t max,
    int (*fill)(void *ctx, mproc__reader_t *r),
    void (*apply)(void *ctx, void *report), void *ctx, int *status,
    struct rusage *ru);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_RELAY_H */
