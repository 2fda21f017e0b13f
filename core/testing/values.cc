// The non-template half of multiproc/testing/values.h: value construction
// with messages, reads with kind checks, repr.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "multiproc/testing/values.h"

namespace mproc {
namespace testing {

std::string Repr(const mproc_value_t* v) {
  if (v == nullptr) return "NULL";
  char small[256];
  int n = mproc_repr(v, small, sizeof small);
  if (n < 0) return std::string("<repr failed: ") + mproc_err_name(n) + ">";
  if (static_cast<size_t>(n) < sizeof small) return std::string(small, n);
  std::vector<char> big(static_cast<size_t>(n) + 1);
  n = mproc_repr(v, big.data(), big.size());
  if (n < 0) return std::string("<repr failed: ") + mproc_err_name(n) + ">";
  return std::string(big.data(), static_cast<size_t>(n));
}

void PrintTo(const ValuePtr& v, std::ostream* os) { *os << Repr(v.get()); }

void PrintTo(const Bytes& b, std::ostream* os) {
  mproc_value_t* v = nullptr;
  if (mproc_value_bytes(&v, b.data.data(), b.data.size()) < 0) {
    *os << "<bytes of " << b.data.size() << ">";
    return;
  }
  *os << Repr(v);
  mproc_value_free(v);
}

namespace internal {

int Fail(std::string* why, int rc, const std::string& text) {
  if (why != nullptr) *why = text;
  return rc;
}

int WrongKind(std::string* why, const char* want, const mproc_value_t* v) {
  return Fail(why, MPROC_ETYPE,
              std::string("expected ") + want + ", got " +
                  mproc_kind_name(mproc_value_kind(v)));
}

void PrefixPath(std::string* why, const std::string& step) {
  if (why == nullptr) return;
  if (!why->empty() && (*why)[0] == '[')
    *why = step + *why;
  else
    *why = step + ": " + *why;
}

static int Made(int rc, std::string* why, const char* what) {
  if (rc == 0) return 0;
  return Fail(why, rc,
              std::string("cannot make ") + what + ": " + mproc_err_name(rc) +
                  " (" + mproc_strerror(rc) + ")");
}

int NewStr(mproc_value_t** out, const char* s, size_t n, std::string* why) {
  int rc = mproc_value_strn(out, s, n);
  if (rc == MPROC_EUTF8) return Fail(why, rc, "string is not valid UTF-8");
  return Made(rc, why, "a str");
}

int NewInt(mproc_value_t** out, int64_t i, std::string* why) {
  return Made(mproc_value_int(out, i), why, "an int");
}

int NewUnsigned(mproc_value_t** out, uint64_t u, std::string* why) {
  if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return Fail(why, MPROC_ERANGE,
                std::to_string(u) + " is above the int range (int64)");
  return NewInt(out, static_cast<int64_t>(u), why);
}

int NewFloat(mproc_value_t** out, long double d, std::string* why) {
  // Converting a finite long double outside double's range is undefined.
  if (std::isfinite(d) &&
      std::fabs(d) >
          static_cast<long double>(std::numeric_limits<double>::max()))
    return Fail(why, MPROC_ERANGE, "long double does not fit in a float");
  return Made(mproc_value_float(out, static_cast<double>(d)), why, "a float");
}

int NewCopy(mproc_value_t** out, const mproc_value_t* v, std::string* why) {
  if (v == nullptr) return Made(mproc_value_none(out), why, "None");
  return Made(mproc_value_copy(out, v), why, "a copy");
}

int Append(mproc_value_t* seq, mproc_value_t* item, size_t index,
           std::string* why) {
  int rc = mproc_list_append(seq, item);  // takes item, even on failure
  if (rc == MPROC_EDEPTH)
    return Fail(why, rc,
                "item " + std::to_string(index) +
                    " nests deeper than MPROC_MAX_DEPTH");
  return Made(rc, why, "a container");
}

int SetItem(mproc_value_t* dict, const std::string& key, mproc_value_t* item,
            std::string* why) {
  if (key.find('\0') != std::string::npos) {
    mproc_value_free(item);
    return Fail(why, MPROC_EINVAL, "a dict key contains a NUL character");
  }
  int rc = mproc_dict_set(dict, key.c_str(), item);  // takes item
  if (rc == MPROC_EUTF8) return Fail(why, rc, "key is not valid UTF-8");
  if (rc == MPROC_EDEPTH)
    return Fail(why, rc, "value nests deeper than MPROC_MAX_DEPTH");
  return Made(rc, why, "a dict");
}

int ReadInt(const mproc_value_t* v, int64_t* out, std::string* why) {
  mproc_kind_t k = mproc_value_kind(v);
  if (k == MPROC_BOOL) {  // Python: True is 1
    bool b = false;
    (void)mproc_value_get_bool(v, &b);
    *out = b ? 1 : 0;
    return 0;
  }
  if (k != MPROC_INT) return WrongKind(why, "int", v);
  return mproc_value_get_int(v, out);
}

int ReadFloat(const mproc_value_t* v, double* out, std::string* why) {
  mproc_kind_t k = mproc_value_kind(v);
  if (k == MPROC_BOOL || k == MPROC_INT) {
    int64_t i = 0;
    int rc = ReadInt(v, &i, why);
    *out = static_cast<double>(i);
    return rc;
  }
  if (k != MPROC_FLOAT) return WrongKind(why, "float", v);
  return mproc_value_get_float(v, out);
}

int ReadSeq(const mproc_value_t* v, size_t want, std::string* why) {
  mproc_kind_t k = mproc_value_kind(v);
  if (k != MPROC_LIST && k != MPROC_TUPLE)
    return WrongKind(why, "a list or tuple", v);
  size_t n = mproc_value_len(v);
  if (want != static_cast<size_t>(-1) && n != want)
    return Fail(why, MPROC_ETYPE,
                "expected " + std::to_string(want) + " items, got " +
                    std::to_string(n));
  return 0;
}

int Item(const mproc_value_t* seq, size_t i, const mproc_value_t** out) {
  return mproc_list_get(seq, i, out);
}

bool ValidName(const char* name) {
  if (name == nullptr || name[0] == '\0') return false;
  for (const char* p = name; *p; p++) {
    unsigned char c = static_cast<unsigned char>(*p);
    bool ok = c == '_' || std::isalpha(c) || (p != name && std::isdigit(c));
    if (!ok) return false;
  }
  return true;
}

ValuePtr PackFailed(const char* what, int rc, const std::string& why) {
  ADD_FAILURE() << "mproc::testing::" << what << " failed: "
                << mproc_err_name(rc) << " (" << mproc_strerror(rc) << "): "
                << why;
  return ValuePtr();
}

}  // namespace internal
}  // namespace testing
}  // namespace mproc
