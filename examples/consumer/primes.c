/* Counts the primes below N on a pool of workers: the range is cut into
 * blocks, one task per block, and the pool maps "count_block" over them.
 *   primes N [WORKERS]
 */
#include <stdio.h>
#include <stdlib.h>

#include "multiproc.h"

/* multiproc's own build settings stay inside it. */
#ifdef PB_ENABLE_MALLOC
#error "PB_ENABLE_MALLOC leaked from multiproc onto this compile line"
#endif

static int is_prime(int64_t n) {
  if (n < 2) return 0;
  for (int64_t d = 2; d * d <= n; d++)
    if (n % d == 0) return 0;
  return 1;
}

/* count_block((lo, hi)) -> the number of primes in [lo, hi). */
MPROC_TARGET(count_block) {
  int64_t lo, hi;
  if (mproc_unpack(call, "lo=L hi=L", &lo, &hi) < 0) return -1;
  if (lo > hi) return mproc_call_fail(call, "empty block [%lld, %lld)",
                                      (long long)lo, (long long)hi);
  int64_t count = 0;
  for (int64_t n = lo; n < hi; n++) count += is_prime(n);
  return mproc_call_return(call, "L", count);
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "primes: %s: %s (%s)\n", what, mproc_strerror(rc),
          mproc_err_name(rc));
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 || atoll(argv[1]) < 0) {
    fprintf(stderr, "usage: primes N [WORKERS]\n");
    return 2;
  }
  int64_t n = atoll(argv[1]);
  mproc_pool_opts_t opts = {0};
  if (argc == 3) opts.workers = (unsigned)atoi(argv[2]);

  /* Blocks of 10000 numbers, each an args tuple (lo, hi) for starmap. */
  const int64_t block = 10000;
  mproc_value_t *items;
  int rc = mproc_value_list(&items);
  if (rc < 0) return fail("list", rc);
  for (int64_t lo = 0; lo < n; lo += block) {
    mproc_value_t *t;
    int64_t hi = lo + block < n ? lo + block : n;
    if ((rc = mproc_pack(&t, "(LL)", lo, hi)) < 0) return fail("pack", rc);
    if ((rc = mproc_list_append(items, t)) < 0) return fail("append", rc);
  }

  mproc_pool_t *pool;
  rc = mproc_pool_new(&pool, &opts);
  if (rc < 0) return fail("pool", rc);
  mproc_value_t *counts;
  mproc_task_error_t err;
  rc = mproc_pool_starmap(pool, "count_block", items, 0, &counts, &err);
  if (rc < 0) {
    fprintf(stderr, "primes: %s\n", err.message);
    return 1;
  }
  int64_t total = 0;
  for (size_t i = 0; i < mproc_value_len(counts); i++) {
    const mproc_value_t *v;
    int64_t c;
    if ((rc = mproc_list_get(counts, i, &v)) < 0 ||
        (rc = mproc_value_get_int(v, &c)) < 0)
      return fail("result", rc);
    total += c;
  }
  printf("primes below %lld: %lld\n", (long long)n, (long long)total);
  mproc_value_free(counts);
  mproc_value_free(items);
  mproc_pool_close(pool);
  mproc_pool_join(pool, -1);
  mproc_pool_free(pool);
  return 0;
}
