/* multiproc internal — the pool's fresh fork server: the start methods
 * forkserver and spawn (multiproc/pool.h).
 *
 * The fork server is then not forked from the program but exec'd from it
 * (/proc/self/exe in the spawn hook's pool-server mode 'P', see
 * core/spawn_env.h): a fresh, single-threaded image with nothing of the
 * parent's memory, locks or descriptors, which forks every worker. What
 * the workers need crosses exec in one memory file, the only descriptor
 * handed over besides the control socket:
 *
 *     [ board: n posts, mapped shared by pool, server and workers ]
 *     [ page-aligned: header | initializer's name | initargs, encoded ]
 *
 * The initializer travels by its registered name (a function pointer means
 * nothing in another image), initargs as a value encoding; the rest of
 * mproc__worker_cfg_t as plain fields (both ends are the same program).
 */
#ifndef MPROC_WORKERS_FRESH_H
#define MPROC_WORKERS_FRESH_H

#include <stddef.h>

#include "core/base/check.h"
#include "workers/board.h"
#include "workers/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parent: creates the memory file (close-on-exec) holding n posts and cfg
 * (its initializer must be registered: mproc_target_name), and maps its
 * board. Sets *fd and *board. Errors: MPROC_ENOMEM, MPROC_EMFILE, -errno
 * of memfd_create, ftruncate, mmap or pwrite. Free the board with
 * mproc__board_free(board, n), then close fd. */
MPROC__MUST_USE int mproc__fresh_new(const mproc__worker_cfg_t *cfg,
                                     size_t n, int *fd,
                                     mproc__post_t **board);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_WORKERS_FRESH_H */
