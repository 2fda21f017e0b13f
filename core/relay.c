/* Process children through a relay: see relay.h. */
#include "core/relay.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "multiproc/call.h"
#include "core/base/clock.h"
#include "multiproc/error.h"
#include "core/base/fdpass.h"
#include "core/base/io.h"
#include "core/pidfd.h"
#include "core/registry.h"
#include "multiproc/frame.h"
#include "serialization/reader.h"
#include "serialization/frame_internal.h"
#include "serialization/message.h"

bool mproc__children_autoreaped(void) {
  struct sigaction sa;
  if (sigaction(SIGCHLD, NULL, &sa) != 0) return false;
  return sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT) != 0;
}

/* One report frame, with fd attached when >= 0. */
static int send_report(int sock, const mproc__report_t *r, int fd);

void mproc__relay_send_child(int sock, pid_t pid) {
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.t_ns = mproc__now_ns();
  if (pid < 0) {
    r.kind = MPROC__REPORT_RETURNED;
    r.code = -1;
    r.error = pid;
    (void)send_report(sock, &r, -1);
    return;
  }
  int pidfd = mproc__pidfd_open(pid); /* our unreaped child: race-free */
  r.kind = MPROC__REPORT_RELAYED;
  r.pid = pid;
  (void)send_report(sock, &r, pidfd >= 0 ? pidfd : -1);
  mproc__close(pidfd);
}

static uint64_t tv_us(struct timeval tv);

void mproc__relay_send_exited(int sock, int status, const struct rusage *ru) {
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.kind = MPROC__REPORT_EXITED;
  r.t_ns = mproc__now_ns();
  r.status = status;
  r.utime_us = tv_us(ru->ru_utime);
  r.stime_us = tv_us(ru->ru_stime);
  r.maxrss_kb = ru->ru_maxrss > 0 ? (uint64_t)ru->ru_maxrss : 1;
  (void)send_report(sock, &r, -1);
}

static int send_report(int sock, const mproc__report_t *r, int fd) {
  uint8_t mem[128];
  mproc__buf_t out;
  mproc__buf_lend(&out, mem, sizeof mem);
  int rc = mproc__report_encode_frame(&out, r);
  if (rc < 0) return rc;
  /* Small: one sendmsg carries it whole, and nobody else writes yet (the
   * real child waits for its call) or any more (it has ended). */
  ssize_t w = mproc__send_fds(sock, out.p, out.len, &fd, fd >= 0 ? 1 : 0, 0);
  return w < 0 ? (int)w : 0;
}

static uint64_t tv_us(struct timeval tv) {
  return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

void mproc__relay_main(const mproc__fork_t *child, int sock, int sentinel) {
  /* The relay reaps the real child itself. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, NULL);
  mproc__fork_begin();
  pid_t pid = mproc__fork(child);
  if (pid == 0) {
    /* The real child keeps the program's ignored SIGCHLD, as its own
     * children expect. */
    signal(SIGCHLD, SIG_IGN);
    return;
  }
  mproc__unlock();
  /* Only the real child may hold the sentinel: it closes as that ends. */
  mproc__close(sentinel);
  mproc__relay_send_child(sock, pid);
  if (pid < 0) mproc__child_exit(1);
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  mproc__relay_send_exited(sock, status, &ru);
  mproc__child_exit(0);
}

int mproc__relay_receive_child(int sock, pid_t *pid, int *pidfd) {
  *pid = 0;
  *pidfd = -1;
  uint8_t buf[256];
  size_t have = 0;
  /* The frame is small and comes in one segment; the descriptor rides
   * with its first byte. */
  while (have < MPROC_FRAME_HEADER ||
         have < MPROC_FRAME_HEADER + mproc__frame_get_header(buf)) {
    if (have >= MPROC_FRAME_HEADER &&
        MPROC_FRAME_HEADER + mproc__frame_get_header(buf) > sizeof buf)
      break;
    int fd = -1, nfds = 0;
    ssize_t n = mproc__recv_fds(sock, buf + have, sizeof buf - have, &fd, 1,
                                &nfds, NULL, 0);
    if (n < 0) {
      if (*pidfd >= 0) mproc__close(*pidfd);
      *pidfd = -1;
      return (int)n;
    }
    if (nfds > 0 && *pidfd < 0)
      *pidfd = fd;
    else if (nfds > 0)
      mproc__close(fd); /* only one pidfd is ever sent */
    if (n == 0) break;
    have += (size_t)n;
  }
  mproc__report_t r;
  const uint8_t *payload;
  size_t len;
  int rc = MPROC_ECHILD;
  if (mproc__frame_next(buf, have, sizeof buf, &payload, &len) > 0 &&
      mproc__report_decode(&r, payload, len) == 0) {
    if (r.kind == MPROC__REPORT_RELAYED && r.pid > 0) {
      *pid = r.pid;
      rc = 0;
    } else if (r.error < 0) {
      rc = r.error; /* the relay's fork failed */
    }
    mproc__report_clear(&r);
  }
  if (rc < 0 && *pidfd >= 0) {
    mproc__close(*pidfd);
    *pidfd = -1;
  }
  return rc;
}

int mproc__relay_collect(int sock, int sentinel, bool block, size_t max,
                         int (*fill)(void *ctx, mproc__reader_t *r),
                         void (*apply)(void *ctx, void *report), void *ctx,
                         int *status, struct rusage *ru) {
  struct pollfd pfd = {sentinel, POLLIN, 0};
  int rc = mproc__poll(&pfd, 1, block ? UINT64_MAX : 0);
  if (rc <= 0) return rc;
  /* The real child has ended: the relay reports at once. Its silence is
   * bounded, for a relay killed by someone while a grandchild holds the
   * socket open. */
  uint64_t deadline = mproc__now_ns() + 5000000000u;
  mproc__reader_t reader;
  uint8_t mem[512];
  mproc__reader_init(&reader, sock, max, mem, sizeof mem);
  rc = MPROC_ECHILD;
  for (;;) {
    const uint8_t *payload;
    size_t len;
    int got = mproc__reader_peek(&reader, &payload, &len);
    if (got < 0) break;
    if (got == 0) {
      struct pollfd in = {sock, POLLIN, 0};
      if (mproc__poll(&in, 1, deadline) <= 0) break;
      int filled = fill(ctx, &reader);
      if (filled == MPROC_EAGAIN) continue; /* readiness that was not */
      if (filled < 0) break;
      continue;
    }
    mproc__report_t r;
    if (mproc__report_decode(&r, payload, len) < 0) continue;
    if (r.kind == MPROC__REPORT_EXITED) {
      *status = r.status;
      memset(ru, 0, sizeof *ru);
      ru->ru_utime.tv_sec = (time_t)(r.utime_us / 1000000u);
      ru->ru_utime.tv_usec = (suseconds_t)(r.utime_us % 1000000u);
      ru->ru_stime.tv_sec = (time_t)(r.stime_us / 1000000u);
      ru->ru_stime.tv_usec = (suseconds_t)(r.stime_us % 1000000u);
      ru->ru_maxrss = (long)r.maxrss_kb;
      mproc__report_clear(&r);
      rc = 1;
      break;
    }
    apply(ctx, &r);
    mproc__report_clear(&r);
  }
  mproc__reader_free(&reader);
  return rc;
}
