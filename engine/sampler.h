// Sampler: picks the next token from one sequence's logits, with the request's parameters,
// in Hugging Face's order: repetition penalty over the sequence so far (prompt included), then
// temperature, top-k, top-p, min-p, then a draw from the sequence's own generator. Temperature
// 0 is greedy (argmax after the penalty). Each sequence owns its generator, seeded from the
// request, so the same seed and prompt give the same output whatever else shares the batch.
// No torch: sampling runs on float32 logits already on the CPU.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace ringserve::model {

struct SamplingParams {
  float temperature = 0.0f;         // 0 = greedy
  int32_t top_k = 0;                // 0 = off
  float top_p = 1.0f;               // 1 = off
  float min_p = 0.0f;               // 0 = off
  float repetition_penalty = 1.0f;  // 1 = off; > 1 discourages tokens already in the sequence
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

  // `logits` is scratch: it is modified. `history` is every token of the sequence so far.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history);

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;
  std::vector<uint8_t> seen_;
};

}  // namespace ringserve::model
