#include "engine/sampler.h"

#include <algorithm>
#include <cmath>

namespace ringserve::model {

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
  const auto vocab = static_cast<int32_t>(logits.size());
  if (params_.repetition_penalty != 1.0f) {
    seen_.assign(logits.size(), 0);
    for (int32_t id : history) {
      if (id < 0 || id >= vocab || seen_[static_cast<size_t>(id)]) continue;
      seen_[static_cast<size_t>(id)] = 1;
      float& l = logits[static_cast<size_t>(id)];
      l = l < 0 ? l * params_.repetition_penalty : l / params_.repetition_penalty;
    }
  }
  if (params_.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }

  candidates_.clear();
  const float inv_t = 1.0f / params_.temperature;
  for (int32_t i = 0; i < vocab; ++i) {
    const float l = logits[static_cast<size_t>(i)];
    if (l != -INFINITY) candidates_.push_back({i, l * inv_t});
  }
  if (candidates_.empty()) return 0;
  auto more_likely = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < candidates_.size()) {
    std::nth_element(candidates_.begin(), candidates_.begin() + params_.top_k, candidates_.end(),
                     more_likely);
    candidates_.resize(static_cast<size_t>(params_.top_k));
  }
  // Probabilities over the remaining candidates, in place of the logits.
  float max_logit = candidates_.front().logit;
  for (const Candidate& c : candidates_) max_logit = std::max(max_logit, c.logit);
  double total = 0;
  for (Candidate& c : candidates_) {
    c.logit = std::exp(c.logit - max_logit);
    total += c.logit;
  }
  for (Candidate& c : candidates_) c.logit = static_cast<float>(c.logit / total);

  if (params_.top_p < 1.0f) {
    // The smallest most-likely prefix whose mass reaches top_p (at least one token). Only
    // that prefix needs ordering: blocks of doubling size are selected and sorted until the
    // mass is reached, which over a 50k vocabulary usually ends in the first block instead of
    // sorting all of it.
    double mass = 0;
    size_t keep = 0;
    const auto first = candidates_.begin();
    for (size_t ordered = 0, block = 256; keep == 0 && ordered < candidates_.size(); block *= 2) {
      const size_t end = std::min(candidates_.size(), ordered + block);
      const auto from = first + static_cast<std::ptrdiff_t>(ordered);
      const auto to = first + static_cast<std::ptrdiff_t>(end);
      std::nth_element(from, to - 1, candidates_.end(), more_likely);
      std::sort(from, to, more_likely);
      for (; ordered < end; ++ordered) {
        mass += candidates_[ordered].logit;
        if (mass >= params_.top_p) {
          keep = ordered + 1;
          break;
        }
      }
    }
    candidates_.resize(keep == 0 ? candidates_.size() : keep);
  }
  if (params_.min_p > 0.0f) {
    float best = 0;
    for (const Candidate& c : candidates_) best = std::max(best, c.logit);
    const float floor = params_.min_p * best;
    std::erase_if(candidates_, [floor](const Candidate& c) { return c.logit < floor; });
  }

  // The draw walks the candidates in the order they are in (by probability after top-p, else
  // by id): any fixed order gives a correct sample, and the seed fixes the result.
  double kept = 0;
  for (const Candidate& c : candidates_) kept += c.logit;
  std::uniform_real_distribution<double> uniform(0.0, kept);
  double r = uniform(rng_);
  for (const Candidate& c : candidates_) {
    r -= c.logit;
    if (r < 0) return c.id;
  }
  return candidates_.back().id;
}

}  // namespace ringserve::model
