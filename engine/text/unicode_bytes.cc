#include "engine/text/unicode_bytes.h"

#include <array>
#include <string>

#include "utf8/utf8.h"

namespace ringserve::model {
namespace {

struct ByteTable {
  std::array<std::string, 256> spelling;
  std::array<int16_t, 512> byte_of;  // every mapped character is below U+0200

  ByteTable() {
    byte_of.fill(-1);
    char32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t cp = printable ? static_cast<char32_t>(b) : next_extra++;
      utf8::append(cp, &spelling[b]);
      byte_of[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteTable& table() {
  static const ByteTable t;
  return t;
}

}  // namespace

std::string_view byte_level_char(uint8_t b) { return table().spelling[b]; }

int byte_level_byte(char32_t cp) { return cp < 512 ? table().byte_of[cp] : -1; }

bool unicode_is_whitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

}  // namespace ringserve::model
