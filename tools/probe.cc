// ringserve-probe: loads a model directory with the daemon's engine and dumps its logits for
// a prompt: after prefill, then after each of N greedy decode steps. The parity test compares
// them with an independent Python reference (tools/model_parity.py).
//   ringserve-probe --model DIR --tokens "1 2 3" [--decode N] [--out FILE.json]
//     [--dtype float32] [--threads N] [--chunk N]
// --chunk N prefills the prompt N tokens at a time (exercises chunked prefill).
// Output JSON: {"tokens": [prompt..., generated...], "prompt_len": P, "logits": [[...], ...]}.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"

namespace {
int fail(const std::string& message) {
  std::fprintf(stderr, "ringserve-probe: %s\n", message.c_str());
  return 1;
}
}  // namespace

int probe_main(int argc, char** argv) {
  using namespace ringserve::model;
  std::string dir, tokens_text, out_path;
  int decode = 0;
  int64_t chunk = 0;
  EngineOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    const std::string value = argv[i + 1];
    if (arg == "--model")
      dir = value;
    else if (arg == "--tokens")
      tokens_text = value;
    else if (arg == "--decode")
      decode = std::stoi(value);
    else if (arg == "--out")
      out_path = value;
    else if (arg == "--dtype")
      options.dtype = value;
    else if (arg == "--device")
      options.device = value;
    else if (arg == "--threads")
      options.threads = std::stoi(value);
    else if (arg == "--chunk")
      chunk = std::stoll(value);
    else
      return fail("unknown option " + arg);
  }
  if (dir.empty() || tokens_text.empty()) return fail("usage: --model DIR --tokens \"1 2 3\"");
  std::vector<int32_t> tokens;
  std::istringstream in(tokens_text);
  for (int32_t t; in >> t;) tokens.push_back(t);

  ModelConfig config;
  std::unique_ptr<ModelWeights> weights;
  std::unique_ptr<Engine> engine;
  std::string error;
  if (!ModelConfig::load(dir, &config, &error) ||
      !ModelWeights::open(dir, config, &weights, &error)) {
    return fail(error);
  }
  options.max_sequences = 1;
  options.max_seq_len = static_cast<int64_t>(tokens.size()) + decode;
  if (!Engine::create(config, *weights, options, &engine, &error)) return fail(error);
  for (int32_t t : tokens) {
    if (t < 0 || t >= config.vocab_size) return fail("token id out of range: " + std::to_string(t));
  }

  const size_t prompt_len = tokens.size();
  nlohmann::json rows = nlohmann::json::array();
  std::vector<float> logits;
  size_t done = 0;
  const size_t step = chunk > 0 ? static_cast<size_t>(chunk) : prompt_len;
  while (done < prompt_len) {
    const size_t n = std::min(step, prompt_len - done);
    EngineInput input{0, static_cast<int32_t>(done), {tokens.data() + done, n}};
    engine->forward({&input, 1}, &logits);
    done += n;
  }
  for (int j = 0;; ++j) {
    rows.push_back(logits);
    if (j == decode) break;
    const auto next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    tokens.push_back(next);
    EngineInput input{0, static_cast<int32_t>(tokens.size() - 1), {&tokens.back(), 1}};
    engine->forward({&input, 1}, &logits);
  }
  nlohmann::json result = {{"tokens", tokens}, {"prompt_len", prompt_len}, {"logits", rows}};
  if (out_path.empty()) {
    std::cout << result.dump() << "\n";
  } else {
    std::ofstream(out_path) << result.dump() << "\n";
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return probe_main(argc, argv);
  } catch (const std::exception& e) {  // e.g. a malformed number for --decode
    return fail(e.what());
  }
}
