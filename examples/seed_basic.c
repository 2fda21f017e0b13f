/* The seed's first program: start a child with args ('test',), wait for it.
 *
 *   def run_proc(name):
 *       print('子进程运行中，name= %s ,pid=%d...' % (name, os.getpid()))
 *   p = Process(target=run_proc, args=('test',)); p.start(); p.join()
 */
#include <stdio.h>
#include <unistd.h>

#include "examples/check.h"
#include "multiproc.h"

/* 子进程要执行的代码 (the code the child runs) */
static int run_proc(mproc_call_t *call) {
  const char *name;
  if (mproc_unpack(call, "name=s:run_proc", &name) < 0) return -1;
  printf("子进程运行中，name= %s ,pid=%d...\n", name, (int)getpid());
  return 0;
}

int main(void) {
  /* Line-buffered even into a pipe, so parent and child lines interleave in
   * time order, as on the seed's terminal. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("父进程 %d.\n", (int)getpid());

  mproc_value_t *args;
  check(mproc_pack(&args, "(s)", "test"), "pack");
  mproc_process_opts_t opts = {0};
  opts.target = run_proc;
  opts.args = args;
  mproc_process_t *p;
  check(mproc_process_new(&p, &opts), "new");
  mproc_value_free(args);

  printf("子进程将要执行\n");
  check(mproc_process_start(p), "start");
  check(mproc_process_join(p, -1), "join");
  printf("子进程已结束\n");
  check(mproc_process_close(p), "close");
  return 0;
}
