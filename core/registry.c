/* Process-wide state: see registry.h. */
#include "core/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/io.h"
#include "core/process_internal.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint counter;

/* In a child these point into its copy of its own handle. */
static const char *identity = "";
static const char *current_name = "MainProcess";
static bool current_daemon;

static mproc__node_t *nodes; /* doubly linked */
static mproc__node_t self_node;

/* getpid() is a syscall (glibc stopped caching it); owner checks run on
 * every call, so the pid is cached and forgotten in every forked child. */
static atomic_int cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

void mproc__lock(void) { pthread_mutex_lock(&lock); }

void mproc__unlock(void) { pthread_mutex_unlock(&lock); }

void mproc__node_init(mproc__node_t *n, int kind) {
  n->next = n->prev = NULL;
  n->linked = false;
  n->kind = kind;
  for (int i = 0; i < MPROC__NODE_FDS; i++) n->fds[i] = -1;
}

void mproc__node_link(mproc__node_t *n) {
  n->prev = NULL;
  n->next = nodes;
  if (nodes != NULL) nodes->prev = n;
  nodes = n;
  n->linked = true;
}

void mproc__node_unlink(mproc__node_t *n) {
  if (!n->linked) return;
  if (n->prev != NULL)
    n->prev->next = n->next;
  else
    nodes = n->next;
  if (n->next != NULL) n->next->prev = n->prev;
  n->next = n->prev = NULL;
  n->linked = false;
}

void mproc__node_close_fd(mproc__node_t *n, int slot) {
  if (n->fds[slot] < 0) return;
  mproc__lock();
  mproc__close(n->fds[slot]);
  n->fds[slot] = -1;
  mproc__unlock();
}

static void forget_pid(void) {
  atomic_store_explicit(&cached_pid, 0, memory_order_relaxed);
}

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

void mproc__registry_child_reset(const char *id, const char *name,
                                 bool daemon, const int own_fds[2]) {
  /* Reading the parent's nodes writes nothing: only the pages the child
   * really changes get copied. */
  for (mproc__node_t *n = nodes; n != NULL; n = n->next)
    for (int i = 0; i < MPROC__NODE_FDS; i++)
      if (n->fds[i] >= 0) mproc__close(n->fds[i]);
  nodes = NULL;
  identity = id;
  current_name = name;
  current_daemon = daemon;
  atomic_store(&counter, 0);
  mproc__node_init(&self_node, MPROC__NODE_SELF);
  self_node.fds[0] = own_fds[0];
  self_node.fds[1] = own_fds[1];
  mproc__node_link(&self_node);
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
  for (mproc__node_t *h = nodes; h != NULL; h = h->next)
    if (h->kind == MPROC__NODE_PROCESS &&
        ((mproc_process_t *)h)->state == MPROC__RUNNING)
      count++;
  mproc_process_t **list = count ? malloc(count * sizeof *list) : NULL;
  *n = 0;
  if (list != NULL)
    for (mproc__node_t *h = nodes; h != NULL; h = h->next)
      if (h->kind == MPROC__NODE_PROCESS &&
          ((mproc_process_t *)h)->state == MPROC__RUNNING)
        list[(*n)++] = (mproc_process_t *)h;
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
