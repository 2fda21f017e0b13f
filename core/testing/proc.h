// multiproc testing, internal — what /proc says about this process: its
// descriptors and its children.
#ifndef MPROC_CORE_TESTING_PROC_H
#define MPROC_CORE_TESTING_PROC_H

#include <sys/types.h>

#include <map>
#include <string>

namespace mproc {
namespace testing {

// Open descriptors and their /proc/self/fd link targets ("pipe:[1234]",
// "/dev/null", "anon_inode:[pidfd]"); the descriptor used to list them is
// left out.
std::map<int, std::string> OpenFds();

struct ChildProc {
  std::string comm;  // /proc/<pid>/comm
  char state = '?';  // /proc/<pid>/stat's state: R, S, D, Z, ...
};

// This process's children, from every thread's
// /proc/self/task/<tid>/children (a child belongs to the thread that
// forked it).
std::map<pid_t, ChildProc> Children();

// "4242 (sleep) 4243 (seed_basic, zombie)", or "none".
std::string DescribeChildren(const std::map<pid_t, ChildProc>& children);

}  // namespace testing
}  // namespace mproc

#endif  // MPROC_CORE_TESTING_PROC_H
