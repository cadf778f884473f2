// The pipeline parts of a tokenizer.json (normalizer, pre_tokenizer, decoder), read into the
// step lists that tokenizer_normalizer / pretokenize / tokenizer_decoder run.
#include "engine/text/tokenizer_json_steps.h"

#include <algorithm>

#include "utf8/utf8.h"

namespace ringserve::model::tokenizer_json {

using nlohmann::json;

std::string type_of(const json& j) {
  return j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>()
                                                                      : "";
}

// Reads an optional field of the given kind; false with *error when present with another kind.
bool get_bool(const json& j, const char* key, bool fallback, bool* out, const std::string& where,
              std::string* error) {
  *out = fallback;
  if (!j.contains(key) || j[key].is_null()) return true;
  if (!j[key].is_boolean()) {
    *error = where + ": '" + key + "' must be true or false";
    return false;
  }
  *out = j[key].get<bool>();
  return true;
}

bool get_string(const json& j, const char* key, std::string* out, const std::string& where,
                std::string* error) {
  if (!j.contains(key) || !j[key].is_string()) {
    *error = where + ": '" + key + "' must be a string";
    return false;
  }
  *out = j[key].get<std::string>();
  return true;
}

// A {"String": s} or {"Regex": r} pattern. Literal strings get a null *regex.
static bool get_pattern(const json& j, const std::string& where, std::string* literal,
                        std::shared_ptr<const PretokenizeRegex>* regex, std::string* error) {
  const json* pattern = j.contains("pattern") ? &j["pattern"] : nullptr;
  if (pattern != nullptr && pattern->is_object() && pattern->contains("String") &&
      (*pattern)["String"].is_string()) {
    *literal = (*pattern)["String"].get<std::string>();
    return true;
  }
  if (pattern != nullptr && pattern->is_object() && pattern->contains("Regex") &&
      (*pattern)["Regex"].is_string()) {
    std::string regex_error;
    *regex = PretokenizeRegex::compile((*pattern)["Regex"].get<std::string>(), false, &regex_error);
    if (*regex == nullptr) *error = where + ": " + regex_error;
    return *regex != nullptr;
  }
  *error = where + ": 'pattern' must be {\"String\": ...} or {\"Regex\": ...}";
  return false;
}

bool parse_normalizer(const json& j, std::vector<NormalizeStep>* steps, std::string* error) {
  if (j.is_null()) return true;
  const std::string type = type_of(j);
  const std::string where = "normalizer " + (type.empty() ? j.dump() : type);
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array()) {
      *error = "normalizer Sequence: 'normalizers' must be an array";
      return false;
    }
    for (const json& inner : j["normalizers"]) {
      if (!parse_normalizer(inner, steps, error)) return false;
    }
    return true;
  }
  NormalizeStep step;
  if (type == "Prepend") {
    step.kind = NormalizeStep::Kind::kPrepend;
    if (!get_string(j, "prepend", &step.text, where, error)) return false;
  } else if (type == "Replace") {
    step.kind = NormalizeStep::Kind::kReplace;
    if (!get_pattern(j, where, &step.text, &step.regex, error) ||
        !get_string(j, "content", &step.replacement, where, error)) {
      return false;
    }
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    if (!unicode_normalization_available()) {
      *error = "normalizer " + type + " needs ICU, which this build of ringserve lacks";
      return false;
    }
    step.kind = NormalizeStep::Kind::kUnicode;
    step.form = type == "NFC"    ? UnicodeForm::kNfc
                : type == "NFD"  ? UnicodeForm::kNfd
                : type == "NFKC" ? UnicodeForm::kNfkc
                                 : UnicodeForm::kNfkd;
  } else {
    *error = "unsupported normalizer '" + (type.empty() ? j.dump() : type) +
             "' (supported: Prepend, Replace, NFC, NFD, NFKC, NFKD, Sequence)";
    return false;
  }
  steps->push_back(std::move(step));
  return true;
}

static bool parse_prepend_scheme(const json& j, const std::string& where, PrependScheme* scheme,
                                 std::string* error) {
  // HF: add_prefix_space false means "never"; otherwise prepend_scheme, default "always".
  *scheme = PrependScheme::kAlways;
  if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
    const std::string s =
        j["prepend_scheme"].is_string() ? j["prepend_scheme"].get<std::string>() : "";
    if (s == "always") {
      *scheme = PrependScheme::kAlways;
    } else if (s == "first") {
      *scheme = PrependScheme::kFirst;
    } else if (s == "never") {
      *scheme = PrependScheme::kNever;
    } else {
      *error = where + ": prepend_scheme must be \"always\", \"first\" or \"never\"";
      return false;
    }
  }
  bool add_prefix_space = true;
  if (!get_bool(j, "add_prefix_space", true, &add_prefix_space, where, error)) return false;
  if (!add_prefix_space) *scheme = PrependScheme::kNever;
  return true;
}

static bool parse_replacement(const json& j, const std::string& where, std::string* replacement,
                              std::string* error) {
  if (!get_string(j, "replacement", replacement, where, error)) return false;
  if (replacement->empty() || utf8::char_length(*replacement, 0) != replacement->size() ||
      !utf8::is_valid(*replacement)) {
    *error = where + ": 'replacement' must be one character";
    return false;
  }
  return true;
}

bool parse_pre_tokenizer(const json& j, std::vector<PretokenizeStep>* steps, std::string* error) {
  if (j.is_null()) return true;
  const std::string type = type_of(j);
  const std::string where = "pre_tokenizer " + type;
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array()) {
      *error = "pre_tokenizer Sequence: 'pretokenizers' must be an array";
      return false;
    }
    for (const json& inner : j["pretokenizers"]) {
      if (!parse_pre_tokenizer(inner, steps, error)) return false;
    }
    return true;
  }
  PretokenizeStep step;
  if (type == "ByteLevel") {
    step.kind = PretokenizeStep::Kind::kByteLevel;
    if (!get_bool(j, "add_prefix_space", true, &step.add_prefix_space, where, error) ||
        !get_bool(j, "use_regex", true, &step.use_regex, where, error)) {
      return false;
    }
    if (step.use_regex) step.regex = gpt2_split_regex();
  } else if (type == "Split") {
    step.kind = PretokenizeStep::Kind::kSplit;
    std::string literal;
    if (!get_pattern(j, where, &literal, &step.regex, error)) return false;
    if (step.regex == nullptr) {
      std::string regex_error;
      step.regex = PretokenizeRegex::compile(literal, true, &regex_error);
      if (step.regex == nullptr) {
        *error = where + ": " + regex_error;
        return false;
      }
    }
    std::string behavior;
    if (!get_string(j, "behavior", &behavior, where, error)) return false;
    if (behavior == "Removed") {
      step.behavior = SplitBehavior::kRemoved;
    } else if (behavior == "Isolated") {
      step.behavior = SplitBehavior::kIsolated;
    } else if (behavior == "MergedWithPrevious") {
      step.behavior = SplitBehavior::kMergedWithPrevious;
    } else if (behavior == "MergedWithNext") {
      step.behavior = SplitBehavior::kMergedWithNext;
    } else if (behavior == "Contiguous") {
      step.behavior = SplitBehavior::kContiguous;
    } else {
      *error = where + ": unknown behavior '" + behavior + "'";
      return false;
    }
    if (!get_bool(j, "invert", false, &step.invert, where, error)) return false;
  } else if (type == "Metaspace") {
    step.kind = PretokenizeStep::Kind::kMetaspace;
    if (!parse_replacement(j, where, &step.replacement, error) ||
        !parse_prepend_scheme(j, where, &step.prepend_scheme, error) ||
        !get_bool(j, "split", true, &step.split, where, error)) {
      return false;
    }
  } else {
    *error = "unsupported pre_tokenizer '" + (type.empty() ? j.dump() : type) +
             "' (supported: ByteLevel, Split, Metaspace, Sequence)";
    return false;
  }
  steps->push_back(std::move(step));
  return true;
}

bool parse_decoder(const json& j, DecodePlan* plan, bool* fused, std::string* error) {
  if (j.is_null()) return true;
  const std::string type = type_of(j);
  const std::string where = "decoder " + type;
  if (type == "Sequence") {
    if (!j.contains("decoders") || !j["decoders"].is_array()) {
      *error = "decoder Sequence: 'decoders' must be an array";
      return false;
    }
    for (const json& inner : j["decoders"]) {
      if (!parse_decoder(inner, plan, fused, error)) return false;
    }
    return true;
  }
  DecodeStep step;
  if (type == "Fuse") {
    *fused = true;  // later steps see the whole output as one string
    return true;
  }
  if (type == "ByteLevel") {
    step.kind = DecodeStep::Kind::kByteLevel;
  } else if (type == "ByteFallback") {
    step.kind = DecodeStep::Kind::kByteFallback;
  } else if (type == "Replace") {
    step.kind = DecodeStep::Kind::kReplace;
    std::shared_ptr<const PretokenizeRegex> regex;
    if (!get_pattern(j, where, &step.from, &regex, error) ||
        !get_string(j, "content", &step.to, where, error)) {
      return false;
    }
    if (regex != nullptr) {
      *error = where + ": a Regex pattern is not supported (only String)";
      return false;
    }
  } else if (type == "Strip") {
    step.kind = DecodeStep::Kind::kStrip;
    if (!get_string(j, "content", &step.from, where, error)) return false;
    if (!j.contains("start") || !j["start"].is_number_unsigned() || !j.contains("stop") ||
        !j["stop"].is_number_unsigned()) {
      *error = where + ": 'start' and 'stop' must be unsigned integers";
      return false;
    }
    step.start = static_cast<int>(std::min<uint64_t>(j["start"].get<uint64_t>(), 1u << 20));
    step.stop = static_cast<int>(std::min<uint64_t>(j["stop"].get<uint64_t>(), 1u << 20));
    if (*fused) {
      plan->output_strip = step.from;
      plan->output_strip_start = step.start;
      plan->output_strip_stop = step.stop;
      return true;
    }
  } else if (type == "Metaspace") {
    step.kind = DecodeStep::Kind::kMetaspace;
    PrependScheme scheme = PrependScheme::kAlways;
    if (!parse_replacement(j, where, &step.from, error) ||
        !parse_prepend_scheme(j, where, &scheme, error)) {
      return false;
    }
    if (scheme != PrependScheme::kNever) plan->drop_in_first_token = step.from;
  } else {
    *error = "unsupported decoder '" + (type.empty() ? j.dump() : type) +
             "' (supported: ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, Sequence)";
    return false;
  }
  plan->per_token.push_back(std::move(step));
  return true;
}

}  // namespace ringserve::model::tokenizer_json
