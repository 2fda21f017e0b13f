/* Python's repr() of a value, written with snprintf's contract. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error_detail.h"
#include "serialization/value_internal.h"

typedef struct {
  char *buf;
  size_t size;
  size_t len; /* length of the whole repr so far, written or not */
} out_t;

static void put(out_t *o, const char *s, size_t n) {
  if (o->len < o->size) {
    size_t room = o->size - o->len;
    memcpy(o->buf + o->len, s, n < room ? n : room);
  }
  o->len += n;
}

static void puts_(out_t *o, const char *s) { put(o, s, strlen(s)); }

static void putc_(out_t *o, char c) { put(o, &c, 1); }

static const char hexdig[] = "0123456789abcdef";

static void put_hex_escape(out_t *o, char kind, uint32_t cp, int digits) {
  char tmp[12];
  size_t n = 0;
  tmp[n++] = '\\';
  tmp[n++] = kind;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4)
    tmp[n++] = hexdig[(cp >> shift) & 0xF];
  put(o, tmp, n);
}

/* Python picks single quotes unless the text has a single quote and no
 * double quote. */
static char pick_quote(const char *s, size_t n) {
  bool single = memchr(s, '\'', n) != NULL;
  bool dbl = memchr(s, '"', n) != NULL;
  return single && !dbl ? '"' : '\'';
}

/* str.isprintable() for code points >= 0x80: false for the C1 controls and
 * Unicode's separators (Z*), format characters (Cf), surrogates and private
 * use (Co). Unassigned code points count as printable here. */
static bool printable_cp(uint32_t cp) {
  if (cp < 0xA1) return false; /* C1 controls and U+00A0 NO-BREAK SPACE */
  if (cp == 0xAD || cp == 0x061C || cp == 0x06DD || cp == 0x070F ||
      cp == 0x08E2 || cp == 0x1680 || cp == 0x180E || cp == 0x202F ||
      cp == 0x205F || cp == 0x3000 || cp == 0xFEFF || cp == 0x110BD ||
      cp == 0x110CD || cp == 0xE0001)
    return false;
  if (cp >= 0x0600 && cp <= 0x0605) return false;
  if (cp >= 0x0890 && cp <= 0x0891) return false;
  if (cp >= 0x2000 && cp <= 0x200F) return false;
  if (cp >= 0x2028 && cp <= 0x202E) return false;
  if (cp >= 0x2060 && cp <= 0x206F) return false;
  if (cp >= 0xD800 && cp <= 0xF8FF) return false; /* surrogates, private */
  if (cp >= 0xFFF9 && cp <= 0xFFFB) return false;
  if (cp >= 0x13430 && cp <= 0x1343F) return false;
  if (cp >= 0x1BCA0 && cp <= 0x1BCA3) return false;
  if (cp >= 0x1D173 && cp <= 0x1D17A) return false;
  if (cp >= 0xE0020 && cp <= 0xE007F) return false;
  if (cp >= 0xF0000) return false; /* planes 15-16: private use */
  return true;
}

static void put_ascii_char(out_t *o, unsigned char c, char quote) {
  switch (c) {
    case '\\':
      puts_(o, "\\\\");
      return;
    case '\t':
      puts_(o, "\\t");
      return;
    case '\n':
      puts_(o, "\\n");
      return;
    case '\r':
      puts_(o, "\\r");
      return;
    default:
      break;
  }
  if (c == (unsigned char)quote) {
    putc_(o, '\\');
    putc_(o, (char)c);
  } else if (c < 0x20 || c >= 0x7F) {
    put_hex_escape(o, 'x', c, 2);
  } else {
    putc_(o, (char)c);
  }
}

/* s is valid UTF-8 (checked when the value was made). */
static void repr_str(out_t *o, const char *s, size_t n) {
  char quote = pick_quote(s, n);
  putc_(o, quote);
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
      put_ascii_char(o, c, quote);
      i++;
      continue;
    }
    size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (size_t k = 1; k < len && i + k < n; k++)
      cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
    if (printable_cp(cp))
      put(o, s + i, len);
    else if (cp < 0x100)
      put_hex_escape(o, 'x', cp, 2);
    else if (cp < 0x10000)
      put_hex_escape(o, 'u', cp, 4);
    else
      put_hex_escape(o, 'U', cp, 8);
    i += len;
  }
  putc_(o, quote);
}

static void repr_bytes(out_t *o, const char *s, size_t n) {
  char quote = pick_quote(s, n);
  putc_(o, 'b');
  putc_(o, quote);
  for (size_t i = 0; i < n; i++) put_ascii_char(o, (unsigned char)s[i], quote);
  putc_(o, quote);
}

/* tmp holds d correctly rounded to some number of digits, and that decimal
 * does not read back as d. When d is a power of two its rounding interval is
 * twice as wide above d as below, so the decimal with the same number of
 * digits on d's other side may still read back as d: Python's repr then
 * prints that one (2.0**-1017 is 7.120236347223045e-307, not the 17 digits
 * 7.1202363472230444e-307). Replaces tmp with it when it does. */
static bool other_neighbour(char *tmp, size_t size, double d) {
  bool neg = tmp[0] == '-';
  const char *p = tmp + neg;
  unsigned long long m = 0;
  int nd = 0;
  for (; *p != 'e' && *p != '\0'; p++) {
    if (*p >= '0' && *p <= '9') {
      m = m * 10 + (unsigned long long)(*p - '0');
      nd++;
    }
  }
  if (*p != 'e') return false;
  int exp10 = atoi(p + 1);
  /* Step away from the rounded decimal, towards and past d. */
  double r = strtod(tmp, NULL);
  if ((r < d) != neg)
    m++;
  else if (m > 1)
    m--;
  else
    return false;
  /* Checked as an integer mantissa, which reads the same in any locale. */
  char cand[64];
  snprintf(cand, sizeof cand, "%s%llue%d", neg ? "-" : "", m,
           exp10 - (nd - 1));
  if (strtod(cand, NULL) != d) return false;
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%llu", m);
  /* A carry (9.9 -> 10.0) or borrow (1.0 -> 0.9) moves the first digit. */
  exp10 += n - nd;
  snprintf(tmp, size, "%s%c.%se%d", neg ? "-" : "", digits[0],
           n > 1 ? digits + 1 : "0", exp10);
  return true;
}

/* repr(float): the shortest decimal that reads back as the same double,
 * laid out as Python does — positional for exponents -4..15 (with ".0" when
 * integral), scientific otherwise ("1e+16", "1.5e-05"). */
static void repr_float(out_t *o, double d) {
  if (isnan(d)) {
    puts_(o, "nan");
    return;
  }
  if (isinf(d)) {
    puts_(o, d < 0 ? "-inf" : "inf");
    return;
  }
  char tmp[64];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
    if (strtod(tmp, NULL) == d || prec == 17) break;
    if (other_neighbour(tmp, sizeof tmp, d)) break;
  }
  /* tmp is [-]D[.DDD]e[+-]XX, with the locale's decimal point. */
  char digits[32];
  size_t nd = 0;
  const char *p = tmp;
  bool neg = *p == '-';
  if (neg) p++;
  while (*p != 'e' && *p != '\0') {
    if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    p++;
  }
  int exp10 = *p == 'e' ? atoi(p + 1) : 0;
  while (nd > 1 && digits[nd - 1] == '0') nd--; /* %e pads with zeros */

  if (neg) putc_(o, '-');
  if (exp10 < -4 || exp10 >= 16) {
    putc_(o, digits[0]);
    if (nd > 1) {
      putc_(o, '.');
      put(o, digits + 1, nd - 1);
    }
    snprintf(tmp, sizeof tmp, "e%c%02d", exp10 < 0 ? '-' : '+',
             exp10 < 0 ? -exp10 : exp10);
    puts_(o, tmp);
  } else if (exp10 < 0) {
    puts_(o, "0.");
    for (int k = 0; k < -exp10 - 1; k++) putc_(o, '0');
    put(o, digits, nd);
  } else if ((size_t)exp10 + 1 >= nd) {
    put(o, digits, nd);
    for (size_t k = nd; k < (size_t)exp10 + 1; k++) putc_(o, '0');
    puts_(o, ".0");
  } else {
    put(o, digits, (size_t)exp10 + 1);
    putc_(o, '.');
    put(o, digits + exp10 + 1, nd - (size_t)exp10 - 1);
  }
}

static void repr_value(out_t *o, const mproc_value_t *v) {
  char tmp[32];
  switch ((mproc_kind_t)v->kind) {
    case MPROC_NONE:
      puts_(o, "None");
      break;
    case MPROC_BOOL:
      puts_(o, v->u.b ? "True" : "False");
      break;
    case MPROC_INT:
      snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.i);
      puts_(o, tmp);
      break;
    case MPROC_FLOAT:
      repr_float(o, v->u.d);
      break;
    case MPROC_STR:
      repr_str(o, v->u.s.p, v->u.s.n);
      break;
    case MPROC_BYTES:
      repr_bytes(o, v->u.s.p, v->u.s.n);
      break;
    case MPROC_LIST:
    case MPROC_TUPLE: {
      bool tuple = v->kind == MPROC_TUPLE;
      putc_(o, tuple ? '(' : '[');
      for (size_t i = 0; i < v->u.seq.n; i++) {
        if (i > 0) puts_(o, ", ");
        repr_value(o, v->u.seq.v[i]); /* bounded by MPROC_MAX_DEPTH */
      }
      if (tuple && v->u.seq.n == 1) putc_(o, ',');
      putc_(o, tuple ? ')' : ']');
      break;
    }
    case MPROC_DICT:
      putc_(o, '{');
      for (size_t i = 0; i < v->u.dict.n; i++) {
        if (i > 0) puts_(o, ", ");
        repr_str(o, v->u.dict.e[i].key, v->u.dict.e[i].klen);
        puts_(o, ": ");
        repr_value(o, v->u.dict.e[i].val);
      }
      putc_(o, '}');
      break;
  }
}

int mproc_repr(const mproc_value_t *v, char *buf, size_t size) {
  if (v == NULL || (buf == NULL && size > 0))
    return MPROC__EINVAL("%s", v == NULL ? "v is NULL"
                                         : "buf is NULL but size is not 0");
  out_t o = {buf, size, 0};
  repr_value(&o, v);
  if (size > 0) buf[o.len < size ? o.len : size - 1] = '\0';
  if (o.len > INT_MAX) return MPROC_EOVERFLOW;
  return (int)o.len;
}
