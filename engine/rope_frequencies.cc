#include "engine/rope_frequencies.h"

#include <cmath>
#include <cstdint>
#include <numbers>

namespace ringserve::model {

// Llama3 rescaling divides long wavelengths by `factor`, keeps short ones and interpolates the
// band between.
std::vector<double> rope_inv_freq(const ModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // HF computes these in float32; round the same way so long positions agree.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);
    inv[static_cast<size_t>(i)] =
        static_cast<float>(1.0 / std::pow(static_cast<float>(c.rope_theta), exponent));
  }
  const RopeScaling& rs = c.rope_scaling;
  if (rs.kind == RopeScaling::Kind::kLinear) {
    for (double& f : inv) f /= rs.factor;
  } else if (rs.kind == RopeScaling::Kind::kLlama3) {
    const double old_ctx = static_cast<double>(rs.original_max_position_embeddings);
    const double low_wavelen = old_ctx / rs.low_freq_factor;
    const double high_wavelen = old_ctx / rs.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2 * std::numbers::pi / f;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        f /= rs.factor;
        continue;
      }
      const double smooth =
          (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
      f = (1 - smooth) * f / rs.factor + smooth * f;
    }
  }
  return inv;
}
}  // namespace ringserve::model
