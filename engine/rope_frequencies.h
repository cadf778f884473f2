// The rotary position embedding's inverse frequencies, computed as Hugging Face's
// ROPE_INIT_FUNCTIONS do for the scalings config.json can name (none, linear, llama3), so that
// the engine's cos/sin table matches the reference's at every position. No torch: the engine
// turns these into its table.
#pragma once

#include <vector>

#include "engine/model/model_config.h"

namespace ringserve::model {

// head_dim / 2 inverse frequencies, theta^(-2i / head_dim) for i in [0, head_dim / 2), rounded
// through float32 as HF's are, then rescaled by c.rope_scaling.
std::vector<double> rope_inv_freq(const ModelConfig& c);

}  // namespace ringserve::model
