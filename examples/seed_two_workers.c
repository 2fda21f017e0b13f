/* The seed's third program: two workers sleeping 2 s and 1 s, names, pids,
 * is_alive before and after join — then what Python cannot show: each
 * worker's timing as the parent collected it.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "examples/check.h"
#include "multiproc.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Both workers: print, sleep interval seconds, print the time it took. */
static int work(mproc_call_t *call, const char *who) {
  double interval;
  if (mproc_unpack(call, "interval=d", &interval) < 0) return -1;
  printf("%s,父进程(%d),当前进程(%d)\n", who, (int)getppid(), (int)getpid());
  double t_start = now_s();
  sleep_s(interval); /* 程序将会被挂起interval秒 */
  double t_end = now_s();
  printf("%s,执行时间为'%0.2f'秒\n", who, t_end - t_start);
  return 0;
}

static int worker_1(mproc_call_t *call) { return work(call, "worker_1"); }

static int worker_2(mproc_call_t *call) { return work(call, "worker_2"); }

static mproc_process_t *make(mproc_target_fn target, const char *name,
                             int interval) {
  mproc_value_t *args;
  check(mproc_pack(&args, "(i)", interval), "pack");
  mproc_process_opts_t opts = {0};
  opts.target = target;
  opts.name = name; /* NULL: Process-N */
  opts.args = args;
  mproc_process_t *p;
  check(mproc_process_new(&p, &opts), "new");
  mproc_value_free(args);
  return p;
}

static const char *yes_no(int alive) {
  check(alive, "is_alive");
  return alive ? "True" : "False";
}

static void print_timing(mproc_process_t *p) {
  mproc_timing_t t;
  check(mproc_process_timing(p, &t), "timing");
  printf("%s: startup %.3f ms, run %.3f s, wall %.3f s, "
         "user %.3f s, sys %.3f s, max RSS %ld KiB\n",
         mproc_process_name(p), t.startup_s * 1e3, t.run_s, t.wall_s,
         t.user_s, t.sys_s, t.max_rss_kb);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("进程ID：%d\n", (int)getpid());

  mproc_process_t *p1 = make(worker_1, NULL, 2);
  mproc_process_t *p2 = make(worker_2, "dongGe", 1);
  check(mproc_process_start(p1), "start p1");
  check(mproc_process_start(p2), "start p2");

  printf("p2.is_alive=%s\n", yes_no(mproc_process_is_alive(p2)));
  printf("p1.name=%s\n", mproc_process_name(p1));
  printf("p1.pid=%d\n", (int)mproc_process_pid(p1));
  printf("p2.name=%s\n", mproc_process_name(p2));
  printf("p2.pid=%d\n", (int)mproc_process_pid(p2));

  check(mproc_process_join(p1, -1), "join p1");
  printf("p1.is_alive=%s\n", yes_no(mproc_process_is_alive(p1)));

  check(mproc_process_join(p2, -1), "join p2");
  print_timing(p1);
  print_timing(p2);
  check(mproc_process_close(p1), "close p1");
  check(mproc_process_close(p2), "close p2");
  return 0;
}
