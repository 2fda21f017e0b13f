/* Checks shared by the fuzz targets (tests/fuzz/, one *_fuzz.c each). A
 * failed check prints what failed and aborts: libFuzzer treats that as a
 * crash and keeps the input; the replay test (replay_test.cc) dies and
 * fails. */
#ifndef MPROC_TESTS_FUZZ_FUZZ_UTIL_H
#define MPROC_TESTS_FUZZ_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "multiproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The entry point libFuzzer calls, defined once per target. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                        \
  do {                                                          \
    if (!(cond)) mproc_fuzz_fail(__FILE__, __LINE__, #cond, 0); \
  } while (0)

/* A check on a return code, which is named in the message. */
#define FUZZ_CHECK_RC(cond, rc)                                  \
  do {                                                           \
    if (!(cond)) mproc_fuzz_fail(__FILE__, __LINE__, #cond, rc); \
  } while (0)

void mproc_fuzz_fail(const char *file, int line, const char *what, int rc)
    __attribute__((noreturn));

/* True when v holds a NaN float anywhere: NaN is unequal to itself, so such
 * values are compared by their encodings only. */
bool mproc_fuzz_has_nan(const mproc_value_t *v);

/* v's encoding in a new malloc'd buffer of *n bytes, checking that it is
 * exactly the size mproc_value_encoded_size promised. */
uint8_t *mproc_fuzz_encode(const mproc_value_t *v, size_t *n);

/* a and b are the same value: the same bytes when encoded, and
 * mproc_value_equal unless a NaN is inside. NULL only equals NULL. */
void mproc_fuzz_check_same(const mproc_value_t *a, const mproc_value_t *b);

/* mproc_repr of v keeps snprintf's contract for every buffer size tried:
 * the same length each time, and a cut repr is a prefix of the whole. */
void mproc_fuzz_check_repr(const mproc_value_t *v);

/* A decoder's failure code is one its header promises. */
bool mproc_fuzz_decode_error_ok(int rc);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_TESTS_FUZZ_FUZZ_UTIL_H */
