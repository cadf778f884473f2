#include "tests/fuzz/segment_fuzz.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "daemon/request_intake.h"
#include "daemon/token_output.h"
#include "shm/request_ring.h"
#include "shm/segment.h"
#include "shm/slot.h"

namespace ringserve::fuzz {
namespace {

// Small enough to fill with one input: 4 slots, 256 prompt bytes, token rings of 8 entries
// (the request ring gets 8 cells). Created once per process and reused: what one input leaves
// behind is overwritten by the next input's bytes or is state the daemon must cope with anyway.
const shm::SegmentView& segment() {
  static std::unique_ptr<shm::Segment> seg = [] {
    std::unique_ptr<shm::Segment> s;
    std::string message;
    const std::string name = "fuzz-" + std::to_string(::getpid());
    if (shm::Segment::create(name, {4, 256, 8}, {}, &s, &message) != shm::SegmentError::kOk) {
      std::fprintf(stderr, "segment_fuzz: %s\n", message.c_str());
      std::abort();
    }
    return s;
  }();
  return seg->view();
}

// Copies the next `n` input bytes over `dst` (zeros once the input runs out).
void overlay(const uint8_t*& data, size_t& size, void* dst, size_t n) {
  const size_t take = std::min(n, size);
  std::memcpy(dst, data, take);
  std::memset(static_cast<char*>(dst) + take, 0, n - take);
  data += take;
  size -= take;
}

void drain(const shm::SegmentView& view, daemon::Sequence& seq) {
  daemon::queue_token(seq, 65, "A");
  daemon::queue_token(seq, 0x20AC, "\xE2\x82\xAC");
  daemon::queue_finish(seq, shm::FinishReason::kLength, shm::RequestError::kNone);
  bool wake = false;
  shm::SlotHeader* slot = view.slot(seq.slot);
  for (int i = 0; i < 4; ++i) {  // bounded: a ring the input calls full stays full
    const daemon::FlushResult r = daemon::flush(view, seq, 1000 + i, &wake);
    if (r == daemon::FlushResult::kFinal) {
      if (shm::slot::finish(slot, &seq.state_word)) {
        shm::slot::free_if_released(slot, seq.state_word);
      }
      return;
    }
    if (r == daemon::FlushResult::kClientGone || r == daemon::FlushResult::kCorrupt) {
      daemon::store_finish_fields(view, seq, 1000 + i);
      if (shm::slot::finish(slot, &seq.state_word)) {
        shm::slot::free_if_released(slot, seq.state_word);
      }
      return;
    }
  }
  shm::slot::reclaim(slot, seq.state_word);
}

}  // namespace

int run_segment_input(const uint8_t* data, size_t size) {
  const shm::SegmentView& view = segment();
  const shm::SegmentGeometry& g = view.geometry();
  const size_t ring_bytes = sizeof(shm::RequestRingHeader) + size_t{g.request_ring_capacity} * 8;
  overlay(data, size, view.request_ring(), ring_bytes);
  overlay(data, size, view.slot(0), g.slot_stride);
  // Bytes for the token ring header come after take_request, as a client would scribble them
  // while its request runs.
  shm::TokenRingHeader ring_bytes_later{};
  overlay(data, size, &ring_bytes_later, sizeof ring_bytes_later);

  int accepted = 0;
  auto take = [&](uint32_t index) {
    std::unique_ptr<daemon::Sequence> seq;
    shm::RequestCheck check;
    const daemon::IntakeOutcome outcome =
        daemon::take_request(view, index, {1000, 10}, 1'000'000, &seq, &check);
    if (outcome == daemon::IntakeOutcome::kIgnored) return;
    accepted += outcome == daemon::IntakeOutcome::kAccepted;
    std::memcpy(view.token_ring(seq->slot), &ring_bytes_later, sizeof ring_bytes_later);
    drain(view, *seq);
  };
  shm::RequestRingConsumer consumer(view.request_ring(), g.request_ring_capacity, 1000);
  uint64_t now = 0;
  for (uint32_t i = 0; i < 2 * g.request_ring_capacity; ++i) {
    uint32_t value = 0;
    now += 10'000;  // past the skip deadline every time: holes get skipped
    const auto r = consumer.poll(now, &value);
    if (r == shm::RequestRingConsumer::PollResult::kValue) take(value);
    if (r == shm::RequestRingConsumer::PollResult::kEmpty) break;
  }
  take(0);
  return accepted;
}

std::vector<uint8_t> valid_segment_input(std::string_view prompt) {
  const shm::SegmentGeometry& g = segment().geometry();
  std::vector<uint8_t> input(sizeof(shm::RequestRingHeader) + size_t{g.request_ring_capacity} * 8 +
                             g.slot_stride + sizeof(shm::TokenRingHeader));
  uint8_t* p = input.data();
  shm::RequestRingHeader ring{};
  ring.head = 0;
  ring.tail = 1;
  std::memcpy(p, &ring, sizeof ring);
  p += sizeof ring;
  for (uint32_t i = 0; i < g.request_ring_capacity; ++i) {
    const uint64_t cell = shm::make_cell(i, i == 0 ? 0 : shm::kEmptyValue);
    std::memcpy(p, &cell, sizeof cell);
    p += sizeof cell;
  }
  shm::SlotHeader slot{};
  slot.state_word = shm::make_state_word(1, shm::SlotState::kSubmitted, ::getpid());
  slot.params.max_tokens = 8;
  slot.params.temperature = 1;
  slot.params.top_p = 1;
  slot.params.repetition_penalty = 1;
  slot.prompt_length =
      static_cast<uint32_t>(std::min<size_t>(prompt.size(), segment().shape().prompt_capacity));
  std::memcpy(p, &slot, sizeof slot);
  std::memcpy(p + sizeof slot, prompt.data(), slot.prompt_length);
  // The token ring header stays zero: head = tail = 0, an empty ring with room.
  return input;
}

}  // namespace ringserve::fuzz
