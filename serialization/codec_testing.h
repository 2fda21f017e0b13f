/* multiproc internal — for tests only: which implementation of the value
 * codec runs (serialization/codec.h). The fast one is the default; tests
 * run the same inputs through both and compare. */
#ifndef MPROC_SERIALIZATION_CODEC_TESTING_H
#define MPROC_SERIALIZATION_CODEC_TESTING_H

#ifdef __cplusplus
extern "C" {
#endif

/* 1: the generic implementation (nanopb's stream primitives) from now on;
 * 0: the fast one again. Not thread-safe: set it while nothing codes. */
void mproc__codec_use_generic(int on);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SERIALIZATION_CODEC_TESTING_H */
