/* Robust fd I/O: see io.h for the contract. */
#include "core/base/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/base/clock.h"

static int wait_ready(int fd, short events) {
  struct pollfd pfd;
  pfd.fd = fd;
  pfd.events = events;
  pfd.revents = 0;
  int rc = mproc__poll(&pfd, 1, UINT64_MAX);
  return rc < 0 ? rc : 0;
}

ssize_t mproc__read_some(int fd, void *buf, size_t n) {
  for (;;) {
    ssize_t r = read(fd, buf, n);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int rc = wait_ready(fd, POLLIN);
      if (rc < 0) return rc;
      continue;
    }
    return -errno;
  }
}

ssize_t mproc__read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = mproc__read_some(fd, (char *)buf + got, n - got);
    if (r < 0) return r;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

/* Drops the bytes already written from the front of iov. */
static int consume_iov(struct iovec **iov, int *iovcnt, size_t done) {
  while (*iovcnt > 0 && done >= (*iov)->iov_len) {
    done -= (*iov)->iov_len;
    (*iov)++;
    (*iovcnt)--;
  }
  if (*iovcnt > 0) {
    (*iov)->iov_base = (char *)(*iov)->iov_base + done;
    (*iov)->iov_len -= done;
  }
  return *iovcnt;
}

/* Skips leading empty buffers so a finished write is seen as finished. */
static void skip_empty(struct iovec **iov, int *iovcnt) {
  while (*iovcnt > 0 && (*iov)->iov_len == 0) {
    (*iov)++;
    (*iovcnt)--;
  }
}

/* Writes the buffers, continuing after short writes, EINTR and EAGAIN.
 * Sockets go through sendmsg with MSG_NOSIGNAL, which keeps SIGPIPE away
 * without touching the mask; to a non-socket that returns ENOTSOCK before
 * writing anything. Other descriptors go through writev. */
static int write_loop(int fd, struct iovec *iov, int iovcnt, bool socket) {
  skip_empty(&iov, &iovcnt);
  while (iovcnt > 0) {
    int n = iovcnt > IOV_MAX ? IOV_MAX : iovcnt;
    ssize_t w;
    if (socket) {
      struct msghdr msg;
      memset(&msg, 0, sizeof msg);
      msg.msg_iov = iov;
      msg.msg_iovlen = (size_t)n;
      w = sendmsg(fd, &msg, MSG_NOSIGNAL);
    } else {
      w = writev(fd, iov, n);
    }
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        int rc = wait_ready(fd, POLLOUT);
        if (rc < 0) return rc;
        continue;
      }
      return -errno;
    }
    consume_iov(&iov, &iovcnt, (size_t)w);
    skip_empty(&iov, &iovcnt);
  }
  return 0;
}

/* Pipe path. A write to a pipe without readers raises SIGPIPE in the writing
 * thread, whose default action kills the whole process. Blocking it here and
 * discarding the one this write caused (unless one was already pending for
 * someone else) leaves the process's signal state exactly as it was. */
static int writev_nosigpipe(int fd, struct iovec *iov, int iovcnt) {
  sigset_t pipe_set, old_mask, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  sigemptyset(&pending);
  sigpending(&pending);
  int was_pending = sigismember(&pending, SIGPIPE);

  int rc = write_loop(fd, iov, iovcnt, false);

  if (rc == -EPIPE && !was_pending) {
    static const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  return rc;
}

int mproc__writev_full(int fd, struct iovec *iov, int iovcnt) {
  if (iovcnt < 0 || (iovcnt > 0 && iov == NULL)) return -EINVAL;
  int rc = write_loop(fd, iov, iovcnt, true);
  if (rc != -ENOTSOCK) return rc;
  /* ENOTSOCK comes before any byte is written, so iov is intact. */
  return writev_nosigpipe(fd, iov, iovcnt);
}

int mproc__write_all(int fd, const void *buf, size_t n) {
  struct iovec iov;
  iov.iov_base = (void *)buf;
  iov.iov_len = n;
  return write_loop(fd, &iov, 1, false);
}

int mproc__write_full(int fd, const void *buf, size_t n) {
  struct iovec iov;
  iov.iov_base = (void *)buf;
  iov.iov_len = n;
  return mproc__writev_full(fd, &iov, 1);
}

int mproc__poll(struct pollfd *fds, nfds_t nfds, uint64_t deadline_ns) {
  for (;;) {
    struct timespec ts, *tsp = NULL;
    if (deadline_ns != UINT64_MAX) {
      uint64_t now = mproc__now_ns();
      uint64_t left = deadline_ns > now ? deadline_ns - now : 0;
      ts.tv_sec = (time_t)(left / 1000000000u);
      ts.tv_nsec = (long)(left % 1000000000u);
      tsp = &ts;
    }
    int r = ppoll(fds, nfds, tsp, NULL);
    if (r >= 0) return r;
    if (errno != EINTR) return -errno;
  }
}

void mproc__close(int fd) {
  if (fd < 0) return;
  int saved = errno;
  /* Restore only on failure: an unconditional store to errno would write
   * (and, after fork, copy) its page on every close. */
  if (close(fd) != 0) errno = saved;
}

int mproc__set_nonblock(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags && fcntl(fd, F_SETFL, want) < 0) return -errno;
  return 0;
}
