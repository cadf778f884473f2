// Tokenizer::load / parse refuse broken or unsupported files, and every error names the file
// and what is wrong with it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "engine/text/tokenizer.h"
#include "tests/tokenizer_test_support.h"

namespace ringserve::model {
namespace {

using testing::added_token;
using testing::byte_level_tokenizer;
using testing::json;
using testing::metaspace_tokenizer;
using testing::parse_error;

void expect_error(const json& j, const std::string& what) {
  const std::string error = parse_error(j.dump());
  EXPECT_TRUE(error.starts_with("broken.json: ")) << error;
  EXPECT_NE(error.find(what), std::string::npos) << "want '" << what << "' in: " << error;
}

TEST(TokenizerErrors, UnreadableFile) {
  std::unique_ptr<Tokenizer> tok;
  std::string error;
  EXPECT_FALSE(Tokenizer::load("/nonexistent/tokenizer.json", &tok, &error));
  EXPECT_EQ(error.find("/nonexistent/tokenizer.json: cannot open"), 0u) << error;
}

TEST(TokenizerErrors, LoadNamesThePath) {
  const std::string path = "/tmp/ringserve-tok-" + std::to_string(::getpid()) + ".json";
  std::ofstream(path) << "{\"model\": ";
  std::unique_ptr<Tokenizer> tok;
  std::string error;
  EXPECT_FALSE(Tokenizer::load(path, &tok, &error));
  ::unlink(path.c_str());
  EXPECT_EQ(error.find(path + ": not valid JSON"), 0u) << error;
}

TEST(TokenizerErrors, NotJsonOrNotAnObject) {
  EXPECT_NE(parse_error("nope").find("broken.json: not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error("[1, 2]").find("broken.json: not a JSON object"), std::string::npos);
  EXPECT_NE(parse_error("{}").find("'model' is missing"), std::string::npos);
}

TEST(TokenizerErrors, UnsupportedModels) {
  json j = byte_level_tokenizer({}, {});
  j["model"]["type"] = "WordPiece";
  expect_error(j, "unsupported model type 'WordPiece'");
  j["model"]["type"] = "Unigram";
  expect_error(j, "unsupported model type 'Unigram'");
  j = byte_level_tokenizer({}, {});
  j["model"]["dropout"] = 0.1;
  expect_error(j, "model.dropout is not supported");
  j = byte_level_tokenizer({}, {});
  j["model"]["end_of_word_suffix"] = "</w>";
  expect_error(j, "model.end_of_word_suffix is not supported");
}

TEST(TokenizerErrors, UnsupportedPipelineParts) {
  json j = byte_level_tokenizer({}, {});
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error(j, "unsupported normalizer 'Lowercase'");
  j = byte_level_tokenizer({}, {});
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}}}};
  expect_error(j, "unsupported pre_tokenizer 'Digits'");
  j = byte_level_tokenizer({}, {});
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  expect_error(j, "unsupported pre_tokenizer 'BertPreTokenizer'");
  j = byte_level_tokenizer({}, {});
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}};
  expect_error(j, "unsupported decoder 'WordPiece'");
  j = byte_level_tokenizer({}, {});
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"Regex", "(unclosed"}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  expect_error(j, "pre_tokenizer Split: regex '(unclosed' does not compile");
  j["pre_tokenizer"]["pattern"] = {{"Regex", "x"}};
  j["pre_tokenizer"]["behavior"] = "Sideways";
  expect_error(j, "unknown behavior 'Sideways'");
}

TEST(TokenizerErrors, BadMerges) {
  expect_error(byte_level_tokenizer({"ab"}, {"a qq"}),
               "model: merge 0 ('a', 'qq'): token 'qq' is not in the vocab");
  expect_error(byte_level_tokenizer({"ab"}, {"a b", "b c"}),
               "merge 1 ('b', 'c'): merged token 'bc' is not in the vocab");
  expect_error(byte_level_tokenizer({"ab"}, {"a b c"}), "merge 0 ('a b c') is not two tokens");
  json j = byte_level_tokenizer({"ab"}, {});
  j["model"]["merges"] = json::array({json::array({"a"})});
  expect_error(j, "merge 0 ([\"a\"]) is neither");
}

TEST(TokenizerErrors, BadVocabAndAddedTokens) {
  json j = byte_level_tokenizer({}, {});
  j["model"]["vocab"]["x-neg"] = -4;
  expect_error(j, "model.vocab: token 'x-neg' has bad id -4");
  j = byte_level_tokenizer({}, {});
  j["model"]["vocab"]["dup"] = 5;
  expect_error(j, "id 5 is used twice");
  j = metaspace_tokenizer({}, {});
  j["model"]["unk_token"] = "<missing>";
  expect_error(j, "unk_token '<missing>' is not in the vocab");
  j = metaspace_tokenizer({}, {});
  j["added_tokens"].push_back(added_token(7, "<s>"));
  expect_error(j, "added_tokens[3]: '<s>' has id 7 but the vocab gives it 1");
  j = metaspace_tokenizer({}, {});
  j["added_tokens"].push_back(added_token(300, ""));
  expect_error(j, "added_tokens[3]: 'content' is empty");
  j = metaspace_tokenizer({}, {});
  j["added_tokens"].push_back({{"content", "x"}});
  expect_error(j, "added_tokens[3]: needs a non-negative integer 'id'");
  j = metaspace_tokenizer({}, {});
  j["added_tokens"].push_back(added_token(300, "<a>"));
  j["added_tokens"].push_back(added_token(300, "<b>"));
  expect_error(j, "added token id 300 is given to both '<a>' and '<b>'");
  j = byte_level_tokenizer({}, {});
  j["model"]["byte_fallback"] = "yes";
  expect_error(j, "model: 'byte_fallback' must be true or false");
}

TEST(TokenizerErrors, AcceptsLegacyMergeFormsAndVersionLine) {
  json j = byte_level_tokenizer({"ab"}, {"#version: 0.2", "a b"});
  std::unique_ptr<Tokenizer> tok;
  std::string error;
  ASSERT_TRUE(Tokenizer::parse(j.dump(), "ok.json", &tok, &error)) << error;
  EXPECT_EQ(tok->encode("ab"), (std::vector<int32_t>{256}));
  j["model"]["merges"] = json::array({json::array({"a", "b"})});
  ASSERT_TRUE(Tokenizer::parse(j.dump(), "ok.json", &tok, &error)) << error;
  EXPECT_EQ(tok->encode("ab"), (std::vector<int32_t>{256}));
}

}  // namespace
}  // namespace ringserve::model
