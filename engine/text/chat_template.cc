#include "engine/text/chat_template.h"

#include <array>

namespace ringserve::model {
namespace {

constexpr std::array<std::string_view, 5> kTemplates = {"chatml", "llama2", "llama3", "plain",
                                                        "zephyr"};

// Python's str.strip() / Jinja's trim for the whitespace prompts contain.
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) + 1 - begin);
}

void render_chatml(std::span<const ChatMessage> messages, std::string* out) {
  for (const ChatMessage& m : messages) {
    *out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  *out += "<|im_start|>assistant\n";
}

void render_llama3(std::span<const ChatMessage> messages, std::string* out) {
  *out += "<|begin_of_text|>";
  for (const ChatMessage& m : messages) {
    *out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
    *out += trim(m.content);
    *out += "<|eot_id|>";
  }
  *out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

void render_zephyr(std::span<const ChatMessage> messages, std::string* out) {
  for (const ChatMessage& m : messages) *out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
  *out += "<|assistant|>\n";
}

void render_plain(std::span<const ChatMessage> messages, std::string* out) {
  for (const ChatMessage& m : messages) {
    if (m.role == "system") *out += "System: ";
    if (m.role == "user") *out += "User: ";
    // The prompt ends "Assistant:" for the model to write the space: a reply given back as it
    // came has it already, and renders as the model wrote it.
    if (m.role == "assistant") *out += m.content.starts_with(' ') ? "Assistant:" : "Assistant: ";
    *out += m.content;
    *out += "\n\n";
  }
  *out += "Assistant:";
}

bool render_llama2(std::span<const ChatMessage> messages, std::string* out, std::string* error) {
  size_t first = 0;
  std::string system;
  if (messages[0].role == "system") {
    system = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n";
    first = 1;
  }
  for (size_t i = first; i < messages.size(); ++i) {
    const char* expected = (i - first) % 2 == 0 ? "user" : "assistant";
    if (messages[i].role != expected) {
      *error = "llama2: message " + std::to_string(i) + " has role '" + messages[i].role +
               "', expected '" + expected +
               "' (turns alternate user/assistant after an optional first system message)";
      return false;
    }
  }
  if (messages.size() == first || messages.back().role != "user") {
    *error = "llama2: the last message must be the user's";
    return false;
  }
  for (size_t i = first; i < messages.size(); i += 2) {
    // Meta strips the system block and the first user message together, as one string.
    const std::string user = i == first ? system + messages[i].content : messages[i].content;
    *out += "<s>[INST] ";
    *out += trim(user);
    *out += " [/INST]";
    if (i + 1 < messages.size()) {
      *out += " ";
      *out += trim(messages[i + 1].content);
      *out += " </s>";
    }
  }
  return true;
}

}  // namespace

bool is_known_chat_template(std::string_view template_name) {
  for (const std::string_view name : kTemplates) {
    if (name == template_name) return true;
  }
  return false;
}

std::string known_chat_templates() {
  std::string names;
  for (const std::string_view name : kTemplates) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  return names;
}

std::string_view chat_template_for_jinja(std::string_view jinja) {
  const auto has = [jinja](std::string_view marker) {
    return jinja.find(marker) != std::string_view::npos;
  };
  if (has("<|im_start|>")) return "chatml";
  if (has("<|start_header_id|>")) return "llama3";
  if (has("[INST]")) return "llama2";
  // Phi-3 writes the same role markers but ends each turn with <|end|>, not the EOS.
  if (has("<|user|>") && has("<|assistant|>") && !has("<|end|>")) return "zephyr";
  return "plain";
}

bool render_chat(std::string_view template_name, std::span<const ChatMessage> messages,
                 std::string* out, std::string* error) {
  if (!is_known_chat_template(template_name)) {
    *error = "unknown chat template '" + std::string(template_name) +
             "' (known: " + known_chat_templates() + ")";
    return false;
  }
  if (messages.empty()) {
    *error = "no messages to render";
    return false;
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      *error = "message " + std::to_string(i) + " has unknown role '" + role +
               "' (expected system, user or assistant)";
      return false;
    }
  }
  std::string text;
  if (template_name == "chatml") {
    render_chatml(messages, &text);
  } else if (template_name == "llama3") {
    render_llama3(messages, &text);
  } else if (template_name == "plain") {
    render_plain(messages, &text);
  } else if (template_name == "zephyr") {
    render_zephyr(messages, &text);
  } else if (!render_llama2(messages, &text, error)) {
    return false;
  }
  *out = std::move(text);
  return true;
}

}  // namespace ringserve::model
