#include "tools/model_making/random_model.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"
#include "tools/model_making/safetensors_writer.h"

namespace ringserve::model {
namespace {

using nlohmann::ordered_json;

bool write_text(const std::string& path, const std::string& text, std::string* error) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.flush();
  if (!out) {
    *error = path + ": cannot be written";
    return false;
  }
  return true;
}

ordered_json config_json(const RandomModelSpec& s, int64_t intermediate) {
  ordered_json j;
  const char* dtype = s.dtype == DType::kF32    ? "float32"
                      : s.dtype == DType::kBF16 ? "bfloat16"
                                                : "float16";
  if (s.model_type == "gpt2") {
    j["architectures"] = {"GPT2LMHeadModel"};
    j["model_type"] = "gpt2";
    j["n_embd"] = s.hidden;
    j["n_layer"] = s.layers;
    j["n_head"] = s.heads;
    j["n_inner"] = intermediate;
    j["n_positions"] = s.max_positions;
    j["n_ctx"] = s.max_positions;
    j["layer_norm_epsilon"] = 1e-5;
    j["activation_function"] = "gelu_new";
    j["vocab_size"] = s.vocab;
    j["bos_token_id"] = 1;
    j["eos_token_id"] = 2;
    j["tie_word_embeddings"] = s.tie_embeddings;
  } else {
    const char* arch = s.model_type == "qwen2"     ? "Qwen2ForCausalLM"
                       : s.model_type == "mistral" ? "MistralForCausalLM"
                                                   : "LlamaForCausalLM";
    j["architectures"] = {arch};
    j["model_type"] = s.model_type;
    j["hidden_size"] = s.hidden;
    j["intermediate_size"] = intermediate;
    j["num_hidden_layers"] = s.layers;
    j["num_attention_heads"] = s.heads;
    j["num_key_value_heads"] = s.kv_heads > 0 ? s.kv_heads : s.heads;
    j["max_position_embeddings"] = s.max_positions;
    j["rms_norm_eps"] = 1e-5;
    j["rope_theta"] = s.rope_theta;
    if (s.llama3_rope_scaling) {
      j["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", 8.0},
                           {"low_freq_factor", 1.0},
                           {"high_freq_factor", 4.0},
                           {"original_max_position_embeddings", 64}};
    }
    j["hidden_act"] = "silu";
    j["vocab_size"] = s.vocab;
    j["bos_token_id"] = 1;
    j["eos_token_id"] = 2;
    j["tie_word_embeddings"] = s.tie_embeddings;
  }
  j["torch_dtype"] = dtype;
  return j;
}

std::string encode(const std::vector<float>& values, DType dtype) {
  std::string bytes(values.size() * dtype_size(dtype), '\0');
  char* out = bytes.data();
  for (float v : values) {
    if (dtype == DType::kF32) {
      std::memcpy(out, &v, 4);
      out += 4;
    } else {
      const uint16_t h = dtype == DType::kBF16 ? float_to_bf16(v) : float_to_f16(v);
      std::memcpy(out, &h, 2);
      out += 2;
    }
  }
  return bytes;
}

bool is_norm_weight(const std::string& name) {
  return name.find("ln_") != std::string::npos || name.find("layernorm") != std::string::npos ||
         name == "model.norm.weight";
}

}  // namespace

uint16_t float_to_bf16(float f) {
  uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;  // NaN
  bits += 0x7FFFu + ((bits >> 16) & 1u);                  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t float_to_f16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int32_t exponent = static_cast<int32_t>((bits >> 23) & 0xFF) - 127 + 15;
  uint32_t mantissa = bits & 0x7FFFFFu;
  if (exponent <= 0) {  // subnormal or zero in half precision
    if (exponent < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    const int shift = 14 - exponent;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  if (exponent >= 31) return static_cast<uint16_t>(sign | 0x7C00u);  // overflow: infinity
  uint32_t half = sign | (static_cast<uint32_t>(exponent) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(half);
}

std::string byte_tokenizer_json() {
  ordered_json added = ordered_json::array();
  ordered_json vocab = ordered_json::object();
  const char* specials[] = {"<unk>", "<s>", "</s>"};
  for (int i = 0; i < 3; ++i) {
    added.push_back({{"id", i},
                     {"content", specials[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
    vocab[specials[i]] = i;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = nullptr;
  j["post_processor"] = nullptr;
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", "<unk>"},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", true},
                {"byte_fallback", true},
                {"vocab", vocab},
                {"merges", ordered_json::array()}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders", {{{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}};
  return j.dump(2);
}

bool random_model_preset(const std::string& name, RandomModelSpec* spec) {
  RandomModelSpec s;
  if (name == "gpt2-small") {
    s.model_type = "gpt2";
    s.layers = 12;
    s.hidden = 768;
    s.heads = 12;
    s.vocab = 50257;
    s.max_positions = 1024;
  } else if (name == "llama-small") {  // TinyLlama's attention shape at a quarter of the depth
    s.layers = 6;
    s.hidden = 1024;
    s.heads = 16;
    s.kv_heads = 4;
    s.intermediate = 2816;
    s.vocab = 32000;
    s.max_positions = 2048;
  } else if (name == "tiny-gpt2") {
    s.model_type = "gpt2";
    s.layers = 2;
    s.hidden = 64;
    s.heads = 4;
    s.vocab = 300;
    s.max_positions = 128;
  } else if (name == "tiny-llama") {
    s.layers = 2;
    s.hidden = 64;
    s.heads = 4;
    s.kv_heads = 2;
    s.vocab = 300;
    s.max_positions = 128;
    s.tie_embeddings = false;
  } else {
    return false;
  }
  *spec = s;
  return true;
}

bool write_random_model(const std::string& dir, const RandomModelSpec& spec, std::string* error) {
  if (spec.vocab < 259) {
    *error = "vocab must be at least 259 (the byte tokenizer's size)";
    return false;
  }
  int64_t intermediate = spec.intermediate;
  if (intermediate == 0) {
    intermediate =
        spec.model_type == "gpt2" ? 4 * spec.hidden : (8 * spec.hidden / 3 + 63) / 64 * 64;
  }
  const ordered_json config = config_json(spec, intermediate);
  ModelConfig parsed;
  if (!ModelConfig::parse(config.dump(), "generated config.json", &parsed, error)) return false;

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *error = dir + ": cannot be created: " + ec.message();
    return false;
  }
  if (!write_text(dir + "/config.json", config.dump(2) + "\n", error)) return false;
  if (!write_text(dir + "/tokenizer.json", byte_tokenizer_json() + "\n", error)) return false;

  std::mt19937_64 rng(spec.seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::normal_distribution<float> norm_jitter(1.0f, 0.1f);
  std::vector<TensorToWrite> tensors;
  for (const WeightSpec& w : expected_weights(parsed)) {
    if (w.optional) continue;  // tied lm_head: not written
    uint64_t count = 1;
    for (int64_t d : w.shape) count *= static_cast<uint64_t>(d);
    std::vector<float> values(count);
    const bool norm = is_norm_weight(w.name) && w.name.ends_with(".weight");
    for (float& v : values) v = norm ? norm_jitter(rng) : normal(rng);
    tensors.push_back({w.name, spec.dtype, w.shape, encode(values, spec.dtype)});
  }
  if (spec.shards <= 1) return write_safetensors(dir + "/model.safetensors", tensors, error);
  ordered_json index;
  index["metadata"] = ordered_json::object();
  index["weight_map"] = ordered_json::object();
  for (int s = 0; s < spec.shards; ++s) {
    char file[64];
    std::snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, spec.shards);
    std::vector<TensorToWrite> part;
    for (size_t i = static_cast<size_t>(s); i < tensors.size();
         i += static_cast<size_t>(spec.shards)) {
      part.push_back(tensors[i]);
      index["weight_map"][tensors[i].name] = file;
    }
    if (!write_safetensors(dir + "/" + file, part, error)) return false;
  }
  return write_text(dir + "/model.safetensors.index.json", index.dump(2) + "\n", error);
}

}  // namespace ringserve::model
