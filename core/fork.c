/* The one fork: see fork.h. */
#include "core/fork.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core/boundary.h"
#include "core/fdlimit.h"
#include "core/registry.h"

static void reset_signal(int sig) {
  struct sigaction dfl, old;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  if (sigaction(sig, &dfl, &old) == 0 && old.sa_handler == SIG_IGN)
    sigaction(sig, &old, NULL);
}

/* Every caught signal back to its default; ignored ones stay ignored. Run
 * with every signal blocked. */
static void reset_signal_handlers(void) {
  /* SIGKILL and SIGSTOP cannot be caught, and the real-time signals below
   * SIGRTMIN are glibc's own (sigaction refuses them, and every refusal is
   * a write to errno: a page copied in a fresh child). */
  for (int sig = 1; sig < 32; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) reset_signal(sig);
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) reset_signal(sig);
}

static void ignore(int sig) {
  struct sigaction ign;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(sig, &ign, NULL);
}

void mproc__fork_begin(void) {
  mproc__boundary_prepare();
  fflush(NULL);
  mproc__lock();
}

pid_t mproc__fork(const mproc__fork_t *f) {
  sigset_t all, old_mask;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  pid_t parent = mproc__getpid();
  pid_t pid = fork();
  if (pid != 0) {
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return pid > 0 ? pid : -err;
  }
  reset_signal_handlers();
  if (f->ignore_sigint_sigpipe) {
    ignore(SIGINT);
    ignore(SIGPIPE);
  }
  if (f->die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The parent may have died before prctl. */
    if (getppid() != parent) _exit(1);
  }
  mproc__registry_child_reset(f->identity, f->name, f->daemon, f->own_fds);
  mproc__fd_limit_restore();
  pthread_sigmask(SIG_SETMASK, f->mask ? f->mask : &old_mask, NULL);
  return 0;
}

void mproc__child_exit(int code) {
  mproc__cleanup_children();
  fflush(NULL);
  _exit(code);
}
