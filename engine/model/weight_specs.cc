#include "engine/model/weight_specs.h"

namespace ringserve::model {
namespace {

WeightSpec spec(std::string name, std::vector<int64_t> shape, bool optional = false) {
  return {std::move(name), std::move(shape), optional};
}

ModelWeightSpecs gpt2_specs(const ModelConfig& c) {
  const int64_t h = c.hidden_size;
  const int64_t inter = c.intermediate_size;
  ModelWeightSpecs m;
  m.matrices_stored_in_out = true;
  m.embed = spec("wte.weight", {c.vocab_size, h});
  m.positions_embed = spec("wpe.weight", {c.max_position_embeddings, h});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    LayerWeightSpecs& l = m.layers.emplace_back();
    l.norm1_weight = spec(p + "ln_1.weight", {h});
    l.norm1_bias = spec(p + "ln_1.bias", {h});
    l.qkv_weight = {spec(p + "attn.c_attn.weight", {h, 3 * h})};  // Conv1D: [in, out]
    l.qkv_bias = {spec(p + "attn.c_attn.bias", {3 * h})};
    l.out_weight = spec(p + "attn.c_proj.weight", {h, h});
    l.out_bias = spec(p + "attn.c_proj.bias", {h});
    l.norm2_weight = spec(p + "ln_2.weight", {h});
    l.norm2_bias = spec(p + "ln_2.bias", {h});
    l.up_weight = {spec(p + "mlp.c_fc.weight", {h, inter})};
    l.up_bias = spec(p + "mlp.c_fc.bias", {inter});
    l.down_weight = spec(p + "mlp.c_proj.weight", {inter, h});
    l.down_bias = spec(p + "mlp.c_proj.bias", {h});
  }
  m.final_norm_weight = spec("ln_f.weight", {h});
  m.final_norm_bias = spec("ln_f.bias", {h});
  m.lm_head = spec("lm_head.weight", {c.vocab_size, h}, c.tie_word_embeddings);
  return m;
}

ModelWeightSpecs llama_specs(const ModelConfig& c) {
  const int64_t h = c.hidden_size;
  const int64_t inter = c.intermediate_size;
  const int64_t q = c.num_heads * c.head_dim;
  const int64_t kv = c.num_kv_heads * c.head_dim;
  ModelWeightSpecs m;
  m.embed = spec("model.embed_tokens.weight", {c.vocab_size, h});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeightSpecs& l = m.layers.emplace_back();
    l.norm1_weight = spec(p + "input_layernorm.weight", {h});
    l.qkv_weight = {spec(p + "self_attn.q_proj.weight", {q, h}),
                    spec(p + "self_attn.k_proj.weight", {kv, h}),
                    spec(p + "self_attn.v_proj.weight", {kv, h})};
    if (c.attention_bias) {
      l.qkv_bias = {spec(p + "self_attn.q_proj.bias", {q}), spec(p + "self_attn.k_proj.bias", {kv}),
                    spec(p + "self_attn.v_proj.bias", {kv})};
    }
    l.out_weight = spec(p + "self_attn.o_proj.weight", {h, q});
    l.norm2_weight = spec(p + "post_attention_layernorm.weight", {h});
    l.up_weight = {spec(p + "mlp.gate_proj.weight", {inter, h}),
                   spec(p + "mlp.up_proj.weight", {inter, h})};
    l.down_weight = spec(p + "mlp.down_proj.weight", {h, inter});
  }
  m.final_norm_weight = spec("model.norm.weight", {h});
  m.lm_head = spec("lm_head.weight", {c.vocab_size, h}, c.tie_word_embeddings);
  return m;
}

void add(const WeightSpec& s, std::vector<WeightSpec>* out) {
  if (!s.name.empty()) out->push_back(s);
}

void add(const std::vector<WeightSpec>& parts, std::vector<WeightSpec>* out) {
  for (const WeightSpec& s : parts) add(s, out);
}

}  // namespace

ModelWeightSpecs weight_specs(const ModelConfig& config) {
  return config.arch == Architecture::kGpt2 ? gpt2_specs(config) : llama_specs(config);
}

std::vector<WeightSpec> expected_weights(const ModelConfig& config) {
  const ModelWeightSpecs m = weight_specs(config);
  std::vector<WeightSpec> out;
  add(m.embed, &out);
  add(m.positions_embed, &out);
  for (const LayerWeightSpecs& l : m.layers) {
    add(l.norm1_weight, &out);
    add(l.norm1_bias, &out);
    add(l.qkv_weight, &out);
    add(l.qkv_bias, &out);
    add(l.out_weight, &out);
    add(l.out_bias, &out);
    add(l.norm2_weight, &out);
    add(l.norm2_bias, &out);
    add(l.up_weight, &out);
    add(l.up_bias, &out);
    add(l.down_weight, &out);
    add(l.down_bias, &out);
  }
  add(m.final_norm_weight, &out);
  add(m.final_norm_bias, &out);
  add(m.lm_head, &out);
  return out;
}

}  // namespace ringserve::model
