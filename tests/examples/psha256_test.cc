// psha256 prints what coreutils' sha256sum prints for the same files.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/fork_support.h"

namespace {

class Psha256 : public mproc_test::Deadline {
 protected:
  Psha256() : Deadline(120) {}
  void SetUp() override {
    Deadline::SetUp();
    const char* tmp = getenv("TEST_TMPDIR");
    root_ = std::string(tmp ? tmp : "/tmp") + "/psha256_tree";
    Run({"/bin/rm", "-rf", root_});
    Mkdir(root_);
    Mkdir(root_ + "/sub");
    Mkdir(root_ + "/sub/deeper");
    Mkdir(root_ + "/empty dir");
    Write(root_ + "/empty", "");
    Write(root_ + "/with space.txt", "hello world\n");
    Write(root_ + "/sub/a", "a");
    Write(root_ + "/sub/deeper/b", std::string(100000, 'b'));
    Write(root_ + "/back\\slash", "odd name");
    std::string big(16u << 20, '\0');
    for (size_t i = 0; i < big.size(); i++)
      big[i] = static_cast<char>((i * 2654435761u) >> 11);
    Write(root_ + "/big.bin", big);
  }

  static void Mkdir(const std::string& d) { ASSERT_EQ(0, mkdir(d.c_str(), 0755)); }
  static void Write(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  }
  static std::string Run(const std::vector<std::string>& argv, int* status = nullptr,
                         bool merge = false) {
    return mproc_test::RunCapture(argv, status, merge);
  }
  // Every regular file under root_, sorted by bytes.
  std::vector<std::string> Files() {
    std::string out = Run({"/usr/bin/find", root_, "-type", "f"});
    std::vector<std::string> files;
    size_t pos = 0, nl;
    while ((nl = out.find('\n', pos)) != std::string::npos) {
      files.push_back(out.substr(pos, nl - pos));
      pos = nl + 1;
    }
    std::sort(files.begin(), files.end());
    return files;
  }
  static std::string Psha() { return mproc_test::Runfile("examples/psha256"); }

  std::string root_;
};

TEST_F(Psha256, RecursiveOutputEqualsSha256sum) {
  std::vector<std::string> files = Files();
  ASSERT_EQ(6u, files.size());
  std::vector<std::string> want_argv = {"/usr/bin/sha256sum"};
  want_argv.insert(want_argv.end(), files.begin(), files.end());
  int st1 = -1, st2 = -1;
  std::string want = Run(want_argv, &st1);
  std::string got = Run({Psha(), "-j", "3", "-r", root_}, &st2);
  EXPECT_EQ(want, got);
  ASSERT_TRUE(WIFEXITED(st2));
  EXPECT_EQ(0, WEXITSTATUS(st2));
  EXPECT_NE(std::string::npos, got.find("\\")) << "escaped name expected";
}

TEST_F(Psha256, FilesInTheGivenOrderEqualSha256sum) {
  std::vector<std::string> files = Files();
  std::reverse(files.begin(), files.end());
  files.push_back(files[0]);  // a file twice
  std::vector<std::string> want_argv = {"/usr/bin/sha256sum"};
  want_argv.insert(want_argv.end(), files.begin(), files.end());
  std::vector<std::string> got_argv = {Psha(), "-j", "2"};
  got_argv.insert(got_argv.end(), files.begin(), files.end());
  EXPECT_EQ(Run(want_argv), Run(got_argv));
}

TEST_F(Psha256, UnreadableFilesGiveSha256sumsErrorsAndStatus) {
  std::vector<std::string> args = {root_ + "/empty", root_ + "/missing",
                                    root_ + "/sub", "/proc/self/mem",
                                    root_ + "/sub/a"};
  if (geteuid() != 0) {  // root reads anything; a non-root run can test this
    Write(root_ + "/locked", "secret");
    chmod((root_ + "/locked").c_str(), 0);
    args.push_back(root_ + "/locked");
  }
  std::vector<std::string> want_argv = {"/usr/bin/sha256sum"};
  want_argv.insert(want_argv.end(), args.begin(), args.end());
  std::vector<std::string> got_argv = {Psha()};
  got_argv.insert(got_argv.end(), args.begin(), args.end());
  int st_want = -1, st_got = -1;
  std::string want = Run(want_argv, &st_want, true);
  std::string got = Run(got_argv, &st_got, true);
  // Same lines, stdout and stderr interleaved in order; only the program
  // name differs (sha256sum names itself as invoked).
  const std::string theirs = "/usr/bin/sha256sum: ";
  size_t p;
  while ((p = want.find(theirs)) != std::string::npos)
    want.replace(p, theirs.size(), "psha256: ");
  EXPECT_EQ(want, got);
  ASSERT_TRUE(WIFEXITED(st_got));
  EXPECT_EQ(WEXITSTATUS(st_want), WEXITSTATUS(st_got));
  EXPECT_EQ(1, WEXITSTATUS(st_got));
}

TEST_F(Psha256, AWorkerCrashCostsOnlyThatFile) {
  std::vector<std::string> files = Files();
  std::string victim = root_ + "/sub/a";
  std::vector<std::string> argv = {"/usr/bin/env",
                                   "PSHA256_CRASH_ON=" + victim, Psha(),
                                   "-j", "2"};
  argv.insert(argv.end(), files.begin(), files.end());
  int st = -1;
  std::string got = Run(argv, &st, true);
  for (const std::string& f : files) {
    if (f == victim) {
      EXPECT_NE(std::string::npos,
                got.find("psha256: " + victim + ": worker (pid "))
          << got;
      EXPECT_NE(std::string::npos, got.find("signal 6")) << got;
    } else {
      std::string line =
          Run({"/usr/bin/sha256sum", f});  // this file's own line
      EXPECT_NE(std::string::npos, got.find(line)) << f << "\n" << got;
    }
  }
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(1, WEXITSTATUS(st));
}

TEST_F(Psha256, StatsTableHasOneRowPerWorker) {
  int st = -1;
  std::string out =
      Run({Psha(), "-j", "3", "-r", "--stats", root_}, &st, true);
  EXPECT_NE(std::string::npos, out.find("worker      pid    tasks")) << out;
  for (int w = 0; w < 3; w++)
    EXPECT_NE(std::string::npos, out.find("\n" + std::to_string(w) + "  "))
        << out;
  // Each row names its slot's worker (the last one: the table is printed
  // after join, when no worker runs any more), never pid 0.
  std::istringstream lines(out);
  std::string line;
  int rows = 0;
  while (std::getline(lines, line)) {
    std::istringstream row(line);
    int slot = -1;
    long pid = -1;
    if (!(row >> slot >> pid) || slot < 0 || slot > 2) continue;
    rows++;
    EXPECT_GT(pid, 0) << line;
  }
  EXPECT_EQ(3, rows) << out;
}

}  // namespace
