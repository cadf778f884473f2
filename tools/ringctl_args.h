// Strict parsing of ringctl's numeric flag values. A value is taken only when the whole text is
// one number of the flag's kind and inside the flag's range: strtod and casts had turned
// `--max-tokens 4294967297` into 1, `-1` into 4294967295 and `--priority 1e12` into whatever
// the cast made of it. Integers are decimal digits with a '-' only where the range allows
// negatives; no '+', spaces, exponent, fraction or hex. Reals are decimal (with an optional
// exponent), finite, with no '+', spaces or hex. Header-only so the tests check the same code
// the binary runs without linking ringctl's sources.
//
// Errors come back as one line naming the flag and what it accepts:
//   --max-tokens: 4294967297 is out of range 1..4294967295
//   --priority: expected an integer in -2147483648..2147483647, got '1e12'
//   --top-p: 0 is out of range (0, 1]
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

namespace ringctl {

// The integers lo..hi (both included).
struct IntRange {
  int64_t lo = 0;
  uint64_t hi = 0;
};

// The reals between lo and hi, each end included or not.
struct RealRange {
  double lo = 0;
  double hi = 0;
  bool lo_open = false;
  bool hi_open = false;
};

template <class T>
constexpr IntRange range_of(int64_t lo = std::numeric_limits<T>::min()) {
  return {lo, static_cast<uint64_t>(std::numeric_limits<T>::max())};
}

inline std::string to_text(const IntRange& r) {
  return std::to_string(r.lo) + ".." + std::to_string(r.hi);
}

inline std::string to_text(const RealRange& r) {
  // Shortest form: 0, 1 and 100 rather than 0.000000.
  auto number = [](double v) {
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    return ec == std::errc() ? std::string(buf, end) : std::string("?");
  };
  return std::string(r.lo_open ? "(" : "[") + number(r.lo) + ", " + number(r.hi) +
         (r.hi_open ? ")" : "]");
}

// Parses `text` as an integer in `range`: *out_signed and *out_unsigned both get it where it
// fits them. Returns "" on success, else the message.
inline std::string parse_integer(std::string_view flag, std::string_view text, IntRange range,
                                 int64_t* out_signed, uint64_t* out_unsigned) {
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  bool all_digits = !digits.empty();
  for (const char c : digits) all_digits = all_digits && c >= '0' && c <= '9';
  if (!all_digits) {
    return std::string(flag) + ": expected an integer in " + to_text(range) + ", got '" +
           std::string(text) + "'";
  }
  std::string out_of_range =
      std::string(flag) + ": " + std::string(text) + " is out of range " + to_text(range);
  // Only digits are left, so from_chars reads all of them or reports the overflow.
  if (negative) {
    int64_t v = 0;
    if (range.lo >= 0) return out_of_range;  // "-0" too: no sign where none is meant
    if (std::from_chars(text.data(), text.data() + text.size(), v).ec != std::errc() ||
        v < range.lo) {
      return out_of_range;
    }
    *out_signed = v;
    *out_unsigned = 0;
    return "";
  }
  uint64_t v = 0;
  if (std::from_chars(digits.data(), digits.data() + digits.size(), v).ec != std::errc() ||
      v > range.hi || (range.lo > 0 && v < static_cast<uint64_t>(range.lo))) {
    return out_of_range;
  }
  *out_unsigned = v;
  *out_signed = v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                    ? static_cast<int64_t>(v)
                    : std::numeric_limits<int64_t>::max();
  return "";
}

// The same into an integer type T; `range` must lie within T's.
template <class T>
std::string parse_integer(std::string_view flag, std::string_view text, IntRange range, T* out) {
  int64_t s = 0;
  uint64_t u = 0;
  std::string error = parse_integer(flag, text, range, &s, &u);
  if (!error.empty()) return error;
  if constexpr (std::numeric_limits<T>::is_signed) {
    *out = static_cast<T>(s);
  } else {
    *out = static_cast<T>(u);
  }
  return "";
}

// Parses `text` as a real in `range` into *out (a float or a double). The range is checked on
// the value as T holds it, which is what the daemon sees.
template <class T>
std::string parse_real(std::string_view flag, std::string_view text, RealRange range, T* out) {
  std::string bad = std::string(flag) + ": expected a number in " + to_text(range) + ", got '" +
                    std::string(text) + "'";
  std::string out_of_range =
      std::string(flag) + ": " + std::string(text) + " is out of range " + to_text(range);
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view body = negative ? text.substr(1) : text;
  // A digit or a '.' first: rules out "inf", "nan", "+1", " 1" and a second sign, which
  // from_chars would take (the words) or strtod would (the rest).
  if (body.empty() || !((body.front() >= '0' && body.front() <= '9') || body.front() == '.')) {
    return bad;
  }
  double v = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), v, std::chars_format::general);
  if (end != text.data() + text.size()) return bad;
  if (ec == std::errc::result_out_of_range) return out_of_range;  // beyond a double, or tiny
  if (ec != std::errc() || !std::isfinite(v)) return bad;
  const double held = static_cast<double>(static_cast<T>(v));
  if (!std::isfinite(held)) return out_of_range;
  const bool above_lo = range.lo_open ? held > range.lo : held >= range.lo;
  const bool below_hi = range.hi_open ? held < range.hi : held <= range.hi;
  if (!above_lo || !below_hi) return out_of_range;
  *out = static_cast<T>(v);
  return "";
}

}  // namespace ringctl
