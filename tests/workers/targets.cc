// Targets several pool test binaries share, registered when the binary
// loads (the library is alwayslink: nothing references these functions by
// name, and the linker would drop the file otherwise).
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cmath>

#include "multiproc.h"

namespace {

void Sleep(double s) {
  struct timespec ts = {static_cast<time_t>(s),
                        static_cast<long>((s - std::floor(s)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

}  // namespace

// x * x (x may be passed by keyword).
MPROC_TARGET(square) {
  int64_t x;
  if (mproc_unpack(call, "x=L", &x) < 0) return -1;
  return mproc_call_return(call, "L", x * x);
}

// The worker's pid.
MPROC_TARGET(my_pid) { return mproc_call_return(call, "i", (int)getpid()); }

// Sleeps s seconds, then returns the worker's pid.
MPROC_TARGET(sleep_then_pid) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  Sleep(s);
  return mproc_call_return(call, "i", (int)getpid());
}

// Nothing at all.
MPROC_TARGET(instant) {
  (void)call;
  return 0;
}

// Its worker dies of SIGKILL.
MPROC_TARGET(kill_self) {
  (void)call;
  raise(SIGKILL);
  return 0;
}
