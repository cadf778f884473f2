#include "daemon/model_backend.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "daemon/process_memory.h"
#include "engine/engine.h"
#include "engine/model/model_config.h"
#include "engine/model/model_weights.h"
#include "engine/model/read_file.h"
#include "engine/sampler.h"
#include "engine/text/chat_template.h"
#include "engine/text/prompt_special_tokens.h"
#include "engine/text/stop_strings.h"
#include "engine/text/tokenizer.h"
#include "engine/text/utf8_stream.h"

namespace ringserve::daemon {
namespace {

// An optional JSON file of the model directory; null when absent or malformed.
nlohmann::json read_json(const std::string& path) {
  std::string text;
  if (model::read_file(path, &text) != model::ReadFileResult::kOk) return nullptr;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

// "auto": recognizes the chat template family by the markers its Jinja template emits.
std::string detect_chat_template(const std::string& model_dir) {
  const nlohmann::json config = read_json(model_dir + "/tokenizer_config.json");
  if (!config.is_object() || !config.contains("chat_template")) return "plain";
  std::string tpl;
  const nlohmann::json& t = config["chat_template"];
  if (t.is_string()) tpl = t.get<std::string>();
  if (t.is_array()) {  // named templates: use "default"
    for (const auto& entry : t) {
      if (entry.is_object() && entry.value("name", "") == "default") {
        tpl = entry.value("template", "");
      }
    }
  }
  return std::string(model::chat_template_for_jinja(tpl));
}

// EOS ids: config.json's, generation_config.json's, and the end-of-turn token of the template.
std::vector<int32_t> stop_ids(const model::ModelConfig& config, const std::string& model_dir,
                              const model::Tokenizer& tokenizer, const std::string& tpl) {
  std::vector<int32_t> ids = config.eos_token_ids;
  const nlohmann::json gen = read_json(model_dir + "/generation_config.json");
  if (gen.is_object() && gen.contains("eos_token_id")) {
    const nlohmann::json& e = gen["eos_token_id"];
    if (e.is_number_integer()) ids.push_back(e.get<int32_t>());
    if (e.is_array()) {
      for (const auto& v : e) {
        if (v.is_number_integer()) ids.push_back(v.get<int32_t>());
      }
    }
  }
  const char* turn_end = tpl == "chatml" ? "<|im_end|>" : tpl == "llama3" ? "<|eot_id|>" : nullptr;
  if (turn_end != nullptr) {
    if (auto id = tokenizer.find(turn_end)) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace

struct ModelBackend::State final : SequenceState {
  State(const model::SamplingParams& p, model::StopStringMatcher stops)
      : sampler(p), stop_strings(std::move(stops)) {}
  std::vector<int32_t> tokens;  // prompt, then generated
  size_t prompt_length = 0;
  size_t cached = 0;  // tokens whose keys/values are in the cache
  // The block table: blocks[i] holds positions [16 i, 16 i + 16).
  std::vector<int32_t> blocks;
  size_t published = 0;  // leading blocks indexed (by this sequence or found so)
  uint64_t prefix = KvBlockPool::kRootPrefix;  // prefix id after them
  uint64_t start_order = 0;                    // age among live_
  bool live = false;                           // started: in live_
  bool parked = false;       // preempted: holds no blocks, recomputed when they fit
  bool recomputing = false;  // was preempted: its cache hits are not the prompt's
  model::Sampler sampler;
  model::Utf8Stream utf8;
  model::StopStringMatcher stop_strings;
};

ModelBackend::~ModelBackend() = default;

bool ModelBackend::create(const ModelBackendOptions& options, std::unique_ptr<ModelBackend>* out,
                          std::string* error) {
  std::unique_ptr<ModelBackend> b(new ModelBackend());
  b->options_ = options;
  const std::string& dir = options.model_dir;
  model::ModelConfig config;
  std::unique_ptr<model::ModelWeights> weights;
  if (!model::ModelConfig::load(dir, &config, error) ||
      !model::ModelWeights::open(dir, config, &weights, error) ||
      !model::Tokenizer::load(dir + "/tokenizer.json", &b->tokenizer_, error)) {
    return false;
  }
  if (!model::PromptSpecialTokens::load(dir, *b->tokenizer_, &b->special_tokens_, error)) {
    return false;
  }
  if (b->tokenizer_->vocab_size() > config.vocab_size) {
    *error = dir + "/tokenizer.json: " + std::to_string(b->tokenizer_->vocab_size()) +
             " tokens, more than the model's vocab_size " + std::to_string(config.vocab_size);
    return false;
  }
  model::EngineOptions eo;
  eo.device = options.device;
  eo.dtype = options.dtype;
  eo.threads = options.threads > 0
                   ? options.threads
                   : static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  eo.max_sequences = options.max_sequences;
  eo.max_seq_len = options.max_seq_len;
  if (options.kv_cache_bytes > 0) {
    // Bytes per block: keys and values of every layer's kv heads, float32 on the CPU (on CUDA
    // in the 16-bit formats' own dtype).
    const bool half =
        options.device != "cpu" && (options.dtype == "bfloat16" || options.dtype == "float16");
    const auto block_bytes = static_cast<uint64_t>(2 * config.num_layers * config.num_kv_heads *
                                                   config.head_dim * model::kKvBlockPositions) *
                             (half ? 2 : 4);
    eo.kv_blocks = static_cast<int64_t>(options.kv_cache_bytes / block_bytes);
    if (eo.kv_blocks == 0) {
      *error = "model.kv_cache_mb: " + std::to_string(options.kv_cache_bytes >> 20) +
               " MiB holds no block of " + std::to_string(model::kKvBlockPositions) +
               " positions (" + format_mib(block_bytes) + " each with this model)";
      return false;
    }
  }
  if (!model::Engine::create(config, *weights, eo, &b->engine_, error)) {
    if (options.kv_cache_bytes > 0 && error->starts_with("a KV cache of")) {
      *error = "model.kv_cache_mb: " + *error;
    }
    return false;
  }
  b->pool_ = std::make_unique<KvBlockPool>(static_cast<int32_t>(b->engine_->kv_blocks()),
                                           static_cast<int32_t>(model::kKvBlockPositions),
                                           options.prefix_cache);
  b->chat_template_ =
      options.chat_template == "auto" ? detect_chat_template(dir) : options.chat_template;
  b->eos_ids_ = stop_ids(config, dir, *b->tokenizer_, b->chat_template_);
  *out = std::move(b);
  return true;
}

std::string ModelBackend::describe() const {
  const model::ModelConfig& c = engine_->config();
  std::ostringstream s;
  s << options_.model_dir << ": " << c.model_type << ", " << c.num_layers << " layers, hidden "
    << c.hidden_size << ", " << c.num_heads << " heads (" << c.num_kv_heads << " kv), vocab "
    << c.vocab_size << "; " << engine_->device_name() << " " << engine_->dtype_name() << ", "
    << engine_->threads() << " threads, " << engine_->products_name() << "; weights "
    << format_mib(engine_->weight_bytes()) << ", KV cache " << format_mib(engine_->kv_cache_bytes())
    << " (" << engine_->kv_blocks() << " blocks of " << model::kKvBlockPositions
    << " positions: " << engine_->kv_blocks() / engine_->blocks_per_sequence()
    << " whole contexts of " << engine_->max_seq_len() << "; prefix cache "
    << (options_.prefix_cache ? "on" : "off") << "), resident " << format_mib(resident_bytes())
    << "; chat template " << chat_template_;
  return s.str();
}

ModelDescription ModelBackend::model() const {
  ModelDescription d;
  d.path = options_.model_name.empty() ? options_.model_dir : options_.model_name;
  d.architecture = engine_->config().model_type;
  d.format = engine_->dtype_name();
  d.device = engine_->device_name();
  d.context_length = static_cast<uint64_t>(std::max<int64_t>(engine_->max_seq_len(), 0));
  d.weight_bytes = engine_->weight_bytes();
  d.kv_cache_bytes = engine_->kv_cache_bytes();
  return d;
}

shm::RequestError ModelBackend::prepare(Sequence& seq, std::string* message) {
  std::vector<int32_t> tokens;
  if (const shm::RequestError e = encode_prompt(seq, /*add_special=*/true, &tokens, message);
      e != shm::RequestError::kNone) {
    return e;
  }
  if (tokens.empty()) {
    *message = "prompt has no tokens";
    return shm::RequestError::kEmptyPrompt;
  }
  if (static_cast<int64_t>(tokens.size()) >= engine_->max_seq_len()) {
    *message = "prompt is " + std::to_string(tokens.size()) + " tokens; the context holds " +
               std::to_string(engine_->max_seq_len()) + " (prompt and output)";
    return shm::RequestError::kPromptTooLong;
  }
  const shm::GenerationParams& p = seq.params;
  model::SamplingParams sp;
  sp.temperature = p.temperature;
  sp.top_k = p.top_k;
  sp.top_p = p.top_p;
  sp.min_p = p.min_p;
  sp.repetition_penalty = p.repetition_penalty;
  // Seed 0 asks for a fresh random sample; any other seed reproduces its output.
  sp.seed = p.seed != 0 ? p.seed : std::random_device{}() ^ (seq.request_id << 32);
  std::optional<model::StopStringMatcher> stops =
      model::StopStringMatcher::create(seq.stop_strings, message);
  if (!stops) return shm::RequestError::kInvalidParams;  // intake checked them already
  auto state = std::make_unique<State>(sp, std::move(*stops));
  state->prompt_length = tokens.size();
  state->tokens = std::move(tokens);
  seq.prompt_token_count = state->prompt_length;
  seq.backend_state = std::move(state);
  return shm::RequestError::kNone;
}

ModelBackend::BlockPlan ModelBackend::plan_blocks(const State& state) const {
  const auto bp = static_cast<size_t>(pool_->block_positions());
  BlockPlan plan;
  // All but the last token at most: that one is computed for its logits.
  const auto most = static_cast<int32_t>((state.tokens.size() - 1) / bp);
  plan.prefix = pool_->match(KvBlockPool::kRootPrefix, state.tokens, most, &plan.hit);
  plan.fresh = (state.tokens.size() + bp - 1) / bp - plan.hit.size();
  plan.fits =
      static_cast<int64_t>(plan.fresh) <= pool_->available() - pool_->cached_among(plan.hit);
  return plan;
}

bool ModelBackend::take_blocks(State& state) {
  BlockPlan plan = plan_blocks(state);
  if (!plan.fits) return false;
  for (const int32_t b : plan.hit) pool_->acquire(b);
  state.cached = plan.hit.size() * static_cast<size_t>(pool_->block_positions());
  state.published = plan.hit.size();
  state.prefix = plan.prefix;
  state.blocks = std::move(plan.hit);
  for (size_t i = 0; i < plan.fresh; ++i) {
    state.blocks.push_back(pool_->allocate(state.blocks.empty() ? -1 : state.blocks.back(),
                                           static_cast<int32_t>(plan.fresh - i)));
  }
  return true;
}

size_t ModelBackend::extend_match(State& state) {
  const auto bp = static_cast<size_t>(pool_->block_positions());
  if (state.cached != state.published * bp || state.cached + 1 >= state.tokens.size()) return 0;
  std::vector<int32_t> hit;
  const auto most = static_cast<int32_t>((state.tokens.size() - 1) / bp - state.published);
  const std::span<const int32_t> rest(state.tokens.data() + state.cached,
                                      state.tokens.size() - state.cached);
  state.prefix = pool_->match(state.prefix, rest, most, &hit);
  for (const int32_t b : hit) {
    // The fresh block it replaces was never written: free again.
    pool_->acquire(b);
    pool_->release(state.blocks[state.published]);
    state.blocks[state.published++] = b;
    state.cached += bp;
  }
  return hit.size() * bp;
}

void ModelBackend::publish_full_blocks(State& state) {
  const auto bp = static_cast<size_t>(pool_->block_positions());
  while ((state.published + 1) * bp <= state.cached) {
    const size_t i = state.published++;
    state.prefix =
        pool_->publish(state.blocks[i], state.prefix, {state.tokens.data() + i * bp, bp});
  }
}

bool ModelBackend::next_block_in_flight(
    const State& state, std::span<const std::pair<const State*, size_t>> chunks) const {
  const auto bp = static_cast<size_t>(pool_->block_positions());
  const size_t index = state.published;
  // Only a sequence that has computed nothing past its matched prefix, with a whole block to go.
  if (!pool_->prefix_cache() || state.cached != index * bp ||
      state.tokens.size() < (index + 1) * bp + 1) {
    return false;
  }
  const int32_t* next = state.tokens.data() + (index * bp);
  for (const auto& [other, n] : chunks) {
    // The other's chunk ends that block this step, after the same blocks (the same ids: only
    // indexed blocks are shared, so the same ids are the same tokens), with the same tokens.
    const size_t end = (index + 1) * bp;
    if (other->cached >= end || other->cached + n < end || other->tokens.size() < end) continue;
    if (index > 0 &&
        (other->blocks.size() < index || other->blocks[index - 1] != state.blocks[index - 1])) {
      continue;
    }
    if (std::equal(next, next + bp, other->tokens.data() + (index * bp))) return true;
  }
  return false;
}

bool ModelBackend::grow(State& state) {
  const auto bp = static_cast<size_t>(pool_->block_positions());
  if (state.cached < state.blocks.size() * bp) return true;
  for (;;) {
    const int32_t b = pool_->allocate(state.blocks.empty() ? -1 : state.blocks.back());
    if (b >= 0) {
      state.blocks.push_back(b);
      return true;
    }
    // The newest live sequence that holds blocks gives them up.
    auto victim = std::find_if(live_.rbegin(), live_.rend(),
                               [](const State* s) { return !s->parked && !s->blocks.empty(); });
    preempt(**victim);  // there is one: state holds blocks
    if (*victim == &state) return false;
  }
}

void ModelBackend::give_back_blocks(State& state) {
  // Last to first: a prefix's later blocks become older in the LRU order than its earlier ones.
  for (auto it = state.blocks.rbegin(); it != state.blocks.rend(); ++it) pool_->release(*it);
  state.blocks.clear();
  state.published = 0;
  state.prefix = KvBlockPool::kRootPrefix;
  state.cached = 0;
}

void ModelBackend::preempt(State& victim) {
  spdlog::info("KV cache full: a sequence of {} tokens gives up its {} blocks, to be recomputed",
               victim.tokens.size(), victim.blocks.size());
  give_back_blocks(victim);
  victim.parked = true;
  ++stats_.preemptions;
}

bool ModelBackend::ready(Sequence& seq) {
  if (seq.backend_state == nullptr) {
    std::string ignored;
    // An error rejects the request in start(), which prepares it again.
    if (prepare(seq, &ignored) != shm::RequestError::kNone) return true;
  }
  // Preempted sequences come back before anything new starts.
  if (std::any_of(live_.begin(), live_.end(), [](const State* s) { return s->parked; })) {
    return false;
  }
  return plan_blocks(static_cast<const State&>(*seq.backend_state)).fits;
}

shm::RequestError ModelBackend::start(Sequence& seq, std::string* message) {
  if (seq.backend_state == nullptr) {
    const shm::RequestError error = prepare(seq, message);
    if (error != shm::RequestError::kNone) return error;
  }
  auto& state = static_cast<State&>(*seq.backend_state);
  if (!take_blocks(state)) {  // admission asks ready() first
    *message = "no KV cache blocks free for a prompt of " + std::to_string(state.tokens.size()) +
               " tokens";
    seq.backend_state.reset();
    return shm::RequestError::kInternal;
  }
  state.live = true;
  state.start_order = next_start_++;
  live_.push_back(&state);
  seq.prompt_cached_tokens = state.cached;
  stats_.prompt_tokens += state.prompt_length;
  stats_.prompt_tokens_cached += state.cached;
  return shm::RequestError::kNone;
}

bool ModelBackend::started(const Sequence& seq) const {
  const auto* state = dynamic_cast<const State*>(seq.backend_state.get());
  return state != nullptr && state->live;
}

void ModelBackend::release(Sequence& seq) {
  if (auto* state = dynamic_cast<State*>(seq.backend_state.get());
      state != nullptr && state->live) {
    give_back_blocks(*state);
    live_.erase(std::find(live_.begin(), live_.end(), state));
  }
  seq.backend_state.reset();
}

KvCacheStats ModelBackend::kv_cache() const {
  KvCacheStats s = stats_;
  s.block_positions = static_cast<uint32_t>(pool_->block_positions());
  s.blocks_total = static_cast<uint32_t>(pool_->total());
  s.blocks_in_use = static_cast<uint32_t>(pool_->in_use());
  s.blocks_cached = static_cast<uint32_t>(pool_->cached());
  return s;
}

std::string ModelBackend::check() const {
  std::string problem = pool_->check();
  if (!problem.empty()) return "KV block pool: " + problem;
  // Every reference is a live sequence's block-table entry.
  std::vector<int32_t> refs(static_cast<size_t>(pool_->total()), 0);
  for (const State* s : live_) {
    for (const int32_t b : s->blocks) ++refs[static_cast<size_t>(b)];
  }
  for (int32_t b = 0; b < pool_->total(); ++b) {
    if (refs[static_cast<size_t>(b)] != pool_->refs(b)) {
      return "KV block " + std::to_string(b) + " has " + std::to_string(pool_->refs(b)) +
             " references, sequences hold it " + std::to_string(refs[static_cast<size_t>(b)]) +
             " times";
    }
  }
  return {};
}

void ModelBackend::step(std::span<Sequence* const> batch, std::vector<StepOutput>* outputs) {
  outputs->assign(batch.size(), StepOutput{});
  std::vector<model::EngineInput> inputs;
  std::vector<size_t> owners;  // batch index of each input
  inputs.reserve(batch.size());
  const auto state_of = [&](size_t i) {
    return static_cast<State*>(batch[i]->backend_state.get());
  };
  // Decode tokens first (one each, never starved), oldest sequence first: a token that needs a
  // block nobody has preempts the newest sequence, which then has not been given an input yet.
  std::vector<size_t> by_age(batch.size());
  std::iota(by_age.begin(), by_age.end(), size_t{0});
  std::sort(by_age.begin(), by_age.end(), [&](size_t a, size_t b) {
    return state_of(a)->start_order < state_of(b)->start_order;
  });
  for (const size_t i : by_age) {
    State* state = state_of(i);
    if (state->parked || state->tokens.size() - state->cached != 1 || !grow(*state)) continue;
    inputs.push_back({state->blocks,
                      static_cast<int32_t>(state->cached),
                      {state->tokens.data() + state->cached, 1}});
    owners.push_back(i);
  }
  // Then prompt chunks (and preempted sequences' recomputation) within the budget, preempted
  // ones back first when their blocks fit.
  int64_t budget = options_.max_batch_tokens - static_cast<int64_t>(inputs.size());
  std::vector<std::pair<const State*, size_t>> chunks;  // this step's, with their lengths
  for (const size_t i : by_age) {
    State* state = state_of(i);
    bool resumed = false;
    if (state->parked) {
      if (!take_blocks(*state)) continue;
      state->parked = false;
      state->recomputing = resumed = true;
    }
    const size_t pending = state->tokens.size() - state->cached;
    if (pending == 0 || (pending == 1 && !resumed) || budget <= 0) continue;
    if (!state->recomputing) {
      const size_t hit = extend_match(*state);
      if (hit > 0 && state->cached <= state->prompt_length) {
        batch[i]->prompt_cached_tokens += hit;
        stats_.prompt_tokens_cached += hit;
      }
      // Its next block is being computed by an older sequence in this very step (requests
      // with one system prompt, admitted together): it waits a step and takes it from there.
      if (next_block_in_flight(*state, chunks)) continue;
    }
    const size_t n =
        std::min<size_t>(state->tokens.size() - state->cached, static_cast<size_t>(budget));
    budget -= static_cast<int64_t>(n);
    chunks.emplace_back(state, n);
    inputs.push_back({state->blocks,
                      static_cast<int32_t>(state->cached),
                      {state->tokens.data() + state->cached, n}});
    owners.push_back(i);
  }
  if (inputs.empty()) return;
  try {
    engine_->forward(inputs, &logits_);
  } catch (const std::exception& e) {
    // E.g. a device out of memory: the sequences of this step fail, the daemon goes on.
    std::string what = e.what();
    spdlog::error("model step of {} sequences failed: {}", inputs.size(),
                  what.substr(0, what.find('\n')));
    for (size_t i : owners) {
      (*outputs)[i].finish = shm::FinishReason::kError;
      (*outputs)[i].error = shm::RequestError::kInternal;
    }
    return;
  }

  const auto vocab = static_cast<size_t>(engine_->vocab_size());
  const auto usable = static_cast<size_t>(tokenizer_->vocab_size());
  std::vector<size_t> sampling;  // inputs whose sequence takes a token this step
  for (size_t r = 0; r < inputs.size(); ++r) {
    auto* state = static_cast<State*>(batch[owners[r]]->backend_state.get());
    state->cached += inputs[r].tokens.size();
    publish_full_blocks(*state);
    if (state->cached == state->tokens.size()) sampling.push_back(r);  // else: more prompt
  }
  // Sampling a 50k vocabulary costs up to ~0.7 ms per sequence (docs/BENCHMARKS.md), so the
  // sequences are spread over the engine's threads, idle between forwards. Each sampler has
  // its own generator and scratch, so the tokens do not depend on the split.
  sampled_.resize(sampling.size());
  const auto count = static_cast<int64_t>(sampling.size());
#pragma omp parallel for schedule(dynamic) num_threads(engine_->threads()) if (count > 1)
  for (int64_t j = 0; j < count; ++j) {
    const size_t r = sampling[static_cast<size_t>(j)];
    auto* state = static_cast<State*>(batch[owners[r]]->backend_state.get());
    std::span<float> row(logits_.data() + r * vocab, vocab);
    // Ids the tokenizer has no text for (padded embedding rows) are never sampled.
    std::fill(row.begin() + static_cast<std::ptrdiff_t>(usable), row.end(), -INFINITY);
    sampled_[static_cast<size_t>(j)] = state->sampler.sample(row, state->tokens);
  }
  for (size_t j = 0; j < sampling.size(); ++j) {
    Sequence& seq = *batch[owners[sampling[j]]];
    take_token(seq, *static_cast<State*>(seq.backend_state.get()), sampled_[j],
               &(*outputs)[owners[sampling[j]]]);
  }
}

void ModelBackend::take_token(Sequence& seq, State& state, int32_t token, StepOutput* out) {
  const shm::GenerationParams& p = seq.params;
  out->has_token = true;
  out->token_id = token;
  const bool is_stop =
      std::binary_search(eos_ids_.begin(), eos_ids_.end(), token) || is_stop_token_of(p, token);
  if (is_stop) {
    // The stop token is not sent; text held back (a partial character, a possible stop
    // string that never completed) is released now.
    out->send_token = false;
    out->text = state.stop_strings.push(state.utf8.finish()).text + state.stop_strings.finish();
    out->finish = shm::FinishReason::kStop;
    return;
  }
  state.tokens.push_back(token);
  const std::string& bytes =
      tokenizer_->is_special(token) ? std::string() : tokenizer_->token_bytes(token);
  model::StopStringMatcher::Result r = state.stop_strings.push(state.utf8.push(bytes));
  out->text = std::move(r.text);
  if (r.stopped) {
    out->finish = shm::FinishReason::kStop;
    return;
  }
  const bool at_limit = seq.generated + 1 >= p.max_tokens ||
                        static_cast<int64_t>(state.tokens.size()) >= engine_->max_seq_len();
  if (at_limit) {
    model::StopStringMatcher::Result tail = state.stop_strings.push(state.utf8.finish());
    out->text += tail.text;
    if (!tail.stopped) out->text += state.stop_strings.finish();
    out->finish = tail.stopped ? shm::FinishReason::kStop : shm::FinishReason::kLength;
  }
}

}  // namespace ringserve::daemon
