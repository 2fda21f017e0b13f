// A child's gtest results as frames of encoded values.
#include "core/testing/failure_wire.h"

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "multiproc/frame.h"
#include "multiproc/testing/values.h"

namespace mproc {
namespace testing {

using Record = std::tuple<int, Bytes, int, Bytes>;

int WriteFailure(int fd, const WireFailure& f) {
  ValuePtr v;
  int rc = ToValue(Record(f.type, Bytes(f.file), f.line, Bytes(f.message)),
                   &v);
  if (rc < 0) return rc;
  std::string buf(mproc_value_encoded_size(v.get()), '\0');
  rc = mproc_value_encode(v.get(), &buf[0], buf.size());
  if (rc < 0) return rc;
  return mproc_frame_write(fd, buf.data(), buf.size());
}

std::vector<WireFailure> ReadFailures(const std::string& bytes,
                                      std::string* bad) {
  std::vector<WireFailure> out;
  bad->clear();
  size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < MPROC_FRAME_HEADER) {
      *bad = "a truncated frame header";
      break;
    }
    const unsigned char* h =
        reinterpret_cast<const unsigned char*>(bytes.data() + at);
    size_t len = static_cast<size_t>(h[0]) | static_cast<size_t>(h[1]) << 8 |
                 static_cast<size_t>(h[2]) << 16 |
                 static_cast<size_t>(h[3]) << 24;
    if (len > bytes.size() - at - MPROC_FRAME_HEADER) {
      *bad = "a truncated frame";
      break;
    }
    mproc_value_t* raw = nullptr;
    int rc = mproc_value_decode(&raw, bytes.data() + at + MPROC_FRAME_HEADER,
                                len);
    ValuePtr v(raw);
    Record rec;
    std::string why;
    if (rc == 0) rc = FromValue(v.get(), &rec, &why);
    if (rc < 0) {
      *bad = "a malformed report: " + std::string(mproc_err_name(rc)) +
             (why.empty() ? "" : " " + why);
      break;
    }
    WireFailure f;
    f.type = std::get<0>(rec);
    f.file = std::move(std::get<1>(rec).data);
    f.line = std::get<2>(rec);
    f.message = std::move(std::get<3>(rec).data);
    out.push_back(std::move(f));
    at += MPROC_FRAME_HEADER + len;
  }
  return out;
}

}  // namespace testing
}  // namespace mproc
