/* A pool worker's life: initializer, then calls until its pipe closes.
 *
 * It answers each task before starting the next, one write per answer, so
 * that whatever kills it, every task it finished has been reported and the
 * pool knows exactly which one it was running. Tasks arrive in batches and
 * are read many per read(2).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/call_internal.h"
#include "core/clock.h"
#include "core/io.h"
#include "core/registry.h"
#include "core/target.h"
#include "workers/pool_internal.h"

static void usage(mproc__report_t *r) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return;
  r->utime_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u +
                (uint64_t)ru.ru_utime.tv_usec;
  r->stime_us = (uint64_t)ru.ru_stime.tv_sec * 1000000u +
                (uint64_t)ru.ru_stime.tv_usec;
  r->maxrss_kb = ru.ru_maxrss > 0 ? (uint64_t)ru.ru_maxrss : 1;
}

/* Writes one report; a worker whose pool is gone has nothing left to do. */
static void send_report(int sock, mproc__buf_t *out, const mproc__report_t *r) {
  out->len = 0;
  if (mproc__report_encode_frame(out, r) < 0 ||
      mproc__write_full(sock, out->p, out->len) < 0) {
    fflush(NULL);
    _exit(3);
  }
}

static void leave(int code) __attribute__((noreturn));

static void leave(int code) {
  mproc__cleanup_children(); /* a target may have started processes */
  fflush(NULL);
  _exit(code);
}

static void initialize(mproc_pool_t *pool, int sock, mproc__buf_t *out) {
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.t_ns = mproc__now_ns();
  if (pool->initializer != NULL) {
    mproc_value_t *kwargs = NULL;
    mproc_value_t *args = NULL;
    if (mproc_value_dict(&kwargs) < 0 ||
        (pool->initargs == NULL && mproc_value_tuple(&args) < 0)) {
      r.kind = MPROC__REPORT_INIT_FAILED;
      r.message = (char *)"out of memory starting the worker";
      r.message_len = strlen(r.message);
      send_report(sock, out, &r);
      leave(4);
    }
    mproc_call_t call;
    mproc__call_init(&call, mproc_target_name(pool->initializer),
                     pool->initargs ? pool->initargs : args, kwargs, NULL, 0);
    int rc = mproc__call_run(&call, pool->initializer);
    if (rc != 0) {
      r.kind = MPROC__REPORT_INIT_FAILED;
      char buf[64];
      const char *msg = call.message;
      if (msg == NULL) {
        snprintf(buf, sizeof buf, "initializer returned %d", rc);
        msg = buf;
      }
      r.message = (char *)msg;
      r.message_len = strlen(msg);
      send_report(sock, out, &r);
      leave(4);
    }
    mproc__call_clear(&call);
    mproc_value_free(args);
    mproc_value_free(kwargs);
  }
  r.kind = MPROC__REPORT_READY;
  send_report(sock, out, &r);
}

/* Runs one decoded call and fills its report. */
static void run(const mproc__call_in_t *in, mproc__report_t *r,
                mproc_call_t *call) {
  static char cached_name[MPROC_TARGET_NAME_MAX + 1];
  static mproc_target_fn cached_fn;
  mproc_target_fn fn = cached_fn;
  if (fn == NULL || strcmp(cached_name, in->target) != 0) {
    fn = mproc_target_find(in->target);
    if (fn != NULL && strlen(in->target) <= MPROC_TARGET_NAME_MAX) {
      strcpy(cached_name, in->target);
      cached_fn = fn;
    }
  }
  r->t_enter_ns = mproc__now_ns();
  if (fn == NULL) {
    r->error = MPROC_ENOTARGET;
    r->code = -1;
    mproc__call_init(call, in->target, in->args, in->kwargs, NULL, in->id);
    mproc_call_fail(call, "no target registered as '%s' in the worker",
                    in->target);
  } else {
    mproc__call_init(call, in->target, in->args, in->kwargs, NULL, in->id);
    r->code = mproc__call_run(call, fn);
  }
  r->t_ns = mproc__now_ns();
  r->result = call->result;
  if (call->failed && call->message != NULL) {
    r->message = call->message;
    r->message_len = call->message_len;
  }
}

void mproc__worker_main(mproc_pool_t *pool, int sock, uint32_t serial) {
  /* Python names pool workers ForkPoolWorker-N. The registry forgets the
   * server's descriptors (closing them) and registers our pipe, so that
   * processes our targets start do not inherit it. */
  char *name = malloc(32);
  if (name != NULL) snprintf(name, 32, "PoolWorker-%u", (unsigned)serial);
  int own[2] = {sock, -1};
  mproc__lock();
  mproc__registry_child_reset("", name ? name : "PoolWorker", false, own);

  mproc__buf_t out = {0};
  initialize(pool, sock, &out);

  mproc__reader_t reader;
  mproc__reader_init(&reader, sock, pool->max_frame, NULL, 0);
  for (;;) {
    const uint8_t *payload;
    size_t len;
    int rc = mproc__reader_next(&reader, &payload, &len);
    if (rc == MPROC_EOF) leave(0); /* retired or pool closing */
    if (rc < 0) leave(2);          /* the pool will see which task died */

    mproc__call_in_t in;
    mproc__report_t r;
    memset(&r, 0, sizeof r);
    r.kind = MPROC__REPORT_RETURNED;
    rc = mproc__call_decode(&in, payload, len);
    if (rc < 0) leave(2); /* cannot even tell which task this was */
    mproc_call_t call;
    run(&in, &r, &call);
    r.id = in.id;
    usage(&r);
    send_report(sock, &out, &r);
    mproc__call_clear(&call);
    mproc__call_in_clear(&in);
  }
}
