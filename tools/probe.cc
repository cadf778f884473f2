// ringserve-probe: loads a model directory with the daemon's engine and dumps its logits for
// a prompt: after prefill, then after each of N greedy decode steps. The parity test compares
// them with an independent Python reference (tools/model_parity.py).
//   ringserve-probe --model DIR --tokens "1 2 3" [--decode N] [--out FILE.json]
//     [--dtype float32|bfloat16|float16|int8|int4] [--threads N] [--chunk N]
// --chunk N prefills the prompt N tokens at a time (exercises chunked prefill).
// Output JSON: {"tokens": [prompt..., generated...], "prompt_len": P, "logits": [[...], ...]}.
//
// Several prompts separated by ';' ("1 2 3; 4 5") run each alone (one sequence per forward),
// then all together in one batch, as the daemon's continuous batching runs them: one forward per
// step, in which each sequence feeds its next prompt chunk or its last greedy token, so with
// prompts of different lengths and --chunk, prefills and decodes share a step. The output is
// {"alone": [R, ...], "batched": [R, ...]}, R the single prompt's object above, so a caller can
// check that batching changes no sequence's tokens.
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

using ringserve::model::Engine;
using ringserve::model::EngineInput;

int fail(const std::string& message) {
  std::fprintf(stderr, "ringserve-probe: %s\n", message.c_str());
  return 1;
}

// One sequence's run: its tokens (the prompt, then what greedy decoding appends), how many of
// them are in its cache row, and the logits rows recorded so far.
struct Sequence {
  int32_t slot = 0;
  std::vector<int32_t> tokens;
  size_t prompt_len = 0;
  size_t fed = 0;
  nlohmann::json rows = nlohmann::json::array();

  nlohmann::json result() const {
    return {{"tokens", tokens}, {"prompt_len", prompt_len}, {"logits", rows}};
  }
};

// Runs `sequences` together until each has its prefill row and `decode` decode rows. A row is
// recorded when a forward has fed all of a sequence's tokens (the prompt's last chunk, or the
// token generated from its previous row), and its argmax becomes the next token.
void run(Engine& engine, std::vector<Sequence>& sequences, size_t chunk, int decode) {
  const auto rows_wanted = static_cast<size_t>(decode) + 1;
  std::vector<float> logits;
  for (;;) {
    std::vector<EngineInput> inputs;
    std::vector<Sequence*> fed;
    for (Sequence& s : sequences) {
      if (s.rows.size() == rows_wanted) continue;
      const size_t left = s.tokens.size() - s.fed;
      const size_t n = s.fed < s.prompt_len && chunk > 0 ? std::min(chunk, left) : left;
      inputs.push_back(
          {engine.slot_blocks(s.slot), static_cast<int32_t>(s.fed), {s.tokens.data() + s.fed, n}});
      fed.push_back(&s);
    }
    if (inputs.empty()) return;
    engine.forward(inputs, &logits);
    const auto vocab = static_cast<size_t>(engine.vocab_size());
    for (size_t i = 0; i < fed.size(); ++i) {
      Sequence& s = *fed[i];
      s.fed += inputs[i].tokens.size();
      if (s.fed < s.tokens.size()) continue;  // more of the prompt to come
      const auto row = logits.begin() + static_cast<std::ptrdiff_t>(i * vocab);
      s.rows.push_back(std::vector<float>(row, row + static_cast<std::ptrdiff_t>(vocab)));
      if (s.rows.size() < rows_wanted) {
        s.tokens.push_back(static_cast<int32_t>(
            std::max_element(row, row + static_cast<std::ptrdiff_t>(vocab)) - row));
      }
    }
  }
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
  if (decode < 0 || chunk < 0) return fail("--decode and --chunk must be >= 0");
  std::vector<std::vector<int32_t>> prompts;
  std::istringstream prompts_in(tokens_text);
  for (std::string text; std::getline(prompts_in, text, ';');) {
    std::istringstream in(text);
    std::vector<int32_t>& prompt = prompts.emplace_back();
    for (int32_t t; in >> t;) prompt.push_back(t);
    if (prompt.empty()) return fail("an empty prompt in --tokens");
  }
  if (prompts.empty()) return fail("no prompt in --tokens");

  ModelConfig config;
  std::unique_ptr<ModelWeights> weights;
  std::unique_ptr<Engine> engine;
  std::string error;
  if (!ModelConfig::load(dir, &config, &error) ||
      !ModelWeights::open(dir, config, &weights, &error)) {
    return fail(error);
  }
  size_t longest = 0;
  for (const std::vector<int32_t>& prompt : prompts) {
    longest = std::max(longest, prompt.size());
    for (int32_t t : prompt) {
      if (t < 0 || t >= config.vocab_size) {
        return fail("token id out of range: " + std::to_string(t));
      }
    }
  }
  options.max_sequences = static_cast<int64_t>(prompts.size());
  options.max_seq_len = static_cast<int64_t>(longest) + decode;
  if (!Engine::create(config, *weights, options, &engine, &error)) return fail(error);

  // Sequence i keeps cache row i in both runs; the batched run overwrites the rows the alone
  // runs filled, position by position, before any forward reads them.
  const auto make_sequence = [&](size_t i) {
    Sequence s;
    s.slot = static_cast<int32_t>(i);
    s.tokens = prompts[i];
    s.prompt_len = prompts[i].size();
    return s;
  };
  nlohmann::json alone = nlohmann::json::array();
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<Sequence> one{make_sequence(i)};
    run(*engine, one, static_cast<size_t>(chunk), decode);
    alone.push_back(one[0].result());
  }
  nlohmann::json result;
  if (prompts.size() == 1) {
    result = alone[0];
  } else {
    std::vector<Sequence> all;
    for (size_t i = 0; i < prompts.size(); ++i) all.push_back(make_sequence(i));
    run(*engine, all, static_cast<size_t>(chunk), decode);
    nlohmann::json batched = nlohmann::json::array();
    for (const Sequence& s : all) batched.push_back(s.result());
    result = {{"alone", alone}, {"batched", batched}};
  }
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
