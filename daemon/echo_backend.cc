#include "daemon/echo_backend.h"

#include <time.h>

#include "utf8/utf8.h"

namespace ringserve::daemon {

std::vector<int32_t> EchoBackend::code_points(std::string_view text) {
  std::vector<int32_t> out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    // Intake let only valid UTF-8 through; an invalid byte would count as its own code point.
    char32_t cp = static_cast<uint8_t>(text[i]);
    size_t length = 1;
    utf8::decode(text, i, &cp, &length);
    out.push_back(static_cast<int32_t>(cp));
    i += length;
  }
  return out;
}

std::string EchoBackend::encode_utf8(int32_t code_point) {
  std::string s;
  utf8::append(static_cast<char32_t>(code_point), &s);
  return s;
}

shm::RequestError EchoBackend::tokenize(const Sequence& seq, bool /*add_special*/,
                                        std::vector<TokenPiece>* out, std::string* message) {
  if (!seq.chat.empty()) {
    *message = "the echo backend has no chat template: it tokenizes raw prompts only";
    return shm::RequestError::kInvalidParams;
  }
  out->clear();
  for (const int32_t cp : code_points(seq.prompt)) out->push_back({cp, encode_utf8(cp)});
  return shm::RequestError::kNone;
}

shm::RequestError EchoBackend::detokenize(std::span<const int32_t> ids, std::string* text,
                                          std::string* message) {
  text->clear();
  for (size_t k = 0; k < ids.size(); ++k) {
    const int32_t id = ids[k];
    if (id < 0 || id > 0x10FFFF || (id >= 0xD800 && id <= 0xDFFF)) {
      *message = "token ids[" + std::to_string(k) + "] is " + std::to_string(id) +
                 ", not in the echo backend's vocabulary (Unicode scalar values: 0..1114111 "
                 "without the surrogates 55296..57343)";
      return shm::RequestError::kInvalidParams;
    }
    *text += encode_utf8(id);
  }
  return shm::RequestError::kNone;
}

// A sequence's row: its prompt's code points.
struct EchoBackend::Row final : SequenceState {
  std::vector<int32_t> tokens;
};

shm::RequestError EchoBackend::start(Sequence& seq, std::string* message) {
  // The prompt was validated as non-empty UTF-8 at intake.
  auto row = std::make_unique<Row>();
  row->tokens = code_points(seq.prompt);
  seq.prompt_token_count = row->tokens.size();
  if (row->tokens.empty()) {
    *message = "prompt has no characters";
    return shm::RequestError::kEmptyPrompt;
  }
  if (rows_in_use_ >= max_rows_) {  // the scheduler admits at most max_rows
    *message = "no KV cache row free (" + std::to_string(max_rows_) + " in use)";
    return shm::RequestError::kInternal;
  }
  ++rows_in_use_;
  seq.backend_state = std::move(row);
  return shm::RequestError::kNone;
}

void EchoBackend::release(Sequence& seq) {
  if (seq.backend_state != nullptr) --rows_in_use_;
  seq.backend_state.reset();
}

void EchoBackend::step(std::span<Sequence* const> batch, std::vector<StepOutput>* outputs) {
  if (step_delay_us_ > 0) {
    timespec ts{static_cast<time_t>(step_delay_us_ / 1'000'000),
                static_cast<long>(step_delay_us_ % 1'000'000) * 1000};
    nanosleep(&ts, nullptr);
  }
  outputs->resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const Sequence& seq = *batch[i];
    const shm::GenerationParams& p = seq.params;
    StepOutput& out = (*outputs)[i];
    const std::vector<int32_t>& tokens = static_cast<const Row&>(*seq.backend_state).tokens;
    const int32_t cp = tokens[seq.generated % tokens.size()];
    out.has_token = true;
    out.token_id = cp;
    if (is_stop_token_of(p, cp)) {
      out.text.clear();
      out.send_token = false;
      out.finish = shm::FinishReason::kStop;
      continue;
    }
    out.text = encode_utf8(cp);
    out.send_token = true;
    out.finish =
        seq.generated + 1 >= p.max_tokens ? shm::FinishReason::kLength : shm::FinishReason::kNone;
  }
}

}  // namespace ringserve::daemon
