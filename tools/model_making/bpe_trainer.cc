#include "tools/model_making/bpe_trainer.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <queue>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/text/pretokenize.h"
#include "engine/text/tokenizer_normalizer.h"
#include "engine/text/unicode_bytes.h"
#include "utf8/utf8.h"

namespace ringserve::model {
namespace {

using nlohmann::ordered_json;

constexpr int32_t kMaxVocab = 1 << 22;
constexpr const char* kMetaspace = "\u2581";

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// Words with their counts, each a run of symbol ids (-1: a character outside the vocab, which
// no merge may cross).
struct Corpus {
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> counts;
};

class Trainer {
 public:
  Trainer(std::vector<std::string> tokens, Corpus corpus)
      : tokens_(std::move(tokens)), corpus_(std::move(corpus)) {
    for (size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], static_cast<int32_t>(i));
    for (size_t w = 0; w < corpus_.words.size(); ++w) add_pairs(static_cast<int32_t>(w), +1);
    for (const auto& [key, count] : counts_) queue_.push({count, key});
  }

  // Merges until the vocab has `target` tokens or no pair is left.
  void run(size_t target) {
    while (tokens_.size() < target && !queue_.empty()) {
      const Entry top = queue_.top();
      queue_.pop();
      const auto it = counts_.find(top.key);
      if (it == counts_.end() || it->second != top.count || top.count <= 0) continue;  // stale
      merge(top.key);
    }
  }

  const std::vector<std::string>& tokens() const { return tokens_; }
  const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }

 private:
  struct Entry {
    int64_t count;
    uint64_t key;
    bool operator<(const Entry& o) const {
      return count != o.count ? count < o.count : key > o.key;
    }
  };

  void add_pairs(int32_t w, int sign) {
    const std::vector<int32_t>& s = corpus_.words[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      if (s[i] < 0 || s[i + 1] < 0) continue;
      const uint64_t key = pair_key(s[i], s[i + 1]);
      counts_[key] += sign * corpus_.counts[w];
      if (sign > 0) where_[key].push_back(w);
    }
  }

  void merge(uint64_t key) {
    const auto left = static_cast<int32_t>(key >> 32);
    const auto right = static_cast<int32_t>(key & 0xFFFFFFFFu);
    const std::string merged = tokens_[left] + tokens_[right];
    auto [it, inserted] = ids_.emplace(merged, static_cast<int32_t>(tokens_.size()));
    if (inserted) tokens_.push_back(merged);
    const int32_t id = it->second;
    merges_.emplace_back(tokens_[left], tokens_[right]);
    std::vector<int32_t> words = std::move(where_[key]);
    where_.erase(key);
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    std::vector<uint64_t> touched;
    for (const int32_t w : words) {
      std::vector<int32_t>& s = corpus_.words[w];
      add_pairs(w, -1);
      std::vector<int32_t> rewritten;
      rewritten.reserve(s.size());
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
          rewritten.push_back(id);
          ++i;
        } else {
          rewritten.push_back(s[i]);
        }
      }
      s = std::move(rewritten);
      add_pairs(w, +1);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        if (s[i] >= 0 && s[i + 1] >= 0) touched.push_back(pair_key(s[i], s[i + 1]));
      }
    }
    counts_.erase(key);
    // Re-offer every pair whose count may have changed; older queue entries become stale.
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (const uint64_t k : touched) {
      const auto c = counts_.find(k);
      if (c != counts_.end() && c->second > 0) queue_.push({c->second, k});
    }
  }

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
  Corpus corpus_;
  std::unordered_map<uint64_t, int64_t> counts_;
  std::unordered_map<uint64_t, std::vector<int32_t>> where_;
  std::priority_queue<Entry> queue_;
  std::vector<std::pair<std::string, std::string>> merges_;
};

// Splits the corpus as the emitted tokenizer will and counts each distinct word.
std::map<std::string, int64_t> count_words(TokenizerKind kind, std::string_view corpus) {
  std::vector<Pretoken> pieces;
  if (kind == TokenizerKind::kByteLevel) {
    PretokenizeStep step;
    step.kind = PretokenizeStep::Kind::kByteLevel;
    step.regex = gpt2_split_regex();
    pieces.push_back({std::string(corpus), true});
    pretokenize({step}, &pieces);
  } else {
    const NormalizeStep prepend{.kind = NormalizeStep::Kind::kPrepend, .text = kMetaspace};
    const NormalizeStep replace{
        .kind = NormalizeStep::Kind::kReplace, .text = " ", .replacement = kMetaspace};
    pieces.push_back({normalize_text({prepend, replace}, corpus), true});
    PretokenizeStep step;
    step.kind = PretokenizeStep::Kind::kMetaspace;
    step.prepend_scheme = PrependScheme::kNever;
    pretokenize({step}, &pieces);
  }
  std::map<std::string, int64_t> counts;
  for (const Pretoken& p : pieces) ++counts[p.text];
  return counts;
}

std::vector<std::string> split_chars(std::string_view word) {
  std::vector<std::string> chars;
  for (size_t i = 0; i < word.size();) {
    const size_t n = utf8::char_length(word, i);
    chars.emplace_back(word.substr(i, n));
    i += n;
  }
  return chars;
}

ordered_json added_token_json(int32_t id, const std::string& content) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

ordered_json model_json(const std::vector<std::string>& tokens,
                        const std::vector<std::pair<std::string, std::string>>& merges,
                        bool metaspace) {
  ordered_json vocab = ordered_json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  ordered_json merge_list = ordered_json::array();
  for (const auto& [a, b] : merges) merge_list.push_back({a, b});
  ordered_json unk = metaspace ? ordered_json("<unk>") : ordered_json(nullptr);
  return {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", unk},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", metaspace},
          {"byte_fallback", metaspace},
          {"ignore_merges", false},
          {"vocab", vocab},
          {"merges", merge_list}};
}

}  // namespace

std::string train_bpe_tokenizer_json(TokenizerKind kind, std::string_view corpus,
                                     int32_t vocab_size, std::string* error) {
  const bool metaspace = kind == TokenizerKind::kMetaspace;
  const int32_t fixed = metaspace ? 259 : 257;
  if (vocab_size < fixed || vocab_size > kMaxVocab) {
    *error = "vocab_size " + std::to_string(vocab_size) + " is outside [" + std::to_string(fixed) +
             ", " + std::to_string(kMaxVocab) + "]";
    return "";
  }
  std::vector<std::string> tokens;
  if (metaspace) {
    tokens = {"<unk>", "<s>", "</s>"};
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      tokens.emplace_back(name);
    }
  } else {
    // GPT-2's order: the printable bytes first, then the rest as mapped to U+0100 onwards.
    std::vector<std::pair<char32_t, std::string>> chars;
    for (int b = 0; b < 256; ++b) {
      const std::string_view spelled = byte_level_char(static_cast<uint8_t>(b));
      char32_t cp = 0;
      size_t length = 0;
      utf8::decode(spelled, 0, &cp, &length);
      chars.emplace_back(cp, std::string(spelled));
    }
    std::sort(chars.begin(), chars.end());
    for (auto& [cp, spelled] : chars) tokens.push_back(std::move(spelled));
  }
  // The byte-level kind keeps the last id for <|endoftext|>.
  const auto target = static_cast<size_t>(metaspace ? vocab_size : vocab_size - 1);

  const std::map<std::string, int64_t> word_counts = count_words(kind, corpus);
  if (metaspace) {
    // The alphabet: every character seen, most frequent first, while there is room.
    std::map<std::string, int64_t> char_counts;
    for (const auto& [word, count] : word_counts) {
      for (std::string& ch : split_chars(word)) {
        if (utf8::is_valid(ch)) char_counts[ch] += count;
      }
    }
    std::vector<std::pair<int64_t, std::string>> by_count;
    for (auto& [ch, count] : char_counts) by_count.emplace_back(-count, ch);
    std::sort(by_count.begin(), by_count.end());
    for (auto& [count, ch] : by_count) {
      if (tokens.size() >= target) break;
      tokens.push_back(std::move(ch));
    }
  }
  std::unordered_map<std::string, int32_t> base_ids;
  for (size_t i = 0; i < tokens.size(); ++i) base_ids.emplace(tokens[i], static_cast<int32_t>(i));
  Corpus words;
  for (const auto& [word, count] : word_counts) {
    std::vector<int32_t> symbols;
    for (const std::string& ch : split_chars(word)) {
      const auto it = base_ids.find(ch);
      symbols.push_back(it == base_ids.end() ? -1 : it->second);
    }
    words.words.push_back(std::move(symbols));
    words.counts.push_back(count);
  }
  Trainer trainer(std::move(tokens), std::move(words));
  trainer.run(target);
  tokens = trainer.tokens();

  ordered_json added = ordered_json::array();
  if (metaspace) {
    for (int32_t id = 0; id < 3; ++id) added.push_back(added_token_json(id, tokens[id]));
  }
  for (int32_t n = 0; tokens.size() < target; ++n) {
    tokens.push_back("<|unused_" + std::to_string(n) + "|>");
    added.push_back(added_token_json(static_cast<int32_t>(tokens.size() - 1), tokens.back()));
  }
  ordered_json root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  if (metaspace) {
    root["added_tokens"] = added;
    root["normalizer"] = {
        {"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", kMetaspace}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMetaspace}}}}};
    root["pre_tokenizer"] = nullptr;
    // HF adds <s> in front when add_special_tokens is on, as Llama 2's file does.
    root["post_processor"] = {
        {"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}},
          {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
    root["decoder"] = {
        {"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", kMetaspace}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  } else {
    tokens.emplace_back("<|endoftext|>");
    added.push_back(added_token_json(static_cast<int32_t>(tokens.size() - 1), tokens.back()));
    root["added_tokens"] = added;
    root["normalizer"] = nullptr;
    const ordered_json byte_level = {{"type", "ByteLevel"},
                                     {"add_prefix_space", false},
                                     {"trim_offsets", true},
                                     {"use_regex", true}};
    root["pre_tokenizer"] = byte_level;
    root["post_processor"] = byte_level;
    root["decoder"] = byte_level;
  }
  root["model"] = model_json(tokens, trainer.merges(), metaspace);
  return root.dump();
}

}  // namespace ringserve::model
