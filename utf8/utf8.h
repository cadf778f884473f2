// UTF-8 as RFC 3629 defines it, in one place for the whole tree: the request rules
// (shm/request_check.h, on both sides of the segment), the tokenizers and the streaming
// detokenizer (engine/text/), the echo backend (daemon/). A leaf with no dependencies but the
// standard library, so shm/ and engine/ can both include it without knowing each other.
//
// Valid means shortest form, no surrogates, nothing above U+10FFFF. The checks sit in the range
// allowed for the byte after the lead (lead_byte's low..high), as the Unicode standard's
// table 3-7 lays them out, so a decoder that stops at the first bad byte (the streaming one)
// and one that takes a whole character agree on where invalid input starts.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringserve::utf8 {

// What a lead byte promises: `need` continuation bytes (1..3), the first of them in
// [low, high], the others in [0x80, 0xBF].
struct LeadByte {
  size_t need = 0;
  uint8_t low = 0x80;
  uint8_t high = 0xBF;
};

// False for a byte that cannot start a multi-byte character (ASCII, a continuation byte, C0,
// C1, F5..FF).
constexpr bool lead_byte(uint8_t lead, LeadByte* out) {
  *out = LeadByte{};
  if (lead >= 0xC2 && lead <= 0xDF) {
    out->need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    out->need = 2;
    if (lead == 0xE0) out->low = 0xA0;   // below: overlong
    if (lead == 0xED) out->high = 0x9F;  // above: surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    out->need = 3;
    if (lead == 0xF0) out->low = 0x90;   // below: overlong
    if (lead == 0xF4) out->high = 0x8F;  // above: past U+10FFFF
  } else {
    return false;
  }
  return true;
}

// Decodes the character at s[i] (i < s.size()). True with *cp and *length when the bytes there
// form a valid character; false with *length = 1 otherwise (so a caller that treats an invalid
// byte as a character of its own can step over it).
constexpr bool decode(std::string_view s, size_t i, char32_t* cp, size_t* length) {
  *length = 1;
  const auto lead = static_cast<uint8_t>(s[i]);
  if (lead < 0x80) {
    *cp = lead;
    return true;
  }
  LeadByte info;
  if (!lead_byte(lead, &info) || i + info.need >= s.size()) return false;
  char32_t value = lead & (0x3F >> info.need);  // the lead's payload bits
  for (size_t k = 1; k <= info.need; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if (k == 1 ? (b < info.low || b > info.high) : (b < 0x80 || b > 0xBF)) return false;
    value = (value << 6) | (b & 0x3F);
  }
  *cp = value;
  *length = info.need + 1;
  return true;
}

// Length of the character at s[i]: 1..4 for a valid character, 1 for an invalid byte.
constexpr size_t char_length(std::string_view s, size_t i) {
  char32_t cp = 0;
  size_t length = 1;
  decode(s, i, &cp, &length);
  return length;
}

// True if all of s is valid; otherwise false with *bad_offset (when given) at the first byte of
// the first invalid character.
constexpr bool is_valid(std::string_view s, size_t* bad_offset = nullptr) {
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    size_t length = 1;
    if (!decode(s, i, &cp, &length)) {
      if (bad_offset != nullptr) *bad_offset = i;
      return false;
    }
    i += length;
  }
  return true;
}

// Appends cp (<= U+10FFFF, not a surrogate) as UTF-8.
inline void append(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace ringserve::utf8
