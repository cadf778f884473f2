// EchoBackend: a deterministic stand-in for a model. A prompt's tokens are its Unicode code
// points; generated token k is prompt token (k mod prompt length), so the output is the prompt
// repeated. A generated token that is one of the request's stop token ids ends it (kStop);
// max_tokens ends it otherwise (kLength). Each step sleeps step_delay_us once (for the whole
// batch), like a model step would. Like the model's KV cache it has a fixed number of rows
// (max_rows, the scheduler's max_concurrent): a started sequence holds one until released,
// so a daemon that loses track of a sequence runs out of rows here just as with a model.
// Tokenize gives the same tokens: one per character, its id the code point (there are no
// special tokens; add_special adds nothing); detokenize takes Unicode scalar values (0..0x10FFFF
// without the surrogates). Chat messages it refuses, for want of a chat template.
#pragma once

#include <cstdint>

#include "daemon/backend.h"

namespace ringserve::daemon {

class EchoBackend final : public Backend {
 public:
  EchoBackend(uint32_t step_delay_us, uint32_t max_rows)
      : step_delay_us_(step_delay_us), max_rows_(max_rows) {}
  const char* name() const override { return "echo"; }
  ModelDescription model() const override { return {"echo", "none", "none", "none", 0, 0, 0}; }
  shm::RequestError start(Sequence& seq, std::string* message) override;
  void step(std::span<Sequence* const> batch, std::vector<StepOutput>* outputs) override;
  void release(Sequence& seq) override;
  uint32_t rows_in_use() const override { return rows_in_use_; }
  shm::RequestError tokenize(const Sequence& seq, bool add_special, std::vector<TokenPiece>* out,
                             std::string* message) override;
  shm::RequestError detokenize(std::span<const int32_t> ids, std::string* text,
                               std::string* message) override;

  // The echo tokenization, shared with tests: code points of valid UTF-8 (utf8/utf8.h).
  static std::vector<int32_t> code_points(std::string_view text);
  static std::string encode_utf8(int32_t code_point);

 private:
  struct Row;
  uint32_t step_delay_us_;
  uint32_t max_rows_;
  uint32_t rows_in_use_ = 0;
};

}  // namespace ringserve::daemon
