// multiproc testing — type-checked values: pack and unpack from C++.
//
// Part of "multiproc/testing.h" (include that). mproc_pack and mproc_unpack
// take C varargs: a format letter that disagrees with its argument's type
// ("i" given a double, "s" given an int) is undefined behaviour that no
// compiler catches. Here the C++ types choose the conversions, so there is
// nothing to disagree with: a type with no multiproc counterpart is a
// compile error (a static_assert naming it), and a value of the wrong kind
// at run time is an error code with a message — never undefined behaviour.
//
//     using namespace mproc::testing;       // or qualify each name
//     ValuePtr args = Args("test", 18, std::vector<int>{1, 2});
//                                           // ('test', 18, [1, 2])
//     ValuePtr kw = Kwargs("m", 20, "tag", None{});  // {'m': 20, 'tag': None}
//
//     MPROC_TARGET(run_proc) {              // in a target
//       std::string name;
//       int age = 0;
//       std::vector<int> xs;
//       int rc = Unpack(call, Arg("name", &name), Arg("age", &age), &xs);
//       if (rc < 0) return rc;              // message recorded for the caller
//       return SetResult(call, std::make_tuple(name, age * 2));
//     }
//
//     std::tuple<std::string, int> r;       // a result
//     std::string why;
//     ASSERT_MPROC_OK(FromValue(result.get(), &r, &why)) << why;
//
// C++ types and the values they become (ToValue, Pack, Args, ...) and are
// read from (FromValue, Unpack):
//
//   C++                                   value      read from
//   bool                                  bool       bool
//   integers (not char) up to 64 bits     int        int or bool, range
//                                                    checked (MPROC_ERANGE);
//                                                    unsigned above INT64_MAX
//                                                    cannot be packed
//   float, double, long double            float      float or int (float:
//                                                    range checked)
//   const char*, char arrays,             str        str (string_view points
//     std::string, std::string_view                  into the value; const
//                                                    char* only in Unpack)
//   Bytes                                 bytes      bytes
//   None, std::nullptr_t, std::nullopt_t  None       None (None only)
//   std::optional<T>                      None or T  None or T
//   std::vector<T>, std::array<T, N>,     list       list or tuple (an array:
//     T[N]                                           exactly N items)
//   std::tuple<...>, std::pair<A, B>      tuple      tuple or list of exactly
//                                                    that many items
//   std::map<std::string, T>              dict       dict
//   const mproc_value_t*, ValuePtr        a copy     the value itself
//                                                    (borrowed) / a copy
//
// A null `const char*` packs as None, as mproc_pack's "s" does. Plain
// `char` (and wchar_t, char16_t, ...) is refused at compile time — a
// character or a small integer? — use int or std::string; `signed char`
// and `unsigned char` (int8_t, uint8_t) are integers.
//
// Errors (the int returned; `why`, when given, receives a message such as
// "[1]['k']: expected int, got str"): MPROC_ETYPE (wrong kind, wrong tuple
// length), MPROC_ERANGE (an integer that does not fit), MPROC_EUTF8 (a
// string that is not UTF-8), MPROC_EDEPTH (nested deeper than
// MPROC_MAX_DEPTH), MPROC_ENOMEM, MPROC_EINVAL (a null value to read).
#ifndef MPROC_TESTING_VALUES_H
#define MPROC_TESTING_VALUES_H

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "multiproc/call.h"
#include "multiproc/testing/handles.h"
#include "multiproc/value.h"

namespace mproc {
namespace testing {

// Python's None, for Pack and FromValue.
struct None {};
inline bool operator==(None, None) { return true; }
inline bool operator!=(None, None) { return false; }

// Python's bytes (any octets), as distinct from str.
struct Bytes {
  std::string data;
  Bytes() = default;
  explicit Bytes(std::string d) : data(std::move(d)) {}
  Bytes(const void* p, size_t n)
      : data(static_cast<const char*>(p), p == nullptr ? 0 : n) {}
};
inline bool operator==(const Bytes& a, const Bytes& b) {
  return a.data == b.data;
}
inline bool operator!=(const Bytes& a, const Bytes& b) { return !(a == b); }
// Prints Python's repr (b'\x00ab'), for gtest messages.
void PrintTo(const Bytes& b, std::ostream* os);

// Python's repr of v ("('test', 18)"), whole however long; "NULL" for a
// null pointer.
std::string Repr(const mproc_value_t* v);
// Prints Repr(v.get()) where gtest would print a pointer.
void PrintTo(const ValuePtr& v, std::ostream* os);

namespace internal {

template <typename T>
struct IsVector : std::false_type {};
template <typename T, typename A>
struct IsVector<std::vector<T, A>> : std::true_type {};

template <typename T>
struct IsStdArray : std::false_type {};
template <typename T, size_t N>
struct IsStdArray<std::array<T, N>> : std::true_type {};

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <typename T>
struct IsTupleLike : std::false_type {};
template <typename... T>
struct IsTupleLike<std::tuple<T...>> : std::true_type {};
template <typename A, typename B>
struct IsTupleLike<std::pair<A, B>> : std::true_type {};

template <typename T>
struct IsStringMap : std::false_type {};
template <typename V, typename C, typename A>
struct IsStringMap<std::map<std::string, V, C, A>> : std::true_type {};

template <typename T>
inline constexpr bool kIsCharType =
    std::is_same_v<T, char> || std::is_same_v<T, wchar_t> ||
    std::is_same_v<T, char16_t> || std::is_same_v<T, char32_t>
#if defined(__cpp_char8_t)
    || std::is_same_v<T, char8_t>
#endif
    ;

template <typename T>
inline constexpr bool kIsInteger = std::is_integral_v<T> &&
                                   !std::is_same_v<T, bool> &&
                                   !kIsCharType<T> && sizeof(T) <= 8;

template <typename T>
inline constexpr bool kIsNone = std::is_same_v<T, None> ||
                                std::is_same_v<T, std::nullptr_t> ||
                                std::is_same_v<T, std::nullopt_t>;

template <typename T>
inline constexpr bool kIsCString =
    std::is_same_v<T, const char*> || std::is_same_v<T, char*> ||
    (std::is_array_v<T> &&
     std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>);

template <typename T>
inline constexpr bool kIsRawValue = std::is_same_v<T, const mproc_value_t*> ||
                                    std::is_same_v<T, mproc_value_t*>;

template <typename T>
constexpr bool Packable();
template <typename Tuple, size_t... I>
constexpr bool AllPackable(std::index_sequence<I...>) {
  // Args and Pack hand over tuples of references (forward_as_tuple).
  return (true && ... &&
          Packable<std::remove_cv_t<
              std::remove_reference_t<std::tuple_element_t<I, Tuple>>>>());
}

// Whether T has a value kind to become (the table above).
template <typename T>
constexpr bool Packable() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, bool> || kIsInteger<U> ||
                std::is_floating_point_v<U> || kIsNone<U> || kIsCString<U> ||
                std::is_same_v<U, std::string> ||
                std::is_same_v<U, std::string_view> ||
                std::is_same_v<U, Bytes> || kIsRawValue<U> ||
                std::is_same_v<U, ValuePtr>) {
    return true;
  } else if constexpr (std::is_array_v<U>) {
    return Packable<std::remove_extent_t<U>>();
  } else if constexpr (IsStringMap<U>::value) {
    return Packable<typename U::mapped_type>();
  } else if constexpr (IsOptional<U>::value || IsVector<U>::value ||
                       IsStdArray<U>::value) {
    return Packable<typename U::value_type>();
  } else if constexpr (IsTupleLike<U>::value) {
    return AllPackable<U>(std::make_index_sequence<std::tuple_size_v<U>>());
  } else {
    return false;
  }
}

template <typename T>
constexpr bool Unpackable();
template <typename Tuple, size_t... I>
constexpr bool AllUnpackable(std::index_sequence<I...>) {
  return (true && ... &&
          Unpackable<std::remove_cv_t<std::tuple_element_t<I, Tuple>>>());
}

// Whether a value can be read into a T (the table above).
template <typename T>
constexpr bool Unpackable() {
  using U = T;
  if constexpr (std::is_const_v<U> || std::is_array_v<U>) {
    return false;
  } else if constexpr (std::is_same_v<U, bool> || kIsInteger<U> ||
                       std::is_floating_point_v<U> ||
                       std::is_same_v<U, None> ||
                       std::is_same_v<U, std::string> ||
                       std::is_same_v<U, std::string_view> ||
                       std::is_same_v<U, Bytes> ||
                       std::is_same_v<U, const mproc_value_t*> ||
                       std::is_same_v<U, ValuePtr>) {
    return true;
  } else if constexpr (IsOptional<U>::value || IsVector<U>::value ||
                       IsStdArray<U>::value) {
    return Unpackable<typename U::value_type>();
  } else if constexpr (IsStringMap<U>::value) {
    return Unpackable<typename U::mapped_type>();
  } else if constexpr (IsTupleLike<U>::value) {
    return AllUnpackable<U>(std::make_index_sequence<std::tuple_size_v<U>>());
  } else {
    return false;
  }
}

// Non-template pieces (values.cc).
int Fail(std::string* why, int rc, const std::string& text);
int WrongKind(std::string* why, const char* want, const mproc_value_t* v);
void PrefixPath(std::string* why, const std::string& step);
int NewStr(mproc_value_t** out, const char* s, size_t n, std::string* why);
int NewInt(mproc_value_t** out, int64_t i, std::string* why);
int NewUnsigned(mproc_value_t** out, uint64_t u, std::string* why);
int NewFloat(mproc_value_t** out, long double d, std::string* why);
int NewCopy(mproc_value_t** out, const mproc_value_t* v, std::string* why);
int Append(mproc_value_t* seq, mproc_value_t* item, size_t index,
           std::string* why);
int SetItem(mproc_value_t* dict, const std::string& key, mproc_value_t* item,
            std::string* why);
int ReadInt(const mproc_value_t* v, int64_t* out, std::string* why);
int ReadFloat(const mproc_value_t* v, double* out, std::string* why);
int ReadSeq(const mproc_value_t* v, size_t want, std::string* why);
int Item(const mproc_value_t* seq, size_t i, const mproc_value_t** out);

template <typename T>
int ToValueImpl(const T& x, mproc_value_t** out, std::string* why);

template <typename Seq>
int SeqToValue(const Seq& seq, bool tuple, mproc_value_t** out,
               std::string* why) {
  mproc_value_t* list = nullptr;
  int rc = tuple ? mproc_value_tuple(&list) : mproc_value_list(&list);
  if (rc < 0) return Fail(why, rc, "cannot make a container");
  size_t i = 0;
  for (const auto& item : seq) {
    mproc_value_t* v = nullptr;
    rc = ToValueImpl(item, &v, why);
    if (rc == 0) rc = Append(list, v, i, why);
    if (rc < 0) {
      PrefixPath(why, "[" + std::to_string(i) + "]");
      mproc_value_free(list);
      return rc;
    }
    i++;
  }
  *out = list;
  return 0;
}

template <typename Tuple, size_t... I>
int TupleToValue(const Tuple& t, bool as_tuple, mproc_value_t** out,
                 std::string* why, std::index_sequence<I...>) {
  mproc_value_t* tuple = nullptr;
  int rc = as_tuple ? mproc_value_tuple(&tuple) : mproc_value_list(&tuple);
  if (rc < 0) return Fail(why, rc, "cannot make a container");
  auto one = [&](const auto& item, size_t i) {
    if (rc < 0) return;
    mproc_value_t* v = nullptr;
    rc = ToValueImpl(item, &v, why);
    if (rc == 0) rc = Append(tuple, v, i, why);
    if (rc < 0) PrefixPath(why, "[" + std::to_string(i) + "]");
  };
  (void)one;  // an empty tuple uses none
  (one(std::get<I>(t), I), ...);
  if (rc < 0) {
    mproc_value_free(tuple);
    return rc;
  }
  *out = tuple;
  return 0;
}

template <typename T>
int ToValueImpl(const T& x, mproc_value_t** out, std::string* why) {
  using U = std::remove_cv_t<T>;
  static_assert(Packable<U>(),
                "mproc::testing: this C++ type has no multiproc value kind "
                "(see the table in multiproc/testing/values.h)");
  *out = nullptr;
  if constexpr (std::is_same_v<U, bool>) {
    int rc = mproc_value_bool(out, x);
    return rc < 0 ? Fail(why, rc, "cannot make a bool") : 0;
  } else if constexpr (kIsInteger<U> && std::is_signed_v<U>) {
    return NewInt(out, static_cast<int64_t>(x), why);
  } else if constexpr (kIsInteger<U>) {
    return NewUnsigned(out, static_cast<uint64_t>(x), why);
  } else if constexpr (std::is_floating_point_v<U>) {
    return NewFloat(out, static_cast<long double>(x), why);
  } else if constexpr (kIsNone<U>) {
    int rc = mproc_value_none(out);
    return rc < 0 ? Fail(why, rc, "cannot make None") : 0;
  } else if constexpr (std::is_array_v<U> &&
                       std::is_same_v<std::remove_cv_t<std::remove_extent_t<U>>,
                                      char>) {
    // A char array: up to its first NUL, never past its end.
    const void* nul = std::memchr(x, '\0', std::extent_v<U>);
    size_t n = nul ? static_cast<size_t>(static_cast<const char*>(nul) - x)
                   : std::extent_v<U>;
    return NewStr(out, x, n, why);
  } else if constexpr (kIsCString<U>) {
    if (x == nullptr) return ToValueImpl(None{}, out, why);
    return NewStr(out, x, std::strlen(x), why);
  } else if constexpr (std::is_same_v<U, std::string> ||
                       std::is_same_v<U, std::string_view>) {
    return NewStr(out, x.data(), x.size(), why);
  } else if constexpr (std::is_same_v<U, Bytes>) {
    int rc = mproc_value_bytes(out, x.data.data(), x.data.size());
    return rc < 0 ? Fail(why, rc, "cannot make bytes") : 0;
  } else if constexpr (kIsRawValue<U>) {
    return NewCopy(out, x, why);
  } else if constexpr (std::is_same_v<U, ValuePtr>) {
    return NewCopy(out, x.get(), why);
  } else if constexpr (IsOptional<U>::value) {
    if (!x.has_value()) return ToValueImpl(None{}, out, why);
    return ToValueImpl(*x, out, why);
  } else if constexpr (IsVector<U>::value || IsStdArray<U>::value ||
                       std::is_array_v<U>) {
    return SeqToValue(x, false, out, why);
  } else if constexpr (IsTupleLike<U>::value) {
    return TupleToValue(x, true, out, why,
                        std::make_index_sequence<std::tuple_size_v<U>>());
  } else if constexpr (IsStringMap<U>::value) {
    mproc_value_t* dict = nullptr;
    int rc = mproc_value_dict(&dict);
    if (rc < 0) return Fail(why, rc, "cannot make a dict");
    for (const auto& kv : x) {
      mproc_value_t* v = nullptr;
      rc = ToValueImpl(kv.second, &v, why);
      if (rc == 0) rc = SetItem(dict, kv.first, v, why);
      if (rc < 0) {
        PrefixPath(why, "['" + kv.first + "']");
        mproc_value_free(dict);
        return rc;
      }
    }
    *out = dict;
    return 0;
  }
}

template <typename T>
int FromValueImpl(const mproc_value_t* v, T* out, std::string* why);

template <typename Tuple, size_t... I>
int TupleFromValue(const mproc_value_t* v, Tuple* out, std::string* why,
                   std::index_sequence<I...>) {
  int rc = ReadSeq(v, sizeof...(I), why);
  if (rc < 0) return rc;
  Tuple tmp;
  auto one = [&](auto* slot, size_t i) {
    if (rc < 0) return;
    const mproc_value_t* item = nullptr;
    rc = Item(v, i, &item);
    if (rc == 0) rc = FromValueImpl(item, slot, why);
    if (rc < 0) PrefixPath(why, "[" + std::to_string(i) + "]");
  };
  (one(&std::get<I>(tmp), I), ...);
  if (rc < 0) return rc;
  *out = std::move(tmp);
  return 0;
}

template <typename T>
int FromValueImpl(const mproc_value_t* v, T* out, std::string* why) {
  static_assert(Unpackable<T>(),
                "mproc::testing: a multiproc value cannot be read into this "
                "C++ type (see the table in multiproc/testing/values.h)");
  if (v == nullptr) return Fail(why, MPROC_EINVAL, "no value (null pointer)");
  if constexpr (std::is_same_v<T, bool>) {
    if (mproc_value_kind(v) != MPROC_BOOL) return WrongKind(why, "bool", v);
    return mproc_value_get_bool(v, out);
  } else if constexpr (kIsInteger<T>) {
    int64_t i = 0;
    int rc = ReadInt(v, &i, why);
    if (rc < 0) return rc;
    bool fits;
    if constexpr (std::is_signed_v<T>) {
      fits = i >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
             i <= static_cast<int64_t>(std::numeric_limits<T>::max());
    } else {
      fits = i >= 0 && static_cast<uint64_t>(i) <=
                           static_cast<uint64_t>(std::numeric_limits<T>::max());
    }
    if (!fits)
      return Fail(why, MPROC_ERANGE,
                  std::to_string(i) + " does not fit in a " +
                      (std::is_signed_v<T> ? "signed " : "unsigned ") +
                      std::to_string(sizeof(T) * 8) + "-bit integer");
    *out = static_cast<T>(i);
    return 0;
  } else if constexpr (std::is_floating_point_v<T>) {
    double d = 0;
    int rc = ReadFloat(v, &d, why);
    if (rc < 0) return rc;
    if constexpr (sizeof(T) < sizeof(double)) {
      // Converting a finite double outside float's range is undefined.
      if (std::isfinite(d) &&
          std::fabs(d) > static_cast<double>(std::numeric_limits<T>::max()))
        return Fail(why, MPROC_ERANGE,
                    std::to_string(d) + " does not fit in a float");
    }
    *out = static_cast<T>(d);
    return 0;
  } else if constexpr (std::is_same_v<T, None>) {
    if (mproc_value_kind(v) != MPROC_NONE) return WrongKind(why, "None", v);
    return 0;
  } else if constexpr (std::is_same_v<T, std::string> ||
                       std::is_same_v<T, std::string_view>) {
    const char* s = nullptr;
    size_t n = 0;
    if (mproc_value_get_str(v, &s, &n) < 0) return WrongKind(why, "str", v);
    *out = T(s, n);
    return 0;
  } else if constexpr (std::is_same_v<T, Bytes>) {
    const void* p = nullptr;
    size_t n = 0;
    if (mproc_value_get_bytes(v, &p, &n) < 0)
      return WrongKind(why, "bytes", v);
    *out = Bytes(p, n);
    return 0;
  } else if constexpr (std::is_same_v<T, const mproc_value_t*>) {
    *out = v;
    return 0;
  } else if constexpr (std::is_same_v<T, ValuePtr>) {
    mproc_value_t* copy = nullptr;
    int rc = NewCopy(&copy, v, why);
    if (rc < 0) return rc;
    out->reset(copy);
    return 0;
  } else if constexpr (IsOptional<T>::value) {
    if (mproc_value_kind(v) == MPROC_NONE) {
      out->reset();
      return 0;
    }
    typename T::value_type tmp{};
    int rc = FromValueImpl(v, &tmp, why);
    if (rc < 0) return rc;
    *out = std::move(tmp);
    return 0;
  } else if constexpr (IsVector<T>::value || IsStdArray<T>::value) {
    size_t n = mproc_value_len(v);
    int rc;
    if constexpr (IsStdArray<T>::value)
      rc = ReadSeq(v, std::tuple_size_v<T>, why);
    else
      rc = ReadSeq(v, static_cast<size_t>(-1), why);
    if (rc < 0) return rc;
    T tmp{};
    if constexpr (IsVector<T>::value) tmp.resize(n);
    for (size_t i = 0; i < n; i++) {
      const mproc_value_t* item = nullptr;
      rc = Item(v, i, &item);
      typename T::value_type elem{};
      if (rc == 0) rc = FromValueImpl(item, &elem, why);
      if (rc < 0) {
        PrefixPath(why, "[" + std::to_string(i) + "]");
        return rc;
      }
      tmp[i] = std::move(elem);
    }
    *out = std::move(tmp);
    return 0;
  } else if constexpr (IsTupleLike<T>::value) {
    return TupleFromValue(v, out, why,
                          std::make_index_sequence<std::tuple_size_v<T>>());
  } else if constexpr (IsStringMap<T>::value) {
    if (mproc_value_kind(v) != MPROC_DICT) return WrongKind(why, "dict", v);
    T tmp;
    size_t n = mproc_value_len(v);
    for (size_t i = 0; i < n; i++) {
      const char* key = nullptr;
      const mproc_value_t* item = nullptr;
      int rc = mproc_dict_item(v, i, &key, &item);
      typename T::mapped_type elem{};
      if (rc == 0) rc = FromValueImpl(item, &elem, why);
      if (rc < 0) {
        PrefixPath(why, std::string("['") + (key ? key : "") + "']");
        return rc;
      }
      tmp.emplace(key, std::move(elem));
    }
    *out = std::move(tmp);
    return 0;
  }
}

}  // namespace internal

// Whether T converts to a value (Pack, ToValue) / a value converts to a T
// (FromValue, Unpack): compile-time constants, for static_assert.
template <typename T>
inline constexpr bool kPackable = internal::Packable<T>();
template <typename T>
inline constexpr bool kUnpackable = internal::Unpackable<T>();

// Converts x into a new value in *out (reset on failure). Returns 0 or an
// error (the list above); *why, when given, says what failed.
template <typename T>
int ToValue(const T& x, ValuePtr* out, std::string* why = nullptr) {
  mproc_value_t* v = nullptr;
  int rc = internal::ToValueImpl(x, &v, why);
  out->reset(v);
  return rc;
}

// Reads v into *out, checking kinds and ranges all the way down. *out is
// changed only on success. Returns 0 or an error (the list above); *why,
// when given, says where and what ("[2]: expected int, got str").
template <typename T>
int FromValue(const mproc_value_t* v, T* out, std::string* why = nullptr) {
  if (why) why->clear();
  return internal::FromValueImpl(v, out, why);
}

// mproc_pack's rule, from C++ types: one item gives that item's value,
// several (or none) give a tuple of them. Returns 0 or an error.
template <typename... T>
int TryPack(ValuePtr* out, std::string* why, const T&... items) {
  if constexpr (sizeof...(T) == 1) {
    return ToValue(items..., out, why);
  } else {
    return ToValue(std::forward_as_tuple(items...), out, why);
  }
}

namespace internal {
// Records a test failure for a Pack/Args/Kwargs/List that could not build
// its value (values.cc), and returns an empty ValuePtr.
ValuePtr PackFailed(const char* what, int rc, const std::string& why);

template <typename... KV, size_t... I>
int KwargsImpl(ValuePtr* out, std::string* why, const std::tuple<KV...>& kv,
               std::index_sequence<I...>) {
  mproc_value_t* dict = nullptr;
  int rc = mproc_value_dict(&dict);
  if (rc < 0) return Fail(why, rc, "cannot make a dict");
  auto one = [&](const auto& key, const auto& value) {
    if (rc < 0) return;
    using K = std::remove_cv_t<std::remove_reference_t<decltype(key)>>;
    static_assert(kIsCString<K> || std::is_same_v<K, std::string> ||
                      std::is_same_v<K, std::string_view>,
                  "mproc::testing::Kwargs: keys are strings: "
                  "Kwargs(\"m\", 20, \"name\", \"x\")");
    std::string k;
    if constexpr (std::is_array_v<K>) {
      const void* nul = std::memchr(key, '\0', std::extent_v<K>);
      k = std::string(key, nul ? static_cast<size_t>(
                                     static_cast<const char*>(nul) - key)
                               : std::extent_v<K>);
    }
    else if constexpr (kIsCString<K>)
      k = key ? key : "";
    else
      k = std::string(key);
    mproc_value_t* v = nullptr;
    rc = ToValueImpl(value, &v, why);
    if (rc == 0) rc = SetItem(dict, k, v, why);
    if (rc < 0) PrefixPath(why, "['" + k + "']");
  };
  (void)one;  // Kwargs() uses none
  (one(std::get<2 * I>(kv), std::get<2 * I + 1>(kv)), ...);
  if (rc < 0) {
    mproc_value_free(dict);
    return rc;
  }
  out->reset(dict);
  return 0;
}
}  // namespace internal

// Pack(x) is x's value; Pack(a, b, ...) the tuple (a, b, ...), as with
// mproc_pack. On failure (bad UTF-8, an unsigned above INT64_MAX, ...) the
// current test gets a failure naming the error and the result is empty.
template <typename... T>
ValuePtr Pack(const T&... items) {
  ValuePtr v;
  std::string why;
  int rc = TryPack(&v, &why, items...);
  return rc < 0 ? internal::PackFailed("Pack", rc, why) : std::move(v);
}

// The tuple (items...), always a tuple (what a call's args are): Args() is
// (), Args(x) is (x,).
template <typename... T>
ValuePtr Args(const T&... items) {
  ValuePtr v;
  std::string why;
  int rc = ToValue(std::forward_as_tuple(items...), &v, &why);
  return rc < 0 ? internal::PackFailed("Args", rc, why) : std::move(v);
}

// The list [items...].
template <typename... T>
ValuePtr List(const T&... items) {
  mproc_value_t* v = nullptr;
  std::string why;
  int rc = internal::TupleToValue(
      std::forward_as_tuple(items...), false, &v, &why,
      std::make_index_sequence<sizeof...(T)>());
  return rc < 0 ? internal::PackFailed("List", rc, why) : ValuePtr(v);
}

// A dict from alternating keys and values, in that order (a call's
// kwargs): Kwargs("m", 20, "name", "x") is {'m': 20, 'name': 'x'}; a key
// given twice keeps its first place and its last value, as in Python.
template <typename... KV>
ValuePtr Kwargs(const KV&... kv) {
  static_assert(sizeof...(KV) % 2 == 0,
                "mproc::testing::Kwargs takes keys and values in pairs");
  ValuePtr v;
  std::string why;
  int rc = internal::KwargsImpl(&v, &why, std::forward_as_tuple(kv...),
                                std::make_index_sequence<sizeof...(KV) / 2>());
  return rc < 0 ? internal::PackFailed("Kwargs", rc, why) : std::move(v);
}

// ---- Unpack: a call's args and kwargs into C++ variables.

// A parameter with a name: passed by position or by keyword, as a Python
// parameter (mproc_unpack's "name=").
template <typename T>
struct Named {
  const char* name;
  T* out;
};
template <typename T>
Named<T> Arg(const char* name, T* out) {
  return Named<T>{name, out};
}

// Markers, placed among the parameters as mproc_unpack's format has them:
// the parameters after kOptional may be missing (their variables keep
// their values); those after kKeywordOnly are passed by keyword only;
// kExtraArgs / kExtraKwargs, at the end, allow further positional /
// keyword arguments (left in the call).
struct OptionalMarker {};
struct KeywordOnlyMarker {};
struct ExtraArgsMarker {};
struct ExtraKwargsMarker {};
inline constexpr OptionalMarker kOptional{};
inline constexpr KeywordOnlyMarker kKeywordOnly{};
inline constexpr ExtraArgsMarker kExtraArgs{};
inline constexpr ExtraKwargsMarker kExtraKwargs{};

namespace internal {

// One parameter's storage of the exact C type its format letter writes
// through, so the varargs call cannot disagree with the format.
template <typename T, typename = void>
struct Slot {  // any readable type: "O", then FromValue
  static_assert(Unpackable<T>(),
                "mproc::testing::Unpack: a multiproc value cannot be read "
                "into this C++ type (see multiproc/testing/values.h)");
  static constexpr const char* kLetter = "O";
  T* out;
  const mproc_value_t* v = nullptr;
  auto Ptrs() { return std::make_tuple(&v); }
  int Finish(std::string* why) {
    return v == nullptr ? 0 : FromValue(v, out, why);
  }
};
// Types a letter writes itself (mproc_unpack's table: "i" stores an int
// through an int*, ...).
template <typename T, char L>
struct Direct {
  static constexpr char kLetterChars[2] = {L, '\0'};
  static constexpr const char* kLetter = kLetterChars;
  T* out;
  auto Ptrs() { return std::make_tuple(out); }
  int Finish(std::string*) { return 0; }
};
template <>
struct Slot<bool> : Direct<bool, 'b'> {};
template <>
struct Slot<int> : Direct<int, 'i'> {};
template <>
struct Slot<long> : Direct<long, 'l'> {};
template <>
struct Slot<double> : Direct<double, 'd'> {};
template <>
struct Slot<const char*> : Direct<const char*, 's'> {};
template <>
struct Slot<const mproc_value_t*> : Direct<const mproc_value_t*, 'O'> {};
template <typename T>
struct Slot<T, std::enable_if_t<std::is_same_v<T, std::string> ||
                                std::is_same_v<T, std::string_view>>> {
  static constexpr const char* kLetter = "s#";
  T* out;
  const char* s = nullptr;
  size_t n = 0;
  auto Ptrs() { return std::make_tuple(&s, &n); }
  int Finish(std::string*) {
    if (s != nullptr) *out = T(s, n);
    return 0;
  }
};

struct NoSlot {
  auto Ptrs() { return std::tuple<>(); }
  int Finish(std::string*) { return 0; }
};

// Each item of an Unpack: its format piece, its slot, its name for
// messages.
template <typename T>
inline constexpr bool kAlwaysFalse = false;
template <typename T>
struct ItemOf {
  static_assert(kAlwaysFalse<T>,
                "mproc::testing::Unpack takes pointers (&x), Arg(\"name\", "
                "&x) or markers (kOptional, ...)");
};
template <typename T>
struct ItemOf<T*> {
  static std::string Format(T*) { return Slot<T>::kLetter; }
  static Slot<T> MakeSlot(T* out) { return Slot<T>{out}; }
  static const char* Name(T*) { return nullptr; }
  static constexpr bool kParam = true;
};
template <typename T>
struct ItemOf<Named<T>> {
  static std::string Format(const Named<T>& n) {
    return std::string(n.name ? n.name : "") + "=" + Slot<T>::kLetter;
  }
  static Slot<T> MakeSlot(const Named<T>& n) { return Slot<T>{n.out}; }
  static const char* Name(const Named<T>& n) { return n.name; }
  static constexpr bool kParam = true;
};
template <typename M, char C1, char C2 = '\0'>
struct MarkerOf {
  static std::string Format(const M&) {
    return C2 ? std::string{C1, C2} : std::string{C1};
  }
  static NoSlot MakeSlot(const M&) { return NoSlot{}; }
  static const char* Name(const M&) { return nullptr; }
  static constexpr bool kParam = false;
};
template <>
struct ItemOf<OptionalMarker> : MarkerOf<OptionalMarker, '|'> {};
template <>
struct ItemOf<KeywordOnlyMarker> : MarkerOf<KeywordOnlyMarker, '$'> {};
template <>
struct ItemOf<ExtraArgsMarker> : MarkerOf<ExtraArgsMarker, '*'> {};
template <>
struct ItemOf<ExtraKwargsMarker> : MarkerOf<ExtraKwargsMarker, '*', '*'> {};

// Parameter names must be identifiers (the format is built from them).
bool ValidName(const char* name);

template <typename... Items>
struct UnpackPlan {
  std::string format;
  std::tuple<decltype(ItemOf<Items>::MakeSlot(std::declval<Items>()))...>
      slots;
  std::vector<std::string> labels;  // per item: "argument 'age'", ...
  bool names_ok = true;

  explicit UnpackPlan(const Items&... items)
      : slots(ItemOf<Items>::MakeSlot(items)...) {
    size_t pos = 0;
    auto add = [&](const auto& item) {
      using I = std::remove_cv_t<std::remove_reference_t<decltype(item)>>;
      if (!format.empty()) format += ' ';
      format += ItemOf<I>::Format(item);
      const char* name = ItemOf<I>::Name(item);
      if constexpr (ItemOf<I>::kParam) {
        pos++;
        if (name != nullptr && !ValidName(name)) names_ok = false;
        labels.push_back(name ? std::string("argument '") + name + "'"
                              : "argument " + std::to_string(pos));
      } else {
        labels.push_back("");
      }
    };
    (void)add;  // Unpack(call) uses none
    (add(items), ...);
  }

  // Calls unpack(format, pointers...) with each slot's exact pointers.
  template <typename F>
  int Run(F&& unpack) {
    auto ptrs = std::apply(
        [](auto&... s) { return std::tuple_cat(s.Ptrs()...); }, slots);
    return std::apply(
        [&](auto... p) { return unpack(format.c_str(), p...); }, ptrs);
  }

  // Converts what needs converting; on failure *why says which argument.
  int Finish(std::string* why) {
    int rc = 0;
    size_t i = 0;
    std::apply(
        [&](auto&... s) {
          auto one = [&](auto& slot) {
            if (rc == 0) {
              std::string w;
              rc = slot.Finish(&w);
              if (rc < 0 && why) *why = labels[i] + ": " + w;
            }
            i++;
          };
          (void)one;
          (one(s), ...);
        },
        slots);
    return rc;
  }
};

}  // namespace internal

// Unpacks a target's call into C++ variables, as mproc_unpack does, with
// the format made from the variables' types. Each item is a pointer `&x`
// (a positional parameter), Arg("name", &x) (by position or keyword), or a
// marker (kOptional, kKeywordOnly, kExtraArgs, kExtraKwargs). On failure,
// returns the error and records the Python-style message on the call
// (mproc_call_fail: the caller sees "run_proc() missing required argument
// 'age' (pos 2)" or "argument 'xs': [1]: expected int, got str"), so a
// target can `return rc`. Variables are written only on success, except
// that a failure in a later argument may leave earlier ones written.
// Errors: MPROC_EARITY, MPROC_EKEY, MPROC_ETYPE, MPROC_ERANGE,
// MPROC_EFORMAT (a parameter name that is not an identifier), MPROC_EINVAL.
template <typename... Items>
int Unpack(mproc_call_t* call, const Items&... items) {
  internal::UnpackPlan<Items...> plan(items...);
  if (!plan.names_ok) {
    (void)mproc_call_fail(call,
                          "Unpack: a parameter name is not an identifier "
                          "(format \"%s\")",
                          plan.format.c_str());
    return MPROC_EFORMAT;
  }
  int rc = plan.Run([call](const char* fmt, auto... p) {
    return mproc_unpack(call, fmt, p...);
  });
  if (rc < 0) return rc;
  std::string why;
  rc = plan.Finish(&why);
  if (rc < 0) {
    const char* target = mproc_call_target(call);
    (void)mproc_call_fail(call, "%s() %s", target ? target : "",
                          why.c_str());
  }
  return rc;
}

// As Unpack, on an args tuple (or list; NULL for none) and a kwargs dict
// (NULL for none): for results and values built in the test. *why, when
// given, receives the message.
template <typename... Items>
int UnpackValues(const mproc_value_t* args, const mproc_value_t* kwargs,
                 std::string* why, const Items&... items) {
  internal::UnpackPlan<Items...> plan(items...);
  if (why) why->clear();
  if (!plan.names_ok)
    return internal::Fail(why, MPROC_EFORMAT,
                          "a parameter name is not an identifier (format \"" +
                              plan.format + "\")");
  char err[MPROC_CALL_MESSAGE_MAX];
  int rc = plan.Run([&](const char* fmt, auto... p) {
    return mproc_unpack_values(args, kwargs, err, sizeof err, fmt, p...);
  });
  if (rc < 0) return internal::Fail(why, rc, err);
  return plan.Finish(why);
}

// Sets a target's result from a C++ value (mproc_call_set_result). On a
// conversion failure, records it on the call (mproc_call_fail) and returns
// the error, so a target can `return SetResult(call, x)`.
template <typename T>
int SetResult(mproc_call_t* call, const T& x) {
  ValuePtr v;
  std::string why;
  int rc = ToValue(x, &v, &why);
  if (rc < 0) {
    (void)mproc_call_fail(call, "SetResult: %s", why.c_str());
    return rc;
  }
  return mproc_call_set_result(call, v.release());
}

}  // namespace testing
}  // namespace mproc

#endif  // MPROC_TESTING_VALUES_H
