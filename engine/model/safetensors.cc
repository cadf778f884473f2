#include "engine/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

namespace ringserve::model {
namespace {

struct DTypeEntry {
  const char* name;
  DType dtype;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {"F32", DType::kF32, 4},   {"F16", DType::kF16, 2}, {"BF16", DType::kBF16, 2},
    {"F64", DType::kF64, 8},   {"I64", DType::kI64, 8}, {"I32", DType::kI32, 4},
    {"I16", DType::kI16, 2},   {"I8", DType::kI8, 1},   {"U8", DType::kU8, 1},
    {"BOOL", DType::kBool, 1},
};

// Header JSON larger than this is not a model file (the format's reference reader uses 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

}  // namespace

size_t dtype_size(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.size;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

SafetensorsFile::~SafetensorsFile() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

bool SafetensorsFile::open(const std::string& path, std::unique_ptr<SafetensorsFile>* out,
                           std::string* error) {
  auto fail = [&](const std::string& message) {
    *error = path + ": " + message;
    return false;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return fail(std::string("cannot stat: ") + std::strerror(errno));
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return fail("truncated: " + std::to_string(size) + " bytes, not even a header length");
  }
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) return fail(std::string("cannot map: ") + std::strerror(errno));
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->base_ = base;
  file->size_ = size;
  const auto* bytes = static_cast<const unsigned char*>(base);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes || header_len > size - 8) {
    return fail("truncated or corrupt: header length " + std::to_string(header_len) +
                " does not fit in the file's " + std::to_string(size) + " bytes");
  }
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_bytes = size - data_start;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + data_start);
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) return fail("header is not a JSON object");
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) return fail("__metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (v.is_string()) file->metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
        !value.contains("data_offsets")) {
      return fail(where + "needs dtype, shape and data_offsets");
    }
    const auto& dtype_json = value["dtype"];
    if (!dtype_json.is_string()) return fail(where + "dtype is not a string");
    const std::string dtype_text = dtype_json.get<std::string>();
    const auto* entry = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                                     [&](const DTypeEntry& e) { return dtype_text == e.name; });
    if (entry == std::end(kDTypes)) return fail(where + "unsupported dtype " += dtype_text);
    TensorInfo info{};
    info.dtype = entry->dtype;
    uint64_t elements = 1;
    if (!value["shape"].is_array()) return fail(where + "shape is not an array");
    for (const auto& d : value["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (1ull << 40)) {
        return fail(where + "bad dimension " + d.dump());
      }
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && elements > (1ull << 62) / dim) return fail(where + "shape overflows");
      elements *= dim;
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      return fail(where + "data_offsets must be two unsigned integers");
    }
    const uint64_t begin = offsets[0].get<uint64_t>();
    const uint64_t end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_bytes) {
      return fail(where + "data [" + std::to_string(begin) + ", " + std::to_string(end) +
                  ") lies outside the " + std::to_string(data_bytes) +
                  " data bytes (file truncated?)");
    }
    if (end - begin != elements * entry->size) {
      return fail(where + "has " + std::to_string(end - begin) + " bytes but shape x " +
                  entry->name + " needs " + std::to_string(elements * entry->size));
    }
    info.data = bytes + data_start + begin;
    info.bytes = end - begin;
    ranges.emplace_back(begin, end);
    file->tensors_.emplace(name, std::move(info));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) return fail("tensors overlap in the data section");
  }
  *out = std::move(file);
  return true;
}

}  // namespace ringserve::model
