/* Shared futexes: see futex.h. */
#include "core/ipc/futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "multiproc/error.h"

int mproc__futex_wait(uint32_t *word, uint32_t expected, uint64_t deadline_ns) {
  uint64_t now = mproc__now_ns();
  if (now >= deadline_ns) return MPROC_ETIMEDOUT;
  uint64_t until = deadline_ns;
  if (until - now > MPROC__FUTEX_RECHECK_NS) until = now + MPROC__FUTEX_RECHECK_NS;
  struct timespec ts;
  ts.tv_sec = (time_t)(until / 1000000000u);
  ts.tv_nsec = (long)(until % 1000000000u);
  const struct timespec *tsp = &ts;
  /* FUTEX_WAIT_BITSET takes an absolute time on CLOCK_MONOTONIC (no
   * FUTEX_CLOCK_REALTIME), where plain FUTEX_WAIT takes a relative one. */
  long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, tsp, NULL,
                   FUTEX_BITSET_MATCH_ANY);
  if (r < 0 && errno == ETIMEDOUT && until == deadline_ns)
    return MPROC_ETIMEDOUT;
  return 0; /* woken, EINTR, EAGAIN (the word changed), or the re-check
               time: look again */
}

void mproc__futex_wake(uint32_t *word, int n) {
  syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}
