// EngineOptions: how the engine holds and runs a model (device, dtype, threads, KV cache size),
// and the checks of them that need no torch. The device name is checked where it is parsed, in
// engine.cc (only torch knows which devices exist).
#pragma once

#include <cstdint>
#include <string>

#include "engine/quant/block_formats.h"

namespace ringserve::model {

struct EngineOptions {
  std::string device = "cpu";  // "cpu" or "cuda" / "cuda:N"
  // How the weights are held: "float32", "bfloat16", "float16", "int8" or "int4"
  // (engine/quant/block_formats.h).
  std::string dtype = "float32";
  int threads = 0;            // intra-op threads; 0 = leave libtorch's default
  int64_t max_sequences = 1;  // sequences of max_seq_len the KV cache holds when kv_blocks is 0
  int64_t max_seq_len = 0;    // 0 = the model's max_position_embeddings
  // Blocks of kKvBlockPositions positions in the KV cache; 0 = max_sequences whole contexts.
  // At least one whole context (a sequence must be able to reach max_seq_len alone).
  int64_t kv_blocks = 0;
};

// True with *format set to the options' weight format; false with *error naming the bad option
// (an unknown dtype, a KV cache of no sequences or negative blocks).
bool check_engine_options(const EngineOptions& options, quant::WeightFormat* format,
                          std::string* error);

}  // namespace ringserve::model
