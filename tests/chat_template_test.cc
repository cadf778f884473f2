// Chat templates: the exact prompt text each template renders, and its errors.
#include "engine/text/chat_template.h"

#include <gtest/gtest.h>

#include <vector>

namespace ringserve::model {
namespace {

const std::vector<ChatMessage> kDialog = {
    {"system", "Be brief."}, {"user", "Hi!"}, {"assistant", "Hello."}, {"user", "Name a colour."}};

std::string render(std::string_view name, const std::vector<ChatMessage>& messages) {
  std::string out;
  std::string error;
  EXPECT_TRUE(render_chat(name, messages, &out, &error)) << error;
  return out;
}

std::string render_error(std::string_view name, const std::vector<ChatMessage>& messages) {
  std::string out;
  std::string error;
  EXPECT_FALSE(render_chat(name, messages, &out, &error));
  return error;
}

TEST(ChatTemplate, ChatMl) {
  EXPECT_EQ(render("chatml", kDialog),
            "<|im_start|>system\nBe brief.<|im_end|>\n"
            "<|im_start|>user\nHi!<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\nName a colour.<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama2FoldsTheSystemPromptIntoTheFirstTurn) {
  EXPECT_EQ(render("llama2", kDialog),
            "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi! [/INST] Hello. </s>"
            "<s>[INST] Name a colour. [/INST]");
  EXPECT_EQ(render("llama2", {{"user", "  padded  "}}), "<s>[INST] padded [/INST]");
}

TEST(ChatTemplate, Llama2TurnOrder) {
  EXPECT_NE(render_error("llama2", {{"user", "a"}, {"user", "b"}})
                .find("message 1 has role 'user', expected 'assistant'"),
            std::string::npos);
  EXPECT_NE(render_error("llama2", {{"user", "a"}, {"assistant", "b"}})
                .find("the last message must be the user's"),
            std::string::npos);
  EXPECT_NE(render_error("llama2", {{"system", "s"}}).find("the last message must be the user's"),
            std::string::npos);
  EXPECT_NE(
      render_error("llama2", {{"user", "a"}, {"system", "b"}}).find("message 1 has role 'system'"),
      std::string::npos);
}

TEST(ChatTemplate, Llama3) {
  EXPECT_EQ(render("llama3", kDialog),
            "<|begin_of_text|>"
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(render("llama3", {{"user", "\n trimmed \n"}}),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\ntrimmed<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, Plain) {
  EXPECT_EQ(render("plain", kDialog),
            "System: Be brief.\n\nUser: Hi!\n\nAssistant: Hello.\n\nUser: Name a colour.\n\n"
            "Assistant:");
}

TEST(ChatTemplate, Errors) {
  const std::string unknown = render_error("vicuna", kDialog);
  EXPECT_EQ(unknown, "unknown chat template 'vicuna' (known: chatml, llama2, llama3, plain)");
  EXPECT_EQ(render_error("chatml", {{"user", "a"}, {"tool", "b"}}),
            "message 1 has unknown role 'tool' (expected system, user or assistant)");
  EXPECT_EQ(render_error("plain", {}), "no messages to render");
  EXPECT_TRUE(is_known_chat_template("llama3"));
  EXPECT_FALSE(is_known_chat_template("Llama3"));
}

}  // namespace
}  // namespace ringserve::model
