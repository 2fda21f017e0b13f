// core/base/fdpass: descriptors passed over a Unix socket — what arrives,
// what is closed, and what the receiver is told when the kernel drops them.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string.h>

#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "core/base/fdpass.h"
}

namespace {

struct Pair {
  int s[2] = {-1, -1};
  Pair() { socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s); }
  ~Pair() {
    close(s[0]);
    close(s[1]);
  }
};

ino_t Inode(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

int OpenCount() {
  int n = 0;
  for (int fd = 0; fd < 4096; fd++)
    if (fcntl(fd, F_GETFD) >= 0) n++;
  return n;
}

TEST(FdPass, DescriptorsArriveInOrderCloseOnExecWithTheData) {
  Pair p;
  int a[2], b[2];
  ASSERT_EQ(0, pipe2(a, O_CLOEXEC));
  ASSERT_EQ(0, pipe2(b, O_CLOEXEC));
  int send[2] = {a[0], b[1]};
  ASSERT_EQ(5, mproc__send_fds(p.s[0], "hello", 5, send, 2, 0));
  char buf[16];
  int got[2] = {-1, -1}, n = 0;
  bool truncated = true;
  ASSERT_EQ(5, mproc__recv_fds(p.s[1], buf, sizeof buf, got, 2, &n,
                               &truncated, 0));
  EXPECT_EQ(0, memcmp(buf, "hello", 5));
  ASSERT_EQ(2, n);
  EXPECT_FALSE(truncated);
  EXPECT_EQ(Inode(a[0]), Inode(got[0]));
  EXPECT_EQ(Inode(b[1]), Inode(got[1]));
  EXPECT_EQ(FD_CLOEXEC, fcntl(got[0], F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(FD_CLOEXEC, fcntl(got[1], F_GETFD) & FD_CLOEXEC);
  for (int fd : {a[0], a[1], b[0], b[1], got[0], got[1]}) close(fd);
}

TEST(FdPass, DescriptorsBeyondWhatTheReceiverWantsAreClosed) {
  Pair p;
  int a[2];
  ASSERT_EQ(0, pipe2(a, O_CLOEXEC));
  int send[3] = {a[0], a[1], a[0]};
  ASSERT_EQ(1, mproc__send_fds(p.s[0], "x", 1, send, 3, 0));
  int before = OpenCount();
  char c;
  int got = -1, n = 0;
  ASSERT_EQ(1, mproc__recv_fds(p.s[1], &c, 1, &got, 1, &n, nullptr, 0));
  ASSERT_EQ(1, n);
  EXPECT_EQ(Inode(a[0]), Inode(got));
  EXPECT_EQ(before + 1, OpenCount()) << "the two extra were not closed";
  close(got);
  close(a[0]);
  close(a[1]);
}

TEST(FdPass, TooManyOrNoDataIsRefused) {
  Pair p;
  int fds[MPROC__FDPASS_MAX + 1] = {};
  EXPECT_EQ(-EINVAL, mproc__send_fds(p.s[0], "x", 1, fds,
                                     MPROC__FDPASS_MAX + 1, 0));
  EXPECT_EQ(-EINVAL, mproc__send_fds(p.s[0], "x", 1, fds, -1, 0));
  EXPECT_EQ(-EINVAL, mproc__send_fds(p.s[0], "", 0, fds, 0, 0));
}

TEST(FdPass, NothingThereWithDontWaitIsEagainAndPeerGoneIsEndOfStream) {
  Pair p;
  char c;
  int got = -1, n = 0;
  EXPECT_EQ(-EAGAIN, mproc__recv_fds(p.s[1], &c, 1, &got, 1, &n, nullptr,
                                     MSG_DONTWAIT));
  close(p.s[0]);
  p.s[0] = -1;
  EXPECT_EQ(0, mproc__recv_fds(p.s[1], &c, 1, &got, 1, &n, nullptr, 0));
  EXPECT_EQ(0, n);
}

// At its descriptor limit the receiver gets the data but not the
// descriptor, and is told (MSG_CTRUNC) rather than left to guess.
TEST(FdPass, AReceiverAtItsLimitIsToldTheDescriptorWasDropped) {
  Pair p;
  int a[2];
  ASSERT_EQ(0, pipe2(a, O_CLOEXEC));
  ASSERT_EQ(1, mproc__send_fds(p.s[0], "x", 1, &a[0], 1, 0));
  struct rlimit old;
  ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
  int highest = 0;
  for (int fd = 0; fd < 4096; fd++)
    if (fcntl(fd, F_GETFD) >= 0) highest = fd;
  struct rlimit tight = {static_cast<rlim_t>(highest + 1), old.rlim_max};
  // Fill every slot below the limit so that none is free.
  std::vector<int> fillers;
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &tight));
  for (;;) {
    int fd = dup(a[1]);
    if (fd < 0) break;
    fillers.push_back(fd);
  }
  char c;
  int got = -1, n = 0;
  bool truncated = false;
  ssize_t r = mproc__recv_fds(p.s[1], &c, 1, &got, 1, &n, &truncated, 0);
  for (int fd : fillers) close(fd);
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
  EXPECT_EQ(1, r);
  EXPECT_EQ(0, n);
  EXPECT_TRUE(truncated);
  close(a[0]);
  close(a[1]);
}

}  // namespace
