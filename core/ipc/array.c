/* Value and Array: see shm.h. The array's header (its lock, typecode and
 * length) and its items share one anonymous shared mapping; the handle is
 * its address. */
#include <float.h>
#include <limits.h>
#include <string.h>

#include "core/base/error_detail.h"
#include "core/ipc/shared.h"
#include "core/ipc/sync_internal.h"
#include "multiproc/shm.h"

/* Items start this far in: aligned for every typecode (and a cache line,
 * so the header's lock traffic does not share one with the data). */
#define DATA_OFFSET 128

struct mproc_array {
  mproc_lock_t lock; /* the RLock, when has_lock */
  size_t map_size;
  size_t n;
  size_t itemsize;
  char typecode;
  bool has_lock;
};

_Static_assert(sizeof(struct mproc_array) <= DATA_OFFSET,
               "the header fits before the items");

static size_t itemsize_of(char t) {
  switch (t) {
    case 'c': case 'b': case 'B': return 1;
    case 'h': case 'H': return sizeof(short);
    case 'i': case 'I': return sizeof(int);
    case 'l': case 'L': return sizeof(long);
    case 'q': case 'Q': return sizeof(long long);
    case 'f': return sizeof(float);
    case 'd': return sizeof(double);
    default: return 0;
  }
}

int mproc_array_new(mproc_array_t **out, char typecode, size_t n, bool lock) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  size_t size = itemsize_of(typecode);
  if (size == 0)
    return MPROC__EINVAL("typecode '%c' is not one of c b B h H i I l L q Q f d",
                         typecode ? typecode : '?');
  if (n == 0 || n > (SIZE_MAX - DATA_OFFSET) / size)
    return MPROC__EINVAL("n must be 1 or more (and fit in memory), not %zu", n);
  size_t map_size = DATA_OFFSET + n * size;
  void *mem;
  int rc = mproc__shared_map(&mem, map_size);
  if (rc < 0) return rc;
  mproc_array_t *a = mem;
  if (lock) {
    rc = mproc__lock_init_embedded(&a->lock, true);
    if (rc < 0) {
      mproc__shared_unmap(mem, map_size);
      return rc;
    }
  }
  a->map_size = map_size;
  a->n = n;
  a->itemsize = size;
  a->typecode = typecode;
  a->has_lock = lock;
  *out = a;
  return 0;
}

void *mproc_array_data(const mproc_array_t *a) {
  return a == NULL ? NULL : (char *)a + DATA_OFFSET;
}

size_t mproc_array_len(const mproc_array_t *a) { return a == NULL ? 0 : a->n; }

size_t mproc_array_itemsize(const mproc_array_t *a) {
  return a == NULL ? 0 : a->itemsize;
}

char mproc_array_typecode(const mproc_array_t *a) {
  return a == NULL ? '\0' : a->typecode;
}

mproc_lock_t *mproc_array_lock(const mproc_array_t *a) {
  return a == NULL || !a->has_lock ? NULL : (mproc_lock_t *)&a->lock;
}

/* One item's access under the lock, when there is one. */
typedef enum { GET_INT, SET_INT, GET_FLOAT, SET_FLOAT } access_t;

static bool is_float(char t) { return t == 'f' || t == 'd'; }

/* Whether v fits the integer type t. */
static bool fits(char t, int64_t v) {
  switch (t) {
    case 'c': return v >= CHAR_MIN && v <= CHAR_MAX;
    case 'b': return v >= SCHAR_MIN && v <= SCHAR_MAX;
    case 'B': return v >= 0 && v <= UCHAR_MAX;
    case 'h': return v >= SHRT_MIN && v <= SHRT_MAX;
    case 'H': return v >= 0 && v <= USHRT_MAX;
    case 'i': return v >= INT_MIN && v <= INT_MAX;
    case 'I': return v >= 0 && (uint64_t)v <= UINT_MAX;
    case 'l': case 'q': return true;
    default: return v >= 0; /* 'L', 'Q' */
  }
}

static int read_int(const mproc_array_t *a, const void *p, int64_t *out) {
  switch (a->typecode) {
    case 'c': *out = *(const char *)p; return 0;
    case 'b': *out = *(const signed char *)p; return 0;
    case 'B': *out = *(const unsigned char *)p; return 0;
    case 'h': *out = *(const short *)p; return 0;
    case 'H': *out = *(const unsigned short *)p; return 0;
    case 'i': *out = *(const int *)p; return 0;
    case 'I': *out = *(const unsigned *)p; return 0;
    case 'l': *out = *(const long *)p; return 0;
    case 'q': *out = *(const long long *)p; return 0;
    case 'L': {
      unsigned long v = *(const unsigned long *)p;
      if (v > INT64_MAX) return MPROC_ERANGE;
      *out = (int64_t)v;
      return 0;
    }
    case 'Q': {
      unsigned long long v = *(const unsigned long long *)p;
      if (v > INT64_MAX) return MPROC_ERANGE;
      *out = (int64_t)v;
      return 0;
    }
    case 'f': {
      double d = *(const float *)p;
      if (!(d >= -0x1p63 && d < 0x1p63)) return MPROC_ERANGE;
      *out = (int64_t)d;
      return 0;
    }
    default: {
      double d = *(const double *)p;
      if (!(d >= -0x1p63 && d < 0x1p63)) return MPROC_ERANGE;
      *out = (int64_t)d;
      return 0;
    }
  }
}

static int write_int(const mproc_array_t *a, void *p, int64_t v) {
  char t = a->typecode;
  if (!is_float(t) && !fits(t, v)) return MPROC_ERANGE;
  switch (t) {
    case 'c': *(char *)p = (char)v; break;
    case 'b': *(signed char *)p = (signed char)v; break;
    case 'B': *(unsigned char *)p = (unsigned char)v; break;
    case 'h': *(short *)p = (short)v; break;
    case 'H': *(unsigned short *)p = (unsigned short)v; break;
    case 'i': *(int *)p = (int)v; break;
    case 'I': *(unsigned *)p = (unsigned)v; break;
    case 'l': *(long *)p = (long)v; break;
    case 'L': *(unsigned long *)p = (unsigned long)v; break;
    case 'q': *(long long *)p = (long long)v; break;
    case 'Q': *(unsigned long long *)p = (unsigned long long)v; break;
    case 'f': *(float *)p = (float)v; break;
    default: *(double *)p = (double)v; break;
  }
  return 0;
}

static int read_float(const mproc_array_t *a, const void *p, double *out) {
  if (a->typecode == 'f') {
    *out = *(const float *)p;
  } else if (a->typecode == 'd') {
    *out = *(const double *)p;
  } else {
    int64_t i;
    int rc = read_int(a, p, &i);
    if (rc < 0) {
      /* 'L'/'Q' above INT64_MAX are still numbers. */
      *out = a->typecode == 'L' ? (double)*(const unsigned long *)p
                                : (double)*(const unsigned long long *)p;
      return 0;
    }
    *out = (double)i;
  }
  return 0;
}

static int write_float(const mproc_array_t *a, void *p, double v) {
  if (a->typecode == 'f') {
    if (v == v && (v > FLT_MAX || v < -FLT_MAX) && v - v == 0)
      return MPROC_ERANGE; /* finite but beyond float */
    *(float *)p = (float)v;
    return 0;
  }
  if (a->typecode == 'd') {
    *(double *)p = v;
    return 0;
  }
  if (!(v >= -0x1p63 && v < 0x1p63)) return MPROC_ERANGE;
  return write_int(a, p, (int64_t)v);
}

static int access_item(mproc_array_t *a, size_t i, access_t what, void *io) {
  if (a == NULL || io == NULL)
    return mproc__einval(what == GET_INT     ? "mproc_array_get_int"
                         : what == SET_INT   ? "mproc_array_set_int"
                         : what == GET_FLOAT ? "mproc_array_get_float"
                                             : "mproc_array_set_float",
                         "%s is NULL", a == NULL ? "a" : "out");
  if (i >= a->n) return MPROC_ERANGE;
  void *p = (char *)a + DATA_OFFSET + i * a->itemsize;
  int locked = 0;
  if (a->has_lock) {
    locked = mproc__lockcore_acquire(&a->lock.core, UINT64_MAX);
    if (locked < 0 && locked != MPROC_EOWNERDEAD) return locked;
  }
  int rc;
  switch (what) {
    case GET_INT: rc = read_int(a, p, io); break;
    case SET_INT: rc = write_int(a, p, *(int64_t *)io); break;
    case GET_FLOAT: rc = read_float(a, p, io); break;
    default: rc = write_float(a, p, *(double *)io); break;
  }
  /* Taken just above by this thread: the release cannot be refused. */
  if (a->has_lock) MPROC__IGNORE(mproc__lockcore_release(&a->lock.core));
  if (rc == 0 && locked == MPROC_EOWNERDEAD) rc = locked;
  return rc;
}

int mproc_array_get_int(mproc_array_t *a, size_t i, int64_t *out) {
  return access_item(a, i, GET_INT, out);
}

int mproc_array_set_int(mproc_array_t *a, size_t i, int64_t v) {
  return access_item(a, i, SET_INT, &v);
}

int mproc_array_get_float(mproc_array_t *a, size_t i, double *out) {
  return access_item(a, i, GET_FLOAT, out);
}

int mproc_array_set_float(mproc_array_t *a, size_t i, double v) {
  return access_item(a, i, SET_FLOAT, &v);
}

void mproc_array_free(mproc_array_t *a) {
  if (a != NULL) mproc__shared_unmap(a, a->map_size);
}
