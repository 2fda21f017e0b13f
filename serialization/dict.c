/* Dicts: insertion-ordered entries plus, once a dict grows past a few
 * entries, an open-addressing hash index, so that building or decoding a
 * dict with n keys costs O(n), not O(n^2) — a hostile frame with a million
 * keys must not turn into a hang. */
#include <stdlib.h>
#include <string.h>

#include "serialization/value_internal.h"

/* Below this many entries a linear scan beats hashing. */
#define INDEX_MIN 16

static uint64_t hash_key(const char *key, size_t klen) {
  uint64_t h = 1469598103934665603u; /* FNV-1a */
  for (size_t i = 0; i < klen; i++) {
    h ^= (unsigned char)key[i];
    h *= 1099511628211u;
  }
  return h ^ (h >> 29);
}

static bool key_eq(const mproc__entry_t *e, const char *key, size_t klen) {
  return e->klen == klen && memcmp(e->key, key, klen) == 0;
}

int mproc__dict_find(const mproc_value_t *dict, const char *key, size_t klen,
                     size_t *pos) {
  const mproc__entry_t *e = dict->u.dict.e;
  if (dict->u.dict.index_cap == 0) {
    for (size_t i = 0; i < dict->u.dict.n; i++) {
      if (key_eq(&e[i], key, klen)) {
        *pos = i;
        return 1;
      }
    }
    return 0;
  }
  size_t mask = dict->u.dict.index_cap - 1;
  for (size_t slot = hash_key(key, klen) & mask;; slot = (slot + 1) & mask) {
    uint32_t ref = dict->u.dict.index[slot];
    if (ref == 0) return 0;
    if (key_eq(&e[ref - 1], key, klen)) {
      *pos = ref - 1;
      return 1;
    }
  }
}

static void index_insert(mproc_value_t *dict, size_t pos) {
  const mproc__entry_t *e = &dict->u.dict.e[pos];
  size_t mask = dict->u.dict.index_cap - 1;
  size_t slot = hash_key(e->key, e->klen) & mask;
  while (dict->u.dict.index[slot] != 0) slot = (slot + 1) & mask;
  dict->u.dict.index[slot] = (uint32_t)(pos + 1);
}

/* Keeps the index at most half full; builds it when the dict gets big. */
static int index_reserve(mproc_value_t *dict, size_t want_entries) {
  if (want_entries < INDEX_MIN) return 0;
  if (want_entries > UINT32_MAX - 1) return MPROC_ENOMEM;
  if (want_entries * 2 <= dict->u.dict.index_cap) return 0;
  size_t cap = dict->u.dict.index_cap ? dict->u.dict.index_cap : 32;
  while (cap < want_entries * 2) cap *= 2;
  uint32_t *index = calloc(cap, sizeof *index);
  if (index == NULL) return MPROC_ENOMEM;
  free(dict->u.dict.index);
  dict->u.dict.index = index;
  dict->u.dict.index_cap = cap;
  for (size_t i = 0; i < dict->u.dict.n; i++) index_insert(dict, i);
  return 0;
}

size_t mproc__entry_size(size_t klen, const mproc_value_t *val) {
  return mproc__ld_size(klen) + mproc__ld_size(val->wsize);
}

int mproc__dict_put(mproc_value_t *dict, const char *key, size_t klen,
                    mproc_value_t *item, bool replace) {
  if (item->depth + 1 > MPROC_MAX_DEPTH) return MPROC_EDEPTH;
  size_t pos;
  if (mproc__dict_find(dict, key, klen, &pos)) {
    if (!replace) return MPROC_EKEY;
    mproc__entry_t *e = &dict->u.dict.e[pos];
    dict->inner -= mproc__ld_size(mproc__entry_size(e->klen, e->val));
    mproc__value_free_owned(e->val);
    e->val = item;
  } else {
    if (dict->u.dict.n == dict->u.dict.cap) {
      size_t cap = dict->u.dict.cap ? dict->u.dict.cap * 2 : 4;
      mproc__entry_t *e = realloc(dict->u.dict.e, cap * sizeof *e);
      if (e == NULL) return MPROC_ENOMEM;
      dict->u.dict.e = e;
      dict->u.dict.cap = cap;
    }
    int rc = index_reserve(dict, dict->u.dict.n + 1);
    if (rc < 0) return rc;
    char *k = malloc(klen + 1);
    if (k == NULL) return MPROC_ENOMEM;
    memcpy(k, key, klen);
    k[klen] = '\0';
    pos = dict->u.dict.n++;
    mproc__entry_t *e = &dict->u.dict.e[pos];
    e->key = k;
    e->klen = klen;
    e->val = item;
    if (dict->u.dict.index_cap != 0) index_insert(dict, pos);
  }
  item->owned = 1;
  /* Depth only grows here; a replaced deeper value leaves it as an upper
   * bound, which is all the recursion limit needs. */
  if (item->depth + 1 > dict->depth) dict->depth = (uint8_t)(item->depth + 1);
  dict->inner += mproc__ld_size(mproc__entry_size(klen, item));
  mproc__container_resize(dict);
  return 0;
}

void mproc__dict_free(mproc_value_t *dict) {
  for (size_t i = 0; i < dict->u.dict.n; i++) {
    free(dict->u.dict.e[i].key);
    mproc__value_free_owned(dict->u.dict.e[i].val);
  }
  free(dict->u.dict.e);
  free(dict->u.dict.index);
}
