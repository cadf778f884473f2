// ModelWeights: the tensors of a model directory, memory-mapped and checked against the
// config before anything is built from them. Reads `model.safetensors`, or the shards named by
// `model.safetensors.index.json`. Every tensor the architecture needs must be present with the
// exact shape the config implies and a floating-point dtype (F32, F16, BF16); errors name the
// file and the tensor. Tensors the engine does not use (e.g. GPT-2's cached attention masks)
// are ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/model/model_config.h"
#include "daemon/model/safetensors.h"

namespace ringserve::model {

// One tensor the engine needs, by its canonical name (GPT-2 names without "transformer.").
struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool optional = false;  // e.g. lm_head.weight when the embeddings are tied
};

// Everything the architecture in `config` reads, in load order.
std::vector<WeightSpec> expected_weights(const ModelConfig& config);

class ModelWeights {
 public:
  static bool open(const std::string& model_dir, const ModelConfig& config,
                   std::unique_ptr<ModelWeights>* out, std::string* error);

  // The tensor for a canonical name, or nullptr (only for optional tensors after open()).
  const TensorInfo* find(const std::string& canonical_name) const;
  uint64_t total_bytes() const { return total_bytes_; }  // bytes of the tensors used
  size_t file_count() const { return files_.size(); }

 private:
  ModelWeights() = default;
  const TensorInfo* lookup(const std::string& name) const;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::string> prefixes_;  // tried in order before each canonical name
  uint64_t total_bytes_ = 0;
};

std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace ringserve::model
