#include "gateway/openai_request.h"

#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

namespace ringserve::gateway {
namespace {

using nlohmann::json;

// Deepest nesting of `[` and `{` outside strings: checked before parsing, so a body of a
// million brackets costs one pass and no parser stack.
int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

const char* type_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

ApiError not_supported(const std::string& field, const std::string& what) {
  return bad_field(field, "'" + field + "' " + what + " is not supported by ringserve");
}

// A number in [min, max] (or (min, max] when !min_inclusive, [min, max) when !max_inclusive).
ApiError number_in(const json& body, const char* field, double min, bool min_inclusive, double max,
                   bool max_inclusive, float* out) {
  const auto it = body.find(field);
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_number()) return wrong_type(field, "a number", *it);
  const double v = it->get<double>();
  if ((min_inclusive ? v < min : v <= min) || (max_inclusive ? v > max : v >= max)) {
    return bad_field(field, "'" + std::string(field) + "' is " + it->dump() + ", outside " +
                                (min_inclusive ? "[" : "(") + json(min).dump() + ", " +
                                json(max).dump() + (max_inclusive ? "]" : ")"));
  }
  *out = static_cast<float>(v);
  return {};
}

// A whole number in [min, max].
ApiError integer_in(const json& body, const char* field, int64_t min, int64_t max,
                    std::optional<int64_t>* out) {
  const auto it = body.find(field);
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_number_integer()) return wrong_type(field, "an integer", *it);
  const bool too_big =
      it->is_number_unsigned() &&
      it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  const int64_t v = too_big ? std::numeric_limits<int64_t>::max() : it->get<int64_t>();
  if (too_big || v < min || v > max) {
    return bad_field(field, "'" + std::string(field) + "' is " + it->dump() + ", outside " +
                                std::to_string(min) + ".." + std::to_string(max));
  }
  *out = v;
  return {};
}

// A chat message's content: a string, or an array of {"type":"text","text":...} parts.
ApiError message_content(const json& content, const std::string& field, std::string* out) {
  if (content.is_null()) return {};
  if (content.is_string()) {
    *out = content.get<std::string>();
    return {};
  }
  if (!content.is_array()) return wrong_type(field, "a string or an array of parts", content);
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string part_field = field + "[" + std::to_string(i) + "]";
    if (!part.is_object()) return wrong_type(part_field, "an object", part);
    const auto type = part.find("type");
    if (type == part.end() || !type->is_string()) {
      return bad_field(part_field + ".type", "'" + part_field + ".type' must be a string");
    }
    if (*type != "text") {
      return not_supported(part_field + ".type", "'" + type->get<std::string>() + "'");
    }
    const auto text = part.find("text");
    if (text == part.end() || !text->is_string()) {
      return bad_field(part_field + ".text", "'" + part_field + ".text' must be a string");
    }
    *out += text->get<std::string>();
  }
  return {};
}

ApiError parse_messages(const json& body, std::vector<ChatMessage>* out) {
  const auto it = body.find("messages");
  if (it == body.end()) return bad_field("messages", "'messages' is required");
  if (!it->is_array()) return wrong_type("messages", "an array", *it);
  if (it->empty()) return bad_field("messages", "'messages' must not be empty");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string field = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return wrong_type(field, "an object", m);
    const auto role = m.find("role");
    if (role == m.end()) return bad_field(field + ".role", "'" + field + ".role' is required");
    if (!role->is_string()) return wrong_type(field + ".role", "a string", *role);
    ChatMessage message;
    message.role = role->get<std::string>();
    // OpenAI's newer name for the system role.
    if (message.role == "developer") message.role = "system";
    if (message.role != "system" && message.role != "user" && message.role != "assistant") {
      return bad_field(field + ".role", "'" + field + ".role' is '" + role->get<std::string>() +
                                            "': ringserve takes system, developer, user and "
                                            "assistant messages");
    }
    for (const char* unsupported : {"tool_calls", "function_call"}) {
      const auto extra = m.find(unsupported);
      if (extra != m.end() && !extra->is_null()) {
        return not_supported(field + "." + unsupported, "");
      }
    }
    const auto content = m.find("content");
    if (content == m.end()) {
      return bad_field(field + ".content", "'" + field + ".content' is required");
    }
    ApiError e = message_content(*content, field + ".content", &message.content);
    if (!e.ok()) return e;
    out->push_back(std::move(message));
  }
  return {};
}

ApiError parse_prompt(const json& body, std::string* out) {
  const auto it = body.find("prompt");
  if (it == body.end()) return bad_field("prompt", "'prompt' is required");
  if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
    *out = (*it)[0].get<std::string>();
  } else if (it->is_array()) {
    return not_supported("prompt", "as an array of several prompts or of token ids");
  } else if (it->is_string()) {
    *out = it->get<std::string>();
  } else {
    return wrong_type("prompt", "a string", *it);
  }
  if (out->empty()) return bad_field("prompt", "'prompt' must not be empty");
  return {};
}

ApiError parse_stop(const json& body, std::vector<std::string>* out) {
  const auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return {};
  if (it->is_string()) {
    out->push_back(it->get<std::string>());
  } else if (it->is_array()) {
    if (it->size() > 8) return bad_field("stop", "'stop' may hold at most 8 strings");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string field = "stop[" + std::to_string(i) + "]";
      if (!(*it)[i].is_string()) return wrong_type(field, "a string", (*it)[i]);
      out->push_back((*it)[i].get<std::string>());
    }
  } else {
    return wrong_type("stop", "a string or an array of strings", *it);
  }
  for (const std::string& s : *out) {
    if (s.empty() || s.size() > 64) {
      return bad_field("stop", "each 'stop' string must be 1 to 64 bytes long");
    }
  }
  return {};
}

// Fields OpenAI defines that ringserve has no equivalent of: an error unless absent, null or
// their neutral value.
ApiError reject_unsupported(const json& body) {
  for (const char* field : {"tools", "tool_choice", "functions", "function_call", "logit_bias",
                            "suffix", "audio", "modalities", "prediction"}) {
    const auto it = body.find(field);
    if (it != body.end() && !it->is_null() && !(it->is_object() && it->empty()) &&
        !(it->is_array() && it->empty()) && !(it->is_string() && *it == "none")) {
      return not_supported(field, "");
    }
  }
  for (const char* field : {"logprobs", "echo"}) {
    const auto it = body.find(field);
    if (it != body.end() && !it->is_null() && *it != false && *it != 0) {
      return not_supported(field, "");
    }
  }
  for (const char* field : {"top_logprobs"}) {
    const auto it = body.find(field);
    if (it != body.end() && !it->is_null() && *it != 0) return not_supported(field, "");
  }
  for (const char* field : {"n", "best_of"}) {
    const auto it = body.find(field);
    if (it != body.end() && !it->is_null() && *it != 1) {
      return not_supported(field, "other than 1");
    }
  }
  for (const char* field : {"presence_penalty", "frequency_penalty"}) {
    const auto it = body.find(field);
    if (it != body.end() && !it->is_null() && (!it->is_number() || it->get<double>() != 0.0)) {
      return not_supported(field, "other than 0 (use repetition_penalty)");
    }
  }
  const auto format = body.find("response_format");
  if (format != body.end() && !format->is_null()) {
    if (!format->is_object()) return wrong_type("response_format", "an object", *format);
    const auto type = format->find("type");
    if (type != format->end() && *type != "text") {
      return not_supported("response_format.type", "other than 'text'");
    }
  }
  return {};
}

ApiError parse_stream(const json& body, CompletionRequest* out) {
  const auto stream = body.find("stream");
  if (stream != body.end() && !stream->is_null()) {
    if (!stream->is_boolean()) return wrong_type("stream", "a boolean", *stream);
    out->stream = stream->get<bool>();
  }
  const auto options = body.find("stream_options");
  if (options == body.end() || options->is_null()) return {};
  if (!options->is_object()) return wrong_type("stream_options", "an object", *options);
  const auto usage = options->find("include_usage");
  if (usage != options->end() && !usage->is_null()) {
    if (!usage->is_boolean()) {
      return wrong_type("stream_options.include_usage", "a boolean", *usage);
    }
    out->include_usage = usage->get<bool>();
  }
  return {};
}

ApiError parse_sampling(const json& body, CompletionRequest* out) {
  GenerateParams& p = out->params;
  ApiError e;
  if (!(e = number_in(body, "temperature", 0, true, 100, true, &p.temperature)).ok()) return e;
  if (!(e = number_in(body, "top_p", 0, false, 1, true, &p.top_p)).ok()) return e;
  if (!(e = number_in(body, "min_p", 0, true, 1, false, &p.min_p)).ok()) return e;
  if (!(e = number_in(body, "repetition_penalty", 0, false, 100, true, &p.repetition_penalty))
           .ok()) {
    return e;
  }
  std::optional<int64_t> n;
  if (!(e = integer_in(body, "top_k", 0, std::numeric_limits<int32_t>::max(), &n)).ok()) return e;
  if (n) p.top_k = static_cast<int32_t>(*n);
  n.reset();
  if (!(e = integer_in(body, "seed", std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<int64_t>::max(), &n))
           .ok()) {
    return e;
  }
  // The daemon reads seed 0 as "no seed"; any other value (negative ones as their two's
  // complement) gives the same output for the same prompt.
  if (n) p.seed = static_cast<uint64_t>(*n);
  for (const char* field : {"max_completion_tokens", "max_tokens"}) {
    n.reset();
    if (!(e = integer_in(body, field, 1, std::numeric_limits<uint32_t>::max(), &n)).ok()) return e;
    if (n && !out->max_tokens) out->max_tokens = static_cast<uint32_t>(*n);
  }
  return parse_stop(body, &p.stop);
}

}  // namespace

ApiError wrong_type(const std::string& field, const char* expected, const json& value) {
  return bad_field(field, "'" + field + "' must be " + expected + ", not " + type_of(value));
}

ApiError parse_json_object(std::string_view text, json* out) {
  if (json_depth(text) > kMaxJsonDepth) {
    return bad_field("", "the body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  *out = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) return bad_field("", "the body is not valid JSON");
  if (!out->is_object()) return bad_field("", "the body must be a JSON object");
  return {};
}

ApiError parse_completion_request(Endpoint endpoint, std::string_view body_text,
                                  CompletionRequest* out) {
  *out = {};
  out->endpoint = endpoint;
  json body;
  if (ApiError e = parse_json_object(body_text, &body); !e.ok()) return e;
  const auto model = body.find("model");
  if (model != body.end() && !model->is_null() && !model->is_string()) {
    return wrong_type("model", "a string", *model);
  }
  ApiError e = endpoint == Endpoint::kChat ? parse_messages(body, &out->messages)
                                           : parse_prompt(body, &out->prompt);
  if (e.ok()) e = reject_unsupported(body);
  if (e.ok()) e = parse_stream(body, out);
  if (e.ok()) e = parse_sampling(body, out);
  return e;
}

}  // namespace ringserve::gateway
