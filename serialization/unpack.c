/* mproc_unpack_values: args and kwargs into C variables, after CPython's
 * PyArg_ParseTupleAndKeywords, with Python 3's error messages. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/base/error_detail.h"
#include "serialization/format.h"
#include "serialization/value_internal.h"

#define MAX_PARAMS 64

typedef struct {
  const char *name; /* NULL: positional only */
  size_t name_len;
  char conv;
  bool hash;
  bool optional;
  bool kwonly;
} param_t;

typedef struct {
  param_t *p; /* room for MAX_PARAMS while parsing */
  int n;
  int npos; /* parameters that can be given by position */
  bool extra_args;
  bool extra_kwargs;
  const char *fname; /* from ":name", else NULL */
} spec_t;

/* A target unpacks with the same format literal call after call, so each
 * thread keeps the last few specs it parsed (a format with at most
 * CACHE_PARAMS parameters and CACHE_TEXT characters), keyed by the
 * format's address and checked against its text, since a caller may reuse
 * a buffer. The names in a cached spec point into the caller's format,
 * which is the same text at the same address. */
#define CACHE_SLOTS 2
#define CACHE_PARAMS 8
#define CACHE_TEXT 48
typedef struct {
  const char *key;
  char text[CACHE_TEXT];
  spec_t spec;
  param_t p[CACHE_PARAMS];
} cached_t;

static _Thread_local cached_t spec_cache[CACHE_SLOTS];
static _Thread_local unsigned spec_cache_next;

static const spec_t *cached_spec(const char *fmt) {
  for (int i = 0; i < CACHE_SLOTS; i++) {
    const cached_t *c = &spec_cache[i];
    if (c->key == fmt && strcmp(c->text, fmt) == 0) return &c->spec;
  }
  return NULL;
}

static void cache_spec(const char *fmt, const spec_t *s) {
  size_t len = strlen(fmt);
  if (s->n > CACHE_PARAMS || len >= CACHE_TEXT) return;
  cached_t *c = &spec_cache[spec_cache_next++ % CACHE_SLOTS];
  c->key = fmt;
  memcpy(c->text, fmt, len + 1);
  c->spec = *s;
  c->spec.p = c->p;
  memcpy(c->p, s->p, (size_t)s->n * sizeof *s->p);
}

static int parse_spec(const char *f, spec_t *s) {
  /* Only the counts: the parameter table is filled as it is read (a full
   * memset would be most of the cost of a short format). */
  s->n = s->npos = 0;
  s->extra_args = s->extra_kwargs = false;
  s->fname = NULL;
  bool optional = false, kwonly = false;
  for (;;) {
    mproc__tok_t t = mproc__next_tok(&f, false, true);
    if (t.kind == MPROC__TOK_END) break;
    if (t.kind == MPROC__TOK_CONV) {
      if (s->extra_args || s->extra_kwargs) return MPROC_EFORMAT;
      if (t.c == 'N' || (t.c == 'y' && !t.hash)) return MPROC_EFORMAT;
      if (t.hash && t.c != 's' && t.c != 'y') return MPROC_EFORMAT;
      if (kwonly && t.name == NULL) return MPROC_EFORMAT;
      if (s->n == MAX_PARAMS) return MPROC_EFORMAT;
      for (int i = 0; t.name != NULL && i < s->n; i++)
        if (s->p[i].name && s->p[i].name_len == t.name_len &&
            memcmp(s->p[i].name, t.name, t.name_len) == 0)
          return MPROC_EFORMAT; /* a name given twice */
      param_t *p = &s->p[s->n++];
      memset(p, 0, sizeof *p);
      p->name = t.name;
      p->name_len = t.name_len;
      p->conv = t.c;
      p->hash = t.hash;
      p->optional = optional;
      p->kwonly = kwonly;
      if (!kwonly) s->npos++;
      continue;
    }
    if (t.kind != MPROC__TOK_OTHER || t.name != NULL) return MPROC_EFORMAT;
    switch (t.c) {
      case '|':
        if (optional || kwonly) return MPROC_EFORMAT;
        optional = true;
        break;
      case '$':
        if (kwonly) return MPROC_EFORMAT;
        kwonly = true;
        break;
      case '*':
        if (*f == '*') {
          if (s->extra_kwargs) return MPROC_EFORMAT;
          f++;
          s->extra_kwargs = true;
        } else {
          if (s->extra_args || s->extra_kwargs) return MPROC_EFORMAT;
          s->extra_args = true;
        }
        break;
      case ':':
        s->fname = f;
        return *f ? 0 : MPROC_EFORMAT;
      default:
        return MPROC_EFORMAT;
    }
  }
  return 0;
}

typedef struct {
  char *buf;
  size_t size;
  const char *fname;
  size_t fname_len;
} errout_t;

static int say(errout_t *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int say(errout_t *e, int rc, const char *fmt, ...) {
  if (e->buf == NULL || e->size == 0) return rc;
  int n = snprintf(e->buf, e->size, "%.*s() ", (int)e->fname_len, e->fname);
  if (n >= 0 && (size_t)n < e->size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf + n, e->size - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static bool is_int(const mproc_value_t *v) {
  return v->kind == MPROC_INT || v->kind == MPROC_BOOL;
}

static int64_t int_of(const mproc_value_t *v) {
  return v->kind == MPROC_BOOL ? (int64_t)v->u.b : v->u.i;
}

static const char *want_name(char conv) {
  switch (conv) {
    case 'b':
      return "bool";
    case 'i':
    case 'l':
    case 'L':
    case 'z':
      return "int";
    case 'd':
      return "float";
    case 's':
      return "str";
    case 'y':
      return "bytes";
    case 'n':
      return "None";
    default:
      return "object";
  }
}

/* Checks that v suits p; the value itself is written later. */
static int check(errout_t *e, const param_t *p, int pos,
                 const mproc_value_t *v) {
  bool ok;
  switch (p->conv) {
    case 'b':
      ok = v->kind == MPROC_BOOL;
      break;
    case 'i':
    case 'l':
    case 'L':
    case 'z':
      ok = is_int(v);
      break;
    case 'd':
      ok = is_int(v) || v->kind == MPROC_FLOAT;
      break;
    case 's':
      ok = v->kind == MPROC_STR;
      break;
    case 'y':
      ok = v->kind == MPROC_BYTES;
      break;
    case 'n':
      ok = v->kind == MPROC_NONE;
      break;
    default:
      ok = true;
      break;
  }
  if (!ok) {
    if (p->name)
      return say(e, MPROC_ETYPE, "argument '%.*s' must be %s, not %s",
                 (int)p->name_len, p->name, want_name(p->conv),
                 mproc_kind_name((mproc_kind_t)v->kind));
    return say(e, MPROC_ETYPE, "argument %d must be %s, not %s", pos + 1,
               want_name(p->conv), mproc_kind_name((mproc_kind_t)v->kind));
  }
  if (p->conv == 'i' && (int_of(v) < INT_MIN || int_of(v) > INT_MAX))
    return say(e, MPROC_ERANGE, "argument %d: %lld does not fit in a C int",
               pos + 1, (long long)int_of(v));
  if (p->conv == 'l' && (int_of(v) < LONG_MIN || int_of(v) > LONG_MAX))
    return say(e, MPROC_ERANGE, "argument %d does not fit in a C long",
               pos + 1);
  if (p->conv == 'z' && int_of(v) < 0)
    return say(e, MPROC_ERANGE, "argument %d must not be negative", pos + 1);
  return 0;
}

static void store(const param_t *p, const mproc_value_t *v, va_list *ap) {
  switch (p->conv) {
    case 'b': {
      bool *o = va_arg(*ap, bool *);
      if (v && o) *o = v->u.b;
      break;
    }
    case 'i': {
      int *o = va_arg(*ap, int *);
      if (v && o) *o = (int)int_of(v);
      break;
    }
    case 'l': {
      long *o = va_arg(*ap, long *);
      if (v && o) *o = (long)int_of(v);
      break;
    }
    case 'L': {
      int64_t *o = va_arg(*ap, int64_t *);
      if (v && o) *o = int_of(v);
      break;
    }
    case 'z': {
      size_t *o = va_arg(*ap, size_t *);
      if (v && o) *o = (size_t)int_of(v);
      break;
    }
    case 'd': {
      double *o = va_arg(*ap, double *);
      if (v && o) *o = v->kind == MPROC_FLOAT ? v->u.d : (double)int_of(v);
      break;
    }
    case 's':
    case 'y': {
      const char **o = va_arg(*ap, const char **);
      size_t *n = p->hash ? va_arg(*ap, size_t *) : NULL;
      if (v && o) *o = v->u.s.p;
      if (v && n) *n = v->u.s.n;
      break;
    }
    case 'O': {
      const mproc_value_t **o = va_arg(*ap, const mproc_value_t **);
      if (v && o) *o = v;
      break;
    }
    default: /* 'n' has no output */
      break;
  }
}

static bool is_param_name(const spec_t *s, const mproc__entry_t *e) {
  for (int i = 0; i < s->n; i++)
    if (s->p[i].name && s->p[i].name_len == e->klen &&
        memcmp(s->p[i].name, e->key, e->klen) == 0)
      return true;
  return false;
}

int mproc_vunpack_values(const mproc_value_t *args,
                         const mproc_value_t *kwargs, char *err,
                         size_t err_size, const char *fmt, va_list ap) {
  if (err != NULL && err_size > 0) err[0] = '\0';
  if (fmt == NULL) return MPROC__EINVAL("fmt is NULL");
  if (args != NULL && args->kind != MPROC_LIST && args->kind != MPROC_TUPLE)
    return MPROC_ETYPE;
  if (kwargs != NULL && kwargs->kind != MPROC_DICT) return MPROC_ETYPE;
  param_t params[MAX_PARAMS];
  spec_t parsed, s;
  const spec_t *hit = cached_spec(fmt);
  int rc = 0;
  if (hit != NULL) {
    s = *hit;
  } else {
    parsed.p = params;
    rc = parse_spec(fmt, &parsed);
    s = parsed;
    if (rc == 0) cache_spec(fmt, &parsed);
  }
  errout_t e = {err, err_size, "function", 8};
  if (s.fname != NULL) {
    e.fname = s.fname;
    e.fname_len = strlen(s.fname);
  }
  if (rc < 0) return say(&e, rc, "invalid format string \"%s\"", fmt);

  size_t nargs = args ? args->u.seq.n : 0;
  size_t nkw = kwargs ? kwargs->u.dict.n : 0;
  if (nargs > (size_t)s.npos && !s.extra_args) {
    int nreq = 0;
    while (nreq < s.npos && !s.p[nreq].optional) nreq++;
    if (nreq == s.npos)
      return say(&e, MPROC_EARITY,
                 "takes %d positional argument%s but %zu %s given", s.npos,
                 s.npos == 1 ? "" : "s", nargs, nargs == 1 ? "was" : "were");
    return say(&e, MPROC_EARITY,
               "takes from %d to %d positional arguments but %zu were given",
               nreq, s.npos, nargs);
  }

  const mproc_value_t *vals[MAX_PARAMS];
  size_t matched_kw = 0;
  for (int i = 0; i < s.n; i++) {
    const param_t *p = &s.p[i];
    const mproc_value_t *kv = NULL;
    size_t pos;
    if (p->name && kwargs &&
        mproc__dict_find(kwargs, p->name, p->name_len, &pos)) {
      kv = kwargs->u.dict.e[pos].val;
      matched_kw++;
    }
    if (!p->kwonly && (size_t)i < nargs) {
      if (kv != NULL)
        return say(&e, MPROC_EKEY, "got multiple values for argument '%.*s'",
                   (int)p->name_len, p->name);
      vals[i] = args->u.seq.v[i];
    } else {
      vals[i] = kv;
    }
    if (vals[i] == NULL && !p->optional) {
      if (p->kwonly)
        return say(&e, MPROC_EARITY,
                   "missing required keyword-only argument '%.*s'",
                   (int)p->name_len, p->name);
      if (p->name)
        return say(&e, MPROC_EARITY,
                   "missing required argument '%.*s' (pos %d)",
                   (int)p->name_len, p->name, i + 1);
      return say(&e, MPROC_EARITY,
                 "takes at least %d positional arguments (%zu given)", i + 1,
                 nargs);
    }
    if (vals[i] != NULL && (rc = check(&e, p, i, vals[i])) < 0) return rc;
  }
  if (matched_kw < nkw && !s.extra_kwargs) {
    /* At most s.n keys can match, so this scan stops within s.n + 1. */
    for (size_t k = 0; k < nkw; k++) {
      const mproc__entry_t *ent = &kwargs->u.dict.e[k];
      if (!is_param_name(&s, ent))
        return say(&e, MPROC_EKEY, "got an unexpected keyword argument '%s'",
                   ent->key);
    }
  }

  va_list aq;
  va_copy(aq, ap);
  for (int i = 0; i < s.n; i++) store(&s.p[i], vals[i], &aq);
  va_end(aq);
  return 0;
}

int mproc_unpack_values(const mproc_value_t *args, const mproc_value_t *kwargs,
                        char *err, size_t err_size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mproc_vunpack_values(args, kwargs, err, err_size, fmt, ap);
  va_end(ap);
  return rc;
}
