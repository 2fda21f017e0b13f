/* mproc_pack: values from a format string, after CPython's Py_BuildValue. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error_detail.h"
#include "serialization/format.h"
#include "serialization/value_internal.h"

/* A format error: where (the 1-based position of the character at fault
 * in fmt) and what, recorded for mproc_last_error(). */
static int bad_format(const char *fmt, const char *at, const char *what) {
  size_t pos = (size_t)(at - fmt) + 1;
  if (*at == '\0')
    return mproc__fail(MPROC_EFORMAT, "mproc_pack format \"%s\": at the end: %s",
                       fmt, what);
  return mproc__fail(MPROC_EFORMAT,
                     "mproc_pack format \"%s\": position %zu, '%c': %s", fmt,
                     pos, *at, what);
}

/* Checks the whole format before any argument is read, so a bad format never
 * consumes varargs it cannot interpret. */
static int validate(const char *fmt) {
  char stack[MPROC_MAX_DEPTH];
  unsigned items[MPROC_MAX_DEPTH]; /* items so far in each open container */
  int depth = 0;
  const char *f = fmt;
  for (;;) {
    /* The token's own character: next_tok skips separators first. */
    while (*f == ' ' || *f == '\t' || *f == ',' || *f == ':') f++;
    const char *at = f;
    mproc__tok_t t = mproc__next_tok(&f, true, false);
    bool in_dict = depth > 0 && stack[depth - 1] == '{';
    bool key_pos = in_dict && items[depth - 1] % 2 == 0;
    switch (t.kind) {
      case MPROC__TOK_END:
        if (depth == 0) return 0;
        return bad_format(fmt, at,
                          stack[depth - 1] == '(' ? "a '(' is never closed"
                          : stack[depth - 1] == '[' ? "a '[' is never closed"
                                                    : "a '{' is never closed");
      case MPROC__TOK_OTHER:
        return bad_format(fmt, at,
                          "not a conversion (n b i l L z d s s# y# O N) nor a "
                          "bracket");
      case MPROC__TOK_OPEN:
        if (key_pos)
          return bad_format(fmt, at, "a dict key must be s or s# (a str)");
        if (depth == MPROC_MAX_DEPTH)
          return mproc__fail(MPROC_EDEPTH,
                             "mproc_pack format \"%s\": position %zu: more "
                             "than %d containers nested",
                             fmt, (size_t)(at - fmt) + 1, MPROC_MAX_DEPTH);
        stack[depth] = t.c;
        items[depth] = 0;
        depth++;
        break;
      case MPROC__TOK_CLOSE: {
        if (depth == 0) return bad_format(fmt, at, "closes nothing");
        char open = stack[depth - 1];
        char want = open == '(' ? ')' : open == '[' ? ']' : '}';
        if (t.c != want)
          return bad_format(fmt, at,
                            want == ')'   ? "the open bracket is a '(': ')' "
                                            "closes it"
                            : want == ']' ? "the open bracket is a '[': ']' "
                                            "closes it"
                                          : "the open bracket is a '{': '}' "
                                            "closes it");
        if (open == '{' && items[depth - 1] % 2 != 0)
          return bad_format(fmt, at, "a dict key without a value");
        depth--;
        if (depth > 0) items[depth - 1]++;
        break;
      }
      case MPROC__TOK_CONV:
        if (t.c == 'y' && !t.hash)
          return bad_format(fmt, at, "bytes are y# (a pointer and a length)");
        if (t.hash && t.c != 's' && t.c != 'y')
          return bad_format(fmt, at, "only s and y take '#'");
        if (key_pos && t.c != 's')
          return bad_format(fmt, at, "a dict key must be s or s# (a str)");
        if (depth > 0) items[depth - 1]++;
        break;
    }
  }
}

typedef struct {
  const char *f;
  va_list ap;
  int err; /* first failure; later items are only consumed */
} packer_t;

static void fail(packer_t *p, int rc) {
  if (p->err == 0) p->err = rc;
}

static mproc_value_t *conv(packer_t *p, const mproc__tok_t *t) {
  mproc_value_t *v = NULL;
  int rc = 0;
  switch (t->c) {
    case 'n':
      rc = mproc_value_none(&v);
      break;
    case 'b': {
      int b = va_arg(p->ap, int);
      rc = mproc_value_bool(&v, b != 0);
      break;
    }
    case 'i': {
      int i = va_arg(p->ap, int);
      rc = mproc_value_int(&v, i);
      break;
    }
    case 'l': {
      long l = va_arg(p->ap, long);
      rc = mproc_value_int(&v, l);
      break;
    }
    case 'L': {
      int64_t l = va_arg(p->ap, int64_t);
      rc = mproc_value_int(&v, l);
      break;
    }
    case 'z': {
      size_t z = va_arg(p->ap, size_t);
      rc = z > (size_t)INT64_MAX ? MPROC_ERANGE
                                 : mproc_value_int(&v, (int64_t)z);
      break;
    }
    case 'd': {
      double d = va_arg(p->ap, double);
      rc = mproc_value_float(&v, d);
      break;
    }
    case 's': {
      const char *s = va_arg(p->ap, const char *);
      size_t n = t->hash ? va_arg(p->ap, size_t) : 0;
      if (s == NULL && !t->hash)
        rc = mproc_value_none(&v);
      else
        rc = t->hash ? mproc_value_strn(&v, s, n) : mproc_value_str(&v, s);
      break;
    }
    case 'y': {
      const void *b = va_arg(p->ap, const void *);
      size_t n = va_arg(p->ap, size_t);
      rc = mproc_value_bytes(&v, b, n);
      break;
    }
    case 'O': {
      const mproc_value_t *o = va_arg(p->ap, const mproc_value_t *);
      rc = o == NULL ? mproc__fail(MPROC_EINVAL,
                                   "mproc_pack: the value for 'O' is NULL")
                     : mproc_value_copy(&v, o);
      break;
    }
    case 'N': {
      mproc_value_t *o = va_arg(p->ap, mproc_value_t *);
      if (o == NULL || o->owned)
        rc = o == NULL ? mproc__fail(MPROC_EINVAL,
                                     "mproc_pack: the value for 'N' is NULL")
                       : MPROC_EOWNED;
      else if (p->err != 0)
        mproc_value_free(o); /* taken whatever happens (value.h's rule) */
      else
        v = o;
      break;
    }
  }
  if (rc < 0) fail(p, rc);
  if (p->err != 0) {
    mproc_value_free(v);
    return NULL;
  }
  return v;
}

static mproc_value_t *item(packer_t *p, mproc__tok_t t);

/* Items up to the matching close bracket (the format is valid). */
static mproc_value_t *container(packer_t *p, char open) {
  mproc_kind_t kind = open == '(' ? MPROC_TUPLE
                      : open == '[' ? MPROC_LIST
                                    : MPROC_DICT;
  mproc_value_t *c = p->err ? NULL : mproc__value_alloc(kind);
  if (c == NULL) fail(p, MPROC_ENOMEM);
  for (;;) {
    mproc__tok_t t = mproc__next_tok(&p->f, true, false);
    if (t.kind == MPROC__TOK_CLOSE) break;
    if (kind == MPROC_DICT) {
      /* key: s or s# (validated); read it as raw arguments */
      const char *key = va_arg(p->ap, const char *);
      size_t klen = t.hash ? va_arg(p->ap, size_t) : 0;
      if (p->err == 0) {
        if (key == NULL)
          fail(p, mproc__fail(MPROC_EINVAL, "mproc_pack: a dict key is NULL"));
        else if (!t.hash)
          klen = strlen(key);
        if (p->err == 0 && !mproc__utf8_valid(key, klen)) fail(p, MPROC_EUTF8);
      }
      mproc_value_t *val = item(p, mproc__next_tok(&p->f, true, false));
      if (p->err == 0) {
        int rc = mproc__dict_put(c, key, klen, val, true);
        if (rc < 0) {
          mproc_value_free(val);
          fail(p, rc);
        }
      }
    } else {
      mproc_value_t *v = item(p, t);
      if (p->err == 0) {
        int rc = mproc__seq_push(c, v);
        if (rc < 0) {
          mproc_value_free(v);
          fail(p, rc);
        }
      }
    }
  }
  if (p->err != 0) {
    mproc_value_free(c);
    return NULL;
  }
  return c;
}

static mproc_value_t *item(packer_t *p, mproc__tok_t t) {
  if (t.kind == MPROC__TOK_OPEN) return container(p, t.c);
  return conv(p, &t);
}

int mproc_vpack(mproc_value_t **out, const char *fmt, va_list ap) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (fmt == NULL) return MPROC__EINVAL("fmt is NULL");
  int rc = validate(fmt);
  if (rc < 0) return rc;

  packer_t p;
  p.f = fmt;
  p.err = 0;
  va_copy(p.ap, ap);
  mproc_value_t *first = NULL, *tuple = NULL;
  mproc__tok_t t = mproc__next_tok(&p.f, true, false);
  if (t.kind != MPROC__TOK_END) {
    first = item(&p, t);
    t = mproc__next_tok(&p.f, true, false);
  }
  if (t.kind == MPROC__TOK_END && first != NULL) {
    *out = first; /* exactly one item */
    va_end(p.ap);
    return 0;
  }
  /* None or several: a tuple, like Py_BuildValue. */
  if (p.err == 0) {
    tuple = mproc__value_alloc(MPROC_TUPLE);
    if (tuple == NULL) fail(&p, MPROC_ENOMEM);
  }
  if (first != NULL && p.err == 0) {
    rc = mproc__seq_push(tuple, first);
    if (rc < 0) fail(&p, rc);
  }
  if (p.err != 0) mproc_value_free(first);
  while (t.kind != MPROC__TOK_END) {
    mproc_value_t *v = item(&p, t);
    if (p.err == 0 && (rc = mproc__seq_push(tuple, v)) < 0) {
      mproc_value_free(v);
      fail(&p, rc);
    }
    t = mproc__next_tok(&p.f, true, false);
  }
  va_end(p.ap);
  if (p.err != 0) {
    mproc_value_free(tuple);
    return p.err;
  }
  *out = tuple;
  return 0;
}

int mproc_pack(mproc_value_t **out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mproc_vpack(out, fmt, ap);
  va_end(ap);
  return rc;
}
