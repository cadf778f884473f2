#include "daemon/model/sampler.h"

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
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < candidates_.size()) {
    std::nth_element(candidates_.begin(), candidates_.begin() + params_.top_k, candidates_.end(),
                     by_logit);
    candidates_.resize(static_cast<size_t>(params_.top_k));
  }
  // Only top-p needs the candidates in order (a prefix of them); the draw below visits them in
  // the same order lazily, so plain temperature sampling over 50k ids does not sort 50k ids.
  const bool sorted = params_.top_p < 1.0f;
  if (sorted) std::sort(candidates_.begin(), candidates_.end(), by_logit);

  // Probabilities over the remaining candidates, in place of the logits.
  float max_logit = candidates_.front().logit;
  for (const Candidate& c : candidates_) max_logit = std::max(max_logit, c.logit);
  double total = 0;
  for (Candidate& c : candidates_) {
    c.logit = std::exp(c.logit - max_logit);
    total += c.logit;
  }
  for (Candidate& c : candidates_) c.logit = static_cast<float>(c.logit / total);

  if (sorted) {
    // The smallest prefix whose mass reaches top_p (at least one token).
    double mass = 0;
    size_t keep = 0;
    while (keep < candidates_.size()) {
      mass += candidates_[keep++].logit;
      if (mass >= params_.top_p) break;
    }
    candidates_.resize(keep);
  }
  if (params_.min_p > 0.0f) {
    float best = 0;
    for (const Candidate& c : candidates_) best = std::max(best, c.logit);
    const float floor = params_.min_p * best;
    std::erase_if(candidates_, [floor](const Candidate& c) { return c.logit < floor; });
  }

  double kept = 0;
  for (const Candidate& c : candidates_) kept += c.logit;
  std::uniform_real_distribution<double> uniform(0.0, kept);
  double r = uniform(rng_);
  // Walk from the most likely down. Unsorted, order the next block of the remaining
  // candidates only when the walk gets there: the draw usually ends in the first block.
  constexpr size_t kBlock = 64;
  for (size_t done = 0; done < candidates_.size();) {
    const size_t end = std::min(candidates_.size(), done + kBlock);
    if (!sorted) {
      const auto first = candidates_.begin() + static_cast<std::ptrdiff_t>(done);
      const auto last = candidates_.begin() + static_cast<std::ptrdiff_t>(end);
      std::nth_element(first, last - 1, candidates_.end(), by_logit);
      std::sort(first, last, by_logit);
    }
    for (; done < end; ++done) {
      r -= candidates_[done].logit;
      if (r < 0) return candidates_[done].id;
    }
  }
  return candidates_.back().id;
}

}  // namespace ringserve::model
