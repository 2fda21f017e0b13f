// Length-prefixed frames over pipes and socketpairs (frame.h): short reads
// and writes, EINTR, non-blocking descriptors, every way a stream can end,
// lying headers, and writers whose reader is gone.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/base/io.h"
#include "multiproc/frame.h"
#include "tests/serialization/test_util.h"

using mproc_test::ScopedDeadline;

namespace {

enum class Kind { kPipe, kSocketpair };

// fds[0] reads, fds[1] writes.
struct Channel {
  int fds[2] = {-1, -1};
  explicit Channel(Kind kind) {
    int rc = kind == Kind::kPipe
                 ? pipe2(fds, O_CLOEXEC)
                 : socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
    EXPECT_EQ(0, rc) << strerror(errno);
  }
  ~Channel() {
    CloseReader();
    CloseWriter();
  }
  int r() const { return fds[0]; }
  int w() const { return fds[1]; }
  void CloseReader() {
    if (fds[0] >= 0) close(fds[0]);
    fds[0] = -1;
  }
  void CloseWriter() {
    if (fds[1] >= 0) close(fds[1]);
    fds[1] = -1;
  }
};

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (char &c : s) c = (char)rng();
  return s;
}

std::string Header(uint32_t len) {
  std::string h(4, '\0');
  for (int i = 0; i < 4; i++) h[i] = (char)(len >> (8 * i));
  return h;
}

// Reads one frame and returns its payload; fails the test on error.
std::string ReadFrame(int fd, size_t max = 0) {
  void *p = nullptr;
  size_t n = 0;
  int rc = mproc_frame_read(fd, max, &p, &n);
  EXPECT_EQ(0, rc) << mproc_err_name(rc);
  if (rc != 0) return "<error>";
  std::string s((const char *)p, n);
  EXPECT_EQ('\0', ((const char *)p)[n]);  // NUL after the payload
  mproc_frame_free(p);
  return s;
}

int ReadFrameRc(int fd, size_t max = 0) {
  void *p = reinterpret_cast<void *>(0x1);
  size_t n = 77;
  int rc = mproc_frame_read(fd, max, &p, &n);
  if (rc < 0) {
    EXPECT_EQ(nullptr, p);
    EXPECT_EQ(0u, n);
  }
  mproc_frame_free(rc == 0 ? p : nullptr);
  return rc;
}

void WriteRaw(int fd, const std::string &bytes) {
  ASSERT_EQ(0, mproc__write_full(fd, bytes.data(), bytes.size()));
}

// A thread that starts with SIGALRM blocked, so a SIGALRM storm interrupts
// only the test's main thread.
template <typename F>
std::thread ThreadWithoutSigalrm(F f) {
  sigset_t alrm, old;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &alrm, &old);
  std::thread t(f);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

// In a writer thread: on failure, report it and close the write end so the
// reader in the main thread sees EOF instead of waiting forever.
#define WRITER_OK(ch, expr)                                           \
  do {                                                                \
    int rc_ = (expr);                                                 \
    if (rc_ != 0) {                                                   \
      ADD_FAILURE() << #expr << " returned " << mproc_err_name(rc_);  \
      (ch).CloseWriter();                                             \
      return;                                                         \
    }                                                                 \
  } while (0)

class FrameOver : public ::testing::TestWithParam<Kind> {};

}  // namespace

// ---- Round trips.

TEST_P(FrameOver, ManyFramesRoundTrip) {
  ScopedDeadline guard("ManyFramesRoundTrip", 60);
  Channel ch(GetParam());
  const int kFrames = 2000;
  std::thread writer([&] {
    for (int i = 0; i < kFrames; i++) {
      std::string p = Pattern((size_t)(i * 37) % 5000, (uint32_t)i);
      WRITER_OK(ch, mproc_frame_write(ch.w(), p.data(), p.size()));
    }
  });
  for (int i = 0; i < kFrames; i++) {
    std::string want = Pattern((size_t)(i * 37) % 5000, (uint32_t)i);
    if (want != ReadFrame(ch.r())) {
      ADD_FAILURE() << "frame " << i << " differs";
      break;
    }
  }
  ch.CloseReader();  // a writer left behind by a failure gets EPIPE
  writer.join();
}

TEST_P(FrameOver, EmptyPayloadRoundTrips) {
  ScopedDeadline guard("EmptyPayloadRoundTrips", 30);
  Channel ch(GetParam());
  ASSERT_EQ(0, mproc_frame_write(ch.w(), nullptr, 0));
  ASSERT_EQ(0, mproc_frame_write(ch.w(), "x", 0));
  ASSERT_EQ(0, mproc_frame_write(ch.w(), "after", 5));
  void *p = nullptr;
  size_t n = 99;
  ASSERT_EQ(0, mproc_frame_read(ch.r(), 0, &p, &n));
  EXPECT_EQ(0u, n);
  ASSERT_NE(nullptr, p);
  EXPECT_EQ('\0', *(char *)p);
  mproc_frame_free(p);
  EXPECT_EQ("", ReadFrame(ch.r()));
  EXPECT_EQ("after", ReadFrame(ch.r()));
}

TEST_P(FrameOver, TenMiBPayloadWithConcurrentReader) {
  ScopedDeadline guard("TenMiBPayloadWithConcurrentReader", 60);
  Channel ch(GetParam());
  const std::string big = Pattern((size_t)10 << 20, 10);
  std::string got;
  std::thread reader([&] { got = ReadFrame(ch.r()); });
  EXPECT_EQ(0, mproc_frame_write(ch.w(), big.data(), big.size()));
  ch.CloseWriter();  // a reader left behind by a failure sees EOF
  reader.join();
  ASSERT_EQ(big.size(), got.size());
  EXPECT_TRUE(big == got);
}

TEST_P(FrameOver, FrameOfExactlyMaxIsAcceptedAndOneMoreIsTooBig) {
  ScopedDeadline guard("FrameOfExactlyMax", 30);
  Channel ch(GetParam());
  ASSERT_EQ(0, mproc_frame_write(ch.w(), "12345678", 8));
  EXPECT_EQ("12345678", ReadFrame(ch.r(), 8));
  ASSERT_EQ(0, mproc_frame_write(ch.w(), "123456789", 9));
  EXPECT_EQ(MPROC_ETOOBIG, ReadFrameRc(ch.r(), 8));
}

// ---- Short reads and writes.

TEST_P(FrameOver, BytesDribbledOneAtATimeMakeWholeFrames) {
  ScopedDeadline guard("BytesDribbledOneAtATime", 60);
  Channel ch(GetParam());
  const std::string p1 = Pattern(300, 1), p2 = Pattern(3, 2);
  const std::string stream = Header(300) + p1 + Header(0) + Header(3) + p2;
  std::thread writer([&] {
    for (char c : stream) {
      WRITER_OK(ch, mproc__write_full(ch.w(), &c, 1));
      usleep(200);
    }
  });
  EXPECT_EQ(p1, ReadFrame(ch.r()));
  EXPECT_EQ("", ReadFrame(ch.r()));
  EXPECT_EQ(p2, ReadFrame(ch.r()));
  ch.CloseReader();
  writer.join();
}

// ---- EINTR.

namespace {

std::atomic<int> g_alarms{0};

void OnAlarm(int) { g_alarms.fetch_add(1, std::memory_order_relaxed); }

// A SIGALRM handler installed WITHOUT SA_RESTART and an interval timer
// firing every millisecond: blocking syscalls in this thread keep failing
// with EINTR (or returning short) while it lives.
class AlarmStorm {
 public:
  AlarmStorm() {
    g_alarms = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnAlarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    EXPECT_EQ(0, sigaction(SIGALRM, &sa, &old_));
    struct itimerval it = {{0, 1000}, {0, 1000}};
    EXPECT_EQ(0, setitimer(ITIMER_REAL, &it, nullptr));
  }
  ~AlarmStorm() {
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, nullptr);
    sigaction(SIGALRM, &old_, nullptr);
  }

 private:
  struct sigaction old_;
};

}  // namespace

TEST_P(FrameOver, ReadSurvivesEintrStorm) {
  ScopedDeadline guard("ReadSurvivesEintrStorm", 60);
  Channel ch(GetParam());
  const std::string payload = Pattern(100000, 3);
  const std::string stream = Header((uint32_t)payload.size()) + payload;
  std::string got;
  {
    AlarmStorm storm;
    std::thread writer = ThreadWithoutSigalrm([&] {
      usleep(50000);  // the reader is blocked in read() by now
      // Header split in two, payload in slices, with pauses between.
      WRITER_OK(ch, mproc__write_full(ch.w(), stream.data(), 2));
      usleep(20000);
      for (size_t off = 2; off < stream.size(); off += 7000) {
        size_t n = std::min<size_t>(7000, stream.size() - off);
        WRITER_OK(ch, mproc__write_full(ch.w(), stream.data() + off, n));
        usleep(3000);
      }
    });
    got = ReadFrame(ch.r());
    ch.CloseReader();  // a writer left behind by a failure gets EPIPE
    writer.join();
  }
  EXPECT_GE(g_alarms.load(), 20) << "the storm did not reach the reader";
  EXPECT_TRUE(payload == got);
}

TEST_P(FrameOver, WriteSurvivesEintrStorm) {
  ScopedDeadline guard("WriteSurvivesEintrStorm", 60);
  Channel ch(GetParam());
  const std::string payload = Pattern((size_t)4 << 20, 4);
  std::string received;
  {
    AlarmStorm storm;
    std::thread reader = ThreadWithoutSigalrm([&] {
      // A slow reader keeps the writer blocked on a full buffer.
      std::vector<char> buf(64 << 10);
      for (;;) {
        ssize_t r = read(ch.r(), buf.data(), buf.size());
        if (r <= 0) break;
        received.append(buf.data(), (size_t)r);
        usleep(1000);
      }
    });
    EXPECT_EQ(0, mproc_frame_write(ch.w(), payload.data(), payload.size()));
    ch.CloseWriter();
    reader.join();
  }
  EXPECT_GE(g_alarms.load(), 20) << "the storm did not reach the writer";
  ASSERT_EQ(payload.size() + 4, received.size());
  EXPECT_EQ(Header((uint32_t)payload.size()), received.substr(0, 4));
  EXPECT_TRUE(payload == received.substr(4));
}

// ---- Non-blocking descriptors.

TEST_P(FrameOver, NonBlockingFdsStillMoveWholeFrames) {
  ScopedDeadline guard("NonBlockingFdsStillMoveWholeFrames", 60);
  Channel ch(GetParam());
  ASSERT_EQ(0, mproc__set_nonblock(ch.r(), 1));
  ASSERT_EQ(0, mproc__set_nonblock(ch.w(), 1));
  ASSERT_TRUE(fcntl(ch.r(), F_GETFL) & O_NONBLOCK);
  ASSERT_TRUE(fcntl(ch.w(), F_GETFL) & O_NONBLOCK);
  const std::string big = Pattern((size_t)3 << 20, 5);
  const std::string small = Pattern(10, 6);
  std::thread writer([&] {
    usleep(30000);  // the reader finds nothing at first: EAGAIN
    WRITER_OK(ch, mproc_frame_write(ch.w(), small.data(), small.size()));
    // Far more than the buffer holds: the writer meets EAGAIN too.
    WRITER_OK(ch, mproc_frame_write(ch.w(), big.data(), big.size()));
  });
  EXPECT_EQ(small, ReadFrame(ch.r()));
  usleep(30000);  // let the writer fill the buffer and wait
  std::string got = ReadFrame(ch.r());
  // O_NONBLOCK is left as it was.
  EXPECT_TRUE(fcntl(ch.r(), F_GETFL) & O_NONBLOCK);
  ch.CloseReader();  // a writer left behind by a failure gets EPIPE
  writer.join();
  EXPECT_TRUE(big == got);
}

// ---- How a stream ends.

TEST_P(FrameOver, CleanEofBetweenFramesIsEof) {
  ScopedDeadline guard("CleanEofBetweenFramesIsEof", 30);
  Channel ch(GetParam());
  ASSERT_EQ(0, mproc_frame_write(ch.w(), "one", 3));
  ASSERT_EQ(0, mproc_frame_write(ch.w(), "two", 3));
  ch.CloseWriter();
  EXPECT_EQ("one", ReadFrame(ch.r()));
  EXPECT_EQ("two", ReadFrame(ch.r()));
  EXPECT_EQ(MPROC_EOF, ReadFrameRc(ch.r()));
  EXPECT_EQ(MPROC_EOF, ReadFrameRc(ch.r()));  // and stays there
}

TEST_P(FrameOver, EofInsideTheHeaderIsTruncated) {
  ScopedDeadline guard("EofInsideTheHeaderIsTruncated", 30);
  for (size_t cut = 1; cut < 4; cut++) {
    Channel ch(GetParam());
    WriteRaw(ch.w(), Header(10).substr(0, cut));
    ch.CloseWriter();
    EXPECT_EQ(MPROC_ETRUNCATED, ReadFrameRc(ch.r())) << cut;
  }
}

TEST_P(FrameOver, EofInsideThePayloadIsTruncated) {
  ScopedDeadline guard("EofInsideThePayloadIsTruncated", 30);
  for (size_t have : {0, 1, 5, 9}) {
    Channel ch(GetParam());
    WriteRaw(ch.w(), Header(10) + std::string(have, 'x'));
    ch.CloseWriter();
    EXPECT_EQ(MPROC_ETRUNCATED, ReadFrameRc(ch.r())) << have;
  }
  // Also after a whole first frame, and for a payload larger than the
  // reader's first allocation.
  Channel ch(GetParam());
  std::string part = Pattern(200000, 7);
  std::thread writer([&] {
    WRITER_OK(ch, mproc_frame_write(ch.w(), "ok", 2));
    WriteRaw(ch.w(), Header(300000) + part);
    ch.CloseWriter();
  });
  EXPECT_EQ("ok", ReadFrame(ch.r()));
  EXPECT_EQ(MPROC_ETRUNCATED, ReadFrameRc(ch.r()));
  ch.CloseReader();
  writer.join();
}

TEST_P(FrameOver, HeaderClaimingMoreThanMaxIsTooBig) {
  ScopedDeadline guard("HeaderClaimingMoreThanMaxIsTooBig", 30);
  Channel ch(GetParam());
  WriteRaw(ch.w(), Header(1001) + "abc");
  EXPECT_EQ(MPROC_ETOOBIG, ReadFrameRc(ch.r(), 1000));
  // Default maximum (1 GiB) with a 4 GiB - 1 claim.
  Channel ch2(GetParam());
  WriteRaw(ch2.w(), Header(UINT32_MAX));
  EXPECT_EQ(MPROC_ETOOBIG, ReadFrameRc(ch2.r(), 0));
  Channel ch3(GetParam());
  WriteRaw(ch3.w(), Header((uint32_t)MPROC_FRAME_MAX_DEFAULT + 1));
  EXPECT_EQ(MPROC_ETOOBIG, ReadFrameRc(ch3.r(), 0));
}

// ---- A lying header must not make the reader allocate what it claims.

namespace {

// Size of this process's address space, from /proc/self/statm.
size_t AddressSpaceBytes() {
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long pages = 0;
  if (fscanf(f, "%lu", &pages) != 1) pages = 0;
  fclose(f);
  return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

// In a child whose address space may grow by at most 256 MiB, reads one
// frame from a pipe fed by the parent with `header` and `sent` bytes of
// payload, then end of file. Returns the child's exit status: 0 when the
// read returned MPROC_ETRUNCATED, 12 for MPROC_ENOMEM, 1 for anything else.
int ReadLyingFrameInLimitedChild(uint32_t header, size_t sent) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    alarm(30);  // the child's own guard: SIGALRM's default action kills it
    close(fds[1]);
    // 256 MiB more than the child already has. (Sanitizer builds reserve
    // terabytes of shadow address space up front; a flat 256 MiB limit
    // would fail their first mmap rather than test the reader.)
    rlim_t limit = (rlim_t)AddressSpaceBytes() + ((rlim_t)256 << 20);
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(2);
    void *p = nullptr;
    size_t n = 0;
    int rc = mproc_frame_read(fds[0], 0, &p, &n);
    _exit(rc == MPROC_ETRUNCATED ? 0 : rc == MPROC_ENOMEM ? 12 : 1);
  }
  close(fds[0]);
  std::string h = Header(header);
  int wrc = mproc__write_full(fds[1], h.data(), h.size());
  std::string chunk = Pattern(1 << 20, 8);
  for (size_t done = 0; wrc == 0 && done < sent;) {
    size_t n = std::min(chunk.size(), sent - done);
    wrc = mproc__write_full(fds[1], chunk.data(), n);
    done += n;
  }
  close(fds[1]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  EXPECT_EQ(0, wrc) << mproc_err_name(wrc);
  if (!WIFEXITED(status)) {
    ADD_FAILURE() << "child died by signal " << WTERMSIG(status);
    return -1;
  }
  return WEXITSTATUS(status);
}

}  // namespace

TEST(FrameLyingHeader, GibibyteClaimThenEofIsTruncatedWithoutAllocatingIt) {
  ScopedDeadline guard("GibibyteClaimThenEof", 60);
  // Sanity: the limit is real — a child that does allocate 1 GiB fails.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlim_t limit = (rlim_t)AddressSpaceBytes() + ((rlim_t)256 << 20);
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(2);
    void *p = mmap(nullptr, (size_t)1 << 30, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    _exit(p == MAP_FAILED ? 0 : 1);
  }
  int status;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(0, WEXITSTATUS(status)) << "RLIMIT_AS did not limit the child";

  EXPECT_EQ(0, ReadLyingFrameInLimitedChild(1u << 30, 5));
  EXPECT_EQ(0, ReadLyingFrameInLimitedChild((1u << 30) - 1, 0));
  // 8 MiB really sent: the buffer grows with what arrives, not the claim.
  EXPECT_EQ(0, ReadLyingFrameInLimitedChild(1u << 30, (size_t)8 << 20));
}

// ---- Writers whose reader is gone.

TEST(FrameWrite, ClosedPipeReaderIsEpipeAndTheProcessSurvives) {
  ScopedDeadline guard("ClosedPipeReaderIsEpipe", 30);
  struct sigaction sa;
  ASSERT_EQ(0, sigaction(SIGPIPE, nullptr, &sa));
  ASSERT_EQ(SIG_DFL, sa.sa_handler) << "SIGPIPE must be at its default";
  sigset_t mask_before;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask_before);
  ASSERT_FALSE(sigismember(&mask_before, SIGPIPE));

  Channel ch(Kind::kPipe);
  ch.CloseReader();
  EXPECT_EQ(MPROC_EPIPE, mproc_frame_write(ch.w(), "lost", 4));
  EXPECT_EQ(MPROC_EPIPE, mproc_frame_write(ch.w(), nullptr, 0));
  // Still alive; disposition, mask and pending set as they were.
  ASSERT_EQ(0, sigaction(SIGPIPE, nullptr, &sa));
  EXPECT_EQ(SIG_DFL, sa.sa_handler);
  sigset_t mask_after, pending;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask_after);
  EXPECT_FALSE(sigismember(&mask_after, SIGPIPE));
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
}

TEST(FrameWrite, ClosedPipeReaderInAChildWithDefaultSigpipe) {
  ScopedDeadline guard("ClosedPipeReaderInAChild", 30);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int fds[2];
    if (pipe(fds) != 0) _exit(2);
    close(fds[0]);
    std::string big(1 << 20, 'x');  // several writes' worth
    int rc = mproc_frame_write(fds[1], big.data(), big.size());
    _exit(rc == MPROC_EPIPE ? 0 : 1);
  }
  int status;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  ASSERT_FALSE(WIFSIGNALED(status)) << "killed by signal " << WTERMSIG(status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST(FrameWrite, ReaderClosingMidFrameIsEpipe) {
  ScopedDeadline guard("ReaderClosingMidFrameIsEpipe", 30);
  Channel ch(Kind::kPipe);
  std::thread reader([&] {
    char buf[1000];
    EXPECT_GT(read(ch.r(), buf, sizeof buf), 0);
    ch.CloseReader();
  });
  std::string big((size_t)4 << 20, 'y');
  EXPECT_EQ(MPROC_EPIPE, mproc_frame_write(ch.w(), big.data(), big.size()));
  reader.join();
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
}

TEST(FrameWrite, ClosedSocketPeerIsEpipe) {
  ScopedDeadline guard("ClosedSocketPeerIsEpipe", 30);
  Channel ch(Kind::kSocketpair);
  ch.CloseReader();
  EXPECT_EQ(MPROC_EPIPE, mproc_frame_write(ch.w(), "lost", 4));
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
}

TEST(FrameWrite, AnAlreadyPendingSigpipeIsLeftPending) {
  // A SIGPIPE that was pending before the write belongs to someone else:
  // the write must not swallow it.
  ScopedDeadline guard("AnAlreadyPendingSigpipeIsLeftPending", 30);
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &pipe_set, &old));
  ASSERT_EQ(0, pthread_kill(pthread_self(), SIGPIPE));
  Channel ch(Kind::kPipe);
  ch.CloseReader();
  EXPECT_EQ(MPROC_EPIPE, mproc_frame_write(ch.w(), "x", 1));
  sigset_t pending;
  sigpending(&pending);
  EXPECT_TRUE(sigismember(&pending, SIGPIPE));
  // Still blocked (the caller's mask), then consumed here.
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, nullptr, &now);
  EXPECT_TRUE(sigismember(&now, SIGPIPE));
  struct timespec zero = {0, 0};
  EXPECT_EQ(SIGPIPE, sigtimedwait(&pipe_set, nullptr, &zero));
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  ASSERT_EQ(0, pthread_sigmask(SIG_SETMASK, &old, nullptr));
}

// ---- Argument checks.

TEST(FrameArgs, PayloadOver4GiBIsTooBigBeforeTouchingIt) {
  // 4 GiB + 1 of inaccessible address space: a write attempt would fail
  // with EFAULT, never crash, and must not even be tried.
  size_t len = (size_t)UINT32_MAX + 1;
  void *p = mmap(nullptr, len, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(MAP_FAILED, p);
  Channel ch(Kind::kPipe);
  EXPECT_EQ(MPROC_ETOOBIG, mproc_frame_write(ch.w(), p, len));
  munmap(p, len);
  // Nothing was written.
  ASSERT_EQ(0, mproc__set_nonblock(ch.r(), 1));
  char c;
  EXPECT_EQ(-1, read(ch.r(), &c, 1));
  EXPECT_EQ(EAGAIN, errno);
}

TEST(FrameArgs, BadArgumentsAreRefused) {
  Channel ch(Kind::kPipe);
  EXPECT_EQ(MPROC_EINVAL, mproc_frame_write(-1, "x", 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_frame_write(ch.w(), nullptr, 1));
  void *p;
  size_t n;
  EXPECT_EQ(MPROC_EINVAL, mproc_frame_read(-1, 0, &p, &n));
  EXPECT_EQ(MPROC_EINVAL, mproc_frame_read(ch.r(), 0, nullptr, &n));
  EXPECT_EQ(MPROC_EINVAL, mproc_frame_read(ch.r(), 0, &p, nullptr));
  int fd = dup(ch.r());
  close(fd);
  EXPECT_EQ(-EBADF, mproc_frame_read(fd, 0, &p, &n));
  EXPECT_EQ(-EBADF, mproc_frame_write(fd, "x", 1));
  mproc_frame_free(nullptr);
}

INSTANTIATE_TEST_SUITE_P(PipeAndSocketpair, FrameOver,
                         ::testing::Values(Kind::kPipe, Kind::kSocketpair),
                         [](const ::testing::TestParamInfo<Kind> &info) {
                           return std::string(info.param == Kind::kPipe
                                                  ? "Pipe"
                                                  : "Socketpair");
                         });
