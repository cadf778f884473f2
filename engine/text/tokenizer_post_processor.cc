#include "engine/text/tokenizer_post_processor.h"

#include <string_view>

#include "engine/text/tokenizer_json_steps.h"

namespace ringserve::model::tokenizer_json {
namespace {

using nlohmann::json;

// Ids beyond this are a corrupt file (the same bound as the vocab's).
constexpr int64_t kMaxTokenId = 1 << 24;

bool read_id(const json& j, int32_t* id) {
  if (!j.is_number_integer() || j.get<int64_t>() < 0 || j.get<int64_t>() >= kMaxTokenId) {
    return false;
  }
  *id = static_cast<int32_t>(j.get<int64_t>());
  return true;
}

// TemplateProcessing: "single" is a list of {"SpecialToken": {"id": NAME}} and one
// {"Sequence": {"id": "A"}}; each NAME's ids come from "special_tokens".
bool parse_template(const json& j, SpecialTokenFrame* frame, std::string* error) {
  const std::string where = "post_processor (TemplateProcessing): ";
  const auto fail = [&](std::string_view what) {
    *error = where;
    *error += what;
    return false;
  };
  if (!j.contains("single") || !j["single"].is_array()) {
    return fail("'single' must be a list");
  }
  const json& specials = j.contains("special_tokens") ? j["special_tokens"] : json::object();
  bool seen_sequence = false;
  for (const json& piece : j["single"]) {
    if (piece.is_object() && piece.contains("Sequence")) {
      if (seen_sequence) {
        return fail("'single' holds more than one sequence");
      }
      seen_sequence = true;
      continue;
    }
    const json* name = nullptr;
    if (piece.is_object() && piece.contains("SpecialToken") && piece["SpecialToken"].is_object() &&
        piece["SpecialToken"].contains("id") && piece["SpecialToken"]["id"].is_string()) {
      name = &piece["SpecialToken"]["id"];
    }
    if (name == nullptr) {
      return fail("'single' entry " + piece.dump() + " is neither SpecialToken nor Sequence");
    }
    const std::string key = name->get<std::string>();
    if (!specials.is_object() || !specials.contains(key) || !specials[key].is_object() ||
        !specials[key].contains("ids") || !specials[key]["ids"].is_array()) {
      return fail("special token '" + key + "' has no ids in 'special_tokens'");
    }
    for (const json& id_json : specials[key]["ids"]) {
      int32_t id = 0;
      if (!read_id(id_json, &id)) {
        return fail("special token '" + key + "' has bad id " + id_json.dump());
      }
      (seen_sequence ? frame->suffix : frame->prefix).push_back(id);
    }
  }
  if (!seen_sequence) {
    return fail("'single' has no sequence ($A)");
  }
  return true;
}

// RobertaProcessing / BertProcessing: "cls": [TOKEN, ID] before, "sep": [TOKEN, ID] after.
bool parse_cls_sep(const json& j, const std::string& type, SpecialTokenFrame* frame,
                   std::string* error) {
  int32_t cls = 0;
  int32_t sep = 0;
  for (const auto& [key, out] : {std::pair<const char*, int32_t*>{"cls", &cls}, {"sep", &sep}}) {
    if (!j.contains(key) || !j[key].is_array() || j[key].size() != 2 || !read_id(j[key][1], out)) {
      *error = "post_processor (" + type + "): '" + key + "' must be [token, id]";
      return false;
    }
  }
  frame->prefix.push_back(cls);
  frame->suffix.push_back(sep);
  return true;
}

}  // namespace

bool parse_post_processor(const json& j, SpecialTokenFrame* frame, std::string* error) {
  if (j.is_null()) return true;
  const std::string type = type_of(j);
  if (type == "ByteLevel") return true;
  if (type == "TemplateProcessing") return parse_template(j, frame, error);
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    return parse_cls_sep(j, type, frame, error);
  }
  if (type == "Sequence") {
    if (!j.contains("processors") || !j["processors"].is_array()) {
      *error = "post_processor (Sequence): 'processors' must be a list";
      return false;
    }
    // Each processor wraps what the ones before it produced.
    for (const json& step : j["processors"]) {
      SpecialTokenFrame inner;
      if (!parse_post_processor(step, &inner, error)) return false;
      frame->prefix.insert(frame->prefix.begin(), inner.prefix.begin(), inner.prefix.end());
      frame->suffix.insert(frame->suffix.end(), inner.suffix.begin(), inner.suffix.end());
    }
    return true;
  }
  *error = "unsupported post_processor type '" + (type.empty() ? std::string("?") : type) + "'";
  return false;
}

}  // namespace ringserve::model::tokenizer_json
