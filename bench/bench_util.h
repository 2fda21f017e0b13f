/* Shared pieces of the benchmarks: timing, sample statistics, finding a
 * runfile, running Python and reading what it printed. */
#ifndef MPROC_BENCH_BENCH_UTIL_H
#define MPROC_BENCH_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_PYTHON "/usr/bin/python3"

void bench_die(const char *what, const char *why) __attribute__((noreturn));
/* Dies with mproc_strerror(rc) when rc < 0. */
void bench_check(int rc, const char *what);
uint64_t bench_now_ns(void);

typedef struct {
  double *v;
  size_t n, cap;
} samples_t;

typedef struct {
  double mean, median, min, max;
} stats_t;

void samples_add(samples_t *s, double x);
/* Sorts the samples. */
stats_t stats_of(samples_t *s);

/* The path of a file of this workspace ("bench/x.py") from the runfiles
 * tree (bazel run / bazel test) or the workspace (BUILD_WORKSPACE_DIRECTORY);
 * NULL when not found. Returns a static buffer. */
const char *bench_runfile(const char *argv0, const char *rel);

/* Runs argv (argv[0] a path) and returns its standard output, malloc'd;
 * dies if it cannot start or does not exit 0. */
char *bench_run_capture(char *const argv[]);

/* The value of "key=<number>" in text, or NAN. */
double bench_field(const char *text, const char *key);

#endif /* MPROC_BENCH_BENCH_UTIL_H */
