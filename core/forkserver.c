/* The forkserver start method for Process: see forkserver.h. */
#include "core/forkserver.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/error_detail.h"
#include "core/base/fdpass.h"
#include "core/base/io.h"
#include "core/fdlimit.h"
#include "core/fork.h"
#include "core/registry.h"
#include "core/relay.h"
#include "core/spawn.h"
#include "multiproc/process.h"

/* A request: "daemon max_frame identity" NUL name NUL. */
#define REQUEST_MAX 512

/* ---- Parent side. */

static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static mproc__node_t server_node; /* fds[0]: the control socket */
static atomic_int server_owner;   /* the process the server serves (a pid) */
static pid_t server_pid;
static atomic_int server_ctl = -1;

/* With server_lock: the old server is gone (or belongs to the process we
 * were forked from): forget it, reaping it if it is ours. */
static void forget_locked(void) {
  if (atomic_load(&server_owner) == mproc__getpid()) {
    mproc__lock();
    mproc__close(server_node.fds[0]);
    server_node.fds[0] = -1;
    mproc__node_unlink(&server_node);
    mproc__unlock();
    if (server_pid > 0) (void)waitpid(server_pid, NULL, WNOHANG);
  }
  server_pid = 0;
  atomic_store(&server_owner, 0);
  atomic_store(&server_ctl, -1);
}

static int start_locked(void) {
  if (!mproc__spawn_ready())
    return mproc__fail(
        MPROC_ENOSYS,
        "the forkserver start method needs a program that recognises its "
        "spawned children before main(): this one defines no MPROC_TARGET "
        "and never called mproc_spawn_child_main()");
  int ctl[2];
  mproc__fork_begin();
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
    int rc = -errno;
    mproc__unlock();
    return mproc__fail_limit(rc, "start the fork server");
  }
  char spec[32];
  snprintf(spec, sizeof spec, "S %d", ctl[1]);
  mproc__spawn_t sp;
  int rc = mproc__spawn_prepare_spec(&sp, spec, "ForkServer");
  pid_t pid = rc;
  if (rc == 0) {
    mproc__fork_t f = {"", "ForkServer", false, {ctl[1], -1}, false, false,
                       NULL, &sp.exec};
    pid = mproc__fork(&f);
    mproc__spawn_release(&sp);
  }
  mproc__close(ctl[1]);
  if (pid < 0) {
    mproc__close(ctl[0]);
    mproc__unlock();
    return mproc__fail_limit(pid, "start the fork server");
  }
  mproc__node_init(&server_node, NULL);
  server_node.fds[0] = ctl[0];
  mproc__node_link(&server_node);
  mproc__unlock();
  server_pid = pid;
  atomic_store(&server_owner, mproc__getpid());
  atomic_store(&server_ctl, ctl[0]);
  return 0;
}

int mproc__forkserver_ensure(void) {
  pthread_mutex_lock(&server_lock);
  int rc = 0;
  if (atomic_load(&server_owner) != mproc__getpid()) {
    if (atomic_load(&server_owner) != 0) forget_locked(); /* our parent's */
    rc = start_locked();
  }
  pthread_mutex_unlock(&server_lock);
  return rc;
}

int mproc_forkserver_start(void) { return mproc__forkserver_ensure(); }

int mproc__forkserver_request(const mproc_process_t *p, int sock,
                              int sentinel) {
  int ctl = atomic_load(&server_ctl);
  if (ctl < 0 || atomic_load(&server_owner) != mproc__getpid())
    return MPROC_EPIPE;
  char req[REQUEST_MAX];
  int n = snprintf(req, sizeof req, "%d %zu %s", p->daemon ? 1 : 0,
                   p->max_frame, p->child_identity);
  size_t name_len = strlen(p->name);
  if (n < 0 || (size_t)n + 1 + name_len + 1 > sizeof req) return MPROC_ENOMEM;
  memcpy(req + n + 1, p->name, name_len + 1);
  int fds[2] = {sock, sentinel};
  ssize_t w = mproc__send_fds(ctl, req, (size_t)n + 1 + name_len + 1, fds,
                              sentinel >= 0 ? 2 : 1, 0);
  if (w >= 0) return 0; /* a datagram: whole or not at all */
  if (w == MPROC_EPIPE || w == MPROC_ECONNRESET) {
    /* The server died: the next ensure starts another. Not under the
     * registry lock (held here): just mark it. */
    atomic_store(&server_ctl, -1);
    return MPROC_EPIPE;
  }
  return (int)w;
}

void mproc__forkserver_reset_if_dead(void) {
  pthread_mutex_lock(&server_lock);
  if (atomic_load(&server_owner) == mproc__getpid() &&
      atomic_load(&server_ctl) < 0)
    forget_locked();
  pthread_mutex_unlock(&server_lock);
}

/* ---- The server. */

typedef struct child {
  mproc__node_t node; /* fds[0]: the child's socket, kept to report its end */
  pid_t pid;
  bool daemon;
  struct child *next;
} child_t;

static child_t *children;

static void reap_children(void) {
  for (;;) {
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    pid_t pid = wait4(-1, &status, WNOHANG, &ru);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;
    for (child_t **c = &children; *c != NULL; c = &(*c)->next) {
      if ((*c)->pid != pid) continue;
      child_t *done = *c;
      *c = done->next;
      mproc__relay_send_exited(done->node.fds[0], status, &ru);
      mproc__lock();
      mproc__close(done->node.fds[0]);
      mproc__node_unlink(&done->node);
      mproc__unlock();
      free(done);
      break;
    }
  }
}

/* Receives one request and forks its child. Returns 0, or < 0 when the
 * control socket is closed (the parent has gone). */
static int serve(int ctl, const sigset_t *mask) {
  char req[REQUEST_MAX + 1];
  int fds[2] = {-1, -1}, nfds = 0;
  bool truncated = false;
  ssize_t n = mproc__recv_fds(ctl, req, REQUEST_MAX, fds, 2, &nfds,
                              &truncated, 0);
  if (n == -EAGAIN) return 0;
  if (n <= 0) {
    for (int i = 0; i < nfds; i++) mproc__close(fds[i]);
    return -1;
  }
  req[n] = '\0';
  int daemon = 0, at = 0;
  size_t max_frame = 0;
  size_t len = strlen(req);
  if (truncated && fds[0] >= 0) {
    /* Out of descriptors here (even at the hard limit): the sentinel was
     * dropped. Say so to the parent rather than fork a child it could not
     * watch. */
    mproc__relay_send_child(fds[0], MPROC_EMFILE);
    mproc__close(fds[0]);
    mproc__close(fds[1]);
    return 0;
  }
  if (fds[0] < 0 ||
      sscanf(req, "%d %zu %n", &daemon, &max_frame, &at) < 2 || at == 0 ||
      len + 1 >= (size_t)n) {
    mproc__close(fds[0]);
    mproc__close(fds[1]);
    return 0; /* not a request: nobody to answer */
  }
  /* Kept until the child's end; its copies live in the child. */
  child_t *c = calloc(1, sizeof *c + (size_t)n);
  if (c == NULL) {
    mproc__relay_send_child(fds[0], MPROC_ENOMEM);
    mproc__close(fds[0]);
    mproc__close(fds[1]);
    return 0;
  }
  char *identity = (char *)(c + 1);
  memcpy(identity, req, (size_t)n);
  identity += at;
  const char *name = (char *)(c + 1) + len + 1;
  mproc__node_init(&c->node, NULL);
  c->daemon = daemon != 0;
  mproc__fork_t f = {identity, name, daemon != 0, {fds[0], fds[1]},
                     daemon != 0, false, mask, NULL};
  mproc__fork_begin();
  pid_t pid = mproc__fork(&f);
  if (pid == 0) mproc__named_child_main(identity, name, daemon != 0, fds[0],
                                        max_frame);
  if (pid > 0) {
    c->node.fds[0] = fds[0];
    mproc__node_link(&c->node);
  }
  mproc__unlock();
  mproc__close(fds[1]); /* only the child may hold its sentinel */
  mproc__relay_send_child(fds[0], pid);
  if (pid < 0) {
    mproc__close(fds[0]);
    free(c);
    return 0;
  }
  c->pid = pid;
  c->next = children;
  children = c;
  return 0;
}

void mproc__forkserver_main(int ctl) {
  /* Its children get the default SIGCHLD (it may have inherited SIG_IGN
   * across exec) and the mask the server started with; the server takes
   * SIGCHLD through a signalfd. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, NULL);
  sigset_t mask, chld;
  pthread_sigmask(SIG_SETMASK, NULL, &mask);
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  int none[2] = {-1, -1};
  mproc__registry_child_reset("", "ForkServer", false, none);
  /* It holds one descriptor per live child (to report its end): as many
   * children as the parent may have need the hard limit, not the soft one
   * the exec gave it back. Its children get the soft one again
   * (core/fdlimit.h). */
  (void)mproc__fd_limit_retry(MPROC_EMFILE);
  /* Its own descriptors, registered so that its children close them. */
  static mproc__node_t self;
  mproc__node_init(&self, NULL);
  self.fds[0] = ctl;
  self.fds[1] = sfd;
  mproc__lock();
  mproc__node_link(&self);
  mproc__unlock();
  bool open = true;
  for (;;) {
    if (!open && children == NULL) _exit(0);
    struct pollfd pfd[2] = {{sfd, POLLIN, 0}, {open ? ctl : -1, POLLIN, 0}};
    int rc = poll(pfd, 2, sfd < 0 ? 100 : -1); /* no signalfd: poll reaps */
    if (rc < 0 && errno != EINTR) _exit(1);
    if (sfd >= 0 && (pfd[0].revents & POLLIN)) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
      }
    }
    reap_children();
    if (open && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
        serve(ctl, &mask) < 0) {
      /* The parent has gone: daemonic children go with it, the others
       * finish and are reaped here. */
      open = false;
      for (child_t *c = children; c != NULL; c = c->next)
        if (c->daemon) kill(c->pid, SIGKILL);
    }
  }
}
