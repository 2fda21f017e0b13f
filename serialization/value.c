/* Values: construction, ownership, access, comparison. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error_detail.h"
#include "core/base/hugemem.h"
#include "serialization/slab.h"
#include "serialization/value_internal.h"
#include "serialization/value_ext.h"

static size_t scalar_wsize(const mproc_value_t *v) {
  switch ((mproc_kind_t)v->kind) {
    case MPROC_NONE:
    case MPROC_BOOL:
      return 2;
    case MPROC_INT: {
      uint64_t zz = ((uint64_t)v->u.i << 1) ^ (uint64_t)(v->u.i >> 63);
      return 1 + mproc__varint_size(zz);
    }
    case MPROC_FLOAT:
      return 9;
    case MPROC_STR:
    case MPROC_BYTES:
      return mproc__ld_size(v->u.s.n);
    default:
      return 0;
  }
}

void mproc__scalar_resize(mproc_value_t *v) { v->wsize = scalar_wsize(v); }

void mproc__container_resize(mproc_value_t *c) {
  c->wsize = mproc__ld_size(c->inner);
}

/* Nodes come from the slab (slab.h): a value costs a pointer bump, not a
 * malloc, whoever makes it. */
mproc_value_t *mproc__value_alloc(mproc_kind_t kind) {
  mproc_value_t *v = mproc__slab_node();
  if (v == NULL) return NULL;
  v->kind = (uint8_t)kind;
  if (kind == MPROC_LIST || kind == MPROC_TUPLE || kind == MPROC_DICT) {
    v->depth = 1;
    /* List.tuple = true costs two bytes on the wire. */
    v->inner = kind == MPROC_TUPLE ? 2 : 0;
    mproc__container_resize(v);
  } else {
    v->wsize = scalar_wsize(v);
  }
  return v;
}

mproc_value_t *mproc__value_blob(mproc_kind_t kind, const void *p, size_t n) {
  if (n == SIZE_MAX) return NULL;
  mproc_value_t *v = mproc__slab_node();
  if (v == NULL) return NULL;
  v->kind = (uint8_t)kind;
  /* A short string sits next to its node; a longer one on the heap. */
  v->u.s.p = mproc__slab_bytes(n + 1);
  v->u.s.own = NULL;
  if (v->u.s.p == NULL) {
    v->u.s.p = malloc(n + 1);
    v->u.s.own = v->u.s.p;
    mproc__huge_hint(v->u.s.p, n + 1);
  }
  if (v->u.s.p == NULL) {
    mproc__slab_release(v);
    return NULL;
  }
  if (n > 0 && p != NULL) memcpy(v->u.s.p, p, n);
  v->u.s.p[n] = '\0';
  v->u.s.n = n;
  v->wsize = scalar_wsize(v);
  return v;
}

static int store(mproc_value_t **out, mproc_value_t *v) {
  *out = v;
  return v == NULL ? MPROC_ENOMEM : 0;
}

#define CHECK_OUT(out)              \
  do {                              \
    if ((out) == NULL) return MPROC__EINVAL("out is NULL"); \
    *(out) = NULL;                  \
  } while (0)

int mproc_value_none(mproc_value_t **out) {
  CHECK_OUT(out);
  return store(out, mproc__value_alloc(MPROC_NONE));
}

int mproc_value_bool(mproc_value_t **out, bool b) {
  CHECK_OUT(out);
  mproc_value_t *v = mproc__value_alloc(MPROC_BOOL);
  if (v != NULL) v->u.b = b;
  return store(out, v);
}

int mproc_value_int(mproc_value_t **out, int64_t i) {
  CHECK_OUT(out);
  mproc_value_t *v = mproc__value_alloc(MPROC_INT);
  if (v != NULL) {
    v->u.i = i;
    v->wsize = scalar_wsize(v);
  }
  return store(out, v);
}

int mproc_value_float(mproc_value_t **out, double d) {
  CHECK_OUT(out);
  mproc_value_t *v = mproc__value_alloc(MPROC_FLOAT);
  if (v != NULL) v->u.d = d;
  return store(out, v);
}

int mproc_value_strn(mproc_value_t **out, const char *s, size_t n) {
  CHECK_OUT(out);
  if (s == NULL && n > 0) return MPROC__EINVAL("s is NULL but n is not 0");
  if (!mproc__utf8_valid(s, n)) return MPROC_EUTF8;
  return store(out, mproc__value_blob(MPROC_STR, s, n));
}

int mproc_value_str(mproc_value_t **out, const char *s) {
  CHECK_OUT(out);
  if (s == NULL) return MPROC__EINVAL("s is NULL");
  return mproc_value_strn(out, s, strlen(s));
}

int mproc_value_bytes(mproc_value_t **out, const void *p, size_t n) {
  CHECK_OUT(out);
  if (p == NULL && n > 0) return MPROC__EINVAL("p is NULL but n is not 0");
  return store(out, mproc__value_blob(MPROC_BYTES, p, n));
}

int mproc_value_list(mproc_value_t **out) {
  CHECK_OUT(out);
  return store(out, mproc__value_alloc(MPROC_LIST));
}

int mproc_value_tuple(mproc_value_t **out) {
  CHECK_OUT(out);
  return store(out, mproc__value_alloc(MPROC_TUPLE));
}

int mproc_value_dict(mproc_value_t **out) {
  CHECK_OUT(out);
  return store(out, mproc__value_alloc(MPROC_DICT));
}

static bool is_seq(const mproc_value_t *v) {
  return v != NULL && (v->kind == MPROC_LIST || v->kind == MPROC_TUPLE);
}

int mproc__seq_reserve(mproc_value_t *seq, size_t extra) {
  if (extra > SIZE_MAX / sizeof(mproc_value_t *) - seq->u.seq.n)
    return MPROC_ENOMEM;
  size_t want = seq->u.seq.n + extra;
  if (want <= seq->u.seq.cap) return 0;
  /* Geometric, so that reserving chunk after chunk stays linear. */
  if (want < seq->u.seq.cap * 2 &&
      seq->u.seq.cap <= SIZE_MAX / sizeof(mproc_value_t *) / 2)
    want = seq->u.seq.cap * 2;
  mproc_value_t **v = realloc(seq->u.seq.v, want * sizeof *v);
  if (v == NULL) return MPROC_ENOMEM;
  seq->u.seq.v = v;
  seq->u.seq.cap = want;
  return 0;
}

/* The size of the List message body of seq, items as they are now: packed
 * when every item is an int or every one a float (List.ints, List.floats),
 * else item by item; List.tuple costs two bytes. */
static size_t list_inner(const mproc_value_t *seq, size_t mixed) {
  size_t tuple = seq->kind == MPROC_TUPLE ? 2 : 0;
  switch (seq->homog) {
    case MPROC__HOMOG_INTS:
      return tuple + mproc__ld_size(seq->u.seq.ibytes);
    case MPROC__HOMOG_FLOATS:
      return tuple + mproc__ld_size(8 * seq->u.seq.n);
    case MPROC__HOMOG_MIXED:
      return mixed;
    default:
      return tuple;
  }
}

int mproc__seq_push(mproc_value_t *seq, mproc_value_t *item) {
  if (item->depth + 1 > MPROC_MAX_DEPTH) return MPROC_EDEPTH;
  if (seq->u.seq.n == seq->u.seq.cap) {
    size_t cap = seq->u.seq.cap ? seq->u.seq.cap * 2 : 4;
    mproc_value_t **v = realloc(seq->u.seq.v, cap * sizeof *v);
    if (v == NULL) return MPROC_ENOMEM;
    seq->u.seq.v = v;
    seq->u.seq.cap = cap;
  }
  size_t before = seq->u.seq.n;
  seq->u.seq.v[seq->u.seq.n++] = item;
  item->owned = 1;
  if (item->depth + 1 > seq->depth) seq->depth = (uint8_t)(item->depth + 1);
  uint8_t kind = item->kind;
  switch (seq->homog) {
    case MPROC__HOMOG_EMPTY:
      seq->homog = kind == MPROC_INT     ? MPROC__HOMOG_INTS
                   : kind == MPROC_FLOAT ? MPROC__HOMOG_FLOATS
                                         : MPROC__HOMOG_MIXED;
      seq->u.seq.ibytes = 0;
      break;
    case MPROC__HOMOG_INTS:
    case MPROC__HOMOG_FLOATS:
      if (kind == (seq->homog == MPROC__HOMOG_INTS ? MPROC_INT : MPROC_FLOAT))
        break;
      /* The first item of another kind: from now on item by item. Each
       * int so far costs its Value (tag + varint) inside an items field
       * (tag + one-byte length): 3 + its varint; each float 11. */
      seq->inner = (seq->kind == MPROC_TUPLE ? 2 : 0) +
                   (seq->homog == MPROC__HOMOG_INTS
                        ? 3 * before + seq->u.seq.ibytes
                        : 11 * before);
      seq->homog = MPROC__HOMOG_MIXED;
      break;
    default:
      break;
  }
  if (seq->homog == MPROC__HOMOG_INTS) seq->u.seq.ibytes += item->wsize - 1;
  size_t mixed = seq->homog == MPROC__HOMOG_MIXED
                     ? seq->inner + mproc__ld_size(item->wsize)
                     : 0;
  seq->inner = list_inner(seq, mixed);
  mproc__container_resize(seq);
  return 0;
}

/* value.h's rule: a refused item is freed, unless it is not the caller's
 * to give — one inside a container (mproc_value_free ignores it), or the
 * container itself, which the caller still holds. */
static int drop_refused(int rc, mproc_value_t *item,
                        const mproc_value_t *container) {
  if (item != container) mproc_value_free(item);
  return rc;
}

static int append_checked(mproc_value_t *seq, mproc_value_t *item) {
  if (seq == NULL || item == NULL)
    return mproc__einval("mproc_list_append", "%s is NULL",
                         seq == NULL ? "seq" : "item");
  if (!is_seq(seq)) return MPROC_ETYPE;
  if (seq->owned || item->owned || item == seq) return MPROC_EOWNED;
  return mproc__seq_push(seq, item);
}

int mproc_list_append(mproc_value_t *seq, mproc_value_t *item) {
  int rc = append_checked(seq, item);
  return rc < 0 ? drop_refused(rc, item, seq) : rc;
}

static int dict_set_checked(mproc_value_t *dict, const char *key,
                            mproc_value_t *item) {
  if (dict == NULL || key == NULL || item == NULL)
    return mproc__einval("mproc_dict_set", "%s is NULL",
                         dict == NULL ? "dict" : key == NULL ? "key" : "item");
  if (dict->kind != MPROC_DICT) return MPROC_ETYPE;
  if (dict->owned || item->owned || item == dict) return MPROC_EOWNED;
  size_t klen = strlen(key);
  if (!mproc__utf8_valid(key, klen)) return MPROC_EUTF8;
  return mproc__dict_put(dict, key, klen, item, true);
}

int mproc_dict_set(mproc_value_t *dict, const char *key, mproc_value_t *item) {
  int rc = dict_set_checked(dict, key, item);
  return rc < 0 ? drop_refused(rc, item, dict) : rc;
}

static void value_free(mproc_value_t *v) {
  switch ((mproc_kind_t)v->kind) {
    case MPROC_STR:
    case MPROC_BYTES:
      free(v->u.s.own);
      break;
    case MPROC_LIST:
    case MPROC_TUPLE:
      /* Depth is bounded by MPROC_MAX_DEPTH, so this recursion is too. */
      for (size_t i = 0; !v->borrows && i < v->u.seq.n; i++)
        value_free(v->u.seq.v[i]);
      free(v->u.seq.v);
      break;
    case MPROC_DICT:
      mproc__dict_free(v);
      break;
    default:
      break;
  }
  if (v->slab)
    mproc__slab_release(v);
  else
    free(v);
}

void mproc__value_free_owned(mproc_value_t *v) {
  if (v != NULL) value_free(v);
}

void mproc_value_free(mproc_value_t *v) {
  if (v == NULL || v->owned) return;
  value_free(v);
}

static int copy_into(mproc_value_t **out, const mproc_value_t *v) {
  mproc_value_t *c = NULL;
  int rc = 0;
  switch ((mproc_kind_t)v->kind) {
    case MPROC_STR:
    case MPROC_BYTES:
      c = mproc__value_blob((mproc_kind_t)v->kind, v->u.s.p, v->u.s.n);
      break;
    case MPROC_LIST:
    case MPROC_TUPLE:
      c = mproc__value_alloc((mproc_kind_t)v->kind);
      for (size_t i = 0; c != NULL && i < v->u.seq.n; i++) {
        mproc_value_t *item;
        rc = copy_into(&item, v->u.seq.v[i]);
        if (rc == 0 && (rc = mproc__seq_push(c, item)) < 0) value_free(item);
        if (rc < 0) goto fail;
      }
      break;
    case MPROC_DICT:
      c = mproc__value_alloc(MPROC_DICT);
      for (size_t i = 0; c != NULL && i < v->u.dict.n; i++) {
        const mproc__entry_t *e = &v->u.dict.e[i];
        mproc_value_t *item;
        rc = copy_into(&item, e->val);
        if (rc == 0 &&
            (rc = mproc__dict_put(c, e->key, e->klen, item, false)) < 0)
          value_free(item);
        if (rc < 0) goto fail;
      }
      break;
    default:
      c = mproc__value_alloc((mproc_kind_t)v->kind);
      if (c != NULL) {
        c->u = v->u;
        c->wsize = v->wsize;
      }
      break;
  }
  *out = c;
  return c == NULL ? MPROC_ENOMEM : 0;
fail:
  value_free(c);
  *out = NULL;
  return rc;
}

int mproc_value_copy(mproc_value_t **out, const mproc_value_t *v) {
  CHECK_OUT(out);
  if (v == NULL) return MPROC__EINVAL("v is NULL");
  return copy_into(out, v);
}

bool mproc_value_is_owned(const mproc_value_t *v) {
  return v != NULL && v->owned;
}

mproc_kind_t mproc_value_kind(const mproc_value_t *v) {
  return v == NULL ? MPROC_NONE : (mproc_kind_t)v->kind;
}

const char *mproc_kind_name(mproc_kind_t kind) {
  switch (kind) {
    case MPROC_NONE:
      return "NoneType";
    case MPROC_BOOL:
      return "bool";
    case MPROC_INT:
      return "int";
    case MPROC_FLOAT:
      return "float";
    case MPROC_STR:
      return "str";
    case MPROC_BYTES:
      return "bytes";
    case MPROC_LIST:
      return "list";
    case MPROC_TUPLE:
      return "tuple";
    case MPROC_DICT:
      return "dict";
  }
  return "unknown";
}

#define GET_CHECK(v, out, want)                        \
  do {                                                 \
    if ((v) == NULL || (out) == NULL)                  \
      return MPROC__EINVAL("%s is NULL", (v) == NULL ? "v" : "out"); \
    if ((v)->kind != (want)) return MPROC_ETYPE;       \
  } while (0)

int mproc_value_get_bool(const mproc_value_t *v, bool *out) {
  GET_CHECK(v, out, MPROC_BOOL);
  *out = v->u.b;
  return 0;
}

int mproc_value_get_int(const mproc_value_t *v, int64_t *out) {
  GET_CHECK(v, out, MPROC_INT);
  *out = v->u.i;
  return 0;
}

int mproc_value_get_float(const mproc_value_t *v, double *out) {
  if (v == NULL || out == NULL)
    return MPROC__EINVAL("%s is NULL", v == NULL ? "v" : "out");
  if (v->kind == MPROC_INT) {
    *out = (double)v->u.i;
    return 0;
  }
  if (v->kind != MPROC_FLOAT) return MPROC_ETYPE;
  *out = v->u.d;
  return 0;
}

int mproc_value_get_str(const mproc_value_t *v, const char **s, size_t *n) {
  GET_CHECK(v, s, MPROC_STR);
  *s = v->u.s.p;
  if (n != NULL) *n = v->u.s.n;
  return 0;
}

int mproc_value_get_bytes(const mproc_value_t *v, const void **p, size_t *n) {
  GET_CHECK(v, p, MPROC_BYTES);
  *p = v->u.s.p;
  if (n != NULL) *n = v->u.s.n;
  return 0;
}

size_t mproc_value_len(const mproc_value_t *v) {
  if (v == NULL) return 0;
  switch ((mproc_kind_t)v->kind) {
    case MPROC_STR:
    case MPROC_BYTES:
      return v->u.s.n;
    case MPROC_LIST:
    case MPROC_TUPLE:
      return v->u.seq.n;
    case MPROC_DICT:
      return v->u.dict.n;
    default:
      return 0;
  }
}

int mproc_list_get(const mproc_value_t *seq, size_t i,
                   const mproc_value_t **out) {
  if (seq == NULL || out == NULL)
    return MPROC__EINVAL("%s is NULL", seq == NULL ? "seq" : "out");
  if (!is_seq(seq)) return MPROC_ETYPE;
  if (i >= seq->u.seq.n) return MPROC_ERANGE;
  *out = seq->u.seq.v[i];
  return 0;
}

int mproc_dict_get(const mproc_value_t *dict, const char *key,
                   const mproc_value_t **out) {
  if (dict == NULL || key == NULL || out == NULL)
    return MPROC__EINVAL("%s is NULL", dict == NULL ? "dict" : key == NULL ? "key" : "out");
  if (dict->kind != MPROC_DICT) return MPROC_ETYPE;
  size_t pos;
  if (!mproc__dict_find(dict, key, strlen(key), &pos)) return MPROC_EKEY;
  *out = dict->u.dict.e[pos].val;
  return 0;
}

int mproc_dict_item(const mproc_value_t *dict, size_t i, const char **key,
                    const mproc_value_t **val) {
  if (dict == NULL) return MPROC__EINVAL("dict is NULL");
  if (dict->kind != MPROC_DICT) return MPROC_ETYPE;
  if (i >= dict->u.dict.n) return MPROC_ERANGE;
  if (key != NULL) *key = dict->u.dict.e[i].key;
  if (val != NULL) *val = dict->u.dict.e[i].val;
  return 0;
}

/* Python's numeric tower for the kinds we have: bool and int compare as
 * integers, and either compares with float by value. */
static bool numeric(const mproc_value_t *v) {
  return v->kind == MPROC_BOOL || v->kind == MPROC_INT ||
         v->kind == MPROC_FLOAT;
}

static bool num_equal(const mproc_value_t *a, const mproc_value_t *b) {
  if (a->kind == MPROC_FLOAT || b->kind == MPROC_FLOAT) {
    if (a->kind == MPROC_FLOAT && b->kind == MPROC_FLOAT)
      return a->u.d == b->u.d;
    const mproc_value_t *f = a->kind == MPROC_FLOAT ? a : b;
    const mproc_value_t *n = a->kind == MPROC_FLOAT ? b : a;
    int64_t iv = n->kind == MPROC_BOOL ? (int64_t)n->u.b : n->u.i;
    double d = f->u.d;
    /* Exact comparison: the double must be integral and in range. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
      return false;
    if (d != floor(d)) return false;
    return (int64_t)d == iv;
  }
  int64_t x = a->kind == MPROC_BOOL ? (int64_t)a->u.b : a->u.i;
  int64_t y = b->kind == MPROC_BOOL ? (int64_t)b->u.b : b->u.i;
  return x == y;
}

bool mproc_value_equal(const mproc_value_t *a, const mproc_value_t *b) {
  if (a == NULL || b == NULL) return a == b;
  if (numeric(a) && numeric(b)) return num_equal(a, b);
  if (a->kind != b->kind) return false;
  switch ((mproc_kind_t)a->kind) {
    case MPROC_NONE:
      return true;
    case MPROC_STR:
    case MPROC_BYTES:
      return a->u.s.n == b->u.s.n &&
             memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
    case MPROC_LIST:
    case MPROC_TUPLE:
      if (a->u.seq.n != b->u.seq.n) return false;
      for (size_t i = 0; i < a->u.seq.n; i++)
        if (!mproc_value_equal(a->u.seq.v[i], b->u.seq.v[i])) return false;
      return true;
    case MPROC_DICT:
      if (a->u.dict.n != b->u.dict.n) return false;
      for (size_t i = 0; i < a->u.dict.n; i++) {
        const mproc__entry_t *e = &a->u.dict.e[i];
        size_t pos;
        if (!mproc__dict_find(b, e->key, e->klen, &pos)) return false;
        if (!mproc_value_equal(e->val, b->u.dict.e[pos].val)) return false;
      }
      return true;
    default:
      return false;
  }
}

bool mproc__utf8_valid(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

int mproc__list_extend(mproc_value_t *list, mproc_value_t **items, size_t n,
                       size_t *done) {
  *done = 0;
  if (list == NULL || !is_seq(list) || list->owned) return MPROC_EINVAL;
  int rc = mproc__seq_reserve(list, n);
  for (size_t i = 0; i < n; i++) {
    mproc_value_t *item = items[i];
    if (rc == 0 && (item == NULL || item->owned || item == list))
      rc = MPROC_EINVAL;
    if (rc == 0) rc = mproc__seq_push(list, item);
    if (rc < 0) {
      *done = i;
      if (item != list) mproc_value_free(item);
      items[i] = NULL;
      return rc;
    }
    items[i] = NULL;
  }
  *done = n;
  return 0;
}

int mproc__tuple1_new(mproc_value_t **out) {
  mproc_value_t *t = mproc__value_alloc(MPROC_TUPLE);
  if (t == NULL) return MPROC_ENOMEM;
  t->u.seq.v = calloc(1, sizeof *t->u.seq.v);
  if (t->u.seq.v == NULL) {
    mproc__value_free_owned(t);
    return MPROC_ENOMEM;
  }
  t->u.seq.cap = 1;
  t->borrows = 1;
  *out = t;
  return 0;
}

void mproc__tuple1_set(mproc_value_t *tuple, const mproc_value_t *item) {
  /* Never encoded, so its size and depth need no bookkeeping. */
  tuple->u.seq.v[0] = (mproc_value_t *)item;
  tuple->u.seq.n = item != NULL;
}

