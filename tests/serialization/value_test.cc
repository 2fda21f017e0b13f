#include <gtest/gtest.h>

#include <chrono>
#include <cstdarg>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "multiproc/value.h"
#include "tests/serialization/test_util.h"

using mproc_test::Repr;
using mproc_test::ValuePtr;

TEST(Value, PackAndRepr) {
  mproc_value_t *v = nullptr;
  ASSERT_EQ(0, mproc_pack(&v, "(si)", "test", 18));
  EXPECT_EQ("('test', 18)", Repr(v));
  mproc_value_free(v);
  ASSERT_EQ(0, mproc_pack(&v, "{s:i}", "m", 20));
  EXPECT_EQ("{'m': 20}", Repr(v));
  mproc_value_free(v);
}

TEST(Value, RoundTrip) {
  mproc_value_t *v = nullptr;
  ASSERT_EQ(0, mproc_pack(&v, "(nbids[i(s)]{s:y#,s:d})", 1, -7, 2.5, "héllo",
                          1, "x", "k", "ab\0c", (size_t)4, "f", 1e300));
  std::string want = Repr(v);
  size_t n = mproc_value_encoded_size(v);
  std::string buf(n, '\0');
  ASSERT_EQ((int)n, mproc_value_encode(v, &buf[0], n));
  mproc_value_t *back = nullptr;
  ASSERT_EQ(0, mproc_value_decode(&back, buf.data(), n));
  EXPECT_TRUE(mproc_value_equal(v, back));
  EXPECT_EQ(want, Repr(back));
  EXPECT_EQ(n, mproc_value_encoded_size(back));
  mproc_value_free(v);
  mproc_value_free(back);
}

// ---- Constructors and typed accessors.

TEST(Value, NoneHasKindNoneAndNoTypedAccess) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_value_none(v.out()));
  ASSERT_NE(nullptr, v.get());
  EXPECT_EQ(MPROC_NONE, mproc_value_kind(v));
  EXPECT_STREQ("NoneType", mproc_kind_name(mproc_value_kind(v)));
  EXPECT_EQ(0u, mproc_value_len(v));
  bool b;
  int64_t i;
  EXPECT_EQ(MPROC_ETYPE, mproc_value_get_bool(v, &b));
  EXPECT_EQ(MPROC_ETYPE, mproc_value_get_int(v, &i));
}

TEST(Value, BoolStoresTrueAndFalse) {
  ValuePtr t, f;
  ASSERT_EQ(0, mproc_value_bool(t.out(), true));
  ASSERT_EQ(0, mproc_value_bool(f.out(), false));
  EXPECT_EQ(MPROC_BOOL, mproc_value_kind(t));
  EXPECT_STREQ("bool", mproc_kind_name(MPROC_BOOL));
  bool b = false;
  ASSERT_EQ(0, mproc_value_get_bool(t, &b));
  EXPECT_TRUE(b);
  ASSERT_EQ(0, mproc_value_get_bool(f, &b));
  EXPECT_FALSE(b);
  // A bool is not an int for the typed accessor (it is for equality).
  int64_t i;
  EXPECT_EQ(MPROC_ETYPE, mproc_value_get_int(t, &i));
}

TEST(Value, IntKeepsInt64MinAndMax) {
  for (int64_t want : {INT64_MIN, INT64_MIN + 1, (int64_t)-1, (int64_t)0,
                       (int64_t)1, INT64_MAX - 1, INT64_MAX}) {
    ValuePtr v;
    ASSERT_EQ(0, mproc_value_int(v.out(), want));
    EXPECT_EQ(MPROC_INT, mproc_value_kind(v));
    int64_t got = 12345;
    ASSERT_EQ(0, mproc_value_get_int(v, &got));
    EXPECT_EQ(want, got);
    double d = 0;
    ASSERT_EQ(0, mproc_value_get_float(v, &d));  // int accepted as float
    EXPECT_EQ((double)want, d);
  }
  EXPECT_STREQ("int", mproc_kind_name(MPROC_INT));
}

TEST(Value, FloatKeepsNegativeZeroInfinityAndNan) {
  ValuePtr nz, pinf, ninf, nan, tiny;
  ASSERT_EQ(0, mproc_value_float(nz.out(), -0.0));
  ASSERT_EQ(0, mproc_value_float(pinf.out(), INFINITY));
  ASSERT_EQ(0, mproc_value_float(ninf.out(), -INFINITY));
  ASSERT_EQ(0, mproc_value_float(nan.out(), NAN));
  ASSERT_EQ(0, mproc_value_float(tiny.out(), 5e-324));
  double d = 1;
  ASSERT_EQ(0, mproc_value_get_float(nz, &d));
  EXPECT_EQ(0.0, d);
  EXPECT_TRUE(std::signbit(d));
  ASSERT_EQ(0, mproc_value_get_float(pinf, &d));
  EXPECT_TRUE(std::isinf(d) && d > 0);
  ASSERT_EQ(0, mproc_value_get_float(ninf, &d));
  EXPECT_TRUE(std::isinf(d) && d < 0);
  ASSERT_EQ(0, mproc_value_get_float(nan, &d));
  EXPECT_TRUE(std::isnan(d));
  ASSERT_EQ(0, mproc_value_get_float(tiny, &d));
  EXPECT_EQ(5e-324, d);
  EXPECT_EQ(MPROC_FLOAT, mproc_value_kind(nan));
  EXPECT_STREQ("float", mproc_kind_name(MPROC_FLOAT));
  int64_t i;
  EXPECT_EQ(MPROC_ETYPE, mproc_value_get_int(nz, &i));
}

TEST(Value, StrIsCopiedAndNulTerminated) {
  char src[] = "héllo";
  ValuePtr v;
  ASSERT_EQ(0, mproc_value_str(v.out(), src));
  src[0] = 'X';  // the value has its own copy
  const char *s = nullptr;
  size_t n = 0;
  ASSERT_EQ(0, mproc_value_get_str(v, &s, &n));
  EXPECT_EQ(6u, n);  // bytes, not characters
  EXPECT_STREQ("héllo", s);
  EXPECT_EQ(6u, mproc_value_len(v));
  EXPECT_STREQ("str", mproc_kind_name(mproc_value_kind(v)));
  // n may be NULL.
  ASSERT_EQ(0, mproc_value_get_str(v, &s, nullptr));
  const void *p;
  EXPECT_EQ(MPROC_ETYPE, mproc_value_get_bytes(v, &p, &n));
}

TEST(Value, StrnKeepsEmbeddedNul) {
  const char src[] = {'a', '\0', 'b', '\0', 'c'};
  ValuePtr v;
  ASSERT_EQ(0, mproc_value_strn(v.out(), src, sizeof src));
  const char *s = nullptr;
  size_t n = 0;
  ASSERT_EQ(0, mproc_value_get_str(v, &s, &n));
  ASSERT_EQ(5u, n);
  EXPECT_EQ(0, memcmp(s, src, 5));
  EXPECT_EQ('\0', s[5]);  // NUL after the counted bytes too
  EXPECT_EQ("'a\\x00b\\x00c'", Repr(v));
}

TEST(Value, EmptyStrAndBytes) {
  ValuePtr s, b, b2;
  ASSERT_EQ(0, mproc_value_str(s.out(), ""));
  ASSERT_EQ(0, mproc_value_bytes(b.out(), nullptr, 0));  // NULL ok when 0
  ASSERT_EQ(0, mproc_value_strn(b2.out(), nullptr, 0));
  EXPECT_EQ(0u, mproc_value_len(s));
  EXPECT_EQ(0u, mproc_value_len(b));
  const void *p = nullptr;
  size_t n = 99;
  ASSERT_EQ(0, mproc_value_get_bytes(b, &p, &n));
  EXPECT_EQ(0u, n);
  ASSERT_NE(nullptr, p);
  EXPECT_EQ('\0', *(const char *)p);
  ValuePtr bad;
  EXPECT_EQ(MPROC_EINVAL, mproc_value_bytes(bad.out(), nullptr, 1));
  EXPECT_EQ(nullptr, bad.get());
  EXPECT_EQ(MPROC_EINVAL, mproc_value_strn(bad.out(), nullptr, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_value_str(bad.out(), nullptr));
}

TEST(Value, BytesHoldEveryByteValue) {
  unsigned char all[256];
  for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
  ValuePtr v;
  ASSERT_EQ(0, mproc_value_bytes(v.out(), all, sizeof all));
  all[0] = 1;  // copied
  const void *p = nullptr;
  size_t n = 0;
  ASSERT_EQ(0, mproc_value_get_bytes(v, &p, &n));
  ASSERT_EQ(256u, n);
  for (int i = 0; i < 256; i++) EXPECT_EQ(i, ((const unsigned char *)p)[i]);
  EXPECT_EQ(MPROC_BYTES, mproc_value_kind(v));
  EXPECT_STREQ("bytes", mproc_kind_name(MPROC_BYTES));
  const char *s;
  EXPECT_EQ(MPROC_ETYPE, mproc_value_get_str(v, &s, &n));
}

TEST(Value, ListAndTupleAppendAndGet) {
  for (bool tuple : {false, true}) {
    ValuePtr seq;
    ASSERT_EQ(0, tuple ? mproc_value_tuple(seq.out())
                       : mproc_value_list(seq.out()));
    EXPECT_EQ(tuple ? MPROC_TUPLE : MPROC_LIST, mproc_value_kind(seq));
    EXPECT_STREQ(tuple ? "tuple" : "list",
                 mproc_kind_name(mproc_value_kind(seq)));
    EXPECT_EQ(0u, mproc_value_len(seq));
    for (int i = 0; i < 100; i++) {
      mproc_value_t *item;
      ASSERT_EQ(0, mproc_value_int(&item, i * 10));
      ASSERT_EQ(0, mproc_list_append(seq, item));
    }
    EXPECT_EQ(100u, mproc_value_len(seq));
    for (size_t i = 0; i < 100; i++) {
      const mproc_value_t *item = nullptr;
      ASSERT_EQ(0, mproc_list_get(seq, i, &item));
      int64_t x;
      ASSERT_EQ(0, mproc_value_get_int(item, &x));
      EXPECT_EQ((int64_t)i * 10, x);
    }
    const mproc_value_t *item = nullptr;
    EXPECT_EQ(MPROC_ERANGE, mproc_list_get(seq, 100, &item));
    EXPECT_EQ(MPROC_ERANGE, mproc_list_get(seq, SIZE_MAX, &item));
  }
}

TEST(Value, DictSetGetAndItem) {
  ValuePtr d;
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  EXPECT_EQ(MPROC_DICT, mproc_value_kind(d));
  EXPECT_STREQ("dict", mproc_kind_name(MPROC_DICT));
  mproc_value_t *one, *two;
  ASSERT_EQ(0, mproc_value_int(&one, 1));
  ASSERT_EQ(0, mproc_value_str(&two, "two"));
  ASSERT_EQ(0, mproc_dict_set(d, "one", one));
  ASSERT_EQ(0, mproc_dict_set(d, "zwei", two));
  EXPECT_EQ(2u, mproc_value_len(d));
  const mproc_value_t *got = nullptr;
  ASSERT_EQ(0, mproc_dict_get(d, "one", &got));
  EXPECT_EQ(one, got);
  ASSERT_EQ(0, mproc_dict_get(d, "zwei", &got));
  EXPECT_EQ(two, got);
  EXPECT_EQ(MPROC_EKEY, mproc_dict_get(d, "three", &got));
  EXPECT_EQ(MPROC_EKEY, mproc_dict_get(d, "on", &got));
  const char *key = nullptr;
  ASSERT_EQ(0, mproc_dict_item(d, 1, &key, &got));
  EXPECT_STREQ("zwei", key);
  EXPECT_EQ(two, got);
  ASSERT_EQ(0, mproc_dict_item(d, 0, nullptr, &got));  // key may be NULL
  EXPECT_EQ(one, got);
  EXPECT_EQ(MPROC_ERANGE, mproc_dict_item(d, 2, &key, &got));
}

TEST(Value, AccessorsRejectWrongContainerKind) {
  ValuePtr l, d, i;
  ASSERT_EQ(0, mproc_value_list(l.out()));
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  ASSERT_EQ(0, mproc_value_int(i.out(), 3));
  const mproc_value_t *got;
  EXPECT_EQ(MPROC_ETYPE, mproc_list_get(d, 0, &got));
  EXPECT_EQ(MPROC_ETYPE, mproc_list_get(i, 0, &got));
  EXPECT_EQ(MPROC_ETYPE, mproc_dict_get(l, "a", &got));
  EXPECT_EQ(MPROC_ETYPE, mproc_dict_item(l, 0, nullptr, &got));
  // Each failure takes (frees) its item: value.h's rule.
  mproc_value_t *item;
  ASSERT_EQ(0, mproc_value_none(&item));
  EXPECT_EQ(MPROC_ETYPE, mproc_list_append(d, item));
  ASSERT_EQ(0, mproc_value_none(&item));
  EXPECT_EQ(MPROC_ETYPE, mproc_list_append(i, item));
  ASSERT_EQ(0, mproc_value_none(&item));
  EXPECT_EQ(MPROC_ETYPE, mproc_dict_set(l, "a", item));
  EXPECT_EQ(0u, mproc_value_len(i));  // scalars have no length
}

TEST(Value, NullArgumentsAreEinval) {
  EXPECT_EQ(MPROC_EINVAL, mproc_value_none(nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_value_int(nullptr, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_list_append(nullptr, nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_dict_set(nullptr, "a", nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_value_get_int(nullptr, nullptr));
  ValuePtr d;
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  mproc_value_t *item;
  ASSERT_EQ(0, mproc_value_none(&item));
  EXPECT_EQ(MPROC_EINVAL, mproc_dict_set(d, nullptr, item));  // takes item
  EXPECT_EQ(MPROC_NONE, mproc_value_kind(nullptr));
  EXPECT_EQ(0u, mproc_value_len(nullptr));
  mproc_value_free(nullptr);  // ignored
  ValuePtr c;
  EXPECT_EQ(MPROC_EINVAL, mproc_value_copy(c.out(), nullptr));
}

// ---- Ownership.

TEST(Ownership, AppendingAnOwnedValueIsEowned) {
  ValuePtr a, b;
  ASSERT_EQ(0, mproc_value_list(a.out()));
  ASSERT_EQ(0, mproc_value_list(b.out()));
  mproc_value_t *item;
  ASSERT_EQ(0, mproc_value_int(&item, 7));
  ASSERT_EQ(0, mproc_list_append(a, item));
  EXPECT_EQ(MPROC_EOWNED, mproc_list_append(b, item));
  EXPECT_EQ(MPROC_EOWNED, mproc_list_append(a, item));
  ValuePtr d;
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  EXPECT_EQ(MPROC_EOWNED, mproc_dict_set(d, "k", item));
  EXPECT_EQ(0u, mproc_value_len(b));
  EXPECT_EQ(1u, mproc_value_len(a));
  EXPECT_EQ(0u, mproc_value_len(d));
  // Not the caller's to give, so not freed: it stays where it was.
  EXPECT_EQ("[7]", Repr(a));
}

TEST(Ownership, AppendingAContainerIntoItselfIsEowned) {
  ValuePtr l, t, d;
  ASSERT_EQ(0, mproc_value_list(l.out()));
  ASSERT_EQ(0, mproc_value_tuple(t.out()));
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  EXPECT_EQ(MPROC_EOWNED, mproc_list_append(l, l));
  EXPECT_EQ(MPROC_EOWNED, mproc_list_append(t, t));
  EXPECT_EQ(MPROC_EOWNED, mproc_dict_set(d, "self", d));
  EXPECT_EQ(0u, mproc_value_len(l));
  EXPECT_EQ(0u, mproc_value_len(t));
  EXPECT_EQ(0u, mproc_value_len(d));
  // Refused, not freed: each container is still the caller's and usable.
  mproc_value_t *x;
  ASSERT_EQ(0, mproc_value_int(&x, 1));
  ASSERT_EQ(0, mproc_list_append(l, x));
  ASSERT_EQ(0, mproc_value_int(&x, 2));
  ASSERT_EQ(0, mproc_dict_set(d, "k", x));
  EXPECT_EQ("[1]", Repr(l));
  EXPECT_EQ("{'k': 2}", Repr(d));
}

// value.h's rule: an insertion takes its item whatever happens. The checks
// here are return codes; the ASan run (--config=asan) proves that every
// refused item is freed once (a leak or a double free fails it).
static int Nest(int levels, mproc_value_t **out);  // under Depth, below

TEST(Ownership, EveryFailedInsertionFreesTheItem) {
  ValuePtr l, d, i, outer;
  ASSERT_EQ(0, mproc_value_list(l.out()));
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  ASSERT_EQ(0, mproc_value_int(i.out(), 3));
  ASSERT_EQ(0, mproc_pack(outer.out(), "[[] {}]"));
  const mproc_value_t *inner_list, *inner_dict;
  ASSERT_EQ(0, mproc_list_get(outer, 0, &inner_list));
  ASSERT_EQ(0, mproc_list_get(outer, 1, &inner_dict));
  mproc_value_t *frozen_l = const_cast<mproc_value_t *>(inner_list);
  mproc_value_t *frozen_d = const_cast<mproc_value_t *>(inner_dict);
  auto str = [] {
    mproc_value_t *v = nullptr;
    EXPECT_EQ(0, mproc_value_str(&v, "a heap block ASan would see leak"));
    return v;
  };
  auto deep = [] {
    mproc_value_t *v = nullptr;
    EXPECT_EQ(0, Nest(MPROC_MAX_DEPTH, &v));
    return v;
  };
  EXPECT_EQ(MPROC_EINVAL, mproc_list_append(nullptr, str()));
  EXPECT_EQ(MPROC_ETYPE, mproc_list_append(i, str()));
  EXPECT_EQ(MPROC_ETYPE, mproc_list_append(d, str()));
  EXPECT_EQ(MPROC_EOWNED, mproc_list_append(frozen_l, str()));
  EXPECT_EQ(MPROC_EDEPTH, mproc_list_append(l, deep()));
  EXPECT_EQ(MPROC_EINVAL, mproc_dict_set(nullptr, "k", str()));
  EXPECT_EQ(MPROC_EINVAL, mproc_dict_set(d, nullptr, str()));
  EXPECT_EQ(MPROC_ETYPE, mproc_dict_set(l, "k", str()));
  EXPECT_EQ(MPROC_EOWNED, mproc_dict_set(frozen_d, "k", str()));
  EXPECT_EQ(MPROC_EUTF8, mproc_dict_set(d, "\xFF", str()));
  EXPECT_EQ(MPROC_EDEPTH, mproc_dict_set(d, "k", deep()));
  // Nothing was inserted anywhere.
  EXPECT_EQ("[]", Repr(l));
  EXPECT_EQ("{}", Repr(d));
  EXPECT_EQ("[[], {}]", Repr(outer));
}

TEST(Ownership, MutatingAValueAfterInsertionIsEowned) {
  ValuePtr outer;
  ASSERT_EQ(0, mproc_value_list(outer.out()));
  mproc_value_t *inner_list, *inner_dict, *x;
  ASSERT_EQ(0, mproc_value_list(&inner_list));
  ASSERT_EQ(0, mproc_value_dict(&inner_dict));
  ASSERT_EQ(0, mproc_list_append(outer, inner_list));
  ASSERT_EQ(0, mproc_list_append(outer, inner_dict));
  std::string before = Repr(outer);
  size_t size_before = mproc_value_encoded_size(outer);
  // x was ours to give: each refusal frees it (value.h's rule).
  ASSERT_EQ(0, mproc_value_int(&x, 1));
  EXPECT_EQ(MPROC_EOWNED, mproc_list_append(inner_list, x));
  ASSERT_EQ(0, mproc_value_int(&x, 1));
  EXPECT_EQ(MPROC_EOWNED, mproc_dict_set(inner_dict, "k", x));
  EXPECT_EQ(before, Repr(outer));
  EXPECT_EQ("[[], {}]", before);
  EXPECT_EQ(size_before, mproc_value_encoded_size(outer));
}

TEST(Ownership, FreeingAnOwnedValueIsIgnored) {
  ValuePtr list;
  ASSERT_EQ(0, mproc_value_list(list.out()));
  mproc_value_t *s;
  ASSERT_EQ(0, mproc_value_str(&s, "still here"));
  ASSERT_EQ(0, mproc_list_append(list, s));
  mproc_value_free(s);  // belongs to list: ignored (ASan: no double free)
  const mproc_value_t *got;
  ASSERT_EQ(0, mproc_list_get(list, 0, &got));
  const char *p;
  ASSERT_EQ(0, mproc_value_get_str(got, &p, nullptr));
  EXPECT_STREQ("still here", p);
  EXPECT_EQ("['still here']", Repr(list));
}

// ---- Dicts.

TEST(Dict, KeepsInsertionOrder) {
  ValuePtr d;
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  const char *keys[] = {"zeta", "alpha", "mu", "beta", "omega"};
  for (int i = 0; i < 5; i++) {
    mproc_value_t *v;
    ASSERT_EQ(0, mproc_value_int(&v, i));
    ASSERT_EQ(0, mproc_dict_set(d, keys[i], v));
  }
  for (size_t i = 0; i < 5; i++) {
    const char *k;
    ASSERT_EQ(0, mproc_dict_item(d, i, &k, nullptr));
    EXPECT_STREQ(keys[i], k);
  }
  EXPECT_EQ("{'zeta': 0, 'alpha': 1, 'mu': 2, 'beta': 3, 'omega': 4}",
            Repr(d));
}

TEST(Dict, ReplacingAKeyKeepsItsPosition) {
  ValuePtr d;
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  for (const char *k : {"a", "b", "c"}) {
    mproc_value_t *v;
    ASSERT_EQ(0, mproc_value_str(&v, k));
    ASSERT_EQ(0, mproc_dict_set(d, k, v));
  }
  mproc_value_t *nv;
  ASSERT_EQ(0, mproc_pack(&nv, "[iii]", 1, 2, 3));  // old value freed (ASan)
  ASSERT_EQ(0, mproc_dict_set(d, "b", nv));
  EXPECT_EQ(3u, mproc_value_len(d));
  EXPECT_EQ("{'a': 'a', 'b': [1, 2, 3], 'c': 'c'}", Repr(d));
  // The kept encoded size follows the replacement exactly.
  size_t n = mproc_value_encoded_size(d);
  std::string buf(n, '\0');
  ASSERT_EQ((int)n, mproc_value_encode(d, &buf[0], n));
}

TEST(Dict, ReplacingKeepsPositionPastTheHashIndexThreshold) {
  ValuePtr d;
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  for (int i = 0; i < 40; i++) {
    mproc_value_t *v;
    ASSERT_EQ(0, mproc_value_int(&v, i));
    ASSERT_EQ(0, mproc_dict_set(d, ("k" + std::to_string(i)).c_str(), v));
  }
  mproc_value_t *v;
  ASSERT_EQ(0, mproc_value_str(&v, "new"));
  ASSERT_EQ(0, mproc_dict_set(d, "k7", v));
  EXPECT_EQ(40u, mproc_value_len(d));
  const char *k;
  const mproc_value_t *got;
  ASSERT_EQ(0, mproc_dict_item(d, 7, &k, &got));
  EXPECT_STREQ("k7", k);
  EXPECT_EQ(v, got);
}

TEST(Dict, HundredThousandKeysBuildFastAndLookUp) {
  const int kN = 100000;
  ValuePtr d;
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kN; i++) {
    mproc_value_t *v;
    ASSERT_EQ(0, mproc_value_int(&v, i));
    ASSERT_EQ(0, mproc_dict_set(d, ("key" + std::to_string(i)).c_str(), v));
  }
  for (int i = 0; i < kN; i++) {
    const mproc_value_t *got = nullptr;
    ASSERT_EQ(0, mproc_dict_get(d, ("key" + std::to_string(i)).c_str(), &got))
        << i;
    int64_t x;
    ASSERT_EQ(0, mproc_value_get_int(got, &x));
    ASSERT_EQ(i, x);
  }
  double secs = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - start)
                    .count();
  // Linear scans would cost ~10^10 key comparisons here: minutes, not this.
  EXPECT_LT(secs, 5.0);
  EXPECT_EQ((size_t)kN, mproc_value_len(d));
  const mproc_value_t *got;
  EXPECT_EQ(MPROC_EKEY, mproc_dict_get(d, "key100000", &got));
  EXPECT_EQ(MPROC_EKEY, mproc_dict_get(d, "", &got));
  const char *k;
  ASSERT_EQ(0, mproc_dict_item(d, 54321, &k, nullptr));
  EXPECT_STREQ("key54321", k);
  // Replacing in the indexed dict keeps the count and the order.
  mproc_value_t *v;
  ASSERT_EQ(0, mproc_value_none(&v));
  ASSERT_EQ(0, mproc_dict_set(d, "key99999", v));
  EXPECT_EQ((size_t)kN, mproc_value_len(d));
  ASSERT_EQ(0, mproc_dict_item(d, kN - 1, &k, &got));
  EXPECT_STREQ("key99999", k);
  EXPECT_EQ(v, got);
}

// ---- Depth.

// Wraps a fresh int in `levels` containers, cycling list/tuple/dict.
static int Nest(int levels, mproc_value_t **out) {
  mproc_value_t *v;
  int rc = mproc_value_int(&v, 42);
  if (rc < 0) return rc;
  for (int i = 0; i < levels; i++) {
    mproc_value_t *c;
    switch (i % 3) {
      case 0:
        rc = mproc_value_list(&c);
        if (rc == 0) rc = mproc_list_append(c, v);
        break;
      case 1:
        rc = mproc_value_tuple(&c);
        if (rc == 0) rc = mproc_list_append(c, v);
        break;
      default:
        rc = mproc_value_dict(&c);
        if (rc == 0) rc = mproc_dict_set(c, "k", v);
        break;
    }
    if (rc < 0) {
      // A refused v was freed by the insertion (value.h's rule); v is
      // still ours only when c could not be made.
      if (c == nullptr) mproc_value_free(v);
      mproc_value_free(c);
      return rc;
    }
    v = c;
  }
  *out = v;
  return 0;
}

TEST(Depth, SixtyFourNestedContainersAreAllowed) {
  ValuePtr v;
  ASSERT_EQ(0, Nest(MPROC_MAX_DEPTH, v.out()));
  // And it survives copy and repr (bounded recursion).
  ValuePtr c;
  ASSERT_EQ(0, mproc_value_copy(c.out(), v));
  EXPECT_TRUE(mproc_value_equal(v, c));
  EXPECT_EQ(Repr(v), Repr(c));
}

TEST(Depth, SixtyFifthLevelIsEdepthForEveryContainerKind) {
  ValuePtr l, t, d;
  ASSERT_EQ(0, mproc_value_list(l.out()));
  ASSERT_EQ(0, mproc_value_tuple(t.out()));
  ASSERT_EQ(0, mproc_value_dict(d.out()));
  // Each refused value is taken and freed (value.h's rule).
  ValuePtr deep;
  ASSERT_EQ(0, Nest(MPROC_MAX_DEPTH, deep.out()));
  EXPECT_EQ(MPROC_EDEPTH, mproc_list_append(l, deep.release()));
  ASSERT_EQ(0, Nest(MPROC_MAX_DEPTH, deep.out()));
  EXPECT_EQ(MPROC_EDEPTH, mproc_list_append(t, deep.release()));
  ASSERT_EQ(0, Nest(MPROC_MAX_DEPTH, deep.out()));
  EXPECT_EQ(MPROC_EDEPTH, mproc_dict_set(d, "k", deep.release()));
  EXPECT_EQ(0u, mproc_value_len(l));
  EXPECT_EQ(0u, mproc_value_len(d));
  // One level less fits.
  ValuePtr ok;
  ASSERT_EQ(0, Nest(MPROC_MAX_DEPTH - 1, ok.out()));
  EXPECT_EQ(0, mproc_list_append(l, ok.release()));
  ValuePtr fail;
  EXPECT_EQ(MPROC_EDEPTH, Nest(MPROC_MAX_DEPTH + 1, fail.out()));
}

// ---- UTF-8.

TEST(Utf8, InvalidStrIsEutf8) {
  struct Case {
    const char *what;
    std::string bytes;
  } cases[] = {
      {"overlong '/' (2 bytes)", "\xC0\xAF"},
      {"overlong NUL (2 bytes)", "\xC0\x80"},
      {"overlong '/' (3 bytes)", "\xE0\x80\xAF"},
      {"overlong U+FFFF (4 bytes)", "\xF0\x8F\xBF\xBF"},
      {"surrogate U+D800", "\xED\xA0\x80"},
      {"surrogate U+DFFF", "\xED\xBF\xBF"},
      {"truncated 3-byte sequence", "ab\xE4\xB8"},
      {"truncated 2-byte sequence at the end", "\xC3"},
      {"truncated 4-byte sequence before ASCII", "\xF0\x9F\x98x"},
      {"lone continuation byte", "a\x80z"},
      {"above U+10FFFF", "\xF4\x90\x80\x80"},
      {"F5 lead byte", "\xF5\x80\x80\x80"},
      {"FF byte", "\xFF"},
  };
  for (const Case &c : cases) {
    ValuePtr v;
    EXPECT_EQ(MPROC_EUTF8, mproc_value_strn(v.out(), c.bytes.data(),
                                            c.bytes.size()))
        << c.what;
    EXPECT_EQ(nullptr, v.get());
    EXPECT_EQ(MPROC_EUTF8, mproc_value_str(v.out(), c.bytes.c_str()))
        << c.what;
    ValuePtr d;
    ASSERT_EQ(0, mproc_value_dict(d.out()));
    mproc_value_t *item;
    ASSERT_EQ(0, mproc_value_none(&item));
    EXPECT_EQ(MPROC_EUTF8, mproc_dict_set(d, c.bytes.c_str(), item))
        << c.what;  // and item is freed (value.h's rule)
  }
}

TEST(Utf8, BoundaryCodePointsAreValid) {
  for (std::string s : {std::string("\x7F"), std::string("\xC2\x80"),
                        std::string("\xDF\xBF"), std::string("\xE0\xA0\x80"),
                        std::string("\xED\x9F\xBF"),   // U+D7FF
                        std::string("\xEE\x80\x80"),   // U+E000
                        std::string("\xEF\xBF\xBF"),   // U+FFFF
                        std::string("\xF0\x90\x80\x80"),
                        std::string("\xF4\x8F\xBF\xBF")}) {  // U+10FFFF
    ValuePtr v;
    EXPECT_EQ(0, mproc_value_strn(v.out(), s.data(), s.size()));
  }
}

// ---- Copy.

TEST(Copy, IsDeepAndIndependent) {
  ValuePtr orig;
  ASSERT_EQ(0, mproc_pack(orig.out(), "[s{s:[i y#]} (d n)]", "text", "key", 5,
                          "\x00\x01", (size_t)2, 2.5));
  ValuePtr copy;
  ASSERT_EQ(0, mproc_value_copy(copy.out(), orig));
  ASSERT_NE(orig.get(), copy.get());
  EXPECT_TRUE(mproc_value_equal(orig, copy));
  EXPECT_EQ(Repr(orig), Repr(copy));
  EXPECT_EQ(mproc_value_encoded_size(orig), mproc_value_encoded_size(copy));
  // Children are new nodes with their own storage.
  const mproc_value_t *a, *b;
  ASSERT_EQ(0, mproc_list_get(orig, 0, &a));
  ASSERT_EQ(0, mproc_list_get(copy, 0, &b));
  EXPECT_NE(a, b);
  const char *sa, *sb;
  ASSERT_EQ(0, mproc_value_get_str(a, &sa, nullptr));
  ASSERT_EQ(0, mproc_value_get_str(b, &sb, nullptr));
  EXPECT_NE(sa, sb);
  // The copy is not owned, even though it copies owned values...
  const mproc_value_t *inner;
  ASSERT_EQ(0, mproc_list_get(orig, 1, &inner));
  ValuePtr inner_copy;
  ASSERT_EQ(0, mproc_value_copy(inner_copy.out(), inner));
  mproc_value_t *x;
  ASSERT_EQ(0, mproc_value_int(&x, 9));
  EXPECT_EQ(0, mproc_dict_set(inner_copy, "new", x));
  // ...and changing it leaves the original alone.
  mproc_value_t *y;
  ASSERT_EQ(0, mproc_value_int(&y, 10));
  ASSERT_EQ(0, mproc_list_append(copy, y));
  EXPECT_EQ(3u, mproc_value_len(orig));
  EXPECT_EQ(4u, mproc_value_len(copy));
  EXPECT_FALSE(mproc_value_equal(orig, copy));
  EXPECT_EQ("{'key': [5, b'\\x00\\x01'], 'new': 9}", Repr(inner_copy));
  EXPECT_EQ("['text', {'key': [5, b'\\x00\\x01']}, (2.5, None)]",
            Repr(orig));
}

TEST(Copy, ScalarsKeepTheirValues) {
  ValuePtr f, c;
  ASSERT_EQ(0, mproc_value_float(f.out(), -0.0));
  ASSERT_EQ(0, mproc_value_copy(c.out(), f));
  double d;
  ASSERT_EQ(0, mproc_value_get_float(c, &d));
  EXPECT_TRUE(std::signbit(d));
  ValuePtr i, ic;
  ASSERT_EQ(0, mproc_value_int(i.out(), INT64_MIN));
  ASSERT_EQ(0, mproc_value_copy(ic.out(), i));
  int64_t x;
  ASSERT_EQ(0, mproc_value_get_int(ic, &x));
  EXPECT_EQ(INT64_MIN, x);
  EXPECT_EQ(mproc_value_encoded_size(i), mproc_value_encoded_size(ic));
}

// ---- Equality, with Python's rules.

static bool EqPacked(mproc_value_t *a, mproc_value_t *b) {
  bool r = mproc_value_equal(a, b);
  EXPECT_EQ(r, mproc_value_equal(b, a)) << "equality must be symmetric";
  mproc_value_free(a);
  mproc_value_free(b);
  return r;
}

static mproc_value_t *P(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mproc_value_t *v = nullptr;
  int rc = mproc_vpack(&v, fmt, ap);
  va_end(ap);
  EXPECT_EQ(0, rc) << fmt;
  return v;
}

TEST(Equal, IntFloatAndBoolCompareByValue) {
  EXPECT_TRUE(EqPacked(P("i", 1), P("d", 1.0)));    // 1 == 1.0
  EXPECT_TRUE(EqPacked(P("b", 1), P("i", 1)));      // True == 1
  EXPECT_TRUE(EqPacked(P("b", 1), P("d", 1.0)));    // True == 1.0
  EXPECT_TRUE(EqPacked(P("b", 0), P("d", -0.0)));   // False == -0.0
  EXPECT_TRUE(EqPacked(P("d", 0.0), P("d", -0.0)));  // 0.0 == -0.0
  EXPECT_FALSE(EqPacked(P("b", 1), P("i", 2)));     // True != 2
  EXPECT_FALSE(EqPacked(P("i", 1), P("d", 1.5)));
  EXPECT_FALSE(EqPacked(P("i", 1), P("s", "1")));
  EXPECT_FALSE(EqPacked(P("n"), P("i", 0)));        // None != 0
  EXPECT_TRUE(EqPacked(P("n"), P("n")));
  // 2**63 - 1 != float(2**63); -2**63 == float(-2**63).
  EXPECT_FALSE(EqPacked(P("L", INT64_MAX), P("d", 9223372036854775808.0)));
  EXPECT_TRUE(EqPacked(P("L", INT64_MIN), P("d", -9223372036854775808.0)));
  EXPECT_FALSE(EqPacked(P("L", INT64_MAX), P("d", INFINITY)));
  EXPECT_TRUE(EqPacked(P("d", INFINITY), P("d", INFINITY)));
}

TEST(Equal, NanIsUnequalToItself) {
  EXPECT_FALSE(EqPacked(P("d", NAN), P("d", NAN)));
  mproc_value_t *nan = P("d", NAN);
  EXPECT_FALSE(mproc_value_equal(nan, nan));
  mproc_value_free(nan);
  EXPECT_FALSE(EqPacked(P("[d]", NAN), P("[d]", NAN)));
}

TEST(Equal, ListIsNotTupleAndStrIsNotBytes) {
  EXPECT_FALSE(EqPacked(P("[i]", 1), P("(i)", 1)));
  EXPECT_FALSE(EqPacked(P("[]"), P("()")));
  EXPECT_FALSE(EqPacked(P("[i(i)]", 1, 2), P("[d(b)]", 1.0, 1)));
  EXPECT_TRUE(EqPacked(P("[i(i)]", 1, 1), P("[d(b)]", 1.0, 1)));
  EXPECT_FALSE(EqPacked(P("s", "a"), P("y#", "a", (size_t)1)));
  EXPECT_FALSE(EqPacked(P("[ii]", 1, 2), P("[i]", 1)));
  EXPECT_FALSE(EqPacked(P("[ii]", 1, 2), P("[ii]", 2, 1)));  // order matters
  EXPECT_FALSE(EqPacked(P("s#", "a\0b", (size_t)3), P("s#", "a\0c", (size_t)3)));
  EXPECT_TRUE(EqPacked(P("s#", "a\0b", (size_t)3), P("s#", "a\0b", (size_t)3)));
}

TEST(Equal, DictOrderIsIgnoredButKeysAndValuesCount) {
  EXPECT_TRUE(EqPacked(P("{s:i s:i}", "a", 1, "b", 2),
                       P("{s:i s:d}", "b", 2, "a", 1.0)));
  EXPECT_FALSE(EqPacked(P("{s:i s:i}", "a", 1, "b", 2),
                        P("{s:i s:i}", "a", 1, "c", 2)));
  EXPECT_FALSE(EqPacked(P("{s:i s:i}", "a", 1, "b", 2),
                        P("{s:i s:i}", "a", 1, "b", 3)));
  EXPECT_FALSE(EqPacked(P("{s:i}", "a", 1), P("{s:i s:i}", "a", 1, "b", 2)));
  EXPECT_TRUE(EqPacked(P("{}"), P("{}")));
  EXPECT_FALSE(EqPacked(P("{}"), P("[]")));
}

// ---- Error strings.

TEST(Errors, LibraryCodesHaveNamesAndMessages) {
  EXPECT_STREQ("success", mproc_strerror(0));
  EXPECT_STREQ("MPROC_OK", mproc_err_name(0));
  EXPECT_STREQ("values nested deeper than the limit",
               mproc_strerror(MPROC_EDEPTH));
  EXPECT_STREQ("MPROC_EDEPTH", mproc_err_name(MPROC_EDEPTH));
  EXPECT_STREQ("truncated frame: the stream ended inside a frame",
               mproc_strerror(MPROC_ETRUNCATED));
  EXPECT_STREQ("MPROC_ETRUNCATED", mproc_err_name(MPROC_ETRUNCATED));
  EXPECT_STREQ("MPROC_EOWNED", mproc_err_name(MPROC_EOWNED));
  EXPECT_STREQ("string is not valid UTF-8", mproc_strerror(MPROC_EUTF8));
  // System errors in the table use the table's names and words.
  EXPECT_EQ(-EPIPE, MPROC_EPIPE);
  EXPECT_STREQ("MPROC_EPIPE", mproc_err_name(-EPIPE));
  EXPECT_STREQ("broken pipe", mproc_strerror(-EPIPE));
  EXPECT_STREQ("MPROC_ETIMEDOUT", mproc_err_name(MPROC_ETIMEDOUT));
  // Library codes are outside every errno range.
  EXPECT_LT(MPROC_EOF, -4000);
  EXPECT_LT(MPROC_ETERMINATED, -4000);
}

TEST(Errors, SystemErrnoOutsideTheTableIsStillDescribed) {
  EXPECT_STREQ("Not a directory", mproc_strerror(-ENOTDIR));
  EXPECT_STREQ("No route to host", mproc_strerror(-EHOSTUNREACH));
  EXPECT_STREQ("MPROC_UNKNOWN", mproc_err_name(-ENOTDIR));
}

TEST(Errors, UnknownCodesAreNeverNull) {
  for (int code : {-3999, -4000, -4999, -100000, 1, 5, INT32_MIN, INT32_MAX}) {
    ASSERT_NE(nullptr, mproc_strerror(code)) << code;
    EXPECT_STREQ("unknown error", mproc_strerror(code)) << code;
    EXPECT_STREQ("MPROC_UNKNOWN", mproc_err_name(code)) << code;
  }
}
