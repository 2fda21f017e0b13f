// Values in memory files (core/ipc/spill.h, serialization/value_ext.h):
// what a queue's large items and a Process's large results travel in.
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "core/ipc/spill.h"
#include "multiproc.h"
#include "serialization/value_ext.h"
#include "tests/support/fork_support.h"

namespace {

// A value with every kind, many small pieces (the buffered path) and
// large strings and bytes (written and read straight).
mproc_value_t* Mixed(size_t big) {
  mproc_value_t* list;
  EXPECT_EQ(0, mproc_value_list(&list));
  for (int i = 0; i < 20000; i++) {
    mproc_value_t* item;
    EXPECT_EQ(0, mproc_pack(&item, "(is{s:d}n)", i, "x", "k", i * 0.5));
    EXPECT_EQ(0, mproc_list_append(list, item));
  }
  std::string s(big, 'z');
  s[big / 2] = 'y';
  mproc_value_t* v;
  EXPECT_EQ(0, mproc_pack(&v, "(Ns#y#b)", list, s.data(), s.size(), s.data(),
                          big < 100 ? big : (size_t)100, true));
  return v;
}

TEST(Spill, ValuesRoundTripThroughAFile) {
  for (size_t big : {(size_t)0, (size_t)100, (size_t)70000, (size_t)9 << 20}) {
    mproc_value_t* v = Mixed(big);
    int fd = memfd_create("t", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, mproc__value_write_fd(v, fd));
    EXPECT_EQ((off_t)mproc_value_encoded_size(v), lseek(fd, 0, SEEK_END));
    // The file holds exactly mproc_value_encode's bytes.
    size_t n = mproc_value_encoded_size(v);
    std::string want(n, '\0'), got(n, '\0');
    ASSERT_EQ((int)n, mproc_value_encode(v, &want[0], n));
    ASSERT_EQ((ssize_t)n, pread(fd, &got[0], n, 0));
    EXPECT_TRUE(want == got) << big;
    mproc_value_t* back;
    ASSERT_EQ(0, mproc__value_read_fd(&back, fd, n)) << big;
    EXPECT_TRUE(mproc_value_equal(v, back)) << big;
    mproc_value_free(back);
    // A file shorter than claimed is an error, never a read past its end.
    EXPECT_EQ(MPROC_EMALFORMED, mproc__value_read_fd(&back, fd, n + 10));
    EXPECT_EQ(nullptr, back);
    ASSERT_EQ(0, ftruncate(fd, (off_t)(n / 2)));
    EXPECT_GT(0, mproc__value_read_fd(&back, fd, n));
    close(fd);
    mproc_value_free(v);
  }
}

TEST(Spill, OnlySealedFilesAreRead) {
  mproc_value_t* v = Mixed(1 << 20);
  mproc__spill_t sp;
  ASSERT_EQ(0, mproc__spill_write(&sp, v));
  int fd = mproc__spill_fd(&sp);
  int seals = fcntl(fd, F_GET_SEALS);
  EXPECT_TRUE(seals & F_SEAL_SHRINK);
  EXPECT_TRUE(seals & F_SEAL_WRITE);
  EXPECT_EQ(-1, ftruncate(fd, 10));  // sealed
  mproc_value_t* back;
  ASSERT_EQ(0, mproc__spill_read(&sp, &back));
  EXPECT_TRUE(mproc_value_equal(v, back));
  mproc_value_free(back);
  // The same bytes in an unsealed file: refused (it could shrink under a
  // reader, or change).
  int open_fd = memfd_create("t", MFD_CLOEXEC);
  ASSERT_EQ(0, mproc__value_write_fd(v, open_fd));
  EXPECT_EQ(MPROC_EMALFORMED,
            mproc__spill_read_fd(open_fd, mproc_value_encoded_size(v), &back));
  EXPECT_NE(std::string(""), mproc_last_error());
  close(open_fd);
  int fds = mproc_test::CountOpenFds();
  mproc__spill_release(&sp);
  EXPECT_EQ(fds - 1, mproc_test::CountOpenFds());
  mproc__spill_release(&sp);  // twice: nothing
  mproc_value_free(v);
}

}  // namespace
