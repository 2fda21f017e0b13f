/* The target registry: an open-addressing hash table from name to function,
 * grown as needed. Lookups happen per task in workers, so they hash once and
 * compare one string in the common case. */
#include "core/target.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *name; /* NULL: empty slot */
  mproc_target_fn fn;
} slot_t;

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static slot_t *slots;
static size_t nslots, used;

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
  for (size_t i = 0; i < nslots; i++)
    if (slots[i].name != NULL) *find_slot(table, n, slots[i].name) = slots[i];
  free(slots);
  slots = table;
  nslots = n;
  return 0;
}

int mproc_target_register(const char *name, mproc_target_fn fn) {
  if (name == NULL || fn == NULL || name[0] == '\0' ||
      strlen(name) > MPROC_TARGET_NAME_MAX)
    return MPROC_EINVAL;
  pthread_rwlock_wrlock(&lock);
  int rc = 0;
  if ((used + 1) * 2 > nslots) rc = grow();
  if (rc == 0) {
    slot_t *s = find_slot(slots, nslots, name);
    if (s->name != NULL) {
      rc = s->fn == fn ? 0 : MPROC_EEXIST;
    } else if ((s->name = strdup(name)) == NULL) {
      rc = MPROC_ENOMEM;
    } else {
      s->fn = fn;
      used++;
    }
  }
  pthread_rwlock_unlock(&lock);
  return rc;
}

mproc_target_fn mproc_target_find(const char *name) {
  if (name == NULL) return NULL;
  mproc_target_fn fn = NULL;
  pthread_rwlock_rdlock(&lock);
  if (nslots > 0) {
    slot_t *s = find_slot(slots, nslots, name);
    if (s->name != NULL) fn = s->fn;
  }
  pthread_rwlock_unlock(&lock);
  return fn;
}

const char *mproc_target_name(mproc_target_fn fn) {
  const char *name = NULL;
  pthread_rwlock_rdlock(&lock);
  for (size_t i = 0; i < nslots && name == NULL; i++)
    if (slots[i].name != NULL && slots[i].fn == fn) name = slots[i].name;
  pthread_rwlock_unlock(&lock);
  return name;
}
