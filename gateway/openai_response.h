// Rendering OpenAI's response bodies: the whole chat.completion / text_completion object, the
// streamed chunks (chat.completion.chunk, text_completion) as SSE events, and the error object.
// Pure functions of their arguments, unit-tested in tests/gateway/.
#pragma once

#include <cstdint>
#include <string>

#include "gateway/api_error.h"
#include "gateway/openai_request.h"
#include "ringserve/client.h"

namespace ringserve::gateway {

// What every object of one response shares.
struct ResponseIds {
  Endpoint endpoint = Endpoint::kChat;
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  std::string model;    // the served model's id
  int64_t created = 0;  // Unix seconds
};

struct Usage {
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
};

// "stop", "length"; anything else (cancelled, error) has no OpenAI name and gives "stop".
const char* finish_reason_name(FinishReason reason);

// {"error":{"message","type","param","code"}}.
std::string render_error(const ApiError& error);

// The non-streaming response.
std::string render_completion(const ResponseIds& ids, const std::string& text, FinishReason reason,
                              const Usage& usage);

// One SSE event "data: {chunk}\n\n". `first`: the chat chunk carries the assistant role.
// `finish`: kNone for a content chunk, else the final chunk (empty delta / text). With
// include_usage every chunk but the usage one carries "usage": null, as OpenAI's do.
std::string render_chunk_event(const ResponseIds& ids, const std::string& text, bool first,
                               FinishReason finish, bool include_usage);
// The last chunk with include_usage: empty choices and the usage.
std::string render_usage_event(const ResponseIds& ids, const Usage& usage);
// An error after the 200 was sent: an SSE event with the error object.
std::string render_error_event(const ApiError& error);
inline constexpr const char* kDoneEvent = "data: [DONE]\n\n";

// GET /v1/models.
std::string render_models(const std::string& model, int64_t created);

}  // namespace ringserve::gateway
