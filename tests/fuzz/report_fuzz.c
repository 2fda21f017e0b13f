/* Fuzz target: a Report payload (mproc__report_decode), what a parent and a
 * pool decode from their children.
 *
 * Decoding never crashes or leaks. A Report that decodes re-encodes into a
 * frame (mproc__report_encode_frame) that decodes to the same Report and,
 * encoded again, gives the same bytes. The codec's generic implementation
 * decodes and encodes it alike (serialization/codec.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multiproc/frame.h"
#include "serialization/frame_internal.h"
#include "serialization/codec_testing.h"
#include "serialization/message.h"
#include "tests/fuzz/fuzz_util.h"

static void encode(mproc__buf_t *out, const mproc__report_t *r) {
  memset(out, 0, sizeof *out);
  int rc = mproc__report_encode_frame(out, r);
  FUZZ_CHECK_RC(rc == 0, rc);
  FUZZ_CHECK(out->len >= MPROC_FRAME_HEADER);
  FUZZ_CHECK(mproc__frame_get_header(out->p) ==
             out->len - MPROC_FRAME_HEADER);
}

static bool same_text(const char *a, const char *b) {
  return (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0);
}

static void check_same(const mproc__report_t *a, const mproc__report_t *b) {
  FUZZ_CHECK(a->kind == b->kind && a->id == b->id && a->t_ns == b->t_ns &&
             a->code == b->code && a->t_enter_ns == b->t_enter_ns &&
             a->error == b->error);
  FUZZ_CHECK(a->maxrss_kb == b->maxrss_kb);
  FUZZ_CHECK(a->utime_us == b->utime_us && a->stime_us == b->stime_us);
  FUZZ_CHECK((a->message == NULL) == (b->message == NULL));
  FUZZ_CHECK(a->message_len == b->message_len);
  FUZZ_CHECK(a->message == NULL ||
             memcmp(a->message, b->message, a->message_len) == 0);
  mproc_fuzz_check_same(a->result, b->result);
  FUZZ_CHECK(a->n_item_errors == b->n_item_errors);
  for (size_t i = 0; i < a->n_item_errors; i++) {
    const mproc__item_error_t *x = &a->item_errors[i];
    const mproc__item_error_t *y = &b->item_errors[i];
    FUZZ_CHECK(x->index == y->index && x->code == y->code &&
               x->error == y->error);
    FUZZ_CHECK(same_text(x->message, y->message));
  }
}

/* The generic implementation: the same outcome, the same frame. */
static void check_generic_alike(const uint8_t *data, size_t size, int rc,
                                const mproc__report_t *r,
                                const mproc__buf_t *frame) {
  char why[256];
  snprintf(why, sizeof why, "%s", rc < 0 ? mproc_last_error() : "");
  mproc__codec_use_generic(1);
  mproc__report_t g;
  int grc = mproc__report_decode(&g, data, size);
  FUZZ_CHECK_RC(grc == rc, grc);
  if (rc == MPROC_EMALFORMED) FUZZ_CHECK(strcmp(why, mproc_last_error()) == 0);
  if (rc == 0) {
    check_same(r, &g);
    FUZZ_CHECK(r->n_results == g.n_results);
    for (size_t i = 0; i < r->n_results; i++)
      mproc_fuzz_check_same(r->results[i], g.results[i]);
    mproc__buf_t f;
    encode(&f, &g);
    FUZZ_CHECK(f.len == frame->len && memcmp(f.p, frame->p, f.len) == 0);
    mproc__buf_free(&f);
    mproc__report_clear(&g);
  }
  mproc__codec_use_generic(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mproc__report_t r;
  int rc = mproc__report_decode(&r, data, size);
  if (rc < 0) check_generic_alike(data, size, rc, NULL, NULL);
  if (rc < 0) {
    FUZZ_CHECK_RC(mproc_fuzz_decode_error_ok(rc), rc);
    FUZZ_CHECK(r.message == NULL && r.result == NULL &&
               r.item_errors == NULL);
    return 0;
  }
  FUZZ_CHECK(r.kind >= MPROC__REPORT_ENTERED &&
             r.kind <= MPROC__REPORT_EXITED);
  FUZZ_CHECK(r.message == NULL || r.message[r.message_len] == '\0');
  if (r.result != NULL) mproc_fuzz_check_repr(r.result);

  mproc__buf_t f1, f2;
  encode(&f1, &r);
  mproc__report_t d;
  rc = mproc__report_decode(&d, f1.p + MPROC_FRAME_HEADER,
                            f1.len - MPROC_FRAME_HEADER);
  FUZZ_CHECK_RC(rc == 0, rc);
  check_same(&r, &d);
  encode(&f2, &d);
  FUZZ_CHECK(f1.len == f2.len && memcmp(f1.p, f2.p, f1.len) == 0);
  check_generic_alike(data, size, rc, &r, &f1);

  mproc__buf_free(&f1);
  mproc__buf_free(&f2);
  mproc__report_clear(&r);
  mproc__report_clear(&d);
  return 0;
}
