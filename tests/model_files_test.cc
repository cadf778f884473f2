// Model directories: config.json parsing, weight checks against the config, sharded indexes,
// and the exact one-line errors a bad directory gives.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"
#include "tools/model_making/random_model.h"
#include "tools/model_making/safetensors_writer.h"

namespace ringserve::model {
namespace {

namespace fs = std::filesystem;

class ModelDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("ringserve-model-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name, std::ios::trunc) << text;
  }
  std::string read(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  // Loads config and weights; returns the error ("" on success).
  std::string open_error() {
    ModelConfig config;
    std::unique_ptr<ModelWeights> weights;
    std::string error;
    if (!ModelConfig::load(dir_, &config, &error)) return error;
    if (!ModelWeights::open(dir_, config, &weights, &error)) return error;
    return "";
  }
  std::string dir_;
};

TEST(ModelConfigTest, ParsesGpt2Keys) {
  ModelConfig c;
  std::string error;
  ASSERT_TRUE(ModelConfig::parse(
      R"({"model_type":"gpt2","n_embd":768,"n_layer":12,"n_head":12,"n_positions":1024,
          "vocab_size":50257,"eos_token_id":50256,"bos_token_id":50256})",
      "c.json", &c, &error))
      << error;
  EXPECT_EQ(c.arch, Architecture::kGpt2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.intermediate_size, 3072);  // n_inner absent: 4 x n_embd
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.eos_token_ids, std::vector<int32_t>{50256});
}

TEST(ModelConfigTest, ParsesLlama3WithGqaAndRopeScaling) {
  ModelConfig c;
  std::string error;
  ASSERT_TRUE(ModelConfig::parse(
      R"({"architectures":["LlamaForCausalLM"],"hidden_size":2048,"intermediate_size":8192,
          "num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,
          "max_position_embeddings":131072,"rms_norm_eps":1e-5,"rope_theta":500000.0,
          "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
          "original_max_position_embeddings":8192,"rope_type":"llama3"},
          "vocab_size":128256,"tie_word_embeddings":true,"eos_token_id":[128001,128008,128009],
          "bos_token_id":128000})",
      "c.json", &c, &error))
      << error;
  EXPECT_EQ(c.arch, Architecture::kLlama);
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.rope_scaling.kind, RopeScaling::Kind::kLlama3);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.eos_token_ids.size(), 3u);
  EXPECT_FALSE(c.attention_bias);
}

TEST(ModelConfigTest, Qwen2HasAttentionBiasAndMistralWindowCapsContext) {
  ModelConfig c;
  std::string error;
  const std::string base =
      R"("hidden_size":64,"intermediate_size":128,"num_hidden_layers":1,"num_attention_heads":4,
         "max_position_embeddings":32768,"vocab_size":300)";
  ASSERT_TRUE(ModelConfig::parse(R"({"model_type":"qwen2",)" + base + "}", "c", &c, &error));
  EXPECT_TRUE(c.attention_bias);
  ASSERT_TRUE(ModelConfig::parse(R"({"model_type":"mistral","sliding_window":4096,)" + base + "}",
                                 "c", &c, &error));
  EXPECT_EQ(c.max_position_embeddings, 4096);
}

TEST(ModelConfigTest, ErrorsNameFileAndKey) {
  ModelConfig c;
  std::string error;
  EXPECT_FALSE(
      ModelConfig::parse(R"({"model_type":"bert","vocab_size":5})", "d/config.json", &c, &error));
  EXPECT_EQ(error,
            "d/config.json: key 'model_type': 'bert' is not supported (supported: gpt2, llama, "
            "mistral, qwen2)");
  EXPECT_FALSE(ModelConfig::parse(R"({"model_type":"llama","hidden_size":64})", "d/config.json", &c,
                                  &error));
  EXPECT_EQ(error,
            "d/config.json: key 'intermediate_size': missing (required for this architecture)");
  EXPECT_FALSE(ModelConfig::parse(
      R"({"model_type":"llama","hidden_size":64,"intermediate_size":8,"num_hidden_layers":1,
          "num_attention_heads":4,"num_key_value_heads":3,"vocab_size":9})",
      "d/config.json", &c, &error));
  EXPECT_NE(error.find("key 'num_key_value_heads'"), std::string::npos) << error;
  EXPECT_FALSE(ModelConfig::parse(R"({"model_type":"gpt2","n_embd":-4})", "x", &c, &error));
  EXPECT_EQ(error, "x: key 'n_embd': must be a positive integer, got -4");
  EXPECT_FALSE(ModelConfig::parse("{not json", "x", &c, &error));
  EXPECT_EQ(error, "x: not a JSON object");
  EXPECT_FALSE(ModelConfig::parse(
      R"({"model_type":"llama","hidden_size":64,"intermediate_size":8,"num_hidden_layers":1,
          "num_attention_heads":4,"vocab_size":9,"rope_scaling":{"rope_type":"yarn"}})",
      "x", &c, &error));
  EXPECT_NE(error.find("rope type 'yarn' is not supported"), std::string::npos) << error;
}

TEST_F(ModelDir, RandomModelsOfEveryFamilyLoad) {
  for (const char* type : {"gpt2", "llama", "mistral", "qwen2"}) {
    RandomModelSpec spec;
    spec.model_type = type;
    spec.vocab = 300;
    std::string error;
    ASSERT_TRUE(write_random_model(dir_, spec, &error)) << error;
    EXPECT_EQ(open_error(), "") << type;
    fs::remove_all(dir_);
  }
}

TEST_F(ModelDir, ShardedIndexLoadsAndNamesMissingShardTensor) {
  RandomModelSpec spec;
  spec.shards = 3;
  spec.vocab = 300;
  std::string error;
  ASSERT_TRUE(write_random_model(dir_, spec, &error)) << error;
  ASSERT_TRUE(fs::exists(dir_ + "/model-00003-of-00003.safetensors"));
  EXPECT_EQ(open_error(), "");

  std::string index = read("model.safetensors.index.json");
  const std::string entry = "\"model.norm.weight\": \"";
  const size_t at = index.find(entry);
  ASSERT_NE(at, std::string::npos);
  const size_t file_at = at + entry.size();
  const std::string file = index.substr(file_at, index.find('"', file_at) - file_at);
  index.replace(file_at, file.size(),
                file == "model-00001-of-00003.safetensors" ? "model-00002-of-00003.safetensors"
                                                           : "model-00001-of-00003.safetensors");
  write("model.safetensors.index.json", index);
  EXPECT_NE(open_error().find("tensor 'model.norm.weight' is listed in"), std::string::npos)
      << open_error();
}

TEST_F(ModelDir, MissingFilesAreNamed) {
  fs::create_directories(dir_);
  EXPECT_EQ(open_error(),
            dir_ + "/config.json: cannot be read (is '" + dir_ + "' a model directory?)");
  RandomModelSpec spec;
  spec.vocab = 300;
  std::string error;
  ASSERT_TRUE(write_random_model(dir_, spec, &error)) << error;
  fs::remove(dir_ + "/model.safetensors");
  EXPECT_EQ(open_error(), dir_ + ": no model.safetensors or model.safetensors.index.json");
}

TEST_F(ModelDir, TruncatedWeightsAreRefused) {
  RandomModelSpec spec;
  spec.vocab = 300;
  std::string error;
  ASSERT_TRUE(write_random_model(dir_, spec, &error)) << error;
  const std::string path = dir_ + "/model.safetensors";
  fs::resize_file(path, fs::file_size(path) - 100);
  const std::string e = open_error();
  EXPECT_EQ(e.rfind(path + ": tensor '", 0), 0u) << e;
}

TEST_F(ModelDir, ShapeMismatchNamesTensorAndBothShapes) {
  RandomModelSpec spec;
  spec.vocab = 300;
  std::string error;
  ASSERT_TRUE(write_random_model(dir_, spec, &error)) << error;
  std::string config = read("config.json");
  const size_t at = config.find("\"intermediate_size\": 192");
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, 24, "\"intermediate_size\": 96");
  write("config.json", config);
  EXPECT_EQ(open_error(), dir_ +
                              ": tensor 'model.layers.0.mlp.gate_proj.weight' has shape "
                              "[192, 64] but config.json implies [96, 64]");
}

TEST_F(ModelDir, UnsupportedDtypeAndMissingTensorAreNamed) {
  RandomModelSpec spec;
  spec.vocab = 300;
  spec.tie_embeddings = false;
  std::string error;
  ASSERT_TRUE(write_random_model(dir_, spec, &error)) << error;
  std::string config = read("config.json");
  config.replace(config.find("\"tie_word_embeddings\": false"), 28,
                 "\"tie_word_embeddings\": true");
  write("config.json", config);
  EXPECT_EQ(open_error(), "");  // lm_head present but tied: allowed, it is used
  config = read("config.json");
  config.replace(config.find("\"num_hidden_layers\": 2"), 22, "\"num_hidden_layers\": 3");
  write("config.json", config);
  EXPECT_EQ(open_error(), dir_ +
                              ": tensor 'model.layers.2.input_layernorm.weight' is missing "
                              "(llama with 3 layers needs it)");
}

TEST_F(ModelDir, IntegerWeightsAreRefusedByDtype) {
  RandomModelSpec spec;
  spec.vocab = 300;
  std::string error;
  ASSERT_TRUE(write_random_model(dir_, spec, &error)) << error;
  std::vector<TensorToWrite> tensors;
  {
    std::unique_ptr<SafetensorsFile> file;
    ASSERT_TRUE(SafetensorsFile::open(dir_ + "/model.safetensors", &file, &error)) << error;
    for (const auto& [name, info] : file->tensors()) {
      const DType dtype = name == "model.norm.weight" ? DType::kI32 : info.dtype;
      tensors.push_back(
          {name, dtype, info.shape, std::string(static_cast<const char*>(info.data), info.bytes)});
    }
  }
  ASSERT_TRUE(write_safetensors(dir_ + "/model.safetensors", tensors, &error)) << error;
  EXPECT_EQ(open_error(), dir_ +
                              ": tensor 'model.norm.weight' has dtype I32 (supported: F32, "
                              "F16, BF16)");
}

TEST(HalfPrecision, ConversionsRoundToNearest) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(float_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(float_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(float_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_f16(1e9f), 0x7C00);
  EXPECT_EQ(float_to_f16(5.960464477539063e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_f16(0.0f), 0x0000);
}

}  // namespace
}  // namespace ringserve::model
