// Server, the step: one backend step for the running sequences the scheduler picks, each
// sequence's output handed to token output (straight into its ring, or queued behind what its
// client has not read), then every ring's new entries published and the ends that came with
// them retired.
#include <spdlog/spdlog.h>

#include "daemon/server.h"
#include "daemon/token_output.h"
#include "daemon/wake_notifier.h"
#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/prefetch.h"

namespace ringserve::daemon {
namespace {

// A running request's live token count in its slot is refreshed at its 1st token and every
// this many after.
constexpr uint32_t kProgressEvery = 16;

// During a model step the client processes run on the daemon's cores and evict what the loop
// touched (sequence.h), so each pass after the step would wait on one miss after another for
// every sequence. Asking for all of the step's lines first lets the misses overlap: the
// sequences' two lines, then (once those are on their way) the lines of their rings and the
// slot word the cancel check reads.
void prefetch_step_lines(const shm::SegmentView& view, const std::vector<Sequence*>& batch) {
  for (const Sequence* seq : batch) {
    shm::prefetch_write(seq);
    shm::prefetch_write(reinterpret_cast<const char*>(seq) + shm::kCacheLine);
  }
  for (const Sequence* seq : batch) {
    seq->writer.prefetch();
    shm::prefetch_read(&view.slot(seq->slot)->cancel_requested);
  }
}

}  // namespace

bool Server::step() {
  scheduler_.select_step(&batch_);
  if (batch_.empty()) return false;
  const uint64_t step_start_ns = shm::monotonic_ns();
  const uint64_t step_start_cpu = shm::thread_cpu_ns();
  // A step ends by itself, however long it takes (seconds for a long prefill on a large model):
  // the heartbeat stays fresh through it, as heartbeat.h promises, so that clients do not call
  // a busy daemon dead.
  heartbeat_->enter_bounded_phase();
  backend_->step(batch_, &outputs_);
  heartbeat_->leave_bounded_phase();
  const uint64_t backend_cpu_ns = shm::thread_cpu_ns() - step_start_cpu;
  // A model step takes milliseconds: first-token times are taken after it, not at its start.
  const uint64_t stepped_ns = shm::monotonic_ns();
  metrics_.record_backend_step(stepped_ns - step_start_ns, backend_cpu_ns);
  prefetch_step_lines(view_, batch_);
  for (size_t i = 0; i < batch_.size(); ++i) {
    Sequence& seq = *batch_[i];
    const StepOutput& out = outputs_[i];
    if (out.finish == shm::FinishReason::kError) {
      finish(seq, out.finish, out.error);
      continue;
    }
    if (!out.has_token) continue;  // still prefilling its prompt
    if (out.send_token) {
      if (seq.generated == 0) {
        seq.first_token_ns = stepped_ns;
        shm::store(view_.slot(seq.slot)->first_token_ns, stepped_ns);
        metrics_.record_first_token(stepped_ns - seq.received_ns);
      } else {
        metrics_.record_inter_token(stepped_ns - seq.last_token_ns);
      }
      seq.last_token_ns = stepped_ns;
      ++seq.generated;
      metrics_.count_token();
      // Live progress for `ringctl status`, every kProgressEvery tokens: a store per token
      // would touch one more cache line per sequence and step (sequence.h). The exact count
      // is stored at the end, with the finish fields.
      if (seq.generated % kProgressEvery == 1) {
        shm::store(view_.slot(seq.slot)->tokens_generated, seq.generated,
                   std::memory_order_relaxed);
      }
      emit_token(seq, out.token_id, out.text, stepped_ns);
    } else if (!out.text.empty()) {
      // Text held back for a possible stop string, released at the end.
      emit_token(seq, -1, out.text, stepped_ns);
    }
    if (out.finish != shm::FinishReason::kNone) {
      finish(seq, out.finish, shm::RequestError::kNone);
    }
  }
  return true;
}

void Server::flush_all(uint64_t now) {
  for (auto& owned : by_slot_) {
    if (owned == nullptr || (owned->pending.empty() && owned->writer.unpublished() == 0)) {
      continue;
    }
    Sequence& seq = *owned;
    const size_t backlog = seq.pending.size();
    bool wake = false;
    const FlushResult r = flush(view_, seq, now, &wake);
    if (wake) notifier_->add(seq.writer.futex_word());
    switch (r) {
      case FlushResult::kOpen:
        // Only a sequence that had a backlog can have been paused: paused_since_ns is off the
        // two lines a step touches (sequence.h), so the common case does not read it.
        if (backlog != 0 && seq.paused_since_ns != 0) {
          seq.paused_since_ns = 0;
          seq.writer.clear_room_request();
        }
        break;
      case FlushResult::kBlocked:
        // The pause is counted from the client's last read: a slow reader that keeps reading
        // is never stalled.
        if (seq.paused_since_ns == 0 || seq.pending.size() < backlog) seq.paused_since_ns = now;
        end_if_stalled(seq, now);
        break;
      case FlushResult::kFinal:
        retire(seq, SlotHandback::kFinalPublished);
        break;
      case FlushResult::kClientGone:
        retire(seq, SlotHandback::kWithoutFinalEntry, shm::FinishReason::kCancelled);
        break;
      case FlushResult::kCorrupt:
        spdlog::warn("request {}: the tail of slot {}'s token ring is impossible (scribbled)",
                     seq.request_id, seq.slot);
        retire(seq, SlotHandback::kWithoutFinalEntry, shm::FinishReason::kError,
               shm::RequestError::kProtocolViolation,
               "the token ring's tail counter was overwritten with an impossible value");
        break;
    }
  }
}

}  // namespace ringserve::daemon
