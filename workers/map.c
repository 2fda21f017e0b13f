/* map, starmap, imap and imap_unordered.
 *
 * Like Python's, they cut the input into chunks, and a chunk is one task:
 * one frame out holding its items (sent as they are, without copying them
 * into argument tuples), one frame back holding the list of their results
 * and the list of the items that failed. A chunk is dispatched, timed out
 * and lost (when its worker dies) as a whole.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/error_detail.h"
#include "core/target_internal.h"
#include "core/base/check.h"
#include "serialization/value_ext.h"
#include "workers/pool_internal.h"
#include "workers/sched.h"

/* Submits items[0..n) as one chunk task. feeding: for an iterator started
 * before close, which may go on feeding a closed pool. */
static int submit_chunk(mproc_pool_t *pool, const char *target,
                        const mproc_value_t *const *items, size_t n,
                        size_t first, bool star, bool feeding,
                        struct mproc_future **out) {
  return mproc__task_submit(pool, target, NULL, items, n, NULL,
                            star ? MPROC__CALL_STARMAP : MPROC__CALL_MAP,
                            first, feeding, out);
}

static size_t auto_chunksize(const mproc_pool_t *pool, size_t n) {
  /* Each item of a chunk shares the chunk's timeout, so with one set,
   * every item gets its own task. */
  if (pool->task_timeout_ns) return 1;
  /* Python: chunksize, extra = divmod(len(iterable), len(pool) * 4) */
  size_t per = (size_t)pool->nworkers * 4;
  size_t c = n / per + (n % per ? 1 : 0);
  return c ? c : 1;
}

/* err for a result that could not become an item of map's list. */
static void result_refused(mproc_task_error_t *err, int rc, size_t index) {
  if (err == NULL) return;
  err->code = rc;
  snprintf(err->message, sizeof err->message,
           rc == MPROC_EDEPTH
               ? "the result of item %zu nests too deep to be an item of the "
                 "list of results (at most %d levels); imap returns it alone"
               : "the result of item %zu cannot be stored (%d)",
           index, rc == MPROC_EDEPTH ? MPROC_MAX_DEPTH - 1 : rc);
}

static int map_impl(mproc_pool_t *pool, const char *target,
                    const mproc_value_t *items, size_t chunksize, bool star,
                    mproc_value_t **results, mproc_task_error_t *err) {
  if (results != NULL) *results = NULL;
  if (err != NULL) memset(err, 0, sizeof *err);
  mproc_kind_t k = mproc_value_kind(items);
  const char *fn_name = star ? "mproc_pool_starmap" : "mproc_pool_map";
  if (pool == NULL || target == NULL || results == NULL || items == NULL)
    return mproc__einval(fn_name, "%s is NULL",
                         pool == NULL     ? "pool"
                         : target == NULL ? "target"
                         : results == NULL ? "results"
                                           : "items");
  if (k != MPROC_LIST && k != MPROC_TUPLE)
    return mproc__einval(fn_name, "items must be a list or tuple, not %s",
                         mproc_kind_name(k));
  mproc_target_fn fn;
  int rc = mproc__target_resolve(target, &fn);
  if (rc < 0) {
    mproc__pool_refusal(pool, rc, err);
    return rc;
  }
  size_t n = mproc_value_len(items);
  if (chunksize == 0) chunksize = auto_chunksize(pool, n);
  size_t nchunks = n / chunksize + (n % chunksize ? 1 : 0);

  const mproc_value_t **argv = malloc((n ? n : 1) * sizeof *argv);
  struct mproc_future **fs = calloc(nchunks ? nchunks : 1, sizeof *fs);
  mproc_value_t *list = NULL;
  rc = argv && fs ? mproc_value_list(&list) : MPROC_ENOMEM;
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = mproc_list_get(items, i, &argv[i]);
  for (size_t c = 0; rc == 0 && c < nchunks; c++) {
    size_t first = c * chunksize;
    size_t m = n - first < chunksize ? n - first : chunksize;
    rc = submit_chunk(pool, target, argv + first, m, first, star, false,
                      &fs[c]);
  }
  if (rc < 0) mproc__pool_refusal(pool, rc, err);

  /* Every submitted chunk ends before map returns, failed or not. */
  pthread_mutex_lock(&pool->lock);
  for (size_t c = 0; c < nchunks && fs[c] != NULL; c++)
    MPROC__IGNORE(mproc__task_wait_locked(pool, fs[c], UINT64_MAX)); /* no
                                                            deadline */
  pthread_mutex_unlock(&pool->lock);

  /* The results move into one list, in input order; the first failure in
   * input order is the one reported. Finished tasks no longer change, so
   * this needs no lock. */
  for (size_t c = 0; rc == 0 && c < nchunks; c++) {
    struct mproc_future *f = fs[c];
    if (f->code == 0 && f->n_results != f->nitems) rc = MPROC_EMALFORMED;
    /* No item failed: the results move into the list all at once. */
    size_t taken = 0;
    if (rc == 0 && f->code == 0 && f->n_item_errors == 0) {
      rc = mproc__list_extend(list, f->results, f->nitems, &taken);
      if (rc < 0) {
        result_refused(err, rc, f->first + taken);
        break;
      }
      continue;
    }
    for (size_t i = 0; rc == 0 && i < f->nitems; i++) {
      mproc_task_error_t e;
      const mproc_value_t *ignored;
      mproc__chunk_item(f, i, &e, &ignored);
      if (e.code != 0) {
        rc = e.code;
        if (err != NULL) *err = e;
        break;
      }
      mproc_value_t *v = f->results[i];
      f->results[i] = NULL; /* taken */
      rc = mproc_list_append(list, v); /* takes v, also on failure */
      if (rc < 0) result_refused(err, rc, f->first + i);
    }
  }
  for (size_t c = 0; c < nchunks && fs[c] != NULL; c++)
    mproc_future_free(fs[c]);
  free(fs);
  free(argv);
  if (rc < 0) {
    mproc_value_free(list);
    return rc;
  }
  *results = list;
  return 0;
}

int mproc_pool_map(mproc_pool_t *pool, const char *target,
                   const mproc_value_t *items, size_t chunksize,
                   mproc_value_t **results, mproc_task_error_t *err) {
  return map_impl(pool, target, items, chunksize, false, results, err);
}

int mproc_pool_starmap(mproc_pool_t *pool, const char *target,
                       const mproc_value_t *items, size_t chunksize,
                       mproc_value_t **results, mproc_task_error_t *err) {
  return map_impl(pool, target, items, chunksize, true, results, err);
}

/* ---- imap */

typedef struct {
  struct mproc_future *f;
  size_t first;   /* input index of its first item */
  size_t taken;   /* items already handed out (ordered) */
} chunk_t;

struct mproc_iter {
  mproc_pool_t *pool;
  char *target;
  const mproc_value_t *items;
  bool star;
  mproc_next_fn next;
  void *next_ctx;
  bool unordered;
  size_t chunksize, window;
  size_t window_max; /* the window may grow to this (== window when set) */
  size_t produced; /* items taken from the input */
  bool input_done;
  int input_error;
  chunk_t *ring; /* chunks in flight, oldest at head */
  size_t ring_cap, head, count;
  size_t in_flight;   /* items in the ring not yet handed out */
  chunk_t current;    /* the chunk being handed out, item by item */
  bool fed;           /* input exhausted and the pool told so */
  bool has_current;
  struct mproc_future *done; /* a fully handed-out chunk, freed next call */
  /* Progress: items of chunks that left the ring (all done), those handed
   * out, the hook and when it last ran. */
  uint64_t started_ns;
  size_t left_done, left_failed, yielded;
  mproc_progress_fn progress;
  void *progress_ctx;
  uint64_t progress_every_ns, progress_at_ns;
  bool progress_final;
};

/* The default window grows to this many tasks (or 64 per worker, when
 * more): past it, bench/all's imap rows gain nothing measurable, and the
 * results it may hold stay a bounded, modest amount of memory. */
#define WINDOW_GROWN 1024

int mproc_pool_imap(mproc_pool_t *pool, const mproc_imap_opts_t *opts,
                    mproc_iter_t **out) {
  if (out != NULL) *out = NULL;
  if (pool == NULL || opts == NULL || out == NULL || opts->target == NULL)
    return MPROC__EINVAL("%s is NULL", pool == NULL   ? "pool"
                                       : opts == NULL ? "opts"
                                       : out == NULL  ? "out"
                                                      : "opts.target");
  mproc_kind_t k = mproc_value_kind(opts->items);
  if ((opts->items == NULL) == (opts->next == NULL))
    return MPROC__EINVAL("set exactly one of opts.items and opts.next (%s)",
                         opts->items == NULL ? "neither is set" : "both are");
  if (opts->items != NULL && k != MPROC_LIST && k != MPROC_TUPLE)
    return MPROC__EINVAL("opts.items must be a list or tuple, not %s",
                         mproc_kind_name(k));
  if (opts->progress_interval_s < 0 ||
      !mproc__timeout_valid(opts->progress_interval_s))
    return MPROC__EINVAL("opts.progress_interval_s must be 0 or more, not %g",
                         opts->progress_interval_s);
  mproc_target_fn fn;
  int rc = mproc__target_resolve(opts->target, &fn);
  if (rc < 0) return rc;
  mproc_iter_t *it = calloc(1, sizeof *it);
  if (it == NULL) return MPROC_ENOMEM;
  it->pool = pool;
  it->target = strdup(opts->target);
  it->items = opts->items;
  it->star = opts->star || opts->next != NULL;
  it->next = opts->next;
  it->next_ctx = opts->next_ctx;
  it->unordered = opts->unordered;
  it->progress = opts->progress;
  it->progress_ctx = opts->progress_ctx;
  it->progress_every_ns = opts->progress_interval_s > 0
                              ? (uint64_t)(opts->progress_interval_s * 1e9)
                              : 100000000u;
  it->started_ns = mproc__now_ns();
  it->chunksize = opts->chunksize ? opts->chunksize : 1;
  size_t workers = pool->nworkers;
  it->window = opts->window ? opts->window : workers * 4 * it->chunksize;
  if (it->window < it->chunksize) it->window = it->chunksize;
  it->window_max = it->window;
  if (opts->window == 0) {
    size_t tasks = workers * 64 > WINDOW_GROWN ? workers * 64 : WINDOW_GROWN;
    if (it->chunksize <= SIZE_MAX / tasks)
      it->window_max = tasks * it->chunksize;
    if (it->window_max < it->window) it->window_max = it->window;
  }
  it->ring_cap = it->window / it->chunksize + 1;
  it->ring = calloc(it->ring_cap, sizeof *it->ring);
  if (it->target == NULL || it->ring == NULL) {
    free(it->target);
    free(it->ring);
    free(it);
    return MPROC_ENOMEM;
  }
  pthread_mutex_lock(&pool->lock);
  rc = mproc__pool_refuse_locked(pool, false);
  if (rc == 0) {
    pool->refs++; /* the iterator may outlive the owner's hold */
    pool->feeding++;
  }
  pthread_mutex_unlock(&pool->lock);
  if (rc < 0) {
    free(it->target);
    free(it->ring);
    free(it);
    return rc;
  }
  *out = it;
  return 0;
}

/* Takes up to want items from the input into argv (owned[] marks producer
 * tuples to free after encoding). Returns how many. */
static size_t take_input(mproc_iter_t *it, const mproc_value_t **argv,
                         mproc_value_t **owned, size_t want) {
  size_t m = 0;
  while (m < want && !it->input_done) {
    owned[m] = NULL;
    if (it->items != NULL) {
      if (it->produced >= mproc_value_len(it->items)) {
        it->input_done = true;
        break;
      }
      /* In range: produced < len, checked just above. */
      MPROC__IGNORE(mproc_list_get(it->items, it->produced, &argv[m]));
    } else {
      mproc_value_t *args = NULL;
      int rc = it->next(it->next_ctx, &args);
      if (rc <= 0) {
        it->input_done = true;
        if (rc < 0) it->input_error = rc;
        break;
      }
      argv[m] = owned[m] = args;
    }
    it->produced++;
    m++;
  }
  return m;
}

/* Once the input is exhausted the iterator no longer keeps a closed pool
 * waiting for more. */
static void stop_feeding(mproc_iter_t *it) {
  if (it->fed) return;
  it->fed = true;
  pthread_mutex_lock(&it->pool->lock);
  it->pool->feeding--;
  mproc__pool_wake_locked(it->pool, 0);
  pthread_mutex_unlock(&it->pool->lock);
}

/* Chunks submitted by one refill, at most. */
#define REFILL_MAX 256

/* Tops the window up: memory stays bounded whatever the length of the
 * input. Once anything is in flight, only when half the window is free,
 * and then with many chunks at once: the workers get their tasks in
 * batches (a write, a wake-up for many), not one by one. */
static int refill(mproc_iter_t *it) {
  size_t n = it->chunksize;
  size_t room = it->window - it->in_flight;
  if (it->input_done || (it->in_flight > 0 && room * 2 < it->window))
    return 0;
  size_t k = room / n, slots = it->ring_cap - it->count;
  if (k > slots) k = slots;
  if (k > REFILL_MAX) k = REFILL_MAX;
  if (k == 0) return 0;
  const mproc_value_t **argv = malloc(k * n * sizeof *argv);
  mproc_value_t **owned = malloc(k * n * sizeof *owned);
  size_t *counts = malloc(k * sizeof *counts);
  struct mproc_future **fs = malloc(k * sizeof *fs);
  int rc = argv && owned && counts && fs ? 0 : MPROC_ENOMEM;
  size_t chunks = 0, items = 0, first = it->produced;
  while (rc == 0 && chunks < k && !it->input_done) {
    size_t m = take_input(it, argv + items, owned + items, n);
    if (m == 0) break;
    counts[chunks++] = m;
    items += m;
  }
  size_t done = 0;
  if (rc == 0 && chunks > 0)
    rc = mproc__task_submit_many(
        it->pool, it->target, NULL, argv, counts, chunks, NULL,
        it->star ? MPROC__CALL_STARMAP : MPROC__CALL_MAP, first, true, fs,
        &done);
  for (size_t i = 0; i < items; i++) mproc_value_free(owned[i]);
  size_t at = first;
  for (size_t i = 0; i < done; i++) {
    chunk_t *c = &it->ring[(it->head + it->count) % it->ring_cap];
    c->f = fs[i];
    c->first = at;
    c->taken = 0;
    it->count++;
    it->in_flight += counts[i];
    at += counts[i];
  }
  if (rc < 0) {
    it->input_done = true;
    it->input_error = rc;
  }
  free(argv);
  free(owned);
  free(counts);
  free(fs);
  if (it->input_done) stop_feeding(it);
  return rc;
}

/* The caller had to wait for a result: the workers are the bottleneck, or
 * (ordered) one slow task holds up the head while the others ran dry. Both
 * want more in flight: bigger batches per write and wake-up, and idle
 * workers fed past the slow one. So the default window doubles, up to
 * window_max; the ring grows with it, kept in order from its head. */
static void grow_window(mproc_iter_t *it) {
  if (it->window >= it->window_max) return;
  size_t window = it->window > it->window_max / 2 ? it->window_max
                                                  : it->window * 2;
  size_t cap = window / it->chunksize + 1;
  chunk_t *ring = malloc(cap * sizeof *ring);
  if (ring == NULL) return; /* keep the window it has: still correct */
  for (size_t i = 0; i < it->count; i++)
    ring[i] = it->ring[(it->head + i) % it->ring_cap];
  free(it->ring);
  it->ring = ring;
  it->ring_cap = cap;
  it->head = 0;
  it->window = window;
}

/* A done chunk's failed items (all of them when the whole chunk failed).
 * With the lock held. */
static void chunk_counts(const struct mproc_future *f, size_t *failed) {
  *failed = f->code != 0 ? f->nitems : f->n_item_errors;
}

static void progress_now(mproc_iter_t *it, mproc_progress_t *p) {
  memset(p, 0, sizeof *p);
  p->done = it->left_done;
  p->failed = it->left_failed;
  pthread_mutex_lock(&it->pool->lock);
  for (size_t i = 0; i < it->count; i++) {
    const struct mproc_future *f = it->ring[(it->head + i) % it->ring_cap].f;
    if (f->state != TASK_DONE) continue;
    size_t failed;
    chunk_counts(f, &failed);
    p->done += f->nitems;
    p->failed += failed;
  }
  pthread_mutex_unlock(&it->pool->lock);
  if (it->items != NULL) {
    p->total = mproc_value_len(it->items);
    p->total_known = true;
  } else if (it->input_done) {
    p->total = it->produced;
    p->total_known = true;
  }
  p->submitted = it->produced;
  p->yielded = it->yielded;
  uint64_t now = mproc__now_ns();
  p->elapsed_s = now > it->started_ns ? (double)(now - it->started_ns) / 1e9 : 0;
  p->rate = p->elapsed_s > 0 ? (double)p->done / p->elapsed_s : 0;
}

int mproc_iter_progress(mproc_iter_t *it, mproc_progress_t *p) {
  if (it == NULL || p == NULL)
    return MPROC__EINVAL("%s is NULL", it == NULL ? "it" : "p");
  progress_now(it, p);
  return 0;
}

/* Calls the hook when due (or, with final, once at the end). */
static void report_progress(mproc_iter_t *it, bool final) {
  if (it->progress == NULL || it->progress_final) return;
  uint64_t now = mproc__now_ns();
  if (!final && now < it->progress_at_ns) return;
  it->progress_at_ns = now + it->progress_every_ns;
  it->progress_final = final;
  mproc_progress_t p;
  progress_now(it, &p);
  it->progress(&p, it->progress_ctx);
}

/* Waits until a chunk in the ring is done (the oldest one when ordered) and
 * makes it current. Returns 0 or MPROC_ETIMEDOUT. While it waits, each
 * wake-up (every completion broadcasts pool->cond) may grow the default
 * window once and submit more: the workers that finished stay busy. */
static int next_chunk(mproc_iter_t *it, uint64_t deadline) {
  mproc_pool_t *pool = it->pool;
  long found = -1;
  bool may_grow = true;
  for (;;) {
    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < it->count && found < 0; i++) {
      if (it->ring[(it->head + i) % it->ring_cap].f->state == TASK_DONE)
        found = (long)i;
      if (!it->unordered) break; /* ordered: only the head will do */
    }
    bool grow = found < 0 && may_grow && !it->input_done &&
                it->window < it->window_max;
    int rc = 0;
    if (found < 0 && !grow) {
      rc = mproc__cond_wait_until(pool, deadline);
      may_grow = true;
    }
    pthread_mutex_unlock(&pool->lock);
    if (found >= 0 || rc < 0) break;
    if (grow) {
      grow_window(it);
      refill(it); /* its errors end the input; the ring still drains */
      may_grow = false;
    }
  }
  if (found < 0) return MPROC_ETIMEDOUT;
  size_t pos = (it->head + (size_t)found) % it->ring_cap;
  it->current = it->ring[pos];
  pthread_mutex_lock(&pool->lock);
  size_t failed = 0;
  chunk_counts(it->current.f, &failed);
  pthread_mutex_unlock(&pool->lock);
  it->left_done += it->current.f->nitems;
  it->left_failed += failed;
  it->has_current = true;
  /* Keep the ring contiguous: the chunk at head moves into the hole. */
  it->ring[pos] = it->ring[it->head];
  it->head = (it->head + 1) % it->ring_cap;
  it->count--;
  return 0;
}

int mproc_iter_next(mproc_iter_t *it, double timeout_s, mproc_item_t *item) {
  if (it == NULL || item == NULL)
    return MPROC__EINVAL("%s is NULL", it == NULL ? "it" : "item");
  if (!mproc__timeout_valid(timeout_s))
    return MPROC__EINVAL("timeout_s must be a number (NaN is not)");
  memset(item, 0, sizeof *item);
  if (it->done != NULL) {
    mproc_future_free(it->done);
    it->done = NULL;
  }
  int rc = 0;
  if (!it->has_current) {
    rc = refill(it);
    if (it->count == 0) {
      if (it->input_error == 0 && rc == 0) report_progress(it, true);
      return it->input_error ? it->input_error : rc;
    }
    rc = next_chunk(it, mproc__deadline(timeout_s));
    if (rc < 0) return rc;
  }
  chunk_t *c = &it->current;
  size_t i = c->taken++;
  item->index = c->first + i;
  pthread_mutex_lock(&it->pool->lock);
  mproc__chunk_item(c->f, i, &item->error, &item->result);
  pthread_mutex_unlock(&it->pool->lock);
  it->in_flight--;
  it->yielded++;
  if (c->taken == c->f->nitems) {
    /* Its results stay valid until the next call. */
    it->done = c->f;
    it->has_current = false;
  }
  refill(it); /* keep the workers busy while the caller works */
  report_progress(it, false);
  return 1;
}

void mproc_iter_free(mproc_iter_t *it) {
  if (it == NULL) return;
  stop_feeding(it);
  mproc_future_free(it->done);
  if (it->has_current) mproc_future_free(it->current.f);
  for (size_t i = 0; i < it->count; i++)
    mproc_future_free(it->ring[(it->head + i) % it->ring_cap].f);
  mproc_pool_t *pool = it->pool;
  free(it->ring);
  free(it->target);
  free(it);
  pthread_mutex_lock(&pool->lock);
  mproc__pool_unref_locked(pool);
}
