// Latency samples and their percentiles (nearest-rank), for the benchmark tables.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ringserve::bench {

struct Summary {
  uint64_t count = 0;
  uint64_t mean = 0;
  uint64_t p50 = 0;
  uint64_t p90 = 0;
  uint64_t p99 = 0;
  uint64_t p999 = 0;
  uint64_t max = 0;
};

inline Summary summarize(std::vector<uint64_t> samples) {
  Summary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    size_t rank = static_cast<size_t>(q * static_cast<double>(samples.size()));
    return samples[std::min(rank, samples.size() - 1)];
  };
  s.count = samples.size();
  long double sum = 0;
  for (uint64_t v : samples) sum += v;
  s.mean = static_cast<uint64_t>(sum / samples.size());
  s.p50 = at(0.50);
  s.p90 = at(0.90);
  s.p99 = at(0.99);
  s.p999 = at(0.999);
  s.max = samples.back();
  return s;
}

}  // namespace ringserve::bench
