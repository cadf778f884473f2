// BpeModel: HF tokenizers' BPE model. A word (one pre-token) starts as one symbol per
// character (a character missing from the vocab becomes its bytes as <0xXX> tokens when
// byte_fallback is on, else the unk token, fused with neighbouring unks when fuse_unk); then
// the adjacent pair with the lowest merge rank is merged, leftmost first among equal ranks,
// until no pair has a merge. With ignore_merges a word found whole in the vocab is one token.
//
// Thread-safety: tokenize() is const and may run on many threads; the word cache inside is
// guarded by a mutex.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ringserve::model {

// String-keyed map that can be searched with a string_view without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct BpeOptions {
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
  std::optional<std::string> unk_token;
};

class BpeModel {
 public:
  // Checks that every merge names vocab tokens and that the merged token is in the vocab too,
  // and that unk_token is in the vocab. False with *error naming the bad merge / token.
  static bool build(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                    BpeOptions options, std::unique_ptr<BpeModel>* out, std::string* error);

  // Appends the ids for one word.
  void tokenize(std::string_view word, std::vector<int32_t>* ids) const;

  const Vocab& vocab() const { return vocab_; }
  size_t merge_count() const { return merges_.size(); }
  const BpeOptions& options() const { return options_; }
  // The <0xXX> token's id for byte b, or -1.
  int32_t byte_token(uint8_t b) const { return byte_tokens_[b]; }

 private:
  BpeModel() = default;
  void merge_word(std::string_view word, std::vector<int32_t>* ids) const;

  Vocab vocab_;
  BpeOptions options_;
  std::optional<int32_t> unk_id_;
  std::array<int32_t, 256> byte_tokens_{};
  // (left id << 32 | right id) -> (rank, merged id); a later duplicate merge replaces an
  // earlier one, as in HF's HashMap collect.
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;

  // Words seen before. HF caches up to 10,000 words shorter than 256 bytes; so do we.
  static constexpr size_t kCacheCapacity = 10000;
  static constexpr size_t kCacheMaxWordBytes = 256;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace ringserve::model
