/* A tiny helper for the examples: stop with a clear message on any error. */
#ifndef MPROC_EXAMPLES_CHECK_H
#define MPROC_EXAMPLES_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "multiproc.h"

static inline void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s (%s)\n", what, mproc_strerror(rc),
            mproc_err_name(rc));
    exit(1);
  }
}

#endif /* MPROC_EXAMPLES_CHECK_H */
