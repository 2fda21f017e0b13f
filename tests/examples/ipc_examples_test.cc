// The IPC examples print what their Python originals print (each quoted at
// the top of its source in examples/).
#include <stdlib.h>
#include <sys/wait.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/fork_support.h"

namespace {

std::vector<std::string> RunExample(const char* example) {
  int status = -1;
  std::string out = mproc_test::RunCapture(
      {mproc_test::Runfile(std::string("examples/") + example)}, &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << example << " status " << status;
  std::vector<std::string> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

class IpcExamples : public mproc_test::Deadline {};

TEST_F(IpcExamples, QueueWriterThenReader) {
  std::vector<std::string> want = {
      "Put A to queue...", "Put B to queue...", "Put C to queue...",
      "Get A from queue.", "Get B from queue.", "Get C from queue.",
      "",                  "所有数据都写入并且读完"};
  EXPECT_EQ(want, RunExample("ipc_queue"));
}

TEST_F(IpcExamples, QueueOfThreeFillsUp) {
  double t0 = mproc_test::Now();
  std::vector<std::string> want = {"False",
                                   "True",
                                   "消息列队已满，现有消息数量:3",
                                   "消息列队已满，现有消息数量:3",
                                   "消息1",
                                   "消息2",
                                   "消息3"};
  EXPECT_EQ(want, RunExample("ipc_queue_full"));
  EXPECT_GE(mproc_test::Now() - t0, 2.0);  // put(True, 2) waited its 2 s
}

TEST_F(IpcExamples, PipeCarriesAListFromTheChild) {
  std::vector<std::string> want = {"[42, None, 'hello']"};
  EXPECT_EQ(want, RunExample("ipc_pipe"));
}

TEST_F(IpcExamples, CounterIsExactOnlyUnderTheLock) {
  std::vector<std::string> lines = RunExample("ipc_counter");
  ASSERT_EQ(2u, lines.size());
  EXPECT_EQ("with the lock: 40000", lines[0]);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[1], m,
                               std::regex("without the lock: (\\d+)")))
      << lines[1];
  long unlocked = atol(m[1].str().c_str());
  EXPECT_GT(unlocked, 0);
  EXPECT_LE(unlocked, 40000);  // updates can only be lost
}

}  // namespace
