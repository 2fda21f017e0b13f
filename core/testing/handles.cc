// The one deleter that does more than call a free function.
#include "multiproc/testing/handles.h"

namespace mproc {
namespace testing {

void ProcessDeleter::operator()(mproc_process_t* p) const {
  if (p == nullptr) return;
  int code = 0;
  // 0: not started, or still running; only the second needs stopping.
  if (mproc_process_exitcode(p, &code) == 0 && mproc_process_pid(p) != 0) {
    (void)mproc_process_kill(p);
    (void)mproc_process_join(p, -1);
  }
  (void)mproc_process_close(p);
}

}  // namespace testing
}  // namespace mproc
