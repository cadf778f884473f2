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

// The KV cache as a backend that pages it reports it (zeros from one that does not).
struct KvCacheStats {
  uint32_t block_positions = 0;  // positions per block
  uint32_t blocks_total = 0;
  uint32_t blocks_in_use = 0;         // held by running sequences
  uint32_t blocks_cached = 0;         // held by none, kept for their prefix (evictable)
  uint64_t prompt_tokens = 0;         // of every started request (a preempted one's counted once)
  uint64_t prompt_tokens_cached = 0;  // of those, taken from the prefix cache, not computed
  uint64_t preemptions = 0;  // sequences that gave their blocks up mid-decode (recomputed later)
};

// One token of a tokenize answer: its id and its text as a generated token's would be streamed
// (whole characters: a token that ends inside a character has its bytes carried to the next
// piece; a special token gives its content, e.g. "<s>").
struct TokenPiece {
  int32_t id = 0;
  std::string text;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual ModelDescription model() const = 0;

  // Asked by admission before start(), for the waiting sequence it would admit next: false
  // when the sequence cannot start now for want of room (its prompt's KV cache blocks), so it
  // and everything after it wait for a later iteration. True when start() will take it, or will
  // reject it (a prompt too long is an error, not a wait). May prepare the sequence (its tokens)
  // for start(); a sequence so prepared may end without starting (release()).
  virtual bool ready(Sequence& /*seq*/) { return true; }

  // Prepares a sequence that was just admitted: turns its prompt into tokens (setting
  // seq.prompt_token_count and seq.prompt_cached_tokens), takes what it needs. Returns kNone, or
  // the error that rejects the request with *message saying why (kPromptTooLong when the prompt
  // does not fit the context, ...).
  virtual shm::RequestError start(Sequence& seq, std::string* message) = 0;

  // One step for every sequence in `batch`; outputs[i] belongs to batch[i]. The backend
  // decides when a sequence ends (stop tokens, stop strings, max_tokens, the context size).
  virtual void step(std::span<Sequence* const> batch, std::vector<StepOutput>* outputs) = 0;

  // The sequence has ended; release whatever the backend holds for it. Idempotent: a sequence
  // that holds nothing (never started, or released already) is left as it is.
  virtual void release(Sequence& seq) = 0;

  // Tokenize and detokenize requests, answered at intake: no scheduler place, no backend state,
  // no model step. tokenize(): seq's prompt (or chat messages, rendered by the chat template)
  // as the backend tokenizes a prompt of that kind -- special tokens' text in it parsed to their
  // ids as in any prompt; with add_special, the special tokens (BOS) a prompt gets around it.
  // detokenize(): the text of `ids`; an id the vocabulary does not have is kInvalidParams with
  // *message naming its index and value. Both return kNone, or the error with *message. The
  // defaults refuse: a backend without a tokenizer says so.
  virtual shm::RequestError tokenize(const Sequence& /*seq*/, bool /*add_special*/,
                                     std::vector<TokenPiece>* /*out*/, std::string* message) {
    *message = std::string("the ") + name() + " backend cannot tokenize";
    return shm::RequestError::kInvalidParams;
  }
  virtual shm::RequestError detokenize(std::span<const int32_t> /*ids*/, std::string* /*text*/,
                                       std::string* message) {
    *message = std::string("the ") + name() + " backend cannot detokenize";
    return shm::RequestError::kInvalidParams;
  }

  // Started sequences holding backend state now (KV cache blocks): published in the segment
  // header, so tests can check that every ending gave its blocks back.
  virtual uint32_t rows_in_use() const = 0;
  // Whether `seq` is counted in rows_in_use() (started, not only prepared by ready()).
  virtual bool started(const Sequence& seq) const { return seq.backend_state != nullptr; }
  virtual KvCacheStats kv_cache() const { return {}; }
  // Empty, or what is wrong with the backend's own bookkeeping (the KV block pool's counts,
  // references and index): the daemon's invariant check, for tests.
  virtual std::string check() const { return {}; }
};

}  // namespace ringserve::daemon
