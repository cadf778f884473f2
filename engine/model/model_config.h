// ModelConfig: the shape of a decoder-only transformer, read from a Hugging Face
// `config.json`. Two families are understood, and everything the engine needs is normalized
// into one struct so the engine never looks at JSON keys:
//   - GPT-2: learned positions, LayerNorm with bias, GELU (tanh), fused QKV, tied lm_head.
//   - Llama (llama, mistral, qwen2): rotary positions, RMSNorm, SwiGLU, grouped-query
//     attention, optional q/k/v biases (qwen2), tied or separate lm_head.
// No torch here: the daemon, ringctl and the tests read configs without it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringserve::model {

enum class Architecture { kGpt2, kLlama };
const char* architecture_name(Architecture arch);

struct RopeScaling {
  enum class Kind { kNone, kLinear, kLlama3 };
  Kind kind = Kind::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  Architecture arch = Architecture::kLlama;
  std::string model_type;  // as written in config.json ("gpt2", "llama", "mistral", "qwen2")
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // == num_heads for multi-head attention
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections carry biases (qwen2, or attention_bias)
  std::vector<int32_t> eos_token_ids;
  int32_t bos_token_id = -1;
  std::string torch_dtype;  // informational: the dtype the weights were saved in

  // Loads DIR/config.json. False with *error = "DIR/config.json: key 'x': what is wrong".
  static bool load(const std::string& model_dir, ModelConfig* out, std::string* error);
  static bool parse(const std::string& json_text, const std::string& name_for_errors,
                    ModelConfig* out, std::string* error);
};

}  // namespace ringserve::model
