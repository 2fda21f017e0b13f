// The protobuf encoding of values (value.h) and of the Call and Report
// messages (message.h), including hostile and truncated input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <unistd.h>
#include <sstream>
#include <string>
#include <vector>

#include <pb_decode.h>
#include <pb_encode.h>

#include "multiproc/frame.h"
#include "multiproc/value.h"
#include "serialization/frame_internal.h"
#include "serialization/message.h"
#include "tests/serialization/test_util.h"

using mproc_test::Repr;
using mproc_test::ValuePtr;

using Bytes = std::string;

static Bytes Encode(const mproc_value_t *v) {
  size_t n = mproc_value_encoded_size(v);
  Bytes b(n, '\0');
  int rc = mproc_value_encode(v, n ? &b[0] : nullptr, n);
  EXPECT_EQ((int)n, rc);
  return b;
}

// Decodes from a heap buffer of exactly the input's size, so ASan sees any
// read past the end.
static int Decode(const Bytes &b, mproc_value_t **out) {
  std::vector<unsigned char> exact(b.begin(), b.end());
  return mproc_value_decode(out, exact.empty() ? nullptr : exact.data(),
                            exact.size());
}

static mproc_value_t *P(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mproc_value_t *v = nullptr;
  EXPECT_EQ(0, mproc_vpack(&v, fmt, ap)) << fmt;
  va_end(ap);
  return v;
}

// ---- Hand-built protobuf.

static Bytes Varint(uint64_t v) {
  Bytes b;
  while (v >= 0x80) {
    b.push_back((char)(0x80 | (v & 0x7F)));
    v >>= 7;
  }
  b.push_back((char)v);
  return b;
}

static Bytes Tag(int field, int wire_type) {
  return Varint((uint64_t)(field << 3 | wire_type));
}

static Bytes VarintField(int field, uint64_t v) {
  return Tag(field, 0) + Varint(v);
}

static Bytes LdField(int field, const Bytes &body) {
  return Tag(field, 2) + Varint(body.size()) + body;
}

static uint64_t ZigZag(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

// mproc.wire.Value fields.
enum { kNone = 1, kBool, kInt, kFloat, kStr, kBytes, kList, kDict };

static Bytes IntValue(int64_t v) { return VarintField(kInt, ZigZag(v)); }
static Bytes StrValue(const Bytes &s) { return LdField(kStr, s); }
static Bytes ListValue(const std::vector<Bytes> &items, bool tuple = false) {
  Bytes body;
  for (const Bytes &it : items) body += LdField(1, it);
  if (tuple) body += VarintField(2, 1);
  return LdField(kList, body);
}
static Bytes Entry(const Bytes &key, const Bytes &value) {
  return LdField(1, key) + LdField(2, value);
}
static Bytes DictValue(const std::vector<Bytes> &entries) {
  Bytes body;
  for (const Bytes &e : entries) body += LdField(1, e);
  return LdField(kDict, body);
}

// `depth` lists nested in one another, the innermost empty ("[[...[]...]]"),
// written outside-in so 100,000 levels cost O(n), not O(n^2).
static Bytes NestedLists(size_t depth) {
  std::vector<uint64_t> value_size(depth + 1), list_size(depth + 1);
  value_size[1] = 2;  // 0x3a 0x00: Value{list_value: List{}}
  list_size[1] = 0;
  for (size_t k = 2; k <= depth; k++) {
    list_size[k] = 1 + Varint(value_size[k - 1]).size() + value_size[k - 1];
    value_size[k] = 1 + Varint(list_size[k]).size() + list_size[k];
  }
  Bytes out;
  out.reserve(value_size[depth]);
  for (size_t k = depth; k >= 2; k--) {
    out += Tag(kList, 2) + Varint(list_size[k]);
    out += Tag(1, 2) + Varint(value_size[k - 1]);
  }
  out += Tag(kList, 2) + Varint(0);
  EXPECT_EQ(value_size[depth], out.size());
  return out;
}

// `depth` dicts nested as {'k': {'k': ... {} ...}}, written outside-in.
static Bytes NestedDicts(size_t depth) {
  std::vector<uint64_t> value_size(depth + 1), dict_size(depth + 1),
      entry_size(depth + 1);
  value_size[1] = 2;
  for (size_t k = 2; k <= depth; k++) {
    entry_size[k] = 3 /* key "k" */ + 1 + Varint(value_size[k - 1]).size() +
                    value_size[k - 1];
    dict_size[k] = 1 + Varint(entry_size[k]).size() + entry_size[k];
    value_size[k] = 1 + Varint(dict_size[k]).size() + dict_size[k];
  }
  Bytes out;
  for (size_t k = depth; k >= 2; k--) {
    out += Tag(kDict, 2) + Varint(dict_size[k]);
    out += Tag(1, 2) + Varint(entry_size[k]);
    out += LdField(1, "k");
    out += Tag(2, 2) + Varint(value_size[k - 1]);
  }
  out += Tag(kDict, 2) + Varint(0);
  EXPECT_EQ(value_size[depth], out.size());
  return out;
}

// ---- Round trips.

// Encodes v, decodes it, and checks the copy is the same value with the
// same repr, the same kept size and byte-identical re-encoding.
static void ExpectRoundTrip(const mproc_value_t *v, bool nan_inside = false) {
  Bytes enc = Encode(v);
  ASSERT_EQ(mproc_value_encoded_size(v), enc.size());
  ValuePtr back;
  ASSERT_EQ(0, Decode(enc, back.out())) << Repr(v);
  if (!nan_inside) {
    EXPECT_TRUE(mproc_value_equal(v, back)) << Repr(v);
  }
  EXPECT_EQ(mproc_value_kind(v), mproc_value_kind(back));
  EXPECT_EQ(Repr(v), Repr(back));
  EXPECT_EQ(enc.size(), mproc_value_encoded_size(back)) << Repr(v);
  EXPECT_EQ(enc, Encode(back)) << Repr(v);
}

TEST(Codec, ScalarsRoundTrip) {
  ExpectRoundTrip(ValuePtr(P("n")));
  ExpectRoundTrip(ValuePtr(P("b", 1)));
  ExpectRoundTrip(ValuePtr(P("b", 0)));
  for (int64_t i : {(int64_t)0, (int64_t)1, (int64_t)-1, (int64_t)63,
                    (int64_t)64, (int64_t)-64, (int64_t)-65, (int64_t)1 << 31,
                    INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1}) {
    ExpectRoundTrip(ValuePtr(P("L", i)));
  }
  for (double d : {0.0, 1.5, -2.25e-300, 5e-324, 1.7976931348623157e308,
                   (double)INFINITY, -(double)INFINITY}) {
    ExpectRoundTrip(ValuePtr(P("d", d)));
  }
}

TEST(Codec, NegativeZeroAndNanSurvive) {
  ValuePtr nz(P("d", -0.0));
  ValuePtr back;
  ASSERT_EQ(0, Decode(Encode(nz), back.out()));
  double d;
  ASSERT_EQ(0, mproc_value_get_float(back, &d));
  EXPECT_TRUE(std::signbit(d));
  ValuePtr nan(P("d", NAN));
  ExpectRoundTrip(nan, /*nan_inside=*/true);
  ASSERT_EQ(0, Decode(Encode(nan), back.out()));
  ASSERT_EQ(0, mproc_value_get_float(back, &d));
  EXPECT_TRUE(std::isnan(d));
}

TEST(Codec, StrAndBytesRoundTrip) {
  ExpectRoundTrip(ValuePtr(P("s", "")));
  ExpectRoundTrip(ValuePtr(P("s", "héllo, 世界 🌍 \"'\\\n")));
  ExpectRoundTrip(ValuePtr(P("s#", "a\0b", (size_t)3)));
  std::string all;
  for (int i = 0; i < 256; i++) all.push_back((char)i);
  ExpectRoundTrip(ValuePtr(P("y#", all.data(), all.size())));
  ExpectRoundTrip(ValuePtr(P("y#", "", (size_t)0)));
  // A str of 200 bytes needs a two-byte length.
  std::string long_str(200, 'x');
  ExpectRoundTrip(ValuePtr(P("s", long_str.c_str())));
}

TEST(Codec, ContainersRoundTrip) {
  ExpectRoundTrip(ValuePtr(P("[]")));
  ExpectRoundTrip(ValuePtr(P("()")));
  ExpectRoundTrip(ValuePtr(P("{}")));
  ExpectRoundTrip(ValuePtr(P("(i)", 1)));
  ExpectRoundTrip(ValuePtr(P("[()[]{}]")));
  ExpectRoundTrip(ValuePtr(P("{s:i s:[] s:()}", "z", 1, "a", "m")));
  ExpectRoundTrip(ValuePtr(P("(nbids[i(s)]{s:y#,s:d})", 1, -7, 2.5, "héllo",
                             1, "x", "k", "ab\0c", (size_t)4, "f", 1e300)));
}

TEST(Codec, TupleStaysTupleAndListStaysList) {
  ValuePtr back;
  ASSERT_EQ(0, Decode(Encode(ValuePtr(P("(ii)", 1, 2))), back.out()));
  EXPECT_EQ(MPROC_TUPLE, mproc_value_kind(back));
  ASSERT_EQ(0, Decode(Encode(ValuePtr(P("[ii]", 1, 2))), back.out()));
  EXPECT_EQ(MPROC_LIST, mproc_value_kind(back));
}

TEST(Codec, DictOrderSurvives) {
  ValuePtr d(P("{s:i s:i s:i s:i}", "zeta", 1, "alpha", 2, "mu", 3, "beta", 4));
  ValuePtr back;
  ASSERT_EQ(0, Decode(Encode(d), back.out()));
  EXPECT_EQ("{'zeta': 1, 'alpha': 2, 'mu': 3, 'beta': 4}", Repr(back));
}

TEST(Codec, LargeDictRoundTrips) {
  ValuePtr d(P("{}"));
  for (int i = 0; i < 20000; i++) {
    mproc_value_t *v;
    ASSERT_EQ(0, mproc_value_int(&v, i));
    ASSERT_EQ(0, mproc_dict_set(d, ("k" + std::to_string(i)).c_str(), v));
  }
  ExpectRoundTrip(d);
}

TEST(Codec, SixtyFourMiBBytesRoundTrip) {
  const size_t kSize = (size_t)64 << 20;
  std::vector<unsigned char> data(kSize);
  std::mt19937 rng(64);
  for (size_t i = 0; i < kSize; i += 4) {
    uint32_t r = rng();
    memcpy(&data[i], &r, 4);
  }
  ValuePtr v;
  ASSERT_EQ(0, mproc_value_bytes(v.out(), data.data(), kSize));
  // tag + 4-byte varint length + payload
  ASSERT_EQ(1 + 4 + kSize, mproc_value_encoded_size(v));
  Bytes enc = Encode(v);
  ASSERT_EQ(1 + 4 + kSize, enc.size());
  EXPECT_EQ(0, memcmp(enc.data() + 5, data.data(), kSize));
  ValuePtr back;
  ASSERT_EQ(0, mproc_value_decode(back.out(), enc.data(), enc.size()));
  const void *p;
  size_t n;
  ASSERT_EQ(0, mproc_value_get_bytes(back, &p, &n));
  ASSERT_EQ(kSize, n);
  EXPECT_EQ(0, memcmp(p, data.data(), kSize));
}

TEST(Codec, EncodedSizeIsExactlyWhatEncodeWrites) {
  ValuePtr v(P("{s:[i d s y#] s:(n b)}", "a", 300, 0.5, "x", "yy", (size_t)2,
               "b", 1));
  size_t n = mproc_value_encoded_size(v);
  // One byte short: E2BIG, nothing claimed written.
  std::vector<unsigned char> buf(n + 16, 0xEE);
  EXPECT_EQ(MPROC_E2BIG, mproc_value_encode(v, buf.data(), n - 1));
  EXPECT_EQ(MPROC_E2BIG, mproc_value_encode(v, nullptr, 0));
  // Exactly n: writes n bytes. A bigger buffer: still n, the rest untouched.
  EXPECT_EQ((int)n, mproc_value_encode(v, buf.data(), buf.size()));
  for (size_t i = n; i < buf.size(); i++) EXPECT_EQ(0xEE, buf[i]) << i;
  Bytes exact(n, '\0');
  EXPECT_EQ((int)n, mproc_value_encode(v, &exact[0], n));
  EXPECT_EQ(0, memcmp(exact.data(), buf.data(), n));
  EXPECT_EQ(MPROC_EINVAL, mproc_value_encode(nullptr, buf.data(), n));
  EXPECT_EQ(0u, mproc_value_encoded_size(nullptr));
}

TEST(Codec, EncodedSizeStaysExactWhileBuilding) {
  // Sizes are kept up to date as values are built and changed; check after
  // every step, across varint length boundaries (127/128 bytes, ...).
  ValuePtr d(P("{}"));
  ValuePtr l(P("[]"));
  for (int i = 0; i < 300; i++) {
    mproc_value_t *s;
    ASSERT_EQ(0, mproc_value_str(&s, std::string(i, 'q').c_str()));
    ASSERT_EQ(0, mproc_list_append(l, s));
    mproc_value_t *x;
    ASSERT_EQ(0, mproc_value_int(&x, (int64_t)1 << (i % 64)));
    ASSERT_EQ(0, mproc_dict_set(d, ("k" + std::to_string(i % 50)).c_str(), x));
    Bytes a = Encode(l), b = Encode(d);  // Encode checks the size
    ASSERT_EQ(mproc_value_encoded_size(l), a.size());
    ASSERT_EQ(mproc_value_encoded_size(d), b.size());
  }
  ExpectRoundTrip(l);
  ExpectRoundTrip(d);
}

// ---- Depth.

TEST(CodecDepth, HandBuiltNestingMatchesTheEncoder) {
  // The helper's bytes for 3 levels are what the encoder writes for [[[]]].
  EXPECT_EQ(Encode(ValuePtr(P("[[[]]]"))), NestedLists(3));
  EXPECT_EQ(Encode(ValuePtr(P("{s:{s:{}}}", "k", "k"))), NestedDicts(3));
}

TEST(CodecDepth, SixtyFourDeepDecodes) {
  std::string fmt = std::string(MPROC_MAX_DEPTH, '[') +
                    std::string(MPROC_MAX_DEPTH, ']');
  ValuePtr v(P(fmt.c_str()));
  ASSERT_EQ(NestedLists(MPROC_MAX_DEPTH), Encode(v));
  ExpectRoundTrip(v);
  ValuePtr back;
  ASSERT_EQ(0, Decode(NestedDicts(MPROC_MAX_DEPTH), back.out()));
}

TEST(CodecDepth, SixtyFiveDeepIsEdepth) {
  ValuePtr back;
  EXPECT_EQ(MPROC_EDEPTH, Decode(NestedLists(MPROC_MAX_DEPTH + 1), back.out()));
  EXPECT_EQ(nullptr, back.get());
  EXPECT_EQ(MPROC_EDEPTH, Decode(NestedDicts(MPROC_MAX_DEPTH + 1), back.out()));
  // 65 levels with a tuple somewhere in the middle.
  Bytes t = NestedLists(32);
  Bytes v = ListValue({t}, /*tuple=*/true);
  for (int i = 0; i < 32; i++) v = ListValue({IntValue(i), v});
  EXPECT_EQ(MPROC_EDEPTH, Decode(v, back.out()));
}

TEST(CodecDepth, HundredThousandDeepIsEdepthWithoutStackOverflow) {
  ValuePtr back;
  EXPECT_EQ(MPROC_EDEPTH, Decode(NestedLists(100000), back.out()));
  EXPECT_EQ(nullptr, back.get());
  EXPECT_EQ(MPROC_EDEPTH, Decode(NestedDicts(100000), back.out()));
}

// ---- Malformed input.

TEST(CodecMalformed, EveryTruncationIsAnError) {
  ValuePtr v(P("{s:[i d s y# (n b)] s:{s:s}}", "key", -300, 2.5, "héllo",
               "\x00\xff", (size_t)2, 1, "nested", "k", "v"));
  Bytes enc = Encode(v);
  ASSERT_GT(enc.size(), 40u);
  for (size_t len = 0; len < enc.size(); len++) {
    ValuePtr back;
    int rc = Decode(enc.substr(0, len), back.out());
    EXPECT_LT(rc, 0) << "prefix of " << len << " bytes decoded as "
                     << Repr(back);
    EXPECT_EQ(nullptr, back.get()) << len;
  }
  ValuePtr back;
  EXPECT_EQ(0, Decode(enc, back.out()));
}

TEST(CodecMalformed, EveryTruncationOfEachKindIsAnError) {
  const char *fmts[] = {"n", "b", "i", "d", "s", "y#", "[i]", "(i)", "{s:i}"};
  for (const char *fmt : fmts) {
    ValuePtr v;
    if (!strcmp(fmt, "s")) v.v = P(fmt, "abc");
    else if (!strcmp(fmt, "y#")) v.v = P(fmt, "abc", (size_t)3);
    else if (!strcmp(fmt, "d")) v.v = P(fmt, 1.5);
    else if (!strcmp(fmt, "{s:i}")) v.v = P(fmt, "k", 300);
    else v.v = P(fmt, 300);
    Bytes enc = Encode(v);
    for (size_t len = 0; len < enc.size(); len++) {
      ValuePtr back;
      EXPECT_LT(Decode(enc.substr(0, len), back.out()), 0)
          << fmt << " cut at " << len;
    }
  }
}

TEST(CodecMalformed, EmptyInputIsMalformed) {
  ValuePtr back;
  EXPECT_EQ(MPROC_EMALFORMED, mproc_value_decode(back.out(), nullptr, 0));
  EXPECT_EQ(MPROC_EMALFORMED, mproc_value_decode(back.out(), "", 0));
  EXPECT_EQ(MPROC_EINVAL, mproc_value_decode(back.out(), nullptr, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_value_decode(nullptr, "", 0));
}

// Whatever a decode accepts must be a consistent value: its kept size is
// what the encoder writes, and it decodes again to the same thing.
static void ExpectConsistentIfAccepted(const Bytes &input, int *accepted) {
  ValuePtr back;
  int rc = Decode(input, back.out());
  if (rc < 0) {
    EXPECT_EQ(nullptr, back.get());
    EXPECT_TRUE(rc == MPROC_EMALFORMED || rc == MPROC_EDEPTH ||
                rc == MPROC_EUTF8)
        << rc;
    return;
  }
  ASSERT_EQ(0, rc);
  ++*accepted;
  Bytes again = Encode(back);
  ASSERT_EQ(mproc_value_encoded_size(back), again.size());
  ValuePtr twice;
  ASSERT_EQ(0, Decode(again, twice.out()));
  EXPECT_EQ(Repr(back), Repr(twice));
  EXPECT_EQ(again, Encode(twice));
}

TEST(CodecMalformed, RandomGarbageNeverCrashes) {
  std::mt19937 rng(20240601);
  int accepted = 0;
  for (int i = 0; i < 20000; i++) {
    Bytes b(rng() % 96, '\0');
    for (char &c : b) c = (char)rng();
    ExpectConsistentIfAccepted(b, &accepted);
  }
  // Garbage biased towards valid tags and small lengths reaches deeper.
  const unsigned char tags[] = {0x08, 0x10, 0x18, 0x21, 0x2a, 0x32,
                                0x3a, 0x42, 0x0a, 0x12, 0x00, 0x7f};
  for (int i = 0; i < 20000; i++) {
    Bytes b;
    size_t n = rng() % 64;
    for (size_t k = 0; k < n; k++)
      b.push_back(rng() % 2 ? (char)tags[rng() % sizeof tags]
                            : (char)(rng() % 8));
    ExpectConsistentIfAccepted(b, &accepted);
  }
  EXPECT_GT(accepted, 0);  // some garbage is valid protobuf
}

TEST(CodecMalformed, MutatedEncodingsNeverCrash) {
  ValuePtr v(P("{s:[i d s y# (n b)] s:{s:s} s:[[[]]]}", "key", -300, 2.5,
               "héllo", "\x00\xff", (size_t)2, 1, "nested", "k", "v", "deep"));
  const Bytes enc = Encode(v);
  std::mt19937 rng(7);
  int accepted = 0;
  for (int i = 0; i < 20000; i++) {
    Bytes b = enc;
    int flips = 1 + rng() % 3;
    for (int k = 0; k < flips; k++) {
      size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0:
          b[at] = (char)(b[at] ^ (1u << (rng() % 8)));
          break;
        case 1:
          b[at] = (char)rng();
          break;
        case 2:
          b.erase(at, 1 + rng() % 4);
          break;
        default:
          b.insert(at, 1, (char)rng());
          break;
      }
      if (b.empty()) break;
    }
    ExpectConsistentIfAccepted(b, &accepted);
  }
  EXPECT_GT(accepted, 0);
}

TEST(CodecMalformed, ValueWithTwoKindsIsMalformed) {
  ValuePtr back;
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(VarintField(kNone, 1) + IntValue(2), back.out()));
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(VarintField(kBool, 1) + IntValue(2), back.out()));
  EXPECT_EQ(MPROC_EMALFORMED, Decode(StrValue("a") + IntValue(2), back.out()));
  EXPECT_EQ(MPROC_EMALFORMED, Decode(IntValue(2) + StrValue("a"), back.out()));
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(StrValue("a") + LdField(kBytes, "b"), back.out()));
  EXPECT_EQ(MPROC_EMALFORMED, Decode(StrValue("a") + StrValue("b"), back.out()));
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(ListValue({IntValue(1)}) + DictValue({}), back.out()));
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(ListValue({}) + ListValue({}), back.out()));
  Bytes f = Tag(kFloat, 1) + Bytes(8, '\0');
  EXPECT_EQ(MPROC_EMALFORMED, Decode(f + VarintField(kNone, 1), back.out()));
  // Inside a container too.
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(ListValue({IntValue(1) + StrValue("x")}), back.out()));
  EXPECT_EQ(nullptr, back.get());
  // An item with no kind at all.
  EXPECT_EQ(MPROC_EMALFORMED, Decode(ListValue({""}), back.out()));
}

TEST(CodecMalformed, HandBuiltValuesDecode) {
  // The same bytes that protobuf writes decode to the expected values.
  ValuePtr back;
  ASSERT_EQ(0, Decode(ListValue({IntValue(-1), StrValue("é")}, true),
                      back.out()));
  EXPECT_EQ("(-1, 'é')", Repr(back));
  ASSERT_EQ(0, Decode(DictValue({Entry("a", IntValue(1)),
                                 Entry("b", VarintField(kNone, 1))}),
                      back.out()));
  EXPECT_EQ("{'a': 1, 'b': None}", Repr(back));
}

TEST(CodecMalformed, DictWithRepeatedKeyIsMalformed) {
  ValuePtr back;
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(DictValue({Entry("a", IntValue(1)), Entry("a", IntValue(2))}),
                   back.out()));
  EXPECT_EQ(nullptr, back.get());
  // Also once the dict is big enough to be indexed.
  std::vector<Bytes> entries;
  for (int i = 0; i < 100; i++)
    entries.push_back(Entry("k" + std::to_string(i), IntValue(i)));
  entries.push_back(Entry("k42", IntValue(0)));
  EXPECT_EQ(MPROC_EMALFORMED, Decode(DictValue(entries), back.out()));
}

TEST(CodecMalformed, EntryWithoutKeyOrValueIsMalformed) {
  ValuePtr back;
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(DictValue({LdField(2, IntValue(1))}), back.out()));
  EXPECT_EQ(MPROC_EMALFORMED, Decode(DictValue({LdField(1, "k")}), back.out()));
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(DictValue({Entry("k", IntValue(1)) + LdField(1, "j")}),
                   back.out()));
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(DictValue({Entry("k", IntValue(1)) + LdField(2, IntValue(2))}),
                   back.out()));
}

TEST(CodecMalformed, LengthLargerThanTheBufferIsMalformed) {
  ValuePtr back;
  // str claiming 100 bytes, 3 present.
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(Tag(kStr, 2) + Varint(100) + "abc", back.out()));
  // bytes claiming ~2^63.
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(Tag(kBytes, 2) + Varint((uint64_t)1 << 62) + "abc",
                   back.out()));
  // A list whose body claims more than there is.
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(Tag(kList, 2) + Varint(10) + LdField(1, IntValue(1)),
                   back.out()));
  // An item claiming more than its list.
  Bytes item = Tag(1, 2) + Varint(50) + IntValue(1);
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(Tag(kList, 2) + Varint(item.size()) + item, back.out()));
  // A varint that never ends.
  EXPECT_EQ(MPROC_EMALFORMED,
            Decode(Tag(kInt, 0) + Bytes(11, '\xff'), back.out()));
  EXPECT_EQ(nullptr, back.get());
}

TEST(CodecMalformed, InvalidUtf8InStrIsEutf8) {
  ValuePtr back;
  for (const Bytes &bad : {Bytes("\xC0\xAF"), Bytes("\xED\xA0\x80"),
                           Bytes("ab\xE4\xB8"), Bytes("\xF4\x90\x80\x80")}) {
    EXPECT_EQ(MPROC_EUTF8, Decode(StrValue(bad), back.out()));
    EXPECT_EQ(nullptr, back.get());
    EXPECT_EQ(MPROC_EUTF8, Decode(ListValue({IntValue(1), StrValue(bad)}),
                                  back.out()));
    EXPECT_EQ(MPROC_EUTF8,
              Decode(DictValue({Entry(bad, IntValue(1))}), back.out()));
    // The same bytes as bytes are fine.
    ASSERT_EQ(0, Decode(LdField(kBytes, bad), back.out()));
    EXPECT_EQ(MPROC_BYTES, mproc_value_kind(back));
  }
}

// ---- Call and Report (message.h).

static Bytes OnlyFrame(const mproc__buf_t &buf) {
  const uint8_t *payload = nullptr;
  size_t len = 0;
  ptrdiff_t used = mproc__frame_next(buf.p, buf.len, MPROC_FRAME_MAX_DEFAULT,
                                     &payload, &len);
  EXPECT_EQ((ptrdiff_t)buf.len, used);
  if (used <= 0) return Bytes();
  EXPECT_EQ(buf.len - MPROC_FRAME_HEADER, len);
  return Bytes((const char *)payload, len);
}

TEST(Wire, CallRoundTrips) {
  ValuePtr args(P("(i s [d] n)", 1, "x", 2.5));
  ValuePtr kwargs(P("{s:n s:y# s:{s:i}}", "a", "b", "\x00\x01", (size_t)2,
                    "c", "d", 4));
  mproc__call_out_t out = {"worker.fn", args, kwargs, 42};
  mproc__buf_t buf = {};
  ASSERT_EQ(0, mproc__call_encode_frame(&buf, &out));
  Bytes payload = OnlyFrame(buf);
  mproc__call_in_t in;
  ASSERT_EQ(0, mproc__call_decode(&in, payload.data(), payload.size()));
  EXPECT_STREQ("worker.fn", in.target);
  EXPECT_EQ(42u, in.id);
  EXPECT_EQ(MPROC_TUPLE, mproc_value_kind(in.args));
  EXPECT_TRUE(mproc_value_equal(args, in.args));
  EXPECT_EQ(Repr(args), Repr(in.args));
  EXPECT_EQ(Repr(kwargs), Repr(in.kwargs));
  mproc__call_in_clear(&in);
  EXPECT_EQ(nullptr, in.target);
  mproc__buf_free(&buf);
}

TEST(Wire, CallDefaultsWhenFieldsAreAbsent) {
  mproc__call_out_t out = {nullptr, nullptr, nullptr, 0};
  mproc__buf_t buf = {};
  ASSERT_EQ(0, mproc__call_encode_frame(&buf, &out));
  EXPECT_EQ((size_t)MPROC_FRAME_HEADER, buf.len);  // an empty message
  mproc__call_in_t in;
  ASSERT_EQ(0, mproc__call_decode(&in, buf.p + MPROC_FRAME_HEADER, 0));
  EXPECT_STREQ("", in.target);
  EXPECT_EQ("()", Repr(in.args));
  EXPECT_EQ("{}", Repr(in.kwargs));
  EXPECT_EQ(0u, in.id);
  mproc__call_in_clear(&in);
  mproc__buf_free(&buf);
}

TEST(Wire, CallArgsListArriveAsTupleAndBigIdSurvives) {
  ValuePtr args(P("[i i]", 1, 2));
  mproc__call_out_t out = {"", args, nullptr, UINT64_MAX};
  mproc__buf_t buf = {};
  ASSERT_EQ(0, mproc__call_encode_frame(&buf, &out));
  Bytes payload = OnlyFrame(buf);
  mproc__call_in_t in;
  ASSERT_EQ(0, mproc__call_decode(&in, payload.data(), payload.size()));
  EXPECT_EQ("(1, 2)", Repr(in.args));
  EXPECT_EQ(UINT64_MAX, in.id);
  mproc__call_in_clear(&in);
  mproc__buf_free(&buf);
}

TEST(Wire, CallEncodeRefusesWrongKinds) {
  ValuePtr d(P("{}")), t(P("()"));
  mproc__buf_t buf = {};
  mproc__call_out_t bad_args = {"f", d, nullptr, 1};
  EXPECT_EQ(MPROC_ETYPE, mproc__call_encode_frame(&buf, &bad_args));
  mproc__call_out_t bad_kwargs = {"f", t, t, 1};
  EXPECT_EQ(MPROC_ETYPE, mproc__call_encode_frame(&buf, &bad_kwargs));
  EXPECT_EQ(0u, buf.len);
  EXPECT_EQ(MPROC_EINVAL, mproc__call_encode_frame(&buf, nullptr));
  mproc__buf_free(&buf);
}

TEST(Wire, CallDecodeRefusesBadInput) {
  mproc__call_in_t in;
  // NUL inside the target name.
  Bytes nul_target = LdField(1, Bytes("a\0b", 3));
  EXPECT_EQ(MPROC_EMALFORMED,
            mproc__call_decode(&in, nul_target.data(), nul_target.size()));
  EXPECT_EQ(nullptr, in.args);  // cleared on failure
  // A repeated kwarg.
  Bytes rep = LdField(3, Entry("a", IntValue(1))) +
              LdField(3, Entry("a", IntValue(2)));
  EXPECT_EQ(MPROC_EMALFORMED, mproc__call_decode(&in, rep.data(), rep.size()));
  // Two targets.
  Bytes two = LdField(1, "f") + LdField(1, "g");
  EXPECT_EQ(MPROC_EMALFORMED, mproc__call_decode(&in, two.data(), two.size()));
  // Invalid UTF-8 in an argument.
  Bytes utf = LdField(2, StrValue("\xC0\x80"));
  EXPECT_EQ(MPROC_EUTF8, mproc__call_decode(&in, utf.data(), utf.size()));
  // Arguments sit inside the args tuple: a 64-deep argument is too deep.
  Bytes deep = LdField(2, NestedLists(MPROC_MAX_DEPTH));
  EXPECT_EQ(MPROC_EDEPTH, mproc__call_decode(&in, deep.data(), deep.size()));
  Bytes ok = LdField(2, NestedLists(MPROC_MAX_DEPTH - 1));
  ASSERT_EQ(0, mproc__call_decode(&in, ok.data(), ok.size()));
  mproc__call_in_clear(&in);
  Bytes deep_kw = LdField(3, Entry("k", NestedLists(MPROC_MAX_DEPTH)));
  EXPECT_EQ(MPROC_EDEPTH,
            mproc__call_decode(&in, deep_kw.data(), deep_kw.size()));
  Bytes very_deep = LdField(2, NestedLists(100000));
  EXPECT_EQ(MPROC_EDEPTH,
            mproc__call_decode(&in, very_deep.data(), very_deep.size()));
}

TEST(Wire, CallEveryTruncationIsAnErrorOrAPrefixMessage) {
  ValuePtr args(P("(i s)", 1, "x"));
  ValuePtr kwargs(P("{s:i}", "a", 2));
  mproc__call_out_t out = {"fn", args, kwargs, 7};
  mproc__buf_t buf = {};
  ASSERT_EQ(0, mproc__call_encode_frame(&buf, &out));
  Bytes payload = OnlyFrame(buf);
  mproc__buf_free(&buf);
  // A Call is a sequence of fields, so a cut between two fields is a valid
  // shorter Call; a cut inside a field must be refused.
  std::vector<size_t> boundaries;
  for (size_t len = 0; len <= payload.size(); len++) {
    std::vector<char> exact(payload.begin(), payload.begin() + len);
    mproc__call_in_t in;
    int rc = mproc__call_decode(&in, exact.data(), len);
    if (rc == 0) {
      boundaries.push_back(len);
      mproc__call_in_clear(&in);
    } else {
      EXPECT_EQ(MPROC_EMALFORMED, rc) << len;
    }
  }
  // fn | arg 1 | arg 'x' | kwarg | id: five fields, six boundaries.
  EXPECT_EQ(6u, boundaries.size());
  EXPECT_EQ(payload.size(), boundaries.back());
}

TEST(Wire, ReportsRoundTrip) {
  mproc__report_t entered = {};
  entered.kind = MPROC__REPORT_ENTERED;
  entered.id = 9;
  entered.t_ns = 123456789012345ull;
  ValuePtr result(P("{s:[i s]}", "r", 1, "ü"));
  const char msg[] = "boom\0tail";
  mproc__report_t returned = {};
  returned.kind = MPROC__REPORT_RETURNED;
  returned.id = UINT64_MAX;
  returned.t_ns = UINT64_MAX;
  returned.code = -5;
  returned.message = (char *)msg;
  returned.message_len = sizeof msg - 1;
  returned.result = result;
  returned.t_enter_ns = 1;
  mproc__buf_t buf = {};
  ASSERT_EQ(0, mproc__report_encode_frame(&buf, &entered));
  size_t first = buf.len;
  ASSERT_EQ(0, mproc__report_encode_frame(&buf, &returned));

  const uint8_t *payload;
  size_t len;
  ptrdiff_t used = mproc__frame_next(buf.p, buf.len, 1 << 20, &payload, &len);
  ASSERT_EQ((ptrdiff_t)first, used);
  mproc__report_t r;
  ASSERT_EQ(0, mproc__report_decode(&r, payload, len));
  EXPECT_EQ(MPROC__REPORT_ENTERED, r.kind);
  EXPECT_EQ(9u, r.id);
  EXPECT_EQ(123456789012345ull, r.t_ns);
  EXPECT_EQ(0, r.code);
  EXPECT_EQ(nullptr, r.message);
  EXPECT_EQ(nullptr, r.result);
  EXPECT_EQ(0u, r.t_enter_ns);
  mproc__report_clear(&r);

  used = mproc__frame_next(buf.p + first, buf.len - first, 1 << 20, &payload,
                           &len);
  ASSERT_EQ((ptrdiff_t)(buf.len - first), used);
  ASSERT_EQ(0, mproc__report_decode(&r, payload, len));
  EXPECT_EQ(MPROC__REPORT_RETURNED, r.kind);
  EXPECT_EQ(UINT64_MAX, r.id);
  EXPECT_EQ(UINT64_MAX, r.t_ns);
  EXPECT_EQ(-5, r.code);
  ASSERT_EQ(sizeof msg - 1, r.message_len);
  EXPECT_EQ(0, memcmp(msg, r.message, sizeof msg - 1));
  EXPECT_EQ('\0', r.message[r.message_len]);
  EXPECT_EQ(1u, r.t_enter_ns);
  EXPECT_EQ(Repr(result), Repr(r.result));
  EXPECT_TRUE(mproc_value_equal(result, r.result));
  mproc__report_clear(&r);
  EXPECT_EQ(nullptr, r.result);
  mproc__buf_free(&buf);
}

TEST(Wire, ReportCodeExtremesAndEmptyMessage) {
  for (int32_t code : {INT32_MIN, -1, 0, 1, INT32_MAX}) {
    mproc__report_t rep = {};
    rep.kind = MPROC__REPORT_RETURNED;
    rep.code = code;
    rep.message = (char *)"";
    rep.message_len = 0;
    mproc__buf_t buf = {};
    ASSERT_EQ(0, mproc__report_encode_frame(&buf, &rep));
    Bytes p = OnlyFrame(buf);
    mproc__report_t r;
    ASSERT_EQ(0, mproc__report_decode(&r, p.data(), p.size()));
    EXPECT_EQ(code, r.code);
    ASSERT_NE(nullptr, r.message);  // present, empty
    EXPECT_EQ(0u, r.message_len);
    mproc__report_clear(&r);
    mproc__buf_free(&buf);
  }
}

// Found by //tests/fuzz:report_fuzz: the encoder wrote the CPU times only
// along with a non-zero maxrss_kb, so a Report with times and no peak RSS
// lost them in a decode-encode round trip.
TEST(Wire, ReportKeepsCpuTimesWithoutMaxrss) {
  mproc__report_t rep = {};
  rep.kind = MPROC__REPORT_RETURNED;
  rep.utime_us = 5;
  rep.stime_us = 7;
  mproc__buf_t buf = {};
  ASSERT_EQ(0, mproc__report_encode_frame(&buf, &rep));
  Bytes p = OnlyFrame(buf);
  mproc__report_t r;
  ASSERT_EQ(0, mproc__report_decode(&r, p.data(), p.size()));
  EXPECT_EQ(5u, r.utime_us);
  EXPECT_EQ(7u, r.stime_us);
  mproc__report_clear(&r);
  mproc__buf_free(&buf);
}

TEST(Wire, ReportDecodeRefusesBadInput) {
  mproc__report_t r;
  Bytes no_kind = VarintField(2, 5);
  EXPECT_EQ(MPROC_EMALFORMED,
            mproc__report_decode(&r, no_kind.data(), no_kind.size()));
  Bytes unknown_kind = VarintField(1, 7);  // past EXITED
  EXPECT_EQ(MPROC_EMALFORMED,
            mproc__report_decode(&r, unknown_kind.data(), unknown_kind.size()));
  Bytes zero_kind = VarintField(1, 0);
  EXPECT_EQ(MPROC_EMALFORMED,
            mproc__report_decode(&r, zero_kind.data(), zero_kind.size()));
  Bytes two_results = VarintField(1, 2) + LdField(6, IntValue(1)) +
                      LdField(6, IntValue(2));
  EXPECT_EQ(MPROC_EMALFORMED,
            mproc__report_decode(&r, two_results.data(), two_results.size()));
  Bytes two_messages = VarintField(1, 2) + LdField(5, "a") + LdField(5, "b");
  EXPECT_EQ(MPROC_EMALFORMED, mproc__report_decode(&r, two_messages.data(),
                                                   two_messages.size()));
  EXPECT_EQ(nullptr, r.message);
  Bytes deep_result = VarintField(1, 2) + LdField(6, NestedLists(65));
  EXPECT_EQ(MPROC_EDEPTH,
            mproc__report_decode(&r, deep_result.data(), deep_result.size()));
  Bytes ok = VarintField(1, 2) + LdField(6, NestedLists(64));
  ASSERT_EQ(0, mproc__report_decode(&r, ok.data(), ok.size()));
  mproc__report_clear(&r);
}

// ---- Why a decode failed: MPROC_EMALFORMED leaves its reason, nanopb's
// errmsg or the codec's own, in mproc_last_error().

// What decoding b as a `kind` message left: "EMALFORMED: <detail>", or the
// code's name when it is another.
static std::string Why(const char *kind, const Bytes &b) {
  std::vector<unsigned char> exact(b.begin(), b.end());
  const unsigned char *p = exact.empty() ? nullptr : exact.data();
  int rc;
  if (strcmp(kind, "Call") == 0) {
    mproc__call_in_t in;
    rc = mproc__call_decode(&in, p, exact.size());
    if (rc == 0) mproc__call_in_clear(&in);
  } else if (strcmp(kind, "Report") == 0) {
    mproc__report_t r;
    rc = mproc__report_decode(&r, p, exact.size());
    if (rc == 0) mproc__report_clear(&r);
  } else {
    ValuePtr back;
    rc = mproc_value_decode(back.out(), p, exact.size());
  }
  if (rc != MPROC_EMALFORMED) return mproc_err_name(rc);
  return std::string("EMALFORMED: ") + mproc_last_error();
}

// An int field whose varint never ends within ten bytes.
static Bytes OverflowingInt() {
  return Tag(kInt, 0) + Bytes(10, '\xFF') + Bytes(1, '\x01');
}

TEST(CodecWhy, NanopbsReasonIsKept) {
  EXPECT_EQ("EMALFORMED: malformed Value: varint overflow",
            Why("Value", OverflowingInt()));
  EXPECT_EQ("EMALFORMED: malformed Value: end-of-stream",
            Why("Value", Tag(kInt, 0) + Bytes(1, '\x80')));
  EXPECT_EQ("EMALFORMED: malformed Value: invalid wire_type",
            Why("Value", Tag(15, 7)));  // an unknown field, wire type 7
  EXPECT_EQ("EMALFORMED: malformed Value: parent stream too short",
            Why("Value", Tag(kStr, 2) + Varint(5) + "ab"));
  // Call.id (a varint) sent length-delimited: nanopb's generated decoder.
  EXPECT_EQ("EMALFORMED: malformed Call: wrong wire type",
            Why("Call", LdField(4, "x")));
}

TEST(CodecWhy, TheCodecsOwnReasonIsKept) {
  EXPECT_EQ("EMALFORMED: malformed Value: two kinds in one Value",
            Why("Value", IntValue(1) + StrValue("a")));
  EXPECT_EQ("EMALFORMED: malformed Value: a Value with no kind",
            Why("Value", ListValue({""})));
  EXPECT_EQ(
      "EMALFORMED: malformed Value: a Value field with the wrong wire type",
      Why("Value", Tag(kInt, 2) + Varint(0)));
  EXPECT_EQ("EMALFORMED: malformed Value: repeated dict key",
            Why("Value", DictValue({Entry("k", IntValue(1)),
                                    Entry("k", IntValue(2))})));
  EXPECT_EQ("EMALFORMED: malformed Value: an Entry without a value",
            Why("Value", DictValue({LdField(1, "k")})));
  EXPECT_EQ("EMALFORMED: malformed Call: Call.target given twice",
            Why("Call", LdField(1, "f") + LdField(1, "g")));
  EXPECT_EQ("EMALFORMED: malformed Call: a NUL inside Call.target",
            Why("Call", LdField(1, Bytes("a\0b", 3))));
  EXPECT_EQ("EMALFORMED: malformed Report: a Report without a known kind",
            Why("Report", VarintField(2, 7)));
  Bytes returned = VarintField(1, MPROC__REPORT_RETURNED);
  EXPECT_EQ("EMALFORMED: malformed Report: Report.result given twice",
            Why("Report", returned + LdField(6, IntValue(1)) +
                              LdField(6, IntValue(2))));
}

// A reason from deep inside a Call or Report survives nanopb's generated
// decoder and its callbacks: the first error wins, as nanopb keeps it.
TEST(CodecWhy, ReasonsFromInsideCallbacksSurvive) {
  EXPECT_EQ("EMALFORMED: malformed Call: varint overflow",
            Why("Call", LdField(2, ListValue({OverflowingInt()}))));
  EXPECT_EQ("EMALFORMED: malformed Call: two kinds in one Value",
            Why("Call", LdField(3, Entry("k", IntValue(1) + IntValue(2)))));
  EXPECT_EQ("EMALFORMED: malformed Call: repeated dict key",
            Why("Call", LdField(3, Entry("a", IntValue(1))) +
                            LdField(3, Entry("a", IntValue(2)))));
  Bytes returned = VarintField(1, MPROC__REPORT_RETURNED);
  EXPECT_EQ("EMALFORMED: malformed Report: varint overflow",
            Why("Report", returned + LdField(13, OverflowingInt())));
  // ItemError is itself decoded by nanopb inside Report's callback.
  EXPECT_EQ("EMALFORMED: malformed Report: ItemError.message given twice",
            Why("Report", returned + LdField(12, LdField(4, "a") +
                                                     LdField(4, "b"))));
  EXPECT_EQ("EMALFORMED: malformed Report: wrong wire type",
            Why("Report", returned + LdField(12, LdField(1, "x"))));
}

TEST(CodecWhy, OtherCodesAreNotCalledMalformed) {
  EXPECT_EQ("MPROC_EUTF8", Why("Value", StrValue("\xC0\x80")));
  EXPECT_EQ("MPROC_EDEPTH",
            Why("Call", LdField(2, NestedLists(MPROC_MAX_DEPTH))));
}

// Debian's libprotobuf-nanopb.a was compiled without PB_NO_ERRMSG and
// without PB_BUFFER_ONLY: its streams have the errmsg field our headers
// give them, at the same place. Were the layouts to differ, the library's
// pb_istream_from_buffer would leave errmsg unset (or write past it, which
// ASan reports), and its decoder's message would not reach us.
TEST(Nanopb, LibraryFillsTheStreamLayoutOurHeadersDescribe) {
  const pb_byte_t bad[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                           0xFF, 0xFF, 0xFF, 0xFF, 0x01};
  pb_istream_t in;
  memset(&in, 0xA5, sizeof in);
  in = pb_istream_from_buffer(bad, sizeof bad);
  EXPECT_EQ(static_cast<const void *>(bad), in.state);
  EXPECT_EQ(sizeof bad, in.bytes_left);
  EXPECT_EQ(nullptr, in.errmsg);
  uint64_t v;
  EXPECT_FALSE(pb_decode_varint(&in, &v));
  EXPECT_STREQ("varint overflow", in.errmsg);

  pb_byte_t none[1];
  pb_ostream_t out;
  memset(&out, 0xA5, sizeof out);
  out = pb_ostream_from_buffer(none, 0);
  EXPECT_EQ(0u, out.max_size);
  EXPECT_EQ(0u, out.bytes_written);
  EXPECT_EQ(nullptr, out.errmsg);
  EXPECT_FALSE(pb_encode_varint(&out, 300));
  EXPECT_STREQ("stream full", out.errmsg);
}

// ---- mproc__frame_next.

TEST(FrameNext, PartialBuffersYieldZeroUntilAFrameIsWhole) {
  ValuePtr args(P("(s)", "hello"));
  mproc__call_out_t c1 = {"a", args, nullptr, 1};
  mproc__call_out_t c2 = {"b", nullptr, nullptr, 2};
  mproc__buf_t buf = {};
  ASSERT_EQ(0, mproc__call_encode_frame(&buf, &c1));
  size_t first = buf.len;
  ASSERT_EQ(0, mproc__call_encode_frame(&buf, &c2));
  // Header says the payload length, little-endian.
  EXPECT_EQ(first - MPROC_FRAME_HEADER, mproc__frame_get_header(buf.p));
  for (size_t n = 0; n <= buf.len; n++) {
    const uint8_t *payload = nullptr;
    size_t len = 12345;
    ptrdiff_t used = mproc__frame_next(buf.p, n, 1 << 20, &payload, &len);
    if (n < first) {
      EXPECT_EQ(0, used) << n;
    } else {
      EXPECT_EQ((ptrdiff_t)first, used) << n;
      EXPECT_EQ(buf.p + MPROC_FRAME_HEADER, payload);
      EXPECT_EQ(first - MPROC_FRAME_HEADER, len);
    }
  }
  // Walk both frames and decode them.
  size_t off = 0;
  uint64_t ids[2];
  for (int k = 0; k < 2; k++) {
    const uint8_t *payload;
    size_t len;
    ptrdiff_t used =
        mproc__frame_next(buf.p + off, buf.len - off, 1 << 20, &payload, &len);
    ASSERT_GT(used, 0);
    mproc__call_in_t in;
    ASSERT_EQ(0, mproc__call_decode(&in, payload, len));
    ids[k] = in.id;
    mproc__call_in_clear(&in);
    off += (size_t)used;
  }
  EXPECT_EQ(buf.len, off);
  EXPECT_EQ(1u, ids[0]);
  EXPECT_EQ(2u, ids[1]);
  mproc__buf_free(&buf);
}

TEST(FrameNext, EmptyPayloadAndTooBigHeader) {
  const uint8_t empty[4] = {0, 0, 0, 0};
  const uint8_t *payload = nullptr;
  size_t len = 99;
  EXPECT_EQ(4, mproc__frame_next(empty, 4, 0, &payload, &len));
  EXPECT_EQ(0u, len);
  // The header alone is enough to refuse a frame bigger than max.
  const uint8_t big[5] = {0x01, 0x01, 0, 0, 'x'};  // 257 bytes claimed
  EXPECT_EQ(MPROC_ETOOBIG, mproc__frame_next(big, 4, 256, &payload, &len));
  EXPECT_EQ(MPROC_ETOOBIG, mproc__frame_next(big, 5, 256, &payload, &len));
  EXPECT_EQ(0, mproc__frame_next(big, 5, 257, &payload, &len));
  EXPECT_EQ(0, mproc__frame_next(big, 3, 0, &payload, &len));
  const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(MPROC_ETOOBIG,
            mproc__frame_next(huge, 4, MPROC_FRAME_MAX_DEFAULT, &payload, &len));
}

// ---- Cross-check with Google's protoc.

static std::string ProtocPath() {
  for (const char *p : {"/usr/bin/protoc", "/usr/local/bin/protoc"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

static std::string ProtoDir() {
  // The test runs in its runfiles tree, where the data dependency
  // //serialization:wire.proto sits at serialization/wire.proto.
  if (access("serialization/wire.proto", R_OK) == 0) return "serialization";
  return "";
}

static std::string TmpPath(const char *name) {
  const char *dir = getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

static std::string ReadAll(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

static int RunProtoc(const std::string &mode, const std::string &in,
                     std::string *out, std::string *err) {
  std::string protoc = ProtocPath(), dir = ProtoDir();
  std::string in_path = TmpPath("protoc_in"), out_path = TmpPath("protoc_out"),
              err_path = TmpPath("protoc_err");
  {
    std::ofstream f(in_path, std::ios::binary);
    f << in;
  }
  std::string cmd = protoc + " " + mode + "=mproc.wire.Value -I " + dir + " " +
                    dir + "/wire.proto < " + in_path + " > " + out_path +
                    " 2> " + err_path;
  int rc = system(cmd.c_str());
  *out = ReadAll(out_path);
  *err = ReadAll(err_path);
  return rc;
}

TEST(Protoc, DecodesOurEncodingAsTheProtoSays) {
  mproc_test::ScopedDeadline guard("Protoc.DecodesOurEncodingAsTheProtoSays", 60);
  if (ProtocPath().empty()) GTEST_SKIP() << "protoc not installed";
  ASSERT_NE("", ProtoDir()) << "wire.proto missing from runfiles";
  ValuePtr v(P("(n b i L d s y# [] {s:[i d]})", 1, -3, INT64_MIN, 2.5,
               "héllo \"q\"", "a\0\xff", (size_t)3, "k", 1, -0.0));
  std::string text, err;
  ASSERT_EQ(0, RunProtoc("--decode", Encode(v), &text, &err)) << err;
  EXPECT_EQ(
      "list_value {\n"
      "  items {\n    none: true\n  }\n"
      "  items {\n    bool_value: true\n  }\n"
      "  items {\n    int_value: -3\n  }\n"
      "  items {\n    int_value: -9223372036854775808\n  }\n"
      "  items {\n    float_value: 2.5\n  }\n"
      "  items {\n    str_value: \"h\\303\\251llo \\\"q\\\"\"\n  }\n"
      "  items {\n    bytes_value: \"a\\000\\377\"\n  }\n"
      "  items {\n    list_value {\n    }\n  }\n"
      "  items {\n"
      "    dict_value {\n"
      "      entries {\n"
      "        key: \"k\"\n"
      "        value {\n"
      "          list_value {\n"
      "            items {\n              int_value: 1\n            }\n"
      "            items {\n              float_value: -0\n            }\n"
      "          }\n"
      "        }\n"
      "      }\n"
      "    }\n"
      "  }\n"
      "  tuple: true\n"
      "}\n",
      text);
}

TEST(Protoc, WeDecodeWhatProtocEncodes) {
  mproc_test::ScopedDeadline guard("Protoc.WeDecodeWhatProtocEncodes", 60);
  if (ProtocPath().empty()) GTEST_SKIP() << "protoc not installed";
  ASSERT_NE("", ProtoDir()) << "wire.proto missing from runfiles";
  std::string bytes, err;
  ASSERT_EQ(0, RunProtoc("--encode",
                         "list_value {\n"
                         "  items { int_value: -9223372036854775808 }\n"
                         "  items { int_value: 300 }\n"
                         "  items { float_value: 0.1 }\n"
                         "  items { str_value: \"\\344\\270\\255\" }\n"
                         "  items { bytes_value: \"\\000\\377\" }\n"
                         "  items { bool_value: false }\n"
                         "  items { none: true }\n"
                         "  items { dict_value { entries { key: \"z\" value "
                         "{ list_value { tuple: true } } } entries { key: "
                         "\"a\" value { list_value { } } } } }\n"
                         "  tuple: true\n"
                         "}\n",
                         &bytes, &err))
      << err;
  ValuePtr back;
  ASSERT_EQ(0, Decode(bytes, back.out()));
  EXPECT_EQ(
      "(-9223372036854775808, 300, 0.1, '中', b'\\x00\\xff', False, None, "
      "{'z': (), 'a': []})",
      Repr(back));
  // protoc's bytes are canonical: we write the very same.
  EXPECT_EQ(bytes, Encode(back));
}

// Packed lists (List.ints, List.floats): protoc reads them as the proto
// says, writes the very bytes we write, and we read what it writes.
TEST(Protoc, PackedListsAsTheProtoSays) {
  mproc_test::ScopedDeadline guard("Protoc.PackedListsAsTheProtoSays", 60);
  if (ProtocPath().empty()) GTEST_SKIP() << "protoc not installed";
  ASSERT_NE("", ProtoDir()) << "wire.proto missing from runfiles";
  ValuePtr v(P("([iLi][dd])", 1, INT64_MIN, 300, 1.5, -0.0));
  std::string text, err;
  ASSERT_EQ(0, RunProtoc("--decode", Encode(v), &text, &err)) << err;
  EXPECT_EQ(
      "list_value {\n"
      "  items {\n"
      "    list_value {\n"
      "      ints: 1\n      ints: -9223372036854775808\n      ints: 300\n"
      "    }\n"
      "  }\n"
      "  items {\n"
      "    list_value {\n"
      "      floats: 1.5\n      floats: -0\n"
      "    }\n"
      "  }\n"
      "  tuple: true\n"
      "}\n",
      text);
  std::string bytes;
  ASSERT_EQ(0, RunProtoc("--encode",
                         "list_value { ints: [5, -6, 70000] tuple: true }\n",
                         &bytes, &err))
      << err;
  ValuePtr back;
  ASSERT_EQ(0, Decode(bytes, back.out()));
  EXPECT_EQ("(5, -6, 70000)", Repr(back));
  EXPECT_EQ(bytes, Encode(back));
  ASSERT_EQ(0, RunProtoc("--encode", "list_value { floats: [0.25] }\n", &bytes,
                         &err))
      << err;
  ASSERT_EQ(0, Decode(bytes, back.out()));
  EXPECT_EQ("[0.25]", Repr(back));
  EXPECT_EQ(bytes, Encode(back));
}
