// The text library's old names for the UTF-8 functions of utf8/utf8.h, which holds the one
// decoder of the tree. Kept for code outside engine/text that still spells them this way
// (tools/model_making); new code includes utf8/utf8.h.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "utf8/utf8.h"

namespace ringserve::model {

inline bool utf8_decode(std::string_view s, size_t i, char32_t* cp, size_t* length) {
  return utf8::decode(s, i, cp, length);
}
inline size_t utf8_char_length(std::string_view s, size_t i) { return utf8::char_length(s, i); }
inline void utf8_append(char32_t cp, std::string* out) { utf8::append(cp, out); }
inline bool utf8_is_valid(std::string_view s) { return utf8::is_valid(s); }

}  // namespace ringserve::model
