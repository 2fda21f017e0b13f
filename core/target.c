/* The target registry: an open-addressing hash table from name to function,
 * grown as needed. Lookups happen per task in workers, so they hash once and
 * compare one string in the common case. */
#include "multiproc/target.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error_detail.h"
#include "core/target_internal.h"

typedef struct {
  char *name; /* NULL: empty slot */
  mproc_target_fn fn;
  const char *where;   /* where it was registered, or NULL */
  const char *clash;   /* where another function claimed it, or NULL:
                          the name is then unusable */
  bool clashed;
} slot_t;

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static slot_t *slots;
static size_t nslots, used;
static const slot_t *first_clash; /* for mproc_pool_new */

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

static slot_t *find_slot(slot_t *table, size_t n, const char *name) {
  for (size_t i = hash(name) & (n - 1);; i = (i + 1) & (n - 1))
    if (table[i].name == NULL || strcmp(table[i].name, name) == 0)
      return &table[i];
}

static int grow(void) {
  size_t n = nslots ? nslots * 2 : 64;
  slot_t *table = calloc(n, sizeof *table);
  if (table == NULL) return MPROC_ENOMEM;
  const char *clash_name = first_clash ? first_clash->name : NULL;
  for (size_t i = 0; i < nslots; i++)
    if (slots[i].name != NULL) *find_slot(table, n, slots[i].name) = slots[i];
  free(slots);
  slots = table;
  nslots = n;
  if (clash_name != NULL) first_clash = find_slot(slots, nslots, clash_name);
  return 0;
}

/* The message for a name two functions claim. */
static int clash_error(const slot_t *s) {
  const char *a = s->where ? s->where : "mproc_target_register";
  const char *b = s->clash ? s->clash : "mproc_target_register";
  if (s->where != NULL && s->clash != NULL && strcmp(a, b) == 0)
    return mproc__fail(MPROC_EDUPTARGET,
                       "target '%s' is registered twice, by two functions "
                       "from %s (an MPROC_TARGET in a header defines one "
                       "function per file that includes it)",
                       s->name, a);
  return mproc__fail(MPROC_EDUPTARGET,
                     "target '%s' is registered twice, by two different "
                     "functions: %s and %s",
                     s->name, a, b);
}

int mproc_target_register_at(const char *name, mproc_target_fn fn,
                             const char *where) {
  if (name == NULL || fn == NULL || name[0] == '\0' ||
      strlen(name) > MPROC_TARGET_NAME_MAX)
    return mproc__fail(MPROC_EINVAL, "mproc_target_register: %s",
                       name == NULL       ? "name is NULL"
                       : fn == NULL       ? "fn is NULL"
                       : name[0] == '\0' ? "name is empty"
                                          : "name is longer than "
                                            "MPROC_TARGET_NAME_MAX");
  pthread_rwlock_wrlock(&lock);
  int rc = 0;
  if ((used + 1) * 2 > nslots) rc = grow();
  if (rc == 0) {
    slot_t *s = find_slot(slots, nslots, name);
    if (s->name != NULL) {
      if (s->fn != fn || s->clashed) {
        if (!s->clashed) {
          s->clashed = true;
          s->clash = where;
          if (first_clash == NULL) first_clash = s;
        }
        rc = clash_error(s);
      }
    } else if ((s->name = strdup(name)) == NULL) {
      rc = MPROC_ENOMEM;
    } else {
      s->fn = fn;
      s->where = where;
      used++;
    }
  }
  pthread_rwlock_unlock(&lock);
  return rc;
}

int mproc_target_register(const char *name, mproc_target_fn fn) {
  return mproc_target_register_at(name, fn, NULL);
}

/* Edit distance (insertions, deletions, substitutions) between a and b,
 * both at most MPROC_TARGET_NAME_MAX long; stops counting past limit. */
static size_t distance(const char *a, const char *b, size_t limit) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > MPROC_TARGET_NAME_MAX || lb > MPROC_TARGET_NAME_MAX) return limit + 1;
  if ((la > lb ? la - lb : lb - la) > limit) return limit + 1;
  size_t row[MPROC_TARGET_NAME_MAX + 1];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0], best = row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t sub = diag + (a[i - 1] != b[j - 1]);
      size_t v = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
      row[j] = sub < v ? sub : v;
      diag = up;
      if (row[j] < best) best = row[j];
    }
    if (best > limit) return limit + 1;
  }
  return row[lb];
}

/* The registered name closest to name (a typo's likely intent), or NULL
 * when none is near: at most a third of the name's letters differ (and at
 * least one may). Call with the lock held. */
static const char *closest(const char *name) {
  size_t len = strlen(name);
  size_t limit = len / 3 > 1 ? len / 3 : 1;
  const char *best = NULL;
  size_t best_d = limit + 1;
  for (size_t i = 0; i < nslots; i++) {
    if (slots[i].name == NULL) continue;
    size_t d = distance(name, slots[i].name, limit);
    if (d < best_d || (d == best_d && best != NULL &&
                       strcmp(slots[i].name, best) < 0)) {
      best_d = d;
      best = slots[i].name;
    }
  }
  return best_d <= limit ? best : NULL;
}

/* The ENOTARGET detail: the name quoted, and the closest registered one. */
static int no_target(const char *name) {
  const char *near = closest(name);
  if (near != NULL)
    return mproc__fail(MPROC_ENOTARGET,
                       "no target registered as '%s' (did you mean '%s'?)",
                       name, near);
  return mproc__fail(MPROC_ENOTARGET,
                     "no target registered as '%s' (%zu target%s registered; "
                     "MPROC_TARGET(%s) or mproc_target_register registers one)",
                     name, used, used == 1 ? " is" : "s are", name);
}

int mproc__target_resolve(const char *name, mproc_target_fn *fn) {
  *fn = NULL;
  if (name == NULL) return mproc__fail(MPROC_EINVAL, "the target name is NULL");
  int rc = MPROC_ENOTARGET;
  pthread_rwlock_rdlock(&lock);
  if (nslots > 0) {
    const slot_t *s = find_slot(slots, nslots, name);
    if (s->name != NULL && s->clashed) {
      rc = clash_error(s);
    } else if (s->name != NULL) {
      *fn = s->fn;
      rc = 0;
    }
  }
  if (rc == MPROC_ENOTARGET) rc = no_target(name);
  pthread_rwlock_unlock(&lock);
  return rc;
}

int mproc__target_check_all(void) {
  pthread_rwlock_rdlock(&lock);
  int rc = first_clash != NULL ? clash_error(first_clash) : 0;
  pthread_rwlock_unlock(&lock);
  return rc;
}

mproc_target_fn mproc_target_find(const char *name) {
  if (name == NULL) return NULL;
  mproc_target_fn fn = NULL;
  pthread_rwlock_rdlock(&lock);
  if (nslots > 0) {
    slot_t *s = find_slot(slots, nslots, name);
    if (s->name != NULL && !s->clashed) fn = s->fn;
  }
  pthread_rwlock_unlock(&lock);
  return fn;
}

const char *mproc_target_name(mproc_target_fn fn) {
  const char *name = NULL;
  pthread_rwlock_rdlock(&lock);
  for (size_t i = 0; i < nslots && name == NULL; i++)
    if (slots[i].name != NULL && slots[i].fn == fn && !slots[i].clashed)
      name = slots[i].name;
  pthread_rwlock_unlock(&lock);
  return name;
}
