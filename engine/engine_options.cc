#include "engine/engine_options.h"

namespace ringserve::model {

bool check_engine_options(const EngineOptions& options, DType* dtype, std::string* error) {
  if (options.dtype == "float32") {
    *dtype = DType::kF32;
  } else if (options.dtype == "float16") {
    *dtype = DType::kF16;
  } else if (options.dtype == "bfloat16") {
    *dtype = DType::kBF16;
  } else {
    *error = "model.dtype '" + options.dtype + "' is not one of float32, float16, bfloat16";
    return false;
  }
  if (options.max_sequences < 1) {
    *error = "the KV cache needs at least one sequence";
    return false;
  }
  return true;
}

}  // namespace ringserve::model
