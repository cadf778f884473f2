// train_bpe_tokenizer_json: the files it writes load, have exactly the asked vocab size and the
// fixed ids each kind promises, learn the corpus's frequent words, and round-trip any text.
#include "tools/model_making/bpe_trainer.h"

#include <gtest/gtest.h>

#include "engine/text/tokenizer.h"

namespace ringserve::model {
namespace {

// Varied text: English, code, emoji, Japanese, combining marks, whitespace runs, digits.
const std::vector<std::string> kSamples = {
    "The quick brown fox jumps over the lazy dog. The dog sleeps.",
    "int main(int argc, char** argv) {\n  return argc > 1 ? 0 : 1;\n}\n",
    "    indented\tline\t\twith   tabs and   spaces   \n\n\n",
    "Emoji: 😀👍🏽 🇯🇵 and ZWJ 👩‍💻 sequences",
    "日本語のテキストです。東京は晴れ。",
    "Combining: e\u0301 a\u0308 n\u0303 and precomposed é ä ñ",
    "Numbers 1234567890 3.14159 -42 1e10 0xFF",
    " leading space, trailing space ",
    "",
    "\n",
    "a",
    "don't we'll they're I'M",
    "<tag attr=\"v\">&amp;</tag> `code` **bold** [link](http://x.y/z?q=1&r=2)",
};

std::string corpus() {
  std::string text;
  for (int i = 0; i < 20; ++i) {
    for (const std::string& s : kSamples) text += s + "\n";
    text += "the the the theory there then " + std::to_string(i * 7919) + "\n";
  }
  return text;
}

std::unique_ptr<Tokenizer> train(TokenizerKind kind, int32_t vocab_size,
                                 const std::string& text = corpus()) {
  std::string error;
  const std::string json = train_bpe_tokenizer_json(kind, text, vocab_size, &error);
  EXPECT_FALSE(json.empty()) << error;
  std::unique_ptr<Tokenizer> tok;
  EXPECT_TRUE(Tokenizer::parse(json, "trained.json", &tok, &error)) << error;
  return tok;
}

void expect_round_trips(const Tokenizer& tok) {
  std::vector<std::string> texts = kSamples;
  texts.push_back(
      "Unseen words: zyzzyva quixotic Ωμέγα Ελληνικά 한국어 🦀🦀 \r\n\r\n end");
  for (const std::string& text : texts) {
    const std::vector<int32_t> ids = tok.encode(text);
    EXPECT_EQ(tok.decode(ids), text) << "text: " << text;
    std::string streamed;
    for (const int32_t id : ids) streamed += tok.token_bytes(id);
    if (!text.empty() && text[0] != ' ') {
      EXPECT_EQ(streamed.substr(streamed[0] == ' ' ? 1 : 0), text);
    }
  }
}

TEST(BpeTrainer, ByteLevelShapeAndRoundTrip) {
  const auto tok = train(TokenizerKind::kByteLevel, 700);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 700);
  EXPECT_EQ(tok->find("<|endoftext|>"), 699);
  EXPECT_TRUE(tok->is_special(699));
  EXPECT_EQ(tok->token_string(0), "!");
  EXPECT_EQ(tok->token_string(220), "Ġ");
  // " the" is the corpus's most frequent word: one token.
  ASSERT_TRUE(tok->find("Ġthe").has_value());
  EXPECT_EQ(tok->encode(" the"), (std::vector<int32_t>{*tok->find("Ġthe")}));
  EXPECT_EQ(tok->encode("x<|endoftext|>"), (std::vector<int32_t>{'x' - 33, 699}));
  expect_round_trips(*tok);
}

TEST(BpeTrainer, MetaspaceShapeAndRoundTrip) {
  const auto tok = train(TokenizerKind::kMetaspace, 700);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 700);
  EXPECT_EQ(tok->find("<unk>"), 0);
  EXPECT_EQ(tok->find("<s>"), 1);
  EXPECT_EQ(tok->find("</s>"), 2);
  EXPECT_EQ(tok->find("<0x00>"), 3);
  EXPECT_EQ(tok->find("<0xFF>"), 258);
  EXPECT_EQ(tok->token_string(259), "▁");  // the most frequent character comes first
  ASSERT_TRUE(tok->find("▁the").has_value());
  EXPECT_EQ(tok->encode("the"), (std::vector<int32_t>{*tok->find("▁the")}));
  EXPECT_EQ(tok->encode("<s>the</s>"), (std::vector<int32_t>{1, *tok->find("▁the"), 2}));
  expect_round_trips(*tok);
}

TEST(BpeTrainer, SmallCorpusIsPaddedWithUnusedTokens) {
  const auto tok = train(TokenizerKind::kByteLevel, 300, "ab ab ab");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 300);
  // Merges: a+b, Ġ+ab (one of them; " ab" twice vs "ab" three times), then pairs run out.
  const auto unused = tok->find("<|unused_0|>");
  ASSERT_TRUE(unused.has_value());
  EXPECT_TRUE(tok->is_special(*unused));
  EXPECT_EQ(tok->find("<|endoftext|>"), 299);
  EXPECT_EQ(tok->find("<|unused_" + std::to_string(298 - *unused) + "|>"), 298);
  EXPECT_EQ(tok->encode("<|unused_0|>"), (std::vector<int32_t>{*unused}));
  EXPECT_EQ(tok->encode("ab"), (std::vector<int32_t>{*tok->find("ab")}));
}

TEST(BpeTrainer, Gpt2SmallVocabulary) {
  const auto tok = train(TokenizerKind::kByteLevel, 50257);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(tok->find("<|endoftext|>"), 50256);
  expect_round_trips(*tok);
}

TEST(BpeTrainer, DeterministicAndChecksItsArguments) {
  std::string error;
  EXPECT_EQ(train_bpe_tokenizer_json(TokenizerKind::kMetaspace, corpus(), 400, &error),
            train_bpe_tokenizer_json(TokenizerKind::kMetaspace, corpus(), 400, &error));
  EXPECT_EQ(train_bpe_tokenizer_json(TokenizerKind::kMetaspace, "abc", 258, &error), "");
  EXPECT_NE(error.find("vocab_size 258 is outside [259"), std::string::npos) << error;
  EXPECT_EQ(train_bpe_tokenizer_json(TokenizerKind::kByteLevel, "abc", 256, &error), "");
  EXPECT_NE(error.find("vocab_size 256 is outside [257"), std::string::npos) << error;
  // The smallest vocabularies: only the fixed tokens.
  EXPECT_NE(train_bpe_tokenizer_json(TokenizerKind::kByteLevel, "abc", 257, &error), "");
  const auto tok = train(TokenizerKind::kMetaspace, 259, "abc");
  EXPECT_EQ(tok->encode("a"), (std::vector<int32_t>{3 + 0xE2, 3 + 0x96, 3 + 0x81, 3 + 'a'}));
}

}  // namespace
}  // namespace ringserve::model
