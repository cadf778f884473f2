// The response bodies: whole completions, SSE chunks (role first, usage null with
// include_usage, the usage chunk), errors, the model list.
#include "gateway/openai_response.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ringserve::gateway {
namespace {

using nlohmann::json;

json event_json(const std::string& event) {
  EXPECT_EQ(event.substr(0, 6), "data: ");
  EXPECT_EQ(event.substr(event.size() - 2), "\n\n");
  return json::parse(event.substr(6, event.size() - 8));
}

const ResponseIds kChat{Endpoint::kChat, "chatcmpl-1", "m", 7};
const ResponseIds kText{Endpoint::kCompletion, "cmpl-1", "m", 7};

TEST(OpenAiResponse, ChatCompletion) {
  const json j = json::parse(render_completion(kChat, "Hi", FinishReason::kLength, {3, 2}));
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hi");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"],
            json({{"prompt_tokens", 3}, {"completion_tokens", 2}, {"total_tokens", 5}}));
}

TEST(OpenAiResponse, TextCompletion) {
  const json j = json::parse(render_completion(kText, "x", FinishReason::kStop, {1, 1}));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "x");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST(OpenAiResponse, ChatChunks) {
  const json first = event_json(render_chunk_event(kChat, "He", true, FinishReason::kNone, false));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"], json({{"role", "assistant"}, {"content", "He"}}));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(first.contains("usage"));
  const json next = event_json(render_chunk_event(kChat, "y", false, FinishReason::kNone, true));
  EXPECT_EQ(next["choices"][0]["delta"], json({{"content", "y"}}));
  EXPECT_TRUE(next.contains("usage") && next["usage"].is_null());
  const json last = event_json(render_chunk_event(kChat, "", false, FinishReason::kStop, true));
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
}

TEST(OpenAiResponse, UsageChunkHasNoChoices) {
  const json j = event_json(render_usage_event(kText, {4, 6}));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_TRUE(j["choices"].is_array() && j["choices"].empty());
  EXPECT_EQ(j["usage"]["total_tokens"], 10);
}

TEST(OpenAiResponse, ErrorObject) {
  const json j = json::parse(render_error(bad_field("top_p", "'top_p' is 2")));
  EXPECT_EQ(j["error"]["message"], "'top_p' is 2");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "top_p");
  EXPECT_TRUE(j["error"]["code"].is_null());
}

TEST(OpenAiResponse, StatusesMapToHttp) {
  EXPECT_EQ(error_from_status({ErrorCode::kQueueFull, "x"}).status, 429);
  EXPECT_GT(error_from_status({ErrorCode::kQueueFull, "x"}).retry_after_s, 0u);
  EXPECT_EQ(error_from_status({ErrorCode::kPromptTooLong, "x"}).status, 400);
  EXPECT_EQ(error_from_status({ErrorCode::kPromptTooLong, "x"}).code, "context_length_exceeded");
  EXPECT_EQ(error_from_status({ErrorCode::kDaemonGone, "x"}).status, 503);
  EXPECT_EQ(error_from_status({ErrorCode::kShuttingDown, "x"}).status, 503);
  EXPECT_EQ(error_from_status({ErrorCode::kDaemonNotRunning, "x"}).status, 503);
  EXPECT_EQ(error_from_status({ErrorCode::kInvalidParams, "x"}).status, 400);
}

TEST(OpenAiResponse, ModelList) {
  const json j = json::parse(render_models("tiny", 5));
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "tiny");
  EXPECT_EQ(j["data"][0]["owned_by"], "ringserve");
}

TEST(OpenAiResponse, InvalidUtf8IsReplacedNotThrown) {
  const std::string body = render_completion(kText, "a\xff", FinishReason::kStop, {1, 1});
  EXPECT_TRUE(json::accept(body));
}

}  // namespace
}  // namespace ringserve::gateway
