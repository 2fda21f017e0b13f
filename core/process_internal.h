/* multiproc internal — the Process handle, shared by process.c (lifecycle),
 * child.c (the child's side), reap.c (waiting, signals, exit status) and
 * registry.c. */
#ifndef MPROC_CORE_PROCESS_INTERNAL_H
#define MPROC_CORE_PROCESS_INTERNAL_H

#include <signal.h>
#include <stdbool.h>

#include "core/base/check.h"
#include "multiproc/process.h"
#include "core/registry.h"
#include "core/base/buf.h"
#include "serialization/reader.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { MPROC__NEW, MPROC__RUNNING, MPROC__ENDED };

/* Descriptor slots of a Process in its registry node. */
enum {
  MPROC__FD_SOCK = 0, /* parent's end of the duplex pipe; -1 once drained */
  MPROC__FD_PIDFD,    /* -1 where pidfds are unavailable */
  MPROC__FD_SENTINEL, /* read end of the fallback sentinel pipe, else -1 */
  MPROC__FD_RESULT    /* a large result's memory file, while it is read */
};

/* A result whose report frame would be larger is spilled to a memory file
 * sent with the report (core/ipc/spill.h). The parent reads the reports
 * only once the child has ended, so they must all fit the socket's buffer
 * (~200 KiB) without the child ever blocking: well within it. */
#define MPROC__RESULT_INLINE_MAX ((size_t)32 << 10)
/* The largest report frame the parent accepts. */
#define MPROC__REPORT_MAX (MPROC__RESULT_INLINE_MAX + 4 * MPROC_CALL_MESSAGE_MAX)

struct mproc_process {
  mproc__node_t node; /* first: the registry casts nodes back */

  pid_t owner; /* the process that created the handle */
  int state;
  char *name;
  unsigned number;      /* this child's part of its identity */
  char *child_identity; /* the child's whole identity, "1:2" */
  bool daemon;
  mproc_target_fn target;
  const char *target_name; /* the registry's, or NULL: unregistered */
  int start_method;        /* as given: MPROC_START_DEFAULT for the global */
  void *ctx;
  size_t max_frame;
  mproc__buf_t call; /* the encoded call frame, until the child is reaped */
  uint8_t call_inline[192]; /* where a small call frame is encoded */

  pid_t pid;
  bool relay; /* started through a relay (core/relay.h): SIGCHLD ignored */

  bool status_known;
  int status; /* from wait4 */
  char *error;
  bool returned;         /* the target returned and did not fail */
  mproc_value_t *result; /* what it set, once returned; NULL: none */
  int result_rc;         /* < 0: why the result did not arrive */
  mproc_timing_t timing;
  /* child_identity and name follow in the same allocation */
};

/* The child's side of start(), once forked (core/fork.h: reset, registered,
 * unlocked): never returns. sock is the child's end of the duplex pipe. */
void mproc__child_main(mproc_process_t *p, int sock) __attribute__((noreturn));

/* Collects the exit status if the process has ended (waiting for it when
 * block is true). Returns 1 when ended, 0 when still running, or a negative
 * error. */
MPROC__MUST_USE int mproc__reap(mproc_process_t *p, bool block);

/* Common argument checks for an operation on a started handle. */
MPROC__MUST_USE int mproc__check_owner(const mproc_process_t *p);

/* One recvmsg (with flags: MSG_DONTWAIT never waits) of reports from p's
 * socket into r; a memory file sent along is received under the registry's
 * lock into p's MPROC__FD_RESULT slot, so that a child forked meanwhile
 * does not inherit it. As mproc__reader_fill_fds. */
MPROC__MUST_USE int mproc__fill_reports(mproc_process_t *p, mproc__reader_t *r,
                                        int flags);


#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_PROCESS_INTERNAL_H */
