/* Four processes add 10,000 each to a shared counter: under a Lock the
 * total is exactly 40,000; without it, updates are lost.
 *
 *   from multiprocessing import Process, Value, Lock
 *
 *   def add_locked(counter, lock):
 *       for _ in range(10000):
 *           with lock:
 *               counter.value += 1
 *
 *   def add_unlocked(counter):
 *       for _ in range(10000):
 *           counter.value += 1   # a read, then a write: not atomic
 *
 *   if __name__ == '__main__':
 *       for name, target in (('with the lock', add_locked),
 *                            ('without the lock', add_unlocked)):
 *           counter, lock = Value('i', 0), Lock()
 *           args = (counter, lock) if target is add_locked else (counter,)
 *           ps = [Process(target=target, args=args) for _ in range(4)]
 *           for p in ps: p.start()
 *           for p in ps: p.join()
 *           print('%s: %d' % (name, counter.value))
 *
 * prints "with the lock: 40000", then "without the lock: " and less. As
 * in Python, each access to the Value takes the Value's own lock, so
 * `counter.value += 1` is a locked read then a locked write: another
 * process can write in between, and its update is lost. A C loop is a
 * hundred times faster than Python's, so the four would barely overlap:
 * a Barrier starts them together.
 */
#include <stdio.h>

#include "examples/check.h"
#include "multiproc.h"

typedef struct {
  mproc_array_t *counter; /* Value('i', 0) */
  mproc_lock_t *lock;     /* NULL: without the lock */
  mproc_barrier_t *start;
} shared_t;

static int add(mproc_call_t *call) {
  shared_t *s = mproc_call_ctx(call);
  if (mproc_barrier_wait(s->start, 10) < 0) return 1;
  for (int i = 0; i < 10000; i++) {
    if (s->lock != NULL) check(mproc_lock_acquire(s->lock, -1), "acquire");
    int64_t value;
    check(mproc_array_get_int(s->counter, 0, &value), "get");
    check(mproc_array_set_int(s->counter, 0, value + 1), "set");
    if (s->lock != NULL) check(mproc_lock_release(s->lock), "release");
  }
  return 0;
}

static int64_t run(bool locked) {
  shared_t s = {NULL, NULL, NULL};
  check(mproc_array_new(&s.counter, 'i', 1, true), "Value");
  if (locked) check(mproc_lock_new(&s.lock), "Lock");
  check(mproc_barrier_new(&s.start, 4, NULL), "Barrier");
  mproc_process_t *ps[4];
  for (int i = 0; i < 4; i++) {
    mproc_process_opts_t opts = {0};
    opts.target = add;
    opts.ctx = &s;
    check(mproc_process_new(&ps[i], &opts), "new");
  }
  for (int i = 0; i < 4; i++) check(mproc_process_start(ps[i]), "start");
  for (int i = 0; i < 4; i++) {
    check(mproc_process_join(ps[i], -1), "join");
    int code;
    if (mproc_process_exitcode(ps[i], &code) != 1 || code != 0) {
      fprintf(stderr, "a worker failed\n");
      return -1;
    }
    check(mproc_process_close(ps[i]), "close");
  }
  int64_t total;
  check(mproc_array_get_int(s.counter, 0, &total), "get");
  mproc_barrier_free(s.start);
  mproc_lock_free(s.lock);
  mproc_array_free(s.counter);
  return total;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("with the lock: %lld\n", (long long)run(true));
  printf("without the lock: %lld\n", (long long)run(false));
  return 0;
}
