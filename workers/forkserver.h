/* multiproc internal — the pool's fork server, as the pool thread talks to
 * it: start it, ask it for workers, hear what they became. */
#ifndef MPROC_WORKERS_FORKSERVER_H
#define MPROC_WORKERS_FORKSERVER_H

#include <sys/types.h>

#include "core/base/check.h"
#include "workers/control.h"
#include "workers/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Starts the fork server, which will fork workers configured by cfg. With
 * fresh -1 it is forked (a copy of cfg taken at this fork: cfg must not
 * change afterwards); otherwise it is exec'd in the pool-server mode of the
 * spawn hook and reads cfg from the memory file fresh (workers/fresh.h).
 * Returns its pid and
 * sets *ctl to the pool's end of the control socket and *pidfd to a pidfd
 * of the server (-1 without pidfds). Call with the registry lock NOT held.
 * Errors: -errno of socketpair or fork (MPROC_EMFILE, MPROC_EAGAIN, ...). */
MPROC__MUST_USE int mproc__server_start(const mproc__worker_cfg_t *cfg,
                                        int fresh, int *ctl, int *pidfd);

/* The server's life on its end ctl of the control socket, forking workers
 * configured by cfg: returns when the pool has gone (ctl at end of file).
 * Runs with every signal blocked. */
void mproc__server_main(const mproc__worker_cfg_t *cfg, int ctl);

/* Asks for a worker in slot; serial numbers it ("PoolWorker-serial").
 * Never blocks: -EAGAIN when the server's queue is full (ask again once
 * its answers have been read). */
MPROC__MUST_USE int mproc__server_spawn(int ctl, unsigned slot, uint32_t serial);

/* Asks the server to SIGKILL its worker pid (one the pool could not take
 * over). The server ignores a pid that is not a live child of its own, so
 * a recycled pid is never hit. Never blocks (-EAGAIN when the queue is
 * full). */
MPROC__MUST_USE int mproc__server_kill(int ctl, pid_t pid);

/* Receives one control message without blocking; fds gets the attached
 * descriptors in MPROC__WFD_* order (-1 when absent: a SPAWNED message
 * whose descriptors could not be received — the descriptor limit — comes
 * with none). Call with the registry lock held, so that no fork elsewhere
 * copies the new descriptors before they are registered. Returns 1, 0 at
 * end of file, MPROC_EAGAIN when none is waiting, or an error. */
MPROC__MUST_USE int mproc__server_recv(int ctl, mproc__control_t *msg,
                       int fds[MPROC__WFD_COUNT]);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_WORKERS_FORKSERVER_H */
