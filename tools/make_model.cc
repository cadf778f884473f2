// ringserve-make-model: writes a model directory with random weights, for tests and benchmarks.
//   ringserve-make-model --out DIR [--preset gpt2-small|llama-small|tiny-gpt2|tiny-llama]
//     [--type gpt2|llama|mistral|qwen2] [--layers N] [--hidden N] [--heads N] [--kv-heads N]
//     [--intermediate N] [--vocab N] [--max-positions N] [--rope-theta X] [--llama3-rope]
//     [--untied] [--dtype float32|bfloat16|float16] [--shards N] [--seed N]
//     [--tokenizer bytes|byte-level|metaspace] [--corpus FILE]
// --tokenizer byte-level / metaspace trains a BPE tokenizer (GPT-2 / Llama 2 style) of the
// model's vocab size on --corpus (default /usr/share/common-licenses/GPL-3) instead of the
// byte tokenizer.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "engine/model/read_file.h"
#include "tools/model_making/bpe_trainer.h"
#include "tools/model_making/random_model.h"

namespace {

constexpr const char* kUsage =
    "usage: ringserve-make-model --out DIR [--preset NAME] [--type T] [--layers N]\n"
    "  [--hidden N] [--heads N] [--kv-heads N] [--intermediate N] [--vocab N]\n"
    "  [--max-positions N] [--rope-theta X] [--llama3-rope] [--untied]\n"
    "  [--dtype float32|bfloat16|float16] [--shards N] [--seed N]\n"
    "  [--tokenizer bytes|byte-level|metaspace] [--corpus FILE]\n"
    "Writes a model directory with random weights (config.json, model.safetensors,\n"
    "tokenizer.json) for tests and benchmarks. presets: gpt2-small, llama-small, tiny-gpt2,\n"
    "tiny-llama; the other options adjust the preset whatever their order.\n";

// A usage error: the message and the usage on stderr, exit 2.
int usage(const char* message) {
  std::fprintf(stderr, "ringserve-make-model: %s\n%s", message, kUsage);
  return 2;
}

bool parse_int(const char* text, int64_t* out) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || v < 0) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using ringserve::model::RandomModelSpec;
  RandomModelSpec spec;
  std::string out;
  std::string tokenizer = "bytes";
  std::string corpus_path = "/usr/share/common-licenses/GPL-3";
  // --help anywhere wins, as it does for the other programs: the usage on stdout, exit 0.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  // A preset first, so the other options adjust it whatever their order.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--preset" &&
        !ringserve::model::random_model_preset(argv[i + 1], &spec)) {
      return usage((std::string("unknown preset '") + argv[i + 1] + "'").c_str());
    }
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--llama3-rope") {
      spec.llama3_rope_scaling = true;
      continue;
    }
    if (arg == "--untied") {
      spec.tie_embeddings = false;
      continue;
    }
    if (i + 1 >= argc) return usage((arg + " needs a value (or is unknown)").c_str());
    const char* value = argv[++i];
    int64_t n = 0;
    auto number = [&](int64_t* field) {
      if (!parse_int(value, &n)) return false;
      *field = n;
      return true;
    };
    bool ok = true;
    if (arg == "--out")
      out = value;
    else if (arg == "--preset")
      continue;
    else if (arg == "--tokenizer") {
      tokenizer = value;
      ok = tokenizer == "bytes" || tokenizer == "byte-level" || tokenizer == "metaspace";
    } else if (arg == "--corpus")
      corpus_path = value;
    else if (arg == "--type")
      spec.model_type = value;
    else if (arg == "--layers")
      ok = number(&spec.layers);
    else if (arg == "--hidden")
      ok = number(&spec.hidden);
    else if (arg == "--heads")
      ok = number(&spec.heads);
    else if (arg == "--kv-heads")
      ok = number(&spec.kv_heads);
    else if (arg == "--intermediate")
      ok = number(&spec.intermediate);
    else if (arg == "--vocab")
      ok = number(&spec.vocab);
    else if (arg == "--max-positions")
      ok = number(&spec.max_positions);
    else if (arg == "--rope-theta")
      spec.rope_theta = std::strtod(value, nullptr);
    else if (arg == "--seed")
      ok = parse_int(value, &n) && (spec.seed = static_cast<uint64_t>(n), true);
    else if (arg == "--shards")
      ok = parse_int(value, &n) && n >= 1 && (spec.shards = static_cast<int>(n), true);
    else if (arg == "--dtype") {
      const std::string d = value;
      if (d == "float32")
        spec.dtype = ringserve::model::DType::kF32;
      else if (d == "bfloat16")
        spec.dtype = ringserve::model::DType::kBF16;
      else if (d == "float16")
        spec.dtype = ringserve::model::DType::kF16;
      else
        ok = false;
    } else {
      return usage(("unknown option " + arg).c_str());
    }
    if (!ok) return usage(("bad value for " + arg + ": '" + value + "'").c_str());
  }
  if (out.empty()) return usage("--out DIR is required");
  std::string error;
  if (!ringserve::model::write_random_model(out, spec, &error)) {
    std::fprintf(stderr, "ringserve-make-model: %s\n", error.c_str());
    return 1;
  }
  if (tokenizer != "bytes") {
    std::string corpus;
    if (ringserve::model::read_file(corpus_path, &corpus) !=
        ringserve::model::ReadFileResult::kOk) {
      std::fprintf(stderr, "ringserve-make-model: cannot read corpus %s\n", corpus_path.c_str());
      return 1;
    }
    const std::string json = ringserve::model::train_bpe_tokenizer_json(
        tokenizer == "byte-level" ? ringserve::model::TokenizerKind::kByteLevel
                                  : ringserve::model::TokenizerKind::kMetaspace,
        corpus, static_cast<int32_t>(spec.vocab), &error);
    if (json.empty()) {
      std::fprintf(stderr, "ringserve-make-model: tokenizer: %s\n", error.c_str());
      return 1;
    }
    std::ofstream(out + "/tokenizer.json", std::ios::trunc) << json << "\n";
  }
  std::printf("%s: %s, %lld layers, hidden %lld, vocab %lld\n", out.c_str(),
              spec.model_type.c_str(), static_cast<long long>(spec.layers),
              static_cast<long long>(spec.hidden), static_cast<long long>(spec.vocab));
  return 0;
}
