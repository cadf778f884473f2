// Pre-tokenizers: how a piece of (normalized) text is cut into the words that BPE sees, as HF
// tokenizers does it. Supported: ByteLevel (GPT-2's regex split, optional prefix space, then
// every byte spelled by its byte-level character), Split (a regex or literal pattern with any
// of HF's five delimiter behaviours, optionally inverted) and Metaspace (' ' -> '▁', a prefix
// '▁' per prepend_scheme, optional split before each '▁'). A Sequence is a list of steps.
//
// Thread-safety: immutable after construction; any number of threads may pretokenize.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/text/pretokenize_regex.h"

namespace ringserve::model {

// GPT-2's split pattern, used by ByteLevel when use_regex is true.
extern const char kGpt2SplitPattern[];

// The compiled kGpt2SplitPattern, shared by every tokenizer.
std::shared_ptr<const PretokenizeRegex> gpt2_split_regex();

struct Pretoken {
  std::string text;
  bool at_start = false;  // begins at the first byte of the caller's text (Metaspace "first")
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
enum class PrependScheme { kAlways, kFirst, kNever };

struct PretokenizeStep {
  enum class Kind { kByteLevel, kSplit, kMetaspace };
  Kind kind = Kind::kByteLevel;
  // ByteLevel
  bool add_prefix_space = false;
  bool use_regex = true;
  // Split (regex is also ByteLevel's GPT-2 pattern when use_regex)
  std::shared_ptr<const PretokenizeRegex> regex;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  // Metaspace
  std::string replacement = "\u2581";
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = true;
};

// Runs the steps in order over *pieces; empty pieces are dropped, as HF does.
void pretokenize(const std::vector<PretokenizeStep>& steps, std::vector<Pretoken>* pieces);

}  // namespace ringserve::model
