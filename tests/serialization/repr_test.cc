// mproc_repr against the text Python 3.11 prints (every expected string
// here was produced by /usr/bin/python3 -c 'print(repr(...))').
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "multiproc/value.h"
#include "tests/serialization/test_util.h"

using mproc_test::Repr;
using mproc_test::ValuePtr;

static std::string ReprOfFloat(double d) {
  ValuePtr v;
  EXPECT_EQ(0, mproc_value_float(v.out(), d));
  return Repr(v);
}

static std::string ReprOfStr(const std::string &s) {
  ValuePtr v;
  EXPECT_EQ(0, mproc_value_strn(v.out(), s.data(), s.size()));
  return Repr(v);
}

static std::string ReprOfBytes(const std::string &s) {
  ValuePtr v;
  EXPECT_EQ(0, mproc_value_bytes(v.out(), s.data(), s.size()));
  return Repr(v);
}

static std::string ReprOfPack(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ValuePtr v;
  int rc = mproc_vpack(v.out(), fmt, ap);
  va_end(ap);
  EXPECT_EQ(0, rc) << fmt;
  return Repr(v);
}

TEST(Repr, NoneAndBools) {
  EXPECT_EQ("None", ReprOfPack("n"));
  EXPECT_EQ("True", ReprOfPack("b", 1));
  EXPECT_EQ("False", ReprOfPack("b", 0));
}

TEST(Repr, Ints) {
  EXPECT_EQ("0", ReprOfPack("i", 0));
  EXPECT_EQ("-1", ReprOfPack("i", -1));
  EXPECT_EQ("18", ReprOfPack("i", 18));
  EXPECT_EQ("9223372036854775807", ReprOfPack("L", INT64_MAX));
  EXPECT_EQ("-9223372036854775808", ReprOfPack("L", INT64_MIN));
}

TEST(Repr, FloatsMatchPython) {
  EXPECT_EQ("0.1", ReprOfFloat(0.1));
  EXPECT_EQ("1.0", ReprOfFloat(1.0));
  EXPECT_EQ("1e+16", ReprOfFloat(1e16));
  EXPECT_EQ("1000000000000000.0", ReprOfFloat(1e15));
  EXPECT_EQ("1e-05", ReprOfFloat(1e-05));
  EXPECT_EQ("0.0001", ReprOfFloat(0.0001));
  EXPECT_EQ("123456789.123", ReprOfFloat(123456789.123));
  EXPECT_EQ("-0.0", ReprOfFloat(-0.0));
  EXPECT_EQ("0.0", ReprOfFloat(0.0));
  EXPECT_EQ("inf", ReprOfFloat(INFINITY));
  EXPECT_EQ("-inf", ReprOfFloat(-INFINITY));
  EXPECT_EQ("nan", ReprOfFloat(NAN));
  EXPECT_EQ("nan", ReprOfFloat(-NAN));
  EXPECT_EQ("1e+22", ReprOfFloat(1e22));
  EXPECT_EQ("5e-324", ReprOfFloat(5e-324));
  EXPECT_EQ("1.7976931348623157e+308", ReprOfFloat(1.7976931348623157e+308));
  EXPECT_EQ("1.5", ReprOfFloat(1.5));
  EXPECT_EQ("-2.5e-07", ReprOfFloat(-2.5e-07));
  EXPECT_EQ("100.0", ReprOfFloat(100.0));
  EXPECT_EQ("1.2345678901234567e+19", ReprOfFloat(12345678901234567890.0));
}

// Powers of two have a rounding interval twice as wide above them as below:
// the shortest decimal that reads back can be the one just above d while the
// nearest one with as many digits (what "%.*e" gives) is just below it.
TEST(Repr, PowersOfTwoUseTheShortestDigitsLikePython) {
  EXPECT_EQ("7.120236347223045e-307", ReprOfFloat(std::ldexp(1.0, -1017)));
  EXPECT_EQ("6.386688990511104e+293", ReprOfFloat(std::ldexp(1.0, 976)));
  EXPECT_EQ("8.209073602596753e-289", ReprOfFloat(std::ldexp(1.0, -957)));
  EXPECT_EQ("5.282945311356653e+269", ReprOfFloat(std::ldexp(1.0, 896)));
  EXPECT_EQ("-7.120236347223045e-307", ReprOfFloat(-std::ldexp(1.0, -1017)));
}

TEST(Repr, FloatTableFromPython) {
  struct {
    uint64_t bits;
    const char *want;
  } table[] = {
    {0xdda1494c73cf256dULL, "-1.0539756485530688e+143"},
    {0xdb5b5fab8f4d3e27ULL, "-1.2143721666352482e+132"},
    {0xc7fde805ec99108dULL, "-6.360375184993316e+38"},
    {0x73ab48767734d7c1ULL, "1.526087629730313e+249"},
    {0xdae445508201e2bdULL, "-7.02551513787579e+129"},
    {0x309d6b79965eda32ULL, "1.6260771785726701e-74"},
    {0xcdcc69292f45e678ULL, "-5.984009685093657e+66"},
    {0x79cb9e86830c71c2ULL, "4.8959585264576934e+278"},
    {0x9d2c67eda13ffe79ULL, "-3.7634144828029947e-168"},
    {0x2fa91425cb008853ULL, "4.2301541954837196e-79"},
    {0x7253edc618187993ULL, "5.315422088462547e+242"},
    {0x244caf9c4dabb481ULL, "7.893354548061464e-134"},
    {0x89e7d15f17362f25ULL, "-6.0511296129096725e-261"},
    {0xe3eff9c0cf44dd3fULL, "-2.471417988383651e+173"},
    {0xa26b7f62b1852f27ULL, "-7.046717376279707e-143"},
    {0x986e86cb0ab8ab67ULL, "-5.352667702512672e-191"},
    {0x656abd72fb710734ULL, "3.467443581611296e+180"},
    {0x73f778aaf6fa5db8ULL, "4.201212419249933e+250"},
    {0xbd299753a7677796ULL, "-4.545896140860994e-14"},
    {0xa66b0d389d95847eULL, "-1.278808376866442e-123"},
    {0x9f8558a628518867ULL, "-7.773821756658801e-157"},
    {0xd4ea65d003d71684ULL, "-1.1547680013076696e+101"},
    {0x102b938b8743feb6ULL, "8.88116792998917e-231"},
    {0x09208a650f3ebdd3ULL, "1.0259476444142278e-264"},
    {0xe12b2b8f30b17d0bULL, "-1.1937126864956989e+160"},
    {0x998092253deffa38ULL, "-7.616900394922395e-186"},
    {0xc7321cc007b37e14ULL, "-9.404446511312006e+34"},
    {0x5387f61376c468aeULL, "2.4990667113411633e+94"},
    {0x97491e2370c6a5b8ULL, "-1.6800925191972358e-196"},
    {0x320094ead7a94dedULL, "7.688121853400444e-68"},
    {0x3bd0334684e55160ULL, "1.3722183439346506e-20"},
    {0x4b4d8474a3ea284dULL, "5.654411402250841e+54"},
    {0x012d0ea67ff12229ULL, "5.2964948879303666e-303"},
    {0x15c1d2dfa9964aefULL, "7.106101800028059e-204"},
    {0xa7a1149075139237ULL, "-8.466578551422606e-118"},
    {0x6822a6b24735af1cULL, "4.254739997646274e+193"},
    {0x8d1fe1daff666589ULL, "-1.82394811931708e-245"},
    {0xee82ec3ffee5a5b2ULL, "-2.1888367315112703e+224"},
    {0x154cd2aad7185ddaULL, "4.48880712297644e-206"},
    {0x4105cca7b53302fcULL, "178580.96347620327"},
    {0xc077172109c80a32ULL, "-369.44556596890027"},
    {0xc080e558778e3b12ULL, "-540.6681967841889"},
    {0xc07a5eb8c068fe0aULL, "-421.9201053715957"},
    {0xc08adc6c8bb9b72aULL, "-859.5530008801481"},
    {0x4080a49b2ec7da94ULL, "532.5757728208141"},
    {0xc068e66998a19344ULL, "-199.20039016301791"},
    {0x4085a95683e5ce46ULL, "693.1672437623572"},
    {0xc06c5f224be96358ULL, "-226.972936588131"},
    {0x408ca0ad9a21c7ecULL, "916.0847666396271"},
    {0x4085b4f4d4d9cb80ULL, "694.6195466056088"},
    {0xc08f3747f014ff24ULL, "-998.910125888859"},
    {0xc08224857821ea6cULL, "-580.5651705407777"},
    {0x4089a459d148a52aULL, "820.543856208363"},
    {0xc04e0341e1112d70ULL, "-60.025447972667166"},
    {0x408e05be3919cc5cULL, "960.7178823485842"},
    {0xc069a4d6d361ab38ULL, "-205.15122384143774"},
    {0xc08aaf62f193843aULL, "-853.9233123326042"},
    {0x40702e8ea419f5e4ULL, "258.9098244680483"},
    {0x4081682c7a25d17eULL, "557.0217173533017"},
    {0xc07cc72e647c6dbeULL, "-460.4488262997146"},
    {0x3fb645a1cac08312ULL, "0.087"},
    {0x3f8eecbfb15b573fULL, "0.0151"},
    {0x3fe999999999999aULL, "0.8"},
    {0x3fc13a71151611baULL, "0.134596"},
    {0x3fb999999999999aULL, "0.1"},
    {0x3fddc0ebedfa43feULL, "0.4649"},
    {0x3fc6be37de939eaeULL, "0.17768"},
    {0x3fc81d29dc725c3eULL, "0.18839"},
    {0x3fc8685553ef6b5dULL, "0.190684"},
    {0x3fe89fbe76c8b439ULL, "0.7695"},
    {0x0060000000000000ULL, "7.120236347223045e-307"},
    {0x0100000000000000ULL, "7.291122019556398e-304"},
    {0x0420000000000000ULL, "8.209073602596753e-289"},
    {0x75e0000000000000ULL, "6.150157786156811e+259"},
    {0x77f0000000000000ULL, "5.282945311356653e+269"},
    {0x7cf0000000000000ULL, "6.386688990511104e+293"},
    {0x0000000000000001ULL, "5e-324"},
    {0x0010000000000000ULL, "2.2250738585072014e-308"},
    {0x3ff0000000000000ULL, "1.0"},
    {0x4330000000000000ULL, "4503599627370496.0"},
    {0x4340000000000000ULL, "9007199254740992.0"},
    {0x43e0000000000000ULL, "9.223372036854776e+18"},
    {0x43f0000000000000ULL, "1.8446744073709552e+19"},
    {0x4630000000000000ULL, "1.2676506002282294e+30"},
    {0x3fe0000000000000ULL, "0.5"},
  };
  for (const auto &row : table) {
    double d;
    memcpy(&d, &row.bits, sizeof d);
    EXPECT_EQ(row.want, ReprOfFloat(d)) << std::hex << row.bits;
  }
}

TEST(Repr, StrQuotesLikePython) {
  EXPECT_EQ("'plain'", ReprOfStr("plain"));
  EXPECT_EQ("''", ReprOfStr(""));
  EXPECT_EQ("\"it's\"", ReprOfStr("it's"));
  EXPECT_EQ("'say \"hi\"'", ReprOfStr("say \"hi\""));
  EXPECT_EQ("'both \\' and \"'", ReprOfStr("both ' and \""));
}

TEST(Repr, StrEscapesBackslashAndControlCharacters) {
  EXPECT_EQ("'back\\\\slash'", ReprOfStr("back\\slash"));
  EXPECT_EQ("'a\\nb\\tc\\rd'", ReprOfStr("a\nb\tc\rd"));
  EXPECT_EQ("'\\x00\\x01\\x1f'", ReprOfStr(std::string("\x00\x01\x1f", 3)));
  EXPECT_EQ("'\\x0b\\x0c\\x1b'", ReprOfStr("\x0b\x0c\x1b"));
  EXPECT_EQ("'\\x7f'", ReprOfStr("\x7f"));  // DEL
}

TEST(Repr, StrEscapesLatin1ControlsAndNonPrintables) {
  EXPECT_EQ("'\\x80\\x9f'", ReprOfStr("\xC2\x80\xC2\x9F"));  // C1 controls
  EXPECT_EQ("'\\xa0'", ReprOfStr("\xC2\xA0"));    // NO-BREAK SPACE
  EXPECT_EQ("'\\xad'", ReprOfStr("\xC2\xAD"));    // SOFT HYPHEN (Cf)
  EXPECT_EQ("'\\u200b'", ReprOfStr("\xE2\x80\x8B"));  // ZERO WIDTH SPACE
  EXPECT_EQ("'\\ufeff'", ReprOfStr("\xEF\xBB\xBF"));  // BOM
  EXPECT_EQ("'\\u2028'", ReprOfStr("\xE2\x80\xA8"));  // LINE SEPARATOR
  EXPECT_EQ("'\\u0890'", ReprOfStr("\xE0\xA2\x90"));  // Cf since Unicode 14
  EXPECT_EQ("'\\u0891'", ReprOfStr("\xE0\xA2\x91"));
  EXPECT_EQ("'\\U000f0000'", ReprOfStr("\xF3\xB0\x80\x80"));  // private use
}

TEST(Repr, StrKeepsPrintableUnicodeAsUtf8) {
  EXPECT_EQ("'é'", ReprOfStr("é"));
  EXPECT_EQ("'\xC2\xA1'", ReprOfStr("\xC2\xA1"));  // U+00A1, first printable
  EXPECT_EQ("'中文字符'", ReprOfStr("中文字符"));
  EXPECT_EQ("'😀👍'", ReprOfStr("😀👍"));
  EXPECT_EQ("'héllo, 世界 🌍'", ReprOfStr("héllo, 世界 🌍"));
}

TEST(Repr, BytesWithEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; i++) all.push_back((char)i);
  EXPECT_EQ(
      "b'\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\t\\n\\x0b\\x0c\\r\\x0e"
      "\\x0f\\x10\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18\\x19\\x1a\\x1b\\x1c"
      "\\x1d\\x1e\\x1f !\"#$%&\\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRST"
      "UVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\\x7f\\x80\\x81\\x82\\x83"
      "\\x84\\x85\\x86\\x87\\x88\\x89\\x8a\\x8b\\x8c\\x8d\\x8e\\x8f\\x90\\x91"
      "\\x92\\x93\\x94\\x95\\x96\\x97\\x98\\x99\\x9a\\x9b\\x9c\\x9d\\x9e\\x9f"
      "\\xa0\\xa1\\xa2\\xa3\\xa4\\xa5\\xa6\\xa7\\xa8\\xa9\\xaa\\xab\\xac\\xad"
      "\\xae\\xaf\\xb0\\xb1\\xb2\\xb3\\xb4\\xb5\\xb6\\xb7\\xb8\\xb9\\xba\\xbb"
      "\\xbc\\xbd\\xbe\\xbf\\xc0\\xc1\\xc2\\xc3\\xc4\\xc5\\xc6\\xc7\\xc8\\xc9"
      "\\xca\\xcb\\xcc\\xcd\\xce\\xcf\\xd0\\xd1\\xd2\\xd3\\xd4\\xd5\\xd6\\xd7"
      "\\xd8\\xd9\\xda\\xdb\\xdc\\xdd\\xde\\xdf\\xe0\\xe1\\xe2\\xe3\\xe4\\xe5"
      "\\xe6\\xe7\\xe8\\xe9\\xea\\xeb\\xec\\xed\\xee\\xef\\xf0\\xf1\\xf2\\xf3"
      "\\xf4\\xf5\\xf6\\xf7\\xf8\\xf9\\xfa\\xfb\\xfc\\xfd\\xfe\\xff'",
      ReprOfBytes(all));
}

TEST(Repr, BytesQuotesLikePython) {
  EXPECT_EQ("b''", ReprOfBytes(""));
  EXPECT_EQ("b\"it's\"", ReprOfBytes("it's"));
  EXPECT_EQ("b'\"'", ReprOfBytes("\""));
  EXPECT_EQ("b'\\'\"'", ReprOfBytes("'\""));
}

TEST(Repr, EmptyContainersAndOneTuple) {
  EXPECT_EQ("()", ReprOfPack(""));
  EXPECT_EQ("()", ReprOfPack("()"));
  EXPECT_EQ("[]", ReprOfPack("[]"));
  EXPECT_EQ("{}", ReprOfPack("{}"));
  EXPECT_EQ("(1,)", ReprOfPack("(i)", 1));
  EXPECT_EQ("((),)", ReprOfPack("(())"));
  EXPECT_EQ("[1]", ReprOfPack("[i]", 1));
  EXPECT_EQ("(1, 2)", ReprOfPack("(ii)", 1, 2));
}

TEST(Repr, NestedContainers) {
  EXPECT_EQ("[1, (2,), {'a': [None, True]}, (), [], {}]",
            ReprOfPack("[i(i){s:[nb]}()[]{}]", 1, 2, "a", 1));
  EXPECT_EQ("{'k': b'v', 'n': (1.5, 'x')}",
            ReprOfPack("{s:y# s:(ds)}", "k", "v", (size_t)1, "n", 1.5, "x"));
  // Dict keys are quoted as str: {"it's": 1}.
  EXPECT_EQ("{\"it's\": 1, 'a\\nb': 2}",
            ReprOfPack("{s:i s:i}", "it's", 1, "a\nb", 2));
}

TEST(Repr, DeepestValueReprs) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_value_int(v.out(), 0));
  for (int i = 0; i < MPROC_MAX_DEPTH; i++) {
    mproc_value_t *c;
    ASSERT_EQ(0, mproc_value_list(&c));
    ASSERT_EQ(0, mproc_list_append(c, v.release()));
    v.v = c;
  }
  EXPECT_EQ(std::string(64, '[') + "0" + std::string(64, ']'), Repr(v));
}

// ---- The snprintf contract.

TEST(ReprContract, NullBufferWithSizeZeroReturnsTheLength) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "(si)", "test", 18));
  EXPECT_EQ(12, mproc_repr(v, nullptr, 0));  // ('test', 18)
}

TEST(ReprContract, SizeZeroWritesNothing) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "(si)", "test", 18));
  char buf[4] = {'x', 'x', 'x', 'x'};
  EXPECT_EQ(12, mproc_repr(v, buf, 0));
  EXPECT_EQ(0, memcmp(buf, "xxxx", 4));
}

TEST(ReprContract, TruncationWritesSizeMinusOneCharsAndNul) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_pack(v.out(), "{s:[is]}", "k", 1, "中文"));
  const std::string full = "{'k': [1, '中文']}";
  ASSERT_EQ(full, Repr(v));
  const int len = (int)full.size();
  for (size_t size = 1; size <= full.size() + 2; size++) {
    std::string buf(size + 8, '#');  // 8 guard bytes after the buffer
    EXPECT_EQ(len, mproc_repr(v, &buf[0], size)) << size;
    size_t kept = size - 1 < full.size() ? size - 1 : full.size();
    EXPECT_EQ(full.substr(0, kept), std::string(buf.data(), kept)) << size;
    EXPECT_EQ('\0', buf[kept]) << size;
    // Nothing past size was touched.
    EXPECT_EQ(std::string(size + 8 - (kept + 1), '#'),
              buf.substr(kept + 1))
        << size;
  }
}

TEST(ReprContract, InvalidArgumentsAreEinval) {
  ValuePtr v;
  ASSERT_EQ(0, mproc_value_none(v.out()));
  char buf[8];
  EXPECT_EQ(MPROC_EINVAL, mproc_repr(v, nullptr, 8));
  EXPECT_EQ(MPROC_EINVAL, mproc_repr(nullptr, buf, sizeof buf));
}
