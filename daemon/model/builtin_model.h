// Where the built-in model lives: models/builtin in the source tree (the build sets
// RINGSERVE_BUILTIN_MODEL_DIR for every target that includes this). ringserved runs it when
// model.path is empty; `ringctl tokenize` uses its tokenizer when no --model is given.
#pragma once

#include <string>

#ifndef RINGSERVE_BUILTIN_MODEL_DIR
#define RINGSERVE_BUILTIN_MODEL_DIR "models/builtin"
#endif

namespace ringserve::model {

inline std::string builtin_model_dir() { return RINGSERVE_BUILTIN_MODEL_DIR; }

}  // namespace ringserve::model
