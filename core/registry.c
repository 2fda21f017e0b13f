/* Process-wide state: see registry.h. */
#include "core/registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* Beyond this many descriptors, they are closed by runs (close_range): a
 * child of a parent with 1,000 live children would otherwise make 2,000
 * close calls, and the 1,000 children together 2,000,000. */
#define CLOSE_ONE_BY_ONE 32
#define RUN_BITS 65536

static void close_by_runs(int lo) {
  /* On the stack: the child allocates nothing. Only the words that get a
   * bit are written (the rest stay untouched pages). */
  uint64_t bits[RUN_BITS / 64];
  size_t top = 0; /* words in use */
  for (mproc__node_t *n = reg.nodes; n != NULL; n = n->next) {
    for (int i = 0; i < MPROC__NODE_FDS; i++) {
      int fd = n->fds[i];
      if (fd < 0) continue;
      size_t bit = (size_t)(fd - lo);
      if (fd < lo || bit >= RUN_BITS) {
        mproc__close(fd);
        continue;
      }
      while (top <= bit / 64) bits[top++] = 0;
      bits[bit / 64] |= (uint64_t)1 << (bit % 64);
    }
  }
  size_t nbits = top * 64;
  for (size_t b = 0; b < nbits;) {
    if (!(bits[b / 64] >> (b % 64) & 1)) {
      b++;
      continue;
    }
    size_t e = b;
    while (e < nbits && (bits[e / 64] >> (e % 64) & 1)) e++;
    unsigned first = (unsigned)lo + (unsigned)b, last = first + (unsigned)(e - b) - 1;
    if (close_range(first, last, 0) != 0)
      for (unsigned fd = first; fd <= last; fd++) mproc__close((int)fd);
    b = e;
  }
}

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
  size_t count = 0;
  int lo = INT32_MAX;
  for (mproc__node_t *n = reg.nodes; n != NULL; n = n->next)
    for (int i = 0; i < MPROC__NODE_FDS; i++)
      if (n->fds[i] >= 0) {
        count++;
        if (n->fds[i] < lo) lo = n->fds[i];
      }
  if (count <= CLOSE_ONE_BY_ONE) {
    for (mproc__node_t *n = reg.nodes; n != NULL; n = n->next)
      for (int i = 0; i < MPROC__NODE_FDS; i++)
        if (n->fds[i] >= 0) mproc__close(n->fds[i]);
  } else {
    close_by_runs(lo);
  }
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
