/* Waiting on many futures and descriptors at once: mproc_wait_many,
 * mproc_futures_wait, as_completed.
 *
 * A waiter cannot sleep on one pool's condition variable: its futures may
 * belong to several pools, and descriptors (process sentinels) have no
 * condition variable at all. So it sleeps in poll() on the descriptors and
 * an eventfd of its own, which it hangs on each pool's fd_waiters list; the
 * pool writes it wherever it broadcasts completions (and counts it among
 * pool->waiters, so that it does). The eventfd is registered before the
 * first look at the futures: a task ending between the look and poll()
 * leaves the eventfd readable, so no wake-up is lost. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/base/check.h"
#include "core/base/clock.h"
#include "core/base/error_detail.h"
#include "core/base/io.h"
#include "workers/pool_internal.h"

void mproc__pool_notify_fds_locked(mproc_pool_t *pool) {
  MPROC__ASSERT_LOCKED(&pool->lock);
  uint64_t one = 1;
  for (mproc__fd_waiter_t *w = pool->fd_waiters; w != NULL; w = w->next)
    while (write(w->fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

/* The distinct pools of the futures in ws, each with the waiter's node. */
typedef struct {
  mproc_pool_t *pool;
  mproc__fd_waiter_t node;
} hook_t;

typedef struct {
  hook_t *hooks;
  size_t n;
  int efd;
} hooks_t;

static void unhook(hooks_t *h) {
  for (size_t i = 0; i < h->n; i++) {
    mproc_pool_t *pool = h->hooks[i].pool;
    pthread_mutex_lock(&pool->lock);
    for (mproc__fd_waiter_t **p = &pool->fd_waiters; *p != NULL;
         p = &(*p)->next) {
      if (*p != &h->hooks[i].node) continue;
      *p = h->hooks[i].node.next;
      break;
    }
    pool->waiters--;
    pthread_mutex_unlock(&pool->lock);
  }
  free(h->hooks);
  h->hooks = NULL;
  h->n = 0;
  if (h->efd >= 0) mproc__close(h->efd);
  h->efd = -1;
}

/* Hangs an eventfd on the pool of every future not done yet. The pools are
 * gathered first, so that the nodes, once linked, never move. */
static int hook(hooks_t *h, const mproc_waitable_t *ws, size_t n) {
  h->hooks = NULL;
  h->n = 0;
  h->efd = -1;
  size_t cap = 0;
  for (size_t i = 0; i < n; i++) {
    if (ws[i].future == NULL || ws[i].done) continue;
    mproc_pool_t *pool = ws[i].future->pool;
    bool seen = false;
    for (size_t k = 0; k < h->n && !seen; k++) seen = h->hooks[k].pool == pool;
    if (seen) continue;
    if (h->n == cap) {
      cap = cap ? 2 * cap : 4;
      hook_t *v = realloc(h->hooks, cap * sizeof *v);
      if (v == NULL) {
        free(h->hooks);
        h->hooks = NULL;
        h->n = 0;
        return MPROC_ENOMEM;
      }
      h->hooks = v;
    }
    h->hooks[h->n++].pool = pool;
  }
  h->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (h->efd < 0) {
    int rc = -errno;
    free(h->hooks);
    h->hooks = NULL;
    h->n = 0;
    return rc;
  }
  for (size_t k = 0; k < h->n; k++) {
    mproc_pool_t *pool = h->hooks[k].pool;
    h->hooks[k].node.fd = h->efd;
    pthread_mutex_lock(&pool->lock);
    h->hooks[k].node.next = pool->fd_waiters;
    pool->fd_waiters = &h->hooks[k].node;
    pool->waiters++;
    pthread_mutex_unlock(&pool->lock);
  }
  return 0;
}

/* Looks at every future; returns whether `when` holds. */
static bool look(mproc_waitable_t *ws, size_t n, mproc_return_when_t when,
                 size_t *ndone) {
  size_t done = 0;
  bool failed = false;
  for (size_t i = 0; i < n; i++) {
    mproc_future_t *f = ws[i].future;
    if (f != NULL) {
      pthread_mutex_lock(&f->pool->lock);
      ws[i].done = f->state == TASK_DONE;
      ws[i].failed =
          ws[i].done && f->code != 0 && f->code != MPROC_ECANCELED;
      pthread_mutex_unlock(&f->pool->lock);
    }
    done += ws[i].done;
    failed |= ws[i].failed;
  }
  *ndone = done;
  if (done == n) return true;
  if (when == MPROC_FIRST_COMPLETED) return done > 0;
  if (when == MPROC_FIRST_EXCEPTION) return failed;
  return false;
}

static int check_args(const char *fn, mproc_waitable_t *ws, size_t n,
                      int when) {
  if (ws == NULL && n > 0) return mproc__einval(fn, "ws is NULL, n is %zu", n);
  if (when != MPROC_ALL_COMPLETED && when != MPROC_FIRST_COMPLETED &&
      when != MPROC_FIRST_EXCEPTION)
    return mproc__einval(fn, "when must be a mproc_return_when_t, not %d",
                         when);
  for (size_t i = 0; i < n; i++)
    if (ws[i].future == NULL && ws[i].fd < 0)
      return mproc__einval(fn, "ws[%zu] has no future and fd %d", i,
                           ws[i].fd);
  return 0;
}

/* The wait itself, after a first look (the fd entries' done flags are
 * set), until deadline (UINT64_MAX: none). */
static int wait_until(mproc_waitable_t *ws, size_t n,
                      mproc_return_when_t when, uint64_t deadline) {
  size_t nfds = 0;
  for (size_t i = 0; i < n; i++) nfds += ws[i].future == NULL;
  struct pollfd *pfd = calloc(nfds + 1, sizeof *pfd);
  if (pfd == NULL) return MPROC_ENOMEM;
  /* Hang the eventfd first, then look again (see the top). */
  hooks_t h = {NULL, 0, -1};
  int rc = hook(&h, ws, n);
  if (rc < 0) {
    free(pfd);
    return rc;
  }
  pfd[0].fd = h.efd;
  pfd[0].events = POLLIN;
  for (size_t i = 0, k = 1; i < n; i++)
    if (ws[i].future == NULL) {
      /* Done ones are left out (poll skips a negative fd): level-triggered,
       * they would wake every poll. */
      pfd[k].fd = ws[i].done ? -1 : ws[i].fd;
      pfd[k++].events = POLLIN;
    }
  for (;;) {
    size_t ndone;
    if (look(ws, n, when, &ndone)) {
      rc = (int)ndone;
      break;
    }
    uint64_t now = mproc__now_ns();
    if (deadline != UINT64_MAX && now >= deadline) {
      rc = MPROC_ETIMEDOUT;
      break;
    }
    int timeout_ms = -1;
    if (deadline != UINT64_MAX) {
      uint64_t ms = (deadline - now + 999999) / 1000000;
      timeout_ms = ms > INT32_MAX ? INT32_MAX : (int)ms;
    }
    int r = poll(pfd, nfds + 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = -errno;
      break;
    }
    uint64_t v;
    while (read(h.efd, &v, sizeof v) < 0 && errno == EINTR) {
    }
    for (size_t i = 0, k = 1; i < n; i++) {
      if (ws[i].future != NULL) continue;
      if (pfd[k].revents & POLLNVAL) {
        rc = mproc__fail(MPROC_EBADF, "ws[%zu].fd %d is not open", i,
                         ws[i].fd);
        goto out;
      }
      if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
        ws[i].done = true;
        pfd[k].fd = -1;
      }
      k++;
    }
  }
out:
  unhook(&h);
  free(pfd);
  return rc;
}

/* Sets the done flags of the fd entries with a poll that does not sleep;
 * MPROC_EBADF for one that is not open. */
static int look_fds(mproc_waitable_t *ws, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (ws[i].future != NULL) continue;
    struct pollfd p = {ws[i].fd, POLLIN, 0};
    int r;
    while ((r = poll(&p, 1, 0)) < 0 && errno == EINTR) {
    }
    if (r < 0) return -errno;
    if (p.revents & POLLNVAL)
      return mproc__fail(MPROC_EBADF, "ws[%zu].fd %d is not open", i,
                         ws[i].fd);
    ws[i].done = (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
  }
  return 0;
}

static int wait_many(mproc_waitable_t *ws, size_t n, mproc_return_when_t when,
                     uint64_t deadline) {
  /* The fd entries' state comes from poll: look once before the loop,
   * whose first look must see it. */
  for (size_t i = 0; i < n; i++) ws[i].done = ws[i].failed = false;
  int rc = look_fds(ws, n);
  if (rc < 0) return rc;
  size_t ndone;
  if (look(ws, n, when, &ndone)) return (int)ndone;
  if (deadline != UINT64_MAX && mproc__now_ns() >= deadline)
    return MPROC_ETIMEDOUT;
  return wait_until(ws, n, when, deadline);
}

int mproc_wait_many(mproc_waitable_t *ws, size_t n, mproc_return_when_t when,
                    double timeout_s) {
  int rc = check_args(__func__, ws, n, (int)when);
  if (rc < 0) return rc;
  if (!mproc__timeout_valid(timeout_s))
    return MPROC__EINVAL("timeout_s must be a number (NaN is not)");
  if (n > (size_t)INT32_MAX) return MPROC__EINVAL("n is too large: %zu", n);
  return wait_many(ws, n, when, mproc__deadline(timeout_s));
}

int mproc_futures_wait(mproc_future_t *const *fs, size_t n,
                       mproc_return_when_t when, double timeout_s,
                       bool *done) {
  if (fs == NULL && n > 0) return MPROC__EINVAL("fs is NULL, n is %zu", n);
  for (size_t i = 0; i < n; i++)
    if (fs[i] == NULL) return MPROC__EINVAL("fs[%zu] is NULL", i);
  mproc_waitable_t *ws = calloc(n ? n : 1, sizeof *ws);
  if (ws == NULL) return MPROC_ENOMEM;
  for (size_t i = 0; i < n; i++) ws[i].future = fs[i];
  int rc = check_args(__func__, ws, n, (int)when);
  if (rc == 0 && !mproc__timeout_valid(timeout_s))
    rc = MPROC__EINVAL("timeout_s must be a number (NaN is not)");
  if (rc == 0 && n > (size_t)INT32_MAX)
    rc = MPROC__EINVAL("n is too large: %zu", n);
  if (rc == 0) rc = wait_many(ws, n, when, mproc__deadline(timeout_s));
  if (rc >= 0 || rc == MPROC_ETIMEDOUT)
    for (size_t i = 0; done != NULL && i < n; i++) done[i] = ws[i].done;
  free(ws);
  return rc;
}

/* ---- as_completed. */

struct mproc_as_completed {
  uint64_t deadline;
  /* Entries not yet yielded, compacted: ws[k] is the input's index[k]. */
  mproc_waitable_t *ws;
  size_t *index;
  size_t left;
};

int mproc_as_completed_new(mproc_as_completed_t **out,
                           const mproc_waitable_t *ws, size_t n,
                           double timeout_s) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (ws == NULL && n > 0) return MPROC__EINVAL("ws is NULL, n is %zu", n);
  if (!mproc__timeout_valid(timeout_s))
    return MPROC__EINVAL("timeout_s must be a number (NaN is not)");
  if (n > (size_t)INT32_MAX) return MPROC__EINVAL("n is too large: %zu", n);
  for (size_t i = 0; i < n; i++)
    if (ws[i].future == NULL && ws[i].fd < 0)
      return MPROC__EINVAL("ws[%zu] has no future and fd %d", i, ws[i].fd);
  struct mproc_as_completed *it = calloc(1, sizeof *it);
  if (it == NULL) return MPROC_ENOMEM;
  it->ws = malloc((n ? n : 1) * sizeof *it->ws);
  it->index = malloc((n ? n : 1) * sizeof *it->index);
  if (it->ws == NULL || it->index == NULL) {
    mproc_as_completed_free(it);
    return MPROC_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    it->ws[i] = ws[i];
    it->index[i] = i;
  }
  it->left = n;
  it->deadline = mproc__deadline(timeout_s);
  *out = it;
  return 0;
}

int mproc_as_completed_next(mproc_as_completed_t *it, size_t *index) {
  if (it == NULL || index == NULL)
    return MPROC__EINVAL("%s is NULL", it == NULL ? "it" : "index");
  if (it->left == 0) return 0;
  /* Whatever is done now first, in input order; else the first to end.
   * Once the deadline has passed, wait_many only looks. */
  int rc = wait_many(it->ws, it->left, MPROC_FIRST_COMPLETED, it->deadline);
  if (rc < 0) return rc;
  for (size_t k = 0; k < it->left; k++) {
    if (!it->ws[k].done) continue;
    *index = it->index[k];
    /* Keep the input order of those left: shift, not swap. */
    memmove(&it->ws[k], &it->ws[k + 1], (it->left - k - 1) * sizeof *it->ws);
    memmove(&it->index[k], &it->index[k + 1],
            (it->left - k - 1) * sizeof *it->index);
    it->left--;
    return 1;
  }
  return MPROC_ETIMEDOUT; /* cannot happen: rc >= 1 means one is done */
}

void mproc_as_completed_free(mproc_as_completed_t *it) {
  if (it == NULL) return;
  free(it->ws);
  free(it->index);
  free(it);
}
