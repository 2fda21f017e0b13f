/* The tutorial after the seed's, 进程间通信-Queue: a writer process puts
 * 'A', 'B', 'C' into a Queue, the parent waits for it, then a reader
 * process takes them out while the queue is not empty.
 *
 *   from multiprocessing import Process, Queue
 *   import os, time, random
 *
 *   # 写数据进程执行的代码:
 *   def write(q):
 *       for value in ['A', 'B', 'C']:
 *           print('Put %s to queue...' % value)
 *           q.put(value)
 *           time.sleep(random.random())
 *
 *   # 读数据进程执行的代码:
 *   def read(q):
 *       while True:
 *           if not q.empty():
 *               value = q.get(True)
 *               print('Get %s from queue.' % value)
 *               time.sleep(random.random())
 *           else:
 *               break
 *
 *   if __name__=='__main__':
 *       # 父进程创建Queue，并传给各个子进程：
 *       q = Queue()
 *       pw = Process(target=write, args=(q,))
 *       pr = Process(target=read, args=(q,))
 *       pw.start()
 *       pw.join()
 *       pr.start()
 *       pr.join()
 *       print('')
 *       print('所有数据都写入并且读完')
 *
 * A queue is not a value, so it reaches the children the way Python's fork
 * start method hands it over: made before start, it is in the child's copy
 * of the parent (here through the ctx pointer). The sleeps are a tenth of
 * Python's random.random(), so that the program (and its test) runs fast.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "examples/check.h"
#include "multiproc.h"

static void sleep_random(void) {
  struct timespec ts = {0, (long)(rand() % 100) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* 写数据进程执行的代码 (the writer) */
static int write_proc(mproc_call_t *call) {
  mproc_queue_t *q = mproc_call_ctx(call);
  const char *values[] = {"A", "B", "C"};
  for (int i = 0; i < 3; i++) {
    printf("Put %s to queue...\n", values[i]);
    mproc_value_t *v;
    check(mproc_value_str(&v, values[i]), "str");
    check(mproc_queue_put(q, v, -1), "put");
    mproc_value_free(v);
    sleep_random();
  }
  return 0;
}

/* 读数据进程执行的代码 (the reader) */
static int read_proc(mproc_call_t *call) {
  mproc_queue_t *q = mproc_call_ctx(call);
  while (!mproc_queue_empty(q)) {
    mproc_value_t *v;
    check(mproc_queue_get(q, &v, -1), "get");
    const char *s;
    check(mproc_value_get_str(v, &s, NULL), "str");
    printf("Get %s from queue.\n", s);
    mproc_value_free(v);
    sleep_random();
  }
  return 0;
}

static mproc_process_t *make(mproc_target_fn target, mproc_queue_t *q) {
  mproc_process_opts_t opts = {0};
  opts.target = target;
  opts.ctx = q;
  mproc_process_t *p;
  check(mproc_process_new(&p, &opts), "new");
  return p;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  srand((unsigned)time(NULL));
  /* 父进程创建Queue，并传给各个子进程 (the parent makes the queue) */
  mproc_queue_t *q;
  check(mproc_queue_new(&q, NULL), "queue");
  mproc_process_t *pw = make(write_proc, q);
  mproc_process_t *pr = make(read_proc, q);
  check(mproc_process_start(pw), "start");
  check(mproc_process_join(pw, -1), "join");
  check(mproc_process_start(pr), "start");
  check(mproc_process_join(pr, -1), "join");
  printf("\n");
  printf("所有数据都写入并且读完\n");
  check(mproc_process_close(pw), "close");
  check(mproc_process_close(pr), "close");
  check(mproc_queue_close(q), "close");
  return 0;
}
