// ModelBackend, text without generation: a prompt in tokens (what start() computes from, and
// what a tokenize request answers), and token ids back to text (a detokenize request). Both run
// on the daemon's loop thread at intake; neither touches the engine or the KV cache.
#include "daemon/model_backend.h"
#include "engine/text/chat_template.h"
#include "engine/text/tokenizer.h"
#include "engine/text/utf8_stream.h"

namespace ringserve::daemon {

shm::RequestError ModelBackend::encode_prompt(const Sequence& seq, bool add_special,
                                              std::vector<int32_t>* tokens,
                                              std::string* message) const {
  if (seq.chat.empty()) {
    *tokens = add_special ? special_tokens_.encode_raw(*tokenizer_, seq.prompt)
                          : tokenizer_->encode(seq.prompt);
    return shm::RequestError::kNone;
  }
  std::vector<model::ChatMessage> messages;
  messages.reserve(seq.chat.size());
  for (const auto& [role, content] : seq.chat) messages.push_back({role, content});
  std::string text;
  if (!model::render_chat(chat_template_, messages, &text, message)) {
    return shm::RequestError::kInvalidParams;
  }
  *tokens = add_special ? special_tokens_.encode_chat(*tokenizer_, text) : tokenizer_->encode(text);
  return shm::RequestError::kNone;
}

shm::RequestError ModelBackend::tokenize(const Sequence& seq, bool add_special,
                                         std::vector<TokenPiece>* out, std::string* message) {
  std::vector<int32_t> tokens;
  if (const shm::RequestError e = encode_prompt(seq, add_special, &tokens, message);
      e != shm::RequestError::kNone) {
    return e;
  }
  // Each token's text as a generated token's is streamed: whole characters, a character split
  // over tokens (byte fallback, byte-level pieces) given with the token that completes it. A
  // special token gives its content ("<s>"), where generation gives nothing.
  model::Utf8Stream utf8;
  out->clear();
  out->reserve(tokens.size());
  for (const int32_t id : tokens) out->push_back({id, utf8.push(tokenizer_->token_bytes(id))});
  if (!out->empty()) out->back().text += utf8.finish();
  return shm::RequestError::kNone;
}

shm::RequestError ModelBackend::detokenize(std::span<const int32_t> ids, std::string* text,
                                           std::string* message) {
  const int32_t vocab = tokenizer_->vocab_size();
  for (size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] < 0 || ids[k] >= vocab) {
      *message = "token ids[" + std::to_string(k) + "] is " + std::to_string(ids[k]) +
                 ", not in the vocabulary (0.." + std::to_string(vocab - 1) + ")";
      return shm::RequestError::kInvalidParams;
    }
  }
  // As Hugging Face decodes (special tokens included); bytes that do not make whole characters
  // (ids that split one) become U+FFFD, so the answer is valid UTF-8.
  model::Utf8Stream utf8;
  *text = utf8.push(tokenizer_->decode(ids));
  *text += utf8.finish();
  return shm::RequestError::kNone;
}

}  // namespace ringserve::daemon
