/* //bench:all — every row of issue 8's two tables in one run. The groups
 * of rows live in all_pool.c, all_process.c, all_payload.c, all_skew.c and
 * all_psha.c; all.c parses the flags, runs the groups and prints the
 * table. */
#ifndef MPROC_BENCH_ALL_H
#define MPROC_BENCH_ALL_H

#include <stdbool.h>
#include <stddef.h>

#include "bench/bench_util.h"
#include "multiproc/process.h"

typedef struct {
  const char *argv0;
  size_t rounds;      /* interleaved rounds per row (medians over them) */
  bool quick;         /* smaller sizes: a smoke run, not a measurement */
  unsigned workers;   /* pool size for the throughput rows (cores) */
  const char *py;     /* all.py, or NULL when python3 is missing */
  const char *py_why; /* why Python is skipped */
} bench_opts_t;

/* One line of the table. ratio is printed as is (NAN: "-"); met is 1, 0, or
 * -1 when there is nothing to judge (a skipped reference). */
void bench_row(const char *workload, const char *figure, const char *reference,
               double ratio, const char *goal, int met);
/* A note printed under the table. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs all.py MODE workers arg and returns its seconds= (NAN when Python is
 * skipped); median_us, when not NULL, gets its median_us= too. */
double bench_py(const bench_opts_t *o, const char *mode, unsigned workers,
                const char *arg, double *median_us);

double bench_median(const double *v, size_t n);
/* "%.3f s", "%.1f us", "%.0f MB/s" into a static ring of buffers. */
const char *bench_fmt(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The groups. Each measures its rows, interleaving multiproc with its
 * references round by round, and adds them to the table. */
void bench_group_pool(const bench_opts_t *o);
void bench_group_process(const bench_opts_t *o);
void bench_group_payload(const bench_opts_t *o);
void bench_group_skew(const bench_opts_t *o);
void bench_group_psha(const bench_opts_t *o);
void bench_group_many(const bench_opts_t *o);

/* n children sleeping s seconds each, all started, then all joined (the
 * "process" and "many" groups): start and total seconds, as raw forks and
 * as multiproc Processes started with the given method. */
void raw_sleepers(size_t n, double s, double *start, double *total);
void mproc_sleepers(size_t n, double s, mproc_start_method_t method,
                    double *start, double *total);
void bench_group_ipc(const bench_opts_t *o);
void bench_group_start(const bench_opts_t *o);

#endif /* MPROC_BENCH_ALL_H */
