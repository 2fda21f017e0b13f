/* The child's side of a Process: from fork() to _exit().
 *
 * Everything here runs in a fresh copy of the parent, where each page
 * written costs a copy-on-write fault: buffers live on the stack, nothing
 * is freed before _exit (the kernel takes it all back at once), and the
 * identity and name were prepared by the parent.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/boundary.h"
#include "core/call_internal.h"
#include "core/base/clock.h"
#include "core/fork.h"
#include "core/base/io.h"
#include "core/ipc/spill.h"
#include "core/process_internal.h"
#include "core/registry.h"
#include "core/spawn.h"
#include "multiproc/target.h"
#include "serialization/reader.h"
#include "serialization/message.h"

static void report(int sock, const mproc__report_t *r) {
  uint8_t mem[256]; /* a longer message or a result moves to the heap */
  mproc__buf_t out;
  mproc__buf_lend(&out, mem, sizeof mem);
  int rc = mproc__report_encode_frame(&out, r);
  if (rc < 0 && r->result != NULL) {
    /* No memory for the result's encoding: the report goes without it,
     * saying why. */
    mproc__report_t bare = *r;
    bare.result = NULL;
    bare.error = rc;
    out.len = 0;
    rc = mproc__report_encode_frame(&out, &bare);
  }
  if (rc == 0)
    /* The parent gone (EPIPE): nobody to tell; the exit status says it. */
    MPROC__IGNORE(mproc__write_full(sock, out.p, out.len));
}

/* A result too large for the report goes in a memory file sent with it
 * (the parent reads reports only once the child has ended: everything
 * written must fit the socket's buffer). */
static void report_spilled(int sock, mproc__report_t *r,
                           const mproc_value_t *result) {
  mproc__spill_t sp;
  r->result = NULL;
  int rc = mproc__spill_write(&sp, result);
  if (rc < 0) {
    r->error = rc; /* the parent learns why there is no result */
    report(sock, r);
    return;
  }
  r->spilled = sp.size;
  uint8_t mem[256];
  mproc__buf_t out;
  mproc__buf_lend(&out, mem, sizeof mem);
  if (mproc__report_encode_frame(&out, r) == 0)
    /* The parent gone (EPIPE): as in report(). */
    MPROC__IGNORE(
        mproc__send_fd(sock, out.p, out.len, mproc__spill_fd(&sp), 0));
  mproc__buf_free(&out);
  mproc__spill_release(&sp);
}

static void report_returned(int sock, int code, const char *msg,
                            const mproc_value_t *result) {
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.kind = MPROC__REPORT_RETURNED;
  r.t_ns = mproc__now_ns();
  r.code = code;
  if (msg != NULL && msg[0] != '\0') {
    r.message = (char *)msg;
    r.message_len = strlen(msg);
  }
  if (code >= 0 && result != NULL) {
    r.result = (mproc_value_t *)result;
    if (mproc_value_encoded_size(result) + 64 > MPROC__RESULT_INLINE_MAX) {
      report_spilled(sock, &r, result);
      return;
    }
  }
  report(sock, &r);
}

/* Receives and decodes the call. The frame is read into a stack buffer when
 * it fits (one read for header and payload). */
static int receive_call(int sock, size_t max, mproc__call_in_t *in) {
  uint8_t mem[512]; /* a bigger call moves to the heap */
  mproc__reader_t reader;
  mproc__reader_init(&reader, sock, max, mem, sizeof mem);
  const uint8_t *payload;
  size_t len;
  int rc = mproc__reader_next(&reader, &payload, &len);
  void *block = NULL;
  if (rc == 0 && len >= MPROC__INPLACE_MIN &&
      (block = mproc__reader_detach(&reader, &payload)) != NULL) {
    /* A big call keeps its buffer (never freed: the child leaves through
     * _exit): its big strings stay where they arrived. */
    mproc__inplace_t ip;
    memset(&ip, 0, sizeof ip);
    ip.end = payload + len;
    ip.spare = true;
    return mproc__call_decode_inplace(in, payload, len, &ip);
  }
  if (rc == 0) rc = mproc__call_decode(in, payload, len);
  mproc__reader_free(&reader); /* a big call's buffer: decoded, not needed */
  return rc;
}

/* What the child needs once on its own stack. */
typedef struct {
  mproc_process_t *p;
  int sock;
  mproc__call_in_t in;
  mproc_target_fn target;
} child_t;

/* A C++ exception escaped the target (core/boundary.h): the child fails
 * as a Python child with an uncaught exception does, exit code 1 and the
 * exception's description for the parent. Runs inside std::terminate. */
static void on_escape(const char *what, void *ctx) {
  child_t *c = ctx;
  fprintf(stderr, "Process %s: %s\n", c->p->name, what);
  fflush(NULL);
  report_returned(c->sock, -1, what, NULL);
  mproc__child_exit(1);
}

static void run_target(void *arg) {
  child_t *c = arg;
  mproc_process_t *p = c->p;
  mproc_call_t call;
  mproc__call_init(&call, c->in.target, c->in.args, c->in.kwargs, p->ctx,
                   c->in.id);
  mproc__report_t entered;
  memset(&entered, 0, sizeof entered);
  entered.kind = MPROC__REPORT_ENTERED;
  entered.t_ns = mproc__now_ns();
  report(c->sock, &entered);

  int rc = mproc__call_run(&call, c->target);

  const char *msg = call.message ? call.message : "failed (out of memory)";
  if (rc < 0) fprintf(stderr, "Process %s: %s\n", p->name, msg);
  /* Flush before the report: when the parent sees the target returned, its
   * output is already written. */
  fflush(NULL);
  report_returned(c->sock, rc, call.failed ? msg : NULL, call.result);
  mproc__child_exit(rc < 0 ? 1 : rc);
}

void mproc__child_main(mproc_process_t *p, int sock) {
  child_t c; /* on this stack, which the child never leaves */
  c.p = p;
  c.sock = sock;
  memset(&c.in, 0, sizeof c.in);
  int rc = receive_call(sock, p->max_frame, &c.in);
  if (rc < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "could not receive the call: %s (%s)",
             mproc_err_name(rc), mproc_strerror(rc));
    report_returned(sock, -1, msg, NULL);
    mproc__child_exit(1);
  }
  /* A spawned child has no function pointer: only the name crossed exec. */
  c.target = p->target;
  if (c.target == NULL && c.in.target != NULL)
    c.target = mproc_target_find(c.in.target);
  if (c.target == NULL) {
    char msg[MPROC_TARGET_NAME_MAX + 256];
    snprintf(msg, sizeof msg,
             "spawn: no target '%s' is registered in the spawned program: a "
             "spawned child finds only the targets registered before main() "
             "runs (MPROC_TARGET)",
             c.in.target != NULL ? c.in.target : "");
    fprintf(stderr, "Process %s: %s\n", p->name, msg);
    fflush(NULL);
    report_returned(sock, -1, msg, NULL);
    mproc__child_exit(1);
  }
  mproc__set_escape(on_escape, &c);
  mproc__run_isolated(run_target, &c);
}

void mproc__named_child_main(const char *identity, const char *name,
                             bool daemon, int sock, size_t max_frame) {
  /* What the child needs of its handle: the parent's stays there. */
  static mproc_process_t p;
  p.owner = mproc__getpid();
  p.name = (char *)name;
  p.child_identity = (char *)identity;
  p.daemon = daemon;
  p.max_frame = max_frame;
  mproc__child_main(&p, sock);
}

void mproc__spawned_main(const char *identity, const char *name, bool daemon,
                         int sock, int sentinel, size_t max_frame) {
  int own[2] = {sock, sentinel};
  mproc__registry_child_reset(identity, name, daemon, own);
  mproc__named_child_main(identity, name, daemon, sock, max_frame);
}
