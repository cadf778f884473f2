#include "engine/engine_options.h"

namespace ringserve::model {

bool check_engine_options(const EngineOptions& options, quant::WeightFormat* format,
                          std::string* error) {
  if (!quant::parse_format(options.dtype, format)) {
    *error =
        "model.dtype '" + options.dtype + "' is not one of float32, bfloat16, float16, int8, int4";
    return false;
  }
  if (options.max_sequences < 1) {
    *error = "the KV cache needs at least one sequence";
    return false;
  }
  if (options.kv_blocks < 0) {
    *error = "the KV cache cannot have a negative number of blocks";
    return false;
  }
  return true;
}

}  // namespace ringserve::model
