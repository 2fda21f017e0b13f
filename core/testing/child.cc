// RunInChild: a callable or a target in a multiproc Process, with its
// output captured and its gtest failures carried back to the parent.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "core/testing/failure_wire.h"
#include "multiproc/testing/assert.h"
#include "multiproc/testing/child.h"

namespace mproc {
namespace testing {
namespace {

using Clock = std::chrono::steady_clock;

// What the child needs, in the parent's memory: the child reads its own
// copy through opts.ctx (fork copies the address space).
struct Plan {
  std::function<int()>* fn = nullptr;
  mproc_target_fn target = nullptr;
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  int rep[2] = {-1, -1};
};

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Makes `to` (1 or 2) the pipe's write end.
void Redirect(int* from, int to) {
  if (*from == to) {  // the test had closed `to`; the pipe took its number
    *from = -1;
    int flags = fcntl(to, F_GETFD);
    if (flags >= 0) fcntl(to, F_SETFD, flags & ~FD_CLOEXEC);
    return;
  }
  while (dup2(*from, to) < 0 && errno == EINTR) {
  }
  CloseFd(from);
}

// Holds the array gtest's fake reporter wants, constructed before it.
struct UnusedResults {
  ::testing::TestPartResultArray unused;
};

// In the child, for the callable's whole run: every assertion result, from
// any thread, goes to the parent at once, so failures reported before a
// crash still arrive.
class Forwarder : private UnusedResults,
                  public ::testing::ScopedFakeTestPartResultReporter {
 public:
  explicit Forwarder(int fd)
      : ScopedFakeTestPartResultReporter(INTERCEPT_ALL_THREADS, &unused),
        fd_(fd) {}

  void ReportTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.type() == ::testing::TestPartResult::kSuccess || fd_ < 0) return;
    WireFailure f;
    f.type = static_cast<int>(r.type());
    f.file = r.file_name() ? r.file_name() : "";
    f.line = r.line_number();
    f.message = r.message() ? r.message() : "";
    std::lock_guard<std::mutex> lock(mu_);
    (void)WriteFailure(fd_, f);  // a parent that is gone has no use for it
  }

 private:
  int fd_;
  std::mutex mu_;
};

int Trampoline(mproc_call_t* call) {
  Plan* plan = static_cast<Plan*>(mproc_call_ctx(call));
  CloseFd(&plan->out[0]);
  CloseFd(&plan->err[0]);
  CloseFd(&plan->rep[0]);
  if (plan->out[1] >= 0) {
    fflush(stdout);
    Redirect(&plan->out[1], STDOUT_FILENO);
  }
  if (plan->err[1] >= 0) {
    fflush(stderr);
    Redirect(&plan->err[1], STDERR_FILENO);
  }
  int rc;
  {
    Forwarder forward(plan->rep[1]);
    rc = plan->target != nullptr ? plan->target(call) : (*plan->fn)();
    // std::cout may have its own buffer (sync_with_stdio(false)).
    std::cout.flush();
    std::cerr.flush();
    std::clog.flush();
  }
  fflush(nullptr);
  return rc;
}

// One captured stream, drained without blocking.
struct Stream {
  int fd = -1;
  std::string* sink = nullptr;
  size_t max = 0;
  bool truncated = false;
};

enum class Drained { kEmpty, kMore, kEof };

// Reads what the pipe holds, at most ~1 MiB per call so that a child
// writing without pause cannot keep the loop from its deadline.
Drained Drain(Stream* s) {
  if (s->fd < 0) return Drained::kEof;
  char buf[65536];
  for (int i = 0; i < 16; i++) {
    ssize_t n = read(s->fd, buf, sizeof buf);
    if (n > 0) {
      size_t room = s->max > s->sink->size() ? s->max - s->sink->size() : 0;
      size_t take = std::min(room, static_cast<size_t>(n));
      s->sink->append(buf, take);
      if (take < static_cast<size_t>(n)) s->truncated = true;
      continue;
    }
    if (n == 0) {
      CloseFd(&s->fd);
      return Drained::kEof;
    }
    if (errno == EINTR) {
      i--;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Drained::kEmpty;
    CloseFd(&s->fd);  // an error on our own pipe: nothing more will come
    return Drained::kEof;
  }
  return Drained::kMore;
}

std::string Tail(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return "[... " + std::to_string(s.size() - n) + " bytes before]" +
         s.substr(s.size() - n);
}

std::string Seconds(double s) {
  std::ostringstream o;
  o << s << " s";
  return o.str();
}

int OpenPipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
  // Only the parent's end is non-blocking: the child writes as usual.
  int flags = fcntl(fds[0], F_GETFL);
  if (flags < 0 || fcntl(fds[0], F_SETFL, flags | O_NONBLOCK) < 0) {
    int rc = -errno;
    CloseFd(&fds[0]);
    CloseFd(&fds[1]);
    return rc;
  }
  return 0;
}

void ClosePlan(Plan* plan) {
  for (int* fds : {plan->out, plan->err, plan->rep}) {
    CloseFd(&fds[0]);
    CloseFd(&fds[1]);
  }
}

void ReportFailures(const ChildResult& r, internal::CallSite site) {
  for (const ChildFailure& f : r.failures) {
    std::string text = "In child " + r.name + " (pid " +
                       std::to_string(r.pid) + "):\n" + f.message;
    const char* file = f.file.empty() ? site.file : f.file.c_str();
    int line = f.file.empty() ? site.line : f.line;
    ::testing::internal::AssertHelper(
        f.fatal ? ::testing::TestPartResult::kFatalFailure
                : ::testing::TestPartResult::kNonFatalFailure,
        file, line, text.c_str()) = ::testing::Message();
  }
}

ChildResult Fail(ChildResult r, int rc, const std::string& what,
                 internal::CallSite site) {
  r.start_error = rc;
  ADD_FAILURE_AT(site.file, site.line)
      << "RunInChild: " << what << ": " << ErrorText(rc);
  return r;
}

// Runs the plan's callable or target as a Process and watches it.
ChildResult Run(Plan* plan, const mproc_value_t* args,
                const mproc_value_t* kwargs, const ChildOptions& opts,
                internal::CallSite site) {
  ChildResult r;
  int rc = OpenPipe(plan->rep);
  if (rc == 0 && opts.capture_output) rc = OpenPipe(plan->out);
  if (rc == 0 && opts.capture_output) rc = OpenPipe(plan->err);
  if (rc < 0) {
    ClosePlan(plan);
    return Fail(std::move(r), rc, "cannot make pipes", site);
  }

  mproc_process_opts_t po = {};
  po.target = Trampoline;
  po.args = args;
  po.kwargs = kwargs;
  po.ctx = plan;
  po.name = opts.name.empty() ? nullptr : opts.name.c_str();
  mproc_process_t* p = nullptr;
  rc = mproc_process_new(&p, &po);
  if (rc < 0) {
    ClosePlan(plan);
    return Fail(std::move(r), rc, "mproc_process_new failed", site);
  }
  r.name = mproc_process_name(p);
  Clock::time_point t0 = Clock::now();
  rc = mproc_process_start(p);
  CloseFd(&plan->out[1]);
  CloseFd(&plan->err[1]);
  CloseFd(&plan->rep[1]);
  if (rc < 0) {
    ClosePlan(plan);
    (void)mproc_process_close(p);  // never started: nothing to wait for
    return Fail(std::move(r), rc, "mproc_process_start failed", site);
  }
  r.pid = mproc_process_pid(p);

  std::string reports;
  Stream streams[3];
  streams[0] = {plan->out[0], &r.std_out, opts.max_output, false};
  streams[1] = {plan->err[0], &r.std_err, opts.max_output, false};
  streams[2] = {plan->rep[0], &reports, opts.max_output, false};
  plan->out[0] = plan->err[0] = plan->rep[0] = -1;  // streams own them now

  const int sentinel = mproc_process_sentinel(p);
  const bool limited = opts.timeout.count() > 0;
  const Clock::time_point deadline =
      limited ? t0 + std::chrono::duration_cast<Clock::duration>(opts.timeout)
              : Clock::time_point::max();
  bool ended = false;
  bool killed = false;
  while (!ended) {
    struct pollfd pfd[4];
    pfd[0] = {sentinel, POLLIN, 0};
    for (int i = 0; i < 3; i++) pfd[i + 1] = {streams[i].fd, POLLIN, 0};
    int wait_ms = -1;
    if (limited && !killed) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - Clock::now())
                      .count() +
                  1;
      wait_ms = static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
    }
    int n = poll(pfd, 4, wait_ms);
    if (n < 0 && errno != EINTR) {
      ADD_FAILURE_AT(site.file, site.line)
          << "RunInChild: poll: " << strerror(errno);
      break;  // joined below
    }
    for (int i = 0; i < 3; i++)
      if (n > 0 && pfd[i + 1].revents != 0) (void)Drain(&streams[i]);
    if (n > 0 && pfd[0].revents != 0) ended = true;
    if (!ended && !killed && limited && Clock::now() >= deadline) {
      (void)mproc_process_kill(p);
      killed = true;
      r.timed_out = true;
    }
  }
  rc = mproc_process_join(p, -1);
  r.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  // The child has ended: what it wrote is in the pipes. Take it and stop
  // (a grandchild holding the pipes open must not hold us up).
  for (Stream& s : streams) {
    for (int round = 0; round < 64 && Drain(&s) == Drained::kMore; round++) {
    }
    CloseFd(&s.fd);
  }
  r.output_truncated = streams[0].truncated || streams[1].truncated;

  if (rc < 0) {
    ADD_FAILURE_AT(site.file, site.line)
        << "RunInChild: mproc_process_join failed: " << ErrorText(rc);
    (void)mproc_process_kill(p);
  }
  int code = 0;
  if (mproc_process_exitcode(p, &code) == 1) {
    if (code < 0) {
      r.signal = -code;
    } else {
      r.exited = true;
      r.exit_code = code;
    }
  }
  if (r.timed_out && r.exited) r.timed_out = false;  // it ended just in time
  const char* error = mproc_process_error(p);
  if (error != nullptr) r.error = error;
  (void)mproc_process_timing(p, &r.timing);
  (void)mproc_process_close(p);

  std::string bad;
  for (WireFailure& f : ReadFailures(reports, &bad)) {
    if (f.type == static_cast<int>(::testing::TestPartResult::kSkip)) {
      r.skipped = true;
      continue;
    }
    ChildFailure cf;
    cf.file = std::move(f.file);
    cf.line = f.line;
    cf.message = std::move(f.message);
    cf.fatal = f.type == static_cast<int>(
                             ::testing::TestPartResult::kFatalFailure);
    r.failures.push_back(std::move(cf));
  }
  if (!bad.empty())
    ADD_FAILURE_AT(site.file, site.line)
        << "RunInChild: the child's failure reports were cut short (" << bad
        << "): it may have failed more than shown";
  if (opts.report_failures) ReportFailures(r, site);
  if (r.timed_out && opts.fail_on_timeout) {
    std::ostringstream msg;
    msg << "RunInChild: " << r.name << " (pid " << r.pid
        << ") did not finish within " << Seconds(opts.timeout.count())
        << " and was killed";
    if (!r.std_out.empty()) msg << "\n--- its stdout ---\n" << Tail(r.std_out, 2000);
    if (!r.std_err.empty()) msg << "\n--- its stderr ---\n" << Tail(r.std_err, 2000);
    ADD_FAILURE_AT(site.file, site.line) << msg.str();
  }
  return r;
}

}  // namespace

std::string ChildResult::Describe() const {
  std::ostringstream o;
  if (start_error != 0) {
    o << "could not start: " << ErrorText(start_error);
    return o.str();
  }
  if (timed_out) {
    o << "timed out after " << Seconds(wall_s) << " (killed)";
  } else if (signal != 0) {
    const char* abbrev = sigabbrev_np(signal);
    const char* descr = sigdescr_np(signal);
    o << "killed by signal " << signal;
    if (abbrev != nullptr)
      o << " (SIG" << abbrev << (descr ? std::string(": ") + descr : "")
        << ")";
  } else if (exited) {
    o << "exited with code " << exit_code;
  } else {
    o << "ended in an unknown way";
  }
  if (!error.empty()) o << ": " << error;
  if (!failures.empty())
    o << "; " << failures.size() << " gtest failure"
      << (failures.size() == 1 ? "" : "s");
  return o.str();
}

void PrintTo(const ChildResult& r, std::ostream* os) {
  *os << "child " << (r.name.empty() ? "?" : r.name) << " (pid " << r.pid
      << ") " << r.Describe();
  if (!r.std_out.empty()) *os << "\n  stdout: " << Tail(r.std_out, 500);
  if (!r.std_err.empty()) *os << "\n  stderr: " << Tail(r.std_err, 500);
}

namespace internal {

ChildResult RunFunction(std::function<int()> fn, const ChildOptions& opts,
                        CallSite site) {
  Plan plan;
  plan.fn = &fn;
  return Run(&plan, nullptr, nullptr, opts, site);
}

ChildResult RunTarget(mproc_target_fn target, const mproc_value_t* args,
                      const mproc_value_t* kwargs, const ChildOptions& opts,
                      CallSite site) {
  Plan plan;
  plan.target = target;
  return Run(&plan, args, kwargs, opts, site);
}

}  // namespace internal

ChildResult RunTargetInChild(mproc_target_fn target, const mproc_value_t* args,
                             const mproc_value_t* kwargs,
                             const ChildOptions& opts, const char* file,
                             int line) {
  if (target == nullptr)
    return Fail(ChildResult(), MPROC_EINVAL, "no target", {file, line});
  return internal::RunTarget(target, args, kwargs, opts, {file, line});
}

ChildResult RunTargetInChild(const char* name, const mproc_value_t* args,
                             const mproc_value_t* kwargs,
                             const ChildOptions& opts, const char* file,
                             int line) {
  mproc_target_fn target = name ? mproc_target_find(name) : nullptr;
  if (target == nullptr) {
    // Let multiproc say why (unknown, or registered twice) and where.
    mproc_process_opts_t po = {};
    po.target_name = name;
    mproc_process_t* p = nullptr;
    int rc = mproc_process_new(&p, &po);
    if (rc == 0) {  // registered meanwhile; not expected
      (void)mproc_process_close(p);
      rc = MPROC_ENOTARGET;
    }
    std::string detail = mproc_last_error();
    return Fail(ChildResult(), rc,
                std::string("target '") + (name ? name : "(null)") + "'" +
                    (detail.empty() ? "" : " (" + detail + ")"),
                {file, line});
  }
  return internal::RunTarget(target, args, kwargs, opts, {file, line});
}

}  // namespace testing
}  // namespace mproc
