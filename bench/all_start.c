/* //bench:all, group "start" (issue 11): one Process start+join with each
 * start method, against the parent's resident set — a small parent, then
 * one that has written 1 GiB and 4 GiB (--quick: 256 MiB). fork copies the
 * parent's page tables, so its start grows with the parent; spawn execs
 * from a vfork-style child that copies nothing, and forkserver asks a
 * server spawned early, so theirs should not. A pool's first result (its
 * fork server's start, one worker, one task) with spawn (the server exec'd
 * fresh; forkserver is the same for a pool) against fork, likewise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/all.h"
#include "bench/bench_util.h"
#include "multiproc.h"

MPROC_TARGET(start_noop) {
  (void)call;
  return 0;
}

/* Median ms of n start+join+close with method m. */
static double start_join_ms(mproc_start_method_t m, size_t n) {
  double v[64];
  if (n > 64) n = 64;
  mproc_process_opts_t opts = {0};
  opts.target_name = "start_noop";
  opts.start_method = m;
  for (size_t i = 0; i < n; i++) {
    uint64_t t0 = bench_now_ns();
    mproc_process_t *p;
    bench_check(mproc_process_new(&p, &opts), "mproc_process_new");
    int rc = mproc_process_start(p);
    if (rc != 0) bench_die("mproc_process_start", mproc_last_error());
    bench_check(mproc_process_join(p, -1), "mproc_process_join");
    int code = -1;
    if (mproc_process_exitcode(p, &code) != 1 || code != 0)
      bench_die("start_noop", "the child failed");
    bench_check(mproc_process_close(p), "mproc_process_close");
    v[i] = (double)(bench_now_ns() - t0) / 1e6;
  }
  return bench_median(v, n);
}

/* Median ms of n pool_new (one worker) + its first result + free with
 * method m: the fork server's start (forked from the parent, or exec'd
 * fresh), one worker forked from it, one task. */
static double pool_first_ms(mproc_start_method_t m, size_t n) {
  double v[64];
  if (n > 64) n = 64;
  mproc_pool_opts_t opts = {0};
  opts.workers = 1;
  opts.start_method = m;
  for (size_t i = 0; i < n; i++) {
    uint64_t t0 = bench_now_ns();
    mproc_pool_t *pool;
    if (mproc_pool_new(&pool, &opts) != 0)
      bench_die("mproc_pool_new", mproc_last_error());
    mproc_value_t *result = NULL;
    mproc_task_error_t err;
    if (mproc_pool_apply(pool, "start_noop", NULL, NULL, &result, &err) != 0)
      bench_die("mproc_pool_apply", err.message);
    mproc_value_free(result);
    mproc_pool_free(pool);
    v[i] = (double)(bench_now_ns() - t0) / 1e6;
  }
  return bench_median(v, n);
}

static long rss_mb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = 0;
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
  if (f != NULL) fclose(f);
  return kb / 1024;
}

void bench_group_start(const bench_opts_t *o) {
  const size_t mib[] = {0, 1024, 4096};
  const size_t quick_mib[] = {0, 256};
  const size_t *sizes = o->quick ? quick_mib : mib;
  size_t nsizes = o->quick ? 2 : 3;
  size_t R = o->rounds ? o->rounds : 1, n = o->quick ? 5 : 20;
  if (R > 16) R = 16;
  char *mem = NULL;
  size_t have = 0;
  double spawn0 = 0, server0 = 0;
  /* The server is started before the parent grows, as it should be. */
  bench_check(mproc_forkserver_start(), "mproc_forkserver_start");
  for (size_t s = 0; s < nsizes; s++) {
    size_t want = sizes[s] << 20;
    if (want > have) {
      char *grown = realloc(mem, want);
      if (grown == NULL) {
        bench_note("start: no memory for a %zu MiB parent; rows stop there",
                   sizes[s]);
        break;
      }
      mem = grown;
      memset(mem + have, 1, want - have); /* resident, written */
      have = want;
    }
    double f[16], sp[16], fs[16];
    /* spawn and forkserver interleaved; fork after them: from a big parent
     * its children's page tables (copied, then torn down) load the machine
     * for a while, which would be billed to whatever runs next. */
    for (size_t r = 0; r < R; r++) {
      if (r % 2) {
        sp[r] = start_join_ms(MPROC_START_SPAWN, n);
        fs[r] = start_join_ms(MPROC_START_FORKSERVER, n);
      } else {
        fs[r] = start_join_ms(MPROC_START_FORKSERVER, n);
        sp[r] = start_join_ms(MPROC_START_SPAWN, n);
      }
    }
    for (size_t r = 0; r < R; r++) f[r] = start_join_ms(MPROC_START_FORK, n);
    /* Pools the same way: the fresh server first, fork's after. */
    double pf[16], ps[16];
    size_t pn = o->quick ? 3 : 5;
    for (size_t r = 0; r < R; r++) ps[r] = pool_first_ms(MPROC_START_SPAWN, pn);
    for (size_t r = 0; r < R; r++) pf[r] = pool_first_ms(MPROC_START_FORK, pn);
    double pfm = bench_median(pf, R), psm = bench_median(ps, R);
    double fm = bench_median(f, R), sm = bench_median(sp, R),
           fsm = bench_median(fs, R);
    if (s == 0) {
      spawn0 = sm;
      server0 = fsm;
    }
    char name[96];
    long rss = rss_mb();
    snprintf(name, sizeof name, "start+join, parent RSS %ld MiB: spawn", rss);
    bench_row(name, bench_fmt("%.2f ms", sm), bench_fmt("%.2f ms fork", fm),
              sm / fm, "(info)", -1);
    snprintf(name, sizeof name, "start+join, parent RSS %ld MiB: forkserver",
             rss);
    bench_row(name, bench_fmt("%.2f ms", fsm), bench_fmt("%.2f ms fork", fm),
              fsm / fm, "(info)", -1);
    snprintf(name, sizeof name,
             "pool new+first result+free, parent RSS %ld MiB: spawn", rss);
    bench_row(name, bench_fmt("%.2f ms", psm), bench_fmt("%.2f ms fork", pfm),
              psm / pfm, "(info)", -1);
    if (s > 0) {
      snprintf(name, sizeof name,
               "start+join, parent RSS %ld MiB: spawn vs small parent", rss);
      bench_row(name, bench_fmt("%.2f ms", sm),
                bench_fmt("%.2f ms small", spawn0), sm / spawn0,
                "< 2x: independent of size", sm / spawn0 < 2);
      snprintf(name, sizeof name,
               "start+join, parent RSS %ld MiB: forkserver vs small", rss);
      bench_row(name, bench_fmt("%.2f ms", fsm),
                bench_fmt("%.2f ms small", server0), fsm / server0,
                "< 2x: independent of size", fsm / server0 < 2);
    }
  }
  free(mem);
}
