// Tokenizer::load / parse: reads a tokenizer.json into TokenizerParts, refusing anything whose
// encoding we would not reproduce exactly (see tokenizer.h for what is supported).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "engine/model/read_file.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_json_steps.h"
#include "engine/text/tokenizer_parts.h"
#include "engine/text/tokenizer_post_processor.h"
#include "utf8/utf8.h"

namespace ringserve::model {
namespace {

using nlohmann::json;
using tokenizer_json::get_bool;
using tokenizer_json::get_string;
using tokenizer_json::type_of;

// Ids beyond this are a corrupt file, not a vocabulary (the largest real ones are ~256k).
constexpr int64_t kMaxTokenId = 1 << 24;

bool parse_merges(const json& merges_json, std::vector<std::pair<std::string, std::string>>* merges,
                  std::string* error) {
  if (!merges_json.is_array()) {
    *error = "model.merges must be an array";
    return false;
  }
  merges->reserve(merges_json.size());
  for (const json& m : merges_json) {
    const auto where = [&] { return "merge " + std::to_string(merges->size()); };
    if (m.is_string()) {
      // HF's legacy "a b" form: exactly one space; "#version" lines are comments.
      const std::string text = m.get<std::string>();
      if (text.starts_with("#version")) continue;
      const size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        *error = where() + " ('" + text + "') is not two tokens separated by one space";
        return false;
      }
      merges->emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges->emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      *error = where() + " (" + m.dump() + ") is neither \"a b\" nor [\"a\", \"b\"]";
      return false;
    }
  }
  return true;
}

bool parse_model(const json& j, std::unique_ptr<BpeModel>* model, std::string* error) {
  if (!j.is_object()) {
    *error = "'model' is missing or not an object";
    return false;
  }
  const std::string type = type_of(j);
  if (!(type == "BPE" || (type.empty() && j.contains("merges")))) {
    *error = "unsupported model type '" + (type.empty() ? std::string("?") : type) +
             "' (only BPE is supported)";
    return false;
  }
  if (!j.contains("vocab") || !j["vocab"].is_object()) {
    *error = "model.vocab must be an object of token -> id";
    return false;
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (j.contains(key) && !j[key].is_null() &&
        !(j[key].is_string() && j[key].get<std::string>().empty())) {
      *error = std::string("model.") + key + " is not supported";
      return false;
    }
  }
  if (j.contains("dropout") && !j["dropout"].is_null() &&
      !(j["dropout"].is_number() && j["dropout"].get<double>() == 0.0)) {
    *error = "model.dropout is not supported (it makes encoding random)";
    return false;
  }
  Vocab vocab;
  vocab.reserve(j["vocab"].size());
  std::vector<uint8_t> seen;
  for (const auto& [token, id_json] : j["vocab"].items()) {
    if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0 ||
        id_json.get<int64_t>() >= kMaxTokenId) {
      *error = "model.vocab: token '" + token + "' has bad id " + id_json.dump();
      return false;
    }
    const auto id = static_cast<int32_t>(id_json.get<int64_t>());
    if (static_cast<size_t>(id) >= seen.size()) seen.resize(static_cast<size_t>(id) + 1, 0);
    if (seen[id]) {
      *error =
          "model.vocab: id " + std::to_string(id) + " is used twice (again by '" + token + "')";
      return false;
    }
    seen[id] = 1;
    vocab.emplace(token, id);
  }
  std::vector<std::pair<std::string, std::string>> merges;
  if (!parse_merges(j.contains("merges") ? j["merges"] : json::array(), &merges, error)) {
    return false;
  }
  BpeOptions options;
  const std::string where = "model";
  if (!get_bool(j, "byte_fallback", false, &options.byte_fallback, where, error) ||
      !get_bool(j, "fuse_unk", false, &options.fuse_unk, where, error) ||
      !get_bool(j, "ignore_merges", false, &options.ignore_merges, where, error)) {
    return false;
  }
  if (j.contains("unk_token") && !j["unk_token"].is_null()) {
    if (!j["unk_token"].is_string()) {
      *error = "model.unk_token must be a string or null";
      return false;
    }
    options.unk_token = j["unk_token"].get<std::string>();
  }
  std::string model_error;
  if (!BpeModel::build(std::move(vocab), merges, std::move(options), model, &model_error)) {
    *error = "model: " + model_error;
    return false;
  }
  return true;
}

bool parse_added_tokens(const json& j, const Vocab& vocab, std::vector<AddedToken>* added,
                        std::string* error) {
  if (j.is_null()) return true;
  if (!j.is_array()) {
    *error = "'added_tokens' must be an array";
    return false;
  }
  for (const json& t : j) {
    const std::string where = "added_tokens[" + std::to_string(added->size()) + "]";
    AddedToken token;
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        t["id"].get<int64_t>() < 0 || t["id"].get<int64_t>() >= kMaxTokenId) {
      *error = where + ": needs a non-negative integer 'id'";
      return false;
    }
    token.id = static_cast<int32_t>(t["id"].get<int64_t>());
    if (!get_string(t, "content", &token.content, where, error)) return false;
    if (token.content.empty()) {
      *error = where + ": 'content' is empty";
      return false;
    }
    if (!get_bool(t, "single_word", false, &token.single_word, where, error) ||
        !get_bool(t, "lstrip", false, &token.lstrip, where, error) ||
        !get_bool(t, "rstrip", false, &token.rstrip, where, error) ||
        !get_bool(t, "normalized", true, &token.normalized, where, error) ||
        !get_bool(t, "special", false, &token.special, where, error)) {
      return false;
    }
    const auto in_vocab = vocab.find(token.content);
    if (in_vocab != vocab.end() && in_vocab->second != token.id) {
      *error = where + ": '" + token.content + "' has id " + std::to_string(token.id) +
               " but the vocab gives it " + std::to_string(in_vocab->second);
      return false;
    }
    added->push_back(std::move(token));
  }
  return true;
}

// Fills the by-id tables, the added-token matchers and the fast-path flag.
bool finish_parts(TokenizerParts* p, std::string* error) {
  size_t size = 0;
  for (const auto& [token, id] : p->model->vocab())
    size = std::max(size, static_cast<size_t>(id) + 1);
  for (const AddedToken& t : p->added) size = std::max(size, static_cast<size_t>(t.id) + 1);
  p->token_strings.assign(size, std::string());
  p->token_bytes.assign(size, std::string());
  p->is_added.assign(size, 0);
  p->is_special.assign(size, 0);
  for (const auto& [token, id] : p->model->vocab()) {
    p->token_strings[id] = token;
    p->token_bytes[id] = decode_token(p->decode_plan, token);
  }
  std::vector<AddedTokenMatcher::Pattern> raw;
  std::vector<AddedTokenMatcher::Pattern> normalized;
  for (const AddedToken& t : p->added) {
    if (p->is_added[t.id] && p->token_strings[t.id] != t.content) {
      *error = "added token id " + std::to_string(t.id) + " is given to both '" +
               p->token_strings[t.id] + "' and '" + t.content + "'";
      return false;
    }
    p->token_strings[t.id] = t.content;
    // HF decodes an added token like any other: its content goes through the decoder chain
    // (Gemma's "▁▁" decodes to two spaces). Special tokens too, when not skipped.
    p->token_bytes[t.id] = decode_token(p->decode_plan, t.content);
    p->is_added[t.id] = 1;
    p->is_special[t.id] = t.special ? 1 : 0;
    p->added_by_content[t.content] = t.id;
    if (t.normalized) {
      normalized.push_back({normalize_text(p->normalizers, t.content), &t});
    } else {
      raw.push_back({t.content, &t});
    }
  }
  for (const auto* ids : {&p->special_frame.prefix, &p->special_frame.suffix}) {
    for (const int32_t id : *ids) {
      if (static_cast<size_t>(id) >= size || p->token_strings[id].empty()) {
        *error = "post_processor: special token id " + std::to_string(id) + " is not a token";
        return false;
      }
    }
  }
  p->raw_added = AddedTokenMatcher(std::move(raw));
  p->normalized_added = AddedTokenMatcher(std::move(normalized));

  const BpeModel& m = *p->model;
  bool every_byte = m.options().byte_fallback;
  for (int b = 0; b < 256 && every_byte; ++b)
    every_byte = m.byte_token(static_cast<uint8_t>(b)) >= 0;
  bool no_single_chars = true;
  for (const auto& [token, id] : m.vocab()) {
    if (!token.empty() && utf8::char_length(token, 0) == token.size()) no_single_chars = false;
  }
  p->bytes_only = p->normalizers.empty() && p->pretokenizers.empty() && m.merge_count() == 0 &&
                  every_byte && no_single_chars;
  return true;
}

}  // namespace

bool Tokenizer::parse(std::string_view json_text, const std::string& name_for_errors,
                      std::unique_ptr<Tokenizer>* out, std::string* error) {
  auto fail = [&](const std::string& message) {
    *error = name_for_errors + ": " + message;
    return false;
  };
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    return fail(std::string("not valid JSON: ") + e.what());
  }
  if (!root.is_object()) return fail("not a JSON object");
  auto parts = std::make_unique<TokenizerParts>();
  parts->name = name_for_errors;
  std::string message;
  const json null_json;
  auto field = [&](const char* key) -> const json& {
    return root.contains(key) ? root[key] : null_json;
  };
  if (!parse_model(field("model"), &parts->model, &message)) return fail(message);
  if (!tokenizer_json::parse_normalizer(field("normalizer"), &parts->normalizers, &message) ||
      !tokenizer_json::parse_pre_tokenizer(field("pre_tokenizer"), &parts->pretokenizers,
                                           &message)) {
    return fail(message);
  }
  if (!tokenizer_json::parse_post_processor(field("post_processor"), &parts->special_frame,
                                            &message)) {
    return fail(message);
  }
  bool fused = false;
  if (!tokenizer_json::parse_decoder(field("decoder"), &parts->decode_plan, &fused, &message)) {
    return fail(message);
  }
  if (!parse_added_tokens(field("added_tokens"), parts->model->vocab(), &parts->added, &message) ||
      !finish_parts(parts.get(), &message)) {
    return fail(message);
  }
  out->reset(new Tokenizer(std::move(parts)));
  return true;
}

bool Tokenizer::load(const std::string& path, std::unique_ptr<Tokenizer>* out, std::string* error) {
  std::string text;
  switch (read_file(path, &text)) {
    case ReadFileResult::kCannotOpen:
      *error = path + ": cannot open: " + std::strerror(errno);
      return false;
    case ReadFileResult::kCannotRead:
      *error = path + ": cannot read";
      return false;
    case ReadFileResult::kOk:
      break;
  }
  return parse(text, path, out, error);
}

}  // namespace ringserve::model
