#include "engine/model/model_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/model/read_file.h"

namespace ringserve::model {
namespace {

std::mutex g_load_log_mutex;
LoadLog g_load_log;

std::string size_text(uint64_t bytes) {
  char text[32];
  if (bytes >= (uint64_t{1} << 30)) {
    std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  } else {
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  }
  return text;
}

}  // namespace

void set_load_log(LoadLog log) {
  const std::lock_guard<std::mutex> lock(g_load_log_mutex);
  g_load_log = std::move(log);
}

void load_log(uint64_t weight_bytes, const std::string& line) {
  const std::lock_guard<std::mutex> lock(g_load_log_mutex);
  if (!g_load_log) return;
  g_load_log(weight_bytes >= kLoadLogInfoBytes ? LoadLogLevel::kInfo : LoadLogLevel::kDebug, line);
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const TensorInfo* ModelWeights::lookup(const std::string& name, size_t* file_index) const {
  for (const std::string& prefix : prefixes_) {
    for (size_t i = 0; i < files_.size(); ++i) {
      if (const TensorInfo* t = files_[i]->find(prefix + name)) {
        if (file_index != nullptr) *file_index = i;
        return t;
      }
    }
  }
  return nullptr;
}

void ModelWeights::read_shards() const {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uint64_t total = 0;
  for (size_t i = 0; i < files_.size(); ++i) {
    uint64_t bytes = 0;
    for (const TensorInfo* t : used_[i]) bytes += t->bytes;
    total += bytes;
    char line[512];
    std::snprintf(line, sizeof line, "loading shard %zu/%zu: %s (%s), %.1f s elapsed", i + 1,
                  files_.size(),
                  std::filesystem::path(files_[i]->path()).filename().string().c_str(),
                  size_text(bytes).c_str(), elapsed());
    load_log(total_bytes_, line);
    // Ask for the whole shard at once (the kernel reads ahead in large requests), then touch
    // every page so the read is done here and the engine's copies find it in memory.
    for (const TensorInfo* t : used_[i]) {
      // madvise wants a page-aligned start; the mapping itself starts on a page.
      const auto* data = static_cast<const unsigned char*>(t->data);
      const size_t misalign = reinterpret_cast<uintptr_t>(data) % page;
      if (t->bytes > 0) {
        ::madvise(const_cast<unsigned char*>(data - misalign), t->bytes + misalign, MADV_WILLNEED);
      }
    }
    // Volatile reads: the compiler may not drop them though their values are unused.
    unsigned sum = 0;
    for (const TensorInfo* t : used_[i]) {
      const volatile unsigned char* p = static_cast<const unsigned char*>(t->data);
      for (size_t off = 0; off < t->bytes; off += page) sum += p[off];
      if (t->bytes > 0) sum += p[t->bytes - 1];  // the last page, when data starts mid-page
    }
    [[maybe_unused]] volatile unsigned keep = sum;
  }
  char line[160];
  std::snprintf(line, sizeof line, "read %zu shard%s (%s) in %.1f s", files_.size(),
                files_.size() == 1 ? "" : "s", size_text(total).c_str(), elapsed());
  load_log(total_bytes_, line);
}

const TensorInfo* ModelWeights::find(const std::string& canonical_name) const {
  return lookup(canonical_name);
}

bool ModelWeights::open(const std::string& model_dir, const ModelConfig& config,
                        std::unique_ptr<ModelWeights>* out, std::string* error) {
  std::unique_ptr<ModelWeights> w(new ModelWeights());
  w->prefixes_ = {""};
  if (config.arch == Architecture::kGpt2) w->prefixes_.push_back("transformer.");

  const std::string single = model_dir + "/model.safetensors";
  const std::string index = model_dir + "/model.safetensors.index.json";
  std::vector<std::string> shard_paths;
  std::map<std::string, std::string> weight_map;  // tensor -> shard path (sharded only)
  if (std::filesystem::exists(single)) {
    shard_paths.push_back(single);
  } else if (std::filesystem::exists(index)) {
    std::string text;
    if (read_file(index, &text) != ReadFileResult::kOk) {
      *error = index + ": cannot be read";
      return false;
    }
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") ||
        !j["weight_map"].is_object()) {
      *error = index + ": not a safetensors index (no \"weight_map\" object)";
      return false;
    }
    std::set<std::string> seen;
    for (const auto& [tensor, file] : j["weight_map"].items()) {
      if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos) {
        *error = index;
        *error += ": tensor '" + tensor + "': shard must be a file name in the directory";
        return false;
      }
      const std::string path = model_dir + "/" + file.get<std::string>();
      weight_map[tensor] = path;
      if (seen.insert(path).second) shard_paths.push_back(path);
    }
    // In file order (model-00001-of-0000N first), not the order the index's tensor names
    // happen to sort in: read_shards() reports and reads them in this order.
    std::sort(shard_paths.begin(), shard_paths.end());
  } else {
    *error = model_dir + ": no model.safetensors or model.safetensors.index.json";
    return false;
  }

  for (const std::string& path : shard_paths) {
    std::unique_ptr<SafetensorsFile> file;
    if (!SafetensorsFile::open(path, &file, error)) return false;
    w->files_.push_back(std::move(file));
  }
  for (const auto& [tensor, path] : weight_map) {
    bool found = false;
    for (const auto& file : w->files_) {
      if (file->path() == path) found = file->find(tensor) != nullptr;
    }
    if (!found) {
      *error = path;
      *error += ": tensor '" + tensor + "' is listed in ";
      *error += index + " but not in the shard";
      return false;
    }
  }

  w->used_.resize(w->files_.size());
  for (const WeightSpec& spec : expected_weights(config)) {
    size_t file_index = 0;
    const TensorInfo* t = w->lookup(spec.name, &file_index);
    if (t == nullptr) {
      if (spec.optional) continue;
      *error = model_dir + ": tensor '" + spec.name + "' is missing (" +
               architecture_name(config.arch) + " with " + std::to_string(config.num_layers) +
               " layers needs it)";
      return false;
    }
    if (t->dtype != DType::kF32 && t->dtype != DType::kF16 && t->dtype != DType::kBF16) {
      *error = model_dir + ": tensor '" + spec.name + "' has dtype " + dtype_name(t->dtype) +
               " (supported: F32, F16, BF16)";
      return false;
    }
    if (t->shape != spec.shape) {
      *error = model_dir + ": tensor '" + spec.name + "' has shape " + shape_string(t->shape) +
               " but config.json implies " + shape_string(spec.shape);
      return false;
    }
    w->total_bytes_ += t->bytes;
    w->used_[file_index].push_back(t);
  }
  *out = std::move(w);
  return true;
}

}  // namespace ringserve::model
