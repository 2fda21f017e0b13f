/* Values <-> mproc.wire.Value through nanopb.
 *
 * nanopb's pb_encode_submessage sizes a submessage by encoding it once into
 * a counting stream, then again for real; nested n deep that is 2^n passes.
 * Values carry their exact encoded size instead (value_internal.h), so each
 * callback writes tag and length itself and encodes the body once. A
 * counting stream (no callback) just adds the known size.
 */
#include <stdlib.h>
#include <string.h>

#include "serialization/codec.h"
#include "serialization/wire.pb.h"

static bool counting(const pb_ostream_t *s) { return s->callback == NULL; }

static bool enc_blob_cb(pb_ostream_t *s, const pb_field_t *f,
                        void *const *arg) {
  const mproc_value_t *v = *arg;
  return pb_encode_tag_for_field(s, f) &&
         pb_encode_string(s, (const pb_byte_t *)v->u.s.p, v->u.s.n);
}

static bool enc_items_cb(pb_ostream_t *s, const pb_field_t *f,
                         void *const *arg) {
  return mproc__enc_items(s, f, *arg);
}

static bool enc_entries_cb(pb_ostream_t *s, const pb_field_t *f,
                           void *const *arg) {
  return mproc__enc_entries(s, f, *arg);
}

/* Value.list_value: a List message. */
static bool enc_list_cb(pb_ostream_t *s, const pb_field_t *f,
                        void *const *arg) {
  const mproc_value_t *seq = *arg;
  if (!pb_encode_tag_for_field(s, f) || !pb_encode_varint(s, seq->inner))
    return false;
  if (counting(s)) return pb_write(s, NULL, seq->inner);
  mproc_wire_List w;
  memset(&w, 0, sizeof w);
  w.items.funcs.encode = enc_items_cb;
  w.items.arg = (void *)seq;
  if (seq->kind == MPROC_TUPLE) w.has_tuple = w.tuple = true;
  return pb_encode(s, mproc_wire_List_fields, &w);
}

/* Value.dict_value: a Dict message. */
static bool enc_dict_cb(pb_ostream_t *s, const pb_field_t *f,
                        void *const *arg) {
  const mproc_value_t *dict = *arg;
  if (!pb_encode_tag_for_field(s, f) || !pb_encode_varint(s, dict->inner))
    return false;
  if (counting(s)) return pb_write(s, NULL, dict->inner);
  mproc_wire_Dict w;
  w.entries.funcs.encode = enc_entries_cb;
  w.entries.arg = (void *)dict;
  return pb_encode(s, mproc_wire_Dict_fields, &w);
}

bool mproc__enc_value(pb_ostream_t *s, const mproc_value_t *v) {
  if (counting(s)) return pb_write(s, NULL, v->wsize);
  mproc_wire_Value w;
  memset(&w, 0, sizeof w);
  switch ((mproc_kind_t)v->kind) {
    case MPROC_NONE:
      w.has_none = w.none = true;
      break;
    case MPROC_BOOL:
      w.has_bool_value = true;
      w.bool_value = v->u.b;
      break;
    case MPROC_INT:
      w.has_int_value = true;
      w.int_value = v->u.i;
      break;
    case MPROC_FLOAT:
      w.has_float_value = true;
      w.float_value = v->u.d;
      break;
    case MPROC_STR:
      w.str_value.funcs.encode = enc_blob_cb;
      w.str_value.arg = (void *)v;
      break;
    case MPROC_BYTES:
      w.bytes_value.funcs.encode = enc_blob_cb;
      w.bytes_value.arg = (void *)v;
      break;
    case MPROC_LIST:
    case MPROC_TUPLE:
      w.list_value.funcs.encode = enc_list_cb;
      w.list_value.arg = (void *)v;
      break;
    case MPROC_DICT:
      w.dict_value.funcs.encode = enc_dict_cb;
      w.dict_value.arg = (void *)v;
      break;
  }
  size_t before = s->bytes_written;
  if (!pb_encode(s, mproc_wire_Value_fields, &w)) return false;
  /* The kept size and nanopb's output must agree, or every length written
   * around this value is wrong. */
  if (s->bytes_written - before != v->wsize) {
#ifndef PB_NO_ERRMSG
    s->errmsg = "value size bookkeeping mismatch";
#endif
    return false;
  }
  return true;
}

bool mproc__enc_value_field(pb_ostream_t *s, const pb_field_t *f,
                            const mproc_value_t *v) {
  return pb_encode_tag_for_field(s, f) && pb_encode_varint(s, v->wsize) &&
         mproc__enc_value(s, v);
}

bool mproc__enc_items(pb_ostream_t *s, const pb_field_t *f,
                      const mproc_value_t *seq) {
  if (seq == NULL) return true;
  for (size_t i = 0; i < seq->u.seq.n; i++)
    if (!mproc__enc_value_field(s, f, seq->u.seq.v[i])) return false;
  return true;
}

static bool enc_key_cb(pb_ostream_t *s, const pb_field_t *f,
                       void *const *arg) {
  const mproc__entry_t *e = *arg;
  return pb_encode_tag_for_field(s, f) &&
         pb_encode_string(s, (const pb_byte_t *)e->key, e->klen);
}

static bool enc_entry_value_cb(pb_ostream_t *s, const pb_field_t *f,
                               void *const *arg) {
  const mproc__entry_t *e = *arg;
  return mproc__enc_value_field(s, f, e->val);
}

bool mproc__enc_entries(pb_ostream_t *s, const pb_field_t *f,
                        const mproc_value_t *dict) {
  if (dict == NULL) return true;
  for (size_t i = 0; i < dict->u.dict.n; i++) {
    const mproc__entry_t *e = &dict->u.dict.e[i];
    size_t esize = mproc__entry_size(e->klen, e->val);
    if (!pb_encode_tag_for_field(s, f) || !pb_encode_varint(s, esize))
      return false;
    if (counting(s)) {
      if (!pb_write(s, NULL, esize)) return false;
      continue;
    }
    mproc_wire_Entry w;
    w.key.funcs.encode = enc_key_cb;
    w.key.arg = (void *)e;
    w.value.funcs.encode = enc_entry_value_cb;
    w.value.arg = (void *)e;
    if (!pb_encode(s, mproc_wire_Entry_fields, &w)) return false;
  }
  return true;
}

/* ---- Decoding. */

typedef struct {
  mproc__dctx_t *ctx;
  int depth;           /* depth of the value being decoded */
  mproc_value_t *node; /* set by a callback field */
} vdec_t;

typedef struct {
  mproc__dctx_t *ctx;
  int depth;             /* depth of the container */
  mproc_value_t *target; /* container being filled */
} cdec_t;

bool mproc__dec_blob(pb_istream_t *s, mproc__dctx_t *ctx, char **out,
                     size_t *n) {
  /* bytes_left is bounded by the input, which is already in memory: a
   * claimed length can never make this allocate more than was received. */
  size_t len = s->bytes_left;
  char *p = malloc(len + 1);
  if (p == NULL) return mproc__dfail(ctx, MPROC_ENOMEM);
  if (!pb_read(s, (pb_byte_t *)p, len)) {
    free(p);
    return false;
  }
  p[len] = '\0';
  *out = p;
  *n = len;
  return true;
}

static bool dec_blob(pb_istream_t *s, vdec_t *st, mproc_kind_t kind) {
  if (st->node != NULL) return mproc__dfail(st->ctx, MPROC_EMALFORMED);
  mproc_value_t *v = mproc__value_alloc(kind);
  if (v == NULL) return mproc__dfail(st->ctx, MPROC_ENOMEM);
  if (!mproc__dec_blob(s, st->ctx, &v->u.s.p, &v->u.s.n)) {
    free(v);
    return false;
  }
  mproc__scalar_resize(v);
  st->node = v;
  if (kind == MPROC_STR && !mproc__utf8_valid(v->u.s.p, v->u.s.n))
    return mproc__dfail(st->ctx, MPROC_EUTF8);
  return true;
}

static bool dec_str_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  return dec_blob(s, *arg, MPROC_STR);
}

static bool dec_bytes_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  return dec_blob(s, *arg, MPROC_BYTES);
}

static bool dec_item_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  cdec_t *c = *arg;
  mproc_value_t *item = NULL;
  if (!mproc__dec_value(s, c->ctx, c->depth, &item)) return false;
  int rc = mproc__seq_push(c->target, item);
  if (rc < 0) {
    mproc_value_free(item);
    return mproc__dfail(c->ctx, rc);
  }
  return true;
}

static bool dec_entry_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  cdec_t *c = *arg;
  return mproc__dec_entry(s, c->ctx, c->depth, c->target);
}

/* A new container for a list/dict field, refused past the depth limit. */
static mproc_value_t *open_container(vdec_t *st, mproc_kind_t kind) {
  if (st->node != NULL) {
    mproc__dfail(st->ctx, MPROC_EMALFORMED);
    return NULL;
  }
  if (st->depth + 1 > MPROC_MAX_DEPTH) {
    mproc__dfail(st->ctx, MPROC_EDEPTH);
    return NULL;
  }
  mproc_value_t *v = mproc__value_alloc(kind);
  if (v == NULL) mproc__dfail(st->ctx, MPROC_ENOMEM);
  st->node = v; /* freed by the caller on failure */
  return v;
}

static bool dec_list_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  vdec_t *st = *arg;
  mproc_value_t *seq = open_container(st, MPROC_LIST);
  if (seq == NULL) return false;
  cdec_t c = {st->ctx, st->depth + 1, seq};
  mproc_wire_List w;
  memset(&w, 0, sizeof w);
  w.items.funcs.decode = dec_item_cb;
  w.items.arg = &c;
  if (!pb_decode_ex(s, mproc_wire_List_fields, &w, PB_DECODE_NOINIT))
    return false;
  if (w.has_tuple && w.tuple) {
    seq->kind = MPROC_TUPLE;
    seq->inner += 2;
    mproc__container_resize(seq);
  }
  return true;
}

static bool dec_dict_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  vdec_t *st = *arg;
  mproc_value_t *dict = open_container(st, MPROC_DICT);
  if (dict == NULL) return false;
  cdec_t c = {st->ctx, st->depth + 1, dict};
  mproc_wire_Dict w;
  w.entries.funcs.decode = dec_entry_cb;
  w.entries.arg = &c;
  return pb_decode_ex(s, mproc_wire_Dict_fields, &w, PB_DECODE_NOINIT);
}

bool mproc__dec_value(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                      mproc_value_t **out) {
  vdec_t st = {ctx, depth, NULL};
  mproc_wire_Value w;
  memset(&w, 0, sizeof w);
  w.str_value.funcs.decode = dec_str_cb;
  w.str_value.arg = &st;
  w.bytes_value.funcs.decode = dec_bytes_cb;
  w.bytes_value.arg = &st;
  w.list_value.funcs.decode = dec_list_cb;
  w.list_value.arg = &st;
  w.dict_value.funcs.decode = dec_dict_cb;
  w.dict_value.arg = &st;
  bool ok = pb_decode_ex(s, mproc_wire_Value_fields, &w, PB_DECODE_NOINIT);
  int set = (st.node != NULL) + w.has_none + w.has_bool_value +
            w.has_int_value + w.has_float_value;
  if (ok && set != 1) ok = mproc__dfail(ctx, MPROC_EMALFORMED);
  if (ok && st.node == NULL) {
    mproc_kind_t kind = w.has_none         ? MPROC_NONE
                        : w.has_bool_value ? MPROC_BOOL
                        : w.has_int_value  ? MPROC_INT
                                           : MPROC_FLOAT;
    st.node = mproc__value_alloc(kind);
    if (st.node == NULL) {
      ok = mproc__dfail(ctx, MPROC_ENOMEM);
    } else if (kind == MPROC_BOOL) {
      st.node->u.b = w.bool_value;
    } else if (kind == MPROC_INT) {
      st.node->u.i = w.int_value;
      mproc__scalar_resize(st.node);
    } else if (kind == MPROC_FLOAT) {
      st.node->u.d = w.float_value;
    }
  }
  if (!ok) {
    mproc__value_free_owned(st.node);
    *out = NULL;
    return false;
  }
  *out = st.node;
  return true;
}

typedef struct {
  mproc__dctx_t *ctx;
  int depth;
  char *key;
  size_t klen;
  mproc_value_t *val;
} edec_t;

static bool dec_key_cb(pb_istream_t *s, const pb_field_t *f, void **arg) {
  (void)f;
  edec_t *e = *arg;
  if (e->key != NULL) return mproc__dfail(e->ctx, MPROC_EMALFORMED);
  if (!mproc__dec_blob(s, e->ctx, &e->key, &e->klen)) return false;
  if (!mproc__utf8_valid(e->key, e->klen))
    return mproc__dfail(e->ctx, MPROC_EUTF8);
  return true;
}

static bool dec_entry_value_cb(pb_istream_t *s, const pb_field_t *f,
                               void **arg) {
  (void)f;
  edec_t *e = *arg;
  if (e->val != NULL) return mproc__dfail(e->ctx, MPROC_EMALFORMED);
  return mproc__dec_value(s, e->ctx, e->depth, &e->val);
}

bool mproc__dec_entry(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                      mproc_value_t *dict) {
  edec_t e = {ctx, depth, NULL, 0, NULL};
  mproc_wire_Entry w;
  w.key.funcs.decode = dec_key_cb;
  w.key.arg = &e;
  w.value.funcs.decode = dec_entry_value_cb;
  w.value.arg = &e;
  bool ok = pb_decode_ex(s, mproc_wire_Entry_fields, &w, PB_DECODE_NOINIT);
  if (ok && (e.key == NULL || e.val == NULL))
    ok = mproc__dfail(ctx, MPROC_EMALFORMED);
  if (ok) {
    /* A repeated key is malformed: Python's kwargs cannot have one. */
    int rc = mproc__dict_put(dict, e.key, e.klen, e.val, false);
    if (rc < 0) ok = mproc__dfail(ctx, rc == MPROC_EKEY ? MPROC_EMALFORMED : rc);
  }
  if (!ok) mproc__value_free_owned(e.val);
  free(e.key);
  return ok;
}

/* ---- A lone value (value.h). */

size_t mproc_value_encoded_size(const mproc_value_t *v) {
  return v == NULL ? 0 : v->wsize;
}

int mproc_value_encode(const mproc_value_t *v, void *buf, size_t size) {
  if (v == NULL || (buf == NULL && size > 0)) return MPROC_EINVAL;
  if (v->wsize > (size_t)INT32_MAX) return MPROC_E2BIG;
  if (size < v->wsize) return MPROC_E2BIG;
  pb_ostream_t s = pb_ostream_from_buffer(buf, v->wsize);
  if (!mproc__enc_value(&s, v)) return MPROC_EMALFORMED;
  return (int)s.bytes_written;
}

int mproc_value_decode(mproc_value_t **out, const void *buf, size_t size) {
  if (out == NULL) return MPROC_EINVAL;
  *out = NULL;
  if (buf == NULL && size > 0) return MPROC_EINVAL;
  pb_istream_t s = pb_istream_from_buffer(buf, size);
  mproc__dctx_t ctx = {0};
  if (!mproc__dec_value(&s, &ctx, 0, out))
    return ctx.err ? ctx.err : MPROC_EMALFORMED;
  return 0;
}
