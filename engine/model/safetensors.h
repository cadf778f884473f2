// SafetensorsFile: a memory-mapped .safetensors file (an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian
// data). open() checks everything the header claims against the file before any tensor is
// used: every range inside the data section, sizes equal to shape x dtype size, no overlaps,
// known dtypes. Errors name the file and the tensor.
//
// Thread-safety: immutable after open(); any number of threads may read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ringserve::model {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

struct TensorInfo {
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;  // inside the mapping
  size_t bytes;
};

class SafetensorsFile {
 public:
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // Maps and validates `path`. False with *error ("PATH: tensor 'x': ...") on any problem.
  static bool open(const std::string& path, std::unique_ptr<SafetensorsFile>* out,
                   std::string* error);

  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* base_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ringserve::model
