// mproc_pack (Py_BuildValue) and mproc_unpack_values
// (PyArg_ParseTupleAndKeywords).
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "multiproc/value.h"
#include "tests/serialization/test_util.h"

using mproc_test::Repr;
using mproc_test::ValuePtr;

// ---- mproc_pack: every letter.

TEST(Pack, NoneLetterN) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "n"));
  EXPECT_EQ(MPROC_NONE, mproc_value_kind(v));
  ASSERT_NE(nullptr, v.get());
}

TEST(Pack, BoolLetterBTakesAnyInt) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "(bbb)", 0, 1, 2));
  EXPECT_EQ("(False, True, True)", Repr(v));
  const mproc_value_t *item;
  ASSERT_EQ(0, mproc_list_get(v, 2, &item));
  EXPECT_EQ(MPROC_BOOL, mproc_value_kind(item));
}

TEST(Pack, IntLettersIlLz) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "(i i l L L z z)", INT_MIN, INT_MAX,
                          LONG_MIN, INT64_MIN, INT64_MAX, (size_t)0,
                          (size_t)INT64_MAX));
  EXPECT_EQ(
      "(-2147483648, 2147483647, -9223372036854775808, -9223372036854775808, "
      "9223372036854775807, 0, 9223372036854775807)",
      Repr(v));
  for (size_t i = 0; i < mproc_value_len(v); i++) {
    const mproc_value_t *item;
    ASSERT_EQ(0, mproc_list_get(v, i, &item));
    EXPECT_EQ(MPROC_INT, mproc_value_kind(item)) << i;
  }
}

TEST(Pack, SizeTAboveInt64MaxIsErange) {
  ValuePtr v;
  EXPECT_EQ(MPROC_ERANGE, mproc_pack(v.out(), "z", (size_t)INT64_MAX + 1));
  EXPECT_EQ(nullptr, v.get());
  EXPECT_EQ(MPROC_ERANGE, mproc_pack(v.out(), "(iz)", 1, SIZE_MAX));
  EXPECT_EQ(nullptr, v.get());
}

TEST(Pack, FloatLetterD) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "[d d d]", 0.1, -0.0, INFINITY));
  EXPECT_EQ("[0.1, -0.0, inf]", Repr(v));
  const mproc_value_t *item;
  ASSERT_EQ(0, mproc_list_get(v, 1, &item));
  double d;
  ASSERT_EQ(0, mproc_value_get_float(item, &d));
  EXPECT_TRUE(std::signbit(d));
}

TEST(Pack, StrLetterSAndNullGivesNone) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "(s s)", "héllo", (const char *)nullptr));
  EXPECT_EQ("('héllo', None)", Repr(v));
}

TEST(Pack, CountedStrLetterSHashKeepsNul) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "s#", "a\0bXYZ", (size_t)3));
  const char *s;
  size_t n;
  ASSERT_EQ(0, mproc_value_get_str(v, &s, &n));
  ASSERT_EQ(3u, n);
  EXPECT_EQ(0, memcmp(s, "a\0b", 3));
  ASSERT_EQ(0, mproc_pack(v.out(), "s#", (const char *)nullptr, (size_t)0));
  EXPECT_EQ("''", Repr(v));
}

TEST(Pack, BytesLetterYHash) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "y#", "\xff\x00\x80", (size_t)3));
  EXPECT_EQ(MPROC_BYTES, mproc_value_kind(v));
  EXPECT_EQ("b'\\xff\\x00\\x80'", Repr(v));
  ASSERT_EQ(0, mproc_pack(v.out(), "y#", (const void *)nullptr, (size_t)0));
  EXPECT_EQ("b''", Repr(v));
}

TEST(Pack, LetterOCopiesAndLeavesTheOriginalWithTheCaller) {
  ValuePtr orig;
  ASSERT_EQ(0, mproc_pack(orig.out(), "[is]", 1, "x"));
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "(OO)", orig.get(), orig.get()));
  EXPECT_EQ("([1, 'x'], [1, 'x'])", Repr(v));
  const mproc_value_t *item;
  ASSERT_EQ(0, mproc_list_get(v, 0, &item));
  EXPECT_NE(orig.get(), item);
  // The original is not owned: it can still be changed.
  mproc_value_t *x;
  ASSERT_EQ(0, mproc_value_none(&x));
  EXPECT_EQ(0, mproc_list_append(orig, x));
  EXPECT_EQ("([1, 'x'], [1, 'x'])", Repr(v));
  ValuePtr bad;
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pack(bad.out(), "O", (const mproc_value_t *)nullptr));
}

TEST(Pack, LetterNTakesOwnership) {
  mproc_value_t *x;
  ASSERT_EQ(0, mproc_pack(&x, "[ii]", 1, 2));
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "(sN)", "list", x));
  const mproc_value_t *item;
  ASSERT_EQ(0, mproc_list_get(v, 1, &item));
  EXPECT_EQ(x, item);  // the very value, now owned by the tuple
  mproc_value_t *y;
  ASSERT_EQ(0, mproc_value_none(&y));
  EXPECT_EQ(MPROC_EOWNED, mproc_list_append(x, y));  // frozen; y is freed
  // A lone N gives the value itself.
  mproc_value_t *z;
  ASSERT_EQ(0, mproc_value_int(&z, 5));
  ValuePtr w;
  ASSERT_EQ(0, mproc_pack(w.out(), "N", z));
  EXPECT_EQ(z, w.get());
}

TEST(Pack, LetterNRefusesNullAndOwnedValues) {
  ValuePtr bad;
  EXPECT_EQ(MPROC_EINVAL, mproc_pack(bad.out(), "N", (mproc_value_t *)nullptr));
  ValuePtr list;
  ASSERT_EQ(0, mproc_pack(list.out(), "[i]", 1));
  const mproc_value_t *owned;
  ASSERT_EQ(0, mproc_list_get(list, 0, &owned));
  EXPECT_EQ(MPROC_EOWNED, mproc_pack(bad.out(), "N", (mproc_value_t *)owned));
  EXPECT_EQ("[1]", Repr(list));  // the owned item was left alone
}

TEST(Pack, BracketsNest) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "{s:(i[s{s:n}]) s:[]}", "a", 1, "b", "c",
                          "e"));
  EXPECT_EQ("{'a': (1, ['b', {'c': None}]), 'e': []}", Repr(v));
}

TEST(Pack, OneItemGivesThatItemAndSeveralGiveATuple) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "i", 7));
  EXPECT_EQ(MPROC_INT, mproc_value_kind(v));
  ASSERT_EQ(0, mproc_pack(v.out(), "[i]", 7));
  EXPECT_EQ("[7]", Repr(v));
  ASSERT_EQ(0, mproc_pack(v.out(), "si", "test", 18));
  EXPECT_EQ("('test', 18)", Repr(v));
  ASSERT_EQ(0, mproc_pack(v.out(), "(si)", "test", 18));
  EXPECT_EQ("('test', 18)", Repr(v));
  ASSERT_EQ(0, mproc_pack(v.out(), "[i] [i]", 1, 2));
  EXPECT_EQ("([1], [2])", Repr(v));
}

TEST(Pack, EmptyFormatGivesEmptyTuple) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), ""));
  EXPECT_EQ(MPROC_TUPLE, mproc_value_kind(v));
  EXPECT_EQ(0u, mproc_value_len(v));
  ASSERT_EQ(0, mproc_pack(v.out(), " ,\t: "));
  EXPECT_EQ("()", Repr(v));
}

TEST(Pack, SpacesTabsCommasAndColonsAreIgnored) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), " ( i ,\ti , { s : i } ) ", 1, 2, "k", 3));
  EXPECT_EQ("(1, 2, {'k': 3})", Repr(v));
}

TEST(Pack, DictKeysMayBeCountedAndRepeatedKeysReplace) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "{s#:i s:i s:i}", "abc", (size_t)2, 1, "x",
                          2, "ab", 3));
  EXPECT_EQ("{'ab': 3, 'x': 2}", Repr(v));
}

// ---- mproc_pack: errors.

TEST(PackErrors, UnknownLetterIsEformat) {
  ValuePtr v;
  EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), "x"));
  EXPECT_EQ(nullptr, v.get());
  EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), "(i|i)", 1, 2));
  EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), "i#", 1, (size_t)1));
  EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), "#"));
}

TEST(PackErrors, UnbalancedBracketsAreEformat) {
  ValuePtr v;
  for (const char *fmt : {"(i", "i)", "(i]", "[i)", "{s:i", "s:i}", "((i)",
                          "(i))", ")", "(", "[{]}"}) {
    EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), fmt, 1, 2)) << fmt;
    EXPECT_EQ(nullptr, v.get()) << fmt;
  }
}

TEST(PackErrors, NonStrDictKeyIsEformat) {
  ValuePtr v;
  for (const char *fmt : {"{i:i}", "{n:i}", "{y#:i}", "{(s):i}", "{[s]:i}",
                          "{{}:i}", "{d:i}", "{O:i}"}) {
    EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), fmt, 1, 2)) << fmt;
  }
  // A key with no value.
  EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), "{s}", "k"));
  EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), "{s:i s}", "k", 1, "j"));
}

TEST(PackErrors, YWithoutHashIsEformat) {
  ValuePtr v;
  EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), "y", "abc"));
  EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), "(iy)", 1, "abc"));
}

// issue 9: the detail quotes the format and names the position and the
// character at fault.
TEST(PackErrors, TheDetailGivesThePositionAndTheLetter) {
  ValuePtr v;
  struct Case {
    const char *fmt;
    const char *says;
  } cases[] = {
      {"(iq)", "\"(iq)\": position 3, 'q': not a conversion"},
      {"(i", "\"(i\": at the end: a '(' is never closed"},
      {"[i)", "\"[i)\": position 3, ')': the open bracket is a '['"},
      {"i)", "\"i)\": position 2, ')': closes nothing"},
      {"{i:i}", "\"{i:i}\": position 2, 'i': a dict key must be s or s#"},
      {"{s}", "\"{s}\": position 3, '}': a dict key without a value"},
      {"(iy)", "\"(iy)\": position 3, 'y': bytes are y#"},
      {"d#", "\"d#\": position 1, 'd': only s and y take '#'"},
  };
  for (const Case &c : cases) {
    EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), c.fmt, 1, 2)) << c.fmt;
    EXPECT_NE(nullptr, strstr(mproc_last_error(), c.says))
        << c.fmt << ": " << mproc_last_error();
  }
}

static std::string Nested(int depth, const char *inner) {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

TEST(PackErrors, DeepFormatNestingIsEdepth) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), Nested(MPROC_MAX_DEPTH, "i").c_str(), 1));
  EXPECT_EQ(Nested(MPROC_MAX_DEPTH, "1"), Repr(v));
  EXPECT_EQ(MPROC_EDEPTH,
            mproc_pack(v.out(), Nested(MPROC_MAX_DEPTH + 1, "i").c_str(), 1));
  EXPECT_EQ(nullptr, v.get());
  EXPECT_EQ(MPROC_EDEPTH,
            mproc_pack(v.out(), Nested(1000, "").c_str()));
  // Two items make an implicit tuple around a 64-deep list: 65 levels.
  EXPECT_EQ(MPROC_EDEPTH,
            mproc_pack(v.out(), ("i" + Nested(MPROC_MAX_DEPTH, "")).c_str(),
                       1));
  EXPECT_EQ(nullptr, v.get());
}

TEST(PackErrors, InvalidUtf8IsEutf8) {
  ValuePtr v;
  EXPECT_EQ(MPROC_EUTF8, mproc_pack(v.out(), "s", "\xC0\xAF"));
  EXPECT_EQ(nullptr, v.get());
  EXPECT_EQ(MPROC_EUTF8, mproc_pack(v.out(), "(is)", 1, "ok\xED\xA0\x80"));
  EXPECT_EQ(MPROC_EUTF8, mproc_pack(v.out(), "s#", "\xE4\xB8\xAD", (size_t)2));
  EXPECT_EQ(MPROC_EUTF8, mproc_pack(v.out(), "{s:i}", "\xFF", 1));
  EXPECT_EQ(MPROC_EUTF8,
            mproc_pack(v.out(), "{s#:i}", "\xE4\xB8\xAD", (size_t)1, 1));
  EXPECT_EQ(nullptr, v.get());
}

TEST(PackErrors, NullDictKeyIsEinval) {
  ValuePtr v;
  EXPECT_EQ(MPROC_EINVAL, mproc_pack(v.out(), "{s:i}", (const char *)nullptr, 1));
}

// N values handed over must be freed whatever happens to the pack: these
// can only check return codes; the ASan run (--config=asan) proves that no
// N value leaks and none is freed twice.
TEST(PackErrors, NValueIsFreedOnALaterFailure) {
  mproc_value_t *x;
  ASSERT_EQ(0, mproc_pack(&x, "[s]", "leak me not"));
  ValuePtr v;
  EXPECT_EQ(MPROC_EUTF8, mproc_pack(v.out(), "(N s)", x, "\xFF"));
  EXPECT_EQ(nullptr, v.get());
  ASSERT_EQ(0, mproc_pack(&x, "[s]", "nor me"));
  EXPECT_EQ(MPROC_ERANGE,
            mproc_pack(v.out(), "{s:N s:[z]}", "a", x, "b", SIZE_MAX));
  ASSERT_EQ(0, mproc_pack(&x, "[s]", "nor me, first item of several"));
  EXPECT_EQ(MPROC_EUTF8, mproc_pack(v.out(), "N s", x, "\xFF"));
}

TEST(PackErrors, NValueIsFreedOnAnEarlierFailure) {
  mproc_value_t *x;
  ASSERT_EQ(0, mproc_pack(&x, "{s:i}", "k", 1));
  ValuePtr v;
  EXPECT_EQ(MPROC_EUTF8, mproc_pack(v.out(), "(s N)", "\xFF", x));
  ASSERT_EQ(0, mproc_pack(&x, "{s:i}", "k", 1));
  mproc_value_t *y;
  ASSERT_EQ(0, mproc_value_str(&y, "two"));
  EXPECT_EQ(MPROC_EUTF8, mproc_pack(v.out(), "s [N (N)]", "\xC0\x80", x, y));
  ASSERT_EQ(0, mproc_pack(&x, "i", 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_pack(v.out(), "{s:i s:N}",
                                     (const char *)nullptr, 1, "k", x));
  EXPECT_EQ(nullptr, v.get());
}

TEST(PackErrors, NValueTooDeepToInsertIsFreed) {
  mproc_value_t *deep;
  ASSERT_EQ(0, mproc_pack(&deep, Nested(MPROC_MAX_DEPTH, "i").c_str(), 1));
  ValuePtr v;
  EXPECT_EQ(MPROC_EDEPTH, mproc_pack(v.out(), "[N]", deep));
  ASSERT_EQ(0, mproc_pack(&deep, Nested(MPROC_MAX_DEPTH, "i").c_str(), 1));
  EXPECT_EQ(MPROC_EDEPTH, mproc_pack(v.out(), "i N", 1, deep));
  ASSERT_EQ(0, mproc_pack(&deep, Nested(MPROC_MAX_DEPTH, "i").c_str(), 1));
  EXPECT_EQ(MPROC_EDEPTH, mproc_pack(v.out(), "N i", deep, 1));
  ASSERT_EQ(0, mproc_pack(&deep, Nested(MPROC_MAX_DEPTH, "i").c_str(), 1));
  EXPECT_EQ(MPROC_EDEPTH, mproc_pack(v.out(), "{s:N}", "k", deep));
  EXPECT_EQ(nullptr, v.get());
}

TEST(PackErrors, AFormatRefusedAsAWholeTakesNoNValue) {
  // No argument is read before the format is known to be valid, so N values
  // stay the caller's (value.h); ASan checks they are neither leaked nor
  // freed twice.
  mproc_value_t *x;
  ASSERT_EQ(0, mproc_pack(&x, "[s]", "still mine"));
  ValuePtr v;
  EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), "(N", x));
  EXPECT_EQ(MPROC_EFORMAT, mproc_pack(v.out(), "N x", x));
  EXPECT_EQ(MPROC_EINVAL, mproc_pack(nullptr, "N", x));
  EXPECT_EQ("['still mine']", Repr(x));
  mproc_value_free(x);
}

// ---- mproc_unpack_values.

// Packs args or kwargs from a format.
static mproc_value_t *Pk(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mproc_value_t *v = nullptr;
  EXPECT_EQ(0, mproc_vpack(&v, fmt, ap)) << fmt;
  va_end(ap);
  return v;
}

TEST(Unpack, SeedRunProcWithPositionalArgs) {
  ValuePtr args(Pk("(si)", "test", 18));
  const char *name = nullptr;
  int age = 0;
  char err[256] = "stale";
  ASSERT_EQ(0, mproc_unpack_values(args, nullptr, err, sizeof err,
                                   "name=s age=i **", &name, &age))
      << err;
  EXPECT_STREQ("test", name);
  EXPECT_EQ(18, age);
  EXPECT_STREQ("", err);  // cleared on success
}

TEST(Unpack, SeedRunProcWithKeywordsAndExtraKwargs) {
  ValuePtr args(Pk("(s)", "test"));
  ValuePtr kwargs(Pk("{s:s s:i s:i}", "extra", "x", "age", 18, "more", 1));
  const char *name = nullptr;
  int age = 0;
  char err[256];
  ASSERT_EQ(0, mproc_unpack_values(args, kwargs, err, sizeof err,
                                   "name=s age=i **", &name, &age))
      << err;
  EXPECT_STREQ("test", name);
  EXPECT_EQ(18, age);
  EXPECT_EQ(3u, mproc_value_len(kwargs));  // extras stay in kwargs
  // Everything by keyword, args NULL, a list for args works too.
  ValuePtr kw2(Pk("{s:i s:s}", "age", 30, "name", "kw"));
  ASSERT_EQ(0, mproc_unpack_values(nullptr, kw2, err, sizeof err,
                                   "name=s age=i **", &name, &age))
      << err;
  EXPECT_STREQ("kw", name);
  EXPECT_EQ(30, age);
  // s points into the value: no copy.
  const mproc_value_t *nv;
  ASSERT_EQ(0, mproc_dict_get(kw2, "name", &nv));
  const char *s;
  ASSERT_EQ(0, mproc_value_get_str(nv, &s, nullptr));
  EXPECT_EQ(s, name);
  ValuePtr list_args(Pk("[si]", "list", 5));
  ASSERT_EQ(0, mproc_unpack_values(list_args, nullptr, err, sizeof err,
                                   "name=s age=i **", &name, &age))
      << err;
  EXPECT_STREQ("list", name);
  EXPECT_EQ(5, age);
}

TEST(Unpack, EveryConversion) {
  ValuePtr item(Pk("[i]", 1));
  ValuePtr args(Pk("(b i l L z d i s# s y# O n)", 1, -5, -6L, INT64_MIN,
                   (size_t)7, 2.5, 3, "ab\0c", (size_t)4, "héllo",
                   "\x01\x02", (size_t)2, item.get()));
  bool b = false;
  int i = 0;
  long l = 0;
  int64_t L = 0;
  size_t z = 0;
  double d1 = 0, d2 = 0;
  const char *s1 = nullptr, *s2 = nullptr;
  size_t s1n = 0;
  const void *y = nullptr;
  size_t yn = 0;
  const mproc_value_t *o = nullptr;
  char err[256];
  ASSERT_EQ(0, mproc_unpack_values(args, nullptr, err, sizeof err,
                                   "b i l L z d d s# s y# O n", &b, &i, &l,
                                   &L, &z, &d1, &d2, &s1, &s1n, &s2, &y, &yn,
                                   &o))
      << err;
  EXPECT_TRUE(b);
  EXPECT_EQ(-5, i);
  EXPECT_EQ(-6L, l);
  EXPECT_EQ(INT64_MIN, L);
  EXPECT_EQ(7u, z);
  EXPECT_EQ(2.5, d1);
  EXPECT_EQ(3.0, d2);  // an int converted
  ASSERT_EQ(4u, s1n);
  EXPECT_EQ(0, memcmp(s1, "ab\0c", 4));
  EXPECT_STREQ("héllo", s2);
  ASSERT_EQ(2u, yn);
  EXPECT_EQ(0, memcmp(y, "\x01\x02", 2));
  const mproc_value_t *tenth;
  ASSERT_EQ(0, mproc_list_get(args, 10, &tenth));
  EXPECT_EQ(tenth, o);  // O: the value itself, no copy
  EXPECT_EQ("[1]", Repr(o));
}

TEST(Unpack, IntConversionsAcceptBoolAsPythonDoes) {
  ValuePtr args(Pk("(b b)", 1, 0));
  int i = -1;
  double d = -1;
  char err[128];
  ASSERT_EQ(0, mproc_unpack_values(args, nullptr, err, sizeof err, "i d", &i,
                                   &d))
      << err;
  EXPECT_EQ(1, i);
  EXPECT_EQ(0.0, d);
}

TEST(Unpack, NullOutputPointersAreSkipped) {
  ValuePtr args(Pk("(si)", "a", 1));
  char err[128];
  EXPECT_EQ(0, mproc_unpack_values(args, nullptr, err, sizeof err, "s i",
                                   (const char **)nullptr, (int *)nullptr));
}

TEST(Unpack, OptionalParametersLeaveOutputsUntouched) {
  ValuePtr args(Pk("(i)", 1));
  int a = 0, b = -111;
  const char *c = "untouched";
  double d = -2.5;
  const mproc_value_t *o = reinterpret_cast<const mproc_value_t *>(0x1);
  char err[128];
  ASSERT_EQ(0, mproc_unpack_values(args, nullptr, err, sizeof err,
                                   "a=i | b=i c=s d=d o=O", &a, &b, &c, &d,
                                   &o))
      << err;
  EXPECT_EQ(1, a);
  EXPECT_EQ(-111, b);
  EXPECT_STREQ("untouched", c);
  EXPECT_EQ(-2.5, d);
  EXPECT_EQ(reinterpret_cast<const mproc_value_t *>(0x1), o);
  // Some given by position, one by keyword, the others untouched.
  ValuePtr args2(Pk("(ii)", 1, 2));
  ValuePtr kwargs(Pk("{s:d}", "d", 9.5));
  ASSERT_EQ(0, mproc_unpack_values(args2, kwargs, err, sizeof err,
                                   "a=i | b=i c=s d=d o=O", &a, &b, &c, &d,
                                   &o))
      << err;
  EXPECT_EQ(2, b);
  EXPECT_STREQ("untouched", c);
  EXPECT_EQ(9.5, d);
  EXPECT_EQ(reinterpret_cast<const mproc_value_t *>(0x1), o);
}

TEST(Unpack, KeywordOnlyParameters) {
  const char *fmt = "a=i $ flag=b:f";
  ValuePtr args(Pk("(i)", 1));
  ValuePtr kwargs(Pk("{s:b}", "flag", 1));
  int a = 0;
  bool flag = false;
  char err[128];
  ASSERT_EQ(0, mproc_unpack_values(args, kwargs, err, sizeof err, fmt, &a,
                                   &flag))
      << err;
  EXPECT_EQ(1, a);
  EXPECT_TRUE(flag);
  // Keyword-only cannot be given by position.
  ValuePtr args2(Pk("(i b)", 1, 1));
  EXPECT_EQ(MPROC_EARITY, mproc_unpack_values(args2, kwargs, err, sizeof err,
                                              fmt, &a, &flag));
  EXPECT_STREQ("f() takes 1 positional argument but 2 were given", err);
  // And a required one must be given.
  EXPECT_EQ(MPROC_EARITY, mproc_unpack_values(args, nullptr, err, sizeof err,
                                              fmt, &a, &flag));
  EXPECT_STREQ("f() missing required keyword-only argument 'flag'", err);
}

TEST(Unpack, OptionalKeywordOnlyParameters) {
  // As in CPython, '|' comes before '$'.
  const char *fmt = "a=i | b=i $ level=i";
  ValuePtr args(Pk("(i)", 1));
  int a = 0, b = 55, level = 77;
  char err[128];
  ASSERT_EQ(0, mproc_unpack_values(args, nullptr, err, sizeof err, fmt, &a,
                                   &b, &level))
      << err;
  EXPECT_EQ(55, b);
  EXPECT_EQ(77, level);
  ValuePtr kwargs(Pk("{s:i}", "level", 3));
  ASSERT_EQ(0, mproc_unpack_values(args, kwargs, err, sizeof err, fmt, &a,
                                   &b, &level))
      << err;
  EXPECT_EQ(55, b);
  EXPECT_EQ(3, level);
  ValuePtr args3(Pk("(iii)", 1, 2, 3));
  EXPECT_EQ(MPROC_EARITY, mproc_unpack_values(args3, nullptr, err, sizeof err,
                                              fmt, &a, &b, &level));
  EXPECT_STREQ(
      "function() takes from 1 to 2 positional arguments but 3 were given",
      err);
}

TEST(Unpack, StarAllowsExtraPositionalArgs) {
  ValuePtr args(Pk("(i s d)", 1, "x", 2.0));
  int a = 0;
  char err[128];
  ASSERT_EQ(0, mproc_unpack_values(args, nullptr, err, sizeof err, "a=i *",
                                   &a))
      << err;
  EXPECT_EQ(1, a);
  EXPECT_EQ(3u, mproc_value_len(args));
  // Without '*' the same call is refused.
  EXPECT_EQ(MPROC_EARITY,
            mproc_unpack_values(args, nullptr, err, sizeof err, "a=i", &a));
  EXPECT_STREQ("function() takes 1 positional argument but 3 were given", err);
  // '*' and '**' together.
  ValuePtr kwargs(Pk("{s:i}", "zz", 1));
  EXPECT_EQ(0, mproc_unpack_values(args, kwargs, err, sizeof err,
                                   "a=i * **", &a));
}

TEST(Unpack, FnameNamesTheFunctionInMessages) {
  ValuePtr args(Pk("(s)", "x"));
  const char *name;
  int age;
  char err[128];
  EXPECT_EQ(MPROC_EARITY,
            mproc_unpack_values(args, nullptr, err, sizeof err,
                                "name=s age=i **:run_proc", &name, &age));
  EXPECT_STREQ("run_proc() missing required argument 'age' (pos 2)", err);
  EXPECT_EQ(MPROC_EARITY,
            mproc_unpack_values(args, nullptr, err, sizeof err,
                                "name=s age=i **", &name, &age));
  EXPECT_STREQ("function() missing required argument 'age' (pos 2)", err);
}

// ---- mproc_unpack_values: errors, with Python's messages.

static const char *kRunProc = "name=s age=i **:run_proc";

TEST(UnpackErrors, TooManyPositionalIsEarity) {
  ValuePtr args(Pk("(s i i)", "a", 1, 2));
  const char *name;
  int age;
  char err[128];
  EXPECT_EQ(MPROC_EARITY, mproc_unpack_values(args, nullptr, err, sizeof err,
                                              kRunProc, &name, &age));
  EXPECT_STREQ("run_proc() takes 2 positional arguments but 3 were given",
               err);
  int b = 0;
  EXPECT_EQ(MPROC_EARITY,
            mproc_unpack_values(args, nullptr, err, sizeof err,
                                "a=s | b=i:f", &name, &b));
  EXPECT_STREQ("f() takes from 1 to 2 positional arguments but 3 were given",
               err);
}

TEST(UnpackErrors, MissingRequiredIsEarity) {
  const char *name = "untouched";
  int age = -1;
  char err[128];
  EXPECT_EQ(MPROC_EARITY, mproc_unpack_values(nullptr, nullptr, err,
                                              sizeof err, kRunProc, &name,
                                              &age));
  EXPECT_STREQ("run_proc() missing required argument 'name' (pos 1)", err);
  ValuePtr kwargs(Pk("{s:s}", "name", "n"));
  EXPECT_EQ(MPROC_EARITY, mproc_unpack_values(nullptr, kwargs, err,
                                              sizeof err, kRunProc, &name,
                                              &age));
  EXPECT_STREQ("run_proc() missing required argument 'age' (pos 2)", err);
  // Nothing was stored by the failed calls.
  EXPECT_STREQ("untouched", name);
  EXPECT_EQ(-1, age);
}

TEST(UnpackErrors, UnexpectedKeywordIsEkey) {
  ValuePtr args(Pk("(si)", "a", 1));
  ValuePtr kwargs(Pk("{s:i}", "colour", 1));
  const char *name;
  int age;
  char err[128];
  EXPECT_EQ(MPROC_EKEY, mproc_unpack_values(args, kwargs, err, sizeof err,
                                            "name=s age=i:run_proc", &name,
                                            &age));
  EXPECT_STREQ("run_proc() got an unexpected keyword argument 'colour'", err);
  // Positional-only parameters cannot be named.
  ValuePtr kw2(Pk("{s:i}", "s", 1));
  EXPECT_EQ(MPROC_EKEY, mproc_unpack_values(args, kw2, err, sizeof err,
                                            "s i:g", &name, &age));
  EXPECT_STREQ("g() got an unexpected keyword argument 's'", err);
}

TEST(UnpackErrors, MultipleValuesForArgumentIsEkey) {
  ValuePtr args(Pk("(si)", "a", 1));
  ValuePtr kwargs(Pk("{s:s}", "name", "b"));
  const char *name;
  int age;
  char err[128];
  EXPECT_EQ(MPROC_EKEY, mproc_unpack_values(args, kwargs, err, sizeof err,
                                            kRunProc, &name, &age));
  EXPECT_STREQ("run_proc() got multiple values for argument 'name'", err);
}

TEST(UnpackErrors, WrongTypeIsEtype) {
  ValuePtr args(Pk("(ss)", "a", "18"));
  const char *name;
  int age;
  char err[128];
  EXPECT_EQ(MPROC_ETYPE, mproc_unpack_values(args, nullptr, err, sizeof err,
                                             kRunProc, &name, &age));
  EXPECT_STREQ("run_proc() argument 'age' must be int, not str", err);
  // Positional-only: by number.
  EXPECT_EQ(MPROC_ETYPE, mproc_unpack_values(args, nullptr, err, sizeof err,
                                             "s i:f", &name, &age));
  EXPECT_STREQ("f() argument 2 must be int, not str", err);
  struct {
    const char *fmt;
    const char *args_fmt;
    const char *msg;
  } cases[] = {
      {"x=b", "(i)", "function() argument 'x' must be bool, not int"},
      {"x=d", "(s)", "function() argument 'x' must be float, not str"},
      {"x=s", "(y#)", "function() argument 'x' must be str, not bytes"},
      {"x=y#", "(s)", "function() argument 'x' must be bytes, not str"},
      {"x=n", "(i)", "function() argument 'x' must be None, not int"},
      {"x=i", "(d)", "function() argument 'x' must be int, not float"},
      {"x=L", "([])", "function() argument 'x' must be int, not list"},
      {"x=s", "(n)", "function() argument 'x' must be str, not NoneType"},
  };
  for (const auto &c : cases) {
    ValuePtr a;
    if (strcmp(c.args_fmt, "(i)") == 0) a.v = Pk(c.args_fmt, 1);
    else if (strcmp(c.args_fmt, "(s)") == 0) a.v = Pk(c.args_fmt, "x");
    else if (strcmp(c.args_fmt, "(y#)") == 0) a.v = Pk(c.args_fmt, "x", (size_t)1);
    else if (strcmp(c.args_fmt, "(d)") == 0) a.v = Pk(c.args_fmt, 1.0);
    else a.v = Pk(c.args_fmt);
    const void *p1 = nullptr;
    size_t p2 = 0;
    EXPECT_EQ(MPROC_ETYPE, mproc_unpack_values(a, nullptr, err, sizeof err,
                                               c.fmt, &p1, &p2))
        << c.fmt;
    EXPECT_STREQ(c.msg, err) << c.fmt;
  }
}

TEST(UnpackErrors, IntOverflowIsErange) {
  int age = -1;
  const char *name;
  char err[128];
  for (int64_t big : {(int64_t)INT_MAX + 1, (int64_t)INT_MIN - 1, INT64_MAX,
                      INT64_MIN}) {
    ValuePtr args(Pk("(sL)", "a", big));
    EXPECT_EQ(MPROC_ERANGE, mproc_unpack_values(args, nullptr, err,
                                                sizeof err, kRunProc, &name,
                                                &age))
        << big;
    EXPECT_EQ(0, strncmp(err, "run_proc() argument 2", 21)) << err;
  }
  EXPECT_EQ(-1, age);
  ValuePtr ok(Pk("(sL)", "a", (int64_t)INT_MIN));
  ASSERT_EQ(0, mproc_unpack_values(ok, nullptr, err, sizeof err, kRunProc,
                                   &name, &age));
  EXPECT_EQ(INT_MIN, age);
  // z refuses negatives.
  ValuePtr neg(Pk("(i)", -1));
  size_t z = 5;
  EXPECT_EQ(MPROC_ERANGE,
            mproc_unpack_values(neg, nullptr, err, sizeof err, "z", &z));
  EXPECT_EQ(5u, z);
}

TEST(UnpackErrors, BadFormatIsEformat) {
  int a;
  char err[128];
  for (const char *fmt :
       {"x", "i#", "y", "N", "a=i a=i", "| | i", "$ i", "$ $ a=i", "** i",
        "* i", "a=", "a=i:", "=i", "* *", "(i)", "a=i ** **"}) {
    EXPECT_EQ(MPROC_EFORMAT,
              mproc_unpack_values(nullptr, nullptr, err, sizeof err, fmt, &a))
        << fmt;
  }
  EXPECT_EQ(MPROC_EFORMAT,
            mproc_unpack_values(nullptr, nullptr, err, sizeof err, "i#", &a));
  EXPECT_STREQ("function() invalid format string \"i#\"", err);
}

TEST(UnpackErrors, WrongArgsOrKwargsKindIsEtype) {
  ValuePtr notseq(Pk("{}"));
  ValuePtr notdict(Pk("()"));
  int a;
  char err[64];
  EXPECT_EQ(MPROC_ETYPE,
            mproc_unpack_values(notseq, nullptr, err, sizeof err, "|i", &a));
  EXPECT_EQ(MPROC_ETYPE,
            mproc_unpack_values(nullptr, notdict, err, sizeof err, "|i", &a));
  EXPECT_EQ(MPROC_EINVAL,
            mproc_unpack_values(nullptr, nullptr, err, sizeof err, nullptr));
}

TEST(UnpackErrors, MessageIsTruncatedToTheBuffer) {
  ValuePtr args(Pk("(s i i)", "a", 1, 2));
  const char *name;
  int age;
  char err[16];
  memset(err, '#', sizeof err);
  EXPECT_EQ(MPROC_EARITY, mproc_unpack_values(args, nullptr, err, sizeof err,
                                              kRunProc, &name, &age));
  EXPECT_STREQ("run_proc() take", err);
  char tiny[4];
  EXPECT_EQ(MPROC_EARITY, mproc_unpack_values(args, nullptr, tiny, sizeof tiny,
                                              kRunProc, &name, &age));
  EXPECT_STREQ("run", tiny);
  // No buffer at all is fine.
  EXPECT_EQ(MPROC_EARITY, mproc_unpack_values(args, nullptr, nullptr, 0,
                                              kRunProc, &name, &age));
}
