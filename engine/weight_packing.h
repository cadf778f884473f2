// Turning a checkpoint's weight matrices (memory-mapped safetensors, float32, bfloat16 or
// float16) into the packed formats the CPU kernels read (engine/quant/block_formats.h), with no
// float32 copy of the matrix in between: row by row, each row widened to float32 in a small
// scratch buffer and written in its format, on the engine's threads. No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/safetensors.h"
#include "engine/quant/block_formats.h"

namespace ringserve::model {

// One weight matrix [n, k] made of `parts` whose rows are concatenated (Llama's q, k and v;
// gate and up), each stored [rows, k], or [k, rows] when `stored_in_out` (GPT-2's Conv1D,
// transposed here). `name` is for errors.
struct MatrixSource {
  std::string name;
  std::vector<const TensorInfo*> parts;
  bool stored_in_out = false;
  int64_t rows() const;
  int64_t cols() const;
};

// The format the matrix is held in when `format` is asked for: `format`, or float16 for a
// block format whose blocks do not fit the rows (a row not a whole number of
// quant::kBlockWeights weights, e.g. the built-in model's 688-wide down projection), as
// llama.cpp's quantizer falls back for such tensors. float16 holds every bfloat16 weight of a
// trained model's range exactly.
quant::WeightFormat packable_format(const MatrixSource& source, quant::WeightFormat format);

// Writes the matrix to `out` (quant::matrix_bytes(format, rows(), cols()) bytes: rows of
// quant::row_bytes, a block format's interleaved 16 at a time) on up to `threads` OpenMP
// threads.
void pack_matrix(const MatrixSource& source, quant::WeightFormat format, char* out, int threads);

// Reads row `row` of a 2-D tensor (float32, bfloat16 or float16) as float32 into out[0, cols).
void read_row(const TensorInfo& tensor, int64_t row, float* out);

// Tells the kernel the process is done with a tensor's pages of the mapping (MADV_DONTNEED), so
// that a checkpoint converted tensor by tensor is not resident all at once beside its result.
// The file's pages stay in the page cache, reclaimable.
void drop_pages(const TensorInfo& tensor);

}  // namespace ringserve::model
