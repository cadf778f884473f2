// The protocol's rules for a request's contents: parameter ranges, the prompt area's encoding
// (raw prompt or chat messages, then stop strings) and UTF-8.
// Both sides apply them: the client to fail early with a precise message, the daemon because
// it trusts nothing in the segment. Pure functions, no allocation unless a rule is broken.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shm/layout.h"
#include "utf8/utf8.h"

namespace ringserve::shm {

struct RequestCheck {
  RequestError error = RequestError::kNone;
  std::string message;  // names the field and the rule
  bool ok() const { return error == RequestError::kNone; }
};

// True if `bytes` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF);
// otherwise *bad_offset is where the first invalid character starts.
inline bool is_valid_utf8(std::string_view bytes, size_t* bad_offset = nullptr) {
  return utf8::is_valid(bytes, bad_offset);
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
  if ((p.flags & ~kKnownRequestFlags) != 0) return bad("flags", "has unknown bits set");
  if ((p.flags & kTextRequestFlags) == kTextRequestFlags) {
    return bad("flags", "ask for tokenize and detokenize at once");
  }
  if ((p.flags & kRequestAddSpecial) != 0 && (p.flags & kRequestTokenize) == 0) {
    return bad("flags", "ask for add_special, which only a tokenize request takes");
  }
  if ((p.flags & kRequestDetokenize) != 0 && (p.flags & kRequestChat) != 0) {
    return bad("flags", "ask for detokenize of chat messages; detokenize takes token ids");
  }
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

// The prompt area of a slot holds, back to back:
//   [prompt_length bytes]        the raw prompt (UTF-8), or with kRequestChat the messages:
//                                per message one role byte (ChatRole), a 4-byte little-endian
//                                content length, then the content (UTF-8)
//   [stop_strings_length bytes]  stop strings, each followed by one NUL byte
// A detokenize request (kRequestDetokenize) holds little-endian int32 token ids instead of the
// prompt, and no stop strings; neither does a tokenize request (kRequestTokenize).
inline constexpr uint32_t kMaxStopStrings = 8;
inline constexpr uint32_t kMaxStopStringBytes = 64;
inline constexpr uint32_t kMaxChatMessages = 1024;
enum class ChatRole : uint8_t { kSystem = 0, kUser = 1, kAssistant = 2 };

inline const char* chat_role_name(ChatRole role) {
  switch (role) {
    case ChatRole::kSystem:
      return "system";
    case ChatRole::kUser:
      return "user";
    case ChatRole::kAssistant:
      return "assistant";
  }
  return "?";
}

// What a request's prompt area says, after every rule was checked.
struct RequestPayload {
  std::string prompt;                                     // raw prompt (no kRequestChat)
  std::vector<std::pair<std::string, std::string>> chat;  // (role name, content)
  std::vector<std::string> stop_strings;
  std::vector<int32_t> token_ids;  // kRequestDetokenize: the ids, each >= 0
};

inline void append_chat_message(std::string* area, ChatRole role, std::string_view content) {
  area->push_back(static_cast<char>(role));
  const auto n = static_cast<uint32_t>(content.size());
  for (int i = 0; i < 4; ++i) area->push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  area->append(content);
}

inline void append_stop_string(std::string* area, std::string_view stop) {
  area->append(stop);
  area->push_back('\0');
}

inline void append_token_ids(std::string* area, const int32_t* ids, size_t count) {
  for (size_t k = 0; k < count; ++k) {
    const auto v = static_cast<uint32_t>(ids[k]);
    for (int i = 0; i < 4; ++i) area->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
}

// A detokenize request's ids (the whole prompt; the caller checked it lies in the area).
inline RequestCheck parse_token_ids(std::string_view body, std::vector<int32_t>* ids) {
  if (body.empty()) return {RequestError::kEmptyPrompt, "token ids are empty"};
  if (body.size() % 4 != 0) {
    return {RequestError::kInvalidParams, "token ids: prompt_length " +
                                              std::to_string(body.size()) +
                                              " is not a multiple of 4 (little-endian int32 ids)"};
  }
  ids->resize(body.size() / 4);
  for (size_t k = 0; k < ids->size(); ++k) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) {
      v |= static_cast<uint32_t>(static_cast<uint8_t>(body[4 * k + i])) << (8 * i);
    }
    const auto id = static_cast<int32_t>(v);
    if (id < 0) {
      return {RequestError::kInvalidParams,
              "token ids[" + std::to_string(k) + "] is " + std::to_string(id) + ": ids are >= 0"};
    }
    (*ids)[k] = id;
  }
  return {};
}

inline RequestCheck check_stop_string(std::string_view stop, size_t index) {
  const std::string field = "stop_strings[" + std::to_string(index) + "]";
  if (stop.empty()) return {RequestError::kInvalidParams, field + " is empty"};
  if (stop.size() > kMaxStopStringBytes) {
    return {RequestError::kInvalidParams,
            field + " is longer than " + std::to_string(kMaxStopStringBytes) + " bytes"};
  }
  if (stop.find('\0') != std::string_view::npos) {
    return {RequestError::kInvalidParams, field + " contains a NUL byte"};
  }
  if (!is_valid_utf8(stop)) return {RequestError::kInvalidUtf8, field + " is not valid UTF-8"};
  return {};
}

// Parses and checks a prompt area (`area` is the whole prompt_capacity bytes of the slot).
inline RequestCheck parse_request_payload(std::string_view area, uint32_t prompt_length,
                                          uint32_t stop_strings_length, uint32_t flags,
                                          RequestPayload* out) {
  if (static_cast<uint64_t>(prompt_length) + stop_strings_length > area.size()) {
    return {RequestError::kPromptTooLong,
            "prompt_length " + std::to_string(prompt_length) + " + stop_strings_length " +
                std::to_string(stop_strings_length) + " exceeds the slot's " +
                std::to_string(area.size()) + " bytes"};
  }
  const std::string_view body = area.substr(0, prompt_length);
  std::string_view stops = area.substr(prompt_length, stop_strings_length);
  *out = {};
  if ((flags & kTextRequestFlags) != 0 && !stops.empty()) {
    return {RequestError::kInvalidParams,
            "stop strings are given, but a tokenize or detokenize request takes none"};
  }
  if ((flags & kRequestDetokenize) != 0) return parse_token_ids(body, &out->token_ids);
  if ((flags & kRequestChat) == 0) {
    RequestCheck c = check_prompt(body, static_cast<uint32_t>(area.size()));
    if (!c.ok()) return c;
    out->prompt.assign(body);
  } else {
    size_t at = 0;
    while (at < body.size()) {
      const size_t index = out->chat.size();
      const std::string field = "messages[" + std::to_string(index) + "]";
      if (index >= kMaxChatMessages) {
        return {RequestError::kInvalidParams,
                "more than " + std::to_string(kMaxChatMessages) + " messages"};
      }
      if (body.size() - at < 5) {
        return {RequestError::kProtocolViolation, field + " is truncated"};
      }
      const auto role = static_cast<uint8_t>(body[at]);
      if (role > static_cast<uint8_t>(ChatRole::kAssistant)) {
        return {RequestError::kInvalidParams,
                field + ".role " + std::to_string(role) + " is not system, user or assistant"};
      }
      uint32_t n = 0;
      for (int i = 0; i < 4; ++i) {
        n |= static_cast<uint32_t>(static_cast<uint8_t>(body[at + 1 + static_cast<size_t>(i)]))
             << (8 * i);
      }
      at += 5;
      if (n > body.size() - at) {
        return {RequestError::kProtocolViolation, field + ".content runs past prompt_length"};
      }
      const std::string_view content = body.substr(at, n);
      size_t bad_offset = 0;
      if (!is_valid_utf8(content, &bad_offset)) {
        return {RequestError::kInvalidUtf8,
                field + ".content is not valid UTF-8 (at byte " + std::to_string(bad_offset) + ")"};
      }
      out->chat.emplace_back(chat_role_name(static_cast<ChatRole>(role)), std::string(content));
      at += n;
    }
    if (out->chat.empty()) return {RequestError::kEmptyPrompt, "messages is empty"};
  }
  while (!stops.empty()) {
    const size_t end = stops.find('\0');
    if (end == std::string_view::npos) {
      return {RequestError::kProtocolViolation, "stop strings are not NUL-terminated"};
    }
    if (out->stop_strings.size() >= kMaxStopStrings) {
      return {RequestError::kInvalidParams,
              "stop_strings may hold at most " + std::to_string(kMaxStopStrings) + " strings"};
    }
    RequestCheck c = check_stop_string(stops.substr(0, end), out->stop_strings.size());
    if (!c.ok()) return c;
    out->stop_strings.emplace_back(stops.substr(0, end));
    stops.remove_prefix(end + 1);
  }
  return {};
}

}  // namespace ringserve::shm
