// Pre-tokenization: GPT-2's and Llama 3's split patterns cut text exactly where HF tokenizers
// (Oniguruma) does, and the Split / Metaspace steps group pieces as HF's behaviours do.
#include "engine/text/pretokenize.h"

#include <gtest/gtest.h>

#include "engine/text/unicode_normalize.h"

namespace ringserve::model {
namespace {

using Pieces = std::vector<std::string>;

constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

Pieces matches(const std::shared_ptr<const PretokenizeRegex>& regex, const std::string& text) {
  std::vector<std::pair<size_t, size_t>> found;
  regex->find_all(text, &found);
  Pieces pieces;
  for (const auto& [begin, end] : found) pieces.push_back(text.substr(begin, end - begin));
  return pieces;
}

std::shared_ptr<const PretokenizeRegex> compile(const std::string& pattern) {
  std::string error;
  auto regex = PretokenizeRegex::compile(pattern, false, &error);
  EXPECT_NE(regex, nullptr) << error;
  return regex;
}

Pieces run(const std::vector<PretokenizeStep>& steps, const std::string& text) {
  std::vector<Pretoken> pieces = {{text, true}};
  pretokenize(steps, &pieces);
  Pieces out;
  for (const Pretoken& p : pieces) out.push_back(p.text);
  return out;
}

TEST(Gpt2Pattern, ContractionsAreLowercaseOnly) {
  EXPECT_EQ(matches(gpt2_split_regex(), "I'm we'll they'D"),
            (Pieces{"I", "'m", " we", "'ll", " they", "'", "D"}));
  EXPECT_EQ(matches(gpt2_split_regex(), "don't"), (Pieces{"don", "'t"}));
}

TEST(Gpt2Pattern, WhitespaceRunsLeaveTheLastSpaceToTheNextWord) {
  // \s+(?!\S) backs off one space so that " fine" keeps its space; at the end of the text the
  // whole run is one piece.
  EXPECT_EQ(matches(gpt2_split_regex(), "I   fine\n\n  ok  "),
            (Pieces{"I", "  ", " fine", "\n\n ", " ok", "  "}));
  EXPECT_EQ(matches(gpt2_split_regex(), "a\tb"), (Pieces{"a", "\t", "b"}));
}

TEST(Gpt2Pattern, LettersDigitsAndSymbolsAreSeparate) {
  EXPECT_EQ(matches(gpt2_split_regex(), "abc123 456!? x2 日本語。"),
            (Pieces{"abc", "123", " 456", "!?", " x", "2", " 日本語", "。"}));
  // Combining marks are \p{M}, not \p{L}: they stand apart from the letters they follow.
  EXPECT_EQ(matches(gpt2_split_regex(), "e\u0301t\u00e9"), (Pieces{"e", "\u0301", "t\u00e9"}));
}

TEST(Gpt2Pattern, NextLineIsWhitespaceAsInOniguruma) {
  // U+0085 is White_Space for Oniguruma but not for PCRE2's \s; the rewrite keeps HF's split.
  EXPECT_EQ(matches(gpt2_split_regex(), "a \u0085b"), (Pieces{"a", " ", "\u0085", "b"}));
  EXPECT_EQ(rewrite_classes(R"(\s+(?!\S)|[^\s\p{L}])", ""),
            R"([\s\x{85}]+(?![^\s\x{85}])|[^\s\x{85}\p{L}])");
  EXPECT_EQ(rewrite_classes(R"([]\s]\\s)", ""), R"([]\s\x{85}]\\s)");
}

TEST(DeepSeekPattern, CharactersOfUnicode15AreLettersAndSymbols) {
  // Debian 12's PCRE2 knows Unicode 14: without ICU's help U+1FAE8 (a symbol of Unicode 15.0)
  // and U+31350 (a CJK Extension H letter) would be no class's, and " 🫨" two pieces.
  if (!unicode_normalization_available()) GTEST_SKIP() << "built without ICU";
  const auto regex = compile(
      R"([^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
  EXPECT_EQ(matches(regex, " \U0001FAE8"), (Pieces{" \U0001FAE8"}));
  EXPECT_EQ(matches(regex, "a\U00031350b!"), (Pieces{"a\U00031350b", "!"}));
  EXPECT_EQ(matches(compile(R"(\p{N}{1,3})"), "\U0001D2C0\U0001D2C1"),
            (Pieces{"\U0001D2C0\U0001D2C1"}));  // Kaktovik numerals (No)
  // Outside a class \p and \P gain the newer characters too; \P{L} must not match them.
  EXPECT_EQ(matches(compile(R"(\P{L}+)"), "1\U00031350 2"), (Pieces{"1", " 2"}));
}

TEST(Llama3Pattern, CaseInsensitiveContractionsDigitTriplesAndNewlines) {
  const auto regex = compile(kLlama3Pattern);
  EXPECT_EQ(matches(regex, "I'M 12345 hello!!\n\nworld"),
            (Pieces{"I", "'M", " ", "123", "45", " hello", "!!\n\n", "world"}));
  EXPECT_EQ(matches(regex, "x  \n\n  y"), (Pieces{"x", "  \n\n", " ", " y"}));
  EXPECT_EQ(matches(regex, "$foo"), (Pieces{"$foo"}));
}

TEST(PretokenizeSteps, ByteLevelMapsEveryByte) {
  PretokenizeStep step;
  step.kind = PretokenizeStep::Kind::kByteLevel;
  step.regex = gpt2_split_regex();
  EXPECT_EQ(run({step}, "hi there\n"), (Pieces{"hi", "Ġthere", "Ċ"}));
  step.add_prefix_space = true;
  EXPECT_EQ(run({step}, "hi"), (Pieces{"Ġhi"}));
  step.use_regex = false;
  EXPECT_EQ(run({step}, "a b"), (Pieces{"ĠaĠb"}));
}

TEST(PretokenizeSteps, SplitBehaviours) {
  PretokenizeStep step;
  step.kind = PretokenizeStep::Kind::kSplit;
  step.regex = compile("-");
  const std::string text = "a-b--c";
  step.behavior = SplitBehavior::kIsolated;
  EXPECT_EQ(run({step}, text), (Pieces{"a", "-", "b", "-", "-", "c"}));
  step.behavior = SplitBehavior::kRemoved;
  EXPECT_EQ(run({step}, text), (Pieces{"a", "b", "c"}));
  step.behavior = SplitBehavior::kMergedWithPrevious;
  EXPECT_EQ(run({step}, text), (Pieces{"a-", "b-", "-", "c"}));
  step.behavior = SplitBehavior::kMergedWithNext;
  EXPECT_EQ(run({step}, text), (Pieces{"a", "-b", "-", "-c"}));
  step.behavior = SplitBehavior::kContiguous;
  EXPECT_EQ(run({step}, text), (Pieces{"a", "-", "b", "--", "c"}));
  step.behavior = SplitBehavior::kRemoved;
  step.invert = true;  // the matches are now the non-dash runs
  EXPECT_EQ(run({step}, text), (Pieces{"-", "-", "-"}));
}

TEST(PretokenizeSteps, MetaspaceSplitsBeforeEachReplacement) {
  PretokenizeStep step;
  step.kind = PretokenizeStep::Kind::kMetaspace;
  EXPECT_EQ(run({step}, "hi  there"), (Pieces{"▁hi", "▁", "▁there"}));
  step.split = false;
  EXPECT_EQ(run({step}, "hi there"), (Pieces{"▁hi▁there"}));
  step.prepend_scheme = PrependScheme::kNever;
  EXPECT_EQ(run({step}, "hi"), (Pieces{"hi"}));
}

TEST(PretokenizeRegexErrors, BadPatternIsReported) {
  std::string error;
  EXPECT_EQ(PretokenizeRegex::compile("(a", false, &error), nullptr);
  EXPECT_NE(error.find("'(a' does not compile"), std::string::npos) << error;
  EXPECT_NE(PretokenizeRegex::compile("(a", true, &error), nullptr);  // literal: fine
}

}  // namespace
}  // namespace ringserve::model
