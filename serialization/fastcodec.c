/* The fast implementation of the value codec (codec.h): the same bytes as
 * codec.c's generic one, written and read on the memory of a buffer stream
 * instead of through nanopb's per-byte stream calls, decoded nodes from
 * slab chunks (slab.h), big strings left where they arrived when the
 * caller allows it.
 *
 * The decoder follows codec.c's generic decoder step by step — the same
 * checks in the same order, the same codes and reasons — and reads varints
 * as nanopb 0.4.7 does (pb_decode_varint32, pb_decode_varint: the same
 * values accepted, the same words for what is refused). codec_test checks
 * the two against each other and against nanopb's primitives.
 */
#include <stdlib.h>
#include <string.h>

#include "core/base/hugemem.h"
#include "serialization/codec.h"
#include "serialization/slab.h"

/* ---- Streams: is this one a buffer stream, and where is its memory?
 * nanopb's buffer streams keep their position in `state` (a pointer, moved
 * on by each read or write) — what pb_istream_from_buffer and
 * pb_ostream_from_buffer set up; codec_test checks the library does so. */

static bool buffer_istream(const pb_istream_t *s) {
  static const pb_byte_t none[1];
  return s->callback == pb_istream_from_buffer(none, 0).callback;
}

static bool buffer_ostream(const pb_ostream_t *s) {
  return s->callback != NULL &&
         s->callback == pb_ostream_from_buffer(NULL, 0).callback;
}

/* ---- Encoding. */

static inline uint8_t *put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

static inline uint8_t *put_zigzag(uint8_t *p, int64_t i) {
  return put_varint(p, ((uint64_t)i << 1) ^ (uint64_t)(i >> 63));
}

static inline uint8_t *put_tag(uint8_t *p, uint32_t field, unsigned wt) {
  return put_varint(p, (uint64_t)field << 3 | wt);
}

static inline uint8_t *put_double(uint8_t *p, double d) {
  memcpy(p, &d, 8); /* protobuf's fixed64 is little endian, as x86 is */
  return p + 8;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "fixed64 is written with memcpy: a little-endian host");

static uint8_t *put_packed(uint8_t *p, const mproc_value_t *const *v, size_t n,
                           int homog) {
  if (homog == MPROC__HOMOG_INTS) {
    for (size_t i = 0; i < n; i++) p = put_zigzag(p, v[i]->u.i);
  } else {
    for (size_t i = 0; i < n; i++) p = put_double(p, v[i]->u.d);
  }
  return p;
}

_Thread_local mproc__hole_sink_t *mproc__holes_sink
    __attribute__((tls_model("initial-exec")));

static uint8_t *put_entry(uint8_t *p, const mproc__entry_t *e) {
  p = put_tag(p, MPROC__F_ENTRY_KEY, PB_WT_STRING);
  p = put_varint(p, e->klen);
  memcpy(p, e->key, e->klen);
  p += e->klen;
  p = put_tag(p, MPROC__F_ENTRY_VALUE, PB_WT_STRING);
  p = put_varint(p, e->val->wsize);
  return mproc__fenc_body(p, e->val);
}

uint8_t *mproc__fenc_body(uint8_t *p, const mproc_value_t *v) {
  switch ((mproc_kind_t)v->kind) {
    case MPROC_NONE:
      *p++ = MPROC__F_NONE << 3 | PB_WT_VARINT;
      *p++ = 1;
      return p;
    case MPROC_BOOL:
      *p++ = MPROC__F_BOOL << 3 | PB_WT_VARINT;
      *p++ = v->u.b ? 1 : 0;
      return p;
    case MPROC_INT:
      *p++ = MPROC__F_INT << 3 | PB_WT_VARINT;
      return put_zigzag(p, v->u.i);
    case MPROC_FLOAT:
      *p++ = MPROC__F_FLOAT << 3 | PB_WT_64BIT;
      return put_double(p, v->u.d);
    case MPROC_STR:
    case MPROC_BYTES:
      *p++ = (uint8_t)((v->kind == MPROC_STR ? MPROC__F_STR : MPROC__F_BYTES)
                           << 3 |
                       PB_WT_STRING);
      p = put_varint(p, v->u.s.n);
      if (v->u.s.n >= MPROC__HOLE_MIN && mproc__holes_sink != NULL &&
          mproc__holes_sink->holes->n < MPROC__HOLES_MAX) {
        /* Left out: written from where it lies (message.h's holes). */
        mproc__holes_t *h = mproc__holes_sink->holes;
        mproc__hole_t *hole = &h->v[h->n++];
        hole->at = (size_t)(p - mproc__holes_sink->base) + h->bytes;
        hole->src = v->u.s.p;
        hole->n = v->u.s.n;
        h->bytes += v->u.s.n;
        return p;
      }
      if (v->u.s.n > 0) memcpy(p, v->u.s.p, v->u.s.n);
      return p + v->u.s.n;
    case MPROC_LIST:
    case MPROC_TUPLE: {
      *p++ = MPROC__F_LIST << 3 | PB_WT_STRING;
      p = put_varint(p, v->inner);
      bool tuple = v->kind == MPROC_TUPLE;
      const mproc_value_t *const *items =
          (const mproc_value_t *const *)v->u.seq.v;
      size_t n = v->u.seq.n;
      if (v->homog == MPROC__HOMOG_INTS || v->homog == MPROC__HOMOG_FLOATS) {
        bool ints = v->homog == MPROC__HOMOG_INTS;
        if (tuple) {
          *p++ = MPROC__F_LIST_TUPLE << 3 | PB_WT_VARINT;
          *p++ = 1;
        }
        p = put_tag(p, ints ? MPROC__F_LIST_INTS : MPROC__F_LIST_FLOATS,
                    PB_WT_STRING);
        p = put_varint(p, ints ? v->u.seq.ibytes : 8 * n);
        return put_packed(p, items, n, v->homog);
      }
      for (size_t i = 0; i < n; i++) {
        *p++ = MPROC__F_LIST_ITEMS << 3 | PB_WT_STRING;
        p = put_varint(p, items[i]->wsize);
        p = mproc__fenc_body(p, items[i]);
      }
      if (tuple) {
        *p++ = MPROC__F_LIST_TUPLE << 3 | PB_WT_VARINT;
        *p++ = 1;
      }
      return p;
    }
    case MPROC_DICT:
      *p++ = MPROC__F_DICT << 3 | PB_WT_STRING;
      p = put_varint(p, v->inner);
      for (size_t i = 0; i < v->u.dict.n; i++) {
        const mproc__entry_t *e = &v->u.dict.e[i];
        *p++ = MPROC__F_DICT_ENTRIES << 3 | PB_WT_STRING;
        p = put_varint(p, mproc__entry_size(e->klen, e->val));
        p = put_entry(p, e);
      }
      return p;
  }
  return p;
}

/* Room for n bytes at the stream's position, or NULL (it is full: as
 * nanopb, say so). */
static uint8_t *room(pb_ostream_t *s, size_t n) {
  if (s->max_size - s->bytes_written < n) {
#ifndef PB_NO_ERRMSG
    if (s->errmsg == NULL) s->errmsg = "stream full";
#endif
    return NULL;
  }
  return s->state;
}

static void advance(pb_ostream_t *s, uint8_t *p) {
  size_t n = (size_t)(p - (uint8_t *)s->state);
  s->state = p;
  s->bytes_written += n;
}

/* The tag of a length-delimited field numbered f->tag. */
static size_t ld_tag_size(const pb_field_t *f) {
  return mproc__varint_size((uint64_t)f->tag << 3 | PB_WT_STRING);
}

bool mproc__fenc_value_field(pb_ostream_t *s, const pb_field_t *f,
                             const mproc_value_t *v, bool *ok) {
  size_t n = ld_tag_size(f) + mproc__varint_size(v->wsize) + v->wsize;
  if (s->callback == NULL) {
    *ok = pb_write(s, NULL, n);
    return true;
  }
  if (!buffer_ostream(s)) return false;
  uint8_t *p = room(s, n);
  if (p == NULL) return *ok = false, true;
  p = put_tag(p, f->tag, PB_WT_STRING);
  p = put_varint(p, v->wsize);
  p = mproc__fenc_body(p, v);
  advance(s, p);
  return *ok = true, true;
}

bool mproc__fenc_entries(pb_ostream_t *s, const pb_field_t *f,
                         const mproc_value_t *dict, bool *ok) {
  if (dict == NULL) return *ok = true, true;
  size_t total = 0, tag = ld_tag_size(f);
  for (size_t i = 0; i < dict->u.dict.n; i++) {
    const mproc__entry_t *e = &dict->u.dict.e[i];
    size_t es = mproc__entry_size(e->klen, e->val);
    total += tag + mproc__varint_size(es) + es;
  }
  if (s->callback == NULL) {
    *ok = pb_write(s, NULL, total);
    return true;
  }
  if (!buffer_ostream(s)) return false;
  uint8_t *p = room(s, total);
  if (p == NULL) return *ok = false, true;
  for (size_t i = 0; i < dict->u.dict.n; i++) {
    const mproc__entry_t *e = &dict->u.dict.e[i];
    p = put_tag(p, f->tag, PB_WT_STRING);
    p = put_varint(p, mproc__entry_size(e->klen, e->val));
    p = put_entry(p, e);
  }
  advance(s, p);
  return *ok = true, true;
}

bool mproc__fenc_packed(pb_ostream_t *s, const pb_field_t *f,
                        const mproc_value_t *const *v, size_t n, int homog,
                        size_t payload, bool *ok) {
  size_t total = ld_tag_size(f) + mproc__varint_size(payload) + payload;
  if (s->callback == NULL) {
    *ok = pb_write(s, NULL, total);
    return true;
  }
  if (!buffer_ostream(s)) return false;
  uint8_t *p = room(s, total);
  if (p == NULL) return *ok = false, true;
  p = put_tag(p, f->tag, PB_WT_STRING);
  p = put_varint(p, payload);
  p = put_packed(p, v, n, homog);
  advance(s, p);
  return *ok = true, true;
}

/* ---- Decoding. */

typedef struct {
  const uint8_t *p, *end;
} rd_t;

/* The bytes p[0..n): p may be NULL when n is 0 (no arithmetic on it then:
 * NULL + 0 is undefined in C). */
static rd_t rd_of(const void *p, size_t n) {
  const uint8_t *b = p;
  rd_t r = {b, n ? b + n : b};
  return r;
}

typedef struct {
  mproc__dctx_t *ctx;
  const char *nwhy; /* nanopb's word for the first failure it would see */
} fdec_t;

/* A failure nanopb's primitives would report: the first one is kept. */
static bool nfail(fdec_t *d, const char *why) {
  if (d->nwhy == NULL && d->ctx->err == 0) d->nwhy = why;
  return false;
}

/* pb_decode_varint32, byte for byte. */
static bool rd_v32(fdec_t *d, rd_t *r, uint32_t *out) {
  if (r->p == r->end) return nfail(d, "end-of-stream");
  uint8_t byte = *r->p++;
  if ((byte & 0x80) == 0) {
    *out = byte;
    return true;
  }
  unsigned bitpos = 7;
  uint32_t result = byte & 0x7F;
  do {
    if (r->p == r->end) return nfail(d, "end-of-stream");
    byte = *r->p++;
    if (bitpos >= 32) {
      uint8_t sign_extension = bitpos < 63 ? 0xFF : 0x01;
      bool valid = (byte & 0x7F) == 0x00 ||
                   ((result >> 31) != 0 && byte == sign_extension);
      if (bitpos >= 64 || !valid) return nfail(d, "varint overflow");
    } else if (bitpos == 28) {
      if ((byte & 0x70) != 0 && (byte & 0x78) != 0x78)
        return nfail(d, "varint overflow");
      result |= (uint32_t)(byte & 0x0F) << bitpos;
    } else {
      result |= (uint32_t)(byte & 0x7F) << bitpos;
    }
    bitpos += 7;
  } while (byte & 0x80);
  *out = result;
  return true;
}

/* pb_decode_varint, byte for byte (the common short case first). */
static inline bool rd_v64(fdec_t *d, rd_t *r, uint64_t *out) {
  if (r->p != r->end && (*r->p & 0x80) == 0) {
    *out = *r->p++;
    return true;
  }
  unsigned bitpos = 0;
  uint64_t result = 0;
  uint8_t byte;
  do {
    if (r->p == r->end) return nfail(d, "end-of-stream");
    byte = *r->p++;
    if (bitpos >= 63 && (byte & 0xFE) != 0) return nfail(d, "varint overflow");
    result |= (uint64_t)(byte & 0x7F) << bitpos;
    bitpos += 7;
  } while (byte & 0x80);
  *out = result;
  return true;
}

static inline bool rd_zigzag(fdec_t *d, rd_t *r, int64_t *out) {
  uint64_t v = 0;
  if (!rd_v64(d, r, &v)) return false;
  *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
  return true;
}

static inline bool rd_double(fdec_t *d, rd_t *r, double *out) {
  if (r->end - r->p < 8) {
    r->p = r->end; /* pb_read gives up without moving; nothing reads on */
    return nfail(d, "end-of-stream");
  }
  memcpy(out, r->p, 8);
  r->p += 8;
  return true;
}

/* pb_decode_tag: tag and wire type. */
static inline bool rd_tag(fdec_t *d, rd_t *r, unsigned *wt, uint32_t *tag) {
  uint32_t t;
  if (r->p != r->end && (*r->p & 0x80) == 0) {
    t = *r->p++;
  } else if (!rd_v32(d, r, &t)) {
    return false;
  }
  *tag = t >> 3;
  *wt = t & 7;
  return true;
}

/* pb_skip_field. */
static bool rd_skip(fdec_t *d, rd_t *r, unsigned wt) {
  switch (wt) {
    case PB_WT_VARINT:
      do {
        if (r->p == r->end) return nfail(d, "end-of-stream");
      } while (*r->p++ & 0x80);
      return true;
    case PB_WT_64BIT:
    case PB_WT_32BIT: {
      size_t n = wt == PB_WT_64BIT ? 8 : 4;
      if ((size_t)(r->end - r->p) < n) return nfail(d, "end-of-stream");
      r->p += n;
      return true;
    }
    case PB_WT_STRING: {
      uint32_t len;
      if (!rd_v32(d, r, &len)) return false;
      if ((size_t)(r->end - r->p) < len) return nfail(d, "end-of-stream");
      r->p += len;
      return true;
    }
    default:
      return nfail(d, "invalid wire_type");
  }
}

/* pb_make_string_substream: the next length-delimited field's body. */
static bool rd_sub(fdec_t *d, rd_t *r, rd_t *sub) {
  uint32_t len;
  if (!rd_v32(d, r, &len)) return false;
  if ((size_t)(r->end - r->p) < len)
    return nfail(d, "parent stream too short");
  sub->p = r->p;
  sub->end = r->p + len;
  r->p += len;
  return true;
}

/* A new node as mproc__value_alloc makes it, from the slab. */
static mproc_value_t *fnode(mproc_kind_t kind) {
  mproc_value_t *v = mproc__slab_node();
  if (v == NULL) return NULL;
  v->kind = (uint8_t)kind;
  switch (kind) {
    case MPROC_LIST:
    case MPROC_DICT:
      v->depth = 1;
      v->wsize = 2; /* tag + zero length */
      break;
    case MPROC_NONE:
    case MPROC_BOOL:
      v->wsize = 2;
      break;
    case MPROC_FLOAT:
      v->wsize = 9;
      break;
    default:
      break;
  }
  return v;
}

/* The bytes of a string or bytes value: copied next to its node, or into
 * the heap, or left where they are (codec.h's in-place strings). */
static bool take_blob(fdec_t *d, const uint8_t *p, size_t n,
                      mproc_value_t *v) {
  mproc__inplace_t *ip = d->ctx->inplace;
  /* Its NUL goes on the byte after it: a tag of the input, or past the
   * input's end, which only a spare byte allows. */
  if (ip != NULL && n >= MPROC__INPLACE_MIN && ip->nuls < 8 &&
      (p + n < ip->end || ip->spare)) {
    v->u.s.p = (char *)p;
    v->u.s.own = ip->adopt;
    ip->adopt = NULL;
    ip->nul_at[ip->nuls++] = (uint8_t *)p + n;
  } else {
    char *c = mproc__slab_bytes(n + 1);
    v->u.s.own = NULL;
    if (c == NULL) {
      c = malloc(n + 1);
      if (c == NULL) return mproc__dfail(d->ctx, MPROC_ENOMEM, NULL);
      mproc__huge_hint(c, n + 1);
      v->u.s.own = c;
    }
    if (n > 0) memcpy(c, p, n);
    c[n] = '\0';
    v->u.s.p = c;
  }
  v->u.s.n = n;
  v->wsize = mproc__ld_size(n);
  return true;
}

/* UTF-8 check with a word at a time over ASCII. */
static bool utf8_valid(const char *s, size_t n) {
  size_t i = 0;
  while (i + 8 <= n) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (w & 0x8080808080808080u) break;
    i += 8;
  }
  return mproc__utf8_valid(s + i, n - i);
}

static bool fdec_value(fdec_t *d, rd_t *r, int depth, mproc_value_t **out);
static bool fdec_entry(fdec_t *d, rd_t *r, int depth, mproc_value_t *dict);

static bool push(fdec_t *d, mproc_value_t *seq, mproc_value_t *item) {
  int rc = mproc__seq_push(seq, item);
  if (rc < 0) {
    mproc__value_free_owned(item);
    return mproc__dfail(d->ctx, rc, NULL);
  }
  return true;
}

/* Items of a List from one field only (wire.proto). */
static bool same_source(fdec_t *d, uint32_t *source, uint32_t field) {
  if (*source != 0 && *source != field)
    return mproc__dfail(d->ctx, MPROC_EMALFORMED,
                        "a List mixing items, ints and floats");
  *source = field;
  return true;
}

static mproc_value_t *scalar_node(mproc_kind_t kind, int64_t i, double x) {
  mproc_value_t *v = fnode(kind);
  if (v == NULL) return NULL;
  if (kind == MPROC_INT) {
    v->u.i = i;
    v->wsize = 1 + mproc__zigzag_size(i);
  } else {
    v->u.d = x;
  }
  return v;
}

/* Elements of kind to seq (when not NULL, its items from `field` only) or
 * to the array *arr: every one filling r when all, else one. */
static bool fdec_scalars(fdec_t *d, rd_t *r, mproc_kind_t kind, bool all,
                         mproc_value_t *seq, uint32_t *source,
                         uint32_t field, mproc_value_t ***arr, size_t *n,
                         size_t *cap) {
  /* A packed field holds at most one element per byte (ints) or per 8
   * bytes: room for them all at once, so pushing reallocates nothing. */
  size_t most = all ? (kind == MPROC_INT ? (size_t)(r->end - r->p)
                                         : (size_t)(r->end - r->p) / 8 + 1)
                    : 1;
  if (seq != NULL && most > 1) {
    size_t ends = 0;
    if (kind == MPROC_INT) /* one element per byte without the 0x80 bit */
      for (const uint8_t *q = r->p; q < r->end; q++) ends += *q < 0x80;
    else
      ends = most;
    if (mproc__seq_reserve(seq, ends) < 0)
      return mproc__dfail(d->ctx, MPROC_ENOMEM, NULL);
  }
  /* Into a list that holds nothing else: appended without mproc__seq_push's
   * bookkeeping per item, the list's sizes set once at the end. */
  int homog = kind == MPROC_INT ? MPROC__HOMOG_INTS : MPROC__HOMOG_FLOATS;
  bool bulk = seq != NULL && (seq->homog == MPROC__HOMOG_EMPTY ||
                              seq->homog == homog);
  bool ok = true;
  do {
    int64_t i = 0;
    double x = 0;
    if (kind == MPROC_INT ? !rd_zigzag(d, r, &i) : !rd_double(d, r, &x)) {
      ok = false;
      break;
    }
    mproc_value_t *v = scalar_node(kind, i, x);
    if (v == NULL) {
      ok = mproc__dfail(d->ctx, MPROC_ENOMEM, NULL);
      break;
    }
    if (seq != NULL) {
      if (!same_source(d, source, field)) {
        mproc__value_free_owned(v);
        ok = false;
        break;
      }
      if (bulk && seq->u.seq.n < seq->u.seq.cap) {
        if (seq->homog == MPROC__HOMOG_EMPTY) {
          seq->homog = (uint8_t)homog;
          seq->u.seq.ibytes = 0;
        }
        seq->u.seq.v[seq->u.seq.n++] = v;
        v->owned = 1;
        if (kind == MPROC_INT) seq->u.seq.ibytes += v->wsize - 1;
      } else if (!push(d, seq, v)) {
        ok = false;
        break;
      }
    } else {
      if (*n == *cap) {
        size_t grown = *cap ? *cap * 2 : 8;
        if (grown < most) grown = most;
        mproc_value_t **g = realloc(*arr, grown * sizeof *g);
        if (g == NULL) {
          mproc__value_free_owned(v);
          ok = mproc__dfail(d->ctx, MPROC_ENOMEM, NULL);
          break;
        }
        *arr = g;
        *cap = grown;
      }
      (*arr)[(*n)++] = v;
    }
  } while (all && r->p < r->end);
  if (bulk && seq->homog == homog) {
    size_t tuple = seq->kind == MPROC_TUPLE ? 2 : 0;
    seq->inner = tuple + mproc__ld_size(kind == MPROC_INT
                                            ? seq->u.seq.ibytes
                                            : 8 * seq->u.seq.n);
    mproc__container_resize(seq);
  }
  return ok;
}

static bool fdec_list(fdec_t *d, rd_t *r, int depth, mproc_value_t *list) {
  uint32_t source = 0;
  while (r->p < r->end) {
    unsigned wt;
    uint32_t tag;
    if (!rd_tag(d, r, &wt, &tag)) return false;
    if (tag == MPROC__F_LIST_ITEMS && wt == PB_WT_STRING) {
      rd_t sub;
      if (!rd_sub(d, r, &sub)) return false;
      mproc_value_t *item = NULL;
      if (!fdec_value(d, &sub, depth, &item)) return false;
      if (!same_source(d, &source, MPROC__F_LIST_ITEMS)) {
        mproc__value_free_owned(item);
        return false;
      }
      if (!push(d, list, item)) return false;
    } else if (tag == MPROC__F_LIST_TUPLE && wt == PB_WT_VARINT) {
      uint32_t t;
      if (!rd_v32(d, r, &t)) return false;
      bool tuple = t != 0;
      if (tuple != (list->kind == MPROC_TUPLE)) {
        list->kind = tuple ? MPROC_TUPLE : MPROC_LIST;
        list->inner += tuple ? 2 : (size_t)-2;
        mproc__container_resize(list);
      }
    } else if ((tag == MPROC__F_LIST_INTS || tag == MPROC__F_LIST_FLOATS) &&
               wt == PB_WT_STRING) {
      rd_t sub;
      if (!rd_sub(d, r, &sub)) return false;
      mproc_kind_t kind = tag == MPROC__F_LIST_INTS ? MPROC_INT : MPROC_FLOAT;
      if (sub.p < sub.end &&
          !fdec_scalars(d, &sub, kind, true, list, &source, tag, NULL, NULL,
                        NULL))
        return false;
    } else if ((tag == MPROC__F_LIST_INTS && wt == PB_WT_VARINT) ||
               (tag == MPROC__F_LIST_FLOATS && wt == PB_WT_64BIT)) {
      mproc_kind_t kind = tag == MPROC__F_LIST_INTS ? MPROC_INT : MPROC_FLOAT;
      if (!fdec_scalars(d, r, kind, false, list, &source, tag, NULL, NULL,
                        NULL))
        return false;
    } else if (tag >= MPROC__F_LIST_ITEMS && tag <= MPROC__F_LIST_FLOATS) {
      return mproc__dfail(d->ctx, MPROC_EMALFORMED,
                          "a List field with the wrong wire type");
    } else if (!rd_skip(d, r, wt)) {
      return false;
    }
  }
  return true;
}

static bool fdec_dict(fdec_t *d, rd_t *r, int depth, mproc_value_t *dict) {
  while (r->p < r->end) {
    unsigned wt;
    uint32_t tag;
    if (!rd_tag(d, r, &wt, &tag)) return false;
    if (tag == MPROC__F_DICT_ENTRIES && wt == PB_WT_STRING) {
      rd_t sub;
      if (!rd_sub(d, r, &sub)) return false;
      if (!fdec_entry(d, &sub, depth, dict)) return false;
    } else if (tag == MPROC__F_DICT_ENTRIES) {
      return mproc__dfail(d->ctx, MPROC_EMALFORMED,
                          "a Dict entry with the wrong wire type");
    } else if (!rd_skip(d, r, wt)) {
      return false;
    }
  }
  return true;
}

static unsigned value_wire_type(uint32_t tag) {
  switch (tag) {
    case MPROC__F_NONE:
    case MPROC__F_BOOL:
    case MPROC__F_INT:
      return PB_WT_VARINT;
    case MPROC__F_FLOAT:
      return PB_WT_64BIT;
    default:
      return PB_WT_STRING;
  }
}

static bool fdec_value(fdec_t *d, rd_t *r, int depth, mproc_value_t **out) {
  mproc_value_t *v = NULL;
  *out = NULL;
  /* The common case, a lone int field, straight through. */
  if (r->end - r->p >= 2 && r->p[0] == (MPROC__F_INT << 3 | PB_WT_VARINT)) {
    rd_t t = {r->p + 1, r->end};
    int64_t i;
    if (rd_zigzag(d, &t, &i) && t.p == t.end) {
      v = scalar_node(MPROC_INT, i, 0);
      if (v == NULL) return mproc__dfail(d->ctx, MPROC_ENOMEM, NULL);
      r->p = t.p;
      *out = v;
      return true;
    }
    d->nwhy = NULL; /* not the simple case: decode it step by step */
  }
  while (r->p < r->end) {
    unsigned wt;
    uint32_t tag;
    if (!rd_tag(d, r, &wt, &tag)) goto fail;
    if (tag < MPROC__F_NONE || tag > MPROC__F_DICT) {
      if (!rd_skip(d, r, wt)) goto fail;
      continue;
    }
    if (v != NULL) {
      mproc__dfail(d->ctx, MPROC_EMALFORMED, "two kinds in one Value");
      goto fail;
    }
    if (wt != value_wire_type(tag)) {
      mproc__dfail(d->ctx, MPROC_EMALFORMED,
                   "a Value field with the wrong wire type");
      goto fail;
    }
    switch (tag) {
      case MPROC__F_NONE: {
        uint64_t ignored;
        if (!rd_v64(d, r, &ignored)) goto fail;
        v = fnode(MPROC_NONE);
        break;
      }
      case MPROC__F_BOOL: {
        uint32_t b;
        if (!rd_v32(d, r, &b)) goto fail;
        v = fnode(MPROC_BOOL);
        if (v != NULL) v->u.b = b != 0;
        break;
      }
      case MPROC__F_INT: {
        int64_t i;
        if (!rd_zigzag(d, r, &i)) goto fail;
        v = scalar_node(MPROC_INT, i, 0);
        break;
      }
      case MPROC__F_FLOAT: {
        double x;
        if (!rd_double(d, r, &x)) goto fail;
        v = scalar_node(MPROC_FLOAT, 0, x);
        break;
      }
      case MPROC__F_STR:
      case MPROC__F_BYTES: {
        rd_t sub;
        if (!rd_sub(d, r, &sub)) goto fail;
        size_t n = (size_t)(sub.end - sub.p);
        /* As the generic decoder: the bytes first, then the node. */
        v = fnode(tag == MPROC__F_STR ? MPROC_STR : MPROC_BYTES);
        if (v == NULL) break;
        if (!take_blob(d, sub.p, n, v)) goto fail;
        if (tag == MPROC__F_STR && !utf8_valid(v->u.s.p, n)) {
          mproc__dfail(d->ctx, MPROC_EUTF8, NULL);
          goto fail;
        }
        break;
      }
      default: { /* F_LIST, F_DICT */
        if (depth + 1 > MPROC_MAX_DEPTH) {
          mproc__dfail(d->ctx, MPROC_EDEPTH, NULL);
          goto fail;
        }
        v = fnode(tag == MPROC__F_LIST ? MPROC_LIST : MPROC_DICT);
        if (v == NULL) break;
        rd_t sub;
        if (!rd_sub(d, r, &sub)) goto fail;
        bool ok = tag == MPROC__F_LIST ? fdec_list(d, &sub, depth + 1, v)
                                       : fdec_dict(d, &sub, depth + 1, v);
        if (!ok) goto fail;
        break;
      }
    }
    if (v == NULL) {
      mproc__dfail(d->ctx, MPROC_ENOMEM, NULL);
      goto fail;
    }
  }
  if (v == NULL) {
    mproc__dfail(d->ctx, MPROC_EMALFORMED, "a Value with no kind");
    return false;
  }
  *out = v;
  return true;
fail:
  mproc__value_free_owned(v);
  return false;
}

static bool fdec_entry(fdec_t *d, rd_t *r, int depth, mproc_value_t *dict) {
  const uint8_t *key = NULL;
  size_t klen = 0;
  mproc_value_t *val = NULL;
  bool ok = true;
  while (ok && r->p < r->end) {
    unsigned wt;
    uint32_t tag;
    if (!rd_tag(d, r, &wt, &tag)) {
      ok = false;
      break;
    }
    if ((tag == MPROC__F_ENTRY_KEY || tag == MPROC__F_ENTRY_VALUE) &&
        wt != PB_WT_STRING) {
      ok = mproc__dfail(d->ctx, MPROC_EMALFORMED,
                        "an Entry field with the wrong wire type");
    } else if (tag == MPROC__F_ENTRY_KEY) {
      if (key != NULL) {
        ok = mproc__dfail(d->ctx, MPROC_EMALFORMED, "two keys in one Entry");
      } else {
        rd_t sub;
        ok = rd_sub(d, r, &sub);
        if (ok) {
          key = sub.p;
          klen = (size_t)(sub.end - sub.p);
          if (!utf8_valid((const char *)key, klen))
            ok = mproc__dfail(d->ctx, MPROC_EUTF8, NULL);
        }
      }
    } else if (tag == MPROC__F_ENTRY_VALUE) {
      if (val != NULL) {
        ok = mproc__dfail(d->ctx, MPROC_EMALFORMED,
                          "two values in one Entry");
      } else {
        rd_t sub;
        ok = rd_sub(d, r, &sub) &&
             fdec_value(d, &sub, depth, &val);
      }
    } else {
      ok = rd_skip(d, r, wt);
    }
  }
  if (ok && (key == NULL || val == NULL))
    ok = mproc__dfail(d->ctx, MPROC_EMALFORMED,
                      key == NULL ? "an Entry without a key"
                                  : "an Entry without a value");
  if (ok) {
    /* mproc__dict_put copies the key (NUL-terminated). */
    int rc = mproc__dict_put(dict, (const char *)key, klen, val, false);
    if (rc == MPROC_EKEY)
      ok = mproc__dfail(d->ctx, MPROC_EMALFORMED, "repeated dict key");
    else if (rc < 0)
      ok = mproc__dfail(d->ctx, rc, NULL);
  }
  if (!ok) mproc__value_free_owned(val);
  return ok;
}

/* ---- Entry points on nanopb streams. The callback's stream is the field's
 * body; the whole of it is decoded here, and the stream moved past it. A
 * reason of nanopb's becomes the stream's errmsg, as nanopb's own
 * primitives would have left it. */

static void finish(pb_istream_t *s, const fdec_t *d, const uint8_t *p,
                   bool ok) {
  if (s->bytes_left > 0) { /* else nothing was read (state may be NULL) */
    size_t used = (size_t)(p - (const uint8_t *)s->state);
    s->state = (uint8_t *)p;
    s->bytes_left -= used;
  }
#ifndef PB_NO_ERRMSG
  if (!ok && d->nwhy != NULL && s->errmsg == NULL) s->errmsg = d->nwhy;
#else
  (void)d;
  (void)ok;
#endif
}

bool mproc__fdec_value_try(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                           mproc_value_t **out, bool *ok) {
  if (!buffer_istream(s)) return false;
  fdec_t d = {ctx, NULL};
  rd_t r = rd_of(s->state, s->bytes_left);
  *ok = fdec_value(&d, &r, depth, out);
  finish(s, &d, r.p, *ok);
  return true;
}

bool mproc__fdec_entry_try(pb_istream_t *s, mproc__dctx_t *ctx, int depth,
                           mproc_value_t *dict, bool *ok) {
  if (!buffer_istream(s)) return false;
  fdec_t d = {ctx, NULL};
  rd_t r = rd_of(s->state, s->bytes_left);
  *ok = fdec_entry(&d, &r, depth, dict);
  finish(s, &d, r.p, *ok);
  return true;
}

bool mproc__fdec_packed_try(pb_istream_t *s, mproc__dctx_t *ctx,
                            mproc_kind_t kind, mproc_value_t *seq,
                            mproc_value_t ***v, size_t *n, size_t *cap,
                            bool *ok) {
  if (!buffer_istream(s)) return false;
  fdec_t d = {ctx, NULL};
  rd_t r = rd_of(s->state, s->bytes_left);
  uint32_t source = 0;
  *ok = r.p == r.end ||
        fdec_scalars(&d, &r, kind, true, seq, &source, 1, v, n, cap);
  finish(s, &d, r.p, *ok);
  return true;
}

bool mproc__fdec_value_buf(const uint8_t *p, size_t n, mproc__dctx_t *ctx,
                           mproc_value_t **out, const char **nwhy) {
  fdec_t d = {ctx, NULL};
  rd_t r = rd_of(p, n);
  bool ok = fdec_value(&d, &r, 0, out);
  *nwhy = d.nwhy;
  return ok;
}
