// DeadlineTest: a watchdog thread per test that aborts the binary, naming
// the test, when the test outlives its deadline.
#include "multiproc/testing/deadline.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "core/testing/proc.h"

namespace mproc {
namespace testing {

using Clock = std::chrono::steady_clock;

double DeadlineScale() {
  const char* s = getenv("MPROC_TEST_DEADLINE_SCALE");
  if (s == nullptr) return 1;
  char* end = nullptr;
  double v = strtod(s, &end);
  return end != s && v > 0 ? v : 1;
}

class DeadlineTest::Watchdog {
 public:
  Watchdog(std::string test, std::chrono::duration<double> d) : test_(test) {
    Arm(d);
    thread_ = std::thread([this] { Watch(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void Arm(std::chrono::duration<double> d) {
    std::lock_guard<std::mutex> lock(mu_);
    length_ = d * DeadlineScale();
    due_ = Clock::now() +
           std::chrono::duration_cast<Clock::duration>(length_);
    cv_.notify_one();
  }
  std::chrono::duration<double> length() const {
    std::lock_guard<std::mutex> lock(mu_);
    return length_;
  }

 private:
  void Watch() {
    // The watchdog must not be the thread a process-directed signal picks
    // (SIGALRM, SIGCHLD, ...): the test's own threads expect them.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (Clock::now() >= due_) {
        Expire();  // does not return
      }
      cv_.wait_until(lock, due_);
    }
  }

  [[noreturn]] void Expire() {
    auto children = Children();
    std::ostringstream msg;
    msg << "\n[ DEADLINE ] " << test_ << " did not finish within "
        << length_.count()
        << " s: aborting the test binary. Its children: "
        << DescribeChildren(children) << "\n";
    std::string text = msg.str();
    // write(2), not stdio: another thread may hold stdio's locks.
    for (size_t done = 0; done < text.size();) {
      ssize_t n = write(STDERR_FILENO, text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    // Unreaped, so these pids cannot have been reused.
    for (const auto& kv : children) kill(kv.first, SIGKILL);
    signal(SIGABRT, SIG_DFL);
    abort();
  }

  const std::string test_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::chrono::duration<double> length_{0};
  Clock::time_point due_;
  std::thread thread_;
};

static std::string CurrentTestName() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return "(a test)";
  return std::string(info->test_suite_name()) + "." + info->name();
}

DeadlineTest::DeadlineTest(std::chrono::duration<double> deadline)
    : watchdog_(new Watchdog(CurrentTestName(), deadline)) {}

DeadlineTest::~DeadlineTest() = default;

void DeadlineTest::SetDeadline(std::chrono::duration<double> deadline) {
  watchdog_->Arm(deadline);
}

std::chrono::duration<double> DeadlineTest::deadline() const {
  return watchdog_->length();
}

}  // namespace testing
}  // namespace mproc

