// PretokenizeRegex: a PCRE2 pattern (UTF + UCP, JIT-compiled where available) standing in for
// the Oniguruma regexes that HF tokenizers uses to split text (GPT-2's pattern, Llama 3's and
// Qwen2's Split patterns: (?i:...), \p{L}, \p{N}, lookahead, possessive quantifiers).
//
// The two engines disagree on two things, which compile() rewrites away:
//  - Oniguruma's \s is Unicode White_Space, which includes U+0085 (NEL), while PCRE2's is not:
//    \s also takes U+0085, and \S outside a character class excludes it.
//  - PCRE2's Unicode tables can be older than Oniguruma's (Debian 12: 14.0): each \p{...} also
//    takes the characters ICU assigns to it since (unicode_newer.h). A negated property inside
//    a class ([\P{L}x]) cannot lose them and is kept as written. Such a pattern is compiled
//    twice, and the long classes are used only on text that holds one of those characters.
//
// Subjects may hold invalid UTF-8 (PCRE2_MATCH_INVALID_UTF): invalid bytes match nothing.
//
// Thread-safety: immutable after compile(); any number of threads may match concurrently.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringserve::model {

class PretokenizeRegex {
 public:
  ~PretokenizeRegex();
  PretokenizeRegex(const PretokenizeRegex&) = delete;
  PretokenizeRegex& operator=(const PretokenizeRegex&) = delete;

  // Compiles `pattern` (or matches it literally when `literal`). Null with *error on failure.
  static std::shared_ptr<const PretokenizeRegex> compile(std::string_view pattern, bool literal,
                                                         std::string* error);

  // Appends the non-overlapping matches, left to right, as [begin, end) byte offsets. Empty
  // matches are skipped (HF drops empty pieces anyway). A match that exceeds PCRE2's limits
  // ends the search: the rest of the text is left unmatched rather than failing the encode.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>* matches) const;

  // True when the whole of `text` matches.
  bool matches_whole(std::string_view text) const;

 private:
  PretokenizeRegex() = default;
  const void* code_for(std::string_view text) const;
  // pcre2_code_8*, kept opaque so users need not include pcre2.h. newer_code_: with the
  // characters PCRE2 is too old to know added to its classes; null when there are none.
  void* code_ = nullptr;
  void* newer_code_ = nullptr;
};

// The Oniguruma-to-PCRE2 rewrites described above (exposed for tests); `unicode_version` is the
// regex engine's ("14.0.0"; empty: no \p rewrite).
std::string rewrite_classes(std::string_view pattern, std::string_view unicode_version);

// The linked PCRE2's Unicode version, e.g. "14.0.0".
const std::string& pcre2_unicode_version();

}  // namespace ringserve::model
