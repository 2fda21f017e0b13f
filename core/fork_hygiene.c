#include "core/fork_hygiene.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core/registry.h"

static void reset_signal(int sig) {
  struct sigaction dfl, old;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  if (sigaction(sig, &dfl, &old) == 0 && old.sa_handler == SIG_IGN)
    sigaction(sig, &old, NULL);
}

void mproc__reset_signal_handlers(void) {
  /* SIGKILL and SIGSTOP cannot be caught, and the real-time signals below
   * SIGRTMIN are glibc's own (sigaction refuses them, and every refusal is
   * a write to errno: a page copied in a fresh child). */
  for (int sig = 1; sig < 32; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) reset_signal(sig);
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) reset_signal(sig);
}

void mproc__child_exit(int code) {
  mproc__cleanup_children();
  fflush(NULL);
  _exit(code);
}

void mproc__die_with_parent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
}
