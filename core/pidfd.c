/* Process descriptors: see pidfd.h. */
#include "core/pidfd.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "multiproc/error.h"
#include "core/base/io.h"

static int pidfd_state; /* 0 unknown, 1 usable, -1 not (or forced off) */

int mproc__pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  /* pidfds are always close-on-exec. */
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  return fd >= 0 ? fd : -errno;
#else
  (void)pid;
  return MPROC_ENOSYS;
#endif
}

int mproc__pidfd_send_signal(int pidfd, int sig) {
#ifdef SYS_pidfd_send_signal
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0) return 0;
  return -errno;
#else
  (void)pidfd;
  (void)sig;
  return MPROC_ENOSYS;
#endif
}

bool mproc__pidfd_enabled(void) {
  if (pidfd_state == 0) {
    int fd = mproc__pidfd_open(getpid());
    if (fd >= 0) mproc__close(fd);
    /* Any answer but "no such syscall" means the kernel has them. */
    pidfd_state = (fd >= 0 || (fd != MPROC_ENOSYS && fd != MPROC_EPERM)) ? 1
                                                                        : -1;
  }
  return pidfd_state > 0;
}

void mproc__pidfd_force_disabled(bool disabled) {
  pidfd_state = disabled ? -1 : 0;
}
