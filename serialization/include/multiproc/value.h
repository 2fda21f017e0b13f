/* multiproc — values: what travels as args, kwargs and results.
 *
 * An mproc_value_t is one of Python's basic kinds: None, bool, int (64-bit),
 * float (double), str (UTF-8), bytes, list, tuple, or dict with str keys that
 * keeps insertion order (as Python's kwargs do). Values are built bottom-up:
 * a value put into a list, tuple or dict belongs to it from then on, is freed
 * with it and can no longer be changed (MPROC_EOWNED), which rules out cycles
 * and shared children. Containers nest at most MPROC_MAX_DEPTH deep, so no
 * code path, encoder or decoder, recurses without a bound.
 *
 * Ownership: one rule for every function that takes a value (list and dict
 * insertion, mproc_pack's N, mproc_call_set_result). It takes the value
 * whatever happens: on failure the value is freed, so a caller never frees
 * a value it has given. The one exception is a value that already belongs
 * to a container (refused with MPROC_EOWNED): it was never the caller's to
 * give and stays where it is, as does a container given to itself. Who
 * owns the value afterwards is thus known before the call; no error code
 * needs checking to decide it.
 *
 * On the wire a value is the protobuf message mproc.wire.Value
 * (serialization/wire.proto), encoded and decoded by nanopb.
 *
 * Errors every function here can return: MPROC_EINVAL (NULL where a value is
 * required), MPROC_ENOMEM. Others are listed per function.
 */
#ifndef MPROC_VALUE_H
#define MPROC_VALUE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "multiproc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_value mproc_value_t;

typedef enum {
  MPROC_NONE = 0,
  MPROC_BOOL,
  MPROC_INT,
  MPROC_FLOAT,
  MPROC_STR,
  MPROC_BYTES,
  MPROC_LIST,
  MPROC_TUPLE,
  MPROC_DICT
} mproc_kind_t;

/* Containers nest at most this deep: a tuple of ints has depth 1, a tuple
 * holding a list of ints depth 2. Deeper values are refused with
 * MPROC_EDEPTH when built and when decoded. */
#define MPROC_MAX_DEPTH 64

/* ---- Construction. Each stores a new value in *out (NULL on failure). */
MPROC_API int mproc_value_none(mproc_value_t **out);
MPROC_API int mproc_value_bool(mproc_value_t **out, bool b);
MPROC_API int mproc_value_int(mproc_value_t **out, int64_t i);
MPROC_API int mproc_value_float(mproc_value_t **out, double d);
/* s must be valid UTF-8 (MPROC_EUTF8); it is copied. A NUL-terminated str
 * and a counted one (which may contain NUL characters). */
MPROC_API int mproc_value_str(mproc_value_t **out, const char *s);
MPROC_API int mproc_value_strn(mproc_value_t **out, const char *s, size_t n);
/* Any bytes; copied. p may be NULL when n is 0. */
MPROC_API int mproc_value_bytes(mproc_value_t **out, const void *p, size_t n);
/* Empty containers. */
MPROC_API int mproc_value_list(mproc_value_t **out);
MPROC_API int mproc_value_tuple(mproc_value_t **out);
MPROC_API int mproc_value_dict(mproc_value_t **out);

/* Appends item to a list or tuple; takes item (value.h's rule).
 * Errors: MPROC_ETYPE (seq is not a list or tuple), MPROC_EOWNED (seq or item
 * already inside a container, or item == seq), MPROC_EDEPTH. */
MPROC_API int mproc_list_append(mproc_value_t *seq, mproc_value_t *item);

/* Sets dict[key] = item; takes item (value.h's rule). A new key goes
 * last; an existing key keeps its place and its old value is freed, as
 * in Python. key must be valid UTF-8; it is copied.
 * Errors: MPROC_ETYPE, MPROC_EOWNED, MPROC_EDEPTH, MPROC_EUTF8. */
MPROC_API int mproc_dict_set(mproc_value_t *dict, const char *key, mproc_value_t *item);

/* Frees v and everything in it. NULL is ignored, and so is a value that
 * belongs to a container (its container frees it). */
MPROC_API void mproc_value_free(mproc_value_t *v);

/* A deep copy, owned by the caller. */
MPROC_API int mproc_value_copy(mproc_value_t **out, const mproc_value_t *v);

/* ---- Inspection. */
/* True when v belongs to a list, tuple or dict (and so is frozen). */
MPROC_API bool mproc_value_is_owned(const mproc_value_t *v);

/* The kind of v; MPROC_NONE for NULL. */
MPROC_API mproc_kind_t mproc_value_kind(const mproc_value_t *v);
/* Python's type name: "NoneType", "bool", "int", "float", "str", "bytes",
 * "list", "tuple", "dict". */
MPROC_API const char *mproc_kind_name(mproc_kind_t kind);

/* Typed accessors. Errors: MPROC_ETYPE when v is of another kind. */
MPROC_API int mproc_value_get_bool(const mproc_value_t *v, bool *out);
MPROC_API int mproc_value_get_int(const mproc_value_t *v, int64_t *out);
/* An int is accepted too and converted, as Python's float() would. */
MPROC_API int mproc_value_get_float(const mproc_value_t *v, double *out);
/* The pointers stay valid as long as v; strings are NUL-terminated (the
 * length counts any embedded NUL), bytes too, for convenience. */
MPROC_API int mproc_value_get_str(const mproc_value_t *v, const char **s, size_t *n);
MPROC_API int mproc_value_get_bytes(const mproc_value_t *v, const void **p, size_t *n);

/* Number of items of a list, tuple or dict, or bytes of a str or bytes;
 * 0 for other kinds. */
MPROC_API size_t mproc_value_len(const mproc_value_t *v);

/* seq[i] for a list or tuple. Errors: MPROC_ETYPE, MPROC_ERANGE. */
MPROC_API int mproc_list_get(const mproc_value_t *seq, size_t i,
                   const mproc_value_t **out);
/* dict[key]. Errors: MPROC_ETYPE, MPROC_EKEY (no such key). */
MPROC_API int mproc_dict_get(const mproc_value_t *dict, const char *key,
                   const mproc_value_t **out);
/* The i-th entry of a dict in insertion order. key may be NULL.
 * Errors: MPROC_ETYPE, MPROC_ERANGE. */
MPROC_API int mproc_dict_item(const mproc_value_t *dict, size_t i, const char **key,
                    const mproc_value_t **val);

/* Deep equality with Python's rules for these kinds (1 == 1.0, True == 1,
 * list != tuple, dict order ignored). NaN is unequal to itself. */
MPROC_API bool mproc_value_equal(const mproc_value_t *a, const mproc_value_t *b);

/* ---- repr. Writes Python's repr of v into buf with snprintf's contract: at
 * most size bytes including the NUL, and returns the length the whole repr
 * has (so a return >= size means it was cut). Examples: ('test', 18)
 * {'m': 20} b'\x00' None True 1.5 [] (1,). buf may be NULL when size is 0.
 * Errors: MPROC_EOVERFLOW (repr longer than INT_MAX). */
MPROC_API int mproc_repr(const mproc_value_t *v, char *buf, size_t size);

/* ---- Building from a format, like CPython's Py_BuildValue.
 *
 *   n        None                      (no argument)
 *   b        bool                      (int)
 *   i        int                       (int)
 *   l        int                       (long)
 *   L        int                       (int64_t)
 *   z        int                       (size_t; MPROC_ERANGE above INT64_MAX)
 *   d        float                     (double)
 *   s        str                       (const char *, NUL-terminated UTF-8;
 *                                       NULL gives None)
 *   s#       str                       (const char *, size_t)
 *   y#       bytes                     (const void *, size_t)
 *   O        a copy of a value         (const mproc_value_t *)
 *   N        a value, taken (mproc_value_t *; value.h's rule)
 *   (...)    tuple of the items inside
 *   [...]    list of the items inside
 *   {k:v...} dict; each key is s or s#
 *
 * Spaces, tabs, commas and colons between items are ignored. A format with
 * one item gives that item; several items, or none, give a tuple — so
 * mproc_pack(&v, "si", "test", 18) and "(si)" both give ('test', 18) and
 * "{s:i}" gives {'m': 20} for ("m", 20). A call refused before any argument
 * is read (out or fmt NULL, a format refused as a whole) takes no N value.
 * Errors: MPROC_EFORMAT (unknown letter, unbalanced brackets, non-str key;
 * mproc_last_error() quotes the format and gives the position and the
 * character at fault, e.g. 'mproc_pack format "(iq)": position 3, 'q': not
 * a conversion ...'), MPROC_EUTF8, MPROC_ERANGE, MPROC_EDEPTH. */
MPROC_API int mproc_pack(mproc_value_t **out, const char *fmt, ...);
MPROC_API int mproc_vpack(mproc_value_t **out, const char *fmt, va_list ap);

/* ---- Parsing args and kwargs, like PyArg_ParseTupleAndKeywords.
 *
 * The format lists parameters in order. Each is a conversion, optionally
 * preceded by a name and '=' ("age=i"); a named parameter can also be passed
 * by keyword. Conversions store through pointers:
 *
 *   b   bool *            bool only
 *   i   int *             int within INT_MIN..INT_MAX (else MPROC_ERANGE)
 *   l   long *            int
 *   L   int64_t *         int
 *   z   size_t *          int >= 0
 *   d   double *          float, or int converted
 *   s   const char **     str (points into the value; no copy)
 *   s#  const char **, size_t *
 *   y#  const void **, size_t *   bytes
 *   O   const mproc_value_t **    any value (no copy)
 *   n   (nothing)         None only
 *
 * Markers: '|' — the parameters after it are optional (their outputs are left
 * untouched when not given); '$' — the parameters after it are keyword-only;
 * '*' at the end — extra positional arguments are allowed (ignored here; they
 * stay in the args); '**' at the end — extra keyword arguments are allowed
 * (they stay in the kwargs). Spaces separate items and are ignored.
 *
 * Example: the seed's run_proc(name, age, **kwargs) is "name=s age=i **".
 *
 * args must be a list or tuple (or NULL for none), kwargs a dict (or NULL).
 * When err is not NULL, a Python-style message ("run_proc() missing required
 * argument 'age' (pos 2)") is written into it on failure.
 * Errors: MPROC_EARITY (too many or too few), MPROC_EKEY (unknown or repeated
 * keyword), MPROC_ETYPE, MPROC_ERANGE, MPROC_EFORMAT. */
MPROC_API int mproc_unpack_values(const mproc_value_t *args, const mproc_value_t *kwargs,
                        char *err, size_t err_size, const char *fmt, ...);
MPROC_API int mproc_vunpack_values(const mproc_value_t *args,
                         const mproc_value_t *kwargs, char *err,
                         size_t err_size, const char *fmt, va_list ap);

/* ---- Encoding one value as a protobuf mproc.wire.Value message.
 *
 * mproc_value_encoded_size is exact and O(1) (sizes are kept up to date as
 * values are built). mproc_value_encode writes into buf, which must hold
 * that many bytes (MPROC_E2BIG otherwise), and returns the size. Decoding
 * checks everything: MPROC_EMALFORMED (mproc_last_error() says why:
 * "malformed Value: varint overflow"), MPROC_EDEPTH, MPROC_EUTF8. */
MPROC_API size_t mproc_value_encoded_size(const mproc_value_t *v);
MPROC_API int mproc_value_encode(const mproc_value_t *v, void *buf, size_t size);
MPROC_API int mproc_value_decode(mproc_value_t **out, const void *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_VALUE_H */
