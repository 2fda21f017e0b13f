// The buffered frame reader (serialization/reader.h) that workers, the pool
// thread and Process parents use. mproc_frame_read is built on it in exact
// mode (frame_test covers that path, and //tests/fuzz:reader_fuzz compares
// the ways of reading); these tests cover what the buffered mode adds:
// several frames per read, peeking without reading, non-blocking fills, a
// lent first buffer, growth that follows arrivals, shrinking.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/io.h"
#include "multiproc/frame.h"
#include "serialization/frame_internal.h"
#include "serialization/reader.h"

namespace {

// Defect 11: a fresh heap reader has no buffer (NULL), and peek computed
// NULL + 0, undefined behaviour that clang's UBSan reports (the clang-ubsan
// run of this test failed before the fix) and gcc's does not.
TEST(FreshReader, PeekOnAFreshHeapReaderFindsNoFrame) {
  mproc__reader_t r;
  mproc__reader_init(&r, -1, 0, nullptr, 0);
  const uint8_t *payload = nullptr;
  size_t len = 0;
  EXPECT_EQ(0, mproc__reader_peek(&r, &payload, &len));
  EXPECT_EQ(0u, mproc__reader_capacity(&r)) << "nothing allocated";
  mproc__reader_free(&r);
}

TEST(FreshReader, PeekOnAFreshLentReaderFindsNoFrame) {
  uint8_t mem[16];
  mproc__reader_t r;
  mproc__reader_init(&r, -1, 0, mem, sizeof mem);
  const uint8_t *payload = nullptr;
  size_t len = 0;
  EXPECT_EQ(0, mproc__reader_peek(&r, &payload, &len));
  mproc__reader_free(&r);
}

std::string Frame(const std::string& payload) {
  uint8_t hdr[MPROC_FRAME_HEADER];
  mproc__frame_put_header(hdr, static_cast<uint32_t>(payload.size()));
  return std::string(reinterpret_cast<char*>(hdr), sizeof hdr) + payload;
}

class Reader : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp_));
  }
  void TearDown() override {
    if (sp_[0] >= 0) close(sp_[0]);
    if (sp_[1] >= 0) close(sp_[1]);
  }
  void Send(const std::string& bytes) {
    ASSERT_EQ(0, mproc__write_full(sp_[1], bytes.data(), bytes.size()));
  }
  // More than the socket buffer holds: written by a thread while the test
  // reads.
  std::thread SendLater(std::string bytes) {
    int fd = sp_[1];
    return std::thread([fd, bytes] {
      EXPECT_EQ(0, mproc__write_full(fd, bytes.data(), bytes.size()));
    });
  }
  void CloseWriter() {
    close(sp_[1]);
    sp_[1] = -1;
  }
  std::string Next(mproc__reader_t* r, int* rc) {
    const uint8_t* p = nullptr;
    size_t n = 0;
    *rc = mproc__reader_next(r, &p, &n);
    return *rc == 0 ? std::string(reinterpret_cast<const char*>(p), n) : "";
  }
  int sp_[2] = {-1, -1};
};

TEST_F(Reader, OneReadHandsOutEveryFrameAlreadyQueued) {
  Send(Frame("one") + Frame("two") + Frame("") + Frame("four"));
  CloseWriter();
  mproc__reader_t r;
  mproc__reader_init(&r, sp_[0], 0, nullptr, 0);
  ASSERT_EQ(1, mproc__reader_fill(&r) > 0 ? 1 : 0);
  // Everything is buffered now: peek hands the frames out without reading.
  const uint8_t* p;
  size_t n;
  std::vector<std::string> got;
  while (mproc__reader_peek(&r, &p, &n) == 1)
    got.emplace_back(reinterpret_cast<const char*>(p), n);
  EXPECT_EQ((std::vector<std::string>{"one", "two", "", "four"}), got);
  int rc;
  Next(&r, &rc);
  EXPECT_EQ(MPROC_EOF, rc);
  mproc__reader_free(&r);
}

TEST_F(Reader, FillOnANonBlockingDescriptorSaysEagainWhenEmpty) {
  ASSERT_EQ(0, mproc__set_nonblock(sp_[0], 1));
  mproc__reader_t r;
  mproc__reader_init(&r, sp_[0], 0, nullptr, 0);
  EXPECT_EQ(MPROC_EAGAIN, mproc__reader_fill(&r));
  Send(Frame("x"));
  EXPECT_GT(mproc__reader_fill(&r), 0);
  const uint8_t* p;
  size_t n;
  ASSERT_EQ(1, mproc__reader_peek(&r, &p, &n));
  EXPECT_EQ(1u, n);
  CloseWriter();
  EXPECT_EQ(MPROC_EOF, mproc__reader_fill(&r));
  mproc__reader_free(&r);
}

TEST_F(Reader, ASmallFrameFitsTheLentBuffer) {
  uint8_t mem[64];
  mproc__reader_t r;
  mproc__reader_init(&r, sp_[0], 0, mem, sizeof mem);
  Send(Frame(std::string(40, 'a')));
  int rc;
  EXPECT_EQ(std::string(40, 'a'), Next(&r, &rc));
  EXPECT_EQ(0, rc);
  EXPECT_EQ(sizeof mem, mproc__reader_capacity(&r)) << "no heap buffer";
  // A bigger one moves to the heap, and the lent memory is left alone.
  Send(Frame(std::string(1000, 'b')));
  EXPECT_EQ(std::string(1000, 'b'), Next(&r, &rc));
  EXPECT_GT(mproc__reader_capacity(&r), sizeof mem);
  mproc__reader_free(&r);
}

TEST_F(Reader, ALyingHeaderGrowsTheBufferOnlyWithWhatArrives) {
  mproc__reader_t r;
  mproc__reader_init(&r, sp_[0], 0, nullptr, 0);  // 1 GiB allowed
  uint8_t hdr[MPROC_FRAME_HEADER];
  mproc__frame_put_header(hdr, 900u << 20);  // claims 900 MiB
  Send(std::string(reinterpret_cast<char*>(hdr), sizeof hdr) +
       std::string(10000, 'z'));
  CloseWriter();
  int rc;
  Next(&r, &rc);
  EXPECT_EQ(MPROC_ETRUNCATED, rc);
  EXPECT_LT(mproc__reader_capacity(&r), static_cast<size_t>(1) << 20)
      << "allocated for the claim, not for the 10 kB that came";
  mproc__reader_free(&r);
}

TEST_F(Reader, AHeaderOverTheMaximumIsRefusedBeforeItsPayload) {
  mproc__reader_t r;
  mproc__reader_init(&r, sp_[0], 100, nullptr, 0);
  Send(Frame(std::string(101, 'q')));
  int rc;
  Next(&r, &rc);
  EXPECT_EQ(MPROC_ETOOBIG, rc);
  mproc__reader_free(&r);
}

TEST_F(Reader, ExactModeLeavesTheNextFrameInTheDescriptor) {
  Send(Frame("first") + Frame("second"));
  mproc__reader_t r;
  mproc__reader_init(&r, sp_[0], 0, nullptr, 0);
  r.exact = true;
  int rc;
  EXPECT_EQ("first", Next(&r, &rc));
  mproc__reader_free(&r);
  // The second frame is still there for anyone reading the descriptor.
  void* payload = nullptr;
  size_t n = 0;
  ASSERT_EQ(0, mproc_frame_read(sp_[0], 0, &payload, &n));
  EXPECT_EQ("second", std::string(static_cast<char*>(payload), n));
  mproc_frame_free(payload);
}

TEST_F(Reader, ShrinkGivesABigBufferBack) {
  mproc__reader_t r;
  mproc__reader_init(&r, sp_[0], 0, nullptr, 0);
  std::thread writer = SendLater(Frame(std::string(3 << 20, 'm')));
  int rc;
  EXPECT_EQ(static_cast<size_t>(3 << 20), Next(&r, &rc).size());
  writer.join();
  EXPECT_GE(mproc__reader_capacity(&r), static_cast<size_t>(3 << 20));
  mproc__reader_shrink(&r, 1 << 20);
  EXPECT_EQ(0u, mproc__reader_capacity(&r));
  // Usable afterwards.
  Send(Frame("again"));
  EXPECT_EQ("again", Next(&r, &rc));
  mproc__reader_free(&r);
}

TEST_F(Reader, ShrinkKeepsABufferHoldingUnreadBytes) {
  mproc__reader_t r;
  mproc__reader_init(&r, sp_[0], 0, nullptr, 0);
  uint8_t hdr[MPROC_FRAME_HEADER];
  mproc__frame_put_header(hdr, 2u << 20);
  // Half a frame arrives: buffered, not yet handed out.
  std::thread writer =
      SendLater(std::string(reinterpret_cast<char*>(hdr), sizeof hdr) +
                std::string(1u << 20, 'h'));
  ASSERT_EQ(0, mproc__set_nonblock(sp_[0], 1));
  size_t got = 0;
  while (got < (1u << 20) + MPROC_FRAME_HEADER) {
    int n = mproc__reader_fill(&r);
    if (n == MPROC_EAGAIN) {
      usleep(1000);
      continue;
    }
    ASSERT_GT(n, 0);
    got += static_cast<size_t>(n);
  }
  writer.join();
  size_t cap = mproc__reader_capacity(&r);
  mproc__reader_shrink(&r, 1024);
  EXPECT_EQ(cap, mproc__reader_capacity(&r)) << "pending bytes kept";
  mproc__reader_free(&r);
}

TEST_F(Reader, DribbledBytesMakeOneFrame) {
  std::string f = Frame("dribbled");
  mproc__reader_t r;
  mproc__reader_init(&r, sp_[0], 0, nullptr, 0);
  ASSERT_EQ(0, mproc__set_nonblock(sp_[0], 1));
  const uint8_t* p;
  size_t n;
  for (size_t i = 0; i < f.size(); i++) {
    EXPECT_EQ(0, mproc__reader_peek(&r, &p, &n)) << "after " << i << " bytes";
    Send(f.substr(i, 1));
    EXPECT_GT(mproc__reader_fill(&r), 0);
  }
  ASSERT_EQ(1, mproc__reader_peek(&r, &p, &n));
  EXPECT_EQ("dribbled", std::string(reinterpret_cast<const char*>(p), n));
  mproc__reader_free(&r);
}

}  // namespace
