#include "engine/weight_packing.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

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

namespace {

// Rows [r0, r0 + count) of the matrix, its parts one after the other, as float32 into
// rows[count * k]. A part stored [k, rows] is read stored row by stored row (contiguous runs of
// up to count floats) instead of column by column.
void read_rows(const MatrixSource& source, int64_t r0, int64_t count, float* rows) {
  const int64_t k = source.cols();
  int64_t part_begin = 0;
  for (const TensorInfo* part : source.parts) {
    const int64_t part_rows = source.stored_in_out ? part->shape[1] : part->shape[0];
    const int64_t begin = std::max(r0, part_begin);
    const int64_t end = std::min(r0 + count, part_begin + part_rows);
    if (source.stored_in_out) {
      for (int64_t i = 0; i < k; ++i) {
        for (int64_t r = begin; r < end; ++r) {
          rows[((r - r0) * k) + i] = element(*part, (i * part_rows) + (r - part_begin));
        }
      }
    } else {
      for (int64_t r = begin; r < end; ++r) read_row(*part, r - part_begin, rows + ((r - r0) * k));
    }
    part_begin += part_rows;
  }
}

}  // namespace

void pack_matrix(const MatrixSource& source, quant::WeightFormat format, char* out, int threads) {
  static_assert(kTransposeRows % quant::kInterleavedRows == 0);
  const int64_t k = source.cols();
  const int64_t n = source.rows();
  const int64_t row_bytes = quant::row_bytes(format, k);
  const bool interleaved = quant::is_block_format(format);
  const int64_t units = (n + kTransposeRows - 1) / kTransposeRows;
#pragma omp parallel num_threads(std::max(1, threads))
  {
    std::vector<float> rows(static_cast<size_t>(kTransposeRows * k));
    std::vector<char> packed(interleaved ? static_cast<size_t>(kTransposeRows * row_bytes) : 0);
#pragma omp for schedule(static)
    for (int64_t unit = 0; unit < units; ++unit) {
      const int64_t r0 = unit * kTransposeRows;
      const int64_t count = std::min(kTransposeRows, n - r0);
      read_rows(source, r0, count, rows.data());
      // A block format's rows are quantized, then interleaved 16 at a time.
      char* const to = interleaved ? packed.data() : out + (r0 * row_bytes);
      for (int64_t j = 0; j < count; ++j) {
        quant::quantize_row(format, rows.data() + (j * k), k, to + (j * row_bytes));
      }
      for (int64_t g = 0; interleaved && g * quant::kInterleavedRows < count; ++g) {
        const int64_t first = g * quant::kInterleavedRows;
        quant::interleave_rows(
            format, packed.data() + (first * row_bytes),
            static_cast<int>(std::min<int64_t>(quant::kInterleavedRows, count - first)), k,
            out + ((r0 + first) / quant::kInterleavedRows * quant::group_bytes(format, k)));
      }
    }
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
