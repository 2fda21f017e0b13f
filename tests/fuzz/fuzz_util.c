/* Checks shared by the fuzz targets: see fuzz_util.h. */
#include "tests/fuzz/fuzz_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mproc_fuzz_fail(const char *file, int line, const char *what, int rc) {
  fprintf(stderr, "\n%s:%d: fuzz check failed: %s", file, line, what);
  if (rc != 0) fprintf(stderr, " (rc %d, %s)", rc, mproc_err_name(rc));
  fputc('\n', stderr);
  abort();
}

bool mproc_fuzz_has_nan(const mproc_value_t *v) {
  switch (mproc_value_kind(v)) {
    case MPROC_FLOAT: {
      double d = 0;
      mproc_value_get_float(v, &d);
      return isnan(d);
    }
    case MPROC_LIST:
    case MPROC_TUPLE:
      for (size_t i = 0; i < mproc_value_len(v); i++) {
        const mproc_value_t *item = NULL;
        FUZZ_CHECK(mproc_list_get(v, i, &item) == 0);
        /* Depth is bounded by MPROC_MAX_DEPTH, so is this recursion. */
        if (mproc_fuzz_has_nan(item)) return true;
      }
      return false;
    case MPROC_DICT:
      for (size_t i = 0; i < mproc_value_len(v); i++) {
        const mproc_value_t *item = NULL;
        FUZZ_CHECK(mproc_dict_item(v, i, NULL, &item) == 0);
        if (mproc_fuzz_has_nan(item)) return true;
      }
      return false;
    default:
      return false;
  }
}

uint8_t *mproc_fuzz_encode(const mproc_value_t *v, size_t *n) {
  size_t size = mproc_value_encoded_size(v);
  uint8_t *buf = malloc(size ? size : 1);
  FUZZ_CHECK(buf != NULL);
  int rc = mproc_value_encode(v, buf, size);
  FUZZ_CHECK_RC(rc >= 0 && (size_t)rc == size, rc);
  *n = size;
  return buf;
}

void mproc_fuzz_check_same(const mproc_value_t *a, const mproc_value_t *b) {
  FUZZ_CHECK((a == NULL) == (b == NULL));
  if (a == NULL) return;
  size_t na, nb;
  uint8_t *ea = mproc_fuzz_encode(a, &na);
  uint8_t *eb = mproc_fuzz_encode(b, &nb);
  FUZZ_CHECK(na == nb && memcmp(ea, eb, na) == 0);
  free(ea);
  free(eb);
  FUZZ_CHECK(mproc_value_kind(a) == mproc_value_kind(b));
  if (!mproc_fuzz_has_nan(a)) FUZZ_CHECK(mproc_value_equal(a, b));
}

void mproc_fuzz_check_repr(const mproc_value_t *v) {
  int n = mproc_repr(v, NULL, 0);
  FUZZ_CHECK_RC(n >= 0, n);
  char *whole = malloc((size_t)n + 1);
  FUZZ_CHECK(whole != NULL);
  FUZZ_CHECK(mproc_repr(v, whole, (size_t)n + 1) == n);
  /* Every character is printable (str and bytes escape the rest), so the
   * text has no NUL before its end. */
  FUZZ_CHECK(strlen(whole) == (size_t)n);
  size_t cuts[] = {1, 2, (size_t)n / 2 + 1, (size_t)n};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    size_t size = cuts[i];
    if (size == 0 || size > (size_t)n) continue;
    char *cut = malloc(size);
    FUZZ_CHECK(cut != NULL);
    FUZZ_CHECK(mproc_repr(v, cut, size) == n);
    FUZZ_CHECK(cut[size - 1] == '\0');
    FUZZ_CHECK(memcmp(cut, whole, size - 1) == 0);
    free(cut);
  }
  free(whole);
}

bool mproc_fuzz_decode_error_ok(int rc) {
  return rc == MPROC_EMALFORMED || rc == MPROC_EDEPTH || rc == MPROC_EUTF8 ||
         rc == MPROC_ENOMEM;
}
