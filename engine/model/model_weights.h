// ModelWeights: the tensors of a model directory, memory-mapped and checked against the
// config before anything is built from them. Reads `model.safetensors`, or the shards named by
// `model.safetensors.index.json`. Every tensor the architecture needs must be present with the
// exact shape the config implies and a floating-point dtype (F32, F16, BF16); errors name the
// file and the tensor. Tensors the engine does not use (e.g. GPT-2's cached attention masks)
// are ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/model/safetensors.h"
#include "engine/model/weight_specs.h"  // expected_weights(), what open() checks

namespace ringserve::model {

// Where model loading reports progress, one line at a time ("loading shard 2/4: ..."). The
// daemon points it at its log. Process-wide, like spdlog's default logger: this library does
// not link spdlog, and the loaders run under callers (the daemon's model backend, tools,
// benchmarks) that should not have to pass a logger through. Unset, nothing is reported. Set
// it before loading starts.
enum class LoadLogLevel { kDebug, kInfo };
using LoadLog = std::function<void(LoadLogLevel level, const std::string& line)>;
void set_load_log(LoadLog log);
// Reports a line about loading `weight_bytes` of weights to the sink, if one is set: at info
// from kLoadLogInfoBytes up, else at debug, because a small model loads in a fraction of a
// second and its progress would only be noise between the daemon's start and ready lines.
inline constexpr uint64_t kLoadLogInfoBytes = uint64_t{64} << 20;
void load_log(uint64_t weight_bytes, const std::string& line);

class ModelWeights {
 public:
  static bool open(const std::string& model_dir, const ModelConfig& config,
                   std::unique_ptr<ModelWeights>* out, std::string* error);

  // The tensor for a canonical name, or nullptr (only for optional tensors after open()).
  const TensorInfo* find(const std::string& canonical_name) const;
  uint64_t total_bytes() const { return total_bytes_; }  // bytes of the tensors used
  size_t file_count() const { return files_.size(); }

  // Reads the used tensors of every shard from disk into the page cache, shard by shard in
  // file order, reporting "loading shard i/n: FILE (SIZE)" and the time so far to load_log().
  // The engine calls it before copying: copies in layer order would fault pages in at random
  // across the shards, and a slow load would show no progress.
  void read_shards() const;

 private:
  ModelWeights() = default;
  const TensorInfo* lookup(const std::string& name, size_t* file_index = nullptr) const;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::vector<const TensorInfo*>> used_;  // per file, the tensors the config needs
  std::vector<std::string> prefixes_;                 // tried in order before each canonical name
  uint64_t total_bytes_ = 0;
};

std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace ringserve::model
