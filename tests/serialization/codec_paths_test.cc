// The value codec's two implementations (serialization/codec.h) against
// each other: the fast one (buffer memory, slab nodes, in-place strings)
// must write the very bytes the generic one (nanopb's stream primitives)
// writes, and decode every input — valid, packed or not, truncated,
// mutated, random — to the same value or the same error and reason. Also:
// the packed encoding of homogeneous lists, args and results; strings left
// in place; decoded values freed on other threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "multiproc/frame.h"
#include "multiproc/value.h"
#include "serialization/codec_testing.h"
#include "serialization/frame_internal.h"
#include "serialization/message.h"
#include "tests/serialization/test_util.h"

using mproc_test::Repr;
using mproc_test::ValuePtr;
using Bytes = std::string;

namespace {

// Runs the codec through the generic implementation while alive.
struct Generic {
  Generic() { mproc__codec_use_generic(1); }
  ~Generic() { mproc__codec_use_generic(0); }
};

Bytes Encode(const mproc_value_t *v) {
  size_t n = mproc_value_encoded_size(v);
  Bytes b(n, '\0');
  EXPECT_EQ((int)n, mproc_value_encode(v, n ? &b[0] : nullptr, n));
  return b;
}

Bytes EncodeGeneric(const mproc_value_t *v) {
  Generic g;
  return Encode(v);
}

// What decoding b gives, in one comparable string: the error's name and
// reason, or the value's kind, repr, kept size and re-encoding.
std::string Outcome(const Bytes &b) {
  std::vector<unsigned char> exact(b.begin(), b.end());
  ValuePtr v;
  int rc = mproc_value_decode(v.out(), exact.empty() ? nullptr : exact.data(),
                              exact.size());
  if (rc < 0) {
    std::string s = mproc_err_name(rc);
    if (rc == MPROC_EMALFORMED) s += std::string(": ") + mproc_last_error();
    EXPECT_EQ(nullptr, v.get());
    return s;
  }
  return std::string(mproc_kind_name(mproc_value_kind(v))) + " " + Repr(v) +
         " size=" + std::to_string(mproc_value_encoded_size(v)) +
         " enc=" + Encode(v);
}

std::string OutcomeGeneric(const Bytes &b) {
  Generic g;
  return Outcome(b);
}

void ExpectSameOutcome(const Bytes &b) {
  std::string fast = Outcome(b), generic = OutcomeGeneric(b);
  ASSERT_EQ(generic, fast) << "input of " << b.size() << " bytes";
}

// ---- Hand-built protobuf (wire.proto field numbers).

Bytes Varint(uint64_t v) {
  Bytes b;
  while (v >= 0x80) {
    b.push_back((char)(0x80 | (v & 0x7F)));
    v >>= 7;
  }
  b.push_back((char)v);
  return b;
}
Bytes Tag(int field, int wt) { return Varint((uint64_t)(field << 3 | wt)); }
Bytes Ld(int field, const Bytes &body) {
  return Tag(field, 2) + Varint(body.size()) + body;
}
uint64_t ZigZag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
Bytes IntValue(int64_t v) { return Tag(3, 0) + Varint(ZigZag(v)); }
Bytes FloatValue(double d) {
  Bytes b = Tag(4, 1);
  b.append((const char *)&d, 8);
  return b;
}
Bytes PackedInts(const std::vector<int64_t> &v) {
  Bytes b;
  for (int64_t x : v) b += Varint(ZigZag(x));
  return b;
}
Bytes PackedFloats(const std::vector<double> &v) {
  Bytes b;
  for (double x : v) b.append((const char *)&x, 8);
  return b;
}
Bytes ListValue(const Bytes &body) { return Ld(7, body); }

mproc_value_t *P(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mproc_value_t *v = nullptr;
  EXPECT_EQ(0, mproc_vpack(&v, fmt, ap)) << fmt;
  va_end(ap);
  return v;
}

// ---- Random values, rich in what the fast paths special-case.

mproc_value_t *RandomValue(std::mt19937 &rng, int depth) {
  mproc_value_t *v = nullptr;
  int kind = depth >= 4 ? (int)(rng() % 6) : (int)(rng() % 11);
  switch (kind) {
    case 0:
      mproc_value_none(&v);
      break;
    case 1:
      mproc_value_bool(&v, rng() % 2);
      break;
    case 2: {
      static const int64_t edges[] = {0,         1,         -1,       63,
                                      64,        -64,       -65,      8191,
                                      INT64_MAX, INT64_MIN, 1LL << 35};
      int64_t x = rng() % 3 ? edges[rng() % 11]
                            : (int64_t)(((uint64_t)rng() << 32) | rng());
      mproc_value_int(&v, x);
      break;
    }
    case 3: {
      static const double edges[] = {0.0, -0.0, 1.5, 1e300, -2.5e-300,
                                     (double)INFINITY};
      mproc_value_float(&v, edges[rng() % 6]);
      break;
    }
    case 4: {
      std::string s(rng() % 300, 'a');
      for (char &c : s) c = (char)('a' + rng() % 26);
      if (rng() % 3 == 0) s += "héllo 世界";
      mproc_value_strn(&v, s.data(), s.size());
      break;
    }
    case 5: {
      std::string s(rng() % 40, '\0');
      for (char &c : s) c = (char)rng();
      mproc_value_bytes(&v, s.data(), s.size());
      break;
    }
    case 6:
    case 7: { /* homogeneous lists and tuples: the packed encoding */
      bool ints = kind == 6;
      if (rng() % 2)
        mproc_value_list(&v);
      else
        mproc_value_tuple(&v);
      size_t n = rng() % 3 == 0 ? rng() % 300 : rng() % 6;
      for (size_t i = 0; i < n; i++) {
        mproc_value_t *x;
        if (ints)
          mproc_value_int(&x, (int64_t)(rng() % 2 ? rng() % 200
                                                  : ((uint64_t)rng() << 33)) -
                                  100);
        else
          mproc_value_float(&x, (double)(int)rng() / 7.0);
        mproc_list_append(v, x);
      }
      /* Sometimes one item of another kind at the end: no longer packed. */
      if (n > 0 && rng() % 4 == 0) mproc_list_append(v, RandomValue(rng, 4));
      break;
    }
    case 8:
    case 9: {
      if (rng() % 2)
        mproc_value_list(&v);
      else
        mproc_value_tuple(&v);
      size_t n = rng() % 5;
      for (size_t i = 0; i < n; i++)
        mproc_list_append(v, RandomValue(rng, depth + 1));
      break;
    }
    default: {
      mproc_value_dict(&v);
      size_t n = rng() % 5;
      for (size_t i = 0; i < n; i++) {
        std::string key = "k" + std::to_string(rng() % 8);
        mproc_dict_set(v, key.c_str(), RandomValue(rng, depth + 1));
      }
      break;
    }
  }
  return v;
}

// ---- The packed encoding.

TEST(Packed, IntListsGoPacked) {
  ValuePtr v(P("[iii]", 1, -1, 300));
  // Value{list_value: List{ints: [1, -1, 300]}}: zigzag 2, 1, 600.
  EXPECT_EQ(ListValue(Ld(3, PackedInts({1, -1, 300}))), Encode(v));
  EXPECT_EQ(Encode(v), EncodeGeneric(v));
  ValuePtr t(P("(ii)", 5, 6));
  // The tuple flag comes first: fields in number order, as protoc writes.
  EXPECT_EQ(ListValue(Tag(2, 0) + Varint(1) + Ld(3, PackedInts({5, 6}))),
            Encode(t));
  EXPECT_EQ(Encode(t), EncodeGeneric(t));
}

TEST(Packed, FloatListsGoPacked) {
  ValuePtr v(P("[dd]", 1.5, -0.0));
  EXPECT_EQ(ListValue(Ld(4, PackedFloats({1.5, -0.0}))), Encode(v));
  EXPECT_EQ(Encode(v), EncodeGeneric(v));
}

TEST(Packed, MixedListsStayItemByItem) {
  ValuePtr v(P("[id]", 1, 2.0));
  EXPECT_EQ(ListValue(Ld(1, IntValue(1)) + Ld(1, FloatValue(2.0))), Encode(v));
  // Growing a packed list with another kind turns it item by item, with
  // its kept size exact at every step.
  ValuePtr l(P("[]"));
  for (int i = 0; i < 200; i++) {
    mproc_value_t *x;
    if (i == 150)
      ASSERT_EQ(0, mproc_value_str(&x, "s"));
    else
      ASSERT_EQ(0, mproc_value_int(&x, i * 1000));
    ASSERT_EQ(0, mproc_list_append(l, x));
    Bytes fast = Encode(l);  // checks the size
    ASSERT_EQ(fast, EncodeGeneric(l)) << i;
  }
}

TEST(Packed, ItemByItemIntsDecodeToTheSameList) {
  // What an older encoder (or protoc with unpacked items) would send.
  Bytes items = ListValue(Ld(1, IntValue(1)) + Ld(1, IntValue(-7)));
  Bytes packed = ListValue(Ld(3, PackedInts({1, -7})));
  Bytes unpacked_ints = ListValue(Tag(3, 0) + Varint(ZigZag(1)) + Tag(3, 0) +
                                  Varint(ZigZag(-7)));
  Bytes split = ListValue(Ld(3, PackedInts({1})) + Ld(3, PackedInts({-7})));
  for (const Bytes &b : {items, packed, unpacked_ints, split}) {
    EXPECT_EQ(OutcomeGeneric(packed), Outcome(b));
    ExpectSameOutcome(b);
  }
  Bytes f1 = ListValue(Tag(4, 1) + PackedFloats({2.5}) + Ld(4, PackedFloats({3})));
  EXPECT_EQ(Outcome(ListValue(Ld(4, PackedFloats({2.5, 3})))), Outcome(f1));
}

TEST(Packed, MixingFieldsIsMalformed) {
  const char *why = "MPROC_EMALFORMED: malformed Value: a List mixing items, "
                    "ints and floats";
  EXPECT_EQ(why, Outcome(ListValue(Ld(1, IntValue(1)) + Ld(3, PackedInts({2})))));
  EXPECT_EQ(why, Outcome(ListValue(Ld(3, PackedInts({2})) +
                                   Ld(4, PackedFloats({2})))));
  EXPECT_EQ(why, Outcome(ListValue(Ld(4, PackedFloats({2})) +
                                   Ld(1, IntValue(1)))));
  // An empty packed field adds nothing, so mixes with nothing.
  EXPECT_EQ(Outcome(ListValue(Ld(1, IntValue(1)))),
            Outcome(ListValue(Ld(3, "") + Ld(1, IntValue(1)))));
  for (const Bytes &b :
       {ListValue(Ld(1, IntValue(1)) + Ld(3, PackedInts({2}))),
        ListValue(Ld(3, PackedInts({2})) + Ld(4, PackedFloats({2})))})
    ExpectSameOutcome(b);
}

TEST(Packed, BrokenPackedPayloads) {
  // A varint cut short, a float cut short, a wrong wire type.
  for (const Bytes &b :
       {ListValue(Ld(3, "\x80")), ListValue(Ld(4, "\x01\x02\x03")),
        ListValue(Tag(3, 1) + PackedFloats({1})),
        ListValue(Tag(4, 0) + Varint(1)), ListValue(Tag(3, 5) + "abcd"),
        ListValue(Ld(3, Bytes(11, '\xff')))}) {
    std::string out = Outcome(b);
    EXPECT_EQ(0u, out.find("MPROC_EMALFORMED")) << out;
    ExpectSameOutcome(b);
  }
}

// ---- Both implementations, the same bytes and the same outcomes.

TEST(Paths, RandomValuesEncodeAndDecodeAlike) {
  std::mt19937 rng(8);
  for (int i = 0; i < 3000; i++) {
    ValuePtr v(RandomValue(rng, 0));
    Bytes fast = Encode(v);
    ASSERT_EQ(EncodeGeneric(v), fast) << Repr(v);
    ExpectSameOutcome(fast);
    // Truncations of it, too.
    for (size_t cut = 0; cut < fast.size() && cut < 64; cut += 1 + rng() % 3)
      ExpectSameOutcome(fast.substr(0, cut));
  }
}

TEST(Paths, MutatedEncodingsDecodeAlike) {
  std::mt19937 rng(9);
  for (int i = 0; i < 4000; i++) {
    ValuePtr v(RandomValue(rng, 1));
    Bytes b = Encode(v);
    if (b.empty()) continue;
    int flips = 1 + rng() % 3;
    for (int k = 0; k < flips && !b.empty(); k++) {
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
    }
    ExpectSameOutcome(b);
  }
}

TEST(Paths, GarbageDecodesAlike) {
  std::mt19937 rng(10);
  const unsigned char tags[] = {0x08, 0x10, 0x18, 0x21, 0x2a, 0x32, 0x3a,
                                0x42, 0x0a, 0x12, 0x1a, 0x22, 0x19, 0x80,
                                0xff, 0x01, 0x00, 0x7f};
  for (int i = 0; i < 30000; i++) {
    Bytes b(rng() % 48, '\0');
    for (char &c : b)
      c = rng() % 2 ? (char)tags[rng() % sizeof tags] : (char)(rng() % 12);
    ExpectSameOutcome(b);
  }
  // Varints of every length and shape where nanopb's rules are subtle.
  for (int i = 0; i < 20000; i++) {
    Bytes body;
    size_t n = 1 + rng() % 12;
    for (size_t k = 0; k < n; k++) {
      int r = rng() % 6;
      body.push_back(r == 0 ? '\x80' : r == 1 ? '\xff' : r == 2 ? '\x01'
                     : r == 3 ? '\x00' : (char)rng());
    }
    ExpectSameOutcome(Tag(3, 0) + body);            // an int
    ExpectSameOutcome(Tag(2, 0) + body);            // a bool (varint32)
    ExpectSameOutcome(Tag(5, 2) + body);            // a length
    ExpectSameOutcome(body + IntValue(1));          // a tag
    ExpectSameOutcome(ListValue(Ld(3, body)));      // packed ints
    ExpectSameOutcome(Tag(9, 0) + body + IntValue(2));  // skipped field
  }
}

// Call and Report: both implementations behind nanopb's message decoder.
std::string CallOutcome(const Bytes &b) {
  mproc__call_in_t in;
  int rc = mproc__call_decode(&in, b.data(), b.size());
  if (rc < 0) {
    std::string s = mproc_err_name(rc);
    if (rc == MPROC_EMALFORMED) s += std::string(": ") + mproc_last_error();
    return s;
  }
  std::string s = std::string(in.target) + Repr(in.args) + Repr(in.kwargs) +
                  std::to_string(in.id) + "/" + std::to_string(in.mode);
  mproc__call_in_clear(&in);
  return s;
}

std::string ReportOutcome(const Bytes &b) {
  mproc__report_t r;
  int rc = mproc__report_decode(&r, b.data(), b.size());
  if (rc < 0) {
    std::string s = mproc_err_name(rc);
    if (rc == MPROC_EMALFORMED) s += std::string(": ") + mproc_last_error();
    return s;
  }
  std::string s = std::to_string(r.kind) + " " +
                  (r.result ? Repr(r.result) : "-") + " [";
  for (size_t i = 0; i < r.n_results; i++) s += Repr(r.results[i]) + ",";
  s += "]";
  mproc__report_clear(&r);
  return s;
}

Bytes CallPayload(const mproc__call_out_t &c) {
  mproc__buf_t buf = {};
  EXPECT_EQ(0, mproc__call_encode_frame(&buf, &c));
  Bytes b((const char *)buf.p + MPROC_FRAME_HEADER,
          buf.len - MPROC_FRAME_HEADER);
  mproc__buf_free(&buf);
  return b;
}

Bytes ReportPayload(const mproc__report_t &r) {
  mproc__buf_t buf = {};
  EXPECT_EQ(0, mproc__report_encode_frame(&buf, &r));
  Bytes b((const char *)buf.p + MPROC_FRAME_HEADER,
          buf.len - MPROC_FRAME_HEADER);
  mproc__buf_free(&buf);
  return b;
}

TEST(Paths, CallsAndReportsAlike) {
  std::mt19937 rng(11);
  for (int i = 0; i < 1500; i++) {
    // A map chunk: items as the args (packed when all ints or floats).
    size_t n = rng() % 6;
    std::vector<ValuePtr> items(n);
    std::vector<const mproc_value_t *> argv(n);
    bool scalars = rng() % 2;
    for (size_t k = 0; k < n; k++) {
      if (scalars)
        items[k].v = P("L", (int64_t)(rng() % 1000) - 500);
      else
        items[k].v = RandomValue(rng, 2);
      argv[k] = items[k];
    }
    mproc__call_out_t c = {"t", nullptr, nullptr, (uint64_t)i + 1,
                           argv.data(), n, 1, 7};
    Bytes fast = CallPayload(c), generic;
    {
      Generic g;
      generic = CallPayload(c);
    }
    ASSERT_EQ(generic, fast);
    mproc__report_t r;
    memset(&r, 0, sizeof r);
    r.kind = 2;
    r.id = (uint64_t)i + 1;
    r.results = (mproc_value_t **)argv.data();
    r.n_results = n;
    Bytes rfast = ReportPayload(r), rgeneric;
    {
      Generic g;
      rgeneric = ReportPayload(r);
    }
    ASSERT_EQ(rgeneric, rfast);
    for (int m = 0; m < 4; m++) {
      Bytes cb = fast, rb = rfast;
      if (m > 0 && !cb.empty()) cb[rng() % cb.size()] ^= (char)(1 << (rng() % 8));
      if (m > 0 && !rb.empty()) rb[rng() % rb.size()] ^= (char)(1 << (rng() % 8));
      std::string cf = CallOutcome(cb), rf = ReportOutcome(rb);
      Generic g;
      ASSERT_EQ(CallOutcome(cb), cf);
      ASSERT_EQ(ReportOutcome(rb), rf);
    }
  }
}

TEST(Paths, PackedArgsAndResultsRoundTrip) {
  ValuePtr a(P("L", (int64_t)-3)), b(P("L", INT64_MAX)), f(P("d", 0.25));
  const mproc_value_t *ints[] = {a, b};
  mproc__call_out_t c = {"t", nullptr, nullptr, 9, ints, 2, 1, 0};
  Bytes payload = CallPayload(c);
  // Call.int_args (field 7), packed.
  EXPECT_NE(Bytes::npos,
            payload.find(Ld(7, PackedInts({-3, INT64_MAX}))));
  EXPECT_EQ("t(-3, 9223372036854775807){}9/1", CallOutcome(payload));
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.kind = 2;
  const mproc_value_t *floats[] = {f, f};
  r.results = (mproc_value_t **)floats;
  r.n_results = 2;
  Bytes rp = ReportPayload(r);
  EXPECT_NE(Bytes::npos, rp.find(Tag(17, 2) + Varint(16)));  // float_results
  EXPECT_EQ("2 - [0.25,0.25,]", ReportOutcome(rp));
  // Args in two fields, results in two fields: malformed.
  Bytes mixed = Ld(2, IntValue(1)) + Ld(7, PackedInts({2}));
  EXPECT_EQ("MPROC_EMALFORMED: malformed Call: Call args in more than one of "
            "args, int_args and float_args",
            CallOutcome(mixed));
  Bytes rmixed = Tag(1, 0) + Varint(2) + Ld(16, PackedInts({1})) +
                 Ld(13, IntValue(2));
  EXPECT_EQ("MPROC_EMALFORMED: malformed Report: Report results in more than "
            "one of results, int_results and float_results",
            ReportOutcome(rmixed));
  Generic g;
  EXPECT_EQ("MPROC_EMALFORMED: malformed Call: Call args in more than one of "
            "args, int_args and float_args",
            CallOutcome(mixed));
}

// ---- Strings left in place.

TEST(InPlace, BigStringsPointIntoTheInputAndEndWithNul) {
  std::string big(200000, 'x');
  big[0] = 'a';
  ValuePtr args(P("(y#s)", big.data(), big.size(), "small"));
  ValuePtr kwargs(P("{s:s#}", "k", big.data(), big.size()));
  mproc__call_out_t c = {"t", args, kwargs, 5};
  Bytes payload = CallPayload(c);
  std::vector<uint8_t> buf(payload.begin(), payload.end());
  mproc__inplace_t ip;
  memset(&ip, 0, sizeof ip);
  ip.end = buf.data() + buf.size();
  mproc__call_in_t in;
  ASSERT_EQ(0, mproc__call_decode_inplace(&in, buf.data(), buf.size(), &ip));
  const mproc_value_t *b0, *kv;
  ASSERT_EQ(0, mproc_list_get(in.args, 0, &b0));
  const void *p;
  size_t n;
  ASSERT_EQ(0, mproc_value_get_bytes(b0, &p, &n));
  EXPECT_EQ(big.size(), n);
  EXPECT_GE((const uint8_t *)p, buf.data());
  EXPECT_LT((const uint8_t *)p, buf.data() + buf.size());
  EXPECT_EQ('\0', ((const char *)p)[n]);
  EXPECT_EQ(0, memcmp(p, big.data(), n));
  ASSERT_EQ(0, mproc_dict_get(in.kwargs, "k", &kv));
  const char *s;
  ASSERT_EQ(0, mproc_value_get_str(kv, &s, &n));
  EXPECT_EQ(big, std::string(s, n));
  EXPECT_EQ(strlen(s), n);  // NUL-terminated right after
  // The small one was copied.
  const mproc_value_t *small;
  ASSERT_EQ(0, mproc_list_get(in.args, 1, &small));
  ASSERT_EQ(0, mproc_value_get_str(small, &s, &n));
  EXPECT_TRUE((const uint8_t *)s < buf.data() ||
              (const uint8_t *)s >= buf.data() + buf.size());
  mproc__call_in_clear(&in);
}

TEST(InPlace, AStringEndingTheInputNeedsASpareByte) {
  std::string big(100000, 'q');
  ValuePtr v(P("y#", big.data(), big.size()));
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.kind = 2;
  r.result = v;
  Bytes payload = ReportPayload(r);  // result (field 6) comes last here
  std::vector<uint8_t> buf(payload.begin(), payload.end());
  mproc__inplace_t ip;
  memset(&ip, 0, sizeof ip);
  ip.end = buf.data() + buf.size();
  mproc__report_t back;
  ASSERT_EQ(0, mproc__report_decode_inplace(&back, buf.data(), buf.size(), &ip));
  const void *p;
  size_t n;
  ASSERT_EQ(0, mproc_value_get_bytes(back.result, &p, &n));
  ASSERT_EQ(big.size(), n);
  if ((const uint8_t *)p + n == ip.end)
    ADD_FAILURE() << "left in place with no byte to end it";
  mproc__report_clear(&back);
}

TEST(InPlace, AnAdoptedBufferGoesWithItsString) {
  std::string big(300000, 'z');
  ValuePtr v(P("y#", big.data(), big.size()));
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.kind = 2;
  r.result = v;
  Bytes payload = ReportPayload(r);
  uint8_t *block = (uint8_t *)malloc(payload.size() + 1);
  memcpy(block, payload.data(), payload.size());
  mproc__inplace_t ip;
  memset(&ip, 0, sizeof ip);
  ip.adopt = block;
  ip.end = block + payload.size();
  ip.spare = true;
  mproc__report_t back;
  ASSERT_EQ(0, mproc__report_decode_inplace(&back, block, payload.size(), &ip));
  EXPECT_EQ(nullptr, ip.adopt);  // taken: freed with the value (ASan: no leak)
  const void *p;
  size_t n;
  ASSERT_EQ(0, mproc_value_get_bytes(back.result, &p, &n));
  EXPECT_EQ(block + (payload.size() - n), (const uint8_t *)p);
  EXPECT_EQ(0, memcmp(p, big.data(), n));
  // A copy is independent of the block; then the block goes.
  mproc_value_t *copy;
  ASSERT_EQ(0, mproc_value_copy(&copy, back.result));
  mproc__report_clear(&back);
  ASSERT_EQ(0, mproc_value_get_bytes(copy, &p, &n));
  EXPECT_EQ(big.size(), n);
  mproc_value_free(copy);
}

// ---- Slab nodes move between threads.

TEST(Slab, DecodedValuesFreedOnOtherThreads) {
  ValuePtr list(P("[]"));
  for (int i = 0; i < 1000; i++) {
    mproc_value_t *x;
    ASSERT_EQ(0, mproc_value_int(&x, i));
    ASSERT_EQ(0, mproc_list_append(list, x));
  }
  Bytes enc = Encode(list);
  std::vector<mproc_value_t *> decoded(200);
  std::thread producer([&] {
    for (auto &d : decoded)
      ASSERT_EQ(0, mproc_value_decode(&d, enc.data(), enc.size()));
  });
  producer.join();
  // Freed by two threads at once, in a different order than they were cut.
  std::thread a([&] {
    for (size_t i = 0; i < decoded.size(); i += 2) mproc_value_free(decoded[i]);
  });
  std::thread b([&] {
    for (size_t i = decoded.size(); i-- > 1;)
      if (i % 2) mproc_value_free(decoded[i]);
  });
  a.join();
  b.join();
  // A decoded list's items can be moved into another list and outlive it.
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.kind = 2;
  std::vector<const mproc_value_t *> items;
  const mproc_value_t *item;
  for (int i = 0; i < 600; i++) {
    ASSERT_EQ(0, mproc_list_get(list, (size_t)i, &item));
    items.push_back(item);
  }
  r.results = (mproc_value_t **)items.data();
  r.n_results = items.size();
  Bytes rp = ReportPayload(r);
  mproc__report_t back;
  ASSERT_EQ(0, mproc__report_decode(&back, rp.data(), rp.size()));
  ValuePtr out(P("[]"));
  for (size_t i = 0; i < back.n_results; i++) {
    ASSERT_EQ(0, mproc_list_append(out, back.results[i]));
    back.results[i] = nullptr;
  }
  back.n_results = 0;
  mproc__report_clear(&back);
  std::thread c([&] { mproc_value_free(out.release()); });
  c.join();
}

}  // namespace

namespace {

// A frame encoded with its big strings left out (holes) is, with them put
// back in their places, the very frame encoded whole.
TEST(Holes, PuttingTheStringsBackGivesTheWholeFrame) {
  std::string big1(200000, 'a'), big2(70000, 'b');
  big1[7] = 'x';
  ValuePtr result(P("[y#s#i]", big1.data(), big1.size(), big2.data(),
                    big2.size(), 5));
  ValuePtr small(P("s", "small"));
  for (int kind = 0; kind < 2; kind++) {
    mproc__report_t r;
    memset(&r, 0, sizeof r);
    r.kind = 2;
    r.id = 9;
    mproc_value_t *results[2] = {result, small};
    if (kind == 0) {
      r.result = result;
    } else {
      r.results = results;
      r.n_results = 2;
    }
    mproc__buf_t whole = {}, part = {};
    ASSERT_EQ(0, mproc__report_encode_frame(&whole, &r));
    mproc__holes_t holes;
    ASSERT_EQ(0, mproc__report_encode_frame_holes(&part, &r, &holes));
    ASSERT_EQ(2u, holes.n);
    EXPECT_EQ(big1.size() + big2.size(), holes.bytes);
    EXPECT_EQ(whole.len, part.len + holes.bytes);
    std::string rebuilt;
    size_t pos = 0, skipped = 0;
    for (unsigned i = 0; i < holes.n; i++) {
      size_t upto = MPROC_FRAME_HEADER + holes.v[i].at - skipped;
      rebuilt.append((const char *)part.p + pos, upto - pos);
      rebuilt.append((const char *)holes.v[i].src, holes.v[i].n);
      pos = upto;
      skipped += holes.v[i].n;
    }
    rebuilt.append((const char *)part.p + pos, part.len - pos);
    EXPECT_EQ(std::string((const char *)whole.p, whole.len), rebuilt);
    mproc__buf_free(&whole);
    mproc__buf_free(&part);
  }
}

}  // namespace
