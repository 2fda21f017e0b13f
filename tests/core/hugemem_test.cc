// mproc__huge_hint: a big block advised before it is written is backed by
// transparent huge pages (where the kernel offers them on request). Read
// back from /proc/self/smaps.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "core/base/hugemem.h"
}

namespace {

std::string Slurp(const char* path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// AnonHugePages (kB) of the mapping that contains p; -1 if none does.
long AnonHugeKb(const void* p) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool inside = false;
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  while (std::getline(f, line)) {
    unsigned long lo, hi;
    if (sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 &&
        line.find(':') > line.find(' ')) {
      inside = lo <= a && a < hi;
      continue;
    }
    long kb;
    if (inside && sscanf(line.c_str(), "AnonHugePages: %ld kB", &kb) == 1)
      return kb;
  }
  return -1;
}

bool ThpOnRequest() {
  std::string mode = Slurp("/sys/kernel/mm/transparent_hugepage/enabled");
  return mode.find("[madvise]") != std::string::npos ||
         mode.find("[always]") != std::string::npos;
}

TEST(HugeHint, BigBlockGetsHugePagesOnceWritten) {
  if (!ThpOnRequest()) GTEST_SKIP() << "transparent huge pages are off here";
  const size_t n = 64u << 20;
  char* p = static_cast<char*>(malloc(n));
  ASSERT_NE(nullptr, p);
  mproc__huge_hint(p, n);
  memset(p, 1, n);
  long kb = AnonHugeKb(p + n / 2);
  free(p);
  // Not all of it: the kernel may lack free 2 MiB frames for some.
  EXPECT_GT(kb, 0) << "no huge pages behind a hinted 64 MiB block";
}

}  // namespace
