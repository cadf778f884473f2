// POST /tokenize and /detokenize bodies: every error names its field.
#include "gateway/text_requests.h"

#include <gtest/gtest.h>

namespace ringserve::gateway {
namespace {

using Kind = TextRequest::Kind;

ApiError parse(Kind kind, const std::string& body, TextRequest* out = nullptr) {
  TextRequest ignored;
  return parse_text_request(kind, body, out != nullptr ? out : &ignored);
}

TEST(TextRequest, TokenizeFields) {
  TextRequest r;
  ASSERT_TRUE(
      parse(Kind::kTokenize, R"({"content":"hi","add_special":true,"with_pieces":true})", &r).ok());
  EXPECT_EQ(r.content, "hi");
  EXPECT_TRUE(r.add_special);
  EXPECT_TRUE(r.with_pieces);
  ASSERT_TRUE(parse(Kind::kTokenize, R"({"content":""})", &r).ok());
  EXPECT_FALSE(r.add_special);
  EXPECT_EQ(parse(Kind::kTokenize, R"({})").param, "content");
  EXPECT_EQ(parse(Kind::kTokenize, R"({"content":3})").param, "content");
  EXPECT_EQ(parse(Kind::kTokenize, R"({"content":"a","add_special":"yes"})").param, "add_special");
  EXPECT_EQ(parse(Kind::kTokenize, R"({"content":"a","with_pieces":1})").param, "with_pieces");
  const ApiError e = parse(Kind::kTokenize, R"({"content":"a","parse_special":false})");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "parse_special");
  EXPECT_TRUE(parse(Kind::kTokenize, R"({"content":"a","parse_special":true})").ok());
  EXPECT_EQ(parse(Kind::kTokenize, "[1]").status, 400);
  EXPECT_EQ(parse(Kind::kTokenize, "{").status, 400);
}

TEST(TextRequest, DetokenizeFields) {
  TextRequest r;
  ASSERT_TRUE(parse(Kind::kDetokenize, R"({"tokens":[0,5,2147483647]})", &r).ok());
  EXPECT_EQ(r.tokens, (std::vector<int32_t>{0, 5, 2147483647}));
  EXPECT_EQ(parse(Kind::kDetokenize, R"({})").param, "tokens");
  EXPECT_EQ(parse(Kind::kDetokenize, R"({"tokens":"1 2"})").param, "tokens");
  EXPECT_EQ(parse(Kind::kDetokenize, R"({"tokens":[1,-2]})").param, "tokens[1]");
  EXPECT_EQ(parse(Kind::kDetokenize, R"({"tokens":[1,2147483648]})").param, "tokens[1]");
  EXPECT_EQ(parse(Kind::kDetokenize, R"({"tokens":[1.5]})").param, "tokens[0]");
  EXPECT_EQ(parse(Kind::kDetokenize, R"({"tokens":[[1]]})").param, "tokens[0]");
}

}  // namespace
}  // namespace ringserve::gateway
