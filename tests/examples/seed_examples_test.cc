// The seed examples print what the seed tutorial's Python programs print
// (../shared/seed/multiprocessing-process.md), with real pids.
#include <stdlib.h>
#include <sys/wait.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/fork_support.h"

namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<std::string> RunExample(const char* example) {
  int status = -1;
  std::string out = mproc_test::RunCapture(
      {mproc_test::Runfile(std::string("examples/") + example)}, &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << example << " status " << status;
  return Lines(out);
}

// The line matching re, or "" (with a test failure).
std::smatch Find(const std::vector<std::string>& lines, const std::string& re,
                 size_t* index = nullptr) {
  std::regex r(re);
  for (size_t i = 0; i < lines.size(); i++) {
    std::smatch m;
    if (std::regex_match(lines[i], m, r)) {
      if (index) *index = i;
      return m;
    }
  }
  ADD_FAILURE() << "no line matches " << re;
  return std::smatch();
}

class SeedExamples : public mproc_test::Deadline {};

TEST_F(SeedExamples, BasicPrintsParentChildAndEnd) {
  std::vector<std::string> lines = RunExample("seed_basic");
  ASSERT_EQ(4u, lines.size());
  std::smatch parent, child;
  std::regex_match(lines[0], parent, std::regex("父进程 (\\d+)\\."));
  ASSERT_FALSE(parent.empty()) << lines[0];
  EXPECT_EQ("子进程将要执行", lines[1]);
  std::regex_match(lines[2], child,
                   std::regex("子进程运行中，name= test ,pid=(\\d+)\\.\\.\\."));
  ASSERT_FALSE(child.empty()) << lines[2];
  EXPECT_NE(parent[1], child[1]);
  EXPECT_EQ("子进程已结束", lines[3]);
}

TEST_F(SeedExamples, TerminatePrintsTheChildsLinesTwiceThenEnds) {
  double t0 = mproc_test::Now();
  std::vector<std::string> lines = RunExample("seed_terminate");
  double took = mproc_test::Now() - t0;
  std::vector<std::string> want_tail = {
      "子进程运行中，name= test,age=18 ,pid=PID...", "{'m': 20}",
      "子进程运行中，name= test,age=18 ,pid=PID...", "{'m': 20}",
      "子进程已结束"};
  ASSERT_EQ(7u, lines.size());
  EXPECT_TRUE(std::regex_match(lines[0], std::regex("父进程 \\d+\\.")));
  EXPECT_EQ("子进程将要执行", lines[1]);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      lines[2], m,
      std::regex("子进程运行中，name= test,age=18 ,pid=(\\d+)\\.\\.\\.")));
  std::string pid = m[1];
  for (size_t i = 0; i < want_tail.size(); i++) {
    std::string want = std::regex_replace(want_tail[i], std::regex("PID"), pid);
    EXPECT_EQ(want, lines[2 + i]);
  }
  EXPECT_GE(took, 0.75);  // terminated after its 0.75 s, not at 5 s
  EXPECT_LT(took, 3.0);
}

TEST_F(SeedExamples, TwoWorkersReportTheirTimesNamesAndLiveness) {
  std::vector<std::string> lines = RunExample("seed_two_workers");
  std::string me = Find(lines, "进程ID：(\\d+)")[1];
  size_t alive2 = 0, alive1 = 0, done1 = 0, done2 = 0;
  Find(lines, "p2\\.is_alive=True", &alive2);
  EXPECT_EQ("Process-1", std::string(Find(lines, "p1\\.name=(.*)")[1]));
  EXPECT_EQ("dongGe", std::string(Find(lines, "p2\\.name=(.*)")[1]));
  std::string pid1 = Find(lines, "p1\\.pid=(\\d+)")[1];
  std::string pid2 = Find(lines, "p2\\.pid=(\\d+)")[1];
  EXPECT_EQ(me, std::string(Find(lines, "worker_1,父进程\\((\\d+)\\),当前进程\\(" +
                                            pid1 + "\\)")[1]));
  EXPECT_EQ(me, std::string(Find(lines, "worker_2,父进程\\((\\d+)\\),当前进程\\(" +
                                            pid2 + "\\)")[1]));
  // '%0.2f' of a 1 s and a 2 s sleep: 1.00 and 2.00 (a loaded machine may
  // oversleep by a few milliseconds more).
  std::string t2 = Find(lines, "worker_2,执行时间为'(\\d+\\.\\d\\d)'秒", &done2)[1];
  std::string t1 = Find(lines, "worker_1,执行时间为'(\\d+\\.\\d\\d)'秒", &done1)[1];
  EXPECT_NEAR(1.00, atof(t2.c_str()), 0.03);
  EXPECT_NEAR(2.00, atof(t1.c_str()), 0.03);
  Find(lines, "p1\\.is_alive=False", &alive1);
  EXPECT_LT(alive2, done2);
  EXPECT_LT(done2, done1);
  EXPECT_LT(done1, alive1);
  // Then each worker's timing, as collected by the parent.
  std::smatch t = Find(lines,
                       "Process-1: startup ([0-9.]+) ms, run ([0-9.]+) s, "
                       "wall ([0-9.]+) s, user [0-9.]+ s, sys [0-9.]+ s, "
                       "max RSS \\d+ KiB");
  EXPECT_NEAR(2.0, atof(std::string(t[2]).c_str()), 0.05);
  Find(lines, "dongGe: startup [0-9.]+ ms, run 1\\.0\\d\\d s, .*");
}

}  // namespace
