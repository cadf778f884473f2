#include "engine/text/utf8.h"

#include <cstdint>

namespace ringserve::model {

bool utf8_decode(std::string_view s, size_t i, char32_t* cp, size_t* length) {
  *length = 1;
  const auto lead = static_cast<uint8_t>(s[i]);
  if (lead < 0x80) {
    *cp = lead;
    return true;
  }
  size_t need = 0;
  char32_t value = 0;
  // The second byte's range carries the overlong, surrogate and > U+10FFFF checks (RFC 3629).
  uint8_t low = 0x80;
  uint8_t high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    value = lead & 0x0F;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    value = lead & 0x07;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return false;
  }
  if (i + need >= s.size()) return false;  // truncated
  for (size_t k = 1; k <= need; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if (k == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) return false;
    value = (value << 6) | (b & 0x3F);
  }
  *cp = value;
  *length = need + 1;
  return true;
}

size_t utf8_char_length(std::string_view s, size_t i) {
  char32_t cp = 0;
  size_t length = 1;
  utf8_decode(s, i, &cp, &length);
  return length;
}

void utf8_append(char32_t cp, std::string* out) {
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

bool utf8_is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    size_t length = 1;
    if (!utf8_decode(s, i, &cp, &length)) return false;
    i += length;
  }
  return true;
}

}  // namespace ringserve::model
