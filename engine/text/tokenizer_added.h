// Added tokens (tokenizer.json's "added_tokens"): strings such as <|im_start|> or <s> that are
// cut out of the text before normalization and pre-tokenization and map straight to their ids,
// as HF tokenizers' AddedVocabulary does. Matching is leftmost-longest over all patterns; a
// single_word token only matches between non-word characters, lstrip / rstrip tokens swallow
// the whitespace on their left / right.
//
// Thread-safety: immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringserve::model {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;  // matched after the normalizer ran (content normalized too)
  bool special = false;
};

// A run of text: [begin, end) bytes, and the added token's id, or -1 for ordinary text.
struct TextRun {
  size_t begin;
  size_t end;
  int32_t id;
};

class AddedTokenMatcher {
 public:
  struct Pattern {
    std::string text;  // what to look for (the content, normalized for normalized tokens)
    const AddedToken* token;
  };
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<Pattern> patterns);

  bool empty() const { return patterns_.empty(); }
  // Cuts `text` into runs; ordinary runs are never empty.
  void split(std::string_view text, std::vector<TextRun>* runs) const;

 private:
  // The longest pattern that starts at text[at], or null.
  const Pattern* longest_at(std::string_view text, size_t at) const;

  // A byte trie over the patterns: matching costs the length of the longest pattern per text
  // position, not the number of patterns (a padded GPT-2 vocab has ~50k <|unused_N|>).
  struct Node {
    std::vector<std::pair<uint8_t, uint32_t>> children;  // byte -> node index
    int32_t pattern = -1;                                // a pattern ends here
  };
  std::vector<Pattern> patterns_;
  std::vector<Node> nodes_;  // nodes_[0] is the root
};

}  // namespace ringserve::model
