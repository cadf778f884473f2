// ModelBackend: the daemon's real backend. It owns the engine (a libtorch transformer with its
// paged KV cache), the block pool over that cache (kv_block_pool.h), the tokenizer and the chat
// template, and per sequence a block table, its tokens, a sampler, a UTF-8 stream and a
// stop-string matcher.
//
// KV cache blocks. A sequence takes the blocks of its whole prompt when it starts -- those of
// the longest cached prefix (shared, refcounted), fresh ones for the rest -- and admission waits
// (ready()) until they are there, so a prompt is never failed for want of memory. Decode takes
// one more block every 16 tokens; when there is none, the newest sequence that holds blocks is
// preempted: its blocks go back (the full ones stay cached under their prefix), it keeps its
// place, tokens and sampler, and it is recomputed -- mostly from that cache -- as soon as its
// blocks fit again, before any new request is admitted. The oldest sequence always goes on
// (the pool holds at least one whole context), so every sequence finishes.
// A block is indexed as soon as it is full and computed (prompt or output), so the next turn of
// a chat, or a system prompt another request has prefilled, is found by prompts that start
// later -- also one that started in the same iteration, whose match is extended before each of
// its prompt chunks while it has computed nothing of its own.
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
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "daemon/backend.h"
#include "daemon/kv_block_pool.h"
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
  std::string chat_template = "auto";  // auto | chatml | llama2 | llama3 | plain | zephyr
  uint32_t max_sequences = 1;          // scheduler.max_concurrent
  uint32_t max_seq_len = 0;            // 0 = the model's
  uint32_t max_batch_tokens = 512;
  uint64_t kv_cache_bytes = 0;  // model.kv_cache_mb; 0 = max_sequences whole contexts
  bool prefix_cache = true;     // scheduler.prefix_cache
};

class ModelBackend final : public Backend {
 public:
  // Loads everything; false with *error as one line naming the file, tensor or option.
  static bool create(const ModelBackendOptions& options, std::unique_ptr<ModelBackend>* out,
                     std::string* error);
  ~ModelBackend() override;

  const char* name() const override { return "torch"; }
  ModelDescription model() const override;
  bool ready(Sequence& seq) override;
  shm::RequestError start(Sequence& seq, std::string* message) override;
  void step(std::span<Sequence* const> batch, std::vector<StepOutput>* outputs) override;
  void release(Sequence& seq) override;
  uint32_t rows_in_use() const override { return static_cast<uint32_t>(live_.size()); }
  bool started(const Sequence& seq) const override;
  KvCacheStats kv_cache() const override;
  std::string check() const override;

  // One line for the log: model, shape, device, dtype, threads, memory (the weights', the KV
  // cache's, and the process's resident size when called).
  std::string describe() const;
  shm::RequestError tokenize(const Sequence& seq, bool add_special, std::vector<TokenPiece>* out,
                             std::string* message) override;
  shm::RequestError detokenize(std::span<const int32_t> ids, std::string* text,
                               std::string* message) override;
  const model::Tokenizer& tokenizer() const { return *tokenizer_; }
  const std::string& chat_template() const { return chat_template_; }

 private:
  struct State;
  ModelBackend() = default;
  // seq's prompt in tokens: a raw prompt, or the chat messages rendered by the template; with
  // add_special, the special tokens a prompt of that kind gets (what a generation starts from).
  // model_backend_text.cc, with tokenize() and detokenize().
  shm::RequestError encode_prompt(const Sequence& seq, bool add_special,
                                  std::vector<int32_t>* tokens, std::string* message) const;
  // Tokenizes the prompt and sets up sampling: seq.backend_state, holding no blocks yet.
  shm::RequestError prepare(Sequence& seq, std::string* message);
  // The blocks all of state's tokens need: the cached prefix (at most all but the last token),
  // and how many fresh ones after it; whether the pool has them. Takes nothing.
  struct BlockPlan {
    std::vector<int32_t> hit;
    uint64_t prefix = KvBlockPool::kRootPrefix;  // after the hit blocks
    size_t fresh = 0;
    bool fits = false;
  };
  BlockPlan plan_blocks(const State& state) const;
  // Takes plan_blocks()' blocks; false, taking nothing, when they do not fit.
  bool take_blocks(State& state);
  // Before a prompt chunk of a sequence that has computed nothing past its cached prefix: takes
  // the cached blocks that other sequences have indexed since, in place of its fresh ones.
  size_t extend_match(State& state);  // returns the tokens taken from the cache
  // Whether the block after state's matched prefix is one that an input in `chunks` (this
  // step's prompt chunks so far, with their lengths) completes, after the same blocks.
  bool next_block_in_flight(const State& state,
                            std::span<const std::pair<const State*, size_t>> chunks) const;
  // Indexes state's blocks that its last forward filled.
  void publish_full_blocks(State& state);
  // A block for the position after state's last computed one, if it needs one; preempts the
  // newest sequence holding blocks when none is left (perhaps state itself: then false).
  bool grow(State& state);
  void give_back_blocks(State& state);
  void preempt(State& victim);
  void take_token(Sequence& seq, State& state, int32_t token, StepOutput* out);

  ModelBackendOptions options_;
  std::unique_ptr<model::Engine> engine_;
  std::unique_ptr<model::Tokenizer> tokenizer_;
  model::PromptSpecialTokens special_tokens_;  // BOS (and EOS) around a raw prompt
  std::string chat_template_;
  std::vector<int32_t> eos_ids_;
  std::unique_ptr<KvBlockPool> pool_;
  std::vector<State*> live_;  // started sequences, oldest first (preempted ones included)
  uint64_t next_start_ = 0;
  KvCacheStats stats_;
  std::vector<float> logits_;
  std::vector<int32_t> sampled_;  // this step's tokens, one per sampling sequence
};

}  // namespace ringserve::daemon
