// ringserve-bench quality: what a weight format costs in quality. Runs a text through the model
// twice, with the weights in float32 and in --dtype D, and compares the next-token
// distributions at every position: the mean KL divergence KL(float32 || D), the share of
// positions where both put the same token first (top-1 agreement), and each one's perplexity
// on the text. The same measures llama.cpp's `perplexity --kl-divergence` reports for its GGUF
// formats, so the numbers sit beside the published ones (docs/BENCHMARKS.md).
//
// The text is tokenized as a raw prompt (with the model's BOS), cut into windows of up to
// --context tokens (default: the model's context, at most 512), and each window is scored from
// position 0 with every position's logits (EngineInput::all_logits); at most --tokens tokens
// (default 16384) are scored. Without --text the GNU GPL v3 text every Debian system has
// (/usr/share/common-licenses/GPL-3) is used: English prose that none of the models here
// were trained on.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_options.h"
#include "benchmarks/progress_line.h"
#include "engine/engine.h"
#include "engine/model/model_weights.h"
#include "engine/text/prompt_special_tokens.h"
#include "engine/text/tokenizer.h"

namespace ringserve::bench {
namespace {

using namespace ringserve::model;  // NOLINT(google-build-using-namespace): one engine's names

constexpr const char* kDefaultText = "/usr/share/common-licenses/GPL-3";

bool load_engine(const std::string& dir, const ModelConfig& config, EngineOptions options,
                 const std::string& dtype, std::unique_ptr<Engine>* out, std::string* error) {
  std::unique_ptr<ModelWeights> weights;
  options.dtype = dtype;
  return ModelWeights::open(dir, config, &weights, error) &&
         Engine::create(config, *weights, options, out, error);
}

// log softmax of one logits row, in double.
void log_softmax(const float* logits, size_t vocab, std::vector<double>* out) {
  out->resize(vocab);
  const double top = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (size_t i = 0; i < vocab; ++i) sum += std::exp(logits[i] - top);
  const double log_sum = std::log(sum) + top;
  for (size_t i = 0; i < vocab; ++i) (*out)[i] = logits[i] - log_sum;
}

struct Totals {
  double kl = 0;
  double nll = 0;          // of the format under test
  double nll_float32 = 0;  // of float32
  double max_kl = 0;
  uint64_t same_top1 = 0;
  uint64_t positions = 0;
};

// Adds the positions of one window: row j of each logits predicts tokens[j + 1].
void score(const std::vector<float>& reference, const std::vector<float>& tested, size_t vocab,
           std::span<const int32_t> tokens, Totals* t) {
  std::vector<double> p, q;
  for (size_t j = 0; j + 1 < tokens.size(); ++j) {
    const float* ref_row = reference.data() + j * vocab;
    const float* row = tested.data() + j * vocab;
    log_softmax(ref_row, vocab, &p);
    log_softmax(row, vocab, &q);
    double kl = 0;
    for (size_t i = 0; i < vocab; ++i) kl += std::exp(p[i]) * (p[i] - q[i]);
    kl = std::max(0.0, kl);  // rounding can make a near-zero KL slightly negative
    t->kl += kl;
    t->max_kl = std::max(t->max_kl, kl);
    const auto next = static_cast<size_t>(tokens[j + 1]);
    t->nll -= q[next];
    t->nll_float32 -= p[next];
    t->same_top1 += (std::max_element(ref_row, ref_row + vocab) - ref_row) ==
                    (std::max_element(row, row + vocab) - row);
    ++t->positions;
  }
}

}  // namespace

int quality_main(const Options& opts) {
  const std::string dir = opts.get("model", "");
  const std::string dtype = opts.get("dtype", "");
  if (dir.empty() || dtype.empty()) {
    std::fprintf(stderr, "ringserve-bench quality: --model DIR and --dtype D are required\n");
    return 2;
  }
  const std::string text_path = opts.get("text", kDefaultText);
  std::ifstream in(text_path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "ringserve-bench quality: cannot read --text %s\n", text_path.c_str());
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();

  ModelConfig config;
  std::unique_ptr<Tokenizer> tokenizer;
  PromptSpecialTokens special;
  std::string error;
  if (!ModelConfig::load(dir, &config, &error) ||
      !Tokenizer::load(dir + "/tokenizer.json", &tokenizer, &error) ||
      !PromptSpecialTokens::load(dir, *tokenizer, &special, &error)) {
    std::fprintf(stderr, "ringserve-bench quality: %s\n", error.c_str());
    return 1;
  }
  std::vector<int32_t> tokens = special.encode_raw(*tokenizer, text.str());
  tokens.resize(std::min<size_t>(tokens.size(), opts.get_u32("tokens", 16384)));
  const auto context = static_cast<size_t>(
      std::min<int64_t>(opts.get_u32("context", 512), config.max_position_embeddings));
  if (tokens.size() < 2) {
    std::fprintf(stderr, "ringserve-bench quality: %s has fewer than 2 tokens\n",
                 text_path.c_str());
    return 1;
  }

  EngineOptions options;
  options.threads = static_cast<int>(opts.get_u32(
      "threads", static_cast<uint32_t>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)))));
  options.max_seq_len = static_cast<int64_t>(context);
  std::unique_ptr<Engine> reference, tested;
  ProgressLine progress("quality: ", /*show_elapsed=*/true);
  progress.show("loading %s as float32 and as %s", dir.c_str(), dtype.c_str());
  if (!load_engine(dir, config, options, "float32", &reference, &error) ||
      !load_engine(dir, config, options, dtype, &tested, &error)) {
    progress.clear();
    std::fprintf(stderr, "ringserve-bench quality: %s\n", error.c_str());
    return 1;
  }
  const auto vocab = static_cast<size_t>(reference->vocab_size());
  Totals totals;
  std::vector<float> ref_logits, logits;
  for (size_t start = 0; start + 1 < tokens.size(); start += context) {
    const size_t count = std::min(context, tokens.size() - start);
    progress.show("%zu/%zu tokens", start, tokens.size());
    const std::span<const int32_t> window(tokens.data() + start, count);
    const EngineInput input{reference->slot_blocks(0), 0, window, /*all_logits=*/true};
    const EngineInput tested_input{tested->slot_blocks(0), 0, window, /*all_logits=*/true};
    reference->forward({&input, 1}, &ref_logits);
    tested->forward({&tested_input, 1}, &logits);
    score(ref_logits, logits, vocab, window, &totals);
  }
  progress.clear();

  const auto n = static_cast<double>(totals.positions);
  const double mean_kl = totals.kl / n;
  const double top1 = static_cast<double>(totals.same_top1) / n;
  const double ppl = std::exp(totals.nll / n);
  const double ppl_float32 = std::exp(totals.nll_float32 / n);
  std::printf("model %s, %s against float32 (%.1f MB against %.1f MB of weights)\n", dir.c_str(),
              dtype.c_str(), static_cast<double>(tested->weight_bytes()) / 1e6,
              static_cast<double>(reference->weight_bytes()) / 1e6);
  std::printf("text %s: %llu positions in windows of %zu tokens\n", text_path.c_str(),
              static_cast<unsigned long long>(totals.positions), context);
  std::printf("mean KL divergence %.6f (max %.4f), top-1 agreement %.2f%%\n", mean_kl,
              totals.max_kl, 100 * top1);
  std::printf("perplexity %.4f (float32 %.4f, %+.3f%%)\n", ppl, ppl_float32,
              100 * (ppl / ppl_float32 - 1));
  if (opts.has("json")) {
    const nlohmann::json j = {{"model", dir},
                              {"dtype", dtype},
                              {"text", text_path},
                              {"positions", totals.positions},
                              {"context", context},
                              {"mean_kl", mean_kl},
                              {"max_kl", totals.max_kl},
                              {"top1_agreement", top1},
                              {"ppl", ppl},
                              {"ppl_float32", ppl_float32},
                              {"weight_bytes", tested->weight_bytes()},
                              {"weight_bytes_float32", reference->weight_bytes()}};
    std::ofstream(opts.get("json", "")) << j.dump(2) << "\n";
  }
  return 0;
}

}  // namespace ringserve::bench
