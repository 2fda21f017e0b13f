/* Process-wide state: see registry.h. */
#include "core/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/io.h"
#include "core/process_internal.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint counter;

/* Set in a child by mproc__registry_child_reset, never freed: they live as
 * long as the process. */
static const char *identity = "";
static const char *current_name = "MainProcess";
static bool current_daemon;

static int *fds;
static size_t nfds, capfds;

/* getpid() is a syscall (glibc stopped caching it); owner checks run on
 * every call, so the pid is cached and forgotten in every forked child. */
static atomic_int cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static mproc_process_t *handles; /* doubly linked through p->next/prev */

void mproc__lock(void) { pthread_mutex_lock(&lock); }

void mproc__unlock(void) { pthread_mutex_unlock(&lock); }

int mproc__fd_track(int fd) {
  if (nfds == capfds) {
    size_t cap = capfds ? capfds * 2 : 64;
    int *grown = realloc(fds, cap * sizeof *grown);
    if (grown == NULL) return MPROC_ENOMEM;
    fds = grown;
    capfds = cap;
  }
  fds[nfds++] = fd;
  return 0;
}

void mproc__fd_untrack(int fd) {
  /* Newest first: the fd being dropped is usually recent. */
  for (size_t i = nfds; i-- > 0;) {
    if (fds[i] == fd) {
      fds[i] = fds[--nfds];
      return;
    }
  }
}

void mproc__fd_close(int fd) {
  if (fd < 0) return;
  mproc__lock();
  mproc__fd_untrack(fd);
  mproc__close(fd);
  mproc__unlock();
}

static void forget_pid(void) { atomic_store_explicit(&cached_pid, 0, memory_order_relaxed); }

static void register_forget_pid(void) { pthread_atfork(NULL, NULL, forget_pid); }

pid_t mproc__getpid(void) {
  pid_t pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
  if (pid == 0) {
    pthread_once(&pid_once, register_forget_pid);
    pid = getpid();
    atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
  }
  return pid;
}

unsigned mproc__next_number(void) { return atomic_fetch_add(&counter, 1) + 1; }

const char *mproc__identity(void) { return identity; }

bool mproc__current_is_daemon(void) { return current_daemon; }

const char *mproc_current_process_name(void) { return current_name; }

void mproc__handle_link(mproc_process_t *p) {
  p->prev = NULL;
  p->next = handles;
  if (handles != NULL) handles->prev = p;
  handles = p;
  p->linked = true;
}

void mproc__handle_unlink(mproc_process_t *p) {
  if (!p->linked) return;
  if (p->prev != NULL)
    p->prev->next = p->next;
  else
    handles = p->next;
  if (p->next != NULL) p->next->prev = p->prev;
  p->next = p->prev = NULL;
  p->linked = false;
}

void mproc__registry_child_reset(mproc_process_t *self) {
  for (size_t i = 0; i < nfds; i++) mproc__close(fds[i]);
  nfds = 0;
  /* The parent's handles are copies here, none of them a child of this
   * process (their owner checks fail) and their descriptors were just
   * closed. Nothing is written to them: every page the child writes is a
   * copy-on-write fault. */
  handles = NULL;
  identity = self->child_identity;
  current_name = self->name;
  current_daemon = self->daemon;
  atomic_store(&counter, 0);
  /* Taken by the parent's thread before fork; this is that thread's copy. */
  pthread_mutex_unlock(&lock);
}

static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void cleanup_at_exit(void) { mproc__cleanup_children(); }

static void install(void) { atexit(cleanup_at_exit); }

void mproc__install_exit_handler(void) { pthread_once(&exit_once, install); }

/* The running children of this process, in a new array (the registry can
 * change while we wait on them). */
static mproc_process_t **running_children(size_t *n) {
  mproc__lock();
  size_t count = 0;
  for (mproc_process_t *h = handles; h != NULL; h = h->next)
    if (h->state == MPROC__RUNNING) count++;
  mproc_process_t **list = count ? malloc(count * sizeof *list) : NULL;
  *n = 0;
  if (list != NULL)
    for (mproc_process_t *h = handles; h != NULL; h = h->next)
      if (h->state == MPROC__RUNNING) list[(*n)++] = h;
  mproc__unlock();
  return list;
}

void mproc__cleanup_children(void) {
  size_t n;
  mproc_process_t **list = running_children(&n);
  for (size_t i = 0; i < n; i++)
    if (list[i]->daemon) mproc_process_terminate(list[i]);
  for (size_t i = 0; i < n; i++) mproc_process_join(list[i], -1);
  free(list);
}
