/* multiproc internal — what the queue's fault tests look at: how often a
 * death inside the queue's lock was recovered from, and how many stray
 * descriptors (a spilled item's, left by a process killed between sending
 * and committing, or between committing and receiving) were closed. */
#ifndef MPROC_CORE_IPC_QUEUE_TESTING_H
#define MPROC_CORE_IPC_QUEUE_TESTING_H

#include <stdint.h>

#include "multiproc/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

uint64_t mproc__queue_recoveries(const mproc_queue_t *q);
uint64_t mproc__queue_strays(const mproc_queue_t *q);

/* Makes the calling process SIGKILL itself at one step of the queue's
 * protocol, the instants a random kill rarely hits: */
enum {
  MPROC__QUEUE_DIE_NEVER = 0,
  /* a spilled item's descriptor sent, its record not yet committed */
  MPROC__QUEUE_DIE_AFTER_SEND = 1,
  /* a spilled record's removal committed, its descriptor not received */
  MPROC__QUEUE_DIE_AFTER_POP = 2,
  /* a commit's journal valid, the state not yet written */
  MPROC__QUEUE_DIE_IN_COMMIT = 3
};
void mproc__queue_die_at(int step);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_IPC_QUEUE_TESTING_H */
