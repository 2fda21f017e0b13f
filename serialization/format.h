/* multiproc internal — the tokenizer shared by mproc_pack and mproc_unpack
 * formats. */
#ifndef MPROC_SERIALIZATION_FORMAT_H
#define MPROC_SERIALIZATION_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  MPROC__TOK_END,
  MPROC__TOK_CONV,  /* a conversion letter, maybe with '#' */
  MPROC__TOK_OPEN,  /* ( [ { */
  MPROC__TOK_CLOSE, /* ) ] } */
  MPROC__TOK_OTHER  /* anything else: a marker for unpack, an error for pack */
} mproc__tok_kind_t;

typedef struct {
  mproc__tok_kind_t kind;
  char c;         /* the letter or bracket or other character */
  bool hash;      /* conversion followed by '#' */
  const char *name; /* unpack: "name=" before the letter, else NULL */
  size_t name_len;
} mproc__tok_t;

/* Reads the next token at *f, skipping spaces, tabs, commas and (when
 * colons is true) colons, and advances *f past it. With names true, an
 * identifier followed by '=' is taken as the token's name. */
mproc__tok_t mproc__next_tok(const char **f, bool colons, bool names);

#endif /* MPROC_SERIALIZATION_FORMAT_H */
