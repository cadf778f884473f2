// Writes a .safetensors file: an 8-byte little-endian header length, a JSON header (tensors
// sorted by name, "__metadata__" {"format": "pt"}), then the tensors' bytes back to back. Used
// by the random-model tool and by tests that build model directories.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/safetensors.h"

namespace ringserve::model {

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string bytes;  // little-endian, exactly shape x dtype size
};

bool write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       std::string* error);

}  // namespace ringserve::model
