// Helpers for the chaos tests: what /proc says about processes (state,
// parent, start time, children), found without the library's internals.
// Header-only, like pool_util.h.
#ifndef MPROC_TESTS_WORKERS_CHAOS_UTIL_H
#define MPROC_TESTS_WORKERS_CHAOS_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace chaos {

// The fields of /proc/<pid>/stat a test needs.
struct ProcStat {
  char state = 0;              // 0: no such process
  pid_t ppid = 0;
  unsigned long long start = 0;  // clock ticks after boot: with the pid,
                                 // names one process even if pids wrap
};

// Reads a small file into buf with plain syscalls (no iostreams: the
// killer thread calls this thousands of times, and under a lowered
// RLIMIT_NOFILE it must fail cleanly). Returns the length, or -1.
inline ssize_t ReadSmall(const char* path, char* buf, size_t size) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  ssize_t n;
  do {
    n = read(fd, buf, size - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return n;
}

inline ProcStat StatOf(pid_t pid) {
  ProcStat st;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (ReadSmall(path, buf, sizeof buf) <= 0) return st;
  // pid (comm) state ppid ...: comm may hold anything, parse after ')'.
  const char* close = strrchr(buf, ')');
  if (close == nullptr) return st;
  char state = 0;
  int ppid = 0;
  unsigned long long start = 0;
  if (sscanf(close + 1,
             " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
             "%*d %*d %*d %llu",
             &state, &ppid, &start) != 3)
    return st;
  st.state = state;
  st.ppid = ppid;
  st.start = start;
  return st;
}

// Dead: gone, a zombie (waiting for whoever its parent now is), or the pid
// now names another process (start != 0 and differs).
inline bool DeadProc(pid_t pid, unsigned long long start) {
  ProcStat st = StatOf(pid);
  if (st.state == 0 || st.state == 'Z' || st.state == 'X') return true;
  return start != 0 && st.start != start;
}

// Parses a children file ("12 34 56 ").
inline std::vector<pid_t> ParsePids(const char* s) {
  std::vector<pid_t> pids;
  while (*s) {
    char* end;
    long v = strtol(s, &end, 10);
    if (end == s) break;
    if (v > 0) pids.push_back(static_cast<pid_t>(v));
    s = end;
  }
  return pids;
}

// Children of process pid, over all of its threads (from
// /proc/<pid>/task/<tid>/children), leaving out the children of the
// threads in skip_tids.
inline std::vector<pid_t> ChildrenOf(pid_t pid,
                                     const std::set<pid_t>& skip_tids = {}) {
  std::vector<pid_t> out;
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR* d = opendir(path);
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    pid_t tid = atoi(e->d_name);
    if (tid <= 0 || skip_tids.count(tid)) continue;
    char cpath[128], buf[8192];
    snprintf(cpath, sizeof cpath, "/proc/%d/task/%d/children", (int)pid,
             (int)tid);
    if (ReadSmall(cpath, buf, sizeof buf) < 0) continue;
    for (pid_t c : ParsePids(buf)) out.push_back(c);
  }
  closedir(d);
  return out;
}

// Open descriptors of process pid and the highest one (-1 if none could be
// read).
inline int HighestFdOf(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR* d = opendir(path);
  if (d == nullptr) return -1;
  int self = dirfd(d), high = -1;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (pid == getpid() && fd == self) continue;
    if (fd > high) high = fd;
  }
  closedir(d);
  return high;
}

// This process's descriptors: number -> what /proc/self/fd says it is.
inline std::map<int, std::string> FdTable() {
  std::map<int, std::string> t;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return t;
  int self = dirfd(d);
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd == self) continue;
    char path[64], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) continue;
    target[n] = '\0';
    t[fd] = target;
  }
  closedir(d);
  return t;
}

// What changed from `before` to `after`: "new 7 -> pipe:[123]",
// "gone 5 -> socket:[77]".
inline std::string FdDiff(const std::map<int, std::string>& before,
                          const std::map<int, std::string>& after) {
  std::string out;
  for (const auto& e : after) {
    auto it = before.find(e.first);
    if (it != before.end() && it->second == e.second) continue;
    out += (out.empty() ? "new " : ", new ") + std::to_string(e.first) +
           " -> " + e.second;
  }
  for (const auto& e : before) {
    auto it = after.find(e.first);
    if (it != after.end() && it->second == e.second) continue;
    out += (out.empty() ? "gone " : ", gone ") + std::to_string(e.first) +
           " -> " + e.second;
  }
  return out.empty() ? "(the same)" : out;
}

// The lowest descriptor number pid does not use (-1 if unreadable).
inline int LowestFreeFdOf(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR* d = opendir(path);
  if (d == nullptr) return -1;
  std::set<int> used;
  int self = dirfd(d);
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (pid == getpid() && fd == self) continue;
    used.insert(fd);
  }
  closedir(d);
  int n = 0;
  while (used.count(n)) n++;
  return n;
}

// Private memory of pid (Private_Clean + Private_Dirty from smaps_rollup),
// in KiB; -1 if unreadable.
inline long PrivateKb(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
  if (ReadSmall(path, buf, sizeof buf) <= 0) return -1;
  long total = 0;
  bool found = false;
  for (const char* key : {"Private_Clean:", "Private_Dirty:"}) {
    const char* p = strstr(buf, key);
    if (p == nullptr) continue;
    total += strtol(p + strlen(key), nullptr, 10);
    found = true;
  }
  return found ? total : -1;
}

// A field of /proc/<pid>/smaps_rollup or /proc/<pid>/status in KiB
// ("Rss:", "VmRSS:"); -1 if missing.
inline long ProcKb(const char* file, pid_t pid, const char* key) {
  char path[64], buf[8192];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  if (ReadSmall(path, buf, sizeof buf) <= 0) return -1;
  const char* p = strstr(buf, key);
  if (p == nullptr) return -1;
  return strtol(p + strlen(key), nullptr, 10);
}

}  // namespace chaos

#endif  // MPROC_TESTS_WORKERS_CHAOS_UTIL_H
