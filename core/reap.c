/* Waiting for a Process, signalling it, and collecting what it left: exit
 * status, resource usage and the reports it wrote on its pipe. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/error_detail.h"
#include "core/base/clock.h"
#include "core/base/io.h"
#include "core/ipc/spill.h"
#include "core/pidfd.h"
#include "core/process_internal.h"
#include "core/registry.h"
#include "core/relay.h"
#include "multiproc/frame.h"
#include "serialization/message.h"
#include "serialization/reader.h"

static int send_signal(mproc_process_t *p, int sig) {
  int pidfd = p->node.fds[MPROC__FD_PIDFD];
  if (pidfd >= 0) return mproc__pidfd_send_signal(pidfd, sig);
  /* Without a pidfd the pid is still safe: it belongs to our unreaped
   * child, which cannot be recycled until we reap it. */
  return kill(p->pid, sig) == 0 ? 0 : -errno;
}

/* ---- Reports from the child. */

int mproc__fill_reports(mproc_process_t *p, mproc__reader_t *r, int flags) {
  int fds[4];
  int n = 0;
  mproc__lock();
  int rc = mproc__reader_fill_fds(r, flags, fds, 4, &n);
  for (int i = 0; i < n; i++) {
    if (p->node.fds[MPROC__FD_RESULT] < 0)
      p->node.fds[MPROC__FD_RESULT] = fds[i];
    else
      mproc__close(fds[i]); /* a child sends one at most */
  }
  mproc__unlock();
  return rc;
}

/* The target returned: keep its result (inline, or in the memory file
 * received with the report), or why it did not arrive. */
static void take_result(mproc_process_t *p, mproc__report_t *r) {
  if (r->code < 0 || p->returned) return; /* failed; or a second report */
  p->returned = true;
  if (r->error < 0) {
    p->result_rc = r->error;
  } else if (r->spilled != 0) {
    int fd = p->node.fds[MPROC__FD_RESULT];
    int rc = fd < 0 ? MPROC_EIO
                    : mproc__spill_read_fd(fd, (size_t)r->spilled, &p->result);
    if (rc < 0) p->result_rc = rc;
  } else {
    p->result = r->result;
    r->result = NULL; /* taken */
  }
  mproc__node_close_fd(&p->node, MPROC__FD_RESULT);
}

static void apply_report(mproc_process_t *p, mproc__report_t *r) {
  if (r->kind == MPROC__REPORT_ENTERED) {
    p->timing.entered_ns = r->t_ns;
  } else if (r->kind == MPROC__REPORT_RETURNED) {
    p->timing.returned_ns = r->t_ns;
    if (r->message != NULL && p->error == NULL) {
      p->error = r->message;
      r->message = NULL; /* taken */
    }
    take_result(p, r);
  }
}

/* The child has ended, so everything it wrote is in the socket buffer:
 * read it without blocking and apply each whole frame. A frame cut short by
 * a kill is ignored. Two small reports fit the stack buffer. */
static void drain_reports(mproc_process_t *p) {
  int sock = p->node.fds[MPROC__FD_SOCK];
  if (sock < 0) return;
  uint8_t mem[512];
  mproc__reader_t reader;
  mproc__reader_init(&reader, sock, MPROC__REPORT_MAX, mem, sizeof mem);
  for (;;) {
    const uint8_t *payload;
    size_t len;
    int got = mproc__reader_peek(&reader, &payload, &len);
    if (got < 0) break; /* a frame larger than a report can be */
    if (got == 0) {
      /* Out of whole frames: read more, until EAGAIN or EOF. A frame cut
       * short by a kill is ignored. */
      /* Never waiting: a grandchild may hold the write end open. */
      if (mproc__fill_reports(p, &reader, MSG_DONTWAIT) <= 0) break;
      continue;
    }
    mproc__report_t rep;
    if (mproc__report_decode(&rep, payload, len) == 0) {
      apply_report(p, &rep);
      mproc__report_clear(&rep);
    }
  }
  mproc__reader_free(&reader);
  /* A memory file whose report never came (cut short by a kill). */
  mproc__node_close_fd(&p->node, MPROC__FD_RESULT);
}

static double seconds(uint64_t from, uint64_t to) {
  return from && to && to >= from ? (double)(to - from) / 1e9 : 0.0;
}

static double tv_seconds(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void ended(mproc_process_t *p, int status, const struct rusage *ru) {
  mproc_timing_t *t = &p->timing;
  p->state = MPROC__ENDED;
  p->status = status;
  p->status_known = true;
  t->reaped_ns = mproc__now_ns();
  t->user_s = tv_seconds(ru->ru_utime);
  t->sys_s = tv_seconds(ru->ru_stime);
  t->max_rss_kb = ru->ru_maxrss;
  drain_reports(p);
  t->startup_s = seconds(t->started_ns, t->entered_ns);
  t->run_s = seconds(t->entered_ns, t->returned_ns);
  /* The child leaves right after its RETURNED report; without one (killed,
   * crashed, exit()), the reap is the best known end (process.h). */
  t->ended_ns = t->returned_ns ? t->returned_ns : t->reaped_ns;
  t->wall_s = seconds(t->started_ns, t->ended_ns);
  /* The pipe has nothing more to say; the sentinel stays open until close,
   * as Python's does. */
  mproc__node_close_fd(&p->node, MPROC__FD_SOCK);
  mproc__buf_free(&p->call);
}

static void apply_relayed(void *ctx, void *report) {
  apply_report(ctx, report);
}

/* Called once poll said the socket is readable; never waits all the same,
 * since it holds the registry's lock (which every fork takes). */
static int fill_relayed(void *ctx, mproc__reader_t *r) {
  return mproc__fill_reports(ctx, r, MSG_DONTWAIT);
}

/* Started through a relay (core/relay.h): the status comes from it. */
static int reap_relayed(mproc_process_t *p, bool block) {
  int status = 0;
  struct rusage ru;
  int fd = mproc_process_sentinel(p);
  int rc = mproc__relay_collect(p->node.fds[MPROC__FD_SOCK], fd, block,
                                MPROC__REPORT_MAX, fill_relayed, apply_relayed,
                                p, &status, &ru);
  if (rc == 0) return 0;
  if (rc < 0) {
    /* The relay went without a word (killed): how the child ended is
     * lost, as when someone else reaps a child. */
    p->state = MPROC__ENDED;
    p->status_known = false;
    p->timing.reaped_ns = mproc__now_ns();
    mproc__node_close_fd(&p->node, MPROC__FD_SOCK);
    mproc__buf_free(&p->call);
    return rc;
  }
  ended(p, status, &ru);
  return 1;
}

int mproc__reap(mproc_process_t *p, bool block) {
  if (p->state == MPROC__ENDED) return 1;
  if (p->state != MPROC__RUNNING) return 0;
  if (p->relay) return reap_relayed(p, block);
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  pid_t r;
  do {
    r = wait4(p->pid, &status, block ? 0 : WNOHANG, &ru);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return 0;
  if (r < 0) {
    /* Someone else reaped our child (SIGCHLD ignored, waitpid(-1)): it has
     * ended, but how is lost. */
    int rc = -errno;
    p->state = MPROC__ENDED;
    p->status_known = false;
    p->timing.reaped_ns = mproc__now_ns();
    mproc__node_close_fd(&p->node, MPROC__FD_SOCK);
    mproc__buf_free(&p->call);
    return rc;
  }
  ended(p, status, &ru);
  return 1;
}

int mproc_process_join(mproc_process_t *p, double timeout_s) {
  int rc = mproc__check_owner(p);
  if (rc < 0) return rc;
  if (!mproc__timeout_valid(timeout_s))
    return MPROC__EINVAL("timeout_s must be a number (NaN is not)");
  if (p->state == MPROC__NEW) return MPROC_ESTATE;
  if (p->state == MPROC__ENDED) return 0;
  if (timeout_s < 0 || isinf(timeout_s)) {
    /* No limit: wait4 itself is the wait, as Python's waitpid. */
    rc = mproc__reap(p, true);
    return rc < 0 ? rc : 0;
  }
  struct pollfd pfd = {mproc_process_sentinel(p), POLLIN, 0};
  rc = mproc__poll(&pfd, 1, mproc__deadline(timeout_s));
  if (rc < 0) return rc;
  if (rc == 0) return MPROC_ETIMEDOUT;
  /* Readable: the child is gone (pidfd), or its sentinel pipe closed,
   * which happens as it exits; the wait is at most that long. */
  rc = mproc__reap(p, true);
  return rc < 0 ? rc : 0;
}

int mproc_process_is_alive(mproc_process_t *p) {
  int rc = mproc__check_owner(p);
  if (rc < 0) return rc;
  if (p->state != MPROC__RUNNING) return 0;
  rc = mproc__reap(p, false);
  return rc < 0 ? rc : !rc;
}

static int signal_process(mproc_process_t *p, int sig) {
  int rc = mproc__check_owner(p);
  if (rc < 0) return rc;
  if (p->state == MPROC__NEW) return MPROC_ESTATE;
  if (p->state == MPROC__ENDED) return 0;
  rc = send_signal(p, sig);
  return rc == MPROC_ESRCH ? 0 : rc; /* already gone: nothing to do */
}

int mproc_process_terminate(mproc_process_t *p) {
  return signal_process(p, SIGTERM);
}

int mproc_process_kill(mproc_process_t *p) {
  return signal_process(p, SIGKILL);
}

int mproc_process_exitcode(mproc_process_t *p, int *code) {
  int rc = mproc__check_owner(p);
  if (rc < 0) return rc;
  if (code == NULL) return MPROC__EINVAL("code is NULL");
  if (p->state == MPROC__NEW) return 0;
  rc = mproc__reap(p, false);
  if (rc <= 0) return rc;
  if (!p->status_known) return 0;
  if (WIFEXITED(p->status))
    *code = WEXITSTATUS(p->status);
  else if (WIFSIGNALED(p->status))
    *code = -WTERMSIG(p->status);
  else
    return 0;
  return 1;
}

int mproc_wait(mproc_process_t *const *procs, size_t n, double timeout_s,
               size_t *index) {
  if (procs == NULL || n == 0 || index == NULL)
    return MPROC__EINVAL("%s", procs == NULL ? "procs is NULL"
                               : n == 0      ? "n is 0: nothing to wait for"
                                             : "index is NULL");
  if (!mproc__timeout_valid(timeout_s))
    return MPROC__EINVAL("timeout_s must be a number (NaN is not)");
  for (size_t i = 0; i < n; i++) {
    int rc = mproc__check_owner(procs[i]);
    if (rc < 0) return rc;
    if (procs[i]->state == MPROC__NEW) return MPROC_ESTATE;
  }
  for (size_t i = 0; i < n; i++) {
    if (procs[i]->state == MPROC__ENDED) {
      *index = i;
      return 0;
    }
  }
  struct pollfd stack[64];
  struct pollfd *pfd = n <= 64 ? stack : malloc(n * sizeof *pfd);
  if (pfd == NULL) return MPROC_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    pfd[i].fd = mproc_process_sentinel(procs[i]);
    pfd[i].events = POLLIN;
    pfd[i].revents = 0;
  }
  int rc = mproc__poll(pfd, n, mproc__deadline(timeout_s));
  if (rc == 0) rc = MPROC_ETIMEDOUT;
  if (rc > 0) {
    for (size_t i = 0; i < n; i++) {
      if (pfd[i].revents != 0) {
        rc = mproc__reap(procs[i], true);
        if (rc >= 0) {
          *index = i;
          rc = 0;
        }
        break;
      }
    }
  }
  if (pfd != stack) free(pfd);
  return rc;
}
