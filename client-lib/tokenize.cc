// Client: tokenize and detokenize requests. They travel as any request does (a slot, the
// request ring, the slot's token ring: submit.cc, stream.cc) with a flag that says what they
// are; the daemon answers them at intake (docs/PROTOCOL.md, "Tokenize and detokenize"). Here
// the answer is read to its end and handed back whole.
#include "client-lib/connection.h"
#include "shm/request_check.h"

namespace ringserve {
namespace {

// A daemon of this layout version that predates these requests refuses their flag bits.
constexpr std::string_view kUnknownFlags = "flags has unknown bits set";

}  // namespace

Status Client::tokenize(std::string_view text, const TokenizeOptions& options,
                        std::vector<int32_t>* ids, std::vector<std::string>* pieces) {
  if (ids == nullptr) return {ErrorCode::kInvalidArgument, "ids must not be null"};
  const uint32_t flags =
      shm::kRequestTokenize | (options.add_special ? shm::kRequestAddSpecial : 0);
  return text_request(text, flags, ids, pieces, nullptr);
}

Status Client::tokenize_chat(const std::vector<ChatMessage>& messages,
                             const TokenizeOptions& options, std::vector<int32_t>* ids,
                             std::vector<std::string>* pieces) {
  if (ids == nullptr) return {ErrorCode::kInvalidArgument, "ids must not be null"};
  std::string area;
  if (Status s = encode_chat_messages(messages, &area); !s.ok()) return s;
  const uint32_t flags = shm::kRequestTokenize | shm::kRequestChat |
                         (options.add_special ? shm::kRequestAddSpecial : 0);
  return text_request(area, flags, ids, pieces, nullptr);
}

Status Client::detokenize(const std::vector<int32_t>& ids, std::string* text) {
  if (text == nullptr) return {ErrorCode::kInvalidArgument, "text must not be null"};
  std::string area;
  shm::append_token_ids(&area, ids.data(), ids.size());
  return text_request(area, shm::kRequestDetokenize, nullptr, nullptr, text);
}

Status Client::text_request(std::string_view area, uint32_t flags, std::vector<int32_t>* ids,
                            std::vector<std::string>* pieces, std::string* text) {
  if (ids != nullptr) ids->clear();
  if (pieces != nullptr) pieces->clear();
  if (text != nullptr) text->clear();
  GenerateParams params;  // checked as any request's, otherwise unused
  params.max_tokens = 1;
  std::unique_ptr<Stream> stream;
  Status s = submit(area, static_cast<uint32_t>(area.size()), flags, params, &stream);
  // A daemon's answer is bounded by its request (a token holds at least one byte of text, and a
  // few special tokens go around it): one that goes on and on is not a daemon's doing.
  const size_t limit = 4 * size_t{max_prompt_bytes()} + 64;
  size_t received = 0;
  Token token;
  while (s.ok() && (s = stream->next(&token)).ok()) {
    received += 1 + token.text.size();
    if (received > 8 * limit) {
      return {ErrorCode::kProtocolError,
              "the daemon's answer to a " +
                  std::string(ids != nullptr ? "tokenize" : "detokenize") +
                  " request does not end"};
    }
    if (text != nullptr) {
      *text += token.text;
    } else if (token.id >= 0) {
      ids->push_back(token.id);
      if (pieces != nullptr) pieces->push_back(std::move(token.text));
    } else if (pieces != nullptr && !pieces->empty()) {
      pieces->back() += token.text;  // text without a token: no daemon sends one here
    }
  }
  if (s.end_of_stream() && stream->finish_reason() == FinishReason::kStop) return {};
  if (s.end_of_stream()) {
    return {ErrorCode::kInternal, "the daemon ended the request with finish reason " +
                                      std::string(to_string(stream->finish_reason()))};
  }
  if (s.code() == ErrorCode::kInvalidParams &&
      s.message().find(kUnknownFlags) != std::string::npos) {
    return {ErrorCode::kInvalidParams,
            "daemon '" + connection_->name +
                "' does not answer tokenize or detokenize requests (it is older than this "
                "client: " +
                s.message() + ")"};
  }
  return s;
}

}  // namespace ringserve
