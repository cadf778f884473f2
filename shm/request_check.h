// The protocol's rules for a request's contents: parameter ranges and prompt encoding.
// Both sides apply them: the client to fail early with a precise message, the daemon because
// it trusts nothing in the segment. Pure functions, no allocation unless a rule is broken.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "shm/layout.h"

namespace ringserve::shm {

struct RequestCheck {
  RequestError error = RequestError::kNone;
  std::string message;  // names the field and the rule
  bool ok() const { return error == RequestError::kNone; }
};

// True if `bytes` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
inline bool is_valid_utf8(std::string_view bytes, size_t* bad_offset = nullptr) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    if (i + len > n) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) {
        if (bad_offset) *bad_offset = i;
        return false;
      }
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    const bool overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

inline RequestCheck check_params(const GenerationParams& p, uint32_t max_tokens_limit) {
  auto bad = [](const std::string& field, const std::string& rule) {
    return RequestCheck{RequestError::kInvalidParams, field + " " + rule};
  };
  if (p.max_tokens < 1 || p.max_tokens > max_tokens_limit) {
    return bad("max_tokens", "must be in 1.." + std::to_string(max_tokens_limit) + ", got " +
                                 std::to_string(p.max_tokens));
  }
  if (!std::isfinite(p.temperature) || p.temperature < 0.0f || p.temperature > 100.0f) {
    return bad("temperature", "must be in [0, 100]");
  }
  if (!std::isfinite(p.top_p) || p.top_p <= 0.0f || p.top_p > 1.0f) {
    return bad("top_p", "must be in (0, 1]");
  }
  if (!std::isfinite(p.min_p) || p.min_p < 0.0f || p.min_p >= 1.0f) {
    return bad("min_p", "must be in [0, 1)");
  }
  if (!std::isfinite(p.repetition_penalty) || p.repetition_penalty <= 0.0f ||
      p.repetition_penalty > 100.0f) {
    return bad("repetition_penalty", "must be in (0, 100]");
  }
  if (p.top_k < 0) return bad("top_k", "must be >= 0");
  if (p.stop_token_count > kMaxStopTokens) {
    return bad("stop_token_ids", "may hold at most " + std::to_string(kMaxStopTokens) + " ids");
  }
  for (uint32_t i = 0; i < p.stop_token_count; ++i) {
    if (p.stop_token_ids[i] < 0) return bad("stop_token_ids", "must be >= 0");
  }
  if (p.flags != 0) return bad("flags", "must be 0 (reserved)");
  return {};
}

inline RequestCheck check_prompt(std::string_view prompt, uint32_t prompt_capacity) {
  if (prompt.empty()) return {RequestError::kEmptyPrompt, "prompt is empty"};
  if (prompt.size() > prompt_capacity) {
    return {RequestError::kPromptTooLong, "prompt is " + std::to_string(prompt.size()) +
                                              " bytes, the limit is " +
                                              std::to_string(prompt_capacity)};
  }
  size_t bad_offset = 0;
  if (!is_valid_utf8(prompt, &bad_offset)) {
    return {RequestError::kInvalidUtf8,
            "prompt is not valid UTF-8 (at byte " + std::to_string(bad_offset) + ")"};
  }
  return {};
}

}  // namespace ringserve::shm
