// Writes a complete model directory (config.json, model.safetensors or shards + index,
// tokenizer.json) with random weights, for tests and benchmarks: any GPT-2 or Llama shape,
// e.g. GPT-2 small (12 layers, 768 wide, 50257 vocab) or a small Llama with grouped-query
// attention. Weights are N(0, 0.02) like the families' own initializers; norm weights are
// 1 + N(0, 0.1) and biases N(0, 0.02) so parity tests exercise every term. Deterministic in
// `seed`. No torch: the tool and the tests write models without it.
#pragma once

#include <cstdint>
#include <string>

#include "engine/model/safetensors.h"

namespace ringserve::model {

struct RandomModelSpec {
  std::string model_type = "llama";  // gpt2 | llama | mistral | qwen2
  int64_t layers = 2;
  int64_t hidden = 64;
  int64_t heads = 4;
  int64_t kv_heads = 0;      // 0 = heads
  int64_t intermediate = 0;  // 0 = 4 x hidden (gpt2) or about 8/3 x hidden (llama)
  int64_t vocab = 512;
  int64_t max_positions = 256;
  double rope_theta = 10000.0;
  bool llama3_rope_scaling = false;  // rope_scaling {"rope_type": "llama3", factor 8, ...}
  bool tie_embeddings = true;
  DType dtype = DType::kF32;  // kF32, kF16 or kBF16
  int shards = 1;             // > 1: model-0000i-of-0000n.safetensors + index
  uint64_t seed = 1;
};

// A preset by name ("gpt2-small", "llama-small", "tiny-gpt2", "tiny-llama"); false if unknown.
bool random_model_preset(const std::string& name, RandomModelSpec* spec);

bool write_random_model(const std::string& dir, const RandomModelSpec& spec, std::string* error);

// The byte tokenizer of the built-in model: <unk>, <s>, </s>, then <0x00>..<0xFF> (ids 3..258).
std::string byte_tokenizer_json();

// IEEE conversions used when writing half-precision weights.
uint16_t float_to_bf16(float f);
uint16_t float_to_f16(float f);

}  // namespace ringserve::model
