#include "engine/model/model_config.h"

#include <optional>

#include <nlohmann/json.hpp>

#include "engine/model/read_file.h"

namespace ringserve::model {
namespace {

using nlohmann::json;

// Reads typed keys out of the config object; the first problem is kept with the key's name.
class Reader {
 public:
  Reader(const json& root, std::string name) : root_(root), name_(std::move(name)) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void fail(const std::string& key, const std::string& message) {
    if (error_.empty()) error_ = name_ + ": key '" + key + "': " + message;
  }
  bool has(const std::string& key) const { return root_.contains(key) && !root_.at(key).is_null(); }

  // A positive integer; `fallback` when absent (nullopt: required).
  int64_t positive(const std::string& key, std::optional<int64_t> fallback = std::nullopt) {
    if (!has(key)) {
      if (!fallback) fail(key, "missing (required for this architecture)");
      return fallback.value_or(0);
    }
    const json& v = root_.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (1ll << 31)) {
      fail(key, "must be a positive integer, got " + v.dump());
      return 0;
    }
    return v.get<int64_t>();
  }

  double positive_real(const std::string& key, double fallback) {
    if (!has(key)) return fallback;
    const json& v = root_.at(key);
    if (!v.is_number() || !(v.get<double>() > 0)) {
      fail(key, "must be a positive number, got " + v.dump());
      return fallback;
    }
    return v.get<double>();
  }

  bool boolean(const std::string& key, bool fallback) {
    if (!has(key)) return fallback;
    const json& v = root_.at(key);
    if (!v.is_boolean()) {
      fail(key, "must be true or false, got " + v.dump());
      return fallback;
    }
    return v.get<bool>();
  }

  std::string string(const std::string& key) {
    if (!has(key)) return {};
    const json& v = root_.at(key);
    if (!v.is_string()) {
      fail(key, "must be a string, got " + v.dump());
      return {};
    }
    return v.get<std::string>();
  }

  // An id or a list of ids (eos_token_id may be either).
  std::vector<int32_t> token_ids(const std::string& key) {
    std::vector<int32_t> ids;
    if (!has(key)) return ids;
    const json& v = root_.at(key);
    auto take = [&](const json& item) {
      if (!item.is_number_integer() || item.get<int64_t>() < 0 || item.get<int64_t>() > INT32_MAX) {
        fail(key, "must be a token id or a list of token ids, got " + v.dump());
        return;
      }
      ids.push_back(static_cast<int32_t>(item.get<int64_t>()));
    };
    if (v.is_array()) {
      for (const json& item : v) take(item);
    } else {
      take(v);
    }
    return ids;
  }

  const json& at(const std::string& key) const { return root_.at(key); }

 private:
  const json& root_;
  std::string name_;
  std::string error_;
};

bool parse_rope_scaling(Reader& r, ModelConfig* c) {
  if (!r.has("rope_scaling")) return true;
  const json& s = r.at("rope_scaling");
  if (!s.is_object()) {
    r.fail("rope_scaling", "must be an object or null");
    return false;
  }
  std::string type;
  if (s.contains("rope_type") && s["rope_type"].is_string()) type = s["rope_type"];
  if (type.empty() && s.contains("type") && s["type"].is_string()) type = s["type"];
  auto number = [&](const char* key, double fallback) {
    if (!s.contains(key) || s[key].is_null()) return fallback;
    if (!s[key].is_number() || !(s[key].get<double>() > 0)) {
      r.fail(std::string("rope_scaling.") + key, "must be a positive number");
      return fallback;
    }
    return s[key].get<double>();
  };
  RopeScaling& rs = c->rope_scaling;
  if (type == "default") return true;
  if (type == "linear") {
    rs.kind = RopeScaling::Kind::kLinear;
    rs.factor = number("factor", 1.0);
  } else if (type == "llama3") {
    rs.kind = RopeScaling::Kind::kLlama3;
    rs.factor = number("factor", 8.0);
    rs.low_freq_factor = number("low_freq_factor", 1.0);
    rs.high_freq_factor = number("high_freq_factor", 4.0);
    rs.original_max_position_embeddings =
        static_cast<int64_t>(number("original_max_position_embeddings", 8192));
    if (rs.high_freq_factor <= rs.low_freq_factor) {
      r.fail("rope_scaling.high_freq_factor", "must be larger than low_freq_factor");
    }
  } else {
    r.fail("rope_scaling",
           "rope type '" + type + "' is not supported (supported: default, linear, llama3)");
  }
  return r.ok();
}

void parse_gpt2(Reader& r, ModelConfig* c) {
  c->arch = Architecture::kGpt2;
  c->hidden_size = r.positive("n_embd");
  c->num_layers = r.positive("n_layer");
  c->num_heads = r.positive("n_head");
  c->num_kv_heads = c->num_heads;
  c->intermediate_size = r.positive("n_inner", 4 * c->hidden_size);
  c->max_position_embeddings = r.positive("n_positions", r.positive("n_ctx", 1024));
  c->norm_eps = r.positive_real("layer_norm_epsilon", 1e-5);
  c->tie_word_embeddings = r.boolean("tie_word_embeddings", true);
  c->attention_bias = true;
  const std::string act =
      r.has("activation_function") ? r.string("activation_function") : std::string("gelu_new");
  if (act != "gelu_new" && act != "gelu_pytorch_tanh") {
    r.fail("activation_function",
           "'" + act + "' is not supported (supported: gelu_new, gelu_pytorch_tanh)");
  }
  if (r.ok() && c->hidden_size % c->num_heads != 0) {
    r.fail("n_head", "n_embd (" + std::to_string(c->hidden_size) +
                         ") is not a multiple of n_head (" + std::to_string(c->num_heads) + ")");
  }
  c->head_dim = c->num_heads > 0 ? c->hidden_size / c->num_heads : 0;
}

void parse_llama(Reader& r, ModelConfig* c) {
  c->arch = Architecture::kLlama;
  c->hidden_size = r.positive("hidden_size");
  c->intermediate_size = r.positive("intermediate_size");
  c->num_layers = r.positive("num_hidden_layers");
  c->num_heads = r.positive("num_attention_heads");
  c->num_kv_heads = r.positive("num_key_value_heads", c->num_heads);
  c->max_position_embeddings = r.positive("max_position_embeddings", 2048);
  c->norm_eps = r.positive_real("rms_norm_eps", 1e-6);
  c->rope_theta = r.positive_real("rope_theta", 10000.0);
  c->tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  c->attention_bias = r.boolean("attention_bias", c->model_type == "qwen2");
  const std::string act = r.has("hidden_act") ? r.string("hidden_act") : std::string("silu");
  if (act != "silu") r.fail("hidden_act", "'" + act + "' is not supported (supported: silu)");
  if (!r.ok()) return;
  if (c->num_heads % c->num_kv_heads != 0) {
    r.fail("num_key_value_heads", "num_attention_heads (" + std::to_string(c->num_heads) +
                                      ") is not a multiple of it (" +
                                      std::to_string(c->num_kv_heads) + ")");
    return;
  }
  if (r.has("head_dim")) {
    c->head_dim = r.positive("head_dim");
  } else if (c->hidden_size % c->num_heads != 0) {
    r.fail("num_attention_heads", "hidden_size is not a multiple of it and head_dim is absent");
    return;
  } else {
    c->head_dim = c->hidden_size / c->num_heads;
  }
  if (c->head_dim % 2 != 0) r.fail("head_dim", "must be even for rotary embeddings");
  parse_rope_scaling(r, c);
}

}  // namespace

const char* architecture_name(Architecture arch) {
  return arch == Architecture::kGpt2 ? "gpt2" : "llama";
}

bool ModelConfig::parse(const std::string& json_text, const std::string& name_for_errors,
                        ModelConfig* out, std::string* error) {
  json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    *error = name_for_errors + ": not a JSON object";
    return false;
  }
  Reader r(root, name_for_errors);
  ModelConfig c;
  c.model_type = r.string("model_type");
  if (c.model_type.empty() && r.has("architectures") && r.at("architectures").is_array() &&
      !r.at("architectures").empty() && r.at("architectures")[0].is_string()) {
    const std::string a = r.at("architectures")[0];
    if (a == "GPT2LMHeadModel") c.model_type = "gpt2";
    if (a == "LlamaForCausalLM") c.model_type = "llama";
    if (a == "MistralForCausalLM") c.model_type = "mistral";
    if (a == "Qwen2ForCausalLM") c.model_type = "qwen2";
  }
  if (c.model_type == "gpt2") {
    parse_gpt2(r, &c);
  } else if (c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2") {
    parse_llama(r, &c);
    // Sliding-window attention only differs from full attention past the window; the engine
    // caps the context at the window instead of implementing it.
    if (r.has("sliding_window") && r.at("sliding_window").is_number_integer() &&
        (c.model_type == "mistral" || r.boolean("use_sliding_window", false))) {
      c.max_position_embeddings = std::min(c.max_position_embeddings, r.positive("sliding_window"));
    }
  } else {
    r.fail("model_type", c.model_type.empty()
                             ? std::string("missing, and architectures names no known model")
                             : "'" + c.model_type +
                                   "' is not supported (supported: gpt2, llama, mistral, qwen2)");
  }
  if (r.ok()) c.vocab_size = r.positive("vocab_size");
  if (r.ok()) {
    c.eos_token_ids = r.token_ids("eos_token_id");
    const std::vector<int32_t> bos = r.token_ids("bos_token_id");
    c.bos_token_id = bos.empty() ? -1 : bos.front();
    c.torch_dtype = r.string("torch_dtype");
    for (int32_t id : c.eos_token_ids) {
      if (id >= c.vocab_size)
        r.fail("eos_token_id", "id " + std::to_string(id) + " is not below vocab_size");
    }
  }
  if (!r.ok()) {
    *error = r.error();
    return false;
  }
  *out = std::move(c);
  return true;
}

bool ModelConfig::load(const std::string& model_dir, ModelConfig* out, std::string* error) {
  const std::string path = model_dir + "/config.json";
  std::string text;
  if (read_file(path, &text) != ReadFileResult::kOk) {
    *error = path + ": cannot be read (is '" + model_dir + "' a model directory?)";
    return false;
  }
  return parse(text, path, out, error);
}

}  // namespace ringserve::model
