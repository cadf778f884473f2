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
  params.flags = 1u << 4;
  EXPECT_EQ(check_params(params, 10).message, "flags has unknown bits set");
}

TEST(RequestPayload, TokenizeAndDetokenizeFlagsCombineOnlyAsTheyMean) {
  GenerationParams params{};
  params.max_tokens = 1;
  params.top_p = 1;
  params.repetition_penalty = 1;
  for (const uint32_t ok :
       {kRequestTokenize, kRequestTokenize | kRequestChat,
        kRequestTokenize | kRequestAddSpecial | kRequestChat, kRequestDetokenize}) {
    params.flags = ok;
    EXPECT_TRUE(check_params(params, 10).ok()) << ok;
  }
  params.flags = kRequestTokenize | kRequestDetokenize;
  EXPECT_EQ(check_params(params, 10).message, "flags ask for tokenize and detokenize at once");
  params.flags = kRequestAddSpecial;
  EXPECT_EQ(check_params(params, 10).message,
            "flags ask for add_special, which only a tokenize request takes");
  params.flags = kRequestDetokenize | kRequestAddSpecial;
  EXPECT_EQ(check_params(params, 10).error, RequestError::kInvalidParams);
  params.flags = kRequestDetokenize | kRequestChat;
  EXPECT_EQ(check_params(params, 10).message,
            "flags ask for detokenize of chat messages; detokenize takes token ids");
}

TEST(RequestPayload, DetokenizeIdsAreLittleEndianInt32s) {
  RequestPayload p;
  std::string area;
  const int32_t ids[] = {0, 65, 0x1F600, 0x7FFFFFFF};
  append_token_ids(&area, ids, 4);
  ASSERT_EQ(area.size(), 16u);
  EXPECT_EQ(area.substr(4, 4), std::string("A\0\0\0", 4));
  ASSERT_TRUE(parse(area, 16, kRequestDetokenize, &p).ok());
  EXPECT_EQ(p.token_ids, (std::vector<int32_t>{0, 65, 0x1F600, 0x7FFFFFFF}));
  EXPECT_TRUE(p.prompt.empty());
  // Not whole ids, none, a negative one, stop strings after them: each with its words.
  RequestCheck c = parse(area.substr(0, 6), 6, kRequestDetokenize, &p);
  EXPECT_EQ(c.error, RequestError::kInvalidParams);
  EXPECT_EQ(c.message,
            "token ids: prompt_length 6 is not a multiple of 4 (little-endian int32 ids)");
  c = parse("", 0, kRequestDetokenize, &p);
  EXPECT_EQ(c.error, RequestError::kEmptyPrompt);
  const int32_t negative[] = {7, -4};
  std::string bad;
  append_token_ids(&bad, negative, 2);
  c = parse(bad, 8, kRequestDetokenize, &p);
  EXPECT_EQ(c.message, "token ids[1] is -4: ids are >= 0");
  c = parse(area + "x" + std::string(1, '\0'), 16, kRequestDetokenize, &p);
  EXPECT_EQ(c.message, "stop strings are given, but a tokenize or detokenize request takes none");
  // A tokenize request's prompt is checked as any prompt (its ids are not its bytes).
  c = parse("ab\xC3", 3, kRequestTokenize, &p);
  EXPECT_EQ(c.error, RequestError::kInvalidUtf8);
  ASSERT_TRUE(parse("ab", 2, kRequestTokenize, &p).ok());
  EXPECT_EQ(p.prompt, "ab");
  EXPECT_TRUE(p.token_ids.empty());
}

}  // namespace
}  // namespace ringserve::shm
