// EngineOptions: how the engine holds and runs a model (device, dtype, threads, KV cache size),
// and the checks of them that need no torch. The device name is checked where it is parsed, in
// engine.cc (only torch knows which devices exist).
#pragma once

#include <cstdint>
#include <string>

#include "engine/model/safetensors.h"

namespace ringserve::model {

struct EngineOptions {
  std::string device = "cpu";     // "cpu" or "cuda" / "cuda:N"
  std::string dtype = "float32";  // "float32", "float16", "bfloat16"
  int threads = 0;                // intra-op threads; 0 = leave libtorch's default
  int64_t max_sequences = 1;      // KV cache rows
  int64_t max_seq_len = 0;        // 0 = the model's max_position_embeddings
};

// True with *dtype set to the options' dtype (kF32, kF16 or kBF16); false with *error naming
// the bad option (an unknown dtype, a KV cache of no sequences).
bool check_engine_options(const EngineOptions& options, DType* dtype, std::string* error);

}  // namespace ringserve::model
