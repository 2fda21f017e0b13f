/* Call and Report messages (message.h) through nanopb, each encoded straight
 * into a frame: the payload size is known before encoding, so the frame
 * header is written first and the payload lands right after it — no
 * intermediate buffer, no copy. */
#include <stdlib.h>
#include <string.h>

#include "serialization/codec.h"
#include "multiproc/frame.h"
#include "serialization/frame_internal.h"
#include "serialization/message.h"
#include "serialization/wire.pb.h"

typedef struct {
  const char *p;
  size_t n;
} span_t;

static bool enc_span_cb(pb_ostream_t *s, const pb_field_t *f,
                        void *const *arg) {
  const span_t *sp = *arg;
  if (sp->p == NULL) return true; /* absent */
  return pb_encode_tag_for_field(s, f) &&
         pb_encode_string(s, (const pb_byte_t *)sp->p, sp->n);
}

/* Positional args or a chunk's results as they go out: item by item, or
 * packed when all ints or all floats (wire.proto). */
typedef struct {
  const mproc_value_t *const *v;
  size_t n;
  int homog;
  size_t payload; /* packed: the packed field's payload size */
} items_t;

static bool packed(const items_t *it);

static items_t items_of(const mproc_value_t *const *v, size_t n, int homog) {
  items_t it = {v, n, homog, 0};
  if (packed(&it)) it.payload = mproc__packed_size(v, n, homog);
  return it;
}

static bool packed(const items_t *it) {
  return it->homog == MPROC__HOMOG_INTS || it->homog == MPROC__HOMOG_FLOATS;
}

static size_t items_hint(const items_t *it) {
  if (packed(it)) return 8 + it->payload;
  size_t hint = 0;
  for (size_t i = 0; i < it->n; i++) hint += it->v[i]->wsize + 6;
  return hint;
}

static bool enc_items_cb(pb_ostream_t *s, const pb_field_t *f,
                         void *const *arg) {
  const items_t *it = *arg;
  for (size_t i = 0; i < it->n; i++)
    if (!mproc__enc_value_field(s, f, it->v[i])) return false;
  return true;
}

static bool enc_packed_cb(pb_ostream_t *s, const pb_field_t *f,
                          void *const *arg) {
  const items_t *it = *arg;
  return mproc__enc_packed(s, f, it->v, it->n, it->homog, it->payload);
}

/* Sets the callback of whichever of the three fields carries them. */
static void set_items(const items_t *it, pb_callback_t *values,
                      pb_callback_t *ints, pb_callback_t *floats) {
  if (it->n == 0) return;
  pb_callback_t *cb = it->homog == MPROC__HOMOG_INTS     ? ints
                      : it->homog == MPROC__HOMOG_FLOATS ? floats
                                                         : values;
  cb->funcs.encode = packed(it) ? enc_packed_cb : enc_items_cb;
  cb->arg = (void *)it;
}

static bool enc_kwargs_cb(pb_ostream_t *s, const pb_field_t *f,
                          void *const *arg) {
  return mproc__enc_entries(s, f, *arg);
}

static bool enc_result_cb(pb_ostream_t *s, const pb_field_t *f,
                          void *const *arg) {
  const mproc_value_t *v = *arg;
  return v == NULL || mproc__enc_value_field(s, f, v);
}

/* Encodes msg into out after a frame header. hint is about the size of its
 * variable parts: with room for that, one pass of the encoder does it and
 * the header is filled in afterwards; only a message that outgrows the
 * room is sized first (a counting pass, cheap: values report their kept
 * size) and encoded again. */
/* One pb_encode into s, big strings left out into holes when not NULL. */
static bool encode_into(pb_ostream_t *s, const pb_msgdesc_t *fields,
                        const void *msg, mproc__holes_t *holes) {
  if (holes == NULL) return pb_encode(s, fields, msg);
  mproc__hole_sink_t sink = {holes, s->state};
  holes->n = 0;
  holes->bytes = 0;
  mproc__holes_sink = &sink;
  bool ok = pb_encode(s, fields, msg);
  mproc__holes_sink = NULL;
  return ok;
}

static int encode_frame(mproc__buf_t *out, const pb_msgdesc_t *fields,
                        const void *msg, size_t hint, mproc__holes_t *holes) {
  size_t room = hint + 64;
  if (room < hint) return MPROC_ETOOBIG;
  int rc = mproc__buf_reserve(out, MPROC_FRAME_HEADER + room);
  if (rc < 0) return rc;
  room = out->cap - out->len - MPROC_FRAME_HEADER;
  if (room > UINT32_MAX) room = UINT32_MAX;
  uint8_t *hdr = out->p + out->len;
  pb_ostream_t fast = pb_ostream_from_buffer(hdr + MPROC_FRAME_HEADER, room);
  if (encode_into(&fast, fields, msg, holes)) {
    size_t total = fast.bytes_written + (holes ? holes->bytes : 0);
    if (total > UINT32_MAX) return MPROC_ETOOBIG;
    mproc__frame_put_header(hdr, (uint32_t)total);
    out->len += MPROC_FRAME_HEADER + fast.bytes_written;
    return 0;
  }
  size_t size = 0;
  if (!pb_get_encoded_size(&size, fields, msg)) return MPROC_EMALFORMED;
  if (size > UINT32_MAX) return MPROC_ETOOBIG;
  rc = mproc__buf_reserve(out, MPROC_FRAME_HEADER + size);
  if (rc < 0) return rc;
  hdr = out->p + out->len;
  mproc__frame_put_header(hdr, (uint32_t)size);
  pb_ostream_t s = pb_ostream_from_buffer(hdr + MPROC_FRAME_HEADER, size);
  if (!encode_into(&s, fields, msg, holes) ||
      s.bytes_written + (holes ? holes->bytes : 0) != size)
    return MPROC_EMALFORMED;
  out->len += MPROC_FRAME_HEADER + s.bytes_written;
  return 0;
}

int mproc__call_encode_frame(mproc__buf_t *out, const mproc__call_out_t *c) {
  if (out == NULL || c == NULL) return MPROC_EINVAL;
  if ((c->args && c->args->kind != MPROC_LIST &&
       c->args->kind != MPROC_TUPLE) ||
      (c->kwargs && c->kwargs->kind != MPROC_DICT))
    return MPROC_ETYPE;
  for (size_t i = 0; c->args == NULL && i < c->argc; i++)
    if (c->argv[i] == NULL) return MPROC_EINVAL;
  span_t target = {c->target, c->target ? strlen(c->target) : 0};
  items_t args =
      c->args != NULL
          ? items_of((const mproc_value_t *const *)c->args->u.seq.v,
                     c->args->u.seq.n, c->args->homog)
          : items_of(c->argv, c->argc, mproc__homog_of(c->argv, c->argc));
  mproc_wire_Call w;
  memset(&w, 0, sizeof w);
  w.target.funcs.encode = enc_span_cb;
  w.target.arg = &target;
  set_items(&args, &w.args, &w.int_args, &w.float_args);
  w.kwargs.funcs.encode = enc_kwargs_cb;
  w.kwargs.arg = (void *)c->kwargs;
  if (c->id != 0) {
    w.has_id = true;
    w.id = c->id;
  }
  if (c->mode != 0) {
    w.has_mode = true;
    w.mode = c->mode;
  }
  if (c->first != 0) {
    w.has_first = true;
    w.first = c->first;
  }
  size_t hint = target.n + items_hint(&args);
  if (c->kwargs != NULL) hint += c->kwargs->wsize;
  return encode_frame(out, mproc_wire_Call_fields, &w, hint, NULL);
}

typedef struct {
  mproc__dctx_t *ctx;
  char **p;
  size_t *n;
  const char *twice; /* the reason when the field comes twice */
} blob_dec_t;

static bool dec_span_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  blob_dec_t *b = *arg;
  if (*b->p != NULL) return mproc__dfail(b->ctx, MPROC_EMALFORMED, b->twice);
  return mproc__dec_blob(s, b->ctx, b->p, b->n);
}

typedef struct {
  mproc__dctx_t *ctx;
  mproc_value_t *target;
  uint32_t source; /* the field args came from (0: none yet) */
  const char *mixed; /* the reason when they come from two */
} args_dec_t;

/* Args (or results) come from one of their three fields only. */
static bool one_source(args_dec_t *a, uint32_t field) {
  if (a->source != 0 && a->source != field)
    return mproc__dfail(a->ctx, MPROC_EMALFORMED, a->mixed);
  a->source = field;
  return true;
}

static bool dec_arg_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  args_dec_t *a = *arg;
  if (!one_source(a, f->tag)) return false;
  mproc_value_t *item = NULL;
  /* Arguments sit inside the args tuple, at depth 1. */
  if (!mproc__dec_value(s, a->ctx, 1, &item)) return false;
  int rc = mproc__seq_push(a->target, item);
  if (rc < 0) {
    mproc_value_free(item);
    return mproc__dfail(a->ctx, rc, NULL);
  }
  return true;
}

static bool dec_packed_args_cb(pb_istream_t *s, const pb_field_t *f,
                               void **arg) {
  args_dec_t *a = *arg;
  if (s->bytes_left == 0) return true; /* an empty packed field */
  if (!one_source(a, f->tag)) return false;
  return mproc__dec_packed(s, a->ctx,
                           f->tag == mproc_wire_Call_int_args_tag ? MPROC_INT
                                                                  : MPROC_FLOAT,
                           a->target);
}

static bool dec_kwarg_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  args_dec_t *a = *arg;
  return mproc__dec_entry(s, a->ctx, 1, a->target);
}

void mproc__call_in_clear(mproc__call_in_t *c) {
  if (c == NULL) return;
  free(c->target);
  mproc_value_free(c->args);
  mproc_value_free(c->kwargs);
  memset(c, 0, sizeof *c);
}

int mproc__call_decode(mproc__call_in_t *c, const void *buf, size_t n) {
  return mproc__call_decode_inplace(c, buf, n, NULL);
}

int mproc__call_decode_inplace(mproc__call_in_t *c, const void *buf, size_t n,
                               mproc__inplace_t *inplace) {
  if (c == NULL || (buf == NULL && n > 0)) return MPROC_EINVAL;
  memset(c, 0, sizeof *c);
  mproc__dctx_t ctx = {0};
  ctx.inplace = inplace;
  size_t target_len = 0;
  c->args = mproc__value_alloc(MPROC_TUPLE);
  c->kwargs = mproc__value_alloc(MPROC_DICT);
  if (c->args == NULL || c->kwargs == NULL) {
    mproc__call_in_clear(c);
    return MPROC_ENOMEM;
  }
  blob_dec_t tb = {&ctx, &c->target, &target_len, "Call.target given twice"};
  args_dec_t ad = {&ctx, c->args, 0,
                   "Call args in more than one of args, int_args and "
                   "float_args"};
  args_dec_t kd = {&ctx, c->kwargs, 0, NULL};
  mproc_wire_Call w;
  memset(&w, 0, sizeof w);
  w.target.funcs.decode = dec_span_cb;
  w.target.arg = &tb;
  w.args.funcs.decode = dec_arg_cb;
  w.args.arg = &ad;
  w.int_args.funcs.decode = dec_packed_args_cb;
  w.int_args.arg = &ad;
  w.float_args.funcs.decode = dec_packed_args_cb;
  w.float_args.arg = &ad;
  w.kwargs.funcs.decode = dec_kwarg_cb;
  w.kwargs.arg = &kd;
  pb_istream_t s = pb_istream_from_buffer(buf, n);
  bool ok = pb_decode_ex(&s, mproc_wire_Call_fields, &w, PB_DECODE_NOINIT);
  if (ok && c->target == NULL) {
    c->target = calloc(1, 1);
    if (c->target == NULL) ok = mproc__dfail(&ctx, MPROC_ENOMEM, NULL);
  }
  if (ok && strlen(c->target) != target_len)
    ok = mproc__dfail(&ctx, MPROC_EMALFORMED, "a NUL inside Call.target");
  if (!ok) {
    mproc__call_in_clear(c);
    return mproc__dresult(&ctx, &s, "Call");
  }
  mproc__inplace_finish(inplace);
  c->id = w.id;
  c->mode = w.mode;
  c->first = w.first;
  return 0;
}

static bool enc_item_errors_cb(pb_ostream_t *s, const pb_field_t *f,
                               void *const *arg) {
  const mproc__report_t *r = *arg;
  for (size_t i = 0; i < r->n_item_errors; i++) {
    const mproc__item_error_t *e = &r->item_errors[i];
    span_t msg = {e->message, e->message ? strlen(e->message) : 0};
    mproc_wire_ItemError w;
    memset(&w, 0, sizeof w);
    w.has_index = w.has_code = true;
    w.index = e->index;
    w.code = e->code;
    w.has_error = e->error != 0;
    w.error = e->error;
    w.message.funcs.encode = enc_span_cb;
    w.message.arg = &msg;
    if (!pb_encode_tag_for_field(s, f) ||
        !pb_encode_submessage(s, mproc_wire_ItemError_fields, &w))
      return false;
  }
  return true;
}

int mproc__report_encode_frame(mproc__buf_t *out, const mproc__report_t *r) {
  return mproc__report_encode_frame_holes(out, r, NULL);
}

int mproc__report_encode_frame_holes(mproc__buf_t *out,
                                     const mproc__report_t *r,
                                     mproc__holes_t *holes) {
  if (out == NULL || r == NULL) return MPROC_EINVAL;
  if (holes != NULL) holes->n = 0, holes->bytes = 0;
  span_t msg = {r->message, r->message_len};
  mproc_wire_Report w;
  memset(&w, 0, sizeof w);
  w.has_kind = true;
  w.kind = (mproc_wire_Report_Kind)r->kind;
  w.has_id = r->id != 0;
  w.id = r->id;
  w.has_t_ns = true;
  w.t_ns = r->t_ns;
  w.has_code = true;
  w.code = r->code;
  w.message.funcs.encode = enc_span_cb;
  w.message.arg = &msg;
  w.result.funcs.encode = enc_result_cb;
  w.result.arg = r->result;
  w.has_t_enter_ns = r->t_enter_ns != 0;
  w.t_enter_ns = r->t_enter_ns;
  w.has_error = r->error != 0;
  w.error = r->error;
  /* Each written when set: absent means 0, so a decode-encode round trip
   * keeps all three whatever they are. */
  w.has_utime_us = r->utime_us != 0;
  w.has_stime_us = r->stime_us != 0;
  w.has_maxrss_kb = r->maxrss_kb != 0;
  w.utime_us = r->utime_us;
  w.stime_us = r->stime_us;
  w.maxrss_kb = r->maxrss_kb;
  w.has_pid = r->pid != 0;
  w.pid = r->pid;
  w.has_status = r->kind == MPROC__REPORT_EXITED;
  w.status = r->status;
  w.has_spilled = r->spilled != 0;
  w.spilled = r->spilled;
  if (r->n_item_errors > 0) {
    w.item_errors.funcs.encode = enc_item_errors_cb;
    w.item_errors.arg = (void *)r;
  }
  for (size_t i = 0; i < r->n_results; i++)
    if (r->results[i] == NULL) return MPROC_EINVAL;
  const mproc_value_t *const *rv = (const mproc_value_t *const *)r->results;
  items_t results = items_of(rv, r->n_results,
                             mproc__homog_of(rv, r->n_results));
  set_items(&results, &w.results, &w.int_results, &w.float_results);
  size_t hint = r->message_len + (r->result ? r->result->wsize : 0) +
                items_hint(&results);
  for (size_t i = 0; i < r->n_item_errors; i++)
    hint += 16 + (r->item_errors[i].message
                      ? strlen(r->item_errors[i].message)
                      : 0);
  /* The generic implementation (tests) writes every byte itself. */
  return encode_frame(out, mproc_wire_Report_fields, &w, hint,
                      mproc__codec_generic ? NULL : holes);
}

typedef struct {
  mproc__dctx_t *ctx;
  mproc_value_t **out;
} value_dec_t;

static bool dec_result_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  value_dec_t *v = *arg;
  if (*v->out != NULL)
    return mproc__dfail(v->ctx, MPROC_EMALFORMED, "Report.result given twice");
  return mproc__dec_value(s, v->ctx, 0, v->out);
}

typedef struct {
  mproc__dctx_t *ctx;
  mproc__report_t *r;
  size_t cap;
} item_errors_dec_t;

typedef struct {
  mproc__dctx_t *ctx;
  mproc__report_t *r;
  size_t cap;
  args_dec_t src; /* which of the three fields results come from */
} results_dec_t;

static bool dec_packed_results_cb(pb_istream_t *s, const pb_field_t *f,
                                  void **arg) {
  results_dec_t *d = *arg;
  if (s->bytes_left == 0) return true;
  if (!one_source(&d->src, f->tag)) return false;
  return mproc__dec_packed_array(
      s, d->ctx,
      f->tag == mproc_wire_Report_int_results_tag ? MPROC_INT : MPROC_FLOAT,
      &d->r->results, &d->r->n_results, &d->cap);
}

/* One more chunk result, decoded at depth 0 like a lone result. */
static bool dec_results_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  results_dec_t *d = *arg;
  if (!one_source(&d->src, f->tag)) return false;
  mproc__report_t *r = d->r;
  if (r->n_results == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 8;
    mproc_value_t **v = realloc(r->results, cap * sizeof *v);
    if (v == NULL) return mproc__dfail(d->ctx, MPROC_ENOMEM, NULL);
    r->results = v;
    d->cap = cap;
  }
  mproc_value_t *item = NULL;
  if (!mproc__dec_value(s, d->ctx, 0, &item)) return false;
  r->results[r->n_results++] = item;
  return true;
}

static bool dec_item_error_cb(pb_istream_t *s, const pb_field_t *f,
                              void **arg) {
  (void)f;
  item_errors_dec_t *d = *arg;
  mproc__report_t *r = d->r;
  if (r->n_item_errors == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 4;
    mproc__item_error_t *v = realloc(r->item_errors, cap * sizeof *v);
    if (v == NULL) return mproc__dfail(d->ctx, MPROC_ENOMEM, NULL);
    r->item_errors = v;
    d->cap = cap;
  }
  mproc__item_error_t *e = &r->item_errors[r->n_item_errors];
  memset(e, 0, sizeof *e);
  size_t len = 0;
  blob_dec_t mb = {d->ctx, &e->message, &len, "ItemError.message given twice"};
  mproc_wire_ItemError w;
  memset(&w, 0, sizeof w);
  w.message.funcs.decode = dec_span_cb;
  w.message.arg = &mb;
  if (!pb_decode_ex(s, mproc_wire_ItemError_fields, &w, PB_DECODE_NOINIT)) {
    free(e->message);
    return false;
  }
  e->index = w.index;
  e->code = w.code;
  e->error = w.error;
  r->n_item_errors++;
  return true;
}

void mproc__report_clear(mproc__report_t *r) {
  if (r == NULL) return;
  free(r->message);
  mproc_value_free(r->result);
  for (size_t i = 0; i < r->n_item_errors; i++) free(r->item_errors[i].message);
  free(r->item_errors);
  for (size_t i = 0; i < r->n_results; i++) mproc_value_free(r->results[i]);
  free(r->results);
  memset(r, 0, sizeof *r);
}

int mproc__report_decode(mproc__report_t *r, const void *buf, size_t n) {
  return mproc__report_decode_inplace(r, buf, n, NULL);
}

int mproc__report_decode_inplace(mproc__report_t *r, const void *buf,
                                 size_t n, mproc__inplace_t *inplace) {
  if (r == NULL || (buf == NULL && n > 0)) return MPROC_EINVAL;
  memset(r, 0, sizeof *r);
  mproc__dctx_t ctx = {0};
  ctx.inplace = inplace;
  blob_dec_t mb = {&ctx, &r->message, &r->message_len,
                   "Report.message given twice"};
  value_dec_t rb = {&ctx, &r->result};
  mproc_wire_Report w;
  memset(&w, 0, sizeof w);
  w.message.funcs.decode = dec_span_cb;
  w.message.arg = &mb;
  w.result.funcs.decode = dec_result_cb;
  w.result.arg = &rb;
  item_errors_dec_t ied = {&ctx, r, 0};
  w.item_errors.funcs.decode = dec_item_error_cb;
  w.item_errors.arg = &ied;
  results_dec_t rd = {&ctx, r, 0,
                      {&ctx, NULL, 0,
                       "Report results in more than one of results, "
                       "int_results and float_results"}};
  w.results.funcs.decode = dec_results_cb;
  w.results.arg = &rd;
  w.int_results.funcs.decode = dec_packed_results_cb;
  w.int_results.arg = &rd;
  w.float_results.funcs.decode = dec_packed_results_cb;
  w.float_results.arg = &rd;
  pb_istream_t s = pb_istream_from_buffer(buf, n);
  bool ok = pb_decode_ex(&s, mproc_wire_Report_fields, &w, PB_DECODE_NOINIT);
  if (ok && (!w.has_kind || w.kind < mproc_wire_Report_Kind_ENTERED ||
             w.kind > mproc_wire_Report_Kind_EXITED))
    ok = mproc__dfail(&ctx, MPROC_EMALFORMED, "a Report without a known kind");
  if (!ok) {
    mproc__report_clear(r);
    return mproc__dresult(&ctx, &s, "Report");
  }
  mproc__inplace_finish(inplace);
  r->kind = (int)w.kind;
  r->id = w.id;
  r->t_ns = w.t_ns;
  r->code = w.code;
  r->t_enter_ns = w.t_enter_ns;
  r->error = w.error;
  r->utime_us = w.utime_us;
  r->stime_us = w.stime_us;
  r->maxrss_kb = w.maxrss_kb;
  r->pid = w.pid;
  r->status = w.status;
  r->spilled = w.spilled;
  return 0;
}
