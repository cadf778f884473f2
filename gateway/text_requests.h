// POST /tokenize and /detokenize, as llama.cpp's server names them: the daemon's tokenizer
// through the rings (Client::tokenize / detokenize), never one of the gateway's own that could
// differ from the daemon's.
//
//   /tokenize    {"content": "text", "add_special": false, "with_pieces": false}
//                -> {"tokens": [ids]}, or with_pieces {"tokens": [{"id": 1, "piece": "a"}]}
//   /detokenize  {"tokens": [ids]} -> {"content": "text"}
//
// Parsing is pure (unit-tested, fuzzed); answering blocks until the daemon has answered, so the
// server runs it off its event loop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/api_error.h"
#include "gateway/http_message.h"

namespace ringserve::gateway {

class DaemonLink;

struct TextRequest {
  enum class Kind { kTokenize, kDetokenize };
  Kind kind = Kind::kTokenize;
  std::string content;          // kTokenize
  bool add_special = false;     // kTokenize: the BOS etc. a prompt gets too
  bool with_pieces = false;     // kTokenize: each id with its text
  std::vector<int32_t> tokens;  // kDetokenize
};

// Parses `body` for `kind`; an ApiError naming the field when it is not a valid request.
ApiError parse_text_request(TextRequest::Kind kind, std::string_view body, TextRequest* out);

// Asks the daemon (blocking) and renders the answer or the error.
HttpResponse answer_text_request(const TextRequest& request, DaemonLink* link);

}  // namespace ringserve::gateway
