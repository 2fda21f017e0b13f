/* A pool worker's life: initializer, then calls until its task socket
 * closes.
 *
 * It answers each task before starting the next, one write per answer, and
 * posts on the board (board.h) which task it is inside, so that whatever
 * kills it, every task it finished has been reported and the pool knows
 * which one it was running. Tasks arrive in batches and are read many per
 * read(2). stdio is flushed before each answer: a worker killed later (a
 * timeout, a crash) has already written everything its finished tasks
 * printed.
 *
 * Everything runs on an isolated stack (core/boundary.h): a C++ exception
 * escaping a target ends the worker, after answering the task with the
 * exception's description.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/base/check.h"
#include "core/boundary.h"
#include "multiproc/pool.h"
#include "core/call_internal.h"
#include "core/base/clock.h"
#include "core/fork.h"
#include "core/base/io.h"
#include "multiproc/target.h"
#include "multiproc/frame.h"
#include "serialization/reader.h"
#include "serialization/message.h"
#include "serialization/value_ext.h"
#include "workers/worker.h"

/* A task that moved more than this through the worker's buffers gives the
 * memory back afterwards: an idle worker should not keep a big task's
 * pages. */
#define KEEP_BUFFER_MAX ((size_t)1 << 20)

/* Exit codes the pool can tell apart in its statistics. */
enum { EXIT_PLANNED = 0, EXIT_PROTOCOL = 2, EXIT_POOL_GONE = 3, EXIT_INIT = 4 };

/* The worker, one per process. The answer being built lives here too, so
 * that an escaping exception can finish and send it. */
typedef struct {
  const mproc__worker_cfg_t *cfg;
  int tasks, answers;
  mproc__post_t *post;
  mproc__buf_t out;
  bool in_init;
  const mproc__call_in_t *in; /* the call being run; NULL between tasks */
  mproc__report_t report;
  mproc_call_t call;
  /* A chunk's answer: its results so far, its failed items. */
  mproc_value_t **results;
  size_t results_cap;
  mproc__item_error_t *errs;
  size_t errs_cap;
  size_t answer_size; /* the chunk answer's size so far, for max_frame */
  bool entered;       /* the board says we are inside the call's target */
  uint64_t usage_at;
} worker_t;

static void worker_usage(mproc__report_t *r) {
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
static void send_report(worker_t *w, const mproc__report_t *r) {
  w->out.len = 0;
  int rc = mproc__report_encode_frame(&w->out, r);
  if (rc < 0 || mproc__write_all(w->answers, w->out.p, w->out.len) < 0)
    mproc__child_exit(EXIT_POOL_GONE);
}

/* Writes a frame whose big strings were left out (holes): the buffer's
 * pieces and the strings where they lie, in one writev loop. */
static int write_with_holes(int fd, const mproc__buf_t *out,
                            const mproc__holes_t *h) {
  struct iovec iov[2 * MPROC__HOLES_MAX + 1];
  int n = 0;
  size_t pos = 0, skipped = 0;
  for (unsigned i = 0; i < h->n; i++) {
    size_t upto = MPROC_FRAME_HEADER + h->v[i].at - skipped;
    iov[n].iov_base = out->p + pos;
    iov[n++].iov_len = upto - pos;
    iov[n].iov_base = (void *)h->v[i].src;
    iov[n++].iov_len = h->v[i].n;
    pos = upto;
    skipped += h->v[i].n;
  }
  iov[n].iov_base = out->p + pos;
  iov[n++].iov_len = out->len - pos;
  return mproc__writev_full(fd, iov, n);
}

/* Writes a task's answer. One whose frame would exceed max_frame (which
 * the pool could not read) becomes an MPROC_ETOOBIG failure of that task,
 * and the worker goes on serving. A big result is written from where it
 * lies, not copied into the output buffer first. */
static void send_answer(worker_t *w, const mproc__report_t *r) {
  w->out.len = 0;
  mproc__holes_t holes;
  int rc = mproc__report_encode_frame_holes(&w->out, r, &holes);
  size_t payload = w->out.len - MPROC_FRAME_HEADER + holes.bytes;
  if (rc == 0 && payload > w->cfg->max_frame) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "the answer (%zu bytes) is larger than the pool's max_frame "
             "(%zu bytes)",
             payload, w->cfg->max_frame);
    mproc__report_t small = *r; /* id, times and usage */
    small.error = MPROC_ETOOBIG;
    small.code = -1;
    small.result = NULL;
    small.item_errors = NULL;
    small.n_item_errors = 0;
    small.results = NULL;
    small.n_results = 0;
    small.message = msg;
    small.message_len = strlen(msg);
    send_report(w, &small);
    return;
  }
  if (rc == 0)
    rc = holes.n > 0 ? write_with_holes(w->answers, &w->out, &holes)
                     : mproc__write_all(w->answers, w->out.p, w->out.len);
  if (rc < 0) mproc__child_exit(EXIT_POOL_GONE);
}

static void init_failed(worker_t *w, const char *msg) {
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.kind = MPROC__REPORT_INIT_FAILED;
  r.t_ns = mproc__now_ns();
  r.message = (char *)msg;
  r.message_len = strlen(msg);
  fflush(NULL);
  send_report(w, &r);
  mproc__child_exit(EXIT_INIT);
}

static void initialize(worker_t *w) {
  const mproc__worker_cfg_t *cfg = w->cfg;
  if (cfg->initializer == NULL && cfg->initializer_name != NULL) {
    char msg[MPROC_TARGET_NAME_MAX + 256];
    snprintf(msg, sizeof msg,
             "the initializer '%s' is not registered in a fresh image of the "
             "program (the pool's forkserver/spawn start method): register "
             "it with MPROC_TARGET or before main()",
             cfg->initializer_name);
    (void)mproc__post_enter(w->post, MPROC__POST_INIT, mproc__now_ns());
    init_failed(w, msg);
  }
  if (cfg->initializer != NULL) {
    mproc_value_t *kwargs = NULL;
    mproc_value_t *args = NULL;
    if (mproc_value_dict(&kwargs) < 0 ||
        (cfg->initargs == NULL && mproc_value_tuple(&args) < 0))
      init_failed(w, "out of memory starting the worker");
    /* Posted, so that a death inside the initializer is told from a
     * worker killed while it starts (only the first may break the pool). */
    (void)mproc__post_enter(w->post, MPROC__POST_INIT, mproc__now_ns());
    w->in_init = true;
    mproc_call_t call;
    mproc__call_init(&call, mproc_target_name(cfg->initializer),
                     cfg->initargs ? cfg->initargs : args, kwargs, NULL, 0);
    int rc = mproc__call_run(&call, cfg->initializer);
    w->in_init = false;
    if (rc != 0) {
      char buf[64];
      const char *msg = call.message;
      if (msg == NULL) {
        snprintf(buf, sizeof buf, "initializer returned %d", rc);
        msg = buf;
      }
      init_failed(w, msg);
    }
    (void)mproc__post_leave(w->post, MPROC__POST_INIT);
    mproc__call_clear(&call);
    mproc_value_free(args);
    mproc_value_free(kwargs);
  }
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.kind = MPROC__REPORT_READY;
  r.t_ns = mproc__now_ns();
  fflush(NULL);
  send_report(w, &r);
}

/* The target registered under name; the last one found is remembered, as
 * a worker usually runs one target over and over. */
static mproc_target_fn find_target(const char *name) {
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

/* Posts, right before the user's code is called, that this call's target
 * is entered: a death from here on fails the task; a death before it
 * leaves the task to another worker (it never started). */
static void enter(worker_t *w) {
  if (w->entered) return;
  /* The clock read when the call arrived (serve), a few instructions ago:
   * a clock read costs ~70 ns on a VM, several a task add up. */
  uint64_t now = w->report.t_enter_ns;
  /* A kill already claimed: the pool is stopping us. The task never
   * started, and goes to another worker. */
  if (!mproc__post_enter(w->post, w->in->id, now))
    mproc__child_exit(EXIT_PLANNED);
  w->entered = true;
}

static int no_target(mproc_call_t *call, const char *name) {
  return mproc_call_fail(call, "no target registered as '%s' in the worker",
                         name);
}

/* Runs one decoded call and fills its report. */
static void run_one(worker_t *w) {
  const mproc__call_in_t *in = w->in;
  mproc__report_t *r = &w->report;
  mproc_target_fn fn = find_target(in->target);
  mproc__call_init(&w->call, in->target, in->args, in->kwargs, NULL, in->id);
  if (fn == NULL) {
    r->error = MPROC_ENOTARGET;
    r->code = no_target(&w->call, in->target);
  } else {
    enter(w);
    r->code = mproc__call_run(&w->call, fn);
  }
  r->t_ns = mproc__now_ns();
  r->result = w->call.result;
  if (w->call.failed && w->call.message != NULL) {
    r->message = w->call.message;
    r->message_len = w->call.message_len;
  }
}

/* Records that item i of the chunk failed; takes message. */
static int add_item_error(worker_t *w, size_t i, int code, int32_t error,
                          char *message) {
  mproc__report_t *r = &w->report;
  if (r->n_item_errors == w->errs_cap) {
    size_t cap = w->errs_cap ? w->errs_cap * 2 : 8;
    mproc__item_error_t *grown = realloc(w->errs, cap * sizeof *grown);
    if (grown == NULL) {
      free(message);
      return MPROC_ENOMEM;
    }
    w->errs = grown;
    w->errs_cap = cap;
    r->item_errors = grown;
  }
  mproc__item_error_t *e = &w->errs[r->n_item_errors++];
  e->index = (uint32_t)i;
  e->code = code;
  e->error = error;
  e->message = message;
  w->answer_size += 24 + (message ? strlen(message) : 0);
  return 0;
}

/* Appends the result of item i (v, taken; NULL for None). A result that
 * would make the chunk's answer larger than max_frame fails that item
 * alone, with MPROC_ETOOBIG. */
static int add_result(worker_t *w, size_t i, mproc_value_t *v) {
  mproc__report_t *r = &w->report;
  if (v != NULL &&
      w->answer_size + mproc_value_encoded_size(v) + 16 > w->cfg->max_frame) {
    char *msg = malloc(200);
    if (msg != NULL)
      snprintf(msg, 200,
               "the result (%zu bytes) would make the chunk's answer larger "
               "than the pool's max_frame (%zu bytes)",
               mproc_value_encoded_size(v), w->cfg->max_frame);
    mproc_value_free(v);
    v = NULL;
    int rc = add_item_error(w, i, -1, MPROC_ETOOBIG, msg);
    if (rc < 0) return rc;
  }
  if (v == NULL) {
    int rc = mproc_value_none(&v);
    if (rc < 0) return rc;
  }
  if (r->n_results == w->results_cap) {
    size_t cap = w->results_cap ? w->results_cap * 2 : 16;
    mproc_value_t **grown = realloc(w->results, cap * sizeof *grown);
    if (grown == NULL) {
      mproc_value_free(v);
      return MPROC_ENOMEM;
    }
    w->results = grown;
    w->results_cap = cap;
    r->results = grown;
  }
  w->results[r->n_results++] = v;
  w->answer_size += mproc_value_encoded_size(v) + 6;
  return 0;
}

/* Calls the target for each item of a chunk: the Report's results are one
 * per item (None where one failed), item_errors the failures. */
static void run_chunk(worker_t *w) {
  const mproc__call_in_t *in = w->in;
  mproc__report_t *r = &w->report;
  mproc_target_fn fn = find_target(in->target);
  size_t n = mproc_value_len(in->args);
  mproc_value_t *one = NULL, *no_kwargs = NULL;
  int rc = mproc__tuple1_new(&one);
  if (rc == 0) rc = mproc_value_dict(&no_kwargs);
  r->item_errors = w->errs;
  r->results = w->results;
  w->answer_size = 64;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const mproc_value_t *item = NULL;
    (void)mproc_list_get(in->args, i, &item);
    const mproc_value_t *args = item;
    if (in->mode == MPROC__CALL_MAP) {
      mproc__tuple1_set(one, item);
      args = one;
    }
    mproc__call_init(&w->call, in->target, args, no_kwargs, NULL, in->id);
    int code;
    int32_t error = 0;
    mproc_kind_t k = mproc_value_kind(args);
    if (fn == NULL) {
      error = MPROC_ENOTARGET;
      code = no_target(&w->call, in->target);
    } else if (k != MPROC_TUPLE && k != MPROC_LIST) {
      error = MPROC_ETYPE;
      code = mproc_call_fail(&w->call, "starmap item %llu is %s %s, not a tuple",
                             (unsigned long long)(in->first + i),
                             k == MPROC_INT ? "an" : "a", mproc_kind_name(k));
    } else {
      enter(w);
      code = mproc__call_run(&w->call, fn);
    }
    mproc_value_t *v = code == 0 ? w->call.result : NULL;
    if (v != NULL) w->call.result = NULL;
    if (code != 0) {
      rc = add_item_error(w, i, code, error, w->call.message);
      w->call.message = NULL; /* taken */
    }
    if (rc == 0) rc = add_result(w, i, v);
    mproc__call_clear(&w->call);
  }
  r->t_ns = mproc__now_ns();
  if (rc < 0) {
    /* Out of memory: the whole chunk fails, with why. */
    mproc__call_init(&w->call, in->target, in->args, in->kwargs, NULL,
                     in->id);
    mproc_call_fail(&w->call, "the chunk could not run: %s",
                    mproc_strerror(rc));
    r->error = rc;
    r->code = -1;
    r->message = w->call.message;
    r->message_len = w->call.message_len;
    for (size_t i = 0; i < r->n_results; i++) mproc_value_free(w->results[i]);
    r->n_results = 0;
  }
  mproc_value_free(one);
  mproc_value_free(no_kwargs);
}

/* The task's target ran longer than the pool's task timeout, and nothing
 * stopped it in time (the pool's SIGTERM comes from another process, which
 * a loaded machine may delay): it fails as if stopped — the timeout is the
 * contract, not the kill. */
static void fail_overtime(worker_t *w) {
  mproc__report_t *r = &w->report;
  for (size_t i = 0; i < r->n_item_errors; i++) free(w->errs[i].message);
  for (size_t i = 0; i < r->n_results; i++) mproc_value_free(w->results[i]);
  r->n_item_errors = r->n_results = 0;
  mproc__call_clear(&w->call);
  r->result = NULL;
  mproc__call_init(&w->call, w->in->target, w->in->args, w->in->kwargs, NULL,
                   w->in->id);
  double ran = (double)(r->t_ns - r->t_enter_ns) / 1e9;
  MPROC__IGNORE(mproc_call_fail(
      &w->call, "task ran %.3f s, longer than the pool's task timeout (%.3f s)",
      ran, (double)w->cfg->task_timeout_ns / 1e9));
  r->error = MPROC_ETASKTIMEOUT;
  r->code = -1;
  r->message = w->call.message;
  r->message_len = w->call.message_len;
}

/* Frees what the answer held and, after a big task, the buffers. */
static void answer_done(worker_t *w, mproc__reader_t *reader) {
  mproc__report_t *r = &w->report;
  for (size_t i = 0; i < r->n_item_errors; i++) free(w->errs[i].message);
  for (size_t i = 0; i < r->n_results; i++) mproc_value_free(w->results[i]);
  mproc__call_clear(&w->call);
  bool big = w->out.cap > KEEP_BUFFER_MAX ||
             mproc__reader_capacity(reader) > KEEP_BUFFER_MAX;
  if (w->out.cap > KEEP_BUFFER_MAX) mproc__buf_free(&w->out);
  mproc__reader_shrink(reader, KEEP_BUFFER_MAX);
  if (big) malloc_trim(0); /* freed heap pages back to the kernel */
}

/* An exception escaped the user's code (core/boundary.h): answer what was
 * running with its description, and leave. Runs inside std::terminate. */
static void on_escape(const char *what, void *ctx) {
  worker_t *w = ctx;
  if (w->in_init) init_failed(w, what);
  if (w->in != NULL) {
    mproc__report_t *r = &w->report;
    r->t_ns = mproc__now_ns();
    if (w->in->mode == MPROC__CALL_ONE) {
      r->code = -1;
      r->result = NULL;
      r->message = (char *)what;
      r->message_len = strlen(what);
    } else {
      /* The item that threw fails with it; the items after it were never
       * run, and fail with why. */
      size_t n = mproc_value_len(w->in->args);
      size_t thrown = r->n_results;
      (void)add_item_error(w, thrown, -1, 0, strdup(what));
      (void)add_result(w, thrown, NULL);
      for (size_t i = thrown + 1; i < n; i++) {
        char *msg = malloc(MPROC__ESCAPE_TEXT_MAX + 96);
        if (msg != NULL)
          snprintf(msg, MPROC__ESCAPE_TEXT_MAX + 96,
                   "not run: item %llu threw (%s), which ended its worker",
                   (unsigned long long)(w->in->first + thrown), what);
        (void)add_item_error(w, i, -1, MPROC_EWORKER, msg);
        (void)add_result(w, i, NULL);
      }
    }
    fflush(NULL);
    send_answer(w, r);
  }
  mproc__child_exit(1);
}

static void serve(void *arg) {
  worker_t *w = arg;
  const mproc__worker_cfg_t *cfg = w->cfg;
  mproc__set_escape(on_escape, w);
  initialize(w);

  mproc__reader_t reader;
  mproc__reader_init(&reader, w->tasks, cfg->max_frame, NULL, 0);
  uint32_t seq = 0; /* tasks read: the board's sequence numbers */
  for (;;) {
    const uint8_t *payload;
    size_t len;
    int rc = mproc__reader_next(&reader, &payload, &len);
    if (rc == MPROC_EOF) mproc__child_exit(EXIT_PLANNED); /* retired, closing */
    if (rc < 0) mproc__child_exit(EXIT_PROTOCOL);
    /* A task the pool took back for another worker: dropped unanswered. */
    seq = (seq + 1) & MPROC__SEQ_MASK;
    if (!mproc__post_admit(w->post, seq)) continue;

    mproc__call_in_t in;
    /* Big strings stay in the reader's buffer: the call is done with them
     * before the next frame is read. */
    mproc__inplace_t ip;
    memset(&ip, 0, sizeof ip);
    ip.end = payload + len;
    rc = mproc__call_decode_inplace(&in, payload, len, &ip);
    if (rc < 0) mproc__child_exit(EXIT_PROTOCOL); /* cannot tell which task */
    mproc__report_t *r = &w->report;
    memset(r, 0, sizeof *r);
    r->kind = MPROC__REPORT_RETURNED;
    r->id = in.id;
    r->t_enter_ns = mproc__now_ns(); /* until enter() */
    w->entered = false;
    w->in = &in;
    if (in.mode == MPROC__CALL_ONE)
      run_one(w);
    else
      run_chunk(w);
    if (cfg->task_timeout_ns && w->entered && r->error == 0 &&
        r->t_ns - r->t_enter_ns > cfg->task_timeout_ns)
      fail_overtime(w);
    /* Memory and CPU every millisecond or so: enough for max_rss_per_child
     * and the statistics, without a syscall per small task. */
    if (r->t_ns - w->usage_at >= 1000000 || cfg->max_rss_kb) {
      worker_usage(r);
      w->usage_at = r->t_ns;
    }
    /* What the task printed is written before the pool hears it finished. */
    fflush(NULL);
    send_answer(w, r);
    w->in = NULL;
    bool go_on = !w->entered || mproc__post_leave(w->post, in.id);
    mproc__call_in_clear(&in);
    answer_done(w, &reader);
    /* The pool claimed this task's kill (its timeout) as it finished: it
     * is stopping this worker; leave before starting another task. */
    if (!go_on) mproc__child_exit(EXIT_PLANNED);
  }
}

/* This worker's post, for mproc_task_soft_limit_passed: a worker is a
 * process of its own, single-threaded, so one per process; with its pid,
 * so that a process a target forks does not take its flags for its own. */
static mproc__post_t *soft_post;
static pid_t soft_pid;

int mproc_task_soft_limit_passed(void) {
  if (soft_post == NULL || getpid() != soft_pid) return 0;
  return mproc__post_soft_passed(soft_post);
}

void mproc__worker_main(const mproc__worker_cfg_t *cfg, int tasks,
                        int answers, unsigned slot, uint32_t serial) {
  (void)serial; /* its name, PoolWorker-serial, was set at fork */
  worker_t w; /* on this stack, which the worker never leaves */
  memset(&w, 0, sizeof w);
  w.cfg = cfg;
  w.tasks = tasks;
  w.answers = answers;
  w.post = &cfg->board[slot];
  soft_post = w.post;
  soft_pid = getpid();
  mproc__run_isolated(serve, &w);
}
