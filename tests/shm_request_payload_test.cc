// The prompt area's encoding: raw prompt or chat messages, then NUL-terminated stop strings;
// every malformed variant gets its own error naming the field.
#include <gtest/gtest.h>

#include "shm/request_check.h"

namespace ringserve::shm {
namespace {

RequestCheck parse(const std::string& area, uint32_t prompt_length, uint32_t flags,
                   RequestPayload* out) {
  return parse_request_payload(area, prompt_length,
                               static_cast<uint32_t>(area.size()) - prompt_length, flags, out);
}

TEST(RequestPayload, RawPromptThenStopStrings) {
  std::string area = "Hello";
  append_stop_string(&area, "\n\n");
  append_stop_string(&area, "。");
  RequestPayload p;
  ASSERT_TRUE(parse(area, 5, 0, &p).ok());
  EXPECT_EQ(p.prompt, "Hello");
  EXPECT_TRUE(p.chat.empty());
  EXPECT_EQ(p.stop_strings, (std::vector<std::string>{"\n\n", "。"}));
}

TEST(RequestPayload, ChatMessagesRoundTrip) {
  std::string area;
  append_chat_message(&area, ChatRole::kSystem, "Be brief.");
  append_chat_message(&area, ChatRole::kUser, "こんにちは");
  append_chat_message(&area, ChatRole::kAssistant, "");
  const auto body = static_cast<uint32_t>(area.size());
  append_stop_string(&area, "User:");
  RequestPayload p;
  ASSERT_TRUE(parse(area, body, kRequestChat, &p).ok());
  ASSERT_EQ(p.chat.size(), 3u);
  EXPECT_EQ(p.chat[0], (std::pair<std::string, std::string>{"system", "Be brief."}));
  EXPECT_EQ(p.chat[1], (std::pair<std::string, std::string>{"user", "こんにちは"}));
  EXPECT_EQ(p.chat[2], (std::pair<std::string, std::string>{"assistant", ""}));
  EXPECT_EQ(p.stop_strings, std::vector<std::string>{"User:"});
}

TEST(RequestPayload, MalformedAreasNameTheField) {
  RequestPayload p;
  std::string area;
  append_chat_message(&area, ChatRole::kUser, "hi");
  area[0] = 7;
  RequestCheck c = parse(area, static_cast<uint32_t>(area.size()), kRequestChat, &p);
  EXPECT_EQ(c.error, RequestError::kInvalidParams);
  EXPECT_EQ(c.message, "messages[0].role 7 is not system, user or assistant");

  area.clear();
  append_chat_message(&area, ChatRole::kUser, "hello");
  c = parse(area.substr(0, 8), 8, kRequestChat, &p);
  EXPECT_EQ(c.error, RequestError::kProtocolViolation);
  EXPECT_EQ(c.message, "messages[0].content runs past prompt_length");
  c = parse(area.substr(0, 3), 3, kRequestChat, &p);
  EXPECT_EQ(c.message, "messages[0] is truncated");
  c = parse("", 0, kRequestChat, &p);
  EXPECT_EQ(c.error, RequestError::kEmptyPrompt);

  area.clear();
  append_chat_message(&area, ChatRole::kUser, "\xff");
  c = parse(area, static_cast<uint32_t>(area.size()), kRequestChat, &p);
  EXPECT_EQ(c.error, RequestError::kInvalidUtf8);
  EXPECT_EQ(c.message, "messages[0].content is not valid UTF-8 (at byte 0)");

  c = parse("hi" + std::string("stop"), 2, 0, &p);
  EXPECT_EQ(c.error, RequestError::kProtocolViolation);
  EXPECT_EQ(c.message, "stop strings are not NUL-terminated");
  c = parse("hi" + std::string(1, '\0'), 2, 0, &p);
  EXPECT_EQ(c.message, "stop_strings[0] is empty");
  area = "hi";
  for (int i = 0; i < 9; ++i) append_stop_string(&area, "x");
  c = parse(area, 2, 0, &p);
  EXPECT_EQ(c.message, "stop_strings may hold at most 8 strings");
  area = "hi";
  append_stop_string(&area, std::string(65, 'a'));
  c = parse(area, 2, 0, &p);
  EXPECT_EQ(c.message, "stop_strings[0] is longer than 64 bytes");

  c = parse_request_payload("abc", 3, 1, 0, &p);
  EXPECT_EQ(c.error, RequestError::kPromptTooLong);
}

TEST(RequestPayload, UnknownFlagBitsAreRejected) {
  GenerationParams params{};
  params.max_tokens = 1;
  params.top_p = 1;
  params.repetition_penalty = 1;
  params.flags = kRequestChat;
  EXPECT_TRUE(check_params(params, 10).ok());
  params.flags = 2;
  EXPECT_EQ(check_params(params, 10).message, "flags has unknown bits set");
}

}  // namespace
}  // namespace ringserve::shm
