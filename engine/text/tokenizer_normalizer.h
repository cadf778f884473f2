// Normalizers a tokenizer.json may name that change text before it is split: Prepend (add a
// string in front of non-empty text), Replace (every non-overlapping occurrence of a string or
// regex, left to right) and the Unicode forms NFC / NFD / NFKC / NFKD (with ICU). Llama 2's file
// uses Sequence[Prepend("▁"), Replace(" ", "▁")]; Qwen2's uses NFC. Lowercasing, Strip, BERT's
// normalizer and the rest are refused when the file is read.
//
// Thread-safety: immutable after construction.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text/pretokenize_regex.h"
#include "engine/text/unicode_normalize.h"

namespace ringserve::model {

struct NormalizeStep {
  enum class Kind { kPrepend, kReplace, kUnicode };
  Kind kind = Kind::kPrepend;
  UnicodeForm form = UnicodeForm::kNfc;  // kUnicode
  std::string text;                      // kPrepend: what to prepend; kReplace: the literal pattern
  std::string replacement;               // kReplace: what replaces each occurrence
  std::shared_ptr<const PretokenizeRegex> regex;  // kReplace with a Regex pattern
};

// Applies the steps in order.
std::string normalize_text(const std::vector<NormalizeStep>& steps, std::string_view text);

}  // namespace ringserve::model
