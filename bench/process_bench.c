/* Start+join benchmark: what one Process costs, next to a hand-written
 * fork/pipe/wait loop and to Python's multiprocessing.
 *
 *   raw        pipe2(O_CLOEXEC) + fork; the parent writes the same bytes
 *              multiproc sends (its encoded call frame), the child reads them
 *              and _exit(0)s; the parent waitpid()s.
 *   multiproc  mproc_process_new (args ('test', 18), kwargs {'m': 20}, packed
 *              once), start, join(-1), close; the target unpacks
 *              "name=s age=i **" and returns 0.
 *   python     multiprocessing.Process(target=f, args=('test', 18),
 *              kwargs={'m': 20}) start()+join(), fork start method, timed by
 *              bench/process_bench.py itself under /usr/bin/python3.
 *
 * The variants run interleaved: each round runs a slice of every variant, in
 * an order that rotates from round to round, so machine noise hits them all
 * alike. Every iteration is timed on CLOCK_MONOTONIC.
 *
 *   bazel run //bench:process_bench -- [--iters N] [--py-iters N]
 *       [--rounds R] [--only raw,multiproc,python]
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "multiproc.h"
#include "serialization/message.h" /* only to size the raw payload exactly */


#define PYTHON BENCH_PYTHON
#define C_WARMUP 50
#define PY_WARMUP 5

enum { RAW, MPROC, PY, NVARIANTS };
static const char *const variant_names[NVARIANTS] = {"raw", "multiproc",
                                                     "python"};

/* ---- small helpers */

#define die bench_die
#define check bench_check
#define now_ns bench_now_ns

/* ---- raw: the hand-written loop */

static void raw_child(int rd, size_t len) {
  uint8_t buf[4096];
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(rd, buf + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) _exit(2);
    got += (size_t)r;
  }
  _exit(0);
}

static void raw_once(const uint8_t *payload, size_t len) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) die("pipe2", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) die("fork", strerror(errno));
  if (pid == 0) {
    close(fds[1]);
    raw_child(fds[0], len);
  }
  if (close(fds[0]) != 0) die("close", strerror(errno));
  size_t put = 0;
  while (put < len) {
    ssize_t w = write(fds[1], payload + put, len - put);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("write", strerror(errno));
    put += (size_t)w;
  }
  if (close(fds[1]) != 0) die("close", strerror(errno));
  int status;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) die("waitpid", strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("raw child", "did not exit with 0");
}

/* ---- multiproc */

static int bench_target(mproc_call_t *call) {
  const char *name;
  int age;
  int rc = mproc_unpack(call, "name=s age=i **", &name, &age);
  if (rc < 0) return rc;
  if (strcmp(name, "test") != 0 || age != 18)
    return mproc_call_fail(call, "unexpected arguments");
  return 0;
}

static void mproc_once(const mproc_process_opts_t *opts) {
  mproc_process_t *p;
  check(mproc_process_new(&p, opts), "mproc_process_new");
  check(mproc_process_start(p), "mproc_process_start");
  check(mproc_process_join(p, -1), "mproc_process_join");
  int code = -1;
  int rc = mproc_process_exitcode(p, &code);
  check(rc, "mproc_process_exitcode");
  if (rc != 1 || code != 0) {
    const char *err = mproc_process_error(p);
    die("multiproc child", err ? err : "did not exit with 0");
  }
  check(mproc_process_close(p), "mproc_process_close");
}

/* ---- join precision */

static int sleep_target(mproc_call_t *call) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
  return 0;
}

static mproc_process_t *start_sleeper(double s) {
  mproc_value_t *args;
  check(mproc_pack(&args, "(d)", s), "mproc_pack");
  mproc_process_opts_t opts = {0};
  opts.target = sleep_target;
  opts.args = args;
  mproc_process_t *p;
  check(mproc_process_new(&p, &opts), "mproc_process_new");
  mproc_value_free(args);
  check(mproc_process_start(p), "mproc_process_start");
  return p;
}

/* How late join(timeout) gives up on a running child, and how soon a join
 * with a timeout (the pidfd + ppoll path) returns once the child's target
 * has returned (child-reported instant to join's return). */
static void join_precision(size_t runs) {
  samples_t late = {0}, wake = {0};
  for (size_t i = 0; i < runs; i++) {
    mproc_process_t *p = start_sleeper(10);
    uint64_t t0 = now_ns();
    if (mproc_process_join(p, 0.02) != MPROC_ETIMEDOUT)
      die("join(0.02)", "did not time out");
    samples_add(&late, (double)(now_ns() - t0) / 1e3 - 20000.0);
    check(mproc_process_kill(p), "mproc_process_kill");
    check(mproc_process_join(p, -1), "mproc_process_join");
    check(mproc_process_close(p), "mproc_process_close");

    p = start_sleeper(0.005);
    check(mproc_process_join(p, 10), "mproc_process_join");
    uint64_t back = now_ns();
    mproc_timing_t t;
    check(mproc_process_timing(p, &t), "mproc_process_timing");
    samples_add(&wake, (double)(back - t.returned_ns) / 1e3);
    check(mproc_process_close(p), "mproc_process_close");
  }
  stats_t l = stats_of(&late), w = stats_of(&wake);
  printf("\njoin precision (%zu runs)      median_us   max_us\n", runs);
  printf("join(0.02) returns late by   %10.1f %8.1f\n", l.median, l.max);
  printf("join back after target ret.  %10.1f %8.1f\n", w.median, w.max);
  free(late.v);
  free(wake.v);
}

/* ---- python */

/* Runs the script for iters iterations and adds its per-iteration times. */
static void python_round(const char *script, size_t iters, samples_t *out) {
  char iters_s[32], warm_s[32];
  snprintf(iters_s, sizeof iters_s, "%zu", iters);
  snprintf(warm_s, sizeof warm_s, "%d", PY_WARMUP);
  char *argv[] = {(char *)PYTHON, (char *)script, iters_s, warm_s, NULL};
  char *text = bench_run_capture(argv);
  char *line = strstr(text, "samples_us=");
  if (line == NULL) die(script, "no samples_us= line in its output");
  size_t before = out->n;
  char *s = line + strlen("samples_us="), *end;
  for (;;) {
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0) break;
    samples_add(out, v);
    if (*end != ',') break;
    s = end + 1;
  }
  if (out->n - before != iters) die(script, "wrong number of samples");
  free(text);
}

/* ---- driver */

static size_t parse_count(const char *flag, const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (s[0] == '-' || *end != '\0' || errno != 0 || v == 0 || v > 10000000)
    die(flag, "expects a positive count");
  return (size_t)v;
}

static void usage(void) {
  fprintf(stderr,
          "usage: process_bench [--iters N] [--py-iters N] [--rounds R]\n"
          "                     [--only raw,multiproc,python]\n");
  exit(2);
}

/* Iterations of round r when total is split over rounds. */
static size_t share(size_t total, size_t rounds, size_t r) {
  return total / rounds + (r < total % rounds ? 1 : 0);
}

int main(int argc, char **argv) {
  size_t iters = 2000, py_iters = 300, rounds = 10;
  bool on[NVARIANTS] = {true, true, true};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    if (strcmp(a, "--iters") == 0) {
      iters = parse_count(a, argv[++i]);
    } else if (strcmp(a, "--py-iters") == 0) {
      py_iters = parse_count(a, argv[++i]);
    } else if (strcmp(a, "--rounds") == 0) {
      rounds = parse_count(a, argv[++i]);
    } else if (strcmp(a, "--only") == 0) {
      const char *list = argv[++i];
      for (int v = 0; v < NVARIANTS; v++) on[v] = false;
      char copy[256];
      snprintf(copy, sizeof copy, "%s", list);
      for (char *save, *t = strtok_r(copy, ",", &save); t != NULL;
           t = strtok_r(NULL, ",", &save)) {
        int v = 0;
        while (v < NVARIANTS && strcmp(t, variant_names[v]) != 0) v++;
        if (v == NVARIANTS) die("--only", "expects raw, multiproc, python");
        on[v] = true;
      }
    } else {
      usage();
    }
  }

  /* The call, packed once; and the exact frame multiproc will send for it,
   * which the raw loop sends too. */
  mproc_value_t *args, *kwargs;
  check(mproc_pack(&args, "(si)", "test", 18), "mproc_pack args");
  check(mproc_pack(&kwargs, "{s:i}", "m", 20), "mproc_pack kwargs");
  mproc__buf_t frame = {0};
  mproc__call_out_t call = {NULL, args, kwargs, 0};
  check(mproc__call_encode_frame(&frame, &call), "encode call frame");
  mproc_process_opts_t opts = {0};
  opts.target = bench_target;
  opts.args = args;
  opts.kwargs = kwargs;

  const char *script = NULL;
  const char *py_missing = NULL;
  if (on[PY]) {
    if (access(PYTHON, X_OK) != 0) {
      py_missing = PYTHON " not found";
    } else if ((script = bench_runfile(argv[0], "bench/process_bench.py")) ==
               NULL) {
      py_missing = "bench/process_bench.py not found (runfiles, workspace)";
    }
    if (py_missing != NULL) on[PY] = false;
  }

  /* Everything printed so far is out before any fork. */
  fflush(stdout);

  for (int w = 0; w < C_WARMUP; w++) {
    if (on[RAW]) raw_once(frame.p, frame.len);
    if (on[MPROC]) mproc_once(&opts);
  }

  samples_t samples[NVARIANTS];
  memset(samples, 0, sizeof samples);
  uint64_t t_start = now_ns();
  for (size_t r = 0; r < rounds; r++) {
    for (int k = 0; k < NVARIANTS; k++) {
      int v = (int)((r + (size_t)k) % NVARIANTS);
      if (!on[v]) continue;
      if (v == PY) {
        size_t n = share(py_iters, rounds, r);
        if (n > 0) python_round(script, n, &samples[PY]);
        continue;
      }
      size_t n = share(iters, rounds, r);
      for (size_t i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        if (v == RAW)
          raw_once(frame.p, frame.len);
        else
          mproc_once(&opts);
        samples_add(&samples[v], (double)(now_ns() - t0) / 1e3);
      }
    }
  }
  double total_s = (double)(now_ns() - t_start) / 1e9;

  /* ---- report */
  struct utsname u;
  if (uname(&u) != 0) die("uname", strerror(errno));
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  printf("multiproc start+join benchmark\n");
  printf("machine : nproc=%ld, %s %s %s\n", ncpu, u.sysname, u.release,
         u.machine);
  const char *ws = getenv("BUILD_WORKSPACE_DIRECTORY");
  printf("command : %s", ws ? "bazel run //bench:process_bench --" : argv[0]);
  for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
  printf("\n");
  printf("settings: iters=%zu (C), py-iters=%zu, rounds=%zu, interleaved; "
         "payload %zu bytes (multiproc's call frame)\n",
         iters, py_iters, rounds, frame.len);
  if (py_missing != NULL)
    printf("python  : unavailable (%s); C figures only\n", py_missing);
  else if (on[PY])
    printf("python  : %s %s\n", PYTHON, script);
  printf("\n%-10s %7s %10s %10s %10s\n", "variant", "n", "mean_us",
         "median_us", "min_us");
  stats_t st[NVARIANTS];
  for (int v = 0; v < NVARIANTS; v++) {
    st[v] = stats_of(&samples[v]);
    if (!on[v]) continue;
    printf("%-10s %7zu %10.1f %10.1f %10.1f\n", variant_names[v],
           samples[v].n, st[v].mean, st[v].median, st[v].min);
  }
  printf("\n%-17s %7s %7s  %s\n", "ratio", "mean", "median", "goal");
  if (on[RAW] && on[MPROC]) {
    double rm = st[MPROC].mean / st[RAW].mean;
    double rmed = st[MPROC].median / st[RAW].median;
    printf("%-17s %7.2f %7.2f  <= 1.3 %s\n", "multiproc/raw", rm, rmed,
           rmed <= 1.3 ? "met" : "NOT met");
  }
  if (on[PY] && on[MPROC]) {
    double rm = st[PY].mean / st[MPROC].mean;
    double rmed = st[PY].median / st[MPROC].median;
    printf("%-17s %7.2f %7.2f  >= 10  %s\n", "python/multiproc", rm, rmed,
           rmed >= 10 ? "met" : "NOT met");
  }
  printf("\nmeasured in %.1f s (goals judged on the median)\n", total_s);
  if (on[MPROC]) join_precision(20);

  for (int v = 0; v < NVARIANTS; v++) free(samples[v].v);
  mproc__buf_free(&frame);
  mproc_value_free(args);
  mproc_value_free(kwargs);
  return 0;
}
