/* Values <-> mproc.wire.Value with nanopb's stream coding primitives: the
 * generic implementation (codec.h), the entry points that choose between
 * it and the fast one, and a lone value's encode and decode.
 *
 * The Value, List, Dict and Entry messages are written and read field by
 * field with pb_encode_tag/varint/string/fixed64 and pb_decode_tag/...
 * rather than through their generated descriptors: a value tree has one
 * message per node, and walking a descriptor for every int of a 100,000-item
 * list cost more than the data itself. The bytes are exactly what the
 * descriptors in wire.pb.c produce (fields in declaration order); the
 * surrounding Call and Report messages still go through pb_encode and
 * pb_decode, and the tests cross-check everything against protoc.
 *
 * nanopb's pb_encode_submessage sizes a submessage by encoding it once into
 * a counting stream, then again for real; nested n deep that is 2^n passes.
 * Values carry their exact encoded size instead (value_internal.h), so each
 * node is written once. A counting stream (no callback) just adds the
 * known size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/base/error_detail.h"
#include "core/base/hugemem.h"
#include "serialization/codec.h"
#include "serialization/codec_testing.h"
#include "serialization/value_ext.h"
#include "serialization/wire.pb.h"

enum {
  F_NONE = MPROC__F_NONE,
  F_BOOL = MPROC__F_BOOL,
  F_INT = MPROC__F_INT,
  F_FLOAT = MPROC__F_FLOAT,
  F_STR = MPROC__F_STR,
  F_BYTES = MPROC__F_BYTES,
  F_LIST = MPROC__F_LIST,
  F_DICT = MPROC__F_DICT,
  F_LIST_ITEMS = MPROC__F_LIST_ITEMS,
  F_LIST_TUPLE = MPROC__F_LIST_TUPLE,
  F_LIST_INTS = MPROC__F_LIST_INTS,
  F_LIST_FLOATS = MPROC__F_LIST_FLOATS,
  F_DICT_ENTRIES = MPROC__F_DICT_ENTRIES,
  F_ENTRY_KEY = MPROC__F_ENTRY_KEY,
  F_ENTRY_VALUE = MPROC__F_ENTRY_VALUE
};

int mproc__codec_generic;

void mproc__codec_use_generic(int on) { mproc__codec_generic = on != 0; }

/* The hand-written coding must follow wire.proto: the generated tags say
 * so at compile time. */
_Static_assert(F_NONE == mproc_wire_Value_none_tag &&
                   F_BOOL == mproc_wire_Value_bool_value_tag &&
                   F_INT == mproc_wire_Value_int_value_tag &&
                   F_FLOAT == mproc_wire_Value_float_value_tag &&
                   F_STR == mproc_wire_Value_str_value_tag &&
                   F_BYTES == mproc_wire_Value_bytes_value_tag &&
                   F_LIST == mproc_wire_Value_list_value_tag &&
                   F_DICT == mproc_wire_Value_dict_value_tag &&
                   F_LIST_ITEMS == mproc_wire_List_items_tag &&
                   F_LIST_TUPLE == mproc_wire_List_tuple_tag &&
                   F_LIST_INTS == mproc_wire_List_ints_tag &&
                   F_LIST_FLOATS == mproc_wire_List_floats_tag &&
                   F_DICT_ENTRIES == mproc_wire_Dict_entries_tag &&
                   F_ENTRY_KEY == mproc_wire_Entry_key_tag &&
                   F_ENTRY_VALUE == mproc_wire_Entry_value_tag,
               "codec.c's field numbers differ from wire.proto");

static bool counting(const pb_ostream_t *s) { return s->callback == NULL; }

/* A length-delimited field holding a value: tag, its kept size, its body. */
static bool enc_sub(pb_ostream_t *s, uint32_t field, const mproc_value_t *v) {
  return pb_encode_tag(s, PB_WT_STRING, field) &&
         pb_encode_varint(s, v->wsize) && mproc__genc_value(s, v);
}

static bool enc_entry(pb_ostream_t *s, const mproc__entry_t *e) {
  return pb_encode_tag(s, PB_WT_STRING, F_DICT_ENTRIES) &&
         pb_encode_varint(s, mproc__entry_size(e->klen, e->val)) &&
         pb_encode_tag(s, PB_WT_STRING, F_ENTRY_KEY) &&
         pb_encode_string(s, (const pb_byte_t *)e->key, e->klen) &&
         enc_sub(s, F_ENTRY_VALUE, e->val);
}

/* A packed field's payload: zigzag varints, or doubles. */
static bool enc_packed_payload(pb_ostream_t *s, const mproc_value_t *const *v,
                               size_t n, int homog) {
  for (size_t i = 0; i < n; i++) {
    bool ok = homog == MPROC__HOMOG_INTS ? pb_encode_svarint(s, v[i]->u.i)
                                         : pb_encode_fixed64(s, &v[i]->u.d);
    if (!ok) return false;
  }
  return true;
}

static bool enc_body(pb_ostream_t *s, const mproc_value_t *v) {
  switch ((mproc_kind_t)v->kind) {
    case MPROC_NONE:
      return pb_encode_tag(s, PB_WT_VARINT, F_NONE) && pb_encode_varint(s, 1);
    case MPROC_BOOL:
      return pb_encode_tag(s, PB_WT_VARINT, F_BOOL) &&
             pb_encode_varint(s, v->u.b);
    case MPROC_INT:
      return pb_encode_tag(s, PB_WT_VARINT, F_INT) &&
             pb_encode_svarint(s, v->u.i);
    case MPROC_FLOAT:
      return pb_encode_tag(s, PB_WT_64BIT, F_FLOAT) &&
             pb_encode_fixed64(s, &v->u.d);
    case MPROC_STR:
    case MPROC_BYTES:
      return pb_encode_tag(s, PB_WT_STRING,
                           v->kind == MPROC_STR ? F_STR : F_BYTES) &&
             pb_encode_string(s, (const pb_byte_t *)v->u.s.p, v->u.s.n);
    case MPROC_LIST:
    case MPROC_TUPLE: {
      if (!pb_encode_tag(s, PB_WT_STRING, F_LIST) ||
          !pb_encode_varint(s, v->inner))
        return false;
      bool tuple = v->kind == MPROC_TUPLE;
      const mproc_value_t *const *items =
          (const mproc_value_t *const *)v->u.seq.v;
      size_t n = v->u.seq.n;
      if (v->homog == MPROC__HOMOG_INTS || v->homog == MPROC__HOMOG_FLOATS) {
        /* Fields in number order, as protoc writes them: tuple, then the
         * packed items. */
        bool ints = v->homog == MPROC__HOMOG_INTS;
        return (!tuple || (pb_encode_tag(s, PB_WT_VARINT, F_LIST_TUPLE) &&
                           pb_encode_varint(s, 1))) &&
               pb_encode_tag(s, PB_WT_STRING,
                             ints ? F_LIST_INTS : F_LIST_FLOATS) &&
               pb_encode_varint(s, ints ? v->u.seq.ibytes : 8 * n) &&
               enc_packed_payload(s, items, n, v->homog);
      }
      for (size_t i = 0; i < n; i++)
        if (!enc_sub(s, F_LIST_ITEMS, items[i])) return false;
      return !tuple || (pb_encode_tag(s, PB_WT_VARINT, F_LIST_TUPLE) &&
                        pb_encode_varint(s, 1));
    }
    case MPROC_DICT:
      if (!pb_encode_tag(s, PB_WT_STRING, F_DICT) ||
          !pb_encode_varint(s, v->inner))
        return false;
      for (size_t i = 0; i < v->u.dict.n; i++)
        if (!enc_entry(s, &v->u.dict.e[i])) return false;
      return true;
  }
  return false;
}

bool mproc__genc_value(pb_ostream_t *s, const mproc_value_t *v) {
  if (counting(s)) return pb_write(s, NULL, v->wsize);
  size_t before = s->bytes_written;
  if (!enc_body(s, v)) return false;
  /* The kept size and the bytes written must agree, or every length
   * written around this value is wrong. */
  if (s->bytes_written - before != v->wsize) {
#ifndef PB_NO_ERRMSG
    s->errmsg = "value size bookkeeping mismatch";
#endif
    return false;
  }
  return true;
}

bool mproc__genc_value_field(pb_ostream_t *s, const pb_field_t *f,
                             const mproc_value_t *v) {
  return pb_encode_tag_for_field(s, f) && pb_encode_varint(s, v->wsize) &&
         mproc__genc_value(s, v);
}

bool mproc__genc_entries(pb_ostream_t *s, const pb_field_t *f,
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
    if (!pb_encode_tag(s, PB_WT_STRING, F_ENTRY_KEY) ||
        !pb_encode_string(s, (const pb_byte_t *)e->key, e->klen) ||
        !enc_sub(s, F_ENTRY_VALUE, e->val))
      return false;
  }
  return true;
}

bool mproc__genc_packed(pb_ostream_t *s, const pb_field_t *f,
                        const mproc_value_t *const *v, size_t n, int homog,
                        size_t payload) {
  if (!pb_encode_tag(s, PB_WT_STRING, f->tag) ||
      !pb_encode_varint(s, payload))
    return false;
  if (counting(s)) return pb_write(s, NULL, payload);
  return enc_packed_payload(s, v, n, homog);
}

int mproc__homog_of(const mproc_value_t *const *v, size_t n) {
  if (n == 0) return MPROC__HOMOG_EMPTY;
  uint8_t kind = v[0]->kind;
  if (kind != MPROC_INT && kind != MPROC_FLOAT) return MPROC__HOMOG_MIXED;
  for (size_t i = 1; i < n; i++)
    if (v[i]->kind != kind) return MPROC__HOMOG_MIXED;
  return kind == MPROC_INT ? MPROC__HOMOG_INTS : MPROC__HOMOG_FLOATS;
}

size_t mproc__packed_size(const mproc_value_t *const *v, size_t n,
                          int homog) {
  if (homog == MPROC__HOMOG_FLOATS) return 8 * n;
  size_t size = 0;
  for (size_t i = 0; i < n; i++) size += v[i]->wsize - 1; /* minus the tag */
  return size;
}

/* ---- The entry points: the fast implementation whenever it applies. */

bool mproc__enc_value_field(pb_ostream_t *s, const pb_field_t *f,
                            const mproc_value_t *v) {
  bool ok;
  if (!mproc__codec_generic && mproc__fenc_value_field(s, f, v, &ok))
    return ok;
  return mproc__genc_value_field(s, f, v);
}

bool mproc__enc_value(pb_ostream_t *s, const mproc_value_t *v) {
  return mproc__genc_value(s, v);
}

bool mproc__enc_entries(pb_ostream_t *s, const pb_field_t *f,
                        const mproc_value_t *dict) {
  bool ok;
  if (!mproc__codec_generic && mproc__fenc_entries(s, f, dict, &ok))
    return ok;
  return mproc__genc_entries(s, f, dict);
}

bool mproc__enc_packed(pb_ostream_t *s, const pb_field_t *f,
                       const mproc_value_t *const *v, size_t n, int homog,
                       size_t payload) {
  bool ok;
  if (!mproc__codec_generic &&
      mproc__fenc_packed(s, f, v, n, homog, payload, &ok))
    return ok;
  return mproc__genc_packed(s, f, v, n, homog, payload);
}

/* ---- Decoding. */

bool mproc__dec_blob(pb_istream_t *s, mproc__dctx_t *ctx, char **out,
                     size_t *n) {
  /* bytes_left is bounded by the input, which is already in memory: a
   * claimed length can never make this allocate more than was received. */
  size_t len = s->bytes_left;
  char *p = malloc(len + 1);
  if (p == NULL) return mproc__dfail(ctx, MPROC_ENOMEM, NULL);
  mproc__huge_hint(p, len + 1);
  if (!pb_read(s, (pb_byte_t *)p, len)) {
    free(p);
    return false;
  }
  p[len] = '\0';
  *out = p;
  *n = len;
  return true;
}

/* Runs dec(sub, arg) on the length-delimited field at the head of s. */
typedef bool (*sub_fn)(pb_istream_t *sub, void *arg);

static bool in_sub(pb_istream_t *s, sub_fn dec, void *arg) {
  pb_istream_t sub;
  if (!pb_make_string_substream(s, &sub)) return false;
  bool ok = dec(&sub, arg);
  return pb_close_string_substream(s, &sub) && ok;
}

typedef struct {
  mproc__dctx_t *ctx;
  int depth; /* of the container being filled */
  mproc_value_t *target;
  uint32_t source; /* the List field its items came from; 0: none yet */
} fill_t;

/* A List takes its items from one field only (wire.proto). */
static bool same_source(fill_t *f, uint32_t field) {
  if (f->source != 0 && f->source != field)
    return mproc__dfail(f->ctx, MPROC_EMALFORMED,
                        "a List mixing items, ints and floats");
  f->source = field;
  return true;
}

static bool dec_item(pb_istream_t *sub, void *arg) {
  fill_t *f = arg;
  mproc_value_t *item = NULL;
  if (!mproc__gdec_value(sub, f->ctx, f->depth, &item)) return false;
  if (!same_source(f, F_LIST_ITEMS)) {
    mproc__value_free_owned(item);
    return false;
  }
  int rc = mproc__seq_push(f->target, item);
  if (rc < 0) {
    mproc__value_free_owned(item);
    return mproc__dfail(f->ctx, rc, NULL);
  }
  return true;
}

/* One element of a packed field (or the lone element of an unpacked one)
 * as a new int or float value. */
static bool dec_scalar(pb_istream_t *s, mproc__dctx_t *ctx, mproc_kind_t kind,
                       mproc_value_t **out) {
  int64_t i = 0;
  double d = 0;
  if (kind == MPROC_INT ? !pb_decode_svarint(s, &i)
                        : !pb_decode_fixed64(s, &d))
    return false;
  mproc_value_t *v = mproc__value_alloc(kind);
  if (v == NULL) return mproc__dfail(ctx, MPROC_ENOMEM, NULL);
  if (kind == MPROC_INT) {
    v->u.i = i;
    mproc__scalar_resize(v);
  } else {
    v->u.d = d;
  }
  *out = v;
  return true;
}

/* Elements to seq: every one filling s (a packed field), or just one (an
 * unpacked element, inside the enclosing message). */
static bool dec_packed_into_list(pb_istream_t *s, fill_t *f,
                                 mproc_kind_t kind, bool all) {
  uint32_t field = kind == MPROC_INT ? F_LIST_INTS : F_LIST_FLOATS;
  do {
    mproc_value_t *v;
    if (!dec_scalar(s, f->ctx, kind, &v)) return false;
    if (!same_source(f, field)) {
      mproc__value_free_owned(v);
      return false;
    }
    int rc = mproc__seq_push(f->target, v);
    if (rc < 0) {
      mproc__value_free_owned(v);
      return mproc__dfail(f->ctx, rc, NULL);
    }
  } while (all && s->bytes_left > 0);
  return true;
}

static bool dec_ints_cb(pb_istream_t *sub, void *arg) {
  return sub->bytes_left == 0 ||
         dec_packed_into_list(sub, arg, MPROC_INT, true);
}

static bool dec_floats_cb(pb_istream_t *sub, void *arg) {
  return sub->bytes_left == 0 ||
         dec_packed_into_list(sub, arg, MPROC_FLOAT, true);
}

static bool dec_list(pb_istream_t *s, void *arg) {
  fill_t *f = arg;
  while (s->bytes_left > 0) {
    pb_wire_type_t wt;
    uint32_t tag;
    bool eof;
    if (!pb_decode_tag(s, &wt, &tag, &eof)) return eof;
    if (tag == F_LIST_ITEMS && wt == PB_WT_STRING) {
      if (!in_sub(s, dec_item, f)) return false;
    } else if (tag == F_LIST_TUPLE && wt == PB_WT_VARINT) {
      bool tuple;
      if (!pb_decode_bool(s, &tuple)) return false;
      if (tuple != (f->target->kind == MPROC_TUPLE)) {
        f->target->kind = tuple ? MPROC_TUPLE : MPROC_LIST;
        f->target->inner += tuple ? 2 : (size_t)-2;
        mproc__container_resize(f->target);
      }
    } else if (tag == F_LIST_INTS && wt == PB_WT_STRING) {
      if (!in_sub(s, dec_ints_cb, f)) return false;
    } else if (tag == F_LIST_INTS && wt == PB_WT_VARINT) {
      if (!dec_packed_into_list(s, f, MPROC_INT, false)) return false;
    } else if (tag == F_LIST_FLOATS && wt == PB_WT_STRING) {
      if (!in_sub(s, dec_floats_cb, f)) return false;
    } else if (tag == F_LIST_FLOATS && wt == PB_WT_64BIT) {
      if (!dec_packed_into_list(s, f, MPROC_FLOAT, false)) return false;
    } else if (tag >= F_LIST_ITEMS && tag <= F_LIST_FLOATS) {
      return mproc__dfail(f->ctx, MPROC_EMALFORMED,
                          "a List field with the wrong wire type");
    } else if (!pb_skip_field(s, wt)) {
      return false;
    }
  }
  return true;
}

static bool dec_entry_cb(pb_istream_t *sub, void *arg) {
  fill_t *f = arg;
  return mproc__gdec_entry(sub, f->ctx, f->depth, f->target);
}

static bool dec_dict(pb_istream_t *s, void *arg) {
  fill_t *f = arg;
  while (s->bytes_left > 0) {
    pb_wire_type_t wt;
    uint32_t tag;
    bool eof;
    if (!pb_decode_tag(s, &wt, &tag, &eof)) return eof;
    if (tag == F_DICT_ENTRIES && wt == PB_WT_STRING) {
      if (!in_sub(s, dec_entry_cb, f)) return false;
    } else if (tag == F_DICT_ENTRIES) {
      return mproc__dfail(f->ctx, MPROC_EMALFORMED,
                          "a Dict entry with the wrong wire type");
    } else if (!pb_skip_field(s, wt)) {
      return false;
    }
  }
  return true;
}

typedef struct {
  mproc__dctx_t *ctx;
  char *p;
  size_t n;
} blob_t;

static bool dec_blob_cb(pb_istream_t *sub, void *arg) {
  blob_t *b = arg;
  return mproc__dec_blob(sub, b->ctx, &b->p, &b->n);
}

/* The wire type each Value field must have. */
static pb_wire_type_t value_wire_type(uint32_t tag) {
  switch (tag) {
    case F_NONE:
    case F_BOOL:
    case F_INT:
      return PB_WT_VARINT;
    case F_FLOAT:
      return PB_WT_64BIT;
    default:
      return PB_WT_STRING;
  }
}

bool mproc__gdec_value(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                       mproc_value_t **out) {
  mproc_value_t *v = NULL;
  *out = NULL;
  while (s->bytes_left > 0) {
    pb_wire_type_t wt;
    uint32_t tag;
    bool eof;
    if (!pb_decode_tag(s, &wt, &tag, &eof)) {
      if (eof) break;
      goto fail;
    }
    if (tag < F_NONE || tag > F_DICT) {
      if (!pb_skip_field(s, wt)) goto fail;
      continue;
    }
    /* One kind per Value: a second kind field is malformed. */
    if (v != NULL) {
      mproc__dfail(ctx, MPROC_EMALFORMED, "two kinds in one Value");
      goto fail;
    }
    if (wt != value_wire_type(tag)) {
      mproc__dfail(ctx, MPROC_EMALFORMED,
                   "a Value field with the wrong wire type");
      goto fail;
    }
    switch (tag) {
      case F_NONE: {
        uint64_t ignored;
        if (!pb_decode_varint(s, &ignored)) goto fail;
        v = mproc__value_alloc(MPROC_NONE);
        break;
      }
      case F_BOOL: {
        bool b;
        if (!pb_decode_bool(s, &b)) goto fail;
        v = mproc__value_alloc(MPROC_BOOL);
        if (v != NULL) v->u.b = b;
        break;
      }
      case F_INT: {
        int64_t i;
        if (!pb_decode_svarint(s, &i)) goto fail;
        v = mproc__value_alloc(MPROC_INT);
        if (v != NULL) {
          v->u.i = i;
          mproc__scalar_resize(v);
        }
        break;
      }
      case F_FLOAT: {
        double d;
        if (!pb_decode_fixed64(s, &d)) goto fail;
        v = mproc__value_alloc(MPROC_FLOAT);
        if (v != NULL) v->u.d = d;
        break;
      }
      case F_STR:
      case F_BYTES: {
        blob_t b = {ctx, NULL, 0};
        if (!in_sub(s, dec_blob_cb, &b)) goto fail;
        v = mproc__value_alloc(tag == F_STR ? MPROC_STR : MPROC_BYTES);
        if (v == NULL) {
          free(b.p);
          break;
        }
        v->u.s.p = b.p;
        v->u.s.n = b.n;
        v->u.s.own = b.p;
        mproc__scalar_resize(v);
        if (tag == F_STR && !mproc__utf8_valid(b.p, b.n)) {
          mproc__dfail(ctx, MPROC_EUTF8, NULL);
          goto fail;
        }
        break;
      }
      default: { /* F_LIST, F_DICT */
        if (depth + 1 > MPROC_MAX_DEPTH) {
          mproc__dfail(ctx, MPROC_EDEPTH, NULL);
          goto fail;
        }
        v = mproc__value_alloc(tag == F_LIST ? MPROC_LIST : MPROC_DICT);
        if (v == NULL) break;
        fill_t f = {ctx, depth + 1, v, 0};
        if (!in_sub(s, tag == F_LIST ? dec_list : dec_dict, &f)) goto fail;
        break;
      }
    }
    if (v == NULL) {
      mproc__dfail(ctx, MPROC_ENOMEM, NULL);
      goto fail;
    }
  }
  if (v == NULL) {
    mproc__dfail(ctx, MPROC_EMALFORMED, "a Value with no kind");
    return false;
  }
  *out = v;
  return true;
fail:
  mproc__value_free_owned(v);
  return false;
}

typedef struct {
  mproc__dctx_t *ctx;
  int depth;
  char *key;
  size_t klen;
  mproc_value_t *val;
} entry_t;

static bool dec_entry_value(pb_istream_t *sub, void *arg) {
  entry_t *e = arg;
  return mproc__gdec_value(sub, e->ctx, e->depth, &e->val);
}

bool mproc__gdec_entry(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                       mproc_value_t *dict) {
  entry_t e = {ctx, depth, NULL, 0, NULL};
  bool ok = true;
  while (ok && s->bytes_left > 0) {
    pb_wire_type_t wt;
    uint32_t tag;
    bool eof;
    if (!pb_decode_tag(s, &wt, &tag, &eof)) {
      ok = eof;
      break;
    }
    if ((tag == F_ENTRY_KEY || tag == F_ENTRY_VALUE) && wt != PB_WT_STRING) {
      ok = mproc__dfail(ctx, MPROC_EMALFORMED,
                        "an Entry field with the wrong wire type");
    } else if (tag == F_ENTRY_KEY) {
      if (e.key != NULL) {
        ok = mproc__dfail(ctx, MPROC_EMALFORMED, "two keys in one Entry");
      } else {
        blob_t b = {ctx, NULL, 0};
        ok = in_sub(s, dec_blob_cb, &b);
        e.key = b.p;
        e.klen = b.n;
        if (ok && !mproc__utf8_valid(e.key, e.klen))
          ok = mproc__dfail(ctx, MPROC_EUTF8, NULL);
      }
    } else if (tag == F_ENTRY_VALUE) {
      ok = e.val == NULL ? in_sub(s, dec_entry_value, &e)
                         : mproc__dfail(ctx, MPROC_EMALFORMED,
                                        "two values in one Entry");
    } else {
      ok = pb_skip_field(s, wt);
    }
  }
  if (ok && (e.key == NULL || e.val == NULL))
    ok = mproc__dfail(ctx, MPROC_EMALFORMED,
                      e.key == NULL ? "an Entry without a key"
                                    : "an Entry without a value");
  if (ok) {
    /* A repeated key is malformed: Python's kwargs cannot have one. */
    int rc = mproc__dict_put(dict, e.key, e.klen, e.val, false);
    if (rc == MPROC_EKEY)
      ok = mproc__dfail(ctx, MPROC_EMALFORMED, "repeated dict key");
    else if (rc < 0)
      ok = mproc__dfail(ctx, rc, NULL);
  }
  if (!ok) mproc__value_free_owned(e.val);
  free(e.key);
  return ok;
}

bool mproc__gdec_packed(pb_istream_t *s, mproc__dctx_t *ctx,
                        mproc_kind_t kind, mproc_value_t *seq) {
  fill_t f = {ctx, 1, seq, 0};
  return s->bytes_left == 0 || dec_packed_into_list(s, &f, kind, true);
}

bool mproc__gdec_packed_array(pb_istream_t *s, mproc__dctx_t *ctx,
                              mproc_kind_t kind, mproc_value_t ***v,
                              size_t *n, size_t *cap) {
  while (s->bytes_left > 0) {
    if (*n == *cap) {
      size_t grown = *cap ? *cap * 2 : 8;
      mproc_value_t **p = realloc(*v, grown * sizeof *p);
      if (p == NULL) return mproc__dfail(ctx, MPROC_ENOMEM, NULL);
      *v = p;
      *cap = grown;
    }
    if (!dec_scalar(s, ctx, kind, &(*v)[*n])) return false;
    (*n)++;
  }
  return true;
}

/* ---- The entry points. */

bool mproc__dec_value(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                      mproc_value_t **out) {
  bool ok;
  if (!mproc__codec_generic && mproc__fdec_value_try(s, ctx, depth, out, &ok))
    return ok;
  return mproc__gdec_value(s, ctx, depth, out);
}

bool mproc__dec_entry(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                      mproc_value_t *dict) {
  bool ok;
  if (!mproc__codec_generic &&
      mproc__fdec_entry_try(s, ctx, depth, dict, &ok))
    return ok;
  return mproc__gdec_entry(s, ctx, depth, dict);
}

bool mproc__dec_packed(pb_istream_t *s, mproc__dctx_t *ctx, mproc_kind_t kind,
                       mproc_value_t *seq) {
  bool ok;
  if (!mproc__codec_generic &&
      mproc__fdec_packed_try(s, ctx, kind, seq, NULL, NULL, NULL, &ok))
    return ok;
  return mproc__gdec_packed(s, ctx, kind, seq);
}

bool mproc__dec_packed_array(pb_istream_t *s, mproc__dctx_t *ctx,
                             mproc_kind_t kind, mproc_value_t ***v, size_t *n,
                             size_t *cap) {
  bool ok;
  if (!mproc__codec_generic &&
      mproc__fdec_packed_try(s, ctx, kind, NULL, v, n, cap, &ok))
    return ok;
  return mproc__gdec_packed_array(s, ctx, kind, v, n, cap);
}

void mproc__inplace_finish(mproc__inplace_t *ip) {
  if (ip == NULL) return;
  for (unsigned i = 0; i < ip->nuls; i++) *ip->nul_at[i] = '\0';
  ip->nuls = 0;
}

int mproc__dresult(const mproc__dctx_t *ctx, const pb_istream_t *s,
                   const char *what) {
  if (ctx->err != 0 && ctx->err != MPROC_EMALFORMED) return ctx->err;
  return mproc__fail(MPROC_EMALFORMED, "malformed %s: %s", what,
                     ctx->why != NULL ? ctx->why : PB_GET_ERROR(s));
}

/* ---- A lone value (value.h). */

size_t mproc_value_encoded_size(const mproc_value_t *v) {
  return v == NULL ? 0 : v->wsize;
}

int mproc_value_encode(const mproc_value_t *v, void *buf, size_t size) {
  if (v == NULL || (buf == NULL && size > 0))
    return MPROC__EINVAL("%s", v == NULL ? "v is NULL"
                                         : "buf is NULL but size is not 0");
  if (v->wsize > (size_t)INT32_MAX) return MPROC_E2BIG;
  if (size < v->wsize) return MPROC_E2BIG;
  if (!mproc__codec_generic) {
    uint8_t *end = mproc__fenc_body(buf, v);
    return (int)(end - (uint8_t *)buf);
  }
  pb_ostream_t s = pb_ostream_from_buffer(buf, v->wsize);
  if (!mproc__genc_value(&s, v)) return MPROC_EMALFORMED;
  return (int)s.bytes_written;
}

int mproc_value_decode(mproc_value_t **out, const void *buf, size_t size) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (buf == NULL && size > 0)
    return MPROC__EINVAL("buf is NULL but size is not 0");
  pb_istream_t s = pb_istream_from_buffer(buf, size);
  mproc__dctx_t ctx = {0};
  bool ok;
  if (mproc__codec_generic) {
    ok = mproc__gdec_value(&s, &ctx, 0, out);
  } else {
    const char *nwhy = NULL;
    ok = mproc__fdec_value_buf(buf, size, &ctx, out, &nwhy);
#ifndef PB_NO_ERRMSG
    s.errmsg = nwhy;
#endif
  }
  if (!ok) return mproc__dresult(&ctx, &s, "Value");
  return 0;
}

/* ---- Values streamed to and from files (value_ext.h). */

#define STREAM_BUF ((size_t)64 << 10)

typedef struct {
  int fd;
  uint64_t off; /* where the next byte goes */
  uint8_t *buf;
  size_t len;
  int err;
} file_out_t;

static bool pwrite_all(file_out_t *o, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = pwrite(o->fd, p, n, (off_t)o->off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      o->err = w < 0 ? -errno : MPROC_EIO;
      return false;
    }
    p += w;
    n -= (size_t)w;
    o->off += (uint64_t)w;
  }
  return true;
}

static bool flush_out(file_out_t *o) {
  bool ok = pwrite_all(o, o->buf, o->len);
  o->len = 0;
  return ok;
}

static bool file_write_cb(pb_ostream_t *s, const pb_byte_t *p, size_t n) {
  file_out_t *o = s->state;
  if (n >= STREAM_BUF) return flush_out(o) && pwrite_all(o, p, n);
  if (o->len + n > STREAM_BUF && !flush_out(o)) return false;
  memcpy(o->buf + o->len, p, n);
  o->len += n;
  return true;
}

int mproc__value_write_fd(const mproc_value_t *v, int fd) {
  if (v == NULL || fd < 0) return MPROC_EINVAL;
  if (v->wsize > (size_t)INT32_MAX) return MPROC_E2BIG;
  file_out_t o = {fd, 0, malloc(STREAM_BUF), 0, 0};
  if (o.buf == NULL) return MPROC_ENOMEM;
  pb_ostream_t s;
  memset(&s, 0, sizeof s);
  s.callback = file_write_cb;
  s.state = &o;
  s.max_size = v->wsize;
  bool ok = mproc__enc_value(&s, v) && flush_out(&o);
  free(o.buf);
  if (ok) return 0;
  return o.err != 0 ? o.err : MPROC_EMALFORMED;
}

typedef struct {
  int fd;
  uint64_t off; /* the file offset of buf[len] */
  uint64_t end; /* the value's size: nothing is read beyond it */
  uint8_t *buf;
  size_t pos, len;
} file_in_t;

/* n bytes at the file's offset in->off into p. */
static bool pread_all(file_in_t *in, uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t r = pread(in->fd, p, n, (off_t)in->off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= (size_t)r;
    in->off += (uint64_t)r;
  }
  return true;
}

/* A large destination, freshly allocated, is about to be filled: its
 * pages are populated in one call rather than faulted in one at a time
 * (from 8 MiB; only the pages wholly inside the span). Advice only: a
 * kernel before 5.14 refuses, harmlessly. (Transparent huge pages were
 * tried too: faster when the kernel has them at hand, several times slower
 * when it must compact memory to find them.) */
static void prepare_span(void *p, size_t n) {
#ifdef MADV_POPULATE_WRITE
  if (n < ((size_t)8 << 20)) return;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
  uintptr_t end = ((uintptr_t)p + n) & ~(page - 1);
  if (end > start) (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
#else
  (void)p;
  (void)n;
#endif
}

static bool file_read_cb(pb_istream_t *s, pb_byte_t *p, size_t n) {
  file_in_t *in = s->state;
  size_t have = in->len - in->pos;
  size_t k = have < n ? have : n;
  memcpy(p, in->buf + in->pos, k);
  in->pos += k;
  p += k;
  n -= k;
  if (n == 0) return true;
  /* Large spans straight into the value's memory. */
  if (n >= STREAM_BUF) {
    prepare_span(p, n);
    return pread_all(in, p, n);
  }
  /* Refill: a buffer's worth, or what is left of the value. */
  uint64_t left = in->end - in->off;
  size_t want = left < STREAM_BUF ? (size_t)left : STREAM_BUF;
  (void)s;
  if (want < n || !pread_all(in, in->buf, want)) return false;
  in->pos = n;
  in->len = want;
  memcpy(p, in->buf, n);
  return true;
}

int mproc__value_read_fd(mproc_value_t **out, int fd, size_t size) {
  if (out == NULL) return MPROC_EINVAL;
  *out = NULL;
  if (fd < 0) return MPROC_EINVAL;
  file_in_t in = {fd, 0, size, malloc(STREAM_BUF), 0, 0};
  if (in.buf == NULL) return MPROC_ENOMEM;
  pb_istream_t s;
  memset(&s, 0, sizeof s);
  s.callback = file_read_cb;
  s.state = &in;
  s.bytes_left = size;
  mproc__dctx_t ctx = {0};
  bool ok = mproc__dec_value(&s, &ctx, 0, out);
  free(in.buf);
  if (ok) return 0;
  return mproc__dresult(&ctx, &s, "Value");
}
