// PromptSpecialTokens: the special tokens (BOS, EOS) a model's prompts get, as the Hugging Face
// tokenizer gives them with add_special_tokens=True: tokenizer.json's post-processor, overridden
// by tokenizer_config.json's add_bos_token / add_eos_token where that file sets them. The
// tokenizer classes that write those keys (Llama's, Gemma's) rebuild their post-processor from
// them: DeepSeek-V3's tokenizer.json adds nothing but its config adds BOS.
//
// A raw prompt gets prefix + ids + suffix. A rendered chat prompt gets the prefix only when it
// does not already start with it (the llama2 and llama3 templates write their BOS, as Jinja
// templates write "{{ bos_token }}"), and never the suffix: an EOS after the opened assistant
// turn would end it.
//
// Thread-safety: immutable after load(); const methods may run concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringserve::model {

class Tokenizer;

class PromptSpecialTokens {
 public:
  // From `tokenizer`'s post-processor and MODEL_DIR/tokenizer_config.json (absent or not JSON:
  // the post-processor alone). False with *error = "PATH: ..." when the file asks for a BOS or
  // EOS whose bos_token / eos_token is not a token of `tokenizer`.
  static bool load(const std::string& model_dir, const Tokenizer& tokenizer,
                   PromptSpecialTokens* out, std::string* error);
  // The post-processor alone (no tokenizer_config.json).
  static PromptSpecialTokens from_tokenizer(const Tokenizer& tokenizer);

  std::vector<int32_t> encode_raw(const Tokenizer& tokenizer, std::string_view text) const;
  std::vector<int32_t> encode_chat(const Tokenizer& tokenizer, std::string_view rendered) const;

  std::span<const int32_t> prefix() const { return prefix_; }
  std::span<const int32_t> suffix() const { return suffix_; }

 private:
  std::vector<int32_t> prefix_;
  std::vector<int32_t> suffix_;
};

}  // namespace ringserve::model
