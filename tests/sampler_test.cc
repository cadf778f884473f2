// Sampler: each filter's effect on which tokens can come out, and determinism in the seed.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "engine/sampler.h"

namespace ringserve::model {
namespace {

// Draws `n` tokens from fresh copies of `logits` and returns the set of distinct ids.
std::set<int32_t> draws(const SamplingParams& p, const std::vector<float>& logits, int n,
                        const std::vector<int32_t>& history = {}) {
  Sampler sampler(p);
  std::set<int32_t> seen;
  for (int i = 0; i < n; ++i) {
    std::vector<float> scratch = logits;
    seen.insert(sampler.sample(scratch, history));
  }
  return seen;
}

const std::vector<float> kLogits = {1.0f, 3.0f, 2.9f, -1.0f, 0.5f, 2.0f};

TEST(SamplerTest, GreedyIsArgmax) { EXPECT_EQ(draws({}, kLogits, 20), std::set<int32_t>{1}); }

TEST(SamplerTest, TemperatureSamplesEveryTokenEventually) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 7;
  EXPECT_EQ(draws(p, kLogits, 4000).size(), kLogits.size());
}

TEST(SamplerTest, TopKKeepsTheKBest) {
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 2;
  EXPECT_EQ(draws(p, kLogits, 500), (std::set<int32_t>{1, 2}));
}

TEST(SamplerTest, TopPKeepsSmallestPrefixReachingP) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 (logits are their logs).
  const std::vector<float> logits = {std::log(0.3f), std::log(0.05f), std::log(0.5f),
                                     std::log(0.15f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.75f;  // 0.5 + 0.3 reaches it
  EXPECT_EQ(draws(p, logits, 500), (std::set<int32_t>{0, 2}));
  p.top_p = 0.85f;  // needs the third
  EXPECT_EQ(draws(p, logits, 2000), (std::set<int32_t>{0, 2, 3}));
}

TEST(SamplerTest, MinPDropsTokensBelowFractionOfBest) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.min_p = 0.25f;  // floor 0.125: keeps 0.5, 0.3, 0.15
  EXPECT_EQ(draws(p, logits, 3000), (std::set<int32_t>{0, 1, 2}));
}

TEST(SamplerTest, RepetitionPenaltyChangesGreedyChoice) {
  SamplingParams p;
  p.repetition_penalty = 1.5f;  // 3.0 / 1.5 = 2.0 < 2.9
  EXPECT_EQ(draws(p, kLogits, 5, {1, 1, 4}), std::set<int32_t>{2});
  // Negative logits are multiplied, so a penalized token never gains.
  std::vector<float> negative = {-1.0f, -1.2f};
  Sampler s(p);
  EXPECT_EQ(s.sample(negative, std::vector<int32_t>{0}), 1);
}

TEST(SamplerTest, SameSeedSameSequenceDifferentSeedDiffers) {
  SamplingParams p;
  p.temperature = 1.0f;
  auto run = [&](uint64_t seed) {
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) {
      std::vector<float> scratch = kLogits;
      out.push_back(s.sample(scratch, {}));
    }
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

}  // namespace
}  // namespace ringserve::model
