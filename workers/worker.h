/* multiproc internal — a pool worker, and the fork server that forks it, as
 * seen from their own side.
 *
 * What a worker needs is this configuration and its descriptors, nothing of
 * the pool's struct: so a worker could be started by other means (exec'd,
 * or on another host) from the same few fields.
 */
#ifndef MPROC_WORKERS_WORKER_H
#define MPROC_WORKERS_WORKER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "multiproc/call.h"
#include "multiproc/value.h"
#include "workers/board.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  mproc_target_fn initializer;   /* NULL: none */
  const mproc_value_t *initargs; /* a tuple or list, or NULL for () */
  size_t max_frame;              /* largest task or answer payload */
  size_t max_rss_kb;             /* report memory after every task when set */
  uint64_t task_timeout_ns;      /* 0: none. A task whose target ran longer
                                    fails with MPROC_ETASKTIMEOUT even when
                                    the pool's kill came too late to stop
                                    it (a loaded machine) */
  sigset_t mask;                 /* the signal mask workers start with */
  bool sigchld_ignored;          /* the program ignores SIGCHLD: so do the
                                    workers (the server cannot: it reaps) */
  mproc__post_t *board;          /* the pool's board, one post per slot */
  size_t nposts;                 /* its posts: one per slot */
  const char *initializer_name;  /* a fresh server's initializer that is
                                    not registered in its image (then
                                    initializer is NULL): each worker fails
                                    to start, saying so */
} mproc__worker_cfg_t;

/* A worker's descriptors as the fork server hands them over. */
enum {
  MPROC__WFD_TASKS = 0, /* socket: tasks in (worker) / out (pool) */
  MPROC__WFD_ANSWERS,   /* pipe: answers out (worker) / in (pool) */
  MPROC__WFD_PIDFD,     /* the pool's: readable when the worker has ended;
                           last, as the one that may be missing */
  MPROC__WFD_COUNT
};

/* The worker's life, in the process the fork server forked for slot: the
 * initializer, then tasks from tasks, answers to answers, until tasks
 * reaches end of file. Never returns. */
void mproc__worker_main(const mproc__worker_cfg_t *cfg, int tasks,
                        int answers, unsigned slot, uint32_t serial)
    __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* MPROC_WORKERS_WORKER_H */
