#include "engine/text/tokenizer.h"

#include "engine/text/tokenizer_parts.h"

namespace ringserve::model {
namespace {

const std::string& empty_string() {
  static const std::string empty;
  return empty;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<TokenizerParts> parts) : parts_(std::move(parts)) {}

Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids.assign(special_prefix().begin(), special_prefix().end());
  std::vector<TextRun> runs;
  parts_->raw_added.split(text, &runs);
  for (const TextRun& run : runs) {
    if (run.id >= 0) {
      ids.push_back(run.id);
    } else {
      encode_piece(text.substr(run.begin, run.end - run.begin), run.begin == 0, &ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), special_suffix().begin(), special_suffix().end());
  return ids;
}

std::span<const int32_t> Tokenizer::special_prefix() const { return parts_->special_frame.prefix; }

std::span<const int32_t> Tokenizer::special_suffix() const { return parts_->special_frame.suffix; }

// One stretch of text between non-normalized added tokens: normalize, cut out normalized added
// tokens, pre-tokenize the rest, BPE each pre-token.
void Tokenizer::encode_piece(std::string_view piece, bool at_start,
                             std::vector<int32_t>* ids) const {
  const TokenizerParts& p = *parts_;
  if (p.bytes_only && !p.model->options().ignore_merges) {
    for (const char c : piece) ids->push_back(p.model->byte_token(static_cast<uint8_t>(c)));
    return;
  }
  const std::string normalized =
      p.normalizers.empty() ? std::string(piece) : normalize_text(p.normalizers, piece);
  std::vector<TextRun> runs;
  if (p.normalized_added.empty()) {
    if (!normalized.empty()) runs.push_back({0, normalized.size(), -1});
  } else {
    p.normalized_added.split(normalized, &runs);
  }
  std::vector<Pretoken> words;
  for (const TextRun& run : runs) {
    if (run.id >= 0) {
      ids->push_back(run.id);
      continue;
    }
    words.clear();
    words.push_back(
        {normalized.substr(run.begin, run.end - run.begin), at_start && run.begin == 0});
    pretokenize(p.pretokenizers, &words);
    for (const Pretoken& word : words) p.model->tokenize(word.text, ids);
  }
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= parts_->token_bytes.size()) return empty_string();
  return parts_->token_bytes[id];
}

const std::string& Tokenizer::token_string(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= parts_->token_strings.size()) return empty_string();
  return parts_->token_strings[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const TokenizerParts& p = *parts_;
  std::string out;
  bool first = true;
  for (const int32_t id : ids) {
    // HF drops unknown ids (and special ones when asked) before its decoders run.
    if (id < 0 || static_cast<size_t>(id) >= p.token_bytes.size()) continue;
    if (skip_special_tokens && p.is_special[id]) continue;
    if (first && !p.decode_plan.drop_in_first_token.empty()) {
      // The Metaspace decoder turns the first token's '▁' into nothing rather than ' '.
      std::string token = p.token_strings[id];
      for (size_t at = token.find(p.decode_plan.drop_in_first_token); at != std::string::npos;
           at = token.find(p.decode_plan.drop_in_first_token, at)) {
        token.erase(at, p.decode_plan.drop_in_first_token.size());
      }
      out += decode_token(p.decode_plan, token);
    } else {
      out += p.token_bytes[id];
    }
    first = false;
  }
  strip_output(p.decode_plan, &out);
  return out;
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(parts_->token_strings.size()); }

std::optional<int32_t> Tokenizer::find(std::string_view token) const {
  const auto added = parts_->added_by_content.find(token);
  if (added != parts_->added_by_content.end()) return added->second;
  const auto it = parts_->model->vocab().find(token);
  if (it != parts_->model->vocab().end()) return it->second;
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < parts_->is_special.size() && parts_->is_special[id];
}

}  // namespace ringserve::model
