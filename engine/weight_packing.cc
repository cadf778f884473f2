#include "engine/weight_packing.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "engine/quant/half.h"
#include "engine/quant/quantize.h"

namespace ringserve::model {
namespace {

float element(const TensorInfo& t, int64_t index) {
  switch (t.dtype) {
    case DType::kF16:
      return quant::f16_to_float(static_cast<const uint16_t*>(t.data)[index]);
    case DType::kBF16:
      return quant::bf16_to_float(static_cast<const uint16_t*>(t.data)[index]);
    default:
      return static_cast<const float*>(t.data)[index];
  }
}

// Rows taken at a time from a matrix stored [k, rows]: a tile of the transpose, read row by
// stored row (contiguous runs of kTransposeRows floats) instead of column by column.
constexpr int64_t kTransposeRows = 64;

}  // namespace

int64_t MatrixSource::rows() const {
  int64_t n = 0;
  for (const TensorInfo* t : parts) n += stored_in_out ? t->shape[1] : t->shape[0];
  return n;
}

int64_t MatrixSource::cols() const {
  return parts.empty() ? 0 : (stored_in_out ? parts[0]->shape[0] : parts[0]->shape[1]);
}

quant::WeightFormat packable_format(const MatrixSource& source, quant::WeightFormat format) {
  if (!quant::is_block_format(format) || source.cols() % quant::kBlockWeights == 0) return format;
  return quant::WeightFormat::kFloat16;
}

void read_row(const TensorInfo& tensor, int64_t row, float* out) {
  const int64_t cols = tensor.shape[1];
  const int64_t start = row * cols;
  if (tensor.dtype == DType::kF32) {
    const float* p = static_cast<const float*>(tensor.data) + start;
    std::copy(p, p + cols, out);
    return;
  }
  for (int64_t i = 0; i < cols; ++i) out[i] = element(tensor, start + i);
}

void pack_matrix(const MatrixSource& source, quant::WeightFormat format, char* out, int threads) {
  const int64_t k = source.cols();
  const int64_t row_bytes = quant::row_bytes(format, k);
  for (const TensorInfo* part : source.parts) {
    const int64_t rows = source.stored_in_out ? part->shape[1] : part->shape[0];
    if (!source.stored_in_out) {
#pragma omp parallel num_threads(std::max(1, threads))
      {
        std::vector<float> row(static_cast<size_t>(k));
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r) {
          read_row(*part, r, row.data());
          quant::quantize_row(format, row.data(), k, out + r * row_bytes);
        }
      }
    } else {
      const int64_t tiles = (rows + kTransposeRows - 1) / kTransposeRows;
#pragma omp parallel num_threads(std::max(1, threads))
      {
        std::vector<float> tile(static_cast<size_t>(kTransposeRows * k));
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tiles; ++t) {
          const int64_t r0 = t * kTransposeRows;
          const int64_t count = std::min(kTransposeRows, rows - r0);
          for (int64_t i = 0; i < k; ++i) {
            for (int64_t j = 0; j < count; ++j) tile[j * k + i] = element(*part, i * rows + r0 + j);
          }
          for (int64_t j = 0; j < count; ++j) {
            quant::quantize_row(format, tile.data() + j * k, k, out + (r0 + j) * row_bytes);
          }
        }
      }
    }
    out += rows * row_bytes;
  }
}

void drop_pages(const TensorInfo& tensor) {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  // Only whole pages inside the tensor: its neighbours' pages may still be in use. Pointer
  // arithmetic from the tensor's own pointer, so no integer becomes a pointer.
  auto* data = static_cast<char*>(const_cast<void*>(tensor.data));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + tensor.bytes) / page * page;
  if (last > first) ::madvise(data + (first - begin), last - first, MADV_DONTNEED);
}

}  // namespace ringserve::model
