// Backend: what produces tokens for the daemon. The server hands it a batch of running
// sequences per step and gets at most one token back for each. The echo backend (no model) serves
// transport tests and benchmarks; the libtorch engine implements the same interface.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "daemon/sequence.h"

namespace ringserve::daemon {

// What one step produced for one sequence.
struct StepOutput {
  // False: nothing to send this step (the sequence's prompt is still being prefilled).
  bool has_token = false;
  int32_t token_id = -1;
  // UTF-8 text to send with the token: whole characters only, and with any text that might be
  // the start of a stop string held back until it is known not to be.
  std::string text;
  // False when the token is the one that stopped the sequence (EOS, a stop token id): it is
  // not sent, but `text` (held-back text released by the end) still is, in an entry without a
  // token (token_id -1).
  bool send_token = true;
  // kStop or kLength when the sequence ends with this output, kError (with `error`) when the
  // backend failed it; kNone while it goes on.
  shm::FinishReason finish = shm::FinishReason::kNone;
  shm::RequestError error = shm::RequestError::kNone;
};

// True if `token` is one of the request's own stop token ids.
inline bool is_stop_token_of(const shm::GenerationParams& params, int32_t token) {
  const uint32_t n = std::min(params.stop_token_count, shm::kMaxStopTokens);
  return std::find(params.stop_token_ids, params.stop_token_ids + n, token) !=
         params.stop_token_ids + n;
}

// What a backend serves: published in the segment (shm::ModelInfo) for `ringctl status`.
struct ModelDescription {
  std::string path;             // the model's directory, "built-in", or "echo"
  std::string architecture;     // config.json's model_type; "none" without a model
  std::string format;           // the weights' format (Engine::dtype_name()); "none"
  std::string device;           // "cpu", "cuda:0"; "none"
  uint64_t context_length = 0;  // positions per sequence; 0 = no model limit
  uint64_t weight_bytes = 0;
  uint64_t kv_cache_bytes = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual ModelDescription model() const = 0;

  // Prepares a sequence that was just admitted: turns its prompt into tokens (setting
  // seq.prompt_token_count), takes what it needs. Returns kNone, or the error that rejects the
  // request with *message saying why (kPromptTooLong when the prompt does not fit the context,
  // ...).
  virtual shm::RequestError start(Sequence& seq, std::string* message) = 0;

  // One step for every sequence in `batch`; outputs[i] belongs to batch[i]. The backend
  // decides when a sequence ends (stop tokens, stop strings, max_tokens, the context size).
  virtual void step(std::span<Sequence* const> batch, std::vector<StepOutput>* outputs) = 0;

  // The sequence has ended; release whatever the backend holds for it. Idempotent: a sequence
  // that holds nothing (never started, or released already) is left as it is.
  virtual void release(Sequence& seq) = 0;

  // Sequences holding backend state now (KV cache rows): published in the segment header, so
  // tests can check that every ending gave its row back.
  virtual uint32_t rows_in_use() const = 0;
};

}  // namespace ringserve::daemon
