// Reading /proc for the leak check and the deadline's last words.
#include "core/testing/proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace mproc {
namespace testing {

std::map<int, std::string> OpenFds() {
  std::map<int, std::string> fds;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return fds;
  int self = dirfd(d);
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    if (fd == self) continue;
    char path[64];
    char target[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) continue;  // closed meanwhile (another thread)
    target[n] = '\0';
    fds[fd] = target;
  }
  closedir(d);
  return fds;
}

static ChildProc Describe(pid_t pid) {
  ChildProc c;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/comm", static_cast<int>(pid));
  std::ifstream comm(path);
  std::getline(comm, c.comm);
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::ifstream stat(path);
  std::string line;
  if (std::getline(stat, line)) {
    // pid (comm) state ...: comm may hold spaces and parentheses.
    size_t close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size())
      c.state = line[close + 2];
  }
  return c;
}

std::map<pid_t, ChildProc> Children() {
  std::map<pid_t, ChildProc> out;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string path = std::string("/proc/self/task/") + e->d_name + "/children";
    std::ifstream f(path);
    long pid;
    while (f >> pid) out[static_cast<pid_t>(pid)] = ChildProc();
  }
  closedir(d);
  for (auto& kv : out) kv.second = Describe(kv.first);
  return out;
}

std::string DescribeChildren(const std::map<pid_t, ChildProc>& children) {
  if (children.empty()) return "none";
  std::ostringstream o;
  bool first = true;
  for (const auto& kv : children) {
    if (!first) o << ' ';
    first = false;
    o << kv.first << " (" << (kv.second.comm.empty() ? "?" : kv.second.comm);
    if (kv.second.state == 'Z') o << ", zombie";
    o << ')';
  }
  return o.str();
}

}  // namespace testing
}  // namespace mproc
