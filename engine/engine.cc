// The only translation unit of the engine that includes torch.
#include "engine/engine.h"

#include <malloc.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>

#include <torch/torch.h>

#include "engine/kernels/cpu_kernels.h"
#include "engine/model/model_weights.h"
#include "engine/model/weight_specs.h"
#include "engine/quant/quantize.h"
#include "engine/rope_frequencies.h"
#include "engine/weight_packing.h"

namespace ringserve::model {
namespace {

using torch::Tensor;

using quant::WeightFormat;

// A weight matrix [n, k] in nn.Linear's layout. In float32, and in every format on CUDA,
// `dense` (for the float32 kernels and ATen); in the other formats on the CPU `packed`, uint8
// [quant::matrix_bytes] (rows, or a block format's interleaved groups of rows), for the packed
// kernels, with everything around the products in float32.
struct Matrix {
  Tensor dense;
  Tensor packed;
  WeightFormat format = WeightFormat::kFloat32;
  int64_t n = 0;
  int64_t k = 0;
  bool defined() const { return dense.defined() || packed.defined(); }
  PackedMatrix view() const { return {format, packed.data_ptr(), n, k}; }
};

struct Layer {
  Tensor norm1_w, norm1_b, norm2_w, norm2_b;  // *_b only for LayerNorm (GPT-2)
  Matrix qkv_w;                               // fused [q + 2 kv, hidden]
  Tensor qkv_b;
  Matrix out_w;
  Tensor out_b;
  Matrix up_w;  // GPT-2: c_fc; Llama: gate and up fused [2 * intermediate, hidden]
  Tensor up_b;
  Matrix down_w;
  Tensor down_b;
};

torch::Dtype torch_dtype_of(DType d) {
  switch (d) {
    case DType::kF16:
      return torch::kFloat16;
    case DType::kBF16:
      return torch::kBFloat16;
    default:
      return torch::kFloat32;
  }
}

// The logits head is the matrix whose rounding moves the next-token distribution most
// directly, and int4 is the only format coarse enough for that to show: with int4 weights it is
// held in int8 (and so is the embedding when the two are one tied matrix), as llama.cpp's Q4_0
// files keep theirs in a 6-bit format. It is one matrix of many: TinyLlama's is 6% of its
// weights.
WeightFormat head_format(WeightFormat format) {
  return format == WeightFormat::kQ4_0 ? WeightFormat::kQ8_0 : format;
}

class TorchEngine final : public Engine {
 public:
  TorchEngine(const ModelConfig& config, const EngineOptions& options, torch::Device device,
              torch::Dtype dtype, WeightFormat format)
      : config_(config), options_(options), device_(device), dtype_(dtype), format_(format) {}

  bool build(const ModelWeights& weights, std::string* error);

  void forward(std::span<const EngineInput> inputs, std::vector<float>* logits) override;

  const ModelConfig& config() const override { return config_; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t max_seq_len() const override { return max_seq_len_; }
  int64_t max_sequences() const override { return options_.max_sequences; }
  int64_t kv_blocks() const override { return kv_blocks_; }
  std::span<const int32_t> slot_blocks(int64_t s) const override {
    const int64_t per = blocks_per_sequence();
    TORCH_CHECK(s >= 0 && (s + 1) * per <= kv_blocks_, "no such cache slot");
    return {all_blocks_.data() + s * per, static_cast<size_t>(per)};
  }
  uint64_t weight_bytes() const override { return weight_bytes_; }
  uint64_t kv_cache_bytes() const override { return kv_cache_bytes_; }
  std::string device_name() const override { return device_.str(); }
  std::string dtype_name() const override { return options_.dtype; }
  int threads() const override { return static_cast<int>(torch::get_num_threads()); }
  std::string products_name() const override {
    if (packed()) {
      std::string name = quant::is_block_format(format_)
                             ? std::string("integer kernel ") + integer_kernel_name(kernel_)
                             : std::string("packed kernel ") + to_string(kernel_);
      if (head_format(format_) != format_) {
        name += std::string(" (logits head ") +
                std::string(quant::format_name(head_format(format_))) + ")";
      }
      return name;
    }
    if (!cpu_kernels_apply()) return "ATen";
    return std::string("small-batch kernel ") + to_string(kernel_) + " + BLAS";
  }
  bool use_paged_attention_kernel(bool on) override {
    attention_kernel_ = on && device_.is_cpu() && dtype_ == torch::kFloat32 &&
                        best_kernel_isa() != KernelIsa::kNone;
    return attention_kernel_;
  }
  uint64_t attention_copies() const override { return attention_copies_; }
  double attention_seconds() const override { return attention_seconds_; }
  bool use_small_batch_kernel(bool on) override {
    if (packed()) return true;  // packed weights have no other path
    kernel_ = on ? best_kernel_isa() : KernelIsa::kNone;
    return kernel_ != KernelIsa::kNone;
  }

 private:
  // The checkpoint tensor of `spec`, copied to the engine's device and dtype; undefined when the
  // family has no such tensor or an optional one is absent.
  Tensor load(const ModelWeights& weights, const WeightSpec& spec) {
    const TensorInfo* info = spec.name.empty() ? nullptr : weights.find(spec.name);
    if (info == nullptr) return {};
    // from_blob does not own the mapping; .to() below copies into engine-owned memory.
    Tensor view = torch::from_blob(const_cast<void*>(info->data), info->shape,
                                   torch::TensorOptions().dtype(torch_dtype_of(info->dtype)));
    Tensor t = view.to(device_, dtype_, /*non_blocking=*/false, /*copy=*/true);
    weight_bytes_ += static_cast<uint64_t>(t.numel()) * t.element_size();
    return t;
  }
  // One weight from its parts, their rows concatenated (Llama's q, k, v; gate and up). A
  // matrix stored [in, out] (GPT-2's Conv1D) is transposed to nn.Linear's [out, in] first.
  Tensor load_parts(const ModelWeights& weights, const std::vector<WeightSpec>& parts,
                    bool stored_in_out) {
    std::vector<Tensor> loaded;
    for (const WeightSpec& part : parts) {
      loaded.push_back(stored_in_out ? load(weights, part).t().contiguous() : load(weights, part));
    }
    if (loaded.size() <= 1) return loaded.empty() ? Tensor() : loaded.front();
    return torch::cat(loaded);
  }
  // One weight matrix (see load_parts), held as Matrix says for `format` (or its fallback,
  // packable_format()).
  void load_matrix(const ModelWeights& weights, const std::vector<WeightSpec>& parts,
                   bool stored_in_out, WeightFormat format, Matrix* out);
  // The rows of the embedding for `ids` (also as the tensor `ids_t`), [ids.size(), hidden].
  Tensor embed(const std::vector<int64_t>& ids, const Tensor& ids_t) const;
  // The CPU kernels (cpu_kernels.h) run this engine's products, GELU and decode attention:
  // float32 on the CPU, on an ISA they have (the rest goes through ATen).
  bool cpu_kernels_apply() const {
    return kernel_ != KernelIsa::kNone && device_.is_cpu() && dtype_ == torch::kFloat32;
  }
  // The weights are held in a 16-bit or block format for the packed kernels (on the CPU).
  bool packed() const { return format_ != WeightFormat::kFloat32 && device_.is_cpu(); }
  Tensor norm(const Tensor& x, const Tensor& w, const Tensor& b) const;
  Tensor rope(const Tensor& x, const Tensor& cos, const Tensor& sin) const;
  Tensor gelu(Tensor h) const;
  Tensor attention(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v,
                   std::span<const EngineInput> inputs);
  Tensor attention_one(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v,
                       const EngineInput& in, int64_t offset);
  void check_input(const EngineInput& in) const;

  ModelConfig config_;
  EngineOptions options_;
  torch::Device device_;
  torch::Dtype dtype_;
  WeightFormat format_;
  int64_t max_seq_len_ = 0;
  int64_t kv_blocks_ = 0;
  std::vector<int32_t> all_blocks_;  // 0, 1, ..., kv_blocks_ - 1: slot_blocks()' tables
  uint64_t weight_bytes_ = 0;
  uint64_t kv_cache_bytes_ = 0;
  KernelIsa kernel_ = best_kernel_isa();
  // Attention through paged_attention (set in build(); use_paged_attention_kernel).
  bool attention_kernel_ = false;
  uint64_t attention_copies_ = 0;  // attention_copies()
  double attention_seconds_ = 0;   // attention_seconds()
  int fallback_matrices_ = 0;      // held in float16: rows not whole blocks (packable_format)

  Matrix embed_, lm_head_;
  Tensor positions_embed_, final_norm_w_, final_norm_b_;
  std::vector<Layer> layers_;
  Tensor rope_cos_, rope_sin_;  // [max_seq_len, head_dim], float32
  // Per layer [kv_heads, kv_blocks, kKvBlockPositions, head_dim]: a block's rows of one kv head
  // are contiguous, and a head's blocks side by side (cpu_kernels.h says why).
  std::vector<Tensor> k_cache_, v_cache_;
};

bool TorchEngine::build(const ModelWeights& weights, std::string* error) {
  const ModelConfig& c = config_;
  max_seq_len_ = options_.max_seq_len > 0
                     ? std::min(options_.max_seq_len, c.max_position_embeddings)
                     : c.max_position_embeddings;
  const bool gpt2 = c.arch == Architecture::kGpt2;
  // From disk, shard by shard, with progress in the load log. Packed formats read each tensor
  // as they convert it and drop its pages after: the checkpoint is never resident whole beside
  // the packed weights (a 7B model's bfloat16 shards are 13.5 GB).
  if (!packed()) weights.read_shards();
  const auto copy_start = std::chrono::steady_clock::now();
  const ModelWeightSpecs specs = weight_specs(c);
  const bool in_out = specs.matrices_stored_in_out;
  const bool tied = specs.lm_head.name.empty() || weights.find(specs.lm_head.name) == nullptr;
  const WeightFormat embed_format = tied ? head_format(format_) : format_;
  load_matrix(weights, {specs.embed}, false, embed_format, &embed_);
  positions_embed_ = load(weights, specs.positions_embed);
  final_norm_w_ = load(weights, specs.final_norm_weight);
  final_norm_b_ = load(weights, specs.final_norm_bias);
  if (tied) {
    lm_head_ = embed_;
  } else {
    load_matrix(weights, {specs.lm_head}, false, head_format(format_), &lm_head_);
  }
  for (const LayerWeightSpecs& s : specs.layers) {
    Layer& l = layers_.emplace_back();
    l.norm1_w = load(weights, s.norm1_weight);
    l.norm1_b = load(weights, s.norm1_bias);
    l.qkv_b = load_parts(weights, s.qkv_bias, false);
    l.out_b = load(weights, s.out_bias);
    l.norm2_w = load(weights, s.norm2_weight);
    l.norm2_b = load(weights, s.norm2_bias);
    l.up_b = load(weights, s.up_bias);
    l.down_b = load(weights, s.down_bias);
    load_matrix(weights, s.qkv_weight, in_out, format_, &l.qkv_w);
    load_matrix(weights, {s.out_weight}, in_out, format_, &l.out_w);
    load_matrix(weights, s.up_weight, in_out, format_, &l.up_w);
    load_matrix(weights, {s.down_weight}, in_out, format_, &l.down_w);
  }
  char line[256];
  std::snprintf(
      line, sizeof line, "weights on %s as %s: %.1f MiB in %.1f s", device_.str().c_str(),
      options_.dtype.c_str(), static_cast<double>(weight_bytes_) / (1 << 20),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - copy_start).count());
  load_log(weights.total_bytes(), line);
  if (fallback_matrices_ > 0) {
    std::snprintf(line, sizeof line,
                  "%d weight matrices have rows that are not whole %d-weight blocks: held in "
                  "float16 instead of %s",
                  fallback_matrices_, quant::kBlockWeights, options_.dtype.c_str());
    load_log(weights.total_bytes(), line);
  }

  if (!gpt2) {
    const std::vector<double> inv = rope_inv_freq(c);
    Tensor inv_t = torch::tensor(inv, torch::kFloat64);
    Tensor pos = torch::arange(max_seq_len_, torch::kFloat64);
    Tensor freqs = torch::outer(pos, inv_t);
    Tensor emb = torch::cat({freqs, freqs}, -1);
    rope_cos_ = emb.cos().to(device_, torch::kFloat32);
    rope_sin_ = emb.sin().to(device_, torch::kFloat32);
  }

  use_paged_attention_kernel(true);
  const int64_t per_sequence = blocks_per_sequence();
  kv_blocks_ = options_.kv_blocks > 0 ? options_.kv_blocks : options_.max_sequences * per_sequence;
  if (kv_blocks_ < per_sequence || kv_blocks_ > std::numeric_limits<int32_t>::max()) {
    *error = "a KV cache of " + std::to_string(kv_blocks_) + " blocks of " +
             std::to_string(kKvBlockPositions) + " positions cannot hold one whole context of " +
             std::to_string(max_seq_len_) + " positions (" + std::to_string(per_sequence) +
             " blocks)";
    return false;
  }
  all_blocks_.resize(static_cast<size_t>(kv_blocks_));
  for (size_t b = 0; b < all_blocks_.size(); ++b) all_blocks_[b] = static_cast<int32_t>(b);
  const auto cache_options = torch::TensorOptions().dtype(dtype_).device(device_);
  try {
    for (int64_t i = 0; i < c.num_layers; ++i) {
      k_cache_.push_back(
          torch::zeros({c.num_kv_heads, kv_blocks_, kKvBlockPositions, c.head_dim}, cache_options));
      v_cache_.push_back(torch::zeros_like(k_cache_.back()));
      kv_cache_bytes_ +=
          2 * static_cast<uint64_t>(k_cache_.back().numel()) * k_cache_.back().element_size();
    }
  } catch (const c10::Error& e) {
    *error = "KV cache of " + std::to_string(kv_blocks_) + " blocks of " +
             std::to_string(kKvBlockPositions) + " positions does not fit on " + device_.str() +
             ": " + e.what_without_backtrace();
    return false;
  }
  return true;
}

void TorchEngine::load_matrix(const ModelWeights& weights, const std::vector<WeightSpec>& parts,
                              bool stored_in_out, WeightFormat format, Matrix* out) {
  if (!packed()) {
    out->dense = load_parts(weights, parts, stored_in_out);
    return;
  }
  MatrixSource source{parts.empty() ? "" : parts.front().name, {}, stored_in_out};
  for (const WeightSpec& part : parts) {
    const TensorInfo* info = part.name.empty() ? nullptr : weights.find(part.name);
    if (info != nullptr) source.parts.push_back(info);
  }
  if (source.parts.empty()) return;
  format = packable_format(source, format);
  if (format != format_ && format != head_format(format_)) ++fallback_matrices_;
  out->format = format;
  out->n = source.rows();
  out->k = source.cols();
  out->packed = torch::empty({quant::matrix_bytes(format, out->n, out->k)}, torch::kUInt8);
  pack_matrix(source, format, static_cast<char*>(out->packed.data_ptr()),
              static_cast<int>(torch::get_num_threads()));
  for (const TensorInfo* info : source.parts) drop_pages(*info);
  weight_bytes_ += static_cast<uint64_t>(out->packed.numel());
}

Tensor TorchEngine::embed(const std::vector<int64_t>& ids, const Tensor& ids_t) const {
  if (embed_.dense.defined()) return embed_.dense.index_select(0, ids_t);
  const auto count = static_cast<int64_t>(ids.size());
  Tensor x = torch::empty({count, embed_.k}, torch::kFloat32);
  const void* table = embed_.packed.data_ptr();
  for (int64_t t = 0; t < count; ++t) {
    const int64_t id = ids[static_cast<size_t>(t)];
    TORCH_CHECK(id >= 0 && id < embed_.n, "token id out of the vocabulary");
    quant::dequantize_matrix_row(embed_.format, table, embed_.k, id,
                                 x.data_ptr<float>() + t * embed_.k);
  }
  return x;
}

// x [T, in] times W [out, in]^T (+ b). Packed weights go through the packed kernel at any size
// (there is nothing else that reads them). Float32 products on the CPU of up to
// small_batch_max_rows(kernel) rows use the tiled kernel (each weight read from memory once); BLAS
// GEMM would first pack, i.e. copy, the whole weight matrix, which at decode sizes costs more than
// the product itself.
Tensor project(const Tensor& x, const Matrix& w, const Tensor& b, KernelIsa kernel) {
  const int64_t rows = x.size(0);
  const Tensor& dense = w.dense;
  const bool packed = w.packed.defined();
  if (packed ||
      (kernel != KernelIsa::kNone && rows <= small_batch_max_rows(kernel) && x.device().is_cpu() &&
       x.scalar_type() == torch::kFloat32 && dense.is_contiguous())) {
    const Tensor xc = x.contiguous();
    const PackedMatrix matrix = packed ? w.view()
                                       : PackedMatrix{WeightFormat::kFloat32, dense.data_ptr(),
                                                      dense.size(0), dense.size(1)};
    Tensor y = torch::empty({rows, matrix.n}, x.options());
    const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
    packed_matmul_parallel(kernel, xc.data_ptr<float>(), static_cast<int>(rows), matrix, bp,
                           y.data_ptr<float>(), at::get_num_threads());
    return y;
  }
  return torch::linear(x, dense, b);
}

Tensor TorchEngine::norm(const Tensor& x, const Tensor& w, const Tensor& b) const {
  const Tensor xf = x.to(torch::kFloat32);
  if (config_.arch == Architecture::kGpt2) {
    return torch::layer_norm(xf, {config_.hidden_size}, w.to(torch::kFloat32),
                             b.to(torch::kFloat32), config_.norm_eps)
        .to(dtype_);
  }
  // RMSNorm as in Hugging Face Llama: normalize in float32, cast, then scale.
  const Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  return w * (xf * torch::rsqrt(variance + config_.norm_eps)).to(dtype_);
}

// GPT-2's GELU (tanh approximation) on a product's fresh output: in place with the vector kernel
// where the products use the small-batch kernel (float32 on the CPU), through ATen otherwise.
// ATen's runs Sleef's tanh element by element and took about 1 ms of a 30 ms batch-16 decode
// step on the Zen 4 host of docs/BENCHMARKS.md.
Tensor TorchEngine::gelu(Tensor h) const {
  if (!cpu_kernels_apply() || !h.is_contiguous()) return torch::gelu(h, "tanh");
  gelu_tanh(kernel_, h.data_ptr<float>(), h.numel(), at::get_num_threads());
  return h;
}

// x: [T, heads, head_dim]; cos/sin: [T, 1, head_dim] (float32). HF's rotate_half convention.
Tensor TorchEngine::rope(const Tensor& x, const Tensor& cos, const Tensor& sin) const {
  const int64_t half = config_.head_dim / 2;
  const Tensor xf = x.to(torch::kFloat32);
  const Tensor rotated = torch::cat({-xf.narrow(-1, half, half), xf.narrow(-1, 0, half)}, -1);
  return (xf * cos + rotated * sin).to(dtype_);
}

// One sequence's tokens (rows [offset, offset + n) of q, k and v) through ATen: store its
// keys and values in its blocks, then causal attention over its positions. Returns
// [n, heads * head_dim]. ATen has no paged attention, but a run of consecutive block ids is a
// view of the cache ([kv, run blocks, B, d] merges to [kv, run positions, d] without a copy):
// the scores are computed run by run into one row per query, and the weighted sum of values
// likewise. The pool keeps a sequence's blocks in runs (KvBlockPool::allocate), so a table is
// nearly always one run, or a few; one in more pieces than kAtenInPlaceRuns is gathered by one
// index_select instead. This path runs on CUDA, on a CPU without AVX2, and when the paged kernel
// is turned off (tests); a GPU paged-attention kernel would take the same block table.
Tensor TorchEngine::attention_one(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const EngineInput& in, int64_t offset) {
  const int64_t kv_heads = config_.num_kv_heads;
  const int64_t group = config_.num_heads / kv_heads;
  const int64_t d = config_.head_dim;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto n = static_cast<int64_t>(in.tokens.size());
  const int64_t context = in.position + n;
  Tensor& k_cache = k_cache_[static_cast<size_t>(layer)];  // [kv, blocks, B, d]
  Tensor& v_cache = v_cache_[static_cast<size_t>(layer)];
  const int64_t bp = kKvBlockPositions;
  for (int64_t p = in.position; p < context;) {  // a copy per block the tokens fall in
    const int64_t len = std::min(bp - p % bp, context - p);
    const int64_t block = in.blocks[static_cast<size_t>(p / bp)];
    const int64_t from = offset + (p - in.position);
    k_cache.select(1, block).narrow(1, p % bp, len).copy_(k.narrow(0, from, len).transpose(0, 1));
    v_cache.select(1, block).narrow(1, p % bp, len).copy_(v.narrow(0, from, len).transpose(0, 1));
    p += len;
  }
  const int64_t used = (context + bp - 1) / bp;
  // The table's runs of consecutive block ids: (first block, blocks).
  std::vector<std::pair<int64_t, int64_t>> runs;
  for (int64_t b = 0; b < used; ++b) {
    const int64_t block = in.blocks[static_cast<size_t>(b)];
    if (!runs.empty() && runs.back().first + runs.back().second == block) {
      ++runs.back().second;
    } else {
      runs.emplace_back(block, 1);
    }
  }
  // The context's keys and values in pieces of [kv, positions, d], positions in order.
  std::vector<Tensor> keys, values;
  if (static_cast<int64_t>(runs.size()) <= kAtenInPlaceRuns) {
    int64_t p = 0;
    for (const auto& run : runs) {
      const int64_t blocks = run.second;
      const int64_t len = std::min(blocks * bp, context - p);
      const auto piece = [&](const Tensor& cache) {
        return cache.narrow(1, run.first, blocks)
            .view({kv_heads, blocks * bp, d})
            .narrow(1, 0, len);
      };
      keys.push_back(piece(k_cache));
      values.push_back(piece(v_cache));
      p += len;
    }
  } else {
    ++attention_copies_;
    const Tensor table =
        torch::tensor(std::vector<int64_t>(in.blocks.begin(), in.blocks.begin() + used),
                      torch::TensorOptions().dtype(torch::kInt64))
            .to(device_);
    // [kv, used, B, d] -> [kv, used * B, d], the first `context` positions.
    const auto gather = [&](const Tensor& cache) {
      return cache.index_select(1, table).reshape({kv_heads, used * bp, d}).narrow(1, 0, context);
    };
    keys.push_back(gather(k_cache));
    values.push_back(gather(v_cache));
  }
  // Query head h reads kv head h / group (Hugging Face's repeat_kv order).
  const Tensor qi = q.narrow(0, offset, n)
                        .view({n, kv_heads, group, d})
                        .permute({1, 2, 0, 3})
                        .reshape({kv_heads, group * n, d});
  std::vector<Tensor> score_pieces;
  score_pieces.reserve(keys.size());
  for (const Tensor& piece : keys) score_pieces.push_back(torch::bmm(qi, piece.transpose(1, 2)));
  Tensor scores = (score_pieces.size() == 1 ? score_pieces.front() : torch::cat(score_pieces, 2))
                      .to(torch::kFloat32) *
                  scale;  // [kv, group * n, ctx]
  if (n > 1) {
    // Causal: new token j (at position + j) sees keys up to position + j.
    const auto opts = torch::TensorOptions().device(device_);
    const Tensor key_pos = torch::arange(context, opts.dtype(torch::kInt64));
    const Tensor query_pos = torch::arange(in.position, context, opts.dtype(torch::kInt64));
    const Tensor blocked = key_pos.unsqueeze(0) > query_pos.unsqueeze(1);  // [n, ctx]
    scores = scores.view({kv_heads, group, n, context})
                 .masked_fill(blocked, -std::numeric_limits<float>::infinity())
                 .view({kv_heads, group * n, context});
  }
  const Tensor probs = torch::softmax(scores, -1).to(dtype_);
  Tensor out;  // [kv, group * n, d]
  int64_t p = 0;
  for (const Tensor& piece : values) {
    const int64_t len = piece.size(1);
    const Tensor part = torch::bmm(probs.narrow(2, p, len), piece);
    out = out.defined() ? out.add_(part) : part;
    p += len;
  }
  return out.view({kv_heads, group, n, d}).permute({2, 0, 1, 3}).reshape({n, kv_heads * group * d});
}

// q: [T, heads, head_dim]; k, v: [T, kv_heads, head_dim]. Returns [T, heads * head_dim].
Tensor TorchEngine::attention(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v,
                              std::span<const EngineInput> inputs) {
  if (!attention_kernel_) {
    std::vector<Tensor> outputs;
    outputs.reserve(inputs.size());
    int64_t offset = 0;
    for (const EngineInput& in : inputs) {
      outputs.push_back(attention_one(layer, q, k, v, in, offset));
      offset += static_cast<int64_t>(in.tokens.size());
    }
    return outputs.size() == 1 ? outputs.front() : torch::cat(outputs, 0);
  }
  // Every token of every input through the paged kernel in one call: decode tokens and prompt
  // chunks alike (a served step mixes both whenever a request was just admitted).
  const int64_t d = config_.head_dim;
  const int64_t tokens = q.size(0);
  Tensor out = torch::empty({tokens, config_.num_heads * d}, q.options());
  std::vector<int32_t> tables, positions;
  std::vector<int64_t> table_offsets;
  positions.reserve(static_cast<size_t>(tokens));
  table_offsets.reserve(static_cast<size_t>(tokens));
  for (const EngineInput& in : inputs) {
    const auto table_offset = static_cast<int64_t>(tables.size());
    tables.insert(tables.end(), in.blocks.begin(), in.blocks.end());
    for (size_t j = 0; j < in.tokens.size(); ++j) {
      positions.push_back(in.position + static_cast<int32_t>(j));
      table_offsets.push_back(table_offset);
    }
  }
  const Tensor qc = q.contiguous();
  const Tensor kc = k.contiguous();
  const Tensor vc = v.contiguous();
  const PagedAttentionShape shape{config_.num_heads,
                                  config_.num_kv_heads,
                                  d,
                                  kKvBlockPositions,
                                  kv_blocks_,
                                  static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)))};
  paged_attention(shape, tokens, qc.data_ptr<float>(), kc.data_ptr<float>(), vc.data_ptr<float>(),
                  k_cache_[static_cast<size_t>(layer)].data_ptr<float>(),
                  v_cache_[static_cast<size_t>(layer)].data_ptr<float>(), tables.data(),
                  table_offsets.data(), positions.data(), out.data_ptr<float>(),
                  at::get_num_threads());
  return out;
}

// An input the engine can run: its positions inside the context and covered by its block table,
// every block of the table in the pool.
void TorchEngine::check_input(const EngineInput& in) const {
  const auto end = in.position + static_cast<int64_t>(in.tokens.size());
  TORCH_CHECK(!in.tokens.empty() && in.position >= 0 && end <= max_seq_len_,
              "input outside the context");
  const int64_t used = (end + kKvBlockPositions - 1) / kKvBlockPositions;
  TORCH_CHECK(static_cast<int64_t>(in.blocks.size()) >= used,
              "block table shorter than the input's positions");
  for (int64_t b = 0; b < used; ++b) {
    const int32_t block = in.blocks[static_cast<size_t>(b)];
    TORCH_CHECK(block >= 0 && block < kv_blocks_, "block id outside the KV cache");
  }
}

void TorchEngine::forward(std::span<const EngineInput> inputs, std::vector<float>* logits) {
  c10::InferenceMode inference;
  const ModelConfig& c = config_;
  std::vector<int64_t> ids, positions, logit_rows;
  for (const EngineInput& in : inputs) {
    check_input(in);
    for (size_t j = 0; j < in.tokens.size(); ++j) {
      ids.push_back(in.tokens[j]);
      positions.push_back(in.position + static_cast<int64_t>(j));
      if (in.all_logits || j + 1 == in.tokens.size()) {
        logit_rows.push_back(static_cast<int64_t>(ids.size()) - 1);
      }
    }
  }
  const auto T = static_cast<int64_t>(ids.size());
  const auto long_opts = torch::TensorOptions().dtype(torch::kInt64);
  const Tensor ids_t = torch::from_blob(ids.data(), {T}, long_opts).to(device_);
  const Tensor pos_t = torch::from_blob(positions.data(), {T}, long_opts).to(device_);

  const bool gpt2 = c.arch == Architecture::kGpt2;
  Tensor x = embed(ids, ids_t);
  if (gpt2) x = x + positions_embed_.index_select(0, pos_t);
  Tensor cos, sin;
  if (!gpt2) {
    cos = rope_cos_.index_select(0, pos_t).unsqueeze(1);  // [T, 1, d]
    sin = rope_sin_.index_select(0, pos_t).unsqueeze(1);
  }
  const int64_t q_width = c.num_heads * c.head_dim;
  const int64_t kv_width = c.num_kv_heads * c.head_dim;
  for (size_t li = 0; li < layers_.size(); ++li) {
    const Layer& l = layers_[li];
    Tensor h = norm(x, l.norm1_w, l.norm1_b);
    const Tensor qkv = project(h, l.qkv_w, l.qkv_b, kernel_);
    Tensor q = qkv.narrow(1, 0, q_width).view({T, c.num_heads, c.head_dim});
    Tensor k = qkv.narrow(1, q_width, kv_width).view({T, c.num_kv_heads, c.head_dim});
    const Tensor v =
        qkv.narrow(1, q_width + kv_width, kv_width).view({T, c.num_kv_heads, c.head_dim});
    if (!gpt2) {
      q = rope(q, cos, sin);
      k = rope(k, cos, sin);
    }
    const auto attention_start = std::chrono::steady_clock::now();
    const Tensor attn = attention(static_cast<int64_t>(li), q, k, v, inputs);
    attention_seconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - attention_start).count();
    x = x + project(attn, l.out_w, l.out_b, kernel_);
    h = norm(x, l.norm2_w, l.norm2_b);
    if (gpt2) {
      h = gelu(project(h, l.up_w, l.up_b, kernel_));
    } else {
      const Tensor gate_up = project(h, l.up_w, {}, kernel_);
      h = torch::silu(gate_up.narrow(1, 0, c.intermediate_size)) *
          gate_up.narrow(1, c.intermediate_size, c.intermediate_size);
    }
    x = x + project(h, l.down_w, l.down_b, kernel_);
  }
  const Tensor rows =
      torch::from_blob(logit_rows.data(), {static_cast<int64_t>(logit_rows.size())}, long_opts)
          .to(device_);
  const Tensor last = norm(x.index_select(0, rows), final_norm_w_, final_norm_b_);
  const Tensor out =
      project(last, lm_head_, {}, kernel_).to(torch::kFloat32).to(torch::kCPU).contiguous();
  logits->resize(static_cast<size_t>(out.numel()));
  std::memcpy(logits->data(), out.data_ptr<float>(), logits->size() * sizeof(float));
}

// A forward allocates and frees its activations (a 128-token prefill of GPT-2 small: tensors
// of 0.4-1.5 MB) through malloc. glibc maps every block above its mmap threshold afresh and
// unmaps it on free, so each forward would fault all of its activation pages in again (half
// of a packed-weight prefill's time on the Zen 5 VM). glibc raises that threshold by itself
// after the first large free, which the float32 load's temporary copies happened to do; packed
// loading frees nothing large. Set it, and the trim threshold that returns freed heap to the
// system, once for the process (the engine's are its largest allocations by far).
void keep_freed_memory() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest on 64-bit
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    return true;
  }();
  (void)done;
}

}  // namespace

bool cuda_available() { return torch::cuda::is_available(); }

bool Engine::create(const ModelConfig& config, const ModelWeights& weights,
                    const EngineOptions& options, std::unique_ptr<Engine>* out,
                    std::string* error) {
  WeightFormat format = WeightFormat::kFloat32;
  if (!check_engine_options(options, &format, error)) return false;
  std::optional<torch::Device> device;
  try {
    device.emplace(options.device);
  } catch (const c10::Error&) {
    *error = "model.device '" + options.device + "' is not a device (use cpu or cuda[:N])";
    return false;
  }
  // Before CUDA's own checks: this combination is wrong whatever the machine has.
  if (device->is_cuda() && quant::is_block_format(format)) {
    *error = "model.dtype '" + options.dtype + "' runs on the CPU only (its kernels are CPU " +
             "kernels); on '" + options.device + "' use float32, bfloat16 or float16";
    return false;
  }
  if (device->is_cuda() && !torch::cuda::is_available()) {
    *error = "model.device '" + options.device +
             "': this libtorch has no CUDA support or no CUDA device is visible";
    return false;
  }
  if (!device->is_cpu() && !device->is_cuda()) {
    *error = "model.device '" + options.device + "' is not supported (use cpu or cuda[:N])";
    return false;
  }
  // On CUDA the 16-bit formats are libtorch's dtypes; on the CPU every format but float32 is
  // held packed and computed around in float32 (KV cache included).
  torch::Dtype dtype = torch::kFloat32;
  if (device->is_cuda()) {
    dtype = format == WeightFormat::kBFloat16  ? torch::kBFloat16
            : format == WeightFormat::kFloat16 ? torch::kFloat16
                                               : torch::kFloat32;
  } else if (format != WeightFormat::kFloat32 && best_kernel_isa() == KernelIsa::kNone) {
    *error = "model.dtype '" + options.dtype +
             "' needs a CPU with AVX2, FMA and F16C for its kernels, which this one lacks; use "
             "float32";
    return false;
  }
  if (options.threads > 0) torch::set_num_threads(options.threads);
  keep_freed_memory();
  auto engine = std::make_unique<TorchEngine>(config, options, *device, dtype, format);
  try {
    if (!engine->build(weights, error)) return false;
  } catch (const c10::Error& e) {
    *error = std::string("building the model failed: ") + e.what_without_backtrace();
    return false;
  }
  // One token through the whole model now: a dtype or device this libtorch cannot compute in
  // fails here, at start, with a message, instead of at the first request; and the first
  // request does not pay for thread-pool and allocator warm-up.
  try {
    const int32_t token = 0;
    std::vector<float> logits;
    const EngineInput input{engine->slot_blocks(0), 0, {&token, 1}};
    engine->forward({&input, 1}, &logits);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    *error = "model.dtype '" + options.dtype + "' on '" + options.device +
             "' does not run with this libtorch: " + what;
    return false;
  }
  *out = std::move(engine);
  return true;
}

}  // namespace ringserve::model
