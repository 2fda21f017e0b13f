#include "tests/support/fork_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
// glibc 2.36 declares these without extern "C".
extern "C" {
#include <sys/pidfd.h>
}
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace mproc_test {

void Deadline::SetUp() {
  signal(SIGALRM, SIG_DFL);
  alarm(seconds_);
}

void Deadline::TearDown() { alarm(0); }

double Now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static std::vector<std::string> FdLinks() {
  std::vector<std::string> links;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return links;
  int self = dirfd(d);
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (atoi(e->d_name) == self) continue;
    char path[300], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) continue;
    target[n] = '\0';
    links.push_back(target);
  }
  closedir(d);
  return links;
}

int CountOpenFds() { return static_cast<int>(FdLinks().size()); }

int CountFdsLike(const std::vector<std::string>& prefixes) {
  int n = 0;
  for (const std::string& link : FdLinks())
    for (const std::string& p : prefixes)
      if (link.compare(0, p.size(), p) == 0) {
        n++;
        break;
      }
  return n;
}

int CountZombieChildren() {
  int n = 0;
  pid_t self = getpid();
  DIR* d = opendir("/proc");
  if (d == nullptr) return -1;
  while (struct dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    std::ifstream f(path);
    std::string line;
    if (!std::getline(f, line)) continue;
    // pid (comm) state ppid ...; comm may contain spaces: parse after ')'.
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2)
      continue;
    if (ppid == self && state == 'Z') n++;
  }
  closedir(d);
  return n;
}

std::vector<pid_t> ChildrenOfThread(pid_t tid) {
  std::vector<pid_t> pids;
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", getpid(), tid);
  std::ifstream f(path);
  pid_t pid;
  while (f >> pid) pids.push_back(pid);
  return pids;
}

int RunInChild(const std::function<int()>& fn, double timeout_s) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(0);
    int code = fn();
    fflush(nullptr);
    _exit(code);
  }
  EXPECT_GT(pid, 0);
  if (pid < 0) return -1;
  int pidfd = pidfd_open(pid, 0);
  if (pidfd >= 0) {
    struct pollfd pfd = {pidfd, POLLIN, 0};
    int r;
    do {
      r = poll(&pfd, 1, static_cast<int>(timeout_s * 1000));
    } while (r < 0 && errno == EINTR);
    close(pidfd);
    if (r == 0) {
      ADD_FAILURE() << "child did not finish within " << timeout_s << " s";
      kill(pid, SIGKILL);
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

bool Exists(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string Runfile(const std::string& path) {
  const char* dir = getenv("TEST_SRCDIR");
  const char* ws = getenv("TEST_WORKSPACE");
  std::string base = dir ? dir : ".";
  return base + "/" + (ws ? ws : "multiproc") + "/" + path;
}

std::string RunCapture(const std::vector<std::string>& argv, int* status,
                       bool merge_stderr) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return "";
  }
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    if (merge_stderr) dup2(fds[1], 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out = ReadAll(fds[0]);
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (status) *status = st;
  return out;
}

}  // namespace mproc_test
