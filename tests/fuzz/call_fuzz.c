/* Fuzz target: a Call payload (mproc__call_decode), what a Process child
 * and a pool worker decode.
 *
 * Decoding never crashes or leaks. A Call that decodes re-encodes into a
 * frame (mproc__call_encode_frame) that decodes to the same Call and, encoded
 * again, gives the same bytes; sending its args as a tuple or as an argv
 * array gives the same frame. The codec's generic implementation decodes
 * and encodes it alike (serialization/codec.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multiproc/frame.h"
#include "serialization/frame_internal.h"
#include "serialization/codec_testing.h"
#include "serialization/message.h"
#include "tests/fuzz/fuzz_util.h"

static void check_call(const mproc__call_in_t *c) {
  FUZZ_CHECK(c->target != NULL);
  FUZZ_CHECK(mproc_value_kind(c->args) == MPROC_TUPLE);
  FUZZ_CHECK(mproc_value_kind(c->kwargs) == MPROC_DICT);
}

/* The frame of c, checking its header against its length. */
static void encode(mproc__buf_t *out, const mproc__call_in_t *c,
                   const mproc_value_t *const *argv) {
  mproc__call_out_t o;
  memset(&o, 0, sizeof o);
  o.target = c->target;
  o.args = argv == NULL ? c->args : NULL;
  o.argv = argv;
  o.argc = argv == NULL ? 0 : mproc_value_len(c->args);
  o.kwargs = c->kwargs;
  o.id = c->id;
  o.mode = c->mode;
  o.first = c->first;
  memset(out, 0, sizeof *out);
  int rc = mproc__call_encode_frame(out, &o);
  FUZZ_CHECK_RC(rc == 0, rc);
  FUZZ_CHECK(out->len >= MPROC_FRAME_HEADER);
  FUZZ_CHECK(mproc__frame_get_header(out->p) ==
             out->len - MPROC_FRAME_HEADER);
}

/* The generic implementation: the same outcome, the same frame. */
static void check_generic_alike(const uint8_t *data, size_t size, int rc,
                                const mproc__call_in_t *c,
                                const mproc__buf_t *frame) {
  char why[256];
  snprintf(why, sizeof why, "%s", rc < 0 ? mproc_last_error() : "");
  mproc__codec_use_generic(1);
  mproc__call_in_t g;
  int grc = mproc__call_decode(&g, data, size);
  FUZZ_CHECK_RC(grc == rc, grc);
  if (rc == MPROC_EMALFORMED) FUZZ_CHECK(strcmp(why, mproc_last_error()) == 0);
  if (rc == 0) {
    FUZZ_CHECK(strcmp(c->target, g.target) == 0 && c->id == g.id);
    mproc_fuzz_check_same(c->args, g.args);
    mproc_fuzz_check_same(c->kwargs, g.kwargs);
    mproc__buf_t f;
    encode(&f, &g, NULL);
    FUZZ_CHECK(f.len == frame->len && memcmp(f.p, frame->p, f.len) == 0);
    mproc__buf_free(&f);
    mproc__call_in_clear(&g);
  }
  mproc__codec_use_generic(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mproc__call_in_t c;
  int rc = mproc__call_decode(&c, data, size);
  if (rc < 0) check_generic_alike(data, size, rc, NULL, NULL);
  if (rc < 0) {
    FUZZ_CHECK_RC(mproc_fuzz_decode_error_ok(rc), rc);
    FUZZ_CHECK(c.target == NULL && c.args == NULL && c.kwargs == NULL);
    return 0;
  }
  check_call(&c);
  mproc_fuzz_check_repr(c.args);
  mproc_fuzz_check_repr(c.kwargs);

  mproc__buf_t f1, f2, f3;
  encode(&f1, &c, NULL);
  mproc__call_in_t d;
  rc = mproc__call_decode(&d, f1.p + MPROC_FRAME_HEADER,
                          f1.len - MPROC_FRAME_HEADER);
  FUZZ_CHECK_RC(rc == 0, rc);
  check_call(&d);
  FUZZ_CHECK(strcmp(c.target, d.target) == 0);
  FUZZ_CHECK(c.id == d.id && c.mode == d.mode && c.first == d.first);
  mproc_fuzz_check_same(c.args, d.args);
  mproc_fuzz_check_same(c.kwargs, d.kwargs);
  encode(&f2, &d, NULL);
  FUZZ_CHECK(f1.len == f2.len && memcmp(f1.p, f2.p, f1.len) == 0);
  check_generic_alike(data, size, rc, &c, &f1);

  size_t argc = mproc_value_len(c.args);
  const mproc_value_t **argv = calloc(argc ? argc : 1, sizeof *argv);
  FUZZ_CHECK(argv != NULL);
  for (size_t i = 0; i < argc; i++)
    FUZZ_CHECK(mproc_list_get(c.args, i, &argv[i]) == 0);
  encode(&f3, &c, argv);
  FUZZ_CHECK(f1.len == f3.len && memcmp(f1.p, f3.p, f1.len) == 0);

  free(argv);
  mproc__buf_free(&f1);
  mproc__buf_free(&f2);
  mproc__buf_free(&f3);
  mproc__call_in_clear(&c);
  mproc__call_in_clear(&d);
  return 0;
}
