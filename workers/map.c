/* map, starmap, imap and imap_unordered.
 *
 * Items are sent as they are (each one the task's single argument, or with
 * star its argument tuple) without copying them into new tuples, and
 * submitted a chunk at a time: one lock, one dispatch, one write per chunk.
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "workers/pool_internal.h"

/* Submits items[first .. first+n) as one chunk; futures into out[]. */
static int submit_chunk(mproc_pool_t *pool, const char *target,
                        const mproc_value_t *const *items, size_t n,
                        bool star, struct mproc_future **out) {
  for (size_t i = 0; i < n; i++) out[i] = NULL;
  pthread_mutex_lock(&pool->lock);
  int rc = pool->broken ? MPROC_EBROKEN
                        : pool->state != POOL_OPEN ? MPROC_ECLOSED : 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    out[i] = mproc__task_new_locked(pool);
    if (out[i] == NULL) rc = MPROC_ENOMEM;
  }
  pthread_mutex_unlock(&pool->lock);

  uint64_t now = mproc__now_ns();
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const mproc_value_t *item = items[i];
    mproc_kind_t k = mproc_value_kind(item);
    if (star && k != MPROC_TUPLE && k != MPROC_LIST) {
      rc = MPROC_ETYPE;
      break;
    }
    out[i]->timing.submitted_ns = now;
    out[i]->chunk = out[0]->id;
    rc = star ? mproc__task_encode(pool, out[i], target, item, NULL, 0, NULL)
              : mproc__task_encode(pool, out[i], target, NULL, &items[i], 1,
                                   NULL);
  }

  pthread_mutex_lock(&pool->lock);
  if (rc == 0 && pool->state != POOL_OPEN) rc = MPROC_ECLOSED;
  for (size_t i = 0; i < n && out[i] != NULL; i++) {
    if (rc == 0) {
      mproc__task_enqueue_locked(pool, out[i]);
    } else {
      mproc__task_discard_locked(pool, out[i]);
      out[i] = NULL;
    }
  }
  if (rc == 0) mproc__dispatch_locked(pool);
  pthread_mutex_unlock(&pool->lock);
  return rc;
}

static size_t auto_chunksize(const mproc_pool_t *pool, size_t n) {
  /* Python: chunksize, extra = divmod(len(iterable), len(pool) * 4) */
  size_t per = (size_t)pool->nworkers * 4;
  size_t c = n / per + (n % per ? 1 : 0);
  return c ? c : 1;
}

static int map_impl(mproc_pool_t *pool, const char *target,
                    const mproc_value_t *items, size_t chunksize, bool star,
                    mproc_value_t **results, mproc_task_error_t *err) {
  if (results != NULL) *results = NULL;
  if (err != NULL) memset(err, 0, sizeof *err);
  mproc_kind_t k = mproc_value_kind(items);
  if (pool == NULL || target == NULL || results == NULL || items == NULL ||
      (k != MPROC_LIST && k != MPROC_TUPLE))
    return MPROC_EINVAL;
  if (mproc_target_find(target) == NULL) return MPROC_ENOTARGET;
  size_t n = mproc_value_len(items);
  if (chunksize == 0) chunksize = auto_chunksize(pool, n);

  const mproc_value_t **argv = malloc((n ? n : 1) * sizeof *argv);
  struct mproc_future **fs = calloc(n ? n : 1, sizeof *fs);
  mproc_value_t *list = NULL;
  int rc = argv && fs ? mproc_value_list(&list) : MPROC_ENOMEM;
  for (size_t i = 0; rc == 0 && i < n; i++) rc = mproc_list_get(items, i, &argv[i]);
  for (size_t i = 0; rc == 0 && i < n; i += chunksize) {
    size_t m = n - i < chunksize ? n - i : chunksize;
    rc = submit_chunk(pool, target, argv + i, m, star, fs + i);
  }

  /* Every submitted task ends before map returns, failed or not. */
  int first_failure = 0;
  pthread_mutex_lock(&pool->lock);
  for (size_t i = 0; i < n && fs[i] != NULL; i++) {
    mproc__task_wait_locked(pool, fs[i], UINT64_MAX);
    if (fs[i]->code != 0 && first_failure == 0) {
      first_failure = fs[i]->code;
      mproc__task_error(fs[i], err);
    }
  }
  pthread_mutex_unlock(&pool->lock);
  if (rc == 0) rc = first_failure;

  for (size_t i = 0; rc == 0 && i < n; i++) {
    /* The results move from the futures into the list. */
    mproc_value_t *v = fs[i]->result;
    if (v == NULL && (rc = mproc_value_none(&v)) < 0) break;
    fs[i]->result = NULL;
    rc = mproc_list_append(list, v);
    if (rc < 0) mproc_value_free(v);
  }
  for (size_t i = 0; i < n && fs[i] != NULL; i++) mproc_future_free(fs[i]);
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
  size_t index;
} slot_t;

struct mproc_iter {
  mproc_pool_t *pool;
  char *target;
  const mproc_value_t *items;
  bool star;
  mproc_next_fn next;
  void *next_ctx;
  bool unordered;
  size_t chunksize, window;
  size_t produced; /* items taken from the input */
  bool input_done;
  int input_error;
  slot_t *ring; /* window slots, oldest at head */
  size_t head, count;
  struct mproc_future *current; /* the last item handed out */
};

int mproc_pool_imap(mproc_pool_t *pool, const mproc_imap_opts_t *opts,
                    mproc_iter_t **out) {
  if (out != NULL) *out = NULL;
  if (pool == NULL || opts == NULL || out == NULL || opts->target == NULL)
    return MPROC_EINVAL;
  mproc_kind_t k = mproc_value_kind(opts->items);
  if ((opts->items == NULL) == (opts->next == NULL)) return MPROC_EINVAL;
  if (opts->items != NULL && k != MPROC_LIST && k != MPROC_TUPLE)
    return MPROC_EINVAL;
  if (mproc_target_find(opts->target) == NULL) return MPROC_ENOTARGET;
  mproc_iter_t *it = calloc(1, sizeof *it);
  if (it == NULL) return MPROC_ENOMEM;
  it->pool = pool;
  it->target = strdup(opts->target);
  it->items = opts->items;
  it->star = opts->star || opts->next != NULL;
  it->next = opts->next;
  it->next_ctx = opts->next_ctx;
  it->unordered = opts->unordered;
  it->chunksize = opts->chunksize ? opts->chunksize : 1;
  it->window = opts->window ? opts->window
                            : (size_t)pool->nworkers * 4 * it->chunksize;
  if (it->window < it->chunksize) it->window = it->chunksize;
  it->ring = calloc(it->window, sizeof *it->ring);
  if (it->target == NULL || it->ring == NULL) {
    free(it->target);
    free(it->ring);
    free(it);
    return MPROC_ENOMEM;
  }
  pthread_mutex_lock(&pool->lock);
  pool->refs++; /* the iterator may outlive the owner's hold */
  pthread_mutex_unlock(&pool->lock);
  *out = it;
  return 0;
}

/* Tops the window up, a chunk at a time. */
static int refill(mproc_iter_t *it) {
  while (!it->input_done && it->count + it->chunksize <= it->window) {
    const mproc_value_t *argv[256];
    mproc_value_t *owned[256];
    size_t want = it->chunksize < 256 ? it->chunksize : 256;
    size_t m = 0;
    while (m < want) {
      if (it->items != NULL) {
        if (it->produced >= mproc_value_len(it->items)) {
          it->input_done = true;
          break;
        }
        mproc_list_get(it->items, it->produced, &argv[m]);
        owned[m] = NULL;
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
    if (m == 0) break;
    struct mproc_future *fs[256];
    int rc = submit_chunk(it->pool, it->target, argv, m, it->star, fs);
    for (size_t i = 0; i < m; i++) mproc_value_free(owned[i]);
    if (rc < 0) {
      it->input_done = true;
      it->input_error = rc;
      return rc;
    }
    for (size_t i = 0; i < m; i++) {
      slot_t *s = &it->ring[(it->head + it->count) % it->window];
      s->f = fs[i];
      s->index = it->produced - m + i;
      it->count++;
    }
  }
  return 0;
}

/* Waits on pool->cond until a slot is done (the oldest one when ordered).
 * Returns its offset from head, or MPROC_ETIMEDOUT. */
static long wait_slot(mproc_iter_t *it, uint64_t deadline) {
  mproc_pool_t *pool = it->pool;
  pthread_mutex_lock(&pool->lock);
  long found = -1;
  if (!it->unordered) {
    if (mproc__task_wait_locked(pool, it->ring[it->head].f, deadline) == 0)
      found = 0;
  } else {
    /* Every completion broadcasts pool->cond: scan, sleep, scan again. */
    for (;;) {
      for (size_t i = 0; i < it->count && found < 0; i++)
        if (it->ring[(it->head + i) % it->window].f->state == TASK_DONE)
          found = (long)i;
      if (found >= 0 || mproc__cond_wait_until(pool, deadline) < 0) break;
    }
  }
  pthread_mutex_unlock(&pool->lock);
  return found >= 0 ? found : MPROC_ETIMEDOUT;
}

int mproc_iter_next(mproc_iter_t *it, double timeout_s, mproc_item_t *item) {
  if (it == NULL || item == NULL || !mproc__timeout_valid(timeout_s))
    return MPROC_EINVAL;
  memset(item, 0, sizeof *item);
  if (it->current != NULL) {
    mproc_future_free(it->current);
    it->current = NULL;
  }
  int rc = refill(it);
  if (it->count == 0) return it->input_error ? it->input_error : rc;
  long off = wait_slot(it, mproc__deadline(timeout_s));
  if (off < 0) return (int)off;
  size_t pos = (it->head + (size_t)off) % it->window;
  slot_t taken = it->ring[pos];
  /* Keep the ring contiguous: the slot at head moves into the hole. */
  it->ring[pos] = it->ring[it->head];
  it->head = (it->head + 1) % it->window;
  it->count--;
  it->current = taken.f;
  item->index = taken.index;
  mproc_pool_t *pool = it->pool;
  pthread_mutex_lock(&pool->lock);
  mproc__task_error(taken.f, &item->error);
  if (taken.f->code == 0) {
    if (taken.f->result == NULL) mproc_value_none(&taken.f->result);
    item->result = taken.f->result;
  }
  pthread_mutex_unlock(&pool->lock);
  refill(it); /* keep workers busy while the caller works */
  return 1;
}

void mproc_iter_free(mproc_iter_t *it) {
  if (it == NULL) return;
  mproc_future_free(it->current);
  for (size_t i = 0; i < it->count; i++)
    mproc_future_free(it->ring[(it->head + i) % it->window].f);
  mproc_pool_t *pool = it->pool;
  free(it->ring);
  free(it->target);
  free(it);
  pthread_mutex_lock(&pool->lock);
  mproc__pool_unref_locked(pool);
}
