#include "daemon/model/tokenizer_added.h"

#include <algorithm>

#include "daemon/model/pretokenize_regex.h"
#include "daemon/model/unicode_bytes.h"
#include "daemon/model/utf8.h"

namespace ringserve::model {
namespace {

// HF's single_word test uses regex \w; PCRE2's Unicode \w is the closest available.
bool is_word_character(std::string_view ch) {
  static const auto word = [] {
    std::string error;
    return PretokenizeRegex::compile("\\w", false, &error);
  }();
  return word->matches_whole(ch);
}

bool ends_with_word(std::string_view text) {
  if (text.empty()) return false;
  size_t start = text.size() - 1;
  // Step back over continuation bytes to the last character's first byte.
  while (start > 0 && text.size() - start < 4 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) {
    --start;
  }
  return is_word_character(text.substr(start, utf8_char_length(text, start)));
}

bool starts_with_word(std::string_view text) {
  return !text.empty() && is_word_character(text.substr(0, utf8_char_length(text, 0)));
}

bool whitespace_at(std::string_view text, size_t i, size_t* length) {
  char32_t cp = 0;
  return utf8_decode(text, i, &cp, length) && unicode_is_whitespace(cp);
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
    : patterns_(std::move(patterns)) {
  std::erase_if(patterns_, [](const Pattern& p) { return p.text.empty(); });
  std::stable_sort(patterns_.begin(), patterns_.end(), [](const Pattern& a, const Pattern& b) {
    return a.text.size() > b.text.size();
  });
  for (size_t i = 0; i < patterns_.size(); ++i) {
    by_first_byte_[static_cast<uint8_t>(patterns_[i].text[0])].push_back(static_cast<uint32_t>(i));
  }
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextRun>* runs) const {
  size_t done = 0;  // end of the last run emitted
  size_t at = 0;    // where the search for the next match resumes
  while (at < text.size()) {
    const Pattern* hit = nullptr;
    for (const uint32_t index : by_first_byte_[static_cast<uint8_t>(text[at])]) {
      if (text.substr(at).starts_with(patterns_[index].text)) {
        hit = &patterns_[index];
        break;
      }
    }
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
