// Tokenizer: encode / decode against ids worked out by hand from HF tokenizers' algorithm, for
// small vocabularies spelled out in each test (see tokenizer_test_support.h for the base ids).
#include "engine/text/tokenizer.h"

#include <gtest/gtest.h>

#include "engine/text/tokenizer_added.h"
#include "engine/text/unicode_normalize.h"
#include "tests/tokenizer_test_support.h"

namespace ringserve::model {
namespace {

using testing::added_token;
using testing::byte_level_tokenizer;
using testing::Ids;
using testing::json;
using testing::metaspace_tokenizer;
using testing::must_parse;

// Byte-level ids of printable ASCII: b - 33 ('a' 64, 'e' 68, 'h' 71, 'l' 75, 'o' 78, 't' 83).
constexpr int32_t A(char c) { return static_cast<int32_t>(c) - 33; }
constexpr int32_t kSpace = 220;  // "Ġ"

TEST(TokenizerByteLevel, MergesGoByRankNotByLength) {
  const auto tok = must_parse(
      byte_level_tokenizer({"Ġt", "he", "Ġthe", "ll", "ell", "hell", "hello", "'s"},  // 256..263
                           {"Ġ t", "h e", "Ġt he", "l l", "e ll", "h ell", "hell o", "' s"}));
  // GPT-2's regex cuts "the hello's hell the" into "the" " hello" "'s" " hell" " the".
  // "the": (h,e) is rank 1 -> [t, he]; (t,he) has no merge.
  // " hello": Ġ h e l l o; (h,e) rank 1 goes before (l,l) rank 3 -> Ġ he ll o; "hell" (which
  //   needs e+ll first) never forms, nor does (he,ll) exist -> [Ġ, he, ll, o].
  // "'s": rank 7 -> ['s].  " the": (Ġ,t) rank 0, (h,e) rank 1, then (Ġt,he) rank 2 -> [Ġthe].
  const Ids expected = {A('t'), 257, kSpace, 257, 259, A('o'), 263, kSpace, 257, 259, 258};
  EXPECT_EQ(tok->encode("the hello's hell the"), expected);
  // Without an 'h' in front, e+ll and nothing else: e l l o -> e ll o -> ell o.
  EXPECT_EQ(tok->encode("ello"), (Ids{260, A('o')}));
  EXPECT_EQ(tok->decode(expected), "the hello's hell the");
  EXPECT_EQ(tok->token_bytes(258), " the");
  EXPECT_EQ(tok->token_bytes(kSpace), " ");
  EXPECT_EQ(tok->token_bytes(198), "\n");
  EXPECT_EQ(tok->token_string(258), "Ġthe");
  EXPECT_EQ(tok->vocab_size(), 264);
}

TEST(TokenizerByteLevel, EqualRanksMergeLeftmostFirstAndStaleCandidatesAreSkipped) {
  const auto tok = must_parse(byte_level_tokenizer({"aa", "aaa"}, {"a a", "aa a"}));
  // a a a a a: (a,a) at 0 merges first -> aa a a a; then (a,a) at 2 -> aa aa a (the queued
  // (aa,a) at 0 is stale: its pair is now (aa,aa)); then (aa,a) -> [aa, aaa].
  EXPECT_EQ(tok->encode("aaaaa"), (Ids{256, 257}));
  EXPECT_EQ(tok->encode("aaaa"), (Ids{256, 256}));
}

TEST(TokenizerByteLevel, PrefixSpaceIsAddedToEveryPieceBetweenAddedTokens) {
  json j = byte_level_tokenizer({"Ġh"}, {"Ġ h"});
  j["pre_tokenizer"]["add_prefix_space"] = true;
  j["added_tokens"].push_back(added_token(300, "<|endoftext|>"));
  const auto tok = must_parse(j);
  EXPECT_EQ(tok->encode("hello"), (Ids{256, A('e'), A('l'), A('l'), A('o')}));
  // HF's ByteLevel runs on each piece left after cutting out added tokens.
  EXPECT_EQ(tok->encode("a<|endoftext|>b"), (Ids{kSpace, A('a'), 300, kSpace, A('b')}));
  EXPECT_EQ(tok->encode(" hello"), (Ids{256, A('e'), A('l'), A('l'), A('o')}));
}

TEST(TokenizerByteLevel, Llama3SplitAndIgnoreMerges) {
  json j = byte_level_tokenizer({"Ġhello"}, {});
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern",
          {{"Regex",
            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"},
         {"add_prefix_space", false},
         {"trim_offsets", true},
         {"use_regex", false}}}}};
  j["model"]["ignore_merges"] = true;
  const auto tok = must_parse(j);
  // Pieces: " hello" " " "123" "45" "'S"; " hello" is whole in the vocab (no merge builds it).
  EXPECT_EQ(tok->encode(" hello 12345'S"),
            (Ids{256, kSpace, A('1'), A('2'), A('3'), A('4'), A('5'), A('\''), A('S')}));
  j["model"]["ignore_merges"] = false;
  const auto plain = must_parse(j);
  EXPECT_EQ(plain->encode(" hello"), (Ids{kSpace, A('h'), A('e'), A('l'), A('l'), A('o')}));
}

TEST(TokenizerByteLevel, MultiByteCharactersAndInvalidBytes) {
  const auto tok = must_parse(byte_level_tokenizer({}, {}));
  // "é" is C3 A9: both printable Latin-1 bytes, ids 0xC3 - 0xAE + 106 = 127 and 0xA9 - 0xA1 + 94 =
  // 102.
  EXPECT_EQ(tok->encode("é"), (Ids{127, 102}));
  EXPECT_EQ(tok->token_bytes(127), "\xC3");
  // Invalid UTF-8 still encodes, byte for byte, and decodes back.
  const std::string invalid = "a\xFF\xC3(";
  EXPECT_EQ(tok->decode(tok->encode(invalid)), invalid);
}

TEST(TokenizerByteLevel, UnicodeNormalizerAsInQwen2) {
  json j = byte_level_tokenizer({}, {});
  j["normalizer"] = {{"type", "NFC"}};
  if (!unicode_normalization_available()) {
    std::unique_ptr<Tokenizer> tok;
    std::string error;
    EXPECT_FALSE(Tokenizer::parse(j.dump(), "qwen.json", &tok, &error));
    EXPECT_NE(error.find("normalizer NFC needs ICU"), std::string::npos) << error;
    GTEST_SKIP() << "built without ICU";
  }
  auto tok = must_parse(j);
  // e + U+0301 composes to U+00E9 (C3 A9) before the split; an invalid byte passes through.
  EXPECT_EQ(tok->encode("e\u0301"), (Ids{127, 102}));
  EXPECT_EQ(tok->encode("\xFF"
                        "e\u0301"),
            (Ids{187, 127, 102}));
  j["normalizer"] = {{"type", "NFKC"}};
  tok = must_parse(j);
  EXPECT_EQ(tok->encode("\uFB01"), (Ids{A('f'), A('i')}));  // the "fi" ligature
}

TEST(TokenizerAddedTokens, StripFlagsAndSingleWord) {
  json j = byte_level_tokenizer({}, {});
  json mask = added_token(300, "<mask>");
  j["added_tokens"].push_back(mask);
  auto tok = must_parse(j);
  EXPECT_EQ(tok->encode("a <mask> b"), (Ids{A('a'), kSpace, 300, kSpace, A('b')}));
  j["added_tokens"][0]["lstrip"] = true;
  tok = must_parse(j);
  EXPECT_EQ(tok->encode("a <mask> b"), (Ids{A('a'), 300, kSpace, A('b')}));
  j["added_tokens"][0]["rstrip"] = true;
  tok = must_parse(j);
  EXPECT_EQ(tok->encode("a <mask> b"), (Ids{A('a'), 300, A('b')}));
  EXPECT_EQ(tok->encode("a \t<mask>\n b"), (Ids{A('a'), 300, A('b')}));

  json cat = added_token(301, "cat", false);
  cat["single_word"] = true;
  j["added_tokens"].push_back(cat);
  tok = must_parse(j);
  // "concat " is two GPT-2 pieces, "concat" and " " (\s+(?!\S) at the end of the piece).
  EXPECT_EQ(tok->encode("concat cat"),
            (Ids{A('c'), A('o'), A('n'), A('c'), A('a'), A('t'), kSpace, 301}));
  EXPECT_EQ(tok->encode("cats"), (Ids{A('c'), A('a'), A('t'), A('s')}));
  EXPECT_EQ(tok->encode("cat."), (Ids{301, A('.')}));
  EXPECT_FALSE(tok->is_special(301));
  EXPECT_TRUE(tok->is_special(300));
}

TEST(TokenizerAddedTokens, LeftmostLongestMatch) {
  json j = byte_level_tokenizer({}, {});
  j["added_tokens"].push_back(added_token(300, "<|a|>"));
  j["added_tokens"].push_back(added_token(301, "<|a|><|b|>"));
  j["added_tokens"].push_back(added_token(302, "|a|><|b|>x"));
  const auto tok = must_parse(j);
  EXPECT_EQ(tok->encode("x<|a|><|b|>x"), (Ids{A('x'), 301, A('x')}));
  EXPECT_EQ(tok->encode("<|a|><|a|>"), (Ids{300, 300}));
  EXPECT_EQ(tok->find("<|a|>"), 300);
  EXPECT_EQ(tok->token_bytes(301), "<|a|><|b|>");
  EXPECT_EQ(tok->vocab_size(), 303);
}

TEST(TokenizerAddedTokens, NonSpecialAddedTokensDecodeThroughTheDecoderChain) {
  // Gemma 3 ships runs of '▁' as non-special added tokens; HF decodes them like any token, so
  // "a  b" comes back with spaces, not as "a▁▁b".
  const auto tok = must_parse(testing::gemma_like({"a", "b"}, {}));  // a 259, b 260, ▁ 261, ▁▁ 262
  const Ids ids = tok->encode("a  b");
  EXPECT_EQ(ids, (Ids{259, 262, 260}));
  EXPECT_EQ(tok->token_string(262), "\u2581\u2581");
  EXPECT_EQ(tok->token_bytes(262), "  ");
  EXPECT_EQ(tok->decode(ids), "a  b");
  // Special tokens: skipped when asked, else through the decoder too (HF's decode).
  EXPECT_EQ(tok->decode(Ids{1, 259, 262, 260}, true), "a  b");
  EXPECT_EQ(tok->decode(Ids{1, 259, 262, 260}), "<s>a  b");
}

// The cases of HF's own added_vocabulary.rs tests, run on the matcher alone.
std::vector<std::pair<std::string, int32_t>> runs_of(const AddedTokenMatcher& matcher,
                                                     const std::string& text) {
  std::vector<TextRun> runs;
  matcher.split(text, &runs);
  std::vector<std::pair<std::string, int32_t>> out;
  for (const TextRun& r : runs) out.emplace_back(text.substr(r.begin, r.end - r.begin), r.id);
  return out;
}

TEST(TokenizerAddedTokens, MatcherAgreesWithHfCases) {
  using Runs = std::vector<std::pair<std::string, int32_t>>;
  AddedToken mask{0, "<mask>", true, false, false, false, false};
  const AddedTokenMatcher single({{"<mask>", &mask}});
  EXPECT_EQ(runs_of(single, "<mask> My name <mask> A<mask> <mask>ony <mask>"),
            (Runs{{"<mask>", 0},
                  {" My name ", -1},
                  {"<mask>", 0},
                  {" A<mask> <mask>ony ", -1},
                  {"<mask>", 0}}));
  // Punctuation is not a word character; a combining mark is.
  EXPECT_EQ(runs_of(single, "<mask>, <mask>- \u25CC\u0330<mask>"),
            (Runs{{"<mask>", 0}, {", ", -1}, {"<mask>", 0}, {"- \u25CC\u0330<mask>", -1}}));
  AddedToken stripped{0, "<mask>", true, true, true, false, false};
  const AddedTokenMatcher strip({{"<mask>", &stripped}});
  EXPECT_EQ(
      runs_of(strip, "Hi <mask> there\t<mask>\t<mask>\u2000"),
      (Runs{{"Hi", -1}, {" <mask> ", 0}, {"there", -1}, {"\t<mask>\t", 0}, {"<mask>\u2000", 0}}));
}

// The Llama 2 shape: "▁" 259, h e l o 260..263, "▁h" 264, "ll" 265, "▁he" 266, "▁hell" 267,
// "▁hello" 268, w r d 269..271.
json llama2_like() {
  return metaspace_tokenizer(
      {"▁", "h", "e", "l", "o", "▁h", "ll", "▁he", "▁hell", "▁hello", "w", "r", "d"},
      {"▁ h", "l l", "▁h e", "▁he ll", "▁hell o"});
}

TEST(TokenizerMetaspace, NormalizerPrependsAndReplacesSpaces) {
  const auto tok = must_parse(llama2_like());
  // "▁hello▁world" is one word (no pre-tokenizer). ▁+h (rank 0) -> ▁h; then l+l (rank 1)
  // goes before ▁h+e (rank 2); then ▁he+ll, ▁hell+o. "▁w" has no merge.
  const Ids hello_world = {268, 259, 269, 263, 270, 262, 271};
  EXPECT_EQ(tok->encode("hello world"), hello_world);
  EXPECT_EQ(tok->decode(hello_world), "hello world");  // Strip(" ", 1, 0) drops the first space
  EXPECT_EQ(tok->token_bytes(268), " hello");
  EXPECT_EQ(tok->token_bytes(3 + 0x0A), "\n");
  EXPECT_EQ(tok->token_bytes(1), "<s>");
  // Two leading spaces: "▁▁hello": ▁ ▁h e ... -> [▁, ▁hello]; decode keeps one space.
  EXPECT_EQ(tok->encode(" hello"), (Ids{259, 268}));
  EXPECT_EQ(tok->decode(Ids{259, 268}), " hello");
}

TEST(TokenizerMetaspace, ByteFallbackForCharactersNotInTheVocab) {
  const auto tok = must_parse(llama2_like());
  // "▁hi▁ü": 'i' is <0x69> = 3 + 0x69; "ü" is C3 BC -> <0xC3> <0xBC>.
  EXPECT_EQ(tok->encode("hi ü"), (Ids{264, 3 + 0x69, 259, 3 + 0xC3, 3 + 0xBC}));
  EXPECT_EQ(tok->decode(Ids{264, 3 + 0x69, 259, 3 + 0xC3, 3 + 0xBC}), "hi ü");
  // U+1F600 is F0 9F 98 80.
  EXPECT_EQ(tok->encode("😀"), (Ids{259, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80}));
  EXPECT_EQ(tok->token_bytes(3 + 0xF0), "\xF0");
}

TEST(TokenizerMetaspace, UnknownCharactersWithoutByteFallback) {
  json j = llama2_like();
  j["model"]["byte_fallback"] = false;
  EXPECT_EQ(must_parse(j)->encode("hiii"), (Ids{264, 0}));  // fused into one <unk>
  j["model"]["fuse_unk"] = false;
  EXPECT_EQ(must_parse(j)->encode("hiii"), (Ids{264, 0, 0, 0}));
  EXPECT_EQ(must_parse(j)->encode("ih"), (Ids{259, 0, 260}));
}

TEST(TokenizerMetaspace, AddedTokensSplitBeforeTheNormalizer) {
  const auto tok = must_parse(llama2_like());
  // Each piece between added tokens is normalized on its own, so "hello" after <s> gets a ▁.
  EXPECT_EQ(tok->encode("<s>hello</s>"), (Ids{1, 268, 2}));
  EXPECT_EQ(tok->encode("hello <s>"), (Ids{268, 259, 1}));
  EXPECT_EQ(tok->encode("<s>"), (Ids{1}));
  EXPECT_EQ(tok->encode(""), (Ids{}));
  EXPECT_TRUE(tok->is_special(1));
  EXPECT_FALSE(tok->is_special(268));
  EXPECT_EQ(tok->find("▁hello"), 268);
  EXPECT_EQ(tok->find("</s>"), 2);
  EXPECT_EQ(tok->find("nope"), std::nullopt);
}

TEST(TokenizerMetaspace, NormalizedAddedTokenMatchesItsNormalizedForm) {
  json j = llama2_like();
  json hello = added_token(272, "hello", false);
  hello["normalized"] = true;
  j["added_tokens"].push_back(hello);
  const auto tok = must_parse(j);
  // The pattern is the normalized content, "▁hello", found in "▁say▁hello"; s a y fall back.
  EXPECT_EQ(tok->encode("say hello"), (Ids{259, 3 + 's', 3 + 'a', 3 + 'y', 272}));
}

TEST(TokenizerMetaspace, MetaspacePreTokenizerPrependSchemes) {
  json j = llama2_like();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {
      {"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"split", true}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}};
  auto tok = must_parse(j);
  EXPECT_EQ(tok->encode("hello hello"), (Ids{268, 268}));
  EXPECT_EQ(tok->decode(Ids{268, 268}), "hello hello");
  // "first": the piece after <s> does not start the text, so no ▁: h e ll o.
  EXPECT_EQ(tok->encode("<s>hello"), (Ids{1, 260, 261, 265, 263}));
  EXPECT_EQ(tok->decode(Ids{1, 268}), "<s> hello");
  j["pre_tokenizer"]["prepend_scheme"] = "always";
  tok = must_parse(j);
  EXPECT_EQ(tok->encode("<s>hello"), (Ids{1, 268}));
  j["pre_tokenizer"]["prepend_scheme"] = "never";
  tok = must_parse(j);
  EXPECT_EQ(tok->encode("hello"), (Ids{260, 261, 265, 263}));
  // Legacy form: add_prefix_space true means "always"; split defaults to true.
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"add_prefix_space", true}};
  EXPECT_EQ(must_parse(j)->encode("hello"), (Ids{268}));
}

TEST(TokenizerMetaspace, DecodeDropsTheFirstSpaceOfTheFirstTokenLeftAfterSkipping) {
  json j = llama2_like();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}};
  const auto tok = must_parse(j);
  // HF's Metaspace decoder sees the tokens that were not skipped: "▁hello" is then the first.
  EXPECT_EQ(tok->decode(Ids{1, 268, 268}, true), "hello hello");
  EXPECT_EQ(tok->decode(Ids{1, 268, 268}), "<s> hello hello");
  EXPECT_EQ(tok->decode(Ids{-5, 268}), "hello");  // unknown ids are dropped first, too
}

TEST(TokenizerByteTokenizer, EveryByteIsOneToken) {
  std::unique_ptr<Tokenizer> tok;
  std::string error;
  const std::string path =
      std::string(RINGSERVE_SOURCE_DIR) + "/tests/data/text/byte_tokenizer.json";
  ASSERT_TRUE(Tokenizer::load(path, &tok, &error)) << error;
  EXPECT_EQ(tok->vocab_size(), 259);
  EXPECT_EQ(tok->encode("Hi\n"), (Ids{3 + 'H', 3 + 'i', 3 + '\n'}));
  EXPECT_EQ(tok->encode("é"), (Ids{3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok->encode("\xFF"), (Ids{258}));
  // Added tokens in the text are still cut out, as HF does.
  EXPECT_EQ(tok->encode("a<s>"), (Ids{3 + 'a', 1}));
  EXPECT_EQ(tok->token_bytes(3 + 'H'), "H");
  EXPECT_EQ(tok->token_bytes(2), "</s>");
  EXPECT_EQ(tok->token_bytes(259), "");
  EXPECT_EQ(tok->token_bytes(-1), "");
  EXPECT_TRUE(tok->is_special(0));
  EXPECT_FALSE(tok->is_special(3));
  // No strip in this decoder: a leading space stays.
  EXPECT_EQ(tok->decode(tok->encode(" x")), " x");
  std::string big;
  for (int i = 0; i < 200000; ++i) big += static_cast<char>(i % 251);
  const Ids ids = tok->encode(big);
  ASSERT_EQ(ids.size(), big.size());
  EXPECT_EQ(ids[250], 3 + 250);
  EXPECT_EQ(tok->decode(ids), big);
}

}  // namespace
}  // namespace ringserve::model
