// Pipe and Connection (multiproc/pipe.h): values and bytes both ways, any
// size, end of stream only once every holder closed, truncation when the
// writer dies, EPIPE without SIGPIPE, poll and fileno, EINTR storms.
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "multiproc.h"
#include "tests/ipc/ipc_util.h"
#include "tests/support/fork_support.h"

namespace {

using mproc_test::ExitedZero;
using mproc_test::Now;
using mproc_test::Reap;
using mproc_test::Spawn;

class Pipe : public mproc_test::IpcTest {
 protected:
  Pipe() : IpcTest(120) {}
};

std::string Repr(const mproc_value_t* v) {
  char buf[512];
  mproc_repr(v, buf, sizeof buf);
  return buf;
}

int SendInt(mproc_conn_t* c, int64_t i) {
  mproc_value_t* v;
  if (mproc_value_int(&v, i) < 0) return -1;
  int rc = mproc_conn_send(c, v);
  mproc_value_free(v);
  return rc;
}

int64_t RecvInt(mproc_conn_t* c) {
  mproc_value_t* v;
  int rc = mproc_conn_recv(c, &v);
  if (rc < 0) return rc;
  int64_t i = -1;
  mproc_value_get_int(v, &i);
  mproc_value_free(v);
  return i;
}

// Python's documentation example: the child sends [42, None, 'hello'].
TEST_F(Pipe, ChildSendsAListTheParentReceivesIt) {
  mproc_conn_t *parent_conn, *child_conn;
  ASSERT_EQ(0, mproc_pipe(&parent_conn, &child_conn, true));
  pid_t pid = Spawn([&] {
    mproc_conn_close(parent_conn);
    mproc_value_t* v;
    if (mproc_pack(&v, "[ins]", 42, "hello") < 0) return 1;
    int rc = mproc_conn_send(child_conn, v);
    mproc_value_free(v);
    mproc_conn_close(child_conn);
    return rc == 0 ? 0 : 2;
  });
  mproc_conn_close(child_conn);
  mproc_value_t* got;
  ASSERT_EQ(0, mproc_conn_recv(parent_conn, &got));
  EXPECT_EQ("[42, None, 'hello']", Repr(got));
  mproc_value_free(got);
  EXPECT_TRUE(ExitedZero(Reap(pid)));
  // The child has gone and the parent closed its copy: the end.
  EXPECT_EQ(MPROC_EOF, mproc_conn_recv(parent_conn, &got));
  EXPECT_EQ(nullptr, got);
  mproc_conn_close(parent_conn);
}

TEST_F(Pipe, DuplexRoundTrips) {
  mproc_conn_t *a, *b;
  ASSERT_EQ(0, mproc_pipe(&a, &b, true));
  EXPECT_TRUE(mproc_conn_readable(a) && mproc_conn_writable(a));
  EXPECT_TRUE(mproc_conn_readable(b) && mproc_conn_writable(b));
  pid_t pid = Spawn([&] {
    mproc_conn_close(a);
    for (;;) {
      int64_t x = RecvInt(b);
      if (x == MPROC_EOF) return 0;
      if (x < 0 || SendInt(b, x + 1) != 0) return 1;
    }
  });
  mproc_conn_close(b);
  for (int i = 0; i < 1000; i++) {
    ASSERT_EQ(0, SendInt(a, i));
    ASSERT_EQ(i + 1, RecvInt(a));
  }
  mproc_conn_close(a);
  EXPECT_TRUE(ExitedZero(Reap(pid)));
}

TEST_F(Pipe, SimplexEndsGoOneWay) {
  mproc_conn_t *r, *w;
  ASSERT_EQ(0, mproc_pipe(&r, &w, false));
  EXPECT_TRUE(mproc_conn_readable(r));
  EXPECT_FALSE(mproc_conn_writable(r));
  EXPECT_FALSE(mproc_conn_readable(w));
  EXPECT_TRUE(mproc_conn_writable(w));
  EXPECT_EQ(MPROC_EBADF, SendInt(r, 1));
  mproc_value_t* v;
  EXPECT_EQ(MPROC_EBADF, mproc_conn_recv(w, &v));
  EXPECT_EQ(MPROC_EBADF, mproc_conn_poll(w, 0));
  EXPECT_EQ(MPROC_EBADF, mproc_conn_send_bytes(r, "x", 1));
  ASSERT_EQ(0, SendInt(w, 5));
  EXPECT_EQ(5, RecvInt(r));
  mproc_conn_close(r);
  mproc_conn_close(w);
}

TEST_F(Pipe, BytesMessages) {
  mproc_conn_t *a, *b;
  ASSERT_EQ(0, mproc_pipe(&a, &b, true));
  ASSERT_EQ(0, mproc_conn_send_bytes(a, "hello", 5));
  ASSERT_EQ(0, mproc_conn_send_bytes(a, nullptr, 0));
  ASSERT_EQ(0, mproc_conn_send_bytes(a, "\0\1\2", 3));
  void* p;
  size_t n;
  ASSERT_EQ(0, mproc_conn_recv_bytes(b, &p, &n));
  EXPECT_EQ(std::string("hello"), std::string(static_cast<char*>(p), n));
  EXPECT_EQ('\0', static_cast<char*>(p)[n]);
  mproc_frame_free(p);
  ASSERT_EQ(0, mproc_conn_recv_bytes(b, &p, &n));
  EXPECT_EQ(0u, n);
  mproc_frame_free(p);
  // Bytes that are not a value's encoding: recv says so.
  mproc_value_t* v;
  EXPECT_EQ(MPROC_EMALFORMED, mproc_conn_recv(b, &v));
  // A value's message can be read as bytes: its encoding.
  ASSERT_EQ(0, SendInt(a, 1));
  ASSERT_EQ(0, mproc_conn_recv_bytes(b, &p, &n));
  EXPECT_GT(n, 0u);
  mproc_frame_free(p);
  mproc_conn_close(a);
  mproc_conn_close(b);
}

// 64 MiB, far past the pipe's buffer, streams through both kinds of pipe.
TEST_F(Pipe, LargeMessagesStreamThrough) {
  for (int duplex = 0; duplex < 2; duplex++) {
    mproc_conn_t *r, *w;
    ASSERT_EQ(0, mproc_pipe(&r, &w, duplex));
    const size_t n = 64u << 20;
    pid_t pid = Spawn([&] {
      mproc_conn_close(r);
      std::string big(n, 'x');
      for (size_t i = 0; i < n; i += 4096) big[i] = (char)(i >> 12);
      mproc_value_t* v;
      if (mproc_value_bytes(&v, big.data(), n) < 0) return 1;
      int rc = mproc_conn_send(w, v);
      mproc_value_free(v);
      if (rc != 0) return 2;
      return mproc_conn_send_bytes(w, big.data(), n) == 0 ? 0 : 3;
    });
    mproc_conn_close(w);
    mproc_value_t* v;
    ASSERT_EQ(0, mproc_conn_recv(r, &v));
    const void* p;
    size_t len;
    ASSERT_EQ(0, mproc_value_get_bytes(v, &p, &len));
    ASSERT_EQ(n, len);
    const char* c = static_cast<const char*>(p);
    EXPECT_EQ((char)(12345 * 4096 >> 12), c[12345 * 4096]);
    EXPECT_EQ('x', c[n - 1]);
    mproc_value_free(v);
    void* raw;
    ASSERT_EQ(0, mproc_conn_recv_bytes(r, &raw, &len));
    EXPECT_EQ(n, len);
    mproc_frame_free(raw);
    EXPECT_TRUE(ExitedZero(Reap(pid)));
    mproc_conn_close(r);
  }
}

// A child that inherited the sending end keeps the stream open: the end
// comes once it closed it too (Python's rule: close the ends you do not
// use).
TEST_F(Pipe, EndOfStreamOnlyOnceEveryHolderClosed) {
  mproc_conn_t *r, *w;
  ASSERT_EQ(0, mproc_pipe(&r, &w, false));
  mproc_event_t* go;
  ASSERT_EQ(0, mproc_event_new(&go));
  pid_t pid = Spawn([&] {
    mproc_conn_close(r);
    mproc_event_wait(go, 30);
    mproc_conn_close(w);
    usleep(100000);  // alive, its end closed
    return 0;
  });
  mproc_conn_close(w);
  EXPECT_EQ(0, mproc_conn_poll(r, 0.05));  // nothing: the child holds w
  mproc_event_set(go);
  EXPECT_EQ(1, mproc_conn_poll(r, 10));
  mproc_value_t* v;
  EXPECT_EQ(MPROC_EOF, mproc_conn_recv(r, &v));
  EXPECT_TRUE(ExitedZero(Reap(pid)));
  mproc_event_free(go);
  mproc_conn_close(r);
}

// The writer dies in the middle of a message: the reader gets
// MPROC_ETRUNCATED, not a short message.
TEST_F(Pipe, WriterKilledMidMessageIsTruncated) {
  mproc_conn_t *r, *w;
  ASSERT_EQ(0, mproc_pipe(&r, &w, true));
  pid_t pid = Spawn([&] {
    mproc_conn_close(r);
    std::string big(32u << 20, 'y');
    mproc_conn_send_bytes(w, big.data(), big.size());  // blocks: unread
    return 0;
  });
  mproc_conn_close(w);
  ASSERT_EQ(1, mproc_conn_poll(r, 10));
  usleep(50000);
  kill(pid, SIGKILL);
  Reap(pid);
  void* p;
  size_t n;
  EXPECT_EQ(MPROC_ETRUNCATED, mproc_conn_recv_bytes(r, &p, &n));
  EXPECT_EQ(nullptr, p);
  mproc_conn_close(r);
}

// Nobody holds the receiving end: send says MPROC_EPIPE, and no SIGPIPE
// kills the sender (SIGPIPE's default action is death).
TEST_F(Pipe, SendWithoutReceiverIsEpipeWithoutSigpipe) {
  for (int duplex = 0; duplex < 2; duplex++) {
    int st = mproc_test::RunInChild([&] {
      signal(SIGPIPE, SIG_DFL);
      mproc_conn_t *r, *w;
      if (mproc_pipe(&r, &w, duplex) != 0) return 1;
      mproc_conn_close(r);
      if (SendInt(w, 1) != MPROC_EPIPE) return 2;
      if (mproc_conn_send_bytes(w, "abc", 3) != MPROC_EPIPE) return 3;
      mproc_conn_close(w);
      return 0;
    });
    EXPECT_TRUE(ExitedZero(st)) << duplex << " status " << st;
  }
}

// Reads never go past the message: with two messages sent, the descriptor
// stays readable after the first is received, for a caller's poll loop.
TEST_F(Pipe, FilenoStaysTrueToWhatIsLeft) {
  mproc_conn_t *a, *b;
  ASSERT_EQ(0, mproc_pipe(&a, &b, true));
  ASSERT_EQ(0, SendInt(a, 1));
  ASSERT_EQ(0, SendInt(a, 2));
  ASSERT_EQ(1, RecvInt(b));
  struct pollfd pfd = {mproc_conn_fileno(b), POLLIN, 0};
  EXPECT_EQ(1, poll(&pfd, 1, 0));
  ASSERT_EQ(2, RecvInt(b));
  pfd.revents = 0;
  EXPECT_EQ(0, poll(&pfd, 1, 0));
  EXPECT_EQ(0, mproc_conn_poll(b, 0));
  mproc_conn_close(a);
  mproc_conn_close(b);
}

TEST_F(Pipe, PollAndRecvSurviveAnEintrStorm) {
  mproc_conn_t *a, *b;
  ASSERT_EQ(0, mproc_pipe(&a, &b, true));
  pid_t pid = Spawn([&] {
    mproc_conn_close(b);
    usleep(150000);
    return SendInt(a, 9) == 0 ? 0 : 1;
  });
  mproc_conn_close(a);
  {
    mproc_test::EintrStorm storm(1000);
    double t0 = Now();
    EXPECT_EQ(0, mproc_conn_poll(b, 0.05));
    double took = Now() - t0;
    EXPECT_GE(took, 0.05);
    EXPECT_LT(took, 0.55);
    EXPECT_EQ(9, RecvInt(b));  // blocks ~100 ms more, through the storm
  }
  EXPECT_TRUE(ExitedZero(Reap(pid)));
  mproc_conn_close(b);
}

// A pipe made before the pool: its workers send on it.
mproc_conn_t* g_send_end;

MPROC_TARGET(send_double) {
  int64_t x;
  if (mproc_unpack(call, "x=L", &x) < 0) return -1;
  mproc_value_t* v;
  if (mproc_value_int(&v, 2 * x) < 0) return -1;
  int rc = mproc_conn_send(g_send_end, v);
  mproc_value_free(v);
  return rc < 0 ? -1 : 0;
}

TEST_F(Pipe, MadeBeforeThePoolWorksInItsWorkers) {
  mproc_conn_t* recv_end;
  ASSERT_EQ(0, mproc_pipe(&recv_end, &g_send_end, false));
  mproc_pool_opts_t po = {};
  po.workers = 2;
  mproc_pool_t* pool;
  ASSERT_EQ(0, mproc_pool_new(&pool, &po));
  mproc_value_t *items, *results;
  ASSERT_EQ(0, mproc_pack(&items, "[iii]", 1, 2, 3));
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_map(pool, "send_double", items, 1, &results, &err))
      << err.message;
  int64_t sum = 0;
  for (int i = 0; i < 3; i++) sum += RecvInt(recv_end);
  EXPECT_EQ(12, sum);
  mproc_value_free(items);
  mproc_value_free(results);
  mproc_pool_close(pool);
  EXPECT_EQ(0, mproc_pool_join(pool, 30));
  mproc_pool_free(pool);
  mproc_conn_close(g_send_end);
  mproc_conn_close(recv_end);
}

TEST_F(Pipe, CloseLeavesNoDescriptors) {
  int fds = mproc_test::CountOpenFds();
  for (int i = 0; i < 200; i++) {
    mproc_conn_t *a, *b;
    ASSERT_EQ(0, mproc_pipe(&a, &b, i % 2));
    mproc_conn_close(a);
    mproc_conn_close(b);
  }
  EXPECT_EQ(fds, mproc_test::CountOpenFds());
  mproc_conn_t* a;
  EXPECT_EQ(MPROC_EINVAL, mproc_pipe(&a, nullptr, true));
  EXPECT_EQ(MPROC_EINVAL, mproc_conn_poll(nullptr, 0));
  EXPECT_EQ(0, mproc_conn_close(nullptr));
}

}  // namespace
