#include "engine/text/utf8_stream.h"

#include <cstdint>

#include "utf8/utf8.h"

namespace ringserve::model {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

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
    utf8::LeadByte info;
    if (!utf8::lead_byte(lead, &info)) {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k <= info.need && i + k < input.size(); ++k) {
      const auto b = static_cast<uint8_t>(input[i + k]);
      if (k == 1 ? (b < info.low || b > info.high) : (b < 0x80 || b > 0xBF)) break;
    }
    if (k > info.need) {
      out.append(input, i, info.need + 1);
      i += info.need + 1;
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
