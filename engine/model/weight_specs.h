// WeightSpecs: which tensors of a Hugging Face checkpoint hold each weight of the transformer,
// by family (GPT-2; Llama and its relatives), with the shape config.json implies for each. The
// one table of those names: ModelWeights checks a directory against it (expected_weights) and
// the engine builds its layers from it, so a tensor cannot be checked under one name and
// loaded under another. No torch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model_config.h"

namespace ringserve::model {

// One checkpoint tensor, by its canonical name (GPT-2 names without "transformer."). An empty
// name: the family has no such tensor (e.g. the bias of Llama's RMSNorm).
struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool optional = false;  // e.g. lm_head.weight when the embeddings are tied
};

// One layer's weights. The engine keeps each projection as one [out, in] matrix; where the
// checkpoint stores it in parts (Llama's q, k, v; gate and up), the parts are listed in the
// order the engine concatenates their rows.
struct LayerWeightSpecs {
  WeightSpec norm1_weight, norm1_bias;  // the biases: LayerNorm (GPT-2) only
  std::vector<WeightSpec> qkv_weight;   // [q + 2 kv, hidden]
  std::vector<WeightSpec> qkv_bias;     // empty without attention biases
  WeightSpec out_weight, out_bias;
  WeightSpec norm2_weight, norm2_bias;
  std::vector<WeightSpec> up_weight;  // GPT-2: c_fc; Llama: gate, then up
  WeightSpec up_bias;
  WeightSpec down_weight, down_bias;
};

struct ModelWeightSpecs {
  // GPT-2's projections are Conv1D, stored [in, out]: the engine transposes them.
  bool matrices_stored_in_out = false;
  WeightSpec embed;
  WeightSpec positions_embed;  // GPT-2's learned positions; Llama's are rotary
  std::vector<LayerWeightSpecs> layers;
  WeightSpec final_norm_weight, final_norm_bias;
  WeightSpec lm_head;  // optional when tie_word_embeddings: then the engine uses embed
};

// The weights of the architecture in `config`.
ModelWeightSpecs weight_specs(const ModelConfig& config);

// Every tensor of weight_specs(config), present in its family, in load order: the embeddings,
// layer by layer (norm, attention, norm, MLP), the final norm, lm_head.
std::vector<WeightSpec> expected_weights(const ModelConfig& config);

}  // namespace ringserve::model
