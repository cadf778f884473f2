// Chat templates: a conversation rendered into the prompt text a chat model was trained on.
// Special tokens appear in the text as their strings (<|im_start|>, <s>, <|eot_id|>); the
// tokenizer's added-token matching turns them into their ids, so no token-level API is needed.
//
// Templates (every one ends by opening the assistant's turn):
//   chatml  <|im_start|>ROLE\nCONTENT<|im_end|>\n per message, then <|im_start|>assistant\n
//           (Qwen, many fine-tunes). Content is used as given.
//   llama2  Meta's Llama 2 chat format: <s>[INST] USER [/INST] ASSISTANT </s><s>[INST] USER [/INST]
//           with a leading system message folded into the first user turn as
//           "<<SYS>>\nSYSTEM\n<</SYS>>\n\n" (Meta's chat_completion). As there, each turn's
//           content is stripped of surrounding whitespace, turns must alternate user / assistant
//           (after an optional first system message) and the last must be the user's.
//   llama3  <|begin_of_text|>, then <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>
//           per message, then <|start_header_id|>assistant<|end_header_id|>\n\n. Content is
//           stripped of surrounding whitespace, as Meta's template does ("| trim").
//   zephyr  <|ROLE|>\nCONTENT</s>\n per message, then <|assistant|>\n (HuggingFaceH4's Zephyr,
//           TinyLlama-1.1B-Chat). Content is used as given; the Jinja template writes the
//           model's eos_token where this writes </s>, which is that of the Llama and Mistral
//           tokenizers these models use.
//   plain   For base models without a chat format: "System: ...", "User: ...",
//           "Assistant: ..." paragraphs separated by a blank line, ending with "Assistant:" (no
//           space; the model writes one, so an assistant turn whose content starts with a space
//           is written without another). Useful stop string: "\n\nUser:".
//
// Roles: system, user, assistant; any other is an error naming the role and message index.
//
// Thread-safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace ringserve::model {

struct ChatMessage {
  std::string role;
  std::string content;
};

// False with *error for an unknown template (the error lists the known names), no messages, an
// unknown role, or an order of turns the template cannot express.
bool render_chat(std::string_view template_name, std::span<const ChatMessage> messages,
                 std::string* out, std::string* error);

bool is_known_chat_template(std::string_view template_name);

// "chatml, llama2, llama3, plain, zephyr"
std::string known_chat_templates();

// What model.template = "auto" picks for a model whose tokenizer_config.json has this Jinja
// chat_template: the named template whose markers it writes, else "plain".
std::string_view chat_template_for_jinja(std::string_view jinja);

}  // namespace ringserve::model
