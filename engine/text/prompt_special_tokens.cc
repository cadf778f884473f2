#include "engine/text/prompt_special_tokens.h"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "engine/model/read_file.h"
#include "engine/text/tokenizer.h"

namespace ringserve::model {
namespace {

using nlohmann::json;

// tokenizer_config.json names a token as a string or as a serialized AddedToken object.
std::string token_content(const json& config, const char* key) {
  if (!config.contains(key)) return "";
  const json& t = config[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string()) {
    return t["content"].get<std::string>();
  }
  return "";
}

// Applies add_KEY_token (when the config sets it) to *ids: [the KEY token] or nothing.
bool apply_flag(const json& config, const char* which, const Tokenizer& tokenizer,
                const std::string& path, std::vector<int32_t>* ids, std::string* error) {
  const std::string flag = std::string("add_") + which + "_token";
  if (!config.contains(flag) || !config[flag].is_boolean()) return true;
  ids->clear();
  if (!config[flag].get<bool>()) return true;
  const std::string key = std::string(which) + "_token";
  const std::string content = token_content(config, key.c_str());
  const std::optional<int32_t> id = tokenizer.find(content);
  if (content.empty() || !id) {
    *error = path + ": " + flag + " is true but " + key + " ('" + content + "') is not a token";
    return false;
  }
  ids->push_back(*id);
  return true;
}

}  // namespace

PromptSpecialTokens PromptSpecialTokens::from_tokenizer(const Tokenizer& tokenizer) {
  PromptSpecialTokens out;
  out.prefix_.assign(tokenizer.special_prefix().begin(), tokenizer.special_prefix().end());
  out.suffix_.assign(tokenizer.special_suffix().begin(), tokenizer.special_suffix().end());
  return out;
}

bool PromptSpecialTokens::load(const std::string& model_dir, const Tokenizer& tokenizer,
                               PromptSpecialTokens* out, std::string* error) {
  *out = from_tokenizer(tokenizer);
  const std::string path = model_dir + "/tokenizer_config.json";
  std::string text;
  if (read_file(path, &text) != ReadFileResult::kOk) return true;
  const json config = json::parse(text, nullptr, false);
  if (!config.is_object()) return true;
  return apply_flag(config, "bos", tokenizer, path, &out->prefix_, error) &&
         apply_flag(config, "eos", tokenizer, path, &out->suffix_, error);
}

std::vector<int32_t> PromptSpecialTokens::encode_raw(const Tokenizer& tokenizer,
                                                     std::string_view text) const {
  std::vector<int32_t> ids = prefix_;
  const std::vector<int32_t> body = tokenizer.encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  return ids;
}

std::vector<int32_t> PromptSpecialTokens::encode_chat(const Tokenizer& tokenizer,
                                                      std::string_view rendered) const {
  std::vector<int32_t> ids = tokenizer.encode(rendered);
  if (ids.size() >= prefix_.size() && std::equal(prefix_.begin(), prefix_.end(), ids.begin())) {
    return ids;  // the template wrote it
  }
  ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
  return ids;
}

}  // namespace ringserve::model
