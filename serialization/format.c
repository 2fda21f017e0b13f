#include "serialization/format.h"

static bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

mproc__tok_t mproc__next_tok(const char **f, bool colons, bool names) {
  const char *p = *f;
  mproc__tok_t t = {MPROC__TOK_END, 0, false, NULL, 0};
  while (*p == ' ' || *p == '\t' || *p == ',' || (colons && *p == ':')) p++;
  if (names && is_ident_start(*p)) {
    const char *q = p;
    while (is_ident(*q)) q++;
    if (*q == '=') {
      t.name = p;
      t.name_len = (size_t)(q - p);
      p = q + 1;
    }
  }
  char c = *p;
  if (c == '\0') {
    t.kind = t.name ? MPROC__TOK_OTHER : MPROC__TOK_END;
    *f = p;
    return t;
  }
  p++;
  t.c = c;
  switch (c) {
    case '(':
    case '[':
    case '{':
      t.kind = MPROC__TOK_OPEN;
      break;
    case ')':
    case ']':
    case '}':
      t.kind = MPROC__TOK_CLOSE;
      break;
    case 'n':
    case 'b':
    case 'i':
    case 'l':
    case 'L':
    case 'z':
    case 'd':
    case 's':
    case 'y':
    case 'O':
    case 'N':
      t.kind = MPROC__TOK_CONV;
      if (*p == '#') {
        t.hash = true;
        p++;
      }
      break;
    default:
      t.kind = MPROC__TOK_OTHER;
      break;
  }
  *f = p;
  return t;
}
