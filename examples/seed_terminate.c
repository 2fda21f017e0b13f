/* The seed's second program: the child prints every 0.5 s; the parent
 * terminates it after 1 s (this program: 0.75 s, see main), so its lines
 * appear twice.
 *
 *   def run_proc(name, age, **kwargs):
 *       for i in range(10):
 *           print('子进程运行中，name= %s,age=%d ,pid=%d...' % (name, age, os.getpid()))
 *           print(kwargs)
 *           sleep(0.5)
 *   p = Process(target=run_proc, args=('test',18), kwargs={"m":20})
 *   p.start(); sleep(1); p.terminate(); p.join()
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "examples/check.h"
#include "multiproc.h"

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* 子进程要执行的代码 (the code the child runs) */
static int run_proc(mproc_call_t *call) {
  const char *name;
  int age;
  if (mproc_unpack(call, "name=s age=i ** :run_proc", &name, &age) < 0)
    return -1;
  char kwargs[256];
  mproc_repr(mproc_call_kwargs(call), kwargs, sizeof kwargs);
  for (int i = 0; i < 10; i++) {
    printf("子进程运行中，name= %s,age=%d ,pid=%d...\n", name, age,
           (int)getpid());
    printf("%s\n", kwargs);
    sleep_s(0.5);
  }
  return 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("父进程 %d.\n", (int)getpid());

  mproc_value_t *args, *kwargs;
  check(mproc_pack(&args, "(si)", "test", 18), "pack args");
  check(mproc_pack(&kwargs, "{s:i}", "m", 20), "pack kwargs");
  mproc_process_opts_t opts = {0};
  opts.target = run_proc;
  opts.args = args;
  opts.kwargs = kwargs;
  mproc_process_t *p;
  check(mproc_process_new(&p, &opts), "new");
  mproc_value_free(args);
  mproc_value_free(kwargs);

  printf("子进程将要执行\n");
  /* The seed sleeps 1 s after start() and relies on its child's third line
   * (due 1 s after the child began) coming a little later: Python's start()
   * takes milliseconds. Ours takes a fraction of one, and a loaded machine
   * can wake the parent late by more than that, so the child would print a
   * third time (seen once in CI, under TSan). The terminate comes 0.75 s
   * after start() instead: halfway between the child's second line (0.5 s)
   * and its third (1 s), so that the output is the seed's, twice, whatever
   * the load. */
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  check(mproc_process_start(p), "start");
  struct timespec until = t0;
  until.tv_nsec += 750000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) != 0) {
  }
  check(mproc_process_terminate(p), "terminate");
  check(mproc_process_join(p, -1), "join");
  printf("子进程已结束\n");
  check(mproc_process_close(p), "close");
  return 0;
}
