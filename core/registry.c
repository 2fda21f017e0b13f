/* Process-wide state: see registry.h. */
#include "core/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/base/check.h"
#include "core/base/io.h"

/* All of it in one struct, aligned so it cannot straddle two pages: a
 * child, which writes most of it right after fork, copies one page. */
static struct {
  pthread_mutex_t lock;
  atomic_uint counter;
  /* getpid() is a syscall (glibc stopped caching it) and owner checks run
   * on every call: the pid is cached, and forgotten in every forked child. */
  atomic_int cached_pid;
  /* In a child these point into its copy of its own handle. */
  const char *identity;
  const char *current_name;
  bool current_daemon;
  mproc__node_t *nodes; /* doubly linked */
  mproc__node_t self_node;
} reg __attribute__((aligned(256))) = {
#ifdef MPROC_DEBUG
    .lock = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP, /* core/base/check.h */
#else
    .lock = PTHREAD_MUTEX_INITIALIZER,
#endif
    .identity = "",
    .current_name = "MainProcess",
};

static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

void mproc__lock(void) { pthread_mutex_lock(&reg.lock); }

void mproc__unlock(void) { pthread_mutex_unlock(&reg.lock); }

void mproc__assert_registry_locked(void) { MPROC__ASSERT_LOCKED(&reg.lock); }

void mproc__node_init(mproc__node_t *n, mproc__exit_hook on_exit) {
  n->next = n->prev = NULL;
  n->linked = false;
  n->on_exit = on_exit;
  for (int i = 0; i < MPROC__NODE_FDS; i++) n->fds[i] = -1;
}

void mproc__node_link(mproc__node_t *n) {
  MPROC__ASSERT_LOCKED(&reg.lock);
  n->prev = NULL;
  n->next = reg.nodes;
  if (reg.nodes != NULL) reg.nodes->prev = n;
  reg.nodes = n;
  n->linked = true;
}

void mproc__node_unlink(mproc__node_t *n) {
  MPROC__ASSERT_LOCKED(&reg.lock);
  if (!n->linked) return;
  if (n->prev != NULL)
    n->prev->next = n->next;
  else
    reg.nodes = n->next;
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

size_t mproc__registry_fds(size_t *objects) {
  size_t fds = 0, nodes = 0;
  mproc__lock();
  for (mproc__node_t *n = reg.nodes; n != NULL; n = n->next) {
    size_t here = 0;
    for (int i = 0; i < MPROC__NODE_FDS; i++) here += n->fds[i] >= 0;
    fds += here;
    nodes += here > 0;
  }
  mproc__unlock();
  if (objects != NULL) *objects = nodes;
  return fds;
}

static void forget_pid(void) {
  atomic_store_explicit(&reg.cached_pid, 0, memory_order_relaxed);
}

static void register_forget_pid(void) { pthread_atfork(NULL, NULL, forget_pid); }

pid_t mproc__getpid(void) {
  pid_t pid = atomic_load_explicit(&reg.cached_pid, memory_order_relaxed);
  if (pid == 0) {
    pthread_once(&pid_once, register_forget_pid);
    pid = getpid();
    atomic_store_explicit(&reg.cached_pid, pid, memory_order_relaxed);
  }
  return pid;
}

unsigned mproc__next_number(void) { return atomic_fetch_add(&reg.counter, 1) + 1; }

const char *mproc__identity(void) { return reg.identity; }

bool mproc__current_is_daemon(void) { return reg.current_daemon; }

const char *mproc__current_name(void) { return reg.current_name; }

void mproc__registry_child_reset(const char *id, const char *name,
                                 bool daemon, const int own_fds[2]) {
  /* The lock was taken by the parent's thread before fork, and this is that
   * thread's copy in a process where no other thread exists: made new
   * rather than unlocked (an error-checking mutex would refuse, and block,
   * a thread that is not by its id the one that locked it), and held for
   * the reset, as node_link asks. */
  mproc__mutex_init(&reg.lock);
  pthread_mutex_lock(&reg.lock);
  /* Reading the parent's nodes writes nothing: only the pages the child
   * really changes get copied. */
  for (mproc__node_t *n = reg.nodes; n != NULL; n = n->next)
    for (int i = 0; i < MPROC__NODE_FDS; i++)
      if (n->fds[i] >= 0) mproc__close(n->fds[i]);
  reg.nodes = NULL;
  reg.identity = id;
  reg.current_name = name;
  reg.current_daemon = daemon;
  atomic_store(&reg.counter, 0);
  mproc__node_init(&reg.self_node, NULL);
  reg.self_node.fds[0] = own_fds[0];
  reg.self_node.fds[1] = own_fds[1];
  mproc__node_link(&reg.self_node);
  pthread_mutex_unlock(&reg.lock);
}

static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void cleanup_at_exit(void) { mproc__cleanup_children(); }

static void install(void) { atexit(cleanup_at_exit); }

void mproc__install_exit_handler(void) { pthread_once(&exit_once, install); }

/* The nodes that have an exit hook, in a new array (the registry can change
 * while the hooks wait on children). */
static mproc__node_t **hooked_nodes(size_t *n) {
  mproc__lock();
  size_t count = 0;
  for (mproc__node_t *h = reg.nodes; h != NULL; h = h->next)
    if (h->on_exit != NULL) count++;
  mproc__node_t **list = count ? malloc(count * sizeof *list) : NULL;
  *n = 0;
  if (list != NULL)
    for (mproc__node_t *h = reg.nodes; h != NULL; h = h->next)
      if (h->on_exit != NULL) list[(*n)++] = h;
  mproc__unlock();
  return list;
}

void mproc__cleanup_children(void) {
  size_t n;
  mproc__node_t **list = hooked_nodes(&n);
  for (size_t i = 0; i < n; i++) list[i]->on_exit(list[i], MPROC__EXIT_TERMINATE);
  for (size_t i = 0; i < n; i++) list[i]->on_exit(list[i], MPROC__EXIT_JOIN);
  free(list);
}
