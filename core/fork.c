/* The one fork: see fork.h. */
#include "core/fork.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

/* The child of an exec'ing fork: runs in the parent's memory (vfork), so
 * it only makes system calls and writes nothing but *err. */
static void exec_child(const mproc__fork_t *f, const sigset_t *mask,
                       pid_t parent, volatile int *err)
    __attribute__((noreturn));
static void exec_child(const mproc__fork_t *f, const sigset_t *mask,
                       pid_t parent, volatile int *err) {
  reset_signal_handlers();
  if (f->ignore_sigint_sigpipe) {
    ignore(SIGINT);
    ignore(SIGPIPE);
  }
  if (f->die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
  }
  /* Every descriptor of the parent's closes at exec (its own multiproc
   * ones and the program's alike), except the child's own. */
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
    struct rlimit rl = {1024, 1024};
    getrlimit(RLIMIT_NOFILE, &rl);
    for (int fd = 3; (rlim_t)fd < rl.rlim_cur; fd++)
      fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  for (int i = 0; i < 2; i++)
    if (f->own_fds[i] >= 0) fcntl(f->own_fds[i], F_SETFD, 0);
  mproc__fd_limit_restore();
  pthread_sigmask(SIG_SETMASK, f->mask ? f->mask : mask, NULL);
  execve(f->exec->path, f->exec->argv, f->exec->envp);
  *err = errno;
  _exit(127);
}

/* fork for f->exec: vfork, the child execs (or fails) before the parent's
 * thread goes on. */
static pid_t fork_exec(const mproc__fork_t *f, const sigset_t *old_mask,
                       pid_t parent) {
  volatile int err = 0;
  pid_t pid = vfork();
  if (pid == 0) exec_child(f, old_mask, parent, &err);
  if (pid < 0) return -errno;
  if (err != 0) {
    /* The child left without exec'ing: reap it, nobody else knows it. */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return -err;
  }
  return pid;
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
  if (f->exec != NULL) {
    pid_t pid = fork_exec(f, &old_mask, parent);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return pid;
  }
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
