/* //bench:all, group "many" (issue 12): 10,000 Processes alive at once, each
 * napping 0.5 s, all started then all joined, under the soft descriptor
 * limit most programs start with (1,024) — next to a raw fork loop (which
 * holds no descriptors per child) and to Python's multiprocessing under the
 * same limit (which stops at about 508: "Too many open files"). */
#include <math.h>
#include <stdio.h>
#include <sys/resource.h>

#include "bench/all.h"
#include "bench/bench_util.h"
#include "multiproc.h"

void bench_group_many(const bench_opts_t *o) {
  size_t want = o->quick ? 2000 : 10000;
  /* A stock machine: soft 1,024, hard far higher (systemd: 524,288). The
   * group's process had its soft limit raised (all.c): set it back to
   * 1,024, and lift the hard limit to systemd's where it is lower and we
   * may (root with CAP_SYS_RESOURCE). */
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  struct rlimit stock = {1024, rl.rlim_max < 524288 ? 524288 : rl.rlim_max};
  if (setrlimit(RLIMIT_NOFILE, &stock) != 0) {
    stock.rlim_max = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &stock);
  }
  /* Two descriptors per child: the hard limit bounds how many can be alive
   * at once. */
  size_t n = want;
  if (stock.rlim_max != RLIM_INFINITY && 2 * want + 64 > stock.rlim_max) {
    n = (size_t)(stock.rlim_max - 64) / 2;
    bench_note("%zu concurrent Processes, not %zu: the hard descriptor limit "
               "is %llu here and could not be raised (each child holds 2)",
               n, want, (unsigned long long)stock.rlim_max);
  }
  size_t R = o->rounds < 2 ? o->rounds : 2; /* each round takes seconds */
  if (R == 0) R = 1;
  double s_raw[2] = {0}, s_mine[2] = {0}, t_raw[2] = {0}, t_mine[2] = {0};
  double s_fs[2] = {0}, t_fs[2] = {0};
  /* The fork server before any round: its start is not a child's. */
  bench_check(mproc_forkserver_start(), "mproc_forkserver_start");
  for (size_t r = 0; r < R; r++) {
    if (r % 2) {
      mproc_sleepers(n, 0.5, MPROC_START_FORKSERVER, &s_fs[r], &t_fs[r]);
      mproc_sleepers(n, 0.5, MPROC_START_FORK, &s_mine[r], &t_mine[r]);
      raw_sleepers(n, 0.5, &s_raw[r], &t_raw[r]);
    } else {
      raw_sleepers(n, 0.5, &s_raw[r], &t_raw[r]);
      mproc_sleepers(n, 0.5, MPROC_START_FORK, &s_mine[r], &t_mine[r]);
      mproc_sleepers(n, 0.5, MPROC_START_FORKSERVER, &s_fs[r], &t_fs[r]);
    }
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  bench_note("soft descriptor limit 1024 at the start; multiproc raised it to "
             "%llu", (unsigned long long)rl.rlim_cur);
  char name[96];
  double sm = bench_median(s_mine, R), sr = bench_median(s_raw, R);
  snprintf(name, sizeof name, "%zu Processes at once, soft limit 1024: started",
           n);
  bench_row(name, bench_fmt("%.3f s", sm), bench_fmt("%.3f s raw", sr), sm / sr,
            "(info)", -1);
  double tm = bench_median(t_mine, R), tr = bench_median(t_raw, R);
  snprintf(name, sizeof name, "%zu Processes at once, soft limit 1024: joined",
           n);
  bench_row(name, bench_fmt("%.3f s", tm), bench_fmt("%.3f s raw", tr), tm / tr,
            "(info)", -1);
  /* With the fork server, whose children inherit none of their siblings'
   * descriptors: no per-start cost that grows with the number alive. */
  double sf = bench_median(s_fs, R), tf = bench_median(t_fs, R);
  snprintf(name, sizeof name, "%zu at once, forkserver: started", n);
  bench_row(name, bench_fmt("%.3f s", sf), bench_fmt("%.3f s raw", sr), sf / sr,
            "(info)", -1);
  snprintf(name, sizeof name, "%zu at once, forkserver: joined", n);
  bench_row(name, bench_fmt("%.3f s", tf), bench_fmt("%.3f s raw", tr), tf / tr,
            "(info)", -1);
  /* Python under the same soft limit: how many it starts before failing. */
  char arg[32];
  snprintf(arg, sizeof arg, "%zu", n);
  double started = NAN;
  double secs = bench_py(o, "many", 1, arg, &started);
  const char *ref = o->py == NULL ? "skipped"
                    : isnan(started)
                        ? bench_fmt("%.3f s py, all", secs)
                        : bench_fmt("py stops at %.0f", started);
  snprintf(name, sizeof name, "%zu Processes at once, soft limit 1024 (vs Python)",
           n);
  bench_row(name, bench_fmt("%zu of %zu", n, n), ref, NAN,
            "all, where Python stops", o->py == NULL ? -1 : isnan(started) ? 0 : 1);
}
