// multiproc testing, internal — a child's gtest results on their way to the
// parent: one frame (multiproc/frame.h) per result, whose payload is an
// encoded value, the tuple (type, file, line, message) with file and
// message as bytes (gtest messages need not be UTF-8).
#ifndef MPROC_CORE_TESTING_FAILURE_WIRE_H
#define MPROC_CORE_TESTING_FAILURE_WIRE_H

#include <string>
#include <vector>

namespace mproc {
namespace testing {

struct WireFailure {
  int type = 0;  // ::testing::TestPartResult::Type
  std::string file;
  int line = -1;
  std::string message;
};

// Writes one result as one frame. Returns 0 or a negative code.
int WriteFailure(int fd, const WireFailure& f);

// The results in what a pipe delivered, in order. A tail that is not a
// whole valid frame (the child died while writing) is left out and
// described in *bad; *bad stays empty when everything was read.
std::vector<WireFailure> ReadFailures(const std::string& bytes,
                                      std::string* bad);

}  // namespace testing
}  // namespace mproc

#endif  // MPROC_CORE_TESTING_FAILURE_WIRE_H
