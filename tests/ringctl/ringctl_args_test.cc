// ringctl's numeric flag parsing (tools/ringctl_args.h): whole strings only, each flag's range,
// and a message naming the flag and the range for everything else.
#include "tools/ringctl_args.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace ringctl {
namespace {

template <class T>
std::string int_error(const std::string& text, IntRange range, T* out = nullptr) {
  T scratch{};
  return parse_integer("--n", text, range, out != nullptr ? out : &scratch);
}

template <class T>
std::string real_error(const std::string& text, RealRange range, T* out = nullptr) {
  T scratch{};
  return parse_real("--x", text, range, out != nullptr ? out : &scratch);
}

TEST(RingctlArgs, IntegersInRangeAreTaken) {
  uint32_t u = 0;
  EXPECT_EQ(int_error("4294967295", range_of<uint32_t>(1), &u), "");
  EXPECT_EQ(u, 4294967295u);
  EXPECT_EQ(int_error("1", range_of<uint32_t>(1), &u), "");
  EXPECT_EQ(u, 1u);
  EXPECT_EQ(int_error("007", range_of<uint32_t>(1), &u), "");
  EXPECT_EQ(u, 7u);
  int32_t s = 0;
  EXPECT_EQ(int_error("-2147483648", range_of<int32_t>(), &s), "");
  EXPECT_EQ(s, INT32_MIN);
  EXPECT_EQ(int_error("2147483647", range_of<int32_t>(), &s), "");
  EXPECT_EQ(s, INT32_MAX);
  EXPECT_EQ(int_error("-0", range_of<int32_t>(), &s), "");
  EXPECT_EQ(s, 0);
  uint64_t w = 0;
  EXPECT_EQ(int_error("18446744073709551615", range_of<uint64_t>(), &w), "");
  EXPECT_EQ(w, UINT64_MAX);
  int64_t l = 0;
  EXPECT_EQ(int_error("-9223372036854775808", range_of<int64_t>(), &l), "");
  EXPECT_EQ(l, INT64_MIN);
}

TEST(RingctlArgs, IntegersOutOfRangeNameTheFlagAndTheRange) {
  const IntRange tokens = range_of<uint32_t>(1);
  EXPECT_EQ(int_error<uint32_t>("4294967297", tokens),
            "--n: 4294967297 is out of range 1..4294967295");
  EXPECT_EQ(int_error<uint32_t>("4294967296", tokens),
            "--n: 4294967296 is out of range 1..4294967295");
  EXPECT_EQ(int_error<uint32_t>("-1", tokens), "--n: -1 is out of range 1..4294967295");
  EXPECT_EQ(int_error<uint32_t>("0", tokens), "--n: 0 is out of range 1..4294967295");
  EXPECT_EQ(int_error<uint32_t>("-0", range_of<uint32_t>()),
            "--n: -0 is out of range 0..4294967295");
  EXPECT_EQ(int_error<uint32_t>("99999999999999999999999", tokens),
            "--n: 99999999999999999999999 is out of range 1..4294967295");
  EXPECT_EQ(int_error<uint32_t>("-99999999999999999999999", tokens),
            "--n: -99999999999999999999999 is out of range 1..4294967295");
  EXPECT_EQ(int_error<int32_t>("2147483648", range_of<int32_t>()),
            "--n: 2147483648 is out of range -2147483648..2147483647");
  EXPECT_EQ(int_error<int32_t>("-2147483649", range_of<int32_t>()),
            "--n: -2147483649 is out of range -2147483648..2147483647");
  EXPECT_EQ(int_error<uint64_t>("18446744073709551616", range_of<uint64_t>()),
            "--n: 18446744073709551616 is out of range 0..18446744073709551615");
  EXPECT_EQ(int_error<uint32_t>("86400001", IntRange{1, 86400000}),
            "--n: 86400001 is out of range 1..86400000");
}

TEST(RingctlArgs, IntegersMustBeTheWholeString) {
  const IntRange range = range_of<int32_t>();
  const std::string expected = "--n: expected an integer in -2147483648..2147483647, got '";
  for (const char* text : {"",    "-",   "--1",   "+1",    " 1",
                           "1 ",  "1\n", "1e3",   "1e12",  "1.0",
                           "1.",  ".5",  "0x10",  "12abc", "abc",
                           "inf", "nan", "1,000", "1_000", "99999999999999999999x"}) {
    int32_t v = 7;
    EXPECT_EQ(int_error(text, range, &v), expected + text + "'") << text;
    EXPECT_EQ(v, 7) << "changed by a rejected value: " << text;
  }
}

TEST(RingctlArgs, RealsInRangeAreTaken) {
  float f = -1;
  EXPECT_EQ(real_error("0", RealRange{0, 100}, &f), "");
  EXPECT_EQ(f, 0.0f);
  EXPECT_EQ(real_error("100", RealRange{0, 100}, &f), "");
  EXPECT_EQ(f, 100.0f);
  EXPECT_EQ(real_error("0.7", RealRange{0, 100}, &f), "");
  EXPECT_EQ(f, 0.7f);
  EXPECT_EQ(real_error(".5", RealRange{0, 100}, &f), "");
  EXPECT_EQ(f, 0.5f);
  EXPECT_EQ(real_error("1e-3", RealRange{0, 100}, &f), "");
  EXPECT_EQ(f, 1e-3f);
  EXPECT_EQ(real_error("-0.5", RealRange{-1, 1}, &f), "");
  EXPECT_EQ(f, -0.5f);
  EXPECT_EQ(real_error("1", RealRange{0, 1, /*lo_open=*/true}, &f), "");
  EXPECT_EQ(f, 1.0f);
}

TEST(RingctlArgs, RealsOutOfRangeNameTheFlagAndTheRange) {
  EXPECT_EQ(real_error<float>("-1", RealRange{0, 100}), "--x: -1 is out of range [0, 100]");
  EXPECT_EQ(real_error<float>("100.5", RealRange{0, 100}), "--x: 100.5 is out of range [0, 100]");
  EXPECT_EQ(real_error<float>("0", RealRange{0, 1, true}), "--x: 0 is out of range (0, 1]");
  EXPECT_EQ(real_error<float>("1", RealRange{0, 1, false, true}), "--x: 1 is out of range [0, 1)");
  EXPECT_EQ(real_error<float>("1e400", RealRange{0, 100}), "--x: 1e400 is out of range [0, 100]");
  // Finite as a double, infinite as the float the daemon gets.
  EXPECT_EQ(real_error<float>("1e39", RealRange{0, 1e40}), "--x: 1e39 is out of range [0, 1e+40]");
  // Above 0 as written, 0 as a float: (0, 1] does not hold it.
  EXPECT_EQ(real_error<float>("1e-50", RealRange{0, 1, true}), "--x: 1e-50 is out of range (0, 1]");
}

TEST(RingctlArgs, RealsMustBeFiniteDecimalAndTheWholeString) {
  const std::string expected = "--x: expected a number in [0, 100], got '";
  for (const char* text : {"", "-", "nan", "NaN", "-nan", "inf", "-inf", "infinity", "+1", " 1",
                           "1 ", "1e", "1e+", "0x1p3", "0x10", "1.5x", "1,5", "--1", "e5"}) {
    float v = 7;
    EXPECT_EQ(real_error(text, RealRange{0, 100}, &v), expected + text + "'") << text;
    EXPECT_EQ(v, 7.0f) << "changed by a rejected value: " << text;
  }
}

}  // namespace
}  // namespace ringctl
