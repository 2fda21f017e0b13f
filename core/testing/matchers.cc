// The status the matchers look at, from each kind of thing that ends.
#include <string.h>

#include <string>

#include "multiproc/testing/assert.h"
#include "multiproc/testing/matchers.h"

namespace mproc {
namespace testing {
namespace internal {

static std::string SignalText(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return "killed by signal " + std::to_string(sig) +
         (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
}

EndStatus StatusOf(const ChildResult& r) {
  EndStatus s;
  s.known = r.start_error == 0 && (r.exited || r.signal != 0);
  s.exited = r.exited;
  s.code = r.exit_code;
  s.signal = r.signal;
  s.timed_out = r.timed_out;
  s.clean = r.ok();
  s.what = r.Describe();
  return s;
}

EndStatus StatusOf(mproc_process_t* p) {
  EndStatus s;
  if (p == nullptr) {
    s.what = "no process (null)";
    return s;
  }
  int code = 0;
  int rc = mproc_process_exitcode(p, &code);
  if (rc < 0) {
    s.what = "exit code unavailable: " + ErrorText(rc);
    return s;
  }
  if (rc == 0) {
    s.what = mproc_process_pid(p) ? "still running (join it first)"
                                  : "never started";
    return s;
  }
  s.known = true;
  if (code < 0) {
    s.signal = -code;
    s.what = SignalText(s.signal);
  } else {
    s.exited = true;
    s.code = code;
    s.clean = code == 0;
    s.what = "exited with code " + std::to_string(code);
  }
  return s;
}

EndStatus StatusOf(const mproc_task_error_t& e) {
  EndStatus s;
  s.known = true;
  s.timed_out = e.code == MPROC_ETASKTIMEOUT;
  if (e.signal != 0) {
    s.signal = e.signal;
    s.what = "task failed: " + SignalText(e.signal);
  } else {
    s.exited = true;
    s.code = e.code == 0 ? 0 : e.exit_code;
    s.clean = e.code == 0;
    s.what = e.code == 0 ? "task succeeded"
                         : "task failed, exit code " +
                               std::to_string(e.exit_code);
  }
  if (e.code != 0) {
    s.what += ": " + ErrorText(e.code);
    if (e.message[0] != '\0')
      s.what += ": " + std::string(e.message, strnlen(e.message, sizeof e.message));
  }
  return s;
}

const mproc_value_t* RawValue(const mproc_value_t* v) { return v; }

}  // namespace internal
}  // namespace testing
}  // namespace mproc
