/* multiproc internal — the forkserver start method for Process.
 *
 * The server is this program spawned (fork+exec, core/spawn.h) in server
 * mode, on first use or by mproc_forkserver_start: a fresh single-threaded
 * image with every MPROC_TARGET registered and nothing of the parent's
 * threads, locks or memory. It acts as the relay of core/relay.h for every
 * child it forks: the parent sends, on a SOCK_SEQPACKET control socket,
 * one request per child — the child's socket (and sentinel pipe's write
 * end) as SCM_RIGHTS, its identity, name, daemon flag and largest call
 * frame — and the server forks the child (mproc__fork), sends its pid and
 * pidfd on the child's socket, and later its wait status and usage. The
 * parent then treats the child as relayed: join, is_alive, terminate/kill
 * (through the pidfd), exitcode, result, timing and the sentinel behave as
 * with fork. The call itself goes on the child's socket, as always.
 *
 * When the parent's process ends, the control socket closes: the server
 * kills its daemonic children, waits for the others (no orphans, no
 * zombies) and leaves. A server that died is replaced at the next start.
 * Pool workers keep their own fork server (workers/forkserver.c).
 */
#ifndef MPROC_CORE_FORKSERVER_H
#define MPROC_CORE_FORKSERVER_H

#include "core/base/check.h"
#include "core/process_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parent: starts the server unless this process has one. Takes the
 * registry lock itself: call it without. MPROC_ENOSYS (no spawn hook),
 * fork and exec errors. */
MPROC__MUST_USE int mproc__forkserver_ensure(void);

/* Parent, registry lock held: asks the server for p's child, whose own
 * descriptors are sock and sentinel (-1: none; the caller closes its
 * copies). MPROC_EPIPE when the server is gone (it is then forgotten:
 * ensure starts a new one). */
MPROC__MUST_USE int mproc__forkserver_request(const mproc_process_t *p,
                                              int sock, int sentinel);

/* Parent, after a request found the server gone (MPROC_EPIPE), without
 * the registry lock: forgets it (reaping it), so that ensure starts a new
 * one. */
void mproc__forkserver_reset_if_dead(void);

/* The server (spawn.c found "S <fd>" in MPROC_SPAWN): never returns. */
void mproc__forkserver_main(int ctl) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_FORKSERVER_H */
