/* //bench:all, Process rows: one start+join (against a raw
 * pipe2+fork+write+read+_exit+waitpid loop sending the same bytes, and
 * against Python's Process), and 1,000 processes that each sleep 0.5 s,
 * all started, then all joined (against a raw fork loop). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/all.h"
#include "multiproc.h"
#include "serialization/message.h" /* the exact call frame, for raw */

/* ---- start+join */

static void raw_once(const uint8_t *payload, size_t len) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) bench_die("pipe2", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) bench_die("fork", strerror(errno));
  if (pid == 0) {
    close(fds[1]);
    uint8_t buf[4096];
    size_t got = 0;
    while (got < len) {
      ssize_t r = read(fds[0], buf + got, len - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) _exit(2);
      got += (size_t)r;
    }
    _exit(0);
  }
  close(fds[0]);
  size_t put = 0;
  while (put < len) {
    ssize_t w = write(fds[1], payload + put, len - put);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) bench_die("write", strerror(errno));
    put += (size_t)w;
  }
  close(fds[1]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) bench_die("waitpid", strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    bench_die("raw child", "did not exit with 0");
}

static int start_target(mproc_call_t *call) {
  const char *name;
  int age;
  if (mproc_unpack(call, "name=s age=i **", &name, &age) < 0) return -1;
  if (strcmp(name, "test") != 0 || age != 18)
    return mproc_call_fail(call, "unexpected arguments");
  return 0;
}

static void mproc_once(const mproc_process_opts_t *opts) {
  mproc_process_t *p;
  bench_check(mproc_process_new(&p, opts), "mproc_process_new");
  bench_check(mproc_process_start(p), "mproc_process_start");
  bench_check(mproc_process_join(p, -1), "mproc_process_join");
  int code = -1;
  if (mproc_process_exitcode(p, &code) != 1 || code != 0)
    bench_die("multiproc child", "did not exit with 0");
  bench_check(mproc_process_close(p), "mproc_process_close");
}

/* ---- 1,000 sleepers */

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Registered: a fork server's child finds its target by name. */
MPROC_TARGET(sleeper) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  sleep_s(s);
  return 0;
}

void raw_sleepers(size_t n, double s, double *start, double *total) {
  pid_t *pids = malloc(n * sizeof *pids);
  if (pids == NULL) bench_die("malloc", strerror(errno));
  fflush(NULL);
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    pids[i] = fork();
    if (pids[i] < 0) bench_die("fork", strerror(errno));
    if (pids[i] == 0) {
      sleep_s(s);
      _exit(0);
    }
  }
  uint64_t t1 = bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    int status;
    while (waitpid(pids[i], &status, 0) < 0)
      if (errno != EINTR) bench_die("waitpid", strerror(errno));
  }
  uint64_t t2 = bench_now_ns();
  free(pids);
  *start = (double)(t1 - t0) / 1e9;
  *total = (double)(t2 - t0) / 1e9;
}

void mproc_sleepers(size_t n, double s, mproc_start_method_t method,
                    double *start, double *total) {
  mproc_process_t **ps = malloc(n * sizeof *ps);
  mproc_value_t *args;
  bench_check(mproc_pack(&args, "(d)", s), "pack");
  if (ps == NULL) bench_die("malloc", strerror(errno));
  mproc_process_opts_t opts = {0};
  opts.target = sleeper;
  opts.args = args;
  opts.start_method = method;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    bench_check(mproc_process_new(&ps[i], &opts), "mproc_process_new");
    int rc = mproc_process_start(ps[i]);
    /* The detail says which limit stopped it (descriptors, processes). */
    if (rc != 0) bench_die("mproc_process_start", mproc_last_error());
  }
  uint64_t t1 = bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    bench_check(mproc_process_join(ps[i], -1), "mproc_process_join");
    bench_check(mproc_process_close(ps[i]), "mproc_process_close");
  }
  uint64_t t2 = bench_now_ns();
  mproc_value_free(args);
  free(ps);
  *start = (double)(t1 - t0) / 1e9;
  *total = (double)(t2 - t0) / 1e9;
}

void bench_group_process(const bench_opts_t *o) {
  size_t iters = o->quick ? 200 : 2000, py_iters = o->quick ? 30 : 300;
  size_t nsleep = o->quick ? 100 : 1000;
  mproc_value_t *args, *kwargs;
  bench_check(mproc_pack(&args, "(si)", "test", 18), "pack");
  bench_check(mproc_pack(&kwargs, "{s:i}", "m", 20), "pack");
  mproc__buf_t frame = {0};
  mproc__call_out_t call = {NULL, args, kwargs, 0};
  bench_check(mproc__call_encode_frame(&frame, &call), "encode");
  mproc_process_opts_t opts = {0};
  opts.target = start_target;
  opts.args = args;
  opts.kwargs = kwargs;

  size_t R = o->rounds;
  for (int w = 0; w < 50; w++) {
    raw_once(frame.p, frame.len);
    mproc_once(&opts);
  }
  samples_t raw = {0}, mine = {0};
  double py[64] = {0}, s_raw[64] = {0}, s_mine[64] = {0}, t_raw[64] = {0},
         t_mine[64] = {0}, s_fs[64] = {0}, t_fs[64] = {0};
  /* The fork server before any round: its start is not a child's. */
  bench_check(mproc_forkserver_start(), "mproc_forkserver_start");
  for (size_t r = 0; r < R; r++) {
    size_t n = iters / R + 1;
    char pn[32];
    snprintf(pn, sizeof pn, "%zu", py_iters / R + 1);
    double pmed = NAN;
    if (r % 2 == 1) (void)bench_py(o, "process", 1, pn, &pmed);
    for (size_t i = 0; i < n; i++) {
      uint64_t t0 = bench_now_ns();
      raw_once(frame.p, frame.len);
      uint64_t t1 = bench_now_ns();
      mproc_once(&opts);
      uint64_t t2 = bench_now_ns();
      samples_add(&raw, (double)(t1 - t0) / 1e3);
      samples_add(&mine, (double)(t2 - t1) / 1e3);
    }
    if (r % 2 == 0) (void)bench_py(o, "process", 1, pn, &pmed);
    py[r] = pmed;
    if (r % 2) {
      mproc_sleepers(nsleep, 0.5, MPROC_START_FORKSERVER, &s_fs[r], &t_fs[r]);
      mproc_sleepers(nsleep, 0.5, MPROC_START_FORK, &s_mine[r], &t_mine[r]);
      raw_sleepers(nsleep, 0.5, &s_raw[r], &t_raw[r]);
    } else {
      raw_sleepers(nsleep, 0.5, &s_raw[r], &t_raw[r]);
      mproc_sleepers(nsleep, 0.5, MPROC_START_FORK, &s_mine[r], &t_mine[r]);
      mproc_sleepers(nsleep, 0.5, MPROC_START_FORKSERVER, &s_fs[r], &t_fs[r]);
    }
  }
  double m_raw = stats_of(&raw).median, m_mine = stats_of(&mine).median;
  double m_py = bench_median(py, R);
  double ratio = m_mine / m_raw;
  bench_row("Process start+join (vs raw fork+pipe+wait)",
            bench_fmt("%.1f us", m_mine), bench_fmt("%.1f us raw", m_raw),
            ratio, "<= 1.3x raw", ratio <= 1.3);
  ratio = m_py / m_mine;
  bench_row("Process start+join (vs Python)", bench_fmt("%.1f us", m_mine),
            o->py ? bench_fmt("%.1f us py", m_py) : "skipped", ratio,
            ">= 10x Python", isnan(ratio) ? -1 : ratio >= 10);
  char name[64];
  double sm = bench_median(s_mine, R), sr = bench_median(s_raw, R);
  snprintf(name, sizeof name, "%zu x sleep 0.5 s: all started", nsleep);
  bench_row(name, bench_fmt("%.3f s", sm), bench_fmt("%.3f s raw", sr),
            sm / sr, "<= 1.3x raw", sm / sr <= 1.3);
  double tm = bench_median(t_mine, R), tr = bench_median(t_raw, R);
  snprintf(name, sizeof name, "%zu x sleep 0.5 s: all joined", nsleep);
  bench_row(name, bench_fmt("%.3f s", tm), bench_fmt("%.3f s raw", tr),
            tm / tr, "<= 1.3x raw", tm / tr <= 1.3);
  /* The same through the fork server (the start method that keeps a
   * child from inheriting, and closing, its siblings' descriptors). */
  double sf = bench_median(s_fs, R), tf = bench_median(t_fs, R);
  snprintf(name, sizeof name, "(info) %zu x sleep, forkserver: started",
           nsleep);
  bench_row(name, bench_fmt("%.3f s", sf), bench_fmt("%.3f s raw", sr),
            sf / sr, "(info)", -1);
  snprintf(name, sizeof name, "(info) %zu x sleep, forkserver: joined", nsleep);
  bench_row(name, bench_fmt("%.3f s", tf), bench_fmt("%.3f s raw", tr),
            tf / tr, "(info)", -1);
  free(raw.v);
  free(mine.v);
  mproc__buf_free(&frame);
  mproc_value_free(args);
  mproc_value_free(kwargs);
}
