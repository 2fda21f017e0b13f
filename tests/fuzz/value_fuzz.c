/* Fuzz target: one encoded value (mproc_value_decode).
 *
 * Whatever decodes must print (mproc_repr), copy, and survive a round trip:
 * encode, decode, encode again gives the same bytes (the encoding is
 * canonical) and an equal value. Whatever does not decode must fail with a
 * code the header promises, leaving nothing allocated (ASan's leak check).
 * The codec's generic implementation decodes it alike: the same value, or
 * the same code and reason (serialization/codec.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multiproc/value.h"
#include "serialization/codec_testing.h"
#include "tests/fuzz/fuzz_util.h"

/* The generic implementation's outcome for the same input. */
static void check_generic_alike(const uint8_t *data, size_t size, int rc,
                                const mproc_value_t *v) {
  char why[256];
  snprintf(why, sizeof why, "%s", rc < 0 ? mproc_last_error() : "");
  mproc__codec_use_generic(1);
  mproc_value_t *g = NULL;
  int grc = mproc_value_decode(&g, data, size);
  mproc__codec_use_generic(0);
  FUZZ_CHECK_RC(grc == rc, grc);
  if (rc == MPROC_EMALFORMED) FUZZ_CHECK(strcmp(why, mproc_last_error()) == 0);
  if (rc == 0) mproc_fuzz_check_same(v, g);
  mproc_value_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mproc_value_t *v = NULL;
  int rc = mproc_value_decode(&v, data, size);
  check_generic_alike(data, size, rc, v);
  if (rc < 0) {
    FUZZ_CHECK_RC(mproc_fuzz_decode_error_ok(rc), rc);
    FUZZ_CHECK(v == NULL);
    return 0;
  }
  FUZZ_CHECK_RC(rc == 0 && v != NULL, rc);
  FUZZ_CHECK(!mproc_value_is_owned(v));
  mproc_fuzz_check_repr(v);

  size_t n1, n2;
  uint8_t *e1 = mproc_fuzz_encode(v, &n1);
  mproc_value_t *w = NULL;
  rc = mproc_value_decode(&w, e1, n1);
  FUZZ_CHECK_RC(rc == 0, rc);
  uint8_t *e2 = mproc_fuzz_encode(w, &n2);
  FUZZ_CHECK(n1 == n2 && memcmp(e1, e2, n1) == 0);
  mproc_fuzz_check_same(v, w);

  mproc_value_t *copy = NULL;
  rc = mproc_value_copy(&copy, v);
  FUZZ_CHECK_RC(rc == 0, rc);
  mproc_fuzz_check_same(v, copy);

  free(e1);
  free(e2);
  mproc_value_free(v);
  mproc_value_free(w);
  mproc_value_free(copy);
  return 0;
}
