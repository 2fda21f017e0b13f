/* A pool worker's life: initializer, then calls until its task socket
 * closes.
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
#include "core/fork_hygiene.h"
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

/* Writes one report into the answer pipe (SIGPIPE is ignored in workers);
 * a worker whose pool is gone has nothing left to do. */
static void write_or_leave(int fd, const mproc__buf_t *out, int rc) {
  if (rc < 0 || mproc__write_all(fd, out->p, out->len) < 0) {
    fflush(NULL);
    _exit(3);
  }
}

static void send_report(int fd, mproc__buf_t *out, const mproc__report_t *r) {
  out->len = 0;
  write_or_leave(fd, out, mproc__report_encode_frame(out, r));
}

/* Writes a task's answer. One whose frame would exceed the pool's
 * max_frame (which the pool could not read) becomes an MPROC_ETOOBIG
 * failure of that task, and the worker goes on serving. */
static void send_answer(const mproc_pool_t *pool, int fd, mproc__buf_t *out,
                        const mproc__report_t *r) {
  out->len = 0;
  int rc = mproc__report_encode_frame(out, r);
  if (rc == 0 && out->len - MPROC_FRAME_HEADER > pool->max_frame) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "the answer (%zu bytes) is larger than the pool's max_frame "
             "(%zu bytes)",
             out->len - MPROC_FRAME_HEADER, pool->max_frame);
    mproc__report_t small = *r; /* id, times and usage */
    small.error = MPROC_ETOOBIG;
    small.code = -1;
    small.result = NULL;
    small.item_errors = NULL;
    small.n_item_errors = 0;
    small.message = msg;
    small.message_len = strlen(msg);
    send_report(fd, out, &small);
    return;
  }
  write_or_leave(fd, out, rc);
}

static void initialize(mproc_pool_t *pool, int answers, mproc__buf_t *out) {
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
      send_report(answers, out, &r);
      mproc__child_exit(4);
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
      send_report(answers, out, &r);
      mproc__child_exit(4);
    }
    mproc__call_clear(&call);
    mproc_value_free(args);
    mproc_value_free(kwargs);
  }
  r.kind = MPROC__REPORT_READY;
  send_report(answers, out, &r);
}

/* The target registered under name; the last one found is remembered, as
 * a worker usually runs one target over and over. */
static mproc_target_fn find(const char *name) {
  static char cached_name[MPROC_TARGET_NAME_MAX + 1];
  static mproc_target_fn cached_fn;
  if (cached_fn != NULL && strcmp(cached_name, name) == 0) return cached_fn;
  mproc_target_fn fn = mproc_target_find(name);
  if (fn != NULL && strlen(name) <= MPROC_TARGET_NAME_MAX) {
    strcpy(cached_name, name);
    cached_fn = fn;
  }
  return fn;
}

/* Runs one decoded call and fills its report. */
static void run(const mproc__call_in_t *in, mproc__report_t *r,
                mproc_call_t *call) {
  mproc_target_fn fn = find(in->target);
  r->t_enter_ns = mproc__now_ns();
  mproc__call_init(call, in->target, in->args, in->kwargs, NULL, in->id);
  if (fn == NULL) {
    r->error = MPROC_ENOTARGET;
    r->code = mproc_call_fail(call, "no target registered as '%s' in the worker",
                              in->target);
  } else {
    r->code = mproc__call_run(call, fn);
  }
  r->t_ns = mproc__now_ns();
  r->result = call->result;
  if (call->failed && call->message != NULL) {
    r->message = call->message;
    r->message_len = call->message_len;
  }
}

/* Calls target for each item of a chunk: the Report's result is the list
 * of their results (None where one failed), item_errors the failures. */
static void run_chunk(const mproc__call_in_t *in, mproc__report_t *r,
                      mproc_call_t *call, mproc_value_t **results,
                      mproc__item_error_t **errs, size_t *cap) {
  mproc_target_fn fn = find(in->target);
  size_t n = mproc_value_len(in->args);
  mproc_value_t *one = NULL, *none_kwargs = NULL;
  int rc = mproc_value_list(results);
  if (rc == 0) rc = mproc__tuple1_new(&one);
  if (rc == 0) rc = mproc_value_dict(&none_kwargs);
  r->t_enter_ns = mproc__now_ns();
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const mproc_value_t *item;
    mproc_list_get(in->args, i, &item);
    const mproc_value_t *args = item;
    if (in->mode == MPROC__CALL_MAP) {
      mproc__tuple1_set(one, item);
      args = one;
    }
    mproc__call_init(call, in->target, args, none_kwargs, NULL, in->id);
    int code;
    int32_t error = 0;
    mproc_kind_t k = mproc_value_kind(args);
    if (fn == NULL) {
      error = MPROC_ENOTARGET;
      code = mproc_call_fail(call, "no target registered as '%s' in the worker",
                             in->target);
    } else if (k != MPROC_TUPLE && k != MPROC_LIST) {
      error = MPROC_ETYPE;
      code = mproc_call_fail(call, "starmap item %llu is a %s, not a tuple",
                             (unsigned long long)(in->first + i),
                             mproc_kind_name(k));
    } else {
      code = mproc__call_run(call, fn);
    }
    mproc_value_t *v = code == 0 ? call->result : NULL;
    if (v != NULL) call->result = NULL;
    if (v == NULL) rc = mproc_value_none(&v);
    if (rc == 0 && (rc = mproc_list_append(*results, v)) < 0)
      mproc_value_free(v);
    if (rc == 0 && code != 0) {
      if (r->n_item_errors == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        mproc__item_error_t *grown = realloc(*errs, c * sizeof *grown);
        if (grown == NULL) rc = MPROC_ENOMEM;
        else {
          *errs = grown;
          *cap = c;
        }
      }
      if (rc == 0) {
        mproc__item_error_t *e = &(*errs)[r->n_item_errors++];
        e->index = (uint32_t)i;
        e->code = code;
        e->error = error;
        e->message = call->message; /* taken: freed after the report */
        call->message = NULL;
      }
    }
    mproc__call_clear(call);
  }
  r->t_ns = mproc__now_ns();
  r->item_errors = *errs;
  if (rc < 0) {
    r->error = rc;
    r->code = -1;
    mproc__call_init(call, in->target, in->args, in->kwargs, NULL, in->id);
    mproc_call_fail(call, "the chunk could not run: %s", mproc_strerror(rc));
    r->message = call->message;
    r->message_len = call->message_len;
  } else {
    r->result = *results;
  }
  mproc_value_free(one);
  mproc_value_free(none_kwargs);
}

void mproc__worker_main(mproc_pool_t *pool, int sock, int answers,
                        uint32_t serial) {
  /* Python names pool workers ForkPoolWorker-N. The registry forgets the
   * server's descriptors (closing them) and registers our pipe, so that
   * processes our targets start do not inherit it. */
  char *name = malloc(32);
  if (name != NULL) snprintf(name, 32, "PoolWorker-%u", (unsigned)serial);
  int own[2] = {sock, answers};
  mproc__lock();
  mproc__registry_child_reset("", name ? name : "PoolWorker", false, own);

  mproc__buf_t out = {0};
  initialize(pool, answers, &out);

  mproc__reader_t reader;
  mproc__reader_init(&reader, sock, pool->max_frame, NULL, 0);
  mproc__item_error_t *errs = NULL;
  size_t errs_cap = 0;
  uint64_t usage_at = 0;
  for (;;) {
    const uint8_t *payload;
    size_t len;
    int rc = mproc__reader_next(&reader, &payload, &len);
    if (rc == MPROC_EOF) mproc__child_exit(0); /* retired or pool closing */
    if (rc < 0) mproc__child_exit(2);          /* the pool will see which task died */

    mproc__call_in_t in;
    mproc__report_t r;
    memset(&r, 0, sizeof r);
    r.kind = MPROC__REPORT_RETURNED;
    rc = mproc__call_decode(&in, payload, len);
    if (rc < 0) mproc__child_exit(2); /* cannot even tell which task this was */
    mproc_call_t call;
    mproc_value_t *results = NULL;
    if (in.mode == MPROC__CALL_ONE)
      run(&in, &r, &call);
    else
      run_chunk(&in, &r, &call, &results, &errs, &errs_cap);
    r.id = in.id;
    /* Memory and CPU every millisecond or so: enough for max_rss_per_child
     * and the statistics, without a syscall per small task. */
    if (r.t_ns - usage_at >= 1000000 || pool->max_rss_kb) {
      usage(&r);
      usage_at = r.t_ns;
    }
    send_answer(pool, answers, &out, &r);
    for (size_t i = 0; i < r.n_item_errors; i++) free(errs[i].message);
    mproc_value_free(results);
    mproc__call_clear(&call);
    mproc__call_in_clear(&in);
  }
}
