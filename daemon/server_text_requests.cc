// Server, tokenize and detokenize requests: answered at intake, in the iteration that takes
// them off the ring, by the backend's tokenizer. They never wait in the scheduler's line, take
// a running place or KV cache blocks, or join a model step, so a full scheduler does not delay
// them. Their answer goes out as any stream does (token_output.h): entries queued behind what
// the ring cannot hold yet, the final entry last, the slot handed back by retire().
#include <spdlog/spdlog.h>

#include "daemon/server.h"
#include "daemon/token_output.h"
#include "shm/atomics.h"

namespace ringserve::daemon {
namespace {

// The length of the longest prefix of `text` (valid UTF-8) that is at most `limit` bytes and
// ends on a character boundary.
size_t whole_characters(std::string_view text, size_t limit) {
  if (text.size() <= limit) return text.size();
  size_t n = limit;
  while (n > 0 && (static_cast<uint8_t>(text[n]) & 0xC0) == 0x80) --n;
  return n == 0 ? limit : n;  // no boundary (not UTF-8): cut anyway, entries stay bounded
}

}  // namespace

void Server::answer_text_request(Sequence& seq, uint64_t now) {
  std::string message;
  shm::RequestError error = shm::RequestError::kNone;
  if ((seq.params.flags & shm::kRequestTokenize) != 0) {
    std::vector<TokenPiece> pieces;
    const bool add_special = (seq.params.flags & shm::kRequestAddSpecial) != 0;
    error = backend_->tokenize(seq, add_special, &pieces, &message);
    if (error == shm::RequestError::kNone) {
      seq.prompt_token_count = pieces.size();
      for (const TokenPiece& piece : pieces) emit_token(seq, piece.id, piece.text, now);
    }
  } else {
    std::string text;
    error = backend_->detokenize(seq.token_ids, &text, &message);
    if (error == shm::RequestError::kNone) {
      seq.prompt_token_count = seq.token_ids.size();
      // Text without a token, one entry per piece of whole characters: a client joins them.
      std::string_view rest = text;
      while (!rest.empty()) {
        const size_t n = whole_characters(rest, shm::kTokenTextCapacity);
        emit_token(seq, -1, rest.substr(0, n), now);
        rest.remove_prefix(n);
      }
    }
  }
  if (error != shm::RequestError::kNone) {
    spdlog::info("request {} rejected by the {} backend: {}", seq.request_id, backend_->name(),
                 message);
    finish(seq, shm::FinishReason::kError, error, std::move(message));
    return;
  }
  shm::store(view_.slot(seq.slot)->prompt_tokens, static_cast<uint32_t>(seq.prompt_token_count));
  finish(seq, shm::FinishReason::kStop, shm::RequestError::kNone);
}

}  // namespace ringserve::daemon
