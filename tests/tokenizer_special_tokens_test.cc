// Special tokens around a prompt: what tokenizer.json's post_processor adds (HF's
// encode(text, add_special_tokens=True)), and PromptSpecialTokens, which applies
// tokenizer_config.json's add_bos_token / add_eos_token on top and gives a chat prompt its BOS
// only when the template did not write it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/text/prompt_special_tokens.h"
#include "engine/text/tokenizer.h"
#include "tests/tokenizer_test_support.h"

namespace ringserve::model {
namespace {

using testing::added_token;
using testing::byte_level_tokenizer;
using testing::gemma_like;
using testing::Ids;
using testing::json;
using testing::metaspace_tokenizer;
using testing::must_parse;
using testing::parse_error;

constexpr int32_t A(char c) { return static_cast<int32_t>(c) - 33; }  // byte-level ASCII

Ids prefix_of(const Tokenizer& t) { return {t.special_prefix().begin(), t.special_prefix().end()}; }
Ids suffix_of(const Tokenizer& t) { return {t.special_suffix().begin(), t.special_suffix().end()}; }

json template_processing(const json& single, const json& special_tokens) {
  return {{"type", "TemplateProcessing"}, {"single", single}, {"special_tokens", special_tokens}};
}
json special(const std::string& name) { return {{"SpecialToken", {{"id", name}, {"type_id", 0}}}}; }
json sequence() { return {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}; }

TEST(TokenizerPostProcessor, TemplateProcessingPutsGemmasBosInFront) {
  const auto tok = must_parse(gemma_like({"a", "b"}, {}));  // a 259, b 260, ▁ 261, ▁▁ 262
  EXPECT_EQ(prefix_of(*tok), (Ids{1}));
  EXPECT_EQ(suffix_of(*tok), (Ids{}));
  EXPECT_EQ(tok->encode("a  b", true), (Ids{1, 259, 262, 260}));
  EXPECT_EQ(tok->encode("a  b"), (Ids{259, 262, 260}));  // add_special_tokens defaults to false
  EXPECT_EQ(tok->encode("", true), (Ids{1}));
}

TEST(TokenizerPostProcessor, Llama3SequenceOfByteLevelAndTemplate) {
  json j = byte_level_tokenizer({}, {});
  j["added_tokens"].push_back(added_token(256, "<|begin_of_text|>"));
  j["added_tokens"].push_back(added_token(257, "<|end_of_text|>"));
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}},
        template_processing({special("<|begin_of_text|>"), sequence()},
                            {{"<|begin_of_text|>", {{"id", "<|begin_of_text|>"}, {"ids", {256}}}}}),
        // A later processor wraps what the earlier ones made.
        template_processing({special("<|end_of_text|>"), sequence(), special("<|end_of_text|>")},
                            {{"<|end_of_text|>", {{"id", "<|end_of_text|>"}, {"ids", {257}}}}})}}};
  const auto tok = must_parse(j);
  EXPECT_EQ(tok->encode("a", true), (Ids{257, 256, A('a'), 257}));
}

TEST(TokenizerPostProcessor, RobertaAndBertPutClsAndSep) {
  json j = byte_level_tokenizer({}, {});
  j["added_tokens"].push_back(added_token(256, "<s>"));
  j["added_tokens"].push_back(added_token(257, "</s>"));
  j["post_processor"] = {
      {"type", "RobertaProcessing"}, {"sep", {"</s>", 257}}, {"cls", {"<s>", 256}}};
  EXPECT_EQ(must_parse(j)->encode("a", true), (Ids{256, A('a'), 257}));
  j["post_processor"]["type"] = "BertProcessing";
  EXPECT_EQ(must_parse(j)->encode("a", true), (Ids{256, A('a'), 257}));
}

TEST(TokenizerPostProcessor, ByteLevelAndNullAddNothing) {
  json j = byte_level_tokenizer({}, {});  // GPT-2: a ByteLevel post-processor
  EXPECT_EQ(must_parse(j)->encode("a", true), (Ids{A('a')}));
  j["post_processor"] = nullptr;
  EXPECT_EQ(must_parse(j)->encode("a", true), (Ids{A('a')}));
}

TEST(TokenizerPostProcessor, BrokenOnesAreRefusedByName) {
  json j = metaspace_tokenizer({}, {});
  j["post_processor"] = {{"type", "Whatever"}};
  EXPECT_EQ(parse_error(j.dump()), "broken.json: unsupported post_processor type 'Whatever'");
  j["post_processor"] =
      template_processing(json::array({special("<s>")}), {{"<s>", {{"ids", {1}}}}});
  EXPECT_EQ(parse_error(j.dump()),
            "broken.json: post_processor (TemplateProcessing): 'single' has no sequence ($A)");
  j["post_processor"] = template_processing({special("<x>"), sequence()}, json::object());
  EXPECT_EQ(parse_error(j.dump()),
            "broken.json: post_processor (TemplateProcessing): special "
            "token '<x>' has no ids in 'special_tokens'");
  j["post_processor"] =
      template_processing({special("<x>"), sequence()}, {{"<x>", {{"ids", {999}}}}});
  EXPECT_EQ(parse_error(j.dump()),
            "broken.json: post_processor: special token id 999 is not a token");
  j["post_processor"] = {{"type", "RobertaProcessing"}, {"sep", {"</s>"}}, {"cls", {"<s>", 1}}};
  EXPECT_EQ(parse_error(j.dump()),
            "broken.json: post_processor (RobertaProcessing): 'sep' must be [token, id]");
}

// A model directory holding tokenizer.json and, when given, tokenizer_config.json.
class ModelDir {
 public:
  explicit ModelDir(const json& config) {
    path_ = std::filesystem::temp_directory_path() /
            ("ringserve_special_" + std::to_string(::getpid()) + "_" + std::to_string(++count_));
    std::filesystem::create_directories(path_);
    if (!config.is_null()) std::ofstream(path_ / "tokenizer_config.json") << config.dump();
  }
  ~ModelDir() { std::filesystem::remove_all(path_); }
  ModelDir(const ModelDir&) = delete;
  ModelDir& operator=(const ModelDir&) = delete;
  std::string path() const { return path_.string(); }

 private:
  static inline int count_ = 0;
  std::filesystem::path path_;
};

PromptSpecialTokens load(const Tokenizer& tok, const json& config) {
  const ModelDir dir(config);
  PromptSpecialTokens out;
  std::string error;
  EXPECT_TRUE(PromptSpecialTokens::load(dir.path(), tok, &out, &error)) << error;
  return out;
}

TEST(PromptSpecialTokens, TheConfigsAddBosTokenOverridesThePostProcessor) {
  // DeepSeek-V3: a ByteLevel post-processor, but add_bos_token with bos_token as an AddedToken.
  json j = byte_level_tokenizer({}, {});
  j["added_tokens"].push_back(added_token(256, "<｜begin▁of▁sentence｜>"));
  const auto deepseek = must_parse(j);
  const json config = {
      {"add_bos_token", true},
      {"add_eos_token", false},
      {"bos_token", {{"__type", "AddedToken"}, {"content", "<｜begin▁of▁sentence｜>"}}}};
  EXPECT_EQ(load(*deepseek, config).encode_raw(*deepseek, "a"), (Ids{256, A('a')}));
  EXPECT_EQ(load(*deepseek, nullptr).encode_raw(*deepseek, "a"), (Ids{A('a')}));

  // add_bos_token false takes a template's BOS away; add_eos_token adds the EOS.
  const auto gemma = must_parse(gemma_like({"a"}, {}));
  EXPECT_EQ(load(*gemma, {{"add_bos_token", false}}).encode_raw(*gemma, "a"), (Ids{259}));
  EXPECT_EQ(load(*gemma, {{"add_eos_token", true}, {"eos_token", "</s>"}}).encode_raw(*gemma, "a"),
            (Ids{1, 259, 2}));
  // No file, or not JSON: the post-processor alone.
  EXPECT_EQ(load(*gemma, nullptr).encode_raw(*gemma, "a"), (Ids{1, 259}));
}

TEST(PromptSpecialTokens, AnUnknownBosTokenIsAnErrorNamingTheFile) {
  const auto tok = must_parse(gemma_like({}, {}));
  const ModelDir dir({{"add_bos_token", true}, {"bos_token", "<bos>"}});
  PromptSpecialTokens out;
  std::string error;
  EXPECT_FALSE(PromptSpecialTokens::load(dir.path(), *tok, &out, &error));
  EXPECT_EQ(error, dir.path() +
                       "/tokenizer_config.json: add_bos_token is true but bos_token ('<bos>') is "
                       "not a token");
}

TEST(PromptSpecialTokens, AChatPromptGetsTheBosOnlyWhenItsTemplateDidNotWriteIt) {
  const auto tok = must_parse(gemma_like({"a"}, {}));
  const PromptSpecialTokens specials = load(*tok, {{"add_bos_token", true},
                                                   {"add_eos_token", true},
                                                   {"bos_token", "<s>"},
                                                   {"eos_token", "</s>"}});
  EXPECT_EQ(specials.encode_raw(*tok, "a"), (Ids{1, 259, 2}));
  // "<s>" written by the template (llama2's, or a Jinja "{{ bos_token }}") is not doubled, and
  // a chat prompt never gets the EOS: it ends by opening the assistant's turn.
  EXPECT_EQ(specials.encode_chat(*tok, "<s>a"), (Ids{1, 259}));
  EXPECT_EQ(specials.encode_chat(*tok, "a"), (Ids{1, 259}));
}

}  // namespace
}  // namespace ringserve::model
