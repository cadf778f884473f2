#include "tools/model_making/safetensors_writer.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

namespace ringserve::model {

bool write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       std::string* error) {
  std::vector<const TensorToWrite*> sorted;
  for (const TensorToWrite& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const TensorToWrite* t : sorted) {
    uint64_t elements = 1;
    for (int64_t d : t->shape) elements *= static_cast<uint64_t>(d);
    if (elements * dtype_size(t->dtype) != t->bytes.size()) {
      *error = path + ": tensor '" + t->name + "': byte count does not match its shape";
      return false;
    }
    header[t->name] = {{"dtype", dtype_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->bytes.size()}}};
    offset += t->bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    *error = path + ": cannot be created";
    return false;
  }
  uint64_t n = text.size();
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  out.write(length, 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const TensorToWrite* t : sorted) {
    out.write(t->bytes.data(), static_cast<std::streamsize>(t->bytes.size()));
  }
  out.flush();
  if (!out) {
    *error = path + ": write failed";
    return false;
  }
  return true;
}

}  // namespace ringserve::model
