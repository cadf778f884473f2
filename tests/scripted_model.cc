#include "tests/scripted_model.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"
#include "tools/model_making/random_model.h"
#include "tools/model_making/safetensors_writer.h"

namespace ringserve::testing {
namespace {

constexpr int64_t kHidden = 64;
constexpr int64_t kVocab = 259;

std::string floats(const std::vector<float>& v) {
  std::string bytes(v.size() * 4, '\0');
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

}  // namespace

std::vector<int32_t> byte_tokens(const std::string& text) {
  std::vector<int32_t> ids;
  for (unsigned char c : text) ids.push_back(3 + c);
  return ids;
}

bool write_scripted_model(const std::string& dir, const std::vector<int32_t>& script,
                          std::string* error) {
  if (static_cast<int64_t>(script.size()) >= kHidden) {
    *error = "script longer than the hidden size";
    return false;
  }
  std::filesystem::create_directories(dir);
  const std::string config =
      R"({"architectures":["GPT2LMHeadModel"],"model_type":"gpt2","n_embd":64,"n_layer":1,)"
      R"("n_head":4,"n_positions":64,"vocab_size":259,"bos_token_id":1,"eos_token_id":2,)"
      R"("tie_word_embeddings":false,"layer_norm_epsilon":1e-5})";
  std::ofstream(dir + "/config.json") << config << "\n";
  std::ofstream(dir + "/tokenizer.json") << model::byte_tokenizer_json() << "\n";

  model::ModelConfig parsed;
  if (!model::ModelConfig::parse(config, "scripted config.json", &parsed, error)) return false;
  std::vector<model::TensorToWrite> tensors;
  for (const model::WeightSpec& w : model::expected_weights(parsed)) {
    int64_t count = 1;
    for (int64_t d : w.shape) count *= d;
    std::vector<float> values(static_cast<size_t>(count), 0.0f);
    if (w.name == "wpe.weight") {
      for (int64_t p = 0; p < kHidden; ++p) values[static_cast<size_t>(p * kHidden + p)] = 10.0f;
    } else if (w.name == "lm_head.weight") {
      for (size_t p = 0; p < script.size(); ++p) {
        values[static_cast<size_t>(script[p] * kHidden) + p] = 1.0f;
      }
    } else if (w.name.ends_with("ln_1.weight") || w.name.ends_with("ln_2.weight") ||
               w.name == "ln_f.weight") {
      std::fill(values.begin(), values.end(), 1.0f);
    }
    tensors.push_back({w.name, model::DType::kF32, w.shape, floats(values)});
  }
  static_assert(kVocab == 259);
  return model::write_safetensors(dir + "/model.safetensors", tensors, error);
}

}  // namespace ringserve::testing
