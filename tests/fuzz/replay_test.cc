// Replays every committed corpus file (tests/fuzz/corpus/*/) through one
// fuzz target's LLVMFuzzerTestOneInput, linked in by the BUILD rule, so the
// corpus is a regression suite in every `bazel test //...` run, with any
// compiler and sanitizer. A failed check aborts the binary, naming the file
// on stderr first. One test per corpus directory.
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"

namespace {

// Relative to the test's working directory, the workspace's runfiles.
const char kCorpus[] = "tests/fuzz/corpus";

std::vector<std::string> FilesIn(const std::string &dir) {
  std::vector<std::string> files;
  DIR *d = opendir(dir.c_str());
  if (d == nullptr) return files;
  while (struct dirent *e = readdir(d)) {
    if (e->d_name[0] != '.') files.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  return files;
}

void ReplayDir(const char *name) {
  std::vector<std::string> files = FilesIn(std::string(kCorpus) + "/" + name);
  ASSERT_FALSE(files.empty()) << "no corpus files in " << kCorpus << "/"
                              << name;
  for (const std::string &path : files) {
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << path;
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replaying %s (%zu bytes)\n", path.c_str(),
                 bytes.size());
    // libFuzzer never passes NULL; an empty vector's data() may be.
    static const uint8_t kEmpty[1] = {0};
    EXPECT_EQ(0, LLVMFuzzerTestOneInput(
                     bytes.empty() ? kEmpty : bytes.data(), bytes.size()));
  }
}

}  // namespace

TEST(Replay, ValueCorpus) { ReplayDir("value_fuzz"); }
TEST(Replay, ReaderCorpus) { ReplayDir("reader_fuzz"); }
TEST(Replay, CallCorpus) { ReplayDir("call_fuzz"); }
TEST(Replay, ReportCorpus) { ReplayDir("report_fuzz"); }
TEST(Replay, ControlCorpus) { ReplayDir("control_fuzz"); }
