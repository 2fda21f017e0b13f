#include <gtest/gtest.h>

#include <string>

#include "serialization/value.h"

static std::string Repr(const mproc_value_t *v) {
  char buf[4096];
  int n = mproc_repr(v, buf, sizeof buf);
  EXPECT_GE(n, 0);
  return std::string(buf);
}

TEST(Value, PackAndRepr) {
  mproc_value_t *v = nullptr;
  ASSERT_EQ(0, mproc_pack(&v, "(si)", "test", 18));
  EXPECT_EQ("('test', 18)", Repr(v));
  mproc_value_free(v);
  ASSERT_EQ(0, mproc_pack(&v, "{s:i}", "m", 20));
  EXPECT_EQ("{'m': 20}", Repr(v));
  mproc_value_free(v);
}

TEST(Value, RoundTrip) {
  mproc_value_t *v = nullptr;
  ASSERT_EQ(0, mproc_pack(&v, "(nbids[i(s)]{s:y#,s:d})", 1, -7, 2.5, "héllo",
                          1, "x", "k", "ab\0c", (size_t)4, "f", 1e300));
  std::string want = Repr(v);
  size_t n = mproc_value_encoded_size(v);
  std::string buf(n, '\0');
  ASSERT_EQ((int)n, mproc_value_encode(v, &buf[0], n));
  mproc_value_t *back = nullptr;
  ASSERT_EQ(0, mproc_value_decode(&back, buf.data(), n));
  EXPECT_TRUE(mproc_value_equal(v, back));
  EXPECT_EQ(want, Repr(back));
  EXPECT_EQ(n, mproc_value_encoded_size(back));
  mproc_value_free(v);
  mproc_value_free(back);
}
