#include "engine/text/tokenizer_added.h"

#include <algorithm>

#include "engine/text/pretokenize_regex.h"
#include "engine/text/unicode_bytes.h"
#include "utf8/utf8.h"

namespace ringserve::model {
namespace {

// HF's single_word test uses the Rust regex crate's Unicode \w (Alphabetic, marks, decimal
// digits, connector punctuation, joiners); PCRE2's \w lacks the marks, so spell it out.
bool is_word_character(std::string_view ch) {
  static const auto word = [] {
    std::string error;
    return PretokenizeRegex::compile(R"([\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200C}\x{200D}])", false,
                                     &error);
  }();
  return word->matches_whole(ch);
}

bool ends_with_word(std::string_view text) {
  if (text.empty()) return false;
  size_t start = text.size() - 1;
  // Step back over continuation bytes to the last character's first byte.
  while (start > 0 && text.size() - start < 4 &&
         (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) {
    --start;
  }
  return is_word_character(text.substr(start, utf8::char_length(text, start)));
}

bool starts_with_word(std::string_view text) {
  return !text.empty() && is_word_character(text.substr(0, utf8::char_length(text, 0)));
}

bool whitespace_at(std::string_view text, size_t i, size_t* length) {
  char32_t cp = 0;
  return utf8::decode(text, i, &cp, length) && unicode_is_whitespace(cp);
}

// Start of the whitespace run that ends `text`.
size_t leftmost_space_at_end(std::string_view text) {
  size_t start = text.size();
  while (start > 0) {
    size_t back = 1;
    while (back < 4 && back < start && (static_cast<uint8_t>(text[start - back]) & 0xC0) == 0x80) {
      ++back;
    }
    size_t length = 0;
    if (!whitespace_at(text, start - back, &length) || length != back) break;
    start -= back;
  }
  return start;
}

// Length of the whitespace run that starts `text`.
size_t rightmost_space_at_start(std::string_view text) {
  size_t end = 0;
  size_t length = 0;
  while (end < text.size() && whitespace_at(text, end, &length)) end += length;
  return end;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<Pattern> patterns)
    : patterns_(std::move(patterns)), nodes_(1) {
  std::erase_if(patterns_, [](const Pattern& p) { return p.text.empty(); });
  for (size_t i = 0; i < patterns_.size(); ++i) {
    uint32_t node = 0;
    for (const char c : patterns_[i].text) {
      const auto byte = static_cast<uint8_t>(c);
      auto& children = nodes_[node].children;
      const auto it = std::find_if(children.begin(), children.end(),
                                   [byte](const auto& child) { return child.first == byte; });
      if (it != children.end()) {
        node = it->second;
        continue;
      }
      const auto next = static_cast<uint32_t>(nodes_.size());
      children.emplace_back(byte, next);
      nodes_.emplace_back();
      node = next;
    }
    // Two tokens with the same text: the first listed wins.
    if (nodes_[node].pattern < 0) nodes_[node].pattern = static_cast<int32_t>(i);
  }
}

const AddedTokenMatcher::Pattern* AddedTokenMatcher::longest_at(std::string_view text,
                                                                size_t at) const {
  const Pattern* longest = nullptr;
  uint32_t node = 0;
  for (size_t i = at; i < text.size(); ++i) {
    const auto byte = static_cast<uint8_t>(text[i]);
    const auto& children = nodes_[node].children;
    const auto it = std::find_if(children.begin(), children.end(),
                                 [byte](const auto& child) { return child.first == byte; });
    if (it == children.end()) break;
    node = it->second;
    if (nodes_[node].pattern >= 0) longest = &patterns_[nodes_[node].pattern];
  }
  return longest;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextRun>* runs) const {
  size_t done = 0;  // end of the last run emitted
  size_t at = 0;    // where the search for the next match resumes
  while (at < text.size()) {
    const Pattern* hit = longest_at(text, at);
    if (hit == nullptr) {
      ++at;
      continue;
    }
    size_t start = at;
    size_t stop = at + hit->text.size();
    at = stop;  // like aho-corasick's find_iter, the search resumes after the raw match
    const AddedToken& token = *hit->token;
    if (token.single_word &&
        (ends_with_word(text.substr(0, start)) || starts_with_word(text.substr(stop)))) {
      continue;
    }
    if (token.lstrip) start = std::max(leftmost_space_at_end(text.substr(0, start)), done);
    if (token.rstrip) stop += rightmost_space_at_start(text.substr(stop));
    if (done < start) runs->push_back({done, start, -1});
    runs->push_back({start, stop, token.id});
    done = stop;
    at = std::max(at, stop);
  }
  if (done < text.size()) runs->push_back({done, text.size(), -1});
}

}  // namespace ringserve::model
