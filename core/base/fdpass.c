#include "core/base/fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/base/io.h"

typedef union {
  struct cmsghdr h; /* aligns the buffer as a control header */
  char space[CMSG_SPACE(MPROC__FDPASS_MAX * sizeof(int))];
} control_t;

ssize_t mproc__send_fds(int sock, const void *data, size_t n, const int *fds,
                        int nfds, int flags) {
  if (nfds < 0 || nfds > MPROC__FDPASS_MAX || n == 0) return -EINVAL;
  struct iovec iov = {(void *)data, n};
  control_t cbuf;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    memset(&cbuf, 0, sizeof cbuf);
    msg.msg_control = cbuf.space;
    msg.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
  }
  for (;;) {
    ssize_t w = sendmsg(sock, &msg, flags | MSG_NOSIGNAL);
    if (w >= 0) return w;
    if (errno != EINTR) return -errno;
  }
}

ssize_t mproc__recv_fds(int sock, void *buf, size_t n, int *fds, int max_fds,
                        int *nfds, bool *truncated, int flags) {
  *nfds = 0;
  if (truncated != NULL) *truncated = false;
  struct iovec iov = {buf, n};
  control_t cbuf;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf.space;
  msg.msg_controllen = sizeof cbuf.space;
  ssize_t got;
  do {
    got = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return -errno;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm != NULL;
       cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
      if (*nfds < max_fds)
        fds[(*nfds)++] = fd;
      else
        mproc__close(fd);
    }
  }
  if (truncated != NULL && (msg.msg_flags & MSG_CTRUNC)) *truncated = true;
  return got;
}
