#include "core/base/clock.h"

#include <math.h>
#include <time.h>

uint64_t mproc__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int mproc__timeout_valid(double timeout_s) { return !isnan(timeout_s); }

uint64_t mproc__deadline(double timeout_s) {
  if (timeout_s < 0 || isinf(timeout_s)) return UINT64_MAX;
  /* Beyond ~500 years the sum would overflow; that is "never" too. */
  if (timeout_s > 1.6e10) return UINT64_MAX;
  return mproc__now_ns() + (uint64_t)(timeout_s * 1e9);
}
