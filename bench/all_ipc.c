/* //bench:all, group "ipc" (issue 10): multiproc's Queue and Pipe next to
 * a raw pipe carrying the same bytes and to Python's multiprocessing.Queue,
 * interleaved round by round:
 *
 *   queue     a child puts N small items (the ints 0..N-1), the parent
 *             gets them; next to Python's mp.Queue doing the same (all.py
 *             queue N), and to a raw pipe carrying the very frames (4-byte
 *             length + the value's encoding), one write(2) per item, read
 *             in 64 KiB reads
 *   roundtrip a value sent and sent back over a duplex Pipe, next to a
 *             1-byte ping-pong over a raw socketpair (the same transport)
 *             and over two raw pipes
 *   bulk      one 256 MiB bytes value through a Queue (put in a child, got
 *             in the parent), next to 256 MiB written through a raw pipe
 *             into a fresh buffer
 *
 *   bazel run -c opt //bench:all -- --only ipc
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/all.h"
#include "bench/bench_util.h"
#include "multiproc.h"

static pid_t fork_child(void) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) bench_die("fork", strerror(errno));
  return pid;
}

static void reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bench_die("child", "failed");
}

static double seconds_since(uint64_t t0) {
  return (double)(bench_now_ns() - t0) / 1e9;
}

/* ---- queue: small items, one producer process, the parent consuming. */

static double queue_mproc_s(size_t n) {
  mproc_queue_t *q;
  bench_check(mproc_queue_new(&q, NULL), "queue");
  uint64_t t0 = bench_now_ns();
  pid_t pid = fork_child();
  if (pid == 0) {
    for (size_t i = 0; i < n; i++) {
      mproc_value_t *v;
      if (mproc_value_int(&v, (int64_t)i) < 0) _exit(1);
      if (mproc_queue_put(q, v, -1) < 0) _exit(2);
      mproc_value_free(v);
    }
    _exit(0);
  }
  for (size_t i = 0; i < n; i++) {
    mproc_value_t *v;
    bench_check(mproc_queue_get(q, &v, 30), "get");
    int64_t x;
    bench_check(mproc_value_get_int(v, &x), "int");
    if ((size_t)x != i) bench_die("queue", "out of order");
    mproc_value_free(v);
  }
  double s = seconds_since(t0);
  reap(pid);
  mproc_queue_close(q);
  return s;
}

/* The frames a Connection would carry for the ints 0..n-1. */
static uint8_t *frames_of(size_t n, size_t **ends) {
  size_t cap = n * 16, len = 0;
  uint8_t *buf = malloc(cap);
  *ends = malloc(n * sizeof **ends);
  if (buf == NULL || *ends == NULL) bench_die("malloc", "no memory");
  for (size_t i = 0; i < n; i++) {
    mproc_value_t *v;
    bench_check(mproc_value_int(&v, (int64_t)i), "int");
    size_t size = mproc_value_encoded_size(v);
    buf[len] = (uint8_t)size;
    buf[len + 1] = buf[len + 2] = buf[len + 3] = 0;
    bench_check(mproc_value_encode(v, buf + len + 4, size), "encode");
    len += 4 + size;
    (*ends)[i] = len;
    mproc_value_free(v);
  }
  return buf;
}

static double queue_raw_s(size_t n, const uint8_t *frames, const size_t *ends) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) bench_die("pipe2", strerror(errno));
  uint64_t t0 = bench_now_ns();
  pid_t pid = fork_child();
  if (pid == 0) {
    close(p[0]);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
      size_t len = ends[i] - at;
      if (write(p[1], frames + at, len) != (ssize_t)len) _exit(1);
      at = ends[i];
    }
    _exit(0);
  }
  close(p[1]);
  static uint8_t buf[64 << 10];
  size_t have = 0, items = 0;
  for (;;) {
    ssize_t r = read(p[0], buf + have, sizeof buf - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += (size_t)r;
    size_t at = 0;
    while (have - at >= 4 && have - at >= 4 + (size_t)buf[at]) {
      at += 4 + buf[at];
      items++;
    }
    memmove(buf, buf + at, have - at);
    have -= at;
  }
  double s = seconds_since(t0);
  close(p[0]);
  reap(pid);
  if (items != n) bench_die("raw queue", "lost frames");
  return s;
}

/* ---- roundtrip. */

static double roundtrip_mproc_us(size_t n) {
  mproc_conn_t *a, *b;
  bench_check(mproc_pipe(&a, &b, true), "pipe");
  pid_t pid = fork_child();
  if (pid == 0) {
    mproc_conn_close(a);
    for (;;) {
      mproc_value_t *v;
      int rc = mproc_conn_recv(b, &v);
      if (rc == MPROC_EOF) _exit(0);
      if (rc < 0 || mproc_conn_send(b, v) < 0) _exit(1);
      mproc_value_free(v);
    }
  }
  mproc_conn_close(b);
  uint64_t t0 = 0;
  for (size_t i = 0; i < n + 100; i++) {
    if (i == 100) t0 = bench_now_ns(); /* after a warm-up */
    mproc_value_t *v, *back;
    bench_check(mproc_value_int(&v, (int64_t)i), "int");
    bench_check(mproc_conn_send(a, v), "send");
    bench_check(mproc_conn_recv(a, &back), "recv");
    mproc_value_free(v);
    mproc_value_free(back);
  }
  double us = seconds_since(t0) * 1e6 / (double)n;
  mproc_conn_close(a);
  reap(pid);
  return us;
}

/* 1-byte ping-pong: over one socketpair (duplex) or two pipes. */
static double roundtrip_raw_us(size_t n, bool socket) {
  int a[2], b[2];
  if (socket) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) < 0)
      bench_die("socketpair", strerror(errno));
    b[0] = a[1];
    b[1] = a[0];
  } else if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0) {
    bench_die("pipe2", strerror(errno));
  }
  /* Parent writes a[1], reads b[0]; child reads a[0], writes b[1]. */
  int pw = a[1], pr = socket ? a[1] : b[0];
  int cr = a[0], cw = socket ? a[0] : b[1];
  pid_t pid = fork_child();
  char c = 'x';
  if (pid == 0) {
    if (!socket) {
      close(a[1]);
      close(b[0]);
    } else {
      close(a[1]);
    }
    for (;;) {
      ssize_t r = read(cr, &c, 1);
      if (r <= 0) _exit(0);
      if (write(cw, &c, 1) != 1) _exit(1);
    }
  }
  if (!socket) {
    close(a[0]);
    close(b[1]);
  } else {
    close(a[0]);
  }
  uint64_t t0 = 0;
  for (size_t i = 0; i < n + 100; i++) {
    if (i == 100) t0 = bench_now_ns();
    if (write(pw, &c, 1) != 1 || read(pr, &c, 1) != 1)
      bench_die("ping-pong", "short transfer");
  }
  double us = seconds_since(t0) * 1e6 / (double)n;
  close(pw);
  if (!socket) close(pr);
  reap(pid);
  return us;
}

/* ---- bulk: one big value. The producer has it ready; the clock runs
 * from "go" to the consumer holding its copy. */

static double bulk_mproc_mbs(size_t bytes) {
  mproc_queue_t *q;
  mproc_event_t *ready, *go;
  bench_check(mproc_queue_new(&q, NULL), "queue");
  bench_check(mproc_event_new(&ready), "event");
  bench_check(mproc_event_new(&go), "event");
  pid_t pid = fork_child();
  if (pid == 0) {
    char *data = malloc(bytes);
    if (data == NULL) _exit(1);
    memset(data, 'q', bytes);
    mproc_value_t *v;
    if (mproc_value_bytes(&v, data, bytes) < 0) _exit(1);
    free(data);
    mproc_event_set(ready);
    if (mproc_event_wait(go, 60) < 0) _exit(1);
    if (mproc_queue_put(q, v, -1) < 0) _exit(2);
    mproc_value_free(v);
    _exit(0);
  }
  bench_check(mproc_event_wait(ready, 60), "ready");
  uint64_t t0 = bench_now_ns();
  mproc_event_set(go);
  mproc_value_t *v;
  bench_check(mproc_queue_get(q, &v, 60), "get");
  double s = seconds_since(t0);
  if (mproc_value_len(v) != bytes) bench_die("bulk", "wrong size");
  mproc_value_free(v);
  reap(pid);
  mproc_event_free(ready);
  mproc_event_free(go);
  mproc_queue_close(q);
  return (double)bytes / s / 1e6;
}

static double bulk_raw_mbs(size_t bytes) {
  int p[2], ready[2];
  if (pipe2(p, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0)
    bench_die("pipe2", strerror(errno));
  pid_t pid = fork_child();
  if (pid == 0) {
    close(p[0]);
    close(ready[0]);
    char *data = malloc(bytes);
    if (data == NULL) _exit(1);
    memset(data, 'q', bytes);
    if (write(ready[1], "r", 1) != 1) _exit(1);
    for (size_t at = 0; at < bytes;) {
      ssize_t w = write(p[1], data + at, bytes - at);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) _exit(2);
      at += (size_t)w;
    }
    _exit(0);
  }
  close(p[1]);
  close(ready[1]);
  char c;
  if (read(ready[0], &c, 1) != 1) bench_die("bulk raw", "no ready");
  /* The child writes as soon as it is ready; the clock starts with the
   * reader's first read, which is as early as it can be. */
  uint64_t t0 = bench_now_ns();
  char *buf = malloc(bytes); /* fresh, as a received value is */
  if (buf == NULL) bench_die("malloc", "no memory");
  size_t got = 0;
  while (got < bytes) {
    ssize_t r = read(p[0], buf + got, bytes - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) bench_die("bulk raw", "short");
    got += (size_t)r;
  }
  double s = seconds_since(t0);
  free(buf);
  close(p[0]);
  close(ready[0]);
  reap(pid);
  return (double)bytes / s / 1e6;
}

static double median(double *v, size_t n) {
  samples_t s = {v, n, n};
  return stats_of(&s).median;
}

void bench_group_ipc(const bench_opts_t *o) {
  size_t items = o->quick ? 20000 : 200000, trips = o->quick ? 2000 : 20000;
  size_t bulk = (size_t)(o->quick ? 32 : 256) << 20;
  size_t rounds = o->rounds > 16 ? 16 : o->rounds ? o->rounds : 1;
  size_t *ends;
  uint8_t *frames = frames_of(items, &ends);
  double q_m[16], q_r[16], q_p[16], rt_m[16], rt_s[16], rt_p[16], b_m[16],
      b_r[16];
  char n_s[32];
  snprintf(n_s, sizeof n_s, "%zu", items);
  for (size_t r = 0; r < rounds; r++) {
    q_m[r] = queue_mproc_s(items);
    q_r[r] = queue_raw_s(items, frames, ends);
    q_p[r] = bench_py(o, "queue", 1, n_s, NULL);
    rt_m[r] = roundtrip_mproc_us(trips);
    rt_s[r] = roundtrip_raw_us(trips, true);
    rt_p[r] = roundtrip_raw_us(trips, false);
    b_m[r] = bulk_mproc_mbs(bulk);
    b_r[r] = bulk_raw_mbs(bulk);
  }
  free(frames);
  free(ends);
  double qm = median(q_m, rounds), qp = median(q_p, rounds),
         qr = median(q_r, rounds);
  double ratio = qp / qm;
  bench_row("Queue, small items (vs Python mp.Queue)",
            bench_fmt("%.0f k/s", (double)items / qm / 1e3),
            o->py ? bench_fmt("%.0f k/s py", (double)items / qp / 1e3)
                  : "skipped",
            ratio, ">= 5x Python", isnan(ratio) ? -1 : ratio >= 5);
  ratio = qm / qr;
  bench_row("Queue, small items (vs raw pipe, same bytes)",
            bench_fmt("%.0f k/s", (double)items / qm / 1e3),
            bench_fmt("%.0f k/s raw", (double)items / qr / 1e3), ratio,
            "<= 2x raw time", ratio <= 2);
  double rtm = median(rt_m, rounds), rts = median(rt_s, rounds),
         rtp = median(rt_p, rounds);
  bench_row("Pipe round trip (vs raw socketpair ping-pong)",
            bench_fmt("%.2f us", rtm), bench_fmt("%.2f us raw", rts),
            rtm / rts, "<= 1.2x raw", rtm / rts <= 1.2);
  bench_row("(info) Pipe round trip (vs raw pipes ping-pong)",
            bench_fmt("%.2f us", rtm), bench_fmt("%.2f us raw", rtp),
            rtm / rtp, "(info)", -1);
  double bm = median(b_m, rounds), br = median(b_r, rounds);
  char name[80];
  snprintf(name, sizeof name, "%zu MiB value through a Queue (vs raw pipe)",
           bulk >> 20);
  bench_row(name, bench_fmt("%.0f MB/s", bm), bench_fmt("%.0f MB/s raw", br),
            bm / br, ">= 0.5x raw pipe", bm / br >= 0.5);
}
