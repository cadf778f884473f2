// ModelBackend: the daemon's real backend. It owns the engine (a libtorch transformer with its
// KV cache), the tokenizer and the chat template, and per sequence a KV cache row, its tokens,
// a sampler, a UTF-8 stream and a stop-string matcher.
//
// One step packs, within max_batch_tokens, one decode token for every sequence past its prompt
// and as much of the waiting prompts as fits (whole, or the next chunk), in batch order, and
// runs them in one forward. Sequences whose prompt is not finished get no token this step.
// A raw prompt gets the special tokens its tokenizer adds (Llama 2, Mistral, Gemma: BOS), a
// chat prompt the BOS only if its template did not write it (engine/text/prompt_special_tokens.h).
// A sequence ends on EOS (the model's, or its generation config's), a stop token id, a stop
// string (the text before it is sent, nothing after), max_tokens, or the end of its context.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/backend.h"
#include "engine/text/prompt_special_tokens.h"

namespace ringserve::model {
class Engine;
class Tokenizer;
}  // namespace ringserve::model

namespace ringserve::daemon {

struct ModelBackendOptions {
  std::string model_dir;   // a Hugging Face model directory
  std::string model_name;  // what status calls the model ("built-in"); "" = model_dir
  std::string device = "cpu";
  std::string dtype = "float32";
  int threads = 0;                     // 0 = one per online CPU
  std::string chat_template = "auto";  // auto | chatml | llama2 | llama3 | plain
  uint32_t max_sequences = 1;          // KV cache rows = scheduler.max_concurrent
  uint32_t max_seq_len = 0;            // 0 = the model's
  uint32_t max_batch_tokens = 512;
};

class ModelBackend final : public Backend {
 public:
  // Loads everything; false with *error as one line naming the file, tensor or option.
  static bool create(const ModelBackendOptions& options, std::unique_ptr<ModelBackend>* out,
                     std::string* error);
  ~ModelBackend() override;

  const char* name() const override { return "torch"; }
  ModelDescription model() const override;
  shm::RequestError start(Sequence& seq, std::string* message) override;
  void step(std::span<Sequence* const> batch, std::vector<StepOutput>* outputs) override;
  void release(Sequence& seq) override;
  uint32_t rows_in_use() const override {
    return options_.max_sequences - static_cast<uint32_t>(free_cache_slots_.size());
  }

  // One line for the log: model, shape, device, dtype, threads, memory (the weights', the KV
  // cache's, and the process's resident size when called).
  std::string describe() const;
  const model::Tokenizer& tokenizer() const { return *tokenizer_; }
  const std::string& chat_template() const { return chat_template_; }

 private:
  struct State;
  ModelBackend() = default;
  void take_token(Sequence& seq, State& state, int32_t token, StepOutput* out);

  ModelBackendOptions options_;
  std::unique_ptr<model::Engine> engine_;
  std::unique_ptr<model::Tokenizer> tokenizer_;
  model::PromptSpecialTokens special_tokens_;  // BOS (and EOS) around a raw prompt
  std::string chat_template_;
  std::vector<int32_t> eos_ids_;
  std::vector<int32_t> free_cache_slots_;
  std::vector<float> logits_;
  std::vector<int32_t> sampled_;  // this step's tokens, one per sampling sequence
};

}  // namespace ringserve::daemon
