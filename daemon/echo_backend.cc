#include "daemon/echo_backend.h"

#include <time.h>

namespace ringserve::daemon {

std::vector<int32_t> EchoBackend::code_points(std::string_view utf8) {
  std::vector<int32_t> out;
  out.reserve(utf8.size());
  const auto* s = reinterpret_cast<const unsigned char*>(utf8.data());
  size_t i = 0;
  while (i < utf8.size()) {
    const unsigned char c = s[i];
    const size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    int32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < len && i + k < utf8.size(); ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string EchoBackend::encode_utf8(int32_t cp) {
  std::string s;
  const auto u = static_cast<uint32_t>(cp);
  if (u < 0x80) {
    s += static_cast<char>(u);
  } else if (u < 0x800) {
    s += static_cast<char>(0xC0 | (u >> 6));
    s += static_cast<char>(0x80 | (u & 0x3F));
  } else if (u < 0x10000) {
    s += static_cast<char>(0xE0 | (u >> 12));
    s += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (u & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (u >> 18));
    s += static_cast<char>(0x80 | ((u >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (u & 0x3F));
  }
  return s;
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
