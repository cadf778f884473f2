#include "engine/text/utf8_stream.h"

#include <cstdint>

namespace ringserve::model {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// How many continuation bytes a lead byte needs, and the range its first continuation must be
// in (which is what rules out overlong forms, surrogates and values above U+10FFFF).
// Returns false for a byte that cannot start a character.
bool lead_info(uint8_t lead, size_t* need, uint8_t* low, uint8_t* high) {
  *low = 0x80;
  *high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    *need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    *need = 2;
    if (lead == 0xE0) *low = 0xA0;
    if (lead == 0xED) *high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    *need = 3;
    if (lead == 0xF0) *low = 0x90;
    if (lead == 0xF4) *high = 0x8F;
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
  std::string input = std::move(pending_);
  pending_.clear();
  input.append(bytes);
  std::string out;
  out.reserve(input.size());
  size_t i = 0;
  while (i < input.size()) {
    const auto lead = static_cast<uint8_t>(input[i]);
    if (lead < 0x80) {
      out.push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    size_t need = 0;
    uint8_t low = 0;
    uint8_t high = 0;
    if (!lead_info(lead, &need, &low, &high)) {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k <= need && i + k < input.size(); ++k) {
      const auto b = static_cast<uint8_t>(input[i + k]);
      if (k == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) break;
    }
    if (k > need) {
      out.append(input, i, need + 1);
      i += need + 1;
    } else if (i + k == input.size()) {
      pending_ = input.substr(i);  // a valid prefix so far: wait for the rest
      break;
    } else {
      out += kReplacement;  // input[i, i+k) is a maximal invalid subpart
      i += k;
    }
  }
  return out;
}

std::string Utf8Stream::finish() {
  const bool incomplete = !pending_.empty();
  pending_.clear();
  return incomplete ? std::string(kReplacement) : std::string();
}

}  // namespace ringserve::model
