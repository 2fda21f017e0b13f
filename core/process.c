/* Process lifecycle: new, start, close and the accessors. Waiting and
 * signals are in reap.c, the child's side in child.c. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/error_detail.h"
#include "core/base/clock.h"
#include "core/fdlimit.h"
#include "core/fork.h"
#include "core/base/io.h"
#include "core/pidfd.h"
#include "core/process_internal.h"
#include "core/registry.h"
#include "core/forkserver.h"
#include "core/relay.h"
#include "core/spawn.h"
#include "core/start_method.h"
#include "core/target_internal.h"
#include "multiproc/frame.h"
#include "serialization/message.h"

/* Python's exit-time cleanup for one Process (registry.h): daemonic
 * children are terminated first, then every child is joined. */
static void process_at_exit(mproc__node_t *node, int phase) {
  mproc_process_t *p = (mproc_process_t *)node;
  if (p->state != MPROC__RUNNING || p->owner != mproc__getpid()) return;
  if (phase == MPROC__EXIT_TERMINATE) {
    if (p->daemon) (void)mproc_process_terminate(p);
  } else {
    (void)mproc_process_join(p, -1);
  }
}

int mproc_process_new(mproc_process_t **out, const mproc_process_opts_t *opts) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (opts == NULL) return MPROC__EINVAL("opts is NULL");
  if (opts->target == NULL && opts->target_name == NULL)
    return MPROC__EINVAL("opts.target or opts.target_name must be set");
  mproc_target_fn target = opts->target;
  const char *target_name = opts->target_name;
  if (target == NULL) {
    int rc = mproc__target_resolve(target_name, &target);
    if (rc < 0) return rc;
  } else {
    target_name = mproc_target_name(target); /* NULL when unregistered */
  }
  mproc_kind_t ak = mproc_value_kind(opts->args);
  if (opts->args != NULL && ak != MPROC_TUPLE && ak != MPROC_LIST)
    return MPROC__EINVAL("opts.args must be a tuple or list, not %s",
                         mproc_kind_name(ak));
  if (opts->kwargs != NULL && mproc_value_kind(opts->kwargs) != MPROC_DICT)
    return MPROC__EINVAL("opts.kwargs must be a dict, not %s",
                         mproc_kind_name(mproc_value_kind(opts->kwargs)));
  if (!mproc__start_method_valid((int)opts->start_method))
    return MPROC__EINVAL("opts.start_method %d is not an mproc_start_method_t",
                         (int)opts->start_method);

  /* Python: a child's identity is its parent's plus its own number, taken
   * even when the process is named. Made here, not in the child, which
   * should allocate nothing; the handle, identity and name are one block. */
  unsigned number = mproc__next_number();
  const char *parent_id = mproc__identity();
  char id[256];
  int id_len = snprintf(id, sizeof id, "%s%s%u", parent_id,
                        parent_id[0] ? ":" : "", number);
  if (id_len < 0 || (size_t)id_len >= sizeof id) return MPROC_ENOMEM;
  size_t name_len = opts->name ? strlen(opts->name) : 8 + (size_t)id_len;
  mproc_process_t *p = calloc(1, sizeof *p + (size_t)id_len + 1 + name_len + 1);
  if (p == NULL) return MPROC_ENOMEM;
  p->child_identity = (char *)(p + 1);
  memcpy(p->child_identity, id, (size_t)id_len + 1);
  p->name = p->child_identity + id_len + 1;
  if (opts->name)
    memcpy(p->name, opts->name, name_len + 1);
  else
    snprintf(p->name, name_len + 1, "Process-%s", id);

  p->owner = mproc__getpid();
  p->state = MPROC__NEW;
  p->number = number;
  p->daemon = opts->daemon;
  p->target = target;
  p->target_name = target_name;
  p->start_method = (int)opts->start_method;
  p->ctx = opts->ctx;
  p->max_frame = opts->max_frame ? opts->max_frame : MPROC_FRAME_MAX_DEFAULT;
  mproc__node_init(&p->node, process_at_exit);
  mproc__buf_lend(&p->call, p->call_inline, sizeof p->call_inline);

  mproc__call_out_t call = {target_name, opts->args, opts->kwargs, 0};
  int rc = mproc__call_encode_frame(&p->call, &call);
  if (rc == 0 && p->call.len - MPROC_FRAME_HEADER > p->max_frame)
    rc = MPROC_ETOOBIG;
  if (rc < 0) {
    mproc__buf_free(&p->call);
    free(p);
    return rc;
  }
  mproc__lock();
  mproc__node_link(&p->node);
  mproc__unlock();
  *out = p;
  return 0;
}

int mproc__check_owner(const mproc_process_t *p) {
  if (p == NULL) return mproc__fail(MPROC_EINVAL, "the process is NULL");
  if (p->owner != mproc__getpid()) return MPROC_ENOTCHILD;
  return 0;
}

/* Creates the pipes of one start, with the registry lock held so that no
 * concurrent fork can inherit them untracked. */
static int open_channels(int sp[2], int sentinel[2]) {
  sp[0] = sp[1] = sentinel[0] = sentinel[1] = -1;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
    return -errno;
  if (!mproc__pidfd_enabled() && pipe2(sentinel, O_CLOEXEC) < 0) {
    int rc = -errno;
    mproc__close(sp[0]);
    mproc__close(sp[1]);
    sp[0] = sp[1] = -1;
    return rc;
  }
  return 0;
}

/* The child is already running and reading: a call bigger than the pipe
 * buffer streams through. If the child died first, the write fails with
 * EPIPE (never SIGPIPE) and its exit status tells the story. The buffer
 * is freed once the child is gone: freeing now would write heap pages
 * the child still shares. rc: an error from the start so far. */
static int send_call(mproc_process_t *p, size_t sent, int rc) {
  int sock = p->node.fds[MPROC__FD_SOCK];
  if (rc >= 0 && sent < p->call.len) {
    rc = mproc__write_full(sock, p->call.p + sent, p->call.len - sent);
    if (rc == MPROC_EPIPE || rc == MPROC_ECONNRESET) rc = 0;
  }
  if (rc < 0) {
    /* A child without its call would wait forever. */
    if (p->relay && p->node.fds[MPROC__FD_PIDFD] >= 0)
      MPROC__IGNORE(  /* already gone: then it needs no kill */
          mproc__pidfd_send_signal(p->node.fds[MPROC__FD_PIDFD], SIGKILL));
    else
      kill(p->pid, SIGKILL);
    /* Reaped so that no zombie stays; the start's error is what counts. */
    MPROC__IGNORE(mproc__reap(p, true));
    return mproc__fail_limit(rc, "start a Process (its pidfd, or its call)");
  }
  return 0;
}

/* The forkserver start method (core/forkserver.h): the server forks the
 * child and relays its end; the call goes as with a relay. */
static int start_forkserver(mproc_process_t *p) {
  int rc = mproc__spawn_check(p, "forkserver");
  for (int attempt = 0; rc == 0; attempt++) {
    rc = mproc__forkserver_ensure();
    if (rc < 0) break;
    int sp[2], sentinel[2];
    mproc__lock();
    rc = open_channels(sp, sentinel);
    if (rc < 0) {
      mproc__unlock();
      if (attempt == 0 && mproc__fd_limit_retry(rc)) {
        rc = 0; /* the loop runs while rc is 0 */
        continue;
      }
      return mproc__fail_limit(rc, "start a Process");
    }
    p->node.fds[MPROC__FD_SOCK] = sp[0];
    p->node.fds[MPROC__FD_SENTINEL] = sentinel[0];
    p->timing.started_ns = mproc__now_ns();
    rc = mproc__forkserver_request(p, sp[1], sentinel[1]);
    mproc__close(sp[1]);
    mproc__close(sentinel[1]);
    int pidfd = -1;
    if (rc == 0) rc = mproc__relay_receive_child(sp[0], &p->pid, &pidfd);
    if (rc == 0 && pidfd >= 0) p->node.fds[MPROC__FD_PIDFD] = pidfd;
    if (rc == 0 && sentinel[0] < 0 && pidfd < 0) rc = MPROC_ECHILD;
    if (rc < 0) {
      if (pidfd >= 0 && p->node.fds[MPROC__FD_PIDFD] != pidfd)
        mproc__close(pidfd);
      p->pid = 0;
      for (int i = 0; i < MPROC__NODE_FDS; i++) {
        mproc__close(p->node.fds[i]);
        p->node.fds[i] = -1;
      }
      mproc__unlock();
      p->timing.started_ns = 0;
      if (rc == MPROC_EPIPE && attempt == 0) {
        /* The server died since: once more, with a new one. */
        mproc__forkserver_reset_if_dead();
        rc = 0;
        continue;
      }
      if (rc == MPROC_ECHILD)
        return mproc__fail(MPROC_ECHILD,
                           "mproc_process_start: the fork server closed the "
                           "request unanswered: it could not take the child's "
                           "descriptors (out of descriptors or memory there)");
      return mproc__fail_limit(rc, "start a Process (fork server)");
    }
    mproc__unlock();
    p->relay = true;
    p->state = MPROC__RUNNING;
    return send_call(p, 0, 0);
  }
  return rc;
}

int mproc_process_start(mproc_process_t *p) {
  int rc = mproc__check_owner(p);
  if (rc < 0) return rc;
  if (p->state != MPROC__NEW) return MPROC_ESTATE;
  if (mproc__current_is_daemon()) return MPROC_EDAEMONIC;
  int method = mproc__start_method_resolve(p->start_method);
  mproc__install_exit_handler();
  if (method == MPROC_START_FORKSERVER) return start_forkserver(p);
  bool spawn = method == MPROC_START_SPAWN;
  if (spawn && (rc = mproc__spawn_check(p, "spawn")) < 0) return rc;

  int sp[2], sentinel[2];
  for (int attempt = 0;; attempt++) {
    mproc__fork_begin();
    rc = open_channels(sp, sentinel);
    if (rc == 0) break;
    mproc__unlock();
    /* Out of descriptors: the soft limit is raised to the hard one once
     * (core/fdlimit.h), then it is the hard limit that says no. */
    if (attempt == 0 && mproc__fd_limit_retry(rc)) continue;
    return mproc__fail_limit(rc, "start a Process");
  }
  /* Spawn: the exec'd child's environment, built now (the child borrows
   * the parent's memory until it execs, and allocates nothing). */
  mproc__spawn_t sp_exec;
  memset(&sp_exec, 0, sizeof sp_exec);
  if (spawn && (rc = mproc__spawn_prepare(&sp_exec, p, sp[1], sentinel[1])) < 0) {
    mproc__close(sp[0]);
    mproc__close(sp[1]);
    mproc__close(sentinel[0]);
    mproc__close(sentinel[1]);
    mproc__unlock();
    return rc;
  }
  /* Set before fork, so the child (which closes every registered fd)
   * closes these too, and the parent writes less after fork. */
  p->node.fds[MPROC__FD_SOCK] = sp[0];
  p->node.fds[MPROC__FD_SENTINEL] = sentinel[0];
  sigset_t caller_mask, all;
  sigfillset(&all);
  mproc__fork_t child = {p->child_identity, p->name, p->daemon,
                         {sp[1], sentinel[1]}, p->daemon, false, NULL,
                         spawn ? &sp_exec.exec : NULL};
  /* A program that ignores SIGCHLD would lose the child's status to the
   * kernel: a relay collects it for us (core/relay.h). The relay keeps
   * every signal blocked and registers nothing: its child does. */
  bool relay = mproc__children_autoreaped();
  if (relay) pthread_sigmask(SIG_SETMASK, NULL, &caller_mask);
  mproc__fork_t relay_f = {"", "ProcessRelay", false, {-1, -1}, p->daemon,
                           false, &all};
  p->timing.started_ns = mproc__now_ns();
  /* A call that fits the socket's buffer is written before fork: the child
   * finds it there and never waits for it. Whatever did not fit streams
   * after fork. (Through a relay it goes after the relay's word.) */
  size_t sent = 0;
  if (!relay) {
    ssize_t n = send(sp[0], p->call.p, p->call.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) sent = (size_t)n;
  }
  pid_t pid = mproc__fork(relay ? &relay_f : &child);
  if (pid == 0) {
    if (relay) {
      child.mask = &caller_mask;
      mproc__relay_main(&child, sp[1], sentinel[1]);
    }
    mproc__child_main(p, sp[1]);
  }
  mproc__close(sp[1]);
  mproc__close(sentinel[1]);
  mproc__spawn_release(&sp_exec);
  if (pid < 0) {
    mproc__close(sp[0]);
    mproc__close(sentinel[0]);
    p->node.fds[MPROC__FD_SOCK] = p->node.fds[MPROC__FD_SENTINEL] = -1;
    mproc__unlock();
    p->timing.started_ns = 0;
    return mproc__fail_limit(pid, spawn ? "start a Process (fork and exec "
                                          "of /proc/self/exe)"
                                        : "start a Process (fork)");
  }
  p->pid = pid;
  p->relay = relay;
  if (relay) {
    /* The relay sends the real child's pid and a pidfd it opened while
     * the child was its own, unreapable. */
    int pidfd = -1;
    rc = mproc__relay_receive_child(sp[0], &p->pid, &pidfd);
    if (rc == 0 && pidfd >= 0) p->node.fds[MPROC__FD_PIDFD] = pidfd;
    if (rc == 0 && sentinel[0] < 0 && pidfd < 0) rc = MPROC_ECHILD;
    if (rc < 0) {
      p->pid = 0;
      for (int i = 0; i < MPROC__NODE_FDS; i++) {
        mproc__close(p->node.fds[i]);
        p->node.fds[i] = -1;
      }
      mproc__unlock();
      p->timing.started_ns = 0;
      return rc;
    }
  } else if (sentinel[0] < 0) {
    /* Our unreaped child cannot be recycled, so opening its pidfd after
     * fork is race-free. */
    rc = mproc__pidfd_open(pid);
    if (rc < 0 && mproc__fd_limit_retry(rc)) rc = mproc__pidfd_open(pid);
    if (rc >= 0) p->node.fds[MPROC__FD_PIDFD] = rc;
  }
  mproc__unlock();
  p->state = MPROC__RUNNING;
  return send_call(p, sent, rc);
}

int mproc_process_close(mproc_process_t *p) {
  if (p == NULL) return 0;
  /* In a child, an inherited copy only has memory to release: its
   * descriptors were closed at fork and it is in no list. */
  bool mine = p->owner == mproc__getpid();
  if (mine && p->state == MPROC__RUNNING) {
    int rc = mproc__reap(p, false);
    if (rc == 0) return MPROC_EBUSY;
  }
  if (mine) {
    mproc__lock();
    for (int i = 0; i < MPROC__NODE_FDS; i++) mproc__close(p->node.fds[i]);
    mproc__node_unlink(&p->node);
    mproc__unlock();
  }
  mproc__buf_free(&p->call);
  free(p->error);
  mproc_value_free(p->result);
  free(p);
  return 0;
}

pid_t mproc_process_pid(const mproc_process_t *p) {
  return p == NULL ? 0 : p->pid;
}

const char *mproc_process_name(const mproc_process_t *p) {
  return p == NULL ? NULL : p->name;
}

bool mproc_process_daemon(const mproc_process_t *p) {
  return p != NULL && p->daemon;
}

const char *mproc_current_process_name(void) { return mproc__current_name(); }

const char *mproc_process_error(const mproc_process_t *p) {
  return p == NULL ? NULL : p->error;
}

int mproc_process_result(mproc_process_t *p, const mproc_value_t **out) {
  int rc = mproc__check_owner(p);
  if (rc < 0) return rc;
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (p->state == MPROC__NEW) return 0;
  rc = mproc__reap(p, false);
  if (rc <= 0) return rc;
  if (!p->returned) return MPROC_EFAILED;
  if (p->result_rc < 0) return p->result_rc;
  if (p->result == NULL) {
    rc = mproc_value_none(&p->result);
    if (rc < 0) return rc;
  }
  *out = p->result;
  return 1;
}

int mproc_process_sentinel(const mproc_process_t *p) {
  if (p == NULL) return MPROC__EINVAL("p is NULL");
  if (p->state == MPROC__NEW) return MPROC_ESTATE;
  return p->node.fds[MPROC__FD_PIDFD] >= 0 ? p->node.fds[MPROC__FD_PIDFD]
                                           : p->node.fds[MPROC__FD_SENTINEL];
}

int mproc_process_timing(const mproc_process_t *p, mproc_timing_t *t) {
  if (p == NULL || t == NULL)
    return MPROC__EINVAL("%s is NULL", p == NULL ? "p" : "t");
  *t = p->timing;
  return 0;
}
