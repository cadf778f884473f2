// The request bodies of /v1/chat/completions and /v1/completions: what is accepted, and that
// every error is a 400 naming its field.
#include "gateway/openai_request.h"

#include <gtest/gtest.h>

#include <string>

namespace ringserve::gateway {
namespace {

ApiError parse_chat(const std::string& body, CompletionRequest* out = nullptr) {
  CompletionRequest ignored;
  return parse_completion_request(Endpoint::kChat, body, out != nullptr ? out : &ignored);
}

ApiError parse_text(const std::string& body, CompletionRequest* out = nullptr) {
  CompletionRequest ignored;
  return parse_completion_request(Endpoint::kCompletion, body, out != nullptr ? out : &ignored);
}

constexpr const char* kUser = R"("messages":[{"role":"user","content":"hi"}])";

std::string chat_with(const std::string& fields) {
  return std::string("{") + kUser + (fields.empty() ? "" : "," + fields) + "}";
}

TEST(OpenAiRequest, ChatWithEveryParameter) {
  CompletionRequest r;
  const ApiError e = parse_chat(
      R"({"model":"anything","messages":[{"role":"system","content":"be brief"},
          {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
          {"role":"assistant","content":"ok"},{"role":"developer","content":"d"}],
          "stream":true,"stream_options":{"include_usage":true},"max_tokens":5,
          "temperature":0,"top_p":0.5,"seed":42,"stop":"\n","top_k":7,"min_p":0.1,
          "repetition_penalty":1.2,"n":1,"user":"u","logprobs":false})",
      &r);
  ASSERT_TRUE(e.ok()) << e.message;
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_EQ(r.messages[3].role, "system");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.max_tokens, 5u);
  EXPECT_EQ(r.params.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r.params.top_p, 0.5f);
  EXPECT_EQ(r.params.seed, 42u);
  EXPECT_EQ(r.params.stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(r.params.top_k, 7);
  EXPECT_FLOAT_EQ(r.params.min_p, 0.1f);
  EXPECT_FLOAT_EQ(r.params.repetition_penalty, 1.2f);
}

TEST(OpenAiRequest, CompletionPromptAndDefaults) {
  CompletionRequest r;
  ASSERT_TRUE(parse_text(R"({"prompt":"Once"})", &r).ok());
  EXPECT_EQ(r.prompt, "Once");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_FALSE(r.max_tokens.has_value());
  ASSERT_TRUE(parse_text(R"({"prompt":["Once"]})", &r).ok());
  EXPECT_EQ(r.prompt, "Once");
}

TEST(OpenAiRequest, StopAsStringOrArray) {
  CompletionRequest r;
  ASSERT_TRUE(parse_chat(chat_with(R"("stop":"END")"), &r).ok());
  EXPECT_EQ(r.params.stop, std::vector<std::string>{"END"});
  ASSERT_TRUE(parse_chat(chat_with(R"("stop":["a","bc"])"), &r).ok());
  EXPECT_EQ(r.params.stop, (std::vector<std::string>{"a", "bc"}));
  ASSERT_TRUE(parse_chat(chat_with(R"("stop":null)"), &r).ok());
  EXPECT_TRUE(r.params.stop.empty());
}

TEST(OpenAiRequest, MaxCompletionTokensWinsOverMaxTokens) {
  CompletionRequest r;
  ASSERT_TRUE(parse_chat(chat_with(R"("max_tokens":9,"max_completion_tokens":3)"), &r).ok());
  EXPECT_EQ(r.max_tokens, 3u);
}

TEST(OpenAiRequest, NegativeSeedIsASeed) {
  CompletionRequest r;
  ASSERT_TRUE(parse_chat(chat_with(R"("seed":-1)"), &r).ok());
  EXPECT_EQ(r.params.seed, ~uint64_t{0});
}

struct FieldCase {
  const char* fields;  // added to a valid chat body
  const char* param;   // the field the 400 must name
};

TEST(OpenAiRequest, EveryFieldErrorNamesTheField) {
  const FieldCase cases[] = {
      {R"("temperature":"hot")", "temperature"},
      {R"("temperature":-1)", "temperature"},
      {R"("temperature":101)", "temperature"},
      {R"("top_p":0)", "top_p"},
      {R"("top_p":1.5)", "top_p"},
      {R"("min_p":1)", "min_p"},
      {R"("repetition_penalty":0)", "repetition_penalty"},
      {R"("top_k":-1)", "top_k"},
      {R"("top_k":1.5)", "top_k"},
      {R"("seed":"x")", "seed"},
      {R"("max_tokens":0)", "max_tokens"},
      {R"("max_tokens":"5")", "max_tokens"},
      {R"("max_completion_tokens":-3)", "max_completion_tokens"},
      {R"("max_tokens":99999999999)", "max_tokens"},
      {R"("stream":"yes")", "stream"},
      {R"("stream_options":1)", "stream_options"},
      {R"("stream_options":{"include_usage":1})", "stream_options.include_usage"},
      {R"("stop":5)", "stop"},
      {R"("stop":["a",5])", "stop[1]"},
      {R"("stop":"")", "stop"},
      {R"("stop":["1","2","3","4","5","6","7","8","9"])", "stop"},
      {R"("model":5)", "model"},
      {R"("n":2)", "n"},
      {R"("tools":[{"type":"function","function":{"name":"f"}}])", "tools"},
      {R"("tool_choice":"auto")", "tool_choice"},
      {R"("functions":[{"name":"f"}])", "functions"},
      {R"("logprobs":true)", "logprobs"},
      {R"("top_logprobs":2)", "top_logprobs"},
      {R"("logit_bias":{"50256":-100})", "logit_bias"},
      {R"("presence_penalty":0.5)", "presence_penalty"},
      {R"("frequency_penalty":1)", "frequency_penalty"},
      {R"("response_format":{"type":"json_object"})", "response_format.type"},
  };
  for (const FieldCase& c : cases) {
    const ApiError e = parse_chat(chat_with(c.fields));
    EXPECT_EQ(e.status, 400) << c.fields;
    EXPECT_EQ(e.param, c.param) << c.fields << " -> " << e.message;
    EXPECT_NE(e.message.find(c.param), std::string::npos) << e.message;
    EXPECT_EQ(e.type, "invalid_request_error");
  }
}

TEST(OpenAiRequest, UnsupportedThingsSaySo) {
  EXPECT_NE(parse_chat(chat_with(R"("n":3)")).message.find("not supported"), std::string::npos);
  EXPECT_NE(parse_chat(chat_with(R"("tools":[{}])")).message.find("not supported"),
            std::string::npos);
}

TEST(OpenAiRequest, MessageErrorsNameTheMessage) {
  const FieldCase cases[] = {
      {R"({})", "messages"},
      {R"({"messages":"hi"})", "messages"},
      {R"({"messages":[]})", "messages"},
      {R"({"messages":[5]})", "messages[0]"},
      {R"({"messages":[{"content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user","content":"a"},{"role":"tool","content":"x"}]})",
       "messages[1].role"},
      {R"({"messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})",
       "messages[0].content[0].type"},
      {R"({"messages":[{"role":"assistant","content":"","tool_calls":[{}]}]})",
       "messages[0].tool_calls"},
  };
  for (const FieldCase& c : cases) {
    const ApiError e = parse_chat(c.fields);
    EXPECT_EQ(e.status, 400) << c.fields;
    EXPECT_EQ(e.param, c.param) << c.fields << " -> " << e.message;
  }
}

TEST(OpenAiRequest, PromptErrorsNameThePrompt) {
  for (const char* body : {R"({})", R"({"prompt":""})", R"({"prompt":5})", R"({"prompt":[1,2]})",
                           R"({"prompt":["a","b"]})"}) {
    const ApiError e = parse_text(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, "prompt") << body << " -> " << e.message;
  }
  EXPECT_EQ(parse_text(R"({"prompt":"a","echo":true})").param, "echo");
  EXPECT_EQ(parse_text(R"({"prompt":"a","best_of":2})").param, "best_of");
}

TEST(OpenAiRequest, BodiesThatAreNotRequests) {
  for (const std::string& body :
       {std::string(""), std::string("{"), std::string("[1]"), std::string("\"x\""),
        std::string("{\"prompt\":\"\xff\"}"), std::string(100000, '[')}) {
    const ApiError e = parse_text(body);
    EXPECT_EQ(e.status, 400) << body.substr(0, 20);
  }
}

}  // namespace
}  // namespace ringserve::gateway
