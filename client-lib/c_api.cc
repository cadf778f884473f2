// The C ABI: thin wrappers over the C++ client. No exception crosses it (allocation failure
// is the only one the C++ side can raise, and it is caught here).
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ringserve/client.h"
#include "ringserve/ringserve.h"
#include "shm/layout.h"
#include "shm/text_field.h"

struct rs_client {
  std::unique_ptr<ringserve::Client> client;
};
struct rs_stream {
  std::unique_ptr<ringserve::Stream> stream;
  ringserve::Token token;
};

namespace {

thread_local std::string last_error_message;

rs_error report(const ringserve::Status& s) {
  if (!s.ok() && !s.end_of_stream()) last_error_message = s.to_string();
  return static_cast<rs_error>(s.code());
}

rs_error invalid(const char* what) {
  last_error_message = std::string("invalid argument: ") + what;
  return RS_INVALID_ARGUMENT;
}

static_assert(RS_INTERNAL == static_cast<int>(ringserve::ErrorCode::kInternal));
static_assert(RS_DAEMON_NOT_RESPONDING ==
              static_cast<int>(ringserve::ErrorCode::kDaemonNotResponding));
static_assert(RS_TIMEOUT == static_cast<int>(ringserve::ErrorCode::kTimeout));
static_assert(RS_FINISH_REJECTED == static_cast<int>(ringserve::FinishReason::kRejected));
static_assert(RS_MODEL_NAME_BYTES == ringserve::shm::kModelNameBytes);
static_assert(RS_MODEL_PATH_BYTES == ringserve::shm::kModelPathBytes);
// Part of the ABI: a new field is a new struct and function, never a change to this one.
static_assert(sizeof(rs_kv_cache_status) == 40 &&
              offsetof(rs_kv_cache_status, prompt_tokens) == 16);

}  // namespace

extern "C" {

void rs_params_init(rs_params* params) {
  if (params == nullptr) return;
  const ringserve::GenerateParams d;
  *params = rs_params{};
  params->max_tokens = d.max_tokens;
  params->temperature = d.temperature;
  params->top_p = d.top_p;
  params->min_p = d.min_p;
  params->repetition_penalty = d.repetition_penalty;
  params->top_k = d.top_k;
  params->seed = d.seed;
  params->priority = d.priority;
  params->queue_timeout_ms = d.queue_timeout_ms;
  params->total_timeout_ms = d.total_timeout_ms;
}

void rs_connect_options_init(rs_connect_options* options) {
  if (options == nullptr) return;
  const ringserve::ConnectOptions d;
  *options = rs_connect_options{};
  options->ready_timeout_ms = d.ready_timeout.count();
  options->wait_mode = nullptr;
  options->daemon_timeout_ms = d.daemon_timeout.count();
  options->daemon_uid = d.daemon_uid;
}

rs_error rs_connect(const char* name, rs_client** out) {
  return rs_connect_ex(name, -1, nullptr, out);
}

rs_error rs_connect_ex(const char* name, int64_t ready_timeout_ms, const char* wait_mode,
                       rs_client** out) {
  rs_connect_options options;
  rs_connect_options_init(&options);
  if (ready_timeout_ms >= 0) options.ready_timeout_ms = ready_timeout_ms;
  options.wait_mode = wait_mode;
  return rs_connect_with(name, &options, out);
}

rs_error rs_connect_with(const char* name, const rs_connect_options* opts, rs_client** out) {
  if (name == nullptr || out == nullptr) return invalid("name and out must not be NULL");
  try {
    ringserve::ConnectOptions options;
    if (opts != nullptr) {
      if (opts->ready_timeout_ms < 0) return invalid("options.ready_timeout_ms is negative");
      if (opts->daemon_timeout_ms < 0) return invalid("options.daemon_timeout_ms is negative");
      options.ready_timeout = std::chrono::milliseconds(opts->ready_timeout_ms);
      if (opts->wait_mode != nullptr) options.wait_mode = opts->wait_mode;
      options.daemon_timeout = std::chrono::milliseconds(opts->daemon_timeout_ms);
      options.daemon_uid =
          opts->daemon_uid < 0 ? ringserve::ConnectOptions::kUnsetUid : opts->daemon_uid;
    }
    auto handle = std::make_unique<rs_client>();
    const rs_error e = report(ringserve::Client::connect(name, &handle->client, options));
    if (e == RS_OK) *out = handle.release();
    return e;
  } catch (const std::exception& ex) {
    last_error_message = ex.what();
    return RS_INTERNAL;
  }
}

void rs_disconnect(rs_client* client) { delete client; }

namespace {

// rs_params -> GenerateParams; false (with the message set) on a malformed struct.
bool to_params(const rs_params* params, ringserve::GenerateParams* p) {
  if (params == nullptr) return true;
  if (params->stop_token_count > 8) {
    last_error_message = "params.stop_token_count > 8";
    return false;
  }
  if (params->stop_count > 0 && params->stop == nullptr) {
    last_error_message = "params.stop is NULL but params.stop_count > 0";
    return false;
  }
  p->max_tokens = params->max_tokens;
  p->temperature = params->temperature;
  p->top_p = params->top_p;
  p->min_p = params->min_p;
  p->repetition_penalty = params->repetition_penalty;
  p->top_k = params->top_k;
  p->seed = params->seed;
  p->priority = params->priority;
  p->queue_timeout_ms = params->queue_timeout_ms;
  p->total_timeout_ms = params->total_timeout_ms;
  p->stop_token_ids.assign(params->stop_token_ids,
                           params->stop_token_ids + params->stop_token_count);
  for (size_t i = 0; i < params->stop_count; ++i) {
    if (params->stop[i] == nullptr) {
      last_error_message = "params.stop[" + std::to_string(i) + "] is NULL";
      return false;
    }
    p->stop.emplace_back(params->stop[i]);
  }
  return true;
}

// rs_message array -> ChatMessage; false (with the message set) on a NULL field.
bool to_messages(const rs_message* messages, size_t count,
                 std::vector<ringserve::ChatMessage>* turns) {
  for (size_t i = 0; i < count; ++i) {
    const rs_message& m = messages[i];
    if (m.role == nullptr || (m.content == nullptr && m.content_length != 0)) {
      invalid(("messages[" + std::to_string(i) + "] has a NULL role or content").c_str());
      return false;
    }
    turns->push_back(
        {m.role, std::string(m.content == nullptr ? "" : m.content, m.content_length)});
  }
  return true;
}

}  // namespace

rs_error rs_generate(rs_client* client, const char* prompt, size_t prompt_length,
                     const rs_params* params, rs_stream** out) {
  if (client == nullptr || out == nullptr) return invalid("client and out must not be NULL");
  if (prompt == nullptr && prompt_length != 0) return invalid("prompt is NULL");
  try {
    ringserve::GenerateParams p;
    if (!to_params(params, &p)) return RS_INVALID_ARGUMENT;
    auto handle = std::make_unique<rs_stream>();
    const rs_error e = report(client->client->generate(
        std::string_view(prompt == nullptr ? "" : prompt, prompt_length), p, &handle->stream));
    if (e == RS_OK) *out = handle.release();
    return e;
  } catch (const std::exception& ex) {
    last_error_message = ex.what();
    return RS_INTERNAL;
  }
}

rs_error rs_chat(rs_client* client, const rs_message* messages, size_t message_count,
                 const rs_params* params, rs_stream** out) {
  if (client == nullptr || out == nullptr) return invalid("client and out must not be NULL");
  if (messages == nullptr && message_count != 0) return invalid("messages is NULL");
  try {
    ringserve::GenerateParams p;
    if (!to_params(params, &p)) return RS_INVALID_ARGUMENT;
    std::vector<ringserve::ChatMessage> turns;
    if (!to_messages(messages, message_count, &turns)) return RS_INVALID_ARGUMENT;
    auto handle = std::make_unique<rs_stream>();
    const rs_error e = report(client->client->chat(turns, p, &handle->stream));
    if (e == RS_OK) *out = handle.release();
    return e;
  } catch (const std::exception& ex) {
    last_error_message = ex.what();
    return RS_INTERNAL;
  }
}

namespace {

// A tokenize answer into the caller's rs_tokens, in malloc'ed arrays (rs_tokens_free).
rs_error fill_tokens(const std::vector<int32_t>& ids, const std::vector<std::string>& pieces,
                     rs_tokens* out) {
  size_t bytes = 0;
  for (const std::string& p : pieces) bytes += p.size();
  auto* id_array = static_cast<int32_t*>(std::malloc(sizeof(int32_t) * (ids.size() + 1)));
  auto* offsets = static_cast<size_t*>(std::malloc(sizeof(size_t) * (ids.size() + 1)));
  auto* text = static_cast<char*>(std::malloc(bytes + 1));
  if (id_array == nullptr || offsets == nullptr || text == nullptr) {
    std::free(id_array);
    std::free(offsets);
    std::free(text);
    last_error_message = "out of memory";
    return RS_INTERNAL;
  }
  size_t at = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    id_array[i] = ids[i];
    offsets[i] = at;
    std::memcpy(text + at, pieces[i].data(), pieces[i].size());
    at += pieces[i].size();
  }
  offsets[ids.size()] = at;
  text[at] = '\0';
  *out = rs_tokens{id_array, ids.size(), text, offsets};
  return RS_OK;
}

}  // namespace

rs_error rs_tokenize(rs_client* client, const char* text, size_t text_length, uint32_t flags,
                     rs_tokens* out) {
  if (client == nullptr || out == nullptr) return invalid("client and out must not be NULL");
  if (text == nullptr && text_length != 0) return invalid("text is NULL");
  if ((flags & ~RS_TOKENIZE_ADD_SPECIAL) != 0) return invalid("flags has unknown bits set");
  *out = rs_tokens{};
  try {
    std::vector<int32_t> ids;
    std::vector<std::string> pieces;
    ringserve::TokenizeOptions options;
    options.add_special = (flags & RS_TOKENIZE_ADD_SPECIAL) != 0;
    const rs_error e = report(client->client->tokenize(
        std::string_view(text == nullptr ? "" : text, text_length), options, &ids, &pieces));
    return e == RS_OK ? fill_tokens(ids, pieces, out) : e;
  } catch (const std::exception& ex) {
    last_error_message = ex.what();
    return RS_INTERNAL;
  }
}

rs_error rs_tokenize_chat(rs_client* client, const rs_message* messages, size_t message_count,
                          uint32_t flags, rs_tokens* out) {
  if (client == nullptr || out == nullptr) return invalid("client and out must not be NULL");
  if (messages == nullptr && message_count != 0) return invalid("messages is NULL");
  if ((flags & ~RS_TOKENIZE_ADD_SPECIAL) != 0) return invalid("flags has unknown bits set");
  *out = rs_tokens{};
  try {
    std::vector<ringserve::ChatMessage> turns;
    if (!to_messages(messages, message_count, &turns)) return RS_INVALID_ARGUMENT;
    std::vector<int32_t> ids;
    std::vector<std::string> pieces;
    ringserve::TokenizeOptions options;
    options.add_special = (flags & RS_TOKENIZE_ADD_SPECIAL) != 0;
    const rs_error e = report(client->client->tokenize_chat(turns, options, &ids, &pieces));
    return e == RS_OK ? fill_tokens(ids, pieces, out) : e;
  } catch (const std::exception& ex) {
    last_error_message = ex.what();
    return RS_INTERNAL;
  }
}

void rs_tokens_free(rs_tokens* tokens) {
  if (tokens == nullptr) return;
  std::free(tokens->ids);
  std::free(tokens->text);
  std::free(tokens->piece_offsets);
  *tokens = rs_tokens{};
}

rs_error rs_detokenize(rs_client* client, const int32_t* ids, size_t count, char** text,
                       size_t* text_length) {
  if (client == nullptr || text == nullptr) return invalid("client and text must not be NULL");
  if (ids == nullptr && count != 0) return invalid("ids is NULL");
  *text = nullptr;
  if (text_length != nullptr) *text_length = 0;
  try {
    std::string decoded;
    const std::vector<int32_t> id_list(ids, ids + count);  // count is 0 when ids is NULL
    const rs_error e = report(client->client->detokenize(id_list, &decoded));
    if (e != RS_OK) return e;
    auto* copy = static_cast<char*>(std::malloc(decoded.size() + 1));
    if (copy == nullptr) {
      last_error_message = "out of memory";
      return RS_INTERNAL;
    }
    std::memcpy(copy, decoded.data(), decoded.size());
    copy[decoded.size()] = '\0';
    *text = copy;
    if (text_length != nullptr) *text_length = decoded.size();
    return RS_OK;
  } catch (const std::exception& ex) {
    last_error_message = ex.what();
    return RS_INTERNAL;
  }
}

void rs_free(void* memory) { std::free(memory); }

rs_error rs_stream_next(rs_stream* stream, int64_t timeout_ms, rs_token* out) {
  if (stream == nullptr || out == nullptr) return invalid("stream and out must not be NULL");
  try {
    const auto timeout =
        timeout_ms < 0 ? ringserve::kWaitForever : std::chrono::nanoseconds(timeout_ms * 1'000'000);
    const rs_error e = report(stream->stream->next(&stream->token, timeout));
    if (e == RS_OK) {
      out->id = stream->token.id;
      out->text = stream->token.text.data();
      out->text_length = stream->token.text.size();
      out->published_ns = stream->token.published_ns;
    }
    return e;
  } catch (const std::exception& ex) {
    last_error_message = ex.what();
    return RS_INTERNAL;
  }
}

void rs_stream_cancel(rs_stream* stream) {
  if (stream != nullptr) stream->stream->cancel();
}

rs_finish_reason rs_stream_finish_reason(const rs_stream* stream) {
  if (stream == nullptr) return RS_FINISH_NONE;
  return static_cast<rs_finish_reason>(stream->stream->finish_reason());
}

void rs_stream_close(rs_stream* stream) { delete stream; }

rs_error rs_stream_prompt_tokens(const rs_stream* stream, uint32_t* prompt_tokens,
                                 uint32_t* cached_tokens) {
  if (stream == nullptr) return invalid("stream must not be NULL");
  // info() reads the slot, or the copy taken when the stream gave its slot back: no allocation.
  const ringserve::RequestInfo info = stream->stream->info();
  if (prompt_tokens != nullptr) *prompt_tokens = info.prompt_tokens;
  if (cached_tokens != nullptr) *cached_tokens = info.prompt_cached_tokens;
  return RS_OK;
}

rs_error rs_status(rs_client* client, rs_daemon_status* out) {
  if (client == nullptr || out == nullptr) return invalid("client and out must not be NULL");
  try {
    ringserve::DaemonStatus s;
    const rs_error e = report(client->client->status(&s));
    if (e != RS_OK) return e;
    *out =
        rs_daemon_status{s.pid,       s.slots,     s.slots_in_use, s.max_concurrent,  s.max_queue,
                         s.running,   s.waiting,   s.received,     s.admitted,        s.rejected,
                         s.completed, s.cancelled, s.failed,       s.tokens_generated};
    return RS_OK;
  } catch (const std::exception& ex) {
    last_error_message = ex.what();
    return RS_INTERNAL;
  }
}

rs_error rs_model(rs_client* client, rs_model_info* out) {
  if (client == nullptr || out == nullptr) return invalid("client and out must not be NULL");
  try {
    ringserve::DaemonStatus s;
    const rs_error e = report(client->client->status(&s));
    if (e != RS_OK) return e;
    *out = rs_model_info{};
    // Each text is already bounded to its segment field; this cuts the rare one that filled
    // the field to make room for the NUL.
    ringserve::shm::write_text_field(out->path, s.model.path, ringserve::shm::KeepEnd::kTail);
    ringserve::shm::write_text_field(out->architecture, s.model.architecture);
    ringserve::shm::write_text_field(out->format, s.model.format);
    ringserve::shm::write_text_field(out->device, s.model.device);
    out->context_length = s.model.context_length;
    out->weight_bytes = s.model.weight_bytes;
    out->kv_cache_bytes = s.model.kv_cache_bytes;
    out->resident_bytes = s.resident_bytes;
    return RS_OK;
  } catch (const std::exception& ex) {
    last_error_message = ex.what();
    return RS_INTERNAL;
  }
}

rs_error rs_kv_cache(rs_client* client, rs_kv_cache_status* out) {
  if (client == nullptr || out == nullptr) return invalid("client and out must not be NULL");
  try {
    ringserve::DaemonStatus s;
    const rs_error e = report(client->client->status(&s));
    if (e != RS_OK) return e;
    const ringserve::KvCacheStatus& kv = s.kv_cache;
    *out = rs_kv_cache_status{};
    out->block_positions = kv.block_positions;
    out->blocks_total = kv.blocks_total;
    out->blocks_in_use = kv.blocks_in_use;
    out->blocks_cached = kv.blocks_cached;
    out->prompt_tokens = kv.prompt_tokens;
    out->prompt_tokens_cached = kv.prompt_tokens_cached;
    out->preemptions = kv.preemptions;
    return RS_OK;
  } catch (const std::exception& ex) {
    last_error_message = ex.what();
    return RS_INTERNAL;
  }
}

const char* rs_error_name(rs_error error) {
  return ringserve::to_string(static_cast<ringserve::ErrorCode>(error));
}

const char* rs_finish_reason_name(rs_finish_reason reason) {
  return ringserve::to_string(static_cast<ringserve::FinishReason>(reason));
}

const char* rs_last_error_message(void) { return last_error_message.c_str(); }

}  // extern "C"
